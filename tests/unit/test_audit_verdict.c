/*
 * Unit tests of the auditor's pure parts: the verdict of one server's answer
 * and how a pool's answers add up (invalidator/audit_verdict.h), the [audit]
 * value parsers (core/config.h), the delay labels, and the admission of
 * samples in audit_batch(): only confirmed deletes are sampled, and what
 * max_checks_per_s does not allow is counted as dropped, once per delay.
 */
#include "core/config.h"
#include "core/key_placement_mode.h"
#include "core/metrics.h"
#include "core/metrics_defs.h"
#include "invalidator/audit.h"
#include "mcsqueal/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static audit_marks marks(uint64_t before, uint64_t after, uint32_t epoch)
{
    return (audit_marks){before, after, epoch, epoch};
}

static void test_verdict(void **state)
{
    (void)state;
    audit_marks m = marks(1000, 1010, 1);
    assert_int_equal(audit_verdict(&m, false, 0, 1), AUDIT_HELD);      /* absent */
    assert_int_equal(audit_verdict(&m, true, 999, 1), AUDIT_SURVIVED); /* stored before */
    assert_int_equal(audit_verdict(&m, true, 1, 1), AUDIT_SURVIVED);
    assert_int_equal(audit_verdict(&m, true, 1000, 1), AUDIT_AMBIGUOUS); /* the watermark's own */
    assert_int_equal(audit_verdict(&m, true, 1005, 1), AUDIT_AMBIGUOUS); /* in flight */
    assert_int_equal(audit_verdict(&m, true, 1010, 1), AUDIT_AMBIGUOUS);
    assert_int_equal(audit_verdict(&m, true, 1011, 1), AUDIT_HELD); /* stored after */
    /* another server process since the before watermark: CAS says nothing */
    assert_int_equal(audit_verdict(&m, true, 5, 2), AUDIT_AMBIGUOUS);
    assert_int_equal(audit_verdict(&m, true, 5000, 2), AUDIT_AMBIGUOUS);
    assert_int_equal(audit_verdict(&m, false, 0, 2), AUDIT_HELD);
    /* restarted between the two watermarks: no "after" of this process */
    audit_marks split = {1000, 3, 1, 2};
    assert_int_equal(audit_verdict(&split, true, 5000, 1), AUDIT_AMBIGUOUS);
    /* no before watermark (server down when the batch was sent) */
    audit_marks none = {0, 0, 0, 0};
    assert_int_equal(audit_verdict(&none, true, 5, 1), AUDIT_AMBIGUOUS);
    assert_int_equal(audit_verdict(&none, false, 0, 1), AUDIT_HELD);
    /* CAS disabled (-C): every watermark and item is 0 */
    audit_marks nocas = marks(0, 0, 1);
    assert_int_equal(audit_verdict(&nocas, true, 0, 1), AUDIT_AMBIGUOUS);
    /* no after watermark yet: a copy above "before" cannot be decided */
    audit_marks noafter = {1000, 0, 1, 0};
    assert_int_equal(audit_verdict(&noafter, true, 2000, 1), AUDIT_AMBIGUOUS);
    assert_int_equal(audit_verdict(&noafter, true, 10, 1), AUDIT_SURVIVED);
}

static void test_merge(void **state)
{
    (void)state;
    audit_result r = AUDIT_HELD;
    r = audit_verdict_merge(r, AUDIT_HELD);
    assert_int_equal(r, AUDIT_HELD);
    r = audit_verdict_merge(r, AUDIT_AMBIGUOUS);
    assert_int_equal(r, AUDIT_AMBIGUOUS);
    r = audit_verdict_merge(r, AUDIT_UNREACHABLE);
    assert_int_equal(r, AUDIT_UNREACHABLE);
    r = audit_verdict_merge(r, AUDIT_AMBIGUOUS);
    assert_int_equal(r, AUDIT_UNREACHABLE);
    r = audit_verdict_merge(r, AUDIT_SURVIVED);
    assert_int_equal(r, AUDIT_SURVIVED);
    r = audit_verdict_merge(r, AUDIT_HELD);
    assert_int_equal(r, AUDIT_SURVIVED);
    assert_string_equal(audit_result_name(AUDIT_DROPPED), "dropped");
    assert_string_equal(audit_result_name(AUDIT_NRESULTS), "?");
}

static void test_delay_label(void **state)
{
    (void)state;
    char buf[32];
    audit_delay_label(1000, buf, sizeof(buf));
    assert_string_equal(buf, "1s");
    audit_delay_label(60000, buf, sizeof(buf));
    assert_string_equal(buf, "60s");
    audit_delay_label(200, buf, sizeof(buf));
    assert_string_equal(buf, "200ms");
    audit_delay_label(1500, buf, sizeof(buf));
    assert_string_equal(buf, "1500ms");
}

static void test_sample_rate_parse(void **state)
{
    (void)state;
    char err[200];
    double v = -1;
    assert_int_equal(mcsq_audit_sample_rate_parse("0.001", &v, err, sizeof(err)), MCSQ_OK);
    assert_true(v == 0.001);
    assert_int_equal(mcsq_audit_sample_rate_parse("1", &v, err, sizeof(err)), MCSQ_OK);
    assert_true(v == 1.0);
    assert_int_equal(mcsq_audit_sample_rate_parse("0", &v, err, sizeof(err)), MCSQ_OK);
    assert_true(v == 0.0);
    assert_int_equal(mcsq_audit_sample_rate_parse(".5", &v, err, sizeof(err)), MCSQ_OK);
    assert_true(v == 0.5);
    const char *bad[] = {"",    "1.5", "-0.1", "1e-3", "0.1.2", "nan",
                         "inf", "0x1", " 0.1", "0.1 ", "."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(mcsq_audit_sample_rate_parse(bad[i], NULL, err, sizeof(err)),
                         MCSQ_ERR_CONFIG);
        assert_non_null(strstr(err, "decimal fraction"));
    }
}

static void test_delays_parse(void **state)
{
    (void)state;
    char err[200];
    int64_t d[MCSQ_AUDIT_DELAYS_MAX];
    size_t n = 0;
    assert_int_equal(mcsq_audit_delays_parse("1000 60000", d, &n, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(n, 2);
    assert_int_equal(d[0], 1000);
    assert_int_equal(d[1], 60000);
    assert_int_equal(mcsq_audit_delays_parse(" 100,200\t300 ", d, &n, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(n, 3);
    assert_int_equal(d[2], 300);
    assert_int_equal(
        mcsq_audit_delays_parse("100 200 300 400 500 600 700 800", NULL, NULL, err, sizeof(err)),
        MCSQ_OK);
    struct {
        const char *text, *why;
    } bad[] = {
        {"", "at least one"},
        {"  ", "at least one"},
        {"100 200 300 400 500 600 700 800 900", "more than 8"},
        {"99", "out of range"},
        {"86400001", "out of range"},
        {"1000 1000", "not after"},
        {"2000 1000", "not after"},
        {"1s", "whole number"},
        {"-100", "whole number"},
        {"99999999999999999999999", "whole number"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(mcsq_audit_delays_parse(bad[i].text, d, &n, err, sizeof(err)),
                         MCSQ_ERR_CONFIG);
        if (strstr(err, bad[i].why) == NULL)
            fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].text, err, bad[i].why);
    }
}

/* A configuration with one pool on a port where nothing listens. */
typedef struct fixture {
    mcsq_config cfg;
    metrics_registry *reg;
    metrics_defs defs;
} fixture;

static void fixture_init_placement(fixture *fx, const char *rate, const char *delays, int64_t max,
                                   int placement)
{
    char err[200];
    assert_int_equal(mcsq_config_defaults(&fx->cfg), MCSQ_OK);
    free(fx->cfg.audit.sample_rate);
    free(fx->cfg.audit.delays_ms);
    fx->cfg.audit.sample_rate = strdup(rate);
    fx->cfg.audit.delays_ms = strdup(delays);
    fx->cfg.audit.max_checks_per_s = max;
    static mcsq_hostport hp = {.host = "127.0.0.1", .port = 1};
    static mcsq_pool_config pool = {.name = "main", .servers = {&hp, 1}, .prefix = ""};
    pool.placement = placement;
    fx->cfg.pools = &pool;
    fx->cfg.npools = 1;
    fx->reg = metrics_registry_new();
    assert_non_null(fx->reg);
    assert_int_equal(metrics_defs_register(fx->reg, "test", &fx->defs, err, sizeof(err)), MCSQ_OK);
}

static void fixture_init(fixture *fx, const char *rate, const char *delays, int64_t max)
{
    fixture_init_placement(fx, rate, delays, max, KEY_PLACEMENT_LIBMEMCACHED);
}

static void fixture_deinit(fixture *fx)
{
    fx->cfg.pools = NULL; /* static */
    fx->cfg.npools = 0;
    mcsq_config_deinit(&fx->cfg);
    metrics_registry_destroy(fx->reg);
}

static uint64_t checks(fixture *fx, const char *result, const char *delay)
{
    return metrics_counter_value(
        metrics_series_get3(fx->defs.audit_checks_total, "main", result, delay));
}

static void test_off(void **state)
{
    (void)state;
    fixture fx;
    char err[200];
    audit *a = (audit *)&fx; /* must be overwritten */
    fixture_init(&fx, "0", "1000", 100);
    assert_int_equal(audit_new(&a, &fx.cfg, &fx.defs, err, sizeof(err)), MCSQ_OK);
    assert_null(a);
    audit_batch(NULL, 0, NULL, NULL, NULL, 0, 0, 0); /* a no-op */
    audit_destroy(NULL);
    fixture_deinit(&fx);
    fixture_init(&fx, "2", "1000", 100);
    assert_int_equal(audit_new(&a, &fx.cfg, &fx.defs, err, sizeof(err)), MCSQ_ERR_CONFIG);
    assert_non_null(strstr(err, "[audit]"));
    fixture_deinit(&fx);
}

/* 1000 confirmed keys at once against 1 check/s with two delays: the
 * token bucket starts empty, so every sample is dropped, counted once per
 * delay; unconfirmed keys are not sampled at all. */
static void test_dropped(void **state)
{
    (void)state;
    fixture fx;
    char err[200];
    audit *a = NULL;
    fixture_init(&fx, "1", "200 1000", 1);
    assert_int_equal(audit_new(&a, &fx.cfg, &fx.defs, err, sizeof(err)), MCSQ_OK);
    assert_non_null(a);
    enum { N = 1000 };
    static mcsq_key keys[N];
    static uint32_t owner[N];
    static uint8_t outcome[N];
    for (size_t i = 0; i < N; i++) {
        keys[i] = (mcsq_key){"k", 1, 0};
        outcome[i] = i % 2; /* 0 = confirmed */
    }
    audit_batch(a, 0, keys, owner, outcome, 0, N, 0);
    assert_int_equal(checks(&fx, "dropped", "200ms"), N / 2);
    assert_int_equal(checks(&fx, "dropped", "1s"), N / 2);
    audit_batch(a, 5, keys, owner, outcome, 0, N, 0); /* no such pool: ignored */
    assert_int_equal(checks(&fx, "dropped", "200ms"), N / 2);
    audit_destroy(a);
    assert_int_equal(checks(&fx, "held", "200ms"), 0);
    fixture_deinit(&fx);
}

/* A pool of proxies is not audited: its gauge says so, its keys are never
 * sampled, not even counted as dropped. */
static void test_proxy_pool(void **state)
{
    (void)state;
    fixture fx;
    char err[200];
    audit *a = NULL;
    fixture_init_placement(&fx, "1", "200", 1, KEY_PLACEMENT_PROXY);
    assert_int_equal(audit_new(&a, &fx.cfg, &fx.defs, err, sizeof(err)), MCSQ_OK);
    assert_non_null(a);
    assert_true(metrics_gauge_value(metrics_series_get1(fx.defs.audit_pool_audited, "main")) == 0);
    mcsq_key key = {"k", 1, 0};
    uint32_t owner = 0;
    uint8_t outcome = 0;
    for (int i = 0; i < 100; i++)
        audit_batch(a, 0, &key, &owner, &outcome, 0, 1, 0);
    assert_int_equal(checks(&fx, "dropped", "200ms"), 0);
    audit_destroy(a);
    fixture_deinit(&fx);
    fixture_init(&fx, "1", "200", 1);
    assert_int_equal(audit_new(&a, &fx.cfg, &fx.defs, err, sizeof(err)), MCSQ_OK);
    assert_true(metrics_gauge_value(metrics_series_get1(fx.defs.audit_pool_audited, "main")) == 1);
    audit_destroy(a);
    fixture_deinit(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdict),      cmocka_unit_test(test_merge),
        cmocka_unit_test(test_delay_label),  cmocka_unit_test(test_sample_rate_parse),
        cmocka_unit_test(test_delays_parse), cmocka_unit_test(test_off),
        cmocka_unit_test(test_dropped),      cmocka_unit_test(test_proxy_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
