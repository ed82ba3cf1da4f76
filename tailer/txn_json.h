/*
 * JSON form of a committed transaction, as in the bus message contract
 * (a `txns` entry) and in `mcsqueal scan` output (plus file and end_pos).
 */
#ifndef MCSQ_TAILER_TXN_JSON_H
#define MCSQ_TAILER_TXN_JSON_H

#include "core/strbuf.h"
#include "mcsqueal/scan.h"

#include <stdbool.h>

/* Appends {"gtid":...,"pos":"file:offset","commit_us":...,"commit_exact":true,
 * "read_us":...,"keys":[...],"markers":[...]} ("markers" only when non-empty;
 * "gtid" only when known; "commit_exact" only when commit_us is exact: from
 * a @probe or a MySQL 8 GTID event's microsecond timestamp). With `scan_fields`, also "file" and
 * "end_pos". */
void txn_json_append(strbuf *sb, const mcsq_txn *txn, bool scan_fields);

/* The same when the lengths of txn->gtid and txn->file are known. */
void txn_json_append_n(strbuf *sb, const mcsq_txn *txn, size_t gtid_len, size_t file_len,
                       bool scan_fields);

#endif
