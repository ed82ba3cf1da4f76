/*
 * Format_description event: the stream's binlog version, server version,
 * common-header length, per-type post-header lengths and checksum algorithm.
 * Servers from MySQL 5.6.1 and MariaDB 5.3 on end it with a checksum
 * algorithm byte and a 4-byte checksum slot; older ones do not.
 */
#include "tailer/binlog_event.h"
#include "core/byte_reader.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <stdio.h>
#include <string.h>

#define FDE_FIXED_LEN (2 + 50 + 4 + 1)

/* Parses "X.Y.Z..." into a comparable number X*10000+Y*100+Z. */
static unsigned version_number(const char *v)
{
    unsigned major = 0, minor = 0, patch = 0;
    if (sscanf(v, "%u.%u.%u", &major, &minor, &patch) < 1)
        return 0;
    return major * 10000 + minor * 100 + patch;
}

static bool has_checksum_footer(const binlog_format *fmt)
{
    unsigned v = version_number(fmt->server_version);
    return fmt->mariadb ? v >= 50300 : v >= 50601;
}

/* Post-header lengths every released v4 server writes for these types.
 * Development builds of the 5.1/5.2 era numbered events differently; their
 * events would be misread (a Table_map taken for an Xid), so such a stream
 * is refused instead of half-understood. */
static int check_standard_numbering(const binlog_format *fmt, char *errstr, size_t errstr_size)
{
    static const struct {
        uint8_t type;
        uint8_t post_header_len;
    } expected[] = {
        {BINLOG_QUERY_EVENT, 13},
        {BINLOG_ROTATE_EVENT, 8},
        {BINLOG_XID_EVENT, 0},
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        uint8_t type = expected[i].type;
        if (type > fmt->ntypes || fmt->post_header_len[type] == expected[i].post_header_len)
            continue;
        return errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                          "Format_description event (server %s) gives %s events a %u-byte "
                          "post-header, not %u: a non-standard event numbering (development "
                          "build) that cannot be decoded safely",
                          fmt->server_version, binlog_event_type_name(type),
                          fmt->post_header_len[type], expected[i].post_header_len);
    }
    return MCSQ_OK;
}

int binlog_fde_decode(binlog_event *ev, binlog_format *out, char *errstr, size_t errstr_size)
{
    byte_reader br;
    byte_reader_init(&br, ev->body, ev->body_len);
    binlog_format fmt;
    memset(&fmt, 0, sizeof(fmt));
    fmt.binlog_version = byte_reader_u16(&br);
    const uint8_t *ver = byte_reader_bytes(&br, 50);
    byte_reader_skip(&br, 4); /* created */
    fmt.header_len = byte_reader_u8(&br);
    if (br.failed)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                          "Format_description event body of %zu bytes, need at least %d",
                          ev->body_len, FDE_FIXED_LEN);
    memcpy(fmt.server_version, ver, 50);
    fmt.server_version[50] = '\0';
    fmt.mariadb = strstr(fmt.server_version, "MariaDB") != NULL;
    if (fmt.binlog_version != 4)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                          "binlog format version %u (server %s) is not supported; version 4 "
                          "(MySQL 5.0 and later) is",
                          fmt.binlog_version, fmt.server_version);
    if (fmt.header_len < BINLOG_HEADER_LEN)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CORRUPT,
                          "Format_description event: header length %u is below %d", fmt.header_len,
                          BINLOG_HEADER_LEN);
    size_t ntypes = byte_reader_left(&br);
    fmt.checksum_alg = BINLOG_CHECKSUM_OFF;
    if (has_checksum_footer(&fmt)) {
        if (ntypes < 1 + BINLOG_CHECKSUM_LEN)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_TRUNCATED,
                              "Format_description event lacks its checksum footer");
        ntypes -= 1 + BINLOG_CHECKSUM_LEN;
        fmt.checksum_alg = br.p[ntypes];
        if (fmt.checksum_alg != BINLOG_CHECKSUM_OFF && fmt.checksum_alg != BINLOG_CHECKSUM_CRC32)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_UNSUPPORTED,
                              "Format_description event: unknown checksum algorithm %u",
                              fmt.checksum_alg);
    }
    if (ntypes > 255)
        ntypes = 255;
    for (size_t i = 0; i < ntypes; i++)
        fmt.post_header_len[i + 1] = br.p[i];
    fmt.ntypes = (uint8_t)ntypes;
    int rc = check_standard_numbering(&fmt, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    /* The footer of an FDE without checksum (alg OFF) is not stripped by
     * the checksum step: shorten the body here instead. */
    if (has_checksum_footer(&fmt) && fmt.checksum_alg == BINLOG_CHECKSUM_OFF)
        ev->body_len -= BINLOG_CHECKSUM_LEN;
    *out = fmt;
    return MCSQ_OK;
}
