/*
 * A null bus producer for the peer benchmark (tests/bench/bench_debezium.sh):
 * the bus_producer API (bus/bus_producer.h) without a bus. Each message is
 * built by the tailer as usual, then freed here and acknowledged at the next
 * bus_producer_poll(), at offsets counting from 0. Linked into the bench-only
 * program mcsqueal_nullbus in place of bus/bus_producer.c, so that the cost of
 * the bus (librdkafka and the broker) shows against `mcsqueal tail`'s own;
 * never part of the product.
 */
#include "bus/bus_producer.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <stdlib.h>

struct bus_producer {
    bus_delivery_fn on_delivery;
    void *ctx;
    uint64_t *tokens; /* sent, not yet reported */
    size_t n, cap;
    int64_t next_offset;
};

int bus_producer_new(bus_producer **out, const mcsq_config *cfg, const char *bootstrap,
                     bus_delivery_fn on_delivery, void *ctx, char *errstr, size_t errstr_size)
{
    (void)cfg;
    (void)bootstrap;
    bus_producer *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    p->on_delivery = on_delivery;
    p->ctx = ctx;
    *out = p;
    return MCSQ_OK;
}

int bus_producer_fatal(bus_producer *p, char *errstr, size_t errstr_size)
{
    (void)p;
    (void)errstr;
    (void)errstr_size;
    return 0;
}

int bus_producer_send(bus_producer *p, char *payload, size_t len, uint64_t token,
                      const atomic_bool *stop, char *errstr, size_t errstr_size)
{
    (void)len;
    (void)stop;
    free(payload);
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 1024;
        uint64_t *t = realloc(p->tokens, cap * sizeof(*t));
        if (t == NULL)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
        p->tokens = t;
        p->cap = cap;
    }
    p->tokens[p->n++] = token;
    return MCSQ_OK;
}

void bus_producer_poll(bus_producer *p, int timeout_ms)
{
    (void)timeout_ms;
    size_t n = p->n;
    p->n = 0; /* reports may send again: take the batch first */
    for (size_t i = 0; i < n; i++)
        p->on_delivery(p->ctx, p->tokens[i], MCSQ_OK, p->next_offset++, "");
}

int bus_producer_flush(bus_producer *p, int timeout_ms)
{
    bus_producer_poll(p, timeout_ms);
    return MCSQ_OK;
}

size_t bus_producer_inflight(const bus_producer *p)
{
    return p->n;
}

void bus_producer_set_wakeup(bus_producer *p, void (*wake)(void *ctx), void *ctx)
{
    (void)p;
    (void)wake;
    (void)ctx;
}

void bus_producer_destroy(bus_producer *p)
{
    if (p == NULL)
        return;
    free(p->tokens);
    free(p);
}
