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
 * caller (binlog_event_decode, txn_assembler), as for files. The stream
 * also carries events that are in no file: the artificial ones
 * (LOG_EVENT_ARTIFICIAL_F: the fake Rotate naming the file at the start
 * and after each rotation, MariaDB's Gtid_list marking skipped events
 * under GTID positioning), heartbeats, and, when streaming starts inside
 * a file, its Format_description with next_pos 0. A Format_description
 * arrives with its "binlog in use" flag cleared.
 *
 * Usage: connect, resolve_start (when there is no checkpoint), start, then
 * next until an error; on MCSQ_ERR_CONNECT close and start over from the
 * last checkpoint. One thread uses a source; only binlog_live_interrupt()
 * may be called from another one.
 */
#ifndef MCSQ_TAILER_BINLOG_LIVE_H
#define MCSQ_TAILER_BINLOG_LIVE_H

#include "core/config.h"
#include "tailer/binlog_position.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the server is, learned at connect time. */
typedef struct binlog_live_server {
    bool mariadb;
    char version[64];
    unsigned long version_id; /* e.g. 101119 for 10.11.19, 80036 for 8.0.36 */
    uint32_t server_id;
    bool gtid_available;    /* MariaDB: always; MySQL: gtid_mode=ON */
    bool checksum_crc32;    /* @@global.binlog_checksum = CRC32 */
    bool is_replica;        /* it replicates from another server (as far as the
                             * privileges let us tell, see docs/mysql.md) */
    char binlog_format[16]; /* ROW, STATEMENT, MIXED */
} binlog_live_server;

typedef struct binlog_live binlog_live;

/* Connects with the [mysql] settings of cfg (host/port or socket, user,
 * password from password_file or MCSQUEAL_MYSQL_PASSWORD, TLS options,
 * connect timeout) and checks the server: binary logging on, REPLICATION
 * SLAVE privilege, a server_id other than ours, and log_slave_updates when
 * it is itself a replica. Warns (log) when row-format writes would carry
 * no statement text (binlog_annotate_row_events / binlog_rows_query_log_events
 * off). Returns 0, MCSQ_ERR_CONNECT (unreachable, TLS, authentication: the
 * caller may retry), MCSQ_ERR_CONFIG (the server cannot serve the tailer:
 * binary logging off, privilege missing, replica without log_slave_updates,
 * bad TLS settings: retrying will not help), MCSQ_ERR_UNSUPPORTED (a server
 * whose variables we do not know) or MCSQ_ERR_NOMEM, with a clear errstr
 * that never contains the password. cfg is borrowed for the source's
 * lifetime. On error *out is NULL. */
int binlog_live_connect(binlog_live **out, const mcsq_config *cfg, char *errstr,
                        size_t errstr_size);

/* The server's properties (valid after connect). */
const binlog_live_server *binlog_live_server_info(const binlog_live *live);

/* Resolves a configured start (end | begin | gtid:<list> | file:<name>:<pos>)
 * to a position: end = the server's current position (and GTID state),
 * begin = the first binlog file still on the server at offset 4. For
 * MariaDB it also fills pos->gtid for file positions (BINLOG_GTID_POS()).
 * Call it before binlog_live_start(). Returns 0, MCSQ_ERR_LIMIT (the file
 * named is not on the server: purged), MCSQ_ERR_CONFIG (a GTID start on
 * MySQL, a malformed GTID list, a position past the end of its file or not
 * at an event), MCSQ_ERR_CONNECT, or MCSQ_ERR_USAGE (after start), with
 * errstr. */
int binlog_live_resolve_start(binlog_live *live, const mcsq_start *start, binlog_position *pos,
                              char *errstr, size_t errstr_size);

/* The server's @@global.gtid_binlog_state (MariaDB: the last GTID of every
 * domain and server id in its binlog) into out (size bytes; "" when the
 * binlog has none). Call it before binlog_live_start() or after it failed.
 * Returns 0, MCSQ_ERR_LIMIT (longer than size), MCSQ_ERR_USAGE (streaming)
 * or the error of the query (see binlog_live_sql_error), with errstr. */
int binlog_live_gtid_binlog_state(binlog_live *live, char *out, size_t size, char *errstr,
                                  size_t errstr_size);

/* Starts streaming from pos on a second connection (GTID positioning when
 * pos->gtid is set and the server is MariaDB, else pos->file and pos->pos,
 * which must be below 4 GiB). GTID positioning is preferred because a GTID
 * state means the same on every server of the topology, while file names
 * and offsets differ between a primary and its replicas (failover). Asks for checksummed events,
 * Annotate_rows events and heartbeats every mysql.heartbeat_ms, and waits for the server's first
 * answer. A position the server no longer has (purged binlogs) returns MCSQ_ERR_LIMIT with errstr
 * saying so; it is not retried. Returns 0, MCSQ_ERR_CONNECT, MCSQ_ERR_LIMIT, MCSQ_ERR_CONFIG
 * (REPLICATION SLAVE missing), MCSQ_ERR_INVALID (no usable position),
 * MCSQ_ERR_USAGE (started twice) or MCSQ_ERR_AGAIN (interrupted). On
 * success the control connection is closed. Call it once per source. */
int binlog_live_start(binlog_live *live, const binlog_position *pos, char *errstr,
                      size_t errstr_size);

/* Returns 0 with the next raw event in *event and *len (valid until the
 * next call), including artificial ones (the fake Rotate naming the file,
 * Format_description, heartbeats: the caller recognises them by their
 * flags and type; heartbeats are type 27, or 41 from MySQL 8.0.26+). MCSQ_ERR_CONNECT when the
 * connection dies or stays silent for two heartbeat periods, rounded up to whole seconds (reconnect
 * and start again from the last committed position); MCSQ_ERR_LIMIT for
 * errors the server says are final (e.g. the position was purged
 * meanwhile); MCSQ_ERR_CORRUPT when a packet is not an event;
 * MCSQ_ERR_AGAIN when binlog_live_interrupt() was called (the connection
 * is then shut down: close the source). errstr says which. */
int binlog_live_next(binlog_live *live, const uint8_t **event, size_t *len, char *errstr,
                     size_t errstr_size);

/* Whether the next binlog_live_next() returns without waiting for the
 * server (a whole packet is already buffered). false when unsure. */
bool binlog_live_buffered(const binlog_live *live);

/* When the event binlog_live_next() handed out last had arrived whole
 * (CLOCK_REALTIME, microseconds), where the stream is read straight from
 * its socket; 0 otherwise (then the caller reads the clock itself). */
int64_t binlog_live_received_us(const binlog_live *live);

/* Makes a blocked binlog_live_next() return MCSQ_ERR_AGAIN soon, and every
 * later one at once (it shuts the stream's socket down); safe to call from
 * another thread (for shutdown), but not during or after
 * binlog_live_close(). */
void binlog_live_interrupt(binlog_live *live);

/* Closes the connections and frees everything. NULL is a no-op. */
void binlog_live_close(binlog_live *live);

/*
 * Internal to tailer/binlog_live*.c: the connection code (binlog_live.c)
 * and the server checks and position queries (binlog_live_server.c).
 */
struct st_mysql;

/* The control connection (borrowed), or NULL once streaming started. */
struct st_mysql *binlog_live_control(binlog_live *live);

/* Runs the connect-time checks on the control connection m and fills srv.
 * Returns 0 or a negative mcsq_err with errstr (see binlog_live_connect). */
int binlog_live_check_server(struct st_mysql *m, const mcsq_config *cfg, binlog_live_server *srv,
                             char *errstr, size_t errstr_size);

/* Fills errstr with "<what> failed: <server message>" and returns the
 * mcsq_err the last error of m maps to: MCSQ_ERR_CONFIG for missing
 * privileges, MCSQ_ERR_LIMIT for 1236 (binlog unreadable), MCSQ_ERR_UNSUPPORTED
 * for unknown variables or syntax, MCSQ_ERR_CONNECT for the rest. */
int binlog_live_sql_error(struct st_mysql *m, const char *what, char *errstr, size_t errstr_size);

#endif
