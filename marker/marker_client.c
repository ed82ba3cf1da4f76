/*
 * The remote-marker client (include/mcsqueal/marker.h): markers are plain
 * memcached items in the regional pool, placed with libmemcached's
 * libketama-compatible hashing exactly as the router places its deletes
 * (docs/memcached.md), each holding the time it was set.
 */
#include "core/clock.h"
#include "core/errstr.h"
#include "core/name_rule.h"
#include "marker/key_placement.h"
#include "marker/marker_internal.h"
#include "marker/marker_servers.h"
#include "mcsqueal/marker.h"

#include <libmemcached/memcached.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VALUE_MAX 32

struct mcsq_marker_client {
    memcached_st *mc;
    char region[NAME_RULE_REGION_MAX + 1];
    size_t prefix_len; /* of the pool prefix */
    time_t ttl_s;
};

void mcsq_marker_options_init(mcsq_marker_options *o)
{
    memset(o, 0, sizeof(*o));
    o->ttl_s = MCSQ_MARKER_TTL_DEFAULT_S;
    o->timeout_ms = MCSQ_MARKER_TIMEOUT_DEFAULT_MS;
}

/* The servers of the options, parsed (hosts owned). */
typedef struct server_list {
    key_placement_server *v;
    size_t n, cap;
    bool nomem;
} server_list;

static int server_list_add(void *ctx, const char *host, unsigned port, unsigned weight)
{
    server_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        key_placement_server *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return l->nomem = true, -1;
        l->v = v;
        l->cap = cap;
    }
    char *h = strdup(host);
    if (h == NULL)
        return l->nomem = true, -1;
    l->v[l->n++] = (key_placement_server){h, port, weight};
    return 0;
}

static void server_list_free(server_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free((char *)l->v[i].host);
    free(l->v);
}

static memcached_return_t set_timeouts(memcached_st *mc, uint64_t ms)
{
    memcached_return_t rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, ms);
    if (memcached_success(rc))
        rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, ms);
    if (memcached_success(rc))
        rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, ms * 1000);
    if (memcached_success(rc))
        rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_SND_TIMEOUT, ms * 1000);
    return rc;
}

/* Places keys as the router does (key_placement.h), then sets the timeouts. */
static int configure_servers(mcsq_marker_client *c, const mcsq_marker_options *o,
                             const server_list *l, char *errstr, size_t errstr_size)
{
    int timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : MCSQ_MARKER_TIMEOUT_DEFAULT_MS;
    memcached_return_t rc = key_placement_configure(c->mc, l->v, l->n, o->prefix, false);
    if (memcached_success(rc))
        rc = set_timeouts(c->mc, (uint64_t)timeout_ms);
    if (memcached_failed(rc))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "libmemcached: %s",
                          memcached_last_error_message(c->mc));
    return MCSQ_OK;
}

static int configure(mcsq_marker_client *c, const mcsq_marker_options *o, char *errstr,
                     size_t errstr_size)
{
    size_t plen = o->prefix != NULL ? strlen(o->prefix) : 0;
    if (plen > KEY_PLACEMENT_PREFIX_MAX)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "prefix longer than %d bytes",
                          KEY_PLACEMENT_PREFIX_MAX);
    char why[256];
    server_list l = {0};
    int n = marker_servers_parse(o->servers, server_list_add, &l, why, sizeof(why));
    int rc = MCSQ_OK;
    if (l.nomem)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    else if (n < 0)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "servers: %s", why);
    else if (n == 0)
        rc = errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "servers: none given");
    else
        rc = configure_servers(c, o, &l, errstr, errstr_size);
    server_list_free(&l);
    c->prefix_len = plen;
    return rc;
}

int mcsq_marker_client_new(mcsq_marker_client **out, const mcsq_marker_options *o, char *errstr,
                           size_t errstr_size)
{
    if (o == NULL || o->servers == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "no servers given");
    if (!marker_region_valid(o->region))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG,
                          "region \"%.64s\" is not 1-64 bytes of letters, digits, '_', '.', '-'",
                          o->region != NULL ? o->region : "");
    mcsq_marker_client *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->mc = memcached_create(NULL)) == NULL) {
        free(c);
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    }
    snprintf(c->region, sizeof(c->region), "%s", o->region);
    c->ttl_s = o->ttl_s > 0 ? (time_t)o->ttl_s : MCSQ_MARKER_TTL_DEFAULT_S;
    int rc = configure(c, o, errstr, errstr_size);
    if (rc != MCSQ_OK) {
        mcsq_marker_client_destroy(c);
        return rc;
    }
    *out = c;
    return MCSQ_OK;
}

void mcsq_marker_client_destroy(mcsq_marker_client *c)
{
    if (c == NULL)
        return;
    if (c->mc != NULL)
        memcached_free(c->mc);
    free(c);
}

const char *mcsq_marker_client_region(const mcsq_marker_client *c)
{
    return c->region;
}

/* The marker's memcached key for cache key, into out. */
static int marker_key_of(const mcsq_marker_client *c, const char *key, size_t len, char *out,
                         size_t out_size, size_t *out_len, char *errstr, size_t errstr_size)
{
    int rc = mcsq_marker_key(key, len, c->prefix_len, out, out_size, out_len);
    if (rc != MCSQ_OK)
        return errstr_set(errstr, errstr_size, rc,
                          "key \"%.*s\" breaks the key rules (1-250 bytes of UTF-8, no "
                          "whitespace or control characters)",
                          (int)(len < 64 ? len : 64), key != NULL ? key : "");
    return MCSQ_OK;
}

/* "<what> <mkey> on <host:port>: <libmemcached's reason>" */
static int server_error(const mcsq_marker_client *c, memcached_return_t rc, const char *what,
                        const char *mkey, char *errstr, size_t errstr_size)
{
    memcached_return_t lrc;
    const memcached_instance_st *s = memcached_server_by_key(c->mc, mkey, strlen(mkey), &lrc);
    return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "%s %s on %s:%u: %s", what, mkey,
                      s != NULL ? memcached_server_name(s) : "?",
                      s != NULL ? (unsigned)memcached_server_port(s) : 0u,
                      memcached_strerror(c->mc, rc));
}

int mcsq_marker_set(mcsq_marker_client *c, const char *key, size_t len, char *errstr,
                    size_t errstr_size)
{
    char mkey[MCSQ_MARKER_KEY_MAX + 1], value[VALUE_MAX];
    size_t mlen;
    int rc = marker_key_of(c, key, len, mkey, sizeof(mkey), &mlen, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    int vlen = snprintf(value, sizeof(value), "%lld", (long long)clock_wall_us());
    memcached_return_t mrc = memcached_set(c->mc, mkey, mlen, value, (size_t)vlen, c->ttl_s, 0);
    if (memcached_failed(mrc))
        return server_error(c, mrc, "setting marker", mkey, errstr, errstr_size);
    return MCSQ_OK;
}

/* Parses a marker's value (decimal unix microseconds); 0 when it is not one. */
static int64_t parse_set_us(const char *v, size_t len)
{
    int64_t t = 0;
    if (len == 0 || len > 19)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        t = t * 10 + (v[i] - '0');
    }
    return t;
}

int marker_client_read(mcsq_marker_client *c, const char *mkey, size_t mlen, int64_t *set_us,
                       char *errstr, size_t errstr_size)
{
    size_t vlen = 0;
    uint32_t flags = 0;
    memcached_return_t mrc;
    *set_us = 0;
    char *v = memcached_get(c->mc, mkey, mlen, &vlen, &flags, &mrc);
    if (v == NULL && mrc == MEMCACHED_NOTFOUND)
        return MCSQ_OK;
    if (memcached_failed(mrc)) {
        free(v);
        return server_error(c, mrc, "reading marker", mkey, errstr, errstr_size);
    }
    /* present; a value that is not a time (set by hand) is -1 */
    *set_us = v != NULL ? parse_set_us(v, vlen) : 0;
    if (*set_us <= 0)
        *set_us = -1;
    free(v);
    return MCSQ_OK;
}

size_t marker_client_prefix_len(const mcsq_marker_client *c)
{
    return c->prefix_len;
}

int mcsq_marker_check(mcsq_marker_client *c, const char *key, size_t len, int *present,
                      int64_t *set_us, char *errstr, size_t errstr_size)
{
    char mkey[MCSQ_MARKER_KEY_MAX + 1];
    size_t mlen;
    int64_t t = 0;
    *present = 0;
    if (set_us != NULL)
        *set_us = 0;
    int rc = marker_key_of(c, key, len, mkey, sizeof(mkey), &mlen, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = marker_client_read(c, mkey, mlen, &t, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    *present = t != 0;
    if (set_us != NULL)
        *set_us = t > 0 ? t : 0;
    return MCSQ_OK;
}

int mcsq_marker_clear(mcsq_marker_client *c, const char *key, size_t len, char *errstr,
                      size_t errstr_size)
{
    char mkey[MCSQ_MARKER_KEY_MAX + 1];
    size_t mlen;
    int rc = marker_key_of(c, key, len, mkey, sizeof(mkey), &mlen, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    memcached_return_t mrc = memcached_delete(c->mc, mkey, mlen, 0);
    if (mrc != MEMCACHED_NOTFOUND && memcached_failed(mrc))
        return server_error(c, mrc, "clearing marker", mkey, errstr, errstr_size);
    return MCSQ_OK;
}

int mcsq_marker_annotation(const mcsq_marker_client *c, const char *const *keys, const size_t *lens,
                           size_t nkeys, char *out, size_t out_size, size_t *out_len, char *errstr,
                           size_t errstr_size)
{
    return mcsq_annotation_build(keys, lens, nkeys, c->region, out, out_size, out_len, errstr,
                                 errstr_size);
}
