/*
 * The inside of a key_placement, shared by key_placement.c and the files
 * that build one mode each (placement_<client>.c).
 */
#ifndef MCSQ_MARKER_KEY_PLACEMENT_INTERNAL_H
#define MCSQ_MARKER_KEY_PLACEMENT_INTERNAL_H

#include "marker/hash/placement_hash.h"
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
    char **names; /* pymemcache: the node name of each server */
    size_t *name_len;
    placement_murmur3 *node_hash; /* pymemcache: murmur3 after each "node-" */
    double total_weight;          /* cache-memcached-fast without ketama_points */
};

/* Each builds p (mode, nservers, prefix, options already set) for servers
 * and sets p->lookup. Return 0, MCSQ_ERR_CONFIG (errstr filled) or
 * MCSQ_ERR_NOMEM. */
int placement_libmemcached_build(key_placement *p, const key_placement_server *servers,
                                 char *errstr, size_t errstr_size);
int placement_modula_build(key_placement *p, const key_placement_server *servers, char *errstr,
                           size_t errstr_size);
int placement_pymemcache_build(key_placement *p, const key_placement_server *servers, char *errstr,
                               size_t errstr_size);
int placement_python_memcached_build(key_placement *p, const key_placement_server *servers,
                                     char *errstr, size_t errstr_size);
int placement_dalli_build(key_placement *p, const key_placement_server *servers, char *errstr,
                          size_t errstr_size);
int placement_cmf_build(key_placement *p, const key_placement_server *servers, char *errstr,
                        size_t errstr_size);
int placement_spymemcached_build(key_placement *p, const key_placement_server *servers,
                                 char *errstr, size_t errstr_size);

/* Adds the four points of one ketama point name (the four little-endian
 * words of its MD5), as libmemcached and spymemcached do. */
void placement_md5_points_add(placement_continuum *c, const char *name, size_t len,
                              uint32_t server);

/* The first four MD5 bytes of data, little endian: the ketama key hash. */
uint32_t placement_md5_hash(const char *data, size_t len);

/* Largest prefix + key the modes that hash the prefix put together on the
 * stack; a longer key is hashed by key_placement_hash_input() from the heap. */
#define KEY_PLACEMENT_STACK_KEY 512

/* The bytes a mode hashes: prefix + key when with_prefix (and a prefix is
 * set), else the key. Uses buf (KEY_PLACEMENT_STACK_KEY bytes) or, for a
 * longer one, sets *heap to a malloc'd copy the caller frees (NULL when out
 * of memory: then the key alone is returned). */
const char *key_placement_hash_input(const key_placement *p, bool with_prefix, const char *key,
                                     size_t len, char *buf, char **heap, size_t *out_len);

/* The weight of a server as the clients count it: 0 means 1. */
static inline unsigned key_placement_weight(const key_placement_server *s)
{
    return s->weight == 0 ? 1 : s->weight;
}

#endif
