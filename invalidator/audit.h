/*
 * Auditor: checks that a sample of the router's invalidations held, in
 * every pool, and reports it as metrics (docs/audit.md).
 *
 * The router hands it each pool's batch once memcached confirmed it
 * (audit_batch()); it keeps a random sample of the confirmed keys
 * ([audit] sample_rate), at most [audit] max_checks_per_s checks a second
 * (the rest is counted as dropped), and, on its own thread and its own
 * connections (audit_conn.h), asks every server of the pool after each of
 * [audit] delays_ms whether a copy of the key stored before the delete is
 * still there.
 *
 * Ages come from memcached's CAS counter, one per server: every 100 ms the
 * auditor takes a watermark on each server. A sample's "before" watermark
 * is the last one answered before its batch was sent, its "after" watermark
 * the first one sent after the batch was confirmed. A copy with a CAS below
 * "before" was stored before the delete: survived. Above "after": stored
 * after it, a fresh value: held. In between, or when the server restarted
 * since "before", runs with -C, or had no watermark: ambiguous. A server
 * that does not answer: unreachable. Neither counts as held.
 *
 * Nothing here delays the router: audit_batch() does arithmetic for each
 * key and takes a mutex briefly per sampled key.
 */
#ifndef MCSQ_INVALIDATOR_AUDIT_H
#define MCSQ_INVALIDATOR_AUDIT_H

#include "core/config.h"
#include "core/metrics_defs.h"
#include "invalidator/audit_verdict.h"
#include "mcsqueal/key.h"

#include <stddef.h>
#include <stdint.h>

typedef struct audit audit;

/* Writes the `delay` label of ms ("1s", "60s", "200ms") into buf. */
void audit_delay_label(int64_t ms, char *buf, size_t size);

/* Creates the auditor of cfg's pools (cfg borrowed for the auditor's life)
 * and starts its thread; defs (may be NULL) receives its metrics. With
 * sample_rate 0 or no pools, *out is NULL (audit_batch() and
 * audit_destroy() accept it). Returns 0, MCSQ_ERR_CONFIG (a bad [audit]
 * value; errstr) or MCSQ_ERR_NOMEM. */
int audit_new(audit **out, const mcsq_config *cfg, metrics_defs *defs, char *errstr,
              size_t errstr_size);

/* The router's hook, once pool (index in cfg's pools) confirmed a batch:
 * keys[0..n) (borrowed: the sampled ones are copied), owner[i] the server
 * the router placed key i on (an index of at least the pool's server count
 * means every server), outcome[i] equal to confirmed when memcached
 * confirmed key i's delete (only those are sampled), sent_us the monotonic
 * time (clock_mono_us()) before the batch was sent. a may be NULL. Never
 * blocks on I/O. */
void audit_batch(audit *a, size_t pool, const mcsq_key *keys, const uint32_t *owner,
                 const uint8_t *outcome, uint8_t confirmed, size_t n, int64_t sent_us);

/* Stops the thread, closes the connections, frees. NULL is a no-op. */
void audit_destroy(audit *a);

#endif
