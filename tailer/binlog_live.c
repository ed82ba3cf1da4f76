/*
 * Live binlog source (see binlog_live.h): the connections and the stream.
 *
 * A source uses two connections. The control connection runs the server
 * checks and position queries (binlog_live_server.c) with a generous read
 * timeout, since BINLOG_GTID_POS() may read a whole binlog file. The stream
 * connection carries the binlog dump with a read timeout of two heartbeat
 * periods (whole seconds: Connector/C's granularity), so a dead or frozen
 * server is noticed in that time, TLS or not.
 *
 * mariadb_rpl_open() sends the dump request; the events are then read as
 * raw packets, bypassing Connector/C's event parser: it refuses event types
 * it does not know (e.g. MySQL 8's Transaction_payload) and its parsed
 * Rotate is wrong in 3.3. On a plain socket (no TLS, no compression) the
 * packets come straight from the socket through a packet_reader, in large
 * reads; otherwise through mysql_net_read_packet(). The caller decodes the
 * bytes with the same decoder as for files.
 */
#include "tailer/binlog_live.h"
#include "core/byte_reader.h"
#include "core/clock.h"
#include "tailer/binlog_event.h"
#include "tailer/db_conn.h"
#include "tailer/packet_reader.h"
#include "core/errstr.h"
#include "core/log.h"
#include "mcsqueal/error.h"

#include <mysql.h>
#include <ma_pvio.h>
#include <mariadb_rpl.h>
#include <mysqld_error.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define CONTROL_TIMEOUT_S 300     /* reads and writes of the control connection */
#define MAX_PACKET (1ul << 30)    /* Connector/C's ceiling for max_allowed_packet (db_conn.c) */
#define PACKET_OK 0x00            /* every binlog packet starts with it */
#define PACKET_EOF 0xfe           /* end of the stream (non-blocking dumps only) */
#define PACKET_ERR 0xff           /* an error from the server */
#define MARIADB_CAPABILITY_GTID 4 /* @mariadb_slave_capability: we understand GTIDs */
#define WHERE_MAX (BINLOG_GTID_STATE_MAX + BINLOG_FILE_MAX + 32)
#define SET_SQL_MAX (2 * BINLOG_GTID_STATE_MAX + 512)

struct binlog_live {
    const mcsq_config *cfg; /* (ref) */
    MYSQL *ctl;             /* control connection; closed once streaming */
    MYSQL *stream;          /* binlog dump connection */
    MARIADB_RPL *rpl;
    binlog_live_server server;
    unsigned stream_timeout_s; /* read timeout of the stream: 2 heartbeats, >= 1 s */
    atomic_int stream_fd;      /* socket of the stream, -1 while there is none */
    atomic_bool interrupted;
    bool first_pending; /* start() read the first packet; next() hands it out */
    unsigned long first_len;
    const uint8_t *first; /* its bytes */
    bool raw;             /* packets come through the packet_reader */
    packet_reader packets;
    char endpoint[256];    /* "host:port" or the socket path */
    char where[WHERE_MAX]; /* the position asked for, for messages */
};

/* Opens a connection with the given read/write timeout into *out. */
static int open_connection(binlog_live *live, unsigned timeout_s, MYSQL **out, char *errstr,
                           size_t errstr_size)
{
    return db_conn_open(live->cfg, timeout_s, out, errstr, errstr_size);
}

int binlog_live_connect(binlog_live **out, const mcsq_config *cfg, char *errstr, size_t errstr_size)
{
    *out = NULL;
    binlog_live *live = calloc(1, sizeof(*live));
    if (live == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    live->cfg = cfg;
    live->stream_timeout_s = db_conn_seconds(2 * cfg->mysql.heartbeat_ms);
    atomic_init(&live->stream_fd, -1);
    atomic_init(&live->interrupted, false);
    db_conn_endpoint(cfg, live->endpoint, sizeof(live->endpoint));
    int rc = open_connection(live, CONTROL_TIMEOUT_S, &live->ctl, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = binlog_live_check_server(live->ctl, cfg, &live->server, errstr, errstr_size);
    if (rc != MCSQ_OK) {
        binlog_live_close(live);
        return rc;
    }
    *out = live;
    return MCSQ_OK;
}

const binlog_live_server *binlog_live_server_info(const binlog_live *live)
{
    return &live->server;
}

struct st_mysql *binlog_live_control(binlog_live *live)
{
    return live->ctl;
}

/* ---- stream errors ---- */

static bool message_says_purged(const char *msg)
{
    return strstr(msg, "purged") != NULL || strstr(msg, "Could not find first log file") != NULL ||
           strstr(msg, "Could not find GTID state") != NULL;
}

/* Error 1236: the server cannot read the binlog from where we asked. */
static int fatal_read_error(const binlog_live *live, const char *msg, char *errstr,
                            size_t errstr_size)
{
    if (message_says_purged(msg))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT,
                          "%s no longer has the binlog at %s: it was purged past this "
                          "checkpoint (server: %s). Transactions in the purged range cannot "
                          "be read, so their keys were never invalidated: flush the affected "
                          "caches, then remove the checkpoint from state_dir and restart with "
                          "mysql.start = end (or begin); keep binlogs longer "
                          "(binlog_expire_logs_seconds) than the tailer may be down",
                          live->endpoint, live->where, msg);
    return errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT,
                      "%s cannot send the binlog from %s: %s (error 1236); retrying will not "
                      "help: check the checkpoint or mysql.start",
                      live->endpoint, live->where, msg);
}

/* Maps a server error (err, msg) or a read failure on the stream to an
 * mcsq_err; waited_ms is how long the read waited. */
static int stream_failure(const binlog_live *live, unsigned err, const char *msg, int64_t waited_ms,
                          char *errstr, size_t errstr_size)
{
    if (atomic_load(&live->interrupted))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_AGAIN, "binlog stream interrupted");
    if (err == ER_MASTER_FATAL_ERROR_READING_BINLOG)
        return fatal_read_error(live, msg, errstr, errstr_size);
    if (err == ER_SPECIFIC_ACCESS_DENIED_ERROR || err == ER_ACCESS_DENIED_ERROR)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "%s refused the binlog dump: %s; GRANT REPLICATION SLAVE ON *.* to "
                          "user '%s'",
                          live->endpoint, msg, live->cfg->mysql.user);
    if (waited_ms >= (int64_t)live->stream_timeout_s * 1000 - 50)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT,
                          "no event or heartbeat from %s for %lld ms (heartbeat every %lld ms): "
                          "the server is down, frozen or unreachable (%s)",
                          live->endpoint, (long long)waited_ms,
                          (long long)live->cfg->mysql.heartbeat_ms, msg);
    return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT,
                      "binlog stream from %s broke: %s (error %u)", live->endpoint, msg, err);
}

/* Maps a failed read or dump request through Connector/C to an mcsq_err. */
static int stream_error(const binlog_live *live, int64_t waited_ms, char *errstr,
                        size_t errstr_size)
{
    return stream_failure(live, mysql_errno(live->stream), mysql_error(live->stream), waited_ms,
                          errstr, errstr_size);
}

/* An error packet read by the packet_reader: 0xff, error code (2 bytes),
 * '#' and a 5-character SQL state, message. */
static int error_packet(const binlog_live *live, const uint8_t *p, size_t len, char *errstr,
                        size_t errstr_size)
{
    char msg[512];
    unsigned err = len >= 3 ? (unsigned)p[1] | (unsigned)p[2] << 8 : 0;
    size_t skip = len >= 9 && p[3] == '#' ? 9 : 3;
    size_t n = len > skip ? len - skip : 0;
    n = n < sizeof(msg) - 1 ? n : sizeof(msg) - 1;
    memcpy(msg, p + skip, n);
    msg[n] = '\0';
    return stream_failure(live, err, msg, 0, errstr, errstr_size);
}

/* A failure of the packet_reader (its message in errstr) as an mcsq_err. */
static int raw_error(const binlog_live *live, int rc, char *errstr, size_t errstr_size)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", errstr);
    if (rc == MCSQ_ERR_NOMEM || rc == MCSQ_ERR_LIMIT)
        return errstr_set(errstr, errstr_size, rc, "binlog stream from %s: %s", live->endpoint,
                          msg);
    int64_t waited = rc == MCSQ_ERR_AGAIN ? (int64_t)live->stream_timeout_s * 1000 : 0;
    return stream_failure(live, 0, msg, waited, errstr, errstr_size);
}

/* Whether the packets can be read from the socket itself: a plain socket
 * whose read-ahead cache Connector/C left empty. */
static bool can_read_raw(const binlog_live *live)
{
    const MARIADB_PVIO *pvio = live->stream->net.pvio;
    if (pvio == NULL || pvio->ctls != NULL || live->stream->net.compress)
        return false;
    if (pvio->type != PVIO_TYPE_SOCKET && pvio->type != PVIO_TYPE_UNIXSOCKET)
        return false;
    return pvio->cache == NULL || pvio->cache_pos >= pvio->cache + pvio->cache_size;
}

/* ---- starting the stream ---- */

static void where_format(binlog_live *live, const binlog_position *pos, bool gtid)
{
    if (gtid)
        snprintf(live->where, sizeof(live->where), "GTID state '%s'", pos->gtid);
    else
        snprintf(live->where, sizeof(live->where), "%s:%llu", pos->file,
                 (unsigned long long)pos->pos);
}

static int check_position(const binlog_position *pos, bool gtid, char *errstr, size_t errstr_size)
{
    if (gtid)
        return MCSQ_OK;
    if (pos->file[0] == '\0')
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "no binlog position to start from (neither a file nor a MariaDB GTID "
                          "state)");
    if (pos->pos < 4 || pos->pos > UINT32_MAX)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "binlog position %s:%llu cannot be requested (from 4 to 4 GiB)",
                          pos->file, (unsigned long long)pos->pos);
    return MCSQ_OK;
}

/* The session variables the server's dump thread reads (checksums,
 * heartbeats, MariaDB capability and GTID start) as one SET statement. */
static int session_setup(binlog_live *live, const binlog_position *pos, bool gtid, char *errstr,
                         size_t errstr_size)
{
    char sql[SET_SQL_MAX], escaped[2 * BINLOG_GTID_STATE_MAX + 1];
    unsigned long long period_ns = (unsigned long long)live->cfg->mysql.heartbeat_ms * 1000000ull;
    int n = snprintf(sql, sizeof(sql),
                     "SET @master_binlog_checksum = @@global.binlog_checksum, "
                     "@master_heartbeat_period = %llu",
                     period_ns);
    if (!live->server.mariadb) /* MySQL 8.0.26+ names them source_* */
        n += snprintf(sql + n, sizeof(sql) - (size_t)n,
                      ", @source_binlog_checksum = @@global.binlog_checksum, "
                      "@source_heartbeat_period = %llu",
                      period_ns);
    else
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, ", @mariadb_slave_capability = %d",
                      MARIADB_CAPABILITY_GTID);
    if (gtid) {
        mysql_real_escape_string(live->stream, escaped, pos->gtid, strlen(pos->gtid));
        snprintf(sql + n, sizeof(sql) - (size_t)n,
                 ", @slave_connect_state = '%s', @slave_gtid_strict_mode = 0, "
                 "@slave_gtid_ignore_duplicates = 0",
                 escaped);
    }
    if (mysql_query(live->stream, sql) != 0)
        return binlog_live_sql_error(live->stream, "setting up the binlog dump", errstr,
                                     errstr_size);
    return MCSQ_OK;
}

/* Sends the dump request (COM_BINLOG_DUMP). */
static int dump_request(binlog_live *live, const binlog_position *pos, bool gtid, char *errstr,
                        size_t errstr_size)
{
    const char *file = gtid ? "" : pos->file; /* MariaDB: empty name = use the GTID state */
    unsigned flags = live->server.mariadb ? MARIADB_RPL_BINLOG_SEND_ANNOTATE_ROWS : 0;
    live->rpl = mariadb_rpl_init(live->stream);
    if (live->rpl == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "mariadb_rpl_init: %s",
                          mysql_error(live->stream));
    mariadb_rpl_optionsv(live->rpl, MARIADB_RPL_FILENAME, file, strlen(file));
    mariadb_rpl_optionsv(live->rpl, MARIADB_RPL_START, (unsigned long)(gtid ? 4 : pos->pos));
    mariadb_rpl_optionsv(live->rpl, MARIADB_RPL_SERVER_ID, (unsigned)live->cfg->mysql.server_id);
    mariadb_rpl_optionsv(live->rpl, MARIADB_RPL_FLAGS, flags);
    if (mariadb_rpl_open(live->rpl) != 0)
        return stream_error(live, 0, errstr, errstr_size);
    return MCSQ_OK;
}

/* Reads one packet: *p and *len (valid until the next read). Returns 0 or
 * an mcsq_err with errstr, an error packet included. */
static int read_packet(binlog_live *live, const uint8_t **p, unsigned long *len, char *errstr,
                       size_t errstr_size)
{
    if (!live->raw) {
        int64_t t0 = clock_mono_coarse_us() / 1000; /* ms is plenty; read per packet */
        *len = mysql_net_read_packet(live->stream);
        if (*len == packet_error)
            return stream_error(live, clock_mono_coarse_us() / 1000 - t0, errstr, errstr_size);
        *p = live->stream->net.read_pos;
        return MCSQ_OK;
    }
    size_t n;
    int rc = packet_reader_next(&live->packets, p, &n, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return raw_error(live, rc, errstr, errstr_size);
    *len = (unsigned long)n;
    if (n > 0 && (*p)[0] == PACKET_ERR)
        return error_packet(live, *p, n, errstr, errstr_size);
    return MCSQ_OK;
}

/* Reads the server's first answer, so that a refused position is reported
 * by start(); a good first packet is kept for next(). */
static int read_first(binlog_live *live, char *errstr, size_t errstr_size)
{
    if (can_read_raw(live)) {
        int fd = (int)mysql_get_socket(live->stream);
        int timeout_ms = (int)live->stream_timeout_s * 1000;
        if (packet_reader_init(&live->packets, fd, timeout_ms, MAX_PACKET) != MCSQ_OK)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
        live->raw = true;
    }
    int rc = read_packet(live, &live->first, &live->first_len, errstr, errstr_size);
    live->first_pending = rc == MCSQ_OK;
    return rc;
}

int binlog_live_start(binlog_live *live, const binlog_position *pos, char *errstr,
                      size_t errstr_size)
{
    bool gtid = live->server.mariadb && pos->gtid[0] != '\0';
    if (live->stream != NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_USAGE, "binlog stream already started");
    int rc = check_position(pos, gtid, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    where_format(live, pos, gtid);
    rc = open_connection(live, live->stream_timeout_s, &live->stream, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    atomic_store(&live->stream_fd, (int)mysql_get_socket(live->stream));
    if (atomic_load(&live->interrupted))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_AGAIN, "binlog stream interrupted");
    rc = session_setup(live, pos, gtid, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = dump_request(live, pos, gtid, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = read_first(live, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    log_info("streaming the binlog of %s from %s (heartbeat %lld ms)", live->endpoint, live->where,
             (long long)live->cfg->mysql.heartbeat_ms);
    mysql_close(live->ctl);
    live->ctl = NULL;
    return MCSQ_OK;
}

/* ---- reading ---- */

/* Checks a packet of the stream and hands out its event. */
static int packet_event(binlog_live *live, const uint8_t *p, unsigned long len,
                        const uint8_t **event, size_t *event_len, char *errstr, size_t errstr_size)
{
    binlog_header hdr;
    if (len > 0 && len < 9 && p[0] == PACKET_EOF)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "%s ended the binlog stream",
                          live->endpoint);
    if (len == 0 || p[0] != PACKET_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "%s sent a packet of %lu bytes that is not a binlog event (first "
                          "byte 0x%02x)",
                          live->endpoint, len, len > 0 ? p[0] : 0);
    if (binlog_header_parse(p + 1, len - 1, &hdr) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "%s sent a binlog packet of %lu bytes, shorter than an event header",
                          live->endpoint, len);
    if (hdr.event_size != len - 1)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "%s sent a %s event whose size (%u) is not its packet's (%lu)",
                          live->endpoint, binlog_event_type_name(hdr.type), hdr.event_size,
                          len - 1);
    *event = p + 1;
    *event_len = len - 1;
    return MCSQ_OK;
}

int binlog_live_next(binlog_live *live, const uint8_t **event, size_t *len, char *errstr,
                     size_t errstr_size)
{
    const uint8_t *p;
    unsigned long plen;
    if (atomic_load(&live->interrupted))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_AGAIN, "binlog stream interrupted");
    if (live->rpl == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_USAGE, "binlog stream not started");
    if (live->first_pending) {
        live->first_pending = false;
        p = live->first;
        plen = live->first_len;
    } else {
        int rc = read_packet(live, &p, &plen, errstr, errstr_size);
        if (rc != MCSQ_OK)
            return rc;
    }
    return packet_event(live, p, plen, event, len, errstr, errstr_size);
}

int64_t binlog_live_received_us(const binlog_live *live)
{
    return live != NULL && live->raw ? packet_reader_received_us(&live->packets) : 0;
}

bool binlog_live_buffered(const binlog_live *live)
{
    if (live == NULL || live->first_pending)
        return live != NULL;
    if (live->raw)
        return packet_reader_buffered(&live->packets);
    if (live->stream == NULL || live->stream->net.compress)
        return false; /* compressed packets are unpacked elsewhere: unsure */
    const MARIADB_PVIO *pvio = live->stream->net.pvio;
    if (pvio == NULL || pvio->cache == NULL || pvio->cache_pos >= pvio->cache + pvio->cache_size)
        return false;
    size_t have = (size_t)(pvio->cache + pvio->cache_size - pvio->cache_pos);
    if (have < 4)
        return false;
    size_t part = (size_t)byte_le(pvio->cache_pos, 3);
    return have >= 4 + part;
}

void binlog_live_interrupt(binlog_live *live)
{
    atomic_store(&live->interrupted, true);
    int fd = atomic_load(&live->stream_fd);
    if (fd >= 0)
        (void)shutdown(fd, SHUT_RDWR);
}

void binlog_live_close(binlog_live *live)
{
    if (live == NULL)
        return;
    atomic_store(&live->stream_fd, -1);
    if (live->raw)
        packet_reader_deinit(&live->packets);
    if (live->rpl != NULL)
        mariadb_rpl_close(live->rpl);
    if (live->stream != NULL)
        mysql_close(live->stream);
    if (live->ctl != NULL)
        mysql_close(live->ctl);
    free(live);
}
