/*
 * Key placement: which memcached server of a pool holds a key, decided the
 * way the application's own client decides it (`[pool NAME] placement`,
 * docs/memcached.md). The one placement function of mcsqueal: the router's
 * deletes, the marker client, the lease library, the auditor and
 * `mcsqueal placement` all ask key_placement_server_of().
 *
 * A key_placement is built once from the pool (mode, servers in pool order
 * with their weights, prefix) and never changes afterwards, so threads may
 * share one read-only. Internal to mcsqueal; compiled into the marker
 * library.
 */
#ifndef MCSQ_MARKER_KEY_PLACEMENT_H
#define MCSQ_MARKER_KEY_PLACEMENT_H

#include "core/key_placement_mode.h"

#include <libmemcached/memcached.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest pool prefix (libmemcached's MEMCACHED_PREFIX_KEY_MAX_SIZE). */
#define KEY_PLACEMENT_PREFIX_MAX 128

/* key_placement_server_of() for a pool whose mode is `all`: the key goes to
 * every server. */
#define KEY_PLACEMENT_EVERY_SERVER UINT32_MAX
/* key_placement_server_of() for a pool whose mode is `proxy`: any one
 * answering server (a proxy) takes the key. */
#define KEY_PLACEMENT_ANY_SERVER (UINT32_MAX - 1)

/* Cache::Memcached::Fast's ketama_points default: 0, its CRC32 buckets. */
#define KEY_PLACEMENT_KETAMA_POINTS_MAX 10000

typedef struct key_placement_server {
    const char *host; /* (ref) as the application's client names it */
    unsigned port;
    unsigned weight; /* 0 or 1: weight 1 */
} key_placement_server;

typedef struct key_placement key_placement;

/* Builds the placement of a pool: mode, the n servers in pool order (n >= 1;
 * copied), the prefix the pool's keys are stored under (NULL or "" for none;
 * at most KEY_PLACEMENT_PREFIX_MAX bytes), hash_with_prefix (libmemcached
 * modes: the server is chosen by prefix + key instead of the key alone),
 * ketama_points (cache-memcached-fast: its option of that name, 0 for its
 * default; ignored by the other modes). Returns 0 with *out set (caller
 * frees with key_placement_free), MCSQ_ERR_CONFIG with errstr filled for an
 * impossible pool, MCSQ_ERR_NOMEM. */
int key_placement_new(key_placement **out, key_placement_mode mode,
                      const key_placement_server *servers, size_t n, const char *prefix,
                      bool hash_with_prefix, unsigned ketama_points, char *errstr,
                      size_t errstr_size);

/* The server of key (len bytes, the key as the application names it,
 * without the pool prefix; the mode applies the prefix its client's way):
 * an index in pool order, KEY_PLACEMENT_EVERY_SERVER for `all`,
 * KEY_PLACEMENT_ANY_SERVER for `proxy`. */
uint32_t key_placement_server_of(const key_placement *p, const char *key, size_t len);

key_placement_mode key_placement_mode_of(const key_placement *p);
size_t key_placement_server_count(const key_placement *p);

void key_placement_free(key_placement *p);

/* Configures mc, a new handle without servers, to place keys on the n
 * servers (in pool order) the way the libmemcached mode does: the weighted
 * libketama-compatible continuum (KETAMA_WEIGHTED, set before anything
 * else), keys stored under prefix (NULL or "" for none), the server chosen
 * by the key alone unless hash_with_prefix. Returns MEMCACHED_SUCCESS or the
 * first libmemcached error (memcached_last_error_message(mc) says more).
 * For a handle that places keys itself; new code asks
 * key_placement_server_of(). */
memcached_return_t key_placement_configure(memcached_st *mc, const key_placement_server *servers,
                                           size_t n, const char *prefix, bool hash_with_prefix);

#endif
