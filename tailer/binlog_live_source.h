/*
 * Live binlog source: a binlog_source over a live server's binlog stream
 * (binlog_live.h), for `mcsqueal tail`. Positions come from the event
 * headers (log_pos minus the event size), the file name from Rotate
 * events. Events that are in no file (artificial ones, heartbeats) and
 * Rotate events are read and counted, not handed out.
 *
 * Its owner (the tail reader) takes the counts from `seen` and resets them;
 * two hooks let it pass what it has on before the source would wait for
 * the server, and take the counts on a heartbeat or every sync_every events.
 */
#ifndef MCSQ_TAILER_BINLOG_LIVE_SOURCE_H
#define MCSQ_TAILER_BINLOG_LIVE_SOURCE_H

#include "tailer/binlog_live.h"
#include "tailer/binlog_source.h"

#include <stdbool.h>
#include <stdint.h>

/* What the stream carried since the owner last reset this. */
typedef struct binlog_live_seen {
    uint64_t events;         /* every event read, content or not */
    uint32_t last_timestamp; /* server timestamp of the last content event */
    bool heartbeat;          /* a heartbeat came after it: caught up */
    bool any;                /* an event came */
} binlog_live_seen;

typedef struct binlog_live_source_hooks {
    /* Before a read that may wait for the server; a non-zero return stops
     * the read and is returned by it. */
    int (*before_wait)(void *ctx);
    /* On a heartbeat (wake false) and every sync_every events (wake true:
     * nothing was handed on for that long). */
    void (*sync)(void *ctx, bool wake);
    void *ctx;
} binlog_live_source_hooks;

typedef struct binlog_live_source {
    binlog_live *live;          /* (ref) the stream, set (and swapped) by the owner */
    char file[BINLOG_FILE_MAX]; /* the current binlog file */
    binlog_live_seen seen;
    uint64_t sync_every;
    binlog_live_source_hooks hooks;
} binlog_live_source;

/* Initialises ls with no stream yet; hooks copied. */
void binlog_live_source_init(binlog_live_source *ls, const binlog_live_source_hooks *hooks,
                             uint64_t sync_every);

/* Names the file the stream starts in (until the first Rotate event). */
void binlog_live_source_set_file(binlog_live_source *ls, const char *file);

/* The binlog_source interface of ls (borrowed). */
binlog_source binlog_live_source_as_source(binlog_live_source *ls);

#endif
