/*
 * Live binlog source, server side (see binlog_live.h): what the tailer
 * checks of a server when it connects (binary logging, REPLICATION SLAVE,
 * server ids, log_slave_updates on a replica, statement text in row
 * events) and the queries that turn a configured start into a position.
 * Everything runs on the control connection. MariaDB and MySQL differ in
 * variable names and statements; the differences are kept to small tables
 * of SQL text chosen by server kind and version.
 */
#include "tailer/binlog_live.h"
#include "core/errstr.h"
#include "core/log.h"
#include "mcsqueal/error.h"

#include <mysql.h>
#include <mysqld_error.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SQL_MAX (2 * BINLOG_FILE_MAX + 128)
#define MYSQL_8_0_22 80022 /* SHOW REPLICA STATUS */
#define MYSQL_8_0_26 80026 /* log_replica_updates */
#define MYSQL_8_2_0 80200  /* SHOW BINARY LOG STATUS */

/* Columns of the variables query (vars_sql()). */
enum {
    V_LOG_BIN,
    V_FORMAT,
    V_CHECKSUM,
    V_SERVER_ID,
    V_LOG_UPDATES, /* log_slave_updates / log_replica_updates */
    V_ANNOTATE,    /* binlog_annotate_row_events / binlog_rows_query_log_events */
    V_EXTRA,       /* MariaDB: replicate_annotate_row_events; MySQL: gtid_mode */
    V_READ_ONLY,
    V_SLAVE_POS, /* MariaDB: gtid_slave_pos; MySQL: '' */
    V_COUNT
};

/* ---- small helpers ---- */

static bool on(const char *value)
{
    return value != NULL && (strcmp(value, "1") == 0 || strcasecmp(value, "ON") == 0);
}

static const char *str_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

/* Maps a server or client error number to an mcsq_err. */
static int errno_class(unsigned err)
{
    switch (err) {
    case ER_SPECIFIC_ACCESS_DENIED_ERROR:
    case ER_TABLEACCESS_DENIED_ERROR:
    case ER_COLUMNACCESS_DENIED_ERROR:
    case ER_DBACCESS_DENIED_ERROR:
        return MCSQ_ERR_CONFIG;
    case ER_MASTER_FATAL_ERROR_READING_BINLOG:
        return MCSQ_ERR_LIMIT;
    case ER_UNKNOWN_SYSTEM_VARIABLE:
    case ER_PARSE_ERROR:
        return MCSQ_ERR_UNSUPPORTED;
    default:
        return MCSQ_ERR_CONNECT;
    }
}

int binlog_live_sql_error(struct st_mysql *m, const char *what, char *errstr, size_t errstr_size)
{
    unsigned err = mysql_errno(m);
    int rc = errno_class(err);
    return errstr_set(errstr, errstr_size, rc, "%s failed: %s (error %u)%s", what, mysql_error(m),
                      err,
                      rc == MCSQ_ERR_CONFIG ? "; the tailer's user needs REPLICATION SLAVE and "
                                              "REPLICATION CLIENT (BINLOG MONITOR) ON *.*"
                                            : "");
}

/* Runs sql and stores its result set in *res (caller frees). */
static int query(MYSQL *m, const char *sql, MYSQL_RES **res, char *errstr, size_t errstr_size)
{
    *res = NULL;
    if (mysql_query(m, sql) != 0)
        return binlog_live_sql_error(m, sql, errstr, errstr_size);
    *res = mysql_store_result(m);
    if (*res == NULL)
        return mysql_errno(m) != 0 ? binlog_live_sql_error(m, sql, errstr, errstr_size)
                                   : errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                                                "%s returned no result set", sql);
    return MCSQ_OK;
}

/* ---- connect-time checks ---- */

static const char *vars_sql(const binlog_live_server *srv)
{
    if (srv->mariadb)
        return "SELECT @@global.log_bin, @@global.binlog_format, @@global.binlog_checksum, "
               "@@global.server_id, @@global.log_slave_updates, "
               "@@global.binlog_annotate_row_events, @@global.replicate_annotate_row_events, "
               "@@global.read_only, @@global.gtid_slave_pos";
    if (srv->version_id >= MYSQL_8_0_26)
        return "SELECT @@global.log_bin, @@global.binlog_format, @@global.binlog_checksum, "
               "@@global.server_id, @@global.log_replica_updates, "
               "@@global.binlog_rows_query_log_events, @@global.gtid_mode, @@global.read_only, ''";
    return "SELECT @@global.log_bin, @@global.binlog_format, @@global.binlog_checksum, "
           "@@global.server_id, @@global.log_slave_updates, "
           "@@global.binlog_rows_query_log_events, @@global.gtid_mode, @@global.read_only, ''";
}

static void identify(MYSQL *m, binlog_live_server *srv)
{
    snprintf(srv->version, sizeof(srv->version), "%s", str_or_empty(mysql_get_server_info(m)));
    srv->mariadb = strstr(srv->version, "MariaDB") != NULL;
    srv->version_id = mysql_get_server_version(m);
}

/* Binary logging, checksum, format and server id. */
static int check_vars(const mcsq_config *cfg, binlog_live_server *srv, MYSQL_ROW row, char *errstr,
                      size_t errstr_size)
{
    const char *checksum = str_or_empty(row[V_CHECKSUM]);
    if (!on(row[V_LOG_BIN]))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "binary logging is off on the server (log_bin = OFF): start it with "
                          "log_bin (and binlog_format = ROW or MIXED) to tail it");
    if (strcasecmp(checksum, "CRC32") != 0 && strcasecmp(checksum, "NONE") != 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                          "unsupported binlog_checksum '%s' (CRC32 or NONE)", checksum);
    srv->checksum_crc32 = strcasecmp(checksum, "CRC32") == 0;
    snprintf(srv->binlog_format, sizeof(srv->binlog_format), "%s", str_or_empty(row[V_FORMAT]));
    srv->server_id = (uint32_t)strtoul(str_or_empty(row[V_SERVER_ID]), NULL, 10);
    srv->gtid_available = srv->mariadb || on(row[V_EXTRA]);
    if ((int64_t)srv->server_id == cfg->mysql.server_id)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "mysql.server_id = %lld is the server's own server_id: give the "
                          "tailer an id no server or replica of the topology uses",
                          (long long)cfg->mysql.server_id);
    return MCSQ_OK;
}

/* Whether a SHOW GRANTS line grants REPLICATION SLAVE on *.* (1), is a
 * role grant (-1: privileges may come from it), or neither (0). */
static int grant_line(const char *line)
{
    if (strncmp(line, "GRANT ", 6) != 0)
        return 0;
    const char *on_all = strstr(line, " ON *.* TO ");
    if (on_all == NULL)
        return strstr(line, " ON ") == NULL ? -1 : 0;
    for (const char *p = line + 6; p < on_all; p++) {
        if (strncmp(p, "ALL PRIVILEGES", 14) == 0)
            return 1;
        if (strncmp(p, "REPLICATION SLAVE", 17) == 0 && strncmp(p + 17, " ADMIN", 6) != 0)
            return 1;
    }
    return 0;
}

/* SHOW GRANTS: refuses early when REPLICATION SLAVE is plainly missing.
 * With roles in play, the dump request itself tells (stream_error()). */
static int check_grants(MYSQL *m, const mcsq_config *cfg, char *errstr, size_t errstr_size)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    int found = 0, roles = 0;
    int rc = query(m, "SHOW GRANTS", &res, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    while (found == 0 && (row = mysql_fetch_row(res)) != NULL) {
        int g = grant_line(str_or_empty(row[0]));
        found = g > 0;
        roles += g < 0;
    }
    mysql_free_result(res);
    if (found || roles > 0)
        return MCSQ_OK;
    return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                      "user '%s' lacks the REPLICATION SLAVE privilege needed to read the "
                      "binlog: GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO it",
                      cfg->mysql.user);
}

/* From the replication status, *replica = 1 (a replica), 0 (not) or -1
 * (no privilege to look). Returns 0 or a negative mcsq_err with errstr. */
static int replica_status(MYSQL *m, const binlog_live_server *srv, int *replica, char *errstr,
                          size_t errstr_size)
{
    const char *sql = srv->mariadb                      ? "SHOW ALL SLAVES STATUS"
                      : srv->version_id >= MYSQL_8_0_22 ? "SHOW REPLICA STATUS"
                                                        : "SHOW SLAVE STATUS";
    MYSQL_RES *res;
    int rc = query(m, sql, &res, errstr, errstr_size);
    *replica = -1;
    if (rc == MCSQ_ERR_CONFIG) /* SLAVE MONITOR (MariaDB) / REPLICATION CLIENT missing */
        return MCSQ_OK;
    if (rc != MCSQ_OK)
        return rc;
    *replica = mysql_num_rows(res) > 0;
    mysql_free_result(res);
    return MCSQ_OK;
}

/* Without the privilege for the replication status: running replication
 * threads, or a read-only server that has applied replicated GTIDs, make a
 * replica (1); else we cannot tell (-1). */
static int replica_guess(MYSQL *m, const binlog_live_server *srv, MYSQL_ROW vars)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    char ignored[256];
    int replica = on(vars[V_READ_ONLY]) && str_or_empty(vars[V_SLAVE_POS])[0] != '\0';
    if (srv->mariadb && query(m, "SHOW GLOBAL STATUS LIKE 'Slaves_running'", &res, ignored,
                              sizeof(ignored)) == MCSQ_OK) {
        if ((row = mysql_fetch_row(res)) != NULL && atoi(str_or_empty(row[1])) > 0)
            replica = 1;
        mysql_free_result(res);
    }
    return replica ? 1 : -1;
}

/* DESIGN "Remote markers": a replica's binlog holds the replicated writes
 * only with log_slave_updates; refuse to run on a replica without it. */
static int check_replica(MYSQL *m, binlog_live_server *srv, MYSQL_ROW vars, char *errstr,
                         size_t errstr_size)
{
    const char *name = srv->mariadb || srv->version_id < MYSQL_8_0_26 ? "log_slave_updates"
                                                                      : "log_replica_updates";
    int replica;
    int rc = replica_status(m, srv, &replica, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    if (replica < 0)
        replica = replica_guess(m, srv, vars);
    srv->is_replica = replica > 0;
    if (srv->is_replica && !on(vars[V_LOG_UPDATES]))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "the server is a replica with %s = OFF: its binlog lacks the writes "
                          "it replicates, so their keys and remote markers would never be "
                          "invalidated. Set %s = ON on it (a restart is needed), or tail its "
                          "primary instead",
                          name, name);
    if (replica < 0 && !on(vars[V_LOG_UPDATES]))
        log_warn("cannot tell whether the server is a replica (the replication status needs "
                 "the %s privilege); if it is one, %s must be ON or replicated writes are missed",
                 srv->mariadb ? "SLAVE MONITOR" : "REPLICATION CLIENT", name);
    return MCSQ_OK;
}

/* Row events carry their statement (and so its keys) only with statement
 * annotations on; without them the keys of row-format writes are missed. */
static void warn_annotations(const binlog_live_server *srv, MYSQL_ROW vars)
{
    if (strcasecmp(srv->binlog_format, "STATEMENT") == 0)
        return;
    if (srv->mariadb && !on(vars[V_ANNOTATE]))
        log_warn("binlog_annotate_row_events is OFF with binlog_format = %s: row events carry "
                 "no statement text, so the keys of row-format writes are missed; set it ON "
                 "(server config and SET GLOBAL)",
                 srv->binlog_format);
    if (srv->mariadb && srv->is_replica && !on(vars[V_EXTRA]))
        log_warn("replicate_annotate_row_events is OFF on this replica: replicated row events "
                 "reach its binlog without statement text, so their keys are missed");
    if (!srv->mariadb && !on(vars[V_ANNOTATE]))
        log_warn("binlog_rows_query_log_events is OFF with binlog_format = %s: row events carry "
                 "no statement text, so the keys of row-format writes are missed; set it ON",
                 srv->binlog_format);
}

int binlog_live_check_server(struct st_mysql *m, const mcsq_config *cfg, binlog_live_server *srv,
                             char *errstr, size_t errstr_size)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    memset(srv, 0, sizeof(*srv));
    identify(m, srv);
    int rc = query(m, vars_sql(srv), &res, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    if ((row = mysql_fetch_row(res)) == NULL || mysql_num_fields(res) != V_COUNT)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                        "the server's variables query returned no row");
    if (rc == MCSQ_OK)
        rc = check_vars(cfg, srv, row, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = check_grants(m, cfg, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = check_replica(m, srv, row, errstr, errstr_size);
    if (rc == MCSQ_OK) {
        warn_annotations(srv, row);
        log_info("server %s (server_id %u, binlog_format %s, checksum %s%s)", srv->version,
                 srv->server_id, srv->binlog_format, srv->checksum_crc32 ? "CRC32" : "none",
                 srv->is_replica ? ", a replica" : "");
    }
    mysql_free_result(res);
    return rc;
}

/* ---- start positions ---- */

/* BINLOG_GTID_POS(file, pos) into gtid ("" for an empty state); *found is
 * false when the server has no event boundary there (SQL NULL). */
static int gtid_at(MYSQL *m, const char *file, uint64_t pos, char *gtid, bool *found, char *errstr,
                   size_t errstr_size)
{
    char sql[SQL_MAX], escaped[2 * BINLOG_FILE_MAX + 1];
    MYSQL_RES *res;
    MYSQL_ROW row;
    mysql_real_escape_string(m, escaped, file, strlen(file));
    snprintf(sql, sizeof(sql), "SELECT BINLOG_GTID_POS('%s', %llu)", escaped,
             (unsigned long long)pos);
    int rc = query(m, sql, &res, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    row = mysql_fetch_row(res);
    *found = row != NULL && row[0] != NULL;
    if (*found && strlen(row[0]) >= BINLOG_GTID_STATE_MAX)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT,
                        "the server's GTID state at %s:%llu is longer than %d bytes", file,
                        (unsigned long long)pos, BINLOG_GTID_STATE_MAX - 1);
    else
        snprintf(gtid, BINLOG_GTID_STATE_MAX, "%s", *found ? row[0] : "");
    mysql_free_result(res);
    return rc;
}

static int set_file(binlog_position *pos, const char *file, char *errstr, size_t errstr_size)
{
    if (strlen(file) >= sizeof(pos->file))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT,
                          "binlog file name longer than %zu bytes", sizeof(pos->file) - 1);
    snprintf(pos->file, sizeof(pos->file), "%s", file);
    return MCSQ_OK;
}

static int resolve_end(MYSQL *m, const binlog_live_server *srv, binlog_position *pos, char *errstr,
                       size_t errstr_size)
{
    const char *sql = !srv->mariadb && srv->version_id >= MYSQL_8_2_0 ? "SHOW BINARY LOG STATUS"
                                                                      : "SHOW MASTER STATUS";
    MYSQL_RES *res;
    MYSQL_ROW row;
    bool found;
    int rc = query(m, sql, &res, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    if ((row = mysql_fetch_row(res)) == NULL || row[0] == NULL || row[1] == NULL)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                        "%s returned nothing: binary logging is off", sql);
    else if ((rc = set_file(pos, row[0], errstr, errstr_size)) == MCSQ_OK)
        pos->pos = strtoull(row[1], NULL, 10);
    mysql_free_result(res);
    if (rc == MCSQ_OK && srv->mariadb)
        rc = gtid_at(m, pos->file, pos->pos, pos->gtid, &found, errstr, errstr_size);
    return rc;
}

/* Finds file in SHOW BINARY LOGS: its size in *size; first and last name
 * the range the server has. Returns 1 (found), 0 (not) or a negative
 * mcsq_err. With file NULL it just fills first. */
static int binlog_lookup(MYSQL *m, const char *file, uint64_t *size, char *first, char *last,
                         char *errstr, size_t errstr_size)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    int found = 0;
    int rc = query(m, "SHOW BINARY LOGS", &res, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    first[0] = last[0] = '\0';
    while ((row = mysql_fetch_row(res)) != NULL && row[0] != NULL) {
        if (first[0] == '\0')
            snprintf(first, BINLOG_FILE_MAX, "%s", row[0]);
        snprintf(last, BINLOG_FILE_MAX, "%s", row[0]);
        if (file != NULL && strcmp(row[0], file) == 0) {
            found = 1;
            *size = strtoull(str_or_empty(row[1]), NULL, 10);
        }
    }
    mysql_free_result(res);
    return found;
}

static int resolve_begin(MYSQL *m, const binlog_live_server *srv, binlog_position *pos,
                         char *errstr, size_t errstr_size)
{
    char last[BINLOG_FILE_MAX];
    uint64_t size;
    bool found;
    int rc = binlog_lookup(m, NULL, &size, pos->file, last, errstr, errstr_size);
    if (rc < 0)
        return rc;
    if (pos->file[0] == '\0')
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "SHOW BINARY LOGS lists no file: binary logging is off");
    pos->pos = 4;
    return srv->mariadb ? gtid_at(m, pos->file, 4, pos->gtid, &found, errstr, errstr_size)
                        : MCSQ_OK;
}

static int resolve_file(MYSQL *m, const binlog_live_server *srv, const mcsq_start *start,
                        binlog_position *pos, char *errstr, size_t errstr_size)
{
    char first[BINLOG_FILE_MAX], last[BINLOG_FILE_MAX];
    uint64_t size = 0;
    bool found;
    int rc = binlog_lookup(m, start->file, &size, first, last, errstr, errstr_size);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT,
                          "binlog file %s is not on the server (it has %s to %s): purged, or "
                          "never written by this server",
                          start->file, first, last);
    if (start->pos > size)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "position %llu is past the end of %s (%llu bytes)",
                          (unsigned long long)start->pos, start->file, (unsigned long long)size);
    if ((rc = set_file(pos, start->file, errstr, errstr_size)) != MCSQ_OK)
        return rc;
    pos->pos = start->pos;
    if (!srv->mariadb)
        return MCSQ_OK;
    rc = gtid_at(m, pos->file, pos->pos, pos->gtid, &found, errstr, errstr_size);
    if (rc == MCSQ_OK && !found)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "%s:%llu is not where an event starts", start->file,
                          (unsigned long long)start->pos);
    return rc;
}

int binlog_live_gtid_binlog_state(binlog_live *live, char *out, size_t size, char *errstr,
                                  size_t errstr_size)
{
    MYSQL *m = binlog_live_control(live);
    MYSQL_RES *res;
    MYSQL_ROW row;
    if (m == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_USAGE,
                          "the GTID state is read before the stream starts");
    int rc = query(m, "SELECT @@global.gtid_binlog_state", &res, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    row = mysql_fetch_row(res);
    const char *state = row != NULL ? str_or_empty(row[0]) : "";
    if (strlen(state) >= size)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT,
                        "the server's gtid_binlog_state is longer than %zu bytes", size - 1);
    else
        snprintf(out, size, "%s", state);
    mysql_free_result(res);
    return rc;
}

/* A MariaDB GTID list: domain-server-seq[,domain-server-seq...]. */
static bool gtid_list_valid(const char *s)
{
    int parts = 0, digits = 0;
    for (; *s != '\0'; s++) {
        if (isdigit((unsigned char)*s))
            digits++;
        else if (*s == '-' && digits > 0 && parts < 2)
            parts++, digits = 0;
        else if (*s == ',' && digits > 0 && parts == 2)
            parts = 0, digits = 0;
        else if (*s != ' ')
            return false;
    }
    return digits > 0 && parts == 2;
}

static int resolve_gtid(const binlog_live_server *srv, const char *gtid, binlog_position *pos,
                        char *errstr, size_t errstr_size)
{
    if (!srv->mariadb)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "mysql.start = gtid:... needs MariaDB; with MySQL start from "
                          "file:<name>:<pos>, end or begin");
    if (!gtid_list_valid(gtid))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "'%s' is not a MariaDB GTID list (domain-server-seq,...)", gtid);
    if (strlen(gtid) >= sizeof(pos->gtid))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT, "GTID list longer than %zu bytes",
                          sizeof(pos->gtid) - 1);
    snprintf(pos->gtid, sizeof(pos->gtid), "%s", gtid);
    return MCSQ_OK;
}

int binlog_live_resolve_start(binlog_live *live, const mcsq_start *start, binlog_position *pos,
                              char *errstr, size_t errstr_size)
{
    MYSQL *m = binlog_live_control(live);
    const binlog_live_server *srv = binlog_live_server_info(live);
    memset(pos, 0, sizeof(*pos));
    if (m == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_USAGE,
                          "start positions are resolved before the stream starts");
    switch (start->kind) {
    case MCSQ_START_END:
        return resolve_end(m, srv, pos, errstr, errstr_size);
    case MCSQ_START_BEGIN:
        return resolve_begin(m, srv, pos, errstr, errstr_size);
    case MCSQ_START_GTID:
        return resolve_gtid(srv, str_or_empty(start->gtid), pos, errstr, errstr_size);
    case MCSQ_START_FILE:
        return resolve_file(m, srv, start, pos, errstr, errstr_size);
    }
    return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID, "unknown start kind %d",
                      (int)start->kind);
}
