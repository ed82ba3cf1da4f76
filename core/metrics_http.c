/*
 * The Prometheus endpoint (see metrics_http.h) on libmicrohttpd 0.9.75: one
 * internal polling thread serves every connection; each scrape renders the
 * registry into a fresh buffer that libmicrohttpd sends and frees.
 *
 * libmicrohttpd binds the address itself (MHD_OPTION_SOCK_ADDR) but does not
 * say why a bind failed; when it fails we bind the same address once more
 * ourselves to name the reason ("Address already in use"). Its own messages
 * go to our log, except during the start, whose failure errstr reports.
 */
#include "core/metrics_http.h"
#include "core/errstr.h"
#include "core/log.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#define HTTP_MAX_CONNECTIONS 32u
#define HTTP_TIMEOUT_S 10u

struct metrics_http {
    struct MHD_Daemon *daemon;
    metrics_registry *reg;      /* (ref) */
    _Atomic(readiness *) ready; /* (ref) may be NULL */
    int port;
    atomic_bool quiet; /* drop libmicrohttpd's messages (during the start) */
};

/* A resolved listen address. */
typedef struct listen_addr {
    struct sockaddr_storage sa;
    socklen_t len;
} listen_addr;

/* ---- requests ---- */

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply_metrics(metrics_http *h, struct MHD_Connection *conn)
{
    struct MHD_Response *resp;
    strbuf sb;
    strbuf_init(&sb);
    if (metrics_registry_render(h->reg, &sb) != MCSQ_OK) {
        strbuf_deinit(&sb);
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    }
    if (sb.len == 0) {
        strbuf_deinit(&sb);
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer(sb.len, sb.buf, MHD_RESPMEM_MUST_FREE);
    }
    if (resp == NULL) {
        strbuf_deinit(&sb);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_HTTP_CONTENT_TYPE);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* 200 "ready" or 503 with the reason, one line each. */
static enum MHD_Result reply_ready(metrics_http *h, struct MHD_Connection *conn)
{
    char reason[READINESS_REASON_MAX];
    readiness *ready = atomic_load(&h->ready);
    bool ok = ready != NULL && readiness_get(ready, reason, sizeof(reason));
    if (ready == NULL)
        snprintf(reason, sizeof(reason), "starting");
    size_t n = strlen(reason);
    char *text = malloc(n + 2);
    if (text == NULL)
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    memcpy(text, reason, n);
    memcpy(text + n, "\n", 2);
    struct MHD_Response *resp = MHD_create_response_from_buffer(n + 1, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret =
        MHD_queue_response(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **req_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (strcmp(url, "/ready") == 0)
        return reply_ready(cls, conn);
    if (strcmp(url, "/metrics") != 0)
        return reply_text(conn, MHD_HTTP_NOT_FOUND,
                          "not found; metrics are at /metrics, readiness at /ready\n");
    return reply_metrics(cls, conn);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    metrics_http *h = cls;
    char msg[256];
    if (atomic_load(&h->quiet))
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    log_warn("metrics http: %s", msg);
}

/* ---- listen address ---- */

/* Splits "host:port" or "[v6]:port" into host and port strings. */
static bool listen_split(const char *listen, char *host, size_t hostsz, char *port, size_t portsz)
{
    const char *colon, *h = listen;
    size_t hlen;
    if (*listen == '[') {
        const char *rb = strchr(listen, ']');
        if (rb == NULL || rb[1] != ':')
            return false;
        h = listen + 1;
        hlen = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL || memchr(listen, ':', (size_t)(colon - listen)) != NULL)
            return false;
        hlen = (size_t)(colon - listen);
    }
    size_t plen = strlen(colon + 1);
    if (hlen == 0 || hlen >= hostsz || plen == 0 || plen > 5 || plen >= portsz ||
        strspn(colon + 1, "0123456789") != plen || atoi(colon + 1) > 65535)
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, colon + 1, plen + 1);
    return true;
}

static int listen_resolve(const char *listen, listen_addr *out, char *errstr, size_t errstr_size)
{
    char host[256], port[8];
    struct addrinfo hints = {0}, *res = NULL;
    if (!listen_split(listen, host, sizeof(host), port, sizeof(port)))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "metrics listen address \"%s\" is not host:port (IPv6 as [address]:port, "
                          "port 0..65535)",
                          listen);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID, "cannot listen on %s: %s", listen,
                          gai_strerror(gai));
    memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return MCSQ_OK;
}

/* Why binding addr fails: binds and listens once more, as libmicrohttpd
 * does; returns the errno, or 0 when it works now. */
static int bind_error(const listen_addr *addr)
{
    int one = 1;
    int fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr->sa.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    int err = bind(fd, (const struct sockaddr *)&addr->sa, addr->len) == 0 && listen(fd, 1) == 0
                  ? 0
                  : errno;
    close(fd);
    return err;
}

/* ---- lifecycle ---- */

static struct MHD_Daemon *daemon_start(metrics_http *h, const listen_addr *addr)
{
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (addr->sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    return MHD_start_daemon(flags, 0, NULL, NULL, handle_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                            mhd_log, h, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr->sa,
                            MHD_OPTION_CONNECTION_LIMIT, HTTP_MAX_CONNECTIONS,
                            MHD_OPTION_CONNECTION_TIMEOUT, HTTP_TIMEOUT_S, MHD_OPTION_END);
}

/* The port the daemon's socket is bound to (the one the kernel picked for 0). */
static int bound_port(struct MHD_Daemon *daemon)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_LISTEN_FD);
    if (info == NULL || getsockname(info->listen_fd, (struct sockaddr *)&sa, &len) != 0)
        return 0;
    if (sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&sa)->sin_port);
}

int metrics_http_start(metrics_http **out, metrics_registry *reg, const char *listen, char *errstr,
                       size_t errstr_size)
{
    listen_addr addr;
    int rc = listen_resolve(listen, &addr, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    metrics_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    h->reg = reg;
    atomic_init(&h->quiet, true);
    h->daemon = daemon_start(h, &addr);
    if (h->daemon == NULL) {
        int err = bind_error(&addr);
        free(h);
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "cannot listen on %s: %s", listen,
                          err != 0 ? strerror(err) : "the HTTP server did not start");
    }
    h->port = bound_port(h->daemon);
    atomic_store(&h->quiet, false);
    *out = h;
    return MCSQ_OK;
}

int metrics_http_port(const metrics_http *h)
{
    return h->port;
}

void metrics_http_set_readiness(metrics_http *h, readiness *ready)
{
    atomic_store(&h->ready, ready);
}

void metrics_http_stop(metrics_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
