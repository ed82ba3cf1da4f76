/*
 * Readiness: whether this process does its work now. Each part a process
 * runs (the tailer, the router) reports its state with a
 * one-line reason; the process is ready when it runs at least one part and
 * every part it runs is ready. GET /ready (core/metrics_http.c), `mcsqueal
 * status --ready` and the service manager read it; liveness is a separate
 * question (the metrics endpoint answering at all).
 *
 * A listener hears every change of the whole, in order: the one place where
 * a supervisor is told that the process became ready or stopped being so.
 * Thread-safe: parts report from their own threads.
 */
#ifndef MCSQ_CORE_READINESS_H
#define MCSQ_CORE_READINESS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum readiness_part {
    READINESS_TAILER, /* the binlog stream is open */
    READINESS_ROUTER, /* the router has its partitions (none: a standby) */
    READINESS_PARTS
} readiness_part;

/* The longest reason kept, with its terminating NUL. */
#define READINESS_REASON_MAX 256

typedef struct readiness readiness;

/* Called with the lock held whenever the whole changes (ready is the new
 * state; reason the part's reason when not ready, "ready" otherwise). It
 * must not call back into this readiness. */
typedef void (*readiness_listener)(void *ctx, bool ready, const char *reason);

/* Creates a readiness with no part required (not ready: "starting").
 * Returns 0 or MCSQ_ERR_NOMEM; caller frees with readiness_destroy(). */
int readiness_new(readiness **out);

/* Sets the listener (NULL: none); call before parts report. */
void readiness_set_listener(readiness *r, readiness_listener fn, void *ctx);

/* Makes part one the process runs, not ready with reason (e.g. "router:
 * joining consumer group ..."), until it reports itself ready. */
void readiness_require(readiness *r, readiness_part part, const char *reason);

/* Reports part's state; reason (may be NULL when ready) says why it is not
 * ready and is cut at READINESS_REASON_MAX - 1 bytes, at a line break. A
 * part that is not required is ignored. r NULL is a no-op. */
void readiness_set(readiness *r, readiness_part part, bool ready, const char *reason);

/* Whether the process is ready; reason (may be NULL) receives "ready" or
 * the first part's reason why not. */
bool readiness_get(readiness *r, char *reason, size_t reason_size);

/* NULL is a no-op. */
void readiness_destroy(readiness *r);

#endif
