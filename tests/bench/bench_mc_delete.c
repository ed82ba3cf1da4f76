/*
 * Delete benchmark: how fast the pool deleter (invalidator/mc_pool.h) gets
 * deletes confirmed by two memcached servers, against the raw ceiling
 * measured in the same run: a bare libmemcached loop of noreply, buffered,
 * binary-protocol deletes with the same placement (KETAMA_WEIGHTED), which
 * confirms nothing. Prints keys/s of each and the ratio; targets: at least
 * 1M confirmed deletes/s and 0.3x the raw ceiling. Not part of the
 * pass/fail test run.
 *
 * Runs:
 *   raw           libmemcached loop over existing keys, flush, one round trip
 *                 per server at the end (the ceiling)
 *   raw-default   the same with libmemcached's default placement (modula,
 *                 one-at-a-time hash): what hashing costs, for reference
 *   pool          mc_pool_delete_batch() in batches, every key confirmed
 *   pool-misses   the same for keys that are not cached (the common case for
 *                 invalidations: memcached answers every one "Not found")
 *   raw-misses    the libmemcached loop over missing keys: its unread "Not
 *                 found" replies stall it (shown, not a ceiling)
 *
 * Usage: bench_mc_delete [HOST:PORT HOST:PORT]
 *   without servers, two throwaway memcached (-m 512) are started and stopped
 * Environment:
 *   BENCH_KEYS=2000000   keys per run
 *   BENCH_BATCH=10000    keys per mc_pool batch
 *   BENCH_RUNS=3         runs of each kind; the best is reported
 *   BENCH_RAW_MISSES=1000000 keys of the raw-misses run (0: skip it)
 * Exit code: 0 when the benchmark ran (whatever the numbers), 1 on failure.
 */
#include "memcached_server.h"

#include "core/config.h"
#include "invalidator/mc_pool.h"
#include "mcsqueal/error.h"

#include <libmemcached/memcached.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define NSERVERS 2
#define KEY_LEN 32
#define ERR_MAX 2048

typedef struct bench {
    mcsq_hostport hp[NSERVERS];
    memcached_server *own[NSERVERS]; /* started here, or NULL */
    size_t nkeys;
    size_t batch;
    int runs;
    size_t raw_misses;
    mcsq_key *keys;
    char *key_text;
} bench;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) this process has used. */
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
    return v != NULL && v[0] != '\0' ? strtol(v, NULL, 10) : def;
}

static void die(const char *msg)
{
    fprintf(stderr, "bench_mc_delete: %s\n", msg);
    exit(1);
}

/* Keys "<stem><i>", one allocation. */
static void keys_fill(bench *b, const char *stem)
{
    for (size_t i = 0; i < b->nkeys; i++) {
        char *k = b->key_text + i * KEY_LEN;
        int len = snprintf(k, KEY_LEN, "%s%zu", stem, i);
        b->keys[i] = (mcsq_key){.data = k, .len = (uint32_t)len};
    }
}

/* ---- libmemcached clients ---- */

/* A client as docs/memcached.md configures applications; with `fast`:
 * binary protocol, noreply, buffered requests. default_placement keeps
 * libmemcached's defaults instead of KETAMA_WEIGHTED. */
static memcached_st *client(const bench *b, bool fast, bool default_placement)
{
    memcached_st *mc = memcached_create(NULL);
    if (mc == NULL)
        die("memcached_create failed");
    if (!default_placement)
        (void)memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    for (int i = 0; i < NSERVERS; i++)
        (void)memcached_server_add(mc, b->hp[i].host, (in_port_t)b->hp[i].port);
    (void)memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 1000);
    if (fast) {
        (void)memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
        (void)memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_NOREPLY, 1);
        (void)memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
    }
    return mc;
}

/* Waits until each server has processed what mc sent: a get over the same
 * connection (a binary mget ends with a NOOP round trip). Only valid when no
 * quiet request failed (a failure's reply would be read as the get's). */
static void sync_servers(memcached_st *mc, const bench *b)
{
    unsigned seen = 0;
    for (size_t i = 0; i < b->nkeys && seen != (1u << NSERVERS) - 1; i++) {
        uint32_t s = memcached_generate_hash(mc, b->keys[i].data, b->keys[i].len);
        if (seen & (1u << s))
            continue;
        seen |= 1u << s;
        size_t len;
        uint32_t flags;
        memcached_return_t rc;
        free(memcached_get(mc, b->keys[i].data, b->keys[i].len, &len, &flags, &rc));
    }
}

/* How many of every 97th key are still stored (a sample). */
static size_t sample_present(const bench *b, bool default_placement)
{
    memcached_st *mc = client(b, false, default_placement);
    size_t n = 0;
    for (size_t i = 0; i < b->nkeys; i += 97) {
        size_t len;
        uint32_t flags;
        memcached_return_t rc;
        char *v = memcached_get(mc, b->keys[i].data, b->keys[i].len, &len, &flags, &rc);
        n += v != NULL;
        free(v);
    }
    memcached_free(mc);
    return n;
}

/* Stores every key (noreply, buffered), waits until the servers have them,
 * checks a sample. */
static void populate(const bench *b, bool default_placement)
{
    memcached_st *mc = client(b, true, default_placement);
    for (size_t i = 0; i < b->nkeys; i++)
        (void)memcached_set(mc, b->keys[i].data, b->keys[i].len, "v", 1, 0, 0);
    (void)memcached_flush_buffers(mc);
    sync_servers(mc, b);
    memcached_free(mc);
    if (sample_present(b, default_placement) != (b->nkeys + 96) / 97)
        die("populate: stored keys are missing (memcached too small?)");
}

/* ---- runs ---- */

/* The bare libmemcached loop, then a flush and (with `sync`) one round trip
 * per server, so that the time covers memcached's work as the pool's does.
 * Returns keys/s; counts the calls that failed into *errors. */
static double run_raw(const bench *b, bool default_placement, bool sync, size_t n, size_t *errors)
{
    memcached_st *mc = client(b, true, default_placement);
    *errors = 0;
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        memcached_return_t rc = memcached_delete(mc, b->keys[i].data, b->keys[i].len, 0);
        *errors += rc != MEMCACHED_BUFFERED && rc != MEMCACHED_SUCCESS;
    }
    *errors += memcached_flush_buffers(mc) != MEMCACHED_SUCCESS;
    if (sync)
        sync_servers(mc, b);
    double t = now_s() - t0;
    memcached_free(mc);
    return (double)n / t;
}

/* mc_pool in batches. Returns confirmed keys/s; *failed counts the others. */
static double run_pool(const bench *b, size_t *failed)
{
    mcsq_pool_config cfg = {
        .name = "bench", .servers = {.v = (mcsq_hostport *)b->hp, .n = NSERVERS}, .prefix = ""};
    mc_pool *pool = NULL;
    char err[ERR_MAX];
    if (mc_pool_new(&pool, &cfg, NULL, err, sizeof(err)) != 0)
        die(err);
    uint8_t *outcome = malloc(b->batch);
    if (outcome == NULL)
        die("out of memory");
    mc_pool_results res = {.outcome = outcome};
    size_t confirmed = 0;
    double t0 = now_s();
    for (size_t i = 0; i < b->nkeys; i += b->batch) {
        size_t n = b->nkeys - i < b->batch ? b->nkeys - i : b->batch;
        (void)mc_pool_delete_batch(pool, b->keys + i, n, &res);
        confirmed += res.confirmed;
    }
    double t = now_s() - t0;
    *failed = b->nkeys - confirmed;
    free(outcome);
    mc_pool_destroy(pool);
    return (double)confirmed / t;
}

/* Best of b->runs: populate (unless misses), run, check. */
static double best_raw(bench *b, bool default_placement)
{
    double best = 0;
    for (int r = 0; r < b->runs; r++) {
        size_t errors;
        populate(b, default_placement);
        double c0 = cpu_s();
        double v = run_raw(b, default_placement, true, b->nkeys, &errors);
        double c = cpu_s() - c0;
        size_t left = sample_present(b, default_placement);
        printf("  %-12s run %d: %10.0f keys/s  %4.0f ns CPU/key here  (%zu call errors, %zu "
               "sampled keys left)\n",
               default_placement ? "raw-default" : "raw", r + 1, v, c * 1e9 / (double)b->nkeys,
               errors, left);
        best = v > best ? v : best;
    }
    return best;
}

static double best_pool(bench *b, bool misses)
{
    double best = 0;
    for (int r = 0; r < b->runs; r++) {
        size_t failed;
        if (!misses)
            populate(b, false);
        double c0 = cpu_s();
        double v = run_pool(b, &failed);
        double c = cpu_s() - c0;
        size_t left = sample_present(b, false);
        printf("  %-12s run %d: %10.0f keys/s  %4.0f ns CPU/key here  (%zu not confirmed, %zu "
               "sampled keys left)\n",
               misses ? "pool-misses" : "pool", r + 1, v, c * 1e9 / (double)b->nkeys, failed, left);
        if (failed != 0 || left != 0)
            die("mc_pool did not delete every key");
        best = v > best ? v : best;
    }
    return best;
}

static void raw_misses(bench *b)
{
    size_t errors, n = b->raw_misses < b->nkeys ? b->raw_misses : b->nkeys;
    if (n == 0)
        return;
    keys_fill(b, "bench:absent:");
    double t0 = now_s();
    double v = run_raw(b, false, false, n, &errors);
    printf("  %-12s       %10.0f keys/s  over %zu missing keys: %zu calls failed (timeouts: "
           "unread \"Not found\" replies fill the socket buffers), %.1f s\n",
           "raw-misses", v, n, errors, now_s() - t0);
}

/* ---- servers ---- */

static void servers_from_args(bench *b, int argc, char **argv)
{
    for (int i = 0; i < NSERVERS; i++) {
        char err[256];
        if (mcsq_hostport_parse(argv[1 + i], strlen(argv[1 + i]), &b->hp[i], err, sizeof(err)) != 0)
            die(err);
    }
    (void)argc;
}

static void servers_start(bench *b)
{
    for (int i = 0; i < NSERVERS; i++) {
        char err[ERR_MAX];
        if (memcached_server_start(&b->own[i], 0, 512, err, sizeof(err)) != 0)
            die(err);
        b->hp[i] = (mcsq_hostport){.host = "127.0.0.1", .port = b->own[i]->port};
    }
}

static void report(const bench *b, double raw, double raw_default, double pool, double misses)
{
    printf("\nbench_mc_delete: %zu keys, 2 servers (%s:%d %s:%d), batches of %zu, best of %d\n",
           b->nkeys, b->hp[0].host, b->hp[0].port, b->hp[1].host, b->hp[1].port, b->batch, b->runs);
    printf("  raw ceiling (libmemcached noreply loop, KETAMA_WEIGHTED): %10.0f keys/s\n", raw);
    printf("  raw, libmemcached default placement (reference):         %10.0f keys/s\n",
           raw_default);
    printf("  mc_pool, confirmed (existing keys):                       %10.0f keys/s\n", pool);
    printf("  mc_pool, confirmed (missing keys):                        %10.0f keys/s\n", misses);
    printf("  ratio mc_pool / raw ceiling: %.2fx (target >= 0.30x: %s); misses: %.2fx\n",
           pool / raw, pool >= 0.3 * raw ? "met" : "NOT met", misses / raw);
    printf("  >= 1M confirmed deletes/s: existing keys %s, missing keys %s\n",
           pool >= 1e6 ? "met" : "NOT met", misses >= 1e6 ? "met" : "NOT met");
}

int main(int argc, char **argv)
{
    bench b = {.nkeys = (size_t)env_long("BENCH_KEYS", 2000000),
               .batch = (size_t)env_long("BENCH_BATCH", 10000),
               .runs = (int)env_long("BENCH_RUNS", 3),
               .raw_misses = (size_t)env_long("BENCH_RAW_MISSES", 1000000)};
    if (argc != 1 && argc != NSERVERS + 1)
        die("usage: bench_mc_delete [HOST:PORT HOST:PORT]");
    if (b.nkeys == 0 || b.batch == 0 || b.runs <= 0)
        die("BENCH_KEYS, BENCH_BATCH and BENCH_RUNS must be positive");
    b.keys = calloc(b.nkeys, sizeof(*b.keys));
    b.key_text = malloc(b.nkeys * KEY_LEN);
    if (b.keys == NULL || b.key_text == NULL)
        die("out of memory");
    if (argc == 1)
        servers_start(&b);
    else
        servers_from_args(&b, argc, argv);
    keys_fill(&b, "bench:user:");
    double raw = best_raw(&b, false), raw_default = best_raw(&b, true);
    double pool = best_pool(&b, false);
    keys_fill(&b, "bench:absent:");
    double misses = best_pool(&b, true);
    raw_misses(&b);
    report(&b, raw, raw_default, pool, misses);
    for (int i = 0; i < NSERVERS; i++)
        memcached_server_stop(b.own[i]);
    free(b.keys);
    free(b.key_text);
    return 0;
}
