/*
 * The embedded bus: librdkafka's built-in Kafka-protocol mock cluster, run in
 * this process on a dedicated rd_kafka_t handle, so that a one-machine setup
 * (bus.brokers = embedded) needs no Kafka. It speaks the real Kafka wire
 * protocol over TCP, so any Kafka client on this machine can use it: the
 * tailer's and router's librdkafka handles, kcat, kafka-python.
 *
 * What it is and is not (measured against librdkafka 2.0.2, the Debian 12
 * package, by tests/integration/test_bus_embedded*; details in docs/bus.md):
 *  - Every broker listens on 127.0.0.1 with a kernel-chosen port (listen
 *    backlog 5); bus_embedded_new() refuses to run if librdkafka reports any
 *    other address. Plaintext only: no TLS, no SASL.
 *  - Everything lives in memory and dies with the process: messages,
 *    committed consumer-group offsets, producer ids.
 *  - Retention is bounded per partition: at most 5 MiB of record batches, as
 *    the producer sent them (compressed batches count compressed), and at
 *    most 100,000 batches, which never binds (a batch has at least 61 bytes,
 *    so 5 MiB is reached first). Appending past it deletes the oldest
 *    batches and moves the partition's earliest offset; a consumer or a
 *    committed group offset further behind gets OFFSET_OUT_OF_RANGE and its
 *    auto.offset.reset decides: the deleted messages are gone.
 *  - When a new batch and the one before it together exceed 5 MiB, the mock
 *    deletes every older batch and, by a quirk of rdkafka_mock.c, hides the
 *    new one too (earliest offset = end offset): acknowledged, never read.
 *    Keep batches below 2.5 MiB; librdkafka's default message.max.bytes and
 *    batch.size (1,000,000) do.
 *  - Committed group offsets are kept per partition for as long as the
 *    cluster runs, also while the group has no members.
 *  - Idempotent producers (enable.idempotence=true, acks=all) work: the
 *    cluster hands out producer ids. It checks sequence numbers only for
 *    transactional producers, so a batch that an idempotent producer
 *    retries after a lost response is stored again. Harmless for mcsqueal
 *    (deletes are idempotent; delivery is at least once), not exactly once.
 *  - Topics that a client asks for before they exist are auto-created with
 *    4 partitions; create the bus topic with bus_embedded_new() (or
 *    bus_embedded_topic_create()) before clients connect.
 */
#ifndef MCSQ_BUS_EMBEDDED_H
#define MCSQ_BUS_EMBEDDED_H

#include <stddef.h>

#define BUS_EMBEDDED_DEFAULT_BROKERS 1
#define BUS_EMBEDDED_MAX_BROKERS 16

/* One partition keeps all of one source's messages in order (the message key
 * is the source name), and the mock has no consumer-side benefit from more;
 * more partitions only add retention (each has its own limits). */
#define BUS_EMBEDDED_DEFAULT_PARTITIONS 1
#define BUS_EMBEDDED_MAX_PARTITIONS 1024

/* The mock cluster's fixed per-partition retention (rdkafka_mock.c). */
#define BUS_EMBEDDED_PARTITION_MAX_BYTES (5 * 1024 * 1024)
#define BUS_EMBEDDED_PARTITION_MAX_BATCHES 100000

typedef struct bus_embedded bus_embedded;

typedef struct bus_embedded_opts {
    int brokers;               /* 1..BUS_EMBEDDED_MAX_BROKERS; 0: the default */
    int partitions;            /* of each topic below, 1..MAX_PARTITIONS; 0: default */
    const char *const *topics; /* (ref) NULL-terminated list to create; NULL: none */
} bus_embedded_opts;

/* Starts a mock cluster with opts->brokers brokers on 127.0.0.1 and creates
 * opts->topics (opts NULL: one broker, no topic). The brokers serve clients
 * from librdkafka's threads until bus_embedded_destroy(). On success *busp is
 * the new bus (caller frees with bus_embedded_destroy()).
 * Returns 0, MCSQ_ERR_INVALID (bad count or topic name), MCSQ_ERR_CONNECT
 * (librdkafka could not start the cluster), MCSQ_ERR_UNSUPPORTED (a broker
 * is not on loopback) or MCSQ_ERR_NOMEM; the reason is in errstr. */
int bus_embedded_new(bus_embedded **busp, const bus_embedded_opts *opts, char *errstr,
                     size_t errstr_size);

/* Creates topic (borrowed) with partitions partitions (0: the default).
 * Returns 0, MCSQ_ERR_INVALID (bad name or count, or the topic exists) or
 * MCSQ_ERR_CONFIG (librdkafka refused it); the reason is in errstr. */
int bus_embedded_topic_create(bus_embedded *bus, const char *topic, int partitions, char *errstr,
                              size_t errstr_size);

/* Returns the bootstrap list, "127.0.0.1:PORT[,127.0.0.1:PORT...]"
 * (borrowed, valid until bus_embedded_destroy()). */
const char *bus_embedded_bootstrap(const bus_embedded *bus);

/* Writes the bootstrap list and a newline to path atomically (temp file in
 * the same directory, fsync, rename, fsync of the directory); the directory
 * must exist. Returns 0 or MCSQ_ERR_IO (reason in errstr). */
int bus_embedded_address_write(const bus_embedded *bus, const char *path, char *errstr,
                               size_t errstr_size);

/* Removes path if it still holds this bus's address (another bus may have
 * replaced it since). Returns 0 (removed, or already gone), MCSQ_ERR_AGAIN
 * (it names another address; left alone) or MCSQ_ERR_IO (reason in errstr). */
int bus_embedded_address_remove(const bus_embedded *bus, const char *path, char *errstr,
                                size_t errstr_size);

/* Returns the rd_kafka_mock_cluster_t * of the bus (borrowed), as void * so
 * that this header does not need librdkafka's. For tests: fault injection
 * with the rd_kafka_mock_*() functions of <librdkafka/rdkafka_mock.h>. */
void *bus_embedded_mock_cluster(bus_embedded *bus);

/* Stops the brokers (clients see their connections close), frees every
 * message and offset the bus held, and frees bus. NULL is a no-op. */
void bus_embedded_destroy(bus_embedded *bus);

#endif
