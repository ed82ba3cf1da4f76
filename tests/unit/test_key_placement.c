/*
 * Unit tests of key_placement: each mode places keys on the server its
 * client picks. The libmemcached mode is compared with libmemcached itself
 * (a handle configured as applications configure theirs) on thousands of
 * keys and several server lists with weights, ports 11211 and others, host
 * names and addresses; the hash functions are pinned with the clients'
 * vectors.
 */
#include "marker/hash/placement_hash.h"
#include "marker/key_placement.h"
#include "mcsqueal/error.h"

#include <libhashkit-1.0/hashkit.h>
#include <libmemcached/memcached.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define NKEYS 12000

/* The RFC 1321 test suite. */
static void test_md5_rfc1321(void **state)
{
    (void)state;
    static const struct {
        const char *in, *hex;
    } v[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"1234567890123456789012345678901234567890"
         "1234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned char d[16];
        char hex[33];
        placement_md5(v[i].in, strlen(v[i].in), d);
        for (int j = 0; j < 16; j++)
            snprintf(hex + 2 * j, 3, "%02x", d[j]);
        assert_string_equal(hex, v[i].hex);
    }
}

/* Every length around the block boundaries, against libhashkit's MD5. */
static void test_md5_matches_libhashkit(void **state)
{
    (void)state;
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    for (size_t len = 0; len <= sizeof(buf); len++) {
        unsigned char mine[16], theirs[16];
        placement_md5(buf, len, mine);
        libhashkit_md5_signature(buf, len, theirs);
        assert_memory_equal(mine, theirs, 16);
    }
}

typedef struct server_list {
    const char *name;
    size_t n;
    key_placement_server s[6];
} server_list;

static const server_list lists[] = {
    {"two on 11211", 2, {{"127.0.0.1", 11211, 1}, {"127.0.0.2", 11211, 1}}},
    {"three, other ports",
     3,
     {{"127.0.0.1", 21001, 0}, {"127.0.0.1", 21002, 0}, {"127.0.0.1", 21003, 0}}},
    {"three weighted, mixed ports",
     3,
     {{"127.0.0.1", 11211, 1}, {"127.0.0.2", 11211, 3}, {"127.0.0.3", 22122, 5}}},
    {"host names",
     4,
     {{"localhost", 11211, 2},
      {"cache-a.example", 11211, 1},
      {"cache-b.example", 11212, 1},
      {"10.0.0.7", 11211, 7}}},
    {"six, uneven weights",
     6,
     {{"10.1.0.1", 11211, 100},
      {"10.1.0.2", 11211, 1},
      {"10.1.0.3", 11311, 13},
      {"10.1.0.4", 11211, 27},
      {"10.1.0.5", 1, 2},
      {"10.1.0.6", 65535, 60}}},
    {"one", 1, {{"127.0.0.1", 11211, 1}}},
};

static void make_key(char *buf, size_t size, size_t i, size_t *len)
{
    size_t n = i * 2654435761u % 1000003;
    int w;
    switch (i % 5) {
    case 0:
        w = snprintf(buf, size, "user:%zu", n);
        break;
    case 1:
        w = snprintf(buf, size, "k%zu", n);
        break;
    case 2:
        w = snprintf(buf, size, "post/%zu/comments", n);
        break;
    case 3:
        w = snprintf(buf, size, "%zu", n);
        break;
    default:
        w = snprintf(buf, size, "a-rather-long-cache-key-with-a-namespace:%zu:v2", n);
        break;
    }
    *len = (size_t)w;
}

static memcached_st *libmemcached_handle(const server_list *l, const char *prefix,
                                         bool hash_with_prefix)
{
    memcached_st *mc = memcached_create(NULL);
    assert_non_null(mc);
    assert_int_equal(memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1),
                     MEMCACHED_SUCCESS);
    for (size_t i = 0; i < l->n; i++)
        assert_int_equal(memcached_server_add_with_weight(mc, l->s[i].host, (in_port_t)l->s[i].port,
                                                          l->s[i].weight),
                         MEMCACHED_SUCCESS);
    if (prefix != NULL)
        assert_int_equal(memcached_callback_set(mc, MEMCACHED_CALLBACK_NAMESPACE, prefix),
                         MEMCACHED_SUCCESS);
    if (hash_with_prefix)
        assert_int_equal(memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY, 1),
                         MEMCACHED_SUCCESS);
    return mc;
}

static void compare_with_libmemcached(const char *prefix, bool hash_with_prefix)
{
    for (size_t li = 0; li < sizeof(lists) / sizeof(lists[0]); li++) {
        const server_list *l = &lists[li];
        memcached_st *mc = libmemcached_handle(l, prefix, hash_with_prefix);
        key_placement *p;
        char err[256];
        assert_int_equal(key_placement_new(&p, KEY_PLACEMENT_LIBMEMCACHED, l->s, l->n, prefix,
                                           hash_with_prefix, 0, err, sizeof(err)),
                         MCSQ_OK);
        size_t counts[6] = {0};
        for (size_t i = 0; i < NKEYS; i++) {
            char key[256];
            size_t len;
            make_key(key, sizeof(key), i, &len);
            uint32_t want = memcached_generate_hash(mc, key, len);
            uint32_t got = key_placement_server_of(p, key, len);
            if (want != got)
                fail_msg("%s: key %s: libmemcached says server %u, key_placement %u", l->name, key,
                         want, got);
            counts[got]++;
        }
        for (size_t s = 0; s < l->n; s++) /* every server holds some keys */
            assert_true(counts[s] > 0);
        key_placement_free(p);
        memcached_free(mc);
    }
}

static void test_libmemcached_matches_libmemcached(void **state)
{
    (void)state;
    compare_with_libmemcached(NULL, false);
}

/* The prefix alone does not move keys; with hash_with_prefix it does. */
static void test_libmemcached_prefix(void **state)
{
    (void)state;
    compare_with_libmemcached("app1:", false);
    compare_with_libmemcached("app1:", true);
}

/* libmemcached hashes a prefixed key longer than 250 bytes as 0. */
static void test_libmemcached_long_prefixed_key(void **state)
{
    (void)state;
    const server_list *l = &lists[2];
    memcached_st *mc = libmemcached_handle(l, "pre:", true);
    key_placement *p;
    assert_int_equal(
        key_placement_new(&p, KEY_PLACEMENT_LIBMEMCACHED, l->s, l->n, "pre:", true, 0, NULL, 0),
        MCSQ_OK);
    char key[300];
    for (size_t len = 240; len < sizeof(key); len++) {
        memset(key, 'x', len);
        key[len - 1] = (char)('a' + len % 26);
        assert_int_equal(key_placement_server_of(p, key, len),
                         memcached_generate_hash(mc, key, len));
    }
    key_placement_free(p);
    memcached_free(mc);
}

static void test_all_and_proxy(void **state)
{
    (void)state;
    key_placement *p;
    assert_int_equal(
        key_placement_new(&p, KEY_PLACEMENT_ALL, lists[2].s, 3, NULL, false, 0, NULL, 0), MCSQ_OK);
    assert_int_equal(key_placement_server_of(p, "k", 1), KEY_PLACEMENT_EVERY_SERVER);
    assert_int_equal(key_placement_mode_of(p), KEY_PLACEMENT_ALL);
    key_placement_free(p);
    assert_int_equal(
        key_placement_new(&p, KEY_PLACEMENT_PROXY, lists[2].s, 3, NULL, false, 0, NULL, 0),
        MCSQ_OK);
    assert_int_equal(key_placement_server_of(p, "k", 1), KEY_PLACEMENT_ANY_SERVER);
    assert_int_equal(key_placement_server_count(p), 3);
    key_placement_free(p);
}

static void test_bad_pools(void **state)
{
    (void)state;
    key_placement *p = (key_placement *)1;
    char err[256] = "";
    key_placement_server bad[] = {{"", 11211, 1}};
    assert_int_equal(
        key_placement_new(&p, KEY_PLACEMENT_LIBMEMCACHED, bad, 1, NULL, false, 0, err, sizeof(err)),
        MCSQ_ERR_CONFIG);
    assert_null(p);
    assert_non_null(strstr(err, "server 1"));
    assert_int_equal(key_placement_new(&p, KEY_PLACEMENT_LIBMEMCACHED, lists[0].s, 0, NULL, false,
                                       0, err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    char long_prefix[KEY_PLACEMENT_PREFIX_MAX + 2];
    memset(long_prefix, 'p', sizeof(long_prefix) - 1);
    long_prefix[sizeof(long_prefix) - 1] = '\0';
    assert_int_equal(key_placement_new(&p, KEY_PLACEMENT_LIBMEMCACHED, lists[0].s, 2, long_prefix,
                                       false, 0, err, sizeof(err)),
                     MCSQ_ERR_CONFIG);
    assert_non_null(strstr(err, "prefix"));
}

static void test_mode_names(void **state)
{
    (void)state;
    for (int m = 0; m < KEY_PLACEMENT_MODE_COUNT; m++) {
        key_placement_mode back;
        assert_int_equal(
            key_placement_mode_parse(key_placement_mode_name((key_placement_mode)m), &back),
            MCSQ_OK);
        assert_int_equal(back, m);
    }
    key_placement_mode x;
    assert_int_equal(key_placement_mode_parse("ketama", &x), MCSQ_ERR_CONFIG);
    assert_string_equal(key_placement_mode_name(KEY_PLACEMENT_LIBMEMCACHED), "libmemcached");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5_rfc1321),
        cmocka_unit_test(test_md5_matches_libhashkit),
        cmocka_unit_test(test_libmemcached_matches_libmemcached),
        cmocka_unit_test(test_libmemcached_prefix),
        cmocka_unit_test(test_libmemcached_long_prefixed_key),
        cmocka_unit_test(test_all_and_proxy),
        cmocka_unit_test(test_bad_pools),
        cmocka_unit_test(test_mode_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
