/*
 * Where a cache key's remote marker lives in the regional pool: the memcached
 * key MCSQ_MARKER_KEY_PREFIX + key, or for keys too long for that, a prefix
 * and a 128-bit FNV-1a hash of the key. Shared by applications (the client
 * library) and the router, so both name the same marker.
 */
#include "core/cache_key.h"
#include "marker/key_placement.h"
#include "mcsqueal/marker.h"

#include <string.h>

#define HASHED_PREFIX "mcsqueal:marker#"

/* FNV-1a, 128 bits (offset basis and prime from the FNV reference). */
static void fnv1a128(const unsigned char *p, size_t len, uint64_t *hi, uint64_t *lo)
{
    __extension__ typedef unsigned __int128 u128;
    const u128 prime = ((u128)1 << 88) | 0x13b;
    u128 h = ((u128)0x6c62272e07bb0142ULL << 64) | 0x62b821756295c58dULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= prime;
    }
    *hi = (uint64_t)(h >> 64);
    *lo = (uint64_t)h;
}

static void hex64(uint64_t v, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = digits[v & 0xf];
}

int mcsq_marker_key(const char *key, size_t len, size_t prefix_len, char *out, size_t out_size,
                    size_t *out_len)
{
    if (key == NULL || cache_key_check(key, len) != CACHE_KEY_OK ||
        prefix_len > KEY_PLACEMENT_PREFIX_MAX)
        return MCSQ_ERR_INVALID;
    const size_t plen = sizeof(MCSQ_MARKER_KEY_PREFIX) - 1;
    size_t n;
    if (prefix_len + plen + len <= MCSQ_MARKER_KEY_MAX) {
        n = plen + len;
        if (out == NULL || out_size <= n)
            return MCSQ_ERR_LIMIT;
        memcpy(out, MCSQ_MARKER_KEY_PREFIX, plen);
        memcpy(out + plen, key, len);
    } else {
        const size_t hlen = sizeof(HASHED_PREFIX) - 1;
        n = hlen + 32;
        if (out == NULL || out_size <= n)
            return MCSQ_ERR_LIMIT;
        uint64_t hi, lo;
        fnv1a128((const unsigned char *)key, len, &hi, &lo);
        memcpy(out, HASHED_PREFIX, hlen);
        hex64(hi, out + hlen);
        hex64(lo, out + hlen + 16);
    }
    out[n] = '\0';
    if (out_len != NULL)
        *out_len = n;
    return MCSQ_OK;
}
