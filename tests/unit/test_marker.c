/*
 * Unit tests for the marker library's pure parts: marker keys (direct and
 * hashed forms, the pool prefix's room), the annotation builder (every key
 * that cannot be expressed is an error; what it builds, the tailer's parser
 * reads back as exactly the same keys and region), and server lists.
 */
#include "marker/marker_servers.h"
#include "mcsqueal/marker.h"
#include "tailer/annotation.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_marker_key_direct(void **state)
{
    (void)state;
    char out[MCSQ_MARKER_KEY_MAX + 1];
    size_t len = 0;
    assert_int_equal(mcsq_marker_key("user:42", 7, 0, out, sizeof(out), &len), MCSQ_OK);
    assert_string_equal(out, "mcsqueal:marker:user:42");
    assert_int_equal(len, strlen(out));
    /* the longest key that still fits: 250 - 16 bytes */
    char key[251];
    memset(key, 'k', sizeof(key));
    assert_int_equal(mcsq_marker_key(key, 234, 0, out, sizeof(out), &len), MCSQ_OK);
    assert_int_equal(len, 250);
    assert_memory_equal(out + 16, key, 234);
    /* the buffer must hold the key and its NUL */
    assert_int_equal(mcsq_marker_key("user:42", 7, 0, out, 23, &len), MCSQ_ERR_LIMIT);
    assert_int_equal(mcsq_marker_key("user:42", 7, 0, out, 24, &len), MCSQ_OK);
}

static void test_marker_key_hashed(void **state)
{
    (void)state;
    char key[251], a[MCSQ_MARKER_KEY_MAX + 1], b[MCSQ_MARKER_KEY_MAX + 1];
    size_t alen, blen;
    memset(key, 'k', sizeof(key));
    assert_int_equal(mcsq_marker_key(key, 235, 0, a, sizeof(a), &alen), MCSQ_OK);
    assert_int_equal(alen, 16 + 32);
    assert_memory_equal(a, "mcsqueal:marker#", 16);
    for (size_t i = 16; i < alen; i++)
        assert_non_null(strchr("0123456789abcdef", a[i]));
    /* deterministic, and another key gives another hash */
    assert_int_equal(mcsq_marker_key(key, 235, 0, b, sizeof(b), &blen), MCSQ_OK);
    assert_string_equal(a, b);
    key[100] = 'x';
    assert_int_equal(mcsq_marker_key(key, 235, 0, b, sizeof(b), &blen), MCSQ_OK);
    assert_string_not_equal(a, b);
    assert_int_equal(mcsq_marker_key(key, 250, 0, b, sizeof(b), &blen), MCSQ_OK);
    assert_int_equal(blen, 48);
}

static void test_marker_key_prefix_room(void **state)
{
    (void)state;
    char key[251], out[MCSQ_MARKER_KEY_MAX + 1];
    size_t len;
    memset(key, 'k', sizeof(key));
    /* with a 10-byte pool prefix, 224 bytes fit and 225 are hashed */
    assert_int_equal(mcsq_marker_key(key, 224, 10, out, sizeof(out), &len), MCSQ_OK);
    assert_int_equal(len, 240);
    assert_int_equal(mcsq_marker_key(key, 225, 10, out, sizeof(out), &len), MCSQ_OK);
    assert_int_equal(len, 48);
    assert_int_equal(mcsq_marker_key(key, 1, 129, out, sizeof(out), &len), MCSQ_ERR_INVALID);
}

static void test_marker_key_invalid(void **state)
{
    (void)state;
    char out[MCSQ_MARKER_KEY_MAX + 1], key[300];
    memset(key, 'k', sizeof(key));
    assert_int_equal(mcsq_marker_key("", 0, 0, out, sizeof(out), NULL), MCSQ_ERR_INVALID);
    assert_int_equal(mcsq_marker_key("a b", 3, 0, out, sizeof(out), NULL), MCSQ_ERR_INVALID);
    assert_int_equal(mcsq_marker_key("a\x01", 2, 0, out, sizeof(out), NULL), MCSQ_ERR_INVALID);
    assert_int_equal(mcsq_marker_key("\xff", 1, 0, out, sizeof(out), NULL), MCSQ_ERR_INVALID);
    assert_int_equal(mcsq_marker_key(key, 251, 0, out, sizeof(out), NULL), MCSQ_ERR_INVALID);
    assert_int_equal(mcsq_marker_key(NULL, 1, 0, out, sizeof(out), NULL), MCSQ_ERR_INVALID);
}

/* What annotation_parse() reports, for round trips. */
typedef struct parsed {
    char keys[16][256];
    size_t nkeys;
    char marker[16][80];
} parsed;

static void on_key(void *ctx, const char *key, size_t len, const char *marker, size_t mlen)
{
    parsed *p = ctx;
    assert_true(p->nkeys < 16);
    memcpy(p->keys[p->nkeys], key, len);
    p->keys[p->nkeys][len] = '\0';
    memcpy(p->marker[p->nkeys], marker != NULL ? marker : "", mlen);
    p->marker[p->nkeys][mlen] = '\0';
    p->nkeys++;
}

/* Builds an annotation for keys, wraps it in a statement, parses it back and
 * checks that every key comes back once, in order, with the region. */
static void round_trip(const char *const *keys, size_t n, const char *region)
{
    size_t lens[16];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(keys[i]);
    char comment[4096], sql[8192], err[256];
    size_t clen;
    err[0] = '\0';
    int rc = mcsq_annotation_build(keys, lens, n, region, comment, sizeof(comment), &clen, err,
                                   sizeof(err));
    if (rc != MCSQ_OK)
        fail_msg("%s", err);
    assert_int_equal(clen, strlen(comment));
    int len = snprintf(sql, sizeof(sql), "UPDATE t SET v = 'x' WHERE id = 1 %s", comment);
    parsed p = {0};
    annotation_stats stats;
    annotation_stats_init(&stats);
    annotation_handler h = {on_key, NULL, &p};
    assert_int_equal(annotation_parse(sql, (size_t)len, 0, &h, &stats), n);
    assert_int_equal(p.nkeys, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(p.keys[i], keys[i]);
        assert_string_equal(p.marker[i], region != NULL ? region : "");
    }
    for (int r = 0; r < ANNOTATION_REJECT_COUNT; r++)
        assert_int_equal(stats.rejected[r], 0);
}

static void test_annotation_round_trip(void **state)
{
    (void)state;
    const char *plain[] = {"user:42", "profile:42"};
    round_trip(plain, 2, NULL);
    round_trip(plain, 2, "west");
    /* quotes, comment-looking text that is not a terminator, UTF-8, '@' inside */
    const char *odd[] = {"it's", "a\"b", "`x`",         "--x", "#h", "a*b", "a/b", "*",
                         "/",    "x@y",  "caf\xc3\xa9", "a*",  "/b", "--",  "k;"};
    round_trip(odd, 15, "eu-west.1");
    char longkey[251];
    memset(longkey, 'z', 250);
    longkey[250] = '\0';
    const char *big[] = {longkey};
    round_trip(big, 1, "r");
}

static void expect_invalid(const char *key, size_t len, const char *why)
{
    const char *keys[] = {"good", key};
    size_t lens[] = {4, len};
    char out[1024], err[256];
    err[0] = '\0';
    assert_int_equal(
        mcsq_annotation_build(keys, lens, 2, "west", out, sizeof(out), NULL, err, sizeof(err)),
        MCSQ_ERR_INVALID);
    assert_non_null(strstr(err, "key 2 of 2"));
    assert_non_null(strstr(err, why));
}

static void test_annotation_inexpressible(void **state)
{
    (void)state;
    expect_invalid("a*/b", 4, "end the comment");
    expect_invalid("*/", 2, "end the comment");
    expect_invalid("a/*b", 4, "nested comment");
    expect_invalid("@probe=1", 8, "directive");
    expect_invalid("a b", 3, "whitespace");
    expect_invalid("a\nb", 3, "whitespace");
    expect_invalid("", 0, "empty");
    expect_invalid("\xc3", 1, "UTF-8");
    char big[251];
    memset(big, 'b', sizeof(big));
    expect_invalid(big, 251, "250 bytes");
}

static void test_annotation_region_and_room(void **state)
{
    (void)state;
    const char *keys[] = {"k"};
    size_t lens[] = {1};
    char out[64], err[256];
    size_t len;
    assert_int_equal(
        mcsq_annotation_build(keys, lens, 1, "we st", out, sizeof(out), NULL, err, sizeof(err)),
        MCSQ_ERR_INVALID);
    assert_non_null(strstr(err, "region"));
    assert_int_equal(
        mcsq_annotation_build(keys, lens, 1, "", out, sizeof(out), NULL, err, sizeof(err)),
        MCSQ_ERR_INVALID);
    /* exactly "/" "* mcsqueal: k *" "/" is 17 bytes: 18 fit, 17 do not */
    assert_int_equal(mcsq_annotation_build(keys, lens, 1, NULL, out, 18, &len, err, sizeof(err)),
                     MCSQ_OK);
    assert_int_equal(len, 17);
    assert_int_equal(mcsq_annotation_build(keys, lens, 1, NULL, out, 17, &len, err, sizeof(err)),
                     MCSQ_ERR_LIMIT);
    assert_int_equal(
        mcsq_annotation_build(NULL, NULL, 0, "west", out, sizeof(out), &len, err, sizeof(err)),
        MCSQ_OK);
    assert_string_equal(out, "/* mcsqueal: @marker=west */");
}

typedef struct server_list {
    char hosts[8][64];
    unsigned ports[8], weights[8];
    int n;
} server_list;

static int collect_server(void *ctx, const char *host, unsigned port, unsigned weight)
{
    server_list *l = ctx;
    if (l->n == 8)
        return -1;
    snprintf(l->hosts[l->n], sizeof(l->hosts[0]), "%s", host);
    l->weights[l->n] = weight;
    l->ports[l->n++] = port;
    return 0;
}

static void test_servers_parse(void **state)
{
    (void)state;
    server_list l = {0};
    char why[256];
    assert_int_equal(marker_servers_parse(" 10.0.0.1:11211,host-b:11212\n\t[::1]:3 ",
                                          collect_server, &l, why, sizeof(why)),
                     3);
    assert_string_equal(l.hosts[0], "10.0.0.1");
    assert_int_equal(l.ports[0], 11211);
    assert_string_equal(l.hosts[1], "host-b");
    assert_int_equal(l.ports[1], 11212);
    assert_string_equal(l.hosts[2], "::1");
    assert_int_equal(l.ports[2], 3);
    assert_int_equal(l.weights[0], 0);
    server_list w = {0}; /* host:port:weight, as in a pool's servers */
    assert_int_equal(
        marker_servers_parse("a:1:3 [::1]:2:1000 b:3", collect_server, &w, why, sizeof(why)), 3);
    assert_int_equal(w.weights[0], 3);
    assert_int_equal(w.ports[0], 1);
    assert_string_equal(w.hosts[1], "::1");
    assert_int_equal(w.ports[1], 2);
    assert_int_equal(w.weights[1], 1000);
    assert_int_equal(w.weights[2], 0);
    const char *bad[] = {"host",     "host:",   ":11211",     "host:0",      "host:65536",
                         "host:1x",  "[::1]",   "[::1]11211", "host:1:0",    "host:1:1001",
                         "host:1:x", "host:1:", "[::1]:1:",   "[::1]:1:2:3", "a:1:2:3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        server_list m = {0};
        assert_int_equal(marker_servers_parse(bad[i], collect_server, &m, why, sizeof(why)), -1);
        assert_true(strlen(why) > 0);
    }
    server_list e = {0};
    assert_int_equal(marker_servers_parse("  ", collect_server, &e, why, sizeof(why)), 0);
}

static void test_client_config_errors(void **state)
{
    (void)state;
    mcsq_marker_options o;
    mcsq_marker_client *c = NULL;
    char err[256];
    mcsq_marker_options_init(&o);
    assert_int_equal(o.ttl_s, MCSQ_MARKER_TTL_DEFAULT_S);
    assert_int_equal(mcsq_marker_client_new(&c, &o, err, sizeof(err)), MCSQ_ERR_CONFIG);
    o.servers = "127.0.0.1:1";
    assert_int_equal(mcsq_marker_client_new(&c, &o, err, sizeof(err)), MCSQ_ERR_CONFIG);
    assert_non_null(strstr(err, "region"));
    o.region = "west";
    o.servers = "nope";
    assert_int_equal(mcsq_marker_client_new(&c, &o, err, sizeof(err)), MCSQ_ERR_CONFIG);
    o.servers = "";
    assert_int_equal(mcsq_marker_client_new(&c, &o, err, sizeof(err)), MCSQ_ERR_CONFIG);
    o.servers = "127.0.0.1:1";
    assert_int_equal(mcsq_marker_client_new(&c, &o, err, sizeof(err)), MCSQ_OK);
    assert_string_equal(mcsq_marker_client_region(c), "west");
    /* nothing listens on port 1: every operation reports it, none crashes */
    int present = 7;
    assert_int_equal(mcsq_marker_check(c, "k", 1, &present, NULL, err, sizeof(err)),
                     MCSQ_ERR_CONNECT);
    assert_int_equal(present, 0);
    assert_non_null(strstr(err, "127.0.0.1:1"));
    assert_int_equal(mcsq_marker_set(c, "k", 1, err, sizeof(err)), MCSQ_ERR_CONNECT);
    assert_int_equal(mcsq_marker_set(c, "a b", 3, err, sizeof(err)), MCSQ_ERR_INVALID);
    mcsq_marker_client_destroy(c);
    mcsq_marker_client_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marker_key_direct),
        cmocka_unit_test(test_marker_key_hashed),
        cmocka_unit_test(test_marker_key_prefix_room),
        cmocka_unit_test(test_marker_key_invalid),
        cmocka_unit_test(test_annotation_round_trip),
        cmocka_unit_test(test_annotation_inexpressible),
        cmocka_unit_test(test_annotation_region_and_room),
        cmocka_unit_test(test_servers_parse),
        cmocka_unit_test(test_client_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
