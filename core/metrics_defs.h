/*
 * The metrics mcsqueal exports, declared once (the X-macro habit of
 * twemproxy's nc_stats.h and memcached's THREAD_STATS_FIELDS): each row gives
 * the field name (the metric is "mcsqueal_" followed by it), the type, the
 * label names and the help text. metrics_defs_register() registers every row
 * and hands back a struct with one family pointer per row; docs/metrics.md
 * lists the same rows (a unit test checks that it names each one with its
 * type and labels).
 *
 * Adding a metric: one row here, one row in docs/metrics.md.
 */
#ifndef MCSQ_CORE_METRICS_DEFS_H
#define MCSQ_CORE_METRICS_DEFS_H

#include "core/metrics.h"

#include <stddef.h>

/* X(field, TYPE, labels, help); TYPE is COUNTER, GAUGE or HISTOGRAM (buckets:
 * metrics_lag_buckets). */
#define METRICS_DEFS(X)                                                                            \
    X(up, GAUGE, "", "1 while the process runs.")                                                  \
    X(build_info, GAUGE, "version", "Always 1; the version label names the running build.")        \
    X(binlog_events_total, COUNTER, "", "Binlog events read, of every type.")                      \
    X(unknown_events_total, COUNTER, "",                                                           \
      "Binlog events of a type this version does not know, skipped.")                              \
    X(incidents_total, COUNTER, "", "Incident events (the server lost events) met in the binlog.") \
    X(transactions_total, COUNTER, "", "Committed transactions read from the binlog.")             \
    X(keys_total, COUNTER, "", "Cache keys emitted, after de-duplication per transaction.")        \
    X(keys_rejected_total, COUNTER, "reason",                                                      \
      "Annotation tokens rejected as cache keys, by reason.")                                      \
    X(binlog_lag_seconds, GAUGE, "",                                                               \
      "Seconds the tailer is behind the server (exact with heartbeat probes).")                    \
    X(source_diverged, GAUGE, "",                                                                  \
      "1 when the server lacks transactions the tailer already published (a lossy failover).")     \
    X(checkpoint_offset, GAUGE, "", "Byte offset of the checkpoint in its binlog file.")           \
    X(checkpoint_file_index, GAUGE, "",                                                            \
      "Numeric suffix of the checkpoint's binlog file name (binlog.000042 is 42).")                \
    X(checkpoint_age_seconds, GAUGE, "", "Seconds since the checkpoint was last written.")         \
    X(bus_messages_total, COUNTER, "result", "Bus messages by outcome (produced or consumed).")    \
    X(bus_inflight_messages, GAUGE, "", "Messages produced and not yet acknowledged by the bus.")  \
    X(deletes_total, COUNTER, "pool,result", "Memcached deletes by pool and outcome.")             \
    X(pool_flushes_total, COUNTER, "pool,result",                                                  \
      "Pools flushed because the bus lost invalidations ([router] on_gap = flush).")               \
    X(memcached_version_unsupported, GAUGE, "pool,server",                                         \
      "1 while a memcached server answers with a version older than 1.6: its deletes are "         \
      "spooled.")                                                                                  \
    X(bus_consumer_lag_messages, GAUGE, "partition",                                               \
      "Messages of a partition not yet processed by the router (high watermark - position).")      \
    X(spool_keys, GAUGE, "", "Keys waiting in the retry spool on disk.")                           \
    X(markers_cleared_total, COUNTER, "", "Remote markers cleared in the regional pool.")          \
    X(markers_not_cleared_total, COUNTER, "reason",                                                \
      "Remote markers not cleared with their message, by reason.")                                 \
    X(marker_age_seconds, HISTOGRAM, "cluster",                                                    \
      "Seconds from setting a remote marker to clearing it (replication plus pipeline delay).")    \
    X(invalidation_lag_seconds, HISTOGRAM, "cluster",                                              \
      "Seconds from the commit to the delete confirmed by memcached.")                             \
    X(pipeline_latency_seconds, HISTOGRAM, "cluster",                                              \
      "Seconds from reading the commit in the binlog to the delete confirmed by memcached.")       \
    X(audit_checks_total, COUNTER, "pool,result,delay",                                            \
      "Audit checks of sampled invalidations, by pool, result and delay after the delete.")        \
    X(audit_survivors_total, COUNTER, "pool,server,owner",                                         \
      "Copies stored before a sampled delete and still there at a check, by server.")              \
    X(audit_consistency_ratio, GAUGE, "pool,delay",                                                \
      "Held / (held + survived) of the audit checks of the last 10 minutes.")                      \
    X(audit_window_checks, GAUGE, "pool,delay,result",                                             \
      "Audit checks of the last 10 minutes, by result.")                                           \
    X(audit_pool_audited, GAUGE, "pool", "1 when the auditor checks the pool, 0 when it cannot.")

/* Prefix of every name in METRICS_DEFS. */
#define METRICS_DEFS_PREFIX "mcsqueal_"

/* One family pointer per METRICS_DEFS row, owned by the registry. */
typedef struct metrics_defs {
#define METRICS_DEFS_FIELD_(field, type, labels, help) metrics_family *field;
    METRICS_DEFS(METRICS_DEFS_FIELD_)
#undef METRICS_DEFS_FIELD_
} metrics_defs;

/* One METRICS_DEFS row, for code that walks the table (tests, docs). */
typedef struct metrics_def {
    const char *name; /* full name, with METRICS_DEFS_PREFIX */
    metrics_type type;
    const char *labels;
    const char *help;
} metrics_def;

/* The table, in METRICS_DEFS order (static storage). */
extern const metrics_def metrics_def_table[];
extern const size_t metrics_def_count;

/* Registers every METRICS_DEFS row in reg and fills *out. Sets mcsqueal_up
 * to 1 and mcsqueal_build_info{version="<version>"} (version borrowed) to 1.
 * Returns 0, MCSQ_ERR_INVALID (a name already registered; reason in errstr)
 * or MCSQ_ERR_NOMEM. */
int metrics_defs_register(metrics_registry *reg, const char *version, metrics_defs *out,
                          char *errstr, size_t errstr_size);

#endif
