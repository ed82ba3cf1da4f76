/*
 * MySQL Transaction_payload event: a header of (type, length, value) fields
 * in length-encoded integers, ended by a 0 mark, then the payload: the
 * transaction's events, zstd-compressed (or stored). payload_reader streams
 * the inner events out of it.
 */
#include "tailer/binlog_event.h"
#include "tailer/payload_reader.h"
#include "core/byte_reader.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

enum { PAYLOAD_END_MARK = 0, PAYLOAD_SIZE = 1, PAYLOAD_COMPRESSION = 2, PAYLOAD_UNCOMPRESSED = 3 };
#define PAYLOAD_ZSTD 0
#define PAYLOAD_NONE 255
#define PAYLOAD_WINDOW_MIN (64 * 1024)

int binlog_payload_decode(binlog_event *ev, char *errstr, size_t errstr_size)
{
    binlog_payload *p = &ev->u.payload;
    memset(p, 0, sizeof(*p));
    byte_reader br;
    byte_reader_init(&br, ev->body, ev->body_len);
    bool have_size = false;
    uint64_t size = 0;
    for (;;) {
        uint64_t type = byte_reader_lenenc(&br);
        if (br.failed || type == PAYLOAD_END_MARK)
            break;
        uint64_t flen = byte_reader_lenenc(&br);
        byte_reader field;
        byte_reader_init(&field, br.p, flen <= byte_reader_left(&br) ? (size_t)flen : 0);
        byte_reader_skip(&br, (size_t)flen);
        uint64_t value = byte_reader_lenenc(&field);
        if (field.failed)
            br.failed = true;
        else if (type == PAYLOAD_SIZE)
            size = value, have_size = true;
        else if (type == PAYLOAD_COMPRESSION)
            p->compression = value;
        else if (type == PAYLOAD_UNCOMPRESSED)
            p->uncompressed_size = value;
    }
    if (br.failed || !have_size || size != byte_reader_left(&br))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "Transaction_payload event: malformed header (payload size %" PRIu64
                          ", %zu bytes left)",
                          size, byte_reader_left(&br));
    p->data = br.p;
    p->len = (size_t)size;
    return MCSQ_OK;
}

void payload_reader_init(payload_reader *pr)
{
    memset(pr, 0, sizeof(*pr));
}

void payload_reader_deinit(payload_reader *pr)
{
    if (pr->zds != NULL)
        ZSTD_freeDStream(pr->zds);
    free(pr->buf);
    memset(pr, 0, sizeof(*pr));
}

int payload_reader_open(payload_reader *pr, const binlog_payload *payload, char *errstr,
                        size_t errstr_size)
{
    if (payload->compression != PAYLOAD_ZSTD && payload->compression != PAYLOAD_NONE)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                          "Transaction_payload event: unknown compression type %" PRIu64,
                          payload->compression);
    pr->in = payload->data;
    pr->in_len = payload->len;
    pr->in_pos = 0;
    pr->compressed = payload->compression == PAYLOAD_ZSTD;
    pr->stream_done = false;
    pr->start = pr->end = 0;
    pr->produced = 0;
    pr->expected = payload->uncompressed_size;
    if (!pr->compressed)
        return MCSQ_OK;
    if (pr->zds == NULL && (pr->zds = ZSTD_createDStream()) == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "cannot create zstd stream");
    ZSTD_initDStream(pr->zds);
    return MCSQ_OK;
}

/* Makes room for `need` unread bytes in the window (compacting, growing). */
static int window_reserve(payload_reader *pr, size_t need)
{
    if (pr->start > 0) {
        memmove(pr->buf, pr->buf + pr->start, pr->end - pr->start);
        pr->end -= pr->start;
        pr->start = 0;
    }
    if (need <= pr->cap)
        return MCSQ_OK;
    size_t cap = pr->cap ? pr->cap : PAYLOAD_WINDOW_MIN;
    while (cap < need)
        cap *= 2;
    uint8_t *b = realloc(pr->buf, cap);
    if (b == NULL)
        return MCSQ_ERR_NOMEM;
    pr->buf = b;
    pr->cap = cap;
    return MCSQ_OK;
}

/* Inflates until at least `need` unread bytes are buffered or input ends. */
static int fill(payload_reader *pr, size_t need, char *errstr, size_t errstr_size)
{
    if (pr->end - pr->start >= need)
        return MCSQ_OK;
    if (window_reserve(pr, need) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM,
                          "Transaction_payload: cannot buffer an inner event of %zu bytes", need);
    while (pr->end - pr->start < need && !pr->stream_done) {
        if (!pr->compressed) {
            size_t n = pr->in_len - pr->in_pos;
            if (n > pr->cap - pr->end)
                n = pr->cap - pr->end;
            memcpy(pr->buf + pr->end, pr->in + pr->in_pos, n);
            pr->in_pos += n;
            pr->end += n;
            pr->produced += n;
            pr->stream_done = pr->in_pos == pr->in_len;
            continue;
        }
        ZSTD_inBuffer in = {pr->in, pr->in_len, pr->in_pos};
        ZSTD_outBuffer out = {pr->buf, pr->cap, pr->end};
        size_t rc = ZSTD_decompressStream(pr->zds, &out, &in);
        if (ZSTD_isError(rc))
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                              "Transaction_payload: zstd: %s", ZSTD_getErrorName(rc));
        bool progress = out.pos > pr->end || in.pos > pr->in_pos;
        pr->produced += out.pos - pr->end;
        pr->end = out.pos;
        pr->in_pos = in.pos;
        if (rc == 0 && pr->in_pos == pr->in_len)
            pr->stream_done = true;
        else if (!progress)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                              "Transaction_payload: compressed data ends early");
    }
    return MCSQ_OK;
}

int payload_reader_next(payload_reader *pr, const uint8_t **event, size_t *len, char *errstr,
                        size_t errstr_size)
{
    int rc = fill(pr, BINLOG_HEADER_LEN, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    size_t avail = pr->end - pr->start;
    if (avail == 0 && pr->expected != 0 && pr->produced != pr->expected)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "Transaction_payload: %llu bytes inflated, %llu announced",
                          (unsigned long long)pr->produced, (unsigned long long)pr->expected);
    if (avail == 0)
        return MCSQ_ERR_EOF;
    binlog_header hdr;
    if (binlog_header_parse(pr->buf + pr->start, avail, &hdr) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "Transaction_payload: %zu stray bytes after the last inner event", avail);
    uint64_t left = pr->compressed && pr->expected != 0
                        ? pr->expected - (pr->produced - avail)
                        : (uint64_t)avail + (pr->in_len - pr->in_pos);
    if (hdr.event_size >= BINLOG_HEADER_LEN && hdr.event_size <= BINLOG_MAX_EVENT_SIZE &&
        hdr.event_size > left) /* checked before buffering for the claim */
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "Transaction_payload: inner event of %u bytes cut short (%llu left)",
                          hdr.event_size, (unsigned long long)left);
    if (hdr.event_size < BINLOG_HEADER_LEN || hdr.event_size > BINLOG_MAX_EVENT_SIZE)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "Transaction_payload: inner event claims %u bytes", hdr.event_size);
    rc = fill(pr, hdr.event_size, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    if (pr->end - pr->start < hdr.event_size)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "Transaction_payload: inner event of %u bytes cut short", hdr.event_size);
    *event = pr->buf + pr->start;
    *len = hdr.event_size;
    pr->start += hdr.event_size;
    return MCSQ_OK;
}
