/*
 * Remote markers: the client side of "Across Regions: Consistency" from
 * "Scaling Memcache at Facebook" (docs/markers.md tells the whole protocol).
 *
 * A web server in a replica region that writes key k
 *   1. sets a marker for k in its region's regional pool:  mcsq_marker_set()
 *   2. writes to the master with the annotation comment that
 *      mcsq_marker_annotation() builds, "mcsqueal: k @marker=west" inside the
 *      comment delimiters
 *   3. deletes k in its local cluster (its own memcached client).
 * A reader in that region that misses k calls mcsq_marker_check(): present
 * means the local replica may not have the write yet, so read the master;
 * absent means the replica is fresh enough. When the write reaches the
 * region's replica, mcsqueal deletes k in the region's clusters and then the
 * marker. The marker's TTL is a safety net for a marker nobody clears.
 *
 * Placement: markers live on the regional pool's servers under libmemcached's
 * libketama-compatible hashing, exactly as the router places them; give the
 * servers exactly as in the pool's `servers =` (docs/memcached.md).
 *
 * Link with pkg-config: `pkg-config --cflags --libs mcsqueal-marker`.
 * Thread-safety: a client is used by one thread at a time; the functions
 * without a client (key and annotation builders) are reentrant.
 * Errors: functions return 0 or a negative mcsq_err (mcsqueal/error.h) and
 * write a sentence into errstr (when errstr_size > 0).
 */
#ifndef MCSQUEAL_MARKER_H
#define MCSQUEAL_MARKER_H

#include "mcsqueal/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest memcached key (and so longest cache key and marker key). */
#define MCSQ_MARKER_KEY_MAX 250
/* Default marker TTL, seconds: longer than any replication delay worth
 * waiting for; a marker nobody clears sends reads to the master this long. */
#define MCSQ_MARKER_TTL_DEFAULT_S 300
/* Default connect and I/O timeout, milliseconds. */
#define MCSQ_MARKER_TIMEOUT_DEFAULT_MS 1000
/* Prefix of every marker's memcached key (see mcsq_marker_key()). */
#define MCSQ_MARKER_KEY_PREFIX "mcsqueal:marker:"

typedef struct mcsq_marker_client mcsq_marker_client;

typedef struct mcsq_marker_options {
    const char *servers; /* the regional pool: "host:port host:port ..." (spaces or
                            commas), exactly as `servers =` of its [pool] section */
    const char *region;  /* this region's name: 1-64 bytes of [A-Za-z0-9_.-] */
    const char *prefix;  /* the regional pool's `prefix =`; NULL or "": none */
    unsigned ttl_s;      /* marker lifetime; 0: MCSQ_MARKER_TTL_DEFAULT_S */
    int timeout_ms;      /* connect and I/O timeout; 0: MCSQ_MARKER_TIMEOUT_DEFAULT_MS */
} mcsq_marker_options;

/* Fills o with the defaults (servers and region NULL: they must be set). */
void mcsq_marker_options_init(mcsq_marker_options *o);

/* Creates a client (o is copied). No connection is made yet. Returns 0 with
 * *out set (free with mcsq_marker_client_destroy()), MCSQ_ERR_CONFIG (no or
 * bad servers, bad region, prefix too long) or MCSQ_ERR_NOMEM. */
int mcsq_marker_client_new(mcsq_marker_client **out, const mcsq_marker_options *o, char *errstr,
                           size_t errstr_size);

/* Closes the connections and frees the client. NULL is a no-op. */
void mcsq_marker_client_destroy(mcsq_marker_client *c);

/* The region the client was created for (owned by the client). */
const char *mcsq_marker_client_region(const mcsq_marker_client *c);

/* Sets the marker of cache key (len bytes) with the client's TTL; its value
 * records when it was set (for mcsqueal_marker_age_seconds). Call it before
 * the write. Returns 0, MCSQ_ERR_INVALID (key breaks the key rules),
 * MCSQ_ERR_CONNECT (the server did not store it: do not rely on the marker;
 * the safe choice is to fail the write or read from the master until the
 * TTL passes). */
int mcsq_marker_set(mcsq_marker_client *c, const char *key, size_t len, char *errstr,
                    size_t errstr_size);

/* Checks whether cache key has a marker. *present is 1 or 0; *set_us (may be
 * NULL) is when it was set, unix microseconds (0 when absent or unknown).
 * Returns 0, MCSQ_ERR_INVALID or MCSQ_ERR_CONNECT (unknown: the safe choice
 * is to read from the master). */
int mcsq_marker_check(mcsq_marker_client *c, const char *key, size_t len, int *present,
                      int64_t *set_us, char *errstr, size_t errstr_size);

/* Deletes the marker of cache key (by hand; mcsqueal's router clears markers
 * itself). Absent markers are fine. Returns 0, MCSQ_ERR_INVALID or
 * MCSQ_ERR_CONNECT. */
int mcsq_marker_clear(mcsq_marker_client *c, const char *key, size_t len, char *errstr,
                      size_t errstr_size);

/* Writes into out (out_size bytes, NUL-terminated) the memcached key that
 * holds cache key's marker in a regional pool whose `prefix =` is
 * prefix_len bytes long (0: none): MCSQ_MARKER_KEY_PREFIX + key when that and
 * the pool prefix fit in MCSQ_MARKER_KEY_MAX bytes, else "mcsqueal:marker#"
 * + 32 hex digits of the 128-bit FNV-1a hash of key. The pool prefix itself
 * is not written (memcached clients add it). *out_len (may be NULL) gets the
 * length. Returns 0, MCSQ_ERR_INVALID (key breaks the key rules, or
 * prefix_len > 128) or MCSQ_ERR_LIMIT (out_size too small;
 * MCSQ_MARKER_KEY_MAX + 1 always fits). */
int mcsq_marker_key(const char *key, size_t len, size_t prefix_len, char *out, size_t out_size,
                    size_t *out_len);

/* Builds an annotation comment for keys[0..nkeys) (lens[i] bytes each) and,
 * when marker_region is not NULL, the directive @marker=<marker_region> (for
 * keys k1, k2 and region west: "mcsqueal: k1 k2 @marker=west" between the
 * comment delimiters, with a space after the opening and before the closing one)
 * into out (out_size bytes, NUL-terminated; *out_len may be NULL). Every key
 * must follow the key rules (1-250 bytes of UTF-8, no whitespace or control
 * characters) and be expressible in a comment: not starting with '@' (that is
 * a directive) and containing neither a star followed by a slash (it ends the
 * comment) nor a slash followed by a star (a nested comment). A key that cannot be expressed is an
 * error, never dropped. Returns 0, MCSQ_ERR_INVALID (a key or the region; errstr names which) or
 * MCSQ_ERR_LIMIT (out_size too small). */
int mcsq_annotation_build(const char *const *keys, const size_t *lens, size_t nkeys,
                          const char *marker_region, char *out, size_t out_size, size_t *out_len,
                          char *errstr, size_t errstr_size);

/* mcsq_annotation_build() with the client's region as marker_region: the
 * comment for a write whose markers this client has set. */
int mcsq_marker_annotation(const mcsq_marker_client *c, const char *const *keys, const size_t *lens,
                           size_t nkeys, char *out, size_t out_size, size_t *out_len, char *errstr,
                           size_t errstr_size);

#ifdef __cplusplus
}
#endif
#endif
