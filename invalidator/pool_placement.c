/*
 * A pool's placement from its configuration (see pool_placement.h).
 */
#include "invalidator/pool_placement.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <stdlib.h>

int pool_placement_new(key_placement **out, const mcsq_pool_config *cfg, bool hash_with_prefix,
                       char *errstr, size_t errstr_size)
{
    size_t n = cfg->servers.n;
    key_placement_server *servers = calloc(n ? n : 1, sizeof(*servers));
    if (servers == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        servers[i] =
            (key_placement_server){cfg->servers.v[i].host, (unsigned)cfg->servers.v[i].port,
                                   (unsigned)cfg->servers.v[i].weight};
    int rc = key_placement_new(out, (key_placement_mode)cfg->placement, servers, n, cfg->prefix,
                               hash_with_prefix, (unsigned)cfg->ketama_points, errstr, errstr_size);
    free(servers);
    return rc;
}
