/*
 * Bus producer (see bus_producer.h) on librdkafka.
 */
#include "bus/bus_producer.h"
#include "core/errstr.h"
#include "bus/kafka_conf.h"
#include "core/log.h"
#include "mcsqueal/error.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bus_producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *topic;
    char *key; /* the source name */
    size_t key_len;
    bus_delivery_fn on_delivery;
    void *ctx;
    size_t inflight;
    rd_kafka_queue_t *events; /* the main queue while a wake-up is set, else NULL */
    void (*wake)(void *ctx);  /* see bus_producer_set_wakeup() */
    void *wake_ctx;
};

static void on_message(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    bus_producer *p = opaque;
    (void)rk;
    p->inflight--;
    uint64_t token = (uint64_t)(uintptr_t)msg->_private;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        p->on_delivery(p->ctx, token, 0, msg->offset, NULL);
    else
        p->on_delivery(p->ctx, token, MCSQ_ERR_CONNECT, -1, rd_kafka_err2str(msg->err));
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    static log_ratelimit limit = LOG_RATELIMIT_INIT(10, 3);
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        log_error("bus: fatal producer error: %s", buf);
        return;
    }
    log_ratelimited(&limit, LOG_LEVEL_WARN, "bus: %s: %s", rd_kafka_err2name(err), reason);
}

/* Defaults for reliable, ordered delivery; bus.kafka.* may override. */
static int configure(rd_kafka_conf_t *conf, const mcsq_config *cfg, const char *bootstrap,
                     char *errstr, size_t errstr_size)
{
    char client_id[256];
    snprintf(client_id, sizeof(client_id), "mcsqueal-%s", cfg->mcsqueal.name);
    bool embedded = strcmp(cfg->bus.brokers, "embedded") == 0;
    const kafka_setting defaults[] = {
        {"bootstrap.servers", bootstrap},
        {"client.id", client_id},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"message.timeout.ms", "0"}, /* retry until delivered: never drop */
        {"linger.ms", "0"},          /* the batcher already batches */
        {"socket.nagle.disable", "true"},
        /* Kafka: at most as many messages unacknowledged as requests may be
         * in flight (5 with idempotence). librdkafka 2.0.2's broker thread
         * polls with a zero timeout for as long as a message waits for a
         * free in-flight slot: against a broker that took tens of ms per
         * request it spun at half a core and starved the broker (commit ->
         * delete p50 4.6 s at 5k tx/s; 0.5 s with this bound, the thread's
         * CPU from 4 s to 0.06 s per 8 s: docs/benchmarks.md, "Real Apache
         * Kafka"). A full queue holds the publisher in bus_producer_send();
         * the transactions behind it wait in its queue and go out in fewer,
         * larger messages. */
        {"queue.buffering.max.messages", embedded ? "100000" : "5"},
        {"queue.buffering.max.kbytes", "262144"},
        {"message.max.bytes", "1000000"},
        {"compression.codec", "lz4"}, /* key lists compress well; cheap on CPU */
        /* the embedded bus answers in well under a millisecond, and with more
         * than one request in flight librdkafka held a burst's last message
         * back for about 40 ms (the tail benchmark's end, 2026-11-21) */
        {"max.in.flight.requests.per.connection", embedded ? "1" : "5"},
    };
    return kafka_conf_apply(conf, defaults, sizeof(defaults) / sizeof(defaults[0]), cfg, errstr,
                            errstr_size);
}

int bus_producer_new(bus_producer **out, const mcsq_config *cfg, const char *bootstrap,
                     bus_delivery_fn on_delivery, void *ctx, char *errstr, size_t errstr_size)
{
    bus_producer *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (p == NULL || conf == NULL || (p->key = strdup(cfg->mcsqueal.name)) == NULL) {
        free(p);
        rd_kafka_conf_destroy(conf);
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    }
    p->key_len = strlen(p->key);
    p->on_delivery = on_delivery;
    p->ctx = ctx;
    int rc = configure(conf, cfg, bootstrap, errstr, errstr_size);
    if (rc == MCSQ_OK) {
        char err[512];
        rd_kafka_conf_set_opaque(conf, p);
        rd_kafka_conf_set_dr_msg_cb(conf, on_message);
        rd_kafka_conf_set_error_cb(conf, on_error);
        p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (p->rk == NULL)
            rc = errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "bus: %s", err);
        conf = NULL; /* owned by rd_kafka_new on success, freed below otherwise */
    }
    if (rc == MCSQ_OK && (p->topic = rd_kafka_topic_new(p->rk, cfg->bus.topic, NULL)) == NULL)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "bus: topic %s: %s", cfg->bus.topic,
                        rd_kafka_err2str(rd_kafka_last_error()));
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    if (rc != MCSQ_OK) {
        bus_producer_destroy(p);
        return rc;
    }
    *out = p;
    return MCSQ_OK;
}

int bus_producer_fatal(bus_producer *p, char *errstr, size_t errstr_size)
{
    char buf[512];
    rd_kafka_resp_err_t err = rd_kafka_fatal_error(p->rk, buf, sizeof(buf));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "bus: fatal producer error: %s", buf);
    return 1;
}

int bus_producer_send(bus_producer *p, char *payload, size_t len, uint64_t token,
                      const atomic_bool *stop, char *errstr, size_t errstr_size)
{
    for (;;) {
        if (bus_producer_fatal(p, errstr, errstr_size)) {
            free(payload);
            return MCSQ_ERR_CONNECT;
        }
        if (rd_kafka_produce(p->topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_FREE, payload, len,
                             p->key, p->key_len, (void *)(uintptr_t)token) == 0) {
            p->inflight++;
            return MCSQ_OK;
        }
        rd_kafka_resp_err_t err = rd_kafka_last_error();
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            free(payload);
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "bus: produce: %s",
                              rd_kafka_err2str(err));
        }
        if (stop != NULL && atomic_load(stop)) {
            free(payload);
            return MCSQ_ERR_AGAIN;
        }
        rd_kafka_poll(p->rk, 100); /* the bus is slow or down: wait for room */
    }
}

void bus_producer_poll(bus_producer *p, int timeout_ms)
{
    rd_kafka_poll(p->rk, timeout_ms);
}

int bus_producer_flush(bus_producer *p, int timeout_ms)
{
    rd_kafka_flush(p->rk, timeout_ms);
    return p->inflight == 0 ? MCSQ_OK : MCSQ_ERR_AGAIN;
}

size_t bus_producer_inflight(const bus_producer *p)
{
    return p->inflight;
}

/* librdkafka's queue callback (one of its threads): reports are waiting. */
static void on_events(rd_kafka_t *rk, void *opaque)
{
    const bus_producer *p = opaque;
    (void)rk;
    p->wake(p->wake_ctx);
}

void bus_producer_set_wakeup(bus_producer *p, void (*wake)(void *ctx), void *ctx)
{
    if (p->events == NULL)
        p->events = rd_kafka_queue_get_main(p->rk);
    p->wake = wake;
    p->wake_ctx = ctx;
    rd_kafka_queue_cb_event_enable(p->events, wake ? on_events : NULL, p);
}

void bus_producer_destroy(bus_producer *p)
{
    if (p == NULL)
        return;
    if (p->events != NULL) {
        rd_kafka_queue_cb_event_enable(p->events, NULL, NULL);
        rd_kafka_queue_destroy(p->events);
    }
    if (p->topic != NULL)
        rd_kafka_topic_destroy(p->topic);
    if (p->rk != NULL)
        rd_kafka_destroy(p->rk);
    free(p->key);
    free(p);
}
