/*
 * A marker client for a configured [pool] section (the regional pool), for
 * mcsqueal's own commands and router. Internal to mcsqueal.
 */
#ifndef MCSQ_INVALIDATOR_MARKER_POOL_H
#define MCSQ_INVALIDATOR_MARKER_POOL_H

#include "core/config.h"
#include "mcsqueal/marker.h"

#include <stddef.h>

/* mcsq_marker_client_new() with pool's servers and prefix (pool borrowed for
 * the call), region, ttl_s and timeout_ms (0: defaults). Same returns. */
int marker_pool_client_new(mcsq_marker_client **out, const mcsq_pool_config *pool,
                           const char *region, unsigned ttl_s, int timeout_ms, char *errstr,
                           size_t errstr_size);

#endif
