/*
 * Metrics registry: counters, gauges and histograms with labels, rendered in
 * the Prometheus text exposition format 0.0.4 (served at /metrics by
 * core/metrics_http.c).
 *
 * Setup and hot path are split. At setup a component registers families
 * (name, help, label names) and asks for the series it will update (one per
 * combination of label values); that takes the registry's mutex. On the hot
 * path it updates those series with relaxed C11 atomics, without locks, from
 * any thread; a scrape reads them while they change. Series live as long as
 * the registry, so a series pointer never dangles while the registry exists.
 *
 * Update functions accept a NULL series and do nothing, so components can run
 * without a registry (unit tests, `mcsqueal scan`).
 *
 * Values: a counter is a uint64 count; a gauge is a double (stored as its bit
 * pattern in an atomic uint64) or a callback evaluated at scrape time; a
 * histogram has fixed upper bounds chosen at registration, one atomic count
 * per bucket, and a double sum. The tailer's and router's metrics are declared
 * once, in core/metrics_defs.h.
 */
#ifndef MCSQ_CORE_METRICS_H
#define MCSQ_CORE_METRICS_H

#include "core/strbuf.h"

#include <stddef.h>
#include <stdint.h>

/* Most label names one family may have. */
#define METRICS_MAX_LABELS 4

/* Most buckets one histogram may have, counting the implicit +Inf one. */
#define METRICS_MAX_BUCKETS 64

typedef enum metrics_type {
    METRICS_COUNTER = 0,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,
} metrics_type;

typedef struct metrics_registry metrics_registry;
typedef struct metrics_family metrics_family;
typedef struct metrics_series metrics_series;

/* A gauge evaluated at scrape time, on the scraping thread, with the
 * registry's mutex held: it must be thread-safe, quick, and must not call
 * back into the registry. */
typedef double (*metrics_gauge_fn)(void *ctx);

/* Upper bounds (seconds) of the default latency buckets, 0.5 ms to 60 s in
 * roughly 1-2-5 steps (+Inf is implicit): fine enough to read a 1 ms median
 * and to see a 10 s outage. */
extern const double metrics_lag_buckets[];
extern const size_t metrics_lag_buckets_count;

/* What metrics_family_new registers. */
typedef struct metrics_family_spec {
    metrics_type type;
    const char *name;      /* [a-zA-Z_:][a-zA-Z0-9_:]*, unique in the registry */
    const char *help;      /* one line; any text (escaped when rendered) */
    const char *labels;    /* label names separated by commas or spaces, e.g.
                            * "pool,result"; NULL or "" for none. Each is
                            * [a-zA-Z_][a-zA-Z0-9_]*, not "__"-prefixed, not "le"
                            * for a histogram; at most METRICS_MAX_LABELS. */
    const double *buckets; /* histogram: finite, strictly increasing upper
                            * bounds (a trailing +Inf is allowed and dropped),
                            * fewer than METRICS_MAX_BUCKETS; NULL means
                            * metrics_lag_buckets */
    size_t nbuckets;
} metrics_family_spec;

/* Returns a new, empty registry, or NULL when out of memory. */
metrics_registry *metrics_registry_new(void);

/* Frees the registry with all its families and series. No other thread may
 * use it or any of its series any more (stop the HTTP exporter first).
 * NULL is a no-op. */
void metrics_registry_destroy(metrics_registry *reg);

/* Registers a family; spec and its strings are copied. A family without
 * labels gets its one series at once (so it renders 0 from the start).
 * Families render in registration order. On success *out is the family,
 * owned by the registry. Returns 0, MCSQ_ERR_INVALID (a bad name, label or
 * bucket list, or a name already registered; reason in errstr) or
 * MCSQ_ERR_NOMEM. */
int metrics_family_new(metrics_registry *reg, const metrics_family_spec *spec, metrics_family **out,
                       char *errstr, size_t errstr_size);

/* Shorthands for metrics_family_new: return the family, or NULL when the
 * arguments break its rules or memory runs out. labels as in the spec. */
metrics_family *metrics_counter_new(metrics_registry *reg, const char *name, const char *help,
                                    const char *labels);
metrics_family *metrics_gauge_new(metrics_registry *reg, const char *name, const char *help,
                                  const char *labels);
metrics_family *metrics_histogram_new(metrics_registry *reg, const char *name, const char *help,
                                      const char *labels, const double *buckets, size_t nbuckets);

/* The family's type, name (borrowed) and number of label names. */
metrics_type metrics_family_type(const metrics_family *f);
const char *metrics_family_name(const metrics_family *f);
size_t metrics_family_label_count(const metrics_family *f);

/* A histogram family's bucket upper bounds (borrowed), the last one +Inf;
 * *n receives their number. NULL (and *n = 0) for other types. */
const double *metrics_family_buckets(const metrics_family *f, size_t *n);

/* Returns the series of f with these n label values (borrowed, copied when
 * the series is created), creating it on first request; the same pointer on
 * every later request. Label values may be any bytes but NUL. Takes the
 * registry's mutex: call at setup, keep the pointer, not on the hot path.
 * Returns NULL when n differs from the family's label count or memory runs
 * out. */
metrics_series *metrics_series_get(metrics_family *f, size_t n, const char *const *values);

static inline metrics_series *metrics_series_get0(metrics_family *f)
{
    return metrics_series_get(f, 0, NULL);
}

static inline metrics_series *metrics_series_get1(metrics_family *f, const char *v1)
{
    const char *const v[] = {v1};
    return metrics_series_get(f, 1, v);
}

static inline metrics_series *metrics_series_get2(metrics_family *f, const char *v1, const char *v2)
{
    const char *const v[] = {v1, v2};
    return metrics_series_get(f, 2, v);
}

static inline metrics_series *metrics_series_get3(metrics_family *f, const char *v1, const char *v2,
                                                  const char *v3)
{
    const char *const v[] = {v1, v2, v3};
    return metrics_series_get(f, 3, v);
}

/* Hot path: lock-free, any thread; s may be NULL (no-op). The series must be
 * of the family type the function names. */

/* Adds n to a counter. */
void metrics_counter_add(metrics_series *s, uint64_t n);

static inline void metrics_counter_inc(metrics_series *s)
{
    metrics_counter_add(s, 1);
}

/* Sets a gauge to v. */
void metrics_gauge_set(metrics_series *s, double v);

/* Adds d (possibly negative) to a gauge. */
void metrics_gauge_add(metrics_series *s, double d);

/* Records one observation in a histogram (usually seconds). It counts in the
 * first bucket whose upper bound is >= v, and adds v to the sum. NaN is
 * ignored. */
void metrics_histogram_observe(metrics_series *s, double v);

/* Makes a gauge series report fn(ctx) at every scrape instead of its stored
 * value; fn NULL goes back to the stored value. ctx is borrowed: clear the
 * callback (fn NULL) before freeing it; once this returns, no scrape calls
 * the old fn. Takes the registry's mutex. Returns 0 or MCSQ_ERR_INVALID (not
 * a gauge). */
int metrics_gauge_set_fn(metrics_series *s, metrics_gauge_fn fn, void *ctx);

/* Reading, for tests and in-process status; lock-free. */

/* A counter's current count. */
uint64_t metrics_counter_value(const metrics_series *s);

/* A gauge's stored value (not its callback's). */
double metrics_gauge_value(const metrics_series *s);

/* Copies a histogram series' cumulative bucket counts, in the order of
 * metrics_family_buckets (the last is the total count), into cumulative[0..n)
 * and its sum into *sum (when not NULL). n must be the family's bucket count.
 * Returns 0 or MCSQ_ERR_INVALID (not a histogram, or n wrong). */
int metrics_histogram_read(const metrics_series *s, uint64_t *cumulative, size_t n, double *sum);

/* Estimates the q-quantile (0 <= q <= 1) of a histogram from its buckets, as
 * Prometheus' histogram_quantile() does: bounds[0..n) are the ascending upper
 * bounds, the last +Inf; cumulative[0..n) the non-decreasing count of
 * observations <= each bound. Interpolates linearly inside the bucket that
 * holds the rank (from 0 for the first bucket); a rank in the +Inf bucket
 * gives the highest finite bound. Returns NaN when there are no observations,
 * n < 2 or the last bound is not +Inf; -Inf for q < 0 and +Inf for q > 1.
 * Pure function. */
double metrics_quantile(double q, const double *bounds, const uint64_t *cumulative, size_t n);

/* Appends every family, in registration order, with its series sorted by
 * label values, in the Prometheus text format 0.0.4. Takes the registry's
 * mutex and evaluates gauge callbacks. Returns 0 or MCSQ_ERR_NOMEM (out is
 * then incomplete). */
int metrics_registry_render(metrics_registry *reg, strbuf *out);

/* Formats v as Prometheus reads it: the shortest decimal that reads back as
 * the same double ("0.1", "1e-05", "3"), or "+Inf", "-Inf", "NaN". buf needs
 * METRICS_DOUBLE_BUFSZ bytes; returns the length written. */
#define METRICS_DOUBLE_BUFSZ 32
size_t metrics_format_double(char *buf, double v);

#endif
