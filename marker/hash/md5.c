/*
 * MD5 (RFC 1321), written for short inputs: keys and server point names fit
 * one or two 64-byte blocks, so the digest is computed without a streaming
 * context. The ketama continuum of libmemcached and spymemcached is built
 * from it, and libmemcached hashes every key with it.
 */
#include "marker/hash/placement_hash.h"

#include <string.h>

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

static const unsigned char md5_s[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                        5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                        6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static inline uint32_t rotl32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static inline uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define MD5_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MD5_G(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))
#define MD5_STEP(fn, a, b, c, d, i, g)                                                             \
    (a) = (b) + rotl32((a) + fn((b), (c), (d)) + md5_k[i] + m[g], md5_s[i])
#define MD5_ROUND4(fn, i, g0, g1, g2, g3)                                                          \
    do {                                                                                           \
        MD5_STEP(fn, a, b, c, d, (i), (g0));                                                       \
        MD5_STEP(fn, d, a, b, c, (i) + 1, (g1));                                                   \
        MD5_STEP(fn, c, d, a, b, (i) + 2, (g2));                                                   \
        MD5_STEP(fn, b, c, d, a, (i) + 3, (g3));                                                   \
    } while (0)

static void md5_block(uint32_t h[4], const unsigned char *block)
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = load_le32(block + 4 * i);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    MD5_ROUND4(MD5_F, 0, 0, 1, 2, 3);
    MD5_ROUND4(MD5_F, 4, 4, 5, 6, 7);
    MD5_ROUND4(MD5_F, 8, 8, 9, 10, 11);
    MD5_ROUND4(MD5_F, 12, 12, 13, 14, 15);
    MD5_ROUND4(MD5_G, 16, 1, 6, 11, 0);
    MD5_ROUND4(MD5_G, 20, 5, 10, 15, 4);
    MD5_ROUND4(MD5_G, 24, 9, 14, 3, 8);
    MD5_ROUND4(MD5_G, 28, 13, 2, 7, 12);
    MD5_ROUND4(MD5_H, 32, 5, 8, 11, 14);
    MD5_ROUND4(MD5_H, 36, 1, 4, 7, 10);
    MD5_ROUND4(MD5_H, 40, 13, 0, 3, 6);
    MD5_ROUND4(MD5_H, 44, 9, 12, 15, 2);
    MD5_ROUND4(MD5_I, 48, 0, 7, 14, 5);
    MD5_ROUND4(MD5_I, 52, 12, 3, 10, 1);
    MD5_ROUND4(MD5_I, 56, 8, 15, 6, 13);
    MD5_ROUND4(MD5_I, 60, 4, 11, 2, 9);
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

void placement_md5(const void *data, size_t len, unsigned char digest[16])
{
    uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    const unsigned char *p = data;
    size_t left = len;
    for (; left >= 64; left -= 64, p += 64)
        md5_block(h, p);
    unsigned char tail[128] = {0};
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tail_len = left < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tail_len - 8 + i] = (unsigned char)(bits >> (8 * i));
    md5_block(h, tail);
    if (tail_len == 128)
        md5_block(h, tail + 64);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            digest[4 * i + j] = (unsigned char)(h[i] >> (8 * j));
}
