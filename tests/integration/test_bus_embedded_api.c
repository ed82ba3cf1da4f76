/*
 * Integration tests of the embedded bus API (bus/bus_embedded.h) with
 * real librdkafka clients over loopback TCP. Besides the API's own promises
 * (loopback only, topics and partitions as asked, argument checks, the
 * atomic bootstrap file), these pin what docs/bus.md says about the mock
 * cluster: idempotent producers deliver everything in order, also when
 * responses are lost and batches are retried; a partition keeps at most
 * 5 MiB, after which the earliest offset moves and a reader at offset 0 gets
 * an offset reset; committed group offsets outlive the consumer that made
 * them.
 */
#include "bus/bus_embedded.h"
#include "mcsqueal/error.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define TOPIC "mcsqueal.itest"
#define KEY "db-east-1"
#define BIG_VALUE (100 * 1024)
#define POLL_MS 100
#define WAIT_MS 10000
#define RETRY_DELAY_MS 5000 /* injected Produce response delay */

/* ---- clients ---- */

typedef struct delivery {
    long ok, failed, persisted;
    long errors; /* client-level errors (timeouts, disconnects) */
} delivery;

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)err;
    (void)reason;
    ((delivery *)opaque)->errors++;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    delivery *d = opaque;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        d->failed++;
        return;
    }
    d->ok++;
    if (rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_PERSISTED)
        d->persisted++;
}

static void conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK)
        fail_msg("%s=%s: %s", name, value, err);
}

/* props: name, value, ..., NULL. */
static rd_kafka_conf_t *conf_new(const char *bootstrap, const char *const *props)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", bootstrap);
    for (size_t i = 0; props != NULL && props[i] != NULL; i += 2)
        conf_set(conf, props[i], props[i + 1]);
    return conf;
}

static rd_kafka_t *producer_new(const char *bootstrap, delivery *d, const char *const *props)
{
    char err[256];
    rd_kafka_conf_t *conf = conf_new(bootstrap, props);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk == NULL)
        fail_msg("producer: %s", err);
    return rk;
}

/* rd_kafka_assign() needs a group.id; props may override this one. */
static rd_kafka_t *consumer_new(const char *bootstrap, const char *const *props)
{
    char err[256];
    rd_kafka_conf_t *conf = conf_new(bootstrap, props);
    size_t dummy = 0;
    if (rd_kafka_conf_get(conf, "group.id", NULL, &dummy) != RD_KAFKA_CONF_OK || dummy <= 1)
        conf_set(conf, "group.id", "itest-reader");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (rk == NULL)
        fail_msg("consumer: %s", err);
    return rk;
}

static void produce(rd_kafka_t *rk, int32_t partition, const void *value, size_t len)
{
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(partition),
                                    RD_KAFKA_V_KEY(KEY, strlen(KEY)),
                                    RD_KAFKA_V_VALUE((void *)value, len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk, POLL_MS);
    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_poll(rk, 0);
}

/* Produces "msg-NNNNNN" for n in [first, first + count) to partition 0. */
static void produce_numbered(rd_kafka_t *rk, int first, int count)
{
    for (int i = first; i < first + count; i++) {
        char value[32];
        int len = snprintf(value, sizeof(value), "msg-%06d", i);
        produce(rk, 0, value, (size_t)len);
    }
}

static void flush_all(rd_kafka_t *rk)
{
    assert_int_equal(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Assigns partition 0 of TOPIC at offset. */
static void assign_at(rd_kafka_t *rk, int64_t offset)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 0)->offset = offset;
    assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* A consumed message, or the error the consumer reported instead. */
typedef struct record {
    rd_kafka_resp_err_t err;
    int64_t offset;
    char key[32];
    char value[32];
} record;

/* Polls the next message or error; fails the test after WAIT_MS. */
static record next_record(rd_kafka_t *rk)
{
    for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, POLL_MS);
        if (m == NULL || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m != NULL)
                rd_kafka_message_destroy(m);
            continue;
        }
        record r = {.err = m->err, .offset = m->offset};
        snprintf(r.key, sizeof(r.key), "%.*s", (int)m->key_len, m->key ? (char *)m->key : "");
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
            snprintf(r.value, sizeof(r.value), "%.*s", (int)m->len, (char *)m->payload);
        rd_kafka_message_destroy(m);
        return r;
    }
    fail_msg("no message within %d ms", WAIT_MS);
    return (record){0};
}

static void watermarks(rd_kafka_t *rk, int64_t *lo, int64_t *hi)
{
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, TOPIC, 0, lo, hi, WAIT_MS),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

static bus_embedded *bus_with_topic(int brokers, int partitions)
{
    static const char *const topics[] = {TOPIC, NULL};
    bus_embedded_opts opts = {brokers, partitions, topics};
    bus_embedded *bus;
    char err[512] = "";
    int rc = bus_embedded_new(&bus, &opts, err, sizeof(err));
    if (rc != MCSQ_OK)
        fail_msg("bus_embedded_new: %s: %s", mcsq_strerror(rc), err);
    return bus;
}

/* Counts comma-separated entries that are 127.0.0.1:PORT with PORT in 1..65535. */
static int loopback_entries(const char *list)
{
    int n = 0;
    for (const char *p = list; *p != '\0';) {
        unsigned port;
        int used = 0;
        if (sscanf(p, "127.0.0.1:%5u%n", &port, &used) != 1 || port == 0 || port > 65535 ||
            (p[used] != ',' && p[used] != '\0'))
            return -1;
        n++;
        p += used + (p[used] == ',');
    }
    return n;
}

/* ---- tests ---- */

static void test_defaults_one_loopback_broker(void **state)
{
    (void)state;
    bus_embedded *bus;
    char err[256];
    assert_int_equal(bus_embedded_new(&bus, NULL, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(loopback_entries(bus_embedded_bootstrap(bus)), 1);
    assert_non_null(bus_embedded_mock_cluster(bus));
    bus_embedded_destroy(bus);
    bus_embedded_destroy(NULL);
}

static void expect_invalid(int brokers, int partitions, const char *topic, const char *needle)
{
    const char *topics[] = {topic, NULL};
    bus_embedded_opts opts = {brokers, partitions, topics};
    bus_embedded *bus = (bus_embedded *)&opts; /* must be reset to NULL */
    char err[256] = "";
    assert_int_equal(bus_embedded_new(&bus, &opts, err, sizeof(err)), MCSQ_ERR_INVALID);
    assert_null(bus);
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void test_rejects_bad_arguments(void **state)
{
    (void)state;
    expect_invalid(-1, 1, "t", "brokers: must be 1-16");
    expect_invalid(BUS_EMBEDDED_MAX_BROKERS + 1, 1, "t", "brokers");
    expect_invalid(1, -3, "t", "partitions: must be 1-1024");
    expect_invalid(1, BUS_EMBEDDED_MAX_PARTITIONS + 1, "t", "partitions");
    expect_invalid(1, 1, "", "topic \"\"");
    expect_invalid(1, 1, "a topic", "only letters");
    expect_invalid(1, 1, "..", "not \".\" or \"..\"");

    bus_embedded *bus = bus_with_topic(1, 1);
    char err[256] = "";
    assert_int_equal(bus_embedded_topic_create(bus, TOPIC, 1, err, sizeof(err)), MCSQ_ERR_INVALID);
    assert_non_null(strstr(err, "already exists"));
    assert_int_equal(bus_embedded_topic_create(bus, "other", 0, err, sizeof(err)), MCSQ_OK);
    bus_embedded_destroy(bus);
}

/* Three brokers and two partitions, as a client's metadata shows them. */
static void test_brokers_and_partitions_as_asked(void **state)
{
    (void)state;
    bus_embedded *bus = bus_with_topic(3, 2);
    assert_int_equal(loopback_entries(bus_embedded_bootstrap(bus)), 3);
    delivery d = {0};
    rd_kafka_t *rk = producer_new(bus_embedded_bootstrap(bus), &d, NULL);
    const struct rd_kafka_metadata *md;
    assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, WAIT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->broker_cnt, 3);
    for (int i = 0; i < md->broker_cnt; i++)
        assert_string_equal(md->brokers[i].host, "127.0.0.1");
    int found = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, TOPIC) == 0) {
            found = 1;
            assert_int_equal(md->topics[i].partition_cnt, 2);
        }
    }
    assert_true(found);
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    bus_embedded_destroy(bus);
}

/* Reads count messages from offset first and checks key, value and order. */
static void expect_numbered(rd_kafka_t *consumer, int first, int count)
{
    for (int i = first; i < first + count; i++) {
        record r = next_record(consumer);
        char want[32];
        snprintf(want, sizeof(want), "msg-%06d", i);
        assert_int_equal(r.err, RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_int_equal(r.offset, i);
        assert_string_equal(r.key, KEY);
        assert_string_equal(r.value, want);
    }
}

static const char *const idempotent_props[] = {"enable.idempotence", "true", "acks", "all", NULL};

static void test_idempotent_producer_delivers_in_order(void **state)
{
    (void)state;
    bus_embedded *bus = bus_with_topic(1, 1);
    delivery d = {0};
    rd_kafka_t *p = producer_new(bus_embedded_bootstrap(bus), &d, idempotent_props);
    produce_numbered(p, 0, 2000);
    flush_all(p);
    assert_int_equal(d.ok, 2000);
    assert_int_equal(d.failed, 0);
    assert_int_equal(d.persisted, 2000);

    rd_kafka_t *c = consumer_new(bus_embedded_bootstrap(bus), NULL);
    assign_at(c, 0);
    expect_numbered(c, 0, 2000);
    int64_t lo, hi;
    watermarks(c, &lo, &hi);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 2000);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    bus_embedded_destroy(bus);
}

/*
 * Responses delayed past socket.timeout.ms make the idempotent producer
 * retry batches the bus already stored. Nothing may be lost or reordered;
 * the mock checks sequence numbers only for transactional producers, so
 * retried batches may be stored twice (docs/bus.md): at least once, not
 * exactly once.
 */
static void test_idempotent_retries_lose_nothing(void **state)
{
    (void)state;
    bus_embedded *bus = bus_with_topic(1, 1);
    rd_kafka_mock_cluster_t *mcluster = bus_embedded_mock_cluster(bus);
    static const char *const props[] = {
        "enable.idempotence", "true", "acks", "all", "socket.timeout.ms", "300",
        "linger.ms",          "0",    NULL};
    delivery d = {0};
    rd_kafka_t *p = producer_new(bus_embedded_bootstrap(bus), &d, props);
    produce_numbered(p, 0, 10);
    flush_all(p); /* the producer id is acquired, the connection is up */
    /* librdkafka looks for timed-out requests about once a second: the delay
     * must outlast that scan even on a loaded machine. The timed-out
     * connection is closed, so the delay itself costs no time. */
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                         mcluster, 1, 0 /* Produce */, 2, RD_KAFKA_RESP_ERR_NO_ERROR,
                         RETRY_DELAY_MS, RD_KAFKA_RESP_ERR_NO_ERROR, RETRY_DELAY_MS),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    produce_numbered(p, 10, 90);
    flush_all(p);
    assert_int_equal(d.ok, 100);
    assert_int_equal(d.failed, 0);
    assert_true(d.errors > 0); /* the delays did time requests out */

    rd_kafka_t *c = consumer_new(bus_embedded_bootstrap(bus), NULL);
    int64_t lo, hi;
    watermarks(c, &lo, &hi);
    assign_at(c, 0);
    int next = 0, dups = 0;
    for (int64_t off = 0; off < hi; off++) {
        record r = next_record(c);
        int n = atoi(r.value + 4);
        assert_int_equal(r.err, RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_true(n <= next); /* a message, or a repeat of one already seen */
        dups += n < next;
        next += n == next;
    }
    assert_int_equal(next, 100);
    print_message("idempotent retries: %d duplicate record(s) stored, none lost\n", dups);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    bus_embedded_destroy(bus);
}

/* Produces count BIG_VALUE messages, one record batch each. */
static void produce_big(rd_kafka_t *p, int count)
{
    char *value = malloc(BIG_VALUE);
    assert_non_null(value);
    memset(value, 'x', BIG_VALUE);
    for (int i = 0; i < count; i++)
        produce(p, 0, value, BIG_VALUE);
    free(value);
    flush_all(p);
}

/*
 * 60 batches of 100 KiB (6000 KiB) into a partition that keeps 5 MiB: the
 * oldest are deleted, the earliest offset moves, what is left fits in 5 MiB,
 * and a reader at offset 0 (a router that fell behind) gets an offset reset
 * instead of the messages it missed.
 */
static void test_retention_moves_earliest_offset(void **state)
{
    (void)state;
    bus_embedded *bus = bus_with_topic(1, 1);
    static const char *const pprops[] = {"linger.ms", "0", "batch.num.messages", "1", NULL};
    delivery d = {0};
    rd_kafka_t *p = producer_new(bus_embedded_bootstrap(bus), &d, pprops);
    produce_big(p, 60);
    assert_int_equal(d.ok, 60);

    int64_t lo, hi;
    watermarks(p, &lo, &hi);
    print_message("after 6000 KiB: earliest offset %lld, end %lld\n", (long long)lo, (long long)hi);
    assert_int_equal(hi, 60);
    assert_true(lo > 0);
    /* What is kept is at most 5 MiB, and one more batch would not fit. */
    assert_true((hi - lo) * BIG_VALUE <= BUS_EMBEDDED_PARTITION_MAX_BYTES);
    assert_true((hi - lo + 1) * (BIG_VALUE + 256) > BUS_EMBEDDED_PARTITION_MAX_BYTES);

    static const char *const strict[] = {"group.id", "itest-strict", "auto.offset.reset", "error",
                                         NULL};
    rd_kafka_t *c = consumer_new(bus_embedded_bootstrap(bus), strict);
    assign_at(c, 0);
    record r = next_record(c);
    assert_int_equal(r.err, RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET);
    rd_kafka_destroy(c);

    static const char *const lenient[] = {"group.id", "itest-lenient", "auto.offset.reset",
                                          "earliest", NULL};
    c = consumer_new(bus_embedded_bootstrap(bus), lenient);
    assign_at(c, 0);
    r = next_record(c);
    assert_int_equal(r.err, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(r.offset, lo); /* silently skipped 0 .. lo-1 */
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    bus_embedded_destroy(bus);
}

static void commit_offset(rd_kafka_t *c, int64_t offset)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 0)->offset = offset;
    assert_int_equal(rd_kafka_commit(c, parts, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
}

static int64_t committed_offset(rd_kafka_t *c)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 0);
    assert_int_equal(rd_kafka_committed(c, parts, WAIT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t offset = parts->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(parts);
    return offset;
}

/* A group's committed offset outlives the consumer that committed it, and the
 * next consumer of the group resumes there. */
static void test_committed_offsets_survive_consumers(void **state)
{
    (void)state;
    bus_embedded *bus = bus_with_topic(1, 1);
    delivery d = {0};
    rd_kafka_t *p = producer_new(bus_embedded_bootstrap(bus), &d, NULL);
    produce_numbered(p, 0, 20);
    flush_all(p);

    static const char *const group[] = {"group.id", "mcsqueal.itest.a",  "enable.auto.commit",
                                        "false",    "auto.offset.reset", "earliest",
                                        NULL};
    rd_kafka_t *c = consumer_new(bus_embedded_bootstrap(bus), group);
    assign_at(c, RD_KAFKA_OFFSET_STORED);
    expect_numbered(c, 0, 7);
    commit_offset(c, 7);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);

    c = consumer_new(bus_embedded_bootstrap(bus), group);
    assert_int_equal(committed_offset(c), 7);
    assign_at(c, RD_KAFKA_OFFSET_STORED);
    expect_numbered(c, 7, 13);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    bus_embedded_destroy(bus);
}

/* ---- the bootstrap file ---- */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 4096);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_address_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/mcsq-bus-itest-XXXXXX", path[256], expect[256], err[512] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/bus.bootstrap", dir);
    bus_embedded *bus = bus_with_topic(2, 1);
    snprintf(expect, sizeof(expect), "%s\n", bus_embedded_bootstrap(bus));

    write_text(path, "stale\n"); /* a crashed bus's file is replaced */
    assert_int_equal(bus_embedded_address_write(bus, path, err, sizeof(err)), MCSQ_OK);
    char *text = read_text(path);
    assert_string_equal(text, expect);
    free(text);
    assert_int_equal(bus_embedded_address_remove(bus, path, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(bus_embedded_address_remove(bus, path, err, sizeof(err)), MCSQ_OK);

    write_text(path, "127.0.0.1:1\n"); /* another bus took over: left alone */
    assert_int_equal(bus_embedded_address_remove(bus, path, err, sizeof(err)), MCSQ_ERR_AGAIN);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0); /* no temp file left behind */

    assert_int_equal(bus_embedded_address_write(bus, path, err, sizeof(err)), MCSQ_ERR_IO);
    assert_non_null(strstr(err, dir));
    bus_embedded_destroy(bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_one_loopback_broker),
        cmocka_unit_test(test_rejects_bad_arguments),
        cmocka_unit_test(test_brokers_and_partitions_as_asked),
        cmocka_unit_test(test_idempotent_producer_delivers_in_order),
        cmocka_unit_test(test_idempotent_retries_lose_nothing),
        cmocka_unit_test(test_retention_moves_earliest_offset),
        cmocka_unit_test(test_committed_offsets_survive_consumers),
        cmocka_unit_test(test_address_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
