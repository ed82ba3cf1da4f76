/*
 * The inside of a key_placement, shared by key_placement.c and the files
 * that build one mode each (placement_<client>.c).
 */
#ifndef MCSQ_MARKER_KEY_PLACEMENT_INTERNAL_H
#define MCSQ_MARKER_KEY_PLACEMENT_INTERNAL_H

#include "marker/key_placement.h"
#include "marker/placement_continuum.h"

typedef uint32_t (*key_placement_lookup)(const key_placement *p, const char *key, size_t len);

struct key_placement {
    key_placement_mode mode;
    key_placement_lookup lookup; /* set by the mode's build function */
    uint32_t nservers;
    char prefix[KEY_PLACEMENT_PREFIX_MAX + 1];
    size_t prefix_len;
    bool hash_with_prefix;
    unsigned ketama_points;
    placement_continuum ring; /* the ketama-style modes */
    uint32_t *table;          /* bucket or per-server table of the other modes */
    size_t table_len;
};

/* Each builds p (mode, nservers, prefix, options already set) for servers
 * and sets p->lookup. Return 0, MCSQ_ERR_CONFIG (errstr filled) or
 * MCSQ_ERR_NOMEM. */
int placement_libmemcached_build(key_placement *p, const key_placement_server *servers,
                                 char *errstr, size_t errstr_size);

/* The weight of a server as the clients count it: 0 means 1. */
static inline unsigned key_placement_weight(const key_placement_server *s)
{
    return s->weight == 0 ? 1 : s->weight;
}

#endif
