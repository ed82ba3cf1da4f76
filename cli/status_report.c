/*
 * `mcsqueal status` text (see status_report.h). A section appears only for
 * the parts the daemon runs: the tailer when it publishes
 * (bus_messages_total{result="produced"} exists), one router section per
 * `cluster` label of the latency histograms.
 */
#include "cli/status_report.h"
#include "cli/status_audit.h"
#include "core/metrics.h"
#include "mcsqueal/error.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define P "mcsqueal_"
#define MAX_BUCKETS 64
#define MAX_CLUSTERS 16

typedef struct ctx {
    FILE *out;
    const prom_doc *before; /* may be NULL */
    const prom_doc *now;
    double dt;
} ctx;

static double value(const prom_doc *d, const char *name, const char *label, const char *v)
{
    return d == NULL ? NAN : prom_doc_sum(d, name, label, v);
}

/* "123", "123 (4.5/s)" when a rate is known. */
static void print_count(const ctx *c, const char *name, const char *label, const char *v)
{
    double now = value(c->now, name, label, v);
    double before = value(c->before, name, label, v);
    fprintf(c->out, "%.0f", isnan(now) ? 0 : now);
    if (!isnan(now) && !isnan(before) && c->dt > 0)
        fprintf(c->out, " (%.1f/s)", (now - before) / c->dt);
}

static void print_duration(FILE *out, double s)
{
    if (isnan(s))
        fprintf(out, "-");
    else if (s < 0.001)
        fprintf(out, "%.0f µs", s * 1e6);
    else if (s < 1)
        fprintf(out, "%.1f ms", s * 1e3);
    else
        fprintf(out, "%.2f s", s);
}

/* Reads histogram name{cluster} of d; *n 0 when absent. */
static void histogram(const prom_doc *d, const char *name, const char *cluster, double *bounds,
                      uint64_t *cum, size_t *n)
{
    *n = 0;
    if (d == NULL ||
        prom_doc_histogram(d, name, "cluster", cluster, bounds, cum, MAX_BUCKETS, n) != MCSQ_OK)
        *n = 0;
}

static void print_quantiles(FILE *out, const double *bounds, const uint64_t *cum, size_t n)
{
    fprintf(out, "p50 ");
    print_duration(out, metrics_quantile(0.5, bounds, cum, n));
    fprintf(out, ", p99 ");
    print_duration(out, metrics_quantile(0.99, bounds, cum, n));
}

/* One latency line: since start, and between the scrapes when the bounds
 * agree and something was observed. */
static void print_latency(const ctx *c, const char *title, const char *name, const char *cluster,
                          const char *what)
{
    double b1[MAX_BUCKETS], b0[MAX_BUCKETS];
    uint64_t c1[MAX_BUCKETS], c0[MAX_BUCKETS];
    size_t n1, n0;
    histogram(c->now, name, cluster, b1, c1, &n1);
    histogram(c->before, name, cluster, b0, c0, &n0);
    fprintf(c->out, "  %-18s", title);
    if (n1 == 0 || c1[n1 - 1] == 0) {
        fprintf(c->out, "no %s yet\n", what);
        return;
    }
    print_quantiles(c->out, b1, c1, n1);
    fprintf(c->out, " (%llu %s since start", (unsigned long long)c1[n1 - 1], what);
    bool same = n0 == n1 && memcmp(b0, b1, n1 * sizeof(double)) == 0 && c1[n1 - 1] > c0[n1 - 1];
    for (size_t i = 0; same && i < n1; i++) {
        same = c1[i] >= c0[i];
        c0[i] = c1[i] - (same ? c0[i] : 0);
    }
    if (same) {
        fprintf(c->out, "; last %.1f s: ", c->dt);
        print_quantiles(c->out, b1, c0, n1);
    }
    fprintf(c->out, ")\n");
}

static void tailer_section(const ctx *c)
{
    FILE *out = c->out;
    fprintf(out, "tailer\n  %-18sfile index %.0f, offset %.0f, written ", "checkpoint",
            value(c->now, P "checkpoint_file_index", NULL, NULL),
            value(c->now, P "checkpoint_offset", NULL, NULL));
    print_duration(out, value(c->now, P "checkpoint_age_seconds", NULL, NULL));
    fprintf(out, " ago\n  %-18s", "binlog lag");
    print_duration(out, value(c->now, P "binlog_lag_seconds", NULL, NULL));
    fprintf(out, "\n  %-18s", "binlog events");
    print_count(c, P "binlog_events_total", NULL, NULL);
    fprintf(out, "\n  %-18s", "transactions");
    print_count(c, P "transactions_total", NULL, NULL);
    fprintf(out, ", keys ");
    print_count(c, P "keys_total", NULL, NULL);
    fprintf(out, "\n  %-18sproduced ", "bus");
    print_count(c, P "bus_messages_total", "result", "produced");
    fprintf(out, ", acked %.0f, in flight %.0f\n",
            value(c->now, P "bus_messages_total", "result", "acked"),
            value(c->now, P "bus_inflight_messages", NULL, NULL));
}

static void consumer_lag(const ctx *c)
{
    fprintf(c->out, "  %-18s", "bus waiting");
    bool any = false;
    for (size_t i = 0; i < c->now->nsamples; i++) {
        const prom_sample *s = &c->now->samples[i];
        const char *p = prom_sample_label(s, "partition");
        if (p == NULL || strcmp(s->name, P "bus_consumer_lag_messages") != 0)
            continue;
        fprintf(c->out, "%spartition %s: %.0f", any ? ", " : "", p, s->value);
        any = true;
    }
    fprintf(c->out, "%s\n", any ? " messages" : "unknown (no partition assigned yet)");
}

static void router_section(const ctx *c, const char *cluster)
{
    FILE *out = c->out;
    fprintf(out, "router, cluster %s\n", cluster);
    print_latency(c, "invalidation lag", P "invalidation_lag_seconds", cluster,
                  "exact commit times");
    print_latency(c, "pipeline latency", P "pipeline_latency_seconds", cluster, "transactions");
    fprintf(out, "  %-18sconfirmed ", "deletes");
    print_count(c, P "deletes_total", "result", "confirmed");
    fprintf(out, ", spooled %.0f\n  %-18s%.0f keys waiting\n  %-18sconsumed ",
            value(c->now, P "deletes_total", "result", "spooled"), "spool",
            value(c->now, P "spool_keys", NULL, NULL), "bus");
    print_count(c, P "bus_messages_total", "result", "consumed");
    fprintf(out, "\n");
    consumer_lag(c);
}

/* Distinct cluster labels of the latency histograms' _count series. */
static size_t clusters(const prom_doc *d, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < d->nsamples; i++) {
        const prom_sample *s = &d->samples[i];
        const char *cl = prom_sample_label(s, "cluster");
        if (cl == NULL || (strcmp(s->name, P "invalidation_lag_seconds_count") != 0 &&
                           strcmp(s->name, P "pipeline_latency_seconds_count") != 0))
            continue;
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(out[j], cl) == 0;
        if (!seen && n < max)
            out[n++] = cl;
    }
    return n;
}

static void error_line(const ctx *c, bool *any, const char *what, const char *name,
                       const char *label, const char *v)
{
    double n = value(c->now, name, label, v);
    if (isnan(n) || n <= 0)
        return;
    fprintf(c->out, "%s%.0f %s", *any ? ", " : "", n, what);
    *any = true;
}

static void errors_section(const ctx *c)
{
    bool any = false;
    fprintf(c->out, "errors: ");
    error_line(c, &any, "bus delivery failures", P "bus_messages_total", "result", "failed");
    error_line(c, &any, "dead letters (state_dir/deadletter.jsonl)", P "bus_messages_total",
               "result", "poison");
    error_line(c, &any, "messages lost by the bus", P "bus_messages_total", "result", "lost");
    error_line(c, &any, "keys rejected", P "keys_rejected_total", NULL, NULL);
    error_line(c, &any, "deletes spooled", P "deletes_total", "result", "spooled");
    error_line(c, &any, "invalid keys", P "deletes_total", "result", "invalid");
    error_line(c, &any, "incidents", P "incidents_total", NULL, NULL);
    fprintf(c->out, "%s\n", any ? "" : "none");
}

void status_report(FILE *out, const char *url, const char *ready, const prom_doc *before,
                   const prom_doc *now, double dt_s)
{
    ctx c = {out, before, now, dt_s};
    const prom_sample *build = prom_doc_find(now, P "build_info", NULL, NULL);
    const char *version = build ? prom_sample_label(build, "version") : NULL;
    fprintf(out, "mcsqueal %s at %s: up", version ? version : "(unknown version)", url);
    if (ready != NULL)
        fprintf(out, ", %s%s", strcmp(ready, "ready") == 0 ? "" : "NOT READY: ", ready);
    if (before != NULL && dt_s > 0)
        fprintf(out, "; rates over %.1f s", dt_s);
    fprintf(out, "\n\n");
    bool tailer = prom_doc_find(now, P "bus_messages_total", "result", "produced") != NULL;
    if (tailer)
        tailer_section(&c);
    const char *names[MAX_CLUSTERS];
    size_t n = clusters(now, names, MAX_CLUSTERS);
    for (size_t i = 0; i < n; i++)
        router_section(&c, names[i]);
    if (!tailer && n == 0)
        fprintf(out, "neither a tailer nor a router reports metrics here\n");
    fprintf(out, "\n");
    status_audit(out, now);
    errors_section(&c);
}
