/*
 * Slab allocator for txn_records crossing from the reader thread to the
 * publisher: records are carved one after the other out of 64 KiB slabs,
 * and a slab is freed when the last of its records is. glibc's malloc does
 * badly at this pattern (allocate on one thread, free on another: both
 * threads fight over the allocating arena's lock), and it is one malloc per
 * slab instead of one per transaction.
 *
 * One thread allocates (a txn_slab_pool is not shared); any thread may
 * release. A slab counts its records with a bias, so that it cannot reach
 * zero while the allocating thread may still add to it: the bias is taken
 * off when the pool moves on to a new slab.
 */
#ifndef MCSQ_TAILER_TXN_SLAB_H
#define MCSQ_TAILER_TXN_SLAB_H

#include <stddef.h>

#define TXN_SLAB_SIZE (64u * 1024u)

typedef struct txn_slab txn_slab;

typedef struct txn_slab_pool {
    txn_slab *cur; /* the slab being filled, or NULL */
} txn_slab_pool;

/* Returns size bytes (16-byte aligned) from the pool with *slab set to the
 * slab holding them (give it to txn_slab_release() when done), or NULL when
 * out of memory. A request larger than a quarter slab gets a slab of its
 * own. */
void *txn_slab_alloc(txn_slab_pool *pool, size_t size, txn_slab **slab);

/* Releases one allocation of slab (any thread); frees the slab after the
 * last one once the pool has moved on. */
void txn_slab_release(txn_slab *slab);

/* Lets go of the slab being filled (its memory is freed with its last
 * allocation). The pool can be used again afterwards. */
void txn_slab_pool_deinit(txn_slab_pool *pool);

#endif
