/*
 * JSON encoding of a transaction (see txn_json.h). Hand-written appends:
 * this runs once per transaction of a whole binlog.
 */
#include "tailer/txn_json.h"

static void append_keys(strbuf *sb, const mcsq_txn *txn, bool markers_only)
{
    strbuf_putc(sb, '[');
    bool first = true;
    for (size_t i = 0; i < txn->nkeys; i++) {
        const mcsq_key *k = &txn->keys[i];
        if (markers_only && !k->marker)
            continue;
        if (!first)
            strbuf_putc(sb, ',');
        first = false;
        strbuf_append_json_string(sb, k->data, k->len);
    }
    strbuf_putc(sb, ']');
}

void txn_json_append(strbuf *sb, const mcsq_txn *txn, bool scan_fields)
{
    txn_json_append_n(sb, txn, strlen(txn->gtid), strlen(txn->file), scan_fields);
}

void txn_json_append_n(strbuf *sb, const mcsq_txn *txn, size_t gtid_len, size_t file_len,
                       bool scan_fields)
{
    strbuf_putc(sb, '{');
    if (gtid_len > 0) {
        strbuf_lit(sb, "\"gtid\":");
        strbuf_append_json_string(sb, txn->gtid, gtid_len);
        strbuf_putc(sb, ',');
    }
    strbuf_lit(sb, "\"pos\":\"");
    strbuf_append_json_chars(sb, txn->file, file_len);
    strbuf_putc(sb, ':');
    strbuf_append_u64(sb, txn->pos);
    strbuf_lit(sb, "\",\"commit_us\":");
    strbuf_append_i64(sb, txn->commit_us);
    if (txn->commit_exact)
        strbuf_lit(sb, ",\"commit_exact\":true");
    strbuf_lit(sb, ",\"read_us\":");
    strbuf_append_i64(sb, txn->read_us);
    strbuf_lit(sb, ",\"keys\":");
    append_keys(sb, txn, false);
    if (txn->nmarkers > 0) {
        strbuf_lit(sb, ",\"markers\":");
        append_keys(sb, txn, true);
    }
    if (scan_fields) {
        strbuf_lit(sb, ",\"file\":");
        strbuf_append_json_string(sb, txn->file, file_len);
        strbuf_lit(sb, ",\"end_pos\":");
        strbuf_append_u64(sb, txn->end_pos);
    }
    strbuf_putc(sb, '}');
}
