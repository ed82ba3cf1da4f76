/*
 * The lease client (include/mcsqueal/lease.h): `mg <key> v c N<ttl>` for a
 * get, `ms <key> <len> T<ttl> C<lease>` for a fill, on one meta protocol
 * connection per server (meta_conn.h), each key on the server where the
 * router deletes it (key_placement.h).
 */
#include "core/cache_key.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "marker/key_placement.h"
#include "marker/lease_options.h"
#include "marker/marker_servers.h"
#include "marker/meta_conn.h"
#include "mcsqueal/lease.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "ms " key " " len " T" ttl " C" cas "\r\n": the key and numbers fit. */
#define REQUEST_MAX (CACHE_KEY_MAX_LEN + 96)

typedef struct lease_server {
    char *host;
    unsigned port;
    unsigned weight;
    meta_conn conn;
} lease_server;

struct mcsq_lease_client {
    lease_server *servers;
    size_t nservers;
    key_placement *placement;
    char prefix[KEY_PLACEMENT_PREFIX_MAX + 1];
    size_t prefix_len;
    int timeout_ms;
    unsigned lease_ttl_s;
    char *request; /* a fill's request: command line and value */
    size_t request_cap;
};

static int server_add(void *ctx, const char *host, unsigned port, unsigned weight)
{
    mcsq_lease_client *c = ctx;
    lease_server *v = realloc(c->servers, (c->nservers + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    c->servers = v;
    char *h = strdup(host);
    if (h == NULL)
        return -1;
    v[c->nservers].host = h;
    v[c->nservers].port = port;
    v[c->nservers].weight = weight;
    meta_conn_init(&v[c->nservers].conn, h, port);
    c->nservers++;
    return 0;
}

/* The placement of the router's pool deleter (key_placement.h): the pool's
 * placement, weights and ketama_points. */
static int placement_new(mcsq_lease_client *c, const mcsq_lease_options *o, char *errstr,
                         size_t errstr_size)
{
    key_placement_server *v = calloc(c->nservers, sizeof(*v));
    if (v == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < c->nservers; i++)
        v[i] = (key_placement_server){c->servers[i].host, c->servers[i].port, c->servers[i].weight};
    int rc = key_placement_new(&c->placement, o->placement, v, c->nservers, c->prefix, false,
                               o->ketama_points, errstr, errstr_size);
    free(v);
    return rc;
}

static int configure(mcsq_lease_client *c, const mcsq_lease_options *o, char *errstr,
                     size_t errstr_size)
{
    char why[256];
    if (o->servers == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "no servers given");
    snprintf(c->prefix, sizeof(c->prefix), "%s", o->prefix);
    c->prefix_len = strlen(c->prefix);
    c->timeout_ms = o->timeout_ms;
    c->lease_ttl_s = o->lease_ttl_s;
    if (marker_servers_parse(o->servers, server_add, c, why, sizeof(why)) < 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "servers: %s", why);
    return placement_new(c, o, errstr, errstr_size);
}

int mcsq_lease_client_new(mcsq_lease_client **out, const mcsq_lease_options *o, char *errstr,
                          size_t errstr_size)
{
    if (o == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "no options given");
    mcsq_lease_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    int rc = configure(c, o, errstr, errstr_size);
    if (rc != MCSQ_OK) {
        mcsq_lease_client_destroy(c);
        return rc;
    }
    *out = c;
    return MCSQ_OK;
}

void mcsq_lease_client_destroy(mcsq_lease_client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nservers; i++) {
        meta_conn_deinit(&c->servers[i].conn);
        free(c->servers[i].host);
    }
    free(c->servers);
    key_placement_free(c->placement);
    free(c->request);
    free(c);
}

const char *mcsq_lease_status_name(mcsq_lease_status status)
{
    switch (status) {
    case MCSQ_LEASE_HIT:
        return "hit";
    case MCSQ_LEASE_MISS:
        return "miss";
    case MCSQ_LEASE_STALE:
        return "stale";
    case MCSQ_LEASE_WAIT:
        return "wait";
    }
    return "unknown";
}

/* Checks key against the key rules with the pool prefix. */
static int key_check(const mcsq_lease_client *c, const char *key, size_t len, char *errstr,
                     size_t errstr_size)
{
    if (key == NULL || cache_key_check(key, len) != CACHE_KEY_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "key \"%.*s\" breaks the key rules (1-250 bytes of UTF-8, no "
                          "whitespace or control characters)",
                          key != NULL ? (int)(len < 64 ? len : 64) : 0, key != NULL ? key : "");
    if (c->prefix_len + len > CACHE_KEY_MAX_LEN)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          "key \"%.*s\" is longer than %d bytes with the prefix \"%s\"",
                          (int)(len < 64 ? len : 64), key, CACHE_KEY_MAX_LEN, c->prefix);
    return MCSQ_OK;
}

/* The connection of the server that holds key. */
static meta_conn *conn_of(mcsq_lease_client *c, const char *key, size_t len)
{
    uint32_t i = key_placement_server_of(c->placement, key, len);
    return &c->servers[i < c->nservers ? i : 0].conn;
}

/* An error reply, or a code the command does not answer, as an error. */
static int reply_error(const meta_conn *mc, const meta_reply *r, const char *cmd, char *errstr,
                       size_t errstr_size)
{
    if (r->code == META_ERROR)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                          "memcached %s:%u does not know `%s`: the meta protocol needs "
                          "memcached 1.6 or later",
                          mc->host, mc->port, cmd);
    if (r->code == META_CLIENT_ERROR || r->code == META_SERVER_ERROR)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO, "memcached %s:%u refused `%s`: %.*s",
                          mc->host, mc->port, cmd, (int)(r->text_len < 200 ? r->text_len : 200),
                          r->text);
    return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                      "memcached %s:%u: unexpected answer to `%s`", mc->host, mc->port, cmd);
}

/* The status of an mg answer (flags W, X, Z; see docs/leases.md). A
 * zero-length value under X or Z is a lease's placeholder, not a value. */
static mcsq_lease_status status_of(const meta_reply *r, bool *has_value)
{
    bool lease_out = r->win || r->won_elsewhere;
    *has_value = !lease_out || (r->stale && r->value_len > 0);
    if (r->win)
        return *has_value ? MCSQ_LEASE_STALE : MCSQ_LEASE_MISS;
    if (r->won_elsewhere)
        return MCSQ_LEASE_WAIT;
    return MCSQ_LEASE_HIT;
}

int mcsq_lease_get(mcsq_lease_client *c, const char *key, size_t len, mcsq_lease_status *status,
                   const char **value, size_t *value_len, uint64_t *lease, char *errstr,
                   size_t errstr_size)
{
    char req[REQUEST_MAX];
    meta_reply r;
    const char *v = NULL;
    bool has_value;
    *value = NULL;
    *value_len = 0;
    *lease = 0;
    int rc = key_check(c, key, len, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    meta_conn *mc = conn_of(c, key, len);
    int n = snprintf(req, sizeof(req), "mg %s%.*s v c N%u\r\n", c->prefix, (int)len, key,
                     c->lease_ttl_s);
    rc = meta_conn_call(mc, req, (size_t)n, clock_mono_ms() + c->timeout_ms, MCSQ_LEASE_VALUE_MAX,
                        &r, &v, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    if (r.code != META_VA)
        return reply_error(mc, &r, "mg", errstr, errstr_size);
    *status = status_of(&r, &has_value);
    if (has_value) {
        *value = v;
        *value_len = (size_t)r.value_len;
    }
    if (*status == MCSQ_LEASE_MISS || *status == MCSQ_LEASE_STALE)
        *lease = r.cas;
    return MCSQ_OK;
}

/* The fill request: command line, then the value and "\r\n". */
static int fill_request(mcsq_lease_client *c, const char *key, size_t len, uint64_t lease,
                        const char *value, size_t value_len, unsigned ttl_s, size_t *req_len)
{
    size_t need = REQUEST_MAX + value_len + 2;
    if (need > c->request_cap) {
        char *b = realloc(c->request, need);
        if (b == NULL)
            return MCSQ_ERR_NOMEM;
        c->request = b;
        c->request_cap = need;
    }
    int n = snprintf(c->request, REQUEST_MAX, "ms %s%.*s %zu T%u C%" PRIu64 "\r\n", c->prefix,
                     (int)len, key, value_len, ttl_s, lease);
    memcpy(c->request + n, value, value_len);
    memcpy(c->request + n + value_len, "\r\n", 2);
    *req_len = (size_t)n + value_len + 2;
    return MCSQ_OK;
}

int mcsq_lease_fill(mcsq_lease_client *c, const char *key, size_t len, uint64_t lease,
                    const char *value, size_t value_len, unsigned ttl_s, int *stored, char *errstr,
                    size_t errstr_size)
{
    meta_reply r;
    const char *v;
    size_t req_len;
    *stored = 0;
    int rc = key_check(c, key, len, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    if (lease == 0 || (value == NULL && value_len > 0))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_INVALID,
                          lease == 0 ? "no lease: fill only after a get answered miss or stale"
                                     : "value is NULL");
    if (value_len > MCSQ_LEASE_VALUE_MAX)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT, "value larger than %u bytes",
                          MCSQ_LEASE_VALUE_MAX);
    if (fill_request(c, key, len, lease, value != NULL ? value : "", value_len, ttl_s, &req_len) !=
        MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    meta_conn *mc = conn_of(c, key, len);
    rc = meta_conn_call(mc, c->request, req_len, clock_mono_ms() + c->timeout_ms, 0, &r, &v, errstr,
                        errstr_size);
    if (c->request_cap > 1024 * 1024) {
        free(c->request);
        c->request = NULL;
        c->request_cap = 0;
    }
    if (rc != MCSQ_OK)
        return rc;
    if (r.code == META_HD || r.code == META_EX || r.code == META_NF || r.code == META_NS) {
        *stored = r.code == META_HD;
        return MCSQ_OK;
    }
    return reply_error(mc, &r, "ms", errstr, errstr_size);
}
