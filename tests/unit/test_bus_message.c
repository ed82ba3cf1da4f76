/*
 * Unit tests of the bus message contract (bus/bus_message.c): the writer's
 * exact bytes (bus entries and `mcsqueal scan` lines) and its size bounds;
 * the reader: round trips of messages built by the real batcher, every error path with its
 * exact position, unknown fields at every level, escapes and Unicode, keys
 * that break the key rules, markers, limits, reuse, and 200k random
 * mutations of valid messages. Ends with a micro benchmark (printed, not
 * asserted) of a 10k-key message.
 */
#include "tailer/batcher.h"
#include "bus/bus_message.h"
#include "mcsqueal/error.h"
#include "tailer/txn_record.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* A message around one entry, and an entry with the required fields. */
#define ENV(txns) "{\"v\":1,\"source\":\"s\",\"region\":\"r\",\"txns\":[" txns "]}"
#define TXN(extra) "{\"pos\":\"b.1:4\",\"commit_us\":1,\"read_us\":2,\"keys\":[\"k\"]" extra "}"

static char errbuf[256];

/* Parses a copy of exactly len bytes (so that any over-read shows under
 * ASan); errbuf gets the error. */
static int parse_n(bus_message *m, const char *json, size_t len, char **copy)
{
    *copy = malloc(len ? len : 1);
    assert_non_null(*copy);
    memcpy(*copy, json, len);
    errbuf[0] = '\0';
    return bus_message_parse(m, *copy, len, errbuf, sizeof(errbuf));
}

/* Parses json (a C string, terminator not included) and frees the copy:
 * for errors and counters only, not for the borrowed results. */
static int parse_tmp(bus_message *m, const char *json)
{
    char *copy;
    int rc = parse_n(m, json, strlen(json), &copy);
    free(copy);
    return rc;
}

/* Inits m and parses an exact copy of len bytes of json, which must be
 * valid; returns the copy, which m borrows from (caller frees). */
static char *parse_valid(bus_message *m, const char *json, size_t len)
{
    char *copy;
    bus_message_init(m, NULL);
    assert_int_equal(parse_n(m, json, len, &copy), 0);
    return copy;
}

static void assert_span(const char *p, size_t n, const char *want)
{
    assert_non_null(p);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(p, want, n);
}

static void assert_key(const mcsq_key *k, const char *want, unsigned marker)
{
    assert_span(k->data, k->len, want);
    assert_int_equal(k->marker, marker);
}

/* ---- the contract example ---- */

static void test_contract_example(void **state)
{
    (void)state;
    static const char json[] =
        "{\"v\":1,\"source\":\"db-east-1\",\"region\":\"east\",\"txns\":[\n"
        "  {\"gtid\":\"0-1-42\",\"pos\":\"binlog.000003:8812\",\"commit_us\":1763669000123456,\n"
        "   \"read_us\":1763669000124001,\"keys\":[\"user:42\",\"profile:42\"],"
        "\"markers\":[\"user:42\"]}]}";
    bus_message m;
    bus_message_init(&m, NULL);
    assert_int_equal(bus_message_parse(&m, json, sizeof(json) - 1, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(m.version, 1);
    assert_span(m.source, m.source_len, "db-east-1");
    assert_span(m.region, m.region_len, "east");
    assert_int_equal(m.ntxns, 1);
    const bus_txn *t = &m.txns[0];
    assert_span(t->gtid, t->gtid_len, "0-1-42");
    assert_span(t->file, t->file_len, "binlog.000003");
    assert_int_equal(t->pos, 8812);
    assert_int_equal(t->commit_us, 1763669000123456);
    assert_int_equal(t->read_us, 1763669000124001);
    assert_int_equal(t->nkeys, 2);
    assert_int_equal(t->nmarkers, 1);
    assert_key(&t->keys[0], "user:42", 1);
    assert_key(&t->keys[1], "profile:42", 0);
    assert_ptr_equal(t->keys, m.keys);
    assert_int_equal(m.nkeys, 2);
    assert_int_equal(m.nmarkers, 1);
    assert_int_equal(m.ninvalid, 0);
    assert_int_equal(m.orphan_markers, 0);
    /* keys without escapes are not copied */
    assert_true(t->keys[0].data > json && t->keys[0].data < json + sizeof(json));
    bus_message_deinit(&m);
}

/* Regression: in a string with an escape, UTF-8 characters after the
 * escape were dropped from the decoded key ("q\"x:naïve" became "q"x:nave"),
 * so a different key was deleted and the real one stayed cached. */
static void test_escape_then_utf8(void **state)
{
    (void)state;
    static const char json[] =
        "{\"v\":1,\"source\":\"s\",\"region\":\"r\",\"txns\":[{\"pos\":\"b.1:4\","
        "\"commit_us\":1,\"read_us\":2,\"keys\":[\"q\\\"0\\\\x:na\xc3\xafve\","
        "\"\xc3\xa9\\u00e9\xc3\xa9\"]}]}";
    bus_message m;
    bus_message_init(&m, NULL);
    assert_int_equal(bus_message_parse(&m, json, sizeof(json) - 1, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(m.nkeys, 2);
    assert_key(&m.keys[0], "q\"0\\x:na\xc3\xafve", 0);
    assert_key(&m.keys[1], "\xc3\xa9\xc3\xa9\xc3\xa9", 0);
    bus_message_deinit(&m);
}

/* ---- round trip through the real batcher ---- */

typedef struct trip {
    bus_message m;
    txn_record **recs; /* (ref) the records added, in order */
    size_t nrecs;
    size_t rec; /* cursor: record and key expected next */
    size_t key;
    int messages;
} trip;

/* Skips records without keys: they produce no entries. */
static void trip_skip_keyless(trip *t)
{
    while (t->rec < t->nrecs && t->recs[t->rec]->nkeys == 0)
        t->rec++;
}

static void trip_check_entry(trip *t, const bus_txn *e)
{
    trip_skip_keyless(t);
    assert_true(t->rec < t->nrecs);
    const txn_record *r = t->recs[t->rec];
    if (r->gtid[0] == '\0')
        assert_null(e->gtid);
    else
        assert_span(e->gtid, e->gtid_len, r->gtid);
    assert_span(e->file, e->file_len, r->file);
    assert_int_equal(e->pos, r->pos);
    assert_int_equal(e->commit_us, r->commit_us);
    assert_int_equal(e->read_us, r->read_us);
    assert_int_equal(e->commit_exact, r->commit_exact != 0);
    assert_true(e->nkeys > 0);
    size_t markers = 0;
    for (size_t i = 0; i < e->nkeys; i++) {
        assert_true(t->key < r->nkeys); /* an entry never runs past its record */
        const mcsq_key *want = &r->keys[t->key++];
        assert_int_equal(e->keys[i].len, want->len);
        assert_memory_equal(e->keys[i].data, want->data, want->len);
        assert_int_equal(e->keys[i].marker, want->marker);
        markers += want->marker;
    }
    assert_int_equal(e->nmarkers, markers);
    if (t->key == r->nkeys) {
        t->rec++;
        t->key = 0;
    }
}

static int trip_emit(void *ctx, char *payload, size_t len, size_t nkeys, size_t ntxns,
                     const binlog_position *resume)
{
    trip *t = ctx;
    (void)resume;
    if (payload == NULL)
        return MCSQ_OK;
    assert_int_equal(bus_message_parse(&t->m, payload, len, errbuf, sizeof(errbuf)), 0);
    assert_span(t->m.source, t->m.source_len, "db-east-1");
    assert_span(t->m.region, t->m.region_len, "east");
    assert_int_equal(t->m.ntxns, ntxns);
    assert_int_equal(t->m.nkeys, nkeys);
    assert_int_equal(t->m.ninvalid, 0);
    assert_int_equal(t->m.orphan_markers, 0);
    for (size_t i = 0; i < t->m.ntxns; i++)
        trip_check_entry(t, &t->m.txns[i]);
    t->messages++;
    free(payload);
    return MCSQ_OK;
}

static txn_record *make_record(const char *gtid, const char *file, uint64_t pos,
                               const char *const *keys, size_t nkeys, const unsigned *markers)
{
    mcsq_key k[64];
    size_t nmarkers = 0;
    assert_true(nkeys <= 64);
    for (size_t i = 0; i < nkeys; i++) {
        k[i] = (mcsq_key){keys[i], (uint32_t)strlen(keys[i]), markers ? markers[i] : 0};
        nmarkers += k[i].marker;
    }
    int64_t us = 1763669000000000 + (int64_t)(pos % 1000000);
    mcsq_txn t = {.gtid = gtid,
                  .file = file,
                  .pos = pos,
                  .end_pos = pos + 100,
                  .commit_us = us,
                  .read_us = us + 500,
                  .commit_exact = pos % 2 == 0, /* both kinds in the round trip */
                  .keys = k,
                  .nkeys = nkeys,
                  .nmarkers = nmarkers};
    txn_record *rec = txn_record_new(&t, NULL);
    assert_non_null(rec);
    return rec;
}

static void test_round_trip_batcher(void **state)
{
    (void)state;
    char long_key[251];
    memset(long_key, 'x', 250);
    long_key[250] = '\0';
    static const char *const k0[] = {"user:42", "profile:42"};
    static const unsigned m0[] = {1, 0};
    const char *const k1[] = {
        "q\"uote", "back\\slash", "caf\xc3\xa9", "smile\xf0\x9f\x98\x80", "slash/and{braces}[]",
        long_key,  "\x7e~"};
    static const unsigned m1[] = {0, 1, 1, 0, 0, 1, 0};
    char names[20][16];
    const char *k3[20];
    unsigned m3[20];
    for (int i = 0; i < 20; i++) {
        snprintf(names[i], sizeof(names[i]), "item:%d", i);
        k3[i] = names[i];
        m3[i] = i % 3 == 0;
    }
    txn_record *recs[] = {
        make_record("0-1-42", "binlog.000003", 8812, k0, 2, m0),
        make_record("", "binlog.000003", 9000, k1, 7, m1),
        make_record("0-1-44", "binlog.000003", 9500, NULL, 0, NULL),
        make_record("3E11FA47-71CA-11E1-9E33-C80AA9429562:23", "odd:name.000004", 4, k3, 20, m3),
        make_record("0-1-46", "binlog.000004", 18446744073709551615u, k0, 1, NULL),
    };
    trip t = {.recs = recs, .nrecs = sizeof(recs) / sizeof(recs[0])};
    bus_message_init(&t.m, NULL);
    batcher b;
    assert_int_equal(batcher_init(&b, "db-east-1", "east", 7, 100000, 0, trip_emit, &t), 0);
    for (size_t i = 0; i < t.nrecs; i++)
        assert_int_equal(batcher_add(&b, recs[i], 1), 0);
    assert_int_equal(batcher_flush(&b, 2, true), 0);
    trip_skip_keyless(&t);
    assert_int_equal(t.rec, t.nrecs); /* every key came back, in order */
    assert_true(t.messages >= 4);     /* 7 keys per message: the big one was split */
    batcher_deinit(&b);
    bus_message_deinit(&t.m);
    for (size_t i = 0; i < t.nrecs; i++)
        txn_record_free(recs[i]);
}

/* "commit_exact": optional, true or false, absent is false; anything else
 * breaks the contract. */
static void test_commit_exact(void **state)
{
    (void)state;
    bus_message m;
    bus_message_init(&m, NULL);
    assert_int_equal(parse_tmp(&m, ENV(TXN(",\"commit_exact\":true") "," TXN("") "," TXN(
                                       ",\"commit_exact\" : false"))),
                     MCSQ_OK);
    assert_int_equal(m.ntxns, 3);
    assert_true(m.txns[0].commit_exact);
    assert_false(m.txns[1].commit_exact);
    assert_false(m.txns[2].commit_exact);
    assert_int_equal(parse_tmp(&m, ENV(TXN(",\"commit_exact\":1"))), MCSQ_ERR_CORRUPT);
    assert_string_equal(errbuf,
                        "byte 110: txns[0].commit_exact: expected true or false, got number");
    assert_int_equal(parse_tmp(&m, ENV(TXN(",\"commit_exact\":truex"))), MCSQ_ERR_CORRUPT);
    assert_int_equal(parse_tmp(&m, ENV(TXN(",\"commit_exact\":true,\"commit_exact\":true"))),
                     MCSQ_ERR_CORRUPT);
    bus_message_deinit(&m);
}

/* "seq", the message's optional sequence number: a positive integer, read
 * wherever it comes; absent is 0. */
static void test_seq(void **state)
{
    (void)state;
    bus_message m;
    bus_message_init(&m, NULL);
    assert_int_equal(parse_tmp(&m, ENV(TXN(""))), MCSQ_OK);
    assert_int_equal(m.seq, 0);
    assert_int_equal(parse_tmp(&m, "{\"v\":1,\"source\":\"s\",\"region\":\"r\",\"txns\":[],"
                                   "\"seq\":9223372036854775807}"),
                     MCSQ_OK);
    assert_true(m.seq == INT64_MAX);
    assert_int_equal(
        parse_tmp(&m, "{\"seq\" : 42,\"v\":1,\"source\":\"s\",\"region\":\"r\",\"txns\":[]}"),
        MCSQ_OK);
    assert_int_equal(m.seq, 42);
    assert_int_equal(parse_tmp(&m, ENV(TXN(""))), MCSQ_OK); /* not left over */
    assert_int_equal(m.seq, 0);
    static const char *bad[] = {
        "{\"v\":1,\"seq\":0}",           "{\"v\":1,\"seq\":-3}",
        "{\"v\":1,\"seq\":\"7\"}",       "{\"v\":1,\"seq\":1.5}",
        "{\"v\":1,\"seq\":1,\"seq\":2}", "{\"v\":1,\"seq\":99999999999999999999}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_tmp(&m, bad[i]), MCSQ_ERR_CORRUPT);
        assert_non_null(strstr(errbuf, "seq"));
    }
    assert_int_equal(parse_tmp(&m, "{\"v\":1,\"seq\":0}"), MCSQ_ERR_CORRUPT);
    assert_string_equal(errbuf, "byte 13: seq: expected a positive integer");
    bus_message_deinit(&m);
}

/* ---- the writer ---- */

/* The exact bytes of entries and scan lines; `mcsqueal scan` prints these
 * lines, so they must not change. */
static void test_write_exact(void **state)
{
    (void)state;
    mcsq_key keys[] = {{"user:42", 7, 1}, {"a\"b\\c", 5, 0}, {"\xc3\xa9", 2, 1}};
    mcsq_txn full = {
        "0-1-42", "binlog.000003", 8812, 9000, 1763669000123456, 1763669000124001, 1, keys, 3, 2};
    mcsq_txn bare = {"", "b\"x", 4, 50, 0, -1, 0, NULL, 0, 0};
    mcsq_txn extremes = {"", "b", 4, 50, INT64_MAX, INT64_MIN, 0, keys, 3, 2};
    strbuf sb;
    strbuf_init(&sb);
    bus_message_write_txn(&sb, &full, 6, 13, true);
    strbuf_putc(&sb, '\n');
    bus_message_write_txn(&sb, &bare, 0, 3, false);
    strbuf_putc(&sb, '\n');
    bus_message_write_txn(&sb, &extremes, 0, 1, false);
    strbuf_putc(&sb, '\n');
    strbuf_putc(&sb, '\0');
    assert_false(sb.nomem);
    assert_string_equal(
        sb.buf,
        "{\"gtid\":\"0-1-42\",\"pos\":\"binlog.000003:8812\",\"commit_us\":1763669000123456,"
        "\"commit_exact\":true,\"read_us\":1763669000124001,\"keys\":[\"user:42\",\"a\\\"b\\\\c\","
        "\"\xc3\xa9\"],\"markers\":[\"user:42\",\"\xc3\xa9\"],\"file\":\"binlog.000003\",\"end_"
        "pos\":9000}\n"
        "{\"pos\":\"b\\\"x:4\",\"commit_us\":0,\"read_us\":-1,\"keys\":[]}\n"
        "{\"pos\":\"b:4\",\"commit_us\":9223372036854775807,\"read_us\":-9223372036854775808,"
        "\"keys\":[\"user:42\",\"a\\\"b\\\\c\",\"\xc3\xa9\"],\"markers\":[\"user:42\",\"\xc3\xa9\"]"
        "}\n");
    sb.len = 0;
    bus_message_write_head(&sb, "s\"rc", 4, "east", 4);
    bus_message_write_txn(&sb, &bare, 0, 3, false);
    bus_message_write_end(&sb, 0);
    strbuf_putc(&sb, '\0');
    assert_string_equal(sb.buf,
                        "{\"v\":1,\"source\":\"s\\\"rc\",\"region\":\"east\",\"txns\":["
                        "{\"pos\":\"b\\\"x:4\",\"commit_us\":0,\"read_us\":-1,\"keys\":[]}]}");
    sb.len = 0;
    bus_message_write_head(&sb, "s", 1, "r", 1);
    bus_message_write_end(&sb, (uint64_t)INT64_MAX);
    strbuf_putc(&sb, '\0');
    assert_string_equal(sb.buf, "{\"v\":1,\"source\":\"s\",\"region\":\"r\",\"txns\":[],"
                                "\"seq\":9223372036854775807}");
    strbuf_deinit(&sb);
}

/* The bounds the batcher cuts messages by hold for entries at their
 * longest: every optional field, the longest numbers, names and keys full
 * of characters that need escaping. */
static void test_write_size_bounds(void **state)
{
    (void)state;
    char gtid[64], file[300], key_bytes[4][251];
    memset(gtid, '"', sizeof(gtid));
    memset(file, '\\', sizeof(file));
    mcsq_key keys[4];
    for (int i = 0; i < 4; i++) {
        memset(key_bytes[i], i % 2 ? '"' : 'k', sizeof(key_bytes[i]));
        keys[i] = (mcsq_key){key_bytes[i], (uint32_t)(50 * i + 1), i < 3 ? 1u : 0u};
    }
    for (size_t nkeys = 0; nkeys <= 4; nkeys++) {
        mcsq_txn t = {gtid,      file, UINT64_MAX, UINT64_MAX, INT64_MIN,
                      INT64_MIN, 1,    keys,       nkeys,      nkeys < 3 ? nkeys : 3};
        strbuf sb;
        strbuf_init(&sb);
        bus_message_write_txn(&sb, &t, sizeof(gtid), sizeof(file), false);
        size_t bound = bus_message_txn_overhead(sizeof(gtid), sizeof(file));
        size_t bound_max = bound;
        for (size_t i = 0; i < nkeys; i++) {
            bound += bus_message_key_size(&keys[i]);
            bound_max += bus_message_key_size_max(&keys[i]);
            assert_true(bus_message_key_size(&keys[i]) <= bus_message_key_size_max(&keys[i]));
        }
        assert_true(sb.len + 1 <= bound); /* and its comma */
        assert_true(bound <= bound_max);
        strbuf_deinit(&sb);
    }
}

/* ---- errors ---- */

typedef struct bad {
    const char *json;
    const char *at; /* the error is at the first occurrence of this plus off */
    int off;        /* bytes; with at NULL, at the end of input plus off */
    int rc;
    const char *msg; /* errstr after "byte N: " */
} bad;

static void check_bad(bus_message *m, const bad *c)
{
    size_t len = strlen(c->json);
    size_t pos = len + (size_t)c->off;
    if (c->at != NULL) {
        const char *hit = strstr(c->json, c->at);
        assert_non_null(hit);
        pos = (size_t)(hit - c->json) + (size_t)c->off;
    }
    char want[300];
    snprintf(want, sizeof(want), "byte %zu: %s", pos, c->msg);
    int rc = parse_tmp(m, c->json);
    if (rc != c->rc || strcmp(errbuf, want) != 0)
        print_error("input: %s\n  want %d \"%s\"\n  got  %d \"%s\"\n", c->json, c->rc, want, rc,
                    errbuf);
    assert_int_equal(rc, c->rc);
    assert_string_equal(errbuf, want);
    assert_int_equal(m->ntxns, 0);
    assert_int_equal(m->nkeys, 0);
}

static void check_bad_table(const bad *cases, size_t n, const bus_limits *limits)
{
    bus_message m;
    bus_message_init(&m, limits);
    for (size_t i = 0; i < n; i++)
        check_bad(&m, &cases[i]);
    bus_message_deinit(&m);
}

#define C MCSQ_ERR_CORRUPT
#define U MCSQ_ERR_UNSUPPORTED
#define L MCSQ_ERR_LIMIT
#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

static void test_errors_syntax(void **state)
{
    (void)state;
    static const bad cases[] = {
        {"", NULL, 0, C, "expected an object, got end of input"},
        {"   ", NULL, 0, C, "expected an object, got end of input"},
        {"[]", "[", 0, C, "expected an object, got array"},
        {"\"v\"", "\"", 0, C, "expected an object, got string"},
        {"\xef\xbb\xbf{}", "\xef", 0, C, "expected an object, got byte 0xef"},
        {"{", NULL, 0, C, "expected a field name, got end of input"},
        {"{\"v\":1", NULL, 0, C, "expected ',' or '}', got end of input"},
        {"{\"v\":1 \"source\"", "\"source", 0, C, "expected ',' or '}', got string"},
        {"{\"v\":1,}", "}", 0, C, "expected a field name, got '}'"},
        {"{,}", ",", 0, C, "expected a field name, got ','"},
        {"{v:1}", "v", 0, C, "expected a field name, got 'v'"},
        {"{\"v\" 1}", "1", 0, C, "expected ':', got number"},
        {"{\"v\"", NULL, 0, C, "expected ':', got end of input"},
        {"{\"v\":}", "}", 0, C, "v: expected an integer, got '}'"},
        {"{\"x\":}", "}", 0, C, "x: expected a value, got '}'"},
        {"{\"x\":", NULL, 0, C, "x: expected a value, got end of input"},
        {"{\"x\":tru}", "tru", 0, C, "x: expected a value, got 't'"},
        {"{\"x\":nul}", "nul", 0, C, "x: expected a value, got 'n'"},
        {"{\"x\":FALSE}", "F", 0, C, "x: expected a value, got 'F'"},
        {"{\"x\":[1,]}", ",]", 1, C, "x: expected a value, got ']'"},
        {"{\"x\":[,1]}", ",", 0, C, "x: expected a value, got ','"},
        {"{\"x\":[1 2]}", "2", 0, C, "x: expected ',' or ']', got number"},
        {"{\"x\":[1", NULL, 0, C, "x: expected ',' or ']', got end of input"},
        {"{\"x\":{\"a\":1,}}", "}}", 0, C, "x: expected a field name, got '}'"},
        {"{\"x\":{\"a\" 1}}", "1}}", 0, C, "x: expected ':', got number"},
        {"{\"x\":{1:2}}", "1:", 0, C, "x: expected a field name, got number"},
        {"{\"x\":'a'}", "'", 0, C, "x: expected a value, got '''"},
        {"{\"x\":[1]]}", "]]", 1, C, "expected ',' or '}', got ']'"},
        {ENV("") "}", "]}}", 2, C, "expected end of input, got '}'"},
        {"{\"\x01\":1}", "\x01", 0, C, "unescaped control character 0x01 in string"},
        {ENV("") " x", "} x", 2, C, "expected end of input, got 'x'"},
        {ENV("") "{}", "]}{", 2, C, "expected end of input, got object"},
        {ENV("") ENV(""), "]}{", 2, C, "expected end of input, got object"},
        {ENV(TXN("") TXN("")), "}{", 1, C, "txns: expected ',' or ']', got object"},
        {ENV(TXN("") ","), "},]", 2, C, "txns[1]: expected an object, got ']'"},
        {ENV(TXN(",\"x\":1 \"y\":2")), "\"y", 0, C, "txns[0]: expected ',' or '}', got string"},
        {ENV(TXN(",\"x\":[1 2]")), "2]", 0, C, "txns[0].x: expected ',' or ']', got number"},
        {ENV("{\"keys\":[\"a\" \"b\"]}"), "\"b", 0, C,
         "txns[0].keys: expected ',' or ']', got string"},
        {ENV("{\"keys\":[\"a\",]}"), ",]", 1, C, "txns[0].keys[1]: expected a string, got ']'"},
        {ENV("{\"keys\":[\"a\"}"), "}", 0, C, "txns[0].keys: expected ',' or ']', got '}'"},
    };
    check_bad_table(cases, NCASES(cases), NULL);
}

#define TXNP(pos) "{\"pos\":" pos ",\"commit_us\":1,\"read_us\":2,\"keys\":[\"k\"]}"

static void test_errors_contract(void **state)
{
    (void)state;
    static const bad cases[] = {
        {"{}", NULL, -1, C, "missing field \"v\""},
        {"{\"source\":\"s\",\"region\":\"r\",\"txns\":[]}", NULL, -1, C, "missing field \"v\""},
        {"{\"v\":1,\"region\":\"r\",\"txns\":[]}", NULL, -1, C, "missing field \"source\""},
        {"{\"v\":1,\"source\":\"s\",\"txns\":[]}", NULL, -1, C, "missing field \"region\""},
        {"{\"v\":1,\"source\":\"s\",\"region\":\"r\"}", NULL, -1, C, "missing field \"txns\""},
        {"{\"v\":2,\"source\":\"s\"}", "2", 0, U, "v: unsupported version 2 (this reader: 1)"},
        {"{\"v\":0}", "0", 0, U, "v: unsupported version 0 (this reader: 1)"},
        {"{\"v\":-1}", "-1", 0, U, "v: unsupported version -1 (this reader: 1)"},
        {"{\"v\":-9223372036854775808}", "-", 0, U,
         "v: unsupported version -9223372036854775808 (this reader: 1)"},
        {"{\"v\":-9223372036854775809}", "-", 0, C, "v: integer out of range"},
        {"{\"v\":99999999999999999999}", "9", 0, C, "v: integer out of range"},
        {"{\"v\":\"1\"}", "\"1", 0, C, "v: expected an integer, got string"},
        {"{\"v\":true}", "true", 0, C, "v: expected an integer, got true"},
        {"{\"v\":1.0}", "1.0", 0, C, "v: expected an integer, got a fraction or exponent"},
        {"{\"v\":1e0}", "1e0", 0, C, "v: expected an integer, got a fraction or exponent"},
        {"{\"v\":1,\"v\":1}", "\"v\":1}", 0, C, "duplicate field \"v\""},
        {"{\"v\":1,\"\\u0076\":1}", "\"\\u", 0, C, "duplicate field \"v\""},
        {"{\"txns\":[],\"txns\":[]}", "\"txns\":[]}", 0, C, "duplicate field \"txns\""},
        {"{\"v\":1,\"source\":\"\"}", "\"\"", 0, C, "source: empty string"},
        {"{\"v\":1,\"source\":5}", "5", 0, C, "source: expected a string, got number"},
        {"{\"v\":1,\"region\":null}", "null", 0, C, "region: expected a string, got null"},
        {"{\"v\":1,\"region\":{}}", "{}", 0, C, "region: expected a string, got object"},
        {"{\"v\":1,\"txns\":{}}", "{}", 0, C, "txns: expected an array, got object"},
        {"{\"v\":1,\"txns\":null}", "null", 0, C, "txns: expected an array, got null"},
        {ENV("1"), "1]", 0, C, "txns[0]: expected an object, got number"},
        {ENV("[]"), "[]", 0, C, "txns[0]: expected an object, got array"},
        {ENV("{\"commit_us\":1,\"read_us\":2,\"keys\":[]}"), "}]", 0, C,
         "txns[0]: missing field \"pos\""},
        {ENV("{\"pos\":\"b:1\",\"read_us\":2,\"keys\":[]}"), "}]", 0, C,
         "txns[0]: missing field \"commit_us\""},
        {ENV("{\"pos\":\"b:1\",\"commit_us\":2,\"keys\":[]}"), "}]", 0, C,
         "txns[0]: missing field \"read_us\""},
        {ENV(TXN("") ",{\"pos\":\"b:1\",\"commit_us\":1,\"read_us\":2}"), "}]", 0, C,
         "txns[1]: missing field \"keys\""},
        {ENV(TXN(",\"keys\":[]")), "\"keys\":[]", 0, C, "txns[0]: duplicate field \"keys\""},
        {ENV(TXN(",\"gtid\":\"a\",\"gtid\":\"a\"")), "\"gtid\":\"a\"}", 0, C,
         "txns[0]: duplicate field \"gtid\""},
        {ENV(TXN(",\"markers\":[],\"markers\":[]")), "\"markers\":[]}", 0, C,
         "txns[0]: duplicate field \"markers\""},
        {ENV("{\"keys\":\"a\"}"), "\"a", 0, C, "txns[0].keys: expected an array, got string"},
        {ENV("{\"keys\":[1]}"), "1]", 0, C, "txns[0].keys[0]: expected a string, got number"},
        {ENV("{\"keys\":[\"a\",null]}"), "null", 0, C,
         "txns[0].keys[1]: expected a string, got null"},
        {ENV("{\"keys\":[[\"a\"]]}"), "[\"a", 0, C,
         "txns[0].keys[0]: expected a string, got array"},
        {ENV("{\"markers\":[true]}"), "true", 0, C,
         "txns[0].markers[0]: expected a string, got true"},
        {ENV("{\"markers\":{}}"), "{}", 0, C, "txns[0].markers: expected an array, got object"},
        {ENV("{\"gtid\":5}"), "5", 0, C, "txns[0].gtid: expected a string, got number"},
        {ENV("{\"gtid\":null}"), "null", 0, C, "txns[0].gtid: expected a string, got null"},
        {ENV("{\"commit_us\":-1}"), "-1", 0, C,
         "txns[0].commit_us: integer out of range (below 0)"},
        {ENV("{\"commit_us\":9223372036854775808}"), "92", 0, C,
         "txns[0].commit_us: integer out of range"},
        {ENV("{\"commit_us\":\"1\"}"), "\"1", 0, C,
         "txns[0].commit_us: expected an integer, got string"},
        {ENV("{\"read_us\":1.5}"), "1.5", 0, C,
         "txns[0].read_us: expected an integer, got a fraction or exponent"},
        {ENV("{\"read_us\":2E3}"), "2E3", 0, C,
         "txns[0].read_us: expected an integer, got a fraction or exponent"},
        {ENV("{\"read_us\":01}"), "01", 0, C, "txns[0].read_us: invalid number: leading zero"},
        {ENV(TXNP("4")), "4,", 0, C, "txns[0].pos: expected a string, got number"},
        {ENV(TXNP("\"\"")), "\"\"", 0, C, "txns[0].pos: expected \"file:offset\""},
        {ENV(TXNP("\"b.1\"")), "\"b.1", 0, C, "txns[0].pos: expected \"file:offset\""},
        {ENV(TXNP("\":4\"")), "\":4", 0, C, "txns[0].pos: expected \"file:offset\""},
        {ENV(TXNP("\"b.1:\"")), "\"b.1", 0, C, "txns[0].pos: expected \"file:offset\""},
        {ENV(TXNP("\"b.1:x\"")), "\"b.1", 0, C, "txns[0].pos: expected \"file:offset\""},
        {ENV(TXNP("\"b.1:-4\"")), "\"b.1", 0, C, "txns[0].pos: expected \"file:offset\""},
        {ENV(TXNP("\"b.1:+4\"")), "\"b.1", 0, C, "txns[0].pos: expected \"file:offset\""},
        {ENV(TXNP("\"b.1:4 \"")), "\"b.1", 0, C, "txns[0].pos: expected \"file:offset\""},
        {ENV(TXNP("\"b.1:4:\"")), "\"b.1", 0, C, "txns[0].pos: expected \"file:offset\""},
        {ENV(TXNP("\"b.1:18446744073709551616\"")), "\"b.1", 0, C,
         "txns[0].pos: offset out of range"},
    };
    check_bad_table(cases, NCASES(cases), NULL);
}

static void test_errors_strings(void **state)
{
    (void)state;
    static const bad cases[] = {
        {"{\"v\":1,\"source\":\"abc", "\"abc", 0, C, "source: unterminated string"},
        {"{\"v\":1,\"source\":\"a\\\"bc", "\"a", 0, C, "source: unterminated string"},
        {"{\"v\":1,\"source\":\"a\\", "\"a", 0, C, "source: unterminated string"},
        {"{\"v\":1,\"source\":\"a\\n", "\"a", 0, C, "source: unterminated string"},
        {"{\"x\":[\"abcdefghijklmnopq", "\"a", 0, C, "x: unterminated string"},
        {"{\"v\":1,\"source\":\"a\tb\"}", "\t", 0, C,
         "source: unescaped control character 0x09 in string"},
        {"{\"v\":1,\"source\":\"abcdefghijklmnop\nq\"}", "\n", 0, C,
         "source: unescaped control character 0x0a in string"},
        {ENV("{\"keys\":[\"a\x1f\"]}"), "\x1f", 0, C,
         "txns[0].keys[0]: unescaped control character 0x1f in string"},
        {"{\"v\":1,\"source\":\"a\xff\"}", "\xff", 0, C, "source: invalid UTF-8 in string"},
        {"{\"v\":1,\"source\":\"a\x80\"}", "\x80", 0, C, "source: invalid UTF-8 in string"},
        {"{\"v\":1,\"source\":\"a\xc0\x80\"}", "\xc0", 0, C, "source: invalid UTF-8 in string"},
        {"{\"v\":1,\"source\":\"a\xc1\xbf\"}", "\xc1", 0, C, "source: invalid UTF-8 in string"},
        {"{\"v\":1,\"source\":\"a\xe0\x80\x80\"}", "\xe0", 0, C, "source: invalid UTF-8 in string"},
        {"{\"v\":1,\"source\":\"a\xed\xa0\x80\"}", "\xed", 0, C, "source: invalid UTF-8 in string"},
        {"{\"v\":1,\"source\":\"a\xf4\x90\x80\x80\"}", "\xf4", 0, C,
         "source: invalid UTF-8 in string"},
        {"{\"v\":1,\"source\":\"a\xf5\x80\x80\x80\"}", "\xf5", 0, C,
         "source: invalid UTF-8 in string"},
        {"{\"v\":1,\"source\":\"a\xe2\x82\"}", "\xe2", 0, C, "source: invalid UTF-8 in string"},
        {"{\"v\":1,\"source\":\"a\xf0\x9f\x98", "\xf0", 0, C, "source: invalid UTF-8 in string"},
        {"{\"v\":1,\"source\":\"\\n\xff\"}", "\xff", 0, C, "source: invalid UTF-8 in string"},
        {"{\"v\":1,\"source\":\"\\n\x01\"}", "\x01", 0, C,
         "source: unescaped control character 0x01 in string"},
        {"{\"\xff\":1}", "\xff", 0, C, "invalid UTF-8 in string"},
        {"{\"x\":[\"ok\",\"\xff\"]}", "\xff", 0, C, "x: invalid UTF-8 in string"},
        {"{\"v\":1,\"source\":\"a\\x\"}", "\\x", 0, C,
         "source: invalid escape: backslash followed by 'x'"},
        {"{\"v\":1,\"source\":\"a\\U0041\"}", "\\U", 0, C,
         "source: invalid escape: backslash followed by 'U'"},
        {"{\"v\":1,\"source\":\"a\\'\"}", "\\'", 0, C,
         "source: invalid escape: backslash followed by '''"},
        {"{\"v\":1,\"source\":\"a\\\x01\"}", "\\\x01", 0, C,
         "source: invalid escape: backslash followed by byte 0x01"},
        {"{\"v\":1,\"source\":\"a\\u12\"}", "\\u", 0, C, "source: invalid \\u escape"},
        {"{\"v\":1,\"source\":\"a\\u12G4\"}", "\\u", 0, C, "source: invalid \\u escape"},
        {"{\"v\":1,\"source\":\"a\\u", "\\u", 0, C, "source: invalid \\u escape"},
        {"{\"v\":1,\"source\":\"a\\ud800\"}", "\\u", 0, C, "source: lone surrogate \\ud800"},
        {"{\"v\":1,\"source\":\"a\\uDBFFx\"}", "\\u", 0, C, "source: lone surrogate \\udbff"},
        {"{\"v\":1,\"source\":\"a\\udc00\"}", "\\u", 0, C, "source: lone surrogate \\udc00"},
        {"{\"v\":1,\"source\":\"a\\ud800\\u0041\"}", "\\u", 0, C, "source: lone surrogate \\ud800"},
        {"{\"v\":1,\"source\":\"a\\ud800\\ud800\"}", "\\u", 0, C, "source: lone surrogate \\ud800"},
        {"{\"v\":1,\"source\":\"a\\ude00\\ud83d\"}", "\\u", 0, C, "source: lone surrogate \\ude00"},
        {"{\"x\":\"\\ud800\\n\"}", "\\u", 0, C, "x: lone surrogate \\ud800"},
    };
    check_bad_table(cases, NCASES(cases), NULL);
}

static void test_errors_numbers(void **state)
{
    (void)state;
    static const bad cases[] = {
        {"{\"x\":-}", "}", 0, C, "x: invalid number: no digit after '-'"},
        {"{\"x\":-", NULL, 0, C, "x: invalid number: no digit after '-'"},
        {"{\"x\":01}", "01", 0, C, "x: invalid number: leading zero"},
        {"{\"x\":-01}", "-01", 0, C, "x: invalid number: leading zero"},
        {"{\"x\":1.}", "}", 0, C, "x: invalid number: no digit after '.'"},
        {"{\"x\":1.e5}", "e5", 0, C, "x: invalid number: no digit after '.'"},
        {"{\"x\":1e}", "}", 0, C, "x: invalid number: no digit after the exponent"},
        {"{\"x\":1E+}", "}", 0, C, "x: invalid number: no digit after the exponent"},
        {"{\"x\":1e-", NULL, 0, C, "x: invalid number: no digit after the exponent"},
        {"{\"x\":.5}", ".5", 0, C, "x: expected a value, got '.'"},
        {"{\"x\":+1}", "+1", 0, C, "x: expected a value, got '+'"},
        {"{\"x\":1x}", "x}", 0, C, "expected ',' or '}', got 'x'"},
        {"{\"x\":0x10}", "x10", 0, C, "expected ',' or '}', got 'x'"},
        {"{\"x\":1.5.5}", ".5}", 0, C, "expected ',' or '}', got '.'"},
        {"{\"x\":NaN}", "NaN", 0, C, "x: expected a value, got 'N'"},
        {"{\"x\":Infinity}", "Inf", 0, C, "x: expected a value, got 'I'"},
        {"{\"x\":-Infinity}", "Inf", 0, C, "x: invalid number: no digit after '-'"},
    };
    check_bad_table(cases, NCASES(cases), NULL);
}

/* ---- accepted input ---- */

static void test_unknown_fields_everywhere(void **state)
{
    (void)state;
    static const char json[] =
        "{\"x0\":null,\"v\":1,\"x1\":true,\"source\":\"s\",\"x2\":false,\"region\":\"r\","
        "\"x3\":-1.5e-3,\"x4\":\"str\\\"ing\\u00e9\\ud83d\\ude00\",\"x0\":0,"
        "\"x5\":{\"a\":[1,{\"b\":null}],\"c\":{},\"keys\":[\"no\"]},\"x6\":[],"
        "\"x7\":[[],{},\"\",0,-0,0.0e-0,1E+2,123456789012345678901234567890,1e99999],"
        "\"\":1,\"\\u0000\":\"\\u0000\",\"V\":2,\"Txns\":\"no\",\"v2\":{\"v\":2},"
        "\"txns\":[{\"y0\":{\"keys\":[\"not\",\"these\"]},\"pos\":\"b.1:4\","
        "\"y1\":[{\"markers\":[\"k1\"]}],\"commit_us\":1,\"read_us\":2,\"keys\":[\"k1\",\"k2\"],"
        "\"y2\":\"keys\",\"y3\":12345678901234567890123,\"markers\":[\"k2\"],\"y4\":null,"
        "\"keys2\":[1,2],\"Keys\":[\"zz\"],\"k\\u0065ys_\":[]}],"
        "\"x8\":{\"txns\":[1,2,3]},\"x9\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]"
        "]]]}";
    bus_message m;
    char *copy = parse_valid(&m, json, sizeof(json) - 1);
    assert_int_equal(m.version, 1);
    assert_int_equal(m.ntxns, 1);
    assert_int_equal(m.nkeys, 2);
    assert_key(&m.keys[0], "k1", 0);
    assert_key(&m.keys[1], "k2", 1);
    assert_int_equal(m.txns[0].pos, 4);
    assert_int_equal(m.orphan_markers, 0);
    free(copy);
    bus_message_deinit(&m);
}

static void test_whitespace_and_field_order(void **state)
{
    (void)state;
    static const char json[] =
        " \t\r\n{ \"txns\" :\n [ {\n  \"markers\" : [ \"b\" ] ,\r\n  \"keys\"\t:\t[\t\"a\" ,"
        "\"b\"\t]\t, \"read_us\" : 0 , \"commit_us\" : 9223372036854775807 , \"pos\" : "
        "\"x:0\" , \"gtid\" : \"\" } ] , \"region\" : \"r\" , \"source\" : \"s\" , \"v\" : 1 "
        "} \n\t\r ";
    bus_message m;
    char *copy = parse_valid(&m, json, sizeof(json) - 1);
    assert_int_equal(m.ntxns, 1);
    const bus_txn *t = &m.txns[0];
    assert_null(t->gtid); /* "" is absent */
    assert_span(t->file, t->file_len, "x");
    assert_int_equal(t->pos, 0);
    assert_int_equal(t->read_us, 0);
    assert_int_equal(t->commit_us, INT64_MAX);
    assert_int_equal(t->nkeys, 2);
    assert_key(&t->keys[0], "a", 0);
    assert_key(&t->keys[1], "b", 1); /* markers before keys */
    free(copy);
    /* empty lists are valid */
    assert_int_equal(parse_tmp(&m, ENV("")), 0);
    assert_int_equal(m.ntxns, 0);
    assert_int_equal(parse_tmp(&m, ENV("{\"pos\":\"a:1\",\"commit_us\":1,\"read_us\":1,"
                                       "\"keys\":[],\"markers\":[]}")),
                     0);
    assert_int_equal(m.ntxns, 1);
    assert_int_equal(m.txns[0].nkeys, 0);
    /* the last ':' splits, -0 is 0 */
    assert_int_equal(parse_tmp(&m, ENV("{\"pos\":\"a:b:18446744073709551615\",\"commit_us\":-0,"
                                       "\"read_us\":1,\"keys\":[]}")),
                     0);
    assert_int_equal(m.txns[0].file_len, 3);
    assert_int_equal(m.txns[0].pos, UINT64_MAX);
    assert_int_equal(m.txns[0].commit_us, 0);
    bus_message_deinit(&m);
}

static void test_escapes_and_unicode(void **state)
{
    (void)state;
    static const char json[] =
        "{\"v\":1,\"source\":\"db\\u002deast\",\"region\":\"\\u0065ast\",\"t\\u0078ns\":"
        "[{\"pos\":\"b\\u002e1:7\",\"commit_us\":1,\"read_us\":2,\"k\\u0065ys\":["
        "\"plain\",\"a\\\"b\",\"a\\\\b\",\"a\\/b\",\"caf\\u00e9\",\"\\u20ac\",\"\\ud83d\\ude00\","
        "\"\\uD83D\\uDE00\",\"\xe2\x82\xac\",\"x\\u0041y\",\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\","
        "\"caf\xc3\xa9\"],\"markers\":[\"a\\u0022b\"]}]}";
    static const char *const want[] = {
        "plain",
        "a\"b",
        "a\\b",
        "a/b",
        "caf\xc3\xa9",
        "\xe2\x82\xac",
        "\xf0\x9f\x98\x80",
        "\xf0\x9f\x98\x80",
        "\xe2\x82\xac",
        "xAy",
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
        "caf\xc3\xa9",
    };
    bus_message m;
    char *copy = parse_valid(&m, json, sizeof(json) - 1);
    assert_span(m.source, m.source_len, "db-east");
    assert_span(m.region, m.region_len, "east");
    assert_int_equal(m.ntxns, 1);
    assert_span(m.txns[0].file, m.txns[0].file_len, "b.1");
    assert_int_equal(m.txns[0].pos, 7);
    assert_int_equal(m.nkeys, NCASES(want));
    for (size_t i = 0; i < NCASES(want); i++) {
        assert_key(&m.keys[i], want[i], i == 1);
        /* only strings with escapes are copied */
        const char *d = m.keys[i].data;
        bool in_payload = d >= copy && d < copy + sizeof(json);
        bool escaped = i != 0 && i != 8 && i != 11;
        assert_int_equal(in_payload, !escaped);
    }
    free(copy);
    bus_message_deinit(&m);
}

static void test_invalid_keys_counted(void **state)
{
    (void)state;
    char long_key[260], json[1024];
    memset(long_key, 'x', 251);
    long_key[251] = '\0';
    snprintf(json, sizeof(json),
             ENV(TXN("") ",{\"pos\":\"b:1\",\"commit_us\":1,\"read_us\":2,\"keys\":[\"ok1\",\"\","
                         "\"%s\",\"%.250s\",\"a b\",\"a\\tb\",\"\\u0000\",\"del\x7f\",\"ok2\"],"
                         "\"markers\":[\"\",\"ok2\",\"a b\",\"%s\"]}"),
             long_key, long_key, long_key);
    bus_message m;
    char *copy = parse_valid(&m, json, strlen(json));
    assert_int_equal(m.ntxns, 2);
    assert_int_equal(m.txns[1].nkeys, 3);
    assert_key(&m.txns[1].keys[0], "ok1", 0);
    assert_int_equal(m.txns[1].keys[1].len, 250); /* 250 bytes is fine */
    assert_key(&m.txns[1].keys[2], "ok2", 1);
    assert_int_equal(m.txns[1].nmarkers, 1);
    assert_int_equal(m.invalid[CACHE_KEY_EMPTY], 2);
    assert_int_equal(m.invalid[CACHE_KEY_TOO_LONG], 2);
    assert_int_equal(m.invalid[CACHE_KEY_CONTROL_CHAR], 5);
    assert_int_equal(m.invalid[CACHE_KEY_INVALID_UTF8], 0); /* bad UTF-8 is bad JSON */
    assert_int_equal(m.ninvalid, 9);
    assert_string_equal(m.invalid_first, "txns[1].keys[1]: empty");
    assert_int_equal(m.orphan_markers, 0); /* invalid markers are not orphans */
    for (size_t i = 0; i < m.nkeys; i++)
        assert_int_equal(cache_key_check(m.keys[i].data, m.keys[i].len), CACHE_KEY_OK);
    free(copy);
    /* the counters start again with every message */
    assert_int_equal(parse_tmp(&m, ENV(TXN(""))), 0);
    assert_int_equal(m.ninvalid, 0);
    assert_int_equal(m.invalid[CACHE_KEY_CONTROL_CHAR], 0);
    assert_string_equal(m.invalid_first, "");
    bus_message_deinit(&m);
}

static void test_markers(void **state)
{
    (void)state;
    /* a marker that is not a key becomes one; repeats are harmless */
    static const char j1[] =
        ENV("{\"markers\":[\"z\",\"a\",\"z\",\"a\"],\"pos\":\"b:1\",\"commit_us\":1,\"read_us\":2,"
            "\"keys\":[\"a\",\"b\",\"a\"]},"
            "{\"pos\":\"b:2\",\"commit_us\":1,\"read_us\":2,\"keys\":[\"c\"],\"markers\":[\"b\"]},"
            "{\"pos\":\"b:3\",\"commit_us\":1,\"read_us\":2,\"keys\":[],\"markers\":[\"m\"]}");
    bus_message m;
    char *copy = parse_valid(&m, j1, sizeof(j1) - 1);
    assert_int_equal(m.ntxns, 3);
    assert_int_equal(m.txns[0].nkeys, 4);
    assert_key(&m.txns[0].keys[0], "a", 1);
    assert_key(&m.txns[0].keys[1], "b", 0); /* marked only in the other entry */
    assert_key(&m.txns[0].keys[2], "a", 0); /* a repeated key keeps its place */
    assert_key(&m.txns[0].keys[3], "z", 1);
    assert_int_equal(m.txns[0].nmarkers, 2);
    assert_int_equal(m.txns[1].nkeys, 2);
    assert_key(&m.txns[1].keys[0], "c", 0);
    assert_key(&m.txns[1].keys[1], "b", 1); /* not this entry's key: an orphan */
    assert_int_equal(m.txns[2].nkeys, 1);
    assert_key(&m.txns[2].keys[0], "m", 1);
    assert_int_equal(m.orphan_markers, 3);
    assert_int_equal(m.nmarkers, 4);
    assert_int_equal(m.nkeys, 7);
    free(copy);
    bus_message_deinit(&m);
}

/* Many markers go through the hash table: same answers as the list. */
static void test_markers_hashed(void **state)
{
    (void)state;
    static char json[64 * 1024];
    int n = snprintf(json, sizeof(json),
                     "{\"v\":1,\"source\":\"s\",\"region\":\"r\",\"txns\":[{\"pos\":\"b:1\","
                     "\"commit_us\":1,\"read_us\":2,\"keys\":[");
    for (int i = 0; i < 1000; i++)
        n += snprintf(json + n, sizeof(json) - (size_t)n, "%s\"key:%d\"", i ? "," : "", i);
    n += snprintf(json + n, sizeof(json) - (size_t)n, "],\"markers\":[");
    for (int i = 0; i < 300; i++) /* multiples of 7 scrambled, then orphans */
        n += snprintf(json + n, sizeof(json) - (size_t)n, "%s\"key:%d\"", i ? "," : "",
                      (i * 7 * 37) % 2100);
    n += snprintf(json + n, sizeof(json) - (size_t)n,
                  ",\"orphan:1\",\"orphan:2\",\"orphan:1\",\"key:7\"]}]}");
    bus_message m;
    bus_message_init(&m, NULL);
    assert_int_equal(parse_tmp(&m, json), 0);
    size_t orphans = 0;
    for (int i = 0; i < 300; i++)
        orphans += (i * 7 * 37) % 2100 >= 1000;
    const bus_txn *t = &m.txns[0];
    assert_int_equal(t->nkeys, 1000 + orphans + 2);
    assert_int_equal(m.orphan_markers, orphans + 2);
    for (int i = 0; i < 1000; i++) {
        char want[16];
        snprintf(want, sizeof(want), "key:%d", i);
        assert_key(&t->keys[i], want, i % 7 == 0);
    }
    assert_key(&t->keys[t->nkeys - 2], "orphan:1", 1);
    assert_key(&t->keys[t->nkeys - 1], "orphan:2", 1);
    assert_int_equal(t->nmarkers, 1000 / 7 + 1 + orphans + 2);
    bus_message_deinit(&m);
}

static void test_limits(void **state)
{
    (void)state;
    bus_limits lim = {.max_txns = 2, .max_keys_per_txn = 3, .max_keys = 5};
    static const bad cases[] = {
        {ENV("{\"keys\":[\"a\",\"b\",\"c\",\"d\"]}"), "\"d", 0, L,
         "txns[0].keys: more than 3 elements"},
        {ENV("{\"keys\":[\"\",\"\",\"\",\"\"]}"), "\"\"]", 0, L,
         "txns[0].keys: more than 3 elements"},
        {ENV("{\"markers\":[\"a\",\"b\",\"c\",\"d\"]}"), "\"d", 0, L,
         "txns[0].markers: more than 3 elements"},
        {ENV("{\"pos\":\"b:1\",\"commit_us\":1,\"read_us\":1,\"keys\":[\"a\",\"b\",\"c\"]},"
             "{\"keys\":[\"d\",\"e\",\"f\"]}"),
         "\"f", 0, L, "txns[1].keys[2]: more than 5 keys in the message"},
        {ENV("{\"pos\":\"b:1\",\"commit_us\":1,\"read_us\":1,\"keys\":[\"a\",\"b\"]},"
             "{\"pos\":\"b:1\",\"commit_us\":1,\"read_us\":1,\"keys\":[\"c\",\"d\",\"e\"],"
             "\"markers\":[\"x\"]}"),
         "}]", 0, L, "txns[1]: more than 5 keys in the message"},
    };
    check_bad_table(cases, NCASES(cases), &lim);

    bus_message m;
    bus_message_init(&m, &lim);
    /* at the limits exactly: fine; invalid keys take no room in the message */
    assert_int_equal(parse_tmp(&m, ENV(TXN("") "," TXN(""))), 0);
    assert_int_equal(
        parse_tmp(&m, ENV("{\"pos\":\"b:1\",\"commit_us\":1,\"read_us\":1,"
                          "\"keys\":[\"a\",\"b\",\"c\"],\"markers\":[\"a\",\"b\",\"c\"]},"
                          "{\"pos\":\"b:1\",\"commit_us\":1,\"read_us\":1,"
                          "\"keys\":[\"a\",\"\",\"c\"]}")),
        0);
    assert_int_equal(m.nkeys, 5);
    assert_int_equal(m.ninvalid, 1);
    /* a third entry: refused at its start */
    assert_int_equal(parse_tmp(&m, ENV(TXN("") "," TXN("") "," TXN(""))), L);
    char want[64];
    snprintf(want, sizeof(want), "byte %zu: txns: more than 2 entries",
             strlen(ENV("")) - 2 + 2 * (strlen(TXN("")) + 1));
    assert_string_equal(errbuf, want);
    /* and a valid message after a refused one */
    assert_int_equal(parse_tmp(&m, ENV(TXN(""))), 0);
    assert_int_equal(m.nkeys, 1);
    bus_message_deinit(&m);

    /* defaults, and clamping */
    bus_message_init(&m, NULL);
    assert_int_equal(m.limits.max_txns, BUS_MESSAGE_LIMIT_DEFAULT);
    assert_int_equal(m.limits.max_keys_per_txn, BUS_MESSAGE_LIMIT_DEFAULT);
    assert_int_equal(m.limits.max_keys, BUS_MESSAGE_LIMIT_DEFAULT);
    bus_message_deinit(&m);
    lim = (bus_limits){.max_txns = SIZE_MAX};
    bus_message_init(&m, &lim);
    assert_int_equal(m.limits.max_txns, (size_t)1 << 30);
    assert_int_equal(m.limits.max_keys, BUS_MESSAGE_LIMIT_DEFAULT);
    bus_message_deinit(&m);
}

/* Nesting: BUS_MESSAGE_MAX_DEPTH levels pass, one more does not, and deep
 * hostile input fails fast without deep recursion. */
static void test_depth(void **state)
{
    (void)state;
    static char json[300000];
    bus_message m;
    bus_message_init(&m, NULL);
    /* the message is level 1: an unknown field can open 31 more */
    for (int extra = 0; extra <= 1; extra++) {
        int levels = BUS_MESSAGE_MAX_DEPTH - 1 + extra;
        int n = snprintf(json, sizeof(json), "{\"x\":");
        for (int i = 0; i < levels; i++)
            n += snprintf(json + n, 8, "%s", i % 2 ? "[" : "{\"a\":");
        json[n++] = '0';
        for (int i = levels - 1; i >= 0; i--)
            json[n++] = i % 2 ? ']' : '}';
        snprintf(json + n, sizeof(json) - (size_t)n, "}");
        assert_int_equal(parse_tmp(&m, json), MCSQ_ERR_CORRUPT);
        if (extra == 0) /* read to the end, where "v" is missing */
            assert_non_null(strstr(errbuf, "missing field \"v\""));
        else
            assert_non_null(strstr(errbuf, "x: nested deeper than 32 levels"));
    }
    /* inside an entry (level 3): 29 more */
    snprintf(json, sizeof(json),
             ENV(TXN(",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]")));
    assert_int_equal(parse_tmp(&m, json), 0);
    snprintf(json, sizeof(json),
             ENV(TXN(",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]")));
    assert_int_equal(parse_tmp(&m, json), MCSQ_ERR_CORRUPT);
    char want[80];
    snprintf(want, sizeof(want), "byte %zu: txns[0].x: nested deeper than 32 levels",
             (size_t)(strstr(json, "[[") - json) + 29);
    assert_string_equal(errbuf, want);
    /* 200k brackets */
    memset(json, '[', sizeof(json) - 1);
    memcpy(json, "{\"x\":", 5);
    json[sizeof(json) - 1] = '\0';
    assert_int_equal(parse_tmp(&m, json), MCSQ_ERR_CORRUPT);
    assert_string_equal(errbuf, "byte 36: x: nested deeper than 32 levels");
    bus_message_deinit(&m);
}

/* The payload is used by length only; buffers are reused. */
static void test_lengths_and_reuse(void **state)
{
    (void)state;
    bus_message m;
    bus_message_init(&m, NULL);
    static const char padded[] = ENV(TXN("")) "garbage";
    assert_int_equal(bus_message_parse(&m, padded, sizeof(padded) - 8, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(m.nkeys, 1);
    assert_int_equal(bus_message_parse(&m, padded, sizeof(padded) - 1, errbuf, sizeof(errbuf)),
                     MCSQ_ERR_CORRUPT);
    static const char nul[] = ENV(TXN("")) "\0";
    assert_int_equal(bus_message_parse(&m, nul, sizeof(nul) - 1, errbuf, sizeof(errbuf)),
                     MCSQ_ERR_CORRUPT);
    char want[64];
    snprintf(want, sizeof(want), "byte %zu: expected end of input, got byte 0x00", sizeof(nul) - 2);
    assert_string_equal(errbuf, want);
    static const char nul_key[] = ENV("{\"keys\":[\"a\0b\"]}");
    assert_int_equal(bus_message_parse(&m, nul_key, sizeof(nul_key) - 1, errbuf, sizeof(errbuf)),
                     MCSQ_ERR_CORRUPT);
    assert_non_null(strstr(errbuf, "txns[0].keys[0]: unescaped control character 0x00"));
    assert_int_equal(bus_message_parse(&m, NULL, 0, errbuf, sizeof(errbuf)), MCSQ_ERR_CORRUPT);
    assert_string_equal(errbuf, "byte 0: expected an object, got end of input");
    assert_int_equal(bus_message_parse(&m, "{", 1, NULL, 0), MCSQ_ERR_CORRUPT);

    /* steady state: the same message again allocates nothing */
    static char big[200000];
    int n = snprintf(big, sizeof(big), "{\"v\":1,\"source\":\"s\",\"region\":\"r\",\"txns\":[");
    for (int t = 0; t < 50; t++) {
        n += snprintf(big + n, sizeof(big) - (size_t)n,
                      "%s{\"pos\":\"b:%d\",\"commit_us\":1,\"read_us\":2,\"keys\":[", t ? "," : "",
                      t);
        for (int k = 0; k < 100; k++)
            n += snprintf(big + n, sizeof(big) - (size_t)n, "%s\"k\\u0065y:%d:%d\"", k ? "," : "",
                          t, k);
        n += snprintf(big + n, sizeof(big) - (size_t)n,
                      "],\"markers\":[\"key:%d:1\",\"key:%d:2\","
                      "\"key:%d:3\",\"key:%d:4\",\"key:%d:5\",\"o\"]}",
                      t, t, t, t, t);
    }
    snprintf(big + n, sizeof(big) - (size_t)n, "]}");
    assert_int_equal(parse_tmp(&m, big), 0);
    assert_int_equal(m.nkeys, 50 * 101);
    assert_int_equal(m.nmarkers, 50 * 6);
    const void *bufs[] = {m.key_buf, m.txns, m.marker_buf, m.slots, m.arena.buf};
    size_t caps[] = {m.key_cap, m.txn_cap, m.marker_cap, m.slot_cap, m.arena.cap};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(parse_tmp(&m, i == 1 ? ENV(TXN("")) : big), 0);
        const void *now[] = {m.key_buf, m.txns, m.marker_buf, m.slots, m.arena.buf};
        size_t now_caps[] = {m.key_cap, m.txn_cap, m.marker_cap, m.slot_cap, m.arena.cap};
        assert_memory_equal(now, bufs, sizeof(bufs));
        assert_memory_equal(now_caps, caps, sizeof(caps));
    }
    assert_key(&m.txns[49].keys[99], "key:49:99", 0);
    assert_key(&m.txns[49].keys[100], "o", 1);
    bus_message_deinit(&m);
}

/* ---- random mutations ---- */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717u;
}

static const char *const seeds[] = {
    ENV(TXN(",\"gtid\":\"0-1-42\",\"markers\":[\"k\",\"m\"]") "," TXN("")),
    "{\"v\":1,\"source\":\"db-east-1\",\"region\":\"east\",\"txns\":[{\"gtid\":\"0-1-42\","
    "\"pos\":\"binlog.000003:8812\",\"commit_us\":1763669000123456,\"read_us\":1763669000124001,"
    "\"keys\":[\"user:42\",\"profile:42\",\"a\\\"b\",\"caf\\u00e9\",\"\\ud83d\\ude00\"],"
    "\"markers\":[\"user:42\",\"x\",\"y\",\"z\",\"w\",\"v\"]}]}",
    "{\"x\":[1,-2.5e+3,true,false,null,{\"y\":\"\\u0041\\n\"}],\"v\":1,\"source\":\"s\","
    "\"region\":\"r\",\"txns\":[{\"pos\":\"f:1\",\"commit_us\":0,\"read_us\":0,\"keys\":[\"a\","
    "\"b\",\"c\",\"d\"],\"z\":{}}]}",
};

static void check_parsed(const bus_message *m, const char *payload, size_t len)
{
    assert_int_equal(m->version, 1);
    assert_true(m->source_len > 0 && m->region_len > 0);
    size_t nkeys = 0, nmarkers = 0;
    for (size_t i = 0; i < m->ntxns; i++) {
        const bus_txn *t = &m->txns[i];
        assert_ptr_equal(t->keys, m->keys + nkeys);
        assert_true(t->file_len > 0);
        assert_true(t->commit_us >= 0 && t->read_us >= 0);
        size_t marked = 0;
        for (size_t k = 0; k < t->nkeys; k++) {
            const mcsq_key *key = &t->keys[k];
            bool in_payload = key->data >= payload && key->data + key->len <= payload + len;
            bool in_arena =
                key->data >= m->arena.buf && key->data + key->len <= m->arena.buf + m->arena.len;
            assert_true(in_payload || in_arena);
            assert_int_equal(cache_key_check(key->data, key->len), CACHE_KEY_OK);
            marked += key->marker;
        }
        assert_int_equal(marked, t->nmarkers);
        nkeys += t->nkeys;
        nmarkers += t->nmarkers;
    }
    assert_int_equal(nkeys, m->nkeys);
    assert_int_equal(nmarkers, m->nmarkers);
}

static void check_error(int rc, size_t len)
{
    assert_true(rc == MCSQ_ERR_CORRUPT || rc == MCSQ_ERR_UNSUPPORTED || rc == MCSQ_ERR_LIMIT);
    assert_memory_equal(errbuf, "byte ", 5);
    assert_true(strtoul(errbuf + 5, NULL, 10) <= len);
}

static size_t mutate(char *buf, size_t len, size_t cap)
{
    static const char interesting[] = "{}[],:\"\\u0123456789-+.eEtfn \t\xff\xc3\xa9\xed\xa0\x80";
    size_t at = len ? (size_t)(rnd() % len) : 0;
    char byte = rnd() % 2 ? (char)rnd() : interesting[rnd() % (sizeof(interesting) - 1)];
    switch (rnd() % 5) {
    case 0:
        if (len)
            buf[at] ^= (char)(1u << (rnd() % 8));
        return len;
    case 1:
        if (len)
            buf[at] = byte;
        return len;
    case 2:
        if (len == cap)
            return len;
        memmove(buf + at + 1, buf + at, len - at);
        buf[at] = byte;
        return len + 1;
    case 3:
        if (len)
            memmove(buf + at, buf + at + 1, len - at - 1);
        return len ? len - 1 : 0;
    }
    return at; /* truncate */
}

static void test_random_mutations(void **state)
{
    (void)state;
    bus_limits tight = {.max_txns = 1, .max_keys_per_txn = 3, .max_keys = 4};
    bus_message m, small;
    bus_message_init(&m, NULL);
    bus_message_init(&small, &tight);
    size_t counts[3] = {0, 0, 0}; /* ok, errors, limits */
    char buf[1024];
    for (int i = 0; i < 200000; i++) {
        const char *seed = seeds[rnd() % NCASES(seeds)];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        for (int k = 1 + (int)(rnd() % 3); k > 0; k--)
            len = mutate(buf, len, sizeof(buf));
        char *copy;
        int rc = parse_n(&m, buf, len, &copy);
        if (rc == MCSQ_OK)
            check_parsed(&m, copy, len);
        else
            check_error(rc, len);
        counts[rc == MCSQ_OK ? 0 : 1]++;
        int rc2 = bus_message_parse(&small, copy, len, errbuf, sizeof(errbuf));
        if (rc2 == MCSQ_OK)
            check_parsed(&small, copy, len);
        else
            check_error(rc2, len);
        counts[2] += rc2 == MCSQ_ERR_LIMIT;
        free(copy);
    }
    print_message("mutations: %zu parsed, %zu refused, %zu over tight limits\n", counts[0],
                  counts[1], counts[2]);
    assert_true(counts[0] > 1000 && counts[1] > 1000 && counts[2] > 100);
    /* still sane afterwards */
    assert_int_equal(parse_tmp(&m, seeds[1]), 0);
    assert_int_equal(m.nkeys, 10);
    bus_message_deinit(&small);
    bus_message_deinit(&m);
}

/* ---- micro benchmark (printed, not asserted) ---- */

typedef struct grab {
    char *payload;
    size_t len;
} grab;

static int grab_emit(void *ctx, char *payload, size_t len, size_t nkeys, size_t ntxns,
                     const binlog_position *resume)
{
    grab *g = ctx;
    (void)nkeys, (void)ntxns, (void)resume;
    assert_null(g->payload);
    g->payload = payload;
    g->len = len;
    return MCSQ_OK;
}

/* A 10k-key message from the batcher: keys "user:<i>:profile", or with
 * escaped characters ("q\"<i>\\x" in JSON). */
static grab build_10k(bool escaped)
{
    enum { N = 10000 };
    static char names[N][32];
    static mcsq_key keys[N];
    for (int i = 0; i < N; i++) {
        if (escaped)
            snprintf(names[i], sizeof(names[i]), "q\"%d\\x", i);
        else
            snprintf(names[i], sizeof(names[i]), "user:%d:profile", i);
        keys[i] = (mcsq_key){names[i], (uint32_t)strlen(names[i]), i % 100 == 0};
    }
    mcsq_txn t = {.gtid = "0-1-42",
                  .file = "binlog.000003",
                  .pos = 4,
                  .end_pos = 900,
                  .commit_us = 1763669000123456,
                  .read_us = 1763669000124001,
                  .keys = keys,
                  .nkeys = N,
                  .nmarkers = N / 100};
    txn_record *rec = txn_record_new(&t, NULL);
    grab g = {NULL, 0};
    batcher b;
    assert_int_equal(batcher_init(&b, "db-east-1", "east", N, 100 << 20, 0, grab_emit, &g), 0);
    assert_int_equal(batcher_add(&b, rec, 1), 0);
    assert_int_equal(batcher_flush(&b, 1, true), 0);
    assert_non_null(g.payload);
    batcher_deinit(&b);
    txn_record_free(rec);
    return g;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_one(const char *what, bool escaped)
{
    grab g = build_10k(escaped);
    bus_message m;
    bus_message_init(&m, NULL);
    assert_int_equal(bus_message_parse(&m, g.payload, g.len, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(m.nkeys, 10000);
    assert_int_equal(m.nmarkers, 100);
    long iters = 0;
    double start = now_s(), elapsed;
    do {
        bus_message_parse(&m, g.payload, g.len, errbuf, sizeof(errbuf));
        iters++;
    } while ((elapsed = now_s() - start) < 0.3);
    double keys = (double)iters * 10000;
    print_message("bench: %s: %zu-byte message of 10000 keys: %.1f ns/key, %.1fM keys/s, "
                  "%.0f MB/s\n",
                  what, g.len, elapsed / keys * 1e9, keys / elapsed / 1e6,
                  (double)iters * (double)g.len / elapsed / 1e6);
    bus_message_deinit(&m);
    free(g.payload);
}

static void test_bench_10k_keys(void **state)
{
    (void)state;
    bench_one("plain keys", false);
    bench_one("escaped keys", true);
}

int main(void)
{
    const char *filter = getenv("MCSQ_TEST_FILTER"); /* e.g. "test_bench*" */
    if (filter != NULL)
        cmocka_set_test_filter(filter);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_exact),
        cmocka_unit_test(test_write_size_bounds),
        cmocka_unit_test(test_contract_example),
        cmocka_unit_test(test_escape_then_utf8),
        cmocka_unit_test(test_round_trip_batcher),
        cmocka_unit_test(test_commit_exact),
        cmocka_unit_test(test_seq),
        cmocka_unit_test(test_errors_syntax),
        cmocka_unit_test(test_errors_contract),
        cmocka_unit_test(test_errors_strings),
        cmocka_unit_test(test_errors_numbers),
        cmocka_unit_test(test_unknown_fields_everywhere),
        cmocka_unit_test(test_whitespace_and_field_order),
        cmocka_unit_test(test_escapes_and_unicode),
        cmocka_unit_test(test_invalid_keys_counted),
        cmocka_unit_test(test_markers),
        cmocka_unit_test(test_markers_hashed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_lengths_and_reuse),
        cmocka_unit_test(test_random_mutations),
        cmocka_unit_test(test_bench_10k_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
