/*
 * Router: one per memcache cluster and region. Consumes invalidation
 * messages from the bus and deletes their keys in every pool of the cluster
 * (roles cluster, gutter, regional). A message is done — its offset may be
 * committed — only when each of its deletes was confirmed by memcached or
 * written to the retry spool on disk; spooled deletes are replayed once
 * their server answers again. Messages that break the contract go to a
 * dead-letter file and are skipped; an invalid key is never sent.
 */
#ifndef MCSQ_INVALIDATOR_ROUTER_H
#define MCSQ_INVALIDATOR_ROUTER_H

#include "core/config.h"
#include "core/metrics_defs.h"
#include "core/readiness.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct router router;

typedef struct router_options {
    readiness *ready; /* (ref) told whether the router has joined its group; may be NULL */
    bool direct;      /* take every partition without joining the group: only where this
                       * router is the group's only reader (the process hosts the bus) */
} router_options;

/* Creates a router for cfg's cluster, reading the bus at bootstrap. defs
 * (may be NULL) receive its metrics; opts may be NULL (defaults). Returns
 * 0 or a negative mcsq_err with errstr. */
int router_new(router **out, const mcsq_config *cfg, const char *bootstrap, metrics_defs *defs,
               const router_options *opts, char *errstr, size_t errstr_size);

/* Runs until *stop becomes true or a failure that must stop it (the
 * spool cannot be written, the bus consumer failed). Returns 0 or that
 * error, with errstr. */
int router_run(router *r, const atomic_bool *stop, char *errstr, size_t errstr_size);

/* The highest bus offset (+1) of partition 0 whose message is done, or -1:
 * lets `mcsqueal run` hold the tailer's checkpoint behind the router. */
int64_t router_done_offset(router *r);

void router_destroy(router *r);

#endif
