/*
 * A meta protocol connection (see meta_conn.h).
 */
#include "marker/meta_conn.h"
#include "core/errstr.h"
#include "core/tcp_io.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_INITIAL 16384
#define BUF_KEEP (1024 * 1024) /* a larger buffer is given back after a big value */

void meta_conn_init(meta_conn *c, const char *host, unsigned port)
{
    memset(c, 0, sizeof(*c));
    c->host = host;
    c->port = port;
    c->fd = -1;
}

static void conn_close(meta_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

void meta_conn_deinit(meta_conn *c)
{
    conn_close(c);
    free(c->buf);
    c->buf = NULL;
    c->cap = 0;
}

static int reserve(meta_conn *c, size_t need)
{
    if (need <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : BUF_INITIAL;
    while (cap < need)
        cap *= 2;
    char *b = realloc(c->buf, cap);
    if (b == NULL)
        return -1;
    c->buf = b;
    c->cap = cap;
    return 0;
}

/* Reads more bytes (at least one) before the deadline. 0, or -1 with *err:
 * ETIMEDOUT, an errno, or 0 when the server closed the connection. */
static int recv_more(meta_conn *c, int64_t deadline_ms, int *err)
{
    if (c->len == c->cap && reserve(c, c->cap + 1) != 0)
        return *err = ENOMEM, -1;
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            return 0;
        }
        if (n == 0)
            return *err = 0, -1;
        if (errno != EAGAIN && errno != EINTR)
            return *err = errno, -1;
        if (errno == EAGAIN && tcp_wait(c->fd, POLLIN, deadline_ms) != 0)
            return *err = ETIMEDOUT, -1;
    }
}

static int fail(meta_conn *c, int rc, char *errstr, size_t errstr_size, const char *what,
                const char *why)
{
    conn_close(c);
    return errstr_set(errstr, errstr_size, rc, "memcached %s:%u: %s%s%s", c->host, c->port, what,
                      why[0] ? ": " : "", why);
}

static int io_fail(meta_conn *c, int err, char *errstr, size_t errstr_size, const char *what)
{
    if (err == ENOMEM)
        return fail(c, MCSQ_ERR_NOMEM, errstr, errstr_size, what, "out of memory");
    return fail(c, MCSQ_ERR_CONNECT, errstr, errstr_size, what,
                err == 0           ? "connection closed by the server"
                : err == ETIMEDOUT ? "no answer in time"
                                   : strerror(err));
}

/* Reads the header line; *line_len excludes "\r\n". */
static int read_line(meta_conn *c, int64_t deadline_ms, size_t *line_len, int *err)
{
    size_t scanned = 0;
    for (;;) {
        char *nl = c->len > scanned ? memchr(c->buf + scanned, '\n', c->len - scanned) : NULL;
        if (nl != NULL) {
            *line_len = (size_t)(nl - c->buf);
            if (*line_len > 0 && c->buf[*line_len - 1] == '\r')
                (*line_len)--;
            return 0;
        }
        scanned = c->len;
        if (c->len > META_REPLY_LINE_MAX)
            return *err = EPROTO, -1;
        if (recv_more(c, deadline_ms, err) != 0)
            return -1;
    }
}

static int connect_fresh(meta_conn *c, int64_t deadline_ms, char *errstr, size_t errstr_size)
{
    char why[256];
    int rc = tcp_connect(c->host, c->port, deadline_ms, &c->fd, why, sizeof(why));
    if (rc != MCSQ_OK)
        return errstr_set(errstr, errstr_size, rc, "memcached %s:%u: %s", c->host, c->port, why);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return MCSQ_OK;
}

/* Reads the value of a VA reply whose header line is line_len bytes. */
static int read_value(meta_conn *c, size_t line_len, const meta_reply *r, size_t value_max,
                      int64_t deadline_ms, const char **value, char *errstr, size_t errstr_size)
{
    if (r->value_len > value_max)
        return fail(c, MCSQ_ERR_LIMIT, errstr, errstr_size, "value too large", "");
    size_t start = line_len + (c->buf[line_len] == '\r' ? 2 : 1);
    size_t need = start + (size_t)r->value_len + 2;
    int err = 0;
    if (reserve(c, need) != 0)
        return io_fail(c, ENOMEM, errstr, errstr_size, "reading a value");
    while (c->len < need) {
        if (recv_more(c, deadline_ms, &err) != 0)
            return io_fail(c, err, errstr, errstr_size, "reading a value");
    }
    if (c->len != need || memcmp(c->buf + need - 2, "\r\n", 2) != 0)
        return fail(c, MCSQ_ERR_CORRUPT, errstr, errstr_size, "malformed value block", "");
    *value = c->buf + start;
    return MCSQ_OK;
}

/* One attempt: send, read the header, then the value. *retry is set when a
 * reused connection failed before any byte of the reply arrived. */
static int call_once(meta_conn *c, const char *req, size_t len, int64_t deadline_ms,
                     size_t value_max, meta_reply *r, const char **value, bool *retry, char *errstr,
                     size_t errstr_size)
{
    bool reused = c->fd >= 0;
    int err = 0;
    size_t line_len;
    *retry = false;
    if (!reused && connect_fresh(c, deadline_ms, errstr, errstr_size) != MCSQ_OK)
        return MCSQ_ERR_CONNECT;
    c->len = 0;
    if (tcp_send_all(c->fd, req, len, deadline_ms) != 0 ||
        read_line(c, deadline_ms, &line_len, &err) != 0) {
        err = err ? err : errno;
        *retry = reused && c->len == 0 && err != ETIMEDOUT;
        if (err == EPROTO)
            return fail(c, MCSQ_ERR_CORRUPT, errstr, errstr_size, "reply line too long", "");
        return io_fail(c, err, errstr, errstr_size, "request");
    }
    if (meta_reply_parse(c->buf, line_len, r) != 0)
        return fail(c, MCSQ_ERR_CORRUPT, errstr, errstr_size, "not a meta protocol reply", "");
    if (r->code == META_VA)
        return read_value(c, line_len, r, value_max, deadline_ms, value, errstr, errstr_size);
    if (c->len != line_len + 2 || r->code == META_ERROR || r->code == META_CLIENT_ERROR ||
        r->code == META_SERVER_ERROR)
        conn_close(c); /* extra bytes, or an error: start clean next time */
    return MCSQ_OK;
}

int meta_conn_call(meta_conn *c, const char *req, size_t len, int64_t deadline_ms, size_t value_max,
                   meta_reply *r, const char **value, char *errstr, size_t errstr_size)
{
    bool retry = false;
    *value = NULL;
    if (c->cap > BUF_KEEP) {
        free(c->buf);
        c->buf = NULL;
        c->cap = 0;
    }
    int rc = call_once(c, req, len, deadline_ms, value_max, r, value, &retry, errstr, errstr_size);
    if (rc != MCSQ_OK && retry)
        rc = call_once(c, req, len, deadline_ms, value_max, r, value, &retry, errstr, errstr_size);
    return rc;
}
