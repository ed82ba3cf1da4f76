/*
 * The `libmemcached` mode: libmemcached 1.1.4 with
 * MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED (and php-memcached with
 * OPT_LIBKETAMA_COMPATIBLE). Each server gets floor(weight share * 40 *
 * servers) * 4 points named "host:port-i" ("host-i" on port 11211, the
 * default port libmemcached leaves out), four points per MD5 digest; a key
 * is MD5'd (the first four digest bytes, little endian), by itself unless
 * hash_with_prefix.
 */
#include "core/errstr.h"
#include "marker/hash/placement_hash.h"
#include "marker/key_placement_internal.h"
#include "mcsqueal/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define LIBMEMCACHED_POINTS_PER_SERVER 160 /* MEMCACHED_POINTS_PER_SERVER_KETAMA */
#define LIBMEMCACHED_DEFAULT_PORT 11211
#define LIBMEMCACHED_MAX_KEY 251 /* MEMCACHED_MAX_KEY */

static inline uint32_t digest_word(const unsigned char *d, unsigned i)
{
    return (uint32_t)d[4 * i + 3] << 24 | (uint32_t)d[4 * i + 2] << 16 |
           (uint32_t)d[4 * i + 1] << 8 | d[4 * i];
}

uint32_t placement_md5_hash(const char *data, size_t len)
{
    unsigned char d[16];
    placement_md5(data, len, d);
    return digest_word(d, 0);
}

void placement_md5_points_add(placement_continuum *c, const char *name, size_t len, uint32_t server)
{
    unsigned char d[16];
    placement_md5(name, len, d);
    for (unsigned w = 0; w < 4; w++)
        placement_continuum_add(c, digest_word(d, w), server);
}

static uint32_t lookup(const key_placement *p, const char *key, size_t len)
{
    if (p->nservers == 1)
        return 0;
    if (!p->hash_with_prefix || p->prefix_len == 0)
        return placement_continuum_find(&p->ring, placement_md5_hash(key, len));
    /* libmemcached hashes prefix + key, and a too long one as hash 0 */
    char buf[LIBMEMCACHED_MAX_KEY];
    if (p->prefix_len + len > LIBMEMCACHED_MAX_KEY - 1)
        return placement_continuum_find(&p->ring, 0);
    memcpy(buf, p->prefix, p->prefix_len);
    memcpy(buf + p->prefix_len, key, len);
    return placement_continuum_find(&p->ring, placement_md5_hash(buf, p->prefix_len + len));
}

/* libmemcached's float arithmetic, step by step, so that the counts match. */
static uint32_t points_of(unsigned weight, uint64_t total_weight, uint32_t nservers)
{
    float pct = (float)weight / (float)total_weight;
    float quarter = pct * (float)LIBMEMCACHED_POINTS_PER_SERVER / 4.0f * (float)nservers;
    return (uint32_t)(floorf(quarter + 0.0000000001F) * 4.0f);
}

static int add_server_points(key_placement *p, const key_placement_server *s, uint32_t index,
                             uint32_t npoints, char *errstr, size_t errstr_size)
{
    char name[1100];
    for (uint32_t i = 0; i < npoints / 4; i++) {
        int len = s->port == LIBMEMCACHED_DEFAULT_PORT
                      ? snprintf(name, sizeof(name), "%s-%u", s->host, i)
                      : snprintf(name, sizeof(name), "%s:%u-%u", s->host, s->port, i);
        if (len < 0 || (size_t)len >= sizeof(name))
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "server name too long: %s",
                              s->host);
        placement_md5_points_add(&p->ring, name, (size_t)len, index);
    }
    return MCSQ_OK;
}

int placement_libmemcached_build(key_placement *p, const key_placement_server *servers,
                                 char *errstr, size_t errstr_size)
{
    uint64_t total = 0;
    uint64_t npoints = 0;
    for (uint32_t i = 0; i < p->nservers; i++)
        total += key_placement_weight(&servers[i]);
    for (uint32_t i = 0; i < p->nservers; i++)
        npoints += points_of(key_placement_weight(&servers[i]), total, p->nservers);
    if (npoints == 0 || npoints > UINT32_MAX)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "the weights leave no point on the continuum");
    int rc = placement_continuum_init(&p->ring, (size_t)npoints);
    for (uint32_t i = 0; i < p->nservers && rc == MCSQ_OK; i++) {
        uint32_t n = points_of(key_placement_weight(&servers[i]), total, p->nservers);
        rc = add_server_points(p, &servers[i], i, n, errstr, errstr_size);
    }
    if (rc == MCSQ_OK)
        rc = placement_continuum_sort(&p->ring);
    p->lookup = lookup;
    return rc;
}
