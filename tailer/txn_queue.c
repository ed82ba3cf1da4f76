/*
 * Bounded hand-off queue (see txn_queue.h): a linked list under one mutex
 * with two condition variables (CLOCK_MONOTONIC for timed waits). The
 * consumer's wake-up is signalled only while it waits (q->waiting), so a
 * producer ahead of its consumer makes no system call.
 */
#include "tailer/txn_queue.h"
#include "core/clock.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <time.h>

int txn_queue_init(txn_queue *q, size_t max_bytes)
{
    pthread_condattr_t attr;
    q->head = q->tail = NULL;
    q->count = q->bytes = 0;
    q->max_bytes = max_bytes;
    q->closed = false;
    q->waiting = 0;
    q->woken = false;
    q->unsignalled_us = 0;
    if (pthread_condattr_init(&attr) != 0)
        return MCSQ_ERR_NOMEM;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_mutex_init(&q->lock, NULL) | pthread_cond_init(&q->not_empty, &attr) |
             pthread_cond_init(&q->not_full, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? MCSQ_OK : MCSQ_ERR_NOMEM;
}

void txn_queue_deinit(txn_queue *q)
{
    while (q->head != NULL) {
        txn_record *next = q->head->next;
        txn_record_free(q->head);
        q->head = next;
    }
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
}

void txn_batch_add(txn_batch *b, txn_record *rec)
{
    rec->next = NULL;
    if (b->tail != NULL)
        b->tail->next = rec;
    else
        b->head = rec;
    b->tail = rec;
    b->count++;
    b->bytes += rec->bytes;
}

txn_record *txn_batch_take(txn_batch *b)
{
    txn_record *rec = b->head;
    if (rec == NULL)
        return NULL;
    b->head = rec->next;
    if (b->head == NULL)
        b->tail = NULL;
    b->count--;
    b->bytes -= rec->bytes;
    rec->next = NULL;
    return rec;
}

void txn_batch_clear(txn_batch *b)
{
    txn_record *rec;
    while ((rec = txn_batch_take(b)) != NULL)
        txn_record_free(rec);
    *b = (txn_batch){0};
}

/* Read only by lazy pushes to a waiting consumer: a few thousand times a
 * second at most, so the precise clock (the coarse one ticks every 4 ms). */
/* Whether a lazy push should wake the consumer now (lock held). */
static bool lazy_wake_due(txn_queue *q)
{
    if (q->count >= TXN_QUEUE_WAKE_RECORDS || q->bytes >= q->max_bytes / 2)
        return true;
    int64_t now = clock_mono_us();
    if (q->unsignalled_us == 0) {
        q->unsignalled_us = now;
        return false;
    }
    return now - q->unsignalled_us >= TXN_QUEUE_LAZY_US;
}

static int push(txn_queue *q, txn_batch *b, bool lazy)
{
    if (b->count == 0)
        return MCSQ_OK;
    pthread_mutex_lock(&q->lock);
    while (!q->closed && q->count > 0 && q->bytes + b->bytes > q->max_bytes) {
        if (q->waiting > 0) /* a consumer a lazy push left asleep */
            pthread_cond_signal(&q->not_empty);
        pthread_cond_wait(&q->not_full, &q->lock);
    }
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        txn_batch_clear(b);
        return MCSQ_ERR_AGAIN;
    }
    if (q->tail != NULL)
        q->tail->next = b->head;
    else
        q->head = b->head;
    q->tail = b->tail;
    q->count += b->count;
    q->bytes += b->bytes;
    if (q->waiting > 0 && (!lazy || lazy_wake_due(q))) {
        pthread_cond_signal(&q->not_empty);
        q->unsignalled_us = 0;
    }
    pthread_mutex_unlock(&q->lock);
    *b = (txn_batch){0};
    return MCSQ_OK;
}

int txn_queue_push_batch(txn_queue *q, txn_batch *b)
{
    return push(q, b, false);
}

int txn_queue_push_batch_lazy(txn_queue *q, txn_batch *b)
{
    return push(q, b, true);
}

void txn_queue_notify(txn_queue *q)
{
    pthread_mutex_lock(&q->lock);
    if (q->waiting > 0 && q->head != NULL) {
        pthread_cond_signal(&q->not_empty);
        q->unsignalled_us = 0;
    }
    pthread_mutex_unlock(&q->lock);
}

int txn_queue_push(txn_queue *q, txn_record *rec)
{
    txn_batch b = {0};
    txn_batch_add(&b, rec);
    return txn_queue_push_batch(q, &b);
}

/* Waits (lock held) until a record is there, the queue is closed or the
 * timeout passed. */
static void do_wait_not_empty(txn_queue *q, int timeout_ms)
{
    struct timespec deadline;
    if (q->head != NULL || q->closed || timeout_ms <= 0 || q->woken) {
        q->woken = false;
        return;
    }
    deadline = clock_mono_deadline(timeout_ms); /* only when it must wait */
    q->waiting++;
    while (q->head == NULL && !q->closed && !q->woken) {
        if (pthread_cond_timedwait(&q->not_empty, &q->lock, &deadline) == ETIMEDOUT)
            break;
    }
    q->waiting--;
    q->woken = false;
}

size_t txn_queue_pop_batch(txn_queue *q, txn_batch *out, size_t max_count, int timeout_ms)
{
    pthread_mutex_lock(&q->lock);
    do_wait_not_empty(q, timeout_ms);
    size_t n = 0;
    while (q->head != NULL && n < max_count) {
        txn_record *rec = q->head;
        q->head = rec->next;
        q->count--;
        q->bytes -= rec->bytes;
        txn_batch_add(out, rec);
        n++;
    }
    if (q->head == NULL)
        q->tail = NULL;
    if (n > 0) {
        q->unsignalled_us = 0; /* the consumer is awake */
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);
    return n;
}

txn_record *txn_queue_pop(txn_queue *q, int timeout_ms)
{
    txn_batch b = {0};
    txn_queue_pop_batch(q, &b, 1, timeout_ms);
    return txn_batch_take(&b);
}

void txn_queue_wake(txn_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->woken = true;
    if (q->waiting > 0)
        pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

void txn_queue_close(txn_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

size_t txn_queue_count(txn_queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->count;
    pthread_mutex_unlock(&q->lock);
    return n;
}

bool txn_queue_drained(txn_queue *q)
{
    pthread_mutex_lock(&q->lock);
    bool drained = q->closed && q->count == 0;
    pthread_mutex_unlock(&q->lock);
    return drained;
}
