/*
 * Integration tests of the scan API (and once of `mcsqueal scan`) against a
 * real mariadbd. Each test starts a throwaway server, drives a workload
 * through Connector/C while keeping its own oracle (the expected, ordered,
 * de-duplicated key list of every transaction that must be emitted, and the
 * keys that must never be emitted), rotates the binlog, then scans every
 * binlog file in index order and compares transaction by transaction.
 *
 * Keyless transactions the server writes by itself cannot be told apart
 * robustly, so only transactions with keys are compared one to one; the
 * total number of emitted transactions must still reach the number of
 * workload commits. In SQL and key templates "{P}" stands for the phase
 * prefix (keys stay unique across phases) and "{V}" for the phase's value
 * (long in the compressed phase).
 */
#include "mariadb_server.h"

#include "mcsqueal/error.h"
#include "mcsqueal/scan.h"

#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "skip.h"

extern char **environ;

#define NAME_MAX_LEN 64
#define QUERY_COMPRESSED_EVENT 165 /* MariaDB Query_compressed */
#define ROWS_COMPRESSED_FIRST 166  /* MariaDB {Write,Update,Delete}_rows_compressed v1, v2 */
#define ROWS_COMPRESSED_LAST 171
#define BIG_KEYS 50000
#define BIG_KEYS_PER_STMT 100
#define DUMP_MAX 20

/* ---- string lists ---- */

typedef struct str_list {
    char **v;
    size_t n, cap;
} str_list;

static void str_list_push(str_list *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        assert_non_null(l->v);
    }
    l->v[l->n] = strndup(s, len);
    assert_non_null(l->v[l->n]);
    l->n++;
}

/* Appends the space-separated words of `spaced`. */
static void str_list_split(str_list *l, const char *spaced)
{
    const char *p = spaced;
    while (*p != '\0') {
        size_t skip = strspn(p, " "), len = strcspn(p + skip, " ");
        if (len > 0)
            str_list_push(l, p + skip, len);
        p += skip + len;
    }
}

static bool str_list_has(const str_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], s) == 0)
            return true;
    }
    return false;
}

static void str_list_free(str_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* Space-joined, shortened to fit buf. */
static const char *str_list_join(const str_list *l, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n && used + 4 < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i ? " " : "", l->v[i]);
        used += w > 0 ? (size_t)w : 0;
    }
    if (used >= size - 1 && size > 4)
        strcpy(buf + size - 4, "...");
    return buf;
}

/* ---- test state ---- */

typedef struct expect_txn {
    str_list keys;           /* ordered, de-duplicated */
    char file[NAME_MAX_LEN]; /* binlog file current at the commit */
    char gtid[NAME_MAX_LEN]; /* @@last_gtid after the commit; "" = not checked */
    char what[96];
} expect_txn;

typedef struct got_txn {
    str_list keys;
    char file[NAME_MAX_LEN];
    char gtid[NAME_MAX_LEN];
    uint64_t pos, end_pos;
} got_txn;

typedef struct itest {
    mariadb_server *srv;
    MYSQL *db;
    const char *format; /* binlog_format of the server (points to format_buf) */
    char format_buf[16];
    const char *prefix; /* "{P}" */
    const char *value;  /* "{V}" */
    char file[NAME_MAX_LEN];
    expect_txn *exp;
    size_t nexp, expcap;
    str_list forbidden; /* keys that must never be emitted */
    got_txn *got;
    size_t ngot, gotcap;
    size_t query_compressed, rows_compressed;
    char **binlogs;
    size_t nbinlogs;
} itest;

static int it_setup(void **state)
{
    itest *it = calloc(1, sizeof(*it));
    if (it == NULL)
        return -1;
    it->prefix = "p";
    it->value = "v";
    it->format = "";
    *state = it;
    return 0;
}

static void it_free_results(itest *it)
{
    for (size_t i = 0; i < it->ngot; i++)
        str_list_free(&it->got[i].keys);
    free(it->got);
    it->got = NULL;
    it->ngot = it->gotcap = 0;
    mariadb_server_binlogs_free(it->binlogs, it->nbinlogs);
    it->binlogs = NULL;
    it->nbinlogs = 0;
}

static int it_teardown(void **state)
{
    itest *it = *state;
    if (it->db != NULL)
        mysql_close(it->db);
    mariadb_server_stop(it->srv);
    it_free_results(it);
    for (size_t i = 0; i < it->nexp; i++)
        str_list_free(&it->exp[i].keys);
    free(it->exp);
    str_list_free(&it->forbidden);
    free(it);
    return 0;
}

/* ---- SQL helpers ---- */

/* Copies tmpl with "{P}" and "{V}" replaced; caller frees. */
static char *expand(const itest *it, const char *tmpl)
{
    size_t cap = strlen(tmpl) + 1, n = 0;
    for (const char *p = tmpl; (p = strchr(p, '{')) != NULL; p++)
        cap += strlen(it->value) + strlen(it->prefix);
    char *out = malloc(cap);
    assert_non_null(out);
    for (const char *p = tmpl; *p != '\0';) {
        const char *sub = strncmp(p, "{P}", 3) == 0   ? it->prefix
                          : strncmp(p, "{V}", 3) == 0 ? it->value
                                                      : NULL;
        if (sub != NULL) {
            memcpy(out + n, sub, strlen(sub));
            n += strlen(sub);
            p += 3;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

static void exec_raw(const itest *it, MYSQL *db, const char *sql, size_t len)
{
    if (mysql_real_query(db, sql, len) != 0)
        fail_msg("SQL failed (binlog_format %s): %.*s\n  error %u: %s", it->format,
                 (int)(len > 2000 ? 2000 : len), sql, mysql_errno(db), mysql_error(db));
    MYSQL_RES *res = mysql_store_result(db);
    if (res != NULL)
        mysql_free_result(res);
}

/* Runs a statement template on db; fails the test on error. */
static void exec_on(const itest *it, MYSQL *db, const char *tmpl)
{
    char *sql = expand(it, tmpl);
    exec_raw(it, db, sql, strlen(sql));
    free(sql);
}

static void exec_sql(const itest *it, const char *tmpl)
{
    exec_on(it, it->db, tmpl);
}

/* First column of the first row of a query, into out ("" for NULL). */
static void query_value(const itest *it, MYSQL *db, const char *sql, char *out, size_t size)
{
    (void)it;
    if (mysql_query(db, sql) != 0)
        fail_msg("SQL failed: %s\n  error %u: %s", sql, mysql_errno(db), mysql_error(db));
    MYSQL_RES *res = mysql_store_result(db);
    assert_non_null(res);
    MYSQL_ROW row = mysql_fetch_row(res);
    assert_non_null(row);
    snprintf(out, size, "%s", row[0] != NULL ? row[0] : "");
    mysql_free_result(res);
}

static MYSQL *connect_db(const itest *it, const char *db)
{
    char err[512];
    MYSQL *m = mariadb_server_connect(it->srv, db, 0, err, sizeof(err));
    if (m == NULL)
        fail_msg("%s", err);
    return m;
}

/* Starts a fresh server with the given binlog format (NULL: the server's
 * default); skips the test when mariadbd is not installed. */
static void start_server(itest *it, const char *format)
{
    char path[512], err[4096], fmt_opt[64];
    if (mariadb_server_find(path, sizeof(path)) != 0) {
        if (getenv("MCSQ_TEST_MARIADBD") != NULL)
            fail_msg("%s", path); /* an explicit choice must work */
        MCSQ_SKIP_TEST("mariadbd", "%s", path);
    }
    const char *args[2] = {fmt_opt, NULL};
    snprintf(fmt_opt, sizeof(fmt_opt), "--binlog-format=%s", format != NULL ? format : "");
    if (mariadb_server_start(&it->srv, format != NULL ? args : NULL, err, sizeof(err)) != 0)
        fail_msg("cannot start mariadbd: %s", err);
    it->db = connect_db(it, NULL);
    query_value(it, it->db, "SELECT @@GLOBAL.binlog_format", it->format_buf,
                sizeof(it->format_buf));
    it->format = it->format_buf;
    if (format != NULL)
        assert_string_equal(it->format, format);
    query_value(it, it->db, "SHOW MASTER STATUS", it->file, sizeof(it->file));
}

static void reconnect(itest *it)
{
    mysql_close(it->db);
    it->db = connect_db(it, "itest");
}

static void flush_logs(itest *it)
{
    exec_sql(it, "FLUSH BINARY LOGS");
    query_value(it, it->db, "SHOW MASTER STATUS", it->file, sizeof(it->file));
}

/* ---- the oracle ---- */

static expect_txn *expect_add(itest *it, const char *keys_tmpl, const char *what)
{
    if (it->nexp == it->expcap) {
        it->expcap = it->expcap ? it->expcap * 2 : 64;
        it->exp = realloc(it->exp, it->expcap * sizeof(*it->exp));
        assert_non_null(it->exp);
    }
    expect_txn *e = &it->exp[it->nexp++];
    memset(e, 0, sizeof(*e));
    char *keys = expand(it, keys_tmpl), *w = expand(it, what);
    str_list_split(&e->keys, keys);
    snprintf(e->file, sizeof(e->file), "%s", it->file);
    snprintf(e->what, sizeof(e->what), "%s", w);
    for (char *c = e->what; (c = strchr(c, '\n')) != NULL;)
        *c = ' ';
    free(keys);
    free(w);
    return e;
}

/* The transaction just committed must be emitted with exactly these keys
 * (space-separated, de-duplicated, in order of first appearance); its GTID
 * is the session's @@last_gtid. */
static void expect_txn_keys(itest *it, const char *keys, const char *what)
{
    expect_txn *e = expect_add(it, keys, what);
    query_value(it, it->db, "SELECT @@last_gtid", e->gtid, sizeof(e->gtid));
}

/* Same, for a commit that wrote several groups: the GTID is not checked. */
static void expect_nogtid(itest *it, const char *keys, const char *what)
{
    (void)expect_add(it, keys, what);
}

/* These keys must not be emitted by any transaction. */
static void forbid(itest *it, const char *keys_tmpl)
{
    char *keys = expand(it, keys_tmpl);
    str_list_split(&it->forbidden, keys);
    free(keys);
}

/* Auto-committed statement that must be emitted alone with `keys`. */
static void autocommit(itest *it, const char *sql, const char *keys)
{
    exec_sql(it, sql);
    expect_txn_keys(it, keys, sql);
}

/* ---- scanning ---- */

static void count_event(void *ctx, const mcsq_event *ev)
{
    itest *it = ctx;
    if (ev->type == QUERY_COMPRESSED_EVENT)
        it->query_compressed++;
    if (ev->type >= ROWS_COMPRESSED_FIRST && ev->type <= ROWS_COMPRESSED_LAST)
        it->rows_compressed++;
}

static void got_add(itest *it, const mcsq_txn *t)
{
    if (it->ngot == it->gotcap) {
        it->gotcap = it->gotcap ? it->gotcap * 2 : 64;
        it->got = realloc(it->got, it->gotcap * sizeof(*it->got));
        assert_non_null(it->got);
    }
    got_txn *g = &it->got[it->ngot++];
    memset(g, 0, sizeof(*g));
    for (size_t i = 0; i < t->nkeys; i++)
        str_list_push(&g->keys, t->keys[i].data, t->keys[i].len);
    snprintf(g->file, sizeof(g->file), "%s", t->file);
    snprintf(g->gtid, sizeof(g->gtid), "%s", t->gtid);
    g->pos = t->pos;
    g->end_pos = t->end_pos;
}

/* Scans every binlog file of the server, in index order, as one stream. */
static void scan_all(itest *it)
{
    char err[1024];
    it_free_results(it);
    if (mariadb_server_binlogs(it->srv, &it->binlogs, &it->nbinlogs, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    mcsq_scan_options opt = {NULL, 1, count_event, it};
    mcsq_scan *scan;
    int rc = mcsq_scan_new(&scan, (const char *const *)it->binlogs, it->nbinlogs, &opt, err,
                           sizeof(err));
    if (rc != MCSQ_OK)
        fail_msg("mcsq_scan_new: %s", err);
    const mcsq_txn *t;
    while ((rc = mcsq_scan_next(scan, &t, err, sizeof(err))) == MCSQ_OK)
        got_add(it, t);
    mcsq_scan_destroy(scan);
    if (rc != MCSQ_ERR_EOF)
        fail_msg("mcsq_scan_next failed after %zu transactions: %s", it->ngot, err);
}

/* ---- comparison ---- */

static void dump_sequences(const itest *it, const size_t *ge, size_t nge, const size_t *gg,
                           size_t ngg, size_t from)
{
    char buf[160];
    size_t start = from > 5 ? from - 5 : 0;
    print_error("binlog_format %s: keyed transactions from #%zu (expected | emitted):\n",
                it->format, start);
    for (size_t i = start; i < start + DUMP_MAX && (i < nge || i < ngg); i++) {
        if (i < nge)
            print_error("  exp #%zu %s [%s] (%s)\n", i, it->exp[ge[i]].file,
                        str_list_join(&it->exp[ge[i]].keys, buf, sizeof(buf)), it->exp[ge[i]].what);
        if (i < ngg)
            print_error("  got #%zu %s:%llu [%s]\n", i, it->got[gg[i]].file,
                        (unsigned long long)it->got[gg[i]].pos,
                        str_list_join(&it->got[gg[i]].keys, buf, sizeof(buf)));
    }
}

static void check_forbidden(const itest *it)
{
    for (size_t i = 0; i < it->ngot; i++) {
        for (size_t k = 0; k < it->got[i].keys.n; k++) {
            if (str_list_has(&it->forbidden, it->got[i].keys.v[k]))
                fail_msg("binlog_format %s: key %s must never be emitted, but "
                         "transaction %s:%llu emitted it",
                         it->format, it->got[i].keys.v[k], it->got[i].file,
                         (unsigned long long)it->got[i].pos);
        }
    }
}

static size_t binlog_index_of(const itest *it, const char *file)
{
    for (size_t i = 0; i < it->nbinlogs; i++) {
        const char *slash = strrchr(it->binlogs[i], '/');
        if (strcmp(slash != NULL ? slash + 1 : it->binlogs[i], file) == 0)
            return i;
    }
    fail_msg("emitted transaction names file %s, which is not in binlog.index", file);
    return 0;
}

/* Files in index order; transactions in a file do not overlap. */
static void check_positions(const itest *it)
{
    size_t prev_file = 0;
    uint64_t prev_end = 0;
    for (size_t i = 0; i < it->ngot; i++) {
        const got_txn *g = &it->got[i];
        size_t f = binlog_index_of(it, g->file);
        assert_true(f >= prev_file);
        if (f != prev_file)
            prev_end = 0;
        if (g->pos < prev_end || g->end_pos <= g->pos)
            fail_msg("transaction #%zu %s: pos %llu end_pos %llu (previous ended at %llu)", i,
                     g->file, (unsigned long long)g->pos, (unsigned long long)g->end_pos,
                     (unsigned long long)prev_end);
        prev_file = f;
        prev_end = g->end_pos;
    }
}

/* Index of the first differing key, or SIZE_MAX when the lists are equal. */
static size_t first_difference(const str_list *a, const str_list *b)
{
    size_t i = 0;
    while (i < a->n && i < b->n && strcmp(a->v[i], b->v[i]) == 0)
        i++;
    return i == a->n && i == b->n ? SIZE_MAX : i;
}

/* Compares one expected keyed transaction with one emitted. */
static bool match_keys(const expect_txn *e, const got_txn *g, size_t i)
{
    char a[512], b[512];
    const str_list *got = &g->keys;
    size_t d = first_difference(&e->keys, got);
    if (d != SIZE_MAX)
        print_error("keyed transaction #%zu (%s): expected %zu keys [%s]\n  emitted %zu [%s] at "
                    "%s:%llu; first difference at key #%zu: expected %s, emitted %s\n",
                    i, e->what, e->keys.n, str_list_join(&e->keys, a, sizeof(a)), g->keys.n,
                    str_list_join(&g->keys, b, sizeof(b)), g->file, (unsigned long long)g->pos, d,
                    d < e->keys.n ? e->keys.v[d] : "(none)", d < got->n ? got->v[d] : "(none)");
    return d == SIZE_MAX;
}

static bool match_txn(const itest *it, const expect_txn *e, const got_txn *g, size_t i)
{
    (void)it;
    if (!match_keys(e, g, i))
        return false;
    if (strcmp(e->file, g->file) != 0 || (e->gtid[0] != '\0' && strcmp(e->gtid, g->gtid) != 0)) {
        print_error("keyed transaction #%zu (%s): expected file %s gtid %s, emitted %s gtid %s\n",
                    i, e->what, e->file, e->gtid[0] ? e->gtid : "(any)", g->file, g->gtid);
        return false;
    }
    return true;
}

static size_t keyed_indices(size_t n, size_t stride, const void *base, size_t keys_off, size_t *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const str_list *l = (const str_list *)((const char *)base + i * stride + keys_off);
        if (l->n > 0)
            out[m++] = i;
    }
    return m;
}

/* After a mismatch: what the transaction with the expected GTID emitted
 * (the keyed sequences may have slipped by one). */
static void report_by_gtid(const itest *it, const expect_txn *e)
{
    char buf[512];
    for (size_t i = 0; e->gtid[0] != '\0' && i < it->ngot; i++) {
        if (strcmp(it->got[i].gtid, e->gtid) == 0) {
            print_error("the transaction with GTID %s (%s:%llu) emitted %zu keys [%s]\n", e->gtid,
                        it->got[i].file, (unsigned long long)it->got[i].pos, it->got[i].keys.n,
                        str_list_join(&it->got[i].keys, buf, sizeof(buf)));
            return;
        }
    }
}

/* The whole verdict: forbidden keys, positions, keyed transactions one to
 * one (keys, file, GTID), and the total count. */
static void compare(const itest *it)
{
    check_positions(it);
    size_t *ge = calloc(it->nexp + 1, sizeof(*ge)), *gg = calloc(it->ngot + 1, sizeof(*gg));
    assert_true(ge != NULL && gg != NULL);
    size_t nge =
        keyed_indices(it->nexp, sizeof(expect_txn), it->exp, offsetof(expect_txn, keys), ge);
    size_t ngg = keyed_indices(it->ngot, sizeof(got_txn), it->got, offsetof(got_txn, keys), gg);
    size_t i = 0;
    while (i < nge && i < ngg && match_txn(it, &it->exp[ge[i]], &it->got[gg[i]], i))
        i++;
    bool ok = i == nge && i == ngg;
    if (!ok && i < nge)
        report_by_gtid(it, &it->exp[ge[i]]);
    if (!ok)
        dump_sequences(it, ge, nge, gg, ngg, i);
    free(ge);
    free(gg);
    if (!ok)
        fail_msg("binlog_format %s: keyed transactions differ at #%zu (expected %zu, emitted %zu)",
                 it->format, i, nge, ngg);
    check_forbidden(it);
    if (it->ngot < it->nexp)
        fail_msg("binlog_format %s: %zu transactions emitted, but the workload committed %zu",
                 it->format, it->ngot, it->nexp);
}

/* ---- workload phases ---- */

static void setup_schema(itest *it)
{
    exec_sql(it, "CREATE DATABASE itest");
    expect_txn_keys(it, "", "CREATE DATABASE");
    reconnect(it);
    exec_sql(it, "CREATE TABLE t_inno (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(255)) "
                 "ENGINE=InnoDB");
    expect_txn_keys(it, "", "CREATE TABLE t_inno");
    exec_sql(it, "CREATE TABLE t_myisam (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(255)) "
                 "ENGINE=MyISAM");
    expect_txn_keys(it, "", "CREATE TABLE t_myisam");
}

/* Scenario 1: multi-statement InnoDB transactions, duplicates across
 * statements, auto-commit, DDL, implicit commit. */
static void phase_innodb(itest *it)
{
    exec_sql(it, "BEGIN");
    exec_sql(it, "INSERT INTO t_inno(v) VALUES ('{V}') /* mcsqueal: {P}.user:1 {P}.profile:1 */");
    exec_sql(it, "UPDATE t_inno SET v = CONCAT(v, '+') WHERE id = LAST_INSERT_ID() "
                 "/* mcsqueal: {P}.profile:1 {P}.feed:1 */");
    exec_sql(it, "INSERT INTO t_inno(v) VALUES ('{V}') /* mcsqueal: {P}.user:1 */ "
                 "/*mcsqueal:{P}.list:7 {P}.user:1*/");
    exec_sql(it, "DELETE FROM t_inno WHERE id = LAST_INSERT_ID() /* mcsqueal: {P}.del:1 */");
    exec_sql(it, "COMMIT");
    expect_txn_keys(it, "{P}.user:1 {P}.profile:1 {P}.feed:1 {P}.list:7 {P}.del:1",
                    "{P} multi-statement InnoDB");

    autocommit(it, "INSERT INTO t_inno(v) VALUES ('{V}') /* mcsqueal: {P}.auto:1 */", "{P}.auto:1");
    autocommit(it,
               "UPDATE t_inno SET v = '{P}-auto2' WHERE id = LAST_INSERT_ID() "
               "/* mcsqueal: {P}.auto:2 {P}.auto:2 */",
               "{P}.auto:2");
    autocommit(it, "INSERT INTO t_myisam(v) VALUES ('{V}') /* mcsqueal: {P}.myauto:1 */",
               "{P}.myauto:1");
    autocommit(it,
               "CREATE TABLE {P}_ddl (id INT PRIMARY KEY) ENGINE=InnoDB "
               "/* mcsqueal: {P}.ddl:1 */",
               "{P}.ddl:1");
    autocommit(it, "ALTER TABLE {P}_ddl ADD COLUMN c INT /* mcsqueal: {P}.ddl:2 */", "{P}.ddl:2");

    exec_sql(it, "BEGIN");
    exec_sql(it, "INSERT INTO t_inno(v) VALUES ('{V}') /* mcsqueal: {P}.implicit:1 */");
    expect_nogtid(it, "{P}.implicit:1", "{P} transaction committed implicitly by DDL");
    exec_sql(it, "CREATE TABLE {P}_ddl2 (id INT) /* mcsqueal: {P}.ddl:3 */");
    expect_txn_keys(it, "{P}.ddl:3", "{P} DDL after implicit commit");
}

/* Scenario 1: rolled back InnoDB work never reaches the binlog. */
static void phase_rollback(itest *it)
{
    exec_sql(it, "BEGIN");
    exec_sql(it, "INSERT INTO t_inno(v) VALUES ('{V}') /* mcsqueal: {P}.rb:1 */");
    exec_sql(it, "UPDATE t_inno SET v = 'rb' WHERE id = 1 /* mcsqueal: {P}.rb:2 */");
    exec_sql(it, "ROLLBACK");
    forbid(it, "{P}.rb:1 {P}.rb:2");

    exec_sql(it, "BEGIN");
    exec_sql(it, "INSERT INTO t_inno(v) VALUES ('{V}') /* mcsqueal: {P}.sp:1 */");
    exec_sql(it, "SAVEPOINT s1");
    exec_sql(it, "INSERT INTO t_inno(v) VALUES ('{V}') /* mcsqueal: {P}.sp:2 */");
    exec_sql(it, "ROLLBACK TO SAVEPOINT s1");
    exec_sql(it, "INSERT INTO t_inno(v) VALUES ('{V}') /* mcsqueal: {P}.sp:3 */");
    exec_sql(it, "COMMIT");
    expect_txn_keys(it, "{P}.sp:1 {P}.sp:3", "{P} savepoint rolled back in between");
    forbid(it, "{P}.sp:2");
}

/* Scenario 1: non-transactional (MyISAM) changes survive ROLLBACK. How the
 * server groups them depends on the format: in ROW (and MIXED, where a
 * MyISAM write after InnoDB writes is unsafe, so row-logged) MyISAM rows
 * are written at once as their own group; in STATEMENT the statements go
 * into the transaction's group, which ends in ROLLBACK or COMMIT. */
static void phase_myisam(itest *it)
{
    bool stmt = strcmp(it->format, "STATEMENT") == 0;
    exec_sql(it, "BEGIN");
    exec_sql(it, "INSERT INTO t_myisam(v) VALUES ('{V}') /* mcsqueal: {P}.myrb:1 */");
    expect_nogtid(it, "{P}.myrb:1", "{P} MyISAM in a rolled back transaction (1)");
    exec_sql(it, "INSERT INTO t_myisam(v) VALUES ('{V}') /* mcsqueal: {P}.myrb:2 */");
    exec_sql(it, "ROLLBACK");
    expect_txn_keys(it, "{P}.myrb:2", "{P} MyISAM in a rolled back transaction (2)");

    exec_sql(it, "BEGIN");
    exec_sql(it, "INSERT INTO t_inno(v) VALUES ('{V}') /* mcsqueal: {P}.mixrb:1 */");
    exec_sql(it, "INSERT INTO t_myisam(v) VALUES ('{V}') /* mcsqueal: {P}.mixrb:2 */");
    exec_sql(it, "ROLLBACK");
    if (stmt) {
        expect_txn_keys(it, "{P}.mixrb:1 {P}.mixrb:2", "{P} InnoDB+MyISAM, group ends in ROLLBACK");
    } else {
        expect_nogtid(it, "{P}.mixrb:2", "{P} MyISAM part of a rolled back transaction");
        forbid(it, "{P}.mixrb:1");
    }

    exec_sql(it, "BEGIN");
    exec_sql(it, "INSERT INTO t_inno(v) VALUES ('{V}') /* mcsqueal: {P}.mc:1 {P}.mc:0 */");
    exec_sql(it, "SET @mc = LAST_INSERT_ID()"); /* the MyISAM insert changes it */
    exec_sql(it, "INSERT INTO t_myisam(v) VALUES ('{V}') /* mcsqueal: {P}.mc:2 */");
    if (!stmt)
        expect_nogtid(it, "{P}.mc:2", "{P} MyISAM part of a committed mixed transaction");
    exec_sql(it, "UPDATE t_inno SET v = 'mc' WHERE id = @mc "
                 "/* mcsqueal: {P}.mc:3 {P}.mc:1 */");
    exec_sql(it, "COMMIT");
    if (stmt)
        expect_txn_keys(it, "{P}.mc:1 {P}.mc:0 {P}.mc:2 {P}.mc:3", "{P} InnoDB+MyISAM commit");
    else
        expect_txn_keys(it, "{P}.mc:1 {P}.mc:0 {P}.mc:3", "{P} InnoDB part of a mixed commit");
}

/* One XA transaction up to XA PREPARE (or XA END with prepare = false). */
static void xa_prepare_on(const itest *it, MYSQL *db, const char *xid, const char *keys,
                          bool prepare)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "XA START %s", xid);
    exec_on(it, db, sql);
    snprintf(sql, sizeof(sql), "INSERT INTO t_inno(v) VALUES ('{V}') /* mcsqueal: %s */", keys);
    exec_on(it, db, sql);
    snprintf(sql, sizeof(sql),
             "UPDATE t_inno SET v = 'xa' WHERE id = LAST_INSERT_ID() "
             "/* mcsqueal: %s {P}.xa:shared */",
             keys);
    exec_on(it, db, sql);
    snprintf(sql, sizeof(sql), "XA END %s", xid);
    exec_on(it, db, sql);
    if (prepare) {
        snprintf(sql, sizeof(sql), "XA PREPARE %s", xid);
        exec_on(it, db, sql);
    }
}

static void xa_decide(itest *it, const char *verb, const char *xid)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "XA %s %s", verb, xid);
    exec_sql(it, sql);
}

/* Whether the server still lists connection id (its thread not yet gone). */
static bool connection_listed(const itest *it, unsigned long id)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %lu",
             id);
    if (mysql_query(it->db, sql) != 0)
        fail_msg("%s failed: %s", sql, mysql_error(it->db));
    MYSQL_RES *res = mysql_store_result(it->db);
    assert_non_null(res);
    MYSQL_ROW row = mysql_fetch_row(res);
    bool listed = row != NULL && row[0] != NULL && strcmp(row[0], "0") != 0;
    mysql_free_result(res);
    return listed;
}

/* Whether XA RECOVER lists the prepared transaction gtrid. */
static bool xa_recover_lists(const itest *it, const char *gtrid)
{
    if (mysql_query(it->db, "XA RECOVER") != 0)
        fail_msg("XA RECOVER failed: %s", mysql_error(it->db));
    MYSQL_RES *res = mysql_store_result(it->db);
    assert_non_null(res);
    bool found = false;
    for (MYSQL_ROW row; !found && (row = mysql_fetch_row(res)) != NULL;)
        found = row[3] != NULL && strcmp(row[3], gtrid) == 0;
    mysql_free_result(res);
    return found;
}

/* Closes a connection that left XA transaction gtrid (a plain string xid)
 * prepared, and waits until the server has detached it: the close returns
 * before the server's thread lets go of the xid, and deciding it earlier
 * fails with XAER_NOTA. XA RECOVER lists the xid while it is still attached,
 * so the wait is for the connection's thread to leave the process list (it
 * detaches the xid before), and then for the xid to be listed. */
static void close_prepared(const itest *it, MYSQL *other, const char *gtrid)
{
    unsigned long id = mysql_thread_id(other);
    mysql_close(other);
    char *want = expand(it, gtrid);
    for (int tries = 0;; tries++) {
        if (!connection_listed(it, id) && xa_recover_lists(it, want))
            break;
        if (tries == 1000)
            fail_msg("XA transaction %s was not detached from its closed connection %lu", want, id);
        usleep(10 * 1000);
    }
    free(want);
}

/* Scenario 2 (and 6: an XA transaction prepared in one binlog file and
 * decided in the next). */
static void phase_xa(itest *it)
{
    xa_prepare_on(it, it->db, "'{P}-x1'", "{P}.xa:1", true);
    xa_decide(it, "COMMIT", "'{P}-x1'");
    expect_txn_keys(it, "{P}.xa:1 {P}.xa:shared", "{P} XA PREPARE + XA COMMIT");

    xa_prepare_on(it, it->db, "'{P}-x2'", "{P}.xarb:2", true);
    xa_decide(it, "ROLLBACK", "'{P}-x2'");
    forbid(it, "{P}.xarb:2");

    xa_prepare_on(it, it->db, "'{P}-g','b',7", "{P}.xa:3", false);
    xa_decide(it, "COMMIT", "'{P}-g','b',7 ONE PHASE");
    expect_txn_keys(it, "{P}.xa:3 {P}.xa:shared", "{P} XA COMMIT ONE PHASE, bqual+formatID");

    xa_prepare_on(it, it->db, "X'01ff27',X'00',3", "{P}.xa:4", true);
    xa_decide(it, "COMMIT", "X'01ff27',X'00',3");
    expect_txn_keys(it, "{P}.xa:4 {P}.xa:shared", "{P} XA with binary xid");

    xa_prepare_on(it, it->db, "'{P}-x6'", "{P}.xarb:6", false);
    xa_decide(it, "ROLLBACK", "'{P}-x6'");
    forbid(it, "{P}.xarb:6");

    MYSQL *other = connect_db(it, "itest");
    xa_prepare_on(it, other, "'{P}-x5'", "{P}.xa:5", true);
    close_prepared(it, other, "{P}-x5");
    autocommit(it, "INSERT INTO t_inno(v) VALUES ('{V}') /* mcsqueal: {P}.between:5 */",
               "{P}.between:5");
    xa_decide(it, "COMMIT", "'{P}-x5'");
    expect_txn_keys(it, "{P}.xa:5 {P}.xa:shared", "{P} XA committed by a second connection");

    xa_prepare_on(it, it->db, "'{P}-x7'", "{P}.xa:7", true);
    xa_decide(it, "COMMIT", "'{P}-x7'"); /* decided at once: the session is free again */
    expect_txn_keys(it, "{P}.xa:7 {P}.xa:shared", "{P} XA before rotation");

    other = connect_db(it, "itest");
    xa_prepare_on(it, other, "'{P}-x8'", "{P}.xa:8", true);
    close_prepared(it, other, "{P}-x8");
    other = connect_db(it, "itest");
    xa_prepare_on(it, other, "'{P}-x9'", "{P}.xarb:9", true);
    close_prepared(it, other, "{P}-x9");
    flush_logs(it); /* scenario 6: prepared in one file, decided in the next */
    xa_decide(it, "COMMIT", "'{P}-x8'");
    expect_txn_keys(it, "{P}.xa:8 {P}.xa:shared", "{P} XA prepared before rotation");
    xa_decide(it, "ROLLBACK", "'{P}-x9'");
    forbid(it, "{P}.xarb:9");
}

/* Scenario 3: annotation-looking text that is not a real comment. */
static void phase_literals(itest *it)
{
    static const char *const stmts[][2] = {
        {"INSERT INTO t_inno(v) VALUES ('/* mcsqueal: {P}.fake:1 */') /* mcsqueal: {P}.real:1 */",
         "{P}.real:1"},
        {"INSERT INTO t_inno(v) VALUES (\"/* mcsqueal: {P}.fake:2 */\") "
         "/* mcsqueal: {P}.real:2 */",
         "{P}.real:2"},
        {"INSERT INTO t_inno(v) SELECT 'x' AS `/* mcsqueal: {P}.fake:3 */` "
         "/* mcsqueal: {P}.real:3 */",
         "{P}.real:3"},
        {"INSERT INTO t_inno(v) VALUES ('x') -- /* mcsqueal: {P}.fake:4 */\n"
         "/* mcsqueal: {P}.real:4 */",
         "{P}.real:4"},
        {"INSERT INTO t_inno(v) VALUES ('x') # /* mcsqueal: {P}.fake:5 */\n"
         "/* mcsqueal: {P}.real:5 */",
         "{P}.real:5"},
        {"INSERT /*!99999 mcsqueal: {P}.fake:6 */ INTO t_inno(v) VALUES ('x') "
         "/* mcsqueal: {P}.real:6 */",
         "{P}.real:6"},
        {"INSERT /*+ mcsqueal: {P}.fake:7 */ INTO t_inno(v) VALUES ('x') "
         "/* mcsqueal: {P}.real:7 */",
         "{P}.real:7"},
        {"INSERT INTO t_inno(v) VALUES ('it''s /* mcsqueal: {P}.fake:9 */') "
         "/* mcsqueal: {P}.real:8 */",
         "{P}.real:8"},
        {"/* mcsqueal: {P}.real:9 */ INSERT INTO t_inno(v) VALUES ('x') "
         "/* mcsqueal: {P}.real:10 {P}.real:9 */",
         "{P}.real:9 {P}.real:10"},
    };
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
        autocommit(it, stmts[i][0], stmts[i][1]);
    forbid(it, "{P}.fake:1 {P}.fake:2 {P}.fake:3 {P}.fake:4 {P}.fake:5 {P}.fake:6 "
               "{P}.fake:7 {P}.fake:9");
    autocommit(it,
               "INSERT INTO t_inno(v) VALUES ('it\\'s /* mcsqueal: {P}.fake:8 */ ') "
               "/* mcsqueal: {P}.real:11 */",
               "{P}.real:11");
    forbid(it, "{P}.fake:8");
}

/* Scenario 4: NO_BACKSLASH_ESCAPES changes where string literals end. In
 * STATEMENT and MIXED format the Query event carries the sql_mode; in ROW
 * format the text comes in Annotate_rows without it (MariaDB writes no
 * BEGIN Query event either): only the lexings that make the text a whole
 * statement count, and no text that one of them has inside a string
 * literal is an annotation. */
static void phase_nbe(itest *it)
{
    exec_sql(it, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')");
    autocommit(it, "INSERT INTO t_inno(v) VALUES ('a\\') /* mcsqueal: {P}.nbe:1 */", "{P}.nbe:1");
    autocommit(it,
               "INSERT INTO t_inno(v) VALUES (CONCAT('a\\', '/* mcsqueal: {P}.nbefake:1 */'))"
               " /* mcsqueal: {P}.nbe:2 */",
               "{P}.nbe:2");
    forbid(it, "{P}.nbefake:1");
    exec_sql(it, "SET SESSION sql_mode = DEFAULT");
    autocommit(it,
               "INSERT INTO t_inno(v) VALUES (CONCAT('a\\', /* mcsqueal: {P}.nbefake:2 */ ', "
               "'b')) /* mcsqueal: {P}.nbe:3 */",
               "{P}.nbe:3");
    forbid(it, "{P}.nbefake:2");
}

/* Scenario 4b: data an application writes for its users, escaped by the
 * client library for the session's sql_mode (mysql_real_escape_string()
 * follows NO_BACKSLASH_ESCAPES), trying to smuggle annotations into the
 * statement text. In ROW format the text reaches the binlog in
 * Annotate_rows, without the session's sql_mode. None of the data's keys
 * may ever be emitted; every real annotation (before the data or after it)
 * must be. */
static const char *const user_data[] = {
    "x' /* mcsqueal: {P}.evil:1 */ '",
    "x\\' /* mcsqueal: {P}.evil:2 */ \\'",
    "\\",
    "' /* mcsqueal: {P}.evil:3 */ \\'\\'",
    "\\' /* mcsqueal: {P}.evil:4 */ \\''",
    "*/ /* mcsqueal: {P}.evil:5 */ /*",
    "\\' -- ",
    "\" /* mcsqueal: {P}.evil:6 */ \"",
    "C:\\dir\\",
    "it's",
};
#define NUSER (sizeof(user_data) / sizeof(user_data[0]))

/* Escapes the expanded user_data[i] for it->db's session; caller frees. */
static char *user_escaped(const itest *it, size_t i)
{
    char *raw = expand(it, user_data[i % NUSER]);
    size_t n = strlen(raw);
    char *out = malloc(2 * n + 1);
    assert_non_null(out);
    mysql_real_escape_string(it->db, out, raw, (unsigned long)n);
    free(raw);
    return out;
}

/* One statement with users' data i and i+1 and the annotation `ann` before
 * (lead) or after them. */
static char *user_statement(const itest *it, size_t i, const char *ann, bool lead)
{
    char *a = user_escaped(it, i), *b = user_escaped(it, i + 1);
    size_t cap = strlen(a) + strlen(b) + strlen(ann) + 96;
    char *sql = malloc(cap);
    assert_non_null(sql);
    snprintf(sql, cap, "%sINSERT INTO t_inno(v) VALUES ('%s'), ('%s')%s", lead ? ann : "", a, b,
             lead ? "" : ann);
    free(a);
    free(b);
    return sql;
}

static void users_in_mode(itest *it, const char *mode)
{
    char ann[96], keys[96], *sql;
    for (size_t i = 0; i < NUSER; i++) {
        snprintf(ann, sizeof(ann), " /* mcsqueal: {P}.usr:%s%zu */ ", mode, i);
        snprintf(keys, sizeof(keys), "{P}.usr:%s%zu", mode, i);
        sql = user_statement(it, i, ann, i % 2 == 0);
        autocommit(it, sql, keys);
        free(sql);
    }
    exec_sql(it, "BEGIN");
    for (size_t i = 0; i < NUSER; i++) {
        snprintf(ann, sizeof(ann), " /* mcsqueal: {P}.usrtx:%s */ ", mode);
        sql = user_statement(it, i + 3, ann, i % 2 == 1);
        exec_sql(it, sql);
        free(sql);
    }
    exec_sql(it, "COMMIT");
    snprintf(keys, sizeof(keys), "{P}.usrtx:%s", mode);
    expect_txn_keys(it, keys, "users' data in one transaction");
}

static void phase_users(itest *it)
{
    users_in_mode(it, "d");
    exec_sql(it, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')");
    users_in_mode(it, "n");
    exec_sql(it, "SET SESSION sql_mode = DEFAULT");
    forbid(it, "{P}.evil:1 {P}.evil:2 {P}.evil:3 {P}.evil:4 {P}.evil:5 {P}.evil:6");
}

static void run_phase(itest *it, const char *prefix, const char *value)
{
    it->prefix = prefix;
    it->value = value;
    phase_innodb(it);
    phase_rollback(it);
    phase_myisam(it);
    phase_xa(it);
    phase_literals(it);
    phase_nbe(it);
    phase_users(it);
}

/* Scenarios 1-6 in one binlog format: a plain phase, a rotation, then the
 * same workload with compressed events and long statements. */
static void run_format(void **state, const char *format)
{
    itest *it = *state;
    char longv[201];
    memset(longv, 'x', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    start_server(it, format);
    setup_schema(it);
    run_phase(it, "p1", "v");
    flush_logs(it);
    exec_sql(it, "SET GLOBAL log_bin_compress = ON");
    exec_sql(it, "SET GLOBAL log_bin_compress_min_len = 10");
    reconnect(it);
    run_phase(it, "p2", longv);
    flush_logs(it);
    scan_all(it);
    compare(it);
    assert_true(it->nbinlogs >= 5);
    if (it->query_compressed == 0)
        fail_msg("binlog_format %s: no Query_compressed event after log_bin_compress=ON", format);
    if (strcmp(format, "STATEMENT") != 0 && it->rows_compressed == 0)
        fail_msg("binlog_format %s: no compressed rows event after log_bin_compress=ON", format);
}

static void test_format_row(void **state)
{
    run_format(state, "ROW");
}

static void test_format_statement(void **state)
{
    run_format(state, "STATEMENT");
}

static void test_format_mixed(void **state)
{
    run_format(state, "MIXED");
}

/* ---- scenario 7: one transaction with 50,000 distinct keys ---- */

/* Statement i: keys big:i*100 .. big:i*100+99, plus duplicates of the
 * previous statement's keys and of its own. */
static void big_statement(char *sql, size_t size, int i)
{
    int n = snprintf(sql, size, "INSERT INTO t_inno(v) VALUES ('big%d') /* mcsqueal:", i);
    for (int k = 0; k < BIG_KEYS_PER_STMT; k++)
        n += snprintf(sql + n, size - (size_t)n, " big:%d", i * BIG_KEYS_PER_STMT + k);
    n += snprintf(sql + n, size - (size_t)n, " big:%d */ /* mcsqueal: big:%d", i * 100,
                  i > 0 ? (i - 1) * BIG_KEYS_PER_STMT + 7 : 0);
    snprintf(sql + n, size - (size_t)n, " big:%d */", i * BIG_KEYS_PER_STMT + 99);
}

static void test_large_transaction(void **state)
{
    itest *it = *state;
    char sql[4096], key[32];
    start_server(it, "ROW");
    setup_schema(it);
    exec_sql(it, "BEGIN");
    expect_txn *e = expect_add(it, "", "50,000 keys");
    for (int i = 0; i < BIG_KEYS / BIG_KEYS_PER_STMT; i++) {
        big_statement(sql, sizeof(sql), i);
        exec_raw(it, it->db, sql, strlen(sql));
    }
    exec_sql(it, "COMMIT");
    for (int k = 0; k < BIG_KEYS; k++) {
        snprintf(key, sizeof(key), "big:%d", k);
        str_list_push(&e->keys, key, strlen(key));
    }
    query_value(it, it->db, "SELECT @@last_gtid", e->gtid, sizeof(e->gtid));
    autocommit(it, "INSERT INTO t_inno(v) VALUES ('after') /* mcsqueal: after:1 */", "after:1");
    flush_logs(it);
    scan_all(it);
    compare(it);
}

/* ---- scenario 8: the `mcsqueal scan` program ---- */

static int run_cmd(char *const argv[], const char *in, const char *out, const char *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in != NULL ? in : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        fail_msg("cannot run %s: %s", argv[0], strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *read_whole(const char *path)
{
    FILE *f = fopen(path, "re");
    assert_non_null(f);
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    do {
        if (n + 4096 > cap) {
            cap = cap * 2 + 8192;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Every output line must be JSON with the contract fields; prints each
 * line's keys, space-separated. */
static const char json_check[] =
    "import json,sys\n"
    "for l in sys.stdin:\n"
    "    d=json.loads(l)\n"
    "    assert isinstance(d['gtid'],str) and d['gtid'].count('-')==2, d\n"
    "    f,p=d['pos'].rsplit(':',1)\n"
    "    assert f==d['file'] and int(p)<d['end_pos'], d\n"
    "    assert isinstance(d['commit_us'],int) and d['commit_us']>1500000000000000, d\n"
    "    assert isinstance(d['read_us'],int) and d['read_us']>=d['commit_us'], d\n"
    "    assert all(isinstance(k,str) for k in d['keys']), d\n"
    "    assert 'markers' not in d, d\n"
    "    print(' '.join(d['keys']))\n";

/* Runs the CLI over paths; returns its exit code, output files in dir. */
static int run_cli(const itest *it, const char *dir, char **paths, size_t n)
{
    (void)it;
    char out[600], err[600];
    snprintf(out, sizeof(out), "%s/scan.out", dir);
    snprintf(err, sizeof(err), "%s/scan.err", dir);
    char **argv = calloc(n + 3, sizeof(*argv));
    assert_non_null(argv);
    argv[0] = getenv("MCSQUEAL_BIN");
    argv[1] = "scan";
    for (size_t i = 0; i < n; i++)
        argv[2 + i] = paths[i];
    int rc = run_cmd(argv, NULL, out, err);
    free(argv);
    return rc;
}

/* Checks scan.out with python; returns the keyed lines' keys. */
static void check_json(const char *dir, str_list *keyed, size_t *lines)
{
    char in[600], out[600], err[600];
    snprintf(in, sizeof(in), "%s/scan.out", dir);
    snprintf(out, sizeof(out), "%s/keys.out", dir);
    snprintf(err, sizeof(err), "%s/json.err", dir);
    char *argv[] = {"/usr/bin/python3", "-c", (char *)json_check, NULL};
    if (run_cmd(argv, in, out, err) != 0) {
        char *msg = read_whole(err);
        fail_msg("`mcsqueal scan` output is not valid JSON lines with the contract fields:\n%s",
                 msg);
    }
    char *text = read_whole(out), *save = NULL;
    *lines = 0;
    for (char *p = text; *p != '\0'; p++)
        *lines += *p == '\n';
    for (char *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save))
        str_list_push(keyed, l, strlen(l));
    free(text);
}

static void cli_workload(itest *it)
{
    setup_schema(it);
    for (int i = 0; i < 6; i++) {
        char sql[200], keys[64];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO t_inno(v) VALUES ('x') /* mcsqueal: cli:%d \"q\\\\:%d */", i, i);
        snprintf(keys, sizeof(keys), "cli:%d \"q\\\\:%d", i, i); /* JSON escapes */
        autocommit(it, sql, keys);
        if (i == 3)
            flush_logs(it);
    }
    flush_logs(it);
}

static void check_cli_output(const itest *it, const char *dir)
{
    str_list keyed = {0};
    size_t lines;
    check_json(dir, &keyed, &lines);
    assert_int_equal(lines, it->ngot);
    size_t e = 0;
    for (size_t i = 0; i < it->nexp; i++) {
        char buf[256];
        if (it->exp[i].keys.n == 0)
            continue;
        assert_true(e < keyed.n);
        assert_string_equal(keyed.v[e], str_list_join(&it->exp[i].keys, buf, sizeof(buf)));
        e++;
    }
    assert_int_equal(e, keyed.n);
    str_list_free(&keyed);
}

/* Copies the first `len` bytes of src to dst. */
static void copy_prefix(const char *src, const char *dst, size_t len)
{
    FILE *in = fopen(src, "re"), *out = fopen(dst, "we");
    assert_true(in != NULL && out != NULL);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, len, in), len);
    assert_int_equal(fwrite(buf, 1, len, out), len);
    free(buf);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* A binlog cut inside an event: the transactions before are printed, then
 * exit 1 naming the file and the offset of the damaged event. */
static void check_truncated(const itest *it, const char *dir)
{
    size_t pick = 0, before = 0;
    for (size_t i = 0; i < it->ngot && strcmp(it->got[i].file, it->got[0].file) == 0; i++) {
        if (it->got[i].keys.n > 0 && strcmp(it->got[i].keys.v[0], "cli:1") == 0)
            pick = i;
    }
    assert_true(pick > 0);
    before = pick + 1;
    uint64_t cut = it->got[pick].end_pos + 20;
    char path[600];
    snprintf(path, sizeof(path), "%s/cut-%s", dir, it->got[0].file);
    copy_prefix(it->binlogs[0], path, cut);
    char *paths[] = {path};
    assert_int_equal(run_cli(it, dir, paths, 1), 1);
    char err_path[600], want[128];
    snprintf(err_path, sizeof(err_path), "%s/scan.err", dir);
    char *msg = read_whole(err_path);
    snprintf(want, sizeof(want), "offset %llu", (unsigned long long)it->got[pick].end_pos);
    if (strstr(msg, path) == NULL || strstr(msg, want) == NULL)
        fail_msg("truncated binlog: expected a message naming %s and \"%s\", got:\n%s", path, want,
                 msg);
    free(msg);
    str_list keyed = {0};
    size_t lines;
    check_json(dir, &keyed, &lines);
    assert_int_equal(lines, before);
    str_list_free(&keyed);
}

static void test_cli_scan(void **state)
{
    itest *it = *state;
    const char *bin = getenv("MCSQUEAL_BIN");
    if (bin == NULL || bin[0] == '\0' || access("/usr/bin/python3", X_OK) != 0) {
        MCSQ_SKIP_TEST("mcsqueal-cli", "MCSQUEAL_BIN is not set or /usr/bin/python3 is missing");
    }
    start_server(it, NULL);
    cli_workload(it);
    scan_all(it);
    compare(it);
    assert_true(it->nbinlogs >= 3);
    assert_int_equal(run_cli(it, it->srv->dir, it->binlogs, it->nbinlogs), 0);
    check_cli_output(it, it->srv->dir);
    check_truncated(it, it->srv->dir);
}

int main(void)
{
    char path[512];
    if (mariadb_server_find(path, sizeof(path)) != 0 && getenv("MCSQ_TEST_MARIADBD") == NULL) {
        return MCSQ_SKIP_EXIT("mariadbd", "the MariaDB integration tests: %s", path);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_format_row, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(test_format_statement, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(test_format_mixed, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(test_large_transaction, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(test_cli_scan, it_setup, it_teardown),
    };
    const char *filter = getenv("MCSQ_TEST_FILTER"); /* e.g. "test_format_row" */
    if (filter != NULL && filter[0] != '\0')
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
