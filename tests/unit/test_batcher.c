/*
 * Unit tests of the batcher and the acknowledgement watermark: message
 * contents per the bus contract, the three closing rules (keys, bytes,
 * linger), splitting of oversized transactions (each key in exactly one
 * piece), keyless transactions, the messages' numbers ("seq") and the
 * numbers their resume positions carry, and the watermark moving only over
 * acknowledged prefixes.
 */
#include "tailer/ack_tracker.h"
#include "tailer/batcher.h"
#include "bus/bus_message.h"
#include "mcsqueal/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_OUT 64

typedef struct sink {
    char *payload[MAX_OUT];
    size_t nkeys[MAX_OUT];
    uint64_t resume_pos[MAX_OUT]; /* 0: none */
    uint64_t resume_seq[MAX_OUT];
    int n;
} sink;

static int collect(void *ctx, char *payload, size_t len, size_t nkeys, size_t ntxns,
                   const binlog_position *resume)
{
    sink *s = ctx;
    (void)len;
    (void)ntxns;
    assert_true(s->n < MAX_OUT);
    s->payload[s->n] = payload;
    s->nkeys[s->n] = nkeys;
    s->resume_pos[s->n] = resume ? resume->pos : 0;
    s->resume_seq[s->n] = resume ? resume->seq : 0;
    s->n++;
    return MCSQ_OK;
}

static void sink_free(sink *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->payload[i]);
    s->n = 0;
}

/* A record with keys k<first>..k<first+n-1>; the first `markers` marked. */
static txn_record *record(uint64_t end_pos, int first, int n, int markers)
{
    char names[4096][16];
    mcsq_key keys[4096];
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "k%d", first + i);
        keys[i] = (mcsq_key){names[i], (uint32_t)strlen(names[i]), i < markers ? 1u : 0u};
    }
    mcsq_txn t = {
        "0-1-9", "binlog.000001", end_pos - 100,  end_pos, 1700000000000000, 1700000000000100, 0,
        keys,    (size_t)n,       (size_t)markers};
    txn_record *rec = txn_record_new(&t, "0-1-9");
    assert_non_null(rec);
    return rec;
}

static void add(batcher *b, uint64_t end_pos, int first, int n, int markers, int64_t now)
{
    txn_record *rec = record(end_pos, first, n, markers);
    assert_int_equal(batcher_add(b, rec, now), MCSQ_OK);
    txn_record_free(rec);
}

static void test_message_contract(void **state)
{
    (void)state;
    sink s = {0};
    batcher b;
    assert_int_equal(batcher_init(&b, "db-east-1", "east", 100, 100000, 5, collect, &s), 0);
    add(&b, 500, 0, 2, 1, 1000);
    assert_int_equal(s.n, 0); /* lingers */
    assert_int_equal(batcher_due_in(&b, 3000), 3000);
    assert_int_equal(batcher_flush(&b, 3000, false), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(batcher_flush(&b, 6000, false), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.payload[0],
                        "{\"v\":1,\"source\":\"db-east-1\",\"region\":\"east\",\"txns\":["
                        "{\"gtid\":\"0-1-9\",\"pos\":\"binlog.000001:400\",\"commit_us\":"
                        "1700000000000000,\"read_us\":1700000000000100,\"keys\":[\"k0\",\"k1\"],"
                        "\"markers\":[\"k0\"]}],\"seq\":1}");
    assert_int_equal(s.resume_pos[0], 500);
    assert_int_equal(batcher_due_in(&b, 7000), -1);
    sink_free(&s);
    batcher_deinit(&b);
}

static void test_closes_at_max_keys(void **state)
{
    (void)state;
    sink s = {0};
    batcher b;
    batcher_init(&b, "src", "r", 10, 100000, 1000, collect, &s);
    add(&b, 100, 0, 4, 0, 1);
    add(&b, 200, 4, 4, 0, 1);
    assert_int_equal(s.n, 0);
    add(&b, 300, 8, 4, 0, 1); /* 12 > 10: the first two go out first */
    assert_int_equal(s.n, 1);
    assert_int_equal(s.nkeys[0], 8);
    assert_int_equal(s.resume_pos[0], 200);
    add(&b, 400, 12, 6, 0, 1); /* reaches 10 exactly: closes at once */
    assert_int_equal(s.n, 2);
    assert_int_equal(s.nkeys[1], 10);
    assert_int_equal(s.resume_pos[1], 400);
    sink_free(&s);
    batcher_deinit(&b);
}

/* Reads every message of s back: each is one entry of the transaction at
 * pos, and keys k0..k<nkeys-1> appear exactly once across them. */
static void assert_each_key_once(const sink *s, int nkeys, uint64_t pos)
{
    int *seen = calloc((size_t)nkeys, sizeof(int));
    assert_non_null(seen);
    bus_message m;
    bus_message_init(&m, NULL);
    for (int i = 0; i < s->n; i++) {
        assert_int_equal(bus_message_parse(&m, s->payload[i], strlen(s->payload[i]), NULL, 0), 0);
        assert_int_equal(m.ntxns, 1);
        assert_int_equal(m.txns[0].pos, pos);
        for (size_t k = 0; k < m.nkeys; k++) {
            char name[16];
            int idx = -1;
            assert_true(m.keys[k].len < sizeof(name));
            memcpy(name, m.keys[k].data, m.keys[k].len);
            name[m.keys[k].len] = '\0';
            assert_int_equal(sscanf(name, "k%d", &idx), 1);
            assert_in_range(idx, 0, nkeys - 1);
            seen[idx]++;
        }
    }
    for (int k = 0; k < nkeys; k++) {
        if (seen[k] != 1)
            fail_msg("key k%d is in %d of the %d pieces", k, seen[k], s->n);
    }
    bus_message_deinit(&m);
    free(seen);
}

static void test_splits_large_transaction(void **state)
{
    (void)state;
    sink s = {0};
    batcher b;
    batcher_init(&b, "src", "r", 1000, 2048, 1000, collect, &s);
    add(&b, 900, 0, 1500, 0, 1); /* far over 2 KiB: several messages */
    batcher_flush(&b, 1, true);
    assert_true(s.n >= 5);
    size_t total = 0;
    for (int i = 0; i < s.n; i++) {
        assert_true(strlen(s.payload[i]) <= 2048);
        total += s.nkeys[i];
        /* only the message that completes the transaction moves the position */
        assert_int_equal(s.resume_pos[i], i == s.n - 1 ? 900 : 0);
    }
    assert_int_equal(total, 1500);
    assert_non_null(strstr(s.payload[0], "\"k0\""));
    assert_non_null(strstr(s.payload[s.n - 1], "\"k1499\""));
    assert_each_key_once(&s, 1500, 800);
    sink_free(&s);
    batcher_deinit(&b);
}

/* The "seq" of message i of the sink (parsed by the contract's reader). */
static uint64_t seq_of(const sink *s, int i)
{
    bus_message m;
    bus_message_init(&m, NULL);
    assert_non_null(s->payload[i]);
    assert_int_equal(bus_message_parse(&m, s->payload[i], strlen(s->payload[i]), NULL, 0), 0);
    uint64_t seq = m.seq;
    bus_message_deinit(&m);
    return seq;
}

/* Messages are numbered 1, 2, ...; batches without a message take no
 * number; the parts of a split transaction take one each; a resume position
 * carries the number of the next message; batcher_set_seq() continues a
 * numbering (a restart from a checkpoint). */
static void test_message_numbers(void **state)
{
    (void)state;
    sink s = {0};
    batcher b;
    assert_int_equal(batcher_init(&b, "src", "r", 4, 100000, 5, collect, &s), 0);
    add(&b, 100, 0, 1, 0, 10);
    batcher_flush(&b, 100, true); /* message 1 */
    add(&b, 200, 0, 0, 0, 200);
    batcher_flush(&b, 300, true); /* keyless: no message, no number */
    add(&b, 300, 0, 10, 0, 400);  /* 10 keys, 4 a message: messages 2, 3 and (open) 4 */
    batcher_flush(&b, 500, true);
    assert_int_equal(s.n, 5);
    assert_int_equal(seq_of(&s, 0), 1);
    assert_int_equal(s.resume_seq[0], 2);
    assert_null(s.payload[1]);
    assert_int_equal(s.resume_pos[1], 200);
    assert_int_equal(s.resume_seq[1], 2);
    assert_int_equal(seq_of(&s, 2), 2);
    assert_int_equal(s.resume_pos[2], 0); /* a part: no resume position */
    assert_int_equal(seq_of(&s, 3), 3);
    assert_int_equal(seq_of(&s, 4), 4);
    assert_int_equal(s.resume_pos[4], 300);
    assert_int_equal(s.resume_seq[4], 5);
    sink_free(&s);
    batcher_deinit(&b);

    /* restarted from the checkpoint of resume_seq[1]: message 2 again */
    assert_int_equal(batcher_init(&b, "src", "r", 4, 100000, 5, collect, &s), 0);
    batcher_set_seq(&b, 2);
    add(&b, 300, 0, 2, 0, 10);
    batcher_flush(&b, 100, true);
    assert_int_equal(s.n, 1);
    assert_int_equal(seq_of(&s, 0), 2);
    assert_int_equal(s.resume_seq[0], 3);
    sink_free(&s);
    batcher_deinit(&b);
}

static void test_keyless_transactions(void **state)
{
    (void)state;
    sink s = {0};
    batcher b;
    batcher_init(&b, "src", "r", 100, 100000, 5, collect, &s);
    add(&b, 100, 0, 0, 0, 10);
    add(&b, 200, 0, 0, 0, 11);
    batcher_flush(&b, 10000, false);
    assert_int_equal(s.n, 1);
    assert_null(s.payload[0]); /* no message */
    assert_int_equal(s.resume_pos[0], 200);
    add(&b, 300, 0, 1, 0, 20000);
    add(&b, 400, 0, 0, 0, 20001); /* rides with the keyed one */
    batcher_flush(&b, 30000, false);
    assert_int_equal(s.n, 2);
    assert_non_null(s.payload[1]);
    assert_int_equal(s.resume_pos[1], 400);
    sink_free(&s);
    batcher_deinit(&b);
}

static void test_escaping_in_keys(void **state)
{
    (void)state;
    sink s = {0};
    batcher b;
    batcher_init(&b, "s\"rc", "r\\1", 100, 100000, 0, collect, &s);
    mcsq_key k = {"a\"b\\c", 5, 0};
    mcsq_txn t = {"", "binlog.000001", 4, 50, 1, 2, 0, &k, 1, 0};
    txn_record *rec = txn_record_new(&t, NULL);
    batcher_add(&b, rec, 1);
    batcher_flush(&b, 2, false);
    txn_record_free(rec);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(s.payload[0], "\"source\":\"s\\\"rc\",\"region\":\"r\\\\1\""));
    assert_non_null(strstr(s.payload[0], "\"keys\":[\"a\\\"b\\\\c\"]"));
    assert_null(strstr(s.payload[0], "\"gtid\"")); /* unknown gtid: omitted */
    sink_free(&s);
    batcher_deinit(&b);
}

static binlog_position resume_at(uint64_t pos)
{
    binlog_position r;
    memset(&r, 0, sizeof(r));
    snprintf(r.file, sizeof(r.file), "binlog.000002");
    r.pos = pos;
    snprintf(r.gtid, sizeof(r.gtid), "0-1-5");
    return r;
}

static void test_watermark_prefix_only(void **state)
{
    (void)state;
    ack_tracker t;
    ack_tracker_init(&t);
    binlog_position r1 = resume_at(100), r2 = resume_at(200), r3 = resume_at(300);
    uint64_t a = ack_tracker_add(&t, &r1);
    uint64_t b = ack_tracker_add(&t, NULL); /* a part of a split transaction */
    uint64_t c = ack_tracker_add(&t, &r2);
    uint64_t d = ack_tracker_add(&t, &r3);
    const binlog_position *pos;
    assert_false(ack_tracker_take_advance(&t, &pos));
    ack_tracker_ack(&t, c); /* out of order: nothing moves */
    assert_false(ack_tracker_take_advance(&t, &pos));
    ack_tracker_ack(&t, a);
    assert_true(ack_tracker_take_advance(&t, &pos));
    assert_int_equal(pos->pos, 100);
    assert_false(ack_tracker_take_advance(&t, &pos));
    ack_tracker_ack(&t, b); /* b and the already acked c go */
    assert_true(ack_tracker_take_advance(&t, &pos));
    assert_int_equal(pos->pos, 200);
    assert_string_equal(pos->gtid, "0-1-5");
    assert_string_equal(pos->file, "binlog.000002");
    assert_int_equal(ack_tracker_pending(&t), 1);
    ack_tracker_ack(&t, 999); /* unknown: ignored */
    ack_tracker_ack(&t, d);
    assert_true(ack_tracker_take_advance(&t, &pos));
    assert_int_equal(pos->pos, 300);
    assert_int_equal(ack_tracker_pending(&t), 0);
    ack_tracker_deinit(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_contract),         cmocka_unit_test(test_closes_at_max_keys),
        cmocka_unit_test(test_splits_large_transaction), cmocka_unit_test(test_message_numbers),
        cmocka_unit_test(test_keyless_transactions),     cmocka_unit_test(test_escaping_in_keys),
        cmocka_unit_test(test_watermark_prefix_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
