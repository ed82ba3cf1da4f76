/*
 * Unit tests of the configuration loader (core/config.c, core/config_table.c):
 * defaults, every value type, error collection with file:line, pools,
 * kafka.* pass-through, derived values, mysql.start, the password sources,
 * the generated reference and the sample configuration. Files are written
 * to a fresh mkdtemp directory per test and removed afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "skip.h"

#include "core/config.h"
#include "core/key_placement_mode.h"
#include "mcsqueal/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FILES 8

typedef struct fixture {
    char dir[64];
    char files[MAX_FILES][128];
    int nfiles;
    mcsq_config cfg;
    mcsq_config_errors errs;
    const char *path; /* the config file of the last load_text() */
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/mcsq-test-config-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    mcsq_config_errors_init(&fx->errs);
    unsetenv(MCSQ_CONFIG_PASSWORD_ENV);
    unsetenv(MCSQ_CONFIG_KAFKA_PASSWORD_ENV);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < fx->nfiles; i++)
        unlink(fx->files[i]);
    rmdir(fx->dir);
    mcsq_config_deinit(&fx->cfg);
    mcsq_config_errors_deinit(&fx->errs);
    unsetenv(MCSQ_CONFIG_PASSWORD_ENV);
    unsetenv(MCSQ_CONFIG_KAFKA_PASSWORD_ENV);
    free(fx);
    return 0;
}

/* Writes text to DIR/name and returns the path (owned by the fixture). */
static const char *write_file(fixture *fx, const char *name, const char *text)
{
    int slot = fx->nfiles;
    for (int i = 0; i < fx->nfiles; i++) {
        if (strcmp(strrchr(fx->files[i], '/') + 1, name) == 0)
            slot = i;
    }
    if (slot == fx->nfiles) {
        assert_true(fx->nfiles < MAX_FILES);
        char path[sizeof(fx->files[0])];
        int n = snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
        assert_true(n > 0 && (size_t)n < sizeof(path));
        memcpy(fx->files[slot], path, (size_t)n + 1);
        fx->nfiles++;
    }
    const char *path = fx->files[slot];
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Loads text as a config file into fx->cfg, with fresh error and config state. */
static int load_text(fixture *fx, const char *text)
{
    mcsq_config_deinit(&fx->cfg);
    mcsq_config_errors_deinit(&fx->errs);
    mcsq_config_errors_init(&fx->errs);
    fx->path = write_file(fx, "mcsqueal.ini", text);
    return mcsq_config_load(&fx->cfg, fx->path, &fx->errs);
}

static void load_ok(fixture *fx, const char *text)
{
    int rc = load_text(fx, text);
    if (rc != MCSQ_OK)
        mcsq_config_errors_print(&fx->errs, stderr);
    assert_int_equal(rc, MCSQ_OK);
    assert_int_equal(fx->errs.n, 0);
}

/* Asserts an error "PATH:LINE: ..." containing needle. */
static void assert_error(const fixture *fx, int line, const char *needle)
{
    char prefix[256];
    if (line > 0)
        snprintf(prefix, sizeof(prefix), "%s:%d: ", fx->path, line);
    else
        snprintf(prefix, sizeof(prefix), "%s: ", fx->path);
    for (size_t i = 0; i < fx->errs.n; i++) {
        const mcsq_config_error *e = &fx->errs.v[i];
        if (e->line == line && strncmp(e->text, prefix, strlen(prefix)) == 0 &&
            strstr(e->text, needle) != NULL)
            return;
    }
    mcsq_config_errors_print(&fx->errs, stderr);
    fail_msg("no error on line %d containing \"%s\"", line, needle);
}

/* An error expected on a line (0: about the whole file). */
typedef struct want_error {
    int line;
    const char *needle;
} want_error;

/* Loads text, expects exactly the n errors of want. */
static void load_fails_with(fixture *fx, const char *text, const want_error *want, size_t n)
{
    assert_int_equal(load_text(fx, text), MCSQ_ERR_CONFIG);
    for (size_t i = 0; i < n; i++)
        assert_error(fx, want[i].line, want[i].needle);
    if (fx->errs.n != n)
        mcsq_config_errors_print(&fx->errs, stderr);
    assert_int_equal(fx->errs.n, n);
}

/* Loads text, expects exactly one error, on line, containing needle. */
static void load_fails(fixture *fx, const char *text, int line, const char *needle)
{
    want_error want = {line, needle};
    load_fails_with(fx, text, &want, 1);
}

#define NWANT(a) (sizeof(a) / sizeof((a)[0]))

/* A value that must not load, and a part of its error. */
typedef struct bad_value {
    const char *value;
    const char *needle;
} bad_value;

/* Loads "[section]\nkey = value\n" for each of the n cases: exactly one
 * error, on line 2, containing the case's needle. */
static void values_fail(fixture *fx, const char *section, const char *key, const bad_value *cases,
                        size_t n)
{
    char text[256];
    for (size_t i = 0; i < n; i++) {
        const char *v = cases[i].value;
        snprintf(text, sizeof(text), "[%s]\n%s =%s%s\n", section, key, v[0] ? " " : "", v);
        load_fails(fx, text, 2, cases[i].needle);
    }
}

/* What fn writes to a stream (caller frees); fn must return MCSQ_OK. */
static char *capture(const fixture *fx, int (*fn)(const fixture *, FILE *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    assert_int_equal(fn(fx, out), MCSQ_OK);
    fclose(out);
    return buf;
}

static int print_errors(const fixture *fx, FILE *out)
{
    mcsq_config_errors_print(&fx->errs, out);
    return MCSQ_OK;
}

static void test_defaults(void **state)
{
    fixture *fx = *state;
    mcsq_config *c = &fx->cfg;
    assert_int_equal(mcsq_config_defaults(c), MCSQ_OK);
    assert_string_equal(c->mcsqueal.name, "");
    assert_string_equal(c->mcsqueal.region, "default");
    assert_string_equal(c->mcsqueal.state_dir, "/var/lib/mcsqueal");
    assert_int_equal(c->mcsqueal.log_level, 2); /* info */
    assert_string_equal(c->mcsqueal.log_file, "");
    assert_string_equal(c->mysql.host, "127.0.0.1");
    assert_int_equal(c->mysql.port, 3306);
    assert_string_equal(c->mysql.socket, "");
    assert_string_equal(c->mysql.user, "mcsqueal");
    assert_string_equal(c->mysql.password_file, "");
    assert_null(c->mysql.password);
    assert_int_equal(c->mysql.server_id, 4242);
    assert_string_equal(c->mysql.start, "end");
    assert_int_equal(c->mysql.heartbeat_ms, 1000);
    assert_int_equal(c->mysql.connect_timeout_ms, 5000);
    assert_int_equal(c->mysql.reconnect_max_ms, 30000);
    assert_int_equal(c->mysql.ssl_mode, MCSQ_SSL_PREFERRED);
    assert_string_equal(c->mysql.ssl_ca, "");
    assert_true(c->mysql.verify_checksum);
    assert_string_equal(c->bus.brokers, "embedded");
    assert_string_equal(c->bus.topic, "");
    assert_int_equal(c->bus.batch_max_keys, 10000);
    assert_int_equal(c->bus.batch_max_bytes, 900 * 1024);
    assert_int_equal(c->bus.linger_ms, 2);
    assert_int_equal(c->bus.kafka.n, 0);
    assert_string_equal(c->router.cluster, "default");
    assert_int_equal(c->npools, 0);
    assert_string_equal(c->metrics.listen.host, "127.0.0.1");
    assert_int_equal(c->metrics.listen.port, 9187);
    assert_int_equal(c->heartbeat.interval_ms, 1000);
    assert_string_equal(c->heartbeat.table, "mcsqueal.heartbeat");
}

static void test_empty_file_derives_name_and_topic(void **state)
{
    fixture *fx = *state;
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    load_ok(fx, "");
    assert_string_equal(fx->cfg.mcsqueal.name, host);
    assert_string_equal(fx->cfg.bus.topic, "mcsqueal.default");
    assert_string_equal(fx->cfg.path, fx->path);
    assert_int_equal(fx->cfg.mysql.start_at.kind, MCSQ_START_END);
}

static void test_topic_derived_from_region(void **state)
{
    fixture *fx = *state;
    load_ok(fx, "[mcsqueal]\nname = db-east-1\nregion = east\n");
    assert_string_equal(fx->cfg.mcsqueal.name, "db-east-1");
    assert_string_equal(fx->cfg.bus.topic, "mcsqueal.east");
    load_ok(fx, "[mcsqueal]\nregion = east\n[bus]\ntopic = invalidations\n");
    assert_string_equal(fx->cfg.bus.topic, "invalidations");
    load_fails(fx, "[mcsqueal]\nregion = east coast\n", 2, "[mcsqueal] region: \"east coast\"");
}

static void test_string_values(void **state)
{
    fixture *fx = *state;
    load_ok(fx, "[mysql]\nhost = db1.example.com ; the primary\nsocket = /run/mysqld.sock\n"
                "user = repl\n[mcsqueal]\nlog_file = /var/log/mcsqueal.log\n");
    assert_string_equal(fx->cfg.mysql.host, "db1.example.com");
    assert_string_equal(fx->cfg.mysql.socket, "/run/mysqld.sock");
    assert_string_equal(fx->cfg.mysql.user, "repl");
    assert_string_equal(fx->cfg.mcsqueal.log_file, "/var/log/mcsqueal.log");
    load_fails(fx, "[mysql]\nuser =\n", 2, "[mysql] user: must not be empty");
}

static void test_int_values(void **state)
{
    fixture *fx = *state;
    load_ok(fx, "[mysql]\nport = 3307\nserver_id = 4294967295\n[bus]\nbatch_max_keys = 1\n");
    assert_int_equal(fx->cfg.mysql.port, 3307);
    assert_int_equal(fx->cfg.mysql.server_id, 4294967295LL);
    assert_int_equal(fx->cfg.bus.batch_max_keys, 1);
    static const bad_value bad_port[] = {
        {"abc", "[mysql] port: \"abc\" is not an integer"},
        {"12x", "is not an integer"},
        {"0", "[mysql] port: 0 is out of range (1..65535)"},
        {"65536", "65536 is out of range"},
        {"", "\"\" is not an integer"},
    };
    values_fail(fx, "mysql", "port", bad_port, NWANT(bad_port));
    static const bad_value bad_server_id[] = {
        {"4294967296", "out of range (1..4294967295)"},
        {"99999999999999999999", "is not an integer"},
    };
    values_fail(fx, "mysql", "server_id", bad_server_id, NWANT(bad_server_id));
}

static void test_bool_values(void **state)
{
    fixture *fx = *state;
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    static const char *const no[] = {"false", "no", "off", "0", "OFF", "False"};
    char text[128];
    for (size_t i = 0; i < 6; i++) {
        snprintf(text, sizeof(text), "[mysql]\nverify_checksum = %s\n", no[i]);
        load_ok(fx, text);
        assert_false(fx->cfg.mysql.verify_checksum);
        snprintf(text, sizeof(text), "[mysql]\nverify_checksum = %s\n", yes[i]);
        load_ok(fx, text);
        assert_true(fx->cfg.mysql.verify_checksum);
    }
    static const bad_value bad[] = {
        {"maybe", "[mysql] verify_checksum: \"maybe\" is not a boolean"},
        {"2", "is not a boolean"},
    };
    values_fail(fx, "mysql", "verify_checksum", bad, NWANT(bad));
}

static void test_enum_values(void **state)
{
    fixture *fx = *state;
    load_ok(fx, "[mcsqueal]\nlog_level = debug\n[mysql]\nssl_mode = verify_identity\n");
    assert_int_equal(fx->cfg.mcsqueal.log_level, 3);
    assert_int_equal(fx->cfg.mysql.ssl_mode, MCSQ_SSL_VERIFY_IDENTITY);
    load_ok(fx, "[mcsqueal]\nlog_level = ERROR\n[mysql]\nssl_mode = disabled\n");
    assert_int_equal(fx->cfg.mcsqueal.log_level, 0);
    assert_int_equal(fx->cfg.mysql.ssl_mode, MCSQ_SSL_DISABLED);
    load_fails(fx, "[mcsqueal]\nlog_level = loud\n", 2,
               "[mcsqueal] log_level: \"loud\" is not one of: error, warn, info, debug");
    load_fails(fx, "[mysql]\nssl_mode = verify\n", 2, "is not one of: disabled, preferred");
}

static void test_duration_values(void **state)
{
    fixture *fx = *state;
    load_ok(fx, "[mysql]\nheartbeat_ms = 250\nreconnect_max_ms = 3600000\n[bus]\nlinger_ms = 0\n"
                "[heartbeat]\ninterval_ms = 100\n");
    assert_int_equal(fx->cfg.mysql.heartbeat_ms, 250);
    assert_int_equal(fx->cfg.mysql.reconnect_max_ms, 3600000);
    assert_int_equal(fx->cfg.bus.linger_ms, 0);
    assert_int_equal(fx->cfg.heartbeat.interval_ms, 100);
    static const bad_value bad[] = {
        {"5s", "[mysql] heartbeat_ms: \"5s\" is not a whole number of milliseconds"},
        {"1.5", "not a whole number of milliseconds"},
        {"5", "5 is out of range (10..3600000 ms)"},
    };
    values_fail(fx, "mysql", "heartbeat_ms", bad, NWANT(bad));
    load_fails(fx, "[bus]\nlinger_ms = -1\n", 2, "-1 is out of range (0..900000 ms)");
}

static void test_size_values(void **state)
{
    fixture *fx = *state;
    static const struct {
        const char *text;
        int64_t bytes;
    } good[] = {
        {"64k", 65536}, {"64K", 65536}, {"1M", 1048576}, {"2048", 2048}, {"900m", 900 * 1048576LL},
        {"1024", 1024}};
    char text[128];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "[bus]\nbatch_max_bytes = %s\nbrokers = 127.0.0.1:9092\n",
                 good[i].text);
        load_ok(fx, text);
        assert_int_equal(fx->cfg.bus.batch_max_bytes, good[i].bytes);
    }
    /* the embedded bus holds 5 MiB per partition: its messages stay far below */
    load_ok(fx, "[bus]\nbatch_max_bytes = 2560k\n");
    static const bad_value bad[] = {
        {"2561k", "more than the embedded bus can hold safely"},
        {"1G", "[bus] batch_max_bytes: 1G is out of range (1k..1000000000)"},
        {"1023", "1023 is out of range"},
        {"1.5M", "\"1.5M\" is not a size in bytes"},
        {"10x", "is not a size in bytes"},
        {"k", "is not a size in bytes"},
        {"10kB", "is not a size in bytes"},
        {"-4k", "is not a size in bytes"},
        {"99999999999999999G", "is not a size"},
    };
    values_fail(fx, "bus", "batch_max_bytes", bad, NWANT(bad));
}

static void test_hostport_values(void **state)
{
    fixture *fx = *state;
    load_ok(fx, "[metrics]\nlisten = [::1]:9100\n");
    assert_string_equal(fx->cfg.metrics.listen.host, "::1");
    assert_int_equal(fx->cfg.metrics.listen.port, 9100);
    load_ok(fx, "[metrics]\nlisten = metrics.local:80\n");
    assert_string_equal(fx->cfg.metrics.listen.host, "metrics.local");
    assert_int_equal(fx->cfg.metrics.listen.port, 80);
    load_ok(fx, "[metrics]\nlisten =\n");
    assert_null(fx->cfg.metrics.listen.host);
    static const bad_value bad[] = {
        {"localhost", "[metrics] listen: \"localhost\" is not host:port"},
        {"localhost:0", "port must be a number in 1..65535"},
        {"localhost:99999", "port must be a number"},
        {"localhost:+80", "port must be a number"},
        {"::1:80", "is not host:port (IPv6 as [address]"},
        {":80", "bad host"},
        {"a/b:80", "bad host"},
    };
    values_fail(fx, "metrics", "listen", bad, NWANT(bad));
}

static void test_unknown_key_and_section(void **state)
{
    fixture *fx = *state;
    /* keys of an unknown section are not reported one by one */
    static const want_error unknown[] = {
        {3, "[mysql]: unknown key \"prot\" (did you mean \"port\"?)"},
        {5, "unknown section [mysq] (did you mean [mysql]?)"},
        {10, "[bus]: unknown key \"surprise\""},
    };
    load_fails_with(fx,
                    "; comment\n[mysql]\nprot = 3307\n\n[mysq]\nhost = x\n"
                    "port = 1\n[bus]\nbrokers = embedded\nsurprise = 1\n",
                    unknown, NWANT(unknown));
    load_fails(fx, "[mysql]\n[pool_main]\n", 2, "unknown section [pool_main]");
    load_fails(fx, "[mysql extra]\n", 1, "section [mysql] takes no name");
    load_fails(fx, "port = 1\n", 1, "key \"port\" is outside any [section]");
}

static void test_multiple_errors_collected(void **state)
{
    fixture *fx = *state;
    assert_int_equal(load_text(fx, "[mysql]\n"
                                   "port = x\n"
                                   "server_id = 0\n"
                                   "ssl_mode = sometimes\n"
                                   "start = middle\n"
                                   "[bus]\n"
                                   "brokers = kafka\n"
                                   "linger_ms = soon\n"),
                     MCSQ_ERR_CONFIG);
    assert_int_equal(fx->errs.n, 6);
    int lines[] = {2, 3, 4, 5, 7, 8};
    for (size_t i = 0; i < fx->errs.n; i++)
        assert_int_equal(fx->errs.v[i].line, lines[i]);
    assert_error(fx, 5, "[mysql] start: \"middle\": expected end, begin, gtid:<list> or");
    assert_error(fx, 7, "[bus] brokers: expected \"embedded\" or host:port");
    /* a failed load leaves cfg empty */
    assert_null(fx->cfg.mysql.host);
    assert_null(fx->cfg.path);
}

static void test_error_text_has_file_and_line(void **state)
{
    fixture *fx = *state;
    char expect[256];
    load_fails(fx, "\n\n[mysql]\n\nport = nope\n", 5, "port");
    snprintf(expect, sizeof(expect), "%s:5: [mysql] port: \"nope\" is not an integer", fx->path);
    assert_string_equal(fx->errs.v[0].text, expect);
    char *buf = capture(fx, print_errors);
    strcat(expect, "\n");
    assert_string_equal(buf, expect);
    free(buf);
}

static void test_error_list_is_bounded(void **state)
{
    fixture *fx = *state;
    size_t nlines = MCSQ_CONFIG_MAX_ERRORS + 50;
    char *text = calloc(nlines, 16);
    assert_non_null(text);
    strcpy(text, "[mysql]\n");
    for (size_t i = 1; i < nlines; i++)
        strcat(text, "bad line\n");
    assert_int_equal(load_text(fx, text), MCSQ_ERR_CONFIG);
    free(text);
    assert_int_equal(fx->errs.n, MCSQ_CONFIG_MAX_ERRORS);
    assert_int_equal(fx->errs.dropped, nlines - 1 - MCSQ_CONFIG_MAX_ERRORS);
    assert_int_equal(fx->errs.v[MCSQ_CONFIG_MAX_ERRORS - 1].line, MCSQ_CONFIG_MAX_ERRORS + 1);
    char *buf = capture(fx, print_errors);
    assert_non_null(strstr(buf, "\n(49 more errors not shown)\n"));
    free(buf);
}

static void test_missing_file(void **state)
{
    fixture *fx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/absent.ini", fx->dir);
    fx->path = path;
    assert_int_equal(mcsq_config_load(&fx->cfg, path, &fx->errs), MCSQ_ERR_CONFIG);
    assert_int_equal(fx->errs.n, 1);
    assert_error(fx, 0, "cannot open: No such file or directory");
}

static void test_duplicates(void **state)
{
    fixture *fx = *state;
    load_fails(fx, "[mysql]\nport = 1\nhost = a\nport = 2\n", 4,
               "[mysql] port: set twice (first on line 2)");
    load_fails(fx, "[mysql]\nport = 1\n[bus]\n[mysql]\nhost = a\n", 4,
               "duplicate section [mysql] (first on line 1)");
}

static void test_syntax_errors(void **state)
{
    fixture *fx = *state;
    static const want_error syntax[] = {
        {2, "expected \"key = value\", \"[section]\" or a comment"},
        {4, "section header without ']'"},
        {6, "unexpected text after ']'"},
        {7, "expected \"key = value\""},
    };
    load_fails_with(fx,
                    "[mysql]\nport 3306\nhost = a\n[bus\nbrokers = embedded\n"
                    "[router] cluster = a\nbroken\n",
                    syntax, NWANT(syntax));
    /* comments after a header, BOM and CRLF line ends are fine */
    load_ok(fx, "\xEF\xBB\xBF[mysql] ; the source\r\nport = 3307\r\n# done\r\n");
    assert_int_equal(fx->cfg.mysql.port, 3307);
}

static void test_long_line(void **state)
{
    fixture *fx = *state;
    char text[600];
    char pad[300];
    memset(pad, 'x', 250);
    pad[250] = '\0';
    snprintf(text, sizeof(text), "[mysql]\nsocket = /%s\nport = zz\n", pad);
    static const want_error too_long[] = {
        {2, "line is longer than 198 bytes"},
        {3, "[mysql] port: \"zz\""},
    };
    load_fails_with(fx, text, too_long, NWANT(too_long));
    pad[198 - strlen("socket = /")] = '\0'; /* exactly 198 bytes */
    snprintf(text, sizeof(text), "[mysql]\nsocket = /%s\n", pad);
    load_ok(fx, text);
    assert_int_equal(strlen(fx->cfg.mysql.socket), 198 - strlen("socket = "));
}

static void test_pools(void **state)
{
    fixture *fx = *state;
    load_ok(fx, "[pool main]\n"
                "servers = 127.0.0.1:11211 127.0.0.1:11212\n"
                "[pool gutter-1]\n"
                "role = gutter\n"
                "servers = 10.0.0.1:11211,10.0.0.2:11211\n"
                "    10.0.0.3:11211\n"
                "\n"
                "    [::1]:11213\n"
                "[pool regional_a]\n"
                "servers = mc.example:11211\n"
                "role = regional\n"
                "prefix = r:\n");
    const mcsq_config *c = &fx->cfg;
    assert_int_equal(c->npools, 3);
    assert_string_equal(c->pools[0].name, "main");
    assert_int_equal(c->pools[0].role, MCSQ_POOL_CLUSTER);
    assert_int_equal(c->pools[0].line, 1);
    assert_int_equal(c->pools[0].servers.n, 2);
    assert_string_equal(c->pools[0].servers.v[1].host, "127.0.0.1");
    assert_int_equal(c->pools[0].servers.v[1].port, 11212);
    assert_string_equal(c->pools[0].prefix, "");
    assert_string_equal(c->pools[1].name, "gutter-1");
    assert_int_equal(c->pools[1].role, MCSQ_POOL_GUTTER);
    assert_int_equal(c->pools[1].servers.n, 4);
    assert_string_equal(c->pools[1].servers.v[2].host, "10.0.0.3");
    assert_string_equal(c->pools[1].servers.v[3].host, "::1");
    assert_int_equal(c->pools[1].servers.v[3].port, 11213);
    assert_int_equal(c->pools[2].role, MCSQ_POOL_REGIONAL);
    assert_string_equal(c->pools[2].prefix, "r:");
    assert_ptr_equal(mcsq_config_regional_pool(c), &c->pools[2]);
}

static void test_pool_errors(void **state)
{
    fixture *fx = *state;
    load_fails(fx, "[pool a]\nservers = h:1\n[pool a]\nservers = h:2\n", 3,
               "duplicate section [pool a] (first on line 1)");
    load_fails(fx, "[pool a]\nservers = h:1\nrole = primary\n", 3,
               "[pool a] role: \"primary\" is not one of: cluster, gutter, regional");
    load_fails(fx, "[mysql]\n[pool empty]\n\n[bus]\n", 2,
               "[pool empty] servers: required: at least 1 host:port");
    load_fails(fx, "[pool a]\nrole = gutter\n", 1, "[pool a] servers: required");
    load_fails(fx, "[pool a]\nservers =\n", 2, "[pool a] servers: required");
    load_fails(fx, "[pool a]\nservers = h:1 h:2 h:1\n", 2, "h:1 is listed twice");
    load_fails(fx, "[pool a]\nservers = h:1 h\n", 2, "[pool a] servers: \"h\" is not host:port");
    load_fails(fx, "[pool a.b]\nservers = h:1\n", 1, "[pool a.b]: expected [pool NAME]");
    load_fails(fx, "[pool]\n", 1, "expected [pool NAME]");
    load_fails(fx, "[pool a]\nservers = h:1\nsize = 3\n", 3, "[pool a]: unknown key \"size\"");
    load_fails(fx, "[pool a]\nservers = h:1\nprefix = a b\n", 3,
               "[pool a] prefix: must not contain whitespace");
    load_fails(fx,
               "[pool a]\nservers = h:1\nrole = regional\n"
               "[pool b]\nservers = h:2\n"
               "[pool c]\nservers = h:3\nrole = regional\n",
               8, "[pool c] role: a second regional pool (the first is [pool a] on line 1)");
    load_ok(fx, "[pool a]\nservers = h:1\n");
    assert_null(mcsq_config_regional_pool(&fx->cfg));
}

/* placement, ketama_points and weights (host:port:weight), and the
 * combinations check-config refuses. */
static int write_config(const fixture *fx, FILE *out);

static void test_pool_placement(void **state)
{
    fixture *fx = *state;
    load_ok(fx, "[pool a]\nservers = h:1 h:2:3 [::1]:4:10\n"
                "[pool b]\nservers = h:1\nplacement = cache-memcached-fast\nketama_points = 150\n"
                "[pool c]\nservers = h:1:1 h:2\nplacement = pymemcache\n");
    const mcsq_config *c = &fx->cfg;
    assert_int_equal(c->pools[0].placement, KEY_PLACEMENT_LIBMEMCACHED);
    assert_int_equal(c->pools[0].ketama_points, 0);
    assert_int_equal(c->pools[0].servers.v[0].weight, 0);
    assert_int_equal(c->pools[0].servers.v[1].weight, 3);
    assert_int_equal(c->pools[0].servers.v[1].port, 2);
    assert_string_equal(c->pools[0].servers.v[2].host, "::1");
    assert_int_equal(c->pools[0].servers.v[2].port, 4);
    assert_int_equal(c->pools[0].servers.v[2].weight, 10);
    assert_int_equal(c->pools[1].placement, KEY_PLACEMENT_CACHE_MEMCACHED_FAST);
    assert_int_equal(c->pools[1].ketama_points, 150);
    assert_int_equal(c->pools[2].placement, KEY_PLACEMENT_PYMEMCACHE);
    char *out = capture(fx, write_config);
    assert_non_null(strstr(out, "servers = h:1 h:2:3 [::1]:4:10\n"));
    load_ok(fx, out); /* the weights print back as written */
    assert_int_equal(fx->cfg.pools[0].servers.v[2].weight, 10);
    free(out);

    load_fails(fx, "[pool a]\nservers = h:1\nplacement = ketama\n", 3,
               "[pool a] placement: \"ketama\" is not one of: libmemcached, libmemcached-modula");
    load_fails(fx, "[pool a]\nservers = h:9 h:1:0\n", 2, "weight must be a number in 1..1000");
    load_fails(fx, "[pool a]\nservers = h:9 h:1:1001\n", 2, "weight must be a number in 1..1000");
    load_fails(fx, "[pool a]\nservers = h:9 h:1:x\n", 2, "weight must be a number");
    load_fails(fx, "[pool a]\nservers = h:9 [::1]:1:\n", 2, "weight must be a number");
    load_fails(fx, "[pool a]\nservers = h:1 h:2:2\nplacement = pymemcache\n", 2,
               "[pool a] servers: weights (host:port:weight) do not exist for placement = "
               "pymemcache");
    load_ok(fx, "[pool a]\nservers = h:1 h:2:2\nplacement = libmemcached-modula\n");
    load_fails(fx, "[pool a]\nservers = h:1:2\nplacement = all\n", 2, "placement = all");
    load_fails(
        fx, "[pool a]\nservers = h:1\nketama_points = 100\n", 3,
        "[pool a] ketama_points: only for placement = cache-memcached-fast, not libmemcached");
    load_fails(fx, "[pool a]\nservers = h:1\nrole = regional\nplacement = proxy\n", 4,
               "[pool a] placement: a regional pool holds the remote markers");
    load_fails(fx, "[pool a]\nservers = h:1\nrole = regional\nplacement = dalli\n", 4,
               "use libmemcached or all, not dalli");
    load_ok(fx, "[pool a]\nservers = h:1\nrole = regional\nplacement = all\n");
    load_fails(fx, "[pool a]\nservers = h:1\nketama_points = 10001\n", 3, "ketama_points");
    load_fails(fx, "[pool a]\nservers = h:1\nplacement = proxy\ninvalidate = stale\n", 3,
               "[pool a] placement: invalidate = stale needs the meta protocol");
    load_ok(fx, "[pool a]\nservers = h:1\nplacement = all\ninvalidate = stale\n");
    load_fails(fx, "[router]\non_gap = flush\n[pool a]\nservers = h:1\nplacement = proxy\n", 5,
               "[pool a] placement: [router] on_gap = flush sends flush_all");
    load_ok(fx, "[router]\non_gap = warn\n[pool a]\nservers = h:1\nplacement = proxy\n");
}

static void test_continuation_errors(void **state)
{
    fixture *fx = *state;
    load_fails(fx, "[mysql]\nhost = a\n  port = 3307\n", 3,
               "indented line continues the previous key's value, which must be a list");
    /* indented keys right after a header are keys */
    load_ok(fx, "[mysql]\n  port = 3307\n");
    assert_int_equal(fx->cfg.mysql.port, 3307);
    load_fails(fx, "[pool a]\nservers = h:1\n  h:2 nohost\n", 3,
               "[pool a] servers: \"nohost\" is not host:port");
}

static void test_kafka_passthrough(void **state)
{
    fixture *fx = *state;
    load_ok(fx, "[bus]\n"
                "kafka.security.protocol = ssl\n"
                "brokers = k1:9092,k2:9092\n"
                "kafka.acks = all\n"
                "kafka.compression.type = zstd\n");
    const mcsq_config_props *p = &fx->cfg.bus.kafka;
    assert_int_equal(p->n, 3);
    assert_string_equal(p->v[0].name, "security.protocol");
    assert_string_equal(p->v[0].value, "ssl");
    assert_int_equal(p->v[0].line, 2);
    assert_string_equal(p->v[1].name, "acks");
    assert_string_equal(p->v[1].value, "all");
    assert_string_equal(p->v[2].name, "compression.type");
    assert_int_equal(p->v[2].line, 5);
    load_fails(fx, "[bus]\nkafka.acks =\n", 2, "[bus] kafka.acks: value must not be empty");
    load_fails(fx, "[bus]\nkafka. = 1\n", 2, "[bus] kafka.: property name missing");
    load_fails(fx, "[bus]\nkafka.acks = 1\nkafka.acks = all\n", 3, "set twice (first on line 2)");
    load_fails(fx, "[mysql]\nkafka.acks = 1\n", 2, "[mysql]: unknown key \"kafka.acks\"");
}

static void test_brokers(void **state)
{
    fixture *fx = *state;
    load_ok(fx, "[bus]\nbrokers = k1:9092, k2:9093,[::1]:9094\n");
    assert_string_equal(fx->cfg.bus.brokers, "k1:9092, k2:9093,[::1]:9094");
    static const bad_value bad[] = {
        {"k1:9092,,k2:9092", "\"\" is not host:port"},
        {"k1:9092 k2:9092", "is not host:port"},
        {"", "[bus] brokers: must not be empty"},
    };
    values_fail(fx, "bus", "brokers", bad, NWANT(bad));
}

static void test_identifiers(void **state)
{
    fixture *fx = *state;
    load_ok(fx, "[heartbeat]\ntable = ops.mcsqueal_heartbeat\n[router]\ncluster = a\n");
    assert_string_equal(fx->cfg.heartbeat.table, "ops.mcsqueal_heartbeat");
    static const bad_value bad_table[] = {
        {"mcsqueal_heartbeat", "is not database.table"},
        {"heart-beat", "is not database.table"},
        {"123", "is not database.table"},
        {"a.b.c", "is not database.table"},
    };
    values_fail(fx, "heartbeat", "table", bad_table, NWANT(bad_table));
    load_fails(fx, "[router]\ncluster = a/b\n", 2, "[router] cluster: \"a/b\": only letters");
    load_fails(fx, "[bus]\ntopic = my topic\n", 2, "[bus] topic: \"my topic\": only letters");
}

static void start_ok(fixture *fx, const char *value, mcsq_start_kind kind)
{
    char text[256];
    snprintf(text, sizeof(text), "[mysql]\nstart = %s\n", value);
    load_ok(fx, text);
    assert_int_equal(fx->cfg.mysql.start_at.kind, kind);
}

static void test_start_variants(void **state)
{
    fixture *fx = *state;
    start_ok(fx, "end", MCSQ_START_END);
    start_ok(fx, "begin", MCSQ_START_BEGIN);
    start_ok(fx, "gtid:0-1-42,1-2-7", MCSQ_START_GTID);
    assert_string_equal(fx->cfg.mysql.start_at.gtid, "0-1-42,1-2-7");
    start_ok(fx,
             "gtid:3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7, "
             "3e11fa47-71ca-11e1-9e33-c80aa9429563:tag_1:3",
             MCSQ_START_GTID);
    start_ok(fx, "file:binlog.000003:8812", MCSQ_START_FILE);
    assert_string_equal(fx->cfg.mysql.start_at.file, "binlog.000003");
    assert_int_equal(fx->cfg.mysql.start_at.pos, 8812);
    start_ok(fx, "file:host:1-bin.000001:4", MCSQ_START_FILE);
    assert_string_equal(fx->cfg.mysql.start_at.file, "host:1-bin.000001");

    static const struct {
        const char *value, *needle;
    } bad[] = {
        {"middle", "expected end, begin"},
        {"END", "expected end, begin"},
        {"gtid:", "empty GTID list"},
        {"gtid:0-1", "\"0-1\" is neither a MariaDB GTID"},
        {"gtid:0-1-x", "is neither"},
        {"gtid:0-1-42,,1-2-3", "\"\" is neither"},
        {"gtid:0-1-42,3e11fa47-71ca-11e1-9e33-c80aa9429562:1", "mixes MariaDB and MySQL"},
        {"gtid:3e11fa47-71ca-11e1-9e33-c80aa9429562", "is neither"},
        {"gtid:3e11fa47-71ca-11e1-9e33-c80aa9429562:5-2", "is neither"},
        {"gtid:3e11fa47-71ca-11e1-9e33-c80aa9429562:tag", "is neither"},
        {"gtid:3e11fa47-71ca-11e1-9e33-c80aa942956:1", "is neither"},
        {"file:binlog.000003", "expected file:<name>:<pos>"},
        {"file::100", "expected file:<name>:<pos>"},
        {"file:binlog.000003:3", "position \"3\" is not a number >= 4"},
        {"file:binlog.000003:", "position \"\" is not a number"},
        {"file:dir/binlog.000003:100", "no '/' or whitespace"},
    };
    char text[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[mysql]\n\nstart = %s\n", bad[i].value);
        load_fails(fx, text, 3, bad[i].needle);
        assert_error(fx, 3, "[mysql] start: ");
    }
}

static void test_start_parse_api(void **state)
{
    mcsq_start st;
    char err[256];
    (void)state;
    assert_int_equal(mcsq_start_parse("file:mysql-bin.000001:120", &st, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(st.kind, MCSQ_START_FILE);
    assert_int_equal(st.pos, 120);
    mcsq_start_deinit(&st);
    assert_null(st.file);
    assert_int_equal(mcsq_start_parse("gtid:x", NULL, err, sizeof(err)), MCSQ_ERR_CONFIG);
    assert_non_null(strstr(err, "\"x\" is neither"));
}

static void test_password_from_file(void **state)
{
    fixture *fx = *state;
    char text[256];
    const char *pw = write_file(fx, "pw", "s3cret;#\r\n\n");
    setenv(MCSQ_CONFIG_PASSWORD_ENV, "from-env", 1);
    snprintf(text, sizeof(text), "[mysql]\npassword_file = %s\n", pw);
    load_ok(fx, text);
    assert_string_equal(fx->cfg.mysql.password, "s3cret;#");

    write_file(fx, "pw", "\n");
    load_fails(fx, text, 2, "[mysql] password_file: ");
    assert_error(fx, 2, "\" is empty");

    snprintf(text, sizeof(text), "[mysql]\n\npassword_file = %s/none\n", fx->dir);
    load_fails(fx, text, 3, "cannot open");
    /* the password itself is not a key */
    load_fails(fx, "[mysql]\npassword = s3cret\n", 2, "unknown key \"password\"");
}

static void test_password_from_env(void **state)
{
    fixture *fx = *state;
    load_ok(fx, "[mysql]\nuser = repl\n");
    assert_null(fx->cfg.mysql.password);
    setenv(MCSQ_CONFIG_PASSWORD_ENV, "env-pass word", 1);
    load_ok(fx, "[mysql]\nuser = repl\n");
    assert_string_equal(fx->cfg.mysql.password, "env-pass word");
    setenv(MCSQ_CONFIG_PASSWORD_ENV, "", 1);
    load_ok(fx, "[mysql]\nuser = repl\n");
    assert_null(fx->cfg.mysql.password);
}

static void test_consumer_group(void **state)
{
    fixture *fx = *state;
    char group[64];
    load_ok(fx, "[mcsqueal]\nregion = east\n[router]\ncluster = a\n");
    assert_int_equal(mcsq_config_consumer_group(&fx->cfg, group, sizeof(group)), MCSQ_OK);
    assert_string_equal(group, "mcsqueal.east.a");
    assert_int_equal(mcsq_config_consumer_group(&fx->cfg, group, 15), MCSQ_ERR_LIMIT);
    assert_int_equal(mcsq_config_consumer_group(&fx->cfg, group, 16), MCSQ_OK);
}

static int write_reference(const fixture *fx, FILE *out)
{
    (void)fx;
    return mcsq_config_write_reference(out);
}

static int write_config(const fixture *fx, FILE *out)
{
    return mcsq_config_write(&fx->cfg, out);
}

/* The Kafka SASL password: from [bus] sasl_password_file, else the
 * environment; never printed (only where it came from). */
static void test_kafka_sasl_password(void **state)
{
    fixture *fx = *state;
    char text[512];
    const char *pw = write_file(fx, "kpw", "scram-pass;#\n");
    setenv(MCSQ_CONFIG_KAFKA_PASSWORD_ENV, "from-env", 1);
    snprintf(text, sizeof(text),
             "[bus]\nbrokers = k:9092\nsasl_password_file = %s\n"
             "kafka.security.protocol = sasl_plaintext\nkafka.sasl.mechanisms = SCRAM-SHA-256\n"
             "kafka.sasl.username = u\n",
             pw);
    load_ok(fx, text);
    assert_string_equal(fx->cfg.bus.sasl_password, "scram-pass;#");
    char *out = capture(fx, write_config);
    assert_null(strstr(out, "scram-pass"));
    assert_non_null(strstr(out, "; sasl password: read from sasl_password_file (hidden)\n"));
    free(out);

    load_ok(fx, "[bus]\nbrokers = k:9092\nkafka.security.protocol = sasl_ssl\n"
                "kafka.sasl.mechanism = SCRAM-SHA-512\nkafka.sasl.username = u\n");
    assert_string_equal(fx->cfg.bus.sasl_password, "from-env");
    out = capture(fx, write_config);
    assert_null(strstr(out, "from-env"));
    assert_non_null(
        strstr(out, "; sasl password: from " MCSQ_CONFIG_KAFKA_PASSWORD_ENV " (hidden)\n"));
    free(out);

    unsetenv(MCSQ_CONFIG_KAFKA_PASSWORD_ENV);
    load_ok(fx, "[bus]\n");
    assert_null(fx->cfg.bus.sasl_password);
    out = capture(fx, write_config);
    assert_non_null(strstr(out, "; sasl password: none\n"));
    free(out);

    write_file(fx, "kpw", "\n");
    want_error empty[] = {{3, "[bus] sasl_password_file: "}, {5, "needs a password"}};
    load_fails_with(fx, text, empty, NWANT(empty));
    assert_error(fx, 3, "\" is empty");
    /* the password itself is not a key */
    load_fails(fx, "[bus]\nsasl_password = s3cret\n", 2, "unknown key \"sasl_password\"");
}

/* check-config catches the usual mistakes of the bus's security settings. */
static void test_kafka_security_mistakes(void **state)
{
    fixture *fx = *state;
    char text[768];
    const char *ca = write_file(fx, "ca.pem", "not checked here\n");
    snprintf(text, sizeof(text),
             "[bus]\nkafka.security.protocol = ssl\nkafka.ssl.ca.location = %s\n", ca);
    load_ok(fx, text);
    load_ok(fx, "[bus]\nkafka.security.protocol = SSL\nkafka.ssl.ca.location = probe\n");
    snprintf(text, sizeof(text),
             "[bus]\nkafka.security.protocol = ssl\nkafka.ssl.ca.location = %s/none.pem\n",
             fx->dir);
    load_fails(fx, text, 3, "[bus] kafka.ssl.ca.location: cannot read \"");
    assert_error(fx, 3, "No such file or directory");
    snprintf(text, sizeof(text),
             "[bus]\nkafka.security.protocol = ssl\n\nkafka.ssl.key.location = %s/k.pem\n",
             fx->dir);
    load_fails(fx, text, 4, "[bus] kafka.ssl.key.location: cannot read");

    /* SASL without a mechanism (librdkafka would quietly try GSSAPI) */
    load_fails(fx, "[bus]\nkafka.security.protocol = sasl_ssl\n", 2,
               "kafka.security.protocol = sasl_ssl needs kafka.sasl.mechanisms");
    /* SCRAM without a user name or a password */
    want_error no_user_pw[] = {
        {3, "kafka.sasl.mechanisms = SCRAM-SHA-256 needs kafka.sasl.username"},
        {3, "needs a password: [bus] sasl_password_file or the "
            "environment variable " MCSQ_CONFIG_KAFKA_PASSWORD_ENV}};
    load_fails_with(fx,
                    "[bus]\nkafka.security.protocol = sasl_plaintext\n"
                    "kafka.sasl.mechanisms = SCRAM-SHA-256\n",
                    no_user_pw, NWANT(no_user_pw));
    /* a mechanism, or SSL settings, the protocol ignores */
    load_fails(fx, "[bus]\nkafka.sasl.mechanisms = PLAIN\n", 2,
               "kafka.sasl.mechanisms is ignored unless kafka.security.protocol is sasl_ssl or "
               "sasl_plaintext (it is plaintext)");
    snprintf(text, sizeof(text), "[bus]\nkafka.ssl.ca.location = %s\n", ca);
    load_fails(fx, text, 2,
               "kafka.ssl.ca.location is ignored unless kafka.security.protocol is "
               "ssl or sasl_ssl");
    /* the password twice */
    setenv(MCSQ_CONFIG_KAFKA_PASSWORD_ENV, "env", 1);
    load_fails(fx,
               "[bus]\nkafka.security.protocol = sasl_ssl\nkafka.sasl.mechanisms = PLAIN\n"
               "kafka.sasl.username = u\nkafka.sasl.password = p\n",
               5, "kafka.sasl.password and " MCSQ_CONFIG_KAFKA_PASSWORD_ENV " both give");
    unsetenv(MCSQ_CONFIG_KAFKA_PASSWORD_ENV);
    load_ok(fx, "[bus]\nkafka.security.protocol = sasl_ssl\nkafka.sasl.mechanisms = PLAIN\n"
                "kafka.sasl.username = u\nkafka.sasl.password = p\n");
    load_ok(fx, "[bus]\nkafka.security.protocol = sasl_ssl\nkafka.sasl.mechanisms = GSSAPI\n");
}

static void test_reference_lists_every_key(void **state)
{
    size_t n, nsec;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    const mcsq_config_section *secs = mcsq_config_sections(&nsec);
    char *ref = capture(*state, write_reference);
    char needle[128];
    assert_non_null(strstr(ref, "# Configuration reference"));
    for (size_t i = 0; i < nsec; i++) {
        snprintf(needle, sizeof(needle), "\n## [%s%s]\n", secs[i].name,
                 secs[i].named ? " NAME" : "");
        assert_non_null(strstr(ref, needle));
    }
    for (size_t i = 0; i < n; i++) {
        assert_true(rows[i].desc != NULL && rows[i].desc[0] != '\0');
        snprintf(needle, sizeof(needle), "| `%s` | ", rows[i].name);
        assert_non_null(strstr(ref, needle));
    }
    assert_non_null(strstr(ref, "| `port` | integer | `3306` | 1..65535 | "));
    assert_non_null(strstr(ref, "| `batch_max_bytes` | size | `900k` | 1k..1000000000 | "));
    assert_non_null(strstr(ref, "`error`, `warn`, `info`, `debug`"));
    free(ref);
}

static void test_print_roundtrip_hides_secrets(void **state)
{
    fixture *fx = *state;
    char text[512];
    const char *pw = write_file(fx, "pw", "hunter2\n");
    snprintf(text, sizeof(text),
             "[mcsqueal]\nname = db1\nregion = east\n[mysql]\npassword_file = %s\n"
             "start = file:binlog.000001:4\n[bus]\nkafka.sasl.password = hunter3\n"
             "kafka.acks = all\nbatch_max_bytes = 65536\n"
             "[pool main]\nservers = a:1 [::1]:2\nrole = gutter\n",
             pw);
    load_ok(fx, text);
    char *out = capture(fx, write_config);
    assert_null(strstr(out, "hunter2"));
    assert_null(strstr(out, "hunter3"));
    assert_non_null(strstr(out, "; password: read from password_file (hidden)\n"));
    assert_non_null(strstr(out, "kafka.sasl.password = <hidden>\n"));
    assert_non_null(strstr(out, "kafka.acks = all\n"));
    assert_non_null(strstr(out, "\n[pool main]\nservers = a:1 [::1]:2\nrole = gutter\n"));
    assert_non_null(strstr(out, "batch_max_bytes = 64k\n"));
    assert_non_null(strstr(out, "topic = mcsqueal.east\n"));

    mcsq_config first = fx->cfg;
    memset(&fx->cfg, 0, sizeof(fx->cfg));
    load_ok(fx, out); /* the printed configuration loads again */
    assert_string_equal(fx->cfg.mcsqueal.name, "db1");
    assert_int_equal(fx->cfg.bus.batch_max_bytes, 65536);
    assert_int_equal(fx->cfg.pools[0].servers.n, 2);
    assert_int_equal(fx->cfg.mysql.start_at.pos, 4);
    assert_string_equal(fx->cfg.metrics.listen.host, first.metrics.listen.host);
    mcsq_config_deinit(&first);
    free(out);
}

/* A kafka.* line that fits only without the spaces `--print` puts around
 * "=" (or whose secret value is shorter than "<hidden>") is refused, so that
 * whatever loads prints back as a file that loads again. */
static void test_print_roundtrip_long_property(void **state)
{
    fixture *fx = *state;
    char name[200], text[600];
    /* "kafka." + name + " = " + "v": exactly 198 bytes: loads and prints back */
    memset(name, 'x', 188);
    name[188] = '\0';
    snprintf(text, sizeof(text), "[bus]\nkafka.%s = v\n", name);
    load_ok(fx, text);
    char *out = capture(fx, write_config);
    load_ok(fx, out);
    free(out);
    /* one byte more fits the reader's line only as "name=value" */
    snprintf(text, sizeof(text), "[bus]\nkafka.%sx=v\n", name);
    load_fails(fx, text, 2, "take more than the 198 bytes of one line");
    /* a secret printed as <hidden> is longer than its value: 197 bytes as
     * written, 200 as printed */
    memset(name, 'x', 183);
    memcpy(name, "password", 8);
    name[183] = '\0';
    snprintf(text, sizeof(text), "[bus]\nkafka.%s = short\n", name);
    load_fails(fx, text, 2, "take more than the 198 bytes of one line");
    /* a value starting with ';' would print as a comment */
    load_fails(fx, "[bus]\nkafka.acks =;all\n", 2,
               "[bus] kafka.acks: a value must not start with ';'");
    load_fails(fx, "[mcsqueal]\nlog_file =;x\n", 2, "log_file: a value must not start with ';'");
}

/* Whether the file at path has a line starting with prefix, followed by a
 * space or the line end (any_tail: followed by anything). */
static bool file_has_line(const char *path, const char *prefix, bool any_tail)
{
    char line[512];
    bool found = false;
    size_t len = strlen(prefix);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strncmp(line, prefix, len) == 0 && (any_tail || strchr(" \n", line[len]));
    fclose(f);
    return found;
}

/* examples/mcsqueal.ini loads, and names every key, commented, with its
 * default: ";key = default" (";key =" when empty; ";key" when derived). */
static void test_example_config(void **state)
{
    fixture *fx = *state;
    const char *src = getenv("MCSQ_SOURCE_DIR");
    char path[512], want[256];
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    if (src == NULL)
        MCSQ_SKIP_TEST("source-dir", "MCSQ_SOURCE_DIR is not set (ctest sets it)");
    snprintf(path, sizeof(path), "%s/examples/mcsqueal.ini", src);
    fx->path = path;
    assert_int_equal(mcsq_config_load(&fx->cfg, path, &fx->errs), MCSQ_OK);
    for (size_t i = 0; i < n; i++) {
        const mcsq_config_row *r = &rows[i];
        bool derived = r->def == NULL || r->type == MCSQ_CONF_PROPS;
        if (derived)
            snprintf(want, sizeof(want), ";%.*s", (int)strcspn(r->name, "*"), r->name);
        else
            snprintf(want, sizeof(want), ";%s =%s%s", r->name, r->def[0] ? " " : "", r->def);
        if (!file_has_line(path, want, derived))
            fail_msg("examples/mcsqueal.ini lacks a line \"%s\"", want);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_empty_file_derives_name_and_topic),
        T(test_topic_derived_from_region),
        T(test_string_values),
        T(test_int_values),
        T(test_bool_values),
        T(test_enum_values),
        T(test_duration_values),
        T(test_size_values),
        T(test_hostport_values),
        T(test_unknown_key_and_section),
        T(test_multiple_errors_collected),
        T(test_error_text_has_file_and_line),
        T(test_error_list_is_bounded),
        T(test_missing_file),
        T(test_duplicates),
        T(test_syntax_errors),
        T(test_long_line),
        T(test_pools),
        T(test_pool_errors),
        T(test_pool_placement),
        T(test_continuation_errors),
        T(test_kafka_passthrough),
        T(test_brokers),
        T(test_identifiers),
        T(test_start_variants),
        T(test_start_parse_api),
        T(test_password_from_file),
        T(test_password_from_env),
        T(test_kafka_sasl_password),
        T(test_kafka_security_mistakes),
        T(test_consumer_group),
        T(test_reference_lists_every_key),
        T(test_print_roundtrip_hides_secrets),
        T(test_print_roundtrip_long_property),
        T(test_example_config),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
