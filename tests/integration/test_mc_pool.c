/*
 * Integration tests of the pool deleter (invalidator/mc_pool.h) against
 * real, throwaway memcached servers (support/memcached_server.h).
 *
 * Keys are stored by an independent "application" client: libmemcached
 * configured exactly as docs/memcached.md tells applications to configure it.
 * What memcached holds is then checked server by server with the text
 * protocol over a plain socket, never through mc_pool or libmemcached, so
 * the tests see where keys really landed and whether they are really gone.
 * Faults are real: SIGSTOP (a partition), killed and restarted servers, a
 * server that speaks something else.
 *
 * MCSQ_TEST_FILTER=<test name> runs one test.
 */
#include "memcached_server.h"

#include "core/config.h"
#include "invalidator/mc_pool.h"
#include "marker/key_placement.h"
#include "mcsqueal/error.h"
#include "mcsqueal/marker.h"

#include <libmemcached/memcached.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "skip.h"

#define NSERVERS 2
#define TIMEOUT_MS 500 /* the pools' poll and connect timeouts in most tests */
#define KEY_MAX 300
#define ERR_MAX 2048

typedef struct fixture {
    mc_pool_invalidate mode; /* of every pool the test makes */
    memcached_server *srv[NSERVERS];
    mcsq_hostport hp[NSERVERS];
    mcsq_pool_config cfg;
    mc_pool *pool;
    memcached_st *app; /* the application's client */
} fixture;

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Keys "<stem><i>" for i in [from, from + n): one allocation, freed with keys_free(). */
static mcsq_key *keys_make(const char *stem, int from, int n)
{
    mcsq_key *keys = calloc((size_t)n, sizeof(*keys));
    char *text = malloc((size_t)n * 64);
    assert_non_null(keys);
    assert_non_null(text);
    for (int i = 0; i < n; i++) {
        char *k = text + (size_t)i * 64;
        int len = snprintf(k, 64, "%s%d", stem, from + i);
        keys[i] = (mcsq_key){.data = k, .len = (uint32_t)len};
    }
    return keys;
}

static void keys_free(mcsq_key *keys)
{
    if (keys != NULL)
        free((void *)keys[0].data);
    free(keys);
}

/* key as a C string, in buf. */
static const char *key_str(const mcsq_key *k, char *buf)
{
    snprintf(buf, KEY_MAX, "%.*s", (int)k->len, k->data);
    return buf;
}

/* ---- the application's client, configured as docs/memcached.md says ---- */

static memcached_st *app_client(const mcsq_pool_config *cfg, bool hash_with_prefix)
{
    memcached_st *mc = memcached_create(NULL);
    assert_non_null(mc);
    assert_int_equal(memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1),
                     MEMCACHED_SUCCESS);
    for (size_t i = 0; i < cfg->servers.n; i++)
        assert_int_equal(
            memcached_server_add(mc, cfg->servers.v[i].host, (in_port_t)cfg->servers.v[i].port),
            MEMCACHED_SUCCESS);
    if (cfg->prefix != NULL && cfg->prefix[0] != '\0')
        assert_int_equal(memcached_callback_set(mc, MEMCACHED_CALLBACK_PREFIX_KEY, cfg->prefix),
                         MEMCACHED_SUCCESS);
    if (hash_with_prefix)
        assert_int_equal(memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY, 1),
                         MEMCACHED_SUCCESS);
    (void)memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 5000);
    return mc;
}

static void app_set(memcached_st *mc, const mcsq_key *k)
{
    memcached_return_t rc = memcached_set(mc, k->data, k->len, "v", 1, 0, 0);
    if (rc != MEMCACHED_SUCCESS)
        fail_msg("app set %.*s: %s", (int)k->len, k->data, memcached_last_error_message(mc));
}

static void app_set_all(memcached_st *mc, const mcsq_key *keys, int n)
{
    for (int i = 0; i < n; i++)
        app_set(mc, &keys[i]);
}

/* ---- what the servers hold, over the text protocol ---- */

static int has(const memcached_server *srv, const char *key)
{
    int r = memcached_server_has(srv, key);
    assert_int_not_equal(r, -1);
    return r;
}

/* curr_items of a server, from `stats`. */
static long curr_items(const memcached_server *srv)
{
    static char buf[16384];
    assert_int_equal(memcached_server_command(srv, "stats", "END", buf, sizeof(buf)), 0);
    const char *p = strstr(buf, "STAT curr_items ");
    assert_non_null(p);
    return strtol(p + strlen("STAT curr_items "), NULL, 10);
}

static void text_set(const memcached_server *srv, const char *key)
{
    char line[KEY_MAX + 32], buf[256];
    snprintf(line, sizeof(line), "set %s 0 0 1\r\nv", key);
    assert_int_equal(memcached_server_command(srv, line, NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "STORED\r\n");
}

/* ---- what a meta reader sees ---- */

/* 1 when srv holds key and it is not marked stale (`mg <key>` answers HD
 * without X), 0 when it holds none or a stale one. */
static int fresh(const memcached_server *srv, const char *key)
{
    char line[KEY_MAX + 8], buf[256];
    snprintf(line, sizeof(line), "mg %s", key);
    assert_int_equal(memcached_server_command(srv, line, NULL, buf, sizeof(buf)), 0);
    if (strncmp(buf, "EN", 2) == 0)
        return 0;
    if (strncmp(buf, "HD", 2) != 0)
        fail_msg("mg %s: %s", key, buf);
    return strstr(buf, " X") == NULL;
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* How many of keys[0..n) srv holds fresh (see fresh()): pipelined `mg` on
 * one connection, 500 keys and an `mn` at a time. */
static int fresh_count(const memcached_server *srv, const mcsq_key *keys, int n)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)srv->port)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    FILE *in = fdopen(dup(fd), "r");
    assert_non_null(in);
    static char out[500 * (KEY_MAX + 8)];
    char line[512];
    int count = 0;
    for (int i = 0; i < n; i += 500) {
        size_t len = 0;
        for (int j = i; j < n && j < i + 500; j++)
            len += (size_t)snprintf(out + len, sizeof(out) - len, "mg %.*s\r\n", (int)keys[j].len,
                                    keys[j].data);
        len += (size_t)snprintf(out + len, sizeof(out) - len, "mn\r\n");
        write_all(fd, out, len);
        while (fgets(line, sizeof(line), in) != NULL && strcmp(line, "MN\r\n") != 0)
            count += strncmp(line, "HD", 2) == 0 && strstr(line, " X") == NULL;
    }
    fclose(in);
    close(fd);
    return count;
}

/* Whether a reader is still served key on srv as valid: in delete mode,
 * whether srv holds it; in stale mode, whether it holds it fresh. */
static int live(const fixture *fx, const memcached_server *srv, const char *key)
{
    return fx->mode == MC_POOL_INVALIDATE_DELETE ? has(srv, key) : fresh(srv, key);
}

/* Nothing of keys[0..n) is served as valid any more: both servers are
 * empty (delete mode; every item of the test is among keys), or hold
 * none of keys fresh (stale mode). */
static void assert_none_live(const fixture *fx, const mcsq_key *keys, int n)
{
    if (fx->mode == MC_POOL_INVALIDATE_DELETE) {
        assert_int_equal(curr_items(fx->srv[0]) + curr_items(fx->srv[1]), 0);
        return;
    }
    assert_int_equal(fresh_count(fx->srv[0], keys, n) + fresh_count(fx->srv[1], keys, n), 0);
}

/* ---- pools ---- */

static void cfg_init(mcsq_pool_config *cfg, mcsq_hostport *hp, size_t n, const char *prefix)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->name = "main";
    cfg->servers.v = hp;
    cfg->servers.n = n;
    cfg->role = MCSQ_POOL_CLUSTER;
    cfg->prefix = (char *)prefix;
}

static mc_pool *pool_new_mode(const mcsq_pool_config *cfg, int timeout_ms, bool hash_with_prefix,
                              mc_pool_invalidate mode, int stale_ttl_s)
{
    mc_pool_options opts;
    mc_pool_options_init(&opts);
    opts.invalidate = mode;
    opts.stale_ttl_s = stale_ttl_s;
    opts.connect_timeout_ms = timeout_ms;
    opts.poll_timeout_ms = timeout_ms;
    opts.hash_with_prefix = hash_with_prefix;
    char err[ERR_MAX];
    mc_pool *pool = NULL;
    if (mc_pool_new(&pool, cfg, &opts, err, sizeof(err)) != 0)
        fail_msg("mc_pool_new: %s", err);
    return pool;
}

static mc_pool *pool_new(const mcsq_pool_config *cfg, int timeout_ms, bool hash_with_prefix)
{
    return pool_new_mode(cfg, timeout_ms, hash_with_prefix, MC_POOL_INVALIDATE_DELETE,
                         MC_POOL_STALE_TTL_DEFAULT_S);
}

/* A pool in the fixture's mode. */
static mc_pool *fx_pool_new(const fixture *fx, const mcsq_pool_config *cfg, int timeout_ms,
                            bool hash_with_prefix)
{
    return pool_new_mode(cfg, timeout_ms, hash_with_prefix, fx->mode, MC_POOL_STALE_TTL_DEFAULT_S);
}

typedef struct batch {
    uint8_t *outcome;
    uint32_t *server;
    mc_pool_results res;
    int rc;
    int64_t ms; /* how long delete_batch took */
} batch;

static batch *batch_run(mc_pool *pool, const mcsq_key *keys, size_t n, bool servers)
{
    batch *b = calloc(1, sizeof(*b));
    assert_non_null(b);
    b->outcome = malloc(n + 1);
    b->server = servers ? malloc((n + 1) * sizeof(uint32_t)) : NULL;
    b->res.outcome = b->outcome;
    b->res.server = b->server;
    int64_t t0 = now_ms();
    b->rc = mc_pool_delete_batch(pool, keys, n, &b->res);
    b->ms = now_ms() - t0;
    assert_int_equal(b->res.confirmed + b->res.failed + b->res.invalid, n);
    return b;
}

static void batch_free(batch *b)
{
    free(b->outcome);
    free(b->server);
    free(b);
}

/* ---- fixture: two servers, a pool on them, the application's client ---- */

static int fixture_setup_mode(void **state, mc_pool_invalidate mode)
{
    fixture *fx = calloc(1, sizeof(*fx));
    char err[ERR_MAX];
    assert_non_null(fx);
    fx->mode = mode;
    for (int i = 0; i < NSERVERS; i++) {
        if (memcached_server_start(&fx->srv[i], 0, 64, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        fx->hp[i] = (mcsq_hostport){.host = "127.0.0.1", .port = fx->srv[i]->port};
    }
    cfg_init(&fx->cfg, fx->hp, NSERVERS, "");
    fx->pool = fx_pool_new(fx, &fx->cfg, TIMEOUT_MS, false);
    fx->app = app_client(&fx->cfg, false);
    *state = fx;
    return 0;
}

static int fixture_setup(void **state)
{
    return fixture_setup_mode(state, MC_POOL_INVALIDATE_DELETE);
}

static int fixture_setup_stale(void **state)
{
    return fixture_setup_mode(state, MC_POOL_INVALIDATE_STALE);
}

static int fixture_teardown(void **state)
{
    fixture *fx = *state;
    mc_pool_destroy(fx->pool);
    memcached_free(fx->app);
    for (int i = 0; i < NSERVERS; i++)
        memcached_server_stop(fx->srv[i]);
    free(fx);
    return 0;
}

/* Each key of keys is stored on exactly its owner, as the app put it. */
static void assert_placed(const fixture *fx, const mcsq_key *keys, int n, const char *prefix)
{
    char key[KEY_MAX], full[KEY_MAX + 8];
    for (int i = 0; i < n; i++) {
        uint32_t owner = mc_pool_server_of(fx->pool, keys[i].data, keys[i].len);
        assert_true(owner < NSERVERS);
        snprintf(full, sizeof(full), "%s%s", prefix, key_str(&keys[i], key));
        assert_int_equal(has(fx->srv[owner], full), 1);
        assert_int_equal(has(fx->srv[1 - owner], full), 0);
    }
}

/* ---- tests ---- */

/* Keys land where the application put them; deleted keys are gone from
 * their server, keys not in the batch stay, misses are confirmed too. */
static void test_deletes_where_the_app_stored(void **state)
{
    fixture *fx = *state;
    enum { N = 600, DEL = 400, MISS = 100 };
    mcsq_key *keys = keys_make("user:", 0, N), *batch_keys = calloc(DEL + MISS, sizeof(mcsq_key));
    mcsq_key *missing = keys_make("missing:", 0, MISS);
    app_set_all(fx->app, keys, N);
    assert_placed(fx, keys, N, "");
    assert_true(curr_items(fx->srv[0]) > N / 4 && curr_items(fx->srv[1]) > N / 4);

    memcpy(batch_keys, keys, DEL * sizeof(mcsq_key));
    memcpy(batch_keys + DEL, missing, MISS * sizeof(mcsq_key));
    batch *b = batch_run(fx->pool, batch_keys, DEL + MISS, true);
    assert_int_equal(b->rc, MCSQ_OK);
    assert_int_equal(b->res.confirmed, DEL + MISS);
    char key[KEY_MAX];
    for (int i = 0; i < DEL + MISS; i++) {
        assert_int_equal(b->outcome[i], MC_POOL_CONFIRMED);
        assert_int_equal(b->server[i],
                         mc_pool_server_of(fx->pool, batch_keys[i].data, batch_keys[i].len));
    }
    for (int i = 0; i < N; i++) {
        uint32_t owner = mc_pool_server_of(fx->pool, keys[i].data, keys[i].len);
        assert_int_equal(live(fx, fx->srv[owner], key_str(&keys[i], key)), i < DEL ? 0 : 1);
        if (fx->mode == MC_POOL_INVALIDATE_STALE) /* the item stays, marked stale */
            assert_int_equal(has(fx->srv[owner], key), 1);
    }
    for (int i = 0; i < MISS; i++) /* a miss creates nothing, in either mode */
        assert_int_equal(has(fx->srv[mc_pool_server_of(fx->pool, missing[i].data, missing[i].len)],
                             key_str(&missing[i], key)),
                         0);
    mc_pool_server_info info;
    mc_pool_server_info_get(fx->pool, 0, &info);
    assert_false(info.down);
    assert_int_equal(info.batch_keys, info.batch_confirmed);
    assert_true(info.batch_keys > 0);
    batch_free(b);
    free(batch_keys);
    keys_free(keys);
    keys_free(missing);
}

/* ---- placement without servers: three made-up ports ---- */

enum { PLACE_N = 20000 };
static mcsq_hostport place_hp[3] = {
    {"127.0.0.1", 11211, 0}, {"127.0.0.1", 11300, 0}, {"127.0.0.1", 11301, 0}};

/* A client for place_hp: `first` is set before the servers are added (may
 * be -1), then KETAMA_WEIGHTED unless `weighted` is false, then `after`
 * (may be -1) with `after_value`. */
static memcached_st *place_client(int first, bool weighted, int after, uint64_t after_value)
{
    memcached_st *mc = memcached_create(NULL);
    assert_non_null(mc);
    if (first >= 0)
        assert_int_equal(memcached_behavior_set(mc, (memcached_behavior_t)first,
                                                MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA),
                         MEMCACHED_SUCCESS);
    if (weighted)
        assert_int_equal(memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1),
                         MEMCACHED_SUCCESS);
    for (int i = 0; i < 3; i++)
        assert_int_equal(memcached_server_add(mc, place_hp[i].host, (in_port_t)place_hp[i].port),
                         MEMCACHED_SUCCESS);
    if (after >= 0)
        assert_int_equal(memcached_behavior_set(mc, (memcached_behavior_t)after, after_value),
                         MEMCACHED_SUCCESS);
    return mc;
}

/* How many of PLACE_N keys mc puts on another host:port than the pool
 * (host names differing only in spelling count as different). */
static int place_differ(const mc_pool *pool, memcached_st *mc, const mcsq_key *keys)
{
    int differ = 0;
    for (int i = 0; i < PLACE_N; i++) {
        memcached_return_t rc;
        const memcached_instance_st *inst =
            memcached_server_by_key(mc, keys[i].data, keys[i].len, &rc);
        assert_non_null(inst);
        const mcsq_hostport *hp = &place_hp[mc_pool_server_of(pool, keys[i].data, keys[i].len)];
        differ += memcached_server_port(inst) != hp->port ||
                  strcmp(memcached_server_name(inst), hp->host) != 0;
    }
    return differ;
}

/* mc_pool_server_of() is libmemcached's own placement for the documented
 * behaviours, whatever the order of the servers, with weight 0 or 1. */
static void test_distribution_matches_libmemcached(void **state)
{
    (void)state;
    mcsq_pool_config cfg;
    cfg_init(&cfg, place_hp, 3, "");
    mc_pool *pool = pool_new(&cfg, TIMEOUT_MS, false);
    mcsq_key *keys = keys_make("object:profile:", 0, PLACE_N);
    memcached_st *app = place_client(-1, true, -1, 0);
    memcached_st *app_w1 = memcached_create(NULL), *app_rev = memcached_create(NULL);
    (void)memcached_behavior_set(app_w1, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    (void)memcached_behavior_set(app_rev, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    for (int i = 0; i < 3; i++) {
        (void)memcached_server_add_with_weight(app_w1, place_hp[i].host,
                                               (in_port_t)place_hp[i].port, 1);
        (void)memcached_server_add(app_rev, place_hp[2 - i].host, (in_port_t)place_hp[2 - i].port);
    }
    memcached_st *app_dist_first = place_client(MEMCACHED_BEHAVIOR_DISTRIBUTION, true, -1, 0);
    unsigned per_server[3] = {0, 0, 0};
    for (int i = 0; i < PLACE_N; i++) {
        uint32_t s = mc_pool_server_of(pool, keys[i].data, keys[i].len);
        assert_int_equal(memcached_generate_hash(app, keys[i].data, keys[i].len), s);
        per_server[s]++;
    }
    for (int i = 0; i < 3; i++)
        assert_true(per_server[i] > PLACE_N / 5);
    assert_int_equal(place_differ(pool, app, keys), 0);
    assert_int_equal(place_differ(pool, app_w1, keys), 0);
    assert_int_equal(place_differ(pool, app_rev, keys), 0);
    assert_int_equal(place_differ(pool, app_dist_first, keys), 0);
    memcached_free(app);
    memcached_free(app_w1);
    memcached_free(app_rev);
    memcached_free(app_dist_first);
    keys_free(keys);
    mc_pool_destroy(pool);
}

/* What docs/memcached.md warns about does move keys: another spelling of
 * the host, libmemcached's default (modula), plain KETAMA (unweighted),
 * another key hash after KETAMA_WEIGHTED, DISTRIBUTION set after it. */
static void test_distribution_breakers(void **state)
{
    (void)state;
    mcsq_hostport local[3] = {
        {"localhost", 11211, 0}, {"localhost", 11300, 0}, {"localhost", 11301, 0}};
    mcsq_pool_config cfg, cfg_local;
    cfg_init(&cfg, place_hp, 3, "");
    cfg_init(&cfg_local, local, 3, "");
    mc_pool *pool = pool_new(&cfg, TIMEOUT_MS, false);
    mc_pool *pool_local = pool_new(&cfg_local, TIMEOUT_MS, false);
    mcsq_key *keys = keys_make("object:profile:", 0, PLACE_N);
    memcached_st *breakers[] = {
        place_client(-1, false, -1, 0),
        place_client(MEMCACHED_BEHAVIOR_KETAMA, false, -1, 0),
        place_client(-1, true, MEMCACHED_BEHAVIOR_HASH, MEMCACHED_HASH_FNV1A_32),
        place_client(-1, true, MEMCACHED_BEHAVIOR_DISTRIBUTION,
                     MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA),
    };
    for (size_t b = 0; b < sizeof(breakers) / sizeof(breakers[0]); b++) {
        int differ = place_differ(pool, breakers[b], keys);
        if (differ < PLACE_N / 10)
            fail_msg("client %zu places only %d of %d keys elsewhere", b, differ, PLACE_N);
        memcached_free(breakers[b]);
    }
    int moved = 0;
    for (int i = 0; i < PLACE_N; i++)
        moved += mc_pool_server_of(pool, keys[i].data, keys[i].len) !=
                 mc_pool_server_of(pool_local, keys[i].data, keys[i].len);
    assert_true(moved > PLACE_N / 10);
    keys_free(keys);
    mc_pool_destroy(pool);
    mc_pool_destroy(pool_local);
}

/* The pool prefix goes before every key on the wire; the server is chosen
 * by the key alone, as MEMCACHED_CALLBACK_PREFIX_KEY does. */
static void test_prefix(void **state)
{
    fixture *fx = *state;
    enum { N = 200 };
    mcsq_pool_config cfg;
    cfg_init(&cfg, fx->hp, NSERVERS, "app:");
    mc_pool_destroy(fx->pool);
    fx->pool = pool_new(&cfg, TIMEOUT_MS, false);
    memcached_st *app = app_client(&cfg, false);
    mcsq_key *keys = keys_make("user:", 0, N);
    char key[KEY_MAX];
    app_set_all(app, keys, N);
    assert_placed(fx, keys, N, "app:");
    for (int i = 0; i < N; i++) /* the same keys without the prefix: other items */
        text_set(fx->srv[i % NSERVERS], key_str(&keys[i], key));

    batch *b = batch_run(fx->pool, keys, N, true);
    assert_int_equal(b->rc, MCSQ_OK);
    assert_int_equal(b->res.confirmed, N);
    for (int i = 0; i < N; i++) {
        char full[KEY_MAX + 8];
        snprintf(full, sizeof(full), "app:%s", key_str(&keys[i], key));
        assert_int_equal(has(fx->srv[b->server[i]], full), 0);
        assert_int_equal(has(fx->srv[i % NSERVERS], key), 1);
    }
    batch_free(b);
    keys_free(keys);
    memcached_free(app);
}

/* prefix + key must fit in 250 bytes; keys breaking the key rules are
 * never sent. */
static void test_invalid_keys(void **state)
{
    fixture *fx = *state;
    mcsq_pool_config cfg;
    cfg_init(&cfg, fx->hp, NSERVERS, "app:");
    mc_pool_destroy(fx->pool);
    fx->pool = pool_new(&cfg, TIMEOUT_MS, false);
    memcached_st *app = app_client(&cfg, false);
    char longest[247], too_long[248];
    memset(longest, 'a', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    memset(too_long, 'b', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    mcsq_key keys[] = {{.data = longest, .len = 246},    {.data = too_long, .len = 247},
                       {.data = "has space", .len = 9},  {.data = "", .len = 0},
                       {.data = "ctl\x01key", .len = 7}, {.data = "fine", .len = 4}};
    app_set(app, &keys[0]);
    char full[KEY_MAX + 8];
    snprintf(full, sizeof(full), "app:%s", longest);
    uint32_t owner = mc_pool_server_of(fx->pool, longest, 246);
    assert_int_equal(has(fx->srv[owner], full), 1);

    batch *b = batch_run(fx->pool, keys, 6, true);
    const uint8_t want[] = {MC_POOL_CONFIRMED, MC_POOL_INVALID, MC_POOL_INVALID,
                            MC_POOL_INVALID,   MC_POOL_INVALID, MC_POOL_CONFIRMED};
    assert_int_equal(b->rc, MCSQ_OK);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(b->outcome[i], want[i]);
        if (want[i] == MC_POOL_INVALID)
            assert_int_equal(b->server[i], MC_POOL_NO_SERVER);
    }
    assert_int_equal(b->res.invalid, 4);
    assert_int_equal(has(fx->srv[owner], full), 0);
    batch_free(b);
    memcached_free(app);
}

/* hash_with_prefix: the server is chosen by prefix + key, as with
 * MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY=1. */
static void test_hash_with_prefix(void **state)
{
    fixture *fx = *state;
    enum { N = 300 };
    mcsq_pool_config cfg;
    cfg_init(&cfg, fx->hp, NSERVERS, "ns:");
    mc_pool_destroy(fx->pool);
    fx->pool = pool_new(&cfg, TIMEOUT_MS, true);
    mc_pool *plain = pool_new(&cfg, TIMEOUT_MS, false);
    memcached_st *app = app_client(&cfg, true);
    mcsq_key *keys = keys_make("item:", 0, N);
    int differ = 0;
    app_set_all(app, keys, N);
    assert_placed(fx, keys, N, "ns:");
    for (int i = 0; i < N; i++)
        differ += mc_pool_server_of(plain, keys[i].data, keys[i].len) !=
                  mc_pool_server_of(fx->pool, keys[i].data, keys[i].len);
    assert_true(differ > N / 10);
    batch *b = batch_run(fx->pool, keys, N, false);
    assert_int_equal(b->rc, MCSQ_OK);
    assert_int_equal(curr_items(fx->srv[0]) + curr_items(fx->srv[1]), 0);
    batch_free(b);
    keys_free(keys);
    memcached_free(app);
    mc_pool_destroy(plain);
}

/* Keys of a server that does not answer (SIGSTOP) fail within about the poll
 * timeout, the others are confirmed; the server is then down and fails fast
 * until a probe succeeds; a retry then confirms. */
static void test_stopped_server(void **state)
{
    fixture *fx = *state;
    enum { N = 2000 };
    mcsq_key *keys = keys_make("sess:", 0, N), *keep = keys_make("keep:", 0, 100);
    char key[KEY_MAX];
    app_set_all(fx->app, keys, N);
    app_set_all(fx->app, keep, 100);
    assert_int_equal(memcached_server_pause(fx->srv[1]), 0);

    batch *b = batch_run(fx->pool, keys, N, true);
    assert_int_equal(b->rc, MCSQ_ERR_CONNECT);
    assert_in_range(b->ms, TIMEOUT_MS - 50, TIMEOUT_MS + 1500);
    assert_true(b->res.failed > 0 && b->res.confirmed > 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(b->outcome[i], b->server[i] == 1 ? MC_POOL_FAILED : MC_POOL_CONFIRMED);
    for (int i = 0; i < N; i += 7)
        if (b->server[i] == 0)
            assert_int_equal(live(fx, fx->srv[0], key_str(&keys[i], key)), 0);
    mc_pool_server_info info;
    mc_pool_server_info_get(fx->pool, 1, &info);
    assert_true(info.down);
    assert_int_equal(info.err, MCSQ_ERR_AGAIN);
    assert_int_equal(info.batch_confirmed, 0);
    assert_non_null(strstr(info.error, "no answer"));
    mc_pool_server_info_get(fx->pool, 0, &info);
    assert_false(info.down);

    batch *again = batch_run(fx->pool, keys, N, true); /* down: no I/O for it */
    assert_true(again->ms < 200);
    assert_int_equal(again->res.failed, b->res.failed);
    batch_free(again);
    assert_false(mc_pool_probe(fx->pool, 1));

    assert_int_equal(memcached_server_resume(fx->srv[1]), 0);
    assert_true(mc_pool_probe(fx->pool, 1));
    mc_pool_server_info_get(fx->pool, 1, &info);
    assert_false(info.down);
    mcsq_key *retry = calloc(N, sizeof(*retry));
    size_t nretry = 0;
    for (int i = 0; i < N; i++)
        if (b->outcome[i] == MC_POOL_FAILED)
            retry[nretry++] = keys[i];
    batch *r = batch_run(fx->pool, retry, nretry, false);
    assert_int_equal(r->rc, MCSQ_OK);
    assert_int_equal(r->res.confirmed, nretry);
    for (size_t i = 0; i < nretry; i++)
        assert_int_equal(live(fx, fx->srv[1], key_str(&retry[i], key)), 0);
    for (int i = 0; i < 100; i++) /* untouched keys stay, on both servers, fresh */
        assert_int_equal(live(fx, fx->srv[mc_pool_server_of(fx->pool, keep[i].data, keep[i].len)],
                              key_str(&keep[i], key)),
                         1);
    batch_free(r);
    batch_free(b);
    free(retry);
    keys_free(keys);
    keys_free(keep);
}

/* A killed server fails at once (connection refused), not after the
 * timeout; it comes back with a probe once restarted. */
static void test_killed_server(void **state)
{
    fixture *fx = *state;
    enum { N = 1000 };
    mc_pool_destroy(fx->pool);
    fx->pool = fx_pool_new(fx, &fx->cfg, 5000, false); /* long: failing fast must not wait */
    mcsq_key *keys = keys_make("acct:", 0, N);
    char err[ERR_MAX];
    batch *warm = batch_run(fx->pool, keys, N, false); /* connections now open */
    assert_int_equal(warm->rc, MCSQ_OK);
    batch_free(warm);
    memcached_server_kill(fx->srv[1]);

    batch *b = batch_run(fx->pool, keys, N, true);
    assert_int_equal(b->rc, MCSQ_ERR_CONNECT);
    assert_true(b->ms < 1000);
    for (int i = 0; i < N; i++)
        assert_int_equal(b->outcome[i], b->server[i] == 1 ? MC_POOL_FAILED : MC_POOL_CONFIRMED);
    mc_pool_server_info info;
    mc_pool_server_info_get(fx->pool, 1, &info);
    assert_true(info.down);
    assert_int_equal(info.err, MCSQ_ERR_CONNECT);
    batch *again = batch_run(fx->pool, keys, N, false);
    assert_true(again->ms < 200);
    batch_free(again);
    int64_t t0 = now_ms();
    assert_false(mc_pool_probe(fx->pool, 1));
    assert_true(now_ms() - t0 < 1000);

    if (memcached_server_restart(fx->srv[1], err, sizeof(err)) != 0)
        fail_msg("%s", err);
    app_set_all(fx->app, keys, N);
    assert_true(mc_pool_probe(fx->pool, 1));
    batch *r = batch_run(fx->pool, keys, N, false);
    assert_int_equal(r->rc, MCSQ_OK);
    assert_none_live(fx, keys, N);
    batch_free(r);
    batch_free(b);
    keys_free(keys);
}

/* A server restarted between batches (the pool's connection is dead but
 * the server is up) costs nothing: the pool reconnects and resends. */
static void test_restarted_server(void **state)
{
    fixture *fx = *state;
    enum { N = 500 };
    mcsq_key *keys = keys_make("feed:", 0, N);
    char err[ERR_MAX];
    batch *warm = batch_run(fx->pool, keys, N, false);
    assert_int_equal(warm->rc, MCSQ_OK);
    batch_free(warm);
    for (int i = 0; i < NSERVERS; i++)
        if (memcached_server_restart(fx->srv[i], err, sizeof(err)) != 0)
            fail_msg("%s", err);
    app_set_all(fx->app, keys, N);
    batch *b = batch_run(fx->pool, keys, N, false);
    assert_int_equal(b->rc, MCSQ_OK);
    assert_int_equal(b->res.confirmed, N);
    assert_none_live(fx, keys, N);
    batch_free(b);
    keys_free(keys);
}

/* Nothing listens: fails fast, probe says no. */
static void test_nothing_listening(void **state)
{
    fixture *fx = *state;
    mcsq_hostport hp = {"127.0.0.1", fx->srv[1]->port, 0};
    mcsq_pool_config cfg;
    cfg_init(&cfg, &hp, 1, "");
    memcached_server_kill(fx->srv[1]);
    mc_pool *pool = pool_new(&cfg, 5000, false);
    mcsq_key *keys = keys_make("k:", 0, 10);
    batch *b = batch_run(pool, keys, 10, false);
    assert_int_equal(b->rc, MCSQ_ERR_CONNECT);
    assert_int_equal(b->res.failed, 10);
    assert_true(b->ms < 1000);
    assert_false(mc_pool_probe(pool, 0));
    batch_free(b);
    keys_free(keys);
    mc_pool_destroy(pool);
}

/* A listener that is not memcached (answers `version` with ERROR): fails at once. */
static void test_not_memcached(void **state)
{
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* answers anything with a text-protocol error, then idles */
        int c = accept(lfd, NULL, NULL);
        char buf[256];
        (void)!read(c, buf, sizeof(buf));
        (void)!write(c, "ERROR\r\n", 7);
        sleep(10);
        _exit(0);
    }
    close(lfd);
    mcsq_hostport hp = {"127.0.0.1", ntohs(sa.sin_port), 0};
    mcsq_pool_config cfg;
    cfg_init(&cfg, &hp, 1, "");
    mc_pool *pool = pool_new(&cfg, 5000, false);
    mcsq_key *keys = keys_make("k:", 0, 3);
    batch *b = batch_run(pool, keys, 3, false);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(b->rc, MCSQ_ERR_CONNECT);
    assert_int_equal(b->res.failed, 3);
    assert_true(b->ms < 1000);
    mc_pool_server_info info;
    mc_pool_server_info_get(pool, 0, &info);
    assert_int_equal(info.err, MCSQ_ERR_CORRUPT);
    batch_free(b);
    keys_free(keys);
    mc_pool_destroy(pool);
}

/* 100k keys in one batch, half of them misses (each answered "Not found"
 * while the pool is still writing): all confirmed, both servers empty. */
static void test_large_batch(void **state)
{
    fixture *fx = *state;
    enum { N = 100000, SET = 50000 };
    mcsq_key *keys = keys_make("big:", 0, N);
    (void)memcached_behavior_set(fx->app, MEMCACHED_BEHAVIOR_NOREPLY, 1); /* text: silent */
    app_set_all(fx->app, keys, SET);
    int64_t deadline = now_ms() + 10000;
    while (curr_items(fx->srv[0]) + curr_items(fx->srv[1]) < SET && now_ms() < deadline)
        sleep_ms(20);
    assert_int_equal(curr_items(fx->srv[0]) + curr_items(fx->srv[1]), SET);

    batch *b = batch_run(fx->pool, keys, N, false);
    assert_int_equal(b->rc, MCSQ_OK);
    assert_int_equal(b->res.confirmed, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(b->outcome[i], MC_POOL_CONFIRMED);
    assert_none_live(fx, keys, N);
    print_message("100000 keys, one batch: %lld ms\n", (long long)b->ms);
    batch_free(b);
    keys_free(keys);
}

/* placement = all: every key is deleted on every server, confirmed only
 * when every server confirmed it; with one server killed, every key fails
 * (and says it belongs to every server). */
static void test_placement_all(void **state)
{
    fixture *fx = *state;
    enum { N = 300 };
    mcsq_key *keys = keys_make("every:", 0, N);
    char key[KEY_MAX];
    mcsq_pool_config cfg = fx->cfg;
    cfg.placement = KEY_PLACEMENT_ALL;
    mc_pool *pool = pool_new(&cfg, TIMEOUT_MS, false);
    for (int i = 0; i < N; i++)
        for (int s = 0; s < NSERVERS; s++)
            text_set(fx->srv[s], key_str(&keys[i], key));
    batch *b = batch_run(pool, keys, N, true);
    assert_int_equal(b->rc, 0);
    assert_int_equal(b->res.confirmed, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(b->server[i], MC_POOL_EVERY_SERVER);
        for (int s = 0; s < NSERVERS; s++)
            assert_int_equal(has(fx->srv[s], key_str(&keys[i], key)), 0);
    }
    batch_free(b);

    memcached_server_kill(fx->srv[1]);
    b = batch_run(pool, keys, N, true);
    assert_int_equal(b->rc, MCSQ_ERR_CONNECT);
    assert_int_equal(b->res.failed, N);
    mc_pool_server_info info;
    mc_pool_server_info_get(pool, 0, &info);
    assert_int_equal(info.batch_keys, N);
    assert_int_equal(info.batch_confirmed, N);
    mc_pool_server_info_get(pool, 1, &info);
    assert_int_equal(info.batch_confirmed, 0);
    batch_free(b);
    mc_pool_destroy(pool);
    keys_free(keys);
}

/* The pool's placement decides the owner: a dalli pool places as Dalli
 * (key_placement); a proxy pool refuses stale mode. */
static void test_placement_modes(void **state)
{
    fixture *fx = *state;
    mcsq_pool_config cfg = fx->cfg;
    cfg.placement = KEY_PLACEMENT_DALLI;
    mc_pool *pool = pool_new(&cfg, TIMEOUT_MS, false);
    key_placement_server ks[NSERVERS];
    for (int s = 0; s < NSERVERS; s++)
        ks[s] = (key_placement_server){.host = "127.0.0.1", .port = (unsigned)fx->srv[s]->port};
    key_placement *kp;
    assert_int_equal(
        key_placement_new(&kp, KEY_PLACEMENT_DALLI, ks, NSERVERS, "", false, 0, NULL, 0), 0);
    mcsq_key *keys = keys_make("dalli:", 0, 500);
    for (int i = 0; i < 500; i++)
        assert_int_equal(mc_pool_server_of(pool, keys[i].data, keys[i].len),
                         key_placement_server_of(kp, keys[i].data, keys[i].len));
    keys_free(keys);
    key_placement_free(kp);
    mc_pool_destroy(pool);

    cfg.placement = KEY_PLACEMENT_PROXY;
    mc_pool_options opts;
    mc_pool_options_init(&opts);
    opts.invalidate = MC_POOL_INVALIDATE_STALE; /* proxies speak no meta protocol */
    char err[ERR_MAX];
    assert_int_equal(mc_pool_new(&pool, &cfg, &opts, err, sizeof(err)), MCSQ_ERR_CONFIG);
    assert_non_null(strstr(err, "stale"));
}

/* ---- the invalidation modes ---- */

/* Stale mode: an invalidated item stays, marked stale: the next meta reader
 * wins its refill (X W), later ones see X Z; it is gone after the stale TTL.
 * Remote markers are deleted, not marked; misses create nothing. */
static void test_stale_mode(void **state)
{
    fixture *fx = *state;
    enum { N = 100, TTL_S = 1 };
    mc_pool_destroy(fx->pool);
    fx->pool = pool_new_mode(&fx->cfg, TIMEOUT_MS, false, MC_POOL_INVALIDATE_STALE, TTL_S);
    mcsq_key *keys = keys_make("hot:", 0, N + 2);
    char key[KEY_MAX], buf[256], line[KEY_MAX + 16];
    const char *marker = MCSQ_MARKER_KEY_PREFIX "hot:7";
    keys[N] = (mcsq_key){.data = marker, .len = (uint32_t)strlen(marker)};
    keys[N + 1] = (mcsq_key){.data = "never:set", .len = 9};
    app_set_all(fx->app, keys, N + 1); /* the marker too, where the app would put it */

    batch *b = batch_run(fx->pool, keys, N + 2, true);
    assert_int_equal(b->rc, MCSQ_OK);
    assert_int_equal(b->res.confirmed, N + 2);
    for (int i = 0; i < N; i++) {
        const memcached_server *srv = fx->srv[b->server[i]];
        assert_int_equal(has(srv, key_str(&keys[i], key)), 1); /* a plain get still sees it */
        snprintf(line, sizeof(line), "mg %s v c", key);
        assert_int_equal(memcached_server_command(srv, line, NULL, buf, sizeof(buf)), 0);
        assert_non_null(strstr(buf, " X"));
        assert_non_null(strstr(buf, " W")); /* the first meta reader refills */
        assert_int_equal(memcached_server_command(srv, line, NULL, buf, sizeof(buf)), 0);
        assert_non_null(strstr(buf, " Z")); /* the others wait or serve the old value */
    }
    assert_int_equal(has(fx->srv[b->server[N]], marker), 0);
    assert_int_equal(has(fx->srv[b->server[N + 1]], "never:set"), 0);
    sleep_ms(TTL_S * 1000 + 1100);
    for (int i = 0; i < N; i++)
        assert_int_equal(has(fx->srv[b->server[i]], key_str(&keys[i], key)), 0);
    batch_free(b);
    keys_free(keys);
}

/* What an application reading with plain `get` (libmemcached, no meta)
 * sees after an invalidation: delete mode: a miss at once; stale mode: the
 * old value, unmarked, until the stale TTL ends. This is why `stale` is only
 * for pools whose readers all read through meta `mg`. */
static void test_plain_get_reader(void **state)
{
    fixture *fx = *state;
    enum { TTL_S = 2 };
    mc_pool *del = pool_new(&fx->cfg, TIMEOUT_MS, false);
    mc_pool *stale = pool_new_mode(&fx->cfg, TIMEOUT_MS, false, MC_POOL_INVALIDATE_STALE, TTL_S);
    mcsq_key k_del = {.data = "profile:1", .len = 9}, k_stale = {.data = "profile:2", .len = 9};
    app_set(fx->app, &k_del);
    app_set(fx->app, &k_stale);
    batch *b1 = batch_run(del, &k_del, 1, false), *b2 = batch_run(stale, &k_stale, 1, false);
    int64_t t0 = now_ms();
    assert_int_equal(b1->res.confirmed + b2->res.confirmed, 2);
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    char *v = memcached_get(fx->app, k_del.data, k_del.len, &len, &flags, &rc);
    assert_int_equal(rc, MEMCACHED_NOTFOUND); /* delete: a miss */
    assert_null(v);
    int seen = 0; /* stale: the old value, as if fresh, until the TTL */
    while (now_ms() - t0 < TTL_S * 1000 - 300) {
        v = memcached_get(fx->app, k_stale.data, k_stale.len, &len, &flags, &rc);
        assert_int_equal(rc, MEMCACHED_SUCCESS);
        assert_memory_equal(v, "v", 1);
        free(v);
        seen++;
        sleep_ms(100);
    }
    assert_true(seen >= 5);
    sleep_ms(1500);
    v = memcached_get(fx->app, k_stale.data, k_stale.len, &len, &flags, &rc);
    assert_int_equal(rc, MEMCACHED_NOTFOUND); /* then a miss */
    print_message("plain get after an invalidation: delete: miss; stale: the old value %d "
                  "times in %d s, then a miss\n",
                  seen, TTL_S);
    batch_free(b1);
    batch_free(b2);
    mc_pool_destroy(del);
    mc_pool_destroy(stale);
}

/* ---- fake servers: what no real memcached 1.6 does ---- */

typedef enum fake_kind {
    FAKE_OLD,    /* answers `version` with 1.4.25, anything else with ERROR */
    FAKE_ERRORS, /* 1.6.18; answers a batch of 5 deletes with errors among misses */
    FAKE_PROXY,  /* a text-protocol proxy whose memcached fails every other key: answers
                    the 1st, 3rd... `delete` NOT_FOUND, the others SERVER_ERROR; closes the
                    connection on anything else (`version`, meta commands), as twemproxy
                    does */
} fake_kind;

/* A fake's process dies with its parent and keeps no test output open. */
static void fake_detach(void)
{
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
        (void)dup2(null, 1);
        (void)dup2(null, 2);
    }
}

static void fake_serve(int c, fake_kind kind)
{
    fake_detach();
    FILE *in = fdopen(dup(c), "r");
    char line[512];
    unsigned deletes = 0;
    while (in != NULL && fgets(line, sizeof(line), in) != NULL) {
        if (kind == FAKE_PROXY && strncmp(line, "delete ", 7) != 0)
            break;
        if (kind == FAKE_PROXY)
            dprintf(c, "%s\r\n",
                    deletes++ % 2 == 0 ? "NOT_FOUND" : "SERVER_ERROR Connection refused");
        else if (strcmp(line, "version\r\n") == 0)
            dprintf(c, "VERSION %s\r\n", kind == FAKE_OLD ? "1.4.25" : "1.6.18");
        else if (kind == FAKE_OLD)
            dprintf(c, "ERROR\r\n");
        else if (strcmp(line, "mn\r\n") == 0) /* keys 1 and 4 missing, an error between */
            dprintf(c, "NF O1\r\nCLIENT_ERROR bad command line format\r\nNF O4\r\nMN\r\n");
    }
    _exit(0);
}

/* A fake server on a free port of 127.0.0.1 (in *port), in a child process
 * (kill it with SIGKILL). */
static pid_t fake_start(fake_kind kind, int *port)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int one = 1;
    (void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 8), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fake_detach();
        for (;;) {
            int c = accept(lfd, NULL, NULL);
            if (c >= 0 && fork() == 0) {
                close(lfd); /* the port is free once the listener is killed */
                fake_serve(c, kind);
            }
            if (c >= 0)
                close(c);
        }
    }
    close(lfd);
    return pid;
}

static void fake_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A server older than memcached 1.6 (no meta protocol) fails at once with
 * MCSQ_ERR_UNSUPPORTED naming its version, while the pool's other server is
 * served; probes fail until it runs 1.6. The old server is a fake speaking
 * only `version` (VERSION 1.4.25): no older memcached is packaged for
 * Debian 12. */
static void test_old_version(void **state)
{
    fixture *fx = *state;
    enum { N = 400 };
    int port;
    pid_t fake = fake_start(FAKE_OLD, &port);
    mcsq_hostport hp[2] = {fx->hp[0], {"127.0.0.1", port, 0}};
    mcsq_pool_config cfg;
    cfg_init(&cfg, hp, 2, "");
    mc_pool *pool = fx_pool_new(fx, &cfg, 5000, false);
    mcsq_key *keys = keys_make("acct:", 0, N);
    char key[KEY_MAX], err[ERR_MAX];
    for (int i = 0; i < N; i++)
        text_set(fx->srv[0], key_str(&keys[i], key));

    batch *b = batch_run(pool, keys, N, true);
    assert_int_equal(b->rc, MCSQ_ERR_CONNECT);
    assert_true(b->ms < 1000);
    assert_true(b->res.confirmed > 0 && b->res.failed > 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(b->outcome[i], b->server[i] == 1 ? MC_POOL_FAILED : MC_POOL_CONFIRMED);
        if (b->server[i] == 0)
            assert_int_equal(live(fx, fx->srv[0], key_str(&keys[i], key)), 0);
    }
    mc_pool_server_info info;
    mc_pool_server_info_get(pool, 1, &info);
    assert_true(info.down);
    assert_true(info.unsupported);
    assert_int_equal(info.err, MCSQ_ERR_UNSUPPORTED);
    assert_string_equal(info.version, "1.4.25");
    assert_non_null(strstr(info.error, "1.4.25"));
    assert_non_null(strstr(info.error, "1.6"));
    mc_pool_server_info_get(pool, 0, &info);
    assert_false(info.down);
    assert_false(info.unsupported);
    assert_string_equal(info.version, "1.6.18");
    assert_false(mc_pool_probe(pool, 1));

    fake_stop(fake); /* upgraded: a real memcached on the same port */
    memcached_server *upgraded = NULL;
    if (memcached_server_start(&upgraded, port, 0, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_true(mc_pool_probe(pool, 1));
    mc_pool_server_info_get(pool, 1, &info);
    assert_false(info.down);
    assert_false(info.unsupported);
    batch *r = batch_run(pool, keys, N, false);
    assert_int_equal(r->rc, MCSQ_OK);
    batch_free(r);
    batch_free(b);
    memcached_server_stop(upgraded);
    keys_free(keys);
    mc_pool_destroy(pool);
}

/* Errors carry no opaque: the keys between the last matched reply and the
 * next one fail, the others are confirmed, the server stays up. Real
 * memcached 1.6 answers the commands the pool writes for valid keys with no
 * error, so a fake answers key 1 and 4 "NF" and an error between them. */
static void test_error_reply(void **state)
{
    (void)state;
    int port;
    pid_t fake = fake_start(FAKE_ERRORS, &port);
    mcsq_hostport hp = {"127.0.0.1", port, 0};
    mcsq_pool_config cfg;
    cfg_init(&cfg, &hp, 1, "");
    mc_pool *pool = pool_new(&cfg, 5000, false);
    mcsq_key *keys = keys_make("k:", 0, 5);
    batch *b = batch_run(pool, keys, 5, false);
    fake_stop(fake);
    const uint8_t want[] = {MC_POOL_CONFIRMED, MC_POOL_CONFIRMED, MC_POOL_FAILED, MC_POOL_FAILED,
                            MC_POOL_CONFIRMED};
    for (int i = 0; i < 5; i++)
        assert_int_equal(b->outcome[i], want[i]);
    assert_int_equal(b->rc, MCSQ_ERR_CONNECT);
    mc_pool_server_info info;
    mc_pool_server_info_get(pool, 0, &info);
    assert_false(info.down);
    assert_int_equal(info.err, MCSQ_ERR_IO);
    assert_non_null(strstr(info.error, "CLIENT_ERROR"));
    batch_free(b);
    keys_free(keys);
    mc_pool_destroy(pool);
}

/* ---- proxy pools (placement = proxy) ---- */

#define NUTCRACKER "/usr/sbin/nutcracker"

/* A twemproxy (nutcracker) in front of the fixture's servers. */
typedef struct proxy {
    pid_t pid; /* 0: not running */
    int port;
    int stats_port;
    char conf[64];
} proxy;

/* A port of 127.0.0.1 free at the time of the call. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static bool port_answers(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)port)};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* Starts p (again, on its port, when it ran before): ketama over the
 * fixture's servers, as test_client_placement.py configures twemproxy. */
static void proxy_start(proxy *p, const fixture *fx)
{
    if (access(NUTCRACKER, X_OK) != 0)
        fail_msg("%s: not installed (scripts/deps installs nutcracker)", NUTCRACKER);
    if (p->port == 0) {
        p->port = free_port();
        p->stats_port = free_port();
        snprintf(p->conf, sizeof(p->conf), "/tmp/mcsq-mcpool-nc-%d-%d.yml", (int)getpid(), p->port);
        FILE *f = fopen(p->conf, "w");
        assert_non_null(f);
        fprintf(f,
                "pool:\n  listen: 127.0.0.1:%d\n  hash: fnv1a_64\n  distribution: ketama\n"
                "  timeout: 2000\n  auto_eject_hosts: false\n  servers:\n",
                p->port);
        for (int i = 0; i < NSERVERS; i++)
            fprintf(f, "    - 127.0.0.1:%d:1\n", fx->srv[i]->port);
        fclose(f);
    }
    char port[16], stats[16];
    snprintf(port, sizeof(port), "%d", p->port);
    snprintf(stats, sizeof(stats), "%d", p->stats_port);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        fake_detach();
        execl(NUTCRACKER, "nutcracker", "-c", p->conf, "-s", stats, "-a", "127.0.0.1", "-o",
              "/dev/null", (char *)NULL);
        _exit(127);
    }
    int64_t deadline = now_ms() + 10000;
    while (!port_answers(p->port) && now_ms() < deadline)
        sleep_ms(20);
    assert_true(port_answers(p->port));
}

/* kill -9: a proxy that crashed. */
static void proxy_kill(proxy *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    p->pid = 0;
}

static void proxy_stop(proxy *p)
{
    proxy_kill(p);
    if (p->conf[0] != '\0')
        unlink(p->conf);
}

/* A proxy pool on the proxies (host 127.0.0.1), in delete mode. */
static mc_pool *proxy_pool_new(mcsq_hostport *hp, const int *ports, size_t n, int timeout_ms)
{
    mcsq_pool_config cfg;
    for (size_t i = 0; i < n; i++)
        hp[i] = (mcsq_hostport){.host = "127.0.0.1", .port = ports[i]};
    cfg_init(&cfg, hp, n, "");
    cfg.placement = KEY_PLACEMENT_PROXY;
    return pool_new(&cfg, timeout_ms, false);
}

/* The application stores keys through the proxy on port (one server: the
 * proxy places them). */
static void store_through(int port, const mcsq_key *keys, int n)
{
    mcsq_hostport hp = {"127.0.0.1", port, 0};
    mcsq_pool_config cfg;
    cfg_init(&cfg, &hp, 1, "");
    memcached_st *app = app_client(&cfg, false);
    app_set_all(app, keys, n);
    memcached_free(app);
}

/* Every key goes through one proxy, pipelined, as text deletes, each
 * confirmed by its answer; the keys are gone from the servers behind it
 * (twemproxy spread them over both). No `version` is asked. A batch of
 * 20,000 on a new connection answers within the 500 ms poll timeout only
 * because the deletes in flight are bounded (PROXY_WINDOW): written at
 * once, twemproxy's first answer came after 1.1 to 1.8 s. */
static void test_proxy_pool(void **state)
{
    fixture *fx = *state;
    enum { N = 20000 };
    proxy px[2] = {{0}, {0}};
    proxy_start(&px[0], fx);
    proxy_start(&px[1], fx);
    mcsq_hostport hp[2];
    mc_pool *pool = proxy_pool_new(hp, (int[]){px[0].port, px[1].port}, 2, TIMEOUT_MS);
    mcsq_key *keys = keys_make("via:", 0, N), *keep = keys_make("keep:", 0, 50);
    store_through(px[1].port, keys, N / 2); /* the other half: misses */
    store_through(px[1].port, keep, 50);
    assert_true(curr_items(fx->srv[0]) > 0 && curr_items(fx->srv[1]) > 0);
    assert_int_equal(mc_pool_server_of(pool, "via:1", 5), MC_POOL_ANY_SERVER);

    batch *b = batch_run(pool, keys, N, true);
    assert_int_equal(b->rc, MCSQ_OK);
    assert_int_equal(b->res.confirmed, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(b->server[i], 0); /* the first answering proxy takes all */
    assert_int_equal(curr_items(fx->srv[0]) + curr_items(fx->srv[1]), 50);
    mc_pool_server_info info;
    mc_pool_server_info_get(pool, 0, &info);
    assert_int_equal(info.batch_keys, N);
    assert_int_equal(info.batch_confirmed, N);
    assert_string_equal(info.version, "");
    mc_pool_server_info_get(pool, 1, &info);
    assert_int_equal(info.batch_keys, 0);
    print_message("%d keys through twemproxy, one batch: %lld ms\n", N, (long long)b->ms);
    batch_free(b);
    b = batch_run(pool, keys, N, false); /* the connection is reused */
    assert_int_equal(b->res.confirmed, N);
    batch_free(b);
    assert_true(mc_pool_probe(pool, 1));
    mc_pool_destroy(pool);
    keys_free(keys);
    keys_free(keep);
    proxy_stop(&px[0]);
    proxy_stop(&px[1]);
}

/* A proxy killed (-9) between batches: the next batch goes through the
 * other one. Both killed: every key fails, reported under the last proxy
 * tried, no proxy is reachable; once one is back, a revive finds it and
 * the keys go through it. */
static void test_proxy_failover(void **state)
{
    fixture *fx = *state;
    enum { N = 1000 };
    proxy px[2] = {{0}, {0}};
    proxy_start(&px[0], fx);
    proxy_start(&px[1], fx);
    mcsq_hostport hp[2];
    mc_pool *pool = proxy_pool_new(hp, (int[]){px[0].port, px[1].port}, 2, 5000);
    mcsq_key *keys = keys_make("fo:", 0, N);
    batch *warm = batch_run(pool, keys, N, false); /* connection to proxy 0 open */
    assert_int_equal(warm->res.confirmed, N);
    batch_free(warm);

    store_through(px[1].port, keys, N);
    proxy_kill(&px[0]);
    batch *b = batch_run(pool, keys, N, true);
    assert_int_equal(b->rc, MCSQ_OK);
    assert_int_equal(b->res.confirmed, N);
    assert_true(b->ms < 1000); /* refused: no timeout waited */
    for (int i = 0; i < N; i++)
        assert_int_equal(b->server[i], 1);
    assert_int_equal(curr_items(fx->srv[0]) + curr_items(fx->srv[1]), 0);
    mc_pool_server_info info;
    mc_pool_server_info_get(pool, 0, &info);
    assert_true(info.down);
    assert_int_equal(info.err, MCSQ_ERR_CONNECT);
    assert_true(mc_pool_reachable(pool, 0)); /* proxy 1 takes its keys */
    batch_free(b);

    store_through(px[1].port, keys, N);
    proxy_kill(&px[1]);
    b = batch_run(pool, keys, N, true);
    assert_int_equal(b->rc, MCSQ_ERR_CONNECT);
    assert_int_equal(b->res.failed, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(b->server[i], 1);
    assert_false(mc_pool_reachable(pool, 0));
    assert_false(mc_pool_reachable(pool, 1));
    assert_false(mc_pool_revive(pool, 1));
    batch_free(b);
    b = batch_run(pool, keys, N, true); /* every proxy down: no I/O */
    assert_true(b->ms < 200);
    for (int i = 0; i < N; i++)
        assert_int_equal(b->server[i], 0);
    batch_free(b);

    proxy_start(&px[0], fx);
    assert_true(mc_pool_revive(pool, 1));
    assert_true(mc_pool_reachable(pool, 1));
    b = batch_run(pool, keys, N, true);
    assert_int_equal(b->rc, MCSQ_OK);
    assert_int_equal(b->res.confirmed, N);
    assert_int_equal(b->server[0], 0);
    assert_int_equal(curr_items(fx->srv[0]) + curr_items(fx->srv[1]), 0);
    batch_free(b);
    mc_pool_destroy(pool);
    keys_free(keys);
    proxy_stop(&px[0]);
    proxy_stop(&px[1]);
}

/* A proxy that answers SERVER_ERROR for some keys (its memcached failed)
 * stays up; those keys go to the next proxy in the same call (here a
 * memcached, which answers text deletes too). With no next proxy they
 * fail. The fake closes the connection on anything but `delete`, as
 * twemproxy does: a `version` or a meta command would fail every key. */
static void test_proxy_error_answer(void **state)
{
    fixture *fx = *state;
    enum { N = 6 };
    int port;
    pid_t fake = fake_start(FAKE_PROXY, &port);
    mcsq_hostport hp[2];
    mc_pool *pool = proxy_pool_new(hp, (int[]){port, fx->srv[0]->port}, 2, 5000);
    mcsq_key *keys = keys_make("err:", 0, N);
    batch *b = batch_run(pool, keys, N, true);
    assert_int_equal(b->rc, MCSQ_OK);
    assert_int_equal(b->res.confirmed, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(b->server[i], i % 2 == 0 ? 0 : 1);
    mc_pool_server_info info;
    mc_pool_server_info_get(pool, 0, &info);
    assert_false(info.down);
    assert_int_equal(info.err, MCSQ_ERR_IO);
    assert_non_null(strstr(info.error, "SERVER_ERROR"));
    assert_int_equal(info.batch_keys, N);
    assert_int_equal(info.batch_confirmed, N / 2);
    batch_free(b);
    mc_pool_destroy(pool);

    pool = proxy_pool_new(hp, &port, 1, 5000);
    b = batch_run(pool, keys, N, true);
    fake_stop(fake);
    assert_int_equal(b->rc, MCSQ_ERR_CONNECT);
    for (int i = 0; i < N; i++) {
        assert_int_equal(b->outcome[i], i % 2 == 0 ? MC_POOL_CONFIRMED : MC_POOL_FAILED);
        assert_int_equal(b->server[i], 0);
    }
    batch_free(b);
    mc_pool_destroy(pool);
    keys_free(keys);
}

static void test_bad_config(void **state)
{
    (void)state;
    mcsq_pool_config cfg;
    char err[ERR_MAX], prefix[200];
    mc_pool *pool = NULL;
    cfg_init(&cfg, NULL, 0, "");
    assert_int_equal(mc_pool_new(&pool, &cfg, NULL, err, sizeof(err)), MCSQ_ERR_CONFIG);
    assert_null(pool);
    assert_non_null(strstr(err, "no servers"));
    mcsq_hostport hp = {"127.0.0.1", 11211, 0};
    memset(prefix, 'p', sizeof(prefix) - 1);
    prefix[sizeof(prefix) - 1] = '\0';
    cfg_init(&cfg, &hp, 1, prefix);
    assert_int_equal(mc_pool_new(&pool, &cfg, NULL, err, sizeof(err)), MCSQ_ERR_CONFIG);
    cfg_init(&cfg, &hp, 1, NULL);
    assert_int_equal(mc_pool_new(&pool, &cfg, NULL, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(mc_pool_server_count(pool), 1);
    assert_int_equal(mc_pool_server_of(pool, "x", 1), 0);
    mc_pool_results res = {.outcome = NULL, .server = NULL, .confirmed = 9};
    assert_int_equal(mc_pool_delete_batch(pool, NULL, 0, &res), MCSQ_OK); /* no I/O */
    assert_int_equal(res.confirmed + res.failed + res.invalid, 0);
    mc_pool_destroy(pool);
}

#define FX_TEST(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)
/* The same test in stale mode, named <test>_stale. */
// clang-format off
#define FX_STALE_TEST(f) {#f "_stale", f, fixture_setup_stale, fixture_teardown, NULL}
// clang-format on

int main(void)
{
    char path[512];
    if (memcached_server_find(path, sizeof(path)) != 0) {
        return MCSQ_SKIP_EXIT("memcached", "the memcached pool tests: %s", path);
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        FX_TEST(test_deletes_where_the_app_stored),
        cmocka_unit_test(test_distribution_matches_libmemcached),
        cmocka_unit_test(test_distribution_breakers),
        FX_TEST(test_prefix),
        FX_TEST(test_invalid_keys),
        FX_TEST(test_hash_with_prefix),
        FX_TEST(test_stopped_server),
        FX_TEST(test_killed_server),
        FX_TEST(test_restarted_server),
        FX_TEST(test_nothing_listening),
        cmocka_unit_test(test_not_memcached),
        FX_TEST(test_large_batch),
        FX_TEST(test_placement_all),
        FX_TEST(test_placement_modes),
        FX_TEST(test_plain_get_reader),
        FX_STALE_TEST(test_stale_mode),
        FX_TEST(test_old_version),
        cmocka_unit_test(test_error_reply),
        FX_TEST(test_proxy_pool),
        FX_TEST(test_proxy_failover),
        FX_TEST(test_proxy_error_answer),
        /* the same faults in stale mode */
        FX_STALE_TEST(test_deletes_where_the_app_stored),
        FX_STALE_TEST(test_stopped_server),
        FX_STALE_TEST(test_killed_server),
        FX_STALE_TEST(test_restarted_server),
        FX_STALE_TEST(test_old_version),
        FX_STALE_TEST(test_large_batch),
        cmocka_unit_test(test_bad_config),
    };
    const char *filter = getenv("MCSQ_TEST_FILTER");
    if (filter != NULL && filter[0] != '\0')
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
