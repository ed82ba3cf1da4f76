/*
 * Metrics registry (see metrics.h): families and series kept under one mutex
 * for setup and scrapes, lock-free relaxed atomic updates on the hot path,
 * the Prometheus text rendering, and the quantile estimate from buckets.
 *
 * Each series is allocated on its own cache line so that threads updating
 * different series do not share lines. A histogram stores one non-cumulative
 * count per bucket; a scrape adds them up, so `_count` always equals the
 * `+Inf` bucket even while observations race with the scrape.
 */
#include "core/metrics.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERIES_ALIGN 64 /* a cache line */

const double metrics_lag_buckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
                                      0.5,    1,     2,     5,     10,   20,   30,   60};
const size_t metrics_lag_buckets_count = sizeof(metrics_lag_buckets) / sizeof(double);

struct metrics_series {
    /* counter: the count; gauge: the double's bits; histogram: the sum's bits */
    _Atomic uint64_t value;
    metrics_family *family; /* (ref) */
    metrics_series *next;   /* next in label-value order */
    metrics_gauge_fn fn;    /* gauge callback or NULL; under the registry mutex */
    void *fn_ctx;           /* (ref) */
    char *values[METRICS_MAX_LABELS];
    _Atomic uint64_t buckets[]; /* histogram: one count per bucket, not cumulative */
};

struct metrics_family {
    metrics_registry *reg; /* (ref) */
    metrics_type type;
    char *name;
    char *help;
    size_t nlabels;
    char *labels[METRICS_MAX_LABELS];
    double *bounds; /* histogram: nbounds upper bounds, the last +Inf */
    size_t nbounds;
    metrics_series *series; /* sorted by label values */
};

struct metrics_registry {
    pthread_mutex_t lock;
    metrics_family **families; /* in registration order */
    size_t n;
    size_t cap;
};

static uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

/* Adds d to the double stored as bits in *a. */
static void atomic_add_double(_Atomic uint64_t *a, double d)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, double_bits(bits_double(old) + d),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ---- registry ---- */

metrics_registry *metrics_registry_new(void)
{
    metrics_registry *reg = calloc(1, sizeof(*reg));
    if (reg == NULL)
        return NULL;
    if (pthread_mutex_init(&reg->lock, NULL) != 0) {
        free(reg);
        return NULL;
    }
    return reg;
}

static void series_free(metrics_series *s)
{
    for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free(s);
}

static void family_free(metrics_family *f)
{
    if (f == NULL)
        return;
    for (metrics_series *s = f->series, *next; s != NULL; s = next) {
        next = s->next;
        series_free(s);
    }
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->bounds);
    free(f->help);
    free(f->name);
    free(f);
}

void metrics_registry_destroy(metrics_registry *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->n; i++)
        family_free(reg->families[i]);
    free(reg->families);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

/* ---- family registration ---- */

static bool name_ok(const char *s)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':'))
            return false;
    }
    return true;
}

/* A label name: a metric name without ':', not reserved. */
static bool label_name_ok(const metrics_family *f, const char *s)
{
    if (!name_ok(s) || strchr(s, ':') != NULL || strncmp(s, "__", 2) == 0)
        return false;
    if (f->type == METRICS_HISTOGRAM && strcmp(s, "le") == 0)
        return false;
    for (size_t i = 0; i < f->nlabels; i++) {
        if (strcmp(f->labels[i], s) == 0)
            return false;
    }
    return true;
}

/* Adds one label name (the n bytes at s) to f. */
static int family_add_label(metrics_family *f, const char *s, size_t n, char *errstr,
                            size_t errstr_size)
{
    if (f->nlabels == METRICS_MAX_LABELS)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID, "metric %s: more than %d labels",
                          f->name, METRICS_MAX_LABELS);
    char *name = strndup(s, n);
    if (name == NULL)
        return MCSQ_ERR_NOMEM;
    if (!label_name_ok(f, name)) {
        errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                   "metric %s: invalid or repeated label name \"%s\"", f->name, name);
        free(name);
        return MCSQ_ERR_INVALID;
    }
    f->labels[f->nlabels++] = name;
    return MCSQ_OK;
}

/* Splits "a,b c" into label names. */
static int family_set_labels(metrics_family *f, const char *labels, char *errstr,
                             size_t errstr_size)
{
    static const char sep[] = ", ";
    const char *p = labels == NULL ? "" : labels;
    int rc = MCSQ_OK;
    while (rc == MCSQ_OK && *(p += strspn(p, sep)) != '\0') {
        size_t n = strcspn(p, sep);
        rc = family_add_label(f, p, n, errstr, errstr_size);
        p += n;
    }
    return rc;
}

/* Copies the bucket bounds and appends +Inf. */
static int family_set_buckets(metrics_family *f, const double *b, size_t n, char *errstr,
                              size_t errstr_size)
{
    if (b == NULL) {
        b = metrics_lag_buckets;
        n = metrics_lag_buckets_count;
    }
    if (n > 0 && isinf(b[n - 1]) && b[n - 1] > 0)
        n--;
    bool ok = n < METRICS_MAX_BUCKETS;
    for (size_t i = 0; ok && i < n; i++)
        ok = isfinite(b[i]) && (i == 0 || b[i] > b[i - 1]);
    if (!ok)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "metric %s: bucket bounds must be finite, strictly increasing and "
                          "fewer than %d",
                          f->name, METRICS_MAX_BUCKETS);
    f->bounds = malloc((n + 1) * sizeof(double));
    if (f->bounds == NULL)
        return MCSQ_ERR_NOMEM;
    if (n > 0)
        memcpy(f->bounds, b, n * sizeof(double));
    f->bounds[n] = INFINITY;
    f->nbounds = n + 1;
    return MCSQ_OK;
}

static metrics_series *series_new(metrics_family *f, const char *const *values)
{
    size_t size = sizeof(metrics_series) + f->nbounds * sizeof(_Atomic uint64_t);
    void *mem = NULL;
    size = (size + SERIES_ALIGN - 1) / SERIES_ALIGN * SERIES_ALIGN;
    if (posix_memalign(&mem, SERIES_ALIGN, size) != 0)
        return NULL;
    metrics_series *s = memset(mem, 0, size);
    atomic_init(&s->value, 0);
    for (size_t i = 0; i < f->nbounds; i++)
        atomic_init(&s->buckets[i], 0);
    s->family = f;
    for (size_t i = 0; i < f->nlabels; i++) {
        if ((s->values[i] = strdup(values[i])) == NULL) {
            series_free(s);
            return NULL;
        }
    }
    return s;
}

static int values_cmp(const metrics_family *f, char *const *a, const char *const *b)
{
    for (size_t i = 0; i < f->nlabels; i++) {
        int c = strcmp(a[i], b[i]);
        if (c != 0)
            return c;
    }
    return 0;
}

/* Finds or inserts the series with these values; the caller holds the lock
 * (or f is not yet published). */
static metrics_series *do_series_get(metrics_family *f, const char *const *values)
{
    metrics_series **pp = &f->series;
    int c = 1;
    while (*pp != NULL && (c = values_cmp(f, (*pp)->values, values)) < 0)
        pp = &(*pp)->next;
    if (*pp != NULL && c == 0)
        return *pp;
    metrics_series *s = series_new(f, values);
    if (s == NULL)
        return NULL;
    s->next = *pp;
    *pp = s;
    return s;
}

/* Appends f to the registry unless its name is taken; caller holds the lock. */
static int do_registry_add(metrics_registry *reg, metrics_family *f, char *errstr,
                           size_t errstr_size)
{
    for (size_t i = 0; i < reg->n; i++) {
        if (strcmp(reg->families[i]->name, f->name) == 0)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                              "metric %s is already registered", f->name);
    }
    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 32;
        metrics_family **v = realloc(reg->families, cap * sizeof(*v));
        if (v == NULL)
            return MCSQ_ERR_NOMEM;
        reg->families = v;
        reg->cap = cap;
    }
    reg->families[reg->n++] = f;
    return MCSQ_OK;
}

/* Fills a new family from spec (not yet published). */
static int family_init(metrics_family *f, const metrics_family_spec *spec, char *errstr,
                       size_t errstr_size)
{
    f->name = strdup(spec->name);
    f->help = strdup(spec->help != NULL ? spec->help : "");
    if (f->name == NULL || f->help == NULL)
        return MCSQ_ERR_NOMEM;
    int rc = family_set_labels(f, spec->labels, errstr, errstr_size);
    if (rc == MCSQ_OK && f->type == METRICS_HISTOGRAM)
        rc = family_set_buckets(f, spec->buckets, spec->nbuckets, errstr, errstr_size);
    if (rc == MCSQ_OK && f->nlabels == 0 && do_series_get(f, NULL) == NULL)
        rc = MCSQ_ERR_NOMEM;
    return rc;
}

int metrics_family_new(metrics_registry *reg, const metrics_family_spec *spec, metrics_family **out,
                       char *errstr, size_t errstr_size)
{
    int rc;
    metrics_family *f = NULL;
    if (!name_ok(spec->name))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID, "invalid metric name \"%s\"",
                          spec->name != NULL ? spec->name : "(null)");
    if (spec->type != METRICS_COUNTER && spec->type != METRICS_GAUGE &&
        spec->type != METRICS_HISTOGRAM)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID, "metric %s: unknown type %d",
                          spec->name, (int)spec->type);
    if ((f = calloc(1, sizeof(*f))) == NULL)
        return MCSQ_ERR_NOMEM;
    f->reg = reg;
    f->type = spec->type;
    if ((rc = family_init(f, spec, errstr, errstr_size)) != MCSQ_OK)
        goto err;
    pthread_mutex_lock(&reg->lock);
    rc = do_registry_add(reg, f, errstr, errstr_size);
    pthread_mutex_unlock(&reg->lock);
    if (rc != MCSQ_OK)
        goto err;
    *out = f;
    return MCSQ_OK;
err:
    family_free(f);
    return rc;
}

static metrics_family *family_new_simple(metrics_registry *reg, const metrics_family_spec *spec)
{
    metrics_family *f = NULL;
    return metrics_family_new(reg, spec, &f, NULL, 0) == MCSQ_OK ? f : NULL;
}

metrics_family *metrics_counter_new(metrics_registry *reg, const char *name, const char *help,
                                    const char *labels)
{
    metrics_family_spec spec = {METRICS_COUNTER, name, help, labels, NULL, 0};
    return family_new_simple(reg, &spec);
}

metrics_family *metrics_gauge_new(metrics_registry *reg, const char *name, const char *help,
                                  const char *labels)
{
    metrics_family_spec spec = {METRICS_GAUGE, name, help, labels, NULL, 0};
    return family_new_simple(reg, &spec);
}

metrics_family *metrics_histogram_new(metrics_registry *reg, const char *name, const char *help,
                                      const char *labels, const double *buckets, size_t nbuckets)
{
    metrics_family_spec spec = {METRICS_HISTOGRAM, name, help, labels, buckets, nbuckets};
    return family_new_simple(reg, &spec);
}

metrics_type metrics_family_type(const metrics_family *f)
{
    return f->type;
}

const char *metrics_family_name(const metrics_family *f)
{
    return f->name;
}

size_t metrics_family_label_count(const metrics_family *f)
{
    return f->nlabels;
}

const double *metrics_family_buckets(const metrics_family *f, size_t *n)
{
    *n = f->nbounds;
    return f->type == METRICS_HISTOGRAM ? f->bounds : NULL;
}

metrics_series *metrics_series_get(metrics_family *f, size_t n, const char *const *values)
{
    if (n != f->nlabels)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (values[i] == NULL)
            return NULL;
    }
    pthread_mutex_lock(&f->reg->lock);
    metrics_series *s = do_series_get(f, values);
    pthread_mutex_unlock(&f->reg->lock);
    return s;
}

/* ---- hot path ---- */

void metrics_counter_add(metrics_series *s, uint64_t n)
{
    if (s == NULL)
        return;
    assert(s->family->type == METRICS_COUNTER);
    atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void metrics_gauge_set(metrics_series *s, double v)
{
    if (s == NULL)
        return;
    assert(s->family->type == METRICS_GAUGE);
    atomic_store_explicit(&s->value, double_bits(v), memory_order_relaxed);
}

void metrics_gauge_add(metrics_series *s, double d)
{
    if (s == NULL)
        return;
    assert(s->family->type == METRICS_GAUGE);
    atomic_add_double(&s->value, d);
}

/* Index of the first bound >= v; the last bound is +Inf, so there is one. */
static size_t bucket_index(const double *bounds, size_t n, double v)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void metrics_histogram_observe(metrics_series *s, double v)
{
    if (s == NULL || isnan(v))
        return;
    const metrics_family *f = s->family;
    assert(f->type == METRICS_HISTOGRAM);
    size_t i = bucket_index(f->bounds, f->nbounds, v);
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&s->value, v);
}

int metrics_gauge_set_fn(metrics_series *s, metrics_gauge_fn fn, void *ctx)
{
    if (s->family->type != METRICS_GAUGE)
        return MCSQ_ERR_INVALID;
    pthread_mutex_lock(&s->family->reg->lock);
    s->fn = fn;
    s->fn_ctx = fn != NULL ? ctx : NULL;
    pthread_mutex_unlock(&s->family->reg->lock);
    return MCSQ_OK;
}

/* ---- reading ---- */

uint64_t metrics_counter_value(const metrics_series *s)
{
    return atomic_load_explicit(&s->value, memory_order_relaxed);
}

double metrics_gauge_value(const metrics_series *s)
{
    return bits_double(atomic_load_explicit(&s->value, memory_order_relaxed));
}

/* Copies the cumulative counts of s into cum[0..nbounds) and returns the sum. */
static double series_read_cumulative(const metrics_series *s, uint64_t *cum)
{
    uint64_t total = 0;
    for (size_t i = 0; i < s->family->nbounds; i++) {
        total += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        cum[i] = total;
    }
    return bits_double(atomic_load_explicit(&s->value, memory_order_relaxed));
}

int metrics_histogram_read(const metrics_series *s, uint64_t *cumulative, size_t n, double *sum)
{
    if (s->family->type != METRICS_HISTOGRAM || n != s->family->nbounds)
        return MCSQ_ERR_INVALID;
    double total = series_read_cumulative(s, cumulative);
    if (sum != NULL)
        *sum = total;
    return MCSQ_OK;
}

double metrics_quantile(double q, const double *bounds, const uint64_t *cumulative, size_t n)
{
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if (n < 2 || !(isinf(bounds[n - 1]) && bounds[n - 1] > 0) || cumulative[n - 1] == 0)
        return NAN;
    double rank = q * (double)cumulative[n - 1];
    size_t b = 0;
    while (b < n - 1 && (double)cumulative[b] < rank)
        b++;
    if (b == n - 1)
        return bounds[n - 2];
    if (b == 0 && bounds[0] <= 0)
        return bounds[0];
    double start = b == 0 ? 0 : bounds[b - 1];
    double below = b == 0 ? 0 : (double)cumulative[b - 1];
    double count = (double)cumulative[b] - below;
    if (count <= 0)
        return start;
    return start + (bounds[b] - start) * ((rank - below) / count);
}

/* ---- rendering ---- */

size_t metrics_format_double(char *buf, double v)
{
    int len;
    if (isnan(v))
        len = snprintf(buf, METRICS_DOUBLE_BUFSZ, "NaN");
    else if (isinf(v))
        len = snprintf(buf, METRICS_DOUBLE_BUFSZ, "%s", v > 0 ? "+Inf" : "-Inf");
    else {
        /* %.15g is exact for every decimal of up to 15 digits (DBL_DIG);
         * more digits only where the double needs them */
        for (int prec = 15;; prec++) {
            len = snprintf(buf, METRICS_DOUBLE_BUFSZ, "%.*g", prec, v);
            if (prec == 17 || strtod(buf, NULL) == v)
                break;
        }
    }
    return (size_t)len;
}

/* Appends s escaped for a HELP line (backslash, newline) or, with quote, for
 * a label value (also the double quote). */
static void append_escaped(strbuf *sb, const char *s, bool quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            strbuf_lit(sb, "\\\\");
        else if (*s == '\n')
            strbuf_lit(sb, "\\n");
        else if (*s == '"' && quote)
            strbuf_lit(sb, "\\\"");
        else
            strbuf_putc(sb, *s);
    }
}

static void append_str(strbuf *sb, const char *s)
{
    strbuf_append(sb, s, strlen(s));
}

static void render_header(strbuf *sb, const metrics_family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    strbuf_lit(sb, "# HELP ");
    append_str(sb, f->name);
    strbuf_putc(sb, ' ');
    append_escaped(sb, f->help, false);
    strbuf_lit(sb, "\n# TYPE ");
    append_str(sb, f->name);
    strbuf_putc(sb, ' ');
    append_str(sb, type_names[f->type]);
    strbuf_putc(sb, '\n');
}

static void render_label(strbuf *sb, const char *name, const char *value, bool first)
{
    if (!first)
        strbuf_putc(sb, ',');
    append_str(sb, name);
    strbuf_lit(sb, "=\"");
    append_escaped(sb, value, true);
    strbuf_putc(sb, '"');
}

/* One sample line: name+suffix, the series' labels (and le when not NULL),
 * the value text. */
static void render_sample(strbuf *sb, const metrics_series *s, const char *suffix, const char *le,
                          const char *value)
{
    const metrics_family *f = s->family;
    append_str(sb, f->name);
    append_str(sb, suffix);
    if (f->nlabels > 0 || le != NULL) {
        strbuf_putc(sb, '{');
        for (size_t i = 0; i < f->nlabels; i++)
            render_label(sb, f->labels[i], s->values[i], i == 0);
        if (le != NULL)
            render_label(sb, "le", le, f->nlabels == 0);
        strbuf_putc(sb, '}');
    }
    strbuf_putc(sb, ' ');
    append_str(sb, value);
    strbuf_putc(sb, '\n');
}

static void render_histogram(strbuf *sb, const metrics_series *s)
{
    const metrics_family *f = s->family;
    uint64_t cum[METRICS_MAX_BUCKETS];
    char le[METRICS_DOUBLE_BUFSZ], value[METRICS_DOUBLE_BUFSZ];
    double sum = series_read_cumulative(s, cum);
    for (size_t i = 0; i < f->nbounds; i++) {
        metrics_format_double(le, f->bounds[i]);
        snprintf(value, sizeof(value), "%" PRIu64, cum[i]);
        render_sample(sb, s, "_bucket", le, value);
    }
    metrics_format_double(value, sum);
    render_sample(sb, s, "_sum", NULL, value);
    snprintf(value, sizeof(value), "%" PRIu64, cum[f->nbounds - 1]);
    render_sample(sb, s, "_count", NULL, value);
}

/* Renders one series; the caller holds the lock (gauge callbacks). */
static void do_render_series(strbuf *sb, const metrics_series *s)
{
    char value[METRICS_DOUBLE_BUFSZ];
    switch (s->family->type) {
    case METRICS_COUNTER:
        snprintf(value, sizeof(value), "%" PRIu64, metrics_counter_value(s));
        render_sample(sb, s, "", NULL, value);
        break;
    case METRICS_GAUGE:
        metrics_format_double(value, s->fn != NULL ? s->fn(s->fn_ctx) : metrics_gauge_value(s));
        render_sample(sb, s, "", NULL, value);
        break;
    case METRICS_HISTOGRAM:
        render_histogram(sb, s);
        break;
    }
}

int metrics_registry_render(metrics_registry *reg, strbuf *out)
{
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->n; i++) {
        render_header(out, reg->families[i]);
        for (const metrics_series *s = reg->families[i]->series; s != NULL; s = s->next)
            do_render_series(out, s);
    }
    pthread_mutex_unlock(&reg->lock);
    return out->nomem ? MCSQ_ERR_NOMEM : MCSQ_OK;
}
