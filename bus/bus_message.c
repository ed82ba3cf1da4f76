/*
 * The bus message contract (see bus_message.h): one table of field names and
 * one version, used by the writer (the tailer's batcher, `mcsqueal scan`)
 * and the reader (the router).
 *
 * The writer appends to a strbuf by hand, without printf: it runs once per
 * transaction of a whole binlog. The reader is a recursive descent over
 * core/json_reader.h, one function per level of the known structure
 * (message, entry, key list); every other value goes through
 * json_skip_value(), which validates it without keeping anything.
 */
#include "bus/bus_message.h"

#include "core/clock.h"
#include "mcsqueal/error.h"
#include "mcsqueal/scan.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX
#define LIMIT_MAX ((size_t)1 << 30) /* keeps key indexes in 32 bits */

/* ---- the field names ---- */

/* A field as the reader matches it (name) and as the writer puts it (tag:
 * `,"name":`, without its comma when it opens an object). */
typedef struct field {
    const char *name;
    const char *tag;
    uint8_t len;
    uint8_t tag_len;
} field;

// clang-format off
#define FIELD(s) {s, ",\"" s "\":", sizeof(s) - 1, sizeof(s) + 3}
// clang-format on

/* The message's fields, in the order the reader reports missing ones. */
enum { MSG_V, MSG_SOURCE, MSG_REGION, MSG_TXNS, MSG_SEQ, MSG_NFIELDS };
static const field message_fields[MSG_NFIELDS] = {
    [MSG_V] = FIELD("v"),       [MSG_SOURCE] = FIELD("source"), [MSG_REGION] = FIELD("region"),
    [MSG_TXNS] = FIELD("txns"), [MSG_SEQ] = FIELD("seq"),
};
#define MSG_REQUIRED 0xfu

/* A "txns" entry's fields, then the two that only `mcsqueal scan` lines
 * add (the reader does not know them: they are skipped as unknown). */
enum {
    TXN_GTID,
    TXN_POS,
    TXN_COMMIT_US,
    TXN_READ_US,
    TXN_KEYS,
    TXN_MARKERS,
    TXN_COMMIT_EXACT,
    TXN_NFIELDS,
    SCAN_FILE = TXN_NFIELDS,
    SCAN_END_POS,
    TXN_NFIELDS_SCAN
};
static const field txn_fields[TXN_NFIELDS_SCAN] = {
    [TXN_GTID] = FIELD("gtid"),
    [TXN_POS] = FIELD("pos"),
    [TXN_COMMIT_US] = FIELD("commit_us"),
    [TXN_READ_US] = FIELD("read_us"),
    [TXN_KEYS] = FIELD("keys"),
    [TXN_MARKERS] = FIELD("markers"),
    [TXN_COMMIT_EXACT] = FIELD("commit_exact"),
    [SCAN_FILE] = FIELD("file"),
    [SCAN_END_POS] = FIELD("end_pos"),
};
#define TXN_REQUIRED (1u << TXN_POS | 1u << TXN_COMMIT_US | 1u << TXN_READ_US | 1u << TXN_KEYS)

/* ---- writing ---- */

/* Appends `"name":` of f, after a comma unless it opens an object. */
static inline void put_name(strbuf *sb, const field *f, bool opens)
{
    strbuf_append(sb, f->tag + opens, (size_t)f->tag_len - opens);
}

void bus_message_write_head(strbuf *sb, const char *source, size_t source_len, const char *region,
                            size_t region_len)
{
    strbuf_putc(sb, '{');
    put_name(sb, &message_fields[MSG_V], true);
    strbuf_append_u64(sb, BUS_MESSAGE_VERSION);
    put_name(sb, &message_fields[MSG_SOURCE], false);
    strbuf_append_json_string(sb, source, source_len);
    put_name(sb, &message_fields[MSG_REGION], false);
    strbuf_append_json_string(sb, region, region_len);
    put_name(sb, &message_fields[MSG_TXNS], false);
    strbuf_putc(sb, '[');
}

void bus_message_write_end(strbuf *sb, uint64_t seq)
{
    strbuf_putc(sb, ']');
    if (seq > 0) {
        put_name(sb, &message_fields[MSG_SEQ], false);
        strbuf_append_u64(sb, seq);
    }
    strbuf_putc(sb, '}');
}

/* Appends the keys of txn (only the marked ones, with markers_only) as a
 * JSON array. The quotes and commas are put here rather than by
 * strbuf_append_json_string(): one call less per key. */
static void put_keys(strbuf *sb, const mcsq_txn *txn, bool markers_only)
{
    strbuf_putc(sb, '[');
    bool first = true;
    for (size_t i = 0; i < txn->nkeys; i++) {
        const mcsq_key *k = &txn->keys[i];
        if (markers_only && !k->marker)
            continue;
        if (first)
            strbuf_putc(sb, '"');
        else
            strbuf_lit(sb, ",\"");
        first = false;
        strbuf_append_json_chars(sb, k->data, k->len);
        strbuf_putc(sb, '"');
    }
    strbuf_putc(sb, ']');
}

void bus_message_write_txn(strbuf *sb, const mcsq_txn *txn, size_t gtid_len, size_t file_len,
                           bool scan_fields)
{
    strbuf_putc(sb, '{');
    if (gtid_len > 0) {
        put_name(sb, &txn_fields[TXN_GTID], true);
        strbuf_append_json_string(sb, txn->gtid, gtid_len);
        strbuf_putc(sb, ',');
    }
    put_name(sb, &txn_fields[TXN_POS], true);
    strbuf_putc(sb, '"');
    strbuf_append_json_chars(sb, txn->file, file_len);
    strbuf_putc(sb, ':');
    strbuf_append_u64(sb, txn->pos);
    strbuf_putc(sb, '"');
    put_name(sb, &txn_fields[TXN_COMMIT_US], false);
    strbuf_append_i64(sb, txn->commit_us);
    if (txn->commit_exact) {
        put_name(sb, &txn_fields[TXN_COMMIT_EXACT], false);
        strbuf_lit(sb, "true");
    }
    put_name(sb, &txn_fields[TXN_READ_US], false);
    strbuf_append_i64(sb, txn->read_us);
    put_name(sb, &txn_fields[TXN_KEYS], false);
    put_keys(sb, txn, false);
    if (txn->nmarkers > 0) {
        put_name(sb, &txn_fields[TXN_MARKERS], false);
        put_keys(sb, txn, true);
    }
    if (scan_fields) {
        put_name(sb, &txn_fields[SCAN_FILE], false);
        strbuf_append_json_string(sb, txn->file, file_len);
        put_name(sb, &txn_fields[SCAN_END_POS], false);
        strbuf_append_u64(sb, txn->end_pos);
    }
    strbuf_putc(sb, '}');
}

/* ---- reading: where the reader is, for errors ---- */

typedef struct parser {
    json_reader r;
    bus_message *m;
    /* where the reader is, for messages; NULL ptr / NONE: not inside */
    json_span field;     /* field of the message */
    size_t txn;          /* entry of "txns" */
    json_span txn_field; /* field of that entry */
    size_t elem;         /* element of that field's list */
    /* the open entry */
    size_t first_key; /* its first key in m->key_buf */
    size_t nmarkers;  /* valid markers listed, in m->marker_buf */
} parser;

/* A name for a path: printable ASCII up to 32 bytes as is, else "?". */
static void format_name(char *out, size_t size, json_span name)
{
    bool ok = name.len > 0 && name.len <= 32;
    for (size_t i = 0; ok && i < name.len; i++) {
        unsigned char c = (unsigned char)name.ptr[i];
        ok = c > 0x20 && c < 0x7f && c != '"' && c != '\\';
    }
    snprintf(out, size, "%.*s", ok ? (int)name.len : 1, ok ? name.ptr : "?");
}

/* "txns[3].keys[7]", "source", or "" at the top (a json_where_fn). */
static void format_path(const void *ctx, char *out, size_t size)
{
    const parser *ps = ctx;
    char name[40];
    out[0] = '\0';
    if (ps->field.ptr == NULL)
        return;
    format_name(name, sizeof(name), ps->field);
    if (ps->txn == NONE) {
        snprintf(out, size, "%s", name);
        return;
    }
    int n = snprintf(out, size, "%s[%zu]", name, ps->txn);
    if (ps->txn_field.ptr != NULL) {
        format_name(name, sizeof(name), ps->txn_field);
        n += snprintf(out + n, size - (size_t)n, ".%s", name);
    }
    if (ps->elem != NONE)
        snprintf(out + n, size - (size_t)n, "[%zu]", ps->elem);
}

/* ---- reading: fields ---- */

/* Index of the field called name among the first count of fields, or -1. */
static int field_index(json_span name, const field *fields, int count)
{
    for (int i = 0; i < count; i++) {
        if (fields[i].len == name.len && memcmp(fields[i].name, name.ptr, name.len) == 0)
            return i;
    }
    return -1;
}

/* Marks field i (of fields) seen; a second time is an error. */
static int field_seen(parser *ps, int i, const field *fields, unsigned *seen,
                      const unsigned char *name_at)
{
    if (i < 0)
        return MCSQ_OK;
    if (*seen & 1u << i)
        return json_fail(&ps->r, name_at, MCSQ_ERR_CORRUPT, "duplicate field \"%s\"",
                         fields[i].name);
    *seen |= 1u << i;
    return MCSQ_OK;
}

static int check_required(parser *ps, unsigned missing, const field *fields,
                          const unsigned char *at)
{
    if (missing == 0)
        return MCSQ_OK;
    return json_fail(&ps->r, at, MCSQ_ERR_CORRUPT, "missing field \"%s\"",
                     fields[__builtin_ctz(missing)].name);
}

/* ---- reading: buffers ---- */

/* Grows *buf (of *cap elements of size each) by up to twice, to at most
 * max elements; the callers keep within their limits (*cap < max). */
static int grow(parser *ps, void **buf, size_t *cap, size_t size, size_t max,
                const unsigned char *at)
{
    size_t want = *cap < 64 ? 64 : *cap * 2;
    want = want > max ? max : want;
    if (want <= *cap) /* can't happen: see above */
        abort();
    void *p = realloc(*buf, want * size);
    if (p == NULL)
        return json_fail(&ps->r, at, MCSQ_ERR_NOMEM, "out of memory");
    *buf = p;
    *cap = want;
    return MCSQ_OK;
}

/* Adds a key to the open entry (at: where it came from, for errors). */
static int push_key(parser *ps, json_span k, uint32_t marker, const unsigned char *at)
{
    bus_message *m = ps->m;
    size_t max = m->limits.max_keys;
    int rc;
    if (m->nkeys >= max)
        return json_fail(&ps->r, at, MCSQ_ERR_LIMIT, "more than %zu keys in the message", max);
    if (m->nkeys == m->key_cap &&
        (rc = grow(ps, (void **)&m->key_buf, &m->key_cap, sizeof(mcsq_key), max, at)) != MCSQ_OK)
        return rc;
    m->key_buf[m->nkeys++] = (mcsq_key){k.ptr, (uint32_t)k.len, marker};
    return MCSQ_OK;
}

/* Adds a marker of the open entry; read_keys() keeps their number within
 * max_keys_per_txn. */
static int push_marker(parser *ps, json_span k, const unsigned char *at)
{
    bus_message *m = ps->m;
    int rc;
    if (ps->nmarkers == m->marker_cap &&
        (rc = grow(ps, (void **)&m->marker_buf, &m->marker_cap, sizeof(mcsq_key),
                   m->limits.max_keys_per_txn, at)) != MCSQ_OK)
        return rc;
    m->marker_buf[ps->nmarkers++] = (mcsq_key){k.ptr, (uint32_t)k.len, 1};
    return MCSQ_OK;
}

/* Counts a key or marker that breaks the key rules; remembers the first. */
static void note_invalid(parser *ps, cache_key_verdict v)
{
    bus_message *m = ps->m;
    if (m->ninvalid++ == 0) {
        char path[64]; /* "txns[<20 digits>].markers[<20 digits>]" at most */
        format_path(ps, path, sizeof(path));
        snprintf(m->invalid_first, sizeof(m->invalid_first), "%s: %s", path,
                 cache_key_verdict_name(v));
    }
    m->invalid[v]++;
}

/* ---- reading: the contract ---- */

/* One string of "keys" (or "markers"), at p: kept when it is a valid key. */
static int read_key(parser *ps, bool marker)
{
    const unsigned char *at = ps->r.p;
    json_span k;
    int rc = json_read_string(&ps->r, &k);
    if (rc != MCSQ_OK)
        return rc;
    cache_key_verdict v = cache_key_check(k.ptr, k.len);
    if (v != CACHE_KEY_OK) {
        note_invalid(ps, v);
        return MCSQ_OK;
    }
    return marker ? push_marker(ps, k, at) : push_key(ps, k, 0, at);
}

/* "keys" (or "markers") of the open entry. */
static int read_keys(parser *ps, bool markers)
{
    size_t max = ps->m->limits.max_keys_per_txn;
    int rc = json_open(&ps->r, '[');
    for (size_t i = 0; rc == MCSQ_OK && (rc = json_array_next(&ps->r, i)) == 1; i++) {
        if (i >= max)
            return json_fail(&ps->r, ps->r.p, MCSQ_ERR_LIMIT, "more than %zu elements", max);
        ps->elem = i;
        rc = read_key(ps, markers);
        ps->elem = NONE;
    }
    return rc;
}

/* A seeded word-at-a-time multiply-xor hash (the seed differs per
 * bus_message, so no fixed set of keys collides everywhere). */
static uint64_t key_hash(const mcsq_key *k, uint64_t seed)
{
    const uint64_t mul = 0xff51afd7ed558ccdu;
    uint64_t h = seed ^ (k->len * 0x9e3779b97f4a7c15u);
    const char *p = k->data;
    size_t n = k->len;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, sizeof(w));
        h = (h ^ w) * mul;
        h ^= h >> 32;
    }
    if (n > 0) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * mul;
    }
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53u;
    return h ^ (h >> 32);
}

static bool key_equal(const mcsq_key *a, const mcsq_key *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* Slot of key k among the entry's keys in the hash: where it is, or the
 * empty slot where it would go. */
static uint32_t *slot_of(parser *ps, const mcsq_key *k, size_t mask)
{
    bus_message *m = ps->m;
    size_t i = (size_t)key_hash(k, m->hash_seed) & mask;
    while (m->slots[i] != 0 && !key_equal(&m->key_buf[ps->first_key + m->slots[i] - 1], k))
        i = (i + 1) & mask;
    return &m->slots[i];
}

/* Hashes the open entry's keys, with room for its markers. Returns the
 * slot mask, or 0 when out of memory. */
static size_t hash_keys(parser *ps)
{
    bus_message *m = ps->m;
    size_t n = m->nkeys - ps->first_key + ps->nmarkers;
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    if (cap > m->slot_cap) {
        free(m->slots);
        m->slot_cap = 0;
        if ((m->slots = malloc(cap * sizeof(uint32_t))) == NULL)
            return 0;
        m->slot_cap = cap;
    }
    memset(m->slots, 0, cap * sizeof(uint32_t));
    for (size_t i = ps->first_key; i < m->nkeys; i++) {
        uint32_t *slot = slot_of(ps, &m->key_buf[i], cap - 1);
        if (*slot == 0)
            *slot = (uint32_t)(i - ps->first_key + 1);
    }
    return cap - 1;
}

static mcsq_key *hash_find(parser *ps, const mcsq_key *k, size_t mask)
{
    uint32_t slot = *slot_of(ps, k, mask);
    return slot == 0 ? NULL : &ps->m->key_buf[ps->first_key + slot - 1];
}

/* The first of the entry's keys from *cursor on equal to k (then *cursor
 * moves past it), or NULL. */
static mcsq_key *scan_keys(parser *ps, const mcsq_key *k, size_t *cursor)
{
    bus_message *m = ps->m;
    for (size_t i = *cursor; i < m->nkeys; i++) {
        if (key_equal(&m->key_buf[i], k)) {
            *cursor = i + 1;
            return &m->key_buf[i];
        }
    }
    return NULL;
}

/* Appends marker k, which names none of the entry's keys, as a key. */
static int add_orphan(parser *ps, bus_txn *t, const mcsq_key *k, size_t mask)
{
    bus_message *m = ps->m;
    int rc = push_key(ps, (json_span){k->data, k->len}, 1, ps->r.p - 1);
    if (rc != MCSQ_OK)
        return rc;
    *slot_of(ps, k, mask) = (uint32_t)(m->nkeys - ps->first_key);
    t->nmarkers++;
    m->orphan_markers++;
    return MCSQ_OK;
}

/* Flags the open entry's keys named by its markers; a marker that names none
 * becomes a key of its own (see the header). Markers normally come in the
 * order of the keys: one forward scan finds them all. The first that is not
 * ahead switches to a hash table of the entry's keys. */
static int resolve_markers(parser *ps, bus_txn *t)
{
    bus_message *m = ps->m;
    size_t cursor = ps->first_key, mask = 0;
    for (size_t i = 0; i < ps->nmarkers; i++) {
        const mcsq_key *mk = &m->marker_buf[i];
        mcsq_key *k = mask == 0 ? scan_keys(ps, mk, &cursor) : hash_find(ps, mk, mask);
        if (k == NULL && mask == 0) {
            if ((mask = hash_keys(ps)) == 0)
                return json_fail(&ps->r, ps->r.p - 1, MCSQ_ERR_NOMEM, "out of memory");
            k = hash_find(ps, mk, mask);
        }
        if (k == NULL) {
            int rc = add_orphan(ps, t, mk, mask);
            if (rc != MCSQ_OK)
                return rc;
            continue;
        }
        t->nmarkers += k->marker ? 0 : 1;
        k->marker = 1;
    }
    return MCSQ_OK;
}

/* "pos": "file:offset", split at the last ':'. at: its opening quote. */
static int parse_pos(parser *ps, json_span s, const unsigned char *at, bus_txn *t)
{
    const char *colon = s.len > 0 ? memrchr(s.ptr, ':', s.len) : NULL;
    if (colon == NULL || colon == s.ptr || colon + 1 == s.ptr + s.len)
        return json_fail(&ps->r, at, MCSQ_ERR_CORRUPT, "expected \"file:offset\"");
    uint64_t pos = 0;
    for (const char *c = colon + 1; c < s.ptr + s.len; c++) {
        unsigned d = (unsigned)(*c - '0');
        if (d > 9)
            return json_fail(&ps->r, at, MCSQ_ERR_CORRUPT, "expected \"file:offset\"");
        if (pos > (UINT64_MAX - d) / 10)
            return json_fail(&ps->r, at, MCSQ_ERR_CORRUPT, "offset out of range");
        pos = pos * 10 + d;
    }
    t->file = s.ptr;
    t->file_len = (size_t)(colon - s.ptr);
    t->pos = pos;
    return MCSQ_OK;
}

/* The value of field i of an entry. */
static int txn_field(parser *ps, int i, bus_txn *t)
{
    const unsigned char *at = ps->r.p;
    json_span s;
    int rc;
    switch (i) {
    case TXN_GTID:
        if ((rc = json_read_string(&ps->r, &s)) == MCSQ_OK && s.len > 0) {
            t->gtid = s.ptr;
            t->gtid_len = s.len;
        }
        return rc;
    case TXN_POS:
        rc = json_read_string(&ps->r, &s);
        return rc == MCSQ_OK ? parse_pos(ps, s, at, t) : rc;
    case TXN_COMMIT_US:
        return json_read_int(&ps->r, 0, &t->commit_us);
    case TXN_READ_US:
        return json_read_int(&ps->r, 0, &t->read_us);
    case TXN_KEYS:
        return read_keys(ps, false);
    case TXN_MARKERS:
        return read_keys(ps, true);
    case TXN_COMMIT_EXACT:
        return json_read_bool(&ps->r, &t->commit_exact);
    }
    return json_skip_value(&ps->r, 3);
}

/* Adds an entry; read_txns() keeps their number within max_txns. */
static int push_txn(parser *ps, const bus_txn *t)
{
    bus_message *m = ps->m;
    int rc;
    if (m->ntxns == m->txn_cap && (rc = grow(ps, (void **)&m->txns, &m->txn_cap, sizeof(bus_txn),
                                             m->limits.max_txns, ps->r.p)) != MCSQ_OK)
        return rc;
    m->txns[m->ntxns++] = *t;
    return MCSQ_OK;
}

/* One entry of "txns", at p. */
static int read_txn(parser *ps)
{
    bus_txn t = {0};
    unsigned seen = 0;
    json_span name;
    const unsigned char *name_at;
    int rc = json_open(&ps->r, '{');
    ps->first_key = ps->m->nkeys;
    ps->nmarkers = 0;
    for (size_t n = 0; rc == MCSQ_OK && (rc = json_object_next(&ps->r, n, &name, &name_at)) == 1;
         n++) {
        int i = field_index(name, txn_fields, TXN_NFIELDS);
        if ((rc = field_seen(ps, i, txn_fields, &seen, name_at)) != MCSQ_OK)
            return rc;
        ps->txn_field = name;
        rc = txn_field(ps, i, &t);
        ps->txn_field.ptr = NULL;
    }
    if (rc == MCSQ_OK)
        rc = check_required(ps, TXN_REQUIRED & ~seen, txn_fields, ps->r.p - 1);
    if (rc == MCSQ_OK)
        rc = resolve_markers(ps, &t);
    t.nkeys = ps->m->nkeys - ps->first_key;
    return rc == MCSQ_OK ? push_txn(ps, &t) : rc;
}

static int read_txns(parser *ps)
{
    size_t max = ps->m->limits.max_txns;
    int rc = json_open(&ps->r, '[');
    for (size_t i = 0; rc == MCSQ_OK && (rc = json_array_next(&ps->r, i)) == 1; i++) {
        if (i >= max)
            return json_fail(&ps->r, ps->r.p, MCSQ_ERR_LIMIT, "more than %zu entries", max);
        ps->txn = i;
        rc = read_txn(ps);
        ps->txn = NONE;
    }
    return rc;
}

static int read_version(parser *ps)
{
    const unsigned char *at = ps->r.p;
    int64_t v;
    int rc = json_read_int(&ps->r, INT64_MIN, &v);
    if (rc != MCSQ_OK)
        return rc;
    if (v != BUS_MESSAGE_VERSION)
        return json_fail(&ps->r, at, MCSQ_ERR_UNSUPPORTED,
                         "unsupported version %lld (this reader: %d)", (long long)v,
                         BUS_MESSAGE_VERSION);
    ps->m->version = (int)v;
    return MCSQ_OK;
}

/* "seq": a positive integer. */
static int read_seq(parser *ps)
{
    const unsigned char *at = ps->r.p;
    int64_t v;
    int rc = json_read_int(&ps->r, INT64_MIN, &v);
    if (rc != MCSQ_OK)
        return rc;
    if (v < 1)
        return json_fail(&ps->r, at, MCSQ_ERR_CORRUPT, "expected a positive integer");
    ps->m->seq = (uint64_t)v;
    return MCSQ_OK;
}

/* "source" or "region": a non-empty string. */
static int read_name(parser *ps, const char **out, size_t *out_len)
{
    const unsigned char *at = ps->r.p;
    json_span s;
    int rc = json_read_string(&ps->r, &s);
    if (rc != MCSQ_OK)
        return rc;
    if (s.len == 0)
        return json_fail(&ps->r, at, MCSQ_ERR_CORRUPT, "empty string");
    *out = s.ptr;
    *out_len = s.len;
    return MCSQ_OK;
}

static int message_field(parser *ps, int i)
{
    bus_message *m = ps->m;
    switch (i) {
    case MSG_V:
        return read_version(ps);
    case MSG_SOURCE:
        return read_name(ps, &m->source, &m->source_len);
    case MSG_REGION:
        return read_name(ps, &m->region, &m->region_len);
    case MSG_TXNS:
        return read_txns(ps);
    case MSG_SEQ:
        return read_seq(ps);
    }
    return json_skip_value(&ps->r, 1);
}

static int read_message(parser *ps)
{
    unsigned seen = 0;
    json_span name;
    const unsigned char *name_at;
    json_skip_ws(&ps->r);
    int rc = json_open(&ps->r, '{');
    for (size_t n = 0; rc == MCSQ_OK && (rc = json_object_next(&ps->r, n, &name, &name_at)) == 1;
         n++) {
        int i = field_index(name, message_fields, MSG_NFIELDS);
        if ((rc = field_seen(ps, i, message_fields, &seen, name_at)) != MCSQ_OK)
            return rc;
        ps->field = name;
        rc = message_field(ps, i);
        ps->field.ptr = NULL;
    }
    if (rc == MCSQ_OK)
        rc = check_required(ps, MSG_REQUIRED & ~seen, message_fields, ps->r.p - 1);
    if (rc != MCSQ_OK)
        return rc;
    return json_end(&ps->r);
}

/* ---- reading: the API ---- */

static size_t limit_or_default(size_t v)
{
    if (v == 0)
        return BUS_MESSAGE_LIMIT_DEFAULT;
    return v > LIMIT_MAX ? LIMIT_MAX : v;
}

void bus_message_init(bus_message *m, const bus_limits *limits)
{
    memset(m, 0, sizeof(*m));
    m->hash_seed =
        ((uint64_t)clock_mono_us() << 20 ^ (uintptr_t)m) | 1; /* not secret, just not fixed */
    if (limits != NULL)
        m->limits = *limits;
    m->limits.max_txns = limit_or_default(m->limits.max_txns);
    m->limits.max_keys_per_txn = limit_or_default(m->limits.max_keys_per_txn);
    m->limits.max_keys = limit_or_default(m->limits.max_keys);
}

void bus_message_deinit(bus_message *m)
{
    free(m->txns);
    free(m->key_buf);
    free(m->marker_buf);
    free(m->slots);
    json_arena_deinit(&m->arena);
    memset(m, 0, sizeof(*m));
}

static void reset_results(bus_message *m)
{
    m->version = 0;
    m->seq = 0;
    m->source = m->region = NULL;
    m->source_len = m->region_len = 0;
    m->ntxns = m->nkeys = m->nmarkers = 0;
    m->keys = NULL;
    memset(m->invalid, 0, sizeof(m->invalid));
    m->ninvalid = m->orphan_markers = 0;
    m->invalid_first[0] = '\0';
    m->arena.len = 0;
}

/* Points the entries at their keys, now that the key array is final. */
static void finish(bus_message *m)
{
    size_t first = 0;
    for (size_t i = 0; i < m->ntxns; i++) {
        m->txns[i].keys = m->key_buf + first;
        first += m->txns[i].nkeys;
        m->nmarkers += m->txns[i].nmarkers;
    }
    m->keys = m->key_buf;
}

int bus_message_parse(bus_message *m, const char *payload, size_t len, char *errstr,
                      size_t errstr_size)
{
    parser ps = {.m = m, .txn = NONE, .elem = NONE};
    reset_results(m);
    json_reader_init(&ps.r, payload, len, &m->arena, BUS_MESSAGE_MAX_DEPTH, errstr, errstr_size);
    ps.r.where = format_path;
    ps.r.where_ctx = &ps;
    int rc = read_message(&ps);
    if (rc != MCSQ_OK) {
        reset_results(m);
        return rc;
    }
    finish(m);
    return MCSQ_OK;
}
