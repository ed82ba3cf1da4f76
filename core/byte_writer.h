/*
 * Fixed-size integer writers, the counterpart of byte_reader.h: little-endian
 * for our own formats (the retry spool), big-endian for network protocols
 * (memcached's binary protocol). The caller owns the room for the bytes.
 */
#ifndef MCSQ_CORE_BYTE_WRITER_H
#define MCSQ_CORE_BYTE_WRITER_H

#include <stddef.h>
#include <stdint.h>

/* Writes the n (1..8) low bytes of v at p, least significant first. */
static inline void byte_put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes the n (1..8) low bytes of v at p, most significant first. */
static inline void byte_put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

#endif
