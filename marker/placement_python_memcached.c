/*
 * The `python-memcached` mode (python-memcached 1.59 Client): each server
 * fills `weight` consecutive buckets in pool order; a key goes to bucket
 * cmemcache_hash(key) % buckets, where cmemcache_hash is
 * ((crc32(key) >> 16) & 0x7fff) or 1 over the UTF-8 key. The client has no
 * prefix option, so the pool prefix is part of the key it hashes.
 */
#include "marker/hash/placement_hash.h"
#include "marker/key_placement_internal.h"
#include "mcsqueal/error.h"

#include <stdlib.h>

static uint32_t lookup(const key_placement *p, const char *key, size_t len)
{
    uint32_t crc = placement_crc32(placement_crc32(0, p->prefix, p->prefix_len), key, len);
    uint32_t hash = (crc >> 16) & 0x7fff;
    if (hash == 0)
        hash = 1;
    return p->table[hash % p->table_len];
}

int placement_python_memcached_build(key_placement *p, const key_placement_server *servers,
                                     char *errstr, size_t errstr_size)
{
    (void)errstr, (void)errstr_size;
    size_t n = 0;
    for (uint32_t i = 0; i < p->nservers; i++)
        n += key_placement_weight(&servers[i]);
    p->table = malloc(n * sizeof(*p->table));
    if (p->table == NULL)
        return MCSQ_ERR_NOMEM;
    for (uint32_t i = 0; i < p->nservers; i++)
        for (unsigned w = 0; w < key_placement_weight(&servers[i]); w++)
            p->table[p->table_len++] = i;
    p->lookup = lookup;
    return MCSQ_OK;
}
