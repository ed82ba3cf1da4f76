/*
 * Fixed-size integer writers, the counterpart of byte_reader.h: little-endian
 * for our own formats (the retry spool), big-endian for network protocols
 * (memcached's binary protocol). The caller owns the room for the bytes.
 */
#ifndef MCSQ_CORE_BYTE_WRITER_H
#define MCSQ_CORE_BYTE_WRITER_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline void byte_put_le16(uint8_t *p, uint16_t v)
{
    v = htole16(v);
    memcpy(p, &v, 2);
}

static inline void byte_put_le32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

static inline void byte_put_le64(uint8_t *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, 8);
}

static inline void byte_put_be16(uint8_t *p, uint16_t v)
{
    v = htobe16(v);
    memcpy(p, &v, 2);
}

static inline void byte_put_be32(uint8_t *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, 4);
}

#endif
