/*
 * Audit connection (see audit_conn.h): blocking I/O on a non-blocking
 * socket, each wait bounded by poll() and the connection's timeout; replies
 * are read line by line from a small buffer.
 *
 * A request on a connection kept from an earlier request that finds it
 * closed by the server (a restart) is sent once more on a new connection;
 * a timeout is not retried, so a stalled server costs one timeout.
 */
#include "invalidator/audit_conn.h"

#include "core/clock.h"
#include "core/errstr.h"
#include "core/tcp_io.h"
#include "marker/meta_reply.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_SIZE 8192
#define PROBE_TTL_S 600
#define START_SLACK_S 2 /* start times computed from two stats differ by up to 1 s */

struct audit_conn {
    char *host;
    int port;
    char name[300];
    int timeout_ms;
    int fd;      /* -1 when closed */
    bool reused; /* the connection served an earlier request */
    char in[IN_SIZE];
    size_t in_len, in_pos;
    /* the server process */
    bool known;
    long long pid, start_s;
    uint32_t epoch;
    bool have_watermark;
    uint64_t last_watermark;
    /* one request */
    char *out;
    size_t out_len, out_cap;
};

int audit_conn_new(audit_conn **out, const char *host, int port, int timeout_ms)
{
    audit_conn *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->host = strdup(host)) == NULL) {
        free(c);
        return MCSQ_ERR_NOMEM;
    }
    c->port = port;
    c->timeout_ms = timeout_ms;
    c->fd = -1;
    c->epoch = 1;
    snprintf(c->name, sizeof(c->name), "%s:%d", host, port);
    *out = c;
    return MCSQ_OK;
}

static void conn_close(audit_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->reused = false;
    c->in_len = c->in_pos = 0;
}

void audit_conn_destroy(audit_conn *c)
{
    if (c == NULL)
        return;
    conn_close(c);
    free(c->host);
    free(c->out);
    free(c);
}

const char *audit_conn_name(const audit_conn *c)
{
    return c->name;
}

uint32_t audit_conn_epoch(const audit_conn *c)
{
    return c->epoch;
}

/* ---- bounded waits ---- */

static int send_all(audit_conn *c, const char *buf, size_t len, char *err, size_t errlen)
{
    if (tcp_send_all(c->fd, buf, len, clock_mono_ms() + c->timeout_ms) == 0)
        return MCSQ_OK;
    if (errno == ETIMEDOUT)
        return errstr_set(err, errlen, MCSQ_ERR_AGAIN, "no answer within %d ms", c->timeout_ms);
    return errstr_set(err, errlen, MCSQ_ERR_CONNECT, "send: %s", strerror(errno));
}

/* Reads one reply line (without CRLF, NUL-terminated, borrowed until the
 * next read) into *line. */
static int read_line(audit_conn *c, char **line, char *err, size_t errlen)
{
    int64_t deadline = clock_mono_ms() + c->timeout_ms;
    for (;;) {
        char *start = c->in + c->in_pos;
        char *eol = memchr(start, '\n', c->in_len - c->in_pos);
        if (eol != NULL) {
            *eol = '\0';
            if (eol > start && eol[-1] == '\r')
                eol[-1] = '\0';
            c->in_pos = (size_t)(eol + 1 - c->in);
            *line = start;
            return MCSQ_OK;
        }
        if (c->in_pos > 0) {
            memmove(c->in, start, c->in_len - c->in_pos);
            c->in_len -= c->in_pos;
            c->in_pos = 0;
        }
        if (c->in_len == IN_SIZE)
            return errstr_set(err, errlen, MCSQ_ERR_CORRUPT, "reply line too long");
        ssize_t n = recv(c->fd, c->in + c->in_len, IN_SIZE - c->in_len, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        if (n == 0)
            return errstr_set(err, errlen, MCSQ_ERR_CONNECT, "connection closed by the server");
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return errstr_set(err, errlen, MCSQ_ERR_CONNECT, "recv: %s", strerror(errno));
        if (errno != EINTR && tcp_wait(c->fd, POLLIN, deadline) != 0)
            return errstr_set(err, errlen, MCSQ_ERR_AGAIN, "no answer within %d ms", c->timeout_ms);
    }
}

/* ---- connecting ---- */

static int connect_socket(audit_conn *c, char *err, size_t errlen)
{
    return tcp_connect(c->host, (unsigned)c->port, clock_mono_ms() + c->timeout_ms, &c->fd, err,
                       errlen);
}

/* Reads `stats` up to END: the process id and its start time. */
static int read_identity(audit_conn *c, long long *pid, long long *start_s, char *err,
                         size_t errlen)
{
    long long uptime = -1, now = -1;
    *pid = -1;
    int rc = send_all(c, "stats\r\n", 7, err, errlen);
    char *line;
    while (rc == MCSQ_OK && (rc = read_line(c, &line, err, errlen)) == MCSQ_OK) {
        if (strcmp(line, "END") == 0)
            break;
        if (strncmp(line, "STAT ", 5) != 0)
            return errstr_set(err, errlen, MCSQ_ERR_CORRUPT, "stats: unexpected \"%.60s\"", line);
        (void)(sscanf(line, "STAT pid %lld", pid) == 1 ||
               sscanf(line, "STAT uptime %lld", &uptime) == 1 ||
               sscanf(line, "STAT time %lld", &now) == 1);
    }
    if (rc == MCSQ_OK && (*pid < 0 || uptime < 0 || now < 0))
        return errstr_set(err, errlen, MCSQ_ERR_CORRUPT, "stats without pid, uptime or time");
    *start_s = now - uptime;
    return rc;
}

/* Connects and learns which server process answers. */
static int conn_open(audit_conn *c, char *err, size_t errlen)
{
    long long pid = -1, start_s = 0;
    int rc = connect_socket(c, err, errlen);
    if (rc == MCSQ_OK)
        rc = read_identity(c, &pid, &start_s, err, errlen);
    if (rc != MCSQ_OK) {
        conn_close(c);
        return rc;
    }
    long long drift = start_s - c->start_s;
    if (c->known && (pid != c->pid || drift > START_SLACK_S || drift < -START_SLACK_S)) {
        c->epoch++;
        c->have_watermark = false;
    }
    c->known = true;
    c->pid = pid;
    c->start_s = start_s;
    return MCSQ_OK;
}

/* ---- requests ---- */

static int out_printf(audit_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int out_printf(audit_conn *c, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(c->out + c->out_len, c->out_cap - c->out_len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return MCSQ_ERR_INVALID;
        if ((size_t)n < c->out_cap - c->out_len) {
            c->out_len += (size_t)n;
            return MCSQ_OK;
        }
        size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
        while (cap - c->out_len <= (size_t)n)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (p == NULL)
            return MCSQ_ERR_NOMEM;
        c->out = p;
        c->out_cap = cap;
    }
}

typedef int (*request_fn)(audit_conn *c, void *arg, char *err, size_t errlen);

/* Sends c->out and reads its replies with fn, connecting when needed; a kept
 * connection that the server closed is replaced once. Closes the connection
 * after any failure. */
static int request(audit_conn *c, request_fn fn, void *arg, char *err, size_t errlen)
{
    for (int attempt = 0;; attempt++) {
        bool reused = c->fd >= 0 && c->reused;
        int rc = c->fd >= 0 ? MCSQ_OK : conn_open(c, err, errlen);
        if (rc != MCSQ_OK)
            return rc;
        rc = send_all(c, c->out, c->out_len, err, errlen);
        if (rc == MCSQ_OK)
            rc = fn(c, arg, err, errlen);
        if (rc == MCSQ_OK) {
            c->reused = true;
            return MCSQ_OK;
        }
        conn_close(c);
        if (!(reused && attempt == 0 && rc == MCSQ_ERR_CONNECT))
            return rc;
    }
}

/* Reads one meta reply line into r. */
static int read_reply(audit_conn *c, meta_reply *r, char *err, size_t errlen)
{
    char *line;
    int rc = read_line(c, &line, err, errlen);
    if (rc == MCSQ_OK && meta_reply_parse(line, strlen(line), r) != 0)
        rc = errstr_set(err, errlen, MCSQ_ERR_CORRUPT, "not a meta reply: \"%.60s\"", line);
    return rc;
}

static int watermark_reply(audit_conn *c, void *arg, char *err, size_t errlen)
{
    meta_reply r;
    int rc = read_reply(c, &r, err, errlen);
    if (rc == MCSQ_OK && r.code != META_HD)
        rc = errstr_set(err, errlen, MCSQ_ERR_CORRUPT,
                        "the watermark store was refused (memcached 1.6 or later is needed)");
    if (rc == MCSQ_OK)
        *(uint64_t *)arg = r.cas;
    return rc;
}

int audit_conn_watermark(audit_conn *c, uint64_t *cas, char *err, size_t errlen)
{
    c->out_len = 0;
    int rc = out_printf(c, "ms " AUDIT_CONN_PROBE_KEY_B64 " 1 b c T%d\r\n1\r\n", PROBE_TTL_S);
    if (rc == MCSQ_OK)
        rc = request(c, watermark_reply, cas, err, errlen);
    if (rc != MCSQ_OK)
        return rc;
    if (c->have_watermark && *cas < c->last_watermark)
        c->epoch++; /* the counter went back: another process, whatever stats said */
    c->have_watermark = true;
    c->last_watermark = *cas;
    return MCSQ_OK;
}

typedef struct lookup_arg {
    audit_item *items;
    size_t n;
} lookup_arg;

static int lookup_replies(audit_conn *c, void *arg, char *err, size_t errlen)
{
    lookup_arg *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        meta_reply r;
        int rc = read_reply(c, &r, err, errlen);
        if (rc == MCSQ_OK && r.code != META_EN && (r.code != META_HD || !r.has_ttl))
            rc = errstr_set(err, errlen, MCSQ_ERR_CORRUPT, "lookup: unexpected reply");
        if (rc != MCSQ_OK)
            return rc;
        a->items[i] = (audit_item){.present = r.code == META_HD, .cas = r.cas, .ttl_s = r.ttl_s};
    }
    return MCSQ_OK;
}

int audit_conn_lookup(audit_conn *c, const char *prefix, const mcsq_key *keys, size_t n,
                      audit_item *items, char *err, size_t errlen)
{
    if (n == 0)
        return MCSQ_OK;
    if (n > AUDIT_CONN_LOOKUP_MAX)
        return errstr_set(err, errlen, MCSQ_ERR_INVALID, "too many keys in one lookup");
    c->out_len = 0;
    int rc = MCSQ_OK;
    for (size_t i = 0; i < n && rc == MCSQ_OK; i++)
        rc = out_printf(c, "mg %s%.*s c t u\r\n", prefix, (int)keys[i].len, keys[i].data);
    if (rc != MCSQ_OK)
        return errstr_set(err, errlen, rc, "out of memory");
    lookup_arg a = {items, n};
    return request(c, lookup_replies, &a, err, errlen);
}
