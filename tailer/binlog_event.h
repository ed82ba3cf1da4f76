/*
 * Binlog events: type codes, the decoded forms of the events the tailer
 * understands, and the decoder that turns one event's raw bytes into them.
 *
 * The decoder keeps the format state of the stream (the last
 * Format_description event: header length, post-header lengths, checksum
 * algorithm), verifies CRC32 checksums, bounds-checks every read and never
 * trusts a length. Decoded events borrow from the input buffer or from the
 * decoder's scratch buffer; they are valid until the next decode call.
 */
#ifndef MCSQ_TAILER_BINLOG_EVENT_H
#define MCSQ_TAILER_BINLOG_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum binlog_event_type {
    BINLOG_UNKNOWN_EVENT = 0,
    BINLOG_START_EVENT_V3 = 1,
    BINLOG_QUERY_EVENT = 2,
    BINLOG_STOP_EVENT = 3,
    BINLOG_ROTATE_EVENT = 4,
    BINLOG_INTVAR_EVENT = 5,
    BINLOG_LOAD_EVENT = 6,
    BINLOG_SLAVE_EVENT = 7,
    BINLOG_CREATE_FILE_EVENT = 8,
    BINLOG_APPEND_BLOCK_EVENT = 9,
    BINLOG_EXEC_LOAD_EVENT = 10,
    BINLOG_DELETE_FILE_EVENT = 11,
    BINLOG_NEW_LOAD_EVENT = 12,
    BINLOG_RAND_EVENT = 13,
    BINLOG_USER_VAR_EVENT = 14,
    BINLOG_FORMAT_DESCRIPTION_EVENT = 15,
    BINLOG_XID_EVENT = 16,
    BINLOG_BEGIN_LOAD_QUERY_EVENT = 17,
    BINLOG_EXECUTE_LOAD_QUERY_EVENT = 18,
    BINLOG_TABLE_MAP_EVENT = 19,
    BINLOG_PRE_GA_WRITE_ROWS_EVENT = 20,
    BINLOG_PRE_GA_UPDATE_ROWS_EVENT = 21,
    BINLOG_PRE_GA_DELETE_ROWS_EVENT = 22,
    BINLOG_WRITE_ROWS_EVENT_V1 = 23,
    BINLOG_UPDATE_ROWS_EVENT_V1 = 24,
    BINLOG_DELETE_ROWS_EVENT_V1 = 25,
    BINLOG_INCIDENT_EVENT = 26,
    BINLOG_HEARTBEAT_EVENT = 27,
    BINLOG_IGNORABLE_EVENT = 28,
    BINLOG_ROWS_QUERY_EVENT = 29,
    BINLOG_WRITE_ROWS_EVENT = 30,
    BINLOG_UPDATE_ROWS_EVENT = 31,
    BINLOG_DELETE_ROWS_EVENT = 32,
    BINLOG_GTID_EVENT = 33,
    BINLOG_ANONYMOUS_GTID_EVENT = 34,
    BINLOG_PREVIOUS_GTIDS_EVENT = 35,
    BINLOG_TRANSACTION_CONTEXT_EVENT = 36,
    BINLOG_VIEW_CHANGE_EVENT = 37,
    BINLOG_XA_PREPARE_EVENT = 38,
    BINLOG_PARTIAL_UPDATE_ROWS_EVENT = 39,
    BINLOG_TRANSACTION_PAYLOAD_EVENT = 40,
    BINLOG_HEARTBEAT_V2_EVENT = 41,
    BINLOG_GTID_TAGGED_EVENT = 42,
    BINLOG_MARIA_ANNOTATE_ROWS_EVENT = 160,
    BINLOG_MARIA_BINLOG_CHECKPOINT_EVENT = 161,
    BINLOG_MARIA_GTID_EVENT = 162,
    BINLOG_MARIA_GTID_LIST_EVENT = 163,
    BINLOG_MARIA_START_ENCRYPTION_EVENT = 164,
    BINLOG_MARIA_QUERY_COMPRESSED_EVENT = 165,
    BINLOG_MARIA_WRITE_ROWS_COMPRESSED_EVENT_V1 = 166,
    BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_EVENT_V1 = 167,
    BINLOG_MARIA_DELETE_ROWS_COMPRESSED_EVENT_V1 = 168,
    BINLOG_MARIA_WRITE_ROWS_COMPRESSED_EVENT = 169,
    BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_EVENT = 170,
    BINLOG_MARIA_DELETE_ROWS_COMPRESSED_EVENT = 171,
};

#define BINLOG_MAGIC                                                                               \
    "\xfe"                                                                                         \
    "bin"
#define BINLOG_MAGIC_LEN 4
#define BINLOG_HEADER_LEN 19 /* v4 common header */
#define BINLOG_CHECKSUM_LEN 4
#define BINLOG_MAX_EVENT_SIZE (1u << 30) /* 1 GiB: max_allowed_packet's ceiling */

#define BINLOG_CHECKSUM_OFF 0
#define BINLOG_CHECKSUM_CRC32 1

/* sql_mode bit (MySQL and MariaDB) */
#define BINLOG_SQL_MODE_NO_BACKSLASH_ESCAPES (1ull << 20)
#define BINLOG_SQL_MODE_ANSI_QUOTES (1ull << 2)

/* MariaDB GTID event flags2 */
#define BINLOG_MARIA_GTID_STANDALONE 0x01
#define BINLOG_MARIA_GTID_GROUP_COMMIT_ID 0x02
#define BINLOG_MARIA_GTID_TRANSACTIONAL 0x04
#define BINLOG_MARIA_GTID_DDL 0x20
#define BINLOG_MARIA_GTID_PREPARED_XA 0x40
#define BINLOG_MARIA_GTID_COMPLETED_XA 0x80

/* Largest XA xid text: "X'<128 hex>',X'<128 hex>',<formatID>" */
#define BINLOG_XID_TEXT_MAX 300
/* "uuid:tag:gno" with a 32-byte tag, or "domain-server-seq" */
#define BINLOG_GTID_TEXT_MAX 96

/* The stream's format, from its Format_description event. */
typedef struct binlog_format {
    uint16_t binlog_version;
    char server_version[51];
    bool mariadb;
    uint8_t header_len;
    uint8_t checksum_alg;
    uint8_t post_header_len[256]; /* by event type; 0 when the FDE does not say */
    uint8_t ntypes;               /* how many types the FDE lists */
} binlog_format;

typedef struct binlog_header {
    uint32_t timestamp;
    uint8_t type;
    uint32_t server_id;
    uint32_t event_size;
    uint32_t next_pos; /* log_pos: end of this event in its file (0 inside payloads) */
    uint16_t flags;
} binlog_header;

typedef struct binlog_text {
    const char *ptr; /* (ref) not NUL-terminated */
    size_t len;
} binlog_text;

typedef struct binlog_query {
    uint32_t thread_id;
    uint16_t error_code;
    binlog_text db;
    binlog_text catalog;
    binlog_text text;
    bool has_flags2;
    uint32_t flags2;
    bool has_sql_mode;
    uint64_t sql_mode;
} binlog_query;

typedef struct binlog_mysql_gtid {
    bool anonymous;
    uint8_t flags;
    uint8_t sid[16];
    int64_t gno;
    char tag[33];                 /* "" when untagged */
    uint64_t immediate_commit_us; /* 0 when the event has none */
    uint64_t original_commit_us;
} binlog_mysql_gtid;

typedef struct binlog_maria_gtid {
    uint64_t seq_no;
    uint32_t domain_id;
    uint8_t flags2;
    char xid[BINLOG_XID_TEXT_MAX]; /* normalised xid when PREPARED_XA/COMPLETED_XA */
} binlog_maria_gtid;

typedef struct binlog_xa_prepare {
    bool one_phase;
    char xid[BINLOG_XID_TEXT_MAX];
} binlog_xa_prepare;

typedef struct binlog_rotate {
    uint64_t position;
    binlog_text next_file;
} binlog_rotate;

typedef struct binlog_payload {
    uint64_t compression; /* 0 zstd, 255 none */
    uint64_t uncompressed_size;
    const uint8_t *data; /* (ref) */
    size_t len;
} binlog_payload;

typedef struct binlog_incident {
    uint16_t kind;
    binlog_text message;
} binlog_incident;

typedef struct binlog_event {
    binlog_header hdr;
    const uint8_t *body; /* (ref) after the header, checksum removed */
    size_t body_len;
    union {
        binlog_query query;           /* QUERY, QUERY_COMPRESSED, EXECUTE_LOAD_QUERY */
        binlog_text rows_query;       /* ANNOTATE_ROWS, ROWS_QUERY */
        uint64_t xid;                 /* XID */
        binlog_mysql_gtid mysql_gtid; /* GTID, ANONYMOUS_GTID, GTID_TAGGED */
        binlog_maria_gtid maria_gtid;
        binlog_xa_prepare xa_prepare;
        binlog_rotate rotate;
        binlog_payload payload;
        binlog_incident incident;
    } u;
} binlog_event;

typedef struct binlog_decoder {
    binlog_format fmt;
    bool verify_checksums;
    uint8_t *scratch; /* decompressed Query text */
    size_t scratch_cap;
    uint64_t events;
    uint64_t events_unknown;
} binlog_decoder;

/* Initialises a decoder for a v4 stream whose Format_description event has
 * not been seen yet. */
void binlog_decoder_init(binlog_decoder *dec);
void binlog_decoder_deinit(binlog_decoder *dec);

/* Decodes one whole event (header, body, checksum) of len bytes into ev.
 * A Format_description event also updates dec->fmt. Returns 0, or
 * MCSQ_ERR_TRUNCATED / MCSQ_ERR_CORRUPT / MCSQ_ERR_CHECKSUM /
 * MCSQ_ERR_UNSUPPORTED / MCSQ_ERR_NOMEM with a message in errstr (the
 * caller adds the file and offset). */
int binlog_event_decode(binlog_decoder *dec, const uint8_t *buf, size_t len, binlog_event *ev,
                        char *errstr, size_t errstr_size);

/* Checks one whole event as binlog_event_decode() would, without decoding
 * its body: header, size, a Format_description (which updates dec->fmt)
 * and the checksum when dec->verify_checksums. Returns 0 or the error
 * binlog_event_decode() would return first for it, except that an
 * unreadable header is always MCSQ_ERR_CORRUPT. */
int binlog_event_verify(binlog_decoder *dec, const uint8_t *buf, size_t len, char *errstr,
                        size_t errstr_size);

/* Reads just the common header (19 bytes); returns 0 or MCSQ_ERR_TRUNCATED. */
int binlog_header_parse(const uint8_t *buf, size_t len, binlog_header *hdr);

/* Name of an event type ("Query", "Xid", ...), "Unknown" for others. */
const char *binlog_event_type_name(uint8_t type);

/* Formats a GTID as text: "domain-server-seq" or "uuid[:tag]:gno".
 * Returns the length written (< BINLOG_GTID_TEXT_MAX). */
size_t binlog_maria_gtid_format(const binlog_maria_gtid *g, uint32_t server_id, char *out);
size_t binlog_mysql_gtid_format(const binlog_mysql_gtid *g, char *out);

/* Normalises an XA xid to "X'<gtrid hex>',X'<bqual hex>',<formatID>" (the
 * form MySQL writes in XA statements). out holds BINLOG_XID_TEXT_MAX. */
void binlog_xid_format(int64_t format_id, const uint8_t *gtrid, size_t gtrid_len,
                       const uint8_t *bqual, size_t bqual_len, char *out);

/* Internal decoders, one per event family (event_*.c). Each returns 0 or a
 * negative mcsq_err with errstr filled. */
int binlog_fde_decode(binlog_event *ev, binlog_format *out, char *errstr, size_t errstr_size);
int binlog_query_decode(binlog_decoder *dec, binlog_event *ev, char *errstr, size_t errstr_size);
int binlog_gtid_decode(binlog_decoder *dec, binlog_event *ev, char *errstr, size_t errstr_size);
int binlog_payload_decode(binlog_event *ev, char *errstr, size_t errstr_size);

#endif
