/*
 * The `cache-memcached-fast` mode (Cache::Memcached::Fast 0.28, its
 * dispatch_key.c). Without ketama_points (its default), servers share the
 * 32-bit space in proportion to their weights, rescaled as each server is
 * added (Cache::Memcached's buckets); a key's point is
 * (((crc32(key) >> 16) & 0x7fff) % round(total weight)) scaled to the space,
 * plus one. With ketama_points, each server gets round(points * weight)
 * points, each crc32(host "\0" port, then the previous point as 4
 * little-endian bytes; 0 before the first) and a key is crc32(key). Either way the key belongs to
 * the first point at or after it, the earlier server first on a tie. Its namespace is hashed only
 * with its hash_namespace option (hash_with_prefix).
 */
#include "marker/hash/placement_hash.h"
#include "marker/key_placement_internal.h"
#include "mcsqueal/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMF_MAX_POINT 0xffffffffu

static uint32_t key_crc(const key_placement *p, const char *key, size_t len)
{
    uint32_t crc = p->hash_with_prefix ? placement_crc32(0, p->prefix, p->prefix_len) : 0;
    return placement_crc32(crc, key, len);
}

static uint32_t lookup_ketama(const key_placement *p, const char *key, size_t len)
{
    if (p->nservers == 1)
        return 0;
    return placement_continuum_find(&p->ring, key_crc(p, key, len));
}

static uint32_t lookup_buckets(const key_placement *p, const char *key, size_t len)
{
    if (p->nservers == 1)
        return 0;
    uint32_t hash = (key_crc(p, key, len) >> 16) & 0x7fff;
    uint32_t point = hash % (uint32_t)(p->total_weight + 0.5);
    point = (uint32_t)((double)point / p->total_weight * CMF_MAX_POINT + 0.5);
    return placement_continuum_find(&p->ring, point + 1);
}

/* compatible_add_server(), once per server in pool order. */
static int build_buckets(key_placement *p, const key_placement_server *servers)
{
    int rc = placement_continuum_init(&p->ring, p->nservers);
    for (uint32_t i = 0; i < p->nservers && rc == MCSQ_OK; i++) {
        double weight = key_placement_weight(&servers[i]);
        p->total_weight += weight;
        double scale = weight / p->total_weight;
        for (size_t j = 0; j < p->ring.n; j++)
            p->ring.value[j] =
                (uint32_t)((double)p->ring.value[j] - (double)p->ring.value[j] * scale);
        placement_continuum_add(&p->ring, CMF_MAX_POINT, i);
    }
    p->lookup = lookup_buckets;
    return rc;
}

static int build_ketama(key_placement *p, const key_placement_server *servers)
{
    size_t npoints = 0;
    for (uint32_t i = 0; i < p->nservers; i++)
        npoints += (size_t)(p->ketama_points * (double)key_placement_weight(&servers[i]) + 0.5);
    int rc = placement_continuum_init(&p->ring, npoints);
    for (uint32_t i = 0; i < p->nservers && rc == MCSQ_OK; i++) {
        char port[16];
        int plen = snprintf(port, sizeof(port), "%u", servers[i].port);
        uint32_t base = placement_crc32(0, servers[i].host, strlen(servers[i].host));
        base = placement_crc32(base, "", 1);
        base = placement_crc32(base, port, (size_t)plen);
        int count = (int)(p->ketama_points * (double)key_placement_weight(&servers[i]) + 0.5);
        uint32_t point = 0;
        for (int k = 0; k < count; k++) { /* each point is the CRC of the previous one */
            unsigned char le[4] = {(unsigned char)point, (unsigned char)(point >> 8),
                                   (unsigned char)(point >> 16), (unsigned char)(point >> 24)};
            point = placement_crc32(base, le, 4);
            placement_continuum_add(&p->ring, point, i);
        }
    }
    p->lookup = lookup_ketama;
    return rc == MCSQ_OK ? placement_continuum_sort(&p->ring) : rc;
}

int placement_cmf_build(key_placement *p, const key_placement_server *servers, char *errstr,
                        size_t errstr_size)
{
    (void)errstr, (void)errstr_size;
    return p->ketama_points > 0 ? build_ketama(p, servers) : build_buckets(p, servers);
}
