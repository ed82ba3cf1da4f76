/*
 * Bus producer: publishes invalidation messages to the region's topic with
 * librdkafka's idempotent producer (acks=all, in-order, no duplicates from
 * retries) and reports each message's delivery. Messages are retried until
 * delivered (message.timeout.ms=0): while the bus is down they wait in
 * librdkafka's bounded queue, and once that is full bus_producer_send()
 * waits, which stops the tailer from reading further (back-pressure).
 */
#ifndef MCSQ_BUS_PRODUCER_H
#define MCSQ_BUS_PRODUCER_H

#include "core/config.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A delivery report: err 0 = acknowledged by the bus at `offset`;
 * otherwise a permanent failure (errstr says why). */
typedef void (*bus_delivery_fn)(void *ctx, uint64_t token, int err, int64_t offset,
                                const char *errstr);

typedef struct bus_producer bus_producer;

/* Creates a producer for cfg's topic with bootstrap servers `bootstrap`
 * (the configured brokers, or the embedded bus's address); bus.kafka.*
 * properties are applied last, so operators can override defaults.
 * Returns 0 or MCSQ_ERR_CONFIG (bad property) / MCSQ_ERR_NOMEM, with errstr. */
int bus_producer_new(bus_producer **out, const mcsq_config *cfg, const char *bootstrap,
                     bus_delivery_fn on_delivery, void *ctx, char *errstr, size_t errstr_size);

/* Publishes payload (takes ownership; malloc'd) with the source name as key,
 * waiting while librdkafka's queue is full. `stop` (may be NULL) is
 * checked while waiting: when it becomes true the call gives up with
 * MCSQ_ERR_AGAIN (the payload is freed). Returns 0, MCSQ_ERR_AGAIN, or
 * MCSQ_ERR_CONNECT on a fatal producer error, with errstr. */
int bus_producer_send(bus_producer *p, char *payload, size_t len, uint64_t token,
                      const atomic_bool *stop, char *errstr, size_t errstr_size);

/* Serves delivery reports, waiting up to timeout_ms for one. */
void bus_producer_poll(bus_producer *p, int timeout_ms);

/* Calls wake(ctx) from a librdkafka thread whenever delivery reports (or
 * errors) wait for bus_producer_poll() while none did; the caller's thread
 * can then sleep on something else of its own. wake must be quick and must
 * not call into the producer. NULL turns it off. */
void bus_producer_set_wakeup(bus_producer *p, void (*wake)(void *ctx), void *ctx);

/* Waits up to timeout_ms for every message to be delivered. Returns 0 when
 * none is left, MCSQ_ERR_AGAIN otherwise. */
int bus_producer_flush(bus_producer *p, int timeout_ms);

/* Messages handed over and not yet reported. */
size_t bus_producer_inflight(const bus_producer *p);

/* Non-zero after a fatal error (the idempotent producer cannot go on);
 * errstr says which. */
int bus_producer_fatal(bus_producer *p, char *errstr, size_t errstr_size);

void bus_producer_destroy(bus_producer *p);

#endif
