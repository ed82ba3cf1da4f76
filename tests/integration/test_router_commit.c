/*
 * The router's commit rule, deterministically: a bus offset is committed,
 * and the router's done offset moves, only after every delete of the message
 * was confirmed by memcached or written to the spool. A real router (router.h)
 * reads the embedded bus; its pools all point at one memcached, which is
 * stopped (SIGSTOP: deletes hang instead of failing fast) while a message
 * waits. Each pool's delete then waits for the pool's poll timeout before it
 * is spooled, so the message stays unfinished for NPOOLS timeouts. Neither
 * the group's committed offset (read from the bus) nor the done offset may
 * pass the message until the server answers again (the later pools' deletes
 * are confirmed) or every pool spooled its delete; then both move. At every
 * sample the committed offset is at most the done offset.
 */
#include "bus/bus_embedded.h"
#include "core/config.h"
#include "invalidator/mc_pool.h"
#include "invalidator/router.h"
#include "mcsqueal/error.h"
#include "memcached_server.h"
#include "test_support.h"

#include <librdkafka/rdkafka.h>

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "skip.h"

#define NPOOLS 6     /* the message waits NPOOLS poll timeouts when nothing answers */
#define HANG_MS 3000 /* how long a stopped server is watched: within NPOOLS timeouts */
#define REGION "itest"
#define TOPIC "mcsqueal.itest"
#define GROUP_WAIT_MS 30000 /* the first message: group join and assignment */
#define MOVE_WAIT_MS 20000

typedef struct fixture {
    char dir[64];
    memcached_server *mc;
    bus_embedded *bus;
    mcsq_config cfg;
    router *r;
    atomic_bool stop;
    pthread_t thread;
    int rc;
    char err[512];
    rd_kafka_t *producer;
    rd_kafka_t *reader; /* of the router's group's committed offsets */
    char group[256];
} fixture;

static void *router_main(void *arg)
{
    fixture *fx = arg;
    fx->rc = router_run(fx->r, &fx->stop, fx->err, sizeof(fx->err));
    return NULL;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap, const char *group)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    if (group != NULL)
        assert_int_equal(rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)),
                         RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (rk == NULL)
        fail_msg("rd_kafka_new: %s", err);
    return rk;
}

static void write_config(fixture *fx, const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "[mcsqueal]\nname = db-commit-1\nregion = " REGION "\nstate_dir = %s/state\n"
            "[bus]\ntopic = " TOPIC "\n[router]\ncluster = c1\n[metrics]\nlisten =\n",
            fx->dir);
    for (int i = 0; i < NPOOLS; i++)
        fprintf(f, "[pool p%d]\nservers = 127.0.0.1:%d\n", i, fx->mc->port);
    fclose(f);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    char err[1024], path[128];
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/mcsq-router-commit-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    if (memcached_server_start(&fx->mc, 0, 16, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    static const char *const topics[] = {TOPIC, NULL};
    bus_embedded_opts opts = {1, 1, topics};
    assert_int_equal(bus_embedded_new(&fx->bus, &opts, err, sizeof(err)), MCSQ_OK);
    snprintf(path, sizeof(path), "%s/state", fx->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/router.ini", fx->dir);
    write_config(fx, path);
    mcsq_config_errors errs;
    mcsq_config_errors_init(&errs);
    int rc = mcsq_config_load(&fx->cfg, path, &errs);
    if (rc != MCSQ_OK)
        mcsq_config_errors_print(&errs, stdout);
    mcsq_config_errors_deinit(&errs);
    assert_int_equal(rc, MCSQ_OK);
    const char *bootstrap = bus_embedded_bootstrap(fx->bus);
    if (router_new(&fx->r, &fx->cfg, bootstrap, NULL, NULL, err, sizeof(err)) != MCSQ_OK)
        fail_msg("router_new: %s", err);
    assert_int_equal(mcsq_config_consumer_group(&fx->cfg, fx->group, sizeof(fx->group)), MCSQ_OK);
    assert_int_equal(pthread_create(&fx->thread, NULL, router_main, fx), 0);
    fx->producer = client(RD_KAFKA_PRODUCER, bootstrap, NULL);
    fx->reader = client(RD_KAFKA_CONSUMER, bootstrap, fx->group);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    memcached_server_resume(fx->mc);
    atomic_store(&fx->stop, true);
    pthread_join(fx->thread, NULL);
    rd_kafka_destroy(fx->reader);
    rd_kafka_flush(fx->producer, 5000);
    rd_kafka_destroy(fx->producer);
    router_destroy(fx->r);
    mcsq_config_deinit(&fx->cfg);
    bus_embedded_destroy(fx->bus);
    memcached_server_stop(fx->mc);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", fx->dir);
    free(fx);
    return 0;
}

/* One bus message (contract version 1) invalidating key, on partition 0. */
static void produce(fixture *fx, const char *key)
{
    char msg[512];
    int n = snprintf(msg, sizeof(msg),
                     "{\"v\":1,\"source\":\"db-commit-1\",\"region\":\"" REGION "\",\"txns\":"
                     "[{\"gtid\":\"0-1-1\",\"pos\":\"binlog.000001:4\",\"commit_us\":1,"
                     "\"read_us\":1,\"keys\":[\"%s\"]}]}",
                     key);
    assert_int_equal(rd_kafka_producev(fx->producer, RD_KAFKA_V_TOPIC(TOPIC),
                                       RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE(msg, (size_t)n),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(fx->producer, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* The group's committed offset of partition 0 (-1: none yet). */
static int64_t committed(fixture *fx)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 0);
    rd_kafka_resp_err_t e = rd_kafka_committed(fx->reader, parts, 10000);
    int64_t offset = parts->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(parts);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        fail_msg("reading the committed offset: %s", rd_kafka_err2str(e));
    return offset < 0 ? -1 : offset;
}

/* Samples (committed, done) every 50 ms for ms milliseconds, or until both
 * are at least `until` (until < 0: the whole time). Fails when the committed
 * offset passes the done offset, the router stops, or (hold) either moves
 * away from `hold`. Returns the last done offset. */
static int64_t watch(fixture *fx, long long ms, int64_t until, int64_t hold)
{
    long long deadline = ts_now_ms() + ms;
    int64_t c, d;
    do {
        c = committed(fx); /* first: the done offset only grows */
        d = router_done_offset(fx->r);
        if (c > d)
            fail_msg("bus offset %lld committed while the router is done only up to %lld",
                     (long long)c, (long long)d);
        if (hold >= 0 && (c != hold || d != hold))
            fail_msg("offsets moved while memcached was stopped: committed %lld, done %lld "
                     "(both must stay at %lld)",
                     (long long)c, (long long)d, (long long)hold);
        if (fx->rc != MCSQ_OK)
            fail_msg("the router stopped: %s", fx->err);
        if (until >= 0 && c >= until && d >= until)
            return d;
        ts_sleep_ms(50);
    } while (ts_now_ms() < deadline);
    if (until >= 0)
        fail_msg("offsets did not reach %lld in %lld ms: committed %lld, done %lld",
                 (long long)until, ms, (long long)c, (long long)d);
    return d;
}

static void set_key(fixture *fx, const char *key)
{
    char line[128], buf[256];
    snprintf(line, sizeof(line), "set %s 0 0 1\r\nx", key);
    assert_int_equal(memcached_server_command(fx->mc, line, NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "STORED\r\n");
}

static void wait_gone(fixture *fx, const char *key)
{
    long long deadline = ts_now_ms() + MOVE_WAIT_MS;
    while (memcached_server_has(fx->mc, key) != 0) {
        if (ts_now_ms() > deadline)
            fail_msg("key %s was never deleted", key);
        ts_sleep_ms(50);
    }
}

static void test_commit_waits_for_deletes(void **state)
{
    fixture *fx = *state;
    /* a first message while memcached answers: the group is joined */
    set_key(fx, "warm:1");
    produce(fx, "warm:1");
    watch(fx, GROUP_WAIT_MS, 1, -1);
    assert_int_equal(memcached_server_has(fx->mc, "warm:1"), 0);

    /* stopped: the deletes hang; nothing moves until memcached answers */
    set_key(fx, "hang:1");
    assert_int_equal(memcached_server_pause(fx->mc), 0);
    long long t0 = ts_now_ms();
    produce(fx, "hang:1");
    watch(fx, HANG_MS - (ts_now_ms() - t0), -1, 1);
    assert_true(ts_now_ms() - t0 < (long long)NPOOLS * MC_POOL_TIMEOUT_DEFAULT_MS);
    assert_int_equal(memcached_server_resume(fx->mc), 0);
    watch(fx, MOVE_WAIT_MS, 2, -1);
    wait_gone(fx, "hang:1");

    /* stopped for good: the message is done once every pool spooled it */
    set_key(fx, "spool:1");
    assert_int_equal(memcached_server_pause(fx->mc), 0);
    t0 = ts_now_ms();
    produce(fx, "spool:1");
    watch(fx, (long long)NPOOLS * MC_POOL_TIMEOUT_DEFAULT_MS + MOVE_WAIT_MS, 3, -1);
    print_message("done while memcached was stopped, after %lld ms\n", ts_now_ms() - t0);
    assert_int_equal(memcached_server_resume(fx->mc), 0);
    wait_gone(fx, "spool:1"); /* replayed from the spool */
}

int main(void)
{
    char path[512];
    if (memcached_server_find(path, sizeof(path)) != 0)
        return MCSQ_SKIP_EXIT("memcached", "the router commit test: %s", path);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_waits_for_deletes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
