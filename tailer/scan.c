/*
 * Scan API (include/mcsqueal/scan.h): binlog files -> events -> committed
 * transactions: a binlog_file_source read through the binlog stage (which
 * descends into Transaction_payload events). When checksums are verified,
 * every input is a regular file and no event listing is asked for, the
 * file source checks them on another thread, ahead of the decoding.
 */
#include "mcsqueal/scan.h"
#include "mcsqueal/error.h"
#include "core/errstr.h"
#include "core/log.h"
#include "tailer/binlog_event.h"
#include "tailer/binlog_file_source.h"
#include "tailer/binlog_stage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_ERR_MAX 1024

struct mcsq_scan {
    binlog_file_source files;
    binlog_stage stage;
    void (*on_event)(void *ctx, const mcsq_event *ev);
    void *event_ctx;
    int failed;               /* sticky error code */
    char error[SCAN_ERR_MAX]; /* its message */
};

/* Passes a decoded event to the caller's listing callback. */
static void report_event(void *ctx, const binlog_event *ev, const binlog_pos *pos, int inner)
{
    mcsq_scan *s = ctx;
    char gtid[BINLOG_GTID_TEXT_MAX];
    mcsq_event e = {
        pos->file, pos->offset, pos->end, inner, ev->hdr.type, binlog_event_type_name(ev->hdr.type),
        NULL,      0,           NULL};
    switch (ev->hdr.type) {
    case BINLOG_QUERY_EVENT:
    case BINLOG_EXECUTE_LOAD_QUERY_EVENT:
    case BINLOG_MARIA_QUERY_COMPRESSED_EVENT:
        e.text = ev->u.query.text.ptr;
        e.text_len = ev->u.query.text.len;
        break;
    case BINLOG_MARIA_ANNOTATE_ROWS_EVENT:
    case BINLOG_ROWS_QUERY_EVENT:
        e.text = ev->u.rows_query.ptr;
        e.text_len = ev->u.rows_query.len;
        break;
    case BINLOG_GTID_EVENT:
    case BINLOG_GTID_TAGGED_EVENT:
        binlog_mysql_gtid_format(&ev->u.mysql_gtid, gtid);
        e.gtid = gtid;
        break;
    case BINLOG_MARIA_GTID_EVENT:
        binlog_maria_gtid_format(&ev->u.maria_gtid, ev->hdr.server_id, gtid);
        e.gtid = gtid;
        break;
    default:
        break;
    }
    s->on_event(s->event_ctx, &e);
}

int mcsq_scan_new(mcsq_scan **out, const char *const *paths, size_t nfiles,
                  const mcsq_scan_options *opt, char *errstr, size_t errstr_size)
{
    if (nfiles == 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_USAGE, "no binlog files given");
    mcsq_scan *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    bool verify = false;
    if (opt != NULL) {
        verify = opt->verify_checksums != 0;
        s->on_event = opt->on_event;
        s->event_ctx = opt->event_ctx;
    }
    /* an event listing shows events as they are decoded: no verifier then */
    binlog_file_source_init(&s->files, paths, nfiles, verify, s->on_event == NULL);
    binlog_source src = binlog_file_source_as_source(&s->files);
    binlog_stage_init(&s->stage, &src, opt ? opt->region : NULL);
    s->stage.dec.verify_checksums = verify;
    txn_assembler_use_coarse_clock(&s->stage.assembler);
    if (s->on_event != NULL)
        binlog_stage_observe(&s->stage, report_event, s);
    *out = s;
    return MCSQ_OK;
}

void mcsq_scan_destroy(mcsq_scan *s)
{
    if (s == NULL)
        return;
    binlog_file_source_deinit(&s->files);
    binlog_stage_deinit(&s->stage);
    free(s);
}

void mcsq_scan_get_stats(const mcsq_scan *s, mcsq_scan_stats *st)
{
    const txn_assembler *a = &s->stage.assembler;
    memset(st, 0, sizeof(*st));
    st->events = s->stage.dec.events;
    st->events_unknown = s->stage.dec.events_unknown;
    st->transactions = a->stats.transactions;
    st->keys = a->stats.keys;
    st->incidents = a->stats.incidents;
    for (int i = 0; i < ANNOTATION_REJECT_COUNT; i++)
        st->keys_rejected += a->ann.rejected[i];
}

/* At the end of the last file: says so when a transaction was left open. */
static void warn_open_group(const mcsq_scan *s)
{
    const txn_assembler *a = &s->stage.assembler;
    if (!a->in_txn && a->keys.nkeys == 0)
        return;
    log_warn("%s: the binlog ends inside a transaction that started at offset %llu; it is "
             "not reported, as its commit was not read",
             s->files.paths[s->files.nfiles - 1], (unsigned long long)a->group_pos);
}

int mcsq_scan_next(mcsq_scan *s, const mcsq_txn **txn, char *errstr, size_t errstr_size)
{
    if (s->failed == 0) {
        int rc = binlog_stage_next(&s->stage, txn, s->error, sizeof(s->error));
        if (rc == MCSQ_OK)
            return MCSQ_OK;
        if (rc == MCSQ_ERR_EOF) {
            warn_open_group(s);
            return MCSQ_ERR_EOF;
        }
        s->failed = rc;
    }
    return errstr_set(errstr, errstr_size, s->failed, "%s", s->error);
}
