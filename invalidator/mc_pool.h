/*
 * Pool deleter: deletes batches of cache keys in one memcached pool (a
 * [pool NAME] section) and reports, key by key, which deletes memcached has
 * confirmed, so that the router can spool the others for their server.
 *
 * Placement: every key goes to the server that owns it under libmemcached's
 * libketama-compatible consistent hashing (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED;
 * the continuum is libmemcached's own), the way docs/memcached.md tells
 * applications to configure their clients. The pool prefix is applied the way
 * MEMCACHED_CALLBACK_PREFIX_KEY applies it: prefix + key on the wire, the
 * server chosen by the key alone (unless hash_with_prefix is set).
 *
 * Wire: the memcached binary protocol, one TCP connection per server. A batch
 * is written as quiet deletes (DELETEQ, memcached's "noreply": it answers only
 * misses and errors) grouped per server, then one NOOP per server. memcached
 * handles one connection's requests in order, so the NOOP's reply confirms
 * every delete written before it. All servers are written and read at the same
 * time in one poll() loop, and miss replies are drained while writing, so a
 * large batch cannot deadlock and one slow server does not delay the others.
 * (libmemcached's own noreply mode cannot be confirmed safely; see
 * docs/memcached.md.)
 *
 * Failure: a server that refuses or drops the connection fails at once; one
 * that makes no progress for poll_timeout_ms fails then. Its keys are FAILED
 * and it is marked down: later batches fail its keys without any I/O until
 * mc_pool_probe() gets an answer from it.
 *
 * Thread-safety: none. Use one mc_pool per thread (pools share nothing).
 */
#ifndef MCSQ_INVALIDATOR_MC_POOL_H
#define MCSQ_INVALIDATOR_MC_POOL_H

#include "core/config.h"
#include "mcsqueal/key.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default connect and poll timeouts. */
#define MC_POOL_TIMEOUT_DEFAULT_MS 1000

/* Server index of a key that was not placed (an invalid key). */
#define MC_POOL_NO_SERVER UINT32_MAX

typedef struct mc_pool mc_pool;

typedef struct mc_pool_options {
    int connect_timeout_ms; /* a connection must be up within this (> 0) */
    int poll_timeout_ms;    /* a server that sends and receives nothing this long fails (> 0) */
    bool hash_with_prefix;  /* choose the server by prefix + key, as
                               MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY=1 does;
                               default false: by the key alone */
} mc_pool_options;

/* What became of one key of a batch. */
typedef enum mc_pool_outcome {
    MC_POOL_CONFIRMED = 0, /* memcached processed the delete (deleted, or was not there) */
    MC_POOL_FAILED = 1,    /* not confirmed (server down, timeout, error): spool it */
    MC_POOL_INVALID = 2,   /* breaks the key rules, or longer than 250 bytes with the
                              prefix: never sent, never retried */
} mc_pool_outcome;

/* Where mc_pool_delete_batch() reports, for n keys. */
typedef struct mc_pool_results {
    uint8_t *outcome; /* (ref) n entries, filled with mc_pool_outcome values */
    uint32_t *server; /* (ref) n entries, or NULL: filled with the owning server
                         of each key (MC_POOL_NO_SERVER for invalid ones) */
    size_t confirmed; /* filled: how many keys have each outcome */
    size_t failed;
    size_t invalid;
} mc_pool_results;

/* State of one server, for logs and metrics. */
typedef struct mc_pool_server_info {
    const char *name;       /* "host:port" (owned by the pool) */
    bool down;              /* failed; batches skip it until a probe succeeds */
    int err;                /* last failure: MCSQ_ERR_CONNECT, MCSQ_ERR_AGAIN (timeout),
                               MCSQ_ERR_IO (memcached refused deletes), MCSQ_ERR_CORRUPT
                               (bad reply); MCSQ_OK when none since the last success */
    const char *error;      /* its description, "" when none (owned by the pool) */
    size_t batch_keys;      /* last batch: keys this server owned */
    size_t batch_confirmed; /* ... of which confirmed */
} mc_pool_server_info;

/* Fills opts with the defaults: both timeouts MC_POOL_TIMEOUT_DEFAULT_MS,
 * hash_with_prefix false. */
void mc_pool_options_init(mc_pool_options *opts);

/* Creates a pool for cfg (borrowed for the call: names and prefix are
 * copied) with opts (NULL: defaults). No connection is made yet; every
 * server starts up. Returns 0 with *out set (free with mc_pool_destroy()),
 * MCSQ_ERR_CONFIG (no servers, a prefix over 128 bytes, a bad timeout; reason
 * in errstr) or MCSQ_ERR_NOMEM. */
int mc_pool_new(mc_pool **out, const mcsq_pool_config *cfg, const mc_pool_options *opts,
                char *errstr, size_t errstr_size);

/* Closes the connections and frees the pool. NULL is a no-op. */
void mc_pool_destroy(mc_pool *pool);

/* Number of servers, in configuration order; server indexes run below it. */
size_t mc_pool_server_count(const mc_pool *pool);

/* Index of the server that owns key (len bytes, borrowed, without the pool
 * prefix): the server an application configured as docs/memcached.md says
 * stores it in. Pure computation, no I/O. */
uint32_t mc_pool_server_of(const mc_pool *pool, const char *key, size_t len);

/* Deletes keys[0..n) (borrowed, without the prefix) in the pool: each in its
 * server, pipelined, then one confirmation round trip per server that got
 * keys. Fills res (see mc_pool_results). Returns within about
 * poll_timeout_ms of the last progress of any server.
 * Returns 0 when no key FAILED, MCSQ_ERR_CONNECT when some did (their
 * servers say why: mc_pool_server_info()), MCSQ_ERR_NOMEM (every valid key
 * FAILED, nothing was sent) or MCSQ_ERR_INVALID (n >= UINT32_MAX; nothing
 * filled). */
int mc_pool_delete_batch(mc_pool *pool, const mcsq_key *keys, size_t n, mc_pool_results *res);

/* Checks whether a server answers: (re)connects when needed and does one
 * NOOP round trip, within the timeouts. On success the server is up again.
 * Returns true when it answered. */
bool mc_pool_probe(mc_pool *pool, size_t server);

/* Fills info for a server (index below mc_pool_server_count()); the strings
 * stay valid until the next call on the pool. */
void mc_pool_server_info_get(const mc_pool *pool, size_t server, mc_pool_server_info *info);

#endif
