/*
 * Binlog lag: how far the tailer is behind the server, for the gauge
 * mcsqueal_binlog_lag_seconds. The reader thread reports events and
 * commits; the gauge is evaluated at scrape time on another thread (all
 * state is atomic).
 *
 * What it shows:
 *   - After a commit with an exact time (a @probe from `mcsqueal heartbeat`,
 *     a MySQL 8 microsecond GTID timestamp): read time minus that commit
 *     time, to the microsecond. For a tailer beside a replica this includes
 *     the replica's own delay behind the primary, where the probe was
 *     written.
 *   - While exact commits keep coming (one within exact_window), only they
 *     set the value: other events' second-resolution timestamps and the
 *     server's replication heartbeats do not overwrite it.
 *   - Otherwise: after an event, the read time minus the event's header
 *     timestamp (whole seconds, so up to 1 s high); after a replication
 *     heartbeat (the server had nothing more to send), 0. So an idle server
 *     without `mcsqueal heartbeat` shows 0: the tailer has read all the
 *     server has, although it cannot tell whether that server is itself
 *     behind its primary.
 *   - When the stream is silent (no event, not even a replication
 *     heartbeat, for silent_after: the connection is down, the server is
 *     frozen or the reader is blocked behind a full queue), the value grows
 *     with the time since the last event was read, so a stopped stream
 *     shows as growing lag.
 */
#ifndef MCSQ_TAILER_BINLOG_LAG_H
#define MCSQ_TAILER_BINLOG_LAG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct binlog_lag {
    _Atomic int64_t lag_us;        /* the last measurement */
    _Atomic int64_t last_event_us; /* when the last event was read; 0: none yet */
    _Atomic int64_t last_exact_us; /* when the last exact commit was read; 0: none */
    int64_t exact_window_us;
    int64_t silent_after_us;
} binlog_lag;

/* Initializes l (all zero). exact_window_us: how long an exact measurement
 * rules; silent_after_us: how long without any event means the stream is
 * stopped. */
void binlog_lag_init(binlog_lag *l, int64_t exact_window_us, int64_t silent_after_us);

/* An event was read at now_us (unix µs); header_ts is its header's
 * timestamp (unix seconds, 0 if none); heartbeat: a replication heartbeat. */
void binlog_lag_on_event(binlog_lag *l, int64_t now_us, uint32_t header_ts, bool heartbeat);

/* A transaction committed at commit_us was read at read_us; exact: the
 * commit time is exact (mcsq_txn.commit_exact). */
void binlog_lag_on_commit(binlog_lag *l, int64_t commit_us, int64_t read_us, bool exact);

/* The lag in seconds at now_us (>= 0), as described above. */
double binlog_lag_seconds(const binlog_lag *l, int64_t now_us);

#endif
