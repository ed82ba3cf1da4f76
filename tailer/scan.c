/*
 * Scan API (include/mcsqueal/scan.h): binlog files -> events -> committed
 * transactions. Reads the files in order as one stream; descends into
 * Transaction_payload events, whose inner events carry no checksums of
 * their own (the payload event's checksum covers them). When checksums are
 * verified and every input is a regular file, a scan_verifier checks them
 * on another thread, ahead of the decoding; the scan checks only the events
 * it has not vouched for (yet).
 */
#include "mcsqueal/scan.h"
#include "mcsqueal/error.h"
#include "core/errstr.h"
#include "core/log.h"
#include "tailer/binlog_event.h"
#include "tailer/binlog_file.h"
#include "tailer/payload_reader.h"
#include "tailer/scan_verifier.h"
#include "tailer/txn_assembler.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SCAN_ERR_MAX 1024

struct mcsq_scan {
    const char *const *paths; /* (ref) */
    size_t nfiles;
    size_t cur;
    bool file_open;
    binlog_file file;
    binlog_decoder dec;
    payload_reader payload;
    bool in_payload;
    uint8_t saved_checksum_alg;
    binlog_pos payload_pos;
    txn_assembler assembler;
    scan_verifier *verifier; /* NULL: the decoder checks every checksum itself */
    void (*on_event)(void *ctx, const mcsq_event *ev);
    void *event_ctx;
    int failed;               /* sticky error code */
    char error[SCAN_ERR_MAX]; /* its message */
};

/* Whether every path is a regular file (that a second reader can open). */
static bool all_regular(const char *const *paths, size_t nfiles)
{
    for (size_t i = 0; i < nfiles; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0 || !S_ISREG(st.st_mode))
            return false;
    }
    return true;
}

int mcsq_scan_new(mcsq_scan **out, const char *const *paths, size_t nfiles,
                  const mcsq_scan_options *opt, char *errstr, size_t errstr_size)
{
    if (nfiles == 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_USAGE, "no binlog files given");
    mcsq_scan *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory");
    s->paths = paths;
    s->nfiles = nfiles;
    binlog_decoder_init(&s->dec);
    if (opt != NULL) {
        s->dec.verify_checksums = opt->verify_checksums != 0;
        s->on_event = opt->on_event;
        s->event_ctx = opt->event_ctx;
    }
    payload_reader_init(&s->payload);
    txn_assembler_init(&s->assembler, opt ? opt->region : NULL);
    txn_assembler_use_coarse_clock(&s->assembler);
    /* an event listing shows events as they are decoded: no verifier then */
    if (s->dec.verify_checksums && s->on_event == NULL && all_regular(paths, nfiles) &&
        scan_verifier_start(&s->verifier, paths, nfiles) != MCSQ_OK)
        s->verifier = NULL; /* verify inline */
    *out = s;
    return MCSQ_OK;
}

void mcsq_scan_destroy(mcsq_scan *s)
{
    if (s == NULL)
        return;
    scan_verifier_destroy(s->verifier);
    if (s->file_open)
        binlog_file_close(&s->file);
    binlog_decoder_deinit(&s->dec);
    payload_reader_deinit(&s->payload);
    txn_assembler_deinit(&s->assembler);
    free(s);
}

void mcsq_scan_get_stats(const mcsq_scan *s, mcsq_scan_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->events = s->dec.events;
    st->events_unknown = s->dec.events_unknown;
    st->transactions = s->assembler.stats.transactions;
    st->keys = s->assembler.stats.keys;
    st->incidents = s->assembler.stats.incidents;
    for (int i = 0; i < ANNOTATION_REJECT_COUNT; i++)
        st->keys_rejected += s->assembler.ann.rejected[i];
}

/* Records a sticky error "path: offset N: detail". */
static int fail_at(mcsq_scan *s, int rc, uint64_t offset, const char *where, const char *detail)
{
    snprintf(s->error, sizeof(s->error), "%.300s: offset %" PRIu64 "%s: %.600s", s->file.path,
             offset, where, detail);
    s->failed = rc;
    return rc;
}

static int fail_plain(mcsq_scan *s, int rc, const char *msg)
{
    snprintf(s->error, sizeof(s->error), "%.1000s", msg);
    s->failed = rc;
    return rc;
}

/* Passes a decoded event to the caller's listing callback. */
static void report_event(mcsq_scan *s, const binlog_event *ev, const binlog_pos *pos, int inner)
{
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

static void end_payload(mcsq_scan *s)
{
    s->in_payload = false;
    s->dec.fmt.checksum_alg = s->saved_checksum_alg;
}

/* Next inner event of the current payload: 1 = txn, 0 = keep going, <0 error. */
static int step_payload(mcsq_scan *s, const mcsq_txn **txn)
{
    char err[SCAN_ERR_MAX];
    const uint8_t *buf;
    size_t len;
    int rc = payload_reader_next(&s->payload, &buf, &len, err, sizeof(err));
    if (rc == MCSQ_ERR_EOF) {
        end_payload(s);
        return 0;
    }
    binlog_event ev;
    if (rc == MCSQ_OK)
        rc = binlog_event_decode(&s->dec, buf, len, &ev, err, sizeof(err));
    if (rc == MCSQ_OK && s->on_event != NULL)
        report_event(s, &ev, &s->payload_pos, 1);
    if (rc == MCSQ_OK)
        rc = txn_assembler_feed(&s->assembler, &ev, &s->payload_pos, txn, err, sizeof(err));
    if (rc < 0)
        return fail_at(s, rc, s->payload_pos.offset, " (inside Transaction_payload)", err);
    return rc;
}

static int start_payload(mcsq_scan *s, const binlog_event *ev, const binlog_pos *pos)
{
    char err[SCAN_ERR_MAX];
    int rc = payload_reader_open(&s->payload, &ev->u.payload, err, sizeof(err));
    if (rc != MCSQ_OK)
        return fail_at(s, rc, pos->offset, "", err);
    s->in_payload = true;
    s->payload_pos = *pos;
    s->saved_checksum_alg = s->dec.fmt.checksum_alg;
    s->dec.fmt.checksum_alg = BINLOG_CHECKSUM_OFF;
    return 0;
}

/* At the end of the last file: says so when a transaction was left open. */
static void warn_open_group(const mcsq_scan *s)
{
    const txn_assembler *a = &s->assembler;
    if (!a->in_txn && a->keys.nkeys == 0)
        return;
    log_warn("%s: the binlog ends inside a transaction that started at offset %llu; it is "
             "not reported, as its commit was not read",
             s->paths[s->nfiles - 1], (unsigned long long)a->group_pos);
}

static int open_next_file(mcsq_scan *s)
{
    char err[SCAN_ERR_MAX];
    if (s->cur == s->nfiles) {
        warn_open_group(s);
        return MCSQ_ERR_EOF;
    }
    int rc = binlog_file_open(&s->file, s->paths[s->cur], err, sizeof(err));
    if (rc != MCSQ_OK)
        return fail_plain(s, rc, err);
    s->file_open = true;
    binlog_format fresh;
    memset(&fresh, 0, sizeof(fresh));
    fresh.binlog_version = 4;
    fresh.header_len = BINLOG_HEADER_LEN;
    s->dec.fmt = fresh; /* every file starts with its own Format_description */
    return MCSQ_OK;
}

/* Next top-level event: 1 = txn, 0 = keep going, <0 error or EOF. */
static int step_file(mcsq_scan *s, const mcsq_txn **txn)
{
    char err[SCAN_ERR_MAX];
    if (!s->file_open) {
        int rc = open_next_file(s);
        if (rc != MCSQ_OK)
            return rc;
    }
    const uint8_t *buf;
    size_t len;
    uint64_t off;
    int rc = binlog_file_next(&s->file, &buf, &len, &off, err, sizeof(err));
    if (rc == MCSQ_ERR_EOF) {
        binlog_file_close(&s->file);
        s->file_open = false;
        s->cur++;
        return 0;
    }
    if (rc != MCSQ_OK)
        return fail_plain(s, rc, err);
    binlog_event ev;
    if (s->verifier != NULL) /* found intact already? */
        s->dec.verify_checksums =
            !scan_verifier_covers(s->verifier, SCAN_VERIFIER_POS(s->cur, off + len));
    rc = binlog_event_decode(&s->dec, buf, len, &ev, err, sizeof(err));
    if (rc != MCSQ_OK)
        return fail_at(s, rc, off, "", err);
    binlog_pos pos = {s->file.name, off, off + len};
    if (s->on_event != NULL)
        report_event(s, &ev, &pos, 0);
    if (ev.hdr.type == BINLOG_TRANSACTION_PAYLOAD_EVENT)
        return start_payload(s, &ev, &pos);
    rc = txn_assembler_feed(&s->assembler, &ev, &pos, txn, err, sizeof(err));
    if (rc < 0)
        return fail_at(s, rc, off, "", err);
    return rc;
}

int mcsq_scan_next(mcsq_scan *s, const mcsq_txn **txn, char *errstr, size_t errstr_size)
{
    int rc = 0;
    while (s->failed == 0 && rc == 0)
        rc = s->in_payload ? step_payload(s, txn) : step_file(s, txn);
    if (rc == 1)
        return MCSQ_OK;
    if (rc == MCSQ_ERR_EOF)
        return MCSQ_ERR_EOF;
    return errstr_set(errstr, errstr_size, s->failed, "%s", s->error);
}
