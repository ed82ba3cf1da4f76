/*
 * Query events: Query, Execute_load_query and MariaDB's Query_compressed.
 * Layout: post-header (thread id, exec time, db length, error code, status
 * variables length), status variables, the default database and a NUL, then
 * the statement text (zlib-compressed in Query_compressed).
 */
#include "tailer/binlog_event.h"
#include "core/byte_reader.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define QUERY_POST_HEADER_LEN 13
#define EXECUTE_LOAD_QUERY_POST_HEADER_LEN 26

enum query_status_code {
    Q_FLAGS2 = 0,
    Q_SQL_MODE = 1,
    Q_CATALOG = 2,
    Q_AUTO_INCREMENT = 3,
    Q_CHARSET = 4,
    Q_TIME_ZONE = 5,
    Q_CATALOG_NZ = 6,
    Q_LC_TIME_NAMES = 7,
    Q_CHARSET_DATABASE = 8,
    Q_TABLE_MAP_FOR_UPDATE = 9,
    Q_MASTER_DATA_WRITTEN = 10,
    Q_INVOKER = 11,
    Q_UPDATED_DB_NAMES = 12,
    Q_MICROSECONDS = 13,
    Q_COMMIT_TS = 14,
    Q_COMMIT_TS2 = 15,
    Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP = 16,
    Q_DDL_LOGGED_WITH_XID = 17,
    Q_DEFAULT_COLLATION_FOR_UTF8MB4 = 18,
    Q_SQL_REQUIRE_PRIMARY_KEY = 19,
    Q_DEFAULT_TABLE_ENCRYPTION = 20,
    Q_MARIA_HRNOW = 128,
    Q_MARIA_XID = 129,
    Q_MARIA_GTID_FLAGS3 = 130,
};

#define OVER_MAX_DBS_IN_EVENT_MTS 254

static void skip_updated_db_names(byte_reader *br)
{
    uint8_t count = byte_reader_u8(br);
    if (count == OVER_MAX_DBS_IN_EVENT_MTS)
        return;
    for (unsigned i = 0; i < count && !br->failed; i++) {
        const uint8_t *nul = memchr(br->p, 0, byte_reader_left(br));
        if (nul == NULL)
            br->failed = true;
        else
            br->p = nul + 1;
    }
}

/* Reads one status variable; returns false on an unknown code (the
 * remaining variables cannot be located then; the text still can). */
static bool read_status_var(byte_reader *br, binlog_query *q)
{
    uint8_t code = byte_reader_u8(br);
    size_t n;
    switch (code) {
    case Q_FLAGS2:
        q->flags2 = byte_reader_u32(br);
        q->has_flags2 = true;
        return true;
    case Q_SQL_MODE:
        q->sql_mode = byte_reader_u64(br);
        q->has_sql_mode = true;
        return true;
    case Q_CATALOG:
        n = byte_reader_u8(br);
        q->catalog.ptr = (const char *)byte_reader_bytes(br, n);
        q->catalog.len = n;
        byte_reader_skip(br, 1);
        return true;
    case Q_CATALOG_NZ:
        n = byte_reader_u8(br);
        q->catalog.ptr = (const char *)byte_reader_bytes(br, n);
        q->catalog.len = n;
        return true;
    case Q_TIME_ZONE:
        byte_reader_skip(br, byte_reader_u8(br));
        return true;
    case Q_AUTO_INCREMENT:
        byte_reader_skip(br, 4);
        return true;
    case Q_CHARSET:
        byte_reader_skip(br, 6);
        return true;
    case Q_LC_TIME_NAMES:
    case Q_CHARSET_DATABASE:
    case Q_DEFAULT_COLLATION_FOR_UTF8MB4:
        byte_reader_skip(br, 2);
        return true;
    case Q_TABLE_MAP_FOR_UPDATE:
    case Q_DDL_LOGGED_WITH_XID:
    case Q_MARIA_XID:
        byte_reader_skip(br, 8);
        return true;
    case Q_MASTER_DATA_WRITTEN:
        byte_reader_skip(br, 4);
        return true;
    case Q_INVOKER:
        byte_reader_skip(br, byte_reader_u8(br));
        byte_reader_skip(br, byte_reader_u8(br));
        return true;
    case Q_UPDATED_DB_NAMES:
        skip_updated_db_names(br);
        return true;
    case Q_MICROSECONDS:
    case Q_MARIA_HRNOW:
        byte_reader_skip(br, 3);
        return true;
    case Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP:
    case Q_SQL_REQUIRE_PRIMARY_KEY:
    case Q_DEFAULT_TABLE_ENCRYPTION:
    case Q_MARIA_GTID_FLAGS3:
        byte_reader_skip(br, 1);
        return true;
    default:
        return false;
    }
}

/* Reads the status variables up to the first unknown code (after which
 * none can be located). Returns false when a known one is cut short: the
 * event is damaged, and values such as sql_mode must not be guessed. */
static bool read_status_vars(const uint8_t *p, size_t len, binlog_query *q)
{
    byte_reader br;
    byte_reader_init(&br, p, len);
    while (byte_reader_left(&br) > 0 && !br.failed) {
        if (!read_status_var(&br, q))
            break;
    }
    return !br.failed;
}

static int scratch_reserve(binlog_decoder *dec, size_t need)
{
    if (need <= dec->scratch_cap)
        return MCSQ_OK;
    uint8_t *p = realloc(dec->scratch, need);
    if (p == NULL)
        return MCSQ_ERR_NOMEM;
    dec->scratch = p;
    dec->scratch_cap = need;
    return MCSQ_OK;
}

/* MariaDB compressed text: 0x80 | algorithm << 4 | n, then an n-byte
 * big-endian uncompressed length, then zlib data. */
static int uncompress_text(binlog_decoder *dec, binlog_query *q, char *errstr, size_t errstr_size)
{
    byte_reader br;
    byte_reader_init(&br, (const uint8_t *)q->text.ptr, q->text.len);
    uint8_t head = byte_reader_u8(&br);
    size_t lenlen = head & 0x07;
    if (br.failed || (head & 0xe0) != 0x80 || lenlen < 1 || lenlen > 4)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "Query_compressed event: bad compression header byte 0x%02x", head);
    size_t ulen = (size_t)byte_reader_uint_be(&br, lenlen);
    /* zlib cannot inflate by more than about 1032:1: a larger claim is a lie
     * (checked before allocating for it) */
    if (br.failed || ulen > BINLOG_MAX_EVENT_SIZE || ulen > byte_reader_left(&br) * 1032 + 64)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "Query_compressed event: bad uncompressed length");
    if (scratch_reserve(dec, ulen + 1) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM,
                          "Query_compressed event: cannot allocate %zu bytes", ulen);
    uLongf out_len = (uLongf)ulen;
    int zrc = uncompress(dec->scratch, &out_len, br.p, (uLong)byte_reader_left(&br));
    if (zrc != Z_OK || out_len != ulen)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "Query_compressed event: zlib data does not inflate to %zu bytes "
                          "(zlib error %d)",
                          ulen, zrc);
    q->text.ptr = (const char *)dec->scratch;
    q->text.len = ulen;
    return MCSQ_OK;
}

int binlog_query_decode(binlog_decoder *dec, binlog_event *ev, char *errstr, size_t errstr_size)
{
    binlog_query *q = &ev->u.query;
    memset(q, 0, sizeof(*q));
    size_t post_len = dec->fmt.post_header_len[ev->hdr.type];
    if (post_len == 0)
        post_len = ev->hdr.type == BINLOG_EXECUTE_LOAD_QUERY_EVENT
                       ? EXECUTE_LOAD_QUERY_POST_HEADER_LEN
                       : QUERY_POST_HEADER_LEN;
    byte_reader br;
    byte_reader_init(&br, ev->body, ev->body_len);
    q->thread_id = byte_reader_u32(&br);
    byte_reader_skip(&br, 4); /* exec time */
    size_t db_len = byte_reader_u8(&br);
    q->error_code = byte_reader_u16(&br);
    size_t status_len = byte_reader_u16(&br);
    if (br.failed || post_len < QUERY_POST_HEADER_LEN)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "%s event: post-header truncated (body %zu bytes)",
                          binlog_event_type_name(ev->hdr.type), ev->body_len);
    byte_reader_init(&br, ev->body, ev->body_len);
    byte_reader_skip(&br, post_len);
    const uint8_t *status = byte_reader_bytes(&br, status_len);
    q->db.ptr = (const char *)byte_reader_bytes(&br, db_len);
    q->db.len = db_len;
    byte_reader_skip(&br, 1); /* NUL after the db name */
    if (br.failed)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "%s event: status variables (%zu bytes) and db name (%zu bytes) "
                          "exceed the %zu-byte body",
                          binlog_event_type_name(ev->hdr.type), status_len, db_len, ev->body_len);
    if (!read_status_vars(status, status_len, q))
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "%s event: a status variable runs past the %zu-byte status block",
                          binlog_event_type_name(ev->hdr.type), status_len);
    q->text.ptr = (const char *)br.p;
    q->text.len = byte_reader_left(&br);
    if (ev->hdr.type == BINLOG_MARIA_QUERY_COMPRESSED_EVENT)
        return uncompress_text(dec, q, errstr, errstr_size);
    return MCSQ_OK;
}
