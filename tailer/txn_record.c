/*
 * Transaction record (see txn_record.h): one allocation for the struct,
 * the key descriptors, the key bytes and the resume GTID state; from
 * malloc or from a txn_slab_pool.
 */
#include "tailer/txn_record.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies a NUL-terminated string into a fixed field, cut to fit. */
static void copy_field(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Bytes of the record of txn with a resume GTID state of gtid_size bytes. */
static size_t record_size(const mcsq_txn *txn, size_t gtid_size)
{
    size_t key_bytes = 0;
    for (size_t i = 0; i < txn->nkeys; i++)
        key_bytes += txn->keys[i].len;
    return sizeof(txn_record) + txn->nkeys * sizeof(mcsq_key) + key_bytes + gtid_size;
}

static void fill(txn_record *rec, size_t size, const mcsq_txn *txn, const char *resume_gtid,
                 size_t gtid_size)
{
    memset(rec, 0, offsetof(txn_record, gtid));
    copy_field(rec->gtid, sizeof(rec->gtid), txn->gtid);
    copy_field(rec->file, sizeof(rec->file), txn->file);
    memcpy(rec->resume.file, rec->file, strlen(rec->file) + 1);
    rec->resume.pos = txn->end_pos;
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
    rec->resume.gtid = NULL;
    if (resume_gtid != NULL) { /* in the same allocation; never freed alone */
        memcpy(bytes, resume_gtid, gtid_size);
        rec->resume.gtid = bytes;
    }
    rec->bytes = size;
}

txn_record *txn_record_new(const mcsq_txn *txn, const char *resume_gtid)
{
    size_t gtid_size = resume_gtid ? strlen(resume_gtid) + 1 : 0;
    size_t size = record_size(txn, gtid_size);
    txn_record *rec = malloc(size);
    if (rec != NULL)
        fill(rec, size, txn, resume_gtid, gtid_size);
    return rec;
}

txn_record *txn_record_new_in(txn_slab_pool *pool, const mcsq_txn *txn, const char *resume_gtid)
{
    size_t gtid_size = resume_gtid ? strlen(resume_gtid) + 1 : 0;
    size_t size = record_size(txn, gtid_size);
    txn_slab *slab;
    txn_record *rec = txn_slab_alloc(pool, size, &slab);
    if (rec == NULL)
        return NULL;
    fill(rec, size, txn, resume_gtid, gtid_size);
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
