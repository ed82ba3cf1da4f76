/*
 * Test support: builds binlog bytes by hand for the unit tests that feed
 * the decoder, the payload reader, the file source and the scan verifier
 * (test_event_decoder.c, test_payload_reader.c, test_binlog_file.c,
 * test_scan_verifier.c). A growable byte buffer with little-endian and
 * length-encoded writers, v4 event headers and whole events with a CRC32
 * footer computed with zlib's crc32() (independently of the decoder's own
 * CRC code), a MySQL 8.0 Format_description event and a Transaction_payload
 * body. Every event has timestamp BB_TIMESTAMP and server id BB_SERVER_ID.
 * Allocation failures fail the calling test.
 */
#ifndef MCSQ_TESTS_UNIT_BINLOG_BUILD_H
#define MCSQ_TESTS_UNIT_BINLOG_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BB_TIMESTAMP 1700000000u
#define BB_SERVER_ID 7u

/* Where the flags are in a v4 header, and the "binlog in use" flag. */
#define BB_FLAGS_OFFSET 17
#define BB_FLAG_IN_USE 0x0001u

/* A growable byte buffer; {0} is empty. */
typedef struct bytes {
    uint8_t *p;
    size_t len;
    size_t cap;
} bytes;

/* Frees b's bytes and leaves it empty. */
void bytes_free(bytes *b);

/* Appends n bytes of src (src may be NULL when n is 0). */
void put(bytes *b, const void *src, size_t n);

/* Appends the low n bytes of v, little-endian (n at most 8). */
void put_uint(bytes *b, uint64_t v, size_t n);

void put_u8(bytes *b, uint8_t v);

/* Appends v as a MySQL length-encoded integer. */
void put_lenenc(bytes *b, uint64_t v);

/* The number of bytes put_lenenc() writes for v. */
size_t lenenc_size(uint64_t v);

/* Appends a v4 event header: type, event size `size`, log_pos and flags. */
void put_header_at(bytes *out, uint8_t type, uint32_t size, uint32_t log_pos, uint16_t flags);

/* Appends a whole event around body: the header (its size counts the
 * checksum) and, when crc, a CRC32 over header and body; for a
 * Format_description event the "binlog in use" flag is cleared for the
 * computation, as the servers do. */
void put_event_at(bytes *out, uint8_t type, uint16_t flags, uint32_t log_pos, const void *body,
                  size_t body_len, bool crc);

/* As in a binlog file, where log_pos is the end of the event in out: a
 * header claiming `size` bytes, and a whole event with a CRC32. */
void put_file_header(bytes *out, uint8_t type, uint32_t size);
void put_file_event(bytes *out, uint8_t type, const void *body, size_t body_len);

/* Appends the body of a MySQL 8.0.36 Format_description event announcing
 * CRC32 checksums (post-header lengths for types 1..42: 13 for Query, 8 for
 * Rotate, 0 for the rest). */
void put_fde_mysql8_body(bytes *b);

/* Appends that Format_description event as in a file, and the binlog magic
 * number followed by it (the start of a binlog file). */
void put_file_fde(bytes *out);
void put_file_start(bytes *out);

/* Appends a (type, length, value) field of a Transaction_payload header,
 * each in lenenc. */
void put_payload_field(bytes *b, uint64_t type, uint64_t value);

/* Appends a Transaction_payload body: the compression type, uncompressed
 * size and payload size fields, the end mark, then len bytes of data. */
void put_payload_body(bytes *b, uint64_t compression, uint64_t usize, const uint8_t *data,
                      size_t len);

#endif
