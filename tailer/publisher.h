/*
 * Publisher: the tailer's main loop on the bus side. Takes committed
 * transactions from the reader's queue, batches them into bus messages,
 * publishes them, follows their acknowledgements and writes the checkpoint
 * from the acknowledged watermark every mcsqueal.checkpoint_interval_ms and
 * at shutdown. Nothing is checkpointed before the bus has it.
 */
#ifndef MCSQ_TAILER_PUBLISHER_H
#define MCSQ_TAILER_PUBLISHER_H

#include "core/config.h"
#include "core/metrics.h"
#include "tailer/ack_tracker.h"
#include "tailer/batcher.h"
#include "bus/bus_producer.h"
#include "tailer/txn_queue.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct publisher_stats {
    _Atomic uint64_t messages_sent;
    _Atomic uint64_t messages_acked;
    _Atomic uint64_t messages_failed;
    _Atomic uint64_t keys_sent;
    _Atomic uint64_t checkpoints;
    _Atomic int64_t checkpoint_us;          /* when the last checkpoint was written (monotonic) */
    _Atomic uint64_t checkpoint_offset;     /* its position */
    _Atomic uint64_t checkpoint_file_index; /* numeric suffix of its file name */
    _Atomic uint64_t inflight;
} publisher_stats;

/* Metric series the publisher updates (any may be NULL). */
typedef struct publisher_metrics {
    metrics_series *produced;
    metrics_series *acked;
    metrics_series *failed;
    metrics_series *inflight;
    metrics_series *checkpoint_offset;
    metrics_series *checkpoint_file_index;
} publisher_metrics;

typedef struct publisher {
    const mcsq_config *cfg; /* (ref) */
    txn_queue *queue;       /* (ref) */
    bus_producer *producer;
    batcher batcher;
    ack_tracker acks;
    publisher_stats stats;
    publisher_metrics metrics;
    const atomic_bool *stop;    /* (ref) set on shutdown */
    int64_t (*gate)(void *ctx); /* see publisher_set_gate() */
    void *gate_ctx;
    int64_t last_checkpoint_us;
    bool dirty; /* the watermark moved since the last checkpoint */
    int failed; /* a permanent delivery failure or checkpoint error */
    char error[512];
} publisher;

/* Creates the producer (bootstrap: the bus address) and batcher; metrics
 * (copied; may be NULL) are the series it updates. Returns 0
 * or a negative mcsq_err with errstr. */
int publisher_init(publisher *p, const mcsq_config *cfg, txn_queue *queue, const char *bootstrap,
                   const atomic_bool *stop, const publisher_metrics *metrics, char *errstr,
                   size_t errstr_size);

/* Seconds since the last checkpoint was written (for a callback gauge;
 * safe from any thread); -1 before the first. */
double publisher_checkpoint_age(void *ctx);

/* Holds the checkpoint behind a consumer of the same bus (mcsqueal run with
 * the embedded bus, whose messages die with the process): gate(ctx) returns
 * the offset below which that consumer has processed every message. */
void publisher_set_gate(publisher *p, int64_t (*gate)(void *ctx), void *ctx);

/* Runs until the queue is closed and drained (the reader stopped), then
 * flushes: the open batch, the producer (up to flush_timeout_ms) and the
 * final checkpoint. Returns 0, or the error that stopped it (p->error). */
int publisher_run(publisher *p, int flush_timeout_ms);

void publisher_deinit(publisher *p);

#endif
