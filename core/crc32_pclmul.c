/*
 * CRC-32 by carry-less multiplication (Intel, "Fast CRC Computation for
 * Generic Polynomials Using PCLMULQDQ Instruction", 2009): four 128-bit
 * lanes fold 64 bytes per step, then fold to 128, 64 and 32 bits with a
 * Barrett reduction. Constants are for the bit-reflected polynomial
 * 0xEDB88320. On other architectures crc32_pclmul_usable() returns 0.
 */
#include "core/crc32.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

int crc32_pclmul_usable(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}

__attribute__((target("pclmul,sse4.1"))) static __m128i fold(__m128i acc, __m128i k, __m128i data)
{
    __m128i lo = _mm_clmulepi64_si128(acc, k, 0x00);
    __m128i hi = _mm_clmulepi64_si128(acc, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(hi, lo), data);
}

__attribute__((target("pclmul,sse4.1"))) static uint32_t reduce(__m128i x1)
{
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
    const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124);
    const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
    const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
    /* 128 -> 64 bits */
    __m128i x2 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, mask32);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, k5k0, 0x00), x2);
    /* Barrett reduction to 32 bits */
    x2 = _mm_and_si128(x1, mask32);
    x2 = _mm_clmulepi64_si128(x2, poly, 0x10);
    x2 = _mm_and_si128(x2, mask32);
    x2 = _mm_clmulepi64_si128(x2, poly, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}

/* Folds the first block x1 (already holding the crc) and the len bytes
 * (a multiple of 16) at buf. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t fold_all(__m128i x1, const uint8_t *buf,
                                                                  size_t len)
{
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
    if (len >= 48) {
        __m128i x2 = _mm_loadu_si128((const __m128i *)(buf + 0x00));
        __m128i x3 = _mm_loadu_si128((const __m128i *)(buf + 0x10));
        __m128i x4 = _mm_loadu_si128((const __m128i *)(buf + 0x20));
        for (buf += 48, len -= 48; len >= 64; buf += 64, len -= 64) {
            x1 = fold(x1, k1k2, _mm_loadu_si128((const __m128i *)(buf + 0x00)));
            x2 = fold(x2, k1k2, _mm_loadu_si128((const __m128i *)(buf + 0x10)));
            x3 = fold(x3, k1k2, _mm_loadu_si128((const __m128i *)(buf + 0x20)));
            x4 = fold(x4, k1k2, _mm_loadu_si128((const __m128i *)(buf + 0x30)));
        }
        x1 = fold(x1, k3k4, x2);
        x1 = fold(x1, k3k4, x3);
        x1 = fold(x1, k3k4, x4);
    }
    for (; len >= 16; buf += 16, len -= 16)
        x1 = fold(x1, k3k4, _mm_loadu_si128((const __m128i *)buf));
    return reduce(x1);
}

__attribute__((target("pclmul,sse4.1"))) uint32_t crc32_pclmul_fold(uint32_t crc,
                                                                    const uint8_t *buf, size_t len)
{
    __m128i x1 = _mm_loadu_si128((const __m128i *)buf);
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    return fold_all(x1, buf + 16, len - 16);
}

/* shift_masks[r], r = 1..15: moves the first r bytes of a block to its top
 * r bytes and zeroes the rest (the block of a message with 16 - r zeros
 * before it). Row 0 is unused. */
static const uint8_t shift_masks[16][16] = {
#define Z 0x80
    {Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z},
    {Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 0},
    {Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 0, 1},
    {Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 0, 1, 2},
    {Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 0, 1, 2, 3},
    {Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 0, 1, 2, 3, 4},
    {Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 0, 1, 2, 3, 4, 5},
    {Z, Z, Z, Z, Z, Z, Z, Z, Z, 0, 1, 2, 3, 4, 5, 6},
    {Z, Z, Z, Z, Z, Z, Z, Z, 0, 1, 2, 3, 4, 5, 6, 7},
    {Z, Z, Z, Z, Z, Z, Z, 0, 1, 2, 3, 4, 5, 6, 7, 8},
    {Z, Z, Z, Z, Z, Z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
    {Z, Z, Z, Z, Z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
    {Z, Z, Z, Z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
    {Z, Z, Z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
    {Z, Z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13},
    {Z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14},
#undef Z
};

__attribute__((target("pclmul,sse4.1"))) uint32_t
crc32_pclmul_fold_padded(uint32_t padded_crc, const uint8_t *buf, size_t len)
{
    size_t r = len & 15;
    if (r == 0)
        return crc32_pclmul_fold(padded_crc, buf, len);
    __m128i head = _mm_loadu_si128((const __m128i *)buf);
    head = _mm_shuffle_epi8(head, _mm_loadu_si128((const __m128i *)shift_masks[r]));
    head = _mm_xor_si128(head, _mm_cvtsi32_si128((int)padded_crc));
    return fold_all(head, buf + r, len - r);
}

#else

int crc32_pclmul_usable(void)
{
    return 0;
}

uint32_t crc32_pclmul_fold(uint32_t crc, const uint8_t *buf, size_t len)
{
    (void)buf;
    (void)len;
    return crc;
}

uint32_t crc32_pclmul_fold_padded(uint32_t padded_crc, const uint8_t *buf, size_t len)
{
    (void)buf;
    (void)len;
    return padded_crc;
}

#endif
