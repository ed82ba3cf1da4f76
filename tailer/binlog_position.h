/*
 * Positions in a binlog.
 *
 * binlog_pos: where one event sits, a byte range of a binlog file; what the
 * assembler records for every event it is fed and puts into the
 * transactions it emits (pos, end_pos).
 */
#ifndef MCSQ_TAILER_BINLOG_POSITION_H
#define MCSQ_TAILER_BINLOG_POSITION_H

#include <stdint.h>

/* Where an event sits: its binlog file and byte range. */
typedef struct binlog_pos {
    const char *file; /* (ref) */
    uint64_t offset;
    uint64_t end;
} binlog_pos;

#endif
