/*
 * The lease API (include/mcsqueal/lease.h) against real memcached servers:
 * a hit, a miss with a lease (mg W), a stale value with a lease (X W), wait
 * for the other readers (Z, X Z), a fill that stores only while its lease
 * holds (ms C<cas>: HD, EX, NF), a lease that expires, keys on the server
 * where the router's pool deleter deletes them; and the errors: bad keys,
 * options, a server that does not answer in time (SIGSTOP), one that is
 * down, one restarted under a reused connection, one that does not speak
 * the meta protocol, one that answers garbage.
 */
#include "invalidator/mc_pool.h"
#include "memcached_server.h"
#include "mcsqueal/lease.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
    mc_pool *pool; /* the router's deleter on the same servers */
} fixture;

/* What a get answered, copied out of the client. */
typedef struct got {
    mcsq_lease_status status;
    char value[256];
    int has_value;
    uint64_t lease;
} got;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pool_new(fixture *fx, const char *prefix)
{
    mcsq_pool_config cfg;
    char err[ERR_MAX];
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = "cluster";
    cfg.servers.v = fx->hp;
    cfg.servers.n = NSERVERS;
    cfg.role = MCSQ_POOL_CLUSTER;
    cfg.prefix = (char *)prefix;
    mc_pool_destroy(fx->pool);
    fx->pool = NULL;
    if (mc_pool_new(&fx->pool, &cfg, NULL, err, sizeof(err)) != MCSQ_OK)
        fail_msg("mc_pool_new: %s", err);
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
    pool_new(fx, "");
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    mc_pool_destroy(fx->pool);
    for (int i = 0; i < NSERVERS; i++)
        memcached_server_stop(fx->srv[i]);
    free(fx);
    return 0;
}

static mcsq_lease_client *client_with(const char *servers, const char *prefix, const char *ttl,
                                      const char *timeout_ms)
{
    mcsq_lease_options *o = NULL;
    mcsq_lease_client *c = NULL;
    char err[ERR_MAX];
    assert_int_equal(mcsq_lease_options_new(&o), MCSQ_OK);
    if (mcsq_lease_options_set(o, "servers", servers, err, sizeof(err)) != MCSQ_OK ||
        mcsq_lease_options_set(o, "prefix", prefix, err, sizeof(err)) != MCSQ_OK ||
        mcsq_lease_options_set(o, "lease_ttl_s", ttl, err, sizeof(err)) != MCSQ_OK ||
        mcsq_lease_options_set(o, "timeout_ms", timeout_ms, err, sizeof(err)) != MCSQ_OK ||
        mcsq_lease_client_new(&c, o, err, sizeof(err)) != MCSQ_OK)
        fail_msg("lease client: %s", err);
    mcsq_lease_options_destroy(o);
    return c;
}

static mcsq_lease_client *client_new(const fixture *fx)
{
    return client_with(fx->servers, "", "30", "500");
}

static got get(mcsq_lease_client *c, const char *key)
{
    got g = {0};
    const char *v = NULL;
    size_t vlen = 0;
    char err[ERR_MAX];
    if (mcsq_lease_get(c, key, strlen(key), &g.status, &v, &vlen, &g.lease, err, sizeof(err)) !=
        MCSQ_OK)
        fail_msg("get %s: %s", key, err);
    g.has_value = v != NULL;
    assert_true(vlen < sizeof(g.value));
    if (v != NULL)
        memcpy(g.value, v, vlen);
    return g;
}

/* Fills key under lease; returns *stored. */
static int fill(mcsq_lease_client *c, const char *key, uint64_t lease, const char *value)
{
    int stored = -1;
    char err[ERR_MAX];
    if (mcsq_lease_fill(c, key, strlen(key), lease, value, strlen(value), 60, &stored, err,
                        sizeof(err)) != MCSQ_OK)
        fail_msg("fill %s: %s", key, err);
    assert_true(stored == 0 || stored == 1);
    return stored;
}

/* The router's delete of key (`invalidate = delete`). */
static void router_delete(fixture *fx, const char *key)
{
    mcsq_key k = {key, (uint32_t)strlen(key), 0};
    uint8_t outcome[1];
    mc_pool_results res = {outcome, NULL, 0, 0, 0};
    assert_int_equal(mc_pool_delete_batch(fx->pool, &k, 1, &res), MCSQ_OK);
    assert_int_equal(res.confirmed, 1);
}

/* What `invalidate = stale` sends: md <key> I T30 on the key's server. */
static void mark_stale(fixture *fx, const char *wire_key, const char *key)
{
    char line[400], buf[256];
    uint32_t s = mc_pool_server_of(fx->pool, key, strlen(key));
    snprintf(line, sizeof(line), "md %s I T30", wire_key);
    assert_int_equal(memcached_server_command(fx->srv[s], line, NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "HD\r\n");
}

static void test_miss_fill_hit(void **state)
{
    fixture *fx = *state;
    mcsq_lease_client *a = client_new(fx), *b = client_new(fx);
    got g = get(a, "user:1");
    assert_int_equal(g.status, MCSQ_LEASE_MISS);
    assert_false(g.has_value);
    assert_true(g.lease != 0);
    /* the lease is out: another reader waits, with nothing to serve */
    got w = get(b, "user:1");
    assert_int_equal(w.status, MCSQ_LEASE_WAIT);
    assert_false(w.has_value);
    assert_int_equal(w.lease, 0);
    assert_int_equal(fill(a, "user:1", g.lease, "row-1"), 1);
    got h = get(b, "user:1");
    assert_int_equal(h.status, MCSQ_LEASE_HIT);
    assert_string_equal(h.value, "row-1");
    assert_int_equal(h.lease, 0);
    /* the same lease does not fill twice */
    assert_int_equal(fill(a, "user:1", g.lease, "row-1b"), 0);
    assert_string_equal(get(a, "user:1").value, "row-1");
    /* a plain get sees what the lease stored */
    int found = 0;
    for (int i = 0; i < NSERVERS; i++)
        found += memcached_server_has(fx->srv[i], "user:1") == 1;
    assert_int_equal(found, 1);
    mcsq_lease_client_destroy(a);
    mcsq_lease_client_destroy(b);
}

/* delete mode: the invalidation between the lease and the fill voids it. */
static void test_delete_voids_lease(void **state)
{
    fixture *fx = *state;
    mcsq_lease_client *a = client_new(fx);
    got g = get(a, "user:2");
    assert_int_equal(g.status, MCSQ_LEASE_MISS);
    router_delete(fx, "user:2");
    assert_int_equal(fill(a, "user:2", g.lease, "old-row"), 0); /* NF */
    got again = get(a, "user:2");
    assert_int_equal(again.status, MCSQ_LEASE_MISS);
    assert_true(again.lease != g.lease);
    assert_int_equal(fill(a, "user:2", again.lease, "new-row"), 1);
    assert_string_equal(get(a, "user:2").value, "new-row");
    mcsq_lease_client_destroy(a);
}

/* stale mode: X W to the first reader (the stale value and a lease), X Z to
 * the others (the stale value, no lease); the lease holder's fill stores. */
static void test_stale_lease_and_wait(void **state)
{
    fixture *fx = *state;
    mcsq_lease_client *a = client_new(fx), *b = client_new(fx);
    got g = get(a, "user:3");
    assert_int_equal(fill(a, "user:3", g.lease, "v1"), 1);
    mark_stale(fx, "user:3", "user:3");
    got s = get(a, "user:3");
    assert_int_equal(s.status, MCSQ_LEASE_STALE);
    assert_true(s.has_value);
    assert_string_equal(s.value, "v1");
    assert_true(s.lease != 0 && s.lease != g.lease);
    got w = get(b, "user:3");
    assert_int_equal(w.status, MCSQ_LEASE_WAIT);
    assert_true(w.has_value);
    assert_string_equal(w.value, "v1");
    assert_int_equal(w.lease, 0);
    /* the old lease (before the invalidation) no longer fills */
    assert_int_equal(fill(b, "user:3", g.lease, "v0"), 0);
    assert_int_equal(fill(a, "user:3", s.lease, "v2"), 1);
    got h = get(b, "user:3");
    assert_int_equal(h.status, MCSQ_LEASE_HIT);
    assert_string_equal(h.value, "v2");
    mcsq_lease_client_destroy(a);
    mcsq_lease_client_destroy(b);
}

/* stale mode: a second invalidation between the lease and the fill voids
 * the lease (EX); so does one of a placeholder (a miss's lease). */
static void test_stale_voids_lease(void **state)
{
    fixture *fx = *state;
    mcsq_lease_client *a = client_new(fx);
    got g = get(a, "user:4");
    assert_int_equal(g.status, MCSQ_LEASE_MISS);
    mark_stale(fx, "user:4", "user:4");
    assert_int_equal(fill(a, "user:4", g.lease, "old"), 0);
    /* the stale placeholder has no value: the next reader misses, with a lease */
    got m = get(a, "user:4");
    assert_int_equal(m.status, MCSQ_LEASE_MISS);
    assert_false(m.has_value);
    assert_int_equal(fill(a, "user:4", m.lease, "v1"), 1);
    mark_stale(fx, "user:4", "user:4");
    got s = get(a, "user:4");
    assert_int_equal(s.status, MCSQ_LEASE_STALE);
    mark_stale(fx, "user:4", "user:4");
    assert_int_equal(fill(a, "user:4", s.lease, "v1-again"), 0);
    got s2 = get(a, "user:4");
    assert_int_equal(s2.status, MCSQ_LEASE_STALE);
    assert_string_equal(s2.value, "v1");
    mcsq_lease_client_destroy(a);
}

/* A lease whose holder never fills ends after lease_ttl_s: the next reader
 * gets one. */
static void test_lease_expires(void **state)
{
    fixture *fx = *state;
    mcsq_lease_client *a = client_with(fx->servers, "", "1", "500"), *b = client_new(fx);
    assert_int_equal(get(a, "user:5").status, MCSQ_LEASE_MISS);
    assert_int_equal(get(b, "user:5").status, MCSQ_LEASE_WAIT);
    usleep(2100 * 1000);
    got g = get(b, "user:5");
    assert_int_equal(g.status, MCSQ_LEASE_MISS);
    assert_int_equal(fill(b, "user:5", g.lease, "v"), 1);
    mcsq_lease_client_destroy(a);
    mcsq_lease_client_destroy(b);
}

/* Keys (with and without a pool prefix) are on the server where the router's
 * pool deleter deletes them, under prefix + key. */
static void placement_agrees(fixture *fx, const char *prefix)
{
    pool_new(fx, prefix);
    mcsq_lease_client *c = client_with(fx->servers, prefix, "30", "500");
    size_t per_server[NSERVERS] = {0};
    for (int i = 0; i < 60; i++) {
        char key[64], wire[256];
        snprintf(key, sizeof(key), "user:%d", 100 + i);
        snprintf(wire, sizeof(wire), "%s%s", prefix, key);
        got g = get(c, key);
        assert_int_equal(fill(c, key, g.lease, "v"), 1);
        uint32_t s = mc_pool_server_of(fx->pool, key, strlen(key));
        assert_true(s < NSERVERS);
        for (uint32_t j = 0; j < NSERVERS; j++)
            assert_int_equal(memcached_server_has(fx->srv[j], wire), j == s ? 1 : 0);
        per_server[s]++;
        router_delete(fx, key);
        assert_int_equal(get(c, key).status, MCSQ_LEASE_MISS);
    }
    for (int j = 0; j < NSERVERS; j++)
        assert_true(per_server[j] > 0);
    mcsq_lease_client_destroy(c);
}

static void test_placement_agrees_with_router(void **state)
{
    placement_agrees(*state, "");
    placement_agrees(*state, "app:");
}

static void test_bad_arguments(void **state)
{
    fixture *fx = *state;
    mcsq_lease_client *c = client_with(fx->servers, "p:", "30", "500");
    char err[ERR_MAX], long_key[260];
    const char *v;
    size_t vlen;
    uint64_t lease = 7;
    int stored = 5;
    mcsq_lease_status st;
    assert_int_equal(mcsq_lease_get(c, "a b", 3, &st, &v, &vlen, &lease, err, sizeof(err)),
                     MCSQ_ERR_INVALID);
    assert_non_null(strstr(err, "key rules"));
    assert_int_equal(lease, 0);
    memset(long_key, 'k', 249); /* 249 bytes fit alone, not with "p:" */
    assert_int_equal(mcsq_lease_get(c, long_key, 249, &st, &v, &vlen, &lease, err, sizeof(err)),
                     MCSQ_ERR_INVALID);
    assert_non_null(strstr(err, "prefix"));
    assert_int_equal(mcsq_lease_fill(c, "k", 1, 0, "v", 1, 0, &stored, err, sizeof(err)),
                     MCSQ_ERR_INVALID);
    assert_int_equal(stored, 0);
    assert_non_null(strstr(err, "no lease"));
    mcsq_lease_client_destroy(c);

    mcsq_lease_options *o = NULL;
    assert_int_equal(mcsq_lease_options_new(&o), MCSQ_OK);
    assert_int_equal(mcsq_lease_client_new(&c, o, err, sizeof(err)), MCSQ_ERR_CONFIG);
    assert_non_null(strstr(err, "no servers"));
    assert_int_equal(mcsq_lease_options_set(o, "colour", "red", err, sizeof(err)), MCSQ_ERR_CONFIG);
    assert_non_null(strstr(err, "unknown option"));
    assert_int_equal(mcsq_lease_options_set(o, "servers", "host-without-port", err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    assert_int_equal(mcsq_lease_options_set(o, "servers", " ", err, sizeof(err)), MCSQ_ERR_CONFIG);
    assert_int_equal(mcsq_lease_options_set(o, "timeout_ms", "0", err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    assert_int_equal(mcsq_lease_options_set(o, "timeout_ms", "12x", err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    assert_int_equal(mcsq_lease_options_set(o, "lease_ttl_s", "3601", err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    assert_int_equal(mcsq_lease_options_set(o, "prefix", "a b", err, sizeof(err)), MCSQ_ERR_CONFIG);
    memset(long_key, 'p', 129);
    long_key[129] = '\0';
    assert_int_equal(mcsq_lease_options_set(o, "prefix", long_key, err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    /* the pool's placement: a lease needs one owner, so not all nor proxy */
    assert_int_equal(mcsq_lease_options_set(o, "placement", "all", err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    assert_non_null(strstr(err, "one owner"));
    assert_int_equal(mcsq_lease_options_set(o, "placement", "proxy", err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    assert_int_equal(mcsq_lease_options_set(o, "placement", "ketama", err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    assert_int_equal(mcsq_lease_options_set(o, "placement", "dalli", err, sizeof(err)), MCSQ_OK);
    assert_int_equal(mcsq_lease_options_set(o, "ketama_points", "10001", err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    assert_int_equal(mcsq_lease_options_set(o, "ketama_points", "150", err, sizeof(err)), MCSQ_OK);
    assert_int_equal(mcsq_lease_options_set(o, "servers", "h:1:0", err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    mcsq_lease_options_destroy(o);
    assert_string_equal(mcsq_lease_status_name(MCSQ_LEASE_WAIT), "wait");
    assert_string_equal(mcsq_lease_status_name((mcsq_lease_status)9), "unknown");
}

/* A server that stops answering costs one timeout and an error, never a
 * made-up answer; once it answers again the client reconnects. */
static void test_timeout_and_recovery(void **state)
{
    fixture *fx = *state;
    mcsq_lease_client *c = client_with(fx->servers, "", "30", "300");
    got g = get(c, "user:6"); /* connects */
    assert_int_equal(fill(c, "user:6", g.lease, "v"), 1);
    uint32_t s = mc_pool_server_of(fx->pool, "user:6", 6);
    assert_int_equal(memcached_server_pause(fx->srv[s]), 0);
    char err[ERR_MAX];
    const char *v = "x";
    size_t vlen = 9;
    uint64_t lease = 9;
    mcsq_lease_status st;
    int64_t t0 = now_ms();
    assert_int_equal(mcsq_lease_get(c, "user:6", 6, &st, &v, &vlen, &lease, err, sizeof(err)),
                     MCSQ_ERR_CONNECT);
    int64_t took = now_ms() - t0;
    assert_true(took >= 250 && took < 2000);
    assert_non_null(strstr(err, "no answer in time"));
    assert_null(v);
    assert_int_equal(lease, 0);
    int stored = 7;
    assert_int_equal(mcsq_lease_fill(c, "user:6", 6, 42, "v", 1, 0, &stored, err, sizeof(err)),
                     MCSQ_ERR_CONNECT);
    assert_int_equal(stored, 0);
    assert_int_equal(memcached_server_resume(fx->srv[s]), 0);
    got h = get(c, "user:6");
    assert_int_equal(h.status, MCSQ_LEASE_HIT);
    assert_string_equal(h.value, "v");
    /* restarted under a reused connection: reconnected within the call */
    memcached_server_kill(fx->srv[s]);
    if (memcached_server_restart(fx->srv[s], err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(get(c, "user:6").status, MCSQ_LEASE_MISS);
    /* down: a clear error */
    memcached_server_kill(fx->srv[s]);
    assert_int_equal(mcsq_lease_get(c, "user:6", 6, &st, &v, &vlen, &lease, err, sizeof(err)),
                     MCSQ_ERR_CONNECT);
    assert_non_null(strstr(err, "127.0.0.1"));
    mcsq_lease_client_destroy(c);
}

/* A one-connection server that answers every request line with a fixed
 * reply (a memcached without meta, or something else entirely). */
typedef struct fake_server {
    int lfd, port;
    const char *reply;
    pthread_t thread;
} fake_server;

static void *fake_main(void *arg)
{
    fake_server *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    char buf[4096];
    ssize_t n;
    while (fd >= 0 && (n = recv(fd, buf, sizeof(buf), 0)) > 0) {
        if (send(fd, f->reply, strlen(f->reply), MSG_NOSIGNAL) < 0)
            break;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void fake_start(fake_server *f, const char *reply)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    f->reply = reply;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static int fake_get(const char *reply, char *err, size_t err_size)
{
    fake_server f;
    char servers[64];
    fake_start(&f, reply);
    snprintf(servers, sizeof(servers), "127.0.0.1:%d", f.port);
    mcsq_lease_client *c = client_with(servers, "", "30", "500");
    const char *v;
    size_t vlen;
    uint64_t lease;
    mcsq_lease_status st;
    int rc = mcsq_lease_get(c, "k", 1, &st, &v, &vlen, &lease, err, err_size);
    mcsq_lease_client_destroy(c);
    pthread_join(f.thread, NULL);
    close(f.lfd);
    return rc;
}

static void test_server_without_meta(void **state)
{
    (void)state;
    char err[ERR_MAX];
    assert_int_equal(fake_get("ERROR\r\n", err, sizeof(err)), MCSQ_ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "1.6"));
    assert_int_equal(fake_get("SERVER_ERROR out of memory\r\n", err, sizeof(err)), MCSQ_ERR_IO);
    assert_non_null(strstr(err, "out of memory"));
    assert_int_equal(fake_get("HTTP/1.1 400 Bad Request\r\n", err, sizeof(err)), MCSQ_ERR_CORRUPT);
    assert_int_equal(fake_get("VA 3 c1\r\nabcdef\r\n", err, sizeof(err)), MCSQ_ERR_CORRUPT);
    assert_int_equal(fake_get("VA 99999999999 c1\r\n", err, sizeof(err)), MCSQ_ERR_LIMIT);
    assert_int_equal(fake_get("HD c1\r\n", err, sizeof(err)), MCSQ_ERR_CORRUPT);
}

#define FX(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    char path[512];
    if (memcached_server_find(path, sizeof(path)) != 0) {
        return MCSQ_SKIP_EXIT("memcached", "the lease client tests: %s", path);
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        FX(test_miss_fill_hit),
        FX(test_delete_voids_lease),
        FX(test_stale_lease_and_wait),
        FX(test_stale_voids_lease),
        FX(test_lease_expires),
        FX(test_placement_agrees_with_router),
        FX(test_bad_arguments),
        FX(test_timeout_and_recovery),
        cmocka_unit_test(test_server_without_meta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
