/*
 * Batcher (see batcher.h). Messages are built directly in their final JSON
 * form in one strbuf by the contract's writer (bus_message_write_*()).
 */
#include "tailer/batcher.h"
#include "bus/bus_message.h"
#include "mcsqueal/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int batcher_init(batcher *b, const char *source, const char *region, size_t max_keys,
                 size_t max_bytes, int linger_ms, batcher_emit_fn emit, void *ctx)
{
    memset(b, 0, sizeof(*b));
    strbuf h;
    strbuf_init(&h);
    bus_message_write_head(&h, source, strlen(source), region, strlen(region));
    if (h.nomem) {
        strbuf_deinit(&h);
        return MCSQ_ERR_NOMEM;
    }
    b->header = h.buf;
    b->header_len = h.len;
    b->max_keys = max_keys > 0 ? max_keys : 1;
    b->max_bytes = max_bytes;
    b->linger_us = (int64_t)linger_ms * 1000;
    b->emit = emit;
    b->ctx = ctx;
    b->seq = 1;
    strbuf_init(&b->msg);
    return MCSQ_OK;
}

void batcher_set_seq(batcher *b, uint64_t seq)
{
    b->seq = seq > 0 ? seq : 1;
}

void batcher_deinit(batcher *b)
{
    free(b->header);
    strbuf_deinit(&b->msg);
    memset(b, 0, sizeof(*b));
}

static void open_message(batcher *b, int64_t now_us)
{
    if (b->opened_us == 0)
        b->opened_us = now_us > 0 ? now_us : 1;
}

/* Emits the open batch (a message when it has keys). */
static int close_batch(batcher *b)
{
    char *payload = NULL;
    size_t len = 0;
    if (b->ntxns > 0) {
        bus_message_write_end(&b->msg, b->seq++);
        strbuf_putc(&b->msg, '\0'); /* a C string too, e.g. for logs; not sent */
        if (b->msg.nomem)
            return MCSQ_ERR_NOMEM;
        payload = b->msg.buf;
        len = b->msg.len - 1;
        b->last_len = len;
        strbuf_init(&b->msg); /* ownership of the buffer moves to emit */
    }
    b->resume.seq = b->seq; /* the first message after the resume position */
    int rc = b->emit(b->ctx, payload, len, b->nkeys, b->ntxns, b->has_resume ? &b->resume : NULL);
    b->has_resume = false;
    b->nkeys = b->ntxns = 0;
    b->opened_us = 0;
    b->msg.len = 0;
    return rc;
}

/* Appends one entry with keys [first, first + n) of rec. */
static void append_entry(batcher *b, const txn_record *rec, size_t first, size_t n)
{
    mcsq_txn view;
    txn_record_view(rec, &view);
    view.keys = rec->keys + first;
    view.nkeys = n;
    view.nmarkers = 0;
    for (size_t i = 0; i < n; i++)
        view.nmarkers += view.keys[i].marker ? 1 : 0;
    if (b->msg.len == 0) {
        /* room for a message as large as the last one, at once: growing a
         * buffer of a few hundred KiB by doubling copies it ten times */
        size_t hint = b->last_len + b->last_len / 8;
        strbuf_reserve(&b->msg, hint < b->max_bytes + 64 ? hint : b->max_bytes + 64);
        strbuf_append(&b->msg, b->header, b->header_len);
    } else
        strbuf_putc(&b->msg, ',');
    bus_message_write_txn(&b->msg, &view, rec->gtid_len, rec->file_len, false);
    b->nkeys += n;
    b->ntxns++;
}

/* Keeps the position after rec (copied: no allocation per transaction). */
static void set_resume(batcher *b, const txn_record *rec)
{
    txn_record_resume(rec, &b->resume);
    b->has_resume = true;
}

/* Bytes of rec's entry without its keys. */
static size_t entry_overhead(const txn_record *rec)
{
    return bus_message_txn_overhead(rec->gtid_len, rec->file_len);
}

/* Whether all of rec fits into the open message, by an upper bound of its
 * size that does not read the key bytes (the usual case: small entries). */
static bool fits_whole(const batcher *b, const txn_record *rec)
{
    if (b->nkeys + rec->nkeys > b->max_keys)
        return false;
    size_t bytes = (b->msg.len ? b->msg.len : b->header_len) + entry_overhead(rec) + 2;
    for (size_t i = 0; i < rec->nkeys && bytes <= b->max_bytes; i++)
        bytes += bus_message_key_size_max(&rec->keys[i]);
    return bytes <= b->max_bytes;
}

static size_t entry_bound(const txn_record *rec)
{
    size_t bytes = entry_overhead(rec);
    for (size_t i = 0; i < rec->nkeys; i++)
        bytes += bus_message_key_size(&rec->keys[i]);
    return bytes;
}

/* How many keys from `first` fit into the open message (at least one when
 * the message is empty, whatever its size). */
static size_t keys_that_fit(const batcher *b, const txn_record *rec, size_t first)
{
    size_t room_keys = b->max_keys - b->nkeys;
    size_t bytes = (b->msg.len ? b->msg.len : b->header_len) + entry_overhead(rec) + 2;
    size_t n = 0;
    while (n < room_keys && first + n < rec->nkeys) {
        bytes += bus_message_key_size(&rec->keys[first + n]);
        if (bytes > b->max_bytes && (n > 0 || b->ntxns > 0))
            break;
        n++;
    }
    return n;
}

/* Adds the keys of rec (all of it, or a part) in as many messages as they
 * need; only the last part of a transaction moves the resume position. */
static int add_keys(batcher *b, const txn_record *rec, int64_t now_us)
{
    int rc;
    if (rec->nkeys > 0 && fits_whole(b, rec)) {
        open_message(b, now_us);
        append_entry(b, rec, 0, rec->nkeys);
        return b->msg.nomem ? MCSQ_ERR_NOMEM : MCSQ_OK;
    }
    if (b->ntxns > 0 &&
        (b->nkeys + rec->nkeys > b->max_keys || b->msg.len + entry_bound(rec) > b->max_bytes)) {
        if ((rc = close_batch(b)) != MCSQ_OK)
            return rc;
    }
    open_message(b, now_us);
    size_t first = 0;
    while (first < rec->nkeys) {
        size_t n = keys_that_fit(b, rec, first);
        if (n == 0) {
            if ((rc = close_batch(b)) != MCSQ_OK)
                return rc;
            open_message(b, now_us);
            continue;
        }
        append_entry(b, rec, first, n);
        first += n;
        if (first < rec->nkeys) { /* the rest goes to the next message */
            if ((rc = close_batch(b)) != MCSQ_OK)
                return rc;
            open_message(b, now_us);
        }
    }
    return b->msg.nomem ? MCSQ_ERR_NOMEM : MCSQ_OK;
}

static int close_if_full(batcher *b)
{
    if (b->nkeys >= b->max_keys || b->msg.len >= b->max_bytes)
        return close_batch(b);
    return MCSQ_OK;
}

int batcher_add(batcher *b, const txn_record *rec, int64_t now_us)
{
    int rc = add_keys(b, rec, now_us);
    if (rc != MCSQ_OK)
        return rc;
    set_resume(b, rec);
    return close_if_full(b);
}

int batcher_add_part(batcher *b, const txn_record *rec, const mcsq_key *keys, size_t nkeys,
                     int64_t now_us)
{
    txn_record part = *rec;
    part.keys = (mcsq_key *)keys;
    part.nkeys = nkeys;
    part.spill = NULL;
    int rc = add_keys(b, &part, now_us);
    return rc == MCSQ_OK ? close_if_full(b) : rc;
}

int64_t batcher_due_in(const batcher *b, int64_t now_us)
{
    if (b->opened_us == 0)
        return -1;
    int64_t due = b->opened_us + b->linger_us - now_us;
    return due > 0 ? due : 0;
}

int batcher_flush(batcher *b, int64_t now_us, bool force)
{
    if (b->opened_us == 0)
        return MCSQ_OK;
    if (!force && batcher_due_in(b, now_us) > 0)
        return MCSQ_OK;
    return close_batch(b);
}
