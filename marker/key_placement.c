/*
 * Key placement (see key_placement.h): builds the pool's placement with its
 * mode's build function and answers key_placement_server_of().
 */
#include "marker/key_placement.h"
#include "core/errstr.h"
#include "marker/key_placement_internal.h"
#include "mcsqueal/error.h"

#include <stdlib.h>
#include <string.h>

const char *key_placement_hash_input(const key_placement *p, bool with_prefix, const char *key,
                                     size_t len, char *buf, char **heap, size_t *out_len)
{
    *heap = NULL;
    *out_len = len;
    if (!with_prefix || p->prefix_len == 0)
        return key;
    size_t total = p->prefix_len + len;
    char *dst = buf;
    if (total > KEY_PLACEMENT_STACK_KEY && (dst = *heap = malloc(total)) == NULL)
        return key;
    memcpy(dst, p->prefix, p->prefix_len);
    memcpy(dst + p->prefix_len, key, len);
    *out_len = total;
    return dst;
}

static uint32_t lookup_every(const key_placement *p, const char *key, size_t len)
{
    (void)p, (void)key, (void)len;
    return KEY_PLACEMENT_EVERY_SERVER;
}

static uint32_t lookup_any(const key_placement *p, const char *key, size_t len)
{
    (void)p, (void)key, (void)len;
    return KEY_PLACEMENT_ANY_SERVER;
}

static int build(key_placement *p, const key_placement_server *servers, char *errstr,
                 size_t errstr_size)
{
    switch (p->mode) {
    case KEY_PLACEMENT_LIBMEMCACHED:
        return placement_libmemcached_build(p, servers, errstr, errstr_size);
    case KEY_PLACEMENT_LIBMEMCACHED_MODULA:
        return placement_modula_build(p, servers, errstr, errstr_size);
    case KEY_PLACEMENT_PYMEMCACHE:
        return placement_pymemcache_build(p, servers, errstr, errstr_size);
    case KEY_PLACEMENT_PYTHON_MEMCACHED:
        return placement_python_memcached_build(p, servers, errstr, errstr_size);
    case KEY_PLACEMENT_DALLI:
        return placement_dalli_build(p, servers, errstr, errstr_size);
    case KEY_PLACEMENT_CACHE_MEMCACHED_FAST:
        return placement_cmf_build(p, servers, errstr, errstr_size);
    case KEY_PLACEMENT_SPYMEMCACHED:
        return placement_spymemcached_build(p, servers, errstr, errstr_size);
    case KEY_PLACEMENT_ALL:
        p->lookup = lookup_every;
        return MCSQ_OK;
    case KEY_PLACEMENT_PROXY:
        p->lookup = lookup_any;
        return MCSQ_OK;
    default:
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "placement %s is not available",
                          key_placement_mode_name(p->mode));
    }
}

static int check_servers(const key_placement_server *servers, size_t n, char *errstr,
                         size_t errstr_size)
{
    if (n == 0 || n >= KEY_PLACEMENT_ANY_SERVER)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "no servers");
    for (size_t i = 0; i < n; i++) {
        if (servers[i].host == NULL || servers[i].host[0] == '\0' || servers[i].port == 0 ||
            servers[i].port > 65535)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "server %zu: no host or port",
                              i + 1);
    }
    return MCSQ_OK;
}

int key_placement_new(key_placement **out, key_placement_mode mode,
                      const key_placement_server *servers, size_t n, const char *prefix,
                      bool hash_with_prefix, unsigned ketama_points, char *errstr,
                      size_t errstr_size)
{
    *out = NULL;
    size_t plen = prefix != NULL ? strlen(prefix) : 0;
    if (plen > KEY_PLACEMENT_PREFIX_MAX)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "prefix longer than %d bytes",
                          KEY_PLACEMENT_PREFIX_MAX);
    if (ketama_points > KEY_PLACEMENT_KETAMA_POINTS_MAX)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONFIG, "ketama_points above %d",
                          KEY_PLACEMENT_KETAMA_POINTS_MAX);
    int rc = check_servers(servers, n, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    key_placement *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return MCSQ_ERR_NOMEM;
    p->mode = mode;
    p->nservers = (uint32_t)n;
    memcpy(p->prefix, prefix != NULL ? prefix : "", plen);
    p->prefix_len = plen;
    p->hash_with_prefix = hash_with_prefix;
    p->ketama_points = ketama_points;
    rc = build(p, servers, errstr, errstr_size);
    if (rc == MCSQ_ERR_NOMEM)
        errstr_set(errstr, errstr_size, rc, "out of memory");
    if (rc != MCSQ_OK) {
        key_placement_free(p);
        return rc;
    }
    *out = p;
    return MCSQ_OK;
}

uint32_t key_placement_server_of(const key_placement *p, const char *key, size_t len)
{
    return p->lookup(p, key, len);
}

key_placement_mode key_placement_mode_of(const key_placement *p)
{
    return p->mode;
}

size_t key_placement_server_count(const key_placement *p)
{
    return p->nservers;
}

void key_placement_free(key_placement *p)
{
    if (p == NULL)
        return;
    placement_continuum_deinit(&p->ring);
    free(p->table);
    for (size_t i = 0; p->names != NULL && i < p->nservers; i++)
        free(p->names[i]);
    free(p->names);
    free(p->name_len);
    free(p->node_hash);
    free(p);
}

memcached_return_t key_placement_configure(memcached_st *mc, const key_placement_server *servers,
                                           size_t n, const char *prefix, bool hash_with_prefix)
{
    memcached_return_t rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    for (size_t i = 0; i < n && memcached_success(rc); i++)
        rc = memcached_server_add_with_weight(mc, servers[i].host, (in_port_t)servers[i].port,
                                              key_placement_weight(&servers[i]));
    if (memcached_success(rc) && prefix != NULL && prefix[0] != '\0')
        rc = memcached_callback_set(mc, MEMCACHED_CALLBACK_NAMESPACE, prefix);
    if (memcached_success(rc) && hash_with_prefix)
        rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY, 1);
    return rc;
}
