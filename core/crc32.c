/*
 * CRC-32 dispatch. With PCLMULQDQ: the 16-byte blocks of any buffer of 16
 * bytes or more go through the carry-less folding variant, and the last
 * 0-15 bytes through a byte-wise table (binlog events are short: a third of
 * them are under 64 bytes, so per-call overhead matters). Without it: zlib.
 */
#include "core/crc32.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <zlib.h>

#define PCLMUL_MIN_LEN 16

/* pad_start[n]: the register that n zero bytes turn into the fresh-CRC
 * register 0xffffffff, so that a fresh CRC of any length >= 16 can be
 * folded whole, as if preceded by n = 16 - len % 16 zeros. */
static uint32_t pad_start[16];

/* Slice-by-8 tables: crc_table[k][b] is the CRC of byte b followed by k
 * zero bytes, so eight bytes are folded with eight independent lookups. */
static uint32_t crc_table[8][256];
static int usable;
static pthread_once_t init_once = PTHREAD_ONCE_INIT; /* the tables are shared by threads */
static atomic_bool ready; /* set once crc32_init() is done: no pthread_once() call per CRC */

static void crc32_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            crc_table[k][i] = crc_table[0][crc_table[k - 1][i] & 0xff] ^ (crc_table[k - 1][i] >> 8);
    /* One zero byte maps c to T[c & 0xff] ^ (c >> 8); the top byte of T[b]
     * differs for every b, which makes the step invertible. */
    uint8_t byte_of_top[256];
    for (uint32_t b = 0; b < 256; b++)
        byte_of_top[crc_table[0][b] >> 24] = (uint8_t)b;
    uint32_t c = 0xffffffffu;
    pad_start[0] = c;
    for (int n = 1; n < 16; n++) {
        uint8_t b = byte_of_top[c >> 24];
        c = ((c ^ crc_table[0][b]) << 8) | b;
        pad_start[n] = c;
    }
    usable = crc32_pclmul_usable();
    atomic_store_explicit(&ready, true, memory_order_release);
}

static uint32_t crc32_bytes(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
              crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
    }
    while (len--)
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint32_t crc32_update(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    if (!atomic_load_explicit(&ready, memory_order_acquire))
        pthread_once(&init_once, crc32_init);
    if (!usable)
        return (uint32_t)crc32(crc, p, (uInt)len);
    if (crc == 0 && len >= PCLMUL_MIN_LEN) /* a fresh CRC: no byte-wise tail */
        return ~crc32_pclmul_fold_padded(pad_start[(16 - (len & 15)) & 15], p, len);
    if (len >= PCLMUL_MIN_LEN) {
        size_t bulk = len & ~(size_t)15;
        crc = ~crc32_pclmul_fold(~crc, p, bulk);
        p += bulk;
        len -= bulk;
    }
    return crc32_bytes(crc, p, len);
}
