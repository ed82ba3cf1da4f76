/*
 * Live binlog source: connects to a MySQL/MariaDB server as a replica
 * (libmariadb's mariadb_rpl_* API) and streams raw binlog events from a
 * position: a MariaDB GTID state when the server has GTIDs, else a file
 * name and offset. Checks what the tailer needs of the server at connect
 * time (binary logging, privileges, log_slave_updates on a replica) and
 * detects a dead connection within two heartbeat periods.
 *
 * It hands out raw events (header, body, checksum) exactly as they would
 * be in the file; decoding, positions and transactions stay with the
 * caller (binlog_event_decode, txn_assembler), as for files.
 */
#ifndef MCSQ_TAILER_BINLOG_LIVE_H
#define MCSQ_TAILER_BINLOG_LIVE_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BINLOG_LIVE_FILE_MAX 256
#define BINLOG_LIVE_GTID_MAX 2048

/* Where to stream from. gtid (MariaDB "domain-server-seq,...") is used
 * when set and the server supports it; otherwise file and pos. */
typedef struct binlog_live_position {
    char file[BINLOG_LIVE_FILE_MAX];
    uint64_t pos;
    char gtid[BINLOG_LIVE_GTID_MAX];
} binlog_live_position;

/* What the server is, learned at connect time. */
typedef struct binlog_live_server {
    bool mariadb;
    char version[64];
    uint32_t server_id;
    bool gtid_available;     /* MariaDB: always; MySQL: gtid_mode=ON */
    bool checksum_crc32;     /* @@global.binlog_checksum = CRC32 */
    bool is_replica;         /* it replicates from another server */
    char binlog_format[16];  /* ROW, STATEMENT, MIXED */
} binlog_live_server;

typedef struct binlog_live binlog_live;

/* Connects with the [mysql] settings of cfg (host/port or socket, user,
 * password from password_file or MCSQUEAL_MYSQL_PASSWORD, TLS options,
 * connect timeout) and checks the server: binary logging on, REPLICATION
 * SLAVE privilege, and log_slave_updates when it is itself a replica.
 * Returns 0, MCSQ_ERR_CONNECT (unreachable, TLS, authentication: the
 * caller may retry) or MCSQ_ERR_CONFIG (the server cannot serve the
 * tailer: binary logging off, privilege missing, replica without
 * log_slave_updates: retrying will not help), with a clear errstr that
 * never contains the password. cfg is borrowed for the source's lifetime. */
int binlog_live_connect(binlog_live **out, const mcsq_config *cfg, char *errstr,
                        size_t errstr_size);

/* The server's properties (valid after connect). */
const binlog_live_server *binlog_live_server_info(const binlog_live *live);

/* Resolves a configured start (end | begin | gtid:<list> | file:<name>:<pos>)
 * to a position: end = the server's current position (and GTID state),
 * begin = the first binlog file still on the server at offset 4. For
 * MariaDB it also fills pos->gtid for file positions (BINLOG_GTID_POS()).
 * Returns 0 or a negative mcsq_err with errstr. */
int binlog_live_resolve_start(binlog_live *live, const mcsq_start *start,
                              binlog_live_position *pos, char *errstr, size_t errstr_size);

/* Starts streaming from pos (GTID positioning when pos->gtid is set and the
 * server supports it). Asks for checksummed events, Annotate_rows events
 * and heartbeats every mysql.heartbeat_ms. A position the server no longer
 * has (purged binlogs) returns MCSQ_ERR_LIMIT with errstr saying so; it is
 * not retried. Returns 0, MCSQ_ERR_CONNECT or MCSQ_ERR_LIMIT. */
int binlog_live_start(binlog_live *live, const binlog_live_position *pos, char *errstr,
                      size_t errstr_size);

/* Returns 0 with the next raw event in *event and *len (valid until the
 * next call), including artificial ones (the fake Rotate naming the file,
 * Format_description, heartbeats: the caller recognises them by their
 * flags and type). MCSQ_ERR_CONNECT when the connection dies or stays
 * silent for two heartbeat periods (reconnect and start again from the
 * last committed position); MCSQ_ERR_LIMIT for errors the server says are
 * final (e.g. the position was purged meanwhile); MCSQ_ERR_AGAIN when
 * binlog_live_interrupt() was called. errstr says which. */
int binlog_live_next(binlog_live *live, const uint8_t **event, size_t *len, char *errstr,
                     size_t errstr_size);

/* Makes a blocked binlog_live_next() return MCSQ_ERR_AGAIN soon; safe to
 * call from another thread (for shutdown). */
void binlog_live_interrupt(binlog_live *live);

/* Closes the connection and frees everything. */
void binlog_live_close(binlog_live *live);

#endif
