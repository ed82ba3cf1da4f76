/*
 * Pool flush: `flush_all` on every server of a memcached pool, the one way
 * to make a cache consistent again once invalidations were lost (the bus
 * no longer had them). Used by the router's `[router] on_gap = flush`; only
 * ever for the pools of roles `cluster` and `gutter`, never the regional
 * pool, which holds the remote markers.
 */
#ifndef MCSQ_INVALIDATOR_POOL_FLUSH_H
#define MCSQ_INVALIDATOR_POOL_FLUSH_H

#include "core/config.h"

#include <stddef.h>

/* Sends `flush_all` to every server of pool, each with timeout_ms to
 * answer. Returns the number of servers that answered OK; errstr (may be
 * NULL) names the first that did not. */
size_t pool_flush_all(const mcsq_pool_config *pool, int timeout_ms, char *errstr,
                      size_t errstr_size);

#endif
