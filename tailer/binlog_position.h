/*
 * Positions in a binlog. Two types, for two different things:
 *
 * binlog_position: where reading starts or resumes. A file name and offset,
 * and the MariaDB GTID state when the server has one (GTID positioning is
 * preferred: a GTID state means the same on every server of the topology,
 * file names and offsets do not). The one type for a configured start
 * resolved against the server, the position the live stream is started
 * from, the position after each queued transaction, the position a bus
 * message completes, the acknowledged watermark and the checkpoint file.
 * A plain value (no pointers): copied, never shared or freed.
 *
 * binlog_pos: where one event sits, a byte range of a binlog file, with the
 * file name borrowed from the source. It is made for every event on the
 * hot path and handed to the assembler, which records the range of the
 * transactions it emits (mcsq_txn.pos, end_pos); it names no GTID state and
 * cannot be resumed from by itself, so it is not a binlog_position (whose
 * 2 KiB GTID buffer it must not carry per event).
 */
#ifndef MCSQ_TAILER_BINLOG_POSITION_H
#define MCSQ_TAILER_BINLOG_POSITION_H

#include <stdint.h>

#define BINLOG_FILE_MAX 256        /* longest binlog file name, with its NUL */
#define BINLOG_GTID_STATE_MAX 2048 /* longest GTID state ("d-s-n,..."), with its NUL */

/* Where reading starts or resumes. */
typedef struct binlog_position {
    char file[BINLOG_FILE_MAX];
    uint64_t pos;                     /* byte offset in file */
    char gtid[BINLOG_GTID_STATE_MAX]; /* MariaDB GTID state at pos; "" when unknown */
    uint64_t seq; /* the number of the first bus message after pos (bus_message.h "seq");
                   * 0 when unknown (a checkpoint from before messages were numbered) */
} binlog_position;

/* Where an event sits: its binlog file and byte range. */
typedef struct binlog_pos {
    const char *file; /* (ref) */
    uint64_t offset;
    uint64_t end;
} binlog_pos;

/* Copies src to dst (only the bytes the strings use). */
void binlog_position_copy(binlog_position *dst, const binlog_position *src);

/* Sets p to file, pos and gtid (NULL or "": unknown), seq 0. Returns 0, or
 * MCSQ_ERR_LIMIT (p unchanged) when file or gtid does not fit. */
int binlog_position_set(binlog_position *p, const char *file, uint64_t pos, const char *gtid);

#endif
