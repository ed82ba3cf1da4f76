/*
 * Bus consumer: reads the region's topic in the consumer group
 * mcsqueal.<region>.<cluster>, as a member of the group (partitions shared
 * out by the group, eager assignment, static membership with
 * [router] instance), or, where it is the group's only reader (a `mcsqueal
 * run` that hosts its own embedded bus), by taking every partition directly
 * without joining: no wait for the group to form. Offsets are stored only when the caller says
 * a message is done (its deletes confirmed or spooled, or it was
 * dead-lettered) and committed periodically and at shutdown: at least once.
 * A jump past the committed offset (messages the bus no longer has) is
 * reported, never skipped silently.
 */
#ifndef MCSQ_BUS_CONSUMER_H
#define MCSQ_BUS_CONSUMER_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bus_consumer bus_consumer;

/* One message, borrowed until bus_consumer_done() or the next poll. */
typedef struct bus_record {
    const char *payload;
    size_t len;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* the bus's timestamp, -1 if none */
    void *handle;         /* (ref) internal */
} bus_record;

/* Called when a partition's next message is at `to` although `from` was
 * expected: the messages in between are gone from the bus. */
typedef void (*bus_gap_fn)(void *ctx, int32_t partition, int64_t from, int64_t to);

/* Called once an assignment took effect, with the number of partitions
 * this consumer now reads (0: the group has more members than partitions,
 * this one is a standby). */
typedef void (*bus_assign_fn)(void *ctx, int partitions);

/* Called when the group takes the partitions away (a rebalance), after the
 * offsets of what is done were committed. */
typedef void (*bus_revoke_fn)(void *ctx);

typedef struct bus_consumer_opts {
    const char *group;       /* (ref) consumer group id */
    bool direct;             /* take every partition without joining the group */
    bus_gap_fn on_gap;       /* may be NULL */
    bus_assign_fn on_assign; /* may be NULL */
    bus_revoke_fn on_revoke; /* may be NULL */
    void *ctx;               /* passed to the callbacks */
} bus_consumer_opts;

/* The default session timeout of a group member, in ms: the broker's
 * minimum (group.min.session.timeout.ms). A member that stops without
 * leaving (kill -9, or SIGTERM of a static member) holds its partitions
 * this long. */
#define BUS_CONSUMER_SESSION_TIMEOUT_MS 6000

/* Creates a consumer of cfg's topic as opts says, with bootstrap servers
 * `bootstrap`; [router] instance, when set, makes it a static member;
 * bus.kafka.* properties apply last. The callbacks run on the thread that
 * calls bus_consumer_poll() (direct: on_assign from here, before this
 * returns). Returns 0 or MCSQ_ERR_CONFIG / MCSQ_ERR_CONNECT (direct: the
 * topic's partitions are unknown) / MCSQ_ERR_NOMEM with errstr. */
int bus_consumer_new(bus_consumer **out, const mcsq_config *cfg, const char *bootstrap,
                     const bus_consumer_opts *opts, char *errstr, size_t errstr_size);

/* Waits up to timeout_ms for the next message. Returns 0 with *rec set,
 * MCSQ_ERR_AGAIN when none came, or MCSQ_ERR_CONNECT on a fatal consumer
 * error (errstr). */
int bus_consumer_poll(bus_consumer *c, bus_record *rec, int timeout_ms, char *errstr,
                      size_t errstr_size);

/* Marks rec processed: its offset + 1 will be committed. Frees rec. */
void bus_consumer_done(bus_consumer *c, bus_record *rec);

/* Frees rec without marking it processed (it is read again after a
 * restart or rebalance). */
void bus_consumer_release(bus_consumer *c, bus_record *rec);

/* Commits the stored offsets now (synchronously). Returns 0 or
 * MCSQ_ERR_CONNECT. */
int bus_consumer_commit(bus_consumer *c);

/* Sum over assigned partitions of (high watermark - position): messages
 * waiting, from the last statistics; -1 when unknown. */
int64_t bus_consumer_lag(bus_consumer *c);

/* Called by bus_consumer_lag_each() for one assigned partition. */
typedef void (*bus_lag_fn)(void *ctx, int32_t partition, int64_t lag);

/* Calls fn for every assigned partition whose position and high watermark
 * are known (from the last fetch), with high watermark - position: the
 * messages waiting for this consumer. Returns the number of partitions
 * reported, or -1 when the assignment cannot be read. */
int bus_consumer_lag_each(bus_consumer *c, bus_lag_fn fn, void *ctx);

/* Commits, leaves the group and frees everything (librdkafka's part waited
 * for at most 5 s: see destroy_bounded() in bus_consumer.c). */
void bus_consumer_destroy(bus_consumer *c);

#endif
