/*
 * Key placement: which memcached server of a pool holds a key. The router's
 * deletes (invalidator/mc_pool.c) and the marker client (marker_client.c)
 * both configure libmemcached through key_placement_configure(), the way
 * docs/memcached.md asks applications to configure theirs, so that a delete
 * or a marker reaches the server where the application keeps the key.
 * Internal to mcsqueal; compiled into the marker library.
 */
#ifndef MCSQ_MARKER_KEY_PLACEMENT_H
#define MCSQ_MARKER_KEY_PLACEMENT_H

#include <libmemcached/memcached.h>

#include <stdbool.h>
#include <stddef.h>

/* The longest pool prefix (libmemcached's MEMCACHED_PREFIX_KEY_MAX_SIZE). */
#define KEY_PLACEMENT_PREFIX_MAX 128

typedef struct key_placement_server {
    const char *host; /* (ref) */
    unsigned port;
} key_placement_server;

/* Configures mc, a new handle without servers, to place keys on the n
 * servers (in pool order) as applications do: the weighted
 * libketama-compatible continuum (KETAMA_WEIGHTED, set before anything
 * else), keys stored under prefix (NULL or "" for none), the server chosen
 * by the key alone unless hash_with_prefix. Returns MEMCACHED_SUCCESS or the
 * first libmemcached error (memcached_last_error_message(mc) says more). */
memcached_return_t key_placement_configure(memcached_st *mc, const key_placement_server *servers,
                                           size_t n, const char *prefix, bool hash_with_prefix);

#endif
