/*
 * Delete benchmark: how fast the pool deleter (invalidator/mc_pool.h) gets
 * deletes confirmed by two memcached servers, against the meta ceiling
 * measured in the same run: a bare pipelined loop of `md <key> q` ... `mn`
 * on the same servers (each key to its server, placed before the clock
 * starts: no placement, no opaques, no outcome per key), for cached and for
 * missing keys. Prints keys/s of each
 * and the ratios; pass: mc_pool >= 0.8x the meta ceiling for both (the
 * absolute aim is 2M confirmed deletes/s). Not part of the pass/fail test
 * run.
 *
 * Runs:
 *   meta          the meta ceiling over existing keys, in batches like the
 *                 pool's, each ended by `mn` per server
 *   meta-misses   the meta ceiling over missing keys (memcached answers each
 *                 "NF")
 *   raw           libmemcached loop of binary noreply deletes over existing
 *                 keys, flush, one round trip per server at the end (the
 *                 former ceiling, for reference)
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

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

/* ---- the meta ceiling ---- */

#define META_IN 65536

/* One server's connection and pipeline in the meta ceiling. */
typedef struct meta_conn {
    int fd;
    char *out;
    size_t len, cap, off;
    char in[META_IN];
    size_t in_len;
    bool done; /* MN read */
} meta_conn;

static void meta_append(meta_conn *c, const char *p, size_t n)
{
    if (c->cap - c->len < n) {
        c->cap = (c->cap + n) * 2;
        c->out = realloc(c->out, c->cap);
        if (c->out == NULL)
            die("out of memory");
    }
    memcpy(c->out + c->len, p, n);
    c->len += n;
}

static void meta_connect(meta_conn *c, const mcsq_hostport *hp)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)hp->port)};
    int one = 1;
    memset(c, 0, sizeof(*c));
    if (inet_pton(AF_INET, hp->host, &sa.sin_addr) != 1)
        die("the meta ceiling needs IPv4 addresses");
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("meta ceiling: cannot connect");
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    (void)fcntl(c->fd, F_SETFL, O_NONBLOCK);
}

/* Reads what c's server answered: counts NF lines into *nf, sets done at
 * MN; anything else is a failure. */
static void meta_read(meta_conn *c, size_t *nf)
{
    ssize_t n = recv(c->fd, c->in + c->in_len, META_IN - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0)
        die("meta ceiling: connection lost");
    c->in_len += (size_t)n;
    size_t pos = 0;
    char *nl;
    while ((nl = memchr(c->in + pos, '\n', c->in_len - pos)) != NULL) {
        size_t len = (size_t)(nl - (c->in + pos)) + 1;
        if (len == 4 && memcmp(c->in + pos, "NF\r\n", 4) == 0)
            ++*nf;
        else if (len == 4 && memcmp(c->in + pos, "MN\r\n", 4) == 0)
            c->done = true;
        else
            die("meta ceiling: unexpected reply");
        pos += len;
    }
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
}

/* Writes and reads every connection until each has answered its MN. */
static void meta_flush(meta_conn *conns, size_t *nf)
{
    struct pollfd pfd[NSERVERS];
    for (;;) {
        int k = 0;
        for (int i = 0; i < NSERVERS; i++) {
            if (conns[i].done)
                continue;
            pfd[k++] = (struct pollfd){
                .fd = conns[i].fd,
                .events = (short)(POLLIN | (conns[i].off < conns[i].len ? POLLOUT : 0))};
        }
        if (k == 0)
            return;
        if (poll(pfd, (nfds_t)k, 5000) <= 0)
            die("meta ceiling: no answer within 5 s");
        for (int j = 0, i = 0; j < k; i++) {
            meta_conn *c = &conns[i];
            if (c->done)
                continue;
            if ((pfd[j].revents & POLLOUT) && c->off < c->len) {
                ssize_t n = send(c->fd, c->out + c->off, c->len - c->off, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                    die("meta ceiling: send failed");
                c->off += n > 0 ? (size_t)n : 0;
            }
            if (pfd[j].revents & (POLLIN | POLLERR | POLLHUP))
                meta_read(c, nf);
            j++;
        }
    }
}

/* The bare meta loop: batches of b->batch keys, `md <key> q` each to its
 * server (placed before the clock starts: the loop does no placement), then
 * `mn` per server. Returns keys/s; *nf counts the NF answers (the keys that
 * were not cached). */
static double run_meta(const bench *b, size_t *nf)
{
    meta_conn conns[NSERVERS];
    uint8_t *owner = malloc(b->nkeys);
    memcached_st *mc = client(b, false, false);
    if (owner == NULL)
        die("out of memory");
    for (size_t i = 0; i < b->nkeys; i++)
        owner[i] = (uint8_t)memcached_generate_hash(mc, b->keys[i].data, b->keys[i].len);
    memcached_free(mc);
    for (int i = 0; i < NSERVERS; i++)
        meta_connect(&conns[i], &b->hp[i]);
    *nf = 0;
    double t0 = now_s();
    for (size_t i = 0; i < b->nkeys; i += b->batch) {
        size_t n = b->nkeys - i < b->batch ? b->nkeys - i : b->batch;
        for (size_t j = 0; j < n; j++) {
            meta_conn *c = &conns[owner[i + j]];
            meta_append(c, "md ", 3);
            meta_append(c, b->keys[i + j].data, b->keys[i + j].len);
            meta_append(c, " q\r\n", 4);
        }
        for (int s = 0; s < NSERVERS; s++)
            meta_append(&conns[s], "mn\r\n", 4);
        meta_flush(conns, nf);
        for (int s = 0; s < NSERVERS; s++)
            conns[s].len = conns[s].off = 0, conns[s].done = false;
    }
    double t = now_s() - t0;
    for (int i = 0; i < NSERVERS; i++) {
        close(conns[i].fd);
        free(conns[i].out);
    }
    free(owner);
    return (double)b->nkeys / t;
}

static double best_meta(bench *b, bool misses)
{
    double best = 0;
    for (int r = 0; r < b->runs; r++) {
        size_t nf;
        if (!misses)
            populate(b, false);
        double c0 = cpu_s();
        double v = run_meta(b, &nf);
        double c = cpu_s() - c0;
        size_t left = sample_present(b, false);
        printf("  %-12s run %d: %10.0f keys/s  %4.0f ns CPU/key here  (%zu not found, %zu "
               "sampled keys left)\n",
               misses ? "meta-misses" : "meta", r + 1, v, c * 1e9 / (double)b->nkeys, nf, left);
        if (left != 0 || (misses ? nf != b->nkeys : nf != 0))
            die("the meta ceiling did not delete every key");
        best = v > best ? v : best;
    }
    return best;
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

typedef struct figures {
    double meta, meta_misses, raw, raw_default, pool, pool_misses;
} figures;

static void report(const bench *b, const figures *f)
{
    printf("\nbench_mc_delete: %zu keys, 2 servers (%s:%d %s:%d), batches of %zu, best of %d\n",
           b->nkeys, b->hp[0].host, b->hp[0].port, b->hp[1].host, b->hp[1].port, b->batch, b->runs);
    printf("  meta ceiling (md q ... mn loop, no placement), cached keys: %10.0f keys/s\n",
           f->meta);
    printf("  meta ceiling, missing keys:                                %10.0f keys/s\n",
           f->meta_misses);
    printf("  mc_pool, confirmed, cached keys:                           %10.0f keys/s\n", f->pool);
    printf("  mc_pool, confirmed, missing keys:                          %10.0f keys/s\n",
           f->pool_misses);
    printf("  raw libmemcached binary noreply loop (reference):          %10.0f keys/s\n", f->raw);
    printf("  raw, libmemcached default placement (reference):           %10.0f keys/s\n",
           f->raw_default);
    printf("  mc_pool / meta ceiling, cached keys:  %.2fx (>= 0.80x: %s)\n", f->pool / f->meta,
           f->pool >= 0.8 * f->meta ? "PASS" : "FAIL");
    printf("  mc_pool / meta ceiling, missing keys: %.2fx (>= 0.80x: %s)\n",
           f->pool_misses / f->meta_misses,
           f->pool_misses >= 0.8 * f->meta_misses ? "PASS" : "FAIL");
    printf("  2M confirmed deletes/s (aim, information): cached %s, missing %s\n",
           f->pool >= 2e6 ? "reached" : "not reached",
           f->pool_misses >= 2e6 ? "reached" : "not reached");
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
    figures f;
    keys_fill(&b, "bench:user:");
    f.meta = best_meta(&b, false);
    f.pool = best_pool(&b, false);
    f.raw = best_raw(&b, false);
    f.raw_default = best_raw(&b, true);
    keys_fill(&b, "bench:absent:");
    f.meta_misses = best_meta(&b, true);
    f.pool_misses = best_pool(&b, true);
    raw_misses(&b);
    report(&b, &f);
    for (int i = 0; i < NSERVERS; i++)
        memcached_server_stop(b.own[i]);
    free(b.keys);
    free(b.key_text);
    return 0;
}
