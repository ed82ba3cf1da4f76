/*
 * Publisher (see publisher.h). Single-threaded: delivery reports are served
 * by bus_producer_poll() on this thread, so the tracker needs no lock.
 */
#include "tailer/publisher.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "mcsqueal/error.h"
#include "tailer/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 100
/* Records taken from the queue at a time: as many as a lazy hand-off wakes
 * the publisher for (TXN_QUEUE_WAKE_RECORDS), so that one step serves them. */
#define POP_MAX 512

static void fail(publisher *p, int rc, const char *msg)
{
    if (p->failed)
        return;
    p->failed = rc;
    snprintf(p->error, sizeof(p->error), "%s", msg);
    log_error("bus: %s", msg);
}

static void on_delivery(void *ctx, uint64_t token, int err, int64_t offset, const char *errstr)
{
    publisher *p = ctx;
    atomic_fetch_sub(&p->stats.inflight, 1);
    metrics_gauge_add(p->metrics.inflight, -1);
    if (err == MCSQ_OK) {
        atomic_fetch_add(&p->stats.messages_acked, 1);
        metrics_counter_inc(p->metrics.acked);
        ack_tracker_ack_offset(&p->acks, token, offset);
        log_debug("bus: message %llu acknowledged at offset %lld", (unsigned long long)token,
                  (long long)offset);
        return;
    }
    atomic_fetch_add(&p->stats.messages_failed, 1);
    metrics_counter_inc(p->metrics.failed);
    char msg[512];
    snprintf(msg, sizeof(msg),
             "a message could not be delivered (%s); stopping without "
             "moving the checkpoint past it",
             errstr);
    fail(p, MCSQ_ERR_CONNECT, msg);
}

static int on_batch(void *ctx, char *payload, size_t len, size_t nkeys, size_t ntxns,
                    const binlog_position *resume)
{
    publisher *p = ctx;
    (void)ntxns;
    uint64_t id = ack_tracker_add(&p->acks, resume);
    if (id == 0) {
        free(payload);
        return MCSQ_ERR_NOMEM;
    }
    if (payload == NULL) { /* only transactions without keys: nothing to send */
        ack_tracker_ack(&p->acks, id);
        return MCSQ_OK;
    }
    char err[512];
    atomic_fetch_add(&p->stats.inflight, 1);
    int rc = bus_producer_send(p->producer, payload, len, id, p->stop, err, sizeof(err));
    if (rc != MCSQ_OK) {
        atomic_fetch_sub(&p->stats.inflight, 1);
        if (rc != MCSQ_ERR_AGAIN)
            fail(p, rc, err);
        return rc;
    }
    atomic_fetch_add(&p->stats.messages_sent, 1);
    atomic_fetch_add(&p->stats.keys_sent, nkeys);
    metrics_counter_inc(p->metrics.produced);
    metrics_gauge_add(p->metrics.inflight, 1);
    return MCSQ_OK;
}

/* From a librdkafka thread: delivery reports wait to be served. */
static void wake_publisher(void *ctx)
{
    publisher *p = ctx;
    txn_queue_wake(p->queue);
}

int publisher_init(publisher *p, const mcsq_config *cfg, txn_queue *queue, const char *bootstrap,
                   const atomic_bool *stop, const publisher_metrics *metrics, char *errstr,
                   size_t errstr_size)
{
    memset(p, 0, sizeof(*p));
    if (metrics != NULL)
        p->metrics = *metrics;
    p->cfg = cfg;
    p->queue = queue;
    p->stop = stop;
    ack_tracker_init(&p->acks);
    if (batcher_init(&p->batcher, cfg->mcsqueal.name, cfg->mcsqueal.region,
                     (size_t)cfg->bus.batch_max_keys, (size_t)cfg->bus.batch_max_bytes,
                     (int)cfg->bus.linger_ms, on_batch, p) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    int rc = bus_producer_new(&p->producer, cfg, bootstrap, on_delivery, p, errstr, errstr_size);
    if (rc == MCSQ_OK) /* delivery reports end a wait on the queue */
        bus_producer_set_wakeup(p->producer, wake_publisher, p);
    return rc;
}

static uint64_t file_index(const char *file)
{
    const char *dot = strrchr(file, '.');
    return dot ? strtoull(dot + 1, NULL, 10) : 0;
}

void publisher_set_gate(publisher *p, int64_t (*gate)(void *ctx), void *ctx)
{
    p->gate = gate;
    p->gate_ctx = ctx;
    ack_tracker_set_gate(&p->acks, gate(ctx));
}

/* Writes the checkpoint when the watermark moved and it is time (or force). */
static void checkpoint(publisher *p, bool force)
{
    const binlog_position *pos;
    if (p->gate != NULL)
        ack_tracker_set_gate(&p->acks, p->gate(p->gate_ctx));
    if (ack_tracker_take_advance(&p->acks, &pos))
        p->dirty = true;
    int64_t now = clock_mono_us();
    if (!p->dirty || (!force && !clock_due(p->last_checkpoint_us,
                                           p->cfg->mcsqueal.checkpoint_interval_ms * 1000, now)))
        return;
    char err[512];
    pos = &p->acks.watermark;
    if (checkpoint_save(p->cfg->mcsqueal.state_dir, pos, err, sizeof(err)) != MCSQ_OK) {
        fail(p, MCSQ_ERR_IO, err);
        return;
    }
    p->dirty = false;
    p->last_checkpoint_us = now;
    atomic_fetch_add(&p->stats.checkpoints, 1);
    atomic_store(&p->stats.checkpoint_us, now);
    atomic_store(&p->stats.checkpoint_offset, pos->pos);
    atomic_store(&p->stats.checkpoint_file_index, file_index(pos->file));
    metrics_gauge_set(p->metrics.checkpoint_offset, (double)pos->pos);
    metrics_gauge_set(p->metrics.checkpoint_file_index, (double)file_index(pos->file));
}

double publisher_checkpoint_age(void *ctx)
{
    const publisher *p = ctx;
    int64_t at = atomic_load(&p->stats.checkpoint_us);
    return at == 0 ? -1.0 : (double)(clock_mono_us() - at) / 1e6;
}

/* Milliseconds (rounded up: never spin in the last one) until `due` us. */
static int64_t ms_until(int64_t due_us)
{
    return due_us > 0 ? (due_us + 999) / 1000 : 0;
}

/* Waits for the next transaction, at most until the open batch is due or a
 * moved watermark's checkpoint is (delivery reports wake it earlier). */
static int wait_ms(const publisher *p, int64_t now)
{
    int64_t wait = POLL_MS;
    int64_t due = batcher_due_in(&p->batcher, now);
    if (due >= 0 && ms_until(due) < wait)
        wait = ms_until(due);
    if (p->dirty) {
        int64_t ck = p->last_checkpoint_us + p->cfg->mcsqueal.checkpoint_interval_ms * 1000 - now;
        if (ms_until(ck) < wait)
            wait = ms_until(ck);
    }
    return (int)wait;
}

#define SPILL_CHUNK 4096

/* Publishes the spilled keys of a very large transaction, chunk by chunk,
 * before its in-memory ones (which complete it). */
static int add_spilled(publisher *p, const txn_record *rec)
{
    mcsq_key keys[SPILL_CHUNK];
    if (key_spill_rewind(rec->spill) != MCSQ_OK)
        return MCSQ_ERR_IO;
    long n;
    while ((n = key_spill_read(rec->spill, keys, SPILL_CHUNK)) > 0) {
        int rc = batcher_add_part(&p->batcher, rec, keys, (size_t)n, clock_mono_us());
        if (rc != MCSQ_OK)
            return rc;
        bus_producer_poll(p->producer, 0);
    }
    return n < 0 ? MCSQ_ERR_IO : MCSQ_OK;
}

static int add_record(publisher *p, const txn_record *rec, int64_t now)
{
    int rc = rec->spill != NULL ? add_spilled(p, rec) : MCSQ_OK;
    if (rc == MCSQ_ERR_IO)
        fail(p, rc, "cannot read back the spilled keys of a large transaction");
    return rc == MCSQ_OK ? batcher_add(&p->batcher, rec, now) : rc;
}

/* Takes up to POP_MAX records (waiting for the first), batches them, then
 * sends what is due, serves delivery reports and checkpoints. */
static int step(publisher *p)
{
    txn_batch got = {0};
    txn_queue_pop_batch(p->queue, &got, POP_MAX, wait_ms(p, clock_mono_us()));
    int64_t now = clock_mono_us();
    int rc = MCSQ_OK;
    txn_record *rec;
    while ((rec = txn_batch_take(&got)) != NULL) {
        if (rc == MCSQ_OK) /* after an error the rest is read again after restart */
            rc = add_record(p, rec, now);
        txn_record_free(rec);
    }
    if (rc == MCSQ_OK)
        rc = batcher_flush(&p->batcher, now, false);
    bus_producer_poll(p->producer, 0);
    checkpoint(p, false);
    return rc;
}

static void final_flush(publisher *p, int flush_timeout_ms)
{
    if (!p->failed && batcher_flush(&p->batcher, clock_mono_us(), true) != MCSQ_OK)
        log_warn("bus: the last batch could not be published; it is read again after restart");
    int64_t deadline = clock_mono_us() + (int64_t)flush_timeout_ms * 1000;
    while (bus_producer_inflight(p->producer) > 0 && clock_mono_us() < deadline && !p->failed)
        bus_producer_poll(p->producer, POLL_MS);
    if (bus_producer_inflight(p->producer) > 0)
        log_warn("bus: %zu messages unacknowledged at shutdown; they are published again "
                 "after restart",
                 bus_producer_inflight(p->producer));
    checkpoint(p, true);
}

int publisher_run(publisher *p, int flush_timeout_ms)
{
    char err[512];
    while (!p->failed && !txn_queue_drained(p->queue)) {
        int rc = step(p);
        if (rc == MCSQ_ERR_NOMEM)
            fail(p, rc, "out of memory");
        else if (rc != MCSQ_OK && rc != MCSQ_ERR_AGAIN && !p->failed)
            fail(p, rc, "publishing failed");
        if (bus_producer_fatal(p->producer, err, sizeof(err)))
            fail(p, MCSQ_ERR_CONNECT, err);
    }
    final_flush(p, flush_timeout_ms);
    return p->failed;
}

void publisher_deinit(publisher *p)
{
    bus_producer_destroy(p->producer);
    batcher_deinit(&p->batcher);
    ack_tracker_deinit(&p->acks);
}
