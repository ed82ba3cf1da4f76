/*
 * Unit tests of the reader -> publisher hand-off: batches of records pushed
 * and popped with one lock each (order kept, the byte bound respected, a
 * batch always accepted into an empty queue), txn_queue_wake() ending a
 * wait early, and the slab allocator records live in (freed on another
 * thread, in any order, large records on their own).
 */
#include "mcsqueal/error.h"
#include "tailer/txn_queue.h"
#include "tailer/txn_record.h"
#include "tailer/txn_slab.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* A record of a transaction ending at end_pos with nkeys keys of 8 bytes. */
static txn_record *record_in(txn_slab_pool *pool, uint64_t end_pos, size_t nkeys)
{
    static const char key[] = "user:123";
    mcsq_key *keys = calloc(nkeys ? nkeys : 1, sizeof(*keys));
    assert_non_null(keys);
    for (size_t i = 0; i < nkeys; i++)
        keys[i] = (mcsq_key){key, 8, 0};
    mcsq_txn t = {.gtid = "0-1-7", .file = "binlog.000001", .pos = 4, .end_pos = end_pos};
    t.keys = keys;
    t.nkeys = nkeys;
    txn_record *rec = pool ? txn_record_new_in(pool, &t, "0-1-7") : txn_record_new(&t, NULL);
    free(keys);
    assert_non_null(rec);
    return rec;
}

static void test_batch_order(void **state)
{
    (void)state;
    txn_queue q;
    txn_batch b = {0}, got = {0};
    assert_int_equal(txn_queue_init(&q, 1 << 20), MCSQ_OK);
    for (uint64_t i = 1; i <= 10; i++)
        txn_batch_add(&b, record_in(NULL, i, 1));
    assert_int_equal(b.count, 10);
    assert_int_equal(txn_queue_push_batch(&q, &b), MCSQ_OK);
    assert_int_equal(b.count, 0); /* moved */
    assert_null(b.head);
    assert_int_equal(txn_queue_count(&q), 10);
    assert_int_equal(txn_queue_pop_batch(&q, &got, 4, 0), 4);
    assert_int_equal(txn_queue_count(&q), 6);
    for (uint64_t i = 1; i <= 4; i++) {
        txn_record *rec = txn_batch_take(&got);
        assert_int_equal(rec->end_pos, i);
        txn_record_free(rec);
    }
    assert_null(txn_batch_take(&got));
    assert_int_equal(txn_queue_pop_batch(&q, &got, 100, 0), 6);
    assert_int_equal(got.tail->end_pos, 10);
    txn_batch_clear(&got);
    assert_int_equal(txn_queue_pop_batch(&q, &got, 100, 0), 0); /* empty, no wait */
    txn_queue_deinit(&q);
}

static void test_batch_into_empty_queue_whatever_its_size(void **state)
{
    (void)state;
    txn_queue q;
    txn_batch b = {0};
    assert_int_equal(txn_queue_init(&q, 16), MCSQ_OK); /* smaller than any record */
    txn_batch_add(&b, record_in(NULL, 1, 3));
    txn_batch_add(&b, record_in(NULL, 2, 3));
    assert_int_equal(txn_queue_push_batch(&q, &b), MCSQ_OK);
    assert_int_equal(txn_queue_count(&q), 2);
    txn_queue_close(&q);
    txn_batch_add(&b, record_in(NULL, 3, 1));
    assert_int_equal(txn_queue_push_batch(&q, &b), MCSQ_ERR_AGAIN); /* freed */
    assert_int_equal(b.count, 0);
    assert_false(txn_queue_drained(&q));
    txn_queue_deinit(&q);
}

typedef struct pusher {
    txn_queue *q;
    txn_slab_pool pool;
    int batches;
    int per_batch;
} pusher;

/* Pushes batches of slab records numbered 1..batches*per_batch. */
static void *push_main(void *arg)
{
    pusher *a = arg;
    uint64_t n = 0;
    for (int i = 0; i < a->batches; i++) {
        txn_batch b = {0};
        for (int k = 0; k < a->per_batch; k++) {
            n++;
            txn_batch_add(&b, record_in(&a->pool, n, (size_t)(n % 5)));
        }
        if (txn_queue_push_batch(a->q, &b) != MCSQ_OK)
            break;
    }
    txn_slab_pool_deinit(&a->pool);
    txn_queue_close(a->q);
    return NULL;
}

/* Two threads: order kept through back-pressure, slab records freed by
 * the consumer while the producer still fills their slabs. */
static void test_batches_across_threads(void **state)
{
    (void)state;
    txn_queue q;
    txn_record *one = record_in(NULL, 1, 4);
    size_t bound = one->bytes * 20;
    txn_record_free(one);
    assert_int_equal(txn_queue_init(&q, bound), MCSQ_OK);
    pusher a = {&q, {NULL}, 400, 7};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, push_main, &a), 0);
    uint64_t want = 1;
    while (!txn_queue_drained(&q)) {
        txn_batch got = {0};
        txn_queue_pop_batch(&q, &got, 16, 100);
        txn_record *rec;
        while ((rec = txn_batch_take(&got)) != NULL) {
            assert_int_equal(rec->end_pos, want);
            assert_int_equal(rec->nkeys, want % 5);
            assert_non_null(rec->slab);
            assert_string_equal(rec->resume_gtid, "0-1-7");
            want++;
            txn_record_free(rec);
        }
    }
    pthread_join(t, NULL);
    assert_int_equal(want, 400 * 7 + 1);
    txn_queue_deinit(&q);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *wake_main(void *arg)
{
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    txn_queue_wake(arg);
    return NULL;
}

static void test_wake_ends_wait(void **state)
{
    (void)state;
    txn_queue q;
    txn_batch got = {0};
    assert_int_equal(txn_queue_init(&q, 1 << 20), MCSQ_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wake_main, &q), 0);
    double t0 = now_s();
    assert_int_equal(txn_queue_pop_batch(&q, &got, 8, 5000), 0);
    assert_true(now_s() - t0 < 2.5); /* woken, not timed out */
    pthread_join(t, NULL);
    txn_queue_wake(&q); /* before a wait: the next one returns at once */
    t0 = now_s();
    assert_int_equal(txn_queue_pop_batch(&q, &got, 8, 5000), 0);
    assert_true(now_s() - t0 < 2.5);
    t0 = now_s(); /* and only that one */
    assert_int_equal(txn_queue_pop_batch(&q, &got, 8, 30), 0);
    assert_true(now_s() - t0 >= 0.025);
    txn_queue_deinit(&q);
}

static void test_slab_release_any_order(void **state)
{
    (void)state;
    txn_slab_pool pool = {NULL};
    enum { N = 3000 };
    txn_record **recs = calloc(N, sizeof(*recs));
    assert_non_null(recs);
    for (size_t i = 0; i < N; i++) { /* several slabs */
        recs[i] = record_in(&pool, i + 1, i % 7);
        assert_int_equal((uintptr_t)recs[i] % 16, 0);
    }
    assert_true(recs[0]->slab != recs[N - 1]->slab);
    for (size_t i = 0; i < N; i += 2) /* every other one first */
        txn_record_free(recs[i]);
    txn_slab_pool_deinit(&pool); /* the current slab outlives the pool */
    for (size_t i = 1; i < N; i += 2) {
        assert_int_equal(recs[i]->end_pos, i + 1);
        txn_record_free(recs[i]);
    }
    free(recs);
}

static void test_slab_large_on_its_own(void **state)
{
    (void)state;
    txn_slab_pool pool = {NULL};
    txn_slab *small_slab, *big_slab, *next_slab;
    void *small = txn_slab_alloc(&pool, 100, &small_slab);
    void *big = txn_slab_alloc(&pool, TXN_SLAB_SIZE * 3, &big_slab);
    void *next = txn_slab_alloc(&pool, 100, &next_slab);
    assert_non_null(small);
    assert_non_null(big);
    assert_true(big_slab != small_slab);
    assert_ptr_equal(next_slab, small_slab); /* the pool kept filling its slab */
    assert_ptr_equal((char *)next, (char *)small + 112);
    memset(big, 0xab, TXN_SLAB_SIZE * 3);
    txn_slab_release(big_slab); /* freed now: ASan would catch a leak or misuse */
    txn_slab_release(small_slab);
    txn_slab_pool_deinit(&pool);
    txn_slab_release(next_slab); /* the last one frees the slab */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_order),
        cmocka_unit_test(test_batch_into_empty_queue_whatever_its_size),
        cmocka_unit_test(test_batches_across_threads),
        cmocka_unit_test(test_wake_ends_wait),
        cmocka_unit_test(test_slab_release_any_order),
        cmocka_unit_test(test_slab_large_on_its_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
