/*
 * Retry spool: the deletes that one memcached server (of one pool) did not
 * confirm, kept on disk until it answers again, so that the router may
 * commit its bus offsets without losing them (as mcrouter's asynclog does).
 *
 * One file per (pool, server): <state_dir>/spool/<pool>/<server>.spool, the
 * names escaped so that any pool or server name maps to one safe file name
 * and back (the ':' before the port becomes '_': 10.0.0.7:11211 ->
 * 10.0.0.7_11211.spool). The file is a header with a durable read position
 * followed by append-only batches of length-prefixed keys, each batch
 * protected by CRC-32s; the layout is described in spool.c and
 * docs/operations.md ("Retry spool").
 *
 * Guarantees:
 * - spool_append() returns 0 only once every key it was given is on disk
 *   (one fdatasync per call); only then may the caller commit bus offsets.
 * - Replay is oldest first, in chunks with bounded memory. A chunk counts as
 *   done only after spool_replay_commit(); after a crash anything not
 *   committed is replayed again (deletes are idempotent), nothing is lost.
 * - An append cut short by a crash (a torn tail) is detected on open and cut
 *   off: those keys were never acknowledged, so their bus messages are
 *   delivered again. Damage followed by intact later data is not a torn
 *   write; it stops spool_open() with MCSQ_ERR_CHECKSUM rather than skip keys.
 *
 * Concurrency: a spool object is used by one thread at a time (no locks
 * inside). An exclusive flock() on the file keeps a second spool object on
 * the same file, in this or another process, from opening it.
 */
#ifndef MCSQ_INVALIDATOR_SPOOL_H
#define MCSQ_INVALIDATOR_SPOOL_H

#include "mcsqueal/key.h"

#include <stddef.h>
#include <stdint.h>

#define SPOOL_KEY_MAX 250                         /* longest key (memcached's limit) */
#define SPOOL_DEFAULT_MAX_BYTES (10ull << 30)     /* 10 GiB per file */
#define SPOOL_DEFAULT_COMPACT_BYTES (64ull << 20) /* replayed bytes before a rewrite */
#define SPOOL_NAME_MAX 200                        /* longest escaped pool or file name */
#define SPOOL_REPLAY_MAX 65536                    /* most keys one replay call returns */

typedef struct spool spool;

/* Tunables; a zero field (or NULL options) takes the default. */
typedef struct spool_options {
    uint64_t max_bytes;     /* file size past which appends are refused */
    uint64_t compact_bytes; /* rewrite the file once this many replayed bytes lead it
                               and they are at least half of it */
} spool_options;

/* Opens (creating it and its directories if needed) the spool of server
 * (e.g. "10.0.0.7:11211"; any non-empty string) in pool, under
 * <state_dir>/spool/. Scans the unreplayed part once: counts its keys, cuts
 * off a torn tail. On success *out is owned by the caller (spool_close).
 * Returns 0; MCSQ_ERR_INVALID (empty or too long name), MCSQ_ERR_IO (also:
 * the file is locked by another spool object), MCSQ_ERR_CORRUPT (not a spool
 * file, or a read position outside the file), MCSQ_ERR_UNSUPPORTED (newer
 * format), MCSQ_ERR_CHECKSUM (damaged data followed by intact data) or
 * MCSQ_ERR_NOMEM; each with a message in errstr. */
int spool_open(spool **out, const char *state_dir, const char *pool, const char *server,
               const spool_options *opt, char *errstr, size_t errstr_size);

/* Appends n keys (borrowed; marker is not stored) durably, oldest first.
 * Returns 0 once they are on disk; MCSQ_ERR_INVALID (a key of 0 or more than
 * SPOOL_KEY_MAX bytes; nothing written), MCSQ_ERR_LIMIT (the file would
 * pass max_bytes; nothing written: stop consuming, do not drop the keys) or
 * MCSQ_ERR_IO (nothing kept: the file is cut back to where it was; if even
 * that fails the spool refuses everything until it is reopened). */
int spool_append(spool *sp, const mcsq_key *keys, size_t n, char *errstr, size_t errstr_size);

/* Keys waiting: appended and not yet covered by spool_replay_commit(). */
uint64_t spool_depth(const spool *sp);

/* Size of the file in bytes (waiting keys, replayed keys not yet compacted
 * away, headers). */
uint64_t spool_bytes(const spool *sp);

/* Path of the spool file (borrowed, valid until spool_close). */
const char *spool_path(const spool *sp);

/* Reads the next keys to replay, oldest first, from where the previous call
 * stopped (the first call after open or rewind starts at the committed
 * position). Fills out[0..*n) with up to max keys (at most
 * SPOOL_REPLAY_MAX); *n == 0 when all keys have been read. The key bytes belong to sp and are valid
 * until the next call on sp; memory held is about max * SPOOL_KEY_MAX bytes plus fixed buffers.
 * Returns 0, or MCSQ_ERR_CHECKSUM / MCSQ_ERR_CORRUPT (data damaged since open), MCSQ_ERR_IO,
 * MCSQ_ERR_NOMEM, with errstr. */
int spool_replay_next(spool *sp, mcsq_key *out, size_t max, size_t *n, char *errstr,
                      size_t errstr_size);

/* Makes everything read by spool_replay_next() since the last commit or
 * rewind done: the read position moves durably past it and the depth drops.
 * When nothing is left, the file is truncated back to its header; when the
 * replayed part is large, the file is rewritten without it (a failed
 * rewrite is logged and retried later, never an error). Returns 0 or
 * MCSQ_ERR_IO with errstr (the committed position may then lag: those keys
 * are replayed again). */
int spool_replay_commit(spool *sp, char *errstr, size_t errstr_size);

/* Forgets what spool_replay_next() returned since the last commit (the
 * server failed again): the next call starts again at the committed
 * position. */
void spool_replay_rewind(spool *sp);

/* Closes the spool; removes the file when no key is waiting. NULL is a
 * no-op. Uncommitted replay progress is forgotten (replayed again later). */
void spool_close(spool *sp);

/* One spool found on disk: names decoded back from the file names. */
typedef struct spool_name {
    char *pool;
    char *server;
} spool_name;

/* Lists the spools under <state_dir>/spool (none if it does not exist), to
 * open at start-up. Names that this module did not write are skipped.
 * *list (caller frees with spool_dir_list_free) holds *n entries, sorted by
 * pool then server. Returns 0, MCSQ_ERR_IO or MCSQ_ERR_NOMEM with errstr. */
int spool_dir_list(const char *state_dir, spool_name **list, size_t *n, char *errstr,
                   size_t errstr_size);

void spool_dir_list_free(spool_name *list, size_t n);

#endif
