/*
 * Unit tests of the metrics registry (core/metrics.c), the contract table
 * (core/metrics_defs.c) and the HTTP exporter's start, stop and errors
 * (core/metrics_http.c): values, validation, exact rendering with escaping,
 * the quantile estimate, exact sums under concurrent updates while scrapes
 * run, and docs/metrics.md naming every declared metric.
 */
#include "core/metrics.h"
#include "core/metrics_defs.h"
#include "core/metrics_http.h"
#include "mcsqueal/error.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "skip.h"

#define THREADS 4
#define INCREMENTS 1000000

#define assert_near(a, b, eps) assert_true(fabs((a) - (b)) <= (eps))

/* Renders reg into a NUL-terminated string (caller frees). */
static char *render(metrics_registry *reg)
{
    strbuf sb;
    strbuf_init(&sb);
    assert_int_equal(metrics_registry_render(reg, &sb), MCSQ_OK);
    strbuf_putc(&sb, '\0');
    return sb.buf;
}

static void assert_renders(metrics_registry *reg, const char *want)
{
    char *got = render(reg);
    assert_string_equal(got, want);
    free(got);
}

static void test_counter_and_gauge_values(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    metrics_family *c = metrics_counter_new(reg, "c_total", "C.", NULL);
    metrics_family *g = metrics_gauge_new(reg, "g", "G.", "");
    assert_non_null(c);
    assert_non_null(g);
    metrics_series *cs = metrics_series_get0(c), *gs = metrics_series_get0(g);
    metrics_counter_inc(cs);
    metrics_counter_add(cs, 41);
    assert_int_equal(metrics_counter_value(cs), 42);
    metrics_counter_add(cs, UINT64_C(1) << 40);
    assert_int_equal(metrics_counter_value(cs), (UINT64_C(1) << 40) + 42);
    assert_true(metrics_gauge_value(gs) == 0.0);
    metrics_gauge_set(gs, 2.5);
    metrics_gauge_add(gs, -4);
    assert_true(metrics_gauge_value(gs) == -1.5);
    /* NULL series: no-ops, so components run without a registry */
    metrics_counter_add(NULL, 1);
    metrics_gauge_set(NULL, 1);
    metrics_gauge_add(NULL, 1);
    metrics_histogram_observe(NULL, 1);
    metrics_registry_destroy(reg);
    metrics_registry_destroy(NULL);
}

static void test_series_identity(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    metrics_family *f = metrics_counter_new(reg, "d_total", "D.", "pool, result");
    assert_int_equal(metrics_family_label_count(f), 2);
    metrics_series *a = metrics_series_get2(f, "main", "ok");
    assert_non_null(a);
    assert_ptr_equal(metrics_series_get2(f, "main", "ok"), a);
    assert_ptr_not_equal(metrics_series_get2(f, "main", "error"), a);
    assert_ptr_not_equal(metrics_series_get2(f, "ok", "main"), a);
    assert_null(metrics_series_get1(f, "main"));
    assert_null(metrics_series_get3(f, "a", "b", "c"));
    assert_null(metrics_series_get2(f, "main", NULL));
    /* an unlabeled family has its series from the start */
    metrics_family *u = metrics_counter_new(reg, "u_total", "U.", NULL);
    assert_ptr_equal(metrics_series_get0(u), metrics_series_get0(u));
    assert_null(metrics_series_get1(u, "x"));
    metrics_registry_destroy(reg);
}

/* metrics_family_new's result for this spec; checks errstr when want_err. */
static int spec_rc(metrics_registry *reg, metrics_type type, const char *name, const char *labels,
                   const double *buckets, size_t nbuckets, const char *want_err)
{
    char err[200] = "";
    metrics_family *f = NULL;
    metrics_family_spec spec = {type, name, "help", labels, buckets, nbuckets};
    int rc = metrics_family_new(reg, &spec, &f, err, sizeof(err));
    if (want_err != NULL)
        assert_string_equal(err, want_err);
    return rc;
}

#define COUNTER_RC(name, want) spec_rc(reg, METRICS_COUNTER, name, NULL, NULL, 0, want)
#define GAUGE_RC(name, labels, want) spec_rc(reg, METRICS_GAUGE, name, labels, NULL, 0, want)
#define HIST_RC(name, b, n, want) spec_rc(reg, METRICS_HISTOGRAM, name, NULL, b, n, want)

static void test_family_validation(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    const double rising[] = {1, 2};
    const double flat[] = {1, 1};
    const double with_inf[] = {0.5, 1, INFINITY};
    const double with_nan[] = {0.5, NAN};
    double many[METRICS_MAX_BUCKETS];
    for (int i = 0; i < METRICS_MAX_BUCKETS; i++)
        many[i] = i;
    /* names */
    assert_int_equal(COUNTER_RC("1abc", "invalid metric name \"1abc\""), MCSQ_ERR_INVALID);
    assert_int_equal(COUNTER_RC("a-b", NULL), MCSQ_ERR_INVALID);
    assert_int_equal(COUNTER_RC("", NULL), MCSQ_ERR_INVALID);
    assert_int_equal(COUNTER_RC(NULL, NULL), MCSQ_ERR_INVALID);
    assert_int_equal(spec_rc(reg, (metrics_type)7, "x", NULL, NULL, 0, "metric x: unknown type 7"),
                     MCSQ_ERR_INVALID);
    assert_int_equal(COUNTER_RC("ns:ok_total", NULL), MCSQ_OK);
    assert_int_equal(GAUGE_RC("ns:ok_total", NULL, "metric ns:ok_total is already registered"),
                     MCSQ_ERR_INVALID);
    /* labels */
    assert_int_equal(spec_rc(reg, METRICS_HISTOGRAM, "h1", "le", NULL, 0,
                             "metric h1: invalid or repeated label name \"le\""),
                     MCSQ_ERR_INVALID);
    assert_int_equal(GAUGE_RC("g1", "le", NULL), MCSQ_OK);
    assert_int_equal(GAUGE_RC("g2", "a,a", NULL), MCSQ_ERR_INVALID);
    assert_int_equal(GAUGE_RC("g3", "__x", NULL), MCSQ_ERR_INVALID);
    assert_int_equal(GAUGE_RC("g4", "a:b", NULL), MCSQ_ERR_INVALID);
    assert_int_equal(GAUGE_RC("g5", "1a", NULL), MCSQ_ERR_INVALID);
    assert_int_equal(GAUGE_RC("g6", "a,b,c,d,e", "metric g6: more than 4 labels"),
                     MCSQ_ERR_INVALID);
    assert_int_equal(GAUGE_RC("g7", " a , b,c,d ", NULL), MCSQ_OK);
    /* buckets */
    assert_int_equal(HIST_RC("h2", flat, 2, NULL), MCSQ_ERR_INVALID);
    assert_int_equal(HIST_RC("h3", with_nan, 2, NULL), MCSQ_ERR_INVALID);
    assert_int_equal(HIST_RC("h4", many, METRICS_MAX_BUCKETS, NULL), MCSQ_ERR_INVALID);
    assert_int_equal(HIST_RC("h5", many, METRICS_MAX_BUCKETS - 1, NULL), MCSQ_OK);
    assert_int_equal(HIST_RC("h6", with_inf, 3, NULL), MCSQ_OK);
    assert_int_equal(HIST_RC("h7", rising, 0, NULL), MCSQ_OK);
    /* the failed names stayed free */
    assert_int_equal(HIST_RC("h2", rising, 2, NULL), MCSQ_OK);
    /* the shorthands return NULL on the same errors */
    assert_null(metrics_counter_new(reg, "bad name", "", NULL));
    assert_null(metrics_histogram_new(reg, "h8", "", NULL, flat, 2));
    metrics_registry_destroy(reg);
}

static void test_histogram_buckets(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    const double bounds[] = {0.5, 1, 2.5, INFINITY}; /* trailing +Inf is dropped */
    metrics_family *h = metrics_histogram_new(reg, "h_seconds", "H.", NULL, bounds, 4);
    size_t n;
    const double *b = metrics_family_buckets(h, &n);
    assert_int_equal(n, 4);
    assert_true(b[0] == 0.5 && b[1] == 1 && b[2] == 2.5 && isinf(b[3]));
    metrics_series *s = metrics_series_get0(h);
    const double obs[] = {-1, 0.5, 0.5000001, 1, 2.5, 3, 1e9, NAN};
    for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
        metrics_histogram_observe(s, obs[i]);
    uint64_t cum[4];
    double sum;
    assert_int_equal(metrics_histogram_read(s, cum, 4, &sum), MCSQ_OK);
    /* le is inclusive: 0.5 counts in the 0.5 bucket; NaN is ignored */
    assert_int_equal(cum[0], 2);
    assert_int_equal(cum[1], 4);
    assert_int_equal(cum[2], 5);
    assert_int_equal(cum[3], 7);
    assert_near(sum, -1 + 0.5 + 0.5000001 + 1 + 2.5 + 3 + 1e9, 1e-6);
    assert_int_equal(metrics_histogram_read(s, cum, 3, NULL), MCSQ_ERR_INVALID);
    /* default buckets: metrics_lag_buckets, +Inf appended */
    metrics_family *d = metrics_histogram_new(reg, "d_seconds", "D.", "cluster", NULL, 0);
    b = metrics_family_buckets(d, &n);
    assert_int_equal(n, metrics_lag_buckets_count + 1);
    assert_true(b[0] == 0.0005 && b[n - 2] == 60 && isinf(b[n - 1]));
    metrics_family *c = metrics_counter_new(reg, "c_total", "", NULL);
    assert_null(metrics_family_buckets(c, &n));
    assert_int_equal(metrics_histogram_read(metrics_series_get0(c), cum, 4, NULL),
                     MCSQ_ERR_INVALID);
    metrics_registry_destroy(reg);
}

static double fixed_value(void *ctx)
{
    return *(const double *)ctx;
}

static void test_render_exact(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    const double bounds[] = {0.1, 1};
    metrics_family *ev = metrics_counter_new(reg, "app_events_total", "Events read.", NULL);
    metrics_family *rej =
        metrics_counter_new(reg, "app_rejected_total", "Rejected \\ by\nreason.", "reason");
    metrics_family *lag = metrics_gauge_new(reg, "app_lag_seconds", "Lag.", NULL);
    metrics_family *age = metrics_gauge_new(reg, "app_age_seconds", "Age.", "file");
    metrics_family *lat =
        metrics_histogram_new(reg, "app_latency_seconds", "Latency.", "cluster,pool", bounds, 2);
    metrics_counter_add(metrics_series_get0(ev), 7);
    metrics_counter_add(metrics_series_get1(rej, "too_long"), 2);
    metrics_counter_add(metrics_series_get1(rej, "a\"b\\c\nd"), 1);
    metrics_gauge_set(metrics_series_get0(lag), 0.25);
    double age_value = 12.5;
    assert_int_equal(metrics_gauge_set_fn(metrics_series_get1(age, "x"), fixed_value, &age_value),
                     MCSQ_OK);
    metrics_series *b = metrics_series_get2(lat, "b", "main");
    metrics_series *a = metrics_series_get2(lat, "a", "main");
    metrics_histogram_observe(a, 0.05);
    metrics_histogram_observe(a, 0.5);
    metrics_histogram_observe(a, 4);
    (void)b;
    assert_renders(reg, "# HELP app_events_total Events read.\n"
                        "# TYPE app_events_total counter\n"
                        "app_events_total 7\n"
                        "# HELP app_rejected_total Rejected \\\\ by\\nreason.\n"
                        "# TYPE app_rejected_total counter\n"
                        "app_rejected_total{reason=\"a\\\"b\\\\c\\nd\"} 1\n"
                        "app_rejected_total{reason=\"too_long\"} 2\n"
                        "# HELP app_lag_seconds Lag.\n"
                        "# TYPE app_lag_seconds gauge\n"
                        "app_lag_seconds 0.25\n"
                        "# HELP app_age_seconds Age.\n"
                        "# TYPE app_age_seconds gauge\n"
                        "app_age_seconds{file=\"x\"} 12.5\n"
                        "# HELP app_latency_seconds Latency.\n"
                        "# TYPE app_latency_seconds histogram\n"
                        "app_latency_seconds_bucket{cluster=\"a\",pool=\"main\",le=\"0.1\"} 1\n"
                        "app_latency_seconds_bucket{cluster=\"a\",pool=\"main\",le=\"1\"} 2\n"
                        "app_latency_seconds_bucket{cluster=\"a\",pool=\"main\",le=\"+Inf\"} 3\n"
                        "app_latency_seconds_sum{cluster=\"a\",pool=\"main\"} 4.55\n"
                        "app_latency_seconds_count{cluster=\"a\",pool=\"main\"} 3\n"
                        "app_latency_seconds_bucket{cluster=\"b\",pool=\"main\",le=\"0.1\"} 0\n"
                        "app_latency_seconds_bucket{cluster=\"b\",pool=\"main\",le=\"1\"} 0\n"
                        "app_latency_seconds_bucket{cluster=\"b\",pool=\"main\",le=\"+Inf\"} 0\n"
                        "app_latency_seconds_sum{cluster=\"b\",pool=\"main\"} 0\n"
                        "app_latency_seconds_count{cluster=\"b\",pool=\"main\"} 0\n");
    metrics_registry_destroy(reg);
}

static void test_render_unlabeled_histogram_and_empty(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    assert_renders(reg, "");
    const double bounds[] = {1};
    metrics_family *h = metrics_histogram_new(reg, "h", "", NULL, bounds, 1);
    metrics_gauge_new(reg, "labeled", "No series yet.", "x");
    metrics_histogram_observe(metrics_series_get0(h), 0.1);
    metrics_histogram_observe(metrics_series_get0(h), 0.2);
    assert_renders(reg, "# HELP h \n"
                        "# TYPE h histogram\n"
                        "h_bucket{le=\"1\"} 2\n"
                        "h_bucket{le=\"+Inf\"} 2\n"
                        "h_sum 0.30000000000000004\n"
                        "h_count 2\n"
                        "# HELP labeled No series yet.\n"
                        "# TYPE labeled gauge\n");
    metrics_registry_destroy(reg);
}

static void test_series_order(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    metrics_family *f = metrics_counter_new(reg, "o_total", "", "p,r");
    const char *order[][2] = {{"z", "a"}, {"a", "b"}, {"m", "z"}, {"a", "a"}, {"ab", "a"}};
    for (size_t i = 0; i < 5; i++)
        metrics_counter_add(metrics_series_get2(f, order[i][0], order[i][1]), i);
    assert_renders(reg, "# HELP o_total \n"
                        "# TYPE o_total counter\n"
                        "o_total{p=\"a\",r=\"a\"} 3\n"
                        "o_total{p=\"a\",r=\"b\"} 1\n"
                        "o_total{p=\"ab\",r=\"a\"} 4\n"
                        "o_total{p=\"m\",r=\"z\"} 2\n"
                        "o_total{p=\"z\",r=\"a\"} 0\n");
    metrics_registry_destroy(reg);
}

static void assert_format(double v, const char *want)
{
    char buf[METRICS_DOUBLE_BUFSZ];
    size_t n = metrics_format_double(buf, v);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void test_format_double(void **state)
{
    (void)state;
    assert_format(0, "0");
    assert_format(1, "1");
    assert_format(0.1, "0.1");
    assert_format(0.0005, "0.0005");
    assert_format(-2.5, "-2.5");
    assert_format(1e-05, "1e-05");
    assert_format(123456789012.0, "123456789012");
    assert_format(0.1 + 0.2, "0.30000000000000004");
    assert_format(1.0 / 3, "0.3333333333333333");
    assert_format(1e300, "1e+300");
    assert_format(INFINITY, "+Inf");
    assert_format(-INFINITY, "-Inf");
    assert_format(NAN, "NaN");
    /* every output reads back as the same double */
    char buf[METRICS_DOUBLE_BUFSZ];
    srand(7);
    for (int i = 0; i < 100000; i++) {
        double v = ((double)rand() / RAND_MAX - 0.5) * pow(10, rand() % 40 - 20);
        metrics_format_double(buf, v);
        assert_true(strtod(buf, NULL) == v);
    }
}

static void test_quantile(void **state)
{
    (void)state;
    const double b[] = {0.001, 0.002, 0.005, INFINITY};
    const uint64_t c1[] = {50, 100, 100, 100};
    assert_near(metrics_quantile(0.5, b, c1, 4), 0.001, 1e-12);
    assert_near(metrics_quantile(0.75, b, c1, 4), 0.0015, 1e-12);
    assert_near(metrics_quantile(0.25, b, c1, 4), 0.0005, 1e-12);
    assert_near(metrics_quantile(1, b, c1, 4), 0.002, 1e-12);
    /* a rank in the +Inf bucket gives the highest finite bound */
    const uint64_t c2[] = {10, 10, 10, 20};
    assert_near(metrics_quantile(0.9, b, c2, 4), 0.005, 1e-12);
    assert_near(metrics_quantile(0.5, b, c2, 4), 0.001, 1e-12);
    /* q = 0 with an empty first bucket */
    const uint64_t c3[] = {0, 4, 4, 4};
    assert_near(metrics_quantile(0, b, c3, 4), 0, 1e-12);
    assert_near(metrics_quantile(0.5, b, c3, 4), 0.0015, 1e-12);
    /* no observations, too few buckets, no +Inf: NaN; q out of range: +-Inf */
    const uint64_t zero[] = {0, 0, 0, 0};
    assert_true(isnan(metrics_quantile(0.5, b, zero, 4)));
    assert_true(isnan(metrics_quantile(0.5, b + 3, c1 + 3, 1)));
    assert_true(isnan(metrics_quantile(0.5, b, c1, 3)));
    assert_true(isnan(metrics_quantile(NAN, b, c1, 4)));
    assert_true(isinf(metrics_quantile(-0.1, b, c1, 4)) && metrics_quantile(-0.1, b, c1, 4) < 0);
    assert_true(isinf(metrics_quantile(1.1, b, c1, 4)) && metrics_quantile(1.1, b, c1, 4) > 0);
    /* a negative first bound is returned as is */
    const double nb[] = {-1, 0, INFINITY};
    const uint64_t nc[] = {5, 10, 10};
    assert_near(metrics_quantile(0.2, nb, nc, 3), -1, 1e-12);
}

/* The default buckets read a 1 ms median and a 10 s outage. */
static void test_quantile_from_lag_buckets(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    metrics_family *h = metrics_histogram_new(reg, "lag_seconds", "", NULL, NULL, 0);
    metrics_series *s = metrics_series_get0(h);
    for (int i = 0; i < 1000; i++)
        metrics_histogram_observe(s, 0.0006 + 0.0008 * i / 1000.0); /* 0.6 .. 1.4 ms */
    for (int i = 0; i < 20; i++)
        metrics_histogram_observe(s, 9 + i * 0.05); /* the outage: 9 .. 10 s */
    size_t n;
    const double *bounds = metrics_family_buckets(h, &n);
    uint64_t cum[METRICS_MAX_BUCKETS];
    assert_int_equal(metrics_histogram_read(s, cum, n, NULL), MCSQ_OK);
    double p50 = metrics_quantile(0.5, bounds, cum, n);
    double p999 = metrics_quantile(0.999, bounds, cum, n);
    assert_true(p50 > 0.0008 && p50 < 0.0012);
    assert_true(p999 > 5 && p999 <= 10);
    metrics_registry_destroy(reg);
}

static void test_gauge_callback(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    metrics_family *g = metrics_gauge_new(reg, "age", "", NULL);
    metrics_family *c = metrics_counter_new(reg, "n_total", "", NULL);
    metrics_series *s = metrics_series_get0(g);
    double v = 3;
    metrics_gauge_set(s, 1);
    assert_int_equal(metrics_gauge_set_fn(s, fixed_value, &v), MCSQ_OK);
    assert_renders(reg, "# HELP age \n# TYPE age gauge\nage 3\n"
                        "# HELP n_total \n# TYPE n_total counter\nn_total 0\n");
    v = 4.5;
    char *out = render(reg);
    assert_non_null(strstr(out, "\nage 4.5\n"));
    free(out);
    assert_int_equal(metrics_gauge_set_fn(s, NULL, NULL), MCSQ_OK);
    out = render(reg);
    assert_non_null(strstr(out, "\nage 1\n"));
    free(out);
    assert_int_equal(metrics_gauge_set_fn(metrics_series_get0(c), fixed_value, &v),
                     MCSQ_ERR_INVALID);
    metrics_registry_destroy(reg);
}

/* ---- concurrency ---- */

typedef struct worker_ctx {
    metrics_series *counter;
    metrics_series *gauge;
    metrics_series *hist;
    metrics_family *labeled;
    int id;
} worker_ctx;

static void *worker(void *arg)
{
    worker_ctx *w = arg;
    char label[16];
    for (int i = 0; i < INCREMENTS; i++) {
        metrics_counter_inc(w->counter);
        if (i % 8 == 0) {
            metrics_gauge_add(w->gauge, 1);
            metrics_histogram_observe(w->hist, 0.5);
        }
        if (i % 100000 == 0) { /* setup-time calls racing with scrapes */
            snprintf(label, sizeof(label), "w%d-%d", w->id, i);
            metrics_counter_inc(metrics_series_get1(w->labeled, label));
        }
    }
    return NULL;
}

static void *scraper(void *arg)
{
    metrics_registry *reg = arg;
    for (int i = 0; i < 50; i++)
        free(render(reg));
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    metrics_family *c = metrics_counter_new(reg, "hits_total", "", NULL);
    metrics_family *g = metrics_gauge_new(reg, "level", "", NULL);
    metrics_family *h = metrics_histogram_new(reg, "lat_seconds", "", NULL, NULL, 0);
    metrics_family *l = metrics_counter_new(reg, "by_worker_total", "", "w");
    worker_ctx w[THREADS];
    pthread_t t[THREADS], scrape;
    assert_int_equal(pthread_create(&scrape, NULL, scraper, reg), 0);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker_ctx){metrics_series_get0(c), metrics_series_get0(g), metrics_series_get0(h),
                            l, i};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_join(scrape, NULL);
    assert_int_equal(metrics_counter_value(w[0].counter), (uint64_t)THREADS * INCREMENTS);
    assert_true(metrics_gauge_value(w[0].gauge) == THREADS * INCREMENTS / 8.0);
    size_t n;
    metrics_family_buckets(h, &n);
    uint64_t cum[METRICS_MAX_BUCKETS];
    double sum;
    assert_int_equal(metrics_histogram_read(w[0].hist, cum, n, &sum), MCSQ_OK);
    assert_int_equal(cum[n - 1], (uint64_t)THREADS * INCREMENTS / 8);
    assert_true(sum == THREADS * INCREMENTS / 16.0);
    char *out = render(reg);
    assert_non_null(strstr(out, "\nhits_total 4000000\n"));
    assert_non_null(strstr(out, "\nby_worker_total{w=\"w3-900000\"} 1\n"));
    free(out);
    metrics_registry_destroy(reg);
}

/* ---- the contract table ---- */

static void test_defs_register(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    metrics_defs defs;
    char err[200] = "";
    assert_int_equal(metrics_defs_register(reg, "1.2.3", &defs, err, sizeof(err)), MCSQ_OK);
    assert_string_equal(metrics_family_name(defs.keys_rejected_total),
                        "mcsqueal_keys_rejected_total");
    assert_int_equal(metrics_family_type(defs.invalidation_lag_seconds), METRICS_HISTOGRAM);
    assert_int_equal(metrics_family_label_count(defs.deletes_total), 2);
    assert_int_equal(metrics_family_type(defs.spool_keys), METRICS_GAUGE);
    assert_int_equal(metrics_def_count, sizeof(defs) / sizeof(metrics_family *));
    metrics_family **fams = (metrics_family **)&defs;
    for (size_t i = 0; i < metrics_def_count; i++) {
        assert_string_equal(metrics_family_name(fams[i]), metrics_def_table[i].name);
        assert_int_equal(metrics_family_type(fams[i]), metrics_def_table[i].type);
    }
    char *out = render(reg);
    assert_non_null(strstr(out, "\nmcsqueal_up 1\n"));
    assert_non_null(strstr(out, "\nmcsqueal_build_info{version=\"1.2.3\"} 1\n"));
    assert_non_null(strstr(out, "# TYPE mcsqueal_pipeline_latency_seconds histogram\n"));
    free(out);
    metrics_defs again;
    assert_int_equal(metrics_defs_register(reg, "1.2.3", &again, err, sizeof(err)),
                     MCSQ_ERR_INVALID);
    assert_string_equal(err, "metric mcsqueal_up is already registered");
    metrics_registry_destroy(reg);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The table row in docs/metrics.md: the line holding "`name`". */
static const char *doc_row(const char *doc, const char *name, char *row, size_t rowsz)
{
    char quoted[128];
    snprintf(quoted, sizeof(quoted), "`%s`", name);
    const char *p = strstr(doc, quoted);
    if (p == NULL)
        return NULL;
    while (p > doc && p[-1] != '\n')
        p--;
    size_t n = strcspn(p, "\n");
    snprintf(row, rowsz, "%.*s", (int)n, p);
    return row;
}

static void test_docs_name_every_metric(void **state)
{
    (void)state;
    static const char *const types[] = {"counter", "gauge", "histogram"};
    const char *src = getenv("MCSQ_SOURCE_DIR");
    char path[4096], row[1024], label[64];
    if (src == NULL)
        MCSQ_SKIP_TEST("source-dir", "MCSQ_SOURCE_DIR is not set (ctest sets it)");
    snprintf(path, sizeof(path), "%s/docs/metrics.md", src);
    const char *doc = read_file(path);
    assert_non_null(doc);
    for (size_t i = 0; i < metrics_def_count; i++) {
        const metrics_def *d = &metrics_def_table[i];
        if (doc_row(doc, d->name, row, sizeof(row)) == NULL)
            fail_msg("docs/metrics.md does not list %s", d->name);
        snprintf(label, sizeof(label), "| %s |", types[d->type]);
        if (strstr(row, label) == NULL)
            fail_msg("docs/metrics.md: %s is a %s: %s", d->name, types[d->type], row);
        for (const char *l = d->labels; *(l += strspn(l, ", ")) != '\0'; l += strcspn(l, ", ")) {
            snprintf(label, sizeof(label), "`%.*s`", (int)strcspn(l, ", "), l);
            if (strstr(row, label) == NULL)
                fail_msg("docs/metrics.md: %s has label %s: %s", d->name, label, row);
        }
    }
}

/* ---- the HTTP exporter ---- */

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* A socket listening on 127.0.0.1 at a free port; returns fd, sets *port. */
static int listen_any(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Sends request to 127.0.0.1:port and returns the whole response (static). */
static const char *http_exchange(int port, const char *request)
{
    static char resp[1 << 16];
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, resp + len, sizeof(resp) - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    resp[len] = '\0';
    return resp;
}

static void test_http_serves_registry(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    metrics_counter_add(metrics_series_get0(metrics_counter_new(reg, "x_total", "X.", NULL)), 5);
    metrics_http *h = NULL;
    char err[200] = "";
    int fds = count_fds();
    assert_int_equal(metrics_http_start(&h, reg, "127.0.0.1:0", err, sizeof(err)), MCSQ_OK);
    int port = metrics_http_port(h);
    assert_true(port > 0 && port < 65536);
    const char *r = http_exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                        "Connection: close\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 200 ", 13) == 0);
    assert_non_null(strstr(r, "\r\nContent-Type: " METRICS_HTTP_CONTENT_TYPE "\r\n"));
    const char *body = strstr(r, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, "# HELP x_total X.\n# TYPE x_total counter\nx_total 5\n");
    r = http_exchange(port, "GET /other HTTP/1.0\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.0 404 ", 13) == 0 || strncmp(r, "HTTP/1.1 404 ", 13) == 0);
    r = http_exchange(port, "DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 405 ", 13) == 0);
    assert_non_null(strstr(r, "\r\nAllow: GET, HEAD\r\n"));
    metrics_http_stop(h);
    assert_int_equal(count_fds(), fds);
    /* the port is free again */
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    assert_int_equal(metrics_http_start(&h, reg, listen, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(metrics_http_port(h), port);
    metrics_http_stop(h);
    metrics_http_stop(NULL);
    metrics_registry_destroy(reg);
}

static void test_http_bind_failure(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    metrics_http *h = NULL;
    char err[200] = "", listen[32], want[128];
    int port, fd = listen_any(&port);
    int fds = count_fds();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    assert_int_equal(metrics_http_start(&h, reg, listen, err, sizeof(err)), MCSQ_ERR_CONNECT);
    snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%d: Address already in use", port);
    assert_string_equal(err, want);
    assert_null(h);
    assert_int_equal(count_fds(), fds);
    close(fd);
    /* TEST-NET-1 is never a local address */
    assert_int_equal(metrics_http_start(&h, reg, "192.0.2.1:0", err, sizeof(err)),
                     MCSQ_ERR_CONNECT);
    assert_string_equal(err, "cannot listen on 192.0.2.1:0: Cannot assign requested address");
    metrics_registry_destroy(reg);
}

static void test_http_bad_listen(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",         "9187",      "127.0.0.1", "127.0.0.1:",      "127.0.0.1:x", "127.0.0.1:65536",
        "::1:9187", "[::1]9187", ":9187",     "127.0.0.1:123456"};
    metrics_registry *reg = metrics_registry_new();
    metrics_http *h = NULL;
    char err[200];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(metrics_http_start(&h, reg, bad[i], err, sizeof(err)), MCSQ_ERR_INVALID);
        assert_non_null(strstr(err, "is not host:port"));
    }
    assert_int_equal(metrics_http_start(&h, reg, "no-such-host.invalid:0", err, sizeof(err)),
                     MCSQ_ERR_INVALID);
    assert_true(strncmp(err, "cannot listen on no-such-host.invalid:0: ", 41) == 0);
    assert_null(h);
    metrics_registry_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge_values),
        cmocka_unit_test(test_series_identity),
        cmocka_unit_test(test_family_validation),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_render_unlabeled_histogram_and_empty),
        cmocka_unit_test(test_series_order),
        cmocka_unit_test(test_format_double),
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_quantile_from_lag_buckets),
        cmocka_unit_test(test_gauge_callback),
        cmocka_unit_test(test_concurrent_updates),
        cmocka_unit_test(test_defs_register),
        cmocka_unit_test(test_docs_name_every_metric),
        cmocka_unit_test(test_http_serves_registry),
        cmocka_unit_test(test_http_bind_failure),
        cmocka_unit_test(test_http_bad_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
