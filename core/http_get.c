/*
 * HTTP/1.0 GET client (see http_get.h): getaddrinfo, a non-blocking
 * connect and reads under poll() against one deadline, then the status
 * line and the header/body split. HTTP/1.0 means the answer is not chunked
 * and ends when the server closes.
 */
#include "core/http_get.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/tcp_io.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int bad_url(const char *url, const char *why, char *errstr, size_t errstr_size)
{
    return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID, "bad URL \"%s\": %s", url, why);
}

/* host[:port] of n bytes at s. */
static int parse_authority(const char *url, const char *s, size_t n, http_url *out, char *errstr,
                           size_t errstr_size)
{
    const char *host = s, *colon;
    size_t hlen;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return bad_url(url, "unclosed '['", errstr, errstr_size);
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1 < s + n ? close + 1 : NULL;
        if (colon != NULL && *colon != ':')
            return bad_url(url, "expected ':' after ']'", errstr, errstr_size);
    } else {
        colon = memchr(s, ':', n);
        hlen = colon ? (size_t)(colon - s) : n;
    }
    if (hlen == 0 || hlen >= sizeof(out->host))
        return bad_url(url, "no host, or a host too long", errstr, errstr_size);
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = 80;
    if (colon == NULL)
        return MCSQ_OK;
    long port = 0;
    const char *p = colon + 1, *end = s + n;
    for (; p < end && *p >= '0' && *p <= '9' && port <= 65535; p++)
        port = port * 10 + (*p - '0');
    if (p != end || p == colon + 1 || port < 1 || port > 65535)
        return bad_url(url, "the port must be 1-65535", errstr, errstr_size);
    out->port = (int)port;
    return MCSQ_OK;
}

int http_url_parse(const char *url, http_url *out, char *errstr, size_t errstr_size)
{
    static const char scheme[] = "http://";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return bad_url(url, "only http:// is supported", errstr, errstr_size);
    const char *auth = url + sizeof(scheme) - 1;
    size_t n = strcspn(auth, "/?#");
    int rc = parse_authority(url, auth, n, out, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    const char *path = auth[n] == '/' ? auth + n : "/";
    if (strlen(path) >= sizeof(out->path))
        return bad_url(url, "path too long", errstr, errstr_size);
    for (const char *p = path; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return bad_url(url, "spaces or control characters in the path", errstr, errstr_size);
    }
    snprintf(out->path, sizeof(out->path), "%s", path);
    return MCSQ_OK;
}

/* Reads until the server closes, at most max bytes, into out. */
static int recv_all(int fd, strbuf *out, size_t max, int64_t deadline, char *errstr,
                    size_t errstr_size)
{
    char buf[16384];
    for (;;) {
        if (tcp_wait(fd, POLLIN, deadline) != 0)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "no complete answer in time");
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0)
            return MCSQ_OK;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "reading the answer: %s",
                              strerror(errno));
        if (out->len + (size_t)n > max)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT,
                              "the answer is larger than %zu bytes", max);
        strbuf_append(out, buf, (size_t)n);
        if (out->nomem)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    }
}

/* Reads the status of raw into *code and appends its body to body. */
static int split_answer(const strbuf *raw, int *code, strbuf *body, char *errstr,
                        size_t errstr_size)
{
    const char *sep = raw->len > 0 ? memmem(raw->buf, raw->len, "\r\n\r\n", 4) : NULL;
    if (raw->len < 12 || memcmp(raw->buf, "HTTP/1.", 7) != 0 || sep == NULL ||
        sscanf(raw->buf + 8, " %3d", code) != 1)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT, "not an HTTP answer");
    sep += 4;
    strbuf_append(body, sep, (size_t)(raw->buf + raw->len - sep));
    return body->nomem ? errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory") : MCSQ_OK;
}

int http_get(const char *url, int timeout_ms, size_t max_bytes, strbuf *body, char *errstr,
             size_t errstr_size)
{
    int status = 0;
    size_t len = body->len;
    int rc = http_get_any(url, timeout_ms, max_bytes, &status, body, errstr, errstr_size);
    if (rc != MCSQ_OK || status == 200)
        return rc;
    body->len = len; /* only a 200 answer's body */
    return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT, "HTTP status %d", status);
}

int http_get_any(const char *url, int timeout_ms, size_t max_bytes, int *status, strbuf *body,
                 char *errstr, size_t errstr_size)
{
    http_url u;
    char req[HTTP_URL_PATH_MAX + HTTP_URL_HOST_MAX + 128];
    int fd = -1, rc = http_url_parse(url, &u, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    if ((rc = tcp_connect(u.host, (unsigned)u.port, deadline, &fd, errstr, errstr_size)) != MCSQ_OK)
        return rc;
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.0\r\nHost: %s%s%s:%d\r\nUser-Agent: mcsqueal-status\r\n"
             "Accept: text/plain\r\nConnection: close\r\n\r\n",
             u.path, strchr(u.host, ':') ? "[" : "", u.host, strchr(u.host, ':') ? "]" : "",
             u.port);
    strbuf raw;
    strbuf_init(&raw);
    if (tcp_send_all(fd, req, strlen(req), deadline) != 0)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "sending the request failed");
    else
        rc = recv_all(fd, &raw, max_bytes, deadline, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = split_answer(&raw, status, body, errstr, errstr_size);
    strbuf_deinit(&raw);
    close(fd);
    return rc;
}
