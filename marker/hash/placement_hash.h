/*
 * The hash functions memcached clients place keys with, each reproducing the
 * client's bytes exactly (test_placement_hash pins them with vectors taken
 * from the clients). One file per function in this folder.
 */
#ifndef MCSQ_MARKER_PLACEMENT_HASH_H
#define MCSQ_MARKER_PLACEMENT_HASH_H

#include <stddef.h>
#include <stdint.h>

/* MD5 (RFC 1321) of len bytes into digest. */
void placement_md5(const void *data, size_t len, unsigned char digest[16]);

#endif
