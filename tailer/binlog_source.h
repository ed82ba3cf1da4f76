/*
 * Binlog source: where the events of a binlog come from, behind one small
 * interface, so that one stage (binlog_stage.h) turns either kind into
 * committed transactions. Two implementations: binlog files read in order
 * (binlog_file_source.h, for `mcsqueal scan`) and a live server streaming
 * as a replica (binlog_live_source.h, for `mcsqueal tail`).
 *
 * A source reads raw events, decodes them with the stage's decoder and
 * hands out only the events that are part of the binlog's content, each
 * with its place (file and byte range). What is particular to a source
 * stays inside it: the file boundaries and the checksum verifier of a scan;
 * the artificial events, heartbeats, Rotate events and receive times of a
 * live stream. Each source words its own errors (which file, which offset).
 */
#ifndef MCSQ_TAILER_BINLOG_SOURCE_H
#define MCSQ_TAILER_BINLOG_SOURCE_H

#include "tailer/binlog_event.h"
#include "tailer/binlog_position.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct binlog_source_ops {
    /* Reads the next event of the binlog's content, decoded with dec into
     * *ev (valid until the next call), at *pos (pos->file borrowed from the
     * source until the next call). *read_us is when its bytes arrived
     * (wall clock, microseconds), 0 when unknown. Returns 0, MCSQ_ERR_EOF
     * at the end of a finite source, or a negative mcsq_err with errstr
     * fully worded (file, offset). */
    int (*next)(void *self, binlog_decoder *dec, binlog_event *ev, binlog_pos *pos,
                int64_t *read_us, char *errstr, size_t errstr_size);
    /* Words a failure of the stage (a Transaction_payload that cannot be
     * read, an event the assembler refused) with detail for the event at
     * pos (inner: inside a Transaction_payload) into errstr; returns rc. */
    int (*fail)(void *self, int rc, const binlog_pos *pos, bool inner, const char *detail,
                char *errstr, size_t errstr_size);
} binlog_source_ops;

typedef struct binlog_source {
    const binlog_source_ops *ops; /* (ref) */
    void *self;                   /* (ref) the implementation's object */
} binlog_source;

#endif
