/*
 * The `libmemcached-modula` mode: libmemcached's defaults (and
 * php-memcached's): MEMCACHED_DISTRIBUTION_MODULA with the default key hash,
 * one-at-a-time; the server is hash % servers. Weights play no part.
 */
#include "marker/hash/placement_hash.h"
#include "marker/key_placement_internal.h"
#include "mcsqueal/error.h"

#include <stdlib.h>

#define LIBMEMCACHED_MAX_KEY 251 /* MEMCACHED_MAX_KEY */

static uint32_t lookup(const key_placement *p, const char *key, size_t len)
{
    if (p->nservers == 1)
        return 0;
    if (!p->hash_with_prefix || p->prefix_len == 0)
        return placement_one_at_a_time(key, len) % p->nservers;
    if (p->prefix_len + len > LIBMEMCACHED_MAX_KEY - 1)
        return 0; /* libmemcached hashes a too long prefixed key as 0 */
    char buf[KEY_PLACEMENT_STACK_KEY], *heap;
    size_t n;
    const char *in = key_placement_hash_input(p, true, key, len, buf, &heap, &n);
    uint32_t server = placement_one_at_a_time(in, n) % p->nservers;
    free(heap);
    return server;
}

int placement_modula_build(key_placement *p, const key_placement_server *servers, char *errstr,
                           size_t errstr_size)
{
    (void)servers, (void)errstr, (void)errstr_size;
    p->lookup = lookup;
    return MCSQ_OK;
}
