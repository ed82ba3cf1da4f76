/*
 * Test support: the binlog byte builders shared by the unit tests (see
 * binlog_build.h). Plain code over a growable buffer; the only library
 * calls are zlib's crc32() and cmocka's assertions on allocation.
 */
#include "binlog_build.h"
#include "tailer/binlog_event.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

void bytes_free(bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

void put(bytes *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        assert_non_null(p);
        b->p = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

void put_uint(bytes *b, uint64_t v, size_t n)
{
    uint8_t t[8];
    for (size_t i = 0; i < n; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, n);
}

void put_u8(bytes *b, uint8_t v)
{
    put(b, &v, 1);
}

void put_lenenc(bytes *b, uint64_t v)
{
    if (v < 0xfb) {
        put_u8(b, (uint8_t)v);
    } else if (v < (1ull << 16)) {
        put_u8(b, 0xfc);
        put_uint(b, v, 2);
    } else if (v < (1ull << 24)) {
        put_u8(b, 0xfd);
        put_uint(b, v, 3);
    } else {
        put_u8(b, 0xfe);
        put_uint(b, v, 8);
    }
}

size_t lenenc_size(uint64_t v)
{
    return v < 0xfb ? 1 : v < (1ull << 16) ? 3 : v < (1ull << 24) ? 4 : 9;
}

void put_header_at(bytes *out, uint8_t type, uint32_t size, uint32_t log_pos, uint16_t flags)
{
    put_uint(out, BB_TIMESTAMP, 4);
    put_u8(out, type);
    put_uint(out, BB_SERVER_ID, 4);
    put_uint(out, size, 4);
    put_uint(out, log_pos, 4);
    put_uint(out, flags, 2);
}

void put_event_at(bytes *out, uint8_t type, uint16_t flags, uint32_t log_pos, const void *body,
                  size_t body_len, bool crc)
{
    size_t start = out->len;
    size_t size = BINLOG_HEADER_LEN + body_len + (crc ? BINLOG_CHECKSUM_LEN : 0);
    put_header_at(out, type, (uint32_t)size, log_pos, flags);
    put(out, body, body_len);
    if (!crc)
        return;
    uint8_t head[BINLOG_HEADER_LEN];
    memcpy(head, out->p + start, sizeof(head));
    if (type == BINLOG_FORMAT_DESCRIPTION_EVENT)
        head[BB_FLAGS_OFFSET] &= (uint8_t)~BB_FLAG_IN_USE;
    uLong c = crc32(0, head, sizeof(head));
    c = crc32(c, out->p + start + BINLOG_HEADER_LEN, (uInt)body_len);
    put_uint(out, (uint32_t)c, 4);
}

void put_file_header(bytes *out, uint8_t type, uint32_t size)
{
    put_header_at(out, type, size, (uint32_t)(out->len + size), 0);
}

void put_file_event(bytes *out, uint8_t type, const void *body, size_t body_len)
{
    size_t size = BINLOG_HEADER_LEN + body_len + BINLOG_CHECKSUM_LEN;
    put_event_at(out, type, 0, (uint32_t)(out->len + size), body, body_len, true);
}

void put_fde_mysql8_body(bytes *b)
{
    char v[50];
    memset(v, 0, sizeof(v));
    memcpy(v, "8.0.36", 6);
    put_uint(b, 4, 2);
    put(b, v, sizeof(v));
    put_uint(b, BB_TIMESTAMP, 4);
    put_u8(b, BINLOG_HEADER_LEN);
    for (unsigned t = 1; t <= 42; t++)
        put_u8(b, t == BINLOG_QUERY_EVENT ? 13 : t == BINLOG_ROTATE_EVENT ? 8 : 0);
    put_u8(b, BINLOG_CHECKSUM_CRC32);
}

void put_file_fde(bytes *out)
{
    bytes body = {0};
    put_fde_mysql8_body(&body);
    put_file_event(out, BINLOG_FORMAT_DESCRIPTION_EVENT, body.p, body.len);
    bytes_free(&body);
}

void put_file_start(bytes *out)
{
    put(out, BINLOG_MAGIC, BINLOG_MAGIC_LEN);
    put_file_fde(out);
}

void put_payload_field(bytes *b, uint64_t type, uint64_t value)
{
    put_lenenc(b, type);
    put_lenenc(b, lenenc_size(value));
    put_lenenc(b, value);
}

void put_payload_body(bytes *b, uint64_t compression, uint64_t usize, const uint8_t *data,
                      size_t len)
{
    put_payload_field(b, 2, compression);
    put_payload_field(b, 3, usize);
    put_payload_field(b, 1, len);
    put_lenenc(b, 0);
    put(b, data, len);
}
