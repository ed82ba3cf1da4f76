/*
 * The tailer as a part of a daemon (see tail_app.h).
 */
#include "cli/tail_app.h"
#include "cli/commands.h"
#include "core/log.h"
#include "mcsqueal/error.h"
#include "tailer/checkpoint.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define FLUSH_TIMEOUT_MS 10000
#define DIVERGED_HOLD_MS 5000 /* see hold_diverged() */

void tail_app_request_stop(tail_app *t)
{
    /* before the reader runs, tail_app_start() sees d->stop itself */
    if (atomic_load(&t->reader_started))
        tail_reader_request_stop(&t->reader);
}

/* Maps a startup error of the reader to the contract's exit codes. */
static int startup_exit_code(int rc)
{
    return rc == MCSQ_ERR_CONFIG ? EXIT_USAGE : EXIT_RUNTIME;
}

static void reader_metrics(tail_app *t, tail_reader_metrics *rm)
{
    memset(rm, 0, sizeof(*rm));
    rm->events = metrics_series_get0(t->d->m.binlog_events_total);
    rm->unknown_events = metrics_series_get0(t->d->m.unknown_events_total);
    rm->incidents = metrics_series_get0(t->d->m.incidents_total);
    rm->transactions = metrics_series_get0(t->d->m.transactions_total);
    rm->keys = metrics_series_get0(t->d->m.keys_total);
    for (int i = 0; i < ANNOTATION_REJECT_COUNT; i++)
        rm->rejected[i] =
            metrics_series_get1(t->d->m.keys_rejected_total, annotation_reject_name(i));
    rm->diverged = metrics_series_get0(t->d->m.source_diverged);
    rm->ready = t->d->ready;
}

/* A source that lacks published transactions stops the tailer (exit 1);
 * mcsqueal_source_diverged stays scrapeable for DIVERGED_HOLD_MS first,
 * unless a signal asks to stop. */
static void hold_diverged(tail_app *t)
{
    if (!tail_reader_diverged(&t->reader) || t->d->http == NULL)
        return;
    log_info("tail: exiting in %d s; mcsqueal_source_diverged is 1 until then",
             DIVERGED_HOLD_MS / 1000);
    struct timespec step = {0, 100 * 1000000L};
    for (int waited = 0; waited < DIVERGED_HOLD_MS && !t->d->stop; waited += 100)
        nanosleep(&step, NULL);
}

static void publisher_metrics_get(tail_app *t, publisher_metrics *pm)
{
    pm->produced = metrics_series_get1(t->d->m.bus_messages_total, "produced");
    pm->acked = metrics_series_get1(t->d->m.bus_messages_total, "acked");
    pm->failed = metrics_series_get1(t->d->m.bus_messages_total, "failed");
    pm->inflight = metrics_series_get0(t->d->m.bus_inflight_messages);
    pm->checkpoint_offset = metrics_series_get0(t->d->m.checkpoint_offset);
    pm->checkpoint_file_index = metrics_series_get0(t->d->m.checkpoint_file_index);
}

static int load_checkpoint(tail_app *t, binlog_position *from, bool *have)
{
    char err[512];
    int rc = checkpoint_load(t->d->cfg.mcsqueal.state_dir, from, err, sizeof(err));
    *have = rc == MCSQ_OK;
    if (rc == MCSQ_OK || rc == MCSQ_ERR_EOF)
        return EXIT_OK;
    log_error("%s", err);
    return EXIT_RUNTIME;
}

/* The publisher, once the bus can be used. */
static int start_publisher(tail_app *t, uint64_t seq)
{
    char err[512];
    int rc = daemon_bus_ready(t->d);
    if (rc != EXIT_OK)
        return rc;
    publisher_metrics pm;
    publisher_metrics_get(t, &pm);
    if (publisher_init(&t->pub, &t->d->cfg, &t->queue, t->d->bootstrap, &t->d->stop, &pm, err,
                       sizeof(err)) != MCSQ_OK) {
        log_error("%s", err);
        return EXIT_USAGE;
    }
    t->pub_ready = true;
    batcher_set_seq(&t->pub.batcher, seq); /* the numbering continues from the checkpoint */
    metrics_gauge_set_fn(metrics_series_get0(t->d->m.checkpoint_age_seconds),
                         publisher_checkpoint_age, &t->pub);
    return EXIT_OK;
}

/* The reader first: it connects to MySQL while an embedded bus starts, and
 * queues what it reads until the publisher takes it (the queue's bound
 * holds it back meanwhile). */
int tail_app_start(tail_app *t, daemon_ctx *d)
{
    char err[512];
    int rc;
    t->d = d; /* t is zeroed: the signal thread may read reader_started already */
    readiness_require(d->ready, READINESS_TAILER, "tailer: connecting to MySQL");
    if (txn_queue_init(&t->queue, (size_t)t->d->cfg.mcsqueal.queue_max_bytes) != MCSQ_OK)
        return EXIT_RUNTIME;
    t->queue_ready = true;
    binlog_position from;
    bool have_checkpoint;
    if ((rc = load_checkpoint(t, &from, &have_checkpoint)) != EXIT_OK)
        return rc;
    tail_reader_metrics rm;
    reader_metrics(t, &rm);
    int src = tail_reader_start(&t->reader, &t->d->cfg, &t->queue, have_checkpoint ? &from : NULL,
                                &rm, err, sizeof(err));
    if (src != MCSQ_OK) {
        log_error("%s", err);
        hold_diverged(t);
        tail_reader_deinit(&t->reader);
        return startup_exit_code(src);
    }
    atomic_store(&t->reader_started, true);
    metrics_gauge_set_fn(metrics_series_get0(t->d->m.binlog_lag_seconds), tail_reader_lag_seconds,
                         &t->reader);
    if (atomic_load(&t->d->stop)) /* a signal came while starting */
        tail_reader_request_stop(&t->reader);
    return start_publisher(t, have_checkpoint ? from.seq : 0);
}

int tail_app_run(tail_app *t)
{
    int prc = publisher_run(&t->pub, FLUSH_TIMEOUT_MS);
    int rrc = tail_reader_stop(&t->reader);
    if (prc != MCSQ_OK) {
        log_error("tail: stopped: %s", t->pub.error);
        return EXIT_RUNTIME;
    }
    if (rrc != MCSQ_OK) {
        log_error("tail: stopped: %s", t->reader.error);
        hold_diverged(t);
        return EXIT_RUNTIME;
    }
    log_info("tail: stopped");
    return EXIT_OK;
}

void tail_app_finish(tail_app *t)
{
    if (t->d == NULL)
        return; /* never started */
    /* no scrape may call into the publisher once it is freed */
    metrics_gauge_set_fn(metrics_series_get0(t->d->m.checkpoint_age_seconds), NULL, NULL);
    metrics_gauge_set_fn(metrics_series_get0(t->d->m.binlog_lag_seconds), NULL, NULL);
    if (atomic_load(&t->reader_started))
        tail_reader_deinit(&t->reader);
    if (t->pub_ready)
        publisher_deinit(&t->pub);
    if (t->queue_ready)
        txn_queue_deinit(&t->queue);
}
