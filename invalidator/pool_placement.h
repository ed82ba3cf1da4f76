/*
 * A pool's placement from its configuration: the [pool NAME] section's
 * placement, servers (with weights), prefix and ketama_points made into
 * the key_placement (marker/key_placement.h) that the router's deletes and
 * `mcsqueal placement` both ask.
 */
#ifndef MCSQ_INVALIDATOR_POOL_PLACEMENT_H
#define MCSQ_INVALIDATOR_POOL_PLACEMENT_H

#include "core/config.h"
#include "marker/key_placement.h"

#include <stdbool.h>
#include <stddef.h>

/* Builds the placement of cfg (borrowed for the call). Returns 0 with *out
 * set (free with key_placement_free()), MCSQ_ERR_CONFIG with errstr filled,
 * or MCSQ_ERR_NOMEM. */
int pool_placement_new(key_placement **out, const mcsq_pool_config *cfg, bool hash_with_prefix,
                       char *errstr, size_t errstr_size);

#endif
