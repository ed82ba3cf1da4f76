/*
 * Batcher: turns committed transactions into bus messages, written by the
 * contract's writer (bus/bus_message.h), one "txns" entry per transaction.
 *
 * A message closes at bus.batch_max_keys keys, bus.batch_max_bytes bytes or
 * bus.linger_ms after its first transaction. Transactions without keys add
 * nothing to a message but still move its resume position; a batch of only
 * such transactions produces no message. A transaction too large for one
 * message is split into several, each an entry with the same gtid and
 * position and a share of the keys; only the message that completes it
 * carries its resume position.
 *
 * Messages are numbered 1, 2, 3, ... ("seq", bus/seq_tracker.h): every
 * message gets the next number when it closes, and every resume position
 * the number of the first message after it, so that a tailer restarted from
 * its checkpoint continues the numbering there (batcher_set_seq()).
 */
#ifndef MCSQ_TAILER_BATCHER_H
#define MCSQ_TAILER_BATCHER_H

#include "core/strbuf.h"
#include "tailer/txn_record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called for each closed batch. payload (owned by the callee, malloc'd; NULL
 * when the batch had no keys) and resume (borrowed; NULL when the batch
 * completes no transaction). payload is NUL-terminated after its len bytes.
 * Returns 0, or a negative mcsq_err to stop. */
typedef int (*batcher_emit_fn)(void *ctx, char *payload, size_t len, size_t nkeys, size_t ntxns,
                               const binlog_position *resume);

typedef struct batcher {
    char *header; /* the start of every message (bus_message_write_head()) */
    size_t header_len;
    size_t max_keys;
    size_t max_bytes;
    int64_t linger_us;
    batcher_emit_fn emit;
    void *ctx;
    strbuf msg;             /* the open message */
    size_t nkeys;           /* keys in it */
    size_t ntxns;           /* transaction entries in it */
    int64_t opened_us;      /* when its first transaction came; 0: none open */
    binlog_position resume; /* after its last complete transaction */
    bool has_resume;
    size_t last_len; /* size of the last message: the next one's first reservation */
    uint64_t seq;    /* the next message's number */
} batcher;

/* Returns 0 or MCSQ_ERR_NOMEM. source and region are copied. */
int batcher_init(batcher *b, const char *source, const char *region, size_t max_keys,
                 size_t max_bytes, int linger_ms, batcher_emit_fn emit, void *ctx);
void batcher_deinit(batcher *b);

/* Numbers the next message seq (> 0; 1 after batcher_init()): the seq of
 * the checkpoint the tailer resumes from. */
void batcher_set_seq(batcher *b, uint64_t seq);

/* Adds a transaction (borrowed) at time now_us; emits the messages it
 * fills. Returns 0 or the first error of emit / MCSQ_ERR_NOMEM. */
int batcher_add(batcher *b, const txn_record *rec, int64_t now_us);

/* Adds keys of rec that precede its own (spilled ones) as an entry part:
 * same metadata, but the transaction is not complete yet, so the resume
 * position does not move. Returns 0 or an error as batcher_add(). */
int batcher_add_part(batcher *b, const txn_record *rec, const mcsq_key *keys, size_t nkeys,
                     int64_t now_us);

/* Closes the open batch when its linger time has passed at now_us (or
 * always, with force). Returns 0 or the emit error. */
int batcher_flush(batcher *b, int64_t now_us, bool force);

/* Microseconds until the open batch must close (0 if due; -1 if none). */
int64_t batcher_due_in(const batcher *b, int64_t now_us);

#endif
