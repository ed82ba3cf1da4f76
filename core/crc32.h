/*
 * CRC-32 (IEEE 802.3, the binlog event checksum), as zlib's crc32() but
 * several times faster on x86-64 CPUs with PCLMULQDQ, picked at run time.
 */
#ifndef MCSQ_CORE_CRC32_H
#define MCSQ_CORE_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over len bytes; same result as zlib crc32(). */
uint32_t crc32_update(uint32_t crc, const void *buf, size_t len);

/* The carry-less multiplication variant (core/crc32_pclmul.c): folds
 * len bytes (len >= 16, a multiple of 16) into the pre-inverted crc and
 * returns the pre-inverted result. Only call when crc32_pclmul_usable(). */
uint32_t crc32_pclmul_fold(uint32_t crc_inverted, const uint8_t *buf, size_t len);

/* The same for any len >= 16: the message is taken as preceded by
 * 16 - len % 16 zero bytes (none when len % 16 == 0), so padded_crc must be
 * the register that those zeros turn into the wanted one. */
uint32_t crc32_pclmul_fold_padded(uint32_t padded_crc, const uint8_t *buf, size_t len);
int crc32_pclmul_usable(void);

#endif
