/*
 * The bus message contract (DESIGN.md, "Bus messages"): its one writer (the
 * tailer's batcher; `mcsqueal scan`, whose lines are "txns" entries plus
 * "file" and "end_pos") and its one reader (the router), from one table of
 * field names and one version (bus_message.c):
 *
 *     {"v":1,"source":"db-east-1","region":"east","txns":[{"gtid":"0-1-42",
 *      "pos":"binlog.000003:8812","commit_us":1763669000123456,
 *      "read_us":1763669000124001,"keys":["user:42"],"markers":["user:42"]}],
 *      "seq":1042}
 *
 * The writer puts the fields in that order ("commit_exact":true after
 * "commit_us" when the commit time is exact), leaves "gtid" out when
 * unknown, "markers" when empty and "seq" when it has none, escapes what
 * JSON needs and nothing else, and adds no whitespace.
 *
 * The reader is strict about the contract, tolerant of what it allows:
 *   - RFC 8259 JSON, UTF-8 only (core/json_reader.h): full string escapes,
 *     raw control bytes and bad UTF-8 rejected, whitespace anywhere, nothing
 *     but whitespace after the message, values nested at most
 *     BUS_MESSAGE_MAX_DEPTH deep.
 *   - Required: "v" (the integer 1; another integer is MCSQ_ERR_UNSUPPORTED),
 *     "source" and "region" (non-empty strings), "txns" (array of objects);
 *     per entry "pos" ("file:offset", file non-empty, offset a uint64),
 *     "commit_us" and "read_us" (integers 0..INT64_MAX, no fraction or
 *     exponent) and "keys" (array of strings). Optional: "gtid" (string; ""
 *     is the same as absent), "markers" (array of strings) and "commit_exact"
 *     (true or false; absent is false); per message "seq" (an integer
 *     1..INT64_MAX: the source's message sequence number, see
 *     invalidator/seq_tracker.h; absent is 0, none). Fields may come in any
 *     order. Empty "txns" and "keys" arrays are valid.
 *   - Unknown fields, at any level and of any type, are validated as JSON and
 *     skipped. A known field given twice is an error (JSON parsers disagree
 *     on which one wins); repeated unknown fields are ignored.
 *   - "v" is checked where it appears: the writer puts it first, so a
 *     future version is reported as MCSQ_ERR_UNSUPPORTED before the rest of
 *     it is read. (A "v" that follows a "txns" this version cannot read gives
 *     MCSQ_ERR_CORRUPT.)
 *   - Every key and marker is checked again with cache_key_check(). A string
 *     that breaks the key rules does not fail the message: it is left out of
 *     the keys, counted per verdict in `invalid`, and the first one is
 *     described in `invalid_first`, so the router counts and skips it.
 *   - A marker must name one of its entry's keys. A (valid) marker that does
 *     not is still a key the producer wants invalidated: it is appended to the
 *     entry's keys with its marker flag set and counted in `orphan_markers`
 *     (a contract violation for the router to count and log, not a reason to
 *     lose an invalidation). Markers listed twice, and keys listed twice, are
 *     harmless (deletes are idempotent) and kept as they come.
 *
 * Errors name the byte offset and the place in the message:
 *     "byte 1234: txns[3].keys[7]: expected a string, got number"
 *     "byte 56: txns[0]: expected ',' or '}', got 'x'"
 *
 * Speed and memory: one pass, no allocation in steady state. Keys point into
 * the payload; only strings with escapes are decoded, into an arena of the
 * message that grows to the largest payload seen. The key, entry and scratch
 * arrays grow to the largest message seen and are bounded by the limits.
 */
#ifndef MCSQ_BUS_MESSAGE_H
#define MCSQ_BUS_MESSAGE_H

#include "core/cache_key.h"
#include "core/json_reader.h"
#include "core/strbuf.h"
#include "mcsqueal/key.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUS_MESSAGE_VERSION 1
#define BUS_MESSAGE_MAX_DEPTH 32          /* nesting of arrays and objects, the message included */
#define BUS_MESSAGE_LIMIT_DEFAULT 1000000 /* bus.batch_max_keys allows up to 1M keys */
#define BUS_KEY_VERDICTS (CACHE_KEY_INVALID_UTF8 + 1)

/* ---- writing ---- */

/* Appends the start of a message, up to its first entry:
 * {"v":1,"source":"<source>","region":"<region>","txns":[
 * source and region (borrowed) are source_len and region_len bytes. */
void bus_message_write_head(strbuf *sb, const char *source, size_t source_len, const char *region,
                            size_t region_len);

/* mcsq_txn is in mcsqueal/scan.h; declared here, not included, so that the
 * router's side does not see the scan API. */
struct mcsq_txn;

/* Appends one "txns" entry for txn (borrowed; its gtid and file are gtid_len
 * and file_len bytes, need not be NUL-terminated). With scan_fields, also
 * "file" and "end_pos": a line of `mcsqueal scan`. Entries of one message
 * are separated by ','. */
void bus_message_write_txn(strbuf *sb, const struct mcsq_txn *txn, size_t gtid_len, size_t file_len,
                           bool scan_fields);

/* Appends the end of a message, after its last entry, with "seq" when seq
 * is not 0. */
void bus_message_write_end(strbuf *sb, uint64_t seq);

/* Upper bounds of what bus_message_write_txn() writes, for cutting messages
 * to size without writing them. An entry without its keys (every field, the
 * numbers at their longest; gtid and file as if every byte needed
 * escaping): */
static inline size_t bus_message_txn_overhead(size_t gtid_len, size_t file_len)
{
    return 160 + 2 * (file_len + gtid_len);
}

/* What key k adds to it: quotes and comma, one byte more per character that
 * needs escaping (keys hold no control characters), twice when it is also
 * listed in "markers". */
static inline size_t bus_message_key_size(const mcsq_key *k)
{
    size_t n = (size_t)k->len + 3;
    for (uint32_t i = 0; i < k->len; i++)
        n += (k->data[i] == '"' || k->data[i] == '\\') ? 1 : 0;
    return k->marker ? 2 * n : n;
}

/* bus_message_key_size() without reading the key: as if every byte needed
 * escaping. */
static inline size_t bus_message_key_size_max(const mcsq_key *k)
{
    size_t n = 2 * (size_t)k->len + 3;
    return k->marker ? 2 * n : n;
}

/* ---- reading ---- */

/* Limits on one message; a field left 0 takes BUS_MESSAGE_LIMIT_DEFAULT.
 * Exceeding one is MCSQ_ERR_LIMIT. */
typedef struct bus_limits {
    size_t max_txns;         /* entries in "txns" */
    size_t max_keys_per_txn; /* elements of one entry's "keys", and of its "markers" */
    size_t max_keys;         /* keys kept for the whole message (orphan markers included) */
} bus_limits;

/* One entry of "txns". Strings are (ref): into the payload, or into the
 * message's arena when they held escapes; not NUL-terminated. */
typedef struct bus_txn {
    const char *gtid; /* (ref) NULL when absent or "" */
    size_t gtid_len;
    const char *file; /* (ref) binlog file of "pos" */
    size_t file_len;
    uint64_t pos;
    int64_t commit_us;
    int64_t read_us;
    bool commit_exact;    /* "commit_exact": true: commit_us is exact (@probe, MySQL
                           * 8 GTID timestamp); false when absent */
    const mcsq_key *keys; /* (ref) valid keys in order, then orphan markers */
    size_t nkeys;
    size_t nmarkers; /* keys with marker set */
} bus_txn;

/* A parsed message; reused across messages. The public fields describe the
 * last successful bus_message_parse() and stay valid until the next parse
 * or bus_message_deinit(), and only while the payload stays alive. */
typedef struct bus_message {
    int version;
    uint64_t seq;       /* "seq": the source's message number; 0 when absent */
    const char *source; /* (ref) */
    size_t source_len;
    const char *region; /* (ref) */
    size_t region_len;
    bus_txn *txns;
    size_t ntxns;
    const mcsq_key *keys; /* every entry's keys, concatenated in entry order */
    size_t nkeys;
    size_t nmarkers;
    size_t invalid[BUS_KEY_VERDICTS]; /* keys/markers left out, per cache_key_verdict */
    size_t ninvalid;
    size_t orphan_markers;  /* markers not among their entry's keys (appended as keys) */
    char invalid_first[96]; /* e.g. "txns[3].keys[7]: too_long"; "" when none */

    /* private */
    bus_limits limits;
    size_t txn_cap;
    mcsq_key *key_buf;
    size_t key_cap;
    mcsq_key *marker_buf; /* one entry's markers until the entry closes */
    size_t marker_cap;
    uint32_t *slots; /* hash of one entry's keys, for its markers */
    size_t slot_cap;
    uint64_t hash_seed;
    json_arena arena; /* decoded strings that held escapes */
} bus_message;

/* Initializes m (embedded, empty); limits (borrowed, copied) may be NULL for
 * the defaults. Allocates nothing. */
void bus_message_init(bus_message *m, const bus_limits *limits);

/* Frees m's buffers. */
void bus_message_deinit(bus_message *m);

/* Parses payload (len bytes, borrowed, need not be NUL-terminated; must
 * outlive the use of m's results) into m. Returns 0; or MCSQ_ERR_CORRUPT
 * (not JSON, or not the contract), MCSQ_ERR_UNSUPPORTED (a "v" other than 1),
 * MCSQ_ERR_LIMIT (a limit exceeded) or MCSQ_ERR_NOMEM, with errstr (may be
 * NULL) filled and m holding no transactions. Keys that break the key rules
 * are not an error (see `invalid`). */
int bus_message_parse(bus_message *m, const char *payload, size_t len, char *errstr,
                      size_t errstr_size);

#endif
