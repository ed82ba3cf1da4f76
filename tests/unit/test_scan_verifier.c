/*
 * Unit tests of the scan's checksum verifier thread (tailer/scan_verifier.c)
 * and of binlog_event_verify(): on files written to a temporary directory,
 * the verifier vouches for every event of intact files, across files, and
 * for nothing from the first bad checksum on; a scan with it (regular
 * files) returns the same transactions and the same error, at the same
 * offset, as a scan that checks every checksum itself (an event listing
 * turns the verifier off).
 */
#include "mcsqueal/error.h"
#include "mcsqueal/scan.h"
#include "tailer/binlog_event.h"
#include "tailer/scan_verifier.h"
#include "binlog_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* An auto-committed DDL statement carrying the key "k<n>". */
static void put_ddl(bytes *out, unsigned n)
{
    bytes body = {0};
    char sql[96];
    int len = snprintf(sql, sizeof(sql), "CREATE TABLE t%u (a INT) /* mcsqueal: k%u */", n, n);
    put_uint(&body, 1, 4); /* thread id */
    put_uint(&body, 0, 4); /* exec time */
    put_uint(&body, 1, 1); /* db length */
    put_uint(&body, 0, 2); /* error code */
    put_uint(&body, 0, 2); /* status variables length */
    put(&body, "d", 2);    /* db and its NUL */
    put(&body, sql, (size_t)len);
    put_file_event(out, BINLOG_QUERY_EVENT, body.p, body.len);
    bytes_free(&body);
}

typedef struct fixture {
    char dir[64];
    char path[2][128];
    const char *paths[2];
    uint64_t end[2];  /* size of each file */
    uint64_t bad;     /* offset of the corrupted event, or 0 */
    uint64_t bad_end; /* and its end */
} fixture;

/* Writes file i with n DDL events; corrupts a byte of event number `bad`
 * (counting from 1; 0: none). */
static void write_file(fixture *fx, int i, unsigned n, unsigned bad)
{
    bytes b = {0};
    put_file_start(&b);
    for (unsigned k = 1; k <= n; k++) {
        size_t start = b.len;
        put_ddl(&b, 1000 * (unsigned)i + k);
        if (k == bad) {
            b.p[start + BINLOG_HEADER_LEN + 20] ^= 0x01; /* inside the statement */
            fx->bad = start;
            fx->bad_end = b.len;
        }
    }
    FILE *f = fopen(fx->path[i], "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.p, 1, b.len, f), b.len);
    fclose(f);
    fx->end[i] = b.len;
    bytes_free(&b);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/mcsq-verifier-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    for (int i = 0; i < 2; i++) {
        snprintf(fx->path[i], sizeof(fx->path[i]), "%s/binlog.00000%d", fx->dir, i + 1);
        fx->paths[i] = fx->path[i];
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    unlink(fx->path[0]);
    unlink(fx->path[1]);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Polls until v got to pos or 5 s passed. */
static bool covers_soon(scan_verifier *v, uint64_t pos)
{
    for (int i = 0; i < 5000; i++) {
        if (scan_verifier_progress(v) >= pos)
            return true;
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* Starts a verifier on the fixture's two files. */
static scan_verifier *start_verifier(const fixture *fx)
{
    scan_verifier *v;
    assert_int_equal(scan_verifier_start(&v, fx->paths, 2), MCSQ_OK);
    return v;
}

static void test_covers_intact_files(void **state)
{
    fixture *fx = *state;
    write_file(fx, 0, 3000, 0);
    write_file(fx, 1, 10, 0);
    scan_verifier *v = start_verifier(fx);
    assert_true(covers_soon(v, SCAN_VERIFIER_POS(1, fx->end[1])));
    assert_true(scan_verifier_covers(v, SCAN_VERIFIER_POS(0, fx->end[0])));
    assert_int_equal(scan_verifier_progress(v), SCAN_VERIFIER_POS(1, fx->end[1]));
    scan_verifier_destroy(v);
}

/* A scan ahead of the verifier (it found an event not covered, and checks
 * it itself): the verifier skips to there and goes on verifying after it. */
static void test_skips_to_the_scan(void **state)
{
    fixture *fx = *state;
    write_file(fx, 0, 3000, 0);
    write_file(fx, 1, 3000, 0);
    scan_verifier *v = start_verifier(fx);
    uint64_t far = SCAN_VERIFIER_POS(1, fx->end[1] / 2); /* not an event's end */
    if (!scan_verifier_covers(v, far))                   /* usually: it has not got there yet */
        assert_true(covers_soon(v, far));
    assert_true(covers_soon(v, SCAN_VERIFIER_POS(1, fx->end[1])));
    scan_verifier_destroy(v);
}

static void test_stops_at_bad_checksum(void **state)
{
    fixture *fx = *state;
    write_file(fx, 0, 2000, 1500);
    write_file(fx, 1, 10, 0);
    scan_verifier *v = start_verifier(fx);
    assert_true(covers_soon(v, SCAN_VERIFIER_POS(0, fx->bad)));
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL); /* it had all the time to go on, if it were to */
    assert_false(scan_verifier_covers(v, SCAN_VERIFIER_POS(0, fx->bad_end)));
    assert_false(scan_verifier_covers(v, SCAN_VERIFIER_POS(1, 0)));
    scan_verifier_destroy(v);
}

static void test_missing_file_stops(void **state)
{
    fixture *fx = *state;
    write_file(fx, 0, 10, 0); /* the second file does not exist */
    scan_verifier *v = start_verifier(fx);
    assert_true(covers_soon(v, SCAN_VERIFIER_POS(0, fx->end[0])));
    assert_false(scan_verifier_covers(v, SCAN_VERIFIER_POS(1, 0)));
    scan_verifier_destroy(v);
}

static void ignore_event(void *ctx, const mcsq_event *ev)
{
    (void)ctx;
    (void)ev;
}

/* Scans the two files; returns the number of transactions, the last
 * result and its message. */
static size_t scan_all(fixture *fx, bool listing, int *rc, char *err, size_t err_size)
{
    mcsq_scan_options opt = {NULL, 1, listing ? ignore_event : NULL, NULL};
    mcsq_scan *scan;
    const mcsq_txn *txn;
    size_t n = 0;
    assert_int_equal(mcsq_scan_new(&scan, fx->paths, 2, &opt, err, err_size), MCSQ_OK);
    while ((*rc = mcsq_scan_next(scan, &txn, err, err_size)) == MCSQ_OK) {
        char want[32];
        snprintf(want, sizeof(want), "k%zu", n < 2000 ? n + 1 : 1000 + n - 2000 + 1);
        assert_int_equal(txn->nkeys, 1);
        assert_memory_equal(txn->keys[0].data, want, strlen(want));
        n++;
    }
    mcsq_scan_destroy(scan);
    return n;
}

static void test_scan_same_with_and_without(void **state)
{
    fixture *fx = *state;
    char err_a[1024], err_b[1024];
    int rc_a, rc_b;
    write_file(fx, 0, 2000, 0);
    write_file(fx, 1, 50, 0);
    assert_int_equal(scan_all(fx, false, &rc_a, err_a, sizeof(err_a)), 2050);
    assert_int_equal(rc_a, MCSQ_ERR_EOF);
    write_file(fx, 0, 2000, 1999); /* near the end: the verifier gets there first */
    assert_int_equal(scan_all(fx, false, &rc_a, err_a, sizeof(err_a)), 1998);
    assert_int_equal(scan_all(fx, true, &rc_b, err_b, sizeof(err_b)), 1998);
    assert_int_equal(rc_a, MCSQ_ERR_CHECKSUM);
    assert_int_equal(rc_b, MCSQ_ERR_CHECKSUM);
    assert_string_equal(err_a, err_b);
    char where[64];
    snprintf(where, sizeof(where), ": offset %llu: ", (unsigned long long)fx->bad);
    assert_non_null(strstr(err_a, where));
    assert_non_null(strstr(err_a, "CRC32 mismatch"));
    write_file(fx, 0, 2000, 0);
    write_file(fx, 1, 50, 7); /* in the second file */
    assert_int_equal(scan_all(fx, false, &rc_a, err_a, sizeof(err_a)), 2006);
    assert_int_equal(rc_a, MCSQ_ERR_CHECKSUM);
    assert_non_null(strstr(err_a, fx->path[1]));
}

static void test_event_verify(void **state)
{
    (void)state;
    bytes b = {0};
    char err[256];
    binlog_decoder dec;
    binlog_decoder_init(&dec);
    dec.verify_checksums = true;
    dec.fmt.binlog_version = 4;
    dec.fmt.header_len = BINLOG_HEADER_LEN;
    put_file_start(&b);
    size_t fde = BINLOG_MAGIC_LEN, ddl = b.len;
    put_ddl(&b, 1);
    assert_int_equal(binlog_event_verify(&dec, b.p + fde, ddl - fde, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(dec.fmt.checksum_alg, BINLOG_CHECKSUM_CRC32); /* learned from it */
    assert_int_equal(binlog_event_verify(&dec, b.p + ddl, b.len - ddl, err, sizeof(err)), MCSQ_OK);
    b.p[b.len - 1] ^= 0x80;
    assert_int_equal(binlog_event_verify(&dec, b.p + ddl, b.len - ddl, err, sizeof(err)),
                     MCSQ_ERR_CHECKSUM);
    assert_non_null(strstr(err, "CRC32 mismatch"));
    assert_int_equal(binlog_event_verify(&dec, b.p + ddl, 10, err, sizeof(err)),
                     MCSQ_ERR_CORRUPT); /* not even a header */
    binlog_decoder_deinit(&dec);
    bytes_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_covers_intact_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skips_to_the_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stops_at_bad_checksum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_same_with_and_without, setup, teardown),
        cmocka_unit_test(test_event_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
