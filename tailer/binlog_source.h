/*
 * Binlog source: where the events of a binlog come from, behind one small
 * interface, so that one stage (binlog_stage.h) turns either kind into
 * committed transactions. Two implementations: binlog files read in order
 * (binlog_file_source.h, for `mcsqueal scan`) and a live server streaming
 * as a replica (binlog_live_source.h, for `mcsqueal tail`).
 *
 * A source reads raw events, decodes them with the stage's decoder and
 * feeds the events that are part of the binlog's content, each with its
 * place (file and byte range), to the stage (binlog_stage_feed()) until one
 * commits a transaction: one call through the interface per transaction,
 * not per event. What is particular to a source stays inside it: the file
 * boundaries and the checksum verifier of a scan; the artificial events,
 * heartbeats, Rotate events and receive times of a live stream. Each source
 * words its own errors (which file, which offset).
 */
#ifndef MCSQ_TAILER_BINLOG_SOURCE_H
#define MCSQ_TAILER_BINLOG_SOURCE_H

#include "tailer/binlog_position.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct binlog_stage;
struct mcsq_txn;

typedef struct binlog_source_ops {
    /* Reads events and feeds the content ones to st with binlog_stage_feed()
     * until it commits a transaction (returns 1 with *txn, valid until the
     * stage is used again) or opens a Transaction_payload (returns 0: the
     * stage reads its inner events, then calls again). Returns MCSQ_ERR_EOF
     * at the end of a finite source, or another negative mcsq_err with
     * errstr fully worded (file, offset). */
    int (*next)(void *self, struct binlog_stage *st, const struct mcsq_txn **txn, char *errstr,
                size_t errstr_size);
    /* Words a failure inside the Transaction_payload event at pos (an inner
     * event that cannot be read or that the assembler refused) with detail
     * into errstr; returns rc. */
    int (*fail_inner)(void *self, int rc, const binlog_pos *pos, const char *detail, char *errstr,
                      size_t errstr_size);
} binlog_source_ops;

typedef struct binlog_source {
    const binlog_source_ops *ops; /* (ref) */
    void *self;                   /* (ref) the implementation's object */
} binlog_source;

#endif
