/*
 * MurmurHash3 x86_32 (Austin Appleby, public domain algorithm): the score
 * of pymemcache's rendezvous hashing.
 */
#include "marker/hash/placement_hash.h"

#include <string.h>

static inline uint32_t rotl32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static inline uint32_t mix_k(uint32_t k)
{
    k *= 0xcc9e2d51u;
    k = rotl32(k, 15);
    return k * 0x1b873593u;
}

static inline uint32_t block(uint32_t h, const unsigned char *p)
{
    uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    h ^= mix_k(k);
    h = rotl32(h, 13);
    return h * 5 + 0xe6546b64u;
}

static inline uint32_t final_mix(uint32_t h, const unsigned char *tail, size_t ntail, size_t len)
{
    uint32_t k = 0;
    switch (ntail) {
    case 3:
        k ^= (uint32_t)tail[2] << 16;
        /* fall through */
    case 2:
        k ^= (uint32_t)tail[1] << 8;
        /* fall through */
    case 1:
        k ^= tail[0];
        h ^= mix_k(k);
        break;
    default:
        break;
    }
    h ^= (uint32_t)len;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

void placement_murmur3_begin(placement_murmur3 *m, const void *start, size_t len, uint32_t seed)
{
    const unsigned char *p = start;
    m->h = seed;
    m->len = len;
    for (; len >= 4; len -= 4, p += 4)
        m->h = block(m->h, p);
    memcpy(m->tail, p, len);
    m->ntail = len;
}

uint32_t placement_murmur3_finish(const placement_murmur3 *m, const void *data, size_t len)
{
    const unsigned char *p = data;
    unsigned char buf[4];
    uint32_t h = m->h;
    size_t ntail = m->ntail, total = m->len + len;
    memcpy(buf, m->tail, ntail);
    while (ntail < 4 && len > 0)
        buf[ntail++] = *p++, len--;
    if (ntail < 4)
        return final_mix(h, buf, ntail, total);
    h = block(h, buf);
    for (; len >= 4; len -= 4, p += 4)
        h = block(h, p);
    return final_mix(h, p, len, total);
}

uint32_t placement_murmur3_32(const void *data, size_t len, uint32_t seed)
{
    const unsigned char *p = data;
    uint32_t h = seed;
    size_t blocks = len / 4;
    for (size_t i = 0; i < blocks; i++, p += 4)
        h = block(h, p);
    return final_mix(h, p, len & 3, len);
}
