/*
 * JSON reader (see json_reader.h). Strings are scanned eight bytes at a
 * time for the bytes that need a closer look (quote, backslash, controls,
 * non-ASCII); only strings with escapes are copied, decoded, into the
 * arena. The arena is sized to the text before the first copy, which bounds
 * it (decoding never lengthens a string) and keeps every string already
 * handed out in place.
 */
#include "core/json_reader.h"

#include "core/errstr.h"
#include "core/utf8.h"
#include "mcsqueal/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void json_reader_init(json_reader *r, const char *text, size_t len, json_arena *arena,
                      int max_depth, char *errstr, size_t errstr_size)
{
    const unsigned char *start = (const unsigned char *)(text != NULL ? text : "");
    *r = (json_reader){
        .start = start,
        .p = start,
        .end = start + (text != NULL ? len : 0),
        .arena = arena,
        .max_depth = max_depth,
        .errstr = errstr,
        .errstr_size = errstr_size,
    };
    arena->len = 0;
}

void json_arena_deinit(json_arena *a)
{
    free(a->buf);
    *a = (json_arena){0};
}

/* ---- errors ---- */

int json_fail(json_reader *r, const unsigned char *at, int err, const char *fmt, ...)
{
    char msg[160];
    char path[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    path[0] = '\0';
    if (r->where != NULL)
        r->where(r->where_ctx, path, sizeof(path));
    return errstr_set(r->errstr, r->errstr_size, err, "byte %zu: %s%s%s", (size_t)(at - r->start),
                      path, path[0] ? ": " : "", msg);
}

static bool literal_at(const json_reader *r, const char *lit, size_t n)
{
    return (size_t)(r->end - r->p) >= n && memcmp(r->p, lit, n) == 0;
}

/* What the reader sees at p, for "expected X, got Y". */
static const char *got(const json_reader *r, char *buf, size_t size)
{
    if (r->p >= r->end)
        return "end of input";
    unsigned char c = *r->p;
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
        return literal_at(r, "true", 4) ? "true" : "'t'";
    case 'f':
        return literal_at(r, "false", 5) ? "false" : "'f'";
    case 'n':
        return literal_at(r, "null", 4) ? "null" : "'n'";
    }
    if (c >= '0' && c <= '9')
        return "number";
    if (c > 0x20 && c < 0x7f)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02x", c);
    return buf;
}

int json_expected(json_reader *r, const char *what)
{
    char buf[16];
    return json_fail(r, r->p, MCSQ_ERR_CORRUPT, "expected %s, got %s", what,
                     got(r, buf, sizeof(buf)));
}

/* ---- bytes ---- */

static inline bool is_digit(unsigned char c)
{
    return (unsigned)(c - '0') < 10;
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
static size_t string_byte(json_reader *r, const unsigned char *s)
{
    if (*s < 0x20) {
        json_fail(r, s, MCSQ_ERR_CORRUPT, "unescaped control character 0x%02x in string", *s);
        return 0;
    }
    size_t n = utf8_sequence_len(s, (size_t)(r->end - s));
    if (n == 0)
        json_fail(r, s, MCSQ_ERR_CORRUPT, "invalid UTF-8 in string");
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
static int decode_u(json_reader *r, const unsigned char **s, char **d)
{
    const unsigned char *e = *s;
    size_t left = (size_t)(r->end - e);
    uint32_t cp, lo;
    if (left < 6 || hex4(e + 2, &cp) != 0)
        return json_fail(r, e, MCSQ_ERR_CORRUPT, "invalid \\u escape");
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return json_fail(r, e, MCSQ_ERR_CORRUPT, "lone surrogate \\u%04x", cp);
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (left < 12 || e[6] != '\\' || e[7] != 'u' || hex4(e + 8, &lo) != 0 || lo < 0xdc00 ||
            lo > 0xdfff)
            return json_fail(r, e, MCSQ_ERR_CORRUPT, "lone surrogate \\u%04x", cp);
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
static int decode_escape(json_reader *r, const unsigned char **s, char **d)
{
    const unsigned char *e = *s;
    if (r->end - e < 2)
        return json_fail(r, r->p, MCSQ_ERR_CORRUPT, "unterminated string");
    if (e[1] == 'u')
        return decode_u(r, s, d);
    int c = simple_escape(e[1]);
    if (c < 0) {
        char buf[16];
        json_reader at = *r;
        at.p = e + 1;
        return json_fail(r, e, MCSQ_ERR_CORRUPT, "invalid escape: backslash followed by %s",
                         got(&at, buf, sizeof(buf)));
    }
    *(*d)++ = (char)c;
    *s = e + 2;
    return MCSQ_OK;
}

/* Makes room for every decoded string of this text (see the top). */
static int arena_ready(json_reader *r)
{
    json_arena *a = r->arena;
    size_t need = (size_t)(r->end - r->start);
    if (a->cap >= need)
        return MCSQ_OK;
    if (a->len > 0) /* can't happen: reserved at the first escape */
        abort();
    free(a->buf);
    if ((a->buf = malloc(need)) == NULL) {
        a->cap = 0;
        return json_fail(r, r->p, MCSQ_ERR_NOMEM, "out of memory");
    }
    a->cap = need;
    return MCSQ_OK;
}

/* The rest of a string from s (at its first backslash), decoded into the
 * arena. p is at the opening quote. */
static int decode_string(json_reader *r, const unsigned char *s, json_span *out)
{
    if (arena_ready(r) != MCSQ_OK)
        return MCSQ_ERR_NOMEM;
    json_arena *a = r->arena;
    char *dst = a->buf + a->len;
    char *d = dst;
    const unsigned char *run = r->p + 1;
    for (;;) {
        s = scan_plain(s, r->end);
        memcpy(d, run, (size_t)(s - run));
        d += s - run;
        if (s == r->end)
            return json_fail(r, r->p, MCSQ_ERR_CORRUPT, "unterminated string");
        if (*s == '"')
            break;
        int rc = MCSQ_OK;
        if (*s == '\\') {
            rc = decode_escape(r, &s, &d);
        } else { /* a validated UTF-8 sequence: copied as it is */
            size_t n = string_byte(r, s);
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
    a->len += out->len;
    r->p = s + 1;
    return MCSQ_OK;
}

/* Reads the string at p (its opening quote). The bytes stay in the text
 * unless the string has escapes. */
static int parse_string(json_reader *r, json_span *out)
{
    const unsigned char *s = r->p + 1;
    for (;;) {
        s = scan_plain(s, r->end);
        if (s == r->end)
            return json_fail(r, r->p, MCSQ_ERR_CORRUPT, "unterminated string");
        if (*s == '"')
            break;
        if (*s == '\\')
            return decode_string(r, s, out);
        size_t n = string_byte(r, s);
        if (n == 0)
            return MCSQ_ERR_CORRUPT;
        s += n;
    }
    out->ptr = (const char *)r->p + 1;
    out->len = (size_t)(s - r->p - 1);
    r->p = s + 1;
    return MCSQ_OK;
}

/* Reads a string value, or fails naming what is there instead. */
int json_read_string(json_reader *r, json_span *out)
{
    if (!json_at(r, '"'))
        return json_expected(r, "a string");
    return parse_string(r, out);
}

/* ---- numbers ---- */

typedef struct number {
    uint64_t mag; /* absolute value when is_int && !overflow */
    bool neg;
    bool is_int; /* no fraction, no exponent */
    bool overflow;
} number;

static int digits_after(json_reader *r, const unsigned char **s, const char *after)
{
    if (*s == r->end || !is_digit(**s))
        return json_fail(r, *s, MCSQ_ERR_CORRUPT, "invalid number: no digit after %s", after);
    while (*s < r->end && is_digit(**s))
        (*s)++;
    return MCSQ_OK;
}

/* The integer part at *s; p is at the number. */
static int integer_part(json_reader *r, const unsigned char **s, number *n)
{
    const unsigned char *e = *s;
    if (e == r->end || !is_digit(*e))
        return json_fail(r, e, MCSQ_ERR_CORRUPT, "invalid number: no digit after '-'");
    if (*e == '0' && e + 1 < r->end && is_digit(e[1]))
        return json_fail(r, r->p, MCSQ_ERR_CORRUPT, "invalid number: leading zero");
    for (; e < r->end && is_digit(*e); e++) {
        unsigned d = (unsigned)(*e - '0');
        n->overflow = n->overflow || n->mag > (UINT64_MAX - d) / 10;
        n->mag = n->mag * 10 + d;
    }
    *s = e;
    return MCSQ_OK;
}

/* Reads the RFC 8259 number at p. */
static int parse_number(json_reader *r, number *n)
{
    const unsigned char *s = r->p;
    *n = (number){0, false, true, false};
    if (*s == '-') {
        n->neg = true;
        s++;
    }
    int rc = integer_part(r, &s, n);
    if (rc == MCSQ_OK && s < r->end && *s == '.') {
        n->is_int = false;
        s++;
        rc = digits_after(r, &s, "'.'");
    }
    if (rc == MCSQ_OK && s < r->end && (*s == 'e' || *s == 'E')) {
        n->is_int = false;
        s++;
        if (s < r->end && (*s == '+' || *s == '-'))
            s++;
        rc = digits_after(r, &s, "the exponent");
    }
    r->p = s;
    return rc;
}

/* Reads an integer value in [min, INT64_MAX]. */
int json_read_int(json_reader *r, int64_t min, int64_t *out)
{
    const unsigned char *at = r->p;
    number n;
    if (at >= r->end || (*at != '-' && !is_digit(*at)))
        return json_expected(r, "an integer");
    int rc = parse_number(r, &n);
    if (rc != MCSQ_OK)
        return rc;
    if (!n.is_int)
        return json_fail(r, at, MCSQ_ERR_CORRUPT,
                         "expected an integer, got a fraction or exponent");
    uint64_t limit = n.neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (n.overflow || n.mag > limit)
        return json_fail(r, at, MCSQ_ERR_CORRUPT, "integer out of range");
    int64_t v = !n.neg ? (int64_t)n.mag : n.mag == 0 ? 0 : -(int64_t)(n.mag - 1) - 1;
    if (v < min)
        return json_fail(r, at, MCSQ_ERR_CORRUPT, "integer out of range (below %lld)",
                         (long long)min);
    *out = v;
    return MCSQ_OK;
}

/* Reads true or false. */
int json_read_bool(json_reader *r, bool *out)
{
    if (literal_at(r, "true", 4)) {
        r->p += 4;
        *out = true;
        return MCSQ_OK;
    }
    if (literal_at(r, "false", 5)) {
        r->p += 5;
        *out = false;
        return MCSQ_OK;
    }
    return json_expected(r, "true or false");
}

/* ---- containers ---- */

int json_open(json_reader *r, unsigned char open)
{
    if (!json_at(r, open))
        return json_expected(r, open == '{' ? "an object" : "an array");
    r->p++;
    return MCSQ_OK;
}

/* Moves to element `count` of an array: 1 with p at it, 0 after the
 * closing ']', or an error. */
int json_array_next(json_reader *r, size_t count)
{
    json_skip_ws(r);
    if (json_at(r, ']')) {
        r->p++;
        return 0;
    }
    if (count == 0)
        return 1;
    if (!json_at(r, ','))
        return json_expected(r, "',' or ']'");
    r->p++;
    json_skip_ws(r);
    return 1;
}

/* Moves to field `count` of an object: 1 with its name read and p at its
 * value, 0 after the closing '}', or an error. *name_at: the name's quote. */
int json_object_next(json_reader *r, size_t count, json_span *name, const unsigned char **name_at)
{
    json_skip_ws(r);
    if (json_at(r, '}')) {
        r->p++;
        return 0;
    }
    if (count > 0) {
        if (!json_at(r, ','))
            return json_expected(r, "',' or '}'");
        r->p++;
        json_skip_ws(r);
    }
    *name_at = r->p;
    if (!json_at(r, '"'))
        return json_expected(r, "a field name");
    int rc = parse_string(r, name);
    if (rc != MCSQ_OK)
        return rc;
    json_skip_ws(r);
    if (!json_at(r, ':'))
        return json_expected(r, "':'");
    r->p++;
    json_skip_ws(r);
    return 1;
}

static int too_deep(json_reader *r)
{
    return json_fail(r, r->p, MCSQ_ERR_CORRUPT, "nested deeper than %d levels", r->max_depth);
}

/* Skips the object at p, which is at nesting level depth. */
static int skip_object(json_reader *r, int depth)
{
    if (depth > r->max_depth)
        return too_deep(r);
    r->p++;
    size_t mark = r->arena->len;
    json_span name;
    const unsigned char *name_at;
    int rc;
    for (size_t n = 0; (rc = json_object_next(r, n, &name, &name_at)) == 1; n++) {
        r->arena->len = mark;
        if ((rc = json_skip_value(r, depth)) != MCSQ_OK)
            return rc;
    }
    r->arena->len = mark;
    return rc;
}

static int skip_array(json_reader *r, int depth)
{
    if (depth > r->max_depth)
        return too_deep(r);
    r->p++;
    int rc;
    for (size_t n = 0; (rc = json_array_next(r, n)) == 1; n++) {
        if ((rc = json_skip_value(r, depth)) != MCSQ_OK)
            return rc;
    }
    return rc;
}

static int skip_literal(json_reader *r, const char *lit)
{
    size_t n = strlen(lit);
    if (!literal_at(r, lit, n))
        return json_expected(r, "a value");
    r->p += n;
    return MCSQ_OK;
}

/* Validates and skips any JSON value at p, inside a container at level
 * depth. */
int json_skip_value(json_reader *r, int depth)
{
    size_t mark = r->arena->len;
    json_span s;
    number n;
    int rc;
    if (r->p >= r->end)
        return json_expected(r, "a value");
    switch (*r->p) {
    case '{':
        return skip_object(r, depth + 1);
    case '[':
        return skip_array(r, depth + 1);
    case 't':
        return skip_literal(r, "true");
    case 'f':
        return skip_literal(r, "false");
    case 'n':
        return skip_literal(r, "null");
    case '"':
        rc = parse_string(r, &s);
        r->arena->len = mark;
        return rc;
    }
    if (*r->p == '-' || is_digit(*r->p))
        return parse_number(r, &n);
    return json_expected(r, "a value");
}

int json_end(json_reader *r)
{
    json_skip_ws(r);
    return r->p == r->end ? MCSQ_OK : json_expected(r, "end of input");
}
