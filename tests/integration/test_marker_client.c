/*
 * The marker client library against real memcached servers: set, check and
 * clear; markers land on the server where the router's pool deleter deletes
 * them (with and without a pool prefix, direct and hashed marker keys); the
 * TTL ends a marker; a marker's value is its set time; a dead server is an
 * error, never "absent". Also the router-side clearer's batch (held keys,
 * set times).
 */
#include "invalidator/mc_pool.h"
#include "invalidator/marker_clearer.h"
#include "memcached_server.h"
#include "mcsqueal/marker.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "skip.h"

#define NSERVERS 3
#define ERR_MAX 1024

typedef struct fixture {
    memcached_server *srv[NSERVERS];
    mcsq_hostport hp[NSERVERS];
    char servers[256];
} fixture;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    char err[ERR_MAX];
    assert_non_null(fx);
    size_t at = 0;
    for (int i = 0; i < NSERVERS; i++) {
        if (memcached_server_start(&fx->srv[i], 0, 16, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        fx->hp[i] = (mcsq_hostport){.host = "127.0.0.1", .port = fx->srv[i]->port};
        at += (size_t)snprintf(fx->servers + at, sizeof(fx->servers) - at, "%s127.0.0.1:%d",
                               i ? " " : "", fx->srv[i]->port);
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < NSERVERS; i++)
        memcached_server_stop(fx->srv[i]);
    free(fx);
    return 0;
}

static mcsq_marker_client *client_new(const fixture *fx, const char *prefix, unsigned ttl_s)
{
    mcsq_marker_options o;
    mcsq_marker_options_init(&o);
    o.servers = fx->servers;
    o.region = "west";
    o.prefix = prefix;
    o.ttl_s = ttl_s;
    o.timeout_ms = 500;
    mcsq_marker_client *c = NULL;
    char err[ERR_MAX];
    if (mcsq_marker_client_new(&c, &o, err, sizeof(err)) != MCSQ_OK)
        fail_msg("mcsq_marker_client_new: %s", err);
    return c;
}

static void pool_cfg(mcsq_pool_config *cfg, fixture *fx, const char *prefix)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->name = "regional";
    cfg->servers.v = fx->hp;
    cfg->servers.n = NSERVERS;
    cfg->role = MCSQ_POOL_REGIONAL;
    cfg->prefix = (char *)prefix;
}

static int check(mcsq_marker_client *c, const char *key)
{
    int present = -1;
    char err[ERR_MAX];
    if (mcsq_marker_check(c, key, strlen(key), &present, NULL, err, sizeof(err)) != MCSQ_OK)
        fail_msg("check %s: %s", key, err);
    return present;
}

static void set(mcsq_marker_client *c, const char *key)
{
    char err[ERR_MAX];
    if (mcsq_marker_set(c, key, strlen(key), err, sizeof(err)) != MCSQ_OK)
        fail_msg("set %s: %s", key, err);
}

static void test_set_check_clear(void **state)
{
    fixture *fx = *state;
    mcsq_marker_client *c = client_new(fx, NULL, 0);
    char err[ERR_MAX];
    assert_int_equal(check(c, "user:1"), 0);
    int64_t before = now_us();
    set(c, "user:1");
    int present = 0;
    int64_t set_us = 0;
    assert_int_equal(mcsq_marker_check(c, "user:1", 6, &present, &set_us, err, sizeof(err)), 0);
    assert_int_equal(present, 1);
    assert_true(set_us >= before && set_us <= now_us());
    assert_int_equal(check(c, "user:2"), 0);
    assert_int_equal(mcsq_marker_clear(c, "user:1", 6, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(check(c, "user:1"), 0);
    /* clearing an absent marker is fine */
    assert_int_equal(mcsq_marker_clear(c, "user:1", 6, err, sizeof(err)), MCSQ_OK);
    /* the marker is an ordinary item under its marker key */
    set(c, "user:3");
    int found = 0;
    for (int i = 0; i < NSERVERS; i++)
        found += memcached_server_has(fx->srv[i], "mcsqueal:marker:user:3") == 1;
    assert_int_equal(found, 1);
    assert_int_equal(mcsq_marker_set(c, "bad key", 7, err, sizeof(err)), MCSQ_ERR_INVALID);
    mcsq_marker_client_destroy(c);
}

/* Every marker is on the server where the router's regional pool deleter
 * sends the marker's delete, and that delete removes it. */
static void placement_agrees(fixture *fx, const char *prefix)
{
    mcsq_marker_client *c = client_new(fx, prefix, 0);
    mcsq_pool_config cfg;
    pool_cfg(&cfg, fx, prefix);
    mc_pool *pool = NULL;
    char err[ERR_MAX];
    if (mc_pool_new(&pool, &cfg, NULL, err, sizeof(err)) != MCSQ_OK)
        fail_msg("mc_pool_new: %s", err);
    size_t plen = strlen(prefix);
    enum { N = 120 };
    static char keys[N][256], mkeys[N][MCSQ_MARKER_KEY_MAX + 1];
    mcsq_key batch[N];
    size_t per_server[NSERVERS] = {0};
    for (int i = 0; i < N; i++) {
        int len = snprintf(keys[i], sizeof(keys[i]), "user:%d", i);
        if (i % 10 == 0) { /* long keys take the hashed marker form */
            memset(keys[i] + len, 'x', 240 - (size_t)len);
            keys[i][240] = '\0';
        }
        set(c, keys[i]);
        size_t mlen;
        assert_int_equal(
            mcsq_marker_key(keys[i], strlen(keys[i]), plen, mkeys[i], sizeof(mkeys[i]), &mlen),
            MCSQ_OK);
        uint32_t s = mc_pool_server_of(pool, mkeys[i], mlen);
        assert_true(s < NSERVERS);
        char wire[400];
        snprintf(wire, sizeof(wire), "%.128s%.250s", prefix, mkeys[i]);
        for (uint32_t j = 0; j < NSERVERS; j++)
            assert_int_equal(memcached_server_has(fx->srv[j], wire), j == s ? 1 : 0);
        per_server[s]++;
        batch[i] = (mcsq_key){mkeys[i], (uint32_t)mlen, 1};
    }
    for (int j = 0; j < NSERVERS; j++)
        assert_true(per_server[j] > 0); /* the check above covered every server */
    uint8_t outcome[N];
    mc_pool_results res = {outcome, NULL, 0, 0, 0};
    assert_int_equal(mc_pool_delete_batch(pool, batch, N, &res), MCSQ_OK);
    assert_int_equal(res.confirmed, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(check(c, keys[i]), 0);
    mc_pool_destroy(pool);
    mcsq_marker_client_destroy(c);
}

static void test_placement_agrees_with_router(void **state)
{
    placement_agrees(*state, "");
}

static void test_placement_agrees_with_prefix(void **state)
{
    placement_agrees(*state, "regional:");
}

static void test_ttl_ends_marker(void **state)
{
    fixture *fx = *state;
    mcsq_marker_client *c = client_new(fx, NULL, 1);
    set(c, "user:ttl");
    assert_int_equal(check(c, "user:ttl"), 1);
    /* memcached expires items on whole seconds: 1 s TTL is gone within 2.5 s */
    int64_t until = now_us() + 3000000;
    while (check(c, "user:ttl") == 1 && now_us() < until)
        usleep(100000);
    assert_int_equal(check(c, "user:ttl"), 0);
    mcsq_marker_client_destroy(c);
}

static void test_dead_server_is_an_error(void **state)
{
    fixture *fx = *state;
    mcsq_marker_client *c = client_new(fx, NULL, 0);
    for (int i = 0; i < NSERVERS; i++)
        memcached_server_kill(fx->srv[i]);
    char err[ERR_MAX];
    int present = 5;
    assert_int_equal(mcsq_marker_check(c, "user:1", 6, &present, NULL, err, sizeof(err)),
                     MCSQ_ERR_CONNECT);
    assert_int_equal(present, 0);
    assert_non_null(strstr(err, "127.0.0.1:"));
    assert_int_equal(mcsq_marker_set(c, "user:1", 6, err, sizeof(err)), MCSQ_ERR_CONNECT);
    assert_int_equal(mcsq_marker_clear(c, "user:1", 6, err, sizeof(err)), MCSQ_ERR_CONNECT);
    mcsq_marker_client_destroy(c);
    /* a stalled server (SIGSTOP) fails within the timeout, not forever */
    for (int i = 0; i < NSERVERS; i++)
        assert_int_equal(memcached_server_restart(fx->srv[i], err, sizeof(err)), 0);
    c = client_new(fx, NULL, 0);
    for (int i = 0; i < NSERVERS; i++)
        memcached_server_pause(fx->srv[i]);
    int64_t t0 = now_us();
    assert_int_equal(mcsq_marker_set(c, "user:1", 6, err, sizeof(err)), MCSQ_ERR_CONNECT);
    assert_true(now_us() - t0 < 3000000);
    for (int i = 0; i < NSERVERS; i++)
        memcached_server_resume(fx->srv[i]);
    mcsq_marker_client_destroy(c);
}

static void test_clearer_batch(void **state)
{
    fixture *fx = *state;
    mcsq_marker_client *c = client_new(fx, NULL, 0);
    mcsq_pool_config cfg;
    pool_cfg(&cfg, fx, "");
    marker_clearer *mc = NULL;
    char err[ERR_MAX];
    if (marker_clearer_new(&mc, &cfg, "west", 500, err, sizeof(err)) != MCSQ_OK)
        fail_msg("marker_clearer_new: %s", err);
    int64_t before = now_us();
    set(c, "a");
    set(c, "c");
    /* keys a (marker), b (no marker), c (marker, but held: its delete is
     * spooled), d (marker, never set) */
    mcsq_key keys[] = {{"a", 1, 1}, {"b", 1, 0}, {"c", 1, 1}, {"d", 1, 1}};
    uint8_t held[] = {0, 0, 1, 0};
    const mcsq_key *out;
    size_t n, nheld;
    assert_int_equal(marker_clearer_prepare(mc, keys, 4, held, true, &out, &n, &nheld), MCSQ_OK);
    assert_int_equal(n, 2);
    assert_int_equal(nheld, 1);
    assert_memory_equal(out[0].data, "mcsqueal:marker:a", out[0].len);
    assert_memory_equal(out[1].data, "mcsqueal:marker:d", out[1].len);
    assert_true(marker_clearer_set_us(mc, 0) >= before);
    assert_int_equal(marker_clearer_set_us(mc, 1), 0);
    /* without reading (a regional server is down): the same markers, no
     * set times, and no wait even with every server stopped */
    for (int i = 0; i < NSERVERS; i++)
        memcached_server_pause(fx->srv[i]);
    int64_t t0 = now_us();
    assert_int_equal(marker_clearer_prepare(mc, keys, 4, held, false, &out, &n, &nheld), MCSQ_OK);
    assert_true(now_us() - t0 < 100000);
    for (int i = 0; i < NSERVERS; i++)
        memcached_server_resume(fx->srv[i]);
    assert_int_equal(n, 2);
    assert_int_equal(nheld, 1);
    assert_memory_equal(out[0].data, "mcsqueal:marker:a", out[0].len);
    assert_int_equal(marker_clearer_set_us(mc, 0), 0);
    marker_clearer_destroy(mc);
    mcsq_marker_client_destroy(c);
}

#define FX(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    char path[512];
    if (memcached_server_find(path, sizeof(path)) != 0) {
        return MCSQ_SKIP_EXIT("memcached", "the marker client tests: %s", path);
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        FX(test_set_check_clear),
        FX(test_placement_agrees_with_router),
        FX(test_placement_agrees_with_prefix),
        FX(test_ttl_ends_marker),
        FX(test_dead_server_is_an_error),
        FX(test_clearer_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
