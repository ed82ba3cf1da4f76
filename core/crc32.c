/*
 * CRC-32 dispatch: the PCLMULQDQ folding variant for the 16-byte-aligned
 * bulk of buffers of 64 bytes or more when the CPU has it, zlib for the rest.
 */
#include "core/crc32.h"

#include <zlib.h>

#define PCLMUL_MIN_LEN 64

uint32_t crc32_update(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    static int usable = -1;
    if (usable < 0)
        usable = crc32_pclmul_usable();
    if (usable && len >= PCLMUL_MIN_LEN) {
        size_t bulk = len & ~(size_t)15;
        crc = ~crc32_pclmul_fold(~crc, p, bulk);
        p += bulk;
        len -= bulk;
    }
    return len ? (uint32_t)crc32(crc, p, (uInt)len) : crc;
}
