/*
 * Auditor cost benchmark: confirmed deletes/s of the pool deleter
 * (invalidator/mc_pool.h) against two throwaway memcached, with the router's
 * audit hook (audit_batch() after each batch, as invalidator/router.c calls
 * it) at several settings, against no auditor in the same run, rounds
 * interleaved, each round starting with the next setting. The auditor's own thread runs meanwhile:
 * watermarks every 100 ms and checks after 200 ms and 1 s on the same servers, so its share of the
 * machine and of memcached is in the figure. Target: with sample_rate 1.0 at least 0.9x the
 * deletes/s without an auditor. Not part of the pass/fail test run.
 *
 * Usage: bench_audit_hook
 * Environment:
 *   BENCH_KEYS=2000000  keys per run (missing keys: every delete answers NF)
 *   BENCH_BATCH=100     keys per batch (a bus message's keys)
 *   BENCH_RUNS=5        rounds; the median of each setting is reported
 * Exit code: 0 when the benchmark ran (whatever the numbers), 1 on failure.
 */
#include "memcached_server.h"

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/metrics_defs.h"
#include "invalidator/audit.h"
#include "invalidator/mc_pool.h"
#include "mcsqueal/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSERVERS 2
#define NSETTINGS 4
#define MAX_RUNS 15

typedef struct setting {
    const char *name;
    const char *rate; /* NULL: no auditor */
    int64_t max_per_s;
} setting;

static const setting settings[NSETTINGS] = {
    {"off", NULL, 0},
    {"rate 0.001", "0.001", 100},
    {"rate 1, max 100/s", "1", 100},
    {"rate 1, max 100000/s", "1", 100000},
};

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? strtol(v, NULL, 10) : def;
}

static void die(const char *msg)
{
    fprintf(stderr, "bench_audit_hook: %s\n", msg);
    exit(1);
}

/* One run: n keys in batches through the pool, with the auditor of s.
 * Returns confirmed deletes per second. */
static double run(const mcsq_pool_config *pool, const setting *s, const mcsq_key *keys, size_t n,
                  size_t batch)
{
    char err[256];
    mcsq_config cfg;
    if (mcsq_config_defaults(&cfg) != MCSQ_OK)
        die("out of memory");
    free(cfg.audit.sample_rate);
    free(cfg.audit.delays_ms);
    cfg.audit.sample_rate = strdup(s->rate != NULL ? s->rate : "0");
    cfg.audit.delays_ms = strdup("200 1000");
    cfg.audit.max_checks_per_s = s->max_per_s > 0 ? s->max_per_s : 1;
    cfg.pools = (mcsq_pool_config *)pool;
    cfg.npools = 1;
    metrics_registry *reg = metrics_registry_new();
    metrics_defs defs;
    audit *a = NULL;
    mc_pool *mc = NULL;
    if (reg == NULL || metrics_defs_register(reg, "bench", &defs, err, sizeof(err)) != MCSQ_OK ||
        audit_new(&a, &cfg, &defs, err, sizeof(err)) != MCSQ_OK ||
        mc_pool_new(&mc, pool, NULL, err, sizeof(err)) != MCSQ_OK)
        die(err);
    uint8_t *outcome = malloc(batch);
    uint32_t *server = malloc(batch * sizeof(*server));
    if (outcome == NULL || server == NULL)
        die("out of memory");
    size_t confirmed = 0;
    int64_t t0 = clock_mono_us();
    for (size_t off = 0; off < n; off += batch) {
        size_t m = n - off < batch ? n - off : batch;
        mc_pool_results res = {outcome, server, 0, 0, 0};
        int64_t sent_us = clock_mono_us();
        mc_pool_delete_batch(mc, keys + off, m, &res);
        audit_batch(a, 0, keys + off, server, outcome, MC_POOL_CONFIRMED, m, sent_us);
        confirmed += res.confirmed;
    }
    double secs = (double)(clock_mono_us() - t0) / 1e6;
    if (confirmed != n)
        die("a delete was not confirmed");
    audit_destroy(a);
    mc_pool_destroy(mc);
    metrics_registry_destroy(reg);
    free(outcome);
    free(server);
    cfg.pools = NULL;
    cfg.npools = 0;
    mcsq_config_deinit(&cfg);
    return (double)n / secs;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(void)
{
    size_t n = (size_t)env_long("BENCH_KEYS", 2000000);
    size_t batch = (size_t)env_long("BENCH_BATCH", 100);
    long runs = env_long("BENCH_RUNS", 5);
    if (n == 0 || batch == 0 || runs < 1 || runs > MAX_RUNS)
        die("BENCH_KEYS, BENCH_BATCH must be positive, BENCH_RUNS 1..15");
    char err[256];
    log_set_level(LOG_LEVEL_WARN);
    memcached_server *srv[NSERVERS];
    mcsq_hostport hp[NSERVERS];
    for (int i = 0; i < NSERVERS; i++) {
        if (memcached_server_start(&srv[i], 0, 64, err, sizeof(err)) != 0)
            die(err);
        hp[i] = (mcsq_hostport){.host = "127.0.0.1", .port = srv[i]->port};
    }
    mcsq_pool_config pool = {.name = "main", .servers = {hp, NSERVERS}, .prefix = ""};
    mcsq_key *keys = calloc(n, sizeof(*keys));
    char *text = malloc(n * 16);
    if (keys == NULL || text == NULL)
        die("out of memory");
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(text + i * 16, 16, "user:%zu", i);
        keys[i] = (mcsq_key){text + i * 16, (uint32_t)len, 0};
    }
    double r[NSETTINGS][MAX_RUNS];
    for (long round = 0; round < runs; round++) {
        for (int i = 0; i < NSETTINGS; i++) { /* each round starts with another setting */
            int s = (int)((i + round) % NSETTINGS);
            r[s][round] = run(&pool, &settings[s], keys, n, batch);
        }
    }
    printf("audit hook: %zu missing keys per run in batches of %zu, 2 memcached, %ld round(s),\n"
           "median deletes/s (all rounds) and the ratio to \"off\":\n",
           n, batch, runs);
    double off = 0;
    for (int s = 0; s < NSETTINGS; s++) {
        double sorted[MAX_RUNS];
        memcpy(sorted, r[s], (size_t)runs * sizeof(double));
        qsort(sorted, (size_t)runs, sizeof(double), cmp_double);
        double median = sorted[runs / 2];
        off = s == 0 ? median : off;
        printf("  %-22s %10.0f/s  %.3fx  (", settings[s].name, median, median / off);
        for (long i = 0; i < runs; i++)
            printf("%s%.0f", i ? " " : "", r[s][i]);
        printf(")\n");
    }
    for (int i = 0; i < NSERVERS; i++)
        memcached_server_stop(srv[i]);
    free(keys);
    free(text);
    return 0;
}
