/*
 * Heartbeat writer (see heartbeat.h): connect, make sure the table is
 * there, then one probe per interval on a monotonic schedule; server errors
 * are sorted into "reconnect", "retry later" and "stop".
 */
#include "tailer/heartbeat.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "mcsqueal/error.h"
#include "tailer/db_conn.h"
#include "tailer/heartbeat_sql.h"

#include <mysql.h>
#include <mysqld_error.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BACKOFF_FIRST_MS 100
#define SLICE_MS 50 /* how often a wait looks at *stop */

typedef enum hb_verdict {
    HB_OK = 0,
    HB_RECONNECT, /* the connection is gone */
    HB_RETRY,     /* the server refused for now (read-only, lock wait, ...) */
    HB_NO_TABLE,  /* the table went away: create it again */
    HB_FATAL,     /* retrying cannot help */
} hb_verdict;

typedef struct hb {
    const mcsq_config *cfg; /* (ref) */
    const atomic_bool *stop;
    heartbeat_stats *stats; /* (ref) */
    MYSQL *m;
    bool table_ready;
    bool logged_writing;
    bool ever_connected;
    int64_t backoff_ms;
    char endpoint[512];
    char *errstr;
    size_t errstr_size;
} hb;

/* Sleeps until the monotonic time deadline_ms or until *stop. */
static void wait_until(const hb *h, int64_t deadline_ms)
{
    for (int64_t now = clock_mono_ms(); !atomic_load(h->stop) && now < deadline_ms;
         now = clock_mono_ms()) {
        int64_t ms = deadline_ms - now < SLICE_MS ? deadline_ms - now : SLICE_MS;
        struct timespec ts = {0, (long)ms * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Waits the current backoff and doubles it, up to mysql.reconnect_max_ms. */
static void backoff(hb *h)
{
    wait_until(h, clock_mono_ms() + h->backoff_ms);
    h->backoff_ms *= 2;
    if (h->backoff_ms > h->cfg->mysql.reconnect_max_ms)
        h->backoff_ms = h->cfg->mysql.reconnect_max_ms;
}

static void disconnect(hb *h)
{
    if (h->m != NULL)
        mysql_close(h->m);
    h->m = NULL;
    h->table_ready = false;
    h->logged_writing = false;
}

/* What the last error of the connection means for the loop. */
static hb_verdict classify(unsigned err)
{
    switch (err) {
    case ER_DBACCESS_DENIED_ERROR:
    case ER_TABLEACCESS_DENIED_ERROR:
    case ER_COLUMNACCESS_DENIED_ERROR:
    case ER_SPECIFIC_ACCESS_DENIED_ERROR:
    case ER_NO_DB_ERROR:
    case ER_BAD_DB_ERROR:
        return HB_FATAL;
    case ER_NO_SUCH_TABLE:
        return HB_NO_TABLE;
    }
    return err >= 2000 && err < 3000 ? HB_RECONNECT : HB_RETRY; /* CR_*: client side */
}

/* Fills errstr with the failure of `what` and returns its verdict. */
static hb_verdict sql_failed(hb *h, const char *what)
{
    unsigned err = mysql_errno(h->m);
    hb_verdict v = classify(err);
    const char *hint = "";
    if (err == ER_NO_DB_ERROR)
        hint = "; write heartbeat.table as database.table";
    else if (v == HB_FATAL)
        hint = "; the user needs INSERT and UPDATE on heartbeat.table (and CREATE to create it)";
    errstr_set(h->errstr, h->errstr_size, v == HB_FATAL ? MCSQ_ERR_CONFIG : MCSQ_ERR_CONNECT,
               "%s on %s: %s (error %u)%s", what, h->endpoint, mysql_error(h->m), err, hint);
    return v;
}

static hb_verdict hb_connect(hb *h)
{
    unsigned timeout_s = db_conn_seconds(h->cfg->mysql.connect_timeout_ms);
    int rc = db_conn_open(h->cfg, timeout_s, &h->m, h->errstr, h->errstr_size);
    if (rc == MCSQ_ERR_CONNECT)
        return HB_RECONNECT;
    if (rc != MCSQ_OK)
        return HB_FATAL;
    if (h->ever_connected && h->stats != NULL)
        h->stats->reconnects++;
    h->ever_connected = true;
    return HB_OK;
}

/* CREATE DATABASE and TABLE IF NOT EXISTS; when refused, a table that
 * exists will do. A refused CREATE DATABASE is not an error by itself: the
 * CREATE TABLE that follows says what is missing. */
static hb_verdict setup_table(hb *h)
{
    char sql[HEARTBEAT_SQL_MAX];
    if (heartbeat_sql_create_database(sql, sizeof(sql), h->cfg->heartbeat.table, h->errstr,
                                      h->errstr_size) != MCSQ_OK)
        return HB_FATAL;
    if (mysql_query(h->m, sql) != 0 && classify(mysql_errno(h->m)) == HB_RECONNECT)
        return sql_failed(h, "creating the heartbeat database");
    if (heartbeat_sql_create(sql, sizeof(sql), h->cfg->heartbeat.table, h->errstr,
                             h->errstr_size) != MCSQ_OK)
        return HB_FATAL;
    if (mysql_query(h->m, sql) == 0)
        return HB_OK;
    hb_verdict v = sql_failed(h, "creating the heartbeat table");
    if (v == HB_RECONNECT)
        return v;
    char why[512];
    snprintf(why, sizeof(why), "%s", h->errstr);
    heartbeat_sql_exists(sql, sizeof(sql), h->cfg->heartbeat.table, NULL, 0);
    if (mysql_query(h->m, sql) == 0) {
        mysql_free_result(mysql_store_result(h->m));
        log_info("heartbeat: table %s exists (creating it was refused: %s)",
                 h->cfg->heartbeat.table, why);
        return HB_OK;
    }
    hb_verdict ev = classify(mysql_errno(h->m));
    return ev == HB_RECONNECT ? ev : v == HB_NO_TABLE ? HB_FATAL : v;
}

static hb_verdict write_probe(hb *h)
{
    char sql[HEARTBEAT_SQL_MAX];
    if (heartbeat_sql_probe(sql, sizeof(sql), h->cfg->heartbeat.table, h->cfg->mcsqueal.name,
                            clock_wall_us(), h->errstr, h->errstr_size) != MCSQ_OK)
        return HB_FATAL;
    if (mysql_query(h->m, sql) != 0)
        return sql_failed(h, "writing a heartbeat probe");
    if (h->stats != NULL)
        h->stats->probes++;
    if (!h->logged_writing)
        log_info("heartbeat: writing a probe to %s on %s every %lld ms (key %s%s)",
                 h->cfg->heartbeat.table, h->endpoint, (long long)h->cfg->heartbeat.interval_ms,
                 HEARTBEAT_KEY_PREFIX, h->cfg->mcsqueal.name);
    h->logged_writing = true;
    return HB_OK;
}

/* One step: connect, set up or probe as needed. */
static hb_verdict step(hb *h)
{
    if (h->m == NULL) {
        hb_verdict v = hb_connect(h);
        if (v != HB_OK)
            return v;
    }
    if (!h->table_ready) {
        hb_verdict v = setup_table(h);
        if (v != HB_OK)
            return v;
        h->table_ready = true;
    }
    return write_probe(h);
}

/* After a failed step: log (rate-limited), reset what must be redone,
 * back off. */
static void recover(hb *h, hb_verdict v)
{
    static log_ratelimit limit = LOG_RATELIMIT_INIT(10, 3);
    if (h->stats != NULL)
        h->stats->failures++;
    log_ratelimited(&limit, LOG_LEVEL_WARN, "heartbeat: %s; retrying in %lld ms", h->errstr,
                    (long long)h->backoff_ms);
    if (v == HB_RECONNECT)
        disconnect(h);
    else if (v == HB_NO_TABLE)
        h->table_ready = false;
    backoff(h);
}

int heartbeat_run(const mcsq_config *cfg, const atomic_bool *stop, uint64_t max_probes,
                  heartbeat_stats *stats, char *errstr, size_t errstr_size)
{
    char key[512];
    int rc = heartbeat_key(key, sizeof(key), cfg->mcsqueal.name, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    hb h = {.cfg = cfg, .stop = stop, .stats = stats, .errstr = errstr};
    h.errstr_size = errstr_size;
    h.backoff_ms = BACKOFF_FIRST_MS;
    db_conn_endpoint(cfg, h.endpoint, sizeof(h.endpoint));
    uint64_t written = 0;
    int64_t next = clock_mono_ms();
    while (!atomic_load(stop) && (max_probes == 0 || written < max_probes)) {
        hb_verdict v = step(&h);
        if (v == HB_FATAL) {
            rc = MCSQ_ERR_CONFIG;
            break;
        }
        if (v != HB_OK) {
            recover(&h, v);
            next = clock_mono_ms();
            continue;
        }
        written++;
        h.backoff_ms = BACKOFF_FIRST_MS;
        next += cfg->heartbeat.interval_ms;
        if (next < clock_mono_ms()) /* fell behind (slow server): no burst to catch up */
            next = clock_mono_ms();
        if (max_probes == 0 || written < max_probes)
            wait_until(&h, next);
    }
    disconnect(&h);
    return rc;
}
