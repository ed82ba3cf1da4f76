/*
 * Bus message parser (see bus_message.h): recursive descent over RFC 8259
 * JSON, specialized to the contract. The known structure has one reader per
 * level (message, entry, key list); every other value goes through
 * skip_value(), which validates it without keeping anything. Strings are
 * scanned eight bytes at a time for the bytes that need a closer look
 * (quote, backslash, controls, non-ASCII); only strings with escapes are
 * copied, decoded, into the arena. The arena is sized to the payload before
 * the first copy, which bounds it (decoding never lengthens a string) and
 * keeps every string already handed out in place.
 */
#include "bus/bus_message.h"

#include "core/clock.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NONE SIZE_MAX
#define LIMIT_MAX ((size_t)1 << 30) /* keeps key indexes in 32 bits */

/* Bytes of a string or name (ref), not NUL-terminated. */
typedef struct span {
    const char *ptr;
    size_t len;
} span;

typedef struct parser {
    const unsigned char *start;
    const unsigned char *p; /* next byte to read */
    const unsigned char *end;
    bus_message *m;
    char *errstr;
    size_t errstr_size;
    /* where the reader is, for messages; NULL ptr / NONE: not inside */
    span field;     /* field of the message */
    size_t txn;     /* entry of "txns" */
    span txn_field; /* field of that entry */
    size_t elem;    /* element of that field's list */
    /* the open entry */
    size_t first_key; /* its first key in m->key_buf */
    size_t nmarkers;  /* valid markers listed, in m->marker_buf */
} parser;

static const char *const message_fields[] = {"v", "source", "region", "txns"};
enum { MSG_V, MSG_SOURCE, MSG_REGION, MSG_TXNS, MSG_NFIELDS };
#define MSG_REQUIRED 0xfu

static const char *const txn_fields[] = {"gtid", "pos",     "commit_us",   "read_us",
                                         "keys", "markers", "commit_exact"};
enum {
    TXN_GTID,
    TXN_POS,
    TXN_COMMIT_US,
    TXN_READ_US,
    TXN_KEYS,
    TXN_MARKERS,
    TXN_COMMIT_EXACT,
    TXN_NFIELDS
};
#define TXN_REQUIRED (1u << TXN_POS | 1u << TXN_COMMIT_US | 1u << TXN_READ_US | 1u << TXN_KEYS)

/* ---- errors ---- */

/* A name for a path: printable ASCII up to 32 bytes as is, else "?". */
static void format_name(char *out, size_t size, span name)
{
    bool ok = name.len > 0 && name.len <= 32;
    for (size_t i = 0; ok && i < name.len; i++) {
        unsigned char c = (unsigned char)name.ptr[i];
        ok = c > 0x20 && c < 0x7f && c != '"' && c != '\\';
    }
    snprintf(out, size, "%.*s", ok ? (int)name.len : 1, ok ? name.ptr : "?");
}

/* "txns[3].keys[7]", "source", or "" at the top. */
static void format_path(const parser *ps, char *out, size_t size)
{
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

__attribute__((format(printf, 4, 5))) static int fail(parser *ps, const unsigned char *at, int err,
                                                      const char *fmt, ...)
{
    char msg[160];
    char path[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    format_path(ps, path, sizeof(path));
    return errstr_set(ps->errstr, ps->errstr_size, err, "byte %zu: %s%s%s",
                      (size_t)(at - ps->start), path, path[0] ? ": " : "", msg);
}

static bool literal_at(const parser *ps, const char *lit, size_t n)
{
    return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, lit, n) == 0;
}

/* What the reader sees at p, for "expected X, got Y". */
static const char *got(const parser *ps, char *buf, size_t size)
{
    if (ps->p >= ps->end)
        return "end of input";
    unsigned char c = *ps->p;
    switch (c) {
    case '{':
        return "object";
    case '[':
        return "array";
    case '"':
        return "string";
    case '-':
        return "number";
    case 't':
        return literal_at(ps, "true", 4) ? "true" : "'t'";
    case 'f':
        return literal_at(ps, "false", 5) ? "false" : "'f'";
    case 'n':
        return literal_at(ps, "null", 4) ? "null" : "'n'";
    }
    if (c >= '0' && c <= '9')
        return "number";
    if (c > 0x20 && c < 0x7f)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02x", c);
    return buf;
}

static int expected(parser *ps, const char *what)
{
    char buf[16];
    return fail(ps, ps->p, MCSQ_ERR_CORRUPT, "expected %s, got %s", what,
                got(ps, buf, sizeof(buf)));
}

/* ---- bytes ---- */

static inline void skip_ws(parser *ps)
{
    const unsigned char *p = ps->p;
    while (p < ps->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    ps->p = p;
}

static inline bool at_char(const parser *ps, unsigned char c)
{
    return ps->p < ps->end && *ps->p == c;
}

static inline bool is_digit(unsigned char c)
{
    return (unsigned)(c - '0') < 10;
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (Unicode Table 3-7:
 * no overlongs, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    size_t len;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return len;
}

/* ---- strings ---- */

#define ROW16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
/* 1 for the bytes a string scan stops at: controls, quote, backslash,
 * and the bytes of multibyte UTF-8 (validated one sequence at a time). */
// clang-format off
static const uint8_t str_stop[256] = {
    ROW16(1), ROW16(1),
    ['"'] = 1, ['\\'] = 1,
    [0x80] = ROW16(1), ROW16(1), ROW16(1), ROW16(1), ROW16(1), ROW16(1), ROW16(1), ROW16(1),
};
// clang-format on
#undef ROW16

/* Nonzero when one of the eight bytes in x is a str_stop byte (SWAR: a byte
 * below 0x20, equal to '"' or '\\', or with the high bit set). */
static inline uint64_t stop_mask(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t q = x ^ (ones * '"');
    uint64_t b = x ^ (ones * '\\');
    return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & high;
}

/* The first str_stop byte in [s, end), or end. */
static inline const unsigned char *scan_plain(const unsigned char *s, const unsigned char *end)
{
    while (end - s >= 8) {
        uint64_t x;
        memcpy(&x, s, sizeof(x));
        if (stop_mask(x) != 0)
            break;
        s += 8;
    }
    while (s < end && !str_stop[*s])
        s++;
    return s;
}

/* Checks the non-ASCII or control byte at s inside a string; returns its
 * sequence length, or 0 after failing. */
static size_t string_byte(parser *ps, const unsigned char *s)
{
    if (*s < 0x20) {
        fail(ps, s, MCSQ_ERR_CORRUPT, "unescaped control character 0x%02x in string", *s);
        return 0;
    }
    size_t n = utf8_len(s, (size_t)(ps->end - s));
    if (n == 0)
        fail(ps, s, MCSQ_ERR_CORRUPT, "invalid UTF-8 in string");
    return n;
}

static int hex4(const unsigned char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        uint32_t d;
        if (is_digit(c))
            d = (uint32_t)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (uint32_t)((c | 0x20) - 'a' + 10);
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *d, uint32_t cp)
{
    if (cp < 0x80) {
        *d++ = (char)cp;
    } else if (cp < 0x800) {
        *d++ = (char)(0xc0 | cp >> 6);
        *d++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *d++ = (char)(0xe0 | cp >> 12);
        *d++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *d++ = (char)(0xf0 | cp >> 18);
        *d++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *d++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
    }
    return d;
}

/* Decodes \uXXXX at *s (a surrogate pair takes two) into *d. */
static int decode_u(parser *ps, const unsigned char **s, char **d)
{
    const unsigned char *e = *s;
    size_t left = (size_t)(ps->end - e);
    uint32_t cp, lo;
    if (left < 6 || hex4(e + 2, &cp) != 0)
        return fail(ps, e, MCSQ_ERR_CORRUPT, "invalid \\u escape");
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail(ps, e, MCSQ_ERR_CORRUPT, "lone surrogate \\u%04x", cp);
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (left < 12 || e[6] != '\\' || e[7] != 'u' || hex4(e + 8, &lo) != 0 || lo < 0xdc00 ||
            lo > 0xdfff)
            return fail(ps, e, MCSQ_ERR_CORRUPT, "lone surrogate \\u%04x", cp);
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        e += 6;
    }
    *d = put_utf8(*d, cp);
    *s = e + 6;
    return MCSQ_OK;
}

/* The byte a one-letter escape stands for, or -1. */
static int simple_escape(unsigned char c)
{
    switch (c) {
    case '"':
        return '"';
    case '\\':
        return '\\';
    case '/':
        return '/';
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    }
    return -1;
}

/* Decodes the escape at *s (a backslash) into *d. */
static int decode_escape(parser *ps, const unsigned char **s, char **d)
{
    const unsigned char *e = *s;
    if (ps->end - e < 2)
        return fail(ps, ps->p, MCSQ_ERR_CORRUPT, "unterminated string");
    if (e[1] == 'u')
        return decode_u(ps, s, d);
    int c = simple_escape(e[1]);
    if (c < 0) {
        char buf[16];
        parser at = *ps;
        at.p = e + 1;
        return fail(ps, e, MCSQ_ERR_CORRUPT, "invalid escape: backslash followed by %s",
                    got(&at, buf, sizeof(buf)));
    }
    *(*d)++ = (char)c;
    *s = e + 2;
    return MCSQ_OK;
}

/* Makes room for every decoded string of this payload (see the top). */
static int arena_ready(parser *ps)
{
    bus_message *m = ps->m;
    size_t need = (size_t)(ps->end - ps->start);
    if (m->arena_cap >= need)
        return MCSQ_OK;
    if (m->arena_len > 0) /* can't happen: reserved at the first escape */
        abort();
    free(m->arena);
    if ((m->arena = malloc(need)) == NULL) {
        m->arena_cap = 0;
        return fail(ps, ps->p, MCSQ_ERR_NOMEM, "out of memory");
    }
    m->arena_cap = need;
    return MCSQ_OK;
}

/* The rest of a string from s (at its first backslash), decoded into the
 * arena. p is at the opening quote. */
static int decode_string(parser *ps, const unsigned char *s, span *out)
{
    if (arena_ready(ps) != MCSQ_OK)
        return MCSQ_ERR_NOMEM;
    bus_message *m = ps->m;
    char *dst = m->arena + m->arena_len;
    char *d = dst;
    const unsigned char *run = ps->p + 1;
    for (;;) {
        s = scan_plain(s, ps->end);
        memcpy(d, run, (size_t)(s - run));
        d += s - run;
        if (s == ps->end)
            return fail(ps, ps->p, MCSQ_ERR_CORRUPT, "unterminated string");
        if (*s == '"')
            break;
        int rc = MCSQ_OK;
        if (*s == '\\') {
            rc = decode_escape(ps, &s, &d);
        } else { /* a validated UTF-8 sequence: copied as it is */
            size_t n = string_byte(ps, s);
            rc = n == 0 ? MCSQ_ERR_CORRUPT : MCSQ_OK;
            memcpy(d, s, n);
            d += n;
            s += n;
        }
        if (rc != MCSQ_OK)
            return rc;
        run = s;
    }
    out->ptr = dst;
    out->len = (size_t)(d - dst);
    m->arena_len += out->len;
    ps->p = s + 1;
    return MCSQ_OK;
}

/* Reads the string at p (its opening quote). The bytes stay in the payload
 * unless the string has escapes. */
static int parse_string(parser *ps, span *out)
{
    const unsigned char *s = ps->p + 1;
    for (;;) {
        s = scan_plain(s, ps->end);
        if (s == ps->end)
            return fail(ps, ps->p, MCSQ_ERR_CORRUPT, "unterminated string");
        if (*s == '"')
            break;
        if (*s == '\\')
            return decode_string(ps, s, out);
        size_t n = string_byte(ps, s);
        if (n == 0)
            return MCSQ_ERR_CORRUPT;
        s += n;
    }
    out->ptr = (const char *)ps->p + 1;
    out->len = (size_t)(s - ps->p - 1);
    ps->p = s + 1;
    return MCSQ_OK;
}

/* Reads a string value, or fails naming what is there instead. */
static int read_string(parser *ps, span *out)
{
    if (!at_char(ps, '"'))
        return expected(ps, "a string");
    return parse_string(ps, out);
}

/* ---- numbers ---- */

typedef struct number {
    uint64_t mag; /* absolute value when is_int && !overflow */
    bool neg;
    bool is_int; /* no fraction, no exponent */
    bool overflow;
} number;

static int digits_after(parser *ps, const unsigned char **s, const char *after)
{
    if (*s == ps->end || !is_digit(**s))
        return fail(ps, *s, MCSQ_ERR_CORRUPT, "invalid number: no digit after %s", after);
    while (*s < ps->end && is_digit(**s))
        (*s)++;
    return MCSQ_OK;
}

/* The integer part at *s; p is at the number. */
static int integer_part(parser *ps, const unsigned char **s, number *n)
{
    const unsigned char *e = *s;
    if (e == ps->end || !is_digit(*e))
        return fail(ps, e, MCSQ_ERR_CORRUPT, "invalid number: no digit after '-'");
    if (*e == '0' && e + 1 < ps->end && is_digit(e[1]))
        return fail(ps, ps->p, MCSQ_ERR_CORRUPT, "invalid number: leading zero");
    for (; e < ps->end && is_digit(*e); e++) {
        unsigned d = (unsigned)(*e - '0');
        n->overflow = n->overflow || n->mag > (UINT64_MAX - d) / 10;
        n->mag = n->mag * 10 + d;
    }
    *s = e;
    return MCSQ_OK;
}

/* Reads the RFC 8259 number at p. */
static int parse_number(parser *ps, number *n)
{
    const unsigned char *s = ps->p;
    *n = (number){0, false, true, false};
    if (*s == '-') {
        n->neg = true;
        s++;
    }
    int rc = integer_part(ps, &s, n);
    if (rc == MCSQ_OK && s < ps->end && *s == '.') {
        n->is_int = false;
        s++;
        rc = digits_after(ps, &s, "'.'");
    }
    if (rc == MCSQ_OK && s < ps->end && (*s == 'e' || *s == 'E')) {
        n->is_int = false;
        s++;
        if (s < ps->end && (*s == '+' || *s == '-'))
            s++;
        rc = digits_after(ps, &s, "the exponent");
    }
    ps->p = s;
    return rc;
}

/* Reads an integer value in [min, INT64_MAX]. */
static int read_int(parser *ps, int64_t min, int64_t *out)
{
    const unsigned char *at = ps->p;
    number n;
    if (at >= ps->end || (*at != '-' && !is_digit(*at)))
        return expected(ps, "an integer");
    int rc = parse_number(ps, &n);
    if (rc != MCSQ_OK)
        return rc;
    if (!n.is_int)
        return fail(ps, at, MCSQ_ERR_CORRUPT, "expected an integer, got a fraction or exponent");
    uint64_t limit = n.neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (n.overflow || n.mag > limit)
        return fail(ps, at, MCSQ_ERR_CORRUPT, "integer out of range");
    int64_t v = !n.neg ? (int64_t)n.mag : n.mag == 0 ? 0 : -(int64_t)(n.mag - 1) - 1;
    if (v < min)
        return fail(ps, at, MCSQ_ERR_CORRUPT, "integer out of range (below %lld)", (long long)min);
    *out = v;
    return MCSQ_OK;
}

/* Reads true or false. */
static int read_bool(parser *ps, bool *out)
{
    if (literal_at(ps, "true", 4)) {
        ps->p += 4;
        *out = true;
        return MCSQ_OK;
    }
    if (literal_at(ps, "false", 5)) {
        ps->p += 5;
        *out = false;
        return MCSQ_OK;
    }
    return expected(ps, "true or false");
}

/* ---- containers ---- */

static int open_container(parser *ps, unsigned char open)
{
    if (!at_char(ps, open))
        return expected(ps, open == '{' ? "an object" : "an array");
    ps->p++;
    return MCSQ_OK;
}

/* Moves to element `count` of an array: 1 with p at it, 0 after the
 * closing ']', or an error. */
static int array_next(parser *ps, size_t count)
{
    skip_ws(ps);
    if (at_char(ps, ']')) {
        ps->p++;
        return 0;
    }
    if (count == 0)
        return 1;
    if (!at_char(ps, ','))
        return expected(ps, "',' or ']'");
    ps->p++;
    skip_ws(ps);
    return 1;
}

/* Moves to field `count` of an object: 1 with its name read and p at its
 * value, 0 after the closing '}', or an error. *name_at: the name's quote. */
static int object_next(parser *ps, size_t count, span *name, const unsigned char **name_at)
{
    skip_ws(ps);
    if (at_char(ps, '}')) {
        ps->p++;
        return 0;
    }
    if (count > 0) {
        if (!at_char(ps, ','))
            return expected(ps, "',' or '}'");
        ps->p++;
        skip_ws(ps);
    }
    *name_at = ps->p;
    if (!at_char(ps, '"'))
        return expected(ps, "a field name");
    int rc = parse_string(ps, name);
    if (rc != MCSQ_OK)
        return rc;
    skip_ws(ps);
    if (!at_char(ps, ':'))
        return expected(ps, "':'");
    ps->p++;
    skip_ws(ps);
    return 1;
}

static int skip_value(parser *ps, int depth);

static int too_deep(parser *ps)
{
    return fail(ps, ps->p, MCSQ_ERR_CORRUPT, "nested deeper than %d levels", BUS_MESSAGE_MAX_DEPTH);
}

/* Skips the object at p, which is at nesting level depth. */
static int skip_object(parser *ps, int depth)
{
    if (depth > BUS_MESSAGE_MAX_DEPTH)
        return too_deep(ps);
    ps->p++;
    size_t mark = ps->m->arena_len;
    span name;
    const unsigned char *name_at;
    int rc;
    for (size_t n = 0; (rc = object_next(ps, n, &name, &name_at)) == 1; n++) {
        ps->m->arena_len = mark;
        if ((rc = skip_value(ps, depth)) != MCSQ_OK)
            return rc;
    }
    ps->m->arena_len = mark;
    return rc;
}

static int skip_array(parser *ps, int depth)
{
    if (depth > BUS_MESSAGE_MAX_DEPTH)
        return too_deep(ps);
    ps->p++;
    int rc;
    for (size_t n = 0; (rc = array_next(ps, n)) == 1; n++) {
        if ((rc = skip_value(ps, depth)) != MCSQ_OK)
            return rc;
    }
    return rc;
}

static int skip_literal(parser *ps, const char *lit)
{
    size_t n = strlen(lit);
    if (!literal_at(ps, lit, n))
        return expected(ps, "a value");
    ps->p += n;
    return MCSQ_OK;
}

/* Validates and skips any JSON value at p, inside a container at level
 * depth. */
static int skip_value(parser *ps, int depth)
{
    size_t mark = ps->m->arena_len;
    span s;
    number n;
    int rc;
    if (ps->p >= ps->end)
        return expected(ps, "a value");
    switch (*ps->p) {
    case '{':
        return skip_object(ps, depth + 1);
    case '[':
        return skip_array(ps, depth + 1);
    case 't':
        return skip_literal(ps, "true");
    case 'f':
        return skip_literal(ps, "false");
    case 'n':
        return skip_literal(ps, "null");
    case '"':
        rc = parse_string(ps, &s);
        ps->m->arena_len = mark;
        return rc;
    }
    if (*ps->p == '-' || is_digit(*ps->p))
        return parse_number(ps, &n);
    return expected(ps, "a value");
}

static int field_index(span name, const char *const *names, int count)
{
    for (int i = 0; i < count; i++) {
        if (strlen(names[i]) == name.len && memcmp(names[i], name.ptr, name.len) == 0)
            return i;
    }
    return -1;
}

/* Marks field i (of names) seen; a second time is an error. */
static int field_seen(parser *ps, int i, const char *const *names, unsigned *seen,
                      const unsigned char *name_at)
{
    if (i < 0)
        return MCSQ_OK;
    if (*seen & 1u << i)
        return fail(ps, name_at, MCSQ_ERR_CORRUPT, "duplicate field \"%s\"", names[i]);
    *seen |= 1u << i;
    return MCSQ_OK;
}

static int check_required(parser *ps, unsigned missing, const char *const *names,
                          const unsigned char *at)
{
    if (missing == 0)
        return MCSQ_OK;
    return fail(ps, at, MCSQ_ERR_CORRUPT, "missing field \"%s\"", names[__builtin_ctz(missing)]);
}

/* ---- buffers ---- */

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
        return fail(ps, at, MCSQ_ERR_NOMEM, "out of memory");
    *buf = p;
    *cap = want;
    return MCSQ_OK;
}

/* Adds a key to the open entry (at: where it came from, for errors). */
static int push_key(parser *ps, span k, uint32_t marker, const unsigned char *at)
{
    bus_message *m = ps->m;
    size_t max = m->limits.max_keys;
    int rc;
    if (m->nkeys >= max)
        return fail(ps, at, MCSQ_ERR_LIMIT, "more than %zu keys in the message", max);
    if (m->nkeys == m->key_cap &&
        (rc = grow(ps, (void **)&m->key_buf, &m->key_cap, sizeof(mcsq_key), max, at)) != MCSQ_OK)
        return rc;
    m->key_buf[m->nkeys++] = (mcsq_key){k.ptr, (uint32_t)k.len, marker};
    return MCSQ_OK;
}

/* Adds a marker of the open entry; read_keys() keeps their number within
 * max_keys_per_txn. */
static int push_marker(parser *ps, span k, const unsigned char *at)
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

/* ---- the contract ---- */

/* One string of "keys" (or "markers"), at p: kept when it is a valid key. */
static int read_key(parser *ps, bool marker)
{
    const unsigned char *at = ps->p;
    span k;
    int rc = read_string(ps, &k);
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
    int rc = open_container(ps, '[');
    for (size_t i = 0; rc == MCSQ_OK && (rc = array_next(ps, i)) == 1; i++) {
        if (i >= max)
            return fail(ps, ps->p, MCSQ_ERR_LIMIT, "more than %zu elements", max);
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
    int rc = push_key(ps, (span){k->data, k->len}, 1, ps->p - 1);
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
                return fail(ps, ps->p - 1, MCSQ_ERR_NOMEM, "out of memory");
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
static int parse_pos(parser *ps, span s, const unsigned char *at, bus_txn *t)
{
    const char *colon = s.len > 0 ? memrchr(s.ptr, ':', s.len) : NULL;
    if (colon == NULL || colon == s.ptr || colon + 1 == s.ptr + s.len)
        return fail(ps, at, MCSQ_ERR_CORRUPT, "expected \"file:offset\"");
    uint64_t pos = 0;
    for (const char *c = colon + 1; c < s.ptr + s.len; c++) {
        unsigned d = (unsigned)(*c - '0');
        if (d > 9)
            return fail(ps, at, MCSQ_ERR_CORRUPT, "expected \"file:offset\"");
        if (pos > (UINT64_MAX - d) / 10)
            return fail(ps, at, MCSQ_ERR_CORRUPT, "offset out of range");
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
    const unsigned char *at = ps->p;
    span s;
    int rc;
    switch (i) {
    case TXN_GTID:
        if ((rc = read_string(ps, &s)) == MCSQ_OK && s.len > 0) {
            t->gtid = s.ptr;
            t->gtid_len = s.len;
        }
        return rc;
    case TXN_POS:
        rc = read_string(ps, &s);
        return rc == MCSQ_OK ? parse_pos(ps, s, at, t) : rc;
    case TXN_COMMIT_US:
        return read_int(ps, 0, &t->commit_us);
    case TXN_READ_US:
        return read_int(ps, 0, &t->read_us);
    case TXN_KEYS:
        return read_keys(ps, false);
    case TXN_MARKERS:
        return read_keys(ps, true);
    case TXN_COMMIT_EXACT:
        return read_bool(ps, &t->commit_exact);
    }
    return skip_value(ps, 3);
}

/* Adds an entry; read_txns() keeps their number within max_txns. */
static int push_txn(parser *ps, const bus_txn *t)
{
    bus_message *m = ps->m;
    int rc;
    if (m->ntxns == m->txn_cap && (rc = grow(ps, (void **)&m->txns, &m->txn_cap, sizeof(bus_txn),
                                             m->limits.max_txns, ps->p)) != MCSQ_OK)
        return rc;
    m->txns[m->ntxns++] = *t;
    return MCSQ_OK;
}

/* One entry of "txns", at p. */
static int read_txn(parser *ps)
{
    bus_txn t = {0};
    unsigned seen = 0;
    span name;
    const unsigned char *name_at;
    int rc = open_container(ps, '{');
    ps->first_key = ps->m->nkeys;
    ps->nmarkers = 0;
    for (size_t n = 0; rc == MCSQ_OK && (rc = object_next(ps, n, &name, &name_at)) == 1; n++) {
        int i = field_index(name, txn_fields, TXN_NFIELDS);
        if ((rc = field_seen(ps, i, txn_fields, &seen, name_at)) != MCSQ_OK)
            return rc;
        ps->txn_field = name;
        rc = txn_field(ps, i, &t);
        ps->txn_field.ptr = NULL;
    }
    if (rc == MCSQ_OK)
        rc = check_required(ps, TXN_REQUIRED & ~seen, txn_fields, ps->p - 1);
    if (rc == MCSQ_OK)
        rc = resolve_markers(ps, &t);
    t.nkeys = ps->m->nkeys - ps->first_key;
    return rc == MCSQ_OK ? push_txn(ps, &t) : rc;
}

static int read_txns(parser *ps)
{
    size_t max = ps->m->limits.max_txns;
    int rc = open_container(ps, '[');
    for (size_t i = 0; rc == MCSQ_OK && (rc = array_next(ps, i)) == 1; i++) {
        if (i >= max)
            return fail(ps, ps->p, MCSQ_ERR_LIMIT, "more than %zu entries", max);
        ps->txn = i;
        rc = read_txn(ps);
        ps->txn = NONE;
    }
    return rc;
}

static int read_version(parser *ps)
{
    const unsigned char *at = ps->p;
    int64_t v;
    int rc = read_int(ps, INT64_MIN, &v);
    if (rc != MCSQ_OK)
        return rc;
    if (v != BUS_MESSAGE_VERSION)
        return fail(ps, at, MCSQ_ERR_UNSUPPORTED, "unsupported version %lld (this reader: %d)",
                    (long long)v, BUS_MESSAGE_VERSION);
    ps->m->version = (int)v;
    return MCSQ_OK;
}

/* "source" or "region": a non-empty string. */
static int read_name(parser *ps, const char **out, size_t *out_len)
{
    const unsigned char *at = ps->p;
    span s;
    int rc = read_string(ps, &s);
    if (rc != MCSQ_OK)
        return rc;
    if (s.len == 0)
        return fail(ps, at, MCSQ_ERR_CORRUPT, "empty string");
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
    }
    return skip_value(ps, 1);
}

static int read_message(parser *ps)
{
    unsigned seen = 0;
    span name;
    const unsigned char *name_at;
    skip_ws(ps);
    int rc = open_container(ps, '{');
    for (size_t n = 0; rc == MCSQ_OK && (rc = object_next(ps, n, &name, &name_at)) == 1; n++) {
        int i = field_index(name, message_fields, MSG_NFIELDS);
        if ((rc = field_seen(ps, i, message_fields, &seen, name_at)) != MCSQ_OK)
            return rc;
        ps->field = name;
        rc = message_field(ps, i);
        ps->field.ptr = NULL;
    }
    if (rc == MCSQ_OK)
        rc = check_required(ps, MSG_REQUIRED & ~seen, message_fields, ps->p - 1);
    if (rc != MCSQ_OK)
        return rc;
    skip_ws(ps);
    return ps->p == ps->end ? MCSQ_OK : expected(ps, "end of input");
}

/* ---- the API ---- */

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
    free(m->arena);
    memset(m, 0, sizeof(*m));
}

static void reset_results(bus_message *m)
{
    m->version = 0;
    m->source = m->region = NULL;
    m->source_len = m->region_len = 0;
    m->ntxns = m->nkeys = m->nmarkers = 0;
    m->keys = NULL;
    memset(m->invalid, 0, sizeof(m->invalid));
    m->ninvalid = m->orphan_markers = 0;
    m->invalid_first[0] = '\0';
    m->arena_len = 0;
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
    const unsigned char *start = (const unsigned char *)(payload != NULL ? payload : "");
    parser ps = {
        .start = start,
        .p = start,
        .end = start + (payload != NULL ? len : 0),
        .m = m,
        .errstr = errstr,
        .errstr_size = errstr_size,
        .txn = NONE,
        .elem = NONE,
    };
    reset_results(m);
    int rc = read_message(&ps);
    if (rc != MCSQ_OK) {
        reset_results(m);
        return rc;
    }
    finish(m);
    return MCSQ_OK;
}
