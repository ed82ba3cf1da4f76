/*
 * Transaction assembler: groups decoded binlog events into transactions and
 * emits each one once its commit has been read (Xid, COMMIT, an
 * auto-committed statement or DDL, XA COMMIT of a prepared XA transaction, a
 * one-phase XA prepare, or ROLLBACK of a group that changed
 * non-transactional tables), never earlier. XA ROLLBACK emits nothing.
 * Works for MariaDB and MySQL GTID styles and for servers without GTIDs.
 */
#ifndef MCSQ_TAILER_TXN_ASSEMBLER_H
#define MCSQ_TAILER_TXN_ASSEMBLER_H

#include "mcsqueal/scan.h"
#include "tailer/annotation.h"
#include "tailer/binlog_event.h"
#include "tailer/binlog_position.h"
#include "tailer/key_set.h"
#include "tailer/key_spill.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct xa_prepared xa_prepared;

typedef struct txn_stats {
    uint64_t transactions;       /* emitted */
    uint64_t keys;               /* keys of emitted transactions, de-duplicated */
    uint64_t groups_discarded;   /* groups cut off without a commit */
    uint64_t xa_unknown_commits; /* XA COMMIT of a transaction prepared before our start */
    uint64_t xa_rollbacks;
    uint64_t incidents; /* Incident events: the server lost changes */
} txn_stats;

typedef struct txn_assembler {
    char region[65]; /* this process's region, "" for none */
    size_t region_len;
    annotation_stats ann;
    txn_stats stats;
    key_set keys;        /* keys of the open group */
    bool in_txn;         /* BEGIN, XA START or a MariaDB non-standalone GTID seen */
    bool open;           /* a group has started (GTID or BEGIN seen, or keys pending) */
    uint64_t group_pos;  /* offset of the group's first event */
    uint64_t sql_mode;   /* of the group's last Query event that had one */
    bool sql_mode_known; /* the group has had such a Query event */
    char gtid[BINLOG_GTID_TEXT_MAX];
    int64_t commit_us;     /* exact time from a MySQL GTID event, or 0 */
    int64_t probe_us;      /* from @probe, or 0 */
    xa_prepared *prepared; /* XA transactions prepared and not yet decided */
    size_t nprepared;
    bool nomem;            /* a key could not be stored */
    bool coarse_clock;     /* read_us from a millisecond clock (offline scans) */
    int64_t read_us;       /* see txn_assembler_set_read_us() */
    int spill_errno;       /* why keys could not be spilled (errno), 0: they could */
    const char *spill_dir; /* (ref) where large transactions spill; NULL: never */
    size_t spill_max;      /* key_set memory that triggers a spill */
    key_spill *spill;      /* keys of the open group spilled so far */
    key_spill *out_spill;  /* those of the emitted transaction, until taken */
    char file[256];        /* file of the emitted transaction */
    char out_gtid[BINLOG_GTID_TEXT_MAX];
    mcsq_txn out;     /* the emitted transaction */
    key_set out_keys; /* keys of the emitted transaction */
} txn_assembler;

/* region may be NULL or "" (then no key is marked). */
void txn_assembler_init(txn_assembler *a, const char *region);
void txn_assembler_deinit(txn_assembler *a);

/* Takes read_us from a cheap clock of a few milliseconds' resolution: for
 * offline scans, where read_us is informative only. The tailer keeps the
 * precise clock, as read_us measures its pipeline latency. */
void txn_assembler_use_coarse_clock(txn_assembler *a);

/* read_us of the transactions committed from now on: when the bytes of the
 * commit arrived, as the caller knows it (0: read the clock at the commit). */
void txn_assembler_set_read_us(txn_assembler *a, int64_t read_us);

/* Lets transactions whose keys take more than max_bytes of memory spill
 * them to an unlinked file in dir (borrowed). Emitted transactions then
 * hold only their last keys in memory; txn_assembler_take_spill() hands
 * out the rest. Without this call memory follows the largest transaction. */
void txn_assembler_set_spill(txn_assembler *a, const char *dir, size_t max_bytes);

/* The spilled keys of the transaction just emitted (caller owns them), or
 * NULL. Keys are de-duplicated within each spilled chunk only. */
key_spill *txn_assembler_take_spill(txn_assembler *a);

/* Feeds one decoded event at pos. Returns 1 when a transaction was
 * committed (*txn points into the assembler, valid until the next call),
 * 0 when not, or MCSQ_ERR_NOMEM / MCSQ_ERR_IO (spilling failed) with errstr. */
int txn_assembler_feed(txn_assembler *a, const binlog_event *ev, const binlog_pos *pos,
                       const mcsq_txn **txn, char *errstr, size_t errstr_size);

/* Parses an XA xid as written in XA statements (X'hex',X'hex',N or
 * 'text','text',N, with optional parts) into the normalised form of
 * binlog_xid_format(). Returns 0 or MCSQ_ERR_INVALID. */
int txn_xid_parse(const char *text, size_t len, char *out);

#endif
