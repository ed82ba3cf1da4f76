/*
 * Transaction-identity events: MySQL GTID and anonymous GTID (fixed layout
 * with optional trailing fields), MySQL tagged GTID (serialization-library
 * format: varlen integers with field ids), MariaDB GTID (with its XA xid),
 * and MySQL XA_prepare. Also the text forms of GTIDs and XA xids.
 */
#include "tailer/binlog_event.h"
#include "core/byte_reader.h"
#include "core/errstr.h"
#include "core/strbuf.h"
#include "mcsqueal/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define XID_PART_MAX 64

void binlog_xid_format(int64_t format_id, const uint8_t *gtrid, size_t gtrid_len,
                       const uint8_t *bqual, size_t bqual_len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    const uint8_t *parts[2] = {gtrid, bqual};
    size_t lens[2] = {gtrid_len, bqual_len};
    for (int k = 0; k < 2; k++) {
        *p++ = 'X';
        *p++ = '\'';
        for (size_t i = 0; i < lens[k] && i < XID_PART_MAX; i++) {
            *p++ = hex[parts[k][i] >> 4];
            *p++ = hex[parts[k][i] & 15];
        }
        *p++ = '\'';
        *p++ = ',';
    }
    snprintf(p, (size_t)(out + BINLOG_XID_TEXT_MAX - p), "%" PRId64, format_id);
}

size_t binlog_maria_gtid_format(const binlog_maria_gtid *g, uint32_t server_id, char *out)
{
    char *p = strbuf_put_u64(out, g->domain_id);
    *p++ = '-';
    p = strbuf_put_u64(p, server_id);
    *p++ = '-';
    p = strbuf_put_u64(p, g->seq_no);
    *p = '\0';
    return (size_t)(p - out);
}

size_t binlog_mysql_gtid_format(const binlog_mysql_gtid *g, char *out)
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[g->sid[i] >> 4];
        *p++ = hex[g->sid[i] & 15];
    }
    int n = g->tag[0] ? snprintf(p, BINLOG_GTID_TEXT_MAX - 36, ":%s:%" PRId64, g->tag, g->gno)
                      : snprintf(p, BINLOG_GTID_TEXT_MAX - 36, ":%" PRId64, g->gno);
    return (size_t)(p - out) + (size_t)n;
}

static int decode_mysql_gtid(binlog_event *ev, char *errstr, size_t errstr_size)
{
    binlog_mysql_gtid *g = &ev->u.mysql_gtid;
    memset(g, 0, sizeof(*g));
    g->anonymous = ev->hdr.type == BINLOG_ANONYMOUS_GTID_EVENT;
    byte_reader br;
    byte_reader_init(&br, ev->body, ev->body_len);
    g->flags = byte_reader_u8(&br);
    const uint8_t *sid = byte_reader_bytes(&br, 16);
    g->gno = (int64_t)byte_reader_u64(&br);
    if (br.failed)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "Gtid event body of %zu bytes, need 25", ev->body_len);
    memcpy(g->sid, sid, 16);
    if (byte_reader_left(&br) == 0 || br.p[0] != 2)
        return MCSQ_OK; /* MySQL 5.6 / early 5.7: no logical clock, no timestamps */
    byte_reader_skip(&br, 1 + 16);
    if (byte_reader_left(&br) >= 7) {
        uint64_t ts = byte_reader_uint(&br, 7);
        g->immediate_commit_us = ts & ~(1ull << 55);
        g->original_commit_us = g->immediate_commit_us;
        if (ts & (1ull << 55))
            g->original_commit_us = byte_reader_uint(&br, 7);
    }
    if (br.failed)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "Gtid event: commit timestamps truncated");
    return MCSQ_OK;
}

/* A varlen integer that must fit a byte; a larger one fails the reader. */
static uint8_t varlen_byte(byte_reader *br)
{
    uint64_t v = byte_reader_varlen(br);
    if (v > 0xff)
        br->failed = true;
    return (uint8_t)v;
}

static bool read_tagged_field(byte_reader *br, uint64_t id, binlog_mysql_gtid *g,
                              bool *seen_original)
{
    switch (id) {
    case 0:
        g->flags = varlen_byte(br);
        return true;
    case 1:
        for (int i = 0; i < 16; i++)
            g->sid[i] = varlen_byte(br);
        return true;
    case 2:
        g->gno = byte_reader_varlen_signed(br);
        return true;
    case 3: {
        uint64_t n = byte_reader_varlen(br);
        const uint8_t *t = n < sizeof(g->tag) ? byte_reader_bytes(br, (size_t)n) : NULL;
        if (t == NULL) {
            br->failed = true;
            return true;
        }
        memcpy(g->tag, t, (size_t)n);
        g->tag[n] = '\0';
        return true;
    }
    case 4:
    case 5:
        (void)byte_reader_varlen_signed(br);
        return true;
    case 6:
        g->immediate_commit_us = byte_reader_varlen(br);
        return true;
    case 7:
        g->original_commit_us = byte_reader_varlen(br);
        *seen_original = true;
        return true;
    case 8:
    case 9:
    case 10:
    case 11:
        (void)byte_reader_varlen(br);
        return true;
    default:
        return false;
    }
}

static int decode_tagged_gtid(binlog_event *ev, char *errstr, size_t errstr_size)
{
    binlog_mysql_gtid *g = &ev->u.mysql_gtid;
    memset(g, 0, sizeof(*g));
    byte_reader br;
    byte_reader_init(&br, ev->body, ev->body_len);
    uint8_t version = byte_reader_u8(&br);
    uint64_t payload_size = byte_reader_varlen(&br);
    uint64_t last_non_ignorable = byte_reader_varlen(&br);
    size_t consumed = (size_t)(br.p - ev->body);
    if (br.failed || payload_size < consumed || payload_size - consumed > byte_reader_left(&br))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "Gtid_tagged event: payload size %" PRIu64 " exceeds the %zu-byte body",
                          payload_size, ev->body_len);
    if (version != 2)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                          "Gtid_tagged event: serialization version %u", version);
    byte_reader fields;
    byte_reader_init(&fields, br.p, (size_t)(payload_size - consumed));
    bool seen_original = false;
    while (byte_reader_left(&fields) > 0 && !fields.failed) {
        uint64_t id = byte_reader_varlen(&fields);
        if (read_tagged_field(&fields, id, g, &seen_original))
            continue;
        if (id <= last_non_ignorable)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                              "Gtid_tagged event: unknown required field %" PRIu64, id);
        break; /* ignorable unknown field: its length is unknown, stop here */
    }
    if (fields.failed || g->gno <= 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "Gtid_tagged event: malformed fields");
    if (!seen_original)
        g->original_commit_us = g->immediate_commit_us;
    return MCSQ_OK;
}

static int decode_maria_gtid(binlog_event *ev, char *errstr, size_t errstr_size)
{
    binlog_maria_gtid *g = &ev->u.maria_gtid;
    g->xid[0] = '\0'; /* every other field is set below; no memset of the xid buffer per event */
    byte_reader br;
    byte_reader_init(&br, ev->body, ev->body_len);
    g->seq_no = byte_reader_u64(&br);
    g->domain_id = byte_reader_u32(&br);
    g->flags2 = byte_reader_u8(&br);
    if (g->flags2 & BINLOG_MARIA_GTID_GROUP_COMMIT_ID)
        byte_reader_skip(&br, 8);
    if (!br.failed &&
        (g->flags2 & (BINLOG_MARIA_GTID_PREPARED_XA | BINLOG_MARIA_GTID_COMPLETED_XA))) {
        int64_t format_id = (int32_t)byte_reader_u32(&br);
        size_t gl = byte_reader_u8(&br), bl = byte_reader_u8(&br);
        const uint8_t *data = byte_reader_bytes(&br, gl + bl);
        if (data != NULL && gl <= XID_PART_MAX && bl <= XID_PART_MAX)
            binlog_xid_format(format_id, data, gl, data + gl, bl, g->xid);
        else
            br.failed = true;
    }
    if (br.failed)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "MariaDB Gtid event truncated (body %zu bytes, flags 0x%02x)",
                          ev->body_len, g->flags2);
    return MCSQ_OK;
}

static int decode_xa_prepare(binlog_event *ev, char *errstr, size_t errstr_size)
{
    binlog_xa_prepare *x = &ev->u.xa_prepare;
    byte_reader br;
    byte_reader_init(&br, ev->body, ev->body_len);
    x->one_phase = byte_reader_u8(&br) != 0;
    int64_t format_id = (int32_t)byte_reader_u32(&br);
    uint32_t gl = byte_reader_u32(&br), bl = byte_reader_u32(&br);
    if (br.failed || gl > XID_PART_MAX || bl > XID_PART_MAX)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "XA_prepare event: malformed xid (body %zu bytes)", ev->body_len);
    const uint8_t *data = byte_reader_bytes(&br, gl + bl);
    if (data == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED, "XA_prepare event truncated");
    binlog_xid_format(format_id, data, gl, data + gl, bl, x->xid);
    return MCSQ_OK;
}

int binlog_gtid_decode(binlog_decoder *dec, binlog_event *ev, char *errstr, size_t errstr_size)
{
    (void)dec;
    switch (ev->hdr.type) {
    case BINLOG_GTID_EVENT:
    case BINLOG_ANONYMOUS_GTID_EVENT:
        return decode_mysql_gtid(ev, errstr, errstr_size);
    case BINLOG_GTID_TAGGED_EVENT:
        return decode_tagged_gtid(ev, errstr, errstr_size);
    case BINLOG_MARIA_GTID_EVENT:
        return decode_maria_gtid(ev, errstr, errstr_size);
    default:
        return decode_xa_prepare(ev, errstr, errstr_size);
    }
}
