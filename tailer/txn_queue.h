/*
 * Bounded hand-off queue of txn_records between the binlog reader thread
 * and the publisher. The bound is in bytes of records held: a full queue
 * blocks the reader, which then stops reading the binlog (back-pressure),
 * instead of buffering without limit. One record is always accepted into
 * an empty queue, whatever its size.
 */
#ifndef MCSQ_TAILER_TXN_QUEUE_H
#define MCSQ_TAILER_TXN_QUEUE_H

#include "tailer/txn_record.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct txn_queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    txn_record *head;
    txn_record *tail;
    size_t count;
    size_t bytes;
    size_t max_bytes;
    bool closed;
} txn_queue;

/* Returns 0 or MCSQ_ERR_NOMEM. */
int txn_queue_init(txn_queue *q, size_t max_bytes);
/* Frees any records left. */
void txn_queue_deinit(txn_queue *q);

/* Appends rec (takes ownership), waiting while the queue is full. Returns
 * 0, or MCSQ_ERR_AGAIN when the queue was closed (rec is freed then). */
int txn_queue_push(txn_queue *q, txn_record *rec);

/* Removes the oldest record, waiting up to timeout_ms (0: do not wait).
 * Returns it (caller owns it), or NULL on timeout or when closed and empty. */
txn_record *txn_queue_pop(txn_queue *q, int timeout_ms);

/* Wakes every waiter; pushes fail from now on, pops drain what is left. */
void txn_queue_close(txn_queue *q);

size_t txn_queue_count(txn_queue *q);

/* Whether the queue is closed and empty: nothing more will come. */
bool txn_queue_drained(txn_queue *q);

#endif
