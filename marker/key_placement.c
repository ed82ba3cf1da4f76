/*
 * Key placement (see key_placement.h).
 */
#include "marker/key_placement.h"

memcached_return_t key_placement_configure(memcached_st *mc, const key_placement_server *servers,
                                           size_t n, const char *prefix, bool hash_with_prefix)
{
    memcached_return_t rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    for (size_t i = 0; i < n && memcached_success(rc); i++)
        rc = memcached_server_add(mc, servers[i].host, (in_port_t)servers[i].port);
    if (memcached_success(rc) && prefix != NULL && prefix[0] != '\0')
        rc = memcached_callback_set(mc, MEMCACHED_CALLBACK_NAMESPACE, prefix);
    if (memcached_success(rc) && hash_with_prefix)
        rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY, 1);
    return rc;
}
