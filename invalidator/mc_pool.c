/*
 * Pool deleter (see mc_pool.h): consistent-hash placement by libmemcached,
 * and a small binary-protocol pipeline of its own for the deletes.
 *
 * Why not libmemcached's I/O: memcached answers a quiet delete (DELETEQ) of
 * a missing key with a "Not found" reply, and libmemcached neither drains
 * those nor matches replies to requests by opaque. Its noreply mode
 * therefore (1) stalls and times out once unread miss replies fill the
 * socket buffers, and (2) hands a stale "Not found" to the next request that
 * waits for a reply, which would turn into a false confirmation. Here every
 * reply is read and matched: misses are fine, other errors fail their key,
 * and only the NOOP written after a server's deletes confirms them.
 *
 * One batch: encode each valid key as a DELETEQ frame (opaque = its index in
 * the batch) into its server's output buffer, add a NOOP (opaque
 * NOOP_OPAQUE), then run every server with work in one poll() loop: connect
 * when needed, write while reading replies, until each server has answered
 * its NOOP or failed (connection error at once; no progress for the poll
 * timeout). A connection reused from an earlier batch that turns out dead
 * (server restarted) is reconnected once and the server's frames resent:
 * deletes are idempotent.
 */
#include "invalidator/mc_pool.h"

#include "core/byte_reader.h"
#include "core/byte_writer.h"
#include "core/cache_key.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "marker/key_placement.h"
#include "mcsqueal/error.h"

#include <libmemcached/memcached.h>

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

#define HDR_LEN 24 /* binary protocol header */
#define MAGIC_REQ 0x80
#define MAGIC_RES 0x81
#define OP_DELETE 0x04
#define OP_NOOP 0x0a
#define OP_DELETEQ 0x14
#define STATUS_OK 0x0000
#define STATUS_KEY_ENOENT 0x0001
#define NOOP_OPAQUE UINT32_MAX /* key opaques are batch indexes, below it */
#define IN_SIZE 65536          /* reply buffer per server */
#define READS_PER_EVENT 16
#define OUT_KEEP_MAX (4u << 20) /* larger output buffers are freed after a batch */
#define ERROR_LEN 200

typedef enum conn_state {
    CONN_CLOSED = 0,
    CONN_CONNECTING,
    CONN_OPEN,
} conn_state;

/* A server's part in the current run (batch or probe). */
typedef enum run_state {
    RUN_IDLE = 0, /* no work */
    RUN_ACTIVE,   /* connecting, writing or waiting for its NOOP */
    RUN_DONE,     /* NOOP answered: everything before it confirmed */
    RUN_FAILED,
} run_state;

typedef struct out_buf {
    uint8_t *data;
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
    int err;
    char error[ERROR_LEN];
    /* the current run */
    run_state run;
    bool fresh;          /* connected during this run */
    bool got_reply;      /* read a reply during this run */
    int64_t deadline_ms; /* fails when reached */
    out_buf out;
    size_t off;         /* bytes of out written */
    bool write_blocked; /* the last write would have blocked */
    uint8_t *in;        /* replies not parsed yet (IN_SIZE bytes) */
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
} batch_ctx;

struct mc_pool {
    char *name;
    char prefix[KEY_PLACEMENT_PREFIX_MAX + 1];
    size_t prefix_len;
    mc_pool_options opts;
    memcached_st *ring; /* the continuum only; never connects */
    mc_server *servers;
    size_t nservers;
    struct pollfd *pfds;
    size_t *pfd_server; /* server index of each pfds entry */
    uint32_t *owner;    /* scratch: server of each key when the caller wants none */
    size_t owner_cap;
};

/* ---- small helpers ---- */

/* The big-endian field of n bytes at off of a reply header h. */
static uint32_t header_field(const uint8_t *h, size_t off, size_t n)
{
    byte_reader br;
    byte_reader_init(&br, h + off, n);
    return (uint32_t)byte_reader_uint_be(&br, n);
}

static int out_reserve(out_buf *b, size_t more)
{
    if (b->cap - b->len >= more)
        return 0;
    size_t cap = b->cap != 0 ? b->cap : 4096;
    while (cap - b->len < more)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL)
        return MCSQ_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Appends one request: header, then prefix and key as the key field. */
static int out_frame(out_buf *b, uint8_t opcode, uint32_t opaque, const char *prefix,
                     size_t prefix_len, const char *key, size_t len)
{
    size_t keylen = prefix_len + len;
    if (out_reserve(b, HDR_LEN + keylen) != 0)
        return MCSQ_ERR_NOMEM;
    uint8_t *p = b->data + b->len;
    memset(p, 0, HDR_LEN);
    p[0] = MAGIC_REQ;
    p[1] = opcode;
    byte_put_be(p + 2, keylen, 2);
    byte_put_be(p + 8, keylen, 4); /* body: the key, no extras, no value */
    byte_put_be(p + 12, opaque, 4);
    memcpy(p + HDR_LEN, prefix, prefix_len);
    memcpy(p + HDR_LEN + prefix_len, key, len);
    b->len += HDR_LEN + keylen;
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
    if (!s->down)
        log_warn("pool %s: memcached %s is down: %s", pool->name, s->name, s->error);
    s->down = true;
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
    s->conn = rc == 0 ? CONN_OPEN : CONN_CONNECTING;
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
    log_debug("pool %s: memcached %s: %s; reconnecting", pool->name, s->name, what);
    server_close(s);
    s->off = 0;
    s->write_blocked = false;
    server_connect(pool, s, now);
}

/* ---- replies ---- */

/* A delete failed with a status other than "not found": that key fails. */
static bool reply_key_error(mc_server *s, size_t si, const batch_ctx *b, uint32_t opaque,
                            uint32_t status)
{
    if (opaque >= b->n || b->owner[opaque] != si)
        return false;
    b->outcome[opaque] = MC_POOL_FAILED;
    s->err = MCSQ_ERR_IO;
    snprintf(s->error, sizeof(s->error), "memcached answered status 0x%04x to a delete", status);
    return true;
}

/* Handles one reply; returns false on a protocol violation. */
static bool reply_handle(mc_server *s, size_t si, const batch_ctx *b, const uint8_t *h)
{
    uint32_t opcode = h[1], status = header_field(h, 6, 2), opaque = header_field(h, 12, 4);
    if (opcode == OP_NOOP) {
        if (opaque != NOOP_OPAQUE || s->off != s->out.len)
            return false;
        s->run = RUN_DONE; /* everything written before it is confirmed */
        return true;
    }
    if (opcode != OP_DELETEQ && opcode != OP_DELETE)
        return false;
    if (status == STATUS_OK || status == STATUS_KEY_ENOENT)
        return true;
    return reply_key_error(s, si, b, opaque, status);
}

/* Parses the complete replies in s->in. Returns false on a protocol error. */
static bool replies_parse(mc_server *s, size_t si, const batch_ctx *b)
{
    size_t pos = 0;
    while (s->in_len > pos && s->run == RUN_ACTIVE) {
        const uint8_t *h = s->in + pos;
        if (h[0] != MAGIC_RES) /* e.g. a text-protocol "ERROR": fail at once */
            return false;
        if (s->in_len - pos < HDR_LEN)
            break;
        uint32_t body = header_field(h, 8, 4);
        if (body > IN_SIZE - HDR_LEN)
            return false;
        if (s->in_len - pos < HDR_LEN + body)
            break;
        if (!reply_handle(s, si, b, h))
            return false;
        pos += HDR_LEN + body;
    }
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
        if (!replies_parse(s, si, b))
            server_fail(pool, s, MCSQ_ERR_CORRUPT, "unexpected reply (not the binary protocol?)");
    }
}

static void server_write(const mc_pool *pool, mc_server *s, int64_t now)
{
    while (s->off < s->out.len) {
        ssize_t n = send(s->fd, s->out.data + s->off, s->out.len - s->off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            s->write_blocked = true;
            return;
        }
        if (n < 0) {
            server_conn_error(pool, s, now, strerror(errno));
            return;
        }
        s->write_blocked = false;
        s->off += (size_t)n;
        server_progress(pool, s, now);
    }
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
    s->conn = CONN_OPEN;
    server_progress(pool, s, now);
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
    if (s->run == RUN_ACTIVE && s->conn == CONN_OPEN && (revents & (POLLIN | POLLERR | POLLHUP)))
        server_read(pool, si, b, now);
}

/* What to wait for. Replies are read only once writing is done or blocked:
 * bigger reads, fewer system calls, and no deadlock, since memcached stops
 * reading only when its replies fill our buffers, which blocks our writes. */
static short server_events(const mc_server *s)
{
    if (s->conn == CONN_CONNECTING)
        return POLLOUT;
    bool writing = s->off < s->out.len;
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
        if (pool->servers[i].run == RUN_ACTIVE)
            server_begin(pool, &pool->servers[i], now);
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

/* Places and encodes key i. Returns 0 or MCSQ_ERR_NOMEM. */
static int batch_add(mc_pool *pool, const mcsq_key *k, uint32_t i, batch_ctx *b, uint32_t *owner)
{
    if (!key_valid(pool, k)) {
        b->outcome[i] = MC_POOL_INVALID;
        owner[i] = MC_POOL_NO_SERVER;
        return 0;
    }
    uint32_t si = mc_pool_server_of(pool, k->data, k->len);
    mc_server *s = &pool->servers[si];
    owner[i] = si;
    s->keys++;
    b->outcome[i] = s->down ? MC_POOL_FAILED : MC_POOL_CONFIRMED; /* CONFIRMED: if it answers */
    if (s->down)
        return 0;
    s->run = RUN_ACTIVE;
    return out_frame(&s->out, OP_DELETEQ, i, pool->prefix, pool->prefix_len, k->data, k->len);
}

/* Ends every active server's frames with the NOOP that confirms them. */
static int batch_seal(mc_pool *pool)
{
    for (size_t i = 0; i < pool->nservers; i++) {
        mc_server *s = &pool->servers[i];
        if (s->run == RUN_ACTIVE && out_frame(&s->out, OP_NOOP, NOOP_OPAQUE, "", 0, "", 0) != 0)
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

/* Final outcomes: a key is confirmed only when its server answered. */
static void batch_finish(mc_pool *pool, const batch_ctx *b, mc_pool_results *res)
{
    res->confirmed = res->failed = res->invalid = 0;
    for (size_t i = 0; i < b->n; i++) {
        uint32_t si = b->owner[i];
        if (b->outcome[i] == MC_POOL_CONFIRMED && pool->servers[si].run != RUN_DONE)
            b->outcome[i] = MC_POOL_FAILED;
        if (b->outcome[i] == MC_POOL_CONFIRMED)
            pool->servers[si].confirmed++;
        res->confirmed += b->outcome[i] == MC_POOL_CONFIRMED;
        res->failed += b->outcome[i] == MC_POOL_FAILED;
        res->invalid += b->outcome[i] == MC_POOL_INVALID;
    }
    for (size_t i = 0; i < pool->nservers; i++) {
        mc_server *s = &pool->servers[i];
        if (s->run == RUN_DONE && s->in_len > 0)
            server_close(s); /* bytes after the NOOP: start the next batch clean */
        if (s->out.cap > OUT_KEEP_MAX) {
            free(s->out.data);
            s->out = (out_buf){0};
        }
        s->run = RUN_IDLE;
    }
}

/* Out of memory before anything was sent: every valid key fails. owner may
 * be NULL (when it could not be allocated). */
static int batch_nomem(mc_pool *pool, const mcsq_key *keys, size_t n, uint8_t *outcome,
                       uint32_t *owner, mc_pool_results *res)
{
    res->confirmed = res->failed = res->invalid = 0;
    for (size_t i = 0; i < n; i++) {
        bool valid = key_valid(pool, &keys[i]);
        outcome[i] = valid ? MC_POOL_FAILED : MC_POOL_INVALID;
        if (owner != NULL)
            owner[i] =
                valid ? mc_pool_server_of(pool, keys[i].data, keys[i].len) : MC_POOL_NO_SERVER;
        res->failed += valid;
        res->invalid += !valid;
    }
    for (size_t i = 0; i < pool->nservers; i++)
        pool->servers[i].run = RUN_IDLE;
    return MCSQ_ERR_NOMEM;
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

bool mc_pool_probe(mc_pool *pool, size_t server)
{
    mc_server *s = &pool->servers[server];
    batch_ctx b = {.outcome = NULL, .owner = NULL, .n = 0};
    s->out.len = 0;
    if (out_frame(&s->out, OP_NOOP, NOOP_OPAQUE, "", 0, "", 0) != 0) {
        snprintf(s->error, sizeof(s->error), "out of memory");
        return false;
    }
    s->run = RUN_ACTIVE;
    loop_run(pool, &b);
    bool ok = s->run == RUN_DONE;
    if (ok && s->down)
        log_info("pool %s: memcached %s answers again", pool->name, s->name);
    if (ok)
        s->down = false;
    if (ok && s->in_len > 0)
        server_close(s);
    s->run = RUN_IDLE;
    return ok;
}

/* ---- creation ---- */

void mc_pool_options_init(mc_pool_options *opts)
{
    opts->connect_timeout_ms = MC_POOL_TIMEOUT_DEFAULT_MS;
    opts->poll_timeout_ms = MC_POOL_TIMEOUT_DEFAULT_MS;
    opts->hash_with_prefix = false;
}

/* The continuum, placed as the marker client and applications place keys
 * (key_placement.h), servers in config order. */
static int ring_new(mc_pool *pool, char *errstr, size_t errstr_size)
{
    pool->ring = memcached_create(NULL);
    key_placement_server *servers = calloc(pool->nservers, sizeof(*servers));
    if (pool->ring == NULL || servers == NULL) {
        free(servers);
        return MCSQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < pool->nservers; i++)
        servers[i] =
            (key_placement_server){pool->servers[i].host, (unsigned)pool->servers[i].port, 1};
    memcached_return_t rc = key_placement_configure(pool->ring, servers, pool->nservers,
                                                    pool->prefix, pool->opts.hash_with_prefix);
    free(servers);
    if (memcached_failed(rc))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "pool %s: libmemcached: %s",
                          pool->name, memcached_last_error_message(pool->ring));
    return 0;
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
    rc = pool_fill(pool, cfg);
    if (rc == 0)
        rc = ring_new(pool, errstr, errstr_size);
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
    if (pool->ring != NULL)
        memcached_free(pool->ring);
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
    return pool->nservers == 1 ? 0 : memcached_generate_hash(pool->ring, key, len);
}

void mc_pool_server_info_get(const mc_pool *pool, size_t server, mc_pool_server_info *info)
{
    const mc_server *s = &pool->servers[server];
    info->name = s->name;
    info->down = s->down;
    info->err = s->err;
    info->error = s->error;
    info->batch_keys = s->keys;
    info->batch_confirmed = s->confirmed;
}
