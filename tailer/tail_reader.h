/*
 * Tail reader: the thread that follows a live server's binlog and turns it
 * into committed transactions (txn_records) in a bounded txn_queue. It
 * reconnects with capped exponential backoff from the position after the
 * last transaction it queued, and stops with a clear error on what must not
 * be skipped silently: a corrupt event, a purged position (unless
 * mysql.on_purged = earliest), a server that lacks transactions it already
 * read (unless mysql.on_diverged = continue; see gtid_divergence.h).
 */
#ifndef MCSQ_TAILER_TAIL_READER_H
#define MCSQ_TAILER_TAIL_READER_H

#include "core/config.h"
#include "core/metrics.h"
#include "core/readiness.h"
#include "tailer/binlog_event.h"
#include "tailer/binlog_lag.h"
#include "tailer/binlog_live.h"
#include "tailer/binlog_live_source.h"
#include "tailer/binlog_stage.h"
#include "tailer/gtid_state.h"
#include "tailer/txn_queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Counters read by the metrics exporter from another thread. */
typedef struct tail_reader_stats {
    _Atomic uint64_t events;
    _Atomic uint64_t transactions;
    _Atomic uint64_t keys;
    _Atomic uint64_t reconnects;
    _Atomic uint64_t purged_gaps; /* on_purged = earliest jumped over a gap */
} tail_reader_stats;

/* Metric series the reader updates (any may be NULL). */
typedef struct tail_reader_metrics {
    metrics_series *events;
    metrics_series *unknown_events;
    metrics_series *incidents;
    metrics_series *transactions;
    metrics_series *keys;
    metrics_series *rejected[ANNOTATION_REJECT_COUNT];
    metrics_series *diverged; /* gauge: 1 once the server lacked what was read */
    readiness *ready;         /* (ref) told whether the stream is open (READINESS_TAILER) */
} tail_reader_metrics;

/* Counts already passed to the metric series (the decoder's and
 * assembler's own counters restart with every stream). */
typedef struct tail_reader_synced {
    uint64_t unknown_events;
    uint64_t incidents;
    uint64_t rejected[ANNOTATION_REJECT_COUNT];
} tail_reader_synced;

/* What the reader counted since it last passed its counts on (at each
 * hand-off to the queue, not per event: atomics and metric series per event
 * cost more than decoding some events); the events are counted by the
 * source (binlog_live_seen). */
typedef struct tail_reader_unsynced {
    uint64_t transactions;
    uint64_t keys;
} tail_reader_unsynced;

typedef struct tail_reader {
    const mcsq_config *cfg; /* (ref) */
    txn_queue *queue;       /* (ref) */
    binlog_live_source src; /* src.live swapped on reconnect under live_lock */
    pthread_mutex_t live_lock;
    binlog_stage stage;
    gtid_state gtids;
    bool use_gtid;          /* the server has MariaDB GTIDs */
    binlog_position resume; /* after the last queued transaction */
    tail_reader_stats stats;
    binlog_lag lag; /* read by tail_reader_lag_seconds() from any thread */
    tail_reader_metrics metrics;
    tail_reader_synced synced;
    tail_reader_unsynced unsynced;
    txn_batch pending;   /* queued transactions not handed to the queue yet */
    txn_slab_pool slabs; /* memory of the records */
    atomic_int stop;
    pthread_t thread;
    bool running;
    bool diverged;   /* stopped because the server lacks what was read */
    int result;      /* 0, or the error that stopped the thread */
    char error[512]; /* its message */
} tail_reader;

/* Connects (synchronously, so that startup errors reach the caller), picks
 * the start (from: the checkpoint, or NULL to use mysql.start) and starts
 * the thread. metrics (copied; may be NULL) are the series it updates. Returns 0, or
 * MCSQ_ERR_CONNECT (server unreachable), MCSQ_ERR_CONFIG (the server cannot serve the tailer),
 * MCSQ_ERR_LIMIT (position purged, or the server lacks transactions of the
 * checkpoint: tail_reader_diverged()), with errstr. */
int tail_reader_start(tail_reader *r, const mcsq_config *cfg, txn_queue *queue,
                      const binlog_position *from, const tail_reader_metrics *metrics, char *errstr,
                      size_t errstr_size);

/* Asks the thread to stop without waiting (safe from any thread, e.g. a
 * signal-handling one); tail_reader_stop() then joins it. */
void tail_reader_request_stop(tail_reader *r);

/* Asks the thread to stop, waits for it and closes the queue. Returns the
 * thread's result (0 when it stopped because it was asked to). */
int tail_reader_stop(tail_reader *r);

/* Whether the thread ended by itself (an error); r->error says why. */
bool tail_reader_failed(tail_reader *r);

/* Whether the reader stopped (or did not start) because the server lacks
 * transactions it had already read (mysql.on_diverged = stop). Read it
 * once the thread stopped or tail_reader_start() failed. */
bool tail_reader_diverged(const tail_reader *r);

/* The binlog lag in seconds now (binlog_lag.h); a metrics_gauge_fn, ctx is
 * the started reader. Thread-safe. */
double tail_reader_lag_seconds(void *ctx);

void tail_reader_deinit(tail_reader *r);

#endif
