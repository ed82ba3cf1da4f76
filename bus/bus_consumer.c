/*
 * Bus consumer (see bus_consumer.h) on librdkafka's high-level consumer,
 * with enable.auto.offset.store=false: librdkafka's periodic auto-commit
 * then commits only offsets this code stored after processing.
 */
#include "bus/bus_consumer.h"
#include "core/errstr.h"
#include "bus/kafka_conf.h"
#include "core/log.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PARTITIONS 1024
#define DESTROY_TIMEOUT_MS 5000 /* see destroy_bounded() */

struct bus_consumer {
    rd_kafka_t *rk;
    bus_consumer_opts opts;
    int64_t expected[MAX_PARTITIONS]; /* next offset per partition, -1: unknown */
};

#define STR_(x) #x
#define STR(x) STR_(x)

static int configure(rd_kafka_conf_t *conf, const mcsq_config *cfg, const char *bootstrap,
                     const char *group, char *errstr, size_t errstr_size)
{
    char err[512];
    /* a static member: a restart within the session timeout gets its
     * partitions back without a rebalance (empty: a dynamic member) */
    const char *instance = cfg->router.instance;
    if (instance != NULL && instance[0] != '\0' &&
        rd_kafka_conf_set(conf, "group.instance.id", instance, err, sizeof(err)) !=
            RD_KAFKA_CONF_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "bus: group.instance.id: %s", err);
    const kafka_setting defaults[] = {
        {"bootstrap.servers", bootstrap},
        {"group.id", group},
        {"client.id", "mcsqueal-router"},
        {"enable.auto.commit", "true"},
        {"enable.auto.offset.store", "false"}, /* stored only once processed */
        {"auto.commit.interval.ms", "1000"},
        {"auto.offset.reset", "earliest"}, /* a new group starts at the oldest message */
        {"enable.partition.eof", "false"},
        {"session.timeout.ms", STR(BUS_CONSUMER_SESSION_TIMEOUT_MS)},
        {"heartbeat.interval.ms", "2000"},
        /* eager: librdkafka 2.0.2's cooperative-sticky assignor has bugs
         * fixed only in later releases */
        {"partition.assignment.strategy", "range,roundrobin"},
        {"statistics.interval.ms", "0"},
        /* invalidation lag is the point. Kafka answers a waiting fetch as soon
         * as data arrives; the embedded bus only when the wait is over. */
        {"fetch.wait.max.ms", strcmp(cfg->bus.brokers, "embedded") == 0 ? "1" : "100"},
        {"fetch.error.backoff.ms", "10"},
        {"socket.nagle.disable", "true"},
    };
    return kafka_conf_apply(conf, defaults, sizeof(defaults) / sizeof(defaults[0]), cfg, errstr,
                            errstr_size);
}

/* On assignment, learn each partition's committed offset: a message
 * further on than that means the ones between are gone. */
static void note_committed(bus_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *copy = rd_kafka_topic_partition_list_copy(parts);
    if (rd_kafka_committed(c->rk, copy, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < copy->cnt; i++) {
            int32_t p = copy->elems[i].partition;
            if (p >= 0 && p < MAX_PARTITIONS && copy->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                c->expected[p] = copy->elems[i].offset >= 0 ? copy->elems[i].offset : -1;
        }
    }
    rd_kafka_topic_partition_list_destroy(copy);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    bus_consumer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        note_committed(c, parts);
        log_info("bus: assigned %d partition(s)%s", parts->cnt,
                 parts->cnt == 0 ? " (more routers than partitions: a standby)" : "");
        rd_kafka_assign(rk, parts);
        if (c->opts.on_assign != NULL)
            c->opts.on_assign(c->opts.ctx, parts->cnt);
        return;
    }
    /* Revoked (or an error): every message handed out before this poll is
     * done or was released (bus_consumer_poll() is not called while one is
     * in hand), so the stored offsets are exactly what is done: commit them
     * before another member takes the partitions over. */
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        log_warn("bus: rebalance error: %s", rd_kafka_err2str(err));
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, NULL, 0);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("bus: offset commit on revoke failed (%s); the next owner reads the last "
                 "messages again",
                 rd_kafka_err2str(e));
    rd_kafka_assign(rk, NULL);
    log_info("bus: %d partition(s) revoked", parts->cnt);
    if (c->opts.on_revoke != NULL)
        c->opts.on_revoke(c->opts.ctx);
}

/* The topic's partition count from the cluster's metadata; 0 when unknown. */
static int topic_partitions(rd_kafka_t *rk, const char *topic, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = 0;
    rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 10000) : rd_kafka_last_error();
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1)
        e = md->topics[0].err;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[0].partition_cnt;
    else
        errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "bus: partitions of %s: %s", topic,
                   rd_kafka_err2str(e));
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    if (rkt != NULL)
        rd_kafka_topic_destroy(rkt);
    return n;
}

/* Takes every partition of the topic at its committed offset (else
 * auto.offset.reset), without joining the group. */
static int assign_all(bus_consumer *c, const char *topic, char *errstr, size_t errstr_size)
{
    int n = topic_partitions(c->rk, topic, errstr, errstr_size);
    if (n <= 0)
        return n == 0 && errstr[0] == '\0' ? errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT,
                                                        "bus: %s has no partition", topic)
                                           : MCSQ_ERR_CONNECT;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_INVALID;
    note_committed(c, parts);
    rd_kafka_resp_err_t e = rd_kafka_assign(c->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "bus: assign %s: %s", topic,
                          rd_kafka_err2str(e));
    log_info("bus: assigned all %d partition(s) of %s directly (this process hosts the bus)", n,
             topic);
    if (c->opts.on_assign != NULL)
        c->opts.on_assign(c->opts.ctx, n);
    return MCSQ_OK;
}

/* Joins the group: partitions come through on_rebalance(). */
static int subscribe(bus_consumer *c, const char *topic, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "bus: subscribe %s: %s", topic,
                          rd_kafka_err2str(e));
    return MCSQ_OK;
}

int bus_consumer_new(bus_consumer **out, const mcsq_config *cfg, const char *bootstrap,
                     const bus_consumer_opts *opts, char *errstr, size_t errstr_size)
{
    bus_consumer *c = calloc(1, sizeof(*c));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (c == NULL || conf == NULL) {
        free(c);
        rd_kafka_conf_destroy(conf);
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < MAX_PARTITIONS; i++)
        c->expected[i] = -1;
    c->opts = *opts;
    int rc = configure(conf, cfg, bootstrap, opts->group, errstr, errstr_size);
    if (rc != MCSQ_OK) {
        rd_kafka_conf_destroy(conf);
        free(c);
        return rc;
    }
    char err[512];
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (c->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        free(c);
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "bus: %s", err);
    }
    rd_kafka_poll_set_consumer(c->rk);
    if (errstr_size > 0)
        errstr[0] = '\0';
    rc = opts->direct ? assign_all(c, cfg->bus.topic, errstr, errstr_size)
                      : subscribe(c, cfg->bus.topic, errstr, errstr_size);
    if (rc != MCSQ_OK) {
        bus_consumer_destroy(c);
        return rc;
    }
    *out = c;
    return MCSQ_OK;
}

/* Reports a jump over offsets the bus no longer has. */
static void check_gap(bus_consumer *c, int32_t p, int64_t offset)
{
    if (p < 0 || p >= MAX_PARTITIONS)
        return;
    if (c->expected[p] >= 0 && offset > c->expected[p] && c->opts.on_gap != NULL)
        c->opts.on_gap(c->opts.ctx, p, c->expected[p], offset);
    c->expected[p] = offset + 1;
}

static int consumer_error(rd_kafka_message_t *m, char *errstr, size_t errstr_size)
{
    static log_ratelimit limit = LOG_RATELIMIT_INIT(10, 3);
    int fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;
    if (!fatal)
        log_ratelimited(&limit, LOG_LEVEL_WARN, "bus: %s", rd_kafka_message_errstr(m));
    else
        errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "bus: fatal consumer error: %s",
                   rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
    return fatal ? MCSQ_ERR_CONNECT : MCSQ_ERR_AGAIN;
}

int bus_consumer_poll(bus_consumer *c, bus_record *rec, int timeout_ms, char *errstr,
                      size_t errstr_size)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (m == NULL)
        return MCSQ_ERR_AGAIN;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return consumer_error(m, errstr, errstr_size);
    check_gap(c, m->partition, m->offset);
    rd_kafka_timestamp_type_t tstype;
    rec->payload = m->payload;
    rec->len = m->len;
    rec->partition = m->partition;
    rec->offset = m->offset;
    rec->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
    rec->handle = m;
    return MCSQ_OK;
}

void bus_consumer_done(bus_consumer *c, bus_record *rec)
{
    rd_kafka_message_t *m = rec->handle;
    rd_kafka_offset_store(m->rkt, m->partition, m->offset); /* commits offset + 1 */
    rd_kafka_message_destroy(m);
    rec->handle = NULL;
    (void)c;
}

void bus_consumer_release(bus_consumer *c, bus_record *rec)
{
    (void)c;
    rd_kafka_message_destroy(rec->handle);
    rec->handle = NULL;
}

int bus_consumer_commit(bus_consumer *c)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, NULL, 0);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR__NO_OFFSET ? MCSQ_OK
                                                                                : MCSQ_ERR_CONNECT;
}

int bus_consumer_lag_each(bus_consumer *c, bus_lag_fn fn, void *ctx)
{
    rd_kafka_topic_partition_list_t *parts;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    int n = 0;
    rd_kafka_position(c->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int64_t low, high;
        if (rd_kafka_get_watermark_offsets(c->rk, tp->topic, tp->partition, &low, &high) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            tp->offset < 0 || high < 0)
            continue;
        fn(ctx, tp->partition, high > tp->offset ? high - tp->offset : 0);
        n++;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return n;
}

static void lag_add(void *ctx, int32_t partition, int64_t lag)
{
    (void)partition;
    *(int64_t *)ctx += lag;
}

int64_t bus_consumer_lag(bus_consumer *c)
{
    int64_t lag = 0;
    return bus_consumer_lag_each(c, lag_add, &lag) < 0 ? -1 : lag;
}

/* rd_kafka_destroy() on a thread of its own, for destroy_bounded(). */
typedef struct destroyer {
    rd_kafka_t *rk;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
} destroyer;

static void *destroy_main(void *arg)
{
    destroyer *d = arg;
    rd_kafka_destroy(d->rk);
    pthread_mutex_lock(&d->lock);
    d->done = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* Destroys rk, waiting at most DESTROY_TIMEOUT_MS. librdkafka 2.0.2 can
 * wait forever in rd_kafka_destroy() (a broker thread waiting for a
 * partition reference that is never released) after the topic was deleted
 * and created again under the consumer; by then the offsets are committed
 * and the group left, so a process that stops does not wait for it: the
 * handle is left behind (and freed by the exit). */
static void destroy_bounded(rd_kafka_t *rk)
{
    destroyer *d = calloc(1, sizeof(*d));
    pthread_t t;
    if (d == NULL) {
        rd_kafka_destroy(rk);
        return;
    }
    d->rk = rk;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t, NULL, destroy_main, d) != 0) {
        rd_kafka_destroy(rk);
        free(d);
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += DESTROY_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&d->lock);
    int rc = 0;
    while (!d->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&d->cond, &d->lock, &until);
    bool done = d->done;
    pthread_mutex_unlock(&d->lock);
    if (!done) { /* the thread still uses d: both are left behind */
        pthread_detach(t);
        log_warn("bus: the Kafka consumer did not finish closing within %d s (librdkafka); "
                 "going on without it: the offsets are committed",
                 DESTROY_TIMEOUT_MS / 1000);
        return;
    }
    pthread_join(t, NULL);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

void bus_consumer_destroy(bus_consumer *c)
{
    if (c == NULL)
        return;
    if (c->rk != NULL) {
        rd_kafka_commit(c->rk, NULL, 0);
        rd_kafka_consumer_close(c->rk);
        destroy_bounded(c->rk);
    }
    free(c);
}
