/*
 * Pool deleter: deletes batches of cache keys in one memcached pool (a
 * [pool NAME] section) and reports, key by key, which deletes memcached has
 * confirmed, so that the router can spool the others for their server.
 *
 * Placement: every key goes to the server that owns it under the pool's
 * `placement` (marker/key_placement.h: the applications' client's own rule,
 * weights included; docs/memcached.md), or to every server with
 * placement = all (confirmed when every server confirmed it). The pool
 * prefix is on the wire as prefix + key; whether it chooses the server is
 * the mode's client's rule (libmemcached: only with hash_with_prefix).
 *
 * Wire: memcached's meta protocol (memcached 1.6 or newer), one TCP
 * connection per server. A batch is written as quiet meta deletes grouped
 * per server, `md <prefix><key> q O<index>` (memcached answers only misses,
 * `NF O<index>`, and errors), then one `mn` per server. memcached handles one
 * connection's commands in order, so the `MN` answering it confirms every
 * command written before it. In stale mode (MC_POOL_INVALIDATE_STALE) the
 * command is `md <prefix><key> I T<stale_ttl_s> q O<index>`: the item stays,
 * marked stale, and the next meta reader wins its refill; remote markers
 * (keys starting with MCSQ_MARKER_KEY_PREFIX) are deleted in both modes. All
 * servers are written and read at the same time in one poll() loop, and
 * replies are drained while writing, so a large batch cannot deadlock and one
 * slow server does not delay the others. A new connection first asks
 * `version`: a memcached older than 1.6 fails (MCSQ_ERR_UNSUPPORTED).
 *
 * Proxy pools (placement = proxy: the servers are proxies such as twemproxy
 * that place keys themselves): memcached's text protocol, the one twemproxy
 * speaks (invalidator/text_delete.h). A batch goes to ONE proxy, the first
 * in configuration order that is not down, as pipelined `delete
 * <prefix><key>` requests (at most 1024 in flight: twemproxy answers a
 * pipeline only once it has read all of it); each answer (in order)
 * confirms its key
 * (DELETED, NOT_FOUND) or fails it (an error answer). The keys the proxy
 * did not confirm, because it answered an error or failed, go to the next
 * proxy in the same call, and so on; what no proxy confirmed is FAILED,
 * under the last proxy that had it. No `version` is asked and no meta
 * command is sent (twemproxy closes the connection on both); stale mode is
 * refused. A probe of a proxy deletes the key "mcsqueal.proxy.probe" (after
 * the pool prefix): any answer shows it serves.
 *
 * Failure: a server that refuses or drops the connection, or answers
 * `version` with a release older than 1.6, fails at once; one that makes no
 * progress for poll_timeout_ms fails then. Its keys are FAILED
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

/* Default and largest stale TTL (stale mode), in seconds. */
#define MC_POOL_STALE_TTL_DEFAULT_S 30
#define MC_POOL_STALE_TTL_MAX_S 2592000 /* memcached reads larger values as unix times */

/* Server index of a key that was not placed (an invalid key). */
#define MC_POOL_NO_SERVER UINT32_MAX
/* Server index of a key that every server holds (placement = all). */
#define MC_POOL_EVERY_SERVER (UINT32_MAX - 1)
/* Server index of a key that any one server (a proxy) takes (placement =
 * proxy), from mc_pool_server_of() only: a batch reports the proxy. */
#define MC_POOL_ANY_SERVER (UINT32_MAX - 2)

typedef struct mc_pool mc_pool;

/* How a key is invalidated (a pool's `invalidate` setting). */
typedef enum mc_pool_invalidate {
    MC_POOL_INVALIDATE_DELETE = 0, /* md <key> q: the item is removed */
    MC_POOL_INVALIDATE_STALE = 1,  /* md <key> I T<ttl> q: the item stays, marked stale */
} mc_pool_invalidate;

typedef struct mc_pool_options {
    int connect_timeout_ms; /* a connection must be up within this (> 0) */
    int poll_timeout_ms;    /* a server that sends and receives nothing this long fails (> 0) */
    bool hash_with_prefix;  /* choose the server by prefix + key, as
                               MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY=1 does;
                               default false: by the key alone */
    mc_pool_invalidate invalidate; /* default MC_POOL_INVALIDATE_DELETE */
    int stale_ttl_s;               /* stale mode: seconds a stale item is still served
                                      (1..MC_POOL_STALE_TTL_MAX_S; default 30) */
} mc_pool_options;

/* What became of one key of a batch. */
typedef enum mc_pool_outcome {
    MC_POOL_CONFIRMED = 0, /* memcached processed the invalidation (deleted or marked
                              stale, or the key was not there) */
    MC_POOL_FAILED = 1,    /* not confirmed (server down, timeout, error): spool it */
    MC_POOL_INVALID = 2,   /* breaks the key rules, or longer than 250 bytes with the
                              prefix: never sent, never retried */
} mc_pool_outcome;

/* Where mc_pool_delete_batch() reports, for n keys. */
typedef struct mc_pool_results {
    uint8_t *outcome; /* (ref) n entries, filled with mc_pool_outcome values */
    uint32_t *server; /* (ref) n entries, or NULL: filled with the owning server
                         of each key (MC_POOL_NO_SERVER for invalid ones;
                         proxy pools: the proxy that confirmed it, or the
                         last one that had it) */
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
                               (bad reply), MCSQ_ERR_UNSUPPORTED (older than 1.6); MCSQ_OK
                               when none since the last success */
    const char *error;      /* its description, "" when none (owned by the pool) */
    const char *version;    /* its answer to `version` on the last new connection, "" when
                               unknown (owned by the pool) */
    bool unsupported;       /* that version is older than 1.6: down until upgraded */
    size_t batch_keys;      /* last batch: keys this server owned */
    size_t batch_confirmed; /* ... of which confirmed */
} mc_pool_server_info;

/* Fills opts with the defaults: both timeouts MC_POOL_TIMEOUT_DEFAULT_MS,
 * hash_with_prefix false, invalidate MC_POOL_INVALIDATE_DELETE, stale_ttl_s
 * MC_POOL_STALE_TTL_DEFAULT_S. */
void mc_pool_options_init(mc_pool_options *opts);

/* Creates a pool for cfg (borrowed for the call: names and prefix are
 * copied) with opts (NULL: defaults). No connection is made yet; every
 * server starts up. Returns 0 with *out set (free with mc_pool_destroy()),
 * MCSQ_ERR_CONFIG (no servers, a prefix over 128 bytes, a bad timeout, mode
 * or stale TTL, stale mode on a proxy pool; reason in errstr) or
 * MCSQ_ERR_NOMEM. */
int mc_pool_new(mc_pool **out, const mcsq_pool_config *cfg, const mc_pool_options *opts,
                char *errstr, size_t errstr_size);

/* Closes the connections and frees the pool. NULL is a no-op. */
void mc_pool_destroy(mc_pool *pool);

/* Number of servers, in configuration order; server indexes run below it. */
size_t mc_pool_server_count(const mc_pool *pool);

/* Index of the server that owns key (len bytes, borrowed, without the pool
 * prefix): the server an application configured as docs/memcached.md says
 * stores it in; MC_POOL_EVERY_SERVER with placement = all and
 * MC_POOL_ANY_SERVER with placement = proxy (both: with more than one
 * server). Pure computation, no I/O. */
uint32_t mc_pool_server_of(const mc_pool *pool, const char *key, size_t len);

/* Invalidates keys[0..n) (borrowed, without the prefix) in the pool, in the
 * pool's mode (opts.invalidate): each in its server, pipelined, then one
 * confirmation round trip (`mn`) per server that got keys. The batch is the
 * unit of work: on return, res says which keys went to which server and
 * which of them that server confirmed. Fills res (see mc_pool_results). Returns within about
 * poll_timeout_ms of the last progress of any server.
 * Returns 0 when no key FAILED, MCSQ_ERR_CONNECT when some did (their
 * servers say why: mc_pool_server_info()), MCSQ_ERR_NOMEM (every valid key
 * FAILED, nothing was sent) or MCSQ_ERR_INVALID (n >= UINT32_MAX; nothing
 * filled). */
int mc_pool_delete_batch(mc_pool *pool, const mcsq_key *keys, size_t n, mc_pool_results *res);

/* Checks whether a server answers: (re)connects when needed (asking its
 * `version` on a new connection) and does one `mn` round trip, within the
 * timeouts; a proxy: one text delete of the probe key. On success the server
 * is up again.
 * Returns true when it answered. */
bool mc_pool_probe(mc_pool *pool, size_t server);

/* Whether the keys reported under server (FAILED ones, spooled for it) can
 * be sent now without a probe: the server is not down; for a proxy pool,
 * some proxy is not down. No I/O. */
bool mc_pool_reachable(const mc_pool *pool, size_t server);

/* Probes what the keys reported under server need: that server; for a proxy
 * pool, when every proxy is down, each proxy in turn until one answers.
 * Returns mc_pool_reachable() afterwards. */
bool mc_pool_revive(mc_pool *pool, size_t server);

/* Fills info for a server (index below mc_pool_server_count()); the strings
 * stay valid until the next call on the pool. */
void mc_pool_server_info_get(const mc_pool *pool, size_t server, mc_pool_server_info *info);

#endif
