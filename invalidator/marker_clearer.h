/*
 * The router's side of remote markers: after a message's keys are deleted
 * in the cluster's pools, the markers of its `markers` keys are deleted in
 * the regional pool. This module picks which markers may be cleared, names
 * their memcached keys and reads when each was set (for the marker age
 * histogram); the router deletes them with its regional pool deleter, so a
 * marker delete that fails is spooled and replayed like any other.
 */
#ifndef MCSQ_INVALIDATOR_MARKER_CLEARER_H
#define MCSQ_INVALIDATOR_MARKER_CLEARER_H

#include "core/config.h"
#include "mcsqueal/key.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct marker_clearer marker_clearer;

/* Creates a clearer for the regional pool (borrowed for the call) of region,
 * reading markers with timeout_ms. Returns 0, MCSQ_ERR_CONFIG or
 * MCSQ_ERR_NOMEM. */
int marker_clearer_new(marker_clearer **out, const mcsq_pool_config *regional, const char *region,
                       int timeout_ms, char *errstr, size_t errstr_size);

void marker_clearer_destroy(marker_clearer *mc);

/* For keys[0..n) of one message: the markers to clear are those of keys
 * with `marker` set and held[i] == 0 (held: a delete of the key is still in
 * the spool, so its marker stays until its TTL). Fills *out with their
 * memcached keys (without the pool prefix; owned by the clearer, valid until
 * the next call) and *nout, and *nheld with the markers held back. With
 * read_set_times, reads each marker's set time (see marker_clearer_set_us());
 * once a read fails, the rest of the batch is not read. Pass false while a
 * regional server is known to be down: each read would wait for the
 * timeout. Returns 0 or MCSQ_ERR_NOMEM. */
int marker_clearer_prepare(marker_clearer *mc, const mcsq_key *keys, size_t n, const uint8_t *held,
                           bool read_set_times, const mcsq_key **out, size_t *nout, size_t *nheld);

/* When marker i of the last prepare was set (unix microseconds); 0 when
 * unknown (absent, expired, not read, or not a time). */
int64_t marker_clearer_set_us(const marker_clearer *mc, size_t i);

#endif
