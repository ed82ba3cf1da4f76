/*
 * Bounded hand-off queue of txn_records between the binlog reader thread
 * and the publisher. The bound is in bytes of records held: a full queue
 * blocks the reader, which then stops reading the binlog (back-pressure),
 * instead of buffering without limit. One record is always accepted into
 * an empty queue, whatever its size.
 *
 * Hand-off in batches: the reader collects records in a txn_batch and pushes
 * them with one lock (txn_queue_push_batch), waking the publisher once per
 * batch and only when it waits; the publisher takes up to a batch at a time
 * (txn_queue_pop_batch). A futex wake per transaction cost more than the
 * rest of the hand-off. While the reader has more to read at once it pushes
 * lazily (txn_queue_push_batch_lazy): the publisher is woken once a few
 * hundred records wait, or the oldest of them waited a millisecond. Woken
 * for every batch of 64, the publisher preempted the reader thousands of
 * times a second.
 */
#ifndef MCSQ_TAILER_TXN_QUEUE_H
#define MCSQ_TAILER_TXN_QUEUE_H

#include "tailer/txn_record.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A list of records in queue order, owned by whoever holds the batch. */
typedef struct txn_batch {
    txn_record *head;
    txn_record *tail;
    size_t count;
    size_t bytes;
} txn_batch;

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
    int waiting;            /* consumers waiting in a pop */
    bool woken;             /* txn_queue_wake() called: the next wait returns at once */
    int64_t unsignalled_us; /* when a lazy push first left records unsignalled; 0: none */
} txn_queue;

/* A lazy push wakes a waiting consumer once this many records are queued,
 * half the byte bound is used, or records waited TXN_QUEUE_LAZY_US. */
#define TXN_QUEUE_WAKE_RECORDS 512
#define TXN_QUEUE_LAZY_US 1000

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

/* Appends rec (takes ownership) to the batch b. */
void txn_batch_add(txn_batch *b, txn_record *rec);

/* Removes and returns the oldest record of b (NULL when empty; caller owns
 * it). */
txn_record *txn_batch_take(txn_batch *b);

/* Frees the records of b and empties it. */
void txn_batch_clear(txn_batch *b);

/* Appends every record of b (takes ownership; b is emptied) in order,
 * waiting while the queue holds records and b does not fit (a batch is
 * always accepted into an empty queue). Wakes a waiting consumer once.
 * Returns 0, or MCSQ_ERR_AGAIN when the queue was closed (the records are
 * freed then). */
int txn_queue_push_batch(txn_queue *q, txn_batch *b);

/* As txn_queue_push_batch(), but a waiting consumer is woken only as the
 * constants above say: for a producer that will push again soon (and calls
 * txn_queue_push_batch() before it waits for anything itself). A producer
 * that must wait for room wakes the consumer first, always. */
int txn_queue_push_batch_lazy(txn_queue *q, txn_batch *b);

/* Wakes a waiting consumer if a lazy push left records it was not told
 * about (a producer busy for long without pushing calls this now and
 * then). */
void txn_queue_notify(txn_queue *q);

/* Moves up to max_count of the oldest records into out (which must be
 * empty), waiting up to timeout_ms (0: do not wait) for the first one.
 * Returns how many were moved (0 on timeout or when closed and empty). */
size_t txn_queue_pop_batch(txn_queue *q, txn_batch *out, size_t max_count, int timeout_ms);

/* Makes a waiting pop (or the next one) return now, empty-handed if
 * nothing is queued: the consumer has other work (safe from any thread). */
void txn_queue_wake(txn_queue *q);

/* Wakes every waiter; pushes fail from now on, pops drain what is left. */
void txn_queue_close(txn_queue *q);

size_t txn_queue_count(txn_queue *q);

/* Whether the queue is closed and empty: nothing more will come. */
bool txn_queue_drained(txn_queue *q);

#endif
