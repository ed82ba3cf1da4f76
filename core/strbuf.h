/*
 * Growable byte buffer with cheap appends, and JSON string escaping. Used to
 * build output lines and bus messages without printf on the hot path.
 */
#ifndef MCSQ_CORE_STRBUF_H
#define MCSQ_CORE_STRBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct strbuf {
    char *buf;
    size_t len;
    size_t cap;
    int nomem; /* an append failed; content is incomplete */
} strbuf;

void strbuf_init(strbuf *sb);
void strbuf_deinit(strbuf *sb);

/* Grows capacity to hold len + extra bytes; returns 0 or MCSQ_ERR_NOMEM
 * (and sets nomem). */
int strbuf_reserve(strbuf *sb, size_t extra);

static inline void strbuf_append(strbuf *sb, const void *p, size_t n)
{
    if (sb->cap - sb->len < n && strbuf_reserve(sb, n) != 0)
        return;
    memcpy(sb->buf + sb->len, p, n);
    sb->len += n;
}

static inline void strbuf_putc(strbuf *sb, char c)
{
    if (sb->cap == sb->len && strbuf_reserve(sb, 1) != 0)
        return;
    sb->buf[sb->len++] = c;
}

#define strbuf_lit(sb, s) strbuf_append((sb), (s), sizeof(s) - 1)

void strbuf_append_u64(strbuf *sb, uint64_t v);

/* Writes v in decimal at dst (room for 20 bytes, no NUL); returns the end. */
char *strbuf_put_u64(char *dst, uint64_t v);
void strbuf_append_i64(strbuf *sb, int64_t v);

/* Appends bytes as a JSON string with quotes. Bytes must be UTF-8 (keys are
 * validated); control characters, quote and backslash are escaped, and any
 * byte >= 0x80 is passed through. */
void strbuf_append_json_string(strbuf *sb, const char *s, size_t n);

/* Appends arbitrary bytes as a JSON string: like strbuf_append_json_string,
 * but each byte that is not part of valid UTF-8 becomes U+FFFD. For
 * diagnostics of text that may hold binary data (SQL statements). */
void strbuf_append_json_text(strbuf *sb, const char *s, size_t n);

/* The same as strbuf_append_json_string without the surrounding quotes. */
void strbuf_append_json_chars(strbuf *sb, const char *s, size_t n);

#endif
