/*
 * The embedded bus (see bus_embedded.h): a librdkafka mock cluster owned by a
 * dedicated producer handle that never produces; the handle exists because
 * librdkafka hangs the cluster's threads, logging and limits off one. Its log
 * lines go through core/log.h. The bootstrap file helpers let other local
 * processes find the cluster's kernel-chosen ports.
 */
#include "bus/bus_embedded.h"

#include "core/errstr.h"
#include "core/log.h"
#include "core/state_file.h"
#include "mcsqueal/error.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Kafka's own limit on topic names. */
#define TOPIC_MAX_LEN 249

struct bus_embedded {
    rd_kafka_t *rk;                    /* owns the cluster's threads */
    rd_kafka_mock_cluster_t *mcluster; /* (ref) into rk's bookkeeping */
    char *bootstrap;                   /* our copy of the bootstrap list */
    int brokers;
};

/* librdkafka's syslog levels (0 emerg .. 7 debug) onto ours. */
static log_level rdkafka_level(int level)
{
    if (level <= 3)
        return LOG_LEVEL_ERROR;
    if (level == 4)
        return LOG_LEVEL_WARN;
    return level <= 6 ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;
}

/* Runs on librdkafka's threads; log_write() writes each line with one call. */
static void rdkafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    log_level lvl = rdkafka_level(level);
    /* The owning handle has no bootstrap servers on purpose. */
    if (strstr(buf, "No `bootstrap.servers` configured") != NULL)
        lvl = LOG_LEVEL_DEBUG;
    if (log_enabled(lvl))
        log_write(lvl, __FILE__, __LINE__, "embedded bus: librdkafka %s: %s", fac, buf);
}

static int topic_name_check(const char *topic, char *errstr, size_t errstr_size)
{
    size_t n = strlen(topic);
    if (n == 0 || n > TOPIC_MAX_LEN || strcmp(topic, ".") == 0 || strcmp(topic, "..") == 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "topic \"%s\": must be 1-%d characters and not \".\" or \"..\"", topic,
                          TOPIC_MAX_LEN);
    if (strspn(topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "topic \"%s\": only letters, digits, '.', '_' and '-' are allowed",
                          topic);
    return MCSQ_OK;
}

/* Every entry of the list must be 127.0.0.1:PORT. */
static bool bootstrap_is_loopback(const char *list)
{
    static const char prefix[] = "127.0.0.1:";
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        if (n <= sizeof(prefix) - 1 || strncmp(p, prefix, sizeof(prefix) - 1) != 0)
            return false;
        size_t digits = strspn(p + sizeof(prefix) - 1, "0123456789");
        if (digits != n - (sizeof(prefix) - 1))
            return false;
        if (p[n] == '\0')
            return true;
        p += n + 1;
    }
}

static rd_kafka_t *owner_handle_new(char *errstr, size_t errstr_size)
{
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, rdkafka_log_cb);
    if (rd_kafka_conf_set(conf, "client.id", "mcsqueal-embedded-bus", why, sizeof(why)) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "embedded bus: %s", why);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "embedded bus: %s", why);
    }
    return rk;
}

/* Starts the brokers; 0 or an mcsq_err with errstr filled. */
static int bus_start(bus_embedded *bus, char *errstr, size_t errstr_size)
{
    bus->rk = owner_handle_new(errstr, errstr_size);
    if (bus->rk == NULL)
        return MCSQ_ERR_CONNECT;
    bus->mcluster = rd_kafka_mock_cluster_new(bus->rk, bus->brokers);
    if (bus->mcluster == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT,
                          "embedded bus: librdkafka could not start %d mock broker(s) on "
                          "127.0.0.1 (see its log lines above)",
                          bus->brokers);
    const char *list = rd_kafka_mock_cluster_bootstraps(bus->mcluster);
    if (list == NULL || !bootstrap_is_loopback(list))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                          "embedded bus: librdkafka listens on \"%s\", not only on 127.0.0.1; "
                          "refusing to expose the bus",
                          list ? list : "(none)");
    bus->bootstrap = strdup(list);
    if (bus->bootstrap == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    return MCSQ_OK;
}

static int create_topics(bus_embedded *bus, const bus_embedded_opts *opts, char *errstr,
                         size_t errstr_size)
{
    if (opts == NULL || opts->topics == NULL)
        return MCSQ_OK;
    for (const char *const *t = opts->topics; *t != NULL; t++) {
        int rc = bus_embedded_topic_create(bus, *t, opts->partitions, errstr, errstr_size);
        if (rc != MCSQ_OK)
            return rc;
    }
    return MCSQ_OK;
}

int bus_embedded_new(bus_embedded **busp, const bus_embedded_opts *opts, char *errstr,
                     size_t errstr_size)
{
    int brokers = opts && opts->brokers ? opts->brokers : BUS_EMBEDDED_DEFAULT_BROKERS;
    int partitions = opts && opts->partitions ? opts->partitions : BUS_EMBEDDED_DEFAULT_PARTITIONS;
    *busp = NULL;
    if (brokers < 1 || brokers > BUS_EMBEDDED_MAX_BROKERS)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "embedded bus: %d brokers: must be 1-%d", brokers,
                          BUS_EMBEDDED_MAX_BROKERS);
    if (partitions < 1 || partitions > BUS_EMBEDDED_MAX_PARTITIONS)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "embedded bus: %d partitions: must be 1-%d", partitions,
                          BUS_EMBEDDED_MAX_PARTITIONS);
    bus_embedded *bus = calloc(1, sizeof(*bus));
    if (bus == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    bus->brokers = brokers;
    int rc = bus_start(bus, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = create_topics(bus, opts, errstr, errstr_size);
    if (rc != MCSQ_OK) {
        bus_embedded_destroy(bus);
        return rc;
    }
    log_debug("embedded bus: %d broker(s) at %s", brokers, bus->bootstrap);
    *busp = bus;
    return MCSQ_OK;
}

int bus_embedded_topic_create(bus_embedded *bus, const char *topic, int partitions, char *errstr,
                              size_t errstr_size)
{
    if (partitions == 0)
        partitions = BUS_EMBEDDED_DEFAULT_PARTITIONS;
    if (partitions < 1 || partitions > BUS_EMBEDDED_MAX_PARTITIONS)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "topic \"%s\": %d partitions: must be 1-%d", topic, partitions,
                          BUS_EMBEDDED_MAX_PARTITIONS);
    int rc = topic_name_check(topic, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    /* Replicas are bookkeeping only in the mock; three at most, as in Kafka. */
    int replicas = bus->brokers < 3 ? bus->brokers : 3;
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(bus->mcluster, topic, partitions, replicas);
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID, "topic \"%s\" already exists",
                          topic);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "topic \"%s\": %s", topic,
                          rd_kafka_err2str(err));
    log_debug("embedded bus: topic %s with %d partition(s)", topic, partitions);
    return MCSQ_OK;
}

const char *bus_embedded_bootstrap(const bus_embedded *bus)
{
    return bus->bootstrap;
}

void *bus_embedded_mock_cluster(bus_embedded *bus)
{
    return bus->mcluster;
}

void bus_embedded_destroy(bus_embedded *bus)
{
    if (bus == NULL)
        return;
    if (bus->mcluster != NULL)
        rd_kafka_mock_cluster_destroy(bus->mcluster);
    if (bus->rk != NULL)
        rd_kafka_destroy(bus->rk);
    free(bus->bootstrap);
    free(bus);
}

/*
 * The bootstrap file.
 */

int bus_embedded_address_write(const bus_embedded *bus, const char *path, char *errstr,
                               size_t errstr_size)
{
    char tmp[4096], text[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp) ||
        snprintf(text, sizeof(text), "%s\n", bus->bootstrap) >= (int)sizeof(text))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: path too long", path);
    return state_file_replace(path, tmp, text, strlen(text), errstr, errstr_size);
}

int bus_embedded_address_remove(const bus_embedded *bus, const char *path, char *errstr,
                                size_t errstr_size)
{
    char text[4096];
    FILE *f = fopen(path, "r");
    if (f == NULL && errno == ENOENT)
        return MCSQ_OK;
    if (f == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: %s", path, strerror(errno));
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    text[strcspn(text, "\n")] = '\0';
    if (strcmp(text, bus->bootstrap) != 0)
        return MCSQ_ERR_AGAIN;
    if (unlink(path) != 0 && errno != ENOENT)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "%s: cannot remove: %s", path,
                          strerror(errno));
    return MCSQ_OK;
}
