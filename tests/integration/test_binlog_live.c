/*
 * Integration tests of the live binlog source (tailer/binlog_live.h)
 * against real, throwaway mariadbd servers (support/mariadb_server.h).
 *
 * The group's main server logs in ROW format; tests that change a server
 * beyond recognition (purging binlogs, freezing or killing it, replicas,
 * TLS, no binary log) start their own. The streamed events are decoded
 * with the same decoder as files and compared with the binlog files on
 * disk, or their GTIDs with the @@last_gtid of each workload commit.
 *
 * MCSQ_TEST_FILTER=<test name> runs one test; MCSQ_TEST_KEEP=1 keeps the
 * servers' directories.
 */
#include "mariadb_server.h"

#include "core/config.h"
#include "mcsqueal/error.h"
#include "tailer/binlog_event.h"
#include "tailer/binlog_file.h"
#include "tailer/binlog_live.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "skip.h"

extern char **environ;

#define ARTIFICIAL_F 0x20 /* LOG_EVENT_ARTIFICIAL_F */
#define IN_USE_F 0x01     /* LOG_EVENT_BINLOG_IN_USE_F (Format_description) */
#define FLAGS_OFFSET 17   /* of the flags in the common header */
#define USER "mcsq"
#define PASSWORD "Pw-7kQ2-zz!9"
#define WRONG_PASSWORD "Wr0ng-S3cret-Xy"
#define STREAM_DEADLINE_MS 20000
#define ERR_MAX 2048
#define NAME_MAX_LEN 64
#define GTID_MAX_LEN BINLOG_GTID_TEXT_MAX

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void replace(char **field, const char *value)
{
    free(*field);
    *field = strdup(value);
    assert_non_null(*field);
}

static void sql_vexec(MYSQL *db, const char *fmt, va_list ap)
{
    char sql[2048];
    vsnprintf(sql, sizeof(sql), fmt, ap);
    if (mysql_query(db, sql) != 0)
        fail_msg("%s: %s", sql, mysql_error(db));
    MYSQL_RES *res = mysql_store_result(db);
    if (res != NULL)
        mysql_free_result(res);
}

static void sql_exec(MYSQL *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sql_exec(MYSQL *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sql_vexec(db, fmt, ap);
    va_end(ap);
}

/* Column col of the first row of sql into out ("" for NULL or no row). */
static void sql_value(MYSQL *db, int col, char *out, size_t size, const char *sql)
{
    if (mysql_query(db, sql) != 0)
        fail_msg("%s: %s", sql, mysql_error(db));
    MYSQL_RES *res = mysql_store_result(db);
    assert_non_null(res);
    MYSQL_ROW row = mysql_fetch_row(res);
    snprintf(out, size, "%s", row != NULL && row[col] != NULL ? row[col] : "");
    mysql_free_result(res);
}

static mariadb_server *server_start(const char *const *args)
{
    char err[4096];
    mariadb_server *srv = NULL;
    if (mariadb_server_start(&srv, args, err, sizeof(err)) != 0)
        fail_msg("starting mariadbd: %s", err);
    return srv;
}

static MYSQL *server_connect(const mariadb_server *srv)
{
    char err[512];
    MYSQL *db = mariadb_server_connect(srv, NULL, 0, err, sizeof(err));
    if (db == NULL)
        fail_msg("%s", err);
    return db;
}

/* The tailer's user: REPLICATION SLAVE and REPLICATION CLIENT, nothing else. */
static void create_user(MYSQL *db)
{
    sql_exec(db, "CREATE USER '" USER "'@'%%' IDENTIFIED BY '" PASSWORD "'");
    sql_exec(db, "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '" USER "'@'%%'");
}

/* A configuration for srv as user (password may be NULL). */
static void cfg_init(mcsq_config *cfg, const mariadb_server *srv, const char *user,
                     const char *password)
{
    assert_int_equal(mcsq_config_defaults(cfg), MCSQ_OK);
    replace(&cfg->mysql.host, "127.0.0.1");
    replace(&cfg->mysql.user, user);
    cfg->mysql.port = srv->port;
    cfg->mysql.password = password != NULL ? strdup(password) : NULL;
    cfg->mysql.heartbeat_ms = 500;
    cfg->mysql.connect_timeout_ms = 5000;
}

/* ---- a stream under test ---- */

typedef struct stream {
    mcsq_config cfg;
    binlog_live *live;
    binlog_decoder dec;
    binlog_event ev;
    const uint8_t *buf; /* the last event's bytes */
    size_t len;
    char file[NAME_MAX_LEN];      /* file of the last event, from Rotate events */
    char next_file[NAME_MAX_LEN]; /* named by the last event, a Rotate: the next event's */
    char err[ERR_MAX];
} stream;

static int stream_connect(stream *s)
{
    int rc = binlog_live_connect(&s->live, &s->cfg, s->err, sizeof(s->err));
    if (rc == MCSQ_OK) {
        binlog_decoder_init(&s->dec);
        /* the fake Rotate comes before any Format_description, checksummed */
        if (binlog_live_server_info(s->live)->checksum_crc32)
            s->dec.fmt.checksum_alg = BINLOG_CHECKSUM_CRC32;
    }
    return rc;
}

/* Connects and starts from start; fails the test on any error. */
static void stream_open(stream *s, const mcsq_start *start, binlog_position *pos)
{
    binlog_position local;
    if (pos == NULL)
        pos = &local;
    if (stream_connect(s) != MCSQ_OK)
        fail_msg("connect: %s", s->err);
    if (binlog_live_resolve_start(s->live, start, pos, s->err, sizeof(s->err)) != MCSQ_OK)
        fail_msg("resolve: %s", s->err);
    if (binlog_live_start(s->live, pos, s->err, sizeof(s->err)) != MCSQ_OK)
        fail_msg("start: %s", s->err);
}

/* The next event, decoded; tracks the file name (a Rotate, real or
 * artificial, names the file of the events after it). Returns
 * binlog_live_next()'s code. */
static int stream_next(stream *s)
{
    char derr[512];
    int rc = binlog_live_next(s->live, &s->buf, &s->len, s->err, sizeof(s->err));
    if (rc != MCSQ_OK)
        return rc;
    if (s->next_file[0] != '\0') {
        memcpy(s->file, s->next_file, sizeof(s->file));
        s->next_file[0] = '\0';
    }
    if (binlog_event_decode(&s->dec, s->buf, s->len, &s->ev, derr, sizeof(derr)) != MCSQ_OK)
        fail_msg("decoding a streamed %s event: %s", binlog_event_type_name(s->buf[4]), derr);
    if (s->ev.hdr.type == BINLOG_ROTATE_EVENT)
        snprintf(s->next_file, sizeof(s->next_file), "%.*s", (int)s->ev.u.rotate.next_file.len,
                 s->ev.u.rotate.next_file.ptr);
    return MCSQ_OK;
}

static void stream_must_next(stream *s)
{
    int rc = stream_next(s);
    if (rc != MCSQ_OK)
        fail_msg("binlog_live_next: %s (%d)", s->err, rc);
}

/* An event that is in a binlog file (not artificial, not a heartbeat, not
 * the Format_description re-sent when streaming starts inside a file). */
static bool stream_in_file(const stream *s)
{
    return !(s->ev.hdr.flags & ARTIFICIAL_F) && s->ev.hdr.type != BINLOG_HEARTBEAT_EVENT &&
           s->ev.hdr.next_pos != 0;
}

static bool stream_at(const stream *s, const char *file, uint64_t pos)
{
    return stream_in_file(s) && strcmp(s->file, file) == 0 && s->ev.hdr.next_pos == pos;
}

static void stream_close(stream *s)
{
    binlog_live_close(s->live);
    s->live = NULL;
    binlog_decoder_deinit(&s->dec);
    mcsq_config_deinit(&s->cfg);
}

/* ---- recorded events and GTIDs ---- */

typedef struct rec {
    char file[NAME_MAX_LEN];
    uint32_t next_pos;
    uint8_t type;
    size_t len;
    uint8_t *bytes;
} rec;

typedef struct rec_list {
    rec *v;
    size_t n, cap;
} rec_list;

/* Appends an event; a Format_description's "in use" flag is cleared (the
 * server clears it when it sends the event, the file has it while open). */
static void rec_push(rec_list *l, const char *file, const uint8_t *buf, size_t len)
{
    binlog_header hdr;
    assert_int_equal(binlog_header_parse(buf, len, &hdr), MCSQ_OK);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        assert_non_null(l->v);
    }
    rec *r = &l->v[l->n++];
    snprintf(r->file, sizeof(r->file), "%s", file);
    r->next_pos = hdr.next_pos;
    r->type = hdr.type;
    r->len = len;
    r->bytes = malloc(len);
    assert_non_null(r->bytes);
    memcpy(r->bytes, buf, len);
    if (hdr.type == BINLOG_FORMAT_DESCRIPTION_EVENT)
        r->bytes[FLAGS_OFFSET] &= (uint8_t)~IN_USE_F;
}

static void rec_free(rec_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].bytes);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static size_t rec_count(const rec_list *l, uint8_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += l->v[i].type == type;
    return n;
}

typedef struct gtid_list {
    char v[64][GTID_MAX_LEN];
    size_t n;
} gtid_list;

static void gtid_push(gtid_list *l, const char *gtid)
{
    assert_true(l->n < sizeof(l->v) / sizeof(l->v[0]));
    snprintf(l->v[l->n++], GTID_MAX_LEN, "%s", gtid);
}

static void gtid_assert_equal(const gtid_list *got, const gtid_list *want, const char *what)
{
    for (size_t i = 0; i < got->n && i < want->n; i++) {
        if (strcmp(got->v[i], want->v[i]) != 0)
            fail_msg("%s: transaction %zu is %s, expected %s", what, i, got->v[i], want->v[i]);
    }
    if (got->n != want->n)
        fail_msg("%s: %zu transactions streamed, expected %zu", what, got->n, want->n);
}

/* ---- workload ---- */

/* One annotated transaction of two row changes; its GTID into gtids (may
 * be NULL). */
static void commit_txn(MYSQL *db, int id, gtid_list *gtids)
{
    char gtid[GTID_MAX_LEN];
    sql_exec(db, "BEGIN");
    sql_exec(db, "INSERT INTO t.kv VALUES (%d, 'v%d') /* mcsqueal: kv:%d */", id, id, id);
    sql_exec(db, "UPDATE t.kv SET v = CONCAT(v, '!') WHERE id = %d /* mcsqueal: kv:%d:u */", id,
             id);
    sql_exec(db, "COMMIT");
    if (gtids != NULL) {
        sql_value(db, 0, gtid, sizeof(gtid), "SELECT @@last_gtid");
        gtid_push(gtids, gtid);
    }
}

/* The server's current binlog file and end. */
static void master_status(MYSQL *db, char *file, uint64_t *pos)
{
    char p[32];
    sql_value(db, 0, file, NAME_MAX_LEN, "SHOW MASTER STATUS");
    sql_value(db, 1, p, sizeof(p), "SHOW MASTER STATUS");
    *pos = strtoull(p, NULL, 10);
}

/* ---- group fixture: the main server ---- */

typedef struct fixture {
    mariadb_server *srv; /* ROW format, user USER, table t.kv */
    MYSQL *db;           /* root */
    int next_id;         /* next t.kv id */
} fixture;

static int group_setup(void **state)
{
    static const char *const args[] = {"--binlog-format=ROW", NULL};
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->srv = server_start(args);
    fx->db = server_connect(fx->srv);
    create_user(fx->db);
    sql_exec(fx->db, "CREATE DATABASE t");
    sql_exec(fx->db, "CREATE TABLE t.kv (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB");
    fx->next_id = 1;
    *state = fx;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *fx = *state;
    if (fx == NULL)
        return 0;
    if (fx->db != NULL)
        mysql_close(fx->db);
    mariadb_server_stop(fx->srv);
    free(fx);
    return 0;
}

static void stream_init_main(stream *s, const fixture *fx)
{
    memset(s, 0, sizeof(*s));
    cfg_init(&s->cfg, fx->srv, USER, PASSWORD);
}

/* ---- 1. the stream is the binlog ---- */

typedef struct workload {
    const mariadb_server *srv;
    int first_id, n;
} workload;

static void *workload_run(void *arg)
{
    workload *w = arg;
    mysql_thread_init();
    char err[512];
    MYSQL *db = mariadb_server_connect(w->srv, NULL, 0, err, sizeof(err));
    for (int i = 0; db != NULL && i < w->n; i++) {
        commit_txn(db, w->first_id + i, NULL);
        if (i == w->n / 2)
            sql_exec(db, "FLUSH BINARY LOGS");
    }
    if (db != NULL)
        mysql_close(db);
    mysql_thread_end();
    return db != NULL ? arg : NULL;
}

/* Events of the binlog files on disk, from the first up to file:end. */
static void read_files(const mariadb_server *srv, const char *end_file, uint64_t end, rec_list *out)
{
    char **paths, err[512];
    size_t npaths;
    bool done = false;
    if (mariadb_server_binlogs(srv, &paths, &npaths, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    for (size_t i = 0; i < npaths && !done; i++) {
        binlog_file f;
        const uint8_t *buf;
        size_t len;
        uint64_t offset;
        if (binlog_file_open(&f, paths[i], err, sizeof(err)) != MCSQ_OK)
            fail_msg("%s", err);
        while (!done && binlog_file_next(&f, &buf, &len, &offset, err, sizeof(err)) == MCSQ_OK) {
            rec_push(out, f.name, buf, len);
            done = strcmp(f.name, end_file) == 0 && offset + len == end;
        }
        binlog_file_close(&f);
    }
    mariadb_server_binlogs_free(paths, npaths);
    assert_true(done);
}

static void assert_same_events(const rec_list *got, const rec_list *want)
{
    for (size_t i = 0; i < got->n && i < want->n; i++) {
        const rec *g = &got->v[i], *w = &want->v[i];
        if (strcmp(g->file, w->file) != 0 || g->next_pos != w->next_pos || g->type != w->type ||
            g->len != w->len || memcmp(g->bytes, w->bytes, g->len) != 0)
            fail_msg("event %zu: streamed %s %s:%u (%zu bytes), file has %s %s:%u (%zu bytes)", i,
                     binlog_event_type_name(g->type), g->file, g->next_pos, g->len,
                     binlog_event_type_name(w->type), w->file, w->next_pos, w->len);
    }
    if (got->n != want->n)
        fail_msg("%zu events streamed, the files have %zu", got->n, want->n);
}

static void test_stream_matches_files(void **state)
{
    fixture *fx = *state;
    stream s;
    rec_list got = {0}, want = {0};
    char end_file[NAME_MAX_LEN] = "";
    uint64_t end = 0;
    pthread_t tid;
    void *ok;
    workload w = {fx->srv, fx->next_id, 40};
    fx->next_id += w.n;
    stream_init_main(&s, fx);
    stream_open(&s, &(mcsq_start){.kind = MCSQ_START_BEGIN}, NULL);
    assert_int_equal(pthread_create(&tid, NULL, workload_run, &w), 0);
    int64_t deadline = now_ms() + STREAM_DEADLINE_MS;
    bool joined = false;
    for (bool at_end = false; !at_end && now_ms() < deadline;) {
        stream_must_next(&s);
        if (stream_in_file(&s))
            rec_push(&got, s.file, s.buf, s.len);
        if (!joined && s.ev.hdr.type == BINLOG_HEARTBEAT_EVENT) {
            /* idle: the workload is done; the end is known from now on */
            assert_int_equal(pthread_join(tid, &ok), 0);
            assert_non_null(ok);
            master_status(fx->db, end_file, &end);
            joined = true;
            const rec *last = got.n > 0 ? &got.v[got.n - 1] : NULL;
            at_end = last != NULL && strcmp(last->file, end_file) == 0 && last->next_pos == end;
        }
        at_end = at_end || (joined && stream_at(&s, end_file, end));
    }
    assert_true(joined);
    read_files(fx->srv, end_file, end, &want);
    assert_same_events(&got, &want);
    assert_true(rec_count(&got, BINLOG_MARIA_ANNOTATE_ROWS_EVENT) >= (size_t)2 * w.n);
    assert_true(rec_count(&got, BINLOG_ROTATE_EVENT) >= 1);
    rec_free(&got);
    rec_free(&want);
    stream_close(&s);
}

/* ---- 2. start positions ---- */

/* GTIDs of the transactions streamed until file:end is reached. */
static void collect_gtids(stream *s, const char *file, uint64_t end, gtid_list *out)
{
    char gtid[BINLOG_GTID_TEXT_MAX];
    int64_t deadline = now_ms() + STREAM_DEADLINE_MS;
    for (bool at_end = false; !at_end && now_ms() < deadline;) {
        stream_must_next(s);
        if (s->ev.hdr.type == BINLOG_MARIA_GTID_EVENT) {
            binlog_maria_gtid_format(&s->ev.u.maria_gtid, s->ev.hdr.server_id, gtid);
            gtid_push(out, gtid);
        }
        at_end = stream_at(s, file, end);
    }
    if (!stream_at(s, file, end))
        fail_msg("the stream did not reach %s:%llu", file, (unsigned long long)end);
}

/* Streams from pos (already resolved) and checks the transactions. */
static void expect_from(const fixture *fx, const binlog_position *pos, const char *end_file,
                        uint64_t end, const gtid_list *want, const char *what)
{
    stream s;
    gtid_list got = {0};
    stream_init_main(&s, fx);
    if (stream_connect(&s) != MCSQ_OK)
        fail_msg("connect: %s", s.err);
    if (binlog_live_start(s.live, pos, s.err, sizeof(s.err)) != MCSQ_OK)
        fail_msg("%s: start: %s", what, s.err);
    collect_gtids(&s, end_file, end, &got);
    gtid_assert_equal(&got, want, what);
    stream_close(&s);
}

static void resolve(const fixture *fx, const mcsq_start *start, binlog_position *pos)
{
    stream s;
    stream_init_main(&s, fx);
    if (stream_connect(&s) != MCSQ_OK)
        fail_msg("connect: %s", s.err);
    if (binlog_live_resolve_start(s.live, start, pos, s.err, sizeof(s.err)) != MCSQ_OK)
        fail_msg("resolve: %s", s.err);
    stream_close(&s);
}

static void test_start_positions(void **state)
{
    fixture *fx = *state;
    gtid_list before = {0}, after = {0};
    binlog_position at_end, at_file, at_gtid, by_file;
    char end_file[NAME_MAX_LEN], state_before[GTID_MAX_LEN];
    uint64_t end;
    for (int i = 0; i < 3; i++)
        commit_txn(fx->db, fx->next_id++, &before);
    resolve(fx, &(mcsq_start){.kind = MCSQ_START_END}, &at_end);
    sql_value(fx->db, 0, state_before, sizeof(state_before), "SELECT @@gtid_binlog_pos");
    assert_string_equal(at_end.gtid, state_before);
    for (int i = 0; i < 4; i++)
        commit_txn(fx->db, fx->next_id++, &after);
    master_status(fx->db, end_file, &end);

    expect_from(fx, &at_end, end_file, end, &after, "start = end (GTID positioning)");
    by_file = at_end;
    by_file.gtid[0] = '\0';
    expect_from(fx, &by_file, end_file, end, &after, "start = end (file positioning)");
    resolve(fx, &(mcsq_start){.kind = MCSQ_START_FILE, .file = at_end.file, .pos = at_end.pos},
            &at_file);
    assert_string_equal(at_file.file, at_end.file);
    assert_int_equal(at_file.pos, at_end.pos);
    assert_string_equal(at_file.gtid, state_before); /* BINLOG_GTID_POS() */
    expect_from(fx, &at_file, end_file, end, &after, "start = file:...");
    resolve(fx, &(mcsq_start){.kind = MCSQ_START_GTID, .gtid = state_before}, &at_gtid);
    assert_string_equal(at_gtid.gtid, state_before);
    expect_from(fx, &at_gtid, end_file, end, &after, "start = gtid:...");
}

/* ---- 3. rotation ---- */

static void test_rotation(void **state)
{
    fixture *fx = *state;
    stream s;
    gtid_list want = {0};
    char file1[NAME_MAX_LEN], file2[NAME_MAX_LEN], gtid[BINLOG_GTID_TEXT_MAX];
    uint64_t end;
    stream_init_main(&s, fx);
    stream_open(&s, &(mcsq_start){.kind = MCSQ_START_END}, NULL);
    commit_txn(fx->db, fx->next_id++, &want);
    master_status(fx->db, file1, &end);
    sql_exec(fx->db, "FLUSH BINARY LOGS");
    commit_txn(fx->db, fx->next_id++, &want);
    master_status(fx->db, file2, &end);
    assert_string_not_equal(file1, file2);

    int stage = 0; /* 0: before the Rotate, 1: Rotate seen, 2: Format_description seen */
    size_t ngtid = 0;
    int64_t deadline = now_ms() + STREAM_DEADLINE_MS;
    while (!stream_at(&s, file2, end) && now_ms() < deadline) {
        stream_must_next(&s);
        if (!stream_in_file(&s))
            continue;
        if (s.ev.hdr.type == BINLOG_MARIA_GTID_EVENT) {
            binlog_maria_gtid_format(&s.ev.u.maria_gtid, s.ev.hdr.server_id, gtid);
            assert_true(ngtid < want.n);
            assert_string_equal(gtid, want.v[ngtid]);
            assert_int_equal(stage, ngtid == 0 ? 0 : 2); /* first in file1, then in file2 */
            ngtid++;
        } else if (stage == 0 && s.ev.hdr.type == BINLOG_ROTATE_EVENT) {
            assert_string_equal(s.file, file1);      /* the last event of file1 */
            assert_string_equal(s.next_file, file2); /* names the next file */
            stage = 1;
        } else if (stage == 1) {
            assert_int_equal(s.ev.hdr.type, BINLOG_FORMAT_DESCRIPTION_EVENT);
            assert_string_equal(s.file, file2);
            stage = 2;
        }
    }
    assert_int_equal(stage, 2);
    assert_int_equal(ngtid, want.n);
    stream_close(&s);
}

/* ---- 4. heartbeats and a dead server ---- */

static void test_heartbeats(void **state)
{
    fixture *fx = *state;
    stream s;
    int heartbeats = 0;
    stream_init_main(&s, fx);
    s.cfg.mysql.heartbeat_ms = 200;
    stream_open(&s, &(mcsq_start){.kind = MCSQ_START_END}, NULL);
    int64_t start = now_ms();
    while (now_ms() - start < 1300) {
        stream_must_next(&s);
        heartbeats += s.ev.hdr.type == BINLOG_HEARTBEAT_EVENT;
    }
    assert_in_range(heartbeats, 4, 8); /* one every 200 ms */
    stream_close(&s);
}

/* Reads until the first heartbeat: the stream is up and idle. */
static void wait_heartbeat(stream *s)
{
    do
        stream_must_next(s);
    while (s->ev.hdr.type != BINLOG_HEARTBEAT_EVENT);
}

/* Reads until an error; returns it and the time it took in *ms. */
static int next_until_error(stream *s, int64_t *ms)
{
    int rc;
    int64_t t0 = now_ms();
    while ((rc = stream_next(s)) == MCSQ_OK && now_ms() - t0 < STREAM_DEADLINE_MS)
        ;
    *ms = now_ms() - t0;
    return rc;
}

static void test_dead_server(void **state)
{
    (void)state;
    mariadb_server *srv = server_start(NULL);
    stream s;
    int64_t ms;
    memset(&s, 0, sizeof(s));
    cfg_init(&s.cfg, srv, "root", NULL);
    stream_open(&s, &(mcsq_start){.kind = MCSQ_START_END}, NULL);
    wait_heartbeat(&s);
    assert_int_equal(kill(srv->pid, SIGSTOP), 0); /* frozen: the socket stays open */
    int rc = next_until_error(&s, &ms);
    (void)kill(srv->pid, SIGCONT);
    print_message("frozen server noticed after %lld ms: %s\n", (long long)ms, s.err);
    assert_int_equal(rc, MCSQ_ERR_CONNECT);
    assert_in_range(ms, 0, 3000); /* two 500 ms heartbeats, rounded up to 1 s, plus slack */
    assert_non_null(strstr(s.err, "no event or heartbeat"));
    stream_close(&s);

    memset(&s, 0, sizeof(s));
    cfg_init(&s.cfg, srv, "root", NULL);
    stream_open(&s, &(mcsq_start){.kind = MCSQ_START_END}, NULL);
    wait_heartbeat(&s);
    assert_int_equal(kill(srv->pid, SIGKILL), 0);
    rc = next_until_error(&s, &ms);
    print_message("killed server noticed after %lld ms: %s\n", (long long)ms, s.err);
    assert_int_equal(rc, MCSQ_ERR_CONNECT);
    assert_in_range(ms, 0, 1500);
    stream_close(&s);
    mariadb_server_stop(srv);
}

/* ---- 5. purged positions ---- */

static void expect_purged(stream *s, const binlog_position *pos, const char *what)
{
    if (stream_connect(s) != MCSQ_OK)
        fail_msg("connect: %s", s->err);
    int rc = binlog_live_start(s->live, pos, s->err, sizeof(s->err));
    print_message("%s: %s\n", what, s->err);
    assert_int_equal(rc, MCSQ_ERR_LIMIT);
    assert_non_null(strstr(s->err, "purged"));
    binlog_live_close(s->live);
    s->live = NULL;
    binlog_decoder_deinit(&s->dec);
}

static void test_purged(void **state)
{
    (void)state;
    mariadb_server *srv = server_start(NULL);
    MYSQL *db = server_connect(srv);
    stream s;
    binlog_position pos;
    char first[NAME_MAX_LEN], last[NAME_MAX_LEN], early_state[GTID_MAX_LEN];
    uint64_t end;
    sql_exec(db, "CREATE DATABASE t");
    sql_exec(db, "CREATE TABLE t.kv (id INT PRIMARY KEY, v VARCHAR(64))");
    sql_value(db, 0, first, sizeof(first), "SHOW BINARY LOGS");
    sql_value(db, 0, early_state, sizeof(early_state), "SELECT @@gtid_binlog_pos");
    for (int i = 0; i < 3; i++) {
        sql_exec(db, "FLUSH BINARY LOGS");
        commit_txn(db, i + 1, NULL);
    }
    master_status(db, last, &end);
    /* MariaDB keeps a binlog until its binlog checkpoint has passed it, which
     * lags under load: purge until the older files are really gone. */
    char oldest[NAME_MAX_LEN];
    for (int tries = 0; tries < 100; tries++) {
        sql_exec(db, "PURGE BINARY LOGS TO '%s'", last);
        sql_value(db, 0, oldest, sizeof(oldest), "SHOW BINARY LOGS");
        if (strcmp(oldest, last) == 0)
            break;
        usleep(100000);
    }
    assert_string_equal(oldest, last);

    memset(&s, 0, sizeof(s));
    cfg_init(&s.cfg, srv, "root", NULL);
    if (stream_connect(&s) != MCSQ_OK)
        fail_msg("connect: %s", s.err);
    int rc = binlog_live_resolve_start(
        s.live, &(mcsq_start){.kind = MCSQ_START_FILE, .file = first, .pos = 4}, &pos, s.err,
        sizeof(s.err));
    print_message("resolve file:%s:4: %s\n", first, s.err);
    assert_int_equal(rc, MCSQ_ERR_LIMIT);
    assert_non_null(strstr(s.err, "purged"));
    binlog_live_close(s.live);
    binlog_decoder_deinit(&s.dec);

    memset(&pos, 0, sizeof(pos));
    snprintf(pos.file, sizeof(pos.file), "%s", first);
    pos.pos = 4;
    expect_purged(&s, &pos, "start from a purged file");
    memset(&pos, 0, sizeof(pos));
    snprintf(pos.gtid, sizeof(pos.gtid), "%s", early_state);
    expect_purged(&s, &pos, "start from a purged GTID state");
    mcsq_config_deinit(&s.cfg);
    mysql_close(db);
    mariadb_server_stop(srv);
}

/* ---- 6. errors ---- */

static int connect_fails(const mcsq_config *cfg, char *err, size_t size)
{
    binlog_live *live = NULL;
    int rc = binlog_live_connect(&live, cfg, err, size);
    assert_true(rc != MCSQ_OK || live != NULL);
    binlog_live_close(live);
    print_message("connect: %s\n", rc != MCSQ_OK ? err : "ok");
    return rc;
}

static void test_wrong_password(void **state)
{
    fixture *fx = *state;
    mcsq_config cfg;
    char err[ERR_MAX];
    cfg_init(&cfg, fx->srv, USER, WRONG_PASSWORD);
    assert_int_equal(connect_fails(&cfg, err, sizeof(err)), MCSQ_ERR_CONNECT);
    assert_non_null(strstr(err, "Access denied"));
    assert_null(strstr(err, WRONG_PASSWORD));
    assert_null(strstr(err, PASSWORD));
    mcsq_config_deinit(&cfg);
}

static void test_no_replication_slave(void **state)
{
    fixture *fx = *state;
    stream s;
    binlog_position pos;
    char err[ERR_MAX];
    sql_exec(fx->db, "CREATE USER 'monitor'@'%%' IDENTIFIED BY '" PASSWORD "'");
    sql_exec(fx->db, "GRANT REPLICATION CLIENT, SELECT ON *.* TO 'monitor'@'%%'");
    memset(&s, 0, sizeof(s));
    cfg_init(&s.cfg, fx->srv, "monitor", PASSWORD);
    assert_int_equal(connect_fails(&s.cfg, err, sizeof(err)), MCSQ_ERR_CONFIG); /* SHOW GRANTS */
    assert_non_null(strstr(err, "REPLICATION SLAVE"));

    /* with a role in its grants SHOW GRANTS cannot tell: the dump request does */
    sql_exec(fx->db, "CREATE ROLE 'watcher'");
    sql_exec(fx->db, "GRANT SELECT ON t.* TO 'watcher'");
    sql_exec(fx->db, "GRANT 'watcher' TO 'monitor'@'%%'");
    if (stream_connect(&s) != MCSQ_OK)
        fail_msg("connect: %s", s.err);
    if (binlog_live_resolve_start(s.live, &(mcsq_start){.kind = MCSQ_START_END}, &pos, s.err,
                                  sizeof(s.err)) != MCSQ_OK)
        fail_msg("resolve: %s", s.err);
    int rc = binlog_live_start(s.live, &pos, s.err, sizeof(s.err));
    print_message("start: %s\n", s.err);
    assert_int_equal(rc, MCSQ_ERR_CONFIG);
    assert_non_null(strstr(s.err, "REPLICATION SLAVE"));
    stream_close(&s);
    sql_exec(fx->db, "DROP USER 'monitor'@'%%'");
    sql_exec(fx->db, "DROP ROLE 'watcher'");
}

static void test_no_binlog(void **state)
{
    (void)state;
    static const char *const args[] = {"--skip-log-bin", NULL};
    mariadb_server *srv = server_start(args);
    mcsq_config cfg;
    char err[ERR_MAX];
    cfg_init(&cfg, srv, "root", NULL);
    assert_int_equal(connect_fails(&cfg, err, sizeof(err)), MCSQ_ERR_CONFIG);
    assert_non_null(strstr(err, "log_bin"));
    mcsq_config_deinit(&cfg);
    mariadb_server_stop(srv);
}

/* Starts a replica of the main server (extra: more mariadbd options) and
 * waits until it has applied everything the main server has. */
static mariadb_server *replica_start(const fixture *fx, const char *server_id, const char *extra)
{
    const char *const args[] = {server_id, extra, NULL};
    mariadb_server *srv = server_start(args);
    MYSQL *db = server_connect(srv);
    char want[GTID_MAX_LEN], have[GTID_MAX_LEN] = "";
    sql_exec(db,
             "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %d, "
             "MASTER_USER = 'root', MASTER_PASSWORD = '', MASTER_USE_GTID = slave_pos",
             fx->srv->port);
    sql_exec(db, "START SLAVE");
    sql_value(fx->db, 0, want, sizeof(want), "SELECT @@gtid_binlog_pos");
    for (int64_t deadline = now_ms() + 15000; strcmp(have, want) != 0 && now_ms() < deadline;
         sleep_ms(50))
        sql_value(db, 0, have, sizeof(have), "SELECT @@gtid_slave_pos");
    assert_string_equal(have, want);
    mysql_close(db);
    return srv;
}

static void test_replica_without_log_slave_updates(void **state)
{
    fixture *fx = *state;
    mariadb_server *srv = replica_start(fx, "--server-id=2", NULL);
    mcsq_config cfg;
    char err[ERR_MAX];
    cfg_init(&cfg, srv, "root", NULL); /* sees SHOW ALL SLAVES STATUS */
    assert_int_equal(connect_fails(&cfg, err, sizeof(err)), MCSQ_ERR_CONFIG);
    assert_non_null(strstr(err, "log_slave_updates"));
    mcsq_config_deinit(&cfg);
    cfg_init(&cfg, srv, USER, PASSWORD); /* replicated user, no SLAVE MONITOR: guesses */
    assert_int_equal(connect_fails(&cfg, err, sizeof(err)), MCSQ_ERR_CONFIG);
    assert_non_null(strstr(err, "log_slave_updates"));
    mcsq_config_deinit(&cfg);
    mariadb_server_stop(srv);
}

static void test_replica_with_log_slave_updates(void **state)
{
    fixture *fx = *state;
    mariadb_server *srv = replica_start(fx, "--server-id=3", "--log-slave-updates");
    stream s;
    gtid_list want = {0};
    char gtid[BINLOG_GTID_TEXT_MAX];
    char key[32];
    bool annotated = false;
    memset(&s, 0, sizeof(s));
    cfg_init(&s.cfg, srv, USER, PASSWORD);
    stream_open(&s, &(mcsq_start){.kind = MCSQ_START_END}, NULL);
    assert_true(binlog_live_server_info(s.live)->is_replica);
    snprintf(key, sizeof(key), "mcsqueal: kv:%d ", fx->next_id);
    commit_txn(fx->db, fx->next_id++, &want); /* on the primary */
    do
        stream_must_next(&s);
    while (s.ev.hdr.type != BINLOG_MARIA_GTID_EVENT);
    binlog_maria_gtid_format(&s.ev.u.maria_gtid, s.ev.hdr.server_id, gtid);
    assert_string_equal(gtid, want.v[0]); /* the primary's GTID, in the replica's binlog */
    do {                                  /* the rest of the transaction, with its statement text */
        stream_must_next(&s);
        annotated |= s.ev.hdr.type == BINLOG_MARIA_ANNOTATE_ROWS_EVENT &&
                     memmem(s.ev.u.rows_query.ptr, s.ev.u.rows_query.len, key, strlen(key));
    } while (s.ev.hdr.type != BINLOG_XID_EVENT);
    assert_true(annotated);
    stream_close(&s);
    mariadb_server_stop(srv);
}

/* ---- 7. interrupt ---- */

typedef struct interrupter {
    binlog_live *live;
    int64_t at_ms;
} interrupter;

static void *interrupt_run(void *arg)
{
    interrupter *in = arg;
    sleep_ms(300);
    in->at_ms = now_ms();
    binlog_live_interrupt(in->live);
    return NULL;
}

static void test_interrupt(void **state)
{
    fixture *fx = *state;
    stream s;
    pthread_t tid;
    int64_t ms;
    stream_init_main(&s, fx);
    s.cfg.mysql.heartbeat_ms = 10000; /* nothing arrives for 10 s */
    stream_open(&s, &(mcsq_start){.kind = MCSQ_START_END}, NULL);
    interrupter in = {s.live, 0};
    assert_int_equal(pthread_create(&tid, NULL, interrupt_run, &in), 0);
    int rc = next_until_error(&s, &ms);
    int64_t returned = now_ms();
    assert_int_equal(pthread_join(tid, NULL), 0);
    int64_t late = returned - in.at_ms;
    print_message("interrupt returned %lld ms after the call\n", (long long)late);
    assert_int_equal(rc, MCSQ_ERR_AGAIN);
    assert_in_range(late, 0, 1000);
    assert_int_equal(stream_next(&s), MCSQ_ERR_AGAIN); /* and stays so */
    stream_close(&s);
}

/* ---- 8. TLS ---- */

/* Runs argv to completion, output discarded; 0 when it exits 0. */
static int run(char *const *argv)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status, rc;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* A self-signed certificate for 127.0.0.1 (key and cert in dir). */
static int make_cert(const char *dir, const char *name)
{
    char key[512], cert[512];
    snprintf(key, sizeof(key), "%s/%s.key", dir, name);
    snprintf(cert, sizeof(cert), "%s/%s.pem", dir, name);
    char *argv[] = {"openssl",  "req",
                    "-x509",    "-newkey",
                    "rsa:2048", "-nodes",
                    "-days",    "2",
                    "-subj",    "/CN=127.0.0.1",
                    "-addext",  "subjectAltName=IP:127.0.0.1",
                    "-keyout",  key,
                    "-out",     cert,
                    NULL};
    return run(argv);
}

/* Connects as user to srv with ssl_mode mode (and ssl_ca ca) and streams
 * for a while; returns the connect result. */
static int tls_connect(const mariadb_server *srv, const char *user, int mode, const char *ca,
                       char *err, size_t size)
{
    stream s;
    memset(&s, 0, sizeof(s));
    cfg_init(&s.cfg, srv, user, strcmp(user, "root") == 0 ? NULL : PASSWORD);
    s.cfg.mysql.ssl_mode = mode;
    s.cfg.mysql.heartbeat_ms = 300;
    if (ca != NULL)
        replace(&s.cfg.mysql.ssl_ca, ca);
    int rc = stream_connect(&s);
    if (rc == MCSQ_OK) {
        binlog_position pos;
        if (binlog_live_resolve_start(s.live, &(mcsq_start){.kind = MCSQ_START_END}, &pos, s.err,
                                      sizeof(s.err)) != MCSQ_OK ||
            binlog_live_start(s.live, &pos, s.err, sizeof(s.err)) != MCSQ_OK)
            fail_msg("%s", s.err);
        int64_t t0 = now_ms();
        while (now_ms() - t0 < 1500) /* idle TLS reads must not time out */
            stream_must_next(&s);
    }
    snprintf(err, size, "%s", rc == MCSQ_OK ? "ok" : s.err);
    print_message("ssl_mode %d: %s\n", mode, err);
    stream_close(&s);
    return rc;
}

static void test_tls(void **state)
{
    fixture *fx = *state;
    char dir[] = "/tmp/mcsq-tls-XXXXXX", cert[128], key[128], ca[128], other[128];
    char opt[3][192], err[ERR_MAX];
    assert_non_null(mkdtemp(dir));
    if (make_cert(dir, "server") != 0 || make_cert(dir, "other") != 0) {
        MCSQ_SKIP_TEST("openssl", "openssl cannot make certificates (scripts/deps installs it)");
    }
    snprintf(cert, sizeof(cert), "%s/server.pem", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(ca, sizeof(ca), "%s", cert);
    snprintf(other, sizeof(other), "%s/other.pem", dir);
    snprintf(opt[0], sizeof(opt[0]), "--ssl-cert=%s", cert);
    snprintf(opt[1], sizeof(opt[1]), "--ssl-key=%s", key);
    snprintf(opt[2], sizeof(opt[2]), "--ssl-ca=%s", ca);
    const char *const args[] = {opt[0], opt[1], opt[2], NULL};
    mariadb_server *srv = server_start(args);
    MYSQL *db = server_connect(srv);
    /* a user that can only connect over TLS: its connecting proves TLS */
    sql_exec(db, "CREATE USER 'tls'@'%%' IDENTIFIED BY '" PASSWORD "' REQUIRE SSL");
    sql_exec(db, "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'tls'@'%%'");
    mysql_close(db);

    assert_int_equal(tls_connect(srv, "tls", MCSQ_SSL_DISABLED, NULL, err, sizeof(err)),
                     MCSQ_ERR_CONNECT);
    assert_int_equal(tls_connect(srv, "tls", MCSQ_SSL_PREFERRED, NULL, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(tls_connect(srv, "tls", MCSQ_SSL_REQUIRED, NULL, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(tls_connect(srv, "tls", MCSQ_SSL_VERIFY_CA, ca, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(tls_connect(srv, "tls", MCSQ_SSL_VERIFY_IDENTITY, ca, err, sizeof(err)),
                     MCSQ_OK);
    assert_int_equal(tls_connect(srv, "tls", MCSQ_SSL_VERIFY_CA, other, err, sizeof(err)),
                     MCSQ_ERR_CONNECT); /* signed by another CA */
    assert_int_equal(tls_connect(srv, "tls", MCSQ_SSL_VERIFY_CA, NULL, err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    assert_int_equal(tls_connect(fx->srv, "root", MCSQ_SSL_REQUIRED, NULL, err, sizeof(err)),
                     MCSQ_ERR_CONNECT); /* the main server has no TLS */
    assert_non_null(strstr(err, "TLS"));
    mariadb_server_stop(srv);
    char *rm[] = {"rm", "-rf", dir, NULL};
    (void)run(rm);
}

int main(void)
{
    char path[512];
    if (mariadb_server_find(path, sizeof(path)) != 0) {
        return MCSQ_SKIP_EXIT("mariadbd", "the live binlog tests: %s", path);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_matches_files),
        cmocka_unit_test(test_start_positions),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_heartbeats),
        cmocka_unit_test(test_dead_server),
        cmocka_unit_test(test_purged),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_no_replication_slave),
        cmocka_unit_test(test_no_binlog),
        cmocka_unit_test(test_replica_without_log_slave_updates),
        cmocka_unit_test(test_replica_with_log_slave_updates),
        cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_tls),
    };
    const char *filter = getenv("MCSQ_TEST_FILTER");
    if (filter != NULL && filter[0] != '\0')
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
