/*
 * Unit tests of the heartbeat statements (tailer/heartbeat_sql.c) and of the
 * binlog lag estimate (tailer/binlog_lag.c): exact statements, values that
 * would change a statement's shape refused, the probe's annotation read back
 * by the real annotation parser, and the lag rules (exact probes, second
 * timestamps, replication heartbeats, a silent stream).
 */
#include "mcsqueal/error.h"
#include "tailer/annotation.h"
#include "tailer/binlog_lag.h"
#include "tailer/heartbeat_sql.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static char err[256];

static void test_statements(void **state)
{
    (void)state;
    char sql[HEARTBEAT_SQL_MAX];
    assert_int_equal(
        heartbeat_sql_create(sql, sizeof(sql), "ops.mcsqueal_heartbeat", err, sizeof(err)),
        MCSQ_OK);
    assert_string_equal(sql, "CREATE TABLE IF NOT EXISTS `ops`.`mcsqueal_heartbeat` (name "
                             "VARCHAR(255) NOT NULL PRIMARY KEY, probe_us BIGINT NOT NULL)");
    assert_int_equal(heartbeat_sql_exists(sql, sizeof(sql), "hb", err, sizeof(err)), MCSQ_OK);
    assert_string_equal(sql, "SELECT name, probe_us FROM `hb` LIMIT 0");
    assert_int_equal(heartbeat_sql_probe(sql, sizeof(sql), "ops.hb", "db-east-1", 1763669000123456,
                                         err, sizeof(err)),
                     MCSQ_OK);
    assert_string_equal(sql, "INSERT INTO `ops`.`hb` (name, probe_us) VALUES ('db-east-1', "
                             "1763669000123456) ON DUPLICATE KEY UPDATE probe_us = "
                             "1763669000123456 /* mcsqueal: mcsqueal:hb:db-east-1 "
                             "@probe=1763669000123456 */");
    char key[300];
    assert_int_equal(heartbeat_key(key, sizeof(key), "db_1.x", err, sizeof(err)), MCSQ_OK);
    assert_string_equal(key, "mcsqueal:hb:db_1.x");
}

static void test_refused(void **state)
{
    (void)state;
    char sql[HEARTBEAT_SQL_MAX];
    static const char *const tables[] = {"",    "a.b.c", "x`y", "t;DROP", "db.",  ".t",
                                         "123", "a b",   "t'",  "t/*",    "t--x", NULL};
    for (int i = 0; tables[i] != NULL; i++) {
        assert_int_equal(heartbeat_sql_create(sql, sizeof(sql), tables[i], err, sizeof(err)),
                         MCSQ_ERR_INVALID);
        assert_int_equal(heartbeat_sql_probe(sql, sizeof(sql), tables[i], "n", 1, err, sizeof(err)),
                         MCSQ_ERR_INVALID);
        assert_int_equal(
            heartbeat_sql_create_database(sql, sizeof(sql), tables[i], err, sizeof(err)),
            MCSQ_ERR_INVALID);
    }
    /* a table without a database has no database to create */
    assert_int_equal(heartbeat_sql_create_database(sql, sizeof(sql), "t", err, sizeof(err)),
                     MCSQ_ERR_INVALID);
    assert_int_equal(heartbeat_sql_create_database(sql, sizeof(sql), "ops.hb", err, sizeof(err)),
                     MCSQ_OK);
    assert_string_equal(sql, "CREATE DATABASE IF NOT EXISTS `ops`");
    static const char *const names[] = {"", "a'b", "a b", "a*/b", "a\\b", "é", NULL};
    for (int i = 0; names[i] != NULL; i++)
        assert_int_equal(heartbeat_sql_probe(sql, sizeof(sql), "t", names[i], 1, err, sizeof(err)),
                         MCSQ_ERR_INVALID);
    char name[256];
    memset(name, 'n', 255);
    name[255] = '\0'; /* a valid name, but the key would be 267 bytes */
    assert_int_equal(heartbeat_sql_probe(sql, sizeof(sql), "t", name, 1, err, sizeof(err)),
                     MCSQ_ERR_INVALID);
    assert_non_null(strstr(err, "longer than 250 bytes"));
    name[250 - strlen(HEARTBEAT_KEY_PREFIX)] = '\0'; /* exactly 250 */
    assert_int_equal(heartbeat_sql_probe(sql, sizeof(sql), "t", name, 1, err, sizeof(err)),
                     MCSQ_OK);
    assert_int_equal(heartbeat_sql_probe(sql, sizeof(sql), "t", "n", -1, err, sizeof(err)),
                     MCSQ_ERR_INVALID);
    assert_int_equal(heartbeat_sql_probe(sql, 40, "t", "n", 1, err, sizeof(err)), MCSQ_ERR_INVALID);
}

typedef struct seen {
    char key[300];
    int keys;
    int64_t probe;
} seen;

static void on_key(void *ctx, const char *key, size_t len, const char *marker, size_t marker_len)
{
    seen *s = ctx;
    (void)marker;
    (void)marker_len;
    snprintf(s->key, sizeof(s->key), "%.*s", (int)len, key);
    s->keys++;
}

static void on_probe(void *ctx, int64_t probe_us)
{
    ((seen *)ctx)->probe = probe_us;
}

/* The tailer's annotation parser reads the probe statement as intended. */
static void test_probe_annotation(void **state)
{
    (void)state;
    char sql[HEARTBEAT_SQL_MAX];
    assert_int_equal(heartbeat_sql_probe(sql, sizeof(sql), "ops.hb", "db-east-1", 1763669000123456,
                                         err, sizeof(err)),
                     MCSQ_OK);
    seen s = {{0}, 0, 0};
    annotation_handler h = {on_key, on_probe, &s};
    annotation_stats st;
    annotation_stats_init(&st);
    assert_int_equal(annotation_parse(sql, strlen(sql), 0, &h, &st), 1);
    assert_int_equal(s.keys, 1);
    assert_string_equal(s.key, "mcsqueal:hb:db-east-1");
    assert_int_equal(s.probe, 1763669000123456);
}

#define S 1000000LL
#define T0 (1763669000LL * S)

static void test_lag_rules(void **state)
{
    (void)state;
    binlog_lag l;
    binlog_lag_init(&l, 3 * S, 5 * S);
    assert_true(binlog_lag_seconds(&l, T0) == 0); /* nothing read yet */
    /* a plain event: read time minus its header second */
    binlog_lag_on_event(&l, T0 + 2 * S + 500000, (uint32_t)(T0 / S), false);
    assert_true(fabs(binlog_lag_seconds(&l, T0 + 2 * S + 500000) - 2.5) < 1e-9);
    /* a replication heartbeat: caught up */
    binlog_lag_on_event(&l, T0 + 3 * S, 0, true);
    assert_true(binlog_lag_seconds(&l, T0 + 3 * S) == 0);
    /* an exact probe: to the microsecond; later events and heartbeats do
     * not overwrite it while probes keep coming */
    binlog_lag_on_event(&l, T0 + 4 * S, (uint32_t)(T0 / S + 4), false);
    binlog_lag_on_commit(&l, T0 + 4 * S - 1234, T0 + 4 * S, true);
    assert_true(fabs(binlog_lag_seconds(&l, T0 + 4 * S) - 0.001234) < 1e-9);
    binlog_lag_on_event(&l, T0 + 5 * S, 0, true);
    binlog_lag_on_event(&l, T0 + 5 * S, (uint32_t)(T0 / S), false);
    binlog_lag_on_commit(&l, T0, T0 + 5 * S, false); /* not exact: ignored */
    assert_true(fabs(binlog_lag_seconds(&l, T0 + 5 * S) - 0.001234) < 1e-9);
    /* probes stopped (window 3 s): heartbeats rule again */
    binlog_lag_on_event(&l, T0 + 8 * S, 0, true);
    assert_true(binlog_lag_seconds(&l, T0 + 8 * S) == 0);
    /* a silent stream (5 s): the lag grows with the silence */
    assert_true(binlog_lag_seconds(&l, T0 + 13 * S) == 0);
    assert_true(fabs(binlog_lag_seconds(&l, T0 + 20 * S) - 12) < 1e-9);
    /* a probe read late: its age */
    binlog_lag_on_event(&l, T0 + 21 * S, 0, false);
    binlog_lag_on_commit(&l, T0 + 14 * S, T0 + 21 * S, true);
    assert_true(fabs(binlog_lag_seconds(&l, T0 + 21 * S) - 7) < 1e-9);
    /* clock skew never gives a negative lag */
    binlog_lag_on_commit(&l, T0 + 30 * S, T0 + 22 * S, true);
    assert_true(binlog_lag_seconds(&l, T0 + 22 * S) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statements),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_probe_annotation),
        cmocka_unit_test(test_lag_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
