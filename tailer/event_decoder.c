/*
 * Binlog event decoder: common header, checksum verification and the
 * event-type dispatcher. Event families with more structure live in their
 * own files (event_format.c, event_query.c, event_gtid.c, event_payload.c).
 */
#include "tailer/binlog_event.h"
#include "core/byte_reader.h"
#include "core/crc32.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <stdlib.h>
#include <string.h>

void binlog_decoder_init(binlog_decoder *dec)
{
    memset(dec, 0, sizeof(*dec));
    dec->fmt.binlog_version = 4;
    dec->fmt.header_len = BINLOG_HEADER_LEN;
    dec->fmt.checksum_alg = BINLOG_CHECKSUM_OFF;
    dec->verify_checksums = true;
}

void binlog_decoder_deinit(binlog_decoder *dec)
{
    free(dec->scratch);
    dec->scratch = NULL;
    dec->scratch_cap = 0;
}

int binlog_header_parse(const uint8_t *buf, size_t len, binlog_header *hdr)
{
    byte_reader br;
    byte_reader_init(&br, buf, len);
    hdr->timestamp = byte_reader_u32(&br);
    hdr->type = byte_reader_u8(&br);
    hdr->server_id = byte_reader_u32(&br);
    hdr->event_size = byte_reader_u32(&br);
    hdr->next_pos = byte_reader_u32(&br);
    hdr->flags = byte_reader_u16(&br);
    return br.failed ? MCSQ_ERR_TRUNCATED : MCSQ_OK;
}

static const char *const type_names[] = {
    [BINLOG_START_EVENT_V3] = "Start_v3",
    [BINLOG_QUERY_EVENT] = "Query",
    [BINLOG_STOP_EVENT] = "Stop",
    [BINLOG_ROTATE_EVENT] = "Rotate",
    [BINLOG_INTVAR_EVENT] = "Intvar",
    [BINLOG_LOAD_EVENT] = "Load",
    [BINLOG_SLAVE_EVENT] = "Slave",
    [BINLOG_CREATE_FILE_EVENT] = "Create_file",
    [BINLOG_APPEND_BLOCK_EVENT] = "Append_block",
    [BINLOG_EXEC_LOAD_EVENT] = "Exec_load",
    [BINLOG_DELETE_FILE_EVENT] = "Delete_file",
    [BINLOG_NEW_LOAD_EVENT] = "New_load",
    [BINLOG_RAND_EVENT] = "Rand",
    [BINLOG_USER_VAR_EVENT] = "User_var",
    [BINLOG_FORMAT_DESCRIPTION_EVENT] = "Format_desc",
    [BINLOG_XID_EVENT] = "Xid",
    [BINLOG_BEGIN_LOAD_QUERY_EVENT] = "Begin_load_query",
    [BINLOG_EXECUTE_LOAD_QUERY_EVENT] = "Execute_load_query",
    [BINLOG_TABLE_MAP_EVENT] = "Table_map",
    [BINLOG_PRE_GA_WRITE_ROWS_EVENT] = "Write_rows_v0",
    [BINLOG_PRE_GA_UPDATE_ROWS_EVENT] = "Update_rows_v0",
    [BINLOG_PRE_GA_DELETE_ROWS_EVENT] = "Delete_rows_v0",
    [BINLOG_WRITE_ROWS_EVENT_V1] = "Write_rows_v1",
    [BINLOG_UPDATE_ROWS_EVENT_V1] = "Update_rows_v1",
    [BINLOG_DELETE_ROWS_EVENT_V1] = "Delete_rows_v1",
    [BINLOG_INCIDENT_EVENT] = "Incident",
    [BINLOG_HEARTBEAT_EVENT] = "Heartbeat",
    [BINLOG_IGNORABLE_EVENT] = "Ignorable",
    [BINLOG_ROWS_QUERY_EVENT] = "Rows_query",
    [BINLOG_WRITE_ROWS_EVENT] = "Write_rows",
    [BINLOG_UPDATE_ROWS_EVENT] = "Update_rows",
    [BINLOG_DELETE_ROWS_EVENT] = "Delete_rows",
    [BINLOG_GTID_EVENT] = "Gtid",
    [BINLOG_ANONYMOUS_GTID_EVENT] = "Anonymous_Gtid",
    [BINLOG_PREVIOUS_GTIDS_EVENT] = "Previous_gtids",
    [BINLOG_TRANSACTION_CONTEXT_EVENT] = "Transaction_context",
    [BINLOG_VIEW_CHANGE_EVENT] = "View_change",
    [BINLOG_XA_PREPARE_EVENT] = "XA_prepare",
    [BINLOG_PARTIAL_UPDATE_ROWS_EVENT] = "Partial_update_rows",
    [BINLOG_TRANSACTION_PAYLOAD_EVENT] = "Transaction_payload",
    [BINLOG_HEARTBEAT_V2_EVENT] = "Heartbeat_v2",
    [BINLOG_GTID_TAGGED_EVENT] = "Gtid_tagged",
    [BINLOG_MARIA_ANNOTATE_ROWS_EVENT] = "Annotate_rows",
    [BINLOG_MARIA_BINLOG_CHECKPOINT_EVENT] = "Binlog_checkpoint",
    [BINLOG_MARIA_GTID_EVENT] = "Gtid(MariaDB)",
    [BINLOG_MARIA_GTID_LIST_EVENT] = "Gtid_list",
    [BINLOG_MARIA_START_ENCRYPTION_EVENT] = "Start_encryption",
    [BINLOG_MARIA_QUERY_COMPRESSED_EVENT] = "Query_compressed",
    [BINLOG_MARIA_WRITE_ROWS_COMPRESSED_EVENT_V1] = "Write_rows_compressed_v1",
    [BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_EVENT_V1] = "Update_rows_compressed_v1",
    [BINLOG_MARIA_DELETE_ROWS_COMPRESSED_EVENT_V1] = "Delete_rows_compressed_v1",
    [BINLOG_MARIA_WRITE_ROWS_COMPRESSED_EVENT] = "Write_rows_compressed",
    [BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_EVENT] = "Update_rows_compressed",
    [BINLOG_MARIA_DELETE_ROWS_COMPRESSED_EVENT] = "Delete_rows_compressed",
};

const char *binlog_event_type_name(uint8_t type)
{
    if (type < sizeof(type_names) / sizeof(type_names[0]) && type_names[type] != NULL)
        return type_names[type];
    return "Unknown";
}

#define LOG_EVENT_BINLOG_IN_USE_F 0x1
#define HEADER_FLAGS_OFFSET 17

/* CRC32 of an event. A Format_description event's checksum was computed
 * before the server set the "binlog in use" flag in its header, so that
 * flag is cleared for the computation. */
static uint32_t event_crc32(binlog_header hdr, const uint8_t *buf, size_t len)
{
    if (hdr.type != BINLOG_FORMAT_DESCRIPTION_EVENT || !(hdr.flags & LOG_EVENT_BINLOG_IN_USE_F))
        return crc32_update(0, buf, len);
    uint8_t head[BINLOG_HEADER_LEN];
    memcpy(head, buf, sizeof(head));
    head[HEADER_FLAGS_OFFSET] &= (uint8_t)~LOG_EVENT_BINLOG_IN_USE_F;
    uint32_t crc = crc32_update(0, head, sizeof(head));
    return crc32_update(crc, buf + sizeof(head), len - sizeof(head));
}

/* Checks and strips the trailing CRC32 when the stream carries checksums. */
static int strip_checksum(binlog_decoder *dec, uint8_t alg, const uint8_t *buf, size_t len,
                          binlog_event *ev, char *errstr, size_t errstr_size)
{
    if (alg != BINLOG_CHECKSUM_CRC32)
        return MCSQ_OK;
    if (ev->body_len < BINLOG_CHECKSUM_LEN)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "%s event of %zu bytes has no room for its checksum",
                          binlog_event_type_name(ev->hdr.type), len);
    ev->body_len -= BINLOG_CHECKSUM_LEN;
    if (!dec->verify_checksums)
        return MCSQ_OK;
    const uint8_t *c = buf + len - BINLOG_CHECKSUM_LEN;
    uint32_t stored = (uint32_t)byte_le(c, 4);
    uint32_t computed = event_crc32(ev->hdr, buf, len - BINLOG_CHECKSUM_LEN);
    if (stored != computed)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CHECKSUM,
                          "%s event: CRC32 mismatch (stored %08x, computed %08x)",
                          binlog_event_type_name(ev->hdr.type), stored, computed);
    return MCSQ_OK;
}

static int decode_text_body(binlog_event *ev, size_t skip, binlog_text *out, char *errstr,
                            size_t errstr_size)
{
    if (ev->body_len < skip)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED, "%s event body too short",
                          binlog_event_type_name(ev->hdr.type));
    out->ptr = (const char *)ev->body + skip;
    out->len = ev->body_len - skip;
    return MCSQ_OK;
}

static int decode_xid(binlog_event *ev, char *errstr, size_t errstr_size)
{
    byte_reader br;
    byte_reader_init(&br, ev->body, ev->body_len);
    ev->u.xid = byte_reader_u64(&br);
    if (br.failed)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "Xid event body of %zu bytes, need 8", ev->body_len);
    if (byte_reader_left(&br) != 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "Xid event body of %zu bytes, expected 8", ev->body_len);
    return MCSQ_OK;
}

static int decode_rotate(binlog_decoder *dec, binlog_event *ev, char *errstr, size_t errstr_size)
{
    byte_reader br;
    byte_reader_init(&br, ev->body, ev->body_len);
    ev->u.rotate.position = dec->fmt.binlog_version >= 2 ? byte_reader_u64(&br) : 4;
    if (br.failed || byte_reader_left(&br) == 0 || byte_reader_left(&br) > 512)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "Rotate event body of %zu bytes is malformed", ev->body_len);
    ev->u.rotate.next_file.ptr = (const char *)br.p;
    ev->u.rotate.next_file.len = byte_reader_left(&br);
    return MCSQ_OK;
}

static int decode_incident(binlog_event *ev, char *errstr, size_t errstr_size)
{
    byte_reader br;
    byte_reader_init(&br, ev->body, ev->body_len);
    ev->u.incident.kind = byte_reader_u16(&br);
    size_t mlen = byte_reader_left(&br) > 0 ? byte_reader_u8(&br) : 0;
    const uint8_t *msg = byte_reader_bytes(&br, mlen);
    if (br.failed)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED, "Incident event truncated");
    ev->u.incident.message.ptr = (const char *)msg;
    ev->u.incident.message.len = mlen;
    return MCSQ_OK;
}

/* Validates a Previous_gtids body: a header (format byte in bits 56-63;
 * untagged: n_sids in the low 56 bits; tagged: in bits 8-55), then per sid
 * 16 bytes, a tag (tagged format: varlen length + bytes), n_intervals and 16
 * bytes per interval. Its content is not needed, only its integrity. */
static int decode_previous_gtids(binlog_event *ev, char *errstr, size_t errstr_size)
{
    byte_reader br;
    byte_reader_init(&br, ev->body, ev->body_len);
    uint64_t header = byte_reader_u64(&br);
    bool tagged = (header >> 56) != 0;
    uint64_t n_sids = tagged ? (header >> 8) & ((1ull << 48) - 1) : header & ((1ull << 56) - 1);
    for (uint64_t i = 0; i < n_sids && !br.failed; i++) {
        byte_reader_skip(&br, 16);
        if (tagged)
            byte_reader_skip(&br, (size_t)byte_reader_varlen(&br));
        uint64_t n_intervals = byte_reader_u64(&br);
        if (n_intervals > byte_reader_left(&br) / 16)
            br.failed = true;
        else
            byte_reader_skip(&br, (size_t)n_intervals * 16);
    }
    if (br.failed)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "Previous_gtids event truncated (body %zu bytes)", ev->body_len);
    return MCSQ_OK;
}

static int decode_gtid_list(binlog_event *ev, char *errstr, size_t errstr_size)
{
    byte_reader br;
    byte_reader_init(&br, ev->body, ev->body_len);
    uint32_t count = byte_reader_u32(&br) & 0x0fffffffu;
    if (br.failed || (uint64_t)count * 16 > byte_reader_left(&br))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "Gtid_list event truncated (count %u, body %zu bytes)", count,
                          ev->body_len);
    return MCSQ_OK;
}

static int decode_body(binlog_decoder *dec, binlog_event *ev, char *errstr, size_t errstr_size)
{
    switch (ev->hdr.type) {
    case BINLOG_FORMAT_DESCRIPTION_EVENT:
        return MCSQ_OK; /* decoded before the checksum step */
    case BINLOG_QUERY_EVENT:
    case BINLOG_EXECUTE_LOAD_QUERY_EVENT:
    case BINLOG_MARIA_QUERY_COMPRESSED_EVENT:
        return binlog_query_decode(dec, ev, errstr, errstr_size);
    case BINLOG_MARIA_ANNOTATE_ROWS_EVENT:
        return decode_text_body(ev, 0, &ev->u.rows_query, errstr, errstr_size);
    case BINLOG_ROWS_QUERY_EVENT:
        return decode_text_body(ev, 1, &ev->u.rows_query, errstr, errstr_size);
    case BINLOG_XID_EVENT:
        return decode_xid(ev, errstr, errstr_size);
    case BINLOG_GTID_EVENT:
    case BINLOG_ANONYMOUS_GTID_EVENT:
    case BINLOG_GTID_TAGGED_EVENT:
    case BINLOG_MARIA_GTID_EVENT:
    case BINLOG_XA_PREPARE_EVENT:
        return binlog_gtid_decode(dec, ev, errstr, errstr_size);
    case BINLOG_MARIA_GTID_LIST_EVENT:
        return decode_gtid_list(ev, errstr, errstr_size);
    case BINLOG_PREVIOUS_GTIDS_EVENT:
        return decode_previous_gtids(ev, errstr, errstr_size);
    case BINLOG_ROTATE_EVENT:
        return decode_rotate(dec, ev, errstr, errstr_size);
    case BINLOG_TRANSACTION_PAYLOAD_EVENT:
        return binlog_payload_decode(ev, errstr, errstr_size);
    case BINLOG_INCIDENT_EVENT:
        return decode_incident(ev, errstr, errstr_size);
    case BINLOG_MARIA_START_ENCRYPTION_EVENT:
        return errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                          "encrypted binlog (Start_encryption event): decrypt it or read it "
                          "through the server");
    case BINLOG_START_EVENT_V3:
    case BINLOG_STOP_EVENT:
    case BINLOG_INTVAR_EVENT:
    case BINLOG_LOAD_EVENT:
    case BINLOG_SLAVE_EVENT:
    case BINLOG_CREATE_FILE_EVENT:
    case BINLOG_APPEND_BLOCK_EVENT:
    case BINLOG_EXEC_LOAD_EVENT:
    case BINLOG_DELETE_FILE_EVENT:
    case BINLOG_NEW_LOAD_EVENT:
    case BINLOG_RAND_EVENT:
    case BINLOG_USER_VAR_EVENT:
    case BINLOG_BEGIN_LOAD_QUERY_EVENT:
    case BINLOG_TABLE_MAP_EVENT:
    case BINLOG_PRE_GA_WRITE_ROWS_EVENT:
    case BINLOG_PRE_GA_UPDATE_ROWS_EVENT:
    case BINLOG_PRE_GA_DELETE_ROWS_EVENT:
    case BINLOG_WRITE_ROWS_EVENT_V1:
    case BINLOG_UPDATE_ROWS_EVENT_V1:
    case BINLOG_DELETE_ROWS_EVENT_V1:
    case BINLOG_HEARTBEAT_EVENT:
    case BINLOG_IGNORABLE_EVENT:
    case BINLOG_WRITE_ROWS_EVENT:
    case BINLOG_UPDATE_ROWS_EVENT:
    case BINLOG_DELETE_ROWS_EVENT:
    case BINLOG_TRANSACTION_CONTEXT_EVENT:
    case BINLOG_VIEW_CHANGE_EVENT:
    case BINLOG_PARTIAL_UPDATE_ROWS_EVENT:
    case BINLOG_HEARTBEAT_V2_EVENT:
    case BINLOG_MARIA_BINLOG_CHECKPOINT_EVENT:
    case BINLOG_MARIA_WRITE_ROWS_COMPRESSED_EVENT_V1:
    case BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_EVENT_V1:
    case BINLOG_MARIA_DELETE_ROWS_COMPRESSED_EVENT_V1:
    case BINLOG_MARIA_WRITE_ROWS_COMPRESSED_EVENT:
    case BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_EVENT:
    case BINLOG_MARIA_DELETE_ROWS_COMPRESSED_EVENT:
        return MCSQ_OK; /* recognised; content not needed for invalidation */
    default:
        dec->events_unknown++;
        return MCSQ_OK;
    }
}

int binlog_event_decode(binlog_decoder *dec, const uint8_t *buf, size_t len, binlog_event *ev,
                        char *errstr, size_t errstr_size)
{
    size_t hlen = dec->fmt.header_len;
    if (binlog_header_parse(buf, len, &ev->hdr) != MCSQ_OK || len < hlen)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "event of %zu bytes is shorter than its %zu-byte header", len, hlen);
    if (ev->hdr.event_size != len)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "%s event header says %u bytes but the event has %zu",
                          binlog_event_type_name(ev->hdr.type), ev->hdr.event_size, len);
    ev->body = buf + hlen;
    ev->body_len = len - hlen;
    dec->events++;
    if (ev->hdr.type == BINLOG_FORMAT_DESCRIPTION_EVENT) {
        /* its own checksum algorithm applies to it; the stream's format
         * changes only once the event is known to be intact */
        binlog_format fmt;
        int rc = binlog_fde_decode(ev, &fmt, errstr, errstr_size);
        if (rc == MCSQ_OK)
            rc = strip_checksum(dec, fmt.checksum_alg, buf, len, ev, errstr, errstr_size);
        if (rc == MCSQ_OK)
            dec->fmt = fmt;
        return rc;
    }
    int rc = strip_checksum(dec, dec->fmt.checksum_alg, buf, len, ev, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    return decode_body(dec, ev, errstr, errstr_size);
}

int binlog_event_verify(binlog_decoder *dec, const uint8_t *buf, size_t len, char *errstr,
                        size_t errstr_size)
{
    binlog_event ev;
    size_t hlen = dec->fmt.header_len;
    if (binlog_header_parse(buf, len, &ev.hdr) != MCSQ_OK || len < hlen || ev.hdr.event_size != len)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT, "event header unreadable");
    ev.body = buf + hlen;
    ev.body_len = len - hlen;
    if (ev.hdr.type != BINLOG_FORMAT_DESCRIPTION_EVENT)
        return strip_checksum(dec, dec->fmt.checksum_alg, buf, len, &ev, errstr, errstr_size);
    binlog_format fmt;
    int rc = binlog_fde_decode(&ev, &fmt, errstr, errstr_size);
    if (rc == MCSQ_OK)
        rc = strip_checksum(dec, fmt.checksum_alg, buf, len, &ev, errstr, errstr_size);
    if (rc == MCSQ_OK)
        dec->fmt = fmt;
    return rc;
}
