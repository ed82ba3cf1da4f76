/*
 * Binlog stage: the one path from a binlog source to committed
 * transactions, shared by `mcsqueal scan` and `mcsqueal tail`:
 *
 *     source (decoded events) -> Transaction_payload inner events -> assembler
 *
 * The source reads, decodes and feeds the events (binlog_source.h); the
 * stage descends into Transaction_payload events, whose inner events carry
 * no checksums of their own (the payload event's checksum covers them): the
 * decoder's checksum setting is switched off while they are read and
 * restored after. Inner events take the place of their payload event.
 */
#ifndef MCSQ_TAILER_BINLOG_STAGE_H
#define MCSQ_TAILER_BINLOG_STAGE_H

#include "tailer/binlog_event.h"
#include "tailer/binlog_source.h"
#include "tailer/payload_reader.h"
#include "tailer/txn_assembler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sees every event the stage handles, top-level (inner 0) and inside a
 * Transaction_payload (inner 1), before the assembler does. */
typedef void (*binlog_stage_observer)(void *ctx, const binlog_event *ev, const binlog_pos *pos,
                                      int inner);

typedef struct binlog_stage {
    binlog_source src; /* (ref) */
    binlog_decoder dec;
    payload_reader payload;
    txn_assembler assembler;
    bool in_payload;
    uint8_t saved_checksum_alg; /* the decoder's, while inside a payload */
    binlog_pos payload_pos;     /* of the payload event being read */
    binlog_stage_observer observer;
    void *observer_ctx;
} binlog_stage;

/* Initialises a stage reading from src (copied; its object borrowed for
 * the stage's lifetime); region as for txn_assembler_init(). */
void binlog_stage_init(binlog_stage *st, const binlog_source *src, const char *region);
void binlog_stage_deinit(binlog_stage *st);

/* Starts over for a new stream: a fresh decoder (checksums verified when
 * verify) and assembler; the spill settings are the caller's to set again. */
void binlog_stage_reset(binlog_stage *st, bool verify);

/* Lets observer (NULL: none) see every event. */
void binlog_stage_observe(binlog_stage *st, binlog_stage_observer observer, void *ctx);

/* Reads until the next committed transaction: returns 0 with *txn (valid
 * until the next call), MCSQ_ERR_EOF at the end of the source, or another
 * negative mcsq_err with errstr worded by the source. */
int binlog_stage_next(binlog_stage *st, const mcsq_txn **txn, char *errstr, size_t errstr_size);

/* For sources: starts reading the inner events of a Transaction_payload
 * event. Returns 0 or a negative mcsq_err with the detail in err. */
int binlog_stage_open_payload(binlog_stage *st, const binlog_event *ev, const binlog_pos *pos,
                              char *err, size_t err_size);

/* For sources: feeds one decoded event of the binlog's content at pos.
 * Returns 1 when it committed a transaction (*txn), 0 when not (a
 * Transaction_payload event is opened: st->in_payload), or a negative
 * mcsq_err with the detail in err, which the source words. Inline: it runs
 * for every event. */
static inline int binlog_stage_feed(binlog_stage *st, const binlog_event *ev, const binlog_pos *pos,
                                    const mcsq_txn **txn, char *err, size_t err_size)
{
    if (st->observer != NULL)
        st->observer(st->observer_ctx, ev, pos, 0);
    if (ev->hdr.type == BINLOG_TRANSACTION_PAYLOAD_EVENT)
        return binlog_stage_open_payload(st, ev, pos, err, err_size);
    return txn_assembler_feed(&st->assembler, ev, pos, txn, err, err_size);
}

#endif
