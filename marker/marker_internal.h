/*
 * What the router's marker clearing needs from the client beyond the public
 * API: reading a marker by its memcached key. Internal to mcsqueal.
 */
#ifndef MCSQ_MARKER_INTERNAL_H
#define MCSQ_MARKER_INTERNAL_H

#include "mcsqueal/marker.h"

#include <stddef.h>
#include <stdint.h>

/* Reads the marker stored under memcached key mkey (mlen bytes, from
 * mcsq_marker_key() with this client's pool prefix length): *set_us is when
 * it was set, unix microseconds; 0 when absent, -1 when present with a value
 * that is not a time. Returns 0 or MCSQ_ERR_CONNECT. */
int marker_client_read(mcsq_marker_client *c, const char *mkey, size_t mlen, int64_t *set_us,
                       char *errstr, size_t errstr_size);

/* Length of the client's pool prefix (for mcsq_marker_key()). */
size_t marker_client_prefix_len(const mcsq_marker_client *c);

#endif
