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
#include <dirent.h>
#include <stdlib.h>

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

/* MurmurHash3 as pymemcache's murmur3_32, CRC-32 as Python's
 * binascii.crc32 (python-memcached, Dalli's Zlib.crc32), SHA-1 as Ruby's
 * Digest::SHA1 (Dalli's ring points): values printed by those libraries. */
static void test_hash_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        uint32_t murmur3, crc32;
    } v[] = {
        {"", 0x0, 0x0},
        {"a", 0x3c2569b2, 0xe8b7be43},
        {"ab", 0x9bbfd75f, 0x9e83486d},
        {"abc", 0xb3dd93fa, 0x352441c2},
        {"abcd", 0x43ed676a, 0xed82cd11},
        {"127.0.0.2:11211-user:1", 0x648072ab, 0xee1a4035},
        {"localhost:21212-session:abc", 0x44b934c1, 0x6b613a2d},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_int_equal(placement_murmur3_32(v[i].in, strlen(v[i].in), 0), v[i].murmur3);
        assert_int_equal(placement_crc32(0, v[i].in, strlen(v[i].in)), v[i].crc32);
    }
    static const struct {
        const char *in, *hex;
    } sha[] = {
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"127.0.0.2:11211:0", "bccc50696b6e35f703ab92475db7a5035a43afe6"},
        {"localhost:21212:159", "bcc8325b12bc5284ebe3d6c20e8ebf2c21e02e72"},
    };
    for (size_t i = 0; i < sizeof(sha) / sizeof(sha[0]); i++) {
        unsigned char d[20];
        char hex[41];
        placement_sha1(sha[i].in, strlen(sha[i].in), d);
        for (int j = 0; j < 20; j++)
            snprintf(hex + 2 * j, 3, "%02x", d[j]);
        assert_string_equal(hex, sha[i].hex);
    }
}

static uint32_t md5_word(const char *data, size_t len)
{
    unsigned char d[16];
    placement_md5(data, len, d);
    return (uint32_t)d[3] << 24 | (uint32_t)d[2] << 16 | (uint32_t)d[1] << 8 | d[0];
}

/* murmur3 of a start absorbed once, then the rest: the one-shot hash for
 * every split of every length. */
static void test_murmur3_resumed(void **state)
{
    (void)state;
    char buf[40];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (char)(i * 29 + 3);
    for (size_t len = 0; len <= sizeof(buf); len++) {
        for (size_t cut = 0; cut <= len; cut++) {
            placement_murmur3 m;
            placement_murmur3_begin(&m, buf, cut, 0);
            assert_int_equal(placement_murmur3_finish(&m, buf + cut, len - cut),
                             placement_murmur3_32(buf, len, 0));
        }
    }
}

/* One-at-a-time (libmemcached's default key hash) and MD5 at every length,
 * bytes above 0x7f included, against libhashkit. */
static void test_hashes_match_libhashkit(void **state)
{
    (void)state;
    char buf[200];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (char)(i * 37 + 101);
    for (size_t len = 0; len <= sizeof(buf); len++) {
        assert_int_equal(placement_one_at_a_time(buf, len), libhashkit_one_at_a_time(buf, len));
        assert_int_equal(md5_word(buf, len), libhashkit_md5(buf, len));
    }
}

/* pymemcache hashes a str by characters: non-ASCII keys (UTF-8 here) land
 * where its RendezvousHash puts them (indexes printed by pymemcache 3.5.2). */
static void test_pymemcache_non_ascii(void **state)
{
    (void)state;
    key_placement_server s[] = {
        {"127.0.0.2", 11211, 0}, {"127.0.0.3", 11211, 0}, {"127.0.0.1", 21211, 0}};
    static const struct {
        const char *key;
        uint32_t server;
    } v[] = {{"h\xc3\xa9llo", 0},
             {"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87:1", 2},
             {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x82\xad\xe3\x83\xbc", 1},
             {"emoji\xf0\x9f\x98\x80x", 0},
             {"na\xc3\xafve-caf\xc3\xa9", 1}};
    key_placement *p;
    assert_int_equal(key_placement_new(&p, KEY_PLACEMENT_PYMEMCACHE, s, 3, NULL, false, 0, NULL, 0),
                     MCSQ_OK);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        assert_int_equal(key_placement_server_of(p, v[i].key, strlen(v[i].key)), v[i].server);
    key_placement_free(p);
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

/* One vector file of tests/fixtures/placement (its README has the format):
 * where a real client put each key. */
typedef struct vectors {
    key_placement_mode mode;
    char prefix[KEY_PLACEMENT_PREFIX_MAX + 1];
    bool hash_with_prefix;
    unsigned ketama_points;
    key_placement_server servers[8];
    char hosts[8][64];
    size_t nservers;
    size_t nkeys, mismatches;
    char first_mismatch[300];
} vectors;

static void vectors_server(vectors *v, const char *text)
{
    assert_true(v->nservers < 8);
    key_placement_server *s = &v->servers[v->nservers];
    char *host = v->hosts[v->nservers];
    unsigned port = 0, weight = 0;
    int n = sscanf(text, "%63[^:]:%u:%u", host, &port, &weight);
    assert_true(n >= 2);
    *s = (key_placement_server){host, port, weight};
    v->nservers++;
}

/* Checks the key line "KEY<TAB>INDEX<TAB>HOST:PORT" against p. */
static void vectors_key(vectors *v, const key_placement *p, char *line)
{
    char *tab = strchr(line, '\t');
    assert_non_null(tab);
    *tab = '\0';
    unsigned want = (unsigned)strtoul(tab + 1, NULL, 10);
    uint32_t got = key_placement_server_of(p, line, strlen(line));
    v->nkeys++;
    if (got != want && v->mismatches++ == 0)
        snprintf(v->first_mismatch, sizeof(v->first_mismatch), "key \"%s\": client %u, ours %u",
                 line, want, got);
}

static bool check_vector_file(const char *path, bool seen[KEY_PLACEMENT_MODE_COUNT])
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    vectors v = {0};
    key_placement *p = NULL;
    char line[1024], err[256];
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *val = strchr(line, '\t');
        if (line[0] == '#' || val == NULL)
            continue;
        *val++ = '\0';
        if (strcmp(line, "placement") == 0)
            assert_int_equal(key_placement_mode_parse(val, &v.mode), MCSQ_OK);
        else if (strcmp(line, "prefix") == 0)
            snprintf(v.prefix, sizeof(v.prefix), "%s", val);
        else if (strcmp(line, "option") == 0 && strncmp(val, "hash_with_prefix\t", 17) == 0)
            v.hash_with_prefix = atoi(val + 17) != 0;
        else if (strcmp(line, "option") == 0 && strncmp(val, "ketama_points\t", 14) == 0)
            v.ketama_points = (unsigned)atoi(val + 14);
        else if (strcmp(line, "server") == 0)
            vectors_server(&v, val);
        else if (strcmp(line, "key") == 0) {
            if (p == NULL &&
                key_placement_new(&p, v.mode, v.servers, v.nservers, v.prefix, v.hash_with_prefix,
                                  v.ketama_points, err, sizeof(err)) != MCSQ_OK)
                fail_msg("%s: %s", path, err);
            vectors_key(&v, p, val);
        } else
            fail_msg("%s: unknown line \"%s\"", path, line);
    }
    fclose(f);
    key_placement_free(p);
    if (v.mismatches > 0)
        print_error("%s: %zu of %zu keys elsewhere than the client put them; first: %s\n", path,
                    v.mismatches, v.nkeys, v.first_mismatch);
    assert_true(v.nkeys >= 100);
    seen[v.mode] = true;
    return v.mismatches == 0;
}

/* Every vector file the real clients wrote: each key on the client's server. */
static void test_client_vectors(void **state)
{
    (void)state;
    const char *src = getenv("MCSQ_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tests/fixtures/placement", src != NULL ? src : ".");
    DIR *d = opendir(dir);
    if (d == NULL)
        fail_msg("cannot open %s (set MCSQ_SOURCE_DIR)", dir);
    bool seen[KEY_PLACEMENT_MODE_COUNT] = {false};
    size_t files = 0, failed = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".tsv") != 0)
            continue;
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        failed += !check_vector_file(path, seen);
        files++;
    }
    closedir(d);
    assert_true(files >= 7);
    if (failed > 0)
        fail_msg("%zu of %zu vector files disagree", failed, files);
    for (int m = 0; m < KEY_PLACEMENT_ALL; m++)
        if (!seen[m])
            fail_msg("no client vectors for placement %s",
                     key_placement_mode_name((key_placement_mode)m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5_rfc1321),
        cmocka_unit_test(test_md5_matches_libhashkit),
        cmocka_unit_test(test_hash_vectors),
        cmocka_unit_test(test_murmur3_resumed),
        cmocka_unit_test(test_hashes_match_libhashkit),
        cmocka_unit_test(test_pymemcache_non_ascii),
        cmocka_unit_test(test_libmemcached_matches_libmemcached),
        cmocka_unit_test(test_libmemcached_prefix),
        cmocka_unit_test(test_libmemcached_long_prefixed_key),
        cmocka_unit_test(test_client_vectors),
        cmocka_unit_test(test_all_and_proxy),
        cmocka_unit_test(test_bad_pools),
        cmocka_unit_test(test_mode_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
