/*
 * Transaction record: an owned, self-contained copy of a committed
 * transaction, handed from the binlog reader thread to the publisher
 * through a txn_queue. Carries the position to resume from once it (and
 * everything before it) is safely on the bus.
 */
#ifndef MCSQ_TAILER_TXN_RECORD_H
#define MCSQ_TAILER_TXN_RECORD_H

#include "mcsqueal/scan.h"
#include "tailer/binlog_event.h"
#include "tailer/binlog_position.h"
#include "tailer/key_spill.h"
#include "tailer/txn_slab.h"

#include <stddef.h>
#include <stdint.h>

typedef struct txn_record {
    struct txn_record *next; /* queue link */
    txn_slab *slab;          /* the slab holding it, or NULL: malloc'd */
    key_spill *spill;        /* owned: keys spilled before these, or NULL */
    const char *gtid;        /* in the same allocation (variable length) */
    const char *file;        /* in the same allocation; cut to BINLOG_FILE_MAX - 1 */
    uint64_t pos;
    uint64_t end_pos; /* also the position to resume from after it */
    int64_t commit_us;
    int64_t read_us;
    int commit_exact;
    const char *resume_gtid; /* GTID state after it (same allocation), or NULL if unknown */
    size_t gtid_len;         /* strlen() of the strings, known when copied */
    size_t file_len;
    size_t resume_gtid_len;
    size_t nkeys;
    size_t nmarkers;
    mcsq_key *keys; /* in the same allocation as the key bytes */
    size_t bytes;   /* memory held, for queue accounting */
} txn_record;

/* Copies txn and the resume state (resume_gtid may be NULL: unknown;
 * shorter than BINLOG_GTID_STATE_MAX). Returns NULL when out of memory. The
 * caller frees with txn_record_free(). */
txn_record *txn_record_new(const mcsq_txn *txn, const char *resume_gtid);

/* The same, in memory from pool (the reader thread's; the record may be
 * freed on any thread). */
txn_record *txn_record_new_in(txn_slab_pool *pool, const mcsq_txn *txn, const char *resume_gtid);
void txn_record_free(txn_record *rec);

/* Where to resume after rec: its file, end position and GTID state ("" if
 * unknown), copied into *out. */
void txn_record_resume(const txn_record *rec, binlog_position *out);

/* A read-only mcsq_txn view of rec (borrowing from it), e.g. for JSON. */
void txn_record_view(const txn_record *rec, mcsq_txn *out);

#endif
