/*
 * Unit tests of the checkpoint file (atomic save, strict load: a damaged
 * checkpoint is an error, never silently ignored), the MariaDB GTID state,
 * and the bounded hand-off queue between the reader and the publisher.
 */
#include "mcsqueal/error.h"
#include "tailer/checkpoint.h"
#include "tailer/gtid_state.h"
#include "tailer/txn_queue.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[256];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/mcsq-test-checkpoint.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/checkpoint", dir);
    unlink(path);
    rmdir(dir);
    return 0;
}

static void write_file(const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/checkpoint", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_roundtrip(void **state)
{
    (void)state;
    char err[512];
    binlog_position in, out;
    memset(&in, 0, sizeof(in));
    snprintf(in.file, sizeof(in.file), "binlog.000042");
    in.pos = 123456789012ull;
    snprintf(in.gtid, sizeof(in.gtid), "0-1-42,7-3-100");
    assert_int_equal(checkpoint_load(dir, &out, err, sizeof(err)), MCSQ_ERR_EOF);
    assert_int_equal(checkpoint_save(dir, &in, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(checkpoint_load(dir, &out, err, sizeof(err)), MCSQ_OK);
    assert_string_equal(out.file, "binlog.000042");
    assert_int_equal(out.pos, 123456789012ull);
    assert_string_equal(out.gtid, "0-1-42,7-3-100");
    assert_int_equal(out.seq, 0); /* unknown: no seq line */
    in.seq = 1043;                /* the next bus message's number */
    assert_int_equal(checkpoint_save(dir, &in, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(checkpoint_load(dir, &out, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(out.seq, 1043);
    in.gtid[0] = '\0'; /* a server without GTIDs */
    in.pos = 4;
    assert_int_equal(checkpoint_save(dir, &in, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(checkpoint_load(dir, &out, err, sizeof(err)), MCSQ_OK);
    assert_string_equal(out.gtid, "");
    assert_int_equal(out.pos, 4);
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s/checkpoint.tmp", dir);
    assert_int_equal(access(tmp, F_OK), -1); /* no temp file left behind */
}

static void test_damaged_is_an_error(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "file=binlog.000001\n",                   /* no pos */
        "pos=100\n",                              /* no file */
        "file=binlog.000001\npos=abc\n",          /* not a number */
        "file=binlog.000001\npos=2\n",            /* below the first event */
        "file=binlog.000001\npos=100\nextra=1\n", /* unknown line */
        "file=binlog.000001\npos=100\nseq=0\n",   /* message numbers start at 1 */
        "file=binlog.000001\npos=100\nseq=-1\n",
        "file=binlog.000001\npos=100\nseq=x\n",
        "file=binlog.000001\npos=100\nseq=9223372036854775808\n",
        "garbage\n",
        "",
    };
    char err[512];
    binlog_position out;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(bad[i]);
        assert_int_equal(checkpoint_load(dir, &out, err, sizeof(err)), MCSQ_ERR_CORRUPT);
        assert_non_null(strstr(err, "damaged"));
    }
    write_file("# comment\nfile=binlog.000001\npos=100\ngtid=\n");
    assert_int_equal(checkpoint_load(dir, &out, err, sizeof(err)), MCSQ_OK);
    assert_string_equal(out.gtid, "");
}

static void test_save_fails_cleanly(void **state)
{
    (void)state;
    char err[512];
    binlog_position in;
    memset(&in, 0, sizeof(in));
    snprintf(in.file, sizeof(in.file), "binlog.000001");
    in.pos = 100;
    assert_int_equal(checkpoint_save("/nonexistent/dir", &in, err, sizeof(err)), MCSQ_ERR_IO);
    assert_non_null(strstr(err, "cannot write checkpoint"));
}

static void test_gtid_state(void **state)
{
    (void)state;
    gtid_state st;
    char out[256];
    assert_int_equal(gtid_state_parse(&st, ""), MCSQ_OK);
    assert_int_equal(gtid_state_format(&st, out, sizeof(out)), 0);
    assert_int_equal(gtid_state_parse(&st, "7-3-100, 0-1-42"), MCSQ_OK);
    gtid_state_format(&st, out, sizeof(out));
    assert_string_equal(out, "0-1-42,7-3-100");
    assert_int_equal(gtid_state_update(&st, "0-2-43"), MCSQ_OK);
    assert_int_equal(gtid_state_update(&st, "3-1-5"), MCSQ_OK);
    gtid_state_format(&st, out, sizeof(out));
    assert_string_equal(out, "0-2-43,3-1-5,7-3-100");
    assert_int_equal(gtid_state_update(&st, "1-2"), MCSQ_ERR_INVALID);
    assert_int_equal(gtid_state_update(&st, "a-1-2"), MCSQ_ERR_INVALID);
    assert_int_equal(gtid_state_update(&st, "1-2-3x"), MCSQ_ERR_INVALID);
    assert_int_equal(gtid_state_parse(&st, "0-1-2,x"), MCSQ_ERR_INVALID);
    assert_int_equal(gtid_state_parse(&st, "99999999999-1-2"), MCSQ_ERR_INVALID);
    char small[8];
    gtid_state_parse(&st, "0-1-42,7-3-100");
    assert_true(gtid_state_format(&st, small, sizeof(small)) >= sizeof(small));
}

/* Transaction number seq: at position 4 + 100 * seq, every key "seq:<seq>". */
static txn_record *record_seq(size_t nkeys, int seq)
{
    mcsq_key keys[64];
    char key[32];
    int len = snprintf(key, sizeof(key), "seq:%d", seq);
    for (size_t i = 0; i < nkeys; i++)
        keys[i] = (mcsq_key){key, (uint32_t)len, 0};
    uint64_t pos = 4 + 100 * (uint64_t)seq;
    mcsq_txn t = {"", "binlog.000001", pos, pos + 100, 0, 0, 0, keys, nkeys, 0};
    return txn_record_new(&t, NULL);
}

static txn_record *record(size_t nkeys)
{
    return record_seq(nkeys, 0);
}

typedef struct producer_arg {
    txn_queue *q;
    int n;
    int pushed;
} producer_arg;

static void *produce(void *arg)
{
    producer_arg *a = arg;
    for (int i = 0; i < a->n; i++) {
        if (txn_queue_push(a->q, record_seq(8, i)) != MCSQ_OK)
            break;
        a->pushed++;
    }
    txn_queue_close(a->q);
    return NULL;
}

static void test_queue_bounded_and_ordered(void **state)
{
    (void)state;
    txn_queue q;
    txn_record *probe = record(8);
    size_t one = probe->bytes;
    txn_record_free(probe);
    assert_int_equal(txn_queue_init(&q, one * 4), MCSQ_OK);
    producer_arg a = {&q, 1000, 0};
    pthread_t t;
    pthread_create(&t, NULL, produce, &a);
    usleep(50000);
    assert_true(txn_queue_count(&q) <= 4); /* the producer waits: back-pressure */
    int got = 0;
    txn_record *rec;
    while ((rec = txn_queue_pop(&q, 1000)) != NULL) {
        char want[32];
        snprintf(want, sizeof(want), "seq:%d", got);
        assert_int_equal(rec->pos, 4 + 100 * (uint64_t)got); /* in push order */
        assert_int_equal(rec->end_pos, rec->pos + 100);
        assert_int_equal(rec->nkeys, 8);
        for (size_t k = 0; k < rec->nkeys; k++) {
            assert_int_equal(rec->keys[k].len, strlen(want));
            assert_memory_equal(rec->keys[k].data, want, strlen(want));
        }
        got++;
        txn_record_free(rec);
    }
    pthread_join(t, NULL);
    assert_int_equal(got, 1000);
    assert_true(txn_queue_drained(&q));
    assert_int_equal(txn_queue_push(&q, record(1)), MCSQ_ERR_AGAIN); /* closed */
    txn_queue_deinit(&q);
}

static void test_queue_accepts_one_oversized(void **state)
{
    (void)state;
    txn_queue q;
    txn_queue_init(&q, 16); /* smaller than any record */
    assert_int_equal(txn_queue_push(&q, record(60)), MCSQ_OK);
    txn_record *rec = txn_queue_pop(&q, 0);
    assert_non_null(rec);
    assert_int_equal(rec->nkeys, 60);
    txn_record_free(rec);
    assert_null(txn_queue_pop(&q, 10)); /* empty now; times out */
    txn_queue_deinit(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_damaged_is_an_error, make_dir, remove_dir),
        cmocka_unit_test(test_save_fails_cleanly),
        cmocka_unit_test(test_gtid_state),
        cmocka_unit_test(test_queue_bounded_and_ordered),
        cmocka_unit_test(test_queue_accepts_one_oversized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
