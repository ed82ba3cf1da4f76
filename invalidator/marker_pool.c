/*
 * Marker clients for configured pools (see marker_pool.h).
 */
#include "invalidator/marker_pool.h"
#include "core/errstr.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pool's servers as the "host:port ..." text applications give. */
static char *servers_text(const mcsq_pool_config *pool)
{
    size_t len = 1;
    for (size_t i = 0; i < pool->servers.n; i++)
        len += strlen(pool->servers.v[i].host) + 16;
    char *s = malloc(len);
    size_t at = 0;
    if (s == NULL)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < pool->servers.n; i++) {
        const mcsq_hostport *hp = &pool->servers.v[i];
        bool v6 = strchr(hp->host, ':') != NULL;
        at += (size_t)snprintf(s + at, len - at, "%s%s%s%s:%d", i ? " " : "", v6 ? "[" : "",
                               hp->host, v6 ? "]" : "", hp->port);
    }
    return s;
}

int marker_pool_client_new(mcsq_marker_client **out, const mcsq_pool_config *pool,
                           const char *region, unsigned ttl_s, int timeout_ms, char *errstr,
                           size_t errstr_size)
{
    char *servers = servers_text(pool);
    if (servers == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    mcsq_marker_options o;
    mcsq_marker_options_init(&o);
    o.servers = servers;
    o.region = region;
    o.prefix = pool->prefix;
    if (ttl_s > 0)
        o.ttl_s = ttl_s;
    if (timeout_ms > 0)
        o.timeout_ms = timeout_ms;
    int rc = mcsq_marker_client_new(out, &o, errstr, errstr_size);
    free(servers);
    return rc;
}
