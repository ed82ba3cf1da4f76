/*
 * strbuf (see strbuf.h).
 */
#include "core/strbuf.h"
#include "core/utf8.h"
#include "mcsqueal/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf *sb)
{
    memset(sb, 0, sizeof(*sb));
}

void strbuf_deinit(strbuf *sb)
{
    free(sb->buf);
    memset(sb, 0, sizeof(*sb));
}

int strbuf_reserve(strbuf *sb, size_t extra)
{
    if (sb->cap - sb->len >= extra)
        return MCSQ_OK;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap - sb->len < extra)
        cap *= 2;
    char *b = realloc(sb->buf, cap);
    if (b == NULL) {
        sb->nomem = 1;
        return MCSQ_ERR_NOMEM;
    }
    sb->buf = b;
    sb->cap = cap;
    return MCSQ_OK;
}

static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

static const uint64_t pow10_u64[20] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull,
                                       10000000000000000000ull};

/* Decimal digits of v: log10 from the bit length (1233/4096 ~ log10(2)),
 * corrected by one comparison (v | 1: 0 has one digit too; the powers of
 * ten compared with are even, so it changes nothing else). */
static unsigned digits_u64(uint64_t v)
{
    unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
    unsigned n = (bits * 1233) >> 12; /* digits - 1 or digits */
    return n + ((v | 1) >= pow10_u64[n] ? 1 : 0);
}

/* Writes v (< 100,000,000) as digits, ending just before end: 32-bit
 * arithmetic, two digits per step. Returns the first digit written. */
static char *put_digits32(char *end, uint32_t v)
{
    char *p = end;
    while (v >= 100) {
        uint32_t d = (v % 100) * 2;
        v /= 100;
        *--p = digit_pairs[d + 1];
        *--p = digit_pairs[d];
    }
    if (v >= 10) {
        *--p = digit_pairs[v * 2 + 1];
        *--p = digit_pairs[v * 2];
    } else {
        *--p = (char)('0' + v);
    }
    return p;
}

/* Writes exactly 8 digits of v (< 100,000,000, zero-padded) before end. */
static void put_8digits(char *end, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        uint32_t d = (v % 100) * 2;
        v /= 100;
        *--end = digit_pairs[d + 1];
        *--end = digit_pairs[d];
    }
}

char *strbuf_put_u64(char *dst, uint64_t v)
{
    unsigned n = digits_u64(v);
    char *p = dst + n;
    while (v >= 100000000) { /* the low 8 digits in 32-bit arithmetic */
        put_8digits(p, (uint32_t)(v % 100000000));
        v /= 100000000;
        p -= 8;
    }
    put_digits32(p, (uint32_t)v);
    return dst + n;
}

void strbuf_append_u64(strbuf *sb, uint64_t v)
{
    if (sb->cap - sb->len < 20 && strbuf_reserve(sb, 20) != MCSQ_OK)
        return;
    sb->len = (size_t)(strbuf_put_u64(sb->buf + sb->len, v) - sb->buf);
}

void strbuf_append_i64(strbuf *sb, int64_t v)
{
    if (v < 0) {
        strbuf_putc(sb, '-');
        strbuf_append_u64(sb, (uint64_t)0 - (uint64_t)v);
        return;
    }
    strbuf_append_u64(sb, (uint64_t)v);
}

static const char hex_digits[] = "0123456789abcdef";

static void append_escaped(strbuf *sb, unsigned char c)
{
    switch (c) {
    case '"':
        strbuf_lit(sb, "\\\"");
        return;
    case '\\':
        strbuf_lit(sb, "\\\\");
        return;
    case '\n':
        strbuf_lit(sb, "\\n");
        return;
    case '\r':
        strbuf_lit(sb, "\\r");
        return;
    case '\t':
        strbuf_lit(sb, "\\t");
        return;
    default: {
        char u[6] = {'\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 15]};
        strbuf_append(sb, u, sizeof(u));
    }
    }
}

/* 1 for bytes JSON strings must escape: controls, '"', '\\' and DEL. */
static const uint8_t json_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
};

/* Whether any of the 8 bytes of w needs escaping: below 0x20, '"', '\\'
 * or DEL (exact, though not which byte: the bit tricks of "Bit Twiddling
 * Hacks", hasless() and haszero()). */
static inline bool word_needs_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\'), d = w ^ (ones * 0x7f);
    uint64_t hit =
        ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | ((d - ones) & ~d);
    return (hit & high) != 0;
}

/* Whether any of the n bytes at s needs escaping: 8 at a time (the last 8
 * overlapping), bytes one by one only below 8. */
static bool needs_escape(const char *s, size_t n)
{
    uint64_t w;
    if (n < 8) {
        for (size_t i = 0; i < n; i++)
            if (json_escape[(unsigned char)s[i]])
                return true;
        return false;
    }
    for (size_t i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if (word_needs_escape(w))
            return true;
    }
    memcpy(&w, s + n - 8, 8);
    return word_needs_escape(w);
}

void strbuf_append_json_chars(strbuf *sb, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (!needs_escape(s, n)) { /* the common case */
        strbuf_append(sb, s, n);
        return;
    }
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (!json_escape[u[i]])
            continue;
        strbuf_append(sb, s + run, i - run);
        append_escaped(sb, u[i]);
        run = i + 1;
    }
    strbuf_append(sb, s + run, n - run);
}

void strbuf_append_json_string(strbuf *sb, const char *s, size_t n)
{
    strbuf_putc(sb, '"');
    strbuf_append_json_chars(sb, s, n);
    strbuf_putc(sb, '"');
}

void strbuf_append_json_text(strbuf *sb, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    strbuf_putc(sb, '"');
    size_t run = 0, i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = utf8_sequence_len(u + i, n - i);
        if (len > 0) {
            i += len;
            continue;
        }
        strbuf_append_json_chars(sb, s + run, i - run);
        strbuf_lit(sb, "\\ufffd");
        run = ++i;
    }
    strbuf_append_json_chars(sb, s + run, n - run);
    strbuf_putc(sb, '"');
}
