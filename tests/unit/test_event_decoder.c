/*
 * Unit tests of the binlog event decoder (tailer/event_decoder.c,
 * event_format.c, event_query.c, event_gtid.c, event_payload.c) on
 * hand-built event bytes. Every event type the decoder understands must
 * decode to the right fields under MySQL 8, MariaDB 10.11 and MySQL 5.0
 * format descriptions; every malformed input must end in a clean error
 * code: each truncated length of each event body, flipped bits under
 * CRC32, header sizes that lie, huge length fields, unsupported formats.
 * Events are decoded from exactly-sized heap copies so that
 * AddressSanitizer sees any read past the end. Checksums are computed with
 * zlib's crc32(), independently of the decoder's own CRC code.
 */
#include "tailer/binlog_event.h"
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
#include <zlib.h>

#include <cmocka.h>

#define EV_NEXT_POS 4242u

/* Query status variable codes (MySQL sql/log_event.h, MariaDB log_event.h),
 * written out here as the test's own reference. */
enum {
    Q_FLAGS2 = 0,
    Q_SQL_MODE = 1,
    Q_CATALOG = 2,
    Q_AUTO_INCREMENT = 3,
    Q_CHARSET = 4,
    Q_TIME_ZONE = 5,
    Q_CATALOG_NZ = 6,
    Q_LC_TIME_NAMES = 7,
    Q_CHARSET_DATABASE = 8,
    Q_TABLE_MAP_FOR_UPDATE = 9,
    Q_MASTER_DATA_WRITTEN = 10,
    Q_INVOKER = 11,
    Q_UPDATED_DB_NAMES = 12,
    Q_MICROSECONDS = 13,
    Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP = 16,
    Q_DDL_LOGGED_WITH_XID = 17,
    Q_DEFAULT_COLLATION_FOR_UTF8MB4 = 18,
    Q_SQL_REQUIRE_PRIMARY_KEY = 19,
    Q_DEFAULT_TABLE_ENCRYPTION = 20,
    Q_MARIA_HRNOW = 128,
    Q_MARIA_XID = 129,
    Q_MARIA_GTID_FLAGS3 = 130,
};

#define TEST_SQL_MODE                                                                              \
    (BINLOG_SQL_MODE_NO_BACKSLASH_ESCAPES | BINLOG_SQL_MODE_ANSI_QUOTES | (1ull << 40) |           \
     (1ull << 63))
#define TEST_FLAGS2 0x81084000u

static const uint8_t test_sid[16] = {0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1,
                                     0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62};
#define TEST_SID_TEXT "3e11fa47-71ca-11e1-9e33-c80aa9429562"

/* ------------------------------------------------------------------------
 * Byte builder (beyond binlog_build.h)
 * ------------------------------------------------------------------------ */

static void put_le16(bytes *b, uint16_t v)
{
    put_uint(b, v, 2);
}

static void put_le32(bytes *b, uint32_t v)
{
    put_uint(b, v, 4);
}

static void put_le64(bytes *b, uint64_t v)
{
    put_uint(b, v, 8);
}

static void put_be(bytes *b, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_u8(b, (uint8_t)(v >> (8 * (n - 1 - i))));
}

static void put_str(bytes *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_fill(bytes *b, uint8_t c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_u8(b, c);
}

static void put_bytes(bytes *b, const bytes *src)
{
    put(b, src->p, src->len);
}

/* Serialization-library varlen: n bytes carry 7n bits, the low n-1 bits of
 * the first byte are ones and bit n-1 is zero; 0xff + 8 bytes above 2^56. */
static size_t varlen_size(uint64_t v)
{
    for (size_t n = 1; n <= 8; n++) {
        if (v < (1ull << (7 * n)))
            return n;
    }
    return 9;
}

static void put_varlen(bytes *b, uint64_t v)
{
    size_t n = varlen_size(v);
    if (n == 9) {
        put_u8(b, 0xff);
        put_le64(b, v);
        return;
    }
    put_uint(b, (v << n) | ((1ull << (n - 1)) - 1), n);
}

static void put_varlen_signed(bytes *b, int64_t v)
{
    put_varlen(b, v >= 0 ? (uint64_t)v << 1 : ((uint64_t)(-(v + 1)) << 1) | 1);
}

/* ------------------------------------------------------------------------
 * Events and Format_description events
 * ------------------------------------------------------------------------ */

/* Appends a whole v4 event around body, with log_pos EV_NEXT_POS and a
 * CRC32 when crc (binlog_build.h: put_event_at). */
static void put_event_flags(bytes *out, uint8_t type, uint16_t flags, const uint8_t *body,
                            size_t body_len, bool crc)
{
    put_event_at(out, type, flags, EV_NEXT_POS, body, body_len, crc);
}

static void put_event(bytes *out, uint8_t type, const bytes *body, bool crc)
{
    put_event_flags(out, type, 0, body->p, body->len, crc);
}

enum fde_kind { FDE_MYSQL8, FDE_MARIADB, FDE_MYSQL50 };

static const char *fde_version(enum fde_kind k)
{
    return k == FDE_MYSQL8 ? "8.0.36" : k == FDE_MARIADB ? "10.11.6-MariaDB-log" : "5.0.96-log";
}

static size_t fde_ntypes(enum fde_kind k)
{
    return k == FDE_MYSQL8 ? 42 : k == FDE_MARIADB ? 171 : 27;
}

/* Post-header lengths as the servers announce them (0 for the rest). */
static uint8_t post_header_len_of(unsigned type)
{
    switch (type) {
    case BINLOG_QUERY_EVENT:
        return 13;
    case BINLOG_ROTATE_EVENT:
        return 8;
    case BINLOG_FORMAT_DESCRIPTION_EVENT:
        return 98;
    case BINLOG_EXECUTE_LOAD_QUERY_EVENT:
        return 26;
    case BINLOG_TABLE_MAP_EVENT:
        return 8;
    case BINLOG_WRITE_ROWS_EVENT:
        return 10;
    case BINLOG_INCIDENT_EVENT:
        return 2;
    case BINLOG_GTID_EVENT:
        return 42;
    case BINLOG_ANONYMOUS_GTID_EVENT:
        return 42;
    case BINLOG_TRANSACTION_PAYLOAD_EVENT:
        return 40;
    case BINLOG_MARIA_GTID_EVENT:
        return 19;
    case BINLOG_MARIA_GTID_LIST_EVENT:
        return 4;
    case BINLOG_MARIA_BINLOG_CHECKPOINT_EVENT:
        return 4;
    case BINLOG_MARIA_QUERY_COMPRESSED_EVENT:
        return 13;
    default:
        return 0;
    }
}

/* Appends a Format_description body: version, server version (50 bytes),
 * creation time, header length, post-header lengths of types 1..ntypes
 * and, for checksum-aware servers, the checksum algorithm byte (the
 * 4-byte checksum slot is put_event's CRC). */
static void put_fde_body_custom(bytes *b, uint16_t version, const char *server, uint8_t header_len,
                                size_t ntypes, bool footer, uint8_t alg)
{
    put_le16(b, version);
    char v[50];
    memset(v, 0, sizeof(v));
    memcpy(v, server, strlen(server));
    put(b, v, sizeof(v));
    put_le32(b, BB_TIMESTAMP);
    put_u8(b, header_len);
    for (size_t t = 1; t <= ntypes; t++)
        put_u8(b, post_header_len_of((unsigned)t));
    if (footer)
        put_u8(b, alg);
}

static void put_fde_body(bytes *b, enum fde_kind k, uint8_t alg)
{
    put_fde_body_custom(b, 4, fde_version(k), BINLOG_HEADER_LEN, fde_ntypes(k), k != FDE_MYSQL50,
                        alg);
}

/* A whole Format_description event. Checksum-aware servers fill the
 * checksum slot with a real CRC32 even when the algorithm is OFF. */
static void put_fde(bytes *out, enum fde_kind k, uint8_t alg, uint16_t flags)
{
    bytes body = {0};
    put_fde_body(&body, k, alg);
    put_event_flags(out, BINLOG_FORMAT_DESCRIPTION_EVENT, flags, body.p, body.len,
                    k != FDE_MYSQL50);
    bytes_free(&body);
}

/* ------------------------------------------------------------------------
 * Fixture and decode helpers
 * ------------------------------------------------------------------------ */

typedef struct fixture {
    binlog_decoder dec;
    binlog_event ev;
    uint8_t *copy; /* exactly-sized copy of the last decoded event */
    char err[256];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    binlog_decoder_init(&fx->dec);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    binlog_decoder_deinit(&fx->dec);
    free(fx->copy);
    free(fx);
    return 0;
}

/* Decodes len bytes from an exactly-sized heap copy that lives until the
 * next call. The event is poisoned first so stale fields cannot pass. */
static int decode_raw(fixture *fx, const uint8_t *p, size_t len)
{
    free(fx->copy);
    fx->copy = malloc(len > 0 ? len : 1);
    assert_non_null(fx->copy);
    if (len > 0)
        memcpy(fx->copy, p, len);
    fx->err[0] = '\0';
    memset(&fx->ev, 0xa5, sizeof(fx->ev));
    return binlog_event_decode(&fx->dec, fx->copy, len, &fx->ev, fx->err, sizeof(fx->err));
}

static int decode_bytes(fixture *fx, const bytes *ev)
{
    return decode_raw(fx, ev->p, ev->len);
}

static bool stream_crc(const fixture *fx)
{
    return fx->dec.fmt.checksum_alg == BINLOG_CHECKSUM_CRC32;
}

/* Wraps body in an event of the stream's format (with a CRC32 when the
 * stream has them) and decodes it. */
static int decode_event(fixture *fx, uint8_t type, const bytes *body)
{
    bytes ev = {0};
    put_event(&ev, type, body, stream_crc(fx));
    int rc = decode_bytes(fx, &ev);
    bytes_free(&ev);
    return rc;
}

static void start_stream(fixture *fx, enum fde_kind k, uint8_t alg)
{
    bytes ev = {0};
    put_fde(&ev, k, alg, 0);
    int rc = decode_bytes(fx, &ev);
    if (rc != MCSQ_OK)
        print_message("FDE: %s\n", fx->err);
    assert_int_equal(rc, MCSQ_OK);
    bytes_free(&ev);
}

/* The stream formats every event is tried under. */
typedef struct stream_kind {
    bool fde; /* false: no Format_description seen yet */
    enum fde_kind kind;
    uint8_t alg;
} stream_kind;

static const stream_kind streams[] = {
    {false, FDE_MYSQL8, BINLOG_CHECKSUM_OFF}, {true, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32},
    {true, FDE_MYSQL8, BINLOG_CHECKSUM_OFF},  {true, FDE_MARIADB, BINLOG_CHECKSUM_CRC32},
    {true, FDE_MARIADB, BINLOG_CHECKSUM_OFF}, {true, FDE_MYSQL50, BINLOG_CHECKSUM_OFF},
};
#define NSTREAMS (sizeof(streams) / sizeof(streams[0]))

static void restart(fixture *fx, const stream_kind *s)
{
    binlog_decoder_deinit(&fx->dec);
    binlog_decoder_init(&fx->dec);
    if (s->fde)
        start_stream(fx, s->kind, s->alg);
}

static void assert_text(binlog_text t, const char *s)
{
    assert_int_equal(t.len, strlen(s));
    if (t.len > 0) {
        assert_non_null(t.ptr);
        assert_memory_equal(t.ptr, s, t.len);
    }
}

/* rc must be TRUNCATED or CORRUPT, with a message. */
static void assert_clean_error(const fixture *fx, int rc, const char *what, size_t t, size_t len)
{
    if (rc != MCSQ_ERR_TRUNCATED && rc != MCSQ_ERR_CORRUPT)
        print_message("%s (%zu of %zu bytes): rc %d (%s)\n", what, t, len, rc, fx->err);
    if (rc != MCSQ_ERR_TRUNCATED)
        assert_int_equal(rc, MCSQ_ERR_CORRUPT);
    assert_true(fx->err[0] != '\0');
}

/* Cut lengths (inclusive ranges) at which a body is still well formed,
 * because the format makes its trailing fields optional. */
typedef struct cut_range {
    size_t lo, hi;
} cut_range;

static bool cut_is_ok(const cut_range *ok, size_t nok, size_t t)
{
    for (size_t i = 0; i < nok; i++) {
        if (t >= ok[i].lo && t <= ok[i].hi)
            return true;
    }
    return false;
}

/* Cuts body at every length below its own, wraps each cut in a well-formed
 * event (checksum recomputed) and decodes it under every stream format:
 * each must fail cleanly unless it is listed in ok[]. */
static void check_cuts(fixture *fx, uint8_t type, const bytes *body, const cut_range *ok,
                       size_t nok, const char *what)
{
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        for (size_t t = 0; t < body->len; t++) {
            bytes ev = {0};
            put_event_flags(&ev, type, 0, body->p, t, stream_crc(fx));
            int rc = decode_bytes(fx, &ev);
            bytes_free(&ev);
            if (!cut_is_ok(ok, nok, t)) {
                assert_clean_error(fx, rc, what, t, body->len);
                continue;
            }
            if (rc != MCSQ_OK)
                print_message("%s cut to %zu of %zu: %s\n", what, t, body->len, fx->err);
            assert_int_equal(rc, MCSQ_OK);
        }
        /* and the whole body decodes */
        int rc = decode_event(fx, type, body);
        if (rc != MCSQ_OK)
            print_message("%s whole (stream %zu): %s\n", what, s, fx->err);
        assert_int_equal(rc, MCSQ_OK);
    }
}

/* ------------------------------------------------------------------------
 * Event body builders
 * ------------------------------------------------------------------------ */

/* One Query status variable, by index; returns false past the last. */
static bool put_status_var(bytes *s, size_t i)
{
    switch (i) {
    case 0:
        put_u8(s, Q_CATALOG_NZ), put_u8(s, 3), put_str(s, "std");
        return true;
    case 1:
        put_u8(s, Q_AUTO_INCREMENT), put_le16(s, 1), put_le16(s, 1);
        return true;
    case 2:
        put_u8(s, Q_CHARSET), put_le16(s, 33), put_le16(s, 33), put_le16(s, 255);
        return true;
    case 3:
        put_u8(s, Q_TIME_ZONE), put_u8(s, 6), put_str(s, "SYSTEM");
        return true;
    case 4:
        put_u8(s, Q_LC_TIME_NAMES), put_le16(s, 0);
        return true;
    case 5:
        put_u8(s, Q_CHARSET_DATABASE), put_le16(s, 255);
        return true;
    case 6:
        put_u8(s, Q_TABLE_MAP_FOR_UPDATE), put_le64(s, 3);
        return true;
    case 7:
        put_u8(s, Q_MASTER_DATA_WRITTEN), put_le32(s, 1234);
        return true;
    case 8:
        put_u8(s, Q_INVOKER), put_u8(s, 4), put_str(s, "root");
        put_u8(s, 9), put_str(s, "localhost");
        return true;
    case 9:
        put_u8(s, Q_UPDATED_DB_NAMES), put_u8(s, 2);
        put_str(s, "db1"), put_u8(s, 0), put_str(s, "db2"), put_u8(s, 0);
        return true;
    case 10:
        put_u8(s, Q_MICROSECONDS), put_uint(s, 123456, 3);
        return true;
    case 11:
        put_u8(s, Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP), put_u8(s, 1);
        return true;
    case 12:
        put_u8(s, Q_DDL_LOGGED_WITH_XID), put_le64(s, 77);
        return true;
    case 13:
        put_u8(s, Q_DEFAULT_COLLATION_FOR_UTF8MB4), put_le16(s, 255);
        return true;
    case 14:
        put_u8(s, Q_SQL_REQUIRE_PRIMARY_KEY), put_u8(s, 0);
        return true;
    case 15:
        put_u8(s, Q_DEFAULT_TABLE_ENCRYPTION), put_u8(s, 0);
        return true;
    case 16:
        put_u8(s, Q_MARIA_HRNOW), put_uint(s, 654321, 3);
        return true;
    case 17:
        put_u8(s, Q_MARIA_XID), put_le64(s, 99);
        return true;
    case 18:
        put_u8(s, Q_MARIA_GTID_FLAGS3), put_u8(s, 1);
        return true;
    case 19:
        put_u8(s, Q_CATALOG), put_u8(s, 3), put_str(s, "def"), put_u8(s, 0);
        return true;
    case 20:
        put_u8(s, Q_FLAGS2), put_le32(s, TEST_FLAGS2);
        return true;
    case 21:
        put_u8(s, Q_SQL_MODE), put_le64(s, TEST_SQL_MODE);
        return true;
    default:
        return false;
    }
}

/* Every known status variable; flags2 and sql_mode come last, so they are
 * only right when every variable before them was measured right. */
static void put_all_status_vars(bytes *s)
{
    size_t i = 0;
    while (put_status_var(s, i))
        i++;
}

/* Query body: post-header (13 bytes, plus `extra` bytes for longer
 * post-headers), status variables, db, NUL, text. */
static void put_query_body_ex(bytes *b, uint32_t thread_id, uint16_t error_code, const char *db,
                              const bytes *status, const uint8_t *text, size_t text_len,
                              const bytes *extra)
{
    put_le32(b, thread_id);
    put_le32(b, 5); /* exec time */
    put_u8(b, (uint8_t)strlen(db));
    put_le16(b, error_code);
    put_le16(b, (uint16_t)status->len);
    if (extra != NULL)
        put_bytes(b, extra);
    put_bytes(b, status);
    put_str(b, db);
    put_u8(b, 0);
    put(b, text, text_len);
}

static void put_query_body(bytes *b, const char *db, const bytes *status, const char *text)
{
    put_query_body_ex(b, 4242, 0, db, status, (const uint8_t *)text, strlen(text), NULL);
}

static size_t query_text_start(const char *db, const bytes *status, size_t post_len)
{
    return post_len + status->len + strlen(db) + 1;
}

/* MariaDB compressed text: 0x80 | lenlen, declared length big-endian in
 * lenlen bytes, zlib data of text. */
static void put_zlib_text(bytes *b, const char *text, size_t lenlen, uint64_t declared)
{
    uLongf clen = compressBound((uLong)strlen(text));
    uint8_t *c = malloc(clen);
    assert_non_null(c);
    assert_int_equal(compress(c, &clen, (const Bytef *)text, (uLong)strlen(text)), Z_OK);
    put_u8(b, (uint8_t)(0x80 | lenlen));
    put_be(b, declared, lenlen);
    put(b, c, clen);
    free(c);
}

static void put_compressed_query_body(bytes *b, const char *db, const char *text, size_t lenlen,
                                      uint64_t declared)
{
    bytes status = {0}, z = {0};
    put_status_var(&status, 20);
    put_zlib_text(&z, text, lenlen, declared);
    put_query_body_ex(b, 9, 0, db, &status, z.p, z.len, NULL);
    bytes_free(&status);
    bytes_free(&z);
}

/* MySQL GTID / anonymous GTID body: flags, sid, gno, then optionally the
 * logical clock (type 2 + 16 bytes), commit timestamps (7 bytes, bit 55 =
 * original follows), transaction length and server version. */
typedef struct mysql_gtid_spec {
    int64_t gno;
    bool logical;
    bool timestamps;
    uint64_t immediate;
    bool has_original;
    uint64_t original;
    bool tail;
} mysql_gtid_spec;

static void put_mysql_gtid_body(bytes *b, const uint8_t *sid, const mysql_gtid_spec *g)
{
    put_u8(b, 1);
    put(b, sid, 16);
    put_le64(b, (uint64_t)g->gno);
    if (!g->logical)
        return;
    put_u8(b, 2);
    put_le64(b, 41);
    put_le64(b, 42);
    if (!g->timestamps)
        return;
    put_uint(b, g->immediate | (g->has_original ? 1ull << 55 : 0), 7);
    if (g->has_original)
        put_uint(b, g->original, 7);
    if (!g->tail)
        return;
    put_lenenc(b, 200); /* transaction length */
    put_le32(b, 80036);
}

#define IMMEDIATE_US 1700000000123456ull
#define ORIGINAL_US 1699999999000001ull

/* Tagged GTID fields (serialization-library format) with the offset after
 * each field, so cuts at field boundaries can be told from cuts inside. */
typedef struct tagged_fields {
    bytes f;
    size_t bound[16];
    size_t nbound;
    size_t gno_end;
} tagged_fields;

static void tagged_end_field(tagged_fields *t)
{
    t->bound[t->nbound++] = t->f.len;
}

static void put_tagged_fields(tagged_fields *t, const char *tag, int64_t gno, bool with_original)
{
    memset(t, 0, sizeof(*t));
    put_varlen(&t->f, 0), put_varlen(&t->f, 1), tagged_end_field(t);
    put_varlen(&t->f, 1);
    for (int i = 0; i < 16; i++)
        put_varlen(&t->f, test_sid[i]);
    tagged_end_field(t);
    put_varlen(&t->f, 2), put_varlen_signed(&t->f, gno), tagged_end_field(t);
    t->gno_end = t->f.len;
    put_varlen(&t->f, 3), put_varlen(&t->f, strlen(tag)), put_str(&t->f, tag);
    tagged_end_field(t);
    put_varlen(&t->f, 4), put_varlen_signed(&t->f, 41), tagged_end_field(t);
    put_varlen(&t->f, 5), put_varlen_signed(&t->f, 42), tagged_end_field(t);
    put_varlen(&t->f, 6), put_varlen(&t->f, IMMEDIATE_US), tagged_end_field(t);
    if (with_original)
        put_varlen(&t->f, 7), put_varlen(&t->f, ORIGINAL_US), tagged_end_field(t);
    put_varlen(&t->f, 8), put_varlen(&t->f, 1234), tagged_end_field(t);
    put_varlen(&t->f, 9), put_varlen(&t->f, 80400), tagged_end_field(t);
    put_varlen(&t->f, 10), put_varlen(&t->f, 80036), tagged_end_field(t);
    put_varlen(&t->f, 11), put_varlen(&t->f, 0), tagged_end_field(t);
}

/* Self-inclusive payload size: version byte, its own varlen, the
 * last-non-ignorable-field varlen and the fields. */
static uint64_t tagged_payload_size(uint64_t lnif, size_t flen)
{
    uint64_t fixed = 1 + varlen_size(lnif) + flen;
    uint64_t ps = fixed + 1;
    for (;;) {
        uint64_t next = fixed + varlen_size(ps);
        if (next == ps)
            return ps;
        ps = next;
    }
}

static void put_tagged_body(bytes *b, uint8_t version, uint64_t payload_size, uint64_t lnif,
                            const uint8_t *fields, size_t flen)
{
    put_u8(b, version);
    put_varlen(b, payload_size);
    put_varlen(b, lnif);
    put(b, fields, flen);
}

static void put_tagged_body_auto(bytes *b, const uint8_t *fields, size_t flen)
{
    put_tagged_body(b, 2, tagged_payload_size(11, flen), 11, fields, flen);
}

/* MariaDB GTID body: seq, domain, flags2, [commit id], [XA xid], padded
 * to 19 bytes. */
static void put_maria_gtid_body(bytes *b, uint64_t seq, uint32_t domain, uint8_t flags2,
                                int32_t format_id, const char *gtrid, size_t gl, const char *bqual,
                                size_t bl)
{
    size_t start = b->len;
    put_le64(b, seq);
    put_le32(b, domain);
    put_u8(b, flags2);
    if (flags2 & BINLOG_MARIA_GTID_GROUP_COMMIT_ID)
        put_le64(b, 0x1122334455667788ull);
    if (flags2 & (BINLOG_MARIA_GTID_PREPARED_XA | BINLOG_MARIA_GTID_COMPLETED_XA)) {
        put_le32(b, (uint32_t)format_id);
        put_u8(b, (uint8_t)gl);
        put_u8(b, (uint8_t)bl);
        put(b, gtrid, gl);
        put(b, bqual, bl);
    }
    if (b->len - start < 19)
        put_fill(b, 0, 19 - (b->len - start));
}

static void put_xa_prepare_body(bytes *b, uint8_t one_phase, int32_t format_id, uint32_t gl,
                                uint32_t bl, const char *data, size_t data_len)
{
    put_u8(b, one_phase);
    put_le32(b, (uint32_t)format_id);
    put_le32(b, gl);
    put_le32(b, bl);
    put(b, data, data_len);
}

/* Previous_gtids, untagged: n_sids, then per sid 16 bytes, n_intervals and
 * (start, end) pairs. */
static void put_prev_gtids_untagged(bytes *b, uint64_t n_sids, uint64_t n_intervals)
{
    put_le64(b, n_sids);
    for (uint64_t i = 0; i < n_sids; i++) {
        put(b, test_sid, 16);
        put_le64(b, n_intervals);
        for (uint64_t k = 0; k < n_intervals; k++)
            put_le64(b, 1 + 10 * k), put_le64(b, 5 + 10 * k);
    }
}

/* Previous_gtids, tagged: format 1 in bits 56-63 and 0-7, n_sids in bits
 * 8-55; each sid has a varlen-prefixed tag. */
static void put_prev_gtids_tagged(bytes *b, uint64_t n_sids, const char *tag)
{
    put_le64(b, (1ull << 56) | (n_sids << 8) | 1);
    for (uint64_t i = 0; i < n_sids; i++) {
        put(b, test_sid, 16);
        put_varlen(b, strlen(tag));
        put_str(b, tag);
        put_le64(b, 1);
        put_le64(b, 1), put_le64(b, 100);
    }
}

static void put_gtid_list_body(bytes *b, uint32_t count_field, size_t entries)
{
    put_le32(b, count_field);
    for (size_t i = 0; i < entries; i++) {
        put_le32(b, (uint32_t)i);
        put_le32(b, 100 + (uint32_t)i);
        put_le64(b, 1000 + i);
    }
}

/* ------------------------------------------------------------------------
 * Header, Format_description, checksums
 * ------------------------------------------------------------------------ */

static void test_header_parse(void **state)
{
    (void)state;
    bytes b = {0};
    bytes body = {0};
    put_le64(&body, 1);
    put_event_flags(&b, BINLOG_XID_EVENT, 0x0040, body.p, body.len, false);
    binlog_header h;
    assert_int_equal(binlog_header_parse(b.p, b.len, &h), MCSQ_OK);
    assert_int_equal(h.timestamp, BB_TIMESTAMP);
    assert_int_equal(h.type, BINLOG_XID_EVENT);
    assert_int_equal(h.server_id, BB_SERVER_ID);
    assert_int_equal(h.event_size, 27);
    assert_int_equal(h.next_pos, EV_NEXT_POS);
    assert_int_equal(h.flags, 0x0040);
    for (size_t n = 0; n < BINLOG_HEADER_LEN; n++)
        assert_int_equal(binlog_header_parse(b.p, n, &h), MCSQ_ERR_TRUNCATED);
    bytes_free(&b);
    bytes_free(&body);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(binlog_event_type_name(BINLOG_QUERY_EVENT), "Query");
    assert_string_equal(binlog_event_type_name(BINLOG_XID_EVENT), "Xid");
    assert_string_equal(binlog_event_type_name(BINLOG_GTID_TAGGED_EVENT), "Gtid_tagged");
    assert_string_equal(binlog_event_type_name(BINLOG_MARIA_GTID_LIST_EVENT), "Gtid_list");
    assert_string_equal(binlog_event_type_name(0), "Unknown");
    assert_string_equal(binlog_event_type_name(43), "Unknown");
    assert_string_equal(binlog_event_type_name(200), "Unknown");
    assert_string_equal(binlog_event_type_name(255), "Unknown");
}

static void test_initial_format(void **state)
{
    fixture *fx = *state;
    assert_int_equal(fx->dec.fmt.binlog_version, 4);
    assert_int_equal(fx->dec.fmt.header_len, BINLOG_HEADER_LEN);
    assert_int_equal(fx->dec.fmt.checksum_alg, BINLOG_CHECKSUM_OFF);
    assert_true(fx->dec.verify_checksums);
    assert_int_equal(fx->dec.events, 0);
    assert_int_equal(fx->dec.events_unknown, 0);
}

static void check_post_header_lens(const binlog_format *fmt, size_t ntypes)
{
    assert_int_equal(fmt->ntypes, ntypes);
    for (unsigned t = 1; t < 256; t++)
        assert_int_equal(fmt->post_header_len[t], t <= ntypes ? post_header_len_of(t) : 0);
}

static void test_fde_mysql8_crc32(void **state)
{
    fixture *fx = *state;
    bytes ev = {0};
    put_fde(&ev, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32, 0);
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_OK);
    const binlog_format *f = &fx->dec.fmt;
    assert_int_equal(f->binlog_version, 4);
    assert_string_equal(f->server_version, "8.0.36");
    assert_false(f->mariadb);
    assert_int_equal(f->header_len, BINLOG_HEADER_LEN);
    assert_int_equal(f->checksum_alg, BINLOG_CHECKSUM_CRC32);
    check_post_header_lens(f, 42);
    assert_int_equal(fx->ev.hdr.type, BINLOG_FORMAT_DESCRIPTION_EVENT);
    /* the body keeps the algorithm byte, loses the checksum */
    assert_int_equal(fx->ev.body_len, 57 + 42 + 1);
    assert_ptr_equal(fx->ev.body, fx->copy + BINLOG_HEADER_LEN);
    assert_int_equal(fx->dec.events, 1);
    bytes_free(&ev);
}

static void test_fde_mysql8_checksum_off(void **state)
{
    fixture *fx = *state;
    bytes ev = {0};
    put_fde(&ev, FDE_MYSQL8, BINLOG_CHECKSUM_OFF, 0);
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_OK);
    assert_int_equal(fx->dec.fmt.checksum_alg, BINLOG_CHECKSUM_OFF);
    assert_int_equal(fx->ev.body_len, 57 + 42 + 1);
    /* the slot of an OFF stream's FDE is not verified: zeros pass too */
    memset(ev.p + ev.len - 4, 0, 4);
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_OK);
    /* events that follow carry no checksum */
    bytes body = {0};
    put_le64(&body, 77);
    assert_int_equal(decode_event(fx, BINLOG_XID_EVENT, &body), MCSQ_OK);
    assert_int_equal(fx->ev.body_len, 8);
    assert_int_equal(fx->ev.u.xid, 77);
    bytes_free(&ev);
    bytes_free(&body);
}

static void test_fde_mariadb(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MARIADB, BINLOG_CHECKSUM_CRC32);
    const binlog_format *f = &fx->dec.fmt;
    assert_string_equal(f->server_version, "10.11.6-MariaDB-log");
    assert_true(f->mariadb);
    assert_int_equal(f->checksum_alg, BINLOG_CHECKSUM_CRC32);
    check_post_header_lens(f, 171);
    assert_int_equal(f->post_header_len[BINLOG_MARIA_QUERY_COMPRESSED_EVENT], 13);
    assert_int_equal(fx->ev.body_len, 57 + 171 + 1);
}

static void test_fde_mysql50_no_footer(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL50, BINLOG_CHECKSUM_OFF);
    const binlog_format *f = &fx->dec.fmt;
    assert_string_equal(f->server_version, "5.0.96-log");
    assert_false(f->mariadb);
    assert_int_equal(f->checksum_alg, BINLOG_CHECKSUM_OFF);
    check_post_header_lens(f, 27);
    assert_int_equal(fx->ev.body_len, 57 + 27);
}

/* MySQL 5.6.0 predates the footer, 5.6.1 has it; MariaDB 5.3 has it. */
static void test_fde_footer_by_version(void **state)
{
    fixture *fx = *state;
    static const struct {
        const char *version;
        bool footer;
    } cases[] = {{"5.6.0-log", false},    {"5.6.1", true},          {"5.5.62", false},
                 {"5.3.0-MariaDB", true}, {"5.2.9-MariaDB", false}, {"8.4.3", true}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        binlog_decoder_deinit(&fx->dec);
        binlog_decoder_init(&fx->dec);
        bytes body = {0}, ev = {0};
        put_fde_body_custom(&body, 4, cases[i].version, 19, 30, cases[i].footer,
                            BINLOG_CHECKSUM_CRC32);
        put_event(&ev, BINLOG_FORMAT_DESCRIPTION_EVENT, &body, cases[i].footer);
        assert_int_equal(decode_bytes(fx, &ev), MCSQ_OK);
        assert_int_equal(fx->dec.fmt.checksum_alg,
                         cases[i].footer ? BINLOG_CHECKSUM_CRC32 : BINLOG_CHECKSUM_OFF);
        assert_int_equal(fx->ev.body_len, 57 + 30 + (cases[i].footer ? 1 : 0));
        bytes_free(&body);
        bytes_free(&ev);
    }
}

/* The server computes an FDE's CRC with the "binlog in use" flag clear and
 * sets the flag afterwards; the decoder must accept that. */
static void test_fde_in_use_flag_rule(void **state)
{
    fixture *fx = *state;
    bytes ev = {0};
    put_fde(&ev, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32, BB_FLAG_IN_USE);
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_OK);
    assert_int_equal(fx->ev.hdr.flags, BB_FLAG_IN_USE);
    /* the same FDE with the flag cleared on close: same CRC, still good */
    ev.p[BB_FLAGS_OFFSET] = 0;
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_OK);
    /* a CRC computed over the set flag is not what servers write */
    bytes body = {0}, bad = {0};
    put_fde_body(&body, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    put_event_flags(&bad, BINLOG_FORMAT_DESCRIPTION_EVENT, BB_FLAG_IN_USE, body.p, body.len, false);
    bad.p[9] = (uint8_t)(bad.len + 4); /* event_size: the helper counted no checksum */
    uLong c = crc32(0, bad.p, (uInt)bad.len);
    put_le32(&bad, (uint32_t)c);
    assert_int_equal(decode_bytes(fx, &bad), MCSQ_ERR_CHECKSUM);
    /* other flag bits are covered by the CRC */
    ev.p[BB_FLAGS_OFFSET] = 0x02;
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_ERR_CHECKSUM);
    /* the rule is for FDEs only: an Xid with the flag set is checked as is */
    bytes xb = {0}, xid = {0};
    put_le64(&xb, 5);
    put_event_flags(&xid, BINLOG_XID_EVENT, BB_FLAG_IN_USE, xb.p, xb.len, true);
    assert_int_equal(decode_bytes(fx, &xid), MCSQ_OK);
    uint8_t head[BINLOG_HEADER_LEN];
    memcpy(head, xid.p, sizeof(head));
    head[BB_FLAGS_OFFSET] = 0;
    c = crc32(crc32(0, head, sizeof(head)), xb.p, (uInt)xb.len);
    for (int i = 0; i < 4; i++)
        xid.p[xid.len - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
    assert_int_equal(decode_bytes(fx, &xid), MCSQ_ERR_CHECKSUM);
    bytes_free(&ev);
    bytes_free(&body);
    bytes_free(&bad);
    bytes_free(&xb);
    bytes_free(&xid);
}

static void test_fde_unknown_checksum_alg(void **state)
{
    fixture *fx = *state;
    static const uint8_t algs[] = {2, 3, 0x7f, 0xfe, 0xff};
    for (size_t i = 0; i < sizeof(algs); i++) {
        start_stream(fx, FDE_MYSQL50, BINLOG_CHECKSUM_OFF);
        bytes ev = {0};
        put_fde(&ev, FDE_MYSQL8, algs[i], 0);
        assert_int_equal(decode_bytes(fx, &ev), MCSQ_ERR_UNSUPPORTED);
        assert_non_null(strstr(fx->err, "checksum algorithm"));
        /* the stream keeps its previous format */
        assert_string_equal(fx->dec.fmt.server_version, "5.0.96-log");
        assert_int_equal(fx->dec.fmt.checksum_alg, BINLOG_CHECKSUM_OFF);
        bytes_free(&ev);
    }
}

static void test_fde_binlog_version_not_4(void **state)
{
    fixture *fx = *state;
    static const uint16_t versions[] = {0, 1, 3, 5, 0xffff};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        bytes body = {0}, ev = {0};
        put_fde_body_custom(&body, versions[i], "8.0.36", 19, 42, true, BINLOG_CHECKSUM_CRC32);
        put_event(&ev, BINLOG_FORMAT_DESCRIPTION_EVENT, &body, true);
        assert_int_equal(decode_bytes(fx, &ev), MCSQ_ERR_UNSUPPORTED);
        assert_non_null(strstr(fx->err, "version"));
        assert_int_equal(fx->dec.fmt.binlog_version, 4);
        assert_int_equal(fx->dec.fmt.checksum_alg, BINLOG_CHECKSUM_OFF);
        bytes_free(&body);
        bytes_free(&ev);
    }
}

static void test_fde_header_len_below_19(void **state)
{
    fixture *fx = *state;
    static const uint8_t lens[] = {0, 1, 13, 18};
    for (size_t i = 0; i < sizeof(lens); i++) {
        bytes body = {0}, ev = {0};
        put_fde_body_custom(&body, 4, "8.0.36", lens[i], 42, true, BINLOG_CHECKSUM_CRC32);
        put_event(&ev, BINLOG_FORMAT_DESCRIPTION_EVENT, &body, true);
        assert_int_equal(decode_bytes(fx, &ev), MCSQ_ERR_CORRUPT);
        assert_int_equal(fx->dec.fmt.header_len, BINLOG_HEADER_LEN);
        bytes_free(&body);
        bytes_free(&ev);
    }
}

/* An FDE that fails its CRC is rejected like the other bad FDEs above:
 * the stream must keep its previous format, not adopt the one it just
 * refused (event_decoder.c decodes the FDE into dec->fmt before the
 * checksum step). */
static void test_fde_bad_crc_keeps_format(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    bytes ev = {0};
    put_fde(&ev, FDE_MARIADB, BINLOG_CHECKSUM_CRC32, 0);
    ev.p[ev.len - 1] ^= 0x01;
    int rc = decode_bytes(fx, &ev);
    bytes_free(&ev);
    assert_int_equal(rc, MCSQ_ERR_CHECKSUM);
    assert_string_equal(fx->dec.fmt.server_version, "8.0.36");
    assert_false(fx->dec.fmt.mariadb);
    assert_int_equal(fx->dec.fmt.ntypes, 42);
}

/* A longer common header (announced by the FDE) moves every body. */
static void test_fde_longer_common_header(void **state)
{
    fixture *fx = *state;
    bytes body = {0}, ev = {0};
    put_fde_body_custom(&body, 4, "8.0.36", 23, 42, true, BINLOG_CHECKSUM_CRC32);
    put_event(&ev, BINLOG_FORMAT_DESCRIPTION_EVENT, &body, true);
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_OK);
    assert_int_equal(fx->dec.fmt.header_len, 23);
    bytes xb = {0}, xid = {0};
    put_le32(&xb, 0xdeadbeef); /* 4 extra header bytes */
    put_le64(&xb, 0x0102030405060708ull);
    put_event(&xid, BINLOG_XID_EVENT, &xb, true);
    assert_int_equal(decode_bytes(fx, &xid), MCSQ_OK);
    assert_int_equal(fx->ev.body_len, 8);
    assert_int_equal(fx->ev.u.xid, 0x0102030405060708ull);
    /* an event shorter than the longer header */
    bytes tiny = {0};
    put_event_flags(&tiny, BINLOG_XID_EVENT, 0, xb.p, 2, false);
    assert_int_equal(decode_bytes(fx, &tiny), MCSQ_ERR_TRUNCATED);
    bytes_free(&body);
    bytes_free(&ev);
    bytes_free(&xb);
    bytes_free(&xid);
    bytes_free(&tiny);
}

/* FDE bodies cut short of their fixed part or their footer. */
static void test_fde_truncated(void **state)
{
    fixture *fx = *state;
    static const enum fde_kind kinds[] = {FDE_MYSQL8, FDE_MARIADB, FDE_MYSQL50};
    for (size_t k = 0; k < 3; k++) {
        bytes body = {0};
        put_fde_body(&body, kinds[k], BINLOG_CHECKSUM_CRC32);
        size_t need = kinds[k] == FDE_MYSQL50 ? 57 : 57 + 1 + BINLOG_CHECKSUM_LEN;
        for (size_t t = 0; t < need; t++) {
            binlog_decoder_deinit(&fx->dec);
            binlog_decoder_init(&fx->dec);
            bytes ev = {0};
            put_event_flags(&ev, BINLOG_FORMAT_DESCRIPTION_EVENT, 0, body.p, t, false);
            int rc = decode_bytes(fx, &ev);
            assert_clean_error(fx, rc, fde_version(kinds[k]), t, need);
            assert_int_equal(fx->dec.fmt.checksum_alg, BINLOG_CHECKSUM_OFF);
            bytes_free(&ev);
        }
        bytes_free(&body);
    }
}

static void test_header_size_lies(void **state)
{
    fixture *fx = *state;
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        bytes body = {0}, ev = {0};
        put_le64(&body, 9);
        put_event(&ev, BINLOG_XID_EVENT, &body, stream_crc(fx));
        size_t len = ev.len;
        /* header says less / more than the buffer holds */
        static const int64_t deltas[] = {-1, +1, -8, +100, -(int64_t)BINLOG_HEADER_LEN};
        for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
            bytes lie = {0};
            put_bytes(&lie, &ev);
            uint32_t size = (uint32_t)((int64_t)len + deltas[i]);
            for (int k = 0; k < 4; k++)
                lie.p[9 + k] = (uint8_t)(size >> (8 * k));
            assert_int_equal(decode_bytes(fx, &lie), MCSQ_ERR_CORRUPT);
            assert_non_null(strstr(fx->err, "header says"));
            bytes_free(&lie);
        }
        static const uint32_t huge[] = {0xffffffffu, 0x7fffffffu, BINLOG_MAX_EVENT_SIZE + 1};
        for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
            bytes lie = {0};
            put_bytes(&lie, &ev);
            for (int k = 0; k < 4; k++)
                lie.p[9 + k] = (uint8_t)(huge[i] >> (8 * k));
            assert_int_equal(decode_bytes(fx, &lie), MCSQ_ERR_CORRUPT);
            bytes_free(&lie);
        }
        /* the buffer is shorter than the header says (event cut short) */
        for (size_t n = BINLOG_HEADER_LEN; n < len; n++)
            assert_int_equal(decode_raw(fx, ev.p, n), MCSQ_ERR_CORRUPT);
        /* shorter than a header at all */
        for (size_t n = 0; n < BINLOG_HEADER_LEN; n++)
            assert_int_equal(decode_raw(fx, ev.p, n), MCSQ_ERR_TRUNCATED);
        bytes_free(&body);
        bytes_free(&ev);
    }
}

/* Flips every bit of a checksummed event: a flipped size field is a size
 * mismatch, anything else must fail the CRC. */
static void check_bit_flips(fixture *fx, const bytes *ev)
{
    for (size_t i = 0; i < ev->len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            bytes f = {0};
            put_bytes(&f, ev);
            f.p[i] ^= (uint8_t)(1u << bit);
            int rc = decode_bytes(fx, &f);
            bytes_free(&f);
            if (i >= 9 && i < 13) {
                assert_int_equal(rc, MCSQ_ERR_CORRUPT);
                continue;
            }
            if (rc != MCSQ_ERR_CHECKSUM)
                print_message("byte %zu bit %d: rc %d (%s)\n", i, bit, rc, fx->err);
            assert_int_equal(rc, MCSQ_ERR_CHECKSUM);
            assert_non_null(strstr(fx->err, "CRC32"));
        }
    }
    assert_int_equal(decode_bytes(fx, ev), MCSQ_OK);
}

static void test_crc_bit_flips(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    bytes body = {0}, ev = {0};
    put_le64(&body, 0x1122334455667788ull);
    put_event(&ev, BINLOG_XID_EVENT, &body, true);
    check_bit_flips(fx, &ev);
    bytes_free(&body);
    bytes_free(&ev);

    bytes status = {0};
    put_status_var(&status, 21);
    put_query_body(&body, "test", &status, "UPDATE t SET a=1");
    put_event(&ev, BINLOG_QUERY_EVENT, &body, true);
    check_bit_flips(fx, &ev);
    bytes_free(&body);
    bytes_free(&ev);
    bytes_free(&status);

    start_stream(fx, FDE_MARIADB, BINLOG_CHECKSUM_CRC32);
    put_maria_gtid_body(&body, 100, 0, BINLOG_MARIA_GTID_PREPARED_XA, 1, "ab", 2, "c", 1);
    put_event(&ev, BINLOG_MARIA_GTID_EVENT, &body, true);
    check_bit_flips(fx, &ev);
    bytes_free(&body);
    bytes_free(&ev);
}

static void test_crc_verification_off(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    fx->dec.verify_checksums = false;
    bytes body = {0}, ev = {0};
    put_le64(&body, 31337);
    put_event(&ev, BINLOG_XID_EVENT, &body, true);
    ev.p[ev.len - 1] ^= 0xff;
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_OK);
    assert_int_equal(fx->ev.body_len, 8); /* still stripped */
    assert_int_equal(fx->ev.u.xid, 31337);
    fx->dec.verify_checksums = true;
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_ERR_CHECKSUM);
    bytes_free(&body);
    bytes_free(&ev);
}

/* Under CRC32 an event needs at least 4 body bytes for the checksum. */
static void test_crc_no_room(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    static const uint8_t junk[3] = {1, 2, 3};
    for (size_t n = 0; n < 4; n++) {
        bytes ev = {0};
        put_event_flags(&ev, BINLOG_STOP_EVENT, 0, junk, n, false);
        assert_int_equal(decode_bytes(fx, &ev), MCSQ_ERR_TRUNCATED);
        bytes_free(&ev);
    }
    /* exactly the checksum: an empty Stop event */
    bytes ev = {0};
    put_event_flags(&ev, BINLOG_STOP_EVENT, 0, NULL, 0, true);
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_OK);
    assert_int_equal(fx->ev.body_len, 0);
    bytes_free(&ev);
}

/* After an error the decoder keeps decoding the next event. */
static void test_recovers_after_error(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    bytes body = {0}, ev = {0};
    put_le64(&body, 1);
    put_event(&ev, BINLOG_XID_EVENT, &body, true);
    ev.p[20] ^= 1;
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_ERR_CHECKSUM);
    ev.p[20] ^= 1;
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_OK);
    assert_int_equal(fx->ev.u.xid, 1);
    bytes_free(&body);
    bytes_free(&ev);
}

/* ------------------------------------------------------------------------
 * Query family
 * ------------------------------------------------------------------------ */

static void check_all_vars_query(const binlog_query *q, const char *text)
{
    assert_int_equal(q->thread_id, 4242);
    assert_int_equal(q->error_code, 0);
    assert_text(q->db, "shop");
    assert_text(q->text, text);
    assert_true(q->has_flags2);
    assert_int_equal(q->flags2, TEST_FLAGS2);
    assert_true(q->has_sql_mode);
    assert_int_equal(q->sql_mode, TEST_SQL_MODE);
    assert_text(q->catalog, "def");
}

static void test_query_all_status_vars(void **state)
{
    fixture *fx = *state;
    const char *text = "UPDATE t SET a='x' WHERE id=1 /* key:x */";
    bytes status = {0}, body = {0};
    put_all_status_vars(&status);
    put_query_body(&body, "shop", &status, text);
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_QUERY_EVENT, &body), MCSQ_OK);
        check_all_vars_query(&fx->ev.u.query, text);
        assert_int_equal(fx->ev.body_len, body.len);
    }
    bytes_free(&status);
    bytes_free(&body);
}

static void test_query_fields(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    bytes status = {0}, body = {0};
    put_status_var(&status, 0); /* catalog "std" (Q_CATALOG_NZ) */
    put_query_body_ex(&body, 0xfedcba98u, 1062, "", &status, (const uint8_t *)"BEGIN", 5, NULL);
    assert_int_equal(decode_event(fx, BINLOG_QUERY_EVENT, &body), MCSQ_OK);
    const binlog_query *q = &fx->ev.u.query;
    assert_int_equal(q->thread_id, 0xfedcba98u);
    assert_int_equal(q->error_code, 1062);
    assert_text(q->db, "");
    assert_text(q->catalog, "std");
    assert_text(q->text, "BEGIN");
    assert_false(q->has_flags2);
    assert_false(q->has_sql_mode);
    /* the text borrows from the input */
    assert_true((const uint8_t *)q->text.ptr >= fx->copy &&
                (const uint8_t *)q->text.ptr < fx->copy + body.len + 23);
    bytes_free(&status);
    bytes_free(&body);
}

/* Text may be empty and may contain NULs: it is the rest of the body. */
static void test_query_text_binary(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    bytes status = {0}, body = {0};
    static const uint8_t text[] = {'I', 'N', 'S', 0, 0xff, 'x'};
    put_query_body_ex(&body, 1, 0, "db", &status, text, sizeof(text), NULL);
    assert_int_equal(decode_event(fx, BINLOG_QUERY_EVENT, &body), MCSQ_OK);
    assert_int_equal(fx->ev.u.query.text.len, sizeof(text));
    assert_memory_equal(fx->ev.u.query.text.ptr, text, sizeof(text));
    bytes_free(&body);
    put_query_body(&body, "db", &status, "");
    assert_int_equal(decode_event(fx, BINLOG_QUERY_EVENT, &body), MCSQ_OK);
    assert_int_equal(fx->ev.u.query.text.len, 0);
    bytes_free(&body);
    bytes_free(&status);
}

/* An unknown status variable code stops the walk (its length is unknown)
 * but the db and text are still found through status_len. */
static void test_query_unknown_status_var(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    bytes status = {0}, body = {0};
    put_status_var(&status, 20); /* flags2 */
    put_u8(&status, 99);         /* unknown */
    put_le32(&status, 0x01020304);
    put_status_var(&status, 21); /* sql_mode, unreachable */
    put_query_body(&body, "shop", &status, "DELETE FROM t");
    assert_int_equal(decode_event(fx, BINLOG_QUERY_EVENT, &body), MCSQ_OK);
    const binlog_query *q = &fx->ev.u.query;
    assert_true(q->has_flags2);
    assert_int_equal(q->flags2, TEST_FLAGS2);
    assert_false(q->has_sql_mode);
    assert_text(q->db, "shop");
    assert_text(q->text, "DELETE FROM t");
    bytes_free(&status);
    bytes_free(&body);
}

static void test_query_updated_db_names_over_max(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    bytes status = {0}, body = {0};
    put_u8(&status, Q_UPDATED_DB_NAMES);
    put_u8(&status, 254); /* OVER_MAX_DBS_IN_EVENT_MTS: no names follow */
    put_status_var(&status, 21);
    put_query_body(&body, "shop", &status, "DROP TABLE a, b");
    assert_int_equal(decode_event(fx, BINLOG_QUERY_EVENT, &body), MCSQ_OK);
    assert_true(fx->ev.u.query.has_sql_mode);
    assert_int_equal(fx->ev.u.query.sql_mode, TEST_SQL_MODE);
    bytes_free(&status);
    bytes_free(&body);
}

/* Released servers give Query 13, Rotate 8 and Xid 0 post-header bytes;
 * a stream that says otherwise numbers its events differently and is
 * refused, keeping the previous format. */
static void test_fde_nonstandard_numbering(void **state)
{
    fixture *fx = *state;
    static const struct {
        uint8_t type, len;
    } cases[] = {{BINLOG_QUERY_EVENT, 15},
                 {BINLOG_QUERY_EVENT, 12},
                 {BINLOG_QUERY_EVENT, 0},
                 {BINLOG_ROTATE_EVENT, 9},
                 {BINLOG_XID_EVENT, 8}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        start_stream(fx, FDE_MYSQL50, BINLOG_CHECKSUM_OFF);
        bytes fbody = {0}, fde = {0};
        put_fde_body(&fbody, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
        fbody.p[57 + cases[i].type - 1] = cases[i].len;
        put_event(&fde, BINLOG_FORMAT_DESCRIPTION_EVENT, &fbody, true);
        assert_int_equal(decode_bytes(fx, &fde), MCSQ_ERR_UNSUPPORTED);
        assert_non_null(strstr(fx->err, "post-header"));
        assert_string_equal(fx->dec.fmt.server_version, "5.0.96-log");
        assert_int_equal(fx->dec.fmt.post_header_len[BINLOG_QUERY_EVENT], 13);
        bytes_free(&fbody);
        bytes_free(&fde);
    }
    /* types beyond the FDE's list are not checked */
    bytes fbody = {0}, fde = {0};
    put_fde_body_custom(&fbody, 4, "8.0.36", 19, 3, true, BINLOG_CHECKSUM_CRC32);
    put_event(&fde, BINLOG_FORMAT_DESCRIPTION_EVENT, &fbody, true);
    assert_int_equal(decode_bytes(fx, &fde), MCSQ_OK);
    assert_int_equal(fx->dec.fmt.ntypes, 3);
    assert_int_equal(fx->dec.fmt.post_header_len[BINLOG_ROTATE_EVENT], 0);
    bytes_free(&fbody);
    bytes_free(&fde);
}

static void put_execute_load_extra(bytes *extra)
{
    put_le32(extra, 7);  /* file id */
    put_le32(extra, 20); /* start of file name in the text */
    put_le32(extra, 40); /* end of file name */
    put_u8(extra, 1);    /* duplicate handling */
}

static void test_execute_load_query(void **state)
{
    fixture *fx = *state;
    const char *text = "LOAD DATA INFILE '/tmp/SQL_LOAD-7-1-2.data' INTO TABLE t";
    bytes status = {0}, extra = {0}, body = {0};
    put_status_var(&status, 21);
    put_execute_load_extra(&extra);
    put_query_body_ex(&body, 77, 0, "shop", &status, (const uint8_t *)text, strlen(text), &extra);
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_EXECUTE_LOAD_QUERY_EVENT, &body), MCSQ_OK);
        const binlog_query *q = &fx->ev.u.query;
        assert_int_equal(q->thread_id, 77);
        assert_text(q->db, "shop");
        assert_text(q->text, text);
        assert_int_equal(q->sql_mode, TEST_SQL_MODE);
    }
    bytes_free(&status);
    bytes_free(&extra);
    bytes_free(&body);
}

/* The post-header length the FDE announces is skipped whole before the
 * status variables (a longer Execute_load_query post-header here). */
static void test_execute_load_query_longer_post_header(void **state)
{
    fixture *fx = *state;
    bytes fbody = {0}, fde = {0};
    put_fde_body(&fbody, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    fbody.p[57 + BINLOG_EXECUTE_LOAD_QUERY_EVENT - 1] = 28;
    put_event(&fde, BINLOG_FORMAT_DESCRIPTION_EVENT, &fbody, true);
    assert_int_equal(decode_bytes(fx, &fde), MCSQ_OK);
    assert_int_equal(fx->dec.fmt.post_header_len[BINLOG_EXECUTE_LOAD_QUERY_EVENT], 28);
    const char *text = "LOAD DATA INFILE 'x' INTO TABLE t";
    bytes status = {0}, extra = {0}, body = {0};
    put_status_var(&status, 21);
    put_execute_load_extra(&extra);
    put_le16(&extra, 0xabcd);
    put_query_body_ex(&body, 3, 0, "shop", &status, (const uint8_t *)text, strlen(text), &extra);
    assert_int_equal(decode_event(fx, BINLOG_EXECUTE_LOAD_QUERY_EVENT, &body), MCSQ_OK);
    assert_text(fx->ev.u.query.db, "shop");
    assert_text(fx->ev.u.query.text, text);
    assert_int_equal(fx->ev.u.query.sql_mode, TEST_SQL_MODE);
    /* a post-header shorter than 13 bytes cannot hold the fixed fields */
    fbody.p[57 + BINLOG_EXECUTE_LOAD_QUERY_EVENT - 1] = 12;
    bytes_free(&fde);
    put_event(&fde, BINLOG_FORMAT_DESCRIPTION_EVENT, &fbody, true);
    assert_int_equal(decode_bytes(fx, &fde), MCSQ_OK);
    int rc = decode_event(fx, BINLOG_EXECUTE_LOAD_QUERY_EVENT, &body);
    assert_clean_error(fx, rc, "Execute_load_query with a 12-byte post-header", body.len, body.len);
    bytes_free(&fbody);
    bytes_free(&fde);
    bytes_free(&status);
    bytes_free(&extra);
    bytes_free(&body);
}

static void test_query_huge_lengths(void **state)
{
    fixture *fx = *state;
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        /* status_vars_len 0xffff */
        bytes body = {0};
        put_le32(&body, 1), put_le32(&body, 0), put_u8(&body, 2), put_le16(&body, 0);
        put_le16(&body, 0xffff);
        put_str(&body, "db"), put_u8(&body, 0), put_str(&body, "SELECT 1");
        int rc = decode_event(fx, BINLOG_QUERY_EVENT, &body);
        assert_clean_error(fx, rc, "status_len 0xffff", body.len, body.len);
        bytes_free(&body);
        /* db_len 255 */
        put_le32(&body, 1), put_le32(&body, 0), put_u8(&body, 255), put_le16(&body, 0);
        put_le16(&body, 0);
        put_str(&body, "db"), put_u8(&body, 0), put_str(&body, "SELECT 1");
        rc = decode_event(fx, BINLOG_QUERY_EVENT, &body);
        assert_clean_error(fx, rc, "db_len 255", body.len, body.len);
        bytes_free(&body);
        /* both at their maximum */
        put_le32(&body, 1), put_le32(&body, 0), put_u8(&body, 255), put_le16(&body, 0xffff);
        put_le16(&body, 0xffff);
        rc = decode_event(fx, BINLOG_QUERY_EVENT, &body);
        assert_clean_error(fx, rc, "db_len and status_len max", body.len, body.len);
        bytes_free(&body);
    }
}

static void test_query_cuts(void **state)
{
    fixture *fx = *state;
    const char *text = "UPDATE t SET a=1";
    bytes status = {0}, body = {0};
    put_all_status_vars(&status);
    put_query_body(&body, "shop", &status, text);
    /* a cut text is still a text, down to the empty one */
    cut_range ok = {query_text_start("shop", &status, 13), body.len};
    check_cuts(fx, BINLOG_QUERY_EVENT, &body, &ok, 1, "Query");
    bytes_free(&status);
    bytes_free(&body);

    bytes extra = {0};
    put_status_var(&status, 21);
    put_execute_load_extra(&extra);
    put_query_body_ex(&body, 1, 0, "db", &status, (const uint8_t *)text, strlen(text), &extra);
    cut_range ok2 = {query_text_start("db", &status, 26), body.len};
    check_cuts(fx, BINLOG_EXECUTE_LOAD_QUERY_EVENT, &body, &ok2, 1, "Execute_load_query");
    bytes_free(&status);
    bytes_free(&extra);
    bytes_free(&body);
}

/* A status variable cut inside itself (status_len consistent with the
 * body, but too short for the variable's own length) is a corrupt event:
 * MySQL's reader rejects it. The decoder must not report success with a
 * made-up value (has_sql_mode with sql_mode 0, a NULL catalog with a
 * non-zero length, ...). */
static void test_query_status_var_cut_inside(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    size_t failures = 0;
    for (size_t i = 0;; i++) {
        bytes var = {0};
        if (!put_status_var(&var, i)) {
            bytes_free(&var);
            break;
        }
        size_t bad = 0;
        for (size_t t = 1; t < var.len; t++) {
            bytes status = {0}, body = {0};
            put(&status, var.p, t);
            put_query_body(&body, "shop", &status, "UPDATE t SET a=1");
            int rc = decode_event(fx, BINLOG_QUERY_EVENT, &body);
            const binlog_query *q = &fx->ev.u.query;
            if (rc != MCSQ_ERR_TRUNCATED && rc != MCSQ_ERR_CORRUPT && bad++ == 0)
                print_message("status var %3u (%2zu bytes) cut to %zu: rc %d, has_flags2 %d "
                              "flags2 %#x, has_sql_mode %d sql_mode %#llx, catalog %p len %zu\n",
                              var.p[0], var.len, t, rc, q->has_flags2, (unsigned)q->flags2,
                              q->has_sql_mode, (unsigned long long)q->sql_mode,
                              (const void *)q->catalog.ptr, q->catalog.len);
            bytes_free(&status);
            bytes_free(&body);
        }
        if (bad > 1)
            print_message("    ... and %zu more cuts of status var %u decoded as success\n",
                          bad - 1, var.p[0]);
        failures += bad;
        bytes_free(&var);
    }
    assert_int_equal(failures, 0);
}

/* The sharpest cases of the above, byte for byte: a status block of
 * 06 05 's' 't' (Q_CATALOG_NZ claiming 5 bytes, 2 present) must not decode
 * as a catalog {NULL, 5}; 01 00 00 20 (Q_SQL_MODE with 3 of its 8 bytes)
 * must not decode as has_sql_mode with sql_mode 0, which would turn
 * NO_BACKSLASH_ESCAPES off for the statement's annotation. */
static void test_query_status_var_garbage(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    static const uint8_t catalog_cut[] = {Q_CATALOG_NZ, 5, 's', 't'};
    static const uint8_t sql_mode_cut[] = {Q_SQL_MODE, 0x00, 0x00, 0x20};
    static const uint8_t flags2_cut[] = {Q_FLAGS2, 0x00, 0x40};
    const struct {
        const uint8_t *p;
        size_t len;
    } cases[] = {{catalog_cut, sizeof(catalog_cut)},
                 {sql_mode_cut, sizeof(sql_mode_cut)},
                 {flags2_cut, sizeof(flags2_cut)}};
    size_t bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bytes status = {0}, body = {0};
        put(&status, cases[i].p, cases[i].len);
        put_query_body(&body, "shop", &status, "UPDATE t SET a='\\''");
        int rc = decode_event(fx, BINLOG_QUERY_EVENT, &body);
        bytes_free(&status);
        bytes_free(&body);
        if (rc == MCSQ_ERR_TRUNCATED || rc == MCSQ_ERR_CORRUPT)
            continue;
        const binlog_query *q = &fx->ev.u.query;
        print_message("status block %zu decoded with rc %d: catalog %p len %zu, has_sql_mode %d "
                      "sql_mode %#llx, has_flags2 %d flags2 %#x\n",
                      i, rc, (const void *)q->catalog.ptr, q->catalog.len, q->has_sql_mode,
                      (unsigned long long)q->sql_mode, q->has_flags2, (unsigned)q->flags2);
        bad++;
    }
    assert_int_equal(bad, 0);
}

static void test_query_compressed(void **state)
{
    fixture *fx = *state;
    char long_text[700];
    memset(long_text, 'a', sizeof(long_text) - 1);
    memcpy(long_text, "INSERT INTO t VALUES ('", 23);
    long_text[sizeof(long_text) - 3] = '\'';
    long_text[sizeof(long_text) - 2] = ')';
    long_text[sizeof(long_text) - 1] = '\0';
    const char *texts[] = {"UPDATE t SET a=1 WHERE id=2", long_text};
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        for (size_t k = 0; k < 2; k++) {
            for (size_t lenlen = 1; lenlen <= 4; lenlen++) {
                if (strlen(texts[k]) >= (1ull << (8 * lenlen)))
                    continue;
                bytes body = {0};
                put_compressed_query_body(&body, "shop", texts[k], lenlen, strlen(texts[k]));
                int rc = decode_event(fx, BINLOG_MARIA_QUERY_COMPRESSED_EVENT, &body);
                if (rc != MCSQ_OK)
                    print_message("lenlen %zu: %s\n", lenlen, fx->err);
                assert_int_equal(rc, MCSQ_OK);
                const binlog_query *q = &fx->ev.u.query;
                assert_text(q->db, "shop");
                assert_text(q->text, texts[k]);
                assert_true(q->has_flags2);
                assert_int_equal(q->thread_id, 9);
                bytes_free(&body);
            }
        }
    }
    /* the decompressed text lives in the decoder's scratch buffer */
    assert_ptr_equal(fx->ev.u.query.text.ptr, (const char *)fx->dec.scratch);
}

static void test_query_compressed_errors(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MARIADB, BINLOG_CHECKSUM_CRC32);
    const char *text = "UPDATE t SET a=1 WHERE id=2";
    size_t len = strlen(text);
    static const struct {
        size_t lenlen;
        uint64_t declared;
    } bad_len[] = {
        {4, BINLOG_MAX_EVENT_SIZE + 1ull}, /* 1 GiB + 1 */
        {4, 0xffffffffull},
        {4, 0x80000000ull},
        {1, 0},
        {1, 1},
        {2, 26},
        {2, 28},
        {3, 0xffffff},
    };
    for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
        bytes body = {0};
        put_compressed_query_body(&body, "shop", text, bad_len[i].lenlen, bad_len[i].declared);
        int rc = decode_event(fx, BINLOG_MARIA_QUERY_COMPRESSED_EVENT, &body);
        if (rc != MCSQ_ERR_CORRUPT)
            print_message("declared %llu: rc %d\n", (unsigned long long)bad_len[i].declared, rc);
        assert_int_equal(rc, MCSQ_ERR_CORRUPT);
        bytes_free(&body);
    }
    /* bad header bytes: not 0x80-based, or a length of 0 or 5..7 bytes */
    static const uint8_t heads[] = {0x00, 0x01, 0x41, 0x80, 0x85, 0x86, 0x87, 0xa1, 0xc1, 0xff};
    for (size_t i = 0; i < sizeof(heads); i++) {
        bytes z = {0}, status = {0}, body = {0};
        put_zlib_text(&z, text, 1, len);
        z.p[0] = heads[i];
        put_query_body_ex(&body, 9, 0, "shop", &status, z.p, z.len, NULL);
        int rc = decode_event(fx, BINLOG_MARIA_QUERY_COMPRESSED_EVENT, &body);
        if (rc != MCSQ_ERR_CORRUPT)
            print_message("head %#x: rc %d\n", heads[i], rc);
        assert_int_equal(rc, MCSQ_ERR_CORRUPT);
        bytes_free(&z);
        bytes_free(&status);
        bytes_free(&body);
    }
    /* an empty text has no header byte */
    bytes status = {0}, body = {0};
    put_query_body_ex(&body, 9, 0, "shop", &status, NULL, 0, NULL);
    assert_int_equal(decode_event(fx, BINLOG_MARIA_QUERY_COMPRESSED_EVENT, &body),
                     MCSQ_ERR_CORRUPT);
    bytes_free(&body);
    /* zlib data damaged in every byte */
    bytes z = {0};
    put_zlib_text(&z, text, 1, len);
    for (size_t i = 2; i < z.len; i++) {
        bytes zz = {0};
        put_bytes(&zz, &z);
        zz.p[i] ^= 0x55;
        put_query_body_ex(&body, 9, 0, "shop", &status, zz.p, zz.len, NULL);
        int rc = decode_event(fx, BINLOG_MARIA_QUERY_COMPRESSED_EVENT, &body);
        if (rc == MCSQ_OK)
            assert_text(fx->ev.u.query.text, text); /* only if it still inflates to it */
        else
            assert_int_equal(rc, MCSQ_ERR_CORRUPT);
        bytes_free(&zz);
        bytes_free(&body);
    }
    bytes_free(&z);
    bytes_free(&status);
}

static void test_query_compressed_cuts(void **state)
{
    fixture *fx = *state;
    bytes body = {0};
    put_compressed_query_body(&body, "shop", "UPDATE t SET a=1 WHERE id=2", 2, 27);
    check_cuts(fx, BINLOG_MARIA_QUERY_COMPRESSED_EVENT, &body, NULL, 0, "Query_compressed");
    bytes_free(&body);
}

/* ------------------------------------------------------------------------
 * Small events: Xid, Rotate, Incident, rows queries
 * ------------------------------------------------------------------------ */

static void test_xid(void **state)
{
    fixture *fx = *state;
    bytes body = {0};
    put_le64(&body, 0x0102030405060708ull);
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_XID_EVENT, &body), MCSQ_OK);
        assert_int_equal(fx->ev.u.xid, 0x0102030405060708ull);
        assert_int_equal(fx->ev.hdr.type, BINLOG_XID_EVENT);
        assert_int_equal(fx->ev.hdr.server_id, BB_SERVER_ID);
        assert_int_equal(fx->ev.hdr.next_pos, EV_NEXT_POS);
    }
    check_cuts(fx, BINLOG_XID_EVENT, &body, NULL, 0, "Xid");
    /* exactly 8 bytes: a longer body is corrupt */
    for (size_t extra = 1; extra <= 9; extra++) {
        put_u8(&body, 0);
        assert_int_equal(decode_event(fx, BINLOG_XID_EVENT, &body), MCSQ_ERR_CORRUPT);
    }
    bytes_free(&body);
}

static void test_rotate(void **state)
{
    fixture *fx = *state;
    bytes body = {0};
    put_le64(&body, 4);
    put_str(&body, "binlog.000002");
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_ROTATE_EVENT, &body), MCSQ_OK);
        assert_int_equal(fx->ev.u.rotate.position, 4);
        assert_text(fx->ev.u.rotate.next_file, "binlog.000002");
    }
    /* a cut name is still a name; an empty one is not */
    cut_range ok = {9, body.len};
    check_cuts(fx, BINLOG_ROTATE_EVENT, &body, &ok, 1, "Rotate");
    bytes_free(&body);
    /* names of 512 bytes pass, longer ones do not */
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    put_le64(&body, 0xffffffffffull);
    put_fill(&body, 'n', 512);
    assert_int_equal(decode_event(fx, BINLOG_ROTATE_EVENT, &body), MCSQ_OK);
    assert_int_equal(fx->ev.u.rotate.position, 0xffffffffffull);
    assert_int_equal(fx->ev.u.rotate.next_file.len, 512);
    put_u8(&body, 'n');
    assert_int_equal(decode_event(fx, BINLOG_ROTATE_EVENT, &body), MCSQ_ERR_CORRUPT);
    bytes_free(&body);
}

static void test_incident(void **state)
{
    fixture *fx = *state;
    bytes body = {0};
    put_le16(&body, 1);
    put_u8(&body, 11);
    put_str(&body, "LOST_EVENTS");
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_INCIDENT_EVENT, &body), MCSQ_OK);
        assert_int_equal(fx->ev.u.incident.kind, 1);
        assert_text(fx->ev.u.incident.message, "LOST_EVENTS");
    }
    /* a body of just the incident kind is read as an empty message */
    cut_range ok = {2, 2};
    check_cuts(fx, BINLOG_INCIDENT_EVENT, &body, &ok, 1, "Incident");
    restart(fx, &streams[1]);
    bytes two = {0};
    put_le16(&two, 2);
    assert_int_equal(decode_event(fx, BINLOG_INCIDENT_EVENT, &two), MCSQ_OK);
    assert_int_equal(fx->ev.u.incident.kind, 2);
    assert_int_equal(fx->ev.u.incident.message.len, 0);
    /* message length 255 over a short body */
    put_u8(&two, 255);
    put_str(&two, "short");
    assert_int_equal(decode_event(fx, BINLOG_INCIDENT_EVENT, &two), MCSQ_ERR_TRUNCATED);
    bytes_free(&two);
    bytes_free(&body);
}

static void test_rows_query_and_annotate(void **state)
{
    fixture *fx = *state;
    const char *sql = "INSERT INTO t VALUES (1) /* key:t:1 */";
    bytes rq = {0}, an = {0};
    put_u8(&rq, (uint8_t)strlen(sql)); /* ignored length byte */
    put_str(&rq, sql);
    put_str(&an, sql);
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_ROWS_QUERY_EVENT, &rq), MCSQ_OK);
        assert_text(fx->ev.u.rows_query, sql);
        assert_int_equal(decode_event(fx, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, &an), MCSQ_OK);
        assert_text(fx->ev.u.rows_query, sql);
    }
    cut_range ok = {1, rq.len};
    check_cuts(fx, BINLOG_ROWS_QUERY_EVENT, &rq, &ok, 1, "Rows_query");
    cut_range all = {0, an.len};
    check_cuts(fx, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, &an, &all, 1, "Annotate_rows");
    bytes_free(&rq);
    bytes_free(&an);
}

/* ------------------------------------------------------------------------
 * GTID sets: Previous_gtids, Gtid_list
 * ------------------------------------------------------------------------ */

static void test_previous_gtids(void **state)
{
    fixture *fx = *state;
    bytes untagged = {0}, tagged = {0}, empty = {0};
    put_prev_gtids_untagged(&untagged, 2, 3);
    put_prev_gtids_tagged(&tagged, 2, "blue");
    put_prev_gtids_untagged(&empty, 0, 0);
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_PREVIOUS_GTIDS_EVENT, &untagged), MCSQ_OK);
        assert_int_equal(decode_event(fx, BINLOG_PREVIOUS_GTIDS_EVENT, &tagged), MCSQ_OK);
        assert_int_equal(decode_event(fx, BINLOG_PREVIOUS_GTIDS_EVENT, &empty), MCSQ_OK);
    }
    check_cuts(fx, BINLOG_PREVIOUS_GTIDS_EVENT, &untagged, NULL, 0, "Previous_gtids");
    check_cuts(fx, BINLOG_PREVIOUS_GTIDS_EVENT, &tagged, NULL, 0, "Previous_gtids tagged");
    bytes_free(&untagged);
    bytes_free(&tagged);
    bytes_free(&empty);
}

static void test_previous_gtids_huge_counts(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    static const uint64_t n_sids[] = {0x00ffffffffffffffull, 0x0000ffffffffffffull, 2, 0xffff};
    for (size_t i = 0; i < sizeof(n_sids) / sizeof(n_sids[0]); i++) {
        bytes body = {0};
        put_le64(&body, n_sids[i]);
        put(&body, test_sid, 16), put_le64(&body, 1), put_le64(&body, 1), put_le64(&body, 2);
        assert_int_equal(decode_event(fx, BINLOG_PREVIOUS_GTIDS_EVENT, &body), MCSQ_ERR_TRUNCATED);
        bytes_free(&body);
    }
    static const uint64_t n_intervals[] = {0xffffffffffffffffull, 0x1000000000000000ull,
                                           0x0fffffffffffffffull, 0xffff, 2};
    for (size_t i = 0; i < sizeof(n_intervals) / sizeof(n_intervals[0]); i++) {
        bytes body = {0};
        put_le64(&body, 1);
        put(&body, test_sid, 16), put_le64(&body, n_intervals[i]);
        put_le64(&body, 1), put_le64(&body, 2);
        assert_int_equal(decode_event(fx, BINLOG_PREVIOUS_GTIDS_EVENT, &body), MCSQ_ERR_TRUNCATED);
        bytes_free(&body);
    }
    /* tagged: n_sids at its 48-bit maximum, and a huge tag length */
    bytes body = {0};
    put_le64(&body, (1ull << 56) | (((1ull << 48) - 1) << 8) | 1);
    put(&body, test_sid, 16), put_varlen(&body, 0), put_le64(&body, 0);
    assert_int_equal(decode_event(fx, BINLOG_PREVIOUS_GTIDS_EVENT, &body), MCSQ_ERR_TRUNCATED);
    bytes_free(&body);
    static const uint64_t tag_lens[] = {0xffffffffffffffffull, 1ull << 40, 1000};
    for (size_t i = 0; i < sizeof(tag_lens) / sizeof(tag_lens[0]); i++) {
        put_le64(&body, (1ull << 56) | (1ull << 8) | 1);
        put(&body, test_sid, 16), put_varlen(&body, tag_lens[i]), put_str(&body, "blue");
        put_le64(&body, 0);
        assert_int_equal(decode_event(fx, BINLOG_PREVIOUS_GTIDS_EVENT, &body), MCSQ_ERR_TRUNCATED);
        bytes_free(&body);
    }
}

static void test_gtid_list(void **state)
{
    fixture *fx = *state;
    bytes body = {0}, flagged = {0}, empty = {0};
    put_gtid_list_body(&body, 2, 2);
    put_gtid_list_body(&flagged, 0x10000002u, 2); /* flag bits above the count */
    put_gtid_list_body(&empty, 0, 0);
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_MARIA_GTID_LIST_EVENT, &body), MCSQ_OK);
        assert_int_equal(decode_event(fx, BINLOG_MARIA_GTID_LIST_EVENT, &flagged), MCSQ_OK);
        assert_int_equal(decode_event(fx, BINLOG_MARIA_GTID_LIST_EVENT, &empty), MCSQ_OK);
    }
    check_cuts(fx, BINLOG_MARIA_GTID_LIST_EVENT, &body, NULL, 0, "Gtid_list");
    restart(fx, &streams[3]);
    static const uint32_t counts[] = {0xffffffffu, 0x0fffffffu, 0xffffu, 3};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        bytes lie = {0};
        put_gtid_list_body(&lie, counts[i], 2);
        assert_int_equal(decode_event(fx, BINLOG_MARIA_GTID_LIST_EVENT, &lie), MCSQ_ERR_TRUNCATED);
        bytes_free(&lie);
    }
    bytes_free(&body);
    bytes_free(&flagged);
    bytes_free(&empty);
}

/* ------------------------------------------------------------------------
 * MySQL GTIDs
 * ------------------------------------------------------------------------ */

static void test_mysql_gtid_full(void **state)
{
    fixture *fx = *state;
    mysql_gtid_spec spec = {23, true, true, IMMEDIATE_US, true, ORIGINAL_US, true};
    bytes body = {0};
    put_mysql_gtid_body(&body, test_sid, &spec);
    assert_int_equal(body.len, 61);
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_GTID_EVENT, &body), MCSQ_OK);
        const binlog_mysql_gtid *g = &fx->ev.u.mysql_gtid;
        assert_false(g->anonymous);
        assert_int_equal(g->flags, 1);
        assert_memory_equal(g->sid, test_sid, 16);
        assert_int_equal(g->gno, 23);
        assert_string_equal(g->tag, "");
        assert_int_equal(g->immediate_commit_us, IMMEDIATE_US);
        assert_int_equal(g->original_commit_us, ORIGINAL_US);
    }
    /* 25: MySQL 5.6 layout; 42..48: no room for a timestamp; 56..60:
     * timestamps read, the optional tail cut */
    cut_range ok[] = {{25, 25}, {42, 48}, {56, 60}};
    check_cuts(fx, BINLOG_GTID_EVENT, &body, ok, 3, "Gtid");
    bytes_free(&body);
}

static void test_mysql_gtid_variants(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    /* no original timestamp: original = immediate */
    mysql_gtid_spec same = {7, true, true, IMMEDIATE_US, false, 0, true};
    bytes body = {0};
    put_mysql_gtid_body(&body, test_sid, &same);
    assert_int_equal(decode_event(fx, BINLOG_GTID_EVENT, &body), MCSQ_OK);
    assert_int_equal(fx->ev.u.mysql_gtid.immediate_commit_us, IMMEDIATE_US);
    assert_int_equal(fx->ev.u.mysql_gtid.original_commit_us, IMMEDIATE_US);
    cut_range ok[] = {{25, 25}, {42, 48}, {49, body.len}};
    check_cuts(fx, BINLOG_GTID_EVENT, &body, ok, 3, "Gtid without original timestamp");
    bytes_free(&body);
    /* MySQL 5.6: 25 bytes, no timestamps */
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    mysql_gtid_spec old = {9, false, false, 0, false, 0, false};
    put_mysql_gtid_body(&body, test_sid, &old);
    assert_int_equal(decode_event(fx, BINLOG_GTID_EVENT, &body), MCSQ_OK);
    assert_int_equal(fx->ev.u.mysql_gtid.gno, 9);
    assert_int_equal(fx->ev.u.mysql_gtid.immediate_commit_us, 0);
    assert_int_equal(fx->ev.u.mysql_gtid.original_commit_us, 0);
    bytes_free(&body);
    /* MySQL 5.7.5: logical clock, no timestamps */
    mysql_gtid_spec lc = {10, true, false, 0, false, 0, false};
    put_mysql_gtid_body(&body, test_sid, &lc);
    assert_int_equal(decode_event(fx, BINLOG_GTID_EVENT, &body), MCSQ_OK);
    assert_int_equal(fx->ev.u.mysql_gtid.gno, 10);
    assert_int_equal(fx->ev.u.mysql_gtid.immediate_commit_us, 0);
    bytes_free(&body);
    /* anonymous GTID */
    static const uint8_t zero_sid[16] = {0};
    mysql_gtid_spec anon = {0, true, true, IMMEDIATE_US, false, 0, true};
    put_mysql_gtid_body(&body, zero_sid, &anon);
    assert_int_equal(decode_event(fx, BINLOG_ANONYMOUS_GTID_EVENT, &body), MCSQ_OK);
    assert_true(fx->ev.u.mysql_gtid.anonymous);
    assert_int_equal(fx->ev.u.mysql_gtid.gno, 0);
    assert_memory_equal(fx->ev.u.mysql_gtid.sid, zero_sid, 16);
    assert_int_equal(fx->ev.u.mysql_gtid.immediate_commit_us, IMMEDIATE_US);
    cut_range aok[] = {{25, 25}, {42, 48}, {49, body.len}};
    check_cuts(fx, BINLOG_ANONYMOUS_GTID_EVENT, &body, aok, 3, "Anonymous_gtid");
    bytes_free(&body);
}

static void test_tagged_gtid(void **state)
{
    fixture *fx = *state;
    tagged_fields tf;
    put_tagged_fields(&tf, "blue", 1234567, true);
    bytes body = {0};
    put_tagged_body_auto(&body, tf.f.p, tf.f.len);
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        int rc = decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body);
        if (rc != MCSQ_OK)
            print_message("%s\n", fx->err);
        assert_int_equal(rc, MCSQ_OK);
        const binlog_mysql_gtid *g = &fx->ev.u.mysql_gtid;
        assert_false(g->anonymous);
        assert_int_equal(g->flags, 1);
        assert_memory_equal(g->sid, test_sid, 16);
        assert_int_equal(g->gno, 1234567);
        assert_string_equal(g->tag, "blue");
        assert_int_equal(g->immediate_commit_us, IMMEDIATE_US);
        assert_int_equal(g->original_commit_us, ORIGINAL_US);
    }
    /* raw cuts: the payload size then exceeds the body */
    check_cuts(fx, BINLOG_GTID_TAGGED_EVENT, &body, NULL, 0, "Gtid_tagged");
    bytes_free(&body);
    bytes_free(&tf.f);
    /* without the original timestamp, it equals the immediate one; a tag of
     * 32 characters (the maximum) */
    const char *tag32 = "abcdefghijklmnopqrstuvwxyz_01234";
    put_tagged_fields(&tf, tag32, 1, false);
    put_tagged_body_auto(&body, tf.f.p, tf.f.len);
    assert_int_equal(decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body), MCSQ_OK);
    assert_string_equal(fx->ev.u.mysql_gtid.tag, tag32);
    assert_int_equal(fx->ev.u.mysql_gtid.original_commit_us, IMMEDIATE_US);
    bytes_free(&body);
    bytes_free(&tf.f);
}

/* Fields cut inside (the envelope kept consistent) must fail; cuts at a
 * field boundary after the gno are well-formed shorter events. */
static void test_tagged_gtid_field_cuts(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    tagged_fields tf;
    put_tagged_fields(&tf, "blue", 1234567, true);
    for (size_t c = 0; c < tf.f.len; c++) {
        bytes body = {0};
        put_tagged_body_auto(&body, tf.f.p, c);
        int rc = decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body);
        bool boundary = false;
        for (size_t i = 0; i < tf.nbound; i++)
            boundary |= tf.bound[i] == c;
        if (boundary && c >= tf.gno_end) {
            if (rc != MCSQ_OK)
                print_message("fields cut at %zu: %s\n", c, fx->err);
            assert_int_equal(rc, MCSQ_OK);
            assert_int_equal(fx->ev.u.mysql_gtid.gno, 1234567);
        } else {
            assert_clean_error(fx, rc, "Gtid_tagged fields", c, tf.f.len);
        }
        bytes_free(&body);
    }
    bytes_free(&tf.f);
}

static void test_tagged_gtid_errors(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    tagged_fields tf;
    put_tagged_fields(&tf, "blue", 77, true);
    uint64_t ps = tagged_payload_size(11, tf.f.len);
    bytes body = {0};
    /* payload size larger than the body */
    static const uint64_t sizes[] = {0, 1, 2, 0xffffffffffffffffull, 1ull << 40, 0};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint64_t size = i == 5 ? ps + 1 : sizes[i];
        put_tagged_body(&body, 2, size, 11, tf.f.p, tf.f.len);
        int rc = decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body);
        assert_int_equal(rc, MCSQ_ERR_TRUNCATED);
        assert_non_null(strstr(fx->err, "payload size"));
        bytes_free(&body);
    }
    /* bytes after the payload are not part of it */
    put_tagged_body(&body, 2, ps, 11, tf.f.p, tf.f.len);
    put_str(&body, "junk");
    assert_int_equal(decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body), MCSQ_OK);
    assert_int_equal(fx->ev.u.mysql_gtid.gno, 77);
    bytes_free(&body);
    /* unknown serialization version */
    static const uint8_t versions[] = {0, 1, 3, 0xff};
    for (size_t i = 0; i < sizeof(versions); i++) {
        put_tagged_body(&body, versions[i], ps, 11, tf.f.p, tf.f.len);
        assert_int_equal(decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body), MCSQ_ERR_UNSUPPORTED);
        bytes_free(&body);
    }
    /* an unknown field: ignorable (id > last non-ignorable) ends the walk,
     * required (id <= last non-ignorable) is unsupported */
    bytes f = {0};
    put_bytes(&f, &tf.f);
    put_varlen(&f, 12), put_varlen(&f, 5), put_str(&f, "zz");
    put_tagged_body(&body, 2, tagged_payload_size(11, f.len), 11, f.p, f.len);
    assert_int_equal(decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body), MCSQ_OK);
    assert_int_equal(fx->ev.u.mysql_gtid.gno, 77);
    bytes_free(&body);
    put_tagged_body(&body, 2, tagged_payload_size(12, f.len), 12, f.p, f.len);
    assert_int_equal(decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body), MCSQ_ERR_UNSUPPORTED);
    bytes_free(&body);
    bytes_free(&f);
    /* gno 0 or negative; no gno at all */
    static const int64_t gnos[] = {0, -1, INT64_MIN};
    for (size_t i = 0; i < 3; i++) {
        tagged_fields bad;
        put_tagged_fields(&bad, "blue", gnos[i], true);
        put_tagged_body_auto(&body, bad.f.p, bad.f.len);
        assert_int_equal(decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body), MCSQ_ERR_CORRUPT);
        bytes_free(&body);
        bytes_free(&bad.f);
    }
    put_tagged_body_auto(&body, tf.f.p, tf.bound[1]); /* flags and sid only */
    assert_int_equal(decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body), MCSQ_ERR_CORRUPT);
    bytes_free(&body);
    /* tag longer than 32 characters, or a huge tag length */
    static const uint64_t tag_lens[] = {33, 1000, 0xffffffffffffffffull};
    for (size_t i = 0; i < 3; i++) {
        bytes g = {0};
        put_varlen(&g, 2), put_varlen_signed(&g, 5);
        put_varlen(&g, 3), put_varlen(&g, tag_lens[i]);
        put_fill(&g, 'x', 40);
        put_tagged_body_auto(&body, g.p, g.len);
        assert_int_equal(decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body), MCSQ_ERR_CORRUPT);
        bytes_free(&body);
        bytes_free(&g);
    }
    bytes_free(&tf.f);
}

/* A sid byte or the flags encoded above 255 cannot be stored in their
 * uint8_t fields: the event is corrupt, not a GTID with a made-up sid
 * (read_tagged_field() casts the varlen to uint8_t). */
static void test_tagged_gtid_out_of_range(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    size_t bad = 0;
    for (int which = 0; which < 2; which++) {
        bytes f = {0}, body = {0};
        put_varlen(&f, 0), put_varlen(&f, which == 0 ? 256 : 1);
        put_varlen(&f, 1);
        for (int i = 0; i < 16; i++)
            put_varlen(&f, which == 1 && i == 0 ? 256 + test_sid[0] : test_sid[i]);
        put_varlen(&f, 2), put_varlen_signed(&f, 5);
        put_varlen(&f, 3), put_varlen(&f, 4), put_str(&f, "blue");
        put_tagged_body_auto(&body, f.p, f.len);
        int rc = decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body);
        bytes_free(&f);
        bytes_free(&body);
        if (rc == MCSQ_ERR_TRUNCATED || rc == MCSQ_ERR_CORRUPT)
            continue;
        print_message("%s above 255 decoded with rc %d: flags %u, sid[0] %#04x\n",
                      which == 0 ? "flags" : "sid[0]", rc, fx->ev.u.mysql_gtid.flags,
                      fx->ev.u.mysql_gtid.sid[0]);
        bad++;
    }
    assert_int_equal(bad, 0);
}

/* ------------------------------------------------------------------------
 * MariaDB GTIDs and XA
 * ------------------------------------------------------------------------ */

static void test_maria_gtid(void **state)
{
    fixture *fx = *state;
    bytes body = {0};
    uint8_t flags = BINLOG_MARIA_GTID_STANDALONE | BINLOG_MARIA_GTID_TRANSACTIONAL;
    put_maria_gtid_body(&body, 0xfedcba9876543210ull, 0xffffffffu, flags, 0, NULL, 0, NULL, 0);
    assert_int_equal(body.len, 19);
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_MARIA_GTID_EVENT, &body), MCSQ_OK);
        const binlog_maria_gtid *g = &fx->ev.u.maria_gtid;
        assert_int_equal(g->seq_no, 0xfedcba9876543210ull);
        assert_int_equal(g->domain_id, 0xffffffffu);
        assert_int_equal(g->flags2, flags);
        assert_string_equal(g->xid, "");
    }
    /* the 6 padding bytes are not needed */
    cut_range ok = {13, 18};
    check_cuts(fx, BINLOG_MARIA_GTID_EVENT, &body, &ok, 1, "MariaDB Gtid");
    bytes_free(&body);
    /* with a group commit id: 21 bytes, all needed */
    put_maria_gtid_body(&body, 5, 1, BINLOG_MARIA_GTID_GROUP_COMMIT_ID, 0, NULL, 0, NULL, 0);
    assert_int_equal(body.len, 21);
    check_cuts(fx, BINLOG_MARIA_GTID_EVENT, &body, NULL, 0, "MariaDB Gtid with commit id");
    assert_int_equal(fx->ev.u.maria_gtid.seq_no, 5);
    assert_int_equal(fx->ev.u.maria_gtid.domain_id, 1);
    bytes_free(&body);
}

static void test_maria_gtid_xa(void **state)
{
    fixture *fx = *state;
    static const uint8_t flag_sets[] = {
        BINLOG_MARIA_GTID_PREPARED_XA,
        BINLOG_MARIA_GTID_COMPLETED_XA | BINLOG_MARIA_GTID_TRANSACTIONAL,
        BINLOG_MARIA_GTID_PREPARED_XA | BINLOG_MARIA_GTID_GROUP_COMMIT_ID,
        BINLOG_MARIA_GTID_COMPLETED_XA | BINLOG_MARIA_GTID_GROUP_COMMIT_ID,
    };
    for (size_t i = 0; i < sizeof(flag_sets); i++) {
        bytes body = {0};
        put_maria_gtid_body(&body, 42, 3, flag_sets[i], 1, "abc", 3, "de", 2);
        for (size_t s = 0; s < NSTREAMS; s++) {
            restart(fx, &streams[s]);
            assert_int_equal(decode_event(fx, BINLOG_MARIA_GTID_EVENT, &body), MCSQ_OK);
            assert_int_equal(fx->ev.u.maria_gtid.seq_no, 42);
            assert_int_equal(fx->ev.u.maria_gtid.domain_id, 3);
            assert_int_equal(fx->ev.u.maria_gtid.flags2, flag_sets[i]);
            assert_string_equal(fx->ev.u.maria_gtid.xid, "X'616263',X'6465',1");
        }
        check_cuts(fx, BINLOG_MARIA_GTID_EVENT, &body, NULL, 0, "MariaDB Gtid XA");
        bytes_free(&body);
    }
    start_stream(fx, FDE_MARIADB, BINLOG_CHECKSUM_CRC32);
    /* negative format id, empty bqual */
    bytes body = {0};
    put_maria_gtid_body(&body, 1, 0, BINLOG_MARIA_GTID_PREPARED_XA, -1, "\x00\xff", 2, NULL, 0);
    assert_int_equal(decode_event(fx, BINLOG_MARIA_GTID_EVENT, &body), MCSQ_OK);
    assert_string_equal(fx->ev.u.maria_gtid.xid, "X'00ff',X'',-1");
    bytes_free(&body);
    /* 64 + 64 bytes: the longest xid */
    char big[128];
    memset(big, 0xab, sizeof(big));
    put_maria_gtid_body(&body, 1, 0, BINLOG_MARIA_GTID_COMPLETED_XA, INT32_MIN, big, 64, big, 64);
    assert_int_equal(decode_event(fx, BINLOG_MARIA_GTID_EVENT, &body), MCSQ_OK);
    const char *xid = fx->ev.u.maria_gtid.xid;
    assert_int_equal(strlen(xid), 2 + 128 + 2 + 2 + 128 + 2 + 11);
    assert_string_equal(xid + strlen(xid) - 11, "-2147483648");
    bytes_free(&body);
}

static void test_maria_gtid_xa_too_long(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MARIADB, BINLOG_CHECKSUM_CRC32);
    char data[512];
    memset(data, 'x', sizeof(data));
    static const struct {
        size_t gl, bl;
    } lens[] = {{65, 0}, {0, 65}, {65, 65}, {255, 255}, {128, 1}};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        bytes body = {0};
        put_maria_gtid_body(&body, 1, 0, BINLOG_MARIA_GTID_PREPARED_XA, 1, data, lens[i].gl,
                            data + 256, lens[i].bl);
        int rc = decode_event(fx, BINLOG_MARIA_GTID_EVENT, &body);
        assert_clean_error(fx, rc, "MariaDB XA xid over 64", body.len, body.len);
        bytes_free(&body);
    }
}

static void test_xa_prepare(void **state)
{
    fixture *fx = *state;
    bytes body = {0};
    put_xa_prepare_body(&body, 0, 1, 3, 2, "abcde", 5);
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_XA_PREPARE_EVENT, &body), MCSQ_OK);
        assert_false(fx->ev.u.xa_prepare.one_phase);
        assert_string_equal(fx->ev.u.xa_prepare.xid, "X'616263',X'6465',1");
    }
    check_cuts(fx, BINLOG_XA_PREPARE_EVENT, &body, NULL, 0, "XA_prepare");
    bytes_free(&body);
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    put_xa_prepare_body(&body, 1, -7, 0, 0, NULL, 0);
    assert_int_equal(decode_event(fx, BINLOG_XA_PREPARE_EVENT, &body), MCSQ_OK);
    assert_true(fx->ev.u.xa_prepare.one_phase);
    assert_string_equal(fx->ev.u.xa_prepare.xid, "X'',X'',-7");
    bytes_free(&body);
    /* lengths over 64, or beyond the body */
    char data[256];
    memset(data, 'q', sizeof(data));
    static const struct {
        uint32_t gl, bl;
        size_t have;
    } bad[] = {{65, 0, 65},          {0, 65, 65},   {0xffffffffu, 0, 10},
               {0, 0xffffffffu, 10}, {64, 64, 127}, {0x80000000u, 0x80000000u, 0}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        put_xa_prepare_body(&body, 0, 1, bad[i].gl, bad[i].bl, data, bad[i].have);
        int rc = decode_event(fx, BINLOG_XA_PREPARE_EVENT, &body);
        assert_clean_error(fx, rc, "XA_prepare lengths", body.len, body.len);
        bytes_free(&body);
    }
}

/* ------------------------------------------------------------------------
 * Text forms
 * ------------------------------------------------------------------------ */

static void test_xid_format(void **state)
{
    (void)state;
    char out[BINLOG_XID_TEXT_MAX];
    binlog_xid_format(1, (const uint8_t *)"abc", 3, (const uint8_t *)"de", 2, out);
    assert_string_equal(out, "X'616263',X'6465',1");
    binlog_xid_format(0, NULL, 0, NULL, 0, out);
    assert_string_equal(out, "X'',X'',0");
    binlog_xid_format(-1, (const uint8_t *)"\x00\x0f\xf0", 3, NULL, 0, out);
    assert_string_equal(out, "X'000ff0',X'',-1");
    binlog_xid_format(INT32_MIN, (const uint8_t *)"a", 1, (const uint8_t *)"b", 1, out);
    assert_string_equal(out, "X'61',X'62',-2147483648");
    /* over-long parts stop at 64 bytes, inside the buffer */
    uint8_t big[200];
    memset(big, 0xff, sizeof(big));
    binlog_xid_format(INT64_MIN, big, sizeof(big), big, sizeof(big), out);
    assert_true(strlen(out) < BINLOG_XID_TEXT_MAX);
    assert_memory_equal(out, "X'ffff", 6);
    assert_int_equal(out[2 + 128], '\'');
}

static void test_gtid_formats(void **state)
{
    (void)state;
    char out[BINLOG_GTID_TEXT_MAX];
    binlog_maria_gtid mg;
    memset(&mg, 0, sizeof(mg));
    mg.domain_id = 0;
    mg.seq_no = 100;
    assert_int_equal(binlog_maria_gtid_format(&mg, 7, out), strlen("0-7-100"));
    assert_string_equal(out, "0-7-100");
    mg.domain_id = 0xffffffffu;
    mg.seq_no = UINT64_MAX;
    size_t n = binlog_maria_gtid_format(&mg, 0xffffffffu, out);
    assert_string_equal(out, "4294967295-4294967295-18446744073709551615");
    assert_int_equal(n, strlen(out));

    binlog_mysql_gtid g;
    memset(&g, 0, sizeof(g));
    memcpy(g.sid, test_sid, 16);
    g.gno = 23;
    n = binlog_mysql_gtid_format(&g, out);
    assert_string_equal(out, TEST_SID_TEXT ":23");
    assert_int_equal(n, strlen(out));
    strcpy(g.tag, "blue");
    n = binlog_mysql_gtid_format(&g, out);
    assert_string_equal(out, TEST_SID_TEXT ":blue:23");
    assert_int_equal(n, strlen(out));
    /* the longest: 32-character tag, largest gno */
    strcpy(g.tag, "abcdefghijklmnopqrstuvwxyz_01234");
    g.gno = INT64_MAX;
    n = binlog_mysql_gtid_format(&g, out);
    assert_string_equal(out, TEST_SID_TEXT ":abcdefghijklmnopqrstuvwxyz_01234:9223372036854775807");
    assert_int_equal(n, strlen(out));
    assert_true(n < BINLOG_GTID_TEXT_MAX);
}

/* A decoded GTID event formats to the text a server prints. */
static void test_gtid_decode_then_format(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MARIADB, BINLOG_CHECKSUM_CRC32);
    bytes body = {0};
    put_maria_gtid_body(&body, 3584, 0, 0, 0, NULL, 0, NULL, 0);
    assert_int_equal(decode_event(fx, BINLOG_MARIA_GTID_EVENT, &body), MCSQ_OK);
    char out[BINLOG_GTID_TEXT_MAX];
    binlog_maria_gtid_format(&fx->ev.u.maria_gtid, fx->ev.hdr.server_id, out);
    assert_string_equal(out, "0-7-3584");
    bytes_free(&body);
    tagged_fields tf;
    put_tagged_fields(&tf, "blue", 5, true);
    put_tagged_body_auto(&body, tf.f.p, tf.f.len);
    assert_int_equal(decode_event(fx, BINLOG_GTID_TAGGED_EVENT, &body), MCSQ_OK);
    binlog_mysql_gtid_format(&fx->ev.u.mysql_gtid, out);
    assert_string_equal(out, TEST_SID_TEXT ":blue:5");
    bytes_free(&body);
    bytes_free(&tf.f);
}

/* ------------------------------------------------------------------------
 * Transaction_payload, unsupported and unknown events
 * ------------------------------------------------------------------------ */

static void test_transaction_payload(void **state)
{
    fixture *fx = *state;
    static const uint8_t data[] = {0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5, 6};
    bytes body = {0};
    put_payload_body(&body, 0, 123456789, data, sizeof(data));
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_TRANSACTION_PAYLOAD_EVENT, &body), MCSQ_OK);
        const binlog_payload *p = &fx->ev.u.payload;
        assert_int_equal(p->compression, 0);
        assert_int_equal(p->uncompressed_size, 123456789);
        assert_int_equal(p->len, sizeof(data));
        assert_memory_equal(p->data, data, sizeof(data));
        assert_ptr_equal(p->data, fx->ev.body + fx->ev.body_len - sizeof(data));
    }
    check_cuts(fx, BINLOG_TRANSACTION_PAYLOAD_EVENT, &body, NULL, 0, "Transaction_payload");
    bytes_free(&body);
    /* fields in another order, an unknown field, 255 = none, 8-byte lenenc */
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    put_payload_field(&body, 1, sizeof(data));
    put_payload_field(&body, 9, 0x12345678); /* unknown: skipped */
    put_payload_field(&body, 3, 1ull << 40);
    put_payload_field(&body, 2, 255);
    put_lenenc(&body, 0);
    put(&body, data, sizeof(data));
    assert_int_equal(decode_event(fx, BINLOG_TRANSACTION_PAYLOAD_EVENT, &body), MCSQ_OK);
    assert_int_equal(fx->ev.u.payload.compression, 255);
    assert_int_equal(fx->ev.u.payload.uncompressed_size, 1ull << 40);
    assert_int_equal(fx->ev.u.payload.len, sizeof(data));
    bytes_free(&body);
    /* an empty payload */
    put_payload_body(&body, 255, 0, NULL, 0);
    assert_int_equal(decode_event(fx, BINLOG_TRANSACTION_PAYLOAD_EVENT, &body), MCSQ_OK);
    assert_int_equal(fx->ev.u.payload.len, 0);
    bytes_free(&body);
}

static void test_transaction_payload_errors(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    static const uint8_t data[] = {1, 2, 3, 4, 5, 6, 7, 8};
    bytes body = {0};
    /* size field off by one either way, huge */
    static const uint64_t sizes[] = {7, 9, 0, 0xffffffffffffffffull, 1ull << 32};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        put_payload_field(&body, 2, 0);
        put_payload_field(&body, 1, sizes[i]);
        put_lenenc(&body, 0);
        put(&body, data, sizeof(data));
        assert_int_equal(decode_event(fx, BINLOG_TRANSACTION_PAYLOAD_EVENT, &body),
                         MCSQ_ERR_CORRUPT);
        bytes_free(&body);
    }
    /* no size field */
    put_payload_field(&body, 2, 0);
    put_lenenc(&body, 0);
    put(&body, data, sizeof(data));
    assert_int_equal(decode_event(fx, BINLOG_TRANSACTION_PAYLOAD_EVENT, &body), MCSQ_ERR_CORRUPT);
    bytes_free(&body);
    /* no end mark */
    put_payload_field(&body, 1, 0);
    assert_int_equal(decode_event(fx, BINLOG_TRANSACTION_PAYLOAD_EVENT, &body), MCSQ_ERR_CORRUPT);
    bytes_free(&body);
    /* field length beyond the body, and huge */
    static const uint64_t flens[] = {100, 0xffffffffffffffffull, 1ull << 31};
    for (size_t i = 0; i < 3; i++) {
        put_lenenc(&body, 9);
        put_lenenc(&body, flens[i]);
        put(&body, data, sizeof(data));
        assert_int_equal(decode_event(fx, BINLOG_TRANSACTION_PAYLOAD_EVENT, &body),
                         MCSQ_ERR_CORRUPT);
        bytes_free(&body);
    }
    /* a value longer than its field's length */
    put_lenenc(&body, 1);
    put_lenenc(&body, 1);
    put_lenenc(&body, 0x10000); /* 4 bytes */
    put_lenenc(&body, 0);
    assert_int_equal(decode_event(fx, BINLOG_TRANSACTION_PAYLOAD_EVENT, &body), MCSQ_ERR_CORRUPT);
    bytes_free(&body);
    /* invalid lenenc prefixes 0xfb and 0xff */
    static const uint8_t prefixes[] = {0xfb, 0xff};
    for (size_t i = 0; i < 2; i++) {
        put_u8(&body, prefixes[i]);
        put_lenenc(&body, 1), put_lenenc(&body, 0), put_lenenc(&body, 0);
        assert_int_equal(decode_event(fx, BINLOG_TRANSACTION_PAYLOAD_EVENT, &body),
                         MCSQ_ERR_CORRUPT);
        bytes_free(&body);
        put_lenenc(&body, 1), put_u8(&body, prefixes[i]), put_lenenc(&body, 0);
        put_lenenc(&body, 0);
        assert_int_equal(decode_event(fx, BINLOG_TRANSACTION_PAYLOAD_EVENT, &body),
                         MCSQ_ERR_CORRUPT);
        bytes_free(&body);
    }
    /* empty body */
    assert_int_equal(decode_event(fx, BINLOG_TRANSACTION_PAYLOAD_EVENT, &body), MCSQ_ERR_CORRUPT);
}

static void test_start_encryption_unsupported(void **state)
{
    fixture *fx = *state;
    bytes body = {0};
    put_u8(&body, 1);          /* scheme */
    put_le32(&body, 1);        /* key version */
    put_fill(&body, 0x5a, 12); /* nonce */
    for (size_t s = 0; s < NSTREAMS; s++) {
        restart(fx, &streams[s]);
        assert_int_equal(decode_event(fx, BINLOG_MARIA_START_ENCRYPTION_EVENT, &body),
                         MCSQ_ERR_UNSUPPORTED);
        assert_non_null(strstr(fx->err, "encrypt"));
    }
    bytes_free(&body);
}

static void test_unknown_event_skipped(void **state)
{
    fixture *fx = *state;
    start_stream(fx, FDE_MYSQL8, BINLOG_CHECKSUM_CRC32);
    uint64_t events = fx->dec.events;
    bytes body = {0};
    put_str(&body, "whatever a future server writes");
    assert_int_equal(decode_event(fx, 200, &body), MCSQ_OK);
    assert_int_equal(fx->dec.events_unknown, 1);
    assert_int_equal(fx->ev.hdr.type, 200);
    assert_int_equal(fx->ev.body_len, body.len);
    assert_memory_equal(fx->ev.body, body.p, body.len);
    assert_int_equal(decode_event(fx, 255, &body), MCSQ_OK);
    assert_int_equal(decode_event(fx, 0, &body), MCSQ_OK);
    assert_int_equal(decode_event(fx, 43, &body), MCSQ_OK);
    assert_int_equal(fx->dec.events_unknown, 4);
    /* an unknown event still has its checksum verified */
    bytes ev = {0};
    put_event(&ev, 200, &body, true);
    ev.p[25] ^= 1;
    assert_int_equal(decode_bytes(fx, &ev), MCSQ_ERR_CHECKSUM);
    assert_int_equal(fx->dec.events_unknown, 4);
    /* recognised events whose content is not needed are not "unknown" */
    static const uint8_t known[] = {
        BINLOG_TABLE_MAP_EVENT,
        BINLOG_WRITE_ROWS_EVENT,
        BINLOG_UPDATE_ROWS_EVENT,
        BINLOG_DELETE_ROWS_EVENT,
        BINLOG_HEARTBEAT_EVENT,
        BINLOG_INTVAR_EVENT,
        BINLOG_USER_VAR_EVENT,
        BINLOG_RAND_EVENT,
        BINLOG_STOP_EVENT,
        BINLOG_TRANSACTION_CONTEXT_EVENT,
        BINLOG_VIEW_CHANGE_EVENT,
        BINLOG_PARTIAL_UPDATE_ROWS_EVENT,
        BINLOG_HEARTBEAT_V2_EVENT,
        BINLOG_MARIA_BINLOG_CHECKPOINT_EVENT,
        BINLOG_MARIA_WRITE_ROWS_COMPRESSED_EVENT,
        BINLOG_MARIA_DELETE_ROWS_COMPRESSED_EVENT_V1,
    };
    for (size_t i = 0; i < sizeof(known); i++)
        assert_int_equal(decode_event(fx, known[i], &body), MCSQ_OK);
    assert_int_equal(fx->dec.events_unknown, 4);
    assert_int_equal(fx->dec.events, events + 5 + sizeof(known));
    bytes_free(&body);
    bytes_free(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_header_parse),
        T(test_type_names),
        T(test_initial_format),
        T(test_fde_mysql8_crc32),
        T(test_fde_mysql8_checksum_off),
        T(test_fde_mariadb),
        T(test_fde_mysql50_no_footer),
        T(test_fde_footer_by_version),
        T(test_fde_in_use_flag_rule),
        T(test_fde_unknown_checksum_alg),
        T(test_fde_binlog_version_not_4),
        T(test_fde_header_len_below_19),
        T(test_fde_bad_crc_keeps_format),
        T(test_fde_longer_common_header),
        T(test_fde_nonstandard_numbering),
        T(test_fde_truncated),
        T(test_header_size_lies),
        T(test_crc_bit_flips),
        T(test_crc_verification_off),
        T(test_crc_no_room),
        T(test_recovers_after_error),
        T(test_query_all_status_vars),
        T(test_query_fields),
        T(test_query_text_binary),
        T(test_query_unknown_status_var),
        T(test_query_updated_db_names_over_max),
        T(test_execute_load_query),
        T(test_execute_load_query_longer_post_header),
        T(test_query_huge_lengths),
        T(test_query_cuts),
        T(test_query_status_var_cut_inside),
        T(test_query_status_var_garbage),
        T(test_query_compressed),
        T(test_query_compressed_errors),
        T(test_query_compressed_cuts),
        T(test_xid),
        T(test_rotate),
        T(test_incident),
        T(test_rows_query_and_annotate),
        T(test_previous_gtids),
        T(test_previous_gtids_huge_counts),
        T(test_gtid_list),
        T(test_mysql_gtid_full),
        T(test_mysql_gtid_variants),
        T(test_tagged_gtid),
        T(test_tagged_gtid_field_cuts),
        T(test_tagged_gtid_errors),
        T(test_tagged_gtid_out_of_range),
        T(test_maria_gtid),
        T(test_maria_gtid_xa),
        T(test_maria_gtid_xa_too_long),
        T(test_xa_prepare),
        T(test_xid_format),
        T(test_gtid_formats),
        T(test_gtid_decode_then_format),
        T(test_transaction_payload),
        T(test_transaction_payload_errors),
        T(test_start_encryption_unsupported),
        T(test_unknown_event_skipped),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
