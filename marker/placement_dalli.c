/*
 * The `dalli` mode (Dalli 3.0.6 Ring): with more than one server, each gets
 * floor(servers * 160 * weight / total weight) points, point i of server
 * "host:port" being the first 32 bits of SHA1("host:port:i") (the port is
 * always written); a key goes to the last point at or below CRC32(key),
 * wrapping to the last point. Dalli hashes the key with its namespace
 * ("ns:key"), so the pool prefix is hashed.
 */
#include "core/errstr.h"
#include "marker/hash/placement_hash.h"
#include "marker/key_placement_internal.h"
#include "mcsqueal/error.h"

#include <math.h>
#include <stdio.h>

#define DALLI_POINTS_PER_SERVER 160

static uint32_t lookup(const key_placement *p, const char *key, size_t len)
{
    if (p->nservers == 1)
        return 0;
    uint32_t hash = placement_crc32(placement_crc32(0, p->prefix, p->prefix_len), key, len);
    const placement_continuum *c = &p->ring;
    size_t lo = 0, hi = c->n; /* the first point above hash */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->value[mid] <= hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    return c->server[lo == 0 ? c->n - 1 : lo - 1];
}

static uint32_t entries_of(unsigned weight, uint64_t total, uint32_t nservers)
{
    return (uint32_t)floor((double)((uint64_t)nservers * DALLI_POINTS_PER_SERVER * weight) /
                           (double)total);
}

int placement_dalli_build(key_placement *p, const key_placement_server *servers, char *errstr,
                          size_t errstr_size)
{
    p->lookup = lookup;
    if (p->nservers == 1)
        return MCSQ_OK;
    uint64_t total = 0, npoints = 0;
    for (uint32_t i = 0; i < p->nservers; i++)
        total += key_placement_weight(&servers[i]);
    for (uint32_t i = 0; i < p->nservers; i++)
        npoints += entries_of(key_placement_weight(&servers[i]), total, p->nservers);
    int rc = placement_continuum_init(&p->ring, (size_t)npoints);
    for (uint32_t i = 0; i < p->nservers && rc == MCSQ_OK; i++) {
        uint32_t n = entries_of(key_placement_weight(&servers[i]), total, p->nservers);
        for (uint32_t e = 0; e < n; e++) {
            char name[1100];
            int len = snprintf(name, sizeof(name), "%s:%u:%u", servers[i].host, servers[i].port, e);
            if (len < 0 || (size_t)len >= sizeof(name))
                return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "server name too long: %s",
                                  servers[i].host);
            unsigned char d[20];
            placement_sha1(name, (size_t)len, d);
            uint32_t v = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
            placement_continuum_add(&p->ring, v, i);
        }
    }
    if (rc == MCSQ_OK && p->ring.n == 0)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                        "the weights leave no point on the ring");
    return rc == MCSQ_OK ? placement_continuum_sort(&p->ring) : rc;
}
