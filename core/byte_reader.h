/*
 * Bounds-checked little-endian reader over untrusted bytes (binlog events,
 * bus payloads). Every read checks the remaining length first; a failed read
 * sets `failed` and returns 0, so a decoder can read a whole fixed layout and
 * check once. Never casts pointers into structs.
 */
#ifndef MCSQ_CORE_BYTE_READER_H
#define MCSQ_CORE_BYTE_READER_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The unsigned little-endian integer of n bytes (1..8) at p, for a field at
 * a fixed place in bytes already checked to hold it (a header whose length
 * was checked, a packet's length prefix). */
static inline uint64_t byte_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

typedef struct byte_reader {
    const uint8_t *p;   /* (ref) next unread byte */
    const uint8_t *end; /* (ref) one past the last byte */
    bool failed;        /* a read ran past the end */
} byte_reader;

static inline void byte_reader_init(byte_reader *br, const uint8_t *buf, size_t len)
{
    br->p = buf;
    br->end = buf + len;
    br->failed = false;
}

static inline size_t byte_reader_left(const byte_reader *br)
{
    return (size_t)(br->end - br->p);
}

static inline bool byte_reader_need(byte_reader *br, size_t n)
{
    if (br->failed || byte_reader_left(br) < n) {
        br->failed = true;
        return false;
    }
    return true;
}

/* Reads an unsigned little-endian integer of n bytes (1..8). */
static inline uint64_t byte_reader_uint(byte_reader *br, size_t n)
{
    if (!byte_reader_need(br, n))
        return 0;
    uint64_t v = byte_le(br->p, n);
    br->p += n;
    return v;
}

static inline uint8_t byte_reader_u8(byte_reader *br)
{
    if (!byte_reader_need(br, 1))
        return 0;
    return *br->p++;
}

/* Fixed-size reads: memcpy then byte order, which compilers turn into one
 * load on little-endian hosts (the decoder's hot path). */
static inline uint16_t byte_reader_u16(byte_reader *br)
{
    uint16_t v;
    if (!byte_reader_need(br, 2))
        return 0;
    memcpy(&v, br->p, 2);
    br->p += 2;
    return le16toh(v);
}
static inline uint32_t byte_reader_u32(byte_reader *br)
{
    uint32_t v;
    if (!byte_reader_need(br, 4))
        return 0;
    memcpy(&v, br->p, 4);
    br->p += 4;
    return le32toh(v);
}
static inline uint64_t byte_reader_u64(byte_reader *br)
{
    uint64_t v;
    if (!byte_reader_need(br, 8))
        return 0;
    memcpy(&v, br->p, 8);
    br->p += 8;
    return le64toh(v);
}

/* Big-endian unsigned integer of n bytes (1..8). */
static inline uint64_t byte_reader_uint_be(byte_reader *br, size_t n)
{
    if (!byte_reader_need(br, n))
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | br->p[i];
    br->p += n;
    return v;
}

/* Returns a pointer to the next n bytes and skips them, or NULL. */
static inline const uint8_t *byte_reader_bytes(byte_reader *br, size_t n)
{
    if (!byte_reader_need(br, n))
        return NULL;
    const uint8_t *p = br->p;
    br->p += n;
    return p;
}

static inline void byte_reader_skip(byte_reader *br, size_t n)
{
    (void)byte_reader_bytes(br, n);
}

/* MySQL length-encoded integer (0xfb..0xff prefixes); 0xfb (NULL) and 0xff
 * are invalid here and fail the reader. */
static inline uint64_t byte_reader_lenenc(byte_reader *br)
{
    uint8_t first = byte_reader_u8(br);
    if (first < 0xfb)
        return first;
    switch (first) {
    case 0xfc:
        return byte_reader_uint(br, 2);
    case 0xfd:
        return byte_reader_uint(br, 3);
    case 0xfe:
        return byte_reader_uint(br, 8);
    default:
        br->failed = true;
        return 0;
    }
}

/* MySQL serialization-library variable-length unsigned integer: the count
 * of trailing one bits of the first byte gives the number of extra bytes;
 * 0xff means 8 raw little-endian bytes follow. */
static inline uint64_t byte_reader_varlen(byte_reader *br)
{
    if (!byte_reader_need(br, 1))
        return 0;
    uint8_t first = br->p[0];
    if (first == 0xff) {
        byte_reader_skip(br, 1);
        return byte_reader_u64(br);
    }
    unsigned n = 1;
    while (first & (1u << (n - 1)))
        n++;
    return byte_reader_uint(br, n) >> n;
}

/* Zig-zag signed form of byte_reader_varlen. */
static inline int64_t byte_reader_varlen_signed(byte_reader *br)
{
    uint64_t u = byte_reader_varlen(br);
    return (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

#endif
