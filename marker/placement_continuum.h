/*
 * A consistent-hashing continuum (a "ring"): points (hash value, server)
 * sorted by value; a key hashed to h belongs to the first point whose value
 * is >= h, wrapping to the first point. The ketama-style modes fill one
 * with their own point names and hashes; the lookup is one binary search.
 */
#ifndef MCSQ_MARKER_PLACEMENT_CONTINUUM_H
#define MCSQ_MARKER_PLACEMENT_CONTINUUM_H

#include <stddef.h>
#include <stdint.h>

typedef struct placement_continuum {
    uint32_t *value;  /* sorted ascending */
    uint32_t *server; /* server of value[i] */
    size_t n, cap;
} placement_continuum;

/* Reserves room for cap points; returns 0 or MCSQ_ERR_NOMEM. */
int placement_continuum_init(placement_continuum *c, size_t cap);
void placement_continuum_deinit(placement_continuum *c);

/* Appends a point (within the reserved room). */
void placement_continuum_add(placement_continuum *c, uint32_t value, uint32_t server);

/* Sorts the points by value, equal values by server (libmemcached's order).
 * Returns 0 or MCSQ_ERR_NOMEM. */
int placement_continuum_sort(placement_continuum *c);

/* Of each run of points with one value, keeps only the last (the highest
 * server): spymemcached's map keeps the server put last. */
void placement_continuum_keep_last(placement_continuum *c);

/* The server of the first point at or after hash (c->n > 0). */
static inline uint32_t placement_continuum_find(const placement_continuum *c, uint32_t hash)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->value[mid] < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    return c->server[lo == c->n ? 0 : lo];
}

#endif
