/*
 * Unit test of the sql_mode statement text is lexed under, end to end on
 * MySQL-format binlog files (written to a temporary directory, read with
 * the scan API): row-format text (Rows_query) under the sql_mode of the
 * Query event that opened its transaction or of a later one, statement
 * text under its own, with the transaction's events plain or inside a
 * zstd-compressed Transaction_payload. Users' data, escaped correctly for
 * the session's mode, never becomes a key; every real annotation does.
 */
#include "mcsqueal/error.h"
#include "mcsqueal/scan.h"
#include "tailer/binlog_event.h"
#include "binlog_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include <cmocka.h>

#define Q_SQL_MODE 1 /* Query status variable */
#define PAYLOAD_ZSTD 0
/* MySQL 8.0's default sql_mode (ONLY_FULL_GROUP_BY, STRICT_TRANS_TABLES,
 * NO_ZERO_IN_DATE, NO_ZERO_DATE, ERROR_FOR_DIVISION_BY_ZERO,
 * NO_ENGINE_SUBSTITUTION), and with NO_BACKSLASH_ESCAPES. */
#define MODE_DEFAULT 0x45a00020ull
#define MODE_NBE (MODE_DEFAULT | BINLOG_SQL_MODE_NO_BACKSLASH_ESCAPES)

/* Data escaped for the default mode that, lexed without backslash escapes,
 * would open an annotation; and data escaped for NO_BACKSLASH_ESCAPES
 * (quotes doubled) that, lexed with them, would. */
static const char smuggle_default[] =
    "UPDATE t SET bio='x\\' /* mcsqueal: evil:1 */ \\'' WHERE id=1 /* mcsqueal: user:1 */";
static const char smuggle_nbe[] = "UPDATE t SET bio='\\'' /* mcsqueal: evil:2 */ \\''', "
                                  "v='\\' WHERE id=2 /* mcsqueal: user:2 */";
/* A real annotation after a literal that ends in a backslash (NBE). */
static const char real_nbe[] = "INSERT INTO t VALUES ('C:\\dir\\', 'x') /* mcsqueal: nbe:1 */";

/* The events of one transaction, before they go to the file. */
typedef struct txn {
    bytes events;
} txn;

/* A Query event: thread id, exec time, db length, error code, status
 * variables (sql_mode only, when has_mode), db "d" and its NUL, text. */
static void txn_query(txn *t, const char *text, bool has_mode, uint64_t mode)
{
    bytes body = {0};
    put_uint(&body, 5, 4);
    put_uint(&body, 0, 4);
    put_u8(&body, 1);
    put_uint(&body, 0, 2);
    put_uint(&body, has_mode ? 9 : 0, 2);
    if (has_mode) {
        put_u8(&body, Q_SQL_MODE);
        put_uint(&body, mode, 8);
    }
    put(&body, "d", 2);
    put(&body, text, strlen(text));
    put_event_at(&t->events, BINLOG_QUERY_EVENT, 0, 0, body.p, body.len, false);
    bytes_free(&body);
}

static void txn_begin(txn *t, uint64_t mode)
{
    txn_query(t, "BEGIN", true, mode);
}

/* A Rows_query event: a length byte (ignored by readers) and the text. */
static void txn_rows_query(txn *t, const char *text)
{
    bytes body = {0};
    size_t n = strlen(text);
    put_u8(&body, (uint8_t)(n > 255 ? 255 : n));
    put(&body, text, n);
    put_event_at(&t->events, BINLOG_ROWS_QUERY_EVENT, 0, 0, body.p, body.len, false);
    bytes_free(&body);
}

static void txn_xid(txn *t)
{
    uint8_t body[8] = {42};
    put_event_at(&t->events, BINLOG_XID_EVENT, 0, 0, body, sizeof(body), false);
}

/* Appends the transaction to the file: each event as in a file (log_pos,
 * CRC32), or all of them in one zstd Transaction_payload event. */
static void file_add(bytes *file, txn *t, bool zstd)
{
    if (!zstd) {
        for (size_t off = 0; off < t->events.len;) {
            uint32_t size = (uint32_t)t->events.p[off + 9] | (uint32_t)t->events.p[off + 10] << 8 |
                            (uint32_t)t->events.p[off + 11] << 16 |
                            (uint32_t)t->events.p[off + 12] << 24;
            put_file_event(file, t->events.p[off + 4], t->events.p + off + BINLOG_HEADER_LEN,
                           size - BINLOG_HEADER_LEN);
            off += size;
        }
    } else {
        size_t bound = ZSTD_compressBound(t->events.len);
        uint8_t *c = malloc(bound);
        assert_non_null(c);
        size_t n = ZSTD_compress(c, bound, t->events.p, t->events.len, 3);
        assert_false(ZSTD_isError(n));
        bytes body = {0};
        put_payload_body(&body, PAYLOAD_ZSTD, t->events.len, c, n);
        put_file_event(file, BINLOG_TRANSACTION_PAYLOAD_EVENT, body.p, body.len);
        bytes_free(&body);
        free(c);
    }
    bytes_free(&t->events);
}

/* The workload: each transaction and the keys it must emit. */
static const char *const want[] = {
    "user:1",        /* ROW, default mode */
    "user:2",        /* ROW, NBE */
    "nbe:1",         /* ROW, NBE, backslash before a real annotation */
    "user:1",        /* STATEMENT in a transaction, default */
    "user:2",        /* STATEMENT, NBE */
    "stmt:1 user:2", /* MIXED: the session turned NBE on after BEGIN */
    "nbe:1",         /* ROW: the session turned NBE on after BEGIN (no Query) */
};

static void write_workload(bytes *file, bool zstd)
{
    txn t = {{0}};
    txn_begin(&t, MODE_DEFAULT);
    txn_rows_query(&t, smuggle_default);
    txn_xid(&t);
    file_add(file, &t, zstd);

    txn_begin(&t, MODE_NBE);
    txn_rows_query(&t, smuggle_nbe);
    txn_xid(&t);
    file_add(file, &t, zstd);

    txn_begin(&t, MODE_NBE);
    txn_rows_query(&t, real_nbe);
    txn_xid(&t);
    file_add(file, &t, zstd);

    txn_begin(&t, MODE_DEFAULT);
    txn_query(&t, smuggle_default, true, MODE_DEFAULT);
    txn_xid(&t);
    file_add(file, &t, zstd);

    txn_begin(&t, MODE_NBE);
    txn_query(&t, smuggle_nbe, true, MODE_NBE);
    txn_xid(&t);
    file_add(file, &t, zstd);

    txn_begin(&t, MODE_DEFAULT);
    txn_query(&t, "INSERT INTO t VALUES ('y\\') /* mcsqueal: stmt:1 */", true, MODE_NBE);
    txn_rows_query(&t, smuggle_nbe);
    txn_xid(&t);
    file_add(file, &t, zstd);

    txn_begin(&t, MODE_DEFAULT);
    txn_rows_query(&t, real_nbe);
    txn_xid(&t);
    file_add(file, &t, zstd);
}

/* Writes the workload to a file, scans it and checks every transaction. */
static void check(bool zstd)
{
    char dir[] = "/tmp/mcsq-sqlmode-XXXXXX", path[64], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/binlog.000001", dir);
    bytes file = {0};
    put_file_start(&file);
    write_workload(&file, zstd);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(file.p, 1, file.len, f), file.len);
    fclose(f);
    bytes_free(&file);

    const char *paths[] = {path};
    mcsq_scan *scan;
    if (mcsq_scan_new(&scan, paths, 1, NULL, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    size_t n = 0;
    const mcsq_txn *t;
    int rc;
    while ((rc = mcsq_scan_next(scan, &t, err, sizeof(err))) == 0) {
        char keys[256] = "";
        size_t used = 0;
        for (size_t k = 0; k < t->nkeys; k++)
            used += (size_t)snprintf(keys + used, sizeof(keys) - used, "%s%.*s", k ? " " : "",
                                     (int)t->keys[k].len, t->keys[k].data);
        assert_true(n < sizeof(want) / sizeof(want[0]));
        if (strcmp(keys, want[n]) != 0)
            fail_msg("%s: transaction %zu: keys \"%s\", want \"%s\"", zstd ? "zstd" : "plain", n,
                     keys, want[n]);
        n++;
    }
    if (rc != MCSQ_ERR_EOF)
        fail_msg("%s", err);
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    mcsq_scan_destroy(scan);
    unlink(path);
    rmdir(dir);
}

static void test_plain_events(void **state)
{
    (void)state;
    check(false);
}

static void test_zstd_transaction_payload(void **state)
{
    (void)state;
    check(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_events),
        cmocka_unit_test(test_zstd_transaction_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
