/*
 * A tiny program around the metrics exporter for test_metrics_http.py: it
 * registers the metrics of core/metrics_defs.h with known values (plus one
 * family whose help and label value need escaping), serves them on LISTEN,
 * prints "port N" once listening, and stops cleanly when its stdin closes.
 * With --churn, two threads keep updating a counter and a histogram while
 * the test scrapes.
 *
 * Usage: metrics_http_server LISTEN [--churn]
 * Exits 0 after a clean stop, 1 with the error on stderr when the exporter
 * cannot start, 2 on bad usage.
 */
#include "core/metrics.h"
#include "core/metrics_defs.h"
#include "core/metrics_http.h"
#include "mcsqueal/error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHURN_THREADS 2

/* What the churn threads update. */
typedef struct churn {
    metrics_series *events;
    metrics_series *lag;
    atomic_bool stop;
} churn;

static double checkpoint_age(void *ctx)
{
    return *(const double *)ctx;
}

static void set_values(metrics_defs *d)
{
    metrics_counter_add(metrics_series_get0(d->binlog_events_total), 1000);
    metrics_counter_add(metrics_series_get0(d->transactions_total), 100);
    metrics_counter_add(metrics_series_get0(d->keys_total), 250);
    metrics_counter_add(metrics_series_get1(d->keys_rejected_total, "too_long"), 3);
    metrics_counter_add(metrics_series_get1(d->keys_rejected_total, "control_char"), 1);
    metrics_gauge_set(metrics_series_get0(d->binlog_lag_seconds), 0.25);
    metrics_counter_add(metrics_series_get1(d->bus_messages_total, "ok"), 10);
    metrics_counter_add(metrics_series_get2(d->deletes_total, "main", "deleted"), 240);
    metrics_counter_add(metrics_series_get2(d->deletes_total, "main", "error"), 2);
    metrics_counter_add(metrics_series_get2(d->deletes_total, "gutter", "deleted"), 5);
    metrics_gauge_set(metrics_series_get0(d->spool_keys), 2);
    metrics_gauge_set(metrics_series_get0(d->checkpoint_offset), 8812);
    metrics_gauge_set(metrics_series_get0(d->checkpoint_file_index), 3);
    metrics_counter_add(metrics_series_get0(d->markers_cleared_total), 4);
    metrics_series *lag = metrics_series_get1(d->invalidation_lag_seconds, "a");
    metrics_histogram_observe(lag, 0.0007);
    metrics_histogram_observe(lag, 0.0015);
    metrics_histogram_observe(lag, 0.0015);
    metrics_histogram_observe(lag, 12);
    metrics_histogram_observe(metrics_series_get1(d->pipeline_latency_seconds, "a"), 0.0003);
}

static int add_escapes_family(metrics_registry *reg)
{
    metrics_family *f = metrics_gauge_new(reg, "mcsqueal_test_escapes",
                                          "Help with a backslash \\ and a\nnewline.", "v");
    metrics_series *s =
        f != NULL ? metrics_series_get1(f, "quote \" backslash \\ newline \n end") : NULL;
    metrics_gauge_set(s, 1);
    return s != NULL ? MCSQ_OK : MCSQ_ERR_NOMEM;
}

static void *churn_run(void *arg)
{
    churn *c = arg;
    for (uint64_t i = 0; !atomic_load_explicit(&c->stop, memory_order_relaxed); i++) {
        metrics_counter_inc(c->events);
        metrics_histogram_observe(c->lag, (double)(i % 1000) / 1000.0);
    }
    return NULL;
}

/* Blocks until stdin reaches end of file. */
static void wait_for_eof(void)
{
    char buf[256];
    while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
        ;
}

/* Serves reg on listen until stdin closes; returns the exit status. */
static int serve(metrics_registry *reg, const char *listen, churn *c, bool with_churn)
{
    char err[256];
    metrics_http *h = NULL;
    pthread_t t[CHURN_THREADS];
    if (metrics_http_start(&h, reg, listen, err, sizeof(err)) != MCSQ_OK) {
        fprintf(stderr, "metrics_http_server: %s\n", err);
        return 1;
    }
    for (int i = 0; with_churn && i < CHURN_THREADS; i++)
        pthread_create(&t[i], NULL, churn_run, c);
    printf("port %d\n", metrics_http_port(h));
    fflush(stdout);
    wait_for_eof();
    atomic_store(&c->stop, true);
    for (int i = 0; with_churn && i < CHURN_THREADS; i++)
        pthread_join(t[i], NULL);
    metrics_http_stop(h);
    return 0;
}

int main(int argc, char **argv)
{
    char err[256];
    metrics_defs defs;
    double age = 1.5;
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--churn") != 0)) {
        fprintf(stderr, "usage: metrics_http_server LISTEN [--churn]\n");
        return 2;
    }
    metrics_registry *reg = metrics_registry_new();
    if (reg == NULL || metrics_defs_register(reg, "test-1.0", &defs, err, sizeof(err)) != 0 ||
        add_escapes_family(reg) != MCSQ_OK) {
        fprintf(stderr, "metrics_http_server: cannot set up the registry\n");
        return 1;
    }
    set_values(&defs);
    metrics_gauge_set_fn(metrics_series_get0(defs.checkpoint_age_seconds), checkpoint_age, &age);
    churn c = {metrics_series_get0(defs.binlog_events_total),
               metrics_series_get1(defs.invalidation_lag_seconds, "churn"), false};
    int status = serve(reg, argv[1], &c, argc == 3);
    metrics_registry_destroy(reg);
    return status;
}
