/*
 * Bounded hand-off queue (see txn_queue.h): a linked list under one mutex
 * with two condition variables (CLOCK_MONOTONIC for timed waits).
 */
#include "tailer/txn_queue.h"
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

int txn_queue_push(txn_queue *q, txn_record *rec)
{
    pthread_mutex_lock(&q->lock);
    while (!q->closed && q->count > 0 && q->bytes + rec->bytes > q->max_bytes)
        pthread_cond_wait(&q->not_full, &q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        txn_record_free(rec);
        return MCSQ_ERR_AGAIN;
    }
    rec->next = NULL;
    if (q->tail != NULL)
        q->tail->next = rec;
    else
        q->head = rec;
    q->tail = rec;
    q->count++;
    q->bytes += rec->bytes;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return MCSQ_OK;
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

txn_record *txn_queue_pop(txn_queue *q, int timeout_ms)
{
    struct timespec deadline;
    pthread_mutex_lock(&q->lock);
    if (q->head == NULL && !q->closed && timeout_ms > 0)
        deadline_after(&deadline, timeout_ms); /* only when it must wait */
    while (q->head == NULL && !q->closed && timeout_ms > 0) {
        if (pthread_cond_timedwait(&q->not_empty, &q->lock, &deadline) == ETIMEDOUT)
            break;
    }
    txn_record *rec = q->head;
    if (rec != NULL) {
        q->head = rec->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->count--;
        q->bytes -= rec->bytes;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);
    return rec;
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
