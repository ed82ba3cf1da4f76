/*
 * Placement cost per key: key_placement_server_of() in each mode, against
 * the libmemcached mode and against libmemcached's own
 * memcached_generate_hash() measured in the same run, for pools of 3 and
 * 10 servers (weights 1..3). This is the part of the router's work that the
 * pool's `placement` changes; the rest (bus, wire, memcached) is the same
 * for every mode. Prints ns/key and the ratio to the libmemcached mode.
 * Usage: bench_placement [KEYS] (default 2,000,000 per mode and pool size;
 * best of 3 rounds).
 */
#include "marker/key_placement.h"
#include "mcsqueal/error.h"

#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 3
#define KEY_LEN 32

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* keys[i] is "user:<n>:profile" padded; all KEY_LEN bytes apart. */
static char *make_keys(size_t n, size_t *lens)
{
    char *keys = malloc(n * KEY_LEN);
    for (size_t i = 0; keys != NULL && i < n; i++)
        lens[i] = (size_t)snprintf(keys + i * KEY_LEN, KEY_LEN, "user:%zu:profile",
                                   i * 2654435761u % 100000007);
    return keys;
}

static double time_mode(const key_placement *p, const char *keys, const size_t *lens, size_t n,
                        uint64_t *sink)
{
    double best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (size_t i = 0; i < n; i++)
            *sink += key_placement_server_of(p, keys + i * KEY_LEN, lens[i]);
        double t = now_s() - t0;
        best = t < best ? t : best;
    }
    return best * 1e9 / (double)n;
}

static double time_libmemcached(const key_placement_server *s, size_t nservers, const char *keys,
                                const size_t *lens, size_t n, uint64_t *sink)
{
    memcached_st *mc = memcached_create(NULL);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    for (size_t i = 0; i < nservers; i++)
        memcached_server_add_with_weight(mc, s[i].host, (in_port_t)s[i].port, s[i].weight);
    double best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (size_t i = 0; i < n; i++)
            *sink += memcached_generate_hash(mc, keys + i * KEY_LEN, lens[i]);
        double t = now_s() - t0;
        best = t < best ? t : best;
    }
    memcached_free(mc);
    return best * 1e9 / (double)n;
}

static int run_pool(size_t nservers, const char *keys, const size_t *lens, size_t n)
{
    key_placement_server s[10];
    char hosts[10][32];
    for (size_t i = 0; i < nservers; i++) {
        snprintf(hosts[i], sizeof(hosts[i]), "10.0.0.%zu", i + 1);
        s[i] = (key_placement_server){hosts[i], 11211, (unsigned)(1 + i % 3)};
    }
    uint64_t sink = 0;
    double lib = time_libmemcached(s, nservers, keys, lens, n, &sink), base = 0;
    printf("%zu servers: libmemcached memcached_generate_hash: %.1f ns/key\n", nservers, lib);
    for (int m = 0; m < KEY_PLACEMENT_MODE_COUNT; m++) {
        key_placement *p;
        char err[256];
        unsigned kp = m == KEY_PLACEMENT_CACHE_MEMCACHED_FAST ? 150 : 0;
        bool weights = key_placement_mode_has_weights((key_placement_mode)m);
        key_placement_server w[10];
        for (size_t i = 0; i < nservers; i++)
            w[i] = (key_placement_server){s[i].host, s[i].port, weights ? s[i].weight : 1};
        if (key_placement_new(&p, (key_placement_mode)m, w, nservers, "", false, kp, err,
                              sizeof(err)) != MCSQ_OK) {
            fprintf(stderr, "bench_placement: %s\n", err);
            return 1;
        }
        double ns = time_mode(p, keys, lens, n, &sink);
        if (m == KEY_PLACEMENT_LIBMEMCACHED)
            base = ns;
        printf("  %-28s %7.1f ns/key  %5.2fx the libmemcached mode\n",
               key_placement_mode_name((key_placement_mode)m), ns, ns / base);
        key_placement_free(p);
    }
    return sink == 42 ? 1 : 0; /* keeps the loops */
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
    size_t *lens = malloc(n * sizeof(*lens));
    char *keys = lens != NULL ? make_keys(n, lens) : NULL;
    if (keys == NULL || n == 0)
        return 1;
    int rc = run_pool(3, keys, lens, n) || run_pool(10, keys, lens, n);
    free(keys);
    free(lens);
    return rc;
}
