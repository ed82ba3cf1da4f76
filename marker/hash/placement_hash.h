/*
 * The hash functions memcached clients place keys with, each reproducing the
 * client's bytes exactly (test_placement_hash pins them with vectors taken
 * from the clients). One file per function in this folder.
 */
#ifndef MCSQ_MARKER_PLACEMENT_HASH_H
#define MCSQ_MARKER_PLACEMENT_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

/* CRC-32 (zlib's crc32(), the one Python, Ruby and Perl clients use),
 * continued from crc (0 to start). */
static inline uint32_t placement_crc32(uint32_t crc, const void *data, size_t len)
{
    return (uint32_t)crc32(crc, data, (uInt)len);
}

/* MD5 (RFC 1321) of len bytes into digest. */
void placement_md5(const void *data, size_t len, unsigned char digest[16]);

/* SHA-1 (FIPS 180-4) of len bytes into digest. */
void placement_sha1(const void *data, size_t len, unsigned char digest[20]);

/* Bob Jenkins' one-at-a-time hash, as libhashkit's (libmemcached's default
 * key hash). */
uint32_t placement_one_at_a_time(const void *data, size_t len);

/* MurmurHash3 x86_32 with seed of len bytes. */
uint32_t placement_murmur3_32(const void *data, size_t len, uint32_t seed);

/* MurmurHash3 x86_32 of a fixed start followed by varying bytes: begin
 * absorbs the start once; finish hashes start + data without copying. */
typedef struct placement_murmur3 {
    uint32_t h;
    unsigned char tail[4]; /* the start's bytes after its last whole block */
    size_t ntail, len;
} placement_murmur3;
void placement_murmur3_begin(placement_murmur3 *m, const void *start, size_t len, uint32_t seed);
uint32_t placement_murmur3_finish(const placement_murmur3 *m, const void *data, size_t len);

#endif
