/*
 * Unit tests of the lazy hand-off (txn_queue_push_batch_lazy): a consumer
 * waiting in a pop is left asleep below the wake thresholds, and woken once
 * enough records wait, once they waited a millisecond, by
 * txn_queue_notify(), by an ordinary push, and by a producer that has to
 * wait for room itself (no stall until the consumer's timeout).
 */
#include "mcsqueal/error.h"
#include "tailer/txn_queue.h"
#include "tailer/txn_record.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#define LONG_WAIT_MS 10000 /* the consumer's timeout: never reached when woken */

static txn_record *record(uint64_t end_pos)
{
    static const mcsq_key key = {"user:1", 6, 0};
    mcsq_txn t = {.gtid = "0-1-1", .file = "binlog.000001", .pos = 4, .end_pos = end_pos};
    t.keys = (mcsq_key *)&key;
    t.nkeys = 1;
    txn_record *rec = txn_record_new(&t, NULL);
    assert_non_null(rec);
    return rec;
}

static txn_batch batch_of(size_t n, uint64_t first)
{
    txn_batch b = {0};
    for (size_t i = 0; i < n; i++)
        txn_batch_add(&b, record(first + i));
    return b;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A consumer in a long pop on another thread. */
typedef struct consumer {
    txn_queue *q;
    pthread_t thread;
    size_t got;
    atomic_bool done;
} consumer;

static void *consume_main(void *arg)
{
    consumer *c = arg;
    txn_batch out = {0};
    c->got = txn_queue_pop_batch(c->q, &out, 100000, LONG_WAIT_MS);
    txn_batch_clear(&out);
    atomic_store(&c->done, true);
    return NULL;
}

/* Starts a consumer and returns once it waits in the queue. */
static void consumer_start(consumer *c, txn_queue *q)
{
    c->q = q;
    c->got = 0;
    atomic_init(&c->done, false);
    assert_int_equal(pthread_create(&c->thread, NULL, consume_main, c), 0);
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&q->lock);
        int waiting = q->waiting;
        pthread_mutex_unlock(&q->lock);
        if (waiting > 0)
            return;
        sleep_ms(1);
    }
    fail_msg("the consumer never waited");
}

static bool consumer_done(consumer *c)
{
    return atomic_load(&c->done);
}

/* Waits for the consumer to return; it must, well before its timeout. */
static void consumer_join_promptly(consumer *c)
{
    int64_t t0 = mono_ms();
    while (!consumer_done(c) && mono_ms() - t0 < LONG_WAIT_MS / 2)
        sleep_ms(1);
    assert_true(consumer_done(c));
    pthread_join(c->thread, NULL);
}

static void push_lazy(txn_queue *q, size_t n, uint64_t first)
{
    txn_batch b = batch_of(n, first);
    assert_int_equal(txn_queue_push_batch_lazy(q, &b), MCSQ_OK);
    assert_int_equal(b.count, 0);
}

/* A lazy push of n records that leaves the waiting consumer asleep for at
 * least wait_ms. */
static void push_lazy_unnoticed(txn_queue *q, consumer *c, size_t n, uint64_t first, int wait_ms)
{
    push_lazy(q, n, first);
    sleep_ms(wait_ms);
    assert_false(consumer_done(c));
}

/* The consumer returns promptly, with `got` records. */
static void expect_woken_with(consumer *c, size_t got)
{
    consumer_join_promptly(c);
    assert_int_equal(c->got, got);
}

static void test_lazy_push_leaves_the_consumer_asleep_until_notified(void **state)
{
    (void)state;
    txn_queue q;
    consumer c;
    assert_int_equal(txn_queue_init(&q, 1 << 20), MCSQ_OK);
    consumer_start(&c, &q);
    push_lazy_unnoticed(&q, &c, 3, 1, 50); /* not woken for three records */
    txn_queue_notify(&q);
    expect_woken_with(&c, 3);
    txn_queue_deinit(&q);
}

static void test_lazy_push_wakes_at_the_record_threshold(void **state)
{
    (void)state;
    txn_queue q;
    consumer c;
    assert_int_equal(txn_queue_init(&q, 1 << 30), MCSQ_OK);
    consumer_start(&c, &q);
    push_lazy_unnoticed(&q, &c, TXN_QUEUE_WAKE_RECORDS - 1, 1, 30); /* one record short */
    txn_queue_notify(&q);
    expect_woken_with(&c, TXN_QUEUE_WAKE_RECORDS - 1);
    consumer_start(&c, &q);
    push_lazy(&q, TXN_QUEUE_WAKE_RECORDS, 1); /* at once: the count alone wakes */
    expect_woken_with(&c, TXN_QUEUE_WAKE_RECORDS);
    txn_queue_deinit(&q);
}

static void test_lazy_push_wakes_once_records_waited(void **state)
{
    (void)state;
    txn_queue q;
    consumer c;
    assert_int_equal(txn_queue_init(&q, 1 << 20), MCSQ_OK);
    consumer_start(&c, &q);
    push_lazy_unnoticed(&q, &c, 1, 1, TXN_QUEUE_LAZY_US / 1000 + 20);
    push_lazy(&q, 1, 2); /* the first record has waited long enough */
    expect_woken_with(&c, 2);
    txn_queue_deinit(&q);
}

static void test_ordinary_push_always_wakes(void **state)
{
    (void)state;
    txn_queue q;
    consumer c;
    assert_int_equal(txn_queue_init(&q, 1 << 20), MCSQ_OK);
    consumer_start(&c, &q);
    push_lazy(&q, 1, 1);
    txn_batch b = batch_of(1, 2);
    assert_int_equal(txn_queue_push_batch(&q, &b), MCSQ_OK);
    expect_woken_with(&c, 2);
    txn_queue_deinit(&q);
}

/* A producer that must wait for room wakes the consumer a lazy push left
 * asleep, so neither waits for the other's timeout. */
typedef struct producer {
    txn_queue *q;
    int rc;
    atomic_bool done;
} producer;

static void *produce_main(void *arg)
{
    producer *p = arg;
    txn_batch b = batch_of(2, 2);
    p->rc = txn_queue_push_batch_lazy(p->q, &b);
    atomic_store(&p->done, true);
    return NULL;
}

static void test_producer_waiting_for_room_wakes_the_consumer(void **state)
{
    (void)state;
    txn_batch one = batch_of(1, 1);
    size_t rec_bytes = one.bytes;
    txn_queue q;
    /* room for two records: one (under half the bound) is left unsignalled,
     * two more do not fit next to it */
    assert_int_equal(txn_queue_init(&q, 2 * rec_bytes + rec_bytes / 2), MCSQ_OK);
    consumer c;
    consumer_start(&c, &q);
    assert_int_equal(txn_queue_push_batch_lazy(&q, &one), MCSQ_OK);
    producer p = {&q, -1, false};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, produce_main, &p), 0);
    expect_woken_with(&c, 1);
    int64_t t0 = mono_ms();
    while (!atomic_load(&p.done) && mono_ms() - t0 < LONG_WAIT_MS / 2)
        sleep_ms(1);
    assert_true(atomic_load(&p.done));
    pthread_join(t, NULL);
    assert_int_equal(p.rc, MCSQ_OK);
    assert_int_equal(txn_queue_count(&q), 2);
    txn_queue_deinit(&q);
}

static void test_notify_without_waiter_or_records_is_harmless(void **state)
{
    (void)state;
    txn_queue q;
    txn_batch out = {0};
    assert_int_equal(txn_queue_init(&q, 1 << 20), MCSQ_OK);
    txn_queue_notify(&q); /* nothing queued, nobody waiting */
    push_lazy(&q, 2, 1);
    txn_queue_notify(&q); /* records, nobody waiting */
    assert_int_equal(txn_queue_pop_batch(&q, &out, 10, 0), 2);
    assert_int_equal(out.head->end_pos, 1);
    assert_int_equal(out.tail->end_pos, 2);
    txn_batch_clear(&out);
    txn_queue_deinit(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_push_leaves_the_consumer_asleep_until_notified),
        cmocka_unit_test(test_lazy_push_wakes_at_the_record_threshold),
        cmocka_unit_test(test_lazy_push_wakes_once_records_waited),
        cmocka_unit_test(test_ordinary_push_always_wakes),
        cmocka_unit_test(test_producer_waiting_for_room_wakes_the_consumer),
        cmocka_unit_test(test_notify_without_waiter_or_records_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
