/*
 * `mcsqueal tail`: the tailer daemon. Follows the server's binlog as a
 * replica and publishes the keys of committed transactions to the bus,
 * checkpointing only what the bus acknowledged. Threads: the binlog reader,
 * the publisher (this thread), the signal thread, and librdkafka's own.
 */
#include "cli/commands.h"
#include "cli/daemon.h"
#include "core/log.h"
#include "core/metrics_defs.h"
#include "core/metrics_http.h"
#include "invalidator/publisher.h"
#include "mcsqueal/error.h"
#include "tailer/checkpoint.h"
#include "tailer/tail_reader.h"

#include <stdio.h>
#include <string.h>

#define FLUSH_TIMEOUT_MS 10000

static const char usage[] =
    "Usage: mcsqueal tail [--config FILE]\n\n"
    "Follows the MySQL/MariaDB binlog as a replica and publishes the cache keys of every\n"
    "committed transaction to the bus ([bus] brokers; `embedded` runs the bus in this\n"
    "process). Resumes from the checkpoint in state_dir, else from mysql.start.\n"
    "SIGTERM or SIGINT stop it gracefully; SIGHUP reopens the log file.\n\n"
    "Options:\n"
    "  -c, --config FILE   configuration file (default /etc/mcsqueal/mcsqueal.ini)\n"
    "  -h, --help          show this help\n\n"
    "Exit codes: 0 stopped on request, 1 runtime failure, 2 usage or configuration error.\n";

#ifndef MCSQ_VERSION
#define MCSQ_VERSION "unknown"
#endif

typedef struct tailer {
    daemon_ctx d;
    metrics_registry *reg;
    metrics_defs m;
    metrics_http *http;
    txn_queue queue;
    bool queue_ready;
    tail_reader reader;
    bool reader_started;
    publisher pub;
    bool pub_ready;
} tailer;

/* From the signal thread. Before the reader runs, start() sees d.stop. */
static void request_stop(void *ctx)
{
    tailer *t = ctx;
    if (__atomic_load_n(&t->reader_started, __ATOMIC_ACQUIRE))
        tail_reader_request_stop(&t->reader);
}

/* Maps a startup error of the reader to the contract's exit codes. */
static int startup_exit_code(int rc)
{
    return rc == MCSQ_ERR_CONFIG ? EXIT_USAGE : EXIT_RUNTIME;
}

static void reader_metrics(tailer *t, tail_reader_metrics *rm)
{
    memset(rm, 0, sizeof(*rm));
    rm->events = metrics_series_get0(t->m.binlog_events_total);
    rm->unknown_events = metrics_series_get0(t->m.unknown_events_total);
    rm->incidents = metrics_series_get0(t->m.incidents_total);
    rm->transactions = metrics_series_get0(t->m.transactions_total);
    rm->keys = metrics_series_get0(t->m.keys_total);
    rm->lag_seconds = metrics_series_get0(t->m.binlog_lag_seconds);
    for (int i = 0; i < ANNOTATION_REJECT_COUNT; i++)
        rm->rejected[i] =
            metrics_series_get1(t->m.keys_rejected_total, annotation_reject_name(i));
}

static void publisher_metrics_get(tailer *t, publisher_metrics *pm)
{
    pm->produced = metrics_series_get1(t->m.bus_messages_total, "produced");
    pm->acked = metrics_series_get1(t->m.bus_messages_total, "acked");
    pm->failed = metrics_series_get1(t->m.bus_messages_total, "failed");
    pm->inflight = metrics_series_get0(t->m.bus_inflight_messages);
    pm->checkpoint_offset = metrics_series_get0(t->m.checkpoint_offset);
    pm->checkpoint_file_index = metrics_series_get0(t->m.checkpoint_file_index);
}

/* The registry, and the HTTP exporter when [metrics] listen is set. */
static int start_metrics(tailer *t)
{
    char err[512], listen[300];
    t->reg = metrics_registry_new();
    if (t->reg == NULL ||
        metrics_defs_register(t->reg, MCSQ_VERSION, &t->m, err, sizeof(err)) != MCSQ_OK) {
        log_error("metrics: %s", t->reg ? err : "out of memory");
        return EXIT_RUNTIME;
    }
    const mcsq_hostport *hp = &t->d.cfg.metrics.listen;
    if (hp->host == NULL)
        return EXIT_OK;
    snprintf(listen, sizeof(listen), strchr(hp->host, ':') ? "[%s]:%d" : "%s:%d", hp->host,
             (int)hp->port);
    if (metrics_http_start(&t->http, t->reg, listen, err, sizeof(err)) != MCSQ_OK) {
        log_error("metrics: %s", err);
        return EXIT_RUNTIME;
    }
    log_info("metrics at http://%s/metrics", listen);
    return EXIT_OK;
}

static int load_checkpoint(tailer *t, binlog_resume *from, bool *have)
{
    char err[512];
    int rc = checkpoint_load(t->d.cfg.mcsqueal.state_dir, from, err, sizeof(err));
    *have = rc == MCSQ_OK;
    if (rc == MCSQ_OK || rc == MCSQ_ERR_EOF)
        return EXIT_OK;
    log_error("%s", err);
    return EXIT_RUNTIME;
}

static int start(tailer *t)
{
    char err[512];
    /* Signals first: threads created later (bus, producer, reader) inherit
     * the blocked mask, so only the signal thread receives them. */
    if (daemon_signals_start(&t->d, request_stop, t) != EXIT_OK)
        return EXIT_RUNTIME;
    int rc = daemon_prepare(&t->d);
    if (rc != EXIT_OK)
        return rc;
    if ((rc = start_metrics(t)) != EXIT_OK)
        return rc;
    if (txn_queue_init(&t->queue, (size_t)t->d.cfg.mcsqueal.queue_max_bytes) != MCSQ_OK)
        return EXIT_RUNTIME;
    t->queue_ready = true;
    publisher_metrics pm;
    publisher_metrics_get(t, &pm);
    if (publisher_init(&t->pub, &t->d.cfg, &t->queue, t->d.bootstrap, &t->d.stop, &pm, err,
                       sizeof(err)) != MCSQ_OK) {
        log_error("%s", err);
        return EXIT_USAGE;
    }
    t->pub_ready = true;
    metrics_gauge_set_fn(metrics_series_get0(t->m.checkpoint_age_seconds),
                         publisher_checkpoint_age, &t->pub);
    binlog_resume from;
    bool have_checkpoint;
    if ((rc = load_checkpoint(t, &from, &have_checkpoint)) != EXIT_OK)
        return rc;
    tail_reader_metrics rm;
    reader_metrics(t, &rm);
    int src = tail_reader_start(&t->reader, &t->d.cfg, &t->queue,
                                have_checkpoint ? &from : NULL, &rm, err, sizeof(err));
    if (have_checkpoint)
        checkpoint_position_free(&from);
    if (src != MCSQ_OK) {
        tail_reader_deinit(&t->reader);
        log_error("%s", err);
        return startup_exit_code(src);
    }
    __atomic_store_n(&t->reader_started, true, __ATOMIC_RELEASE);
    if (t->d.stop) /* a signal came while starting */
        tail_reader_request_stop(&t->reader);
    return EXIT_OK;
}

static int run(tailer *t)
{
    int prc = publisher_run(&t->pub, FLUSH_TIMEOUT_MS);
    int rrc = tail_reader_stop(&t->reader);
    if (prc != MCSQ_OK) {
        log_error("tail: stopped: %s", t->pub.error);
        return EXIT_RUNTIME;
    }
    if (rrc != MCSQ_OK) {
        log_error("tail: stopped: %s", t->reader.error);
        return EXIT_RUNTIME;
    }
    log_info("tail: stopped");
    return EXIT_OK;
}

static void finish(tailer *t)
{
    if (t->http != NULL)
        metrics_http_stop(t->http); /* no scrape may call into what follows */
    if (t->reader_started)
        tail_reader_deinit(&t->reader);
    if (t->pub_ready)
        publisher_deinit(&t->pub);
    if (t->queue_ready)
        txn_queue_deinit(&t->queue);
    metrics_registry_destroy(t->reg);
    daemon_finish(&t->d);
}

int cmd_tail(int argc, char **argv)
{
    static tailer t;
    memset(&t, 0, sizeof(t));
    int rc = daemon_load(&t.d, "tail", argc, argv, usage);
    if (rc >= 0) {
        daemon_finish(&t.d);
        return rc;
    }
    rc = start(&t);
    if (rc == EXIT_OK)
        rc = run(&t);
    finish(&t);
    return rc;
}
