/*
 * Pool deleter (see mc_pool.h): placement by key_placement.h, and a small
 * pipeline of memcached meta-protocol commands of its own for
 * the invalidations.
 *
 * Why not libmemcached's I/O: it has no meta protocol, and its noreply mode
 * neither drains the replies memcached still sends for misses nor matches
 * replies to requests, so it can neither confirm a pipeline of deletes nor
 * keep a large one from stalling (docs/memcached.md). Here every reply is
 * read and matched: misses are fine, errors fail their keys, and only the
 * `mn` written after a server's commands confirms them.
 *
 * One batch: encode each valid key as `md <prefix><key> q O<index>` (stale
 * mode: `md <prefix><key> I T<ttl> q O<index>`) into its server's output
 * buffer, add `mn`, then run every server with work in one poll() loop:
 * connect when needed (a new connection first asks `version` and refuses a
 * memcached older than 1.6), write while reading replies, until each server
 * has answered its `mn` with `MN` or failed (connection error at once; no
 * progress for the poll timeout). A connection reused from an earlier batch
 * that turns out dead (server restarted) is reconnected once and the
 * server's commands resent: invalidations are idempotent.
 *
 * A proxy pool (placement = proxy; the servers are proxies such as
 * twemproxy, which speak only the text protocol and close the connection on
 * `version` and meta commands) shares the connections, the loop, the
 * failure handling and the down marks, with another framing
 * (text_delete.h): no `version` on a new connection, one `delete
 * <prefix><key>` per key, and each answer, in order, confirms or fails its
 * key (no batch end: the answers are counted). The whole batch goes to the
 * first proxy that is neither down nor tried yet; the keys it did not
 * confirm (an error answer, or it failed) go to the next one, in the same
 * call, until none is left.
 */
#include "invalidator/mc_pool.h"

#include "core/cache_key.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "invalidator/pool_placement.h"
#include "invalidator/text_delete.h"
#include "marker/key_placement.h"
#include "mcsqueal/error.h"
#include "mcsqueal/marker.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VERSION_REQ "version\r\n"
#define VERSION_REQ_LEN (sizeof(VERSION_REQ) - 1)
#define MN_REQ "mn\r\n"
#define MN_REQ_LEN (sizeof(MN_REQ) - 1)
#define MIN_MAJOR 1 /* the meta protocol as used here: memcached 1.6 */
#define MIN_MINOR 6
#define U32_DIGITS 10
#define CMD_TAIL_MAX 48 /* " I T<ttl> q O" */
#define IN_SIZE 65536   /* reply buffer per server */
#define READS_PER_EVENT 16
#define OUT_KEEP_MAX (4u << 20) /* larger output buffers are freed after a batch */
#define ERROR_LEN 200
#define VERSION_LEN 64
/* What a probe of a proxy deletes (after the pool prefix): a key no
 * application uses; any answer shows the proxy is serving. */
#define PROXY_PROBE_KEY "mcsqueal.proxy.probe"
/* A key of a proxy batch written to the proxy of this round, not answered
 * yet (internal; never left in a caller's outcome). */
#define OUTCOME_SENT 0xff
/* Deletes in flight to a proxy at most: twemproxy reads a whole pipeline
 * before it answers any of it (10,000 deletes written at once waited 1.1 to
 * 1.8 s for their first answer on the test machine, past the poll timeout),
 * while with about 1,000 in flight its answers flow and it is 2 to 3 times
 * faster. */
#define PROXY_WINDOW 1024

typedef enum conn_state {
    CONN_CLOSED = 0,
    CONN_CONNECTING,
    CONN_HELLO, /* connected; `version` asked, its answer awaited (not for proxies) */
    CONN_OPEN,
} conn_state;

/* A server's part in the current run (batch or probe). */
typedef enum run_state {
    RUN_IDLE = 0, /* no work */
    RUN_ACTIVE,   /* connecting, writing or waiting for its MN */
    RUN_DONE,     /* MN answered: everything before it confirmed */
    RUN_FAILED,
} run_state;

typedef struct out_buf {
    char *data;
    size_t len;
    size_t cap;
} out_buf;

typedef struct mc_server {
    char *host;
    int port;
    char *name; /* "host:port" */
    int fd;     /* -1 when closed */
    conn_state conn;
    bool down;
    bool too_old; /* its last `version` answer was older than 1.6 */
    int err;
    char error[ERROR_LEN];
    char version[VERSION_LEN]; /* from its last `version` answer; "" when unknown */
    /* the current run */
    run_state run;
    bool fresh;          /* connected during this run */
    bool got_reply;      /* read a reply during this run */
    int64_t deadline_ms; /* fails when reached */
    out_buf out;
    size_t off;           /* bytes of out written */
    size_t hello_off;     /* bytes of VERSION_REQ written (CONN_HELLO) */
    bool write_blocked;   /* the last write would have blocked */
    uint32_t next_opaque; /* replies so far matched keys below this one (proxy: the next
                             key an answer can be for) */
    size_t awaiting;      /* proxy: answers still due for what out holds */
    size_t send_limit;    /* bytes of out that may be written now (proxy: the window) */
    uint32_t win_next;    /* proxy: the next key to let into the window */
    size_t in_flight;     /* proxy: requests let into the window and not answered */
    bool tried;           /* proxy: took a round of the current batch */
    bool err_pending;     /* an error without an opaque came after next_opaque */
    char *in;             /* replies not parsed yet (IN_SIZE bytes) */
    size_t in_len;
    /* the last batch */
    size_t keys;
    size_t confirmed;
} mc_server;

/* What replies may touch: the keys of the running batch (n 0 for a probe). */
typedef struct batch_ctx {
    uint8_t *outcome;      /* (ref) */
    const uint32_t *owner; /* (ref) */
    size_t n;
    const mcsq_key *keys; /* (ref) proxy batches: the keys, to size their requests; else NULL */
    size_t req_extra;     /* proxy batches: bytes of a request besides the key */
} batch_ctx;

struct mc_pool {
    char *name;
    bool proxy;       /* placement = proxy: text deletes, one proxy per key */
    const char *kind; /* "memcached" or "proxy", for messages */
    char prefix[KEY_PLACEMENT_PREFIX_MAX + 1];
    size_t prefix_len;
    mc_pool_options opts;
    char cmd_tail[CMD_TAIL_MAX]; /* after the key: " q O" or " I T<ttl> q O" */
    size_t cmd_tail_len;
    key_placement *placement;
    mc_server *servers;
    size_t nservers;
    struct pollfd *pfds;
    size_t *pfd_server; /* server index of each pfds entry */
    uint32_t *owner;    /* scratch: server of each key when the caller wants none */
    size_t owner_cap;
};

/* ---- small helpers ---- */

static int out_reserve(out_buf *b, size_t more)
{
    if (b->cap - b->len >= more)
        return 0;
    size_t cap = b->cap != 0 ? b->cap : 4096;
    while (cap - b->len < more)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return MCSQ_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Writes v in decimal at p; returns the number of digits. */
static size_t put_u32(char *p, uint32_t v)
{
    char tmp[U32_DIGITS];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* Markers (MCSQ_MARKER_KEY_PREFIX) are always deleted: a marker marked
 * stale would still read as present. */
static bool key_is_marker(const char *key, size_t len)
{
    size_t plen = sizeof(MCSQ_MARKER_KEY_PREFIX) - 1;
    return len > plen && memcmp(key, MCSQ_MARKER_KEY_PREFIX, plen) == 0;
}

/* Appends one invalidation: "md <prefix><key><tail><opaque>\r\n". */
static int out_command(out_buf *b, const mc_pool *pool, uint32_t opaque, const char *key,
                       size_t len)
{
    bool plain = pool->opts.invalidate == MC_POOL_INVALIDATE_DELETE || key_is_marker(key, len);
    const char *tail = plain ? " q O" : pool->cmd_tail;
    size_t tail_len = plain ? 4 : pool->cmd_tail_len;
    if (out_reserve(b, 3 + pool->prefix_len + len + tail_len + U32_DIGITS + 2) != 0)
        return MCSQ_ERR_NOMEM;
    char *p = b->data + b->len;
    memcpy(p, "md ", 3);
    p += 3;
    memcpy(p, pool->prefix, pool->prefix_len);
    p += pool->prefix_len;
    memcpy(p, key, len);
    p += len;
    memcpy(p, tail, tail_len);
    p += tail_len;
    p += put_u32(p, opaque);
    memcpy(p, "\r\n", 2);
    b->len = (size_t)(p + 2 - b->data);
    return 0;
}

static int out_mn(out_buf *b)
{
    if (out_reserve(b, MN_REQ_LEN) != 0)
        return MCSQ_ERR_NOMEM;
    memcpy(b->data + b->len, MN_REQ, MN_REQ_LEN);
    b->len += MN_REQ_LEN;
    return 0;
}

/* ---- server state ---- */

static void server_close(mc_server *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->conn = CONN_CLOSED;
    s->in_len = 0;
}

static void server_fail(const mc_pool *pool, mc_server *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Ends the server's run as failed, closes its connection, marks it down. */
static void server_fail(const mc_pool *pool, mc_server *s, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
    server_close(s);
    s->run = RUN_FAILED;
    s->err = err;
    if (!s->down && err == MCSQ_ERR_UNSUPPORTED)
        log_error("pool %s: memcached %s: %s", pool->name, s->name, s->error);
    else if (!s->down)
        log_warn("pool %s: %s %s is down: %s", pool->name, pool->kind, s->name, s->error);
    s->down = true;
}

/* The state of a connection once up: a memcached first answers `version`;
 * a proxy is asked nothing (twemproxy closes the connection on it). */
static conn_state conn_ready(const mc_pool *pool)
{
    return pool->proxy ? CONN_OPEN : CONN_HELLO;
}

/* Starts a non-blocking connection. On failure the server has failed. */
static void server_connect(const mc_pool *pool, mc_server *s, int64_t now)
{
    struct addrinfo hints, *ai = NULL;
    char port[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", s->port);
    int rc = getaddrinfo(s->host, port, &hints, &ai);
    if (rc != 0) {
        server_fail(pool, s, MCSQ_ERR_CONNECT, "cannot resolve %s: %s", s->host, gai_strerror(rc));
        return;
    }
    s->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->fd >= 0)
        (void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rc = s->fd >= 0 ? connect(s->fd, ai->ai_addr, ai->ai_addrlen) : -1;
    int e = errno;
    freeaddrinfo(ai);
    if (rc != 0 && e != EINPROGRESS) {
        server_fail(pool, s, MCSQ_ERR_CONNECT, "connect: %s", strerror(e));
        return;
    }
    s->conn = rc == 0 ? conn_ready(pool) : CONN_CONNECTING;
    s->hello_off = 0;
    s->fresh = true;
    s->deadline_ms = now + pool->opts.connect_timeout_ms;
}

/* Readies an active server for the loop: connection, deadline. */
static void server_begin(const mc_pool *pool, mc_server *s, int64_t now)
{
    s->off = 0;
    s->write_blocked = false;
    s->in_len = 0;
    s->fresh = false;
    s->got_reply = false;
    s->next_opaque = 0;
    s->err_pending = false;
    s->err = MCSQ_OK;
    s->error[0] = '\0';
    s->deadline_ms = now + pool->opts.poll_timeout_ms;
    if (s->conn == CONN_CLOSED)
        server_connect(pool, s, now);
}

static void server_progress(const mc_pool *pool, mc_server *s, int64_t now)
{
    s->deadline_ms = now + pool->opts.poll_timeout_ms;
}

/* The connection broke. A connection reused from an earlier run that broke
 * before any reply is retried once on a new one (the server may have
 * restarted); otherwise the server fails. */
static void server_conn_error(const mc_pool *pool, mc_server *s, int64_t now, const char *what)
{
    if (s->fresh || s->got_reply) {
        server_fail(pool, s, MCSQ_ERR_CONNECT, "%s", what);
        return;
    }
    log_debug("pool %s: %s %s: %s; reconnecting", pool->name, pool->kind, s->name, what);
    server_close(s);
    s->off = 0;
    s->write_blocked = false;
    server_connect(pool, s, now);
}

/* ---- replies ---- */

/* Whether key i of the batch was sent to server si (its owner, or every
 * server with placement = all). */
static inline bool sent_to(const batch_ctx *b, size_t i, size_t si)
{
    return b->owner[i] == si || b->owner[i] == MC_POOL_EVERY_SERVER;
}

/* Fails the keys of server si with opaques in [from, to): an error reply
 * without an opaque came after the reply for key from - 1 and before the
 * one for key to, and memcached answers in order. */
static void keys_fail_range(mc_server *s, size_t si, const batch_ctx *b, uint32_t from, size_t to)
{
    for (size_t i = from; i < to && i < b->n; i++) {
        if (sent_to(b, i, si) && b->outcome[i] == MC_POOL_CONFIRMED)
            b->outcome[i] = MC_POOL_FAILED;
    }
    s->err_pending = false;
}

/* The value of the O<opaque> flag among the flags of a reply line
 * [p, end); false when there is none. */
static bool reply_opaque(const char *p, const char *end, uint32_t *out)
{
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        if (p < end && *p == 'O' && p + 1 < end && p[1] >= '0' && p[1] <= '9') {
            uint64_t v = 0;
            for (p++; p < end && *p >= '0' && *p <= '9' && v <= UINT32_MAX; p++)
                v = v * 10 + (uint64_t)(*p - '0');
            *out = (uint32_t)v;
            return v <= UINT32_MAX && (p == end || *p == ' ');
        }
        while (p < end && *p != ' ')
            p++;
    }
    return false;
}

/* A reply naming its key (NF: not found, a success for us; HD: done; EX or
 * another code: that key fails). Returns false on a protocol violation. */
static bool reply_key(mc_server *s, size_t si, const batch_ctx *b, const char *line, size_t len)
{
    uint32_t opaque;
    if (!reply_opaque(line + 2, line + len, &opaque) || opaque >= b->n || !sent_to(b, opaque, si) ||
        opaque < s->next_opaque)
        return false;
    if (s->err_pending)
        keys_fail_range(s, si, b, s->next_opaque, opaque);
    s->next_opaque = opaque + 1;
    if (memcmp(line, "NF", 2) == 0 || memcmp(line, "HD", 2) == 0)
        return true;
    b->outcome[opaque] = MC_POOL_FAILED;
    s->err = MCSQ_ERR_IO;
    snprintf(s->error, sizeof(s->error), "memcached answered \"%.*s\" to an invalidation",
             (int)(len < 64 ? len : 64), line);
    return true;
}

/* CLIENT_ERROR, SERVER_ERROR or ERROR: memcached names no key, so every
 * key of the server from the last matched reply up to the next one fails. */
static void reply_error(mc_server *s, const char *line, size_t len)
{
    s->err_pending = true;
    s->err = MCSQ_ERR_IO;
    snprintf(s->error, sizeof(s->error), "memcached answered \"%.*s\"",
             (int)(len < 120 ? len : 120), line);
}

static bool line_is(const char *line, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && memcmp(line, word, n) == 0 && (len == n || line[n] == ' ');
}

/* Handles one reply line (without its CR LF) in a batch or probe; returns
 * false on a protocol violation. */
static bool reply_handle(mc_server *s, size_t si, const batch_ctx *b, const char *line, size_t len)
{
    if (len == 2 && memcmp(line, "MN", 2) == 0) {
        if (s->off != s->out.len)
            return false;
        if (s->err_pending)
            keys_fail_range(s, si, b, s->next_opaque, b->n);
        s->run = RUN_DONE; /* everything written before it is confirmed */
        return true;
    }
    if (line_is(line, len, "CLIENT_ERROR") || line_is(line, len, "SERVER_ERROR") ||
        line_is(line, len, "ERROR")) {
        reply_error(s, line, len);
        return true;
    }
    if (len >= 2 && line[0] >= 'A' && line[0] <= 'Z' && line[1] >= 'A' && line[1] <= 'Z' &&
        (len == 2 || line[2] == ' '))
        return reply_key(s, si, b, line, len);
    return false;
}

/* Lets requests of proxy si into its window until PROXY_WINDOW are in
 * flight: out holds the requests of its keys in key order. Without keys (a
 * memcached, a probe) everything may be written. */
static void window_fill(mc_server *s, size_t si, const batch_ctx *b)
{
    if (b->keys == NULL) {
        s->send_limit = s->out.len;
        return;
    }
    while (s->in_flight < PROXY_WINDOW && s->win_next < b->n) {
        size_t i = s->win_next++;
        if (b->owner[i] != si || b->outcome[i] != OUTCOME_SENT)
            continue;
        s->send_limit += b->req_extra + b->keys[i].len;
        s->in_flight++;
    }
}

/* One answer of a proxy (text_delete.h), for the next key written to it
 * that has none yet; the last due answer ends the server's run. Returns
 * false on a protocol violation (not an answer to `delete`, or one too
 * many). */
static bool text_reply_handle(mc_server *s, size_t si, const batch_ctx *b, const char *line,
                              size_t len)
{
    text_delete_reply r = text_delete_reply_parse(line, len);
    if (r == TEXT_DELETE_UNEXPECTED || s->awaiting == 0)
        return false;
    if (b->n > 0) { /* a batch (a probe has no keys) */
        size_t i = s->next_opaque;
        while (i < b->n && !(b->owner[i] == si && b->outcome[i] == OUTCOME_SENT))
            i++;
        if (i == b->n)
            return false;
        b->outcome[i] = text_delete_confirmed(r) ? MC_POOL_CONFIRMED : MC_POOL_FAILED;
        s->next_opaque = (uint32_t)i + 1;
        s->in_flight--;
        window_fill(s, si, b);
    }
    if (r == TEXT_DELETE_ERROR) {
        s->err = MCSQ_ERR_IO;
        snprintf(s->error, sizeof(s->error), "proxy answered \"%.*s\" to a delete",
                 (int)(len < 120 ? len : 120), line);
    }
    if (--s->awaiting == 0)
        s->run = RUN_DONE; /* every request written has its answer */
    return true;
}

/* Parses "VERSION <major>.<minor>..." ([line, line + len)): 1 when at least
 * 1.6, 0 when older or not a number, -1 when not a version reply. */
static int version_ok(mc_server *s, const char *line, size_t len)
{
    if (!line_is(line, len, "VERSION") || len <= 8)
        return -1;
    size_t vlen = len - 8 < VERSION_LEN - 1 ? len - 8 : VERSION_LEN - 1;
    memcpy(s->version, line + 8, vlen);
    s->version[vlen] = '\0';
    for (size_t i = 0; i < vlen; i++) /* it goes into logs and metrics labels */
        s->version[i] = s->version[i] < 0x21 || s->version[i] > 0x7e ? '?' : s->version[i];
    unsigned major = 0, minor = 0;
    if (sscanf(s->version, "%u.%u", &major, &minor) != 2)
        return 0;
    return major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR);
}

/* The answer to `version` on a new connection: the server is usable only
 * from memcached 1.6 (the meta protocol). */
static void hello_handle(const mc_pool *pool, mc_server *s, const char *line, size_t len,
                         size_t rest)
{
    int ok = version_ok(s, line, len);
    if (ok < 0 || rest > 0) {
        server_fail(pool, s, MCSQ_ERR_CORRUPT,
                    "unexpected answer to \"version\" (not memcached's text protocol?)");
        return;
    }
    s->too_old = ok == 0;
    if (s->too_old) {
        server_fail(pool, s, MCSQ_ERR_UNSUPPORTED,
                    "version %s is not supported: mcsqueal needs memcached 1.6 or newer "
                    "(meta protocol); its invalidations are spooled until it is upgraded",
                    s->version);
        return;
    }
    s->conn = CONN_OPEN;
}

/* Parses the complete reply lines in s->in. Returns false on a protocol
 * error (the server has not failed yet). */
static bool replies_parse(const mc_pool *pool, mc_server *s, size_t si, const batch_ctx *b)
{
    size_t pos = 0;
    while (pos < s->in_len && s->run == RUN_ACTIVE && s->conn != CONN_CLOSED) {
        char *nl = memchr(s->in + pos, '\n', s->in_len - pos);
        if (nl == NULL)
            break;
        size_t end = (size_t)(nl - s->in);
        if (end == pos || s->in[end - 1] != '\r')
            return false;
        const char *line = s->in + pos;
        size_t len = end - 1 - pos;
        pos = end + 1;
        if (s->conn == CONN_HELLO)
            hello_handle(pool, s, line, len, s->in_len - pos);
        else if (pool->proxy ? !text_reply_handle(s, si, b, line, len)
                             : !reply_handle(s, si, b, line, len))
            return false;
    }
    if (s->conn == CONN_CLOSED)
        return true;
    if (pos == 0 && s->in_len == IN_SIZE)
        return false; /* a line longer than the buffer */
    memmove(s->in, s->in + pos, s->in_len - pos);
    s->in_len -= pos;
    return true;
}

/* ---- the loop ---- */

static void server_read(const mc_pool *pool, size_t si, const batch_ctx *b, int64_t now)
{
    mc_server *s = &pool->servers[si];
    for (int i = 0; i < READS_PER_EVENT && s->run == RUN_ACTIVE; i++) {
        ssize_t n = recv(s->fd, s->in + s->in_len, IN_SIZE - s->in_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            server_conn_error(pool, s, now,
                              n == 0 ? "connection closed by the server" : strerror(errno));
            return;
        }
        s->in_len += (size_t)n;
        s->got_reply = true;
        server_progress(pool, s, now);
        if (!replies_parse(pool, s, si, b))
            server_fail(pool, s, MCSQ_ERR_CORRUPT, "%s",
                        pool->proxy ? "unexpected answer to a text delete (not a memcached "
                                      "proxy?)"
                                    : "unexpected reply (not memcached's meta protocol?)");
    }
}

/* Sends len - *off bytes of data; false when the connection broke (the
 * server then has reconnected or failed). */
static bool server_send(const mc_pool *pool, mc_server *s, const char *data, size_t len,
                        size_t *off, int64_t now)
{
    while (*off < len) {
        ssize_t n = send(s->fd, data + *off, len - *off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            s->write_blocked = true;
            return true;
        }
        if (n < 0) {
            server_conn_error(pool, s, now, strerror(errno));
            return false;
        }
        s->write_blocked = false;
        *off += (size_t)n;
        server_progress(pool, s, now);
    }
    return true;
}

static void server_write(const mc_pool *pool, mc_server *s, int64_t now)
{
    if (s->conn == CONN_HELLO)
        (void)server_send(pool, s, VERSION_REQ, VERSION_REQ_LEN, &s->hello_off, now);
    else
        (void)server_send(pool, s, s->out.data, s->send_limit, &s->off, now);
}

static void server_connected(const mc_pool *pool, mc_server *s, int64_t now)
{
    int e = 0;
    socklen_t len = sizeof(e);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
        e = errno;
    if (e != 0) {
        server_fail(pool, s, MCSQ_ERR_CONNECT, "connect: %s", strerror(e));
        return;
    }
    s->conn = conn_ready(pool);
    server_progress(pool, s, now);
    server_write(pool, s, now);
}

static void server_event(const mc_pool *pool, size_t si, short revents, const batch_ctx *b,
                         int64_t now)
{
    mc_server *s = &pool->servers[si];
    if (s->conn == CONN_CONNECTING) {
        server_connected(pool, s, now);
        return;
    }
    if (revents & POLLOUT)
        server_write(pool, s, now);
    if (s->run == RUN_ACTIVE && (s->conn == CONN_OPEN || s->conn == CONN_HELLO) &&
        (revents & (POLLIN | POLLERR | POLLHUP)))
        server_read(pool, si, b, now);
    if (s->run == RUN_ACTIVE && s->conn == CONN_OPEN && s->off < s->send_limit && !s->write_blocked)
        server_write(pool, s, now); /* just verified: start at once */
}

/* What to wait for. Replies are read only once writing is done or blocked:
 * bigger reads, fewer system calls, and no deadlock, since memcached stops
 * reading only when its replies fill our buffers, which blocks our writes.
 * A new connection writes `version` and waits for its answer first. */
static short server_events(const mc_server *s)
{
    if (s->conn == CONN_CONNECTING)
        return POLLOUT;
    if (s->conn == CONN_HELLO)
        return s->hello_off < VERSION_REQ_LEN ? POLLOUT : POLLIN;
    bool writing = s->off < s->send_limit;
    return (short)((writing ? POLLOUT : 0) | (!writing || s->write_blocked ? POLLIN : 0));
}

/* Fills pool->pfds for the active servers, failing those past their
 * deadline; returns how many, with the poll timeout in *timeout. */
static size_t loop_collect(const mc_pool *pool, int64_t now, int *timeout)
{
    size_t k = 0;
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < pool->nservers; i++) {
        mc_server *s = &pool->servers[i];
        if (s->run == RUN_ACTIVE && now >= s->deadline_ms)
            server_fail(pool, s, s->conn == CONN_CONNECTING ? MCSQ_ERR_CONNECT : MCSQ_ERR_AGAIN,
                        "no answer within %d ms",
                        s->conn == CONN_CONNECTING ? pool->opts.connect_timeout_ms
                                                   : pool->opts.poll_timeout_ms);
        if (s->run != RUN_ACTIVE)
            continue;
        pool->pfds[k] = (struct pollfd){.fd = s->fd, .events = server_events(s)};
        pool->pfd_server[k++] = i;
        next = s->deadline_ms < next ? s->deadline_ms : next;
    }
    *timeout = k == 0 ? 0 : (int)(next - now);
    return k;
}

/* Runs every RUN_ACTIVE server until it is done or failed. */
static void loop_run(mc_pool *pool, const batch_ctx *b)
{
    int64_t now = clock_mono_ms();
    int timeout;
    for (size_t i = 0; i < pool->nservers; i++) {
        mc_server *s = &pool->servers[i];
        if (s->run != RUN_ACTIVE)
            continue;
        s->send_limit = 0;
        s->win_next = 0;
        s->in_flight = 0;
        window_fill(s, i, b);
        server_begin(pool, s, now);
    }
    size_t k;
    while ((k = loop_collect(pool, now, &timeout)) > 0) {
        int r = poll(pool->pfds, (nfds_t)k, timeout);
        int e = errno;
        now = clock_mono_ms();
        if (r < 0 && e != EINTR) {
            for (size_t j = 0; j < k; j++)
                server_fail(pool, &pool->servers[pool->pfd_server[j]], MCSQ_ERR_IO, "poll: %s",
                            strerror(e));
            return;
        }
        for (size_t j = 0; r > 0 && j < k; j++) {
            if (pool->pfds[j].revents != 0)
                server_event(pool, pool->pfd_server[j], pool->pfds[j].revents, b, now);
        }
    }
}

/* ---- batches ---- */

static bool key_valid(const mc_pool *pool, const mcsq_key *k)
{
    return k->len > 0 && pool->prefix_len + k->len <= CACHE_KEY_MAX_LEN &&
           cache_key_check(k->data, k->len) == CACHE_KEY_OK;
}

/* Makes sure the scratch owner array holds n entries. */
static uint32_t *owner_array(mc_pool *pool, size_t n)
{
    if (pool->owner_cap < n) {
        uint32_t *p = realloc(pool->owner, n * sizeof(*p));
        if (p == NULL)
            return NULL;
        pool->owner = p;
        pool->owner_cap = n;
    }
    return pool->owner;
}

/* Encodes key i for every server (placement = all): confirmed only when
 * every server confirms it. Returns 0 or MCSQ_ERR_NOMEM. */
static int batch_add_everywhere(mc_pool *pool, const mcsq_key *k, uint32_t i, batch_ctx *b)
{
    b->outcome[i] = MC_POOL_CONFIRMED; /* if every server answers */
    for (size_t si = 0; si < pool->nservers; si++) {
        mc_server *s = &pool->servers[si];
        s->keys++;
        if (s->down) {
            b->outcome[i] = MC_POOL_FAILED;
            continue;
        }
        s->run = RUN_ACTIVE;
        if (out_command(&s->out, pool, i, k->data, k->len) != 0)
            return MCSQ_ERR_NOMEM;
    }
    return 0;
}

/* Places and encodes key i. Returns 0 or MCSQ_ERR_NOMEM. */
static int batch_add(mc_pool *pool, const mcsq_key *k, uint32_t i, batch_ctx *b, uint32_t *owner)
{
    if (!key_valid(pool, k)) {
        b->outcome[i] = MC_POOL_INVALID;
        owner[i] = MC_POOL_NO_SERVER;
        return 0;
    }
    uint32_t si = mc_pool_server_of(pool, k->data, k->len);
    owner[i] = si;
    if (si == MC_POOL_EVERY_SERVER)
        return batch_add_everywhere(pool, k, i, b);
    mc_server *s = &pool->servers[si];
    s->keys++;
    b->outcome[i] = s->down ? MC_POOL_FAILED : MC_POOL_CONFIRMED; /* CONFIRMED: if it answers */
    if (s->down)
        return 0;
    s->run = RUN_ACTIVE;
    return out_command(&s->out, pool, i, k->data, k->len);
}

/* Ends every active server's commands with the `mn` that confirms them. */
static int batch_seal(mc_pool *pool)
{
    for (size_t i = 0; i < pool->nservers; i++) {
        mc_server *s = &pool->servers[i];
        if (s->run == RUN_ACTIVE && out_mn(&s->out) != 0)
            return MCSQ_ERR_NOMEM;
    }
    return 0;
}

static void batch_reset(mc_pool *pool)
{
    for (size_t i = 0; i < pool->nservers; i++) {
        mc_server *s = &pool->servers[i];
        s->run = RUN_IDLE;
        s->out.len = 0;
        s->keys = 0;
        s->confirmed = 0;
    }
}

/* A key sent to every server: each answering server counts it confirmed;
 * the key is confirmed when all of them answered. */
static void finish_everywhere(mc_pool *pool, const batch_ctx *b, size_t i)
{
    for (size_t si = 0; si < pool->nservers; si++) {
        mc_server *s = &pool->servers[si];
        if (b->outcome[i] != MC_POOL_INVALID && s->run == RUN_DONE)
            s->confirmed++;
        else if (b->outcome[i] == MC_POOL_CONFIRMED)
            b->outcome[i] = MC_POOL_FAILED;
    }
}

/* Final outcomes: a key is confirmed only when its server answered. */
static void batch_finish(mc_pool *pool, const batch_ctx *b, mc_pool_results *res)
{
    res->confirmed = res->failed = res->invalid = 0;
    for (size_t i = 0; i < b->n; i++) {
        uint32_t si = b->owner[i];
        if (si == MC_POOL_EVERY_SERVER) {
            finish_everywhere(pool, b, i);
        } else {
            if (b->outcome[i] == MC_POOL_CONFIRMED && pool->servers[si].run != RUN_DONE)
                b->outcome[i] = MC_POOL_FAILED;
            if (b->outcome[i] == MC_POOL_CONFIRMED)
                pool->servers[si].confirmed++;
        }
        res->confirmed += b->outcome[i] == MC_POOL_CONFIRMED;
        res->failed += b->outcome[i] == MC_POOL_FAILED;
        res->invalid += b->outcome[i] == MC_POOL_INVALID;
    }
    for (size_t i = 0; i < pool->nservers; i++) {
        mc_server *s = &pool->servers[i];
        if (s->run == RUN_DONE && s->in_len > 0)
            server_close(s); /* bytes after the MN: start the next batch clean */
        if (s->out.cap > OUT_KEEP_MAX) {
            free(s->out.data);
            s->out = (out_buf){0};
        }
        s->run = RUN_IDLE;
    }
}

/* The server a key that failed is reported under (and spooled for): its
 * owner; for a proxy pool, the first proxy (any proxy takes it later). */
static uint32_t failed_owner(const mc_pool *pool, const mcsq_key *k)
{
    uint32_t si = mc_pool_server_of(pool, k->data, k->len);
    return si == MC_POOL_ANY_SERVER ? 0 : si;
}

/* Out of memory before anything was confirmed: every valid key fails.
 * owner may be NULL (when it could not be allocated). */
static int batch_nomem(mc_pool *pool, const mcsq_key *keys, size_t n, uint8_t *outcome,
                       uint32_t *owner, mc_pool_results *res)
{
    res->confirmed = res->failed = res->invalid = 0;
    for (size_t i = 0; i < n; i++) {
        bool valid = key_valid(pool, &keys[i]);
        outcome[i] = valid ? MC_POOL_FAILED : MC_POOL_INVALID;
        if (owner != NULL)
            owner[i] = valid ? failed_owner(pool, &keys[i]) : MC_POOL_NO_SERVER;
        res->failed += valid;
        res->invalid += !valid;
    }
    for (size_t i = 0; i < pool->nservers; i++)
        pool->servers[i].run = RUN_IDLE;
    return MCSQ_ERR_NOMEM;
}

/* ---- proxy pools: each key to one answering proxy ---- */

/* The proxy of the next round: the first neither down nor tried in this
 * batch; SIZE_MAX when none is left. */
static size_t proxy_next(const mc_pool *pool)
{
    for (size_t i = 0; i < pool->nservers; i++) {
        if (!pool->servers[i].down && !pool->servers[i].tried)
            return i;
    }
    return SIZE_MAX;
}

/* Writes a text delete of every key not confirmed yet to proxy si, which
 * becomes their owner. Returns 0 or MCSQ_ERR_NOMEM. */
static int proxy_round_add(mc_pool *pool, size_t si, const mcsq_key *keys, const batch_ctx *b,
                           uint32_t *owner)
{
    mc_server *s = &pool->servers[si];
    s->out.len = 0;
    s->awaiting = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->outcome[i] != MC_POOL_FAILED)
            continue;
        if (out_reserve(&s->out, TEXT_DELETE_OVERHEAD + pool->prefix_len + keys[i].len) != 0)
            return MCSQ_ERR_NOMEM;
        s->out.len += text_delete_put(s->out.data + s->out.len, pool->prefix, pool->prefix_len,
                                      keys[i].data, keys[i].len);
        owner[i] = (uint32_t)si;
        b->outcome[i] = OUTCOME_SENT;
        s->awaiting++;
        s->keys++;
    }
    s->run = s->awaiting > 0 ? RUN_ACTIVE : RUN_IDLE;
    return 0;
}

/* Ends proxy si's round: its keys without an answer fail (for the next
 * proxy to take), its confirmations are counted. */
static void proxy_round_end(mc_pool *pool, size_t si, const batch_ctx *b)
{
    mc_server *s = &pool->servers[si];
    for (size_t i = 0; i < b->n; i++) {
        if (b->owner[i] != si)
            continue;
        if (b->outcome[i] == OUTCOME_SENT)
            b->outcome[i] = MC_POOL_FAILED;
        s->confirmed += b->outcome[i] == MC_POOL_CONFIRMED;
    }
    if (s->run == RUN_DONE && s->in_len > 0)
        server_close(s); /* bytes after the last answer: start the next batch clean */
    if (s->out.cap > OUT_KEEP_MAX) {
        free(s->out.data);
        s->out = (out_buf){0};
    }
    s->tried = true;
    s->run = RUN_IDLE;
}

/* A proxy pool's batch: rounds of the keys not confirmed yet, each on the
 * next answering proxy. A key that fails is reported under the last proxy
 * that had it (the first proxy when none was up). */
static int proxy_batch(mc_pool *pool, const mcsq_key *keys, batch_ctx *b, uint32_t *owner,
                       mc_pool_results *res)
{
    for (size_t i = 0; i < pool->nservers; i++)
        pool->servers[i].tried = false;
    for (size_t i = 0; i < b->n; i++) {
        bool valid = key_valid(pool, &keys[i]);
        b->outcome[i] = valid ? MC_POOL_FAILED : MC_POOL_INVALID; /* FAILED: to be sent */
        owner[i] = valid ? 0 : MC_POOL_NO_SERVER;
    }
    size_t si;
    while ((si = proxy_next(pool)) != SIZE_MAX) {
        if (proxy_round_add(pool, si, keys, b, owner) != 0)
            return batch_nomem(pool, keys, b->n, b->outcome, owner, res);
        if (pool->servers[si].run == RUN_IDLE)
            break; /* nothing left to send */
        loop_run(pool, b);
        proxy_round_end(pool, si, b);
    }
    res->confirmed = res->failed = res->invalid = 0;
    for (size_t i = 0; i < b->n; i++) {
        res->confirmed += b->outcome[i] == MC_POOL_CONFIRMED;
        res->failed += b->outcome[i] == MC_POOL_FAILED;
        res->invalid += b->outcome[i] == MC_POOL_INVALID;
    }
    return res->failed > 0 ? MCSQ_ERR_CONNECT : MCSQ_OK;
}

int mc_pool_delete_batch(mc_pool *pool, const mcsq_key *keys, size_t n, mc_pool_results *res)
{
    if (n >= UINT32_MAX)
        return MCSQ_ERR_INVALID;
    res->confirmed = res->failed = res->invalid = 0;
    if (n == 0)
        return MCSQ_OK;
    uint32_t *owner = res->server != NULL ? res->server : owner_array(pool, n);
    batch_ctx b = {.outcome = res->outcome, .owner = owner, .n = n};
    batch_reset(pool);
    if (owner == NULL)
        return batch_nomem(pool, keys, n, res->outcome, NULL, res);
    if (pool->proxy) {
        b.keys = keys;
        b.req_extra = TEXT_DELETE_OVERHEAD + pool->prefix_len;
        return proxy_batch(pool, keys, &b, owner, res);
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = batch_add(pool, &keys[i], (uint32_t)i, &b, owner);
    if (rc == 0)
        rc = batch_seal(pool);
    if (rc != 0)
        return batch_nomem(pool, keys, n, res->outcome, owner, res);
    loop_run(pool, &b);
    batch_finish(pool, &b, res);
    return res->failed > 0 ? MCSQ_ERR_CONNECT : MCSQ_OK;
}

/* What a probe writes: `mn` to a memcached; a text delete of
 * PROXY_PROBE_KEY to a proxy. Returns 0 or MCSQ_ERR_NOMEM. */
static int out_probe(const mc_pool *pool, mc_server *s)
{
    s->out.len = 0;
    if (!pool->proxy)
        return out_mn(&s->out);
    size_t klen = sizeof(PROXY_PROBE_KEY) - 1;
    if (out_reserve(&s->out, TEXT_DELETE_OVERHEAD + pool->prefix_len + klen) != 0)
        return MCSQ_ERR_NOMEM;
    s->out.len =
        text_delete_put(s->out.data, pool->prefix, pool->prefix_len, PROXY_PROBE_KEY, klen);
    s->awaiting = 1;
    return 0;
}

bool mc_pool_probe(mc_pool *pool, size_t server)
{
    mc_server *s = &pool->servers[server];
    batch_ctx b = {.outcome = NULL, .owner = NULL, .n = 0};
    if (out_probe(pool, s) != 0) {
        snprintf(s->error, sizeof(s->error), "out of memory");
        return false;
    }
    s->run = RUN_ACTIVE;
    loop_run(pool, &b);
    bool ok = s->run == RUN_DONE;
    if (ok && s->down)
        log_info("pool %s: %s %s answers again", pool->name, pool->kind, s->name);
    if (ok)
        s->down = false;
    if (ok && s->in_len > 0)
        server_close(s);
    s->run = RUN_IDLE;
    return ok;
}

bool mc_pool_reachable(const mc_pool *pool, size_t server)
{
    if (!pool->proxy)
        return !pool->servers[server].down;
    for (size_t i = 0; i < pool->nservers; i++) {
        if (!pool->servers[i].down)
            return true;
    }
    return false;
}

bool mc_pool_revive(mc_pool *pool, size_t server)
{
    if (!pool->proxy)
        return mc_pool_probe(pool, server);
    if (mc_pool_reachable(pool, server))
        return true;
    for (size_t i = 0; i < pool->nservers; i++) {
        if (mc_pool_probe(pool, i))
            return true;
    }
    return false;
}

/* ---- creation ---- */

void mc_pool_options_init(mc_pool_options *opts)
{
    opts->connect_timeout_ms = MC_POOL_TIMEOUT_DEFAULT_MS;
    opts->poll_timeout_ms = MC_POOL_TIMEOUT_DEFAULT_MS;
    opts->hash_with_prefix = false;
    opts->invalidate = MC_POOL_INVALIDATE_DELETE;
    opts->stale_ttl_s = MC_POOL_STALE_TTL_DEFAULT_S;
}

/* The pool's placement (pool_placement.h); placement = proxy speaks the
 * text protocol to the proxies. */
static int placement_new(mc_pool *pool, const mcsq_pool_config *cfg, char *errstr,
                         size_t errstr_size)
{
    return pool_placement_new(&pool->placement, cfg, pool->opts.hash_with_prefix, errstr,
                              errstr_size);
}

static int server_init(mc_server *s, const mcsq_hostport *hp)
{
    size_t len = strlen(hp->host) + 16;
    s->fd = -1;
    s->host = strdup(hp->host);
    s->port = hp->port;
    s->name = malloc(len);
    s->in = malloc(IN_SIZE);
    if (s->host == NULL || s->name == NULL || s->in == NULL)
        return MCSQ_ERR_NOMEM;
    snprintf(s->name, len, "%s:%d", hp->host, hp->port);
    return 0;
}

static int pool_check(const mcsq_pool_config *cfg, const mc_pool_options *opts, char *errstr,
                      size_t errstr_size)
{
    const char *name = cfg->name != NULL ? cfg->name : "";
    if (cfg->servers.n == 0 || cfg->servers.n >= UINT32_MAX)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "pool %s: no servers", name);
    for (size_t i = 0; i < cfg->servers.n; i++) {
        const mcsq_hostport *hp = &cfg->servers.v[i];
        if (hp->host == NULL || hp->host[0] == '\0' || hp->port <= 0 || hp->port > 65535)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                              "pool %s: server %zu has no host or port", name, i + 1);
    }
    if (cfg->prefix != NULL && strlen(cfg->prefix) > KEY_PLACEMENT_PREFIX_MAX)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "pool %s: prefix longer than %d bytes", name, KEY_PLACEMENT_PREFIX_MAX);
    if (opts->connect_timeout_ms <= 0 || opts->poll_timeout_ms <= 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "pool %s: timeouts must be positive", name);
    if (opts->invalidate != MC_POOL_INVALIDATE_DELETE &&
        opts->invalidate != MC_POOL_INVALIDATE_STALE)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "pool %s: unknown invalidation mode %d", name, (int)opts->invalidate);
    if (opts->invalidate == MC_POOL_INVALIDATE_STALE && cfg->placement == KEY_PLACEMENT_PROXY)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "pool %s: invalidate = stale needs the meta protocol, which proxies "
                          "such as twemproxy do not speak; use invalidate = delete",
                          name);
    if (opts->stale_ttl_s < 1 || opts->stale_ttl_s > MC_POOL_STALE_TTL_MAX_S)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "pool %s: stale TTL must be 1-%d seconds", name, MC_POOL_STALE_TTL_MAX_S);
    return 0;
}

static int pool_fill(mc_pool *pool, const mcsq_pool_config *cfg)
{
    size_t n = cfg->servers.n;
    pool->name = strdup(cfg->name != NULL ? cfg->name : "");
    pool->servers = calloc(n, sizeof(*pool->servers));
    pool->pfds = calloc(n, sizeof(*pool->pfds));
    pool->pfd_server = calloc(n, sizeof(*pool->pfd_server));
    if (pool->name == NULL || pool->servers == NULL || pool->pfds == NULL ||
        pool->pfd_server == NULL)
        return MCSQ_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        pool->nservers = i + 1; /* destroy() frees what server_init() got */
        if (server_init(&pool->servers[i], &cfg->servers.v[i]) != 0)
            return MCSQ_ERR_NOMEM;
    }
    snprintf(pool->prefix, sizeof(pool->prefix), "%s", cfg->prefix != NULL ? cfg->prefix : "");
    pool->prefix_len = strlen(pool->prefix);
    return 0;
}

/* What follows the key in a stale-mode command, up to the opaque's value. */
static void cmd_tail_init(mc_pool *pool)
{
    int n = snprintf(pool->cmd_tail, sizeof(pool->cmd_tail), " I T%d q O", pool->opts.stale_ttl_s);
    pool->cmd_tail_len = (size_t)n;
}

int mc_pool_new(mc_pool **out, const mcsq_pool_config *cfg, const mc_pool_options *opts,
                char *errstr, size_t errstr_size)
{
    mc_pool_options defaults;
    mc_pool_options_init(&defaults);
    *out = NULL;
    int rc = pool_check(cfg, opts != NULL ? opts : &defaults, errstr, errstr_size);
    if (rc != 0)
        return rc;
    mc_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    pool->opts = opts != NULL ? *opts : defaults;
    pool->proxy = cfg->placement == KEY_PLACEMENT_PROXY;
    pool->kind = pool->proxy ? "proxy" : "memcached";
    cmd_tail_init(pool);
    rc = pool_fill(pool, cfg);
    if (rc == 0)
        rc = placement_new(pool, cfg, errstr, errstr_size);
    if (rc != 0)
        goto err;
    *out = pool;
    return 0;
err:
    if (rc == MCSQ_ERR_NOMEM)
        errstr_set(errstr, errstr_size, rc, "out of memory");
    mc_pool_destroy(pool);
    return rc;
}

void mc_pool_destroy(mc_pool *pool)
{
    if (pool == NULL)
        return;
    for (size_t i = 0; pool->servers != NULL && i < pool->nservers; i++) {
        mc_server *s = &pool->servers[i];
        server_close(s);
        free(s->host);
        free(s->name);
        free(s->in);
        free(s->out.data);
    }
    key_placement_free(pool->placement);
    free(pool->servers);
    free(pool->pfds);
    free(pool->pfd_server);
    free(pool->owner);
    free(pool->name);
    free(pool);
}

/* ---- queries ---- */

size_t mc_pool_server_count(const mc_pool *pool)
{
    return pool->nservers;
}

uint32_t mc_pool_server_of(const mc_pool *pool, const char *key, size_t len)
{
    if (pool->nservers == 1)
        return 0;
    uint32_t s = key_placement_server_of(pool->placement, key, len);
    if (s == KEY_PLACEMENT_EVERY_SERVER)
        return MC_POOL_EVERY_SERVER;
    return s == KEY_PLACEMENT_ANY_SERVER ? MC_POOL_ANY_SERVER : s;
}

void mc_pool_server_info_get(const mc_pool *pool, size_t server, mc_pool_server_info *info)
{
    const mc_server *s = &pool->servers[server];
    info->name = s->name;
    info->down = s->down;
    info->err = s->err;
    info->error = s->error;
    info->version = s->version;
    info->unsupported = s->too_old;
    info->batch_keys = s->keys;
    info->batch_confirmed = s->confirmed;
}
