/*
 * Unit tests of the Prometheus text parser (core/prom_text.c): the format's
 * features (labels, escapes, special values, timestamps, comments, TYPE),
 * what mcsqueal's own exporter renders (a round trip through the registry,
 * then the histogram helper and metrics_quantile), every error with its line,
 * limits, and random mutations: never a crash or an over-read, and each
 * verdict the one the text's lines give alone.
 */
#include "core/metrics.h"
#include "core/metrics_defs.h"
#include "core/prom_text.h"
#include "mcsqueal/error.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char err[256];

/* Parses a malloc'd copy of exactly the text (ASan sees any over-read). */
static int parse(prom_doc *d, const char *text)
{
    size_t n = strlen(text);
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, text, n);
    err[0] = '\0';
    int rc = prom_text_parse(d, copy, n, 0, err, sizeof(err));
    free(copy);
    return rc;
}

static void test_basic(void **state)
{
    (void)state;
    prom_doc d;
    assert_int_equal(parse(&d, "# HELP a_total Things.\n"
                               "# TYPE a_total counter\n"
                               "a_total 42\n"
                               "\n"
                               "  # a free comment\n"
                               "b{x=\"1\",y=\"two\"} 3.5 1700000000000\n"
                               "b{ x = \"2\" , } -1e-3\n"
                               "c NaN\n"
                               "d +Inf\n"
                               "e\t-Inf"),
                     MCSQ_OK);
    assert_int_equal(d.nsamples, 6);
    assert_string_equal(d.samples[0].name, "a_total");
    assert_true(d.samples[0].value == 42);
    assert_string_equal(prom_doc_type(&d, "a_total"), "counter");
    assert_null(prom_doc_type(&d, "b"));
    assert_int_equal(d.samples[1].nlabels, 2);
    assert_string_equal(prom_sample_label(&d.samples[1], "y"), "two");
    assert_int_equal(d.samples[1].timestamp_ms, 1700000000000);
    assert_true(d.samples[2].value == -1e-3);
    assert_string_equal(prom_sample_label(&d.samples[2], "x"), "2");
    assert_true(isnan(d.samples[3].value));
    assert_true(isinf(d.samples[4].value) && d.samples[4].value > 0);
    assert_true(isinf(d.samples[5].value) && d.samples[5].value < 0);
    assert_true(prom_doc_sum(&d, "b", NULL, NULL) == 3.5 - 1e-3);
    assert_true(prom_doc_sum(&d, "b", "x", "2") == -1e-3);
    assert_true(isnan(prom_doc_sum(&d, "nope", NULL, NULL)));
    assert_non_null(prom_doc_find(&d, "b", "x", "1"));
    assert_null(prom_doc_find(&d, "b", "x", "3"));
    prom_doc_free(&d);
}

static void test_escapes(void **state)
{
    (void)state;
    prom_doc d;
    assert_int_equal(
        parse(&d, "m{a=\"q\\\"uote\",b=\"back\\\\slash\",c=\"new\\nline\",d=\"\"} 1\n"), MCSQ_OK);
    assert_string_equal(prom_sample_label(&d.samples[0], "a"), "q\"uote");
    assert_string_equal(prom_sample_label(&d.samples[0], "b"), "back\\slash");
    assert_string_equal(prom_sample_label(&d.samples[0], "c"), "new\nline");
    assert_string_equal(prom_sample_label(&d.samples[0], "d"), "");
    assert_string_equal(d.samples[0].name, "m");
    prom_doc_free(&d);
}

typedef struct bad {
    const char *text;
    int rc;
    const char *msg;
} bad;

static void test_errors(void **state)
{
    (void)state;
    static const bad cases[] = {
        {"1abc 1\n", MCSQ_ERR_CORRUPT, "line 1: expected a metric name"},
        {"ok 1\nm\n", MCSQ_ERR_CORRUPT, "line 2: expected a value after m"},
        {"m x\n", MCSQ_ERR_CORRUPT, "line 1: expected a number after m"},
        {"m 1 2 3\n", MCSQ_ERR_CORRUPT, "line 1: unexpected text after the sample of m"},
        {"m 1 1.5\n", MCSQ_ERR_CORRUPT, "line 1: expected a timestamp (integer ms), got \"1.5\""},
        {"m{a=1} 1\n", MCSQ_ERR_CORRUPT, "line 1: expected '\"' to open a label value"},
        {"m{a=\"1} 1\n", MCSQ_ERR_CORRUPT, "line 1: unterminated label value"},
        {"m{a=\"\\t\"} 1\n", MCSQ_ERR_CORRUPT, "line 1: invalid escape \\t in a label value"},
        {"m{a=\"1\" b=\"2\"} 1\n", MCSQ_ERR_CORRUPT, "line 1: expected ',' or '}' after a label"},
        {"m{a=\"1\",a=\"2\"} 1\n", MCSQ_ERR_CORRUPT, "line 1: label a given twice"},
        {"m{1=\"1\"} 1\n", MCSQ_ERR_CORRUPT, "line 1: expected a label name"},
        {"m{a:b=\"1\"} 1\n", MCSQ_ERR_CORRUPT, "line 1: expected '=' after label a"},
        {"m(1) 1\n", MCSQ_ERR_CORRUPT, "line 1: unexpected '(' after the metric name"},
        {"# TYPE m nonsense\n", MCSQ_ERR_CORRUPT, "line 1: bad TYPE line for m"},
        {"# TYPE m counter\n# TYPE m gauge\n", MCSQ_ERR_CORRUPT, "line 2: second TYPE for m"},
        {"# TYPE\n", MCSQ_ERR_CORRUPT, "line 1: expected a metric name after # TYPE"},
        {"m 0x10\n", MCSQ_ERR_CORRUPT, "line 1: expected a number after m"},
        {"m infinity\n", MCSQ_ERR_CORRUPT, "line 1: expected a number after m"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        prom_doc d;
        int rc = parse(&d, cases[i].text);
        if (rc != cases[i].rc || strcmp(err, cases[i].msg) != 0)
            print_error("input %s\n want %d %s\n got  %d %s\n", cases[i].text, cases[i].rc,
                        cases[i].msg, rc, err);
        assert_int_equal(rc, cases[i].rc);
        assert_string_equal(err, cases[i].msg);
        assert_int_equal(d.nsamples, 0);
        prom_doc_free(&d);
    }
    prom_doc d;
    assert_int_equal(prom_text_parse(&d, "m 1\0", 4, 0, err, sizeof(err)), MCSQ_ERR_CORRUPT);
    prom_doc_free(&d);
}

static void test_limits(void **state)
{
    (void)state;
    prom_doc d;
    const char *three = "a 1\nb 2\nc 3\n";
    assert_int_equal(prom_text_parse(&d, three, strlen(three), 2, err, sizeof(err)),
                     MCSQ_ERR_LIMIT);
    assert_string_equal(err, "line 3: more than 2 samples");
    prom_doc_free(&d);
    char line[1024] = "m{";
    for (int i = 0; i <= PROM_MAX_LABELS; i++)
        snprintf(line + strlen(line), sizeof(line) - strlen(line), "l%d=\"v\",", i);
    strcat(line, "} 1\n");
    assert_int_equal(parse(&d, line), MCSQ_ERR_LIMIT);
    prom_doc_free(&d);
    assert_int_equal(parse(&d, ""), MCSQ_OK); /* empty is a valid, empty scrape */
    assert_int_equal(d.nsamples, 0);
    prom_doc_free(&d);
}

/* What mcsqueal renders parses back, and the histogram helper gives the
 * registry's own quantiles. */
static void test_round_trip_registry(void **state)
{
    (void)state;
    metrics_registry *reg = metrics_registry_new();
    metrics_defs defs;
    assert_int_equal(metrics_defs_register(reg, "1.2.3", &defs, NULL, 0), MCSQ_OK);
    metrics_series *h = metrics_series_get1(defs.invalidation_lag_seconds, "a \"quoted\" \\ c");
    metrics_series *h2 = metrics_series_get1(defs.invalidation_lag_seconds, "b");
    for (int i = 1; i <= 1000; i++)
        metrics_histogram_observe(h, i / 1e5); /* 10 µs .. 10 ms */
    metrics_histogram_observe(h2, 12.0);
    metrics_counter_add(metrics_series_get2(defs.deletes_total, "main", "confirmed"), 7);
    strbuf sb;
    strbuf_init(&sb);
    assert_int_equal(metrics_registry_render(reg, &sb), MCSQ_OK);
    prom_doc d;
    assert_int_equal(prom_text_parse(&d, sb.buf, sb.len, 0, err, sizeof(err)), MCSQ_OK);
    assert_string_equal(prom_doc_type(&d, "mcsqueal_invalidation_lag_seconds"), "histogram");
    assert_true(prom_doc_sum(&d, "mcsqueal_deletes_total", "result", "confirmed") == 7);
    assert_string_equal(
        prom_sample_label(prom_doc_find(&d, "mcsqueal_build_info", NULL, NULL), "version"),
        "1.2.3");
    double bounds[METRICS_MAX_BUCKETS], want_b[METRICS_MAX_BUCKETS];
    uint64_t cum[METRICS_MAX_BUCKETS], want_c[METRICS_MAX_BUCKETS];
    size_t n, wn;
    assert_int_equal(prom_doc_histogram(&d, "mcsqueal_invalidation_lag_seconds", "cluster",
                                        "a \"quoted\" \\ c", bounds, cum, METRICS_MAX_BUCKETS, &n),
                     MCSQ_OK);
    const double *fb = metrics_family_buckets(defs.invalidation_lag_seconds, &wn);
    memcpy(want_b, fb, wn * sizeof(double));
    assert_int_equal(metrics_histogram_read(h, want_c, wn, NULL), MCSQ_OK);
    assert_int_equal(n, wn);
    assert_memory_equal(bounds, want_b, n * sizeof(double));
    assert_memory_equal(cum, want_c, n * sizeof(uint64_t));
    assert_true(metrics_quantile(0.5, bounds, cum, n) == metrics_quantile(0.5, want_b, want_c, wn));
    /* all clusters together: one more observation, in the 20 s bucket */
    assert_int_equal(prom_doc_histogram(&d, "mcsqueal_invalidation_lag_seconds", NULL, NULL, bounds,
                                        cum, METRICS_MAX_BUCKETS, &n),
                     MCSQ_OK);
    assert_int_equal(cum[n - 1], 1001);
    assert_int_equal(
        prom_doc_histogram(&d, "mcsqueal_invalidation_lag_seconds", NULL, NULL, bounds, cum, 3, &n),
        MCSQ_ERR_LIMIT);
    assert_int_equal(prom_doc_histogram(&d, "mcsqueal_nothing", NULL, NULL, bounds, cum,
                                        METRICS_MAX_BUCKETS, &n),
                     MCSQ_ERR_EOF);
    prom_doc_free(&d);
    strbuf_deinit(&sb);
    metrics_registry_destroy(reg);
}

static bool same_sample(const prom_sample *a, const prom_sample *b)
{
    if (strcmp(a->name, b->name) != 0 || a->nlabels != b->nlabels ||
        a->timestamp_ms != b->timestamp_ms ||
        !(a->value == b->value || (isnan(a->value) && isnan(b->value))))
        return false;
    for (size_t i = 0; i < a->nlabels; i++) {
        if (strcmp(a->labels[i].name, b->labels[i].name) != 0 ||
            strcmp(a->labels[i].value, b->labels[i].value) != 0)
            return false;
    }
    return true;
}

typedef struct text {
    char buf[4096];
    size_t len;
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(t->buf) - t->len);
    t->len += (size_t)n;
}

/* The sample as one canonical line: escaped label values, %.17g values. */
static void render_sample(const prom_sample *s, text *t)
{
    put(t, "%s{", s->name);
    for (size_t i = 0; i < s->nlabels; i++) {
        put(t, "%s=\"", s->labels[i].name);
        for (const char *v = s->labels[i].value; *v != '\0'; v++) {
            if (*v == '\n' || *v == '"' || *v == '\\')
                put(t, "\\%c", *v == '\n' ? 'n' : *v);
            else
                put(t, "%c", *v);
        }
        put(t, "\",");
    }
    if (isnan(s->value))
        put(t, "} NaN");
    else if (isinf(s->value))
        put(t, "} %sInf", s->value > 0 ? "+" : "-");
    else
        put(t, "} %.17g", s->value);
    if (s->timestamp_ms != 0)
        put(t, " %lld", (long long)s->timestamp_ms);
}

/* What a text must parse to when each line is judged alone: the lines hold
 * no state but the families' TYPEs (a second TYPE of a name fails). */
typedef struct expect {
    int rc;          /* of the whole text */
    size_t bad_line; /* 1-based line of the failure */
    prom_sample samples[16];
    size_t nsamples;
    prom_doc docs[16]; /* of each line, keeping the samples' strings */
    size_t ndocs;
} expect;

static void expect_lines(expect *x, const char *buf, size_t len)
{
    memset(x, 0, sizeof(*x));
    const char *types[16];
    size_t ntypes = 0, line = 0;
    for (const char *p = buf, *end = buf + len; p < end && x->rc == MCSQ_OK;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        prom_doc *d = &x->docs[x->ndocs++];
        line++;
        x->rc = prom_text_parse(d, p, n, 0, err, sizeof(err));
        for (size_t f = 0; x->rc == MCSQ_OK && f < d->nfamilies; f++) {
            for (size_t i = 0; i < ntypes; i++) {
                if (strcmp(types[i], d->families[f].name) == 0)
                    x->rc = MCSQ_ERR_CORRUPT; /* a second TYPE */
            }
            types[ntypes++] = d->families[f].name;
        }
        for (size_t i = 0; x->rc == MCSQ_OK && i < d->nsamples; i++)
            x->samples[x->nsamples++] = d->samples[i];
        x->bad_line = line;
        p = nl ? nl + 1 : end;
    }
}

static void expect_free(expect *x)
{
    for (size_t i = 0; i < x->ndocs; i++)
        prom_doc_free(&x->docs[i]);
}

/* Random byte changes (and cuts) of a valid scrape. Whatever the verdict, it
 * is the one its lines give alone: a failure names the first bad line, and
 * an accepted text holds exactly the samples of its lines, in order; every
 * accepted sample written back canonically parses to the same sample. */
static void test_random_mutations(void **state)
{
    (void)state;
    static const char base[] = "# HELP m_total Help \\n text.\n# TYPE m_total counter\n"
                               "m_total{a=\"x\\\"y\",b=\"z\"} 12 1700000000000\n"
                               "h_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.7\n";
    static const char alphabet[] = "{}\",=\\# \n\t.+-eE0123456789abcNaIf_:";
    unsigned seed = 12345;
    size_t ok = 0, samples = 0;
    for (int i = 0; i < 100000; i++) {
        char buf[sizeof(base)];
        memcpy(buf, base, sizeof(base));
        int edits = 1 + (int)(rand_r(&seed) % 4);
        for (int e = 0; e < edits; e++)
            buf[rand_r(&seed) % (sizeof(base) - 1)] =
                alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
        size_t len = rand_r(&seed) % sizeof(base);
        expect x;
        expect_lines(&x, buf, len);
        prom_doc d;
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, buf, len);
        int rc = prom_text_parse(&d, copy, len, 0, err, sizeof(err));
        free(copy);
        if (rc != x.rc)
            print_error("mutation %d: %.*s\nwant %d, got %d (%s)\n", i, (int)len, buf, x.rc, rc,
                        err);
        assert_int_equal(rc, x.rc);
        if (rc != MCSQ_OK) {
            char want[32];
            snprintf(want, sizeof(want), "line %zu: ", x.bad_line);
            if (strncmp(err, want, strlen(want)) != 0)
                print_error("mutation %d: %.*s\nwant %s..., got %s\n", i, (int)len, buf, want, err);
            assert_memory_equal(err, want, strlen(want));
        } else {
            ok++;
            assert_int_equal(d.nsamples, x.nsamples);
            for (size_t k = 0; k < d.nsamples; k++) {
                assert_true(same_sample(&d.samples[k], &x.samples[k]));
                text t = {.len = 0};
                render_sample(&d.samples[k], &t);
                prom_doc back;
                assert_int_equal(prom_text_parse(&back, t.buf, t.len, 0, err, sizeof(err)),
                                 MCSQ_OK);
                assert_int_equal(back.nsamples, 1);
                if (!same_sample(&back.samples[0], &d.samples[k]))
                    print_error("mutation %d: sample %zu written back as %s\n", i, k, t.buf);
                assert_true(same_sample(&back.samples[0], &d.samples[k]));
                prom_doc_free(&back);
                samples++;
            }
        }
        prom_doc_free(&d);
        expect_free(&x);
    }
    print_message("mutations: %zu of 100000 parsed, %zu samples checked\n", ok, samples);
    assert_true(ok > 1000 && ok < 99000); /* the mutations reach both verdicts */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_round_trip_registry),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
