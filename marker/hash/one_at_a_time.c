/*
 * Bob Jenkins' one-at-a-time hash: libmemcached's MEMCACHED_HASH_DEFAULT,
 * the key hash of its modula distribution. Each byte is taken as a signed
 * char, as libhashkit does.
 */
#include "marker/hash/placement_hash.h"

uint32_t placement_one_at_a_time(const void *data, size_t len)
{
    const char *p = data;
    uint32_t h = 0;
    for (size_t i = 0; i < len; i++) {
        h += (uint32_t)(int32_t)(signed char)p[i];
        h += h << 10;
        h ^= h >> 6;
    }
    h += h << 3;
    h ^= h >> 11;
    h += h << 15;
    return h;
}
