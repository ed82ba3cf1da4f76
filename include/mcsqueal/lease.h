/*
 * Leases: a look-aside cache client on memcached's meta protocol that closes
 * the stale-set race ("Scaling Memcache at Facebook", 3.2.1; docs/leases.md
 * draws it step by step).
 *
 * Without leases a reader that misses key k reads the row, and a write that
 * commits meanwhile is invalidated by mcsqueal before the reader stores what
 * it read: the old row stays cached until its TTL. With leases:
 *
 *   1. mcsq_lease_get(k): a hit returns the value. A miss (or a value that
 *      mcsqueal marked stale, `invalidate = stale`) returns a lease to the
 *      first reader only: MCSQ_LEASE_MISS or MCSQ_LEASE_STALE.
 *   2. the lease holder reads the row from the database,
 *   3. mcsq_lease_fill(k, lease, value): memcached stores the value only if
 *      nothing invalidated k since the lease was given (`ms ... C<cas>`). A
 *      write that committed in between was invalidated by mcsqueal, which
 *      voided the lease: *stored is 0 and the old row is not cached.
 *
 * Other readers of k, while a lease is out, get MCSQ_LEASE_WAIT: with the
 * stale value when there is one (serve it, or wait), else with none (wait a
 * few milliseconds and call mcsq_lease_get() again). So a hot key's
 * invalidation costs the database one read, not one per reader.
 *
 * Every reader and writer of a pool's keys must go through leases (or an
 * equivalent meta-protocol client): a plain `set` ignores leases, and a plain
 * `get` serves a stale-marked value as if it were fresh.
 *
 * Placement: keys are placed on the pool's servers exactly as mcsqueal's
 * router places its deletes: give the settings ("servers", "prefix",
 * "placement", "ketama_points") exactly as in the pool's [pool] section.
 *
 * Link with pkg-config: `pkg-config --cflags --libs mcsqueal-marker`.
 * Thread-safety: a client is used by one thread at a time (give each thread
 * its own); options are not shared while being set.
 * Errors: functions return 0 or a negative mcsq_err (mcsqueal/error.h) and
 * write a sentence into errstr (when errstr_size > 0).
 */
#ifndef MCSQUEAL_LEASE_H
#define MCSQUEAL_LEASE_H

#include "mcsqueal/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default connect and I/O timeout of one call, milliseconds. */
#define MCSQ_LEASE_TIMEOUT_DEFAULT_MS 1000
/* Default lease lifetime, seconds: how long a lease given on a miss lasts
 * when its holder never fills (a crash); other readers wait at most this. */
#define MCSQ_LEASE_TTL_DEFAULT_S 10
/* The largest value a get accepts (memcached's largest item, -I 128m). */
#define MCSQ_LEASE_VALUE_MAX (128u * 1024 * 1024)

/* What mcsq_lease_get() found. */
typedef enum mcsq_lease_status {
    MCSQ_LEASE_HIT = 0,   /* a fresh value; no lease */
    MCSQ_LEASE_MISS = 1,  /* no value; this caller holds the lease: read the row, fill */
    MCSQ_LEASE_STALE = 2, /* a stale value (invalidated); this caller holds the lease:
                             read the row, fill (the stale value may be served meanwhile) */
    MCSQ_LEASE_WAIT = 3,  /* another client holds the lease and is refilling: the stale
                             value when there is one, else none (wait and get again) */
} mcsq_lease_status;

typedef struct mcsq_lease_options mcsq_lease_options;
typedef struct mcsq_lease_client mcsq_lease_client;

/* Creates options with the defaults (no servers yet). Returns 0 with *out
 * set (free with mcsq_lease_options_destroy()) or MCSQ_ERR_NOMEM. */
int mcsq_lease_options_new(mcsq_lease_options **out);

/* Frees options. NULL is a no-op. */
void mcsq_lease_options_destroy(mcsq_lease_options *o);

/* Sets one option by name, from text (value is copied):
 *   servers      the pool's servers, "host:port[:weight] ..." (spaces or
 *                commas), exactly as `servers =` of its [pool] section
 *   prefix       the pool's `prefix =` (0-128 bytes; "" for none)
 *   placement    the pool's `placement =` (default libmemcached; not all
 *                nor proxy: a lease needs one owner per key)
 *   ketama_points  the pool's `ketama_points =` (cache-memcached-fast)
 *   timeout_ms   connect and I/O timeout of one call, 1-600000
 *                (default MCSQ_LEASE_TIMEOUT_DEFAULT_MS)
 *   lease_ttl_s  lease lifetime on a miss, 1-3600 (default
 *                MCSQ_LEASE_TTL_DEFAULT_S)
 * Returns 0, MCSQ_ERR_CONFIG (unknown name, bad value; errstr says which) or
 * MCSQ_ERR_NOMEM. */
int mcsq_lease_options_set(mcsq_lease_options *o, const char *name, const char *value, char *errstr,
                           size_t errstr_size);

/* Creates a client from options (copied; o may be destroyed afterwards). No
 * connection is made yet. Returns 0 with *out set (free with
 * mcsq_lease_client_destroy()), MCSQ_ERR_CONFIG (no servers) or
 * MCSQ_ERR_NOMEM. */
int mcsq_lease_client_new(mcsq_lease_client **out, const mcsq_lease_options *o, char *errstr,
                          size_t errstr_size);

/* Closes the connections and frees the client. NULL is a no-op. */
void mcsq_lease_client_destroy(mcsq_lease_client *c);

/* Looks up cache key (len bytes, the key as annotations name it; the pool
 * prefix is added) with `mg <key> v c N<lease_ttl_s>`. Sets *status, and:
 *   *value, *value_len  the value for HIT, STALE and WAIT with a stale value;
 *                       NULL and 0 otherwise. The bytes belong to the client
 *                       and stay valid until its next call.
 *   *lease              for MISS and STALE, the lease to pass to
 *                       mcsq_lease_fill(); 0 otherwise.
 * An empty value cannot be told from a lease's placeholder once invalidated:
 * a stale empty value reads as MISS (or WAIT without a value).
 * Returns 0, MCSQ_ERR_INVALID (key breaks the key rules, or is longer than
 * 250 bytes with the prefix), MCSQ_ERR_CONNECT (no answer within timeout_ms,
 * or the connection failed: nothing is known; read the database and do not
 * fill), MCSQ_ERR_LIMIT (value larger than MCSQ_LEASE_VALUE_MAX), MCSQ_ERR_IO
 * (the server answered an error), MCSQ_ERR_UNSUPPORTED (the server does not
 * know the meta protocol: memcached older than 1.6) or MCSQ_ERR_CORRUPT (an
 * answer that is not memcached's meta protocol). */
int mcsq_lease_get(mcsq_lease_client *c, const char *key, size_t len, mcsq_lease_status *status,
                   const char **value, size_t *value_len, uint64_t *lease, char *errstr,
                   size_t errstr_size);

/* Stores value (value_len bytes) under cache key with ttl_s (0: no expiry)
 * only while lease (from mcsq_lease_get()) holds: `ms <key> <len> T<ttl>
 * C<lease>`. *stored is 1 when stored; 0 when the lease no longer holds
 * (memcached answered EX: the key was invalidated again or filled since; or
 * NF: it was deleted or evicted). Not stored is not an error: the value may
 * be stale, so it must not be cached; use it for this request only.
 * Returns 0, MCSQ_ERR_INVALID (bad key, or lease 0), MCSQ_ERR_CONNECT
 * (unknown whether it was stored: the lease protects the cache either way),
 * MCSQ_ERR_IO (the server refused, e.g. value too large), MCSQ_ERR_LIMIT
 * (value larger than MCSQ_LEASE_VALUE_MAX), MCSQ_ERR_UNSUPPORTED or
 * MCSQ_ERR_CORRUPT as for a get. */
int mcsq_lease_fill(mcsq_lease_client *c, const char *key, size_t len, uint64_t lease,
                    const char *value, size_t value_len, unsigned ttl_s, int *stored, char *errstr,
                    size_t errstr_size);

/* A static name for status: "hit", "miss", "stale", "wait"; "unknown"
 * otherwise. */
const char *mcsq_lease_status_name(mcsq_lease_status status);

#ifdef __cplusplus
}
#endif
#endif
