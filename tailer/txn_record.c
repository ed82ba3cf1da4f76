/*
 * Transaction record (see txn_record.h): one allocation for the struct,
 * the key descriptors, the key bytes, the GTID, the file name and the
 * resume GTID state; from malloc or from a txn_slab_pool. The strings are
 * as long as they are (a binlog file name is usually 14 bytes), so a record
 * of a small transaction fits in a few cache lines.
 */
#include "tailer/txn_record.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* String lengths and total size of the record of txn. */
typedef struct record_layout {
    size_t gtid_len, file_len, resume_size, key_bytes, size;
} record_layout;

static void layout(const mcsq_txn *txn, const char *resume_gtid, record_layout *l)
{
    l->gtid_len = strlen(txn->gtid);
    l->file_len = strnlen(txn->file, BINLOG_FILE_MAX - 1);
    l->resume_size = resume_gtid ? strlen(resume_gtid) + 1 : 0;
    assert(l->resume_size <= BINLOG_GTID_STATE_MAX); /* the reader's GTID state bound */
    l->key_bytes = 0;
    for (size_t i = 0; i < txn->nkeys; i++)
        l->key_bytes += txn->keys[i].len;
    l->size = sizeof(txn_record) + txn->nkeys * sizeof(mcsq_key) + l->key_bytes + l->gtid_len + 1 +
              l->file_len + 1 + l->resume_size;
}

static void fill(txn_record *rec, const record_layout *l, const mcsq_txn *txn,
                 const char *resume_gtid)
{
    rec->next = NULL;
    rec->slab = NULL;
    rec->spill = NULL;
    rec->pos = txn->pos;
    rec->end_pos = txn->end_pos;
    rec->commit_us = txn->commit_us;
    rec->read_us = txn->read_us;
    rec->commit_exact = txn->commit_exact;
    rec->nkeys = txn->nkeys;
    rec->nmarkers = txn->nmarkers;
    rec->keys = (mcsq_key *)(rec + 1);
    char *bytes = (char *)(rec->keys + txn->nkeys);
    for (size_t i = 0; i < txn->nkeys; i++) {
        memcpy(bytes, txn->keys[i].data, txn->keys[i].len);
        rec->keys[i] = (mcsq_key){bytes, txn->keys[i].len, txn->keys[i].marker};
        bytes += txn->keys[i].len;
    }
    memcpy(bytes, txn->gtid, l->gtid_len);
    bytes[l->gtid_len] = '\0';
    rec->gtid = bytes;
    rec->gtid_len = l->gtid_len;
    bytes += l->gtid_len + 1;
    memcpy(bytes, txn->file, l->file_len);
    bytes[l->file_len] = '\0';
    rec->file = bytes;
    rec->file_len = l->file_len;
    bytes += l->file_len + 1;
    rec->resume_gtid = NULL;
    rec->resume_gtid_len = 0;
    if (resume_gtid != NULL) {
        memcpy(bytes, resume_gtid, l->resume_size);
        rec->resume_gtid = bytes;
        rec->resume_gtid_len = l->resume_size - 1;
    }
    rec->bytes = l->size;
}

txn_record *txn_record_new(const mcsq_txn *txn, const char *resume_gtid)
{
    record_layout l;
    layout(txn, resume_gtid, &l);
    txn_record *rec = malloc(l.size);
    if (rec != NULL)
        fill(rec, &l, txn, resume_gtid);
    return rec;
}

txn_record *txn_record_new_in(txn_slab_pool *pool, const mcsq_txn *txn, const char *resume_gtid)
{
    record_layout l;
    layout(txn, resume_gtid, &l);
    txn_slab *slab;
    txn_record *rec = txn_slab_alloc(pool, l.size, &slab);
    if (rec == NULL)
        return NULL;
    fill(rec, &l, txn, resume_gtid);
    rec->slab = slab;
    return rec;
}

void txn_record_free(txn_record *rec)
{
    if (rec == NULL)
        return;
    key_spill_free(rec->spill);
    if (rec->slab != NULL)
        txn_slab_release(rec->slab);
    else
        free(rec);
}

void txn_record_resume(const txn_record *rec, binlog_position *out)
{
    memcpy(out->file, rec->file, rec->file_len + 1); /* already cut to fit */
    out->pos = rec->end_pos;
    if (rec->resume_gtid != NULL)
        memcpy(out->gtid, rec->resume_gtid, rec->resume_gtid_len + 1); /* fits: see layout() */
    else
        out->gtid[0] = '\0';
}

void txn_record_view(const txn_record *rec, mcsq_txn *out)
{
    out->gtid = rec->gtid;
    out->file = rec->file;
    out->pos = rec->pos;
    out->end_pos = rec->end_pos;
    out->commit_us = rec->commit_us;
    out->read_us = rec->read_us;
    out->commit_exact = rec->commit_exact;
    out->keys = rec->keys;
    out->nkeys = rec->nkeys;
    out->nmarkers = rec->nmarkers;
}
