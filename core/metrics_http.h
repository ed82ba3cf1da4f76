/*
 * The Prometheus endpoint: a libmicrohttpd server on its own thread that
 * renders a metrics registry (core/metrics.h) for every scrape.
 *
 *   GET or HEAD /metrics   200, text/plain; version=0.0.4 (the registry): liveness
 *   GET or HEAD /ready     200 "ready", or 503 with a one-line reason (see
 *                          core/readiness.h; 503 "starting" until one is set)
 *   any other path         404
 *   any other method       405 (Allow: GET, HEAD)
 *
 * It listens on exactly the configured address ([metrics] listen), never on
 * other interfaces.
 */
#ifndef MCSQ_CORE_METRICS_HTTP_H
#define MCSQ_CORE_METRICS_HTTP_H

#include "core/metrics.h"
#include "core/readiness.h"

#include <stddef.h>

typedef struct metrics_http metrics_http;

/* Content-Type of /metrics. */
#define METRICS_HTTP_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Starts serving reg (borrowed: it must outlive the server) on listen, "host:port" or
 * "[ipv6]:port": host an address, or a name whose first address is bound; port 0 picks a free
 * port (see metrics_http_port). On success *out is the running server (free it with
 * metrics_http_stop). Returns 0, MCSQ_ERR_INVALID (listen is not host:port, or the host does not
 * resolve), MCSQ_ERR_CONNECT (the address cannot be bound, e.g. "cannot listen on
 * 127.0.0.1:9187: Address already in use") or MCSQ_ERR_NOMEM, with the reason in errstr. */
int metrics_http_start(metrics_http **out, metrics_registry *reg, const char *listen, char *errstr,
                       size_t errstr_size);

/* The port the server is bound to (the one picked when listen asked for 0). */
int metrics_http_port(const metrics_http *h);

/* Makes /ready answer from ready (borrowed: it must outlive the server;
 * NULL: 503 "starting"). Safe while the server runs. */
void metrics_http_set_readiness(metrics_http *h, readiness *ready);

/* Stops the server, waits for its thread, closes its socket and frees h. A
 * scrape in progress finishes first. NULL is a no-op. */
void metrics_http_stop(metrics_http *h);

#endif
