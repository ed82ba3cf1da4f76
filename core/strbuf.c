/*
 * strbuf (see strbuf.h).
 */
#include "core/strbuf.h"
#include "mcsqueal/error.h"

#include <stdlib.h>

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

void strbuf_append_u64(strbuf *sb, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    strbuf_append(sb, tmp + sizeof(tmp) - n, n);
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
    case '"': strbuf_lit(sb, "\\\""); return;
    case '\\': strbuf_lit(sb, "\\\\"); return;
    case '\n': strbuf_lit(sb, "\\n"); return;
    case '\r': strbuf_lit(sb, "\\r"); return;
    case '\t': strbuf_lit(sb, "\\t"); return;
    default: {
        char u[6] = {'\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 15]};
        strbuf_append(sb, u, sizeof(u));
    }
    }
}

void strbuf_append_json_chars(strbuf *sb, const char *s, size_t n)
{
    if (strbuf_reserve(sb, n) != MCSQ_OK)
        return;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        strbuf_append(sb, s + run, i - run);
        append_escaped(sb, c);
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

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t min;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
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
        size_t len = utf8_seq_len(u + i, n - i);
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
