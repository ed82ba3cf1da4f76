/*
 * Slab allocator for txn_records (see txn_slab.h). refs starts at BIAS;
 * each release takes one off; retiring the slab adds (allocations - BIAS).
 * Whoever brings it to zero frees it.
 */
#include "tailer/txn_slab.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define BIAS (1L << 40)
#define ALIGN 16

struct txn_slab {
    _Atomic long refs;
    long allocs; /* allocations handed out (allocating thread only) */
    size_t used; /* bytes of data[] handed out */
    size_t cap;  /* bytes of data[] */
    _Alignas(ALIGN) unsigned char data[];
};

static txn_slab *slab_new(size_t cap)
{
    txn_slab *s = malloc(sizeof(*s) + cap);
    if (s == NULL)
        return NULL;
    atomic_init(&s->refs, BIAS);
    s->allocs = 0;
    s->used = 0;
    s->cap = cap;
    return s;
}

/* The allocating side is done with s: take the bias off. */
static void slab_retire(txn_slab *s)
{
    long delta = s->allocs - BIAS;
    if (atomic_fetch_add(&s->refs, delta) + delta == 0)
        free(s);
}

void *txn_slab_alloc(txn_slab_pool *pool, size_t size, txn_slab **slab)
{
    size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    txn_slab *s = pool->cur;
    if (size > TXN_SLAB_SIZE / 4) { /* large: a slab of its own, retired at once */
        if ((s = slab_new(size)) == NULL)
            return NULL;
        s->allocs = 1;
        s->used = size;
        *slab = s;
        slab_retire(s);
        return s->data;
    }
    if (s == NULL || s->cap - s->used < size) {
        txn_slab *fresh = slab_new(TXN_SLAB_SIZE);
        if (fresh == NULL)
            return NULL;
        if (s != NULL)
            slab_retire(s);
        pool->cur = s = fresh;
    }
    void *p = s->data + s->used;
    s->used += size;
    s->allocs++;
    *slab = s;
    return p;
}

void txn_slab_release(txn_slab *slab)
{
    if (atomic_fetch_sub(&slab->refs, 1) == 1)
        free(slab);
}

void txn_slab_pool_deinit(txn_slab_pool *pool)
{
    if (pool->cur != NULL)
        slab_retire(pool->cur);
    pool->cur = NULL;
}
