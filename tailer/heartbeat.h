/*
 * Heartbeat writer: the loop of `mcsqueal heartbeat`. Every
 * heartbeat.interval_ms it writes one annotated, auto-committed probe
 * (tailer/heartbeat_sql.h) to the server of [mysql], carrying @probe=<now in
 * unix microseconds> and the key mcsqueal:hb:<name>. A tailer that reads the
 * probe from the binlog knows that transaction's exact commit time, so the
 * invalidation lag and the binlog lag are measured exactly even when no
 * application writes.
 *
 * It creates the table when missing (CREATE TABLE IF NOT EXISTS); when that
 * is refused but the table exists it goes on, as it needs only INSERT and
 * UPDATE. Connection failures and transient server errors (a read-only
 * server, a lock wait) are retried with capped exponential backoff
 * (100 ms to mysql.reconnect_max_ms); what retrying cannot fix (missing
 * privileges, no database, an unknown database) stops it with a clear error.
 */
#ifndef MCSQ_TAILER_HEARTBEAT_H
#define MCSQ_TAILER_HEARTBEAT_H

#include "core/config.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct heartbeat_stats {
    uint64_t probes;     /* probes written (committed) */
    uint64_t failures;   /* probes or setups that failed and were retried */
    uint64_t reconnects; /* connections opened after the first */
} heartbeat_stats;

/* Writes probes until *stop becomes true (checked at least every 100 ms
 * while waiting; a statement in flight finishes or times out first).
 * max_probes > 0 stops after that many probes (tests, `--count`). stats
 * (may be NULL) is updated as it goes. cfg is borrowed. Returns 0 when
 * stopped, or MCSQ_ERR_CONFIG / MCSQ_ERR_INVALID (retrying cannot help:
 * privileges, database, name) with errstr. */
int heartbeat_run(const mcsq_config *cfg, const atomic_bool *stop, uint64_t max_probes,
                  heartbeat_stats *stats, char *errstr, size_t errstr_size);

#endif
