/*
 * Scan API: decode binlog files offline into committed transactions with
 * their cache keys. Files are read in order as one stream, with bounded
 * memory whatever their size. `mcsqueal scan` is a thin shell around this.
 */
#ifndef MCSQUEAL_SCAN_H
#define MCSQUEAL_SCAN_H

#include "mcsqueal/key.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A committed transaction. Everything is borrowed from the scanner and valid
 * until the next call to mcsq_scan_next() or mcsq_scan_destroy(). */
typedef struct mcsq_txn {
    const char *gtid;     /* "0-1-42" (MariaDB), "uuid:gno" or "uuid:tag:gno" (MySQL); "" if none */
    const char *file;     /* binlog file name holding the commit */
    uint64_t pos;         /* offset of the transaction's first event in file */
    uint64_t end_pos;     /* offset just past its commit event (where to resume) */
    int64_t commit_us;    /* best known commit time, unix microseconds */
    int64_t read_us;      /* when the commit was read, unix microseconds */
    int commit_exact;     /* 1: commit_us is exact (@probe, MySQL GTID timestamp) */
    const mcsq_key *keys; /* de-duplicated, in order of first appearance */
    size_t nkeys;
    size_t nmarkers; /* how many keys have marker set */
} mcsq_txn;

typedef struct mcsq_scan mcsq_scan;

/* One decoded event, for listings and diagnostics. Borrowed; valid only
 * during the callback. */
typedef struct mcsq_event {
    const char *file; /* binlog file name */
    uint64_t pos;     /* offset of the event (of its Transaction_payload when inner) */
    uint64_t end_pos;
    int inner;             /* 1: inside a Transaction_payload event */
    unsigned type;         /* binlog event type code */
    const char *type_name; /* "Query", "Xid", "Gtid", ... */
    const char *text;      /* statement text (Query, Annotate_rows, Rows_query), else NULL */
    size_t text_len;
    const char *gtid; /* GTID events: the GTID as text, else NULL */
} mcsq_event;

typedef struct mcsq_scan_options {
    const char
        *region; /* @marker=<region> directives for this region set mcsq_key.marker; may be NULL */
    int verify_checksums; /* 1 (default when options are NULL): verify CRC32 when the binlog has
                             them */
    void (*on_event)(void *ctx, const mcsq_event *ev); /* optional: called for every event */
    void *event_ctx;
} mcsq_scan_options;

/* Creates a scanner over `nfiles` paths, read in order as one stream.
 * `opt` may be NULL for defaults. Returns 0 or a negative mcsq_err, with a
 * message in errstr. The caller frees with mcsq_scan_destroy(). */
int mcsq_scan_new(mcsq_scan **out, const char *const *paths, size_t nfiles,
                  const mcsq_scan_options *opt, char *errstr, size_t errstr_size);

/* Reads up to the next committed transaction. Returns 0 with *txn set,
 * MCSQ_ERR_EOF at the clean end of the last file, or another negative
 * mcsq_err with a message naming the file and byte offset. Only fully read
 * transactions are ever returned. */
int mcsq_scan_next(mcsq_scan *scan, const mcsq_txn **txn, char *errstr, size_t errstr_size);

/* Counters for reporting: events decoded, unknown event types skipped, keys
 * rejected by the annotation rules. */
typedef struct mcsq_scan_stats {
    uint64_t events;
    uint64_t events_unknown;
    uint64_t transactions;
    uint64_t keys;          /* keys of the transactions returned, de-duplicated per transaction */
    uint64_t keys_rejected; /* tokens that broke the key rules */
    uint64_t incidents;     /* Incident events: the server says changes may be missing */
} mcsq_scan_stats;

void mcsq_scan_get_stats(const mcsq_scan *scan, mcsq_scan_stats *stats);

void mcsq_scan_destroy(mcsq_scan *scan);

#ifdef __cplusplus
}
#endif
#endif
