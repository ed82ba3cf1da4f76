/*
 * The lease client's options (include/mcsqueal/lease.h): set by name from
 * text, checked when set. Internal to the marker library.
 */
#ifndef MCSQ_MARKER_LEASE_OPTIONS_H
#define MCSQ_MARKER_LEASE_OPTIONS_H

#include "marker/key_placement.h"
#include "mcsqueal/lease.h"

struct mcsq_lease_options {
    char *servers; /* NULL until set */
    char prefix[KEY_PLACEMENT_PREFIX_MAX + 1];
    int timeout_ms;
    unsigned lease_ttl_s;
    key_placement_mode placement; /* the pool's `placement` (default libmemcached) */
    unsigned ketama_points;       /* the pool's `ketama_points` */
};

#endif
