/*
 * What the marker library shares inside itself and with the router's marker
 * clearing beyond the public API: the region rules, reading a marker by its
 * memcached key. Internal to mcsqueal.
 */
#ifndef MCSQ_MARKER_INTERNAL_H
#define MCSQ_MARKER_INTERNAL_H

#include "mcsqueal/marker.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The region rules of @marker: 1-64 bytes of [A-Za-z0-9_.-]; NULL is not. */
bool marker_region_valid(const char *s);

/* Reads the marker stored under memcached key mkey (mlen bytes, from
 * mcsq_marker_key() with this client's pool prefix length): *set_us is when
 * it was set, unix microseconds; 0 when absent, -1 when present with a value
 * that is not a time. Returns 0 or MCSQ_ERR_CONNECT. */
int marker_client_read(mcsq_marker_client *c, const char *mkey, size_t mlen, int64_t *set_us,
                       char *errstr, size_t errstr_size);

/* Length of the client's pool prefix (for mcsq_marker_key()). */
size_t marker_client_prefix_len(const mcsq_marker_client *c);

#endif
