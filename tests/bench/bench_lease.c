/*
 * Lease benchmark: what a hit costs through the lease API
 * (mcsq_lease_get(), `mg <key> v c N<ttl>` on the meta protocol) against a
 * plain get (libmemcached's memcached_get(), the text protocol `get`, as
 * applications configure it in docs/memcached.md), measured in the same run
 * on the same memcached, the same keys and values, one connection each, one
 * request at a time (what a request handler does). Prints gets/s, the client's
 * CPU per get, and the ratio; target: the lease hit at least 0.8x the plain
 * get's rate. Runs alternate (plain, lease, plain, ...) so that a busy moment
 * of the machine hits both; the best run of each is reported.
 *
 * Usage: bench_lease [HOST:PORT]
 *   without a server, a throwaway memcached is started and stopped
 * Environment:
 *   BENCH_GETS=200000   gets per run
 *   BENCH_KEYS=1000     distinct keys (all cached)
 *   BENCH_VALUE=100     value bytes
 *   BENCH_RUNS=3        runs of each kind
 * Exit code: 0 when the ratio meets the target, 1 when not or on failure.
 */
#include "memcached_server.h"

#include "mcsqueal/lease.h"

#include <libmemcached/memcached.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define KEY_LEN 32
#define ERR_MAX 1024
#define TARGET_RATIO 0.8

typedef struct bench {
    char host[256];
    int port;
    char servers[300];
    memcached_server *own;
    long gets, nkeys, value_len;
    int runs;
    char (*keys)[KEY_LEN];
} bench;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? atol(v) : def;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_lease: %s: %s\n", what, why);
    exit(1);
}

static mcsq_lease_client *lease_client(const bench *b)
{
    mcsq_lease_options *o = NULL;
    mcsq_lease_client *c = NULL;
    char err[ERR_MAX];
    if (mcsq_lease_options_new(&o) != 0 ||
        mcsq_lease_options_set(o, "servers", b->servers, err, sizeof(err)) != 0 ||
        mcsq_lease_client_new(&c, o, err, sizeof(err)) != 0)
        die("lease client", err);
    mcsq_lease_options_destroy(o);
    return c;
}

static memcached_st *plain_client(const bench *b)
{
    memcached_st *mc = memcached_create(NULL);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    if (memcached_failed(memcached_server_add(mc, b->host, (in_port_t)b->port)))
        die("libmemcached", "cannot add the server");
    return mc;
}

/* Caches every key under a lease (fresh items, as a lease reader finds them). */
static void populate(const bench *b)
{
    mcsq_lease_client *c = lease_client(b);
    char *value = malloc((size_t)b->value_len), err[ERR_MAX];
    memset(value, 'v', (size_t)b->value_len);
    for (long i = 0; i < b->nkeys; i++) {
        const char *k = b->keys[i], *v;
        size_t vlen;
        uint64_t lease;
        mcsq_lease_status st;
        int stored = 0;
        if (mcsq_lease_get(c, k, strlen(k), &st, &v, &vlen, &lease, err, sizeof(err)) != 0)
            die("populate", err);
        if (st == MCSQ_LEASE_HIT)
            continue;
        if (mcsq_lease_fill(c, k, strlen(k), lease, value, (size_t)b->value_len, 0, &stored, err,
                            sizeof(err)) != 0 ||
            !stored)
            die("populate", stored ? err : "not stored");
    }
    free(value);
    mcsq_lease_client_destroy(c);
}

static double run_plain(const bench *b, double *cpu_ns)
{
    memcached_st *mc = plain_client(b);
    double t0 = now_s(), c0 = cpu_s();
    for (long i = 0; i < b->gets; i++) {
        const char *k = b->keys[i % b->nkeys];
        size_t vlen;
        uint32_t flags;
        memcached_return_t rc;
        char *v = memcached_get(mc, k, strlen(k), &vlen, &flags, &rc);
        if (v == NULL || vlen != (size_t)b->value_len)
            die("plain get", memcached_strerror(mc, rc));
        free(v);
    }
    double dt = now_s() - t0;
    *cpu_ns = (cpu_s() - c0) / (double)b->gets * 1e9;
    memcached_free(mc);
    return (double)b->gets / dt;
}

static double run_lease(const bench *b, double *cpu_ns)
{
    mcsq_lease_client *c = lease_client(b);
    char err[ERR_MAX];
    double t0 = now_s(), c0 = cpu_s();
    for (long i = 0; i < b->gets; i++) {
        const char *k = b->keys[i % b->nkeys], *v;
        size_t vlen;
        uint64_t lease;
        mcsq_lease_status st;
        if (mcsq_lease_get(c, k, strlen(k), &st, &v, &vlen, &lease, err, sizeof(err)) != 0)
            die("lease get", err);
        if (st != MCSQ_LEASE_HIT || vlen != (size_t)b->value_len)
            die("lease get", "not a hit");
    }
    double dt = now_s() - t0;
    *cpu_ns = (cpu_s() - c0) / (double)b->gets * 1e9;
    mcsq_lease_client_destroy(c);
    return (double)b->gets / dt;
}

static void setup(bench *b, int argc, char **argv)
{
    char err[ERR_MAX];
    b->gets = env_long("BENCH_GETS", 200000);
    b->nkeys = env_long("BENCH_KEYS", 1000);
    b->value_len = env_long("BENCH_VALUE", 100);
    b->runs = (int)env_long("BENCH_RUNS", 3);
    if (b->gets <= 0 || b->nkeys <= 0 || b->value_len <= 0 || b->runs <= 0)
        die("environment", "BENCH_GETS, BENCH_KEYS, BENCH_VALUE, BENCH_RUNS must be positive");
    if (argc > 1) {
        const char *colon = strrchr(argv[1], ':');
        if (colon == NULL || (size_t)(colon - argv[1]) >= sizeof(b->host))
            die(argv[1], "expected HOST:PORT");
        memcpy(b->host, argv[1], (size_t)(colon - argv[1]));
        b->port = atoi(colon + 1);
    } else {
        if (memcached_server_start(&b->own, 0, 64, err, sizeof(err)) != 0)
            die("memcached", err);
        snprintf(b->host, sizeof(b->host), "127.0.0.1");
        b->port = b->own->port;
    }
    snprintf(b->servers, sizeof(b->servers), "%s:%d", b->host, b->port);
    b->keys = calloc((size_t)b->nkeys, KEY_LEN);
    if (b->keys == NULL)
        die("keys", "out of memory");
    for (long i = 0; i < b->nkeys; i++)
        snprintf(b->keys[i], KEY_LEN, "bench:lease:%ld", i);
}

int main(int argc, char **argv)
{
    bench b = {0};
    setup(&b, argc, argv);
    populate(&b);
    double best_plain = 0, best_lease = 0, cpu_plain = 0, cpu_lease = 0;
    for (int r = 0; r < b.runs; r++) {
        double cp, cl, p = run_plain(&b, &cp), l = run_lease(&b, &cl);
        printf("  run %d: plain get %8.0f gets/s (%5.0f ns CPU/get here), lease hit %8.0f gets/s "
               "(%5.0f ns CPU/get here)\n",
               r + 1, p, cp, l, cl);
        if (p > best_plain)
            best_plain = p, cpu_plain = cp;
        if (l > best_lease)
            best_lease = l, cpu_lease = cl;
    }
    double ratio = best_lease / best_plain;
    printf("\nbench_lease: %ld gets per run over %ld keys of %ld bytes, memcached %s, best of %d\n",
           b.gets, b.nkeys, b.value_len, b.servers, b.runs);
    printf("  plain get (libmemcached memcached_get, text protocol): %8.0f gets/s, %5.0f ns "
           "CPU/get in the client\n",
           best_plain, cpu_plain);
    printf("  lease hit (mcsq_lease_get, meta mg v c N):             %8.0f gets/s, %5.0f ns "
           "CPU/get in the client\n",
           best_lease, cpu_lease);
    printf("  ratio lease hit / plain get: %.2fx (target >= %.2fx: %s)\n", ratio, TARGET_RATIO,
           ratio >= TARGET_RATIO ? "met" : "NOT met");
    memcached_server_stop(b.own);
    free(b.keys);
    return ratio >= TARGET_RATIO ? 0 : 1;
}
