/*
 * The `spymemcached` mode (spymemcached 2.12.3 KetamaConnectionFactory:
 * KetamaNodeLocator, KETAMA_HASH, the SPYMEMCACHED node key format). A
 * server is named as Java prints its socket address without the leading
 * '/': "address:port" for an address, "name/address:port" for a host name
 * (the address it resolves to; the port is always written). Each server
 * gets 160 points (with weights, floor(share * 40 * servers) * 4), four per
 * MD5("name-i"); a key is MD5'd (the first four bytes, little endian) and
 * belongs to the first point at or after it. On equal points the server
 * added last wins (a Java map keeps the last put). The client has no
 * prefix option, so the pool prefix is part of the key it hashes.
 */
#include "core/errstr.h"
#include "marker/key_placement_internal.h"
#include "mcsqueal/error.h"

#include <arpa/inet.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPY_POINTS_PER_SERVER 160

static uint32_t lookup(const key_placement *p, const char *key, size_t len)
{
    char buf[KEY_PLACEMENT_STACK_KEY], *heap;
    size_t n;
    const char *in = key_placement_hash_input(p, true, key, len, buf, &heap, &n);
    uint32_t server = placement_continuum_find(&p->ring, placement_md5_hash(in, n));
    free(heap);
    return server;
}

/* "address:port" or "name/address:port" into name. */
static int node_name(const key_placement_server *s, char *name, size_t size, char *errstr,
                     size_t errstr_size)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, s->host, &a4) == 1) {
        snprintf(name, size, "%s:%u", s->host, s->port);
        return MCSQ_OK;
    }
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(s->host, NULL, &hints, &res) != 0 || res == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "placement spymemcached: %s does not resolve to an IPv4 address "
                          "(the client names servers by their address)",
                          s->host);
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, sizeof(addr));
    freeaddrinfo(res);
    snprintf(name, size, "%s/%s:%u", s->host, addr, s->port);
    return MCSQ_OK;
}

static bool weighted(const key_placement *p, const key_placement_server *servers)
{
    for (uint32_t i = 0; i < p->nservers; i++)
        if (servers[i].weight > 1)
            return true;
    return false;
}

/* KetamaNodeLocator's repetitions with weights: float share, double floor. */
static uint32_t reps_of(unsigned weight, unsigned total, uint32_t nservers)
{
    float percent = (float)weight / (float)total;
    return (uint32_t)(int)floor(
               (double)(percent * (float)SPY_POINTS_PER_SERVER / 4 * (float)nservers) +
               0.0000000001) *
           4;
}

int placement_spymemcached_build(key_placement *p, const key_placement_server *servers,
                                 char *errstr, size_t errstr_size)
{
    bool w = weighted(p, servers);
    unsigned total = 0;
    size_t npoints = 0;
    for (uint32_t i = 0; i < p->nservers; i++)
        total += key_placement_weight(&servers[i]);
    for (uint32_t i = 0; i < p->nservers; i++)
        npoints += w ? reps_of(key_placement_weight(&servers[i]), total, p->nservers)
                     : SPY_POINTS_PER_SERVER;
    int rc = placement_continuum_init(&p->ring, npoints);
    for (uint32_t i = 0; i < p->nservers && rc == MCSQ_OK; i++) {
        char name[400], point[420];
        rc = node_name(&servers[i], name, sizeof(name), errstr, errstr_size);
        uint32_t reps = w ? reps_of(key_placement_weight(&servers[i]), total, p->nservers)
                          : SPY_POINTS_PER_SERVER;
        for (uint32_t r = 0; r < reps / 4 && rc == MCSQ_OK; r++) {
            int len = snprintf(point, sizeof(point), "%s-%u", name, r);
            placement_md5_points_add(&p->ring, point, (size_t)len, i);
        }
    }
    if (rc == MCSQ_OK && p->ring.n == 0)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                        "the weights leave no point on the continuum");
    if (rc == MCSQ_OK)
        rc = placement_continuum_sort(&p->ring);
    if (rc == MCSQ_OK)
        placement_continuum_keep_last(&p->ring);
    p->lookup = lookup;
    return rc;
}
