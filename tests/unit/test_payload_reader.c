/*
 * Unit tests of the Transaction_payload reader (tailer/event_payload.c,
 * payload_reader.h): inner events built by hand, compressed with libzstd
 * (or stored, compression type 255), wrapped in a checksummed
 * Transaction_payload event under a MySQL 8 format description, decoded and
 * streamed back out. The inner events must come out whole, byte for byte
 * and in order, whatever their sizes against the reader's 64 KiB starting
 * window; damaged, cut or padded payloads must end in a clean error, never
 * in a clean end of payload.
 */
#include "tailer/binlog_event.h"
#include "tailer/payload_reader.h"
#include "mcsqueal/error.h"
#include "binlog_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include <cmocka.h>

#define COMPRESSION_ZSTD 0
#define COMPRESSION_NONE 255
#define WINDOW_MIN (64 * 1024)

/* ------------------------------------------------------------------------
 * Events (binlog_build.h), as inside a payload: log_pos 0
 * ------------------------------------------------------------------------ */

/* Appends a v4 event header claiming `size` bytes. */
static void put_header(bytes *out, uint8_t type, uint32_t size)
{
    put_header_at(out, type, size, 0, 0);
}

/* Appends a whole event around body, with a CRC32 when crc. */
static void put_event(bytes *out, uint8_t type, const uint8_t *body, size_t body_len, bool crc)
{
    put_event_at(out, type, 0, 0, body, body_len, crc);
}

/* A MySQL 8.0 Format_description event with CRC32 checksums. */
static void put_fde_mysql8(bytes *out)
{
    bytes body = {0};
    put_fde_mysql8_body(&body);
    put_event(out, BINLOG_FORMAT_DESCRIPTION_EVENT, body.p, body.len, true);
    bytes_free(&body);
}

/* A Transaction_payload event (with CRC32) carrying data. */
static void put_payload_event(bytes *out, uint64_t compression, uint64_t usize, const uint8_t *data,
                              size_t len)
{
    bytes body = {0};
    put_payload_body(&body, compression, usize, data, len);
    put_event(out, BINLOG_TRANSACTION_PAYLOAD_EVENT, body.p, body.len, true);
    bytes_free(&body);
}

/* ------------------------------------------------------------------------
 * Inner events
 * ------------------------------------------------------------------------ */

/* The uncompressed content of a payload and where each event lies in it. */
typedef struct inner {
    bytes all;
    size_t *off;
    size_t *len;
    size_t n, cap;
} inner;

static void inner_free(inner *in)
{
    bytes_free(&in->all);
    free(in->off);
    free(in->len);
    memset(in, 0, sizeof(*in));
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Appends one inner event (no checksum, as inside a real payload). */
static void inner_push(inner *in, uint8_t type, const uint8_t *body, size_t body_len)
{
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 16;
        size_t *off = realloc(in->off, in->cap * sizeof(*off));
        assert_non_null(off);
        in->off = off;
        size_t *len = realloc(in->len, in->cap * sizeof(*len));
        assert_non_null(len);
        in->len = len;
    }
    in->off[in->n] = in->all.len;
    put_event(&in->all, type, body, body_len, false);
    in->len[in->n] = in->all.len - in->off[in->n];
    in->n++;
}

/* Adds an inner event of body_len bytes: random bytes when noisy (zstd
 * cannot shrink them), else a compressible pattern; seeded by its index. */
static void inner_add(inner *in, uint8_t type, size_t body_len, bool noisy)
{
    uint8_t *body = malloc(body_len ? body_len : 1);
    assert_non_null(body);
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (in->n + 1) * 0x100000001b3ull;
    for (size_t i = 0; i < body_len; i++)
        body[i] = noisy ? (uint8_t)rng_next(&seed) : (uint8_t)("abcdefgh"[i % 8] + in->n % 7);
    inner_push(in, type, body, body_len);
    free(body);
}

static void inner_add_xid(inner *in, uint64_t xid)
{
    uint8_t body[8];
    for (int i = 0; i < 8; i++)
        body[i] = (uint8_t)(xid >> (8 * i));
    inner_push(in, BINLOG_XID_EVENT, body, sizeof(body));
}

/* A typical row transaction: BEGIN, Table_map, Write_rows, Xid. */
static void inner_typical(inner *in)
{
    /* thread 1, exec time 0, db length 4, error 0, no status variables */
    static const uint8_t begin[] = {1, 0,   0,   0,   0,   0, 0,   0,   4,   0,   0,  0,
                                    0, 's', 'h', 'o', 'p', 0, 'B', 'E', 'G', 'I', 'N'};
    inner_push(in, BINLOG_QUERY_EVENT, begin, sizeof(begin));
    inner_add(in, BINLOG_TABLE_MAP_EVENT, 40, false);
    inner_add(in, BINLOG_WRITE_ROWS_EVENT, 300, true);
    inner_add_xid(in, 4242);
}

static void zstd_compress_into(const bytes *src, bytes *dst, int level)
{
    size_t bound = ZSTD_compressBound(src->len);
    uint8_t *c = malloc(bound);
    assert_non_null(c);
    size_t n = ZSTD_compress(c, bound, src->p, src->len, level);
    assert_false(ZSTD_isError(n));
    put(dst, c, n);
    free(c);
}

/* zstd with a content checksum, so damage is always detected at the end. */
static void zstd_compress_checked(const bytes *src, bytes *dst)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    assert_non_null(cctx);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)));
    size_t bound = ZSTD_compressBound(src->len);
    uint8_t *c = malloc(bound);
    assert_non_null(c);
    size_t n = ZSTD_compress2(cctx, c, bound, src->p, src->len);
    assert_false(ZSTD_isError(n));
    put(dst, c, n);
    free(c);
    ZSTD_freeCCtx(cctx);
}

/* ------------------------------------------------------------------------
 * Fixture
 * ------------------------------------------------------------------------ */

typedef struct fixture {
    binlog_decoder dec;
    binlog_event ev;
    payload_reader pr;
    uint8_t *copy; /* exactly-sized copy of the decoded payload event */
    char err[256];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    binlog_decoder_init(&fx->dec);
    payload_reader_init(&fx->pr);
    bytes fde = {0};
    put_fde_mysql8(&fde);
    int rc = binlog_event_decode(&fx->dec, fde.p, fde.len, &fx->ev, fx->err, sizeof(fx->err));
    bytes_free(&fde);
    *state = fx;
    return rc == MCSQ_OK ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    payload_reader_deinit(&fx->pr);
    binlog_decoder_deinit(&fx->dec);
    free(fx->copy);
    free(fx);
    return 0;
}

/* Decodes a whole event from an exactly-sized heap copy (kept until the
 * next call, as the payload borrows from it). */
static int decode(fixture *fx, const bytes *ev)
{
    free(fx->copy);
    fx->copy = malloc(ev->len);
    assert_non_null(fx->copy);
    memcpy(fx->copy, ev->p, ev->len);
    fx->err[0] = '\0';
    return binlog_event_decode(&fx->dec, fx->copy, ev->len, &fx->ev, fx->err, sizeof(fx->err));
}

/* Wraps data in a Transaction_payload event, decodes it and opens the
 * reader on it. */
static void open_payload(fixture *fx, uint64_t compression, uint64_t usize, const bytes *data)
{
    bytes ev = {0};
    put_payload_event(&ev, compression, usize, data->p, data->len);
    int rc = decode(fx, &ev);
    if (rc != MCSQ_OK)
        print_message("payload event: %s\n", fx->err);
    assert_int_equal(rc, MCSQ_OK);
    assert_int_equal(fx->ev.hdr.type, BINLOG_TRANSACTION_PAYLOAD_EVENT);
    assert_int_equal(fx->ev.u.payload.compression, compression);
    assert_int_equal(fx->ev.u.payload.uncompressed_size, usize);
    assert_int_equal(fx->ev.u.payload.len, data->len);
    assert_int_equal(payload_reader_open(&fx->pr, &fx->ev.u.payload, fx->err, sizeof(fx->err)),
                     MCSQ_OK);
    bytes_free(&ev);
}

/* Opens the reader directly on data (no event around it). */
static void open_raw(fixture *fx, uint64_t compression, const bytes *data)
{
    binlog_payload p = {compression, data->len, data->p, data->len};
    assert_int_equal(payload_reader_open(&fx->pr, &p, fx->err, sizeof(fx->err)), MCSQ_OK);
}

/* The compression level that means "stored" to open_content(). */
#define STORED 0

/* Opens content as a Transaction_payload event: stored, or compressed
 * with zstd at level. */
static void open_content(fixture *fx, const bytes *content, int level)
{
    if (level == STORED) {
        open_payload(fx, COMPRESSION_NONE, content->len, content);
        return;
    }
    bytes z = {0};
    zstd_compress_into(content, &z, level);
    open_payload(fx, COMPRESSION_ZSTD, content->len, &z);
    bytes_free(&z); /* the event decoded holds its own copy */
}

/* Reads every inner event and checks it against `want`, then the end. */
static void expect_events(fixture *fx, const inner *want)
{
    for (size_t i = 0; i < want->n; i++) {
        const uint8_t *ev = NULL;
        size_t len = 0;
        int rc = payload_reader_next(&fx->pr, &ev, &len, fx->err, sizeof(fx->err));
        if (rc != MCSQ_OK)
            print_message("inner event %zu of %zu: rc %d (%s)\n", i, want->n, rc, fx->err);
        assert_int_equal(rc, MCSQ_OK);
        assert_int_equal(len, want->len[i]);
        assert_memory_equal(ev, want->all.p + want->off[i], len);
    }
    const uint8_t *ev = NULL;
    size_t len = 0;
    assert_int_equal(payload_reader_next(&fx->pr, &ev, &len, fx->err, sizeof(fx->err)),
                     MCSQ_ERR_EOF);
    assert_int_equal(payload_reader_next(&fx->pr, &ev, &len, fx->err, sizeof(fx->err)),
                     MCSQ_ERR_EOF);
}

/* Reads until something other than an event; returns it and counts the
 * events read in *nread. */
static int drain(fixture *fx, size_t *nread)
{
    const uint8_t *ev;
    size_t len;
    int rc;
    *nread = 0;
    while ((rc = payload_reader_next(&fx->pr, &ev, &len, fx->err, sizeof(fx->err))) == MCSQ_OK)
        (*nread)++;
    return rc;
}

static void assert_clean_error(const fixture *fx, int rc, const char *what, size_t at)
{
    if (rc != MCSQ_ERR_TRUNCATED && rc != MCSQ_ERR_CORRUPT)
        print_message("%s at %zu: rc %d (%s)\n", what, at, rc, fx->err);
    if (rc != MCSQ_ERR_TRUNCATED)
        assert_int_equal(rc, MCSQ_ERR_CORRUPT);
    assert_true(fx->err[0] != '\0');
}

/* Builds inner events with build, opens them (stored or zstd at level)
 * and reads every one back. */
static void expect_round_trip(fixture *fx, void (*build)(inner *), int level)
{
    inner in = {0};
    build(&in);
    open_content(fx, &in.all, level);
    expect_events(fx, &in);
    inner_free(&in);
}

/* ------------------------------------------------------------------------
 * Tests: content comes out whole and in order
 * ------------------------------------------------------------------------ */

static void test_zstd_several_events(void **state)
{
    expect_round_trip(*state, inner_typical, 3);
}

static void test_none_several_events(void **state)
{
    expect_round_trip(*state, inner_typical, STORED);
}

/* Inner events decode with the stream's decoder once checksums are off
 * (as the scanner does), proving they come out as real events. */
static void test_inner_events_decode(void **state)
{
    fixture *fx = *state;
    inner in = {0};
    inner_typical(&in);
    open_content(fx, &in.all, 1);
    binlog_decoder inner_dec;
    binlog_decoder_init(&inner_dec);
    static const uint8_t types[] = {BINLOG_QUERY_EVENT, BINLOG_TABLE_MAP_EVENT,
                                    BINLOG_WRITE_ROWS_EVENT, BINLOG_XID_EVENT};
    for (size_t i = 0; i < 4; i++) {
        const uint8_t *buf;
        size_t len;
        assert_int_equal(payload_reader_next(&fx->pr, &buf, &len, fx->err, sizeof(fx->err)),
                         MCSQ_OK);
        binlog_event ev;
        int rc = binlog_event_decode(&inner_dec, buf, len, &ev, fx->err, sizeof(fx->err));
        if (rc != MCSQ_OK)
            print_message("inner %zu: %s\n", i, fx->err);
        assert_int_equal(rc, MCSQ_OK);
        assert_int_equal(ev.hdr.type, types[i]);
        if (i == 0)
            assert_memory_equal(ev.u.query.text.ptr, "BEGIN", 5);
        if (i == 3)
            assert_int_equal(ev.u.xid, 4242);
    }
    binlog_decoder_deinit(&inner_dec);
    inner_free(&in);
}

/* Inner events larger than the 64 KiB starting window, and sizes around
 * it, so that headers and bodies straddle every window edge. */
static void build_large(inner *in)
{
    static const size_t sizes[] = {
        WINDOW_MIN - BINLOG_HEADER_LEN - 10, /* next header straddles the window end */
        30,
        WINDOW_MIN - BINLOG_HEADER_LEN,
        WINDOW_MIN,
        WINDOW_MIN + 1,
        100 * 1024,
        5,
        1536 * 1024 + 7, /* 1.5 MiB */
        0,
        2 * WINDOW_MIN + 5,
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        inner_add(in, BINLOG_WRITE_ROWS_EVENT, sizes[i], i % 2 == 0);
    inner_add_xid(in, 1);
}

static void test_zstd_large_events(void **state)
{
    expect_round_trip(*state, build_large, 1);
}

static void test_none_large_events(void **state)
{
    expect_round_trip(*state, build_large, STORED);
}

static void test_many_small_events(void **state)
{
    fixture *fx = *state;
    inner in = {0};
    for (uint64_t x = 0; x < 20000; x++)
        inner_add_xid(&in, x * 0x0101010101ull);
    bytes z = {0};
    zstd_compress_into(&in.all, &z, 3);
    assert_true(z.len < in.all.len);
    open_payload(fx, COMPRESSION_ZSTD, in.all.len, &z);
    expect_events(fx, &in);
    open_payload(fx, COMPRESSION_NONE, in.all.len, &in.all);
    expect_events(fx, &in);
    bytes_free(&z);
    inner_free(&in);
}

/* Several zstd frames back to back form one stream of inner events. */
static void test_zstd_concatenated_frames(void **state)
{
    fixture *fx = *state;
    inner a = {0}, b = {0};
    inner_typical(&a);
    inner_typical(&b);
    bytes z = {0};
    zstd_compress_into(&a.all, &z, 1);
    zstd_compress_into(&b.all, &z, 19);
    bytes all = {0};
    put(&all, a.all.p, a.all.len);
    put(&all, b.all.p, b.all.len);
    inner both = {0};
    both.all = all;
    both.n = a.n + b.n;
    both.off = malloc(both.n * sizeof(size_t));
    both.len = malloc(both.n * sizeof(size_t));
    assert_non_null(both.off);
    assert_non_null(both.len);
    for (size_t i = 0; i < a.n; i++)
        both.off[i] = a.off[i], both.len[i] = a.len[i];
    for (size_t i = 0; i < b.n; i++)
        both.off[a.n + i] = a.all.len + b.off[i], both.len[a.n + i] = b.len[i];
    open_payload(fx, COMPRESSION_ZSTD, all.len, &z);
    expect_events(fx, &both);
    bytes_free(&z);
    inner_free(&a);
    inner_free(&b);
    inner_free(&both);
}

/* An empty payload, stored or compressed, has no inner event. */
static void test_empty_payload(void **state)
{
    fixture *fx = *state;
    inner none = {0};
    bytes empty = {0};
    open_content(fx, &empty, STORED);
    expect_events(fx, &none);
    open_content(fx, &empty, 3);
    expect_events(fx, &none);
}

/* One reader serves payload after payload, including after an error. */
static void test_reader_reuse(void **state)
{
    fixture *fx = *state;
    inner small = {0}, large = {0};
    inner_typical(&small);
    build_large(&large);
    bytes zs = {0}, zl = {0};
    zstd_compress_into(&small.all, &zs, 3);
    zstd_compress_into(&large.all, &zl, 1);
    open_payload(fx, COMPRESSION_ZSTD, large.all.len, &zl);
    expect_events(fx, &large);
    open_payload(fx, COMPRESSION_NONE, small.all.len, &small.all);
    expect_events(fx, &small);
    open_payload(fx, COMPRESSION_ZSTD, small.all.len, &zs);
    expect_events(fx, &small);
    /* abandoned half-way through a large payload, then a new one */
    open_payload(fx, COMPRESSION_ZSTD, large.all.len, &zl);
    const uint8_t *ev;
    size_t len;
    assert_int_equal(payload_reader_next(&fx->pr, &ev, &len, fx->err, sizeof(fx->err)), MCSQ_OK);
    assert_int_equal(payload_reader_next(&fx->pr, &ev, &len, fx->err, sizeof(fx->err)), MCSQ_OK);
    open_payload(fx, COMPRESSION_ZSTD, small.all.len, &zs);
    expect_events(fx, &small);
    /* after a zstd error */
    bytes bad = {0};
    put(&bad, zl.p, zl.len / 2);
    put(&bad, "garbage-garbage-garbage", 23);
    open_raw(fx, COMPRESSION_ZSTD, &bad);
    size_t n;
    assert_clean_error(fx, drain(fx, &n), "damaged large payload", 0);
    open_payload(fx, COMPRESSION_ZSTD, small.all.len, &zs);
    expect_events(fx, &small);
    bytes_free(&bad);
    bytes_free(&zs);
    bytes_free(&zl);
    inner_free(&small);
    inner_free(&large);
}

/* ------------------------------------------------------------------------
 * Tests: damaged payloads
 * ------------------------------------------------------------------------ */

static void test_unknown_compression(void **state)
{
    fixture *fx = *state;
    static const uint64_t types[] = {1, 2, 254, 256, 0xffffffffffffffffull};
    bytes data = {0};
    put(&data, "x", 1);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        bytes ev = {0};
        put_payload_event(&ev, types[i], 1, data.p, data.len);
        assert_int_equal(decode(fx, &ev), MCSQ_OK);
        assert_int_equal(payload_reader_open(&fx->pr, &fx->ev.u.payload, fx->err, sizeof(fx->err)),
                         MCSQ_ERR_UNSUPPORTED);
        assert_non_null(strstr(fx->err, "compression"));
        bytes_free(&ev);
    }
    bytes_free(&data);
}

static void test_zstd_corrupt(void **state)
{
    fixture *fx = *state;
    inner in = {0};
    inner_typical(&in);
    bytes z = {0};
    zstd_compress_into(&in.all, &z, 3);
    size_t n;
    /* bad frame magic */
    for (size_t i = 0; i < 4; i++) {
        bytes bad = {0};
        put(&bad, z.p, z.len);
        bad.p[i] ^= 0x40;
        open_payload(fx, COMPRESSION_ZSTD, in.all.len, &bad);
        assert_int_equal(drain(fx, &n), MCSQ_ERR_CORRUPT);
        assert_int_equal(n, 0);
        assert_non_null(strstr(fx->err, "zstd"));
        bytes_free(&bad);
    }
    /* not zstd at all: the stored bytes declared as zstd */
    open_payload(fx, COMPRESSION_ZSTD, in.all.len, &in.all);
    assert_int_equal(drain(fx, &n), MCSQ_ERR_CORRUPT);
    /* random bytes */
    bytes noise = {0};
    uint64_t seed = 12345;
    for (int i = 0; i < 500; i++)
        put_u8(&noise, (uint8_t)rng_next(&seed));
    open_payload(fx, COMPRESSION_ZSTD, 500, &noise);
    assert_int_equal(drain(fx, &n), MCSQ_ERR_CORRUPT);
    bytes_free(&noise);
    bytes_free(&z);
    inner_free(&in);
}

/* Every byte of a checksummed zstd payload damaged in turn: the reader
 * ends in an error, or (when the damage did not matter to zstd) delivers
 * exactly the original events; it never ends cleanly on other content. */
static void test_zstd_every_byte_damaged(void **state)
{
    fixture *fx = *state;
    inner in = {0};
    inner_typical(&in);
    bytes z = {0};
    zstd_compress_checked(&in.all, &z);
    size_t errors = 0;
    for (size_t i = 0; i < z.len; i++) {
        for (int k = 0; k < 2; k++) {
            bytes bad = {0};
            put(&bad, z.p, z.len);
            bad.p[i] ^= k == 0 ? 0x01 : 0xa5;
            open_raw(fx, COMPRESSION_ZSTD, &bad);
            bytes got = {0};
            const uint8_t *ev;
            size_t len;
            int rc;
            while ((rc = payload_reader_next(&fx->pr, &ev, &len, fx->err, sizeof(fx->err))) ==
                   MCSQ_OK)
                put(&got, ev, len);
            if (rc == MCSQ_ERR_EOF) {
                assert_int_equal(got.len, in.all.len);
                assert_memory_equal(got.p, in.all.p, got.len);
            } else {
                assert_clean_error(fx, rc, "damaged zstd byte", i);
                errors++;
            }
            bytes_free(&got);
            bytes_free(&bad);
        }
    }
    assert_true(errors > z.len); /* nearly all damage is caught */
    bytes_free(&z);
    inner_free(&in);
}

/* Compressed data cut at every length: always an error, never a clean end. */
static void test_zstd_truncated(void **state)
{
    fixture *fx = *state;
    inner in = {0};
    inner_typical(&in);
    bytes z = {0};
    zstd_compress_into(&in.all, &z, 3);
    for (size_t t = 0; t < z.len; t++) {
        bytes cut = {0};
        put(&cut, z.p, t);
        open_raw(fx, COMPRESSION_ZSTD, &cut);
        size_t n;
        int rc = drain(fx, &n);
        assert_clean_error(fx, rc, "zstd payload cut", t);
        assert_true(n < in.n);
        bytes_free(&cut);
    }
    bytes_free(&z);
    inner_free(&in);
    /* large events: cuts spread over the whole compressed stream */
    build_large(&in);
    zstd_compress_into(&in.all, &z, 1);
    for (size_t k = 0; k < 64; k++) {
        size_t t = (size_t)((double)z.len * (double)k / 64.0);
        bytes cut = {0};
        put(&cut, z.p, t);
        open_raw(fx, COMPRESSION_ZSTD, &cut);
        size_t n;
        assert_clean_error(fx, drain(fx, &n), "large zstd payload cut", t);
        bytes_free(&cut);
    }
    bytes_free(&z);
    inner_free(&in);
}

/* Stored content cut inside an inner event: an error. */
static void test_none_truncated(void **state)
{
    fixture *fx = *state;
    inner in = {0};
    inner_typical(&in);
    for (size_t t = 1; t < in.all.len; t++) {
        bool boundary = false;
        for (size_t i = 0; i < in.n; i++)
            boundary |= in.off[i] == t;
        if (boundary)
            continue; /* a shorter, well-formed payload */
        bytes cut = {0};
        put(&cut, in.all.p, t);
        open_raw(fx, COMPRESSION_NONE, &cut);
        size_t n;
        assert_clean_error(fx, drain(fx, &n), "stored payload cut", t);
        bytes_free(&cut);
    }
    inner_free(&in);
}

/* Bytes after the last inner event that do not make an event. */
static void test_stray_bytes(void **state)
{
    fixture *fx = *state;
    static const size_t strays[] = {1, 7, 18};
    for (size_t s = 0; s < sizeof(strays) / sizeof(strays[0]); s++) {
        inner in = {0};
        inner_typical(&in);
        bytes content = {0};
        put(&content, in.all.p, in.all.len);
        for (size_t i = 0; i < strays[s]; i++)
            put_u8(&content, (uint8_t)(0x30 + i));
        for (int zstd = 0; zstd < 2; zstd++) {
            open_content(fx, &content, zstd ? 3 : STORED);
            size_t n;
            int rc = drain(fx, &n);
            assert_int_equal(rc, MCSQ_ERR_TRUNCATED);
            assert_int_equal(n, in.n);
            assert_non_null(strstr(fx->err, "stray"));
        }
        bytes_free(&content);
        inner_free(&in);
    }
    /* a header after the last event that claims more than is left */
    inner in = {0};
    inner_typical(&in);
    put_header(&in.all, BINLOG_XID_EVENT, 100);
    put(&in.all, "12345", 5);
    for (int zstd = 0; zstd < 2; zstd++) {
        open_content(fx, &in.all, zstd ? 3 : STORED);
        size_t n;
        assert_int_equal(drain(fx, &n), MCSQ_ERR_TRUNCATED);
        assert_int_equal(n, in.n);
    }
    inner_free(&in);
    /* garbage after the zstd frame, outside the compressed content */
    inner_typical(&in);
    bytes z = {0};
    zstd_compress_into(&in.all, &z, 3);
    put(&z, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c", 12);
    open_payload(fx, COMPRESSION_ZSTD, in.all.len, &z);
    size_t n;
    assert_clean_error(fx, drain(fx, &n), "garbage after the zstd frame", z.len);
    bytes_free(&z);
    inner_free(&in);
}

/* An inner event whose size field is impossible or exceeds what is left. */
static void test_inner_event_huge_size(void **state)
{
    fixture *fx = *state;
    static const uint32_t sizes[] = {0xffffffffu, 0x80000000u, BINLOG_MAX_EVENT_SIZE + 1,
                                     0,           1,           BINLOG_HEADER_LEN - 1};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        inner in = {0};
        inner_typical(&in);
        put_header(&in.all, BINLOG_WRITE_ROWS_EVENT, sizes[i]);
        put(&in.all, "rows", 4);
        for (int zstd = 0; zstd < 2; zstd++) {
            open_content(fx, &in.all, zstd ? 3 : STORED);
            size_t n;
            int rc = drain(fx, &n);
            assert_int_equal(rc, MCSQ_ERR_CORRUPT);
            assert_int_equal(n, in.n);
            assert_non_null(strstr(fx->err, "claims"));
        }
        inner_free(&in);
    }
    /* plausible but larger than the rest of the payload */
    inner in = {0};
    inner_typical(&in);
    put_header(&in.all, BINLOG_WRITE_ROWS_EVENT, 300000);
    put(&in.all, "rows", 4);
    open_content(fx, &in.all, 3);
    size_t n;
    assert_int_equal(drain(fx, &n), MCSQ_ERR_TRUNCATED);
    assert_int_equal(n, in.n);
    inner_free(&in);
}

/* The event around the payload: cut at every length, it never decodes. */
static void test_payload_event_cut(void **state)
{
    fixture *fx = *state;
    inner in = {0};
    inner_typical(&in);
    bytes z = {0}, ev = {0};
    zstd_compress_into(&in.all, &z, 3);
    put_payload_event(&ev, COMPRESSION_ZSTD, in.all.len, z.p, z.len);
    size_t body_len = ev.len - BINLOG_HEADER_LEN - 4;
    for (size_t t = 0; t < body_len; t++) {
        bytes cut = {0};
        put_event(&cut, BINLOG_TRANSACTION_PAYLOAD_EVENT, ev.p + BINLOG_HEADER_LEN, t, true);
        int rc = decode(fx, &cut);
        if (rc != MCSQ_ERR_CORRUPT)
            print_message("payload event body cut to %zu: rc %d (%s)\n", t, rc, fx->err);
        assert_int_equal(rc, MCSQ_ERR_CORRUPT);
        bytes_free(&cut);
    }
    bytes_free(&ev);
    bytes_free(&z);
    inner_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_zstd_several_events),
        T(test_none_several_events),
        T(test_inner_events_decode),
        T(test_zstd_large_events),
        T(test_none_large_events),
        T(test_many_small_events),
        T(test_zstd_concatenated_frames),
        T(test_empty_payload),
        T(test_reader_reuse),
        T(test_unknown_compression),
        T(test_zstd_corrupt),
        T(test_zstd_every_byte_damaged),
        T(test_zstd_truncated),
        T(test_none_truncated),
        T(test_stray_bytes),
        T(test_inner_event_huge_size),
        T(test_payload_event_cut),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
