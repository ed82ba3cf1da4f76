/*
 * Transaction assembler (see txn_assembler.h). A group opens at a GTID
 * event, BEGIN or XA START; statements and row annotations add their keys;
 * the commit event emits them. Prepared XA transactions wait in a list
 * until their XA COMMIT (emit) or XA ROLLBACK (drop), which may come in a
 * later group, file or session.
 */
#include "tailer/txn_assembler.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <time.h>

struct xa_prepared {
    xa_prepared *next;
    char xid[BINLOG_XID_TEXT_MAX];
    key_set keys;
    key_spill *spill; /* spilled keys of a very large prepared transaction */
};

typedef enum stmt_kind {
    STMT_OTHER,
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT, /* SAVEPOINT, ROLLBACK TO, RELEASE SAVEPOINT: stay in the group */
    STMT_XA_START,
    STMT_XA_END,
    STMT_XA_PREPARE,
    STMT_XA_COMMIT,
    STMT_XA_ROLLBACK,
} stmt_kind;

static log_ratelimit group_log = LOG_RATELIMIT_INIT(10, 5);

void txn_assembler_init(txn_assembler *a, const char *region)
{
    memset(a, 0, sizeof(*a));
    if (region != NULL) {
        size_t n = strlen(region);
        a->region_len = n < sizeof(a->region) ? n : sizeof(a->region) - 1;
        memcpy(a->region, region, a->region_len);
    }
    annotation_stats_init(&a->ann);
    key_set_init(&a->keys);
    key_set_init(&a->out_keys);
}

void txn_assembler_set_spill(txn_assembler *a, const char *dir, size_t max_bytes)
{
    a->spill_dir = dir;
    a->spill_max = max_bytes;
}

key_spill *txn_assembler_take_spill(txn_assembler *a)
{
    key_spill *sp = a->out_spill;
    a->out_spill = NULL;
    return sp;
}

void txn_assembler_deinit(txn_assembler *a)
{
    while (a->prepared != NULL) {
        xa_prepared *next = a->prepared->next;
        key_set_deinit(&a->prepared->keys);
        key_spill_free(a->prepared->spill);
        free(a->prepared);
        a->prepared = next;
    }
    key_spill_free(a->spill);
    key_spill_free(a->out_spill);
    key_set_deinit(&a->keys);
    key_set_deinit(&a->out_keys);
}

/* ---- statement classification ---- */

static bool is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$';
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end &&
           (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v'))
        p++;
    return p;
}

/* Matches a case-insensitive keyword at *p followed by a non-identifier
 * character; advances *p past it and following space. */
static bool match_word(const char **p, const char *end, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(end - *p) < n || strncasecmp(*p, word, n) != 0)
        return false;
    if (*p + n < end && is_ident_char((*p)[n]))
        return false;
    *p = skip_space(*p + n, end);
    return true;
}

static stmt_kind classify_xa(const char **p, const char *end)
{
    if (match_word(p, end, "START") || match_word(p, end, "BEGIN"))
        return STMT_XA_START;
    if (match_word(p, end, "END"))
        return STMT_XA_END;
    if (match_word(p, end, "PREPARE"))
        return STMT_XA_PREPARE;
    if (match_word(p, end, "COMMIT"))
        return STMT_XA_COMMIT;
    if (match_word(p, end, "ROLLBACK"))
        return STMT_XA_ROLLBACK;
    return STMT_OTHER;
}

/* Classifies a statement by its first words; *rest points after them. */
static stmt_kind classify(const char *text, size_t len, const char **rest)
{
    const char *end = text + len;
    const char *p = skip_space(text, end);
    stmt_kind kind = STMT_OTHER;
    if (match_word(&p, end, "BEGIN"))
        kind = STMT_BEGIN;
    else if (match_word(&p, end, "START"))
        kind = match_word(&p, end, "TRANSACTION") ? STMT_BEGIN : STMT_OTHER;
    else if (match_word(&p, end, "COMMIT"))
        kind = STMT_COMMIT;
    else if (match_word(&p, end, "ROLLBACK"))
        kind = match_word(&p, end, "TO") ? STMT_SAVEPOINT : STMT_ROLLBACK;
    else if (match_word(&p, end, "SAVEPOINT") || match_word(&p, end, "RELEASE"))
        kind = STMT_SAVEPOINT;
    else if (match_word(&p, end, "XA"))
        kind = classify_xa(&p, end);
    *rest = p;
    return kind;
}

/* ---- XA xid text ---- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses one xid part: X'hex', 0xhex, 'text' or "text". */
static bool parse_xid_part(const char **pp, const char *end, uint8_t *out, size_t *out_len)
{
    const char *p = *pp;
    size_t n = 0;
    if (p + 1 < end && (*p == 'X' || *p == 'x') && p[1] == '\'') {
        for (p += 2; p + 1 < end && *p != '\'' && n < 64; p += 2) {
            int hi = hex_value(p[0]), lo = hex_value(p[1]);
            if (hi < 0 || lo < 0)
                return false;
            out[n++] = (uint8_t)(hi << 4 | lo);
        }
        if (p >= end || *p != '\'')
            return false;
        p++;
    } else if (p + 1 < end && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        for (p += 2; p + 1 < end && hex_value(p[0]) >= 0 && hex_value(p[1]) >= 0 && n < 64; p += 2)
            out[n++] = (uint8_t)(hex_value(p[0]) << 4 | hex_value(p[1]));
    } else if (p < end && (*p == '\'' || *p == '"')) {
        char q = *p++;
        while (p < end && *p != q && n < 64)
            out[n++] = (uint8_t)*p++;
        if (p >= end || *p != q)
            return false;
        p++;
    } else {
        return false;
    }
    *pp = skip_space(p, end);
    *out_len = n;
    return true;
}

int txn_xid_parse(const char *text, size_t len, char *out)
{
    const char *end = text + len;
    const char *p = skip_space(text, end);
    uint8_t gtrid[64], bqual[64];
    size_t gl = 0, bl = 0;
    long long format_id = 1;
    if (!parse_xid_part(&p, end, gtrid, &gl))
        return MCSQ_ERR_INVALID;
    if (p < end && *p == ',') {
        p = skip_space(p + 1, end);
        if (!parse_xid_part(&p, end, bqual, &bl))
            return MCSQ_ERR_INVALID;
        if (p < end && *p == ',') {
            p = skip_space(p + 1, end);
            char *num_end;
            char buf[24];
            size_t n = (size_t)(end - p) < sizeof(buf) - 1 ? (size_t)(end - p) : sizeof(buf) - 1;
            memcpy(buf, p, n);
            buf[n] = '\0';
            format_id = strtoll(buf, &num_end, 10);
            if (num_end == buf)
                return MCSQ_ERR_INVALID;
        }
    }
    binlog_xid_format(format_id, gtrid, gl, bqual, bl, out);
    return MCSQ_OK;
}

/* ---- keys ---- */

/* Moves the open group's in-memory keys to its spill file. A failure is
 * noted with its errno, which txn_assembler_feed() reports. */
static void spill_keys(txn_assembler *a)
{
    errno = 0;
    if ((a->spill == NULL && (a->spill = key_spill_new(a->spill_dir)) == NULL) ||
        key_spill_write(a->spill, a->keys.keys, a->keys.nkeys) != MCSQ_OK) {
        a->spill_errno = errno != 0 ? errno : EIO;
        return;
    }
    key_set_reset(&a->keys);
}

static void on_key(void *ctx, const char *key, size_t len, const char *marker, size_t marker_len)
{
    txn_assembler *a = ctx;
    int is_marker = a->region_len > 0 && marker_len == a->region_len &&
                    memcmp(marker, a->region, marker_len) == 0;
    if (key_set_add(&a->keys, key, len, is_marker) != MCSQ_OK)
        a->nomem = true;
    else if (a->spill_dir != NULL && key_set_memory(&a->keys) > a->spill_max)
        spill_keys(a);
}

static void on_probe(void *ctx, int64_t probe_us)
{
    txn_assembler *a = ctx;
    if (probe_us > a->probe_us)
        a->probe_us = probe_us;
}

/* Lexing flags for statement text that ran under sql_mode. */
static unsigned mode_flags(uint64_t sql_mode)
{
    unsigned flags = 0;
    if (sql_mode & BINLOG_SQL_MODE_NO_BACKSLASH_ESCAPES)
        flags |= ANNOTATION_NO_BACKSLASH_ESCAPES;
    if (sql_mode & BINLOG_SQL_MODE_ANSI_QUOTES)
        flags |= ANNOTATION_ANSI_QUOTES;
    return flags;
}

/* Lexing flags for statement text that carries no sql_mode of its own
 * (Annotate_rows, Rows_query, a Query event without one): the mode of the
 * group's last Query event, presumed to be the session's still, or, when
 * the group has had none (MariaDB's row format: its GTID event stands for
 * BEGIN), unknown. Either way a string literal never becomes an annotation
 * (see annotation.h). */
static unsigned group_flags(const txn_assembler *a)
{
    if (!a->sql_mode_known)
        return ANNOTATION_MODE_UNKNOWN;
    return mode_flags(a->sql_mode) | ANNOTATION_MODE_PRESUMED;
}

static void add_statement_keys(txn_assembler *a, const char *text, size_t len, unsigned flags)
{
    annotation_handler h = {on_key, on_probe, a};
    annotation_parse(text, len, flags, &h, &a->ann);
}

/* ---- group lifecycle ---- */

static void group_clear(txn_assembler *a)
{
    key_set_reset(&a->keys);
    key_spill_free(a->spill);
    a->spill = NULL;
    a->in_txn = false;
    a->open = false;
    a->gtid[0] = '\0';
    a->commit_us = 0;
    a->probe_us = 0;
    a->sql_mode_known = false;
}

static void group_start(txn_assembler *a, const binlog_pos *pos)
{
    if (a->in_txn || a->keys.nkeys > 0) {
        a->stats.groups_discarded++;
        log_ratelimited(&group_log, LOG_LEVEL_WARN,
                        "%s: offset %llu: a new transaction starts before the one at offset "
                        "%llu committed; the unfinished one (%zu keys) is discarded",
                        pos->file, (unsigned long long)pos->offset,
                        (unsigned long long)a->group_pos, a->keys.nkeys);
    }
    group_clear(a);
    a->open = true;
    a->group_pos = pos->offset;
}

void txn_assembler_use_coarse_clock(txn_assembler *a)
{
    a->coarse_clock = true;
}

void txn_assembler_set_read_us(txn_assembler *a, int64_t read_us)
{
    a->read_us = read_us;
}

/* Emits the open group as committed by the event ev at pos. */
static int emit(txn_assembler *a, const binlog_event *ev, const binlog_pos *pos,
                const mcsq_txn **txn)
{
    key_set tmp = a->out_keys;
    a->out_keys = a->keys;
    a->keys = tmp;
    key_spill_free(a->out_spill); /* not taken: the caller keeps memory keys only */
    a->out_spill = a->spill;
    a->spill = NULL;
    mcsq_txn *t = &a->out;
    memcpy(a->out_gtid, a->gtid, strlen(a->gtid) + 1);
    if (strcmp(a->file, pos->file) != 0)
        snprintf(a->file, sizeof(a->file), "%s", pos->file);
    t->gtid = a->out_gtid;
    t->file = a->file;
    t->pos = a->open ? a->group_pos : pos->offset;
    t->end_pos = pos->end;
    t->commit_exact = a->probe_us > 0 || a->commit_us > 0;
    t->commit_us = a->probe_us > 0    ? a->probe_us
                   : a->commit_us > 0 ? a->commit_us
                                      : (int64_t)ev->hdr.timestamp * 1000000;
    t->read_us =
        a->read_us > 0 ? a->read_us : (a->coarse_clock ? clock_wall_coarse_us() : clock_wall_us());
    t->keys = a->out_keys.keys;
    t->nkeys = a->out_keys.nkeys;
    t->nmarkers = a->out_keys.nmarkers;
    a->stats.transactions++;
    a->stats.keys += t->nkeys;
    group_clear(a);
    *txn = t;
    return 1;
}

static xa_prepared **xa_find(txn_assembler *a, const char *xid)
{
    xa_prepared **pp = &a->prepared;
    while (*pp != NULL && strcmp((*pp)->xid, xid) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* Parks the open group's keys under xid until XA COMMIT or XA ROLLBACK. */
static int xa_park(txn_assembler *a, const char *xid)
{
    xa_prepared **pp = xa_find(a, xid);
    xa_prepared *x = *pp;
    if (x == NULL) {
        x = calloc(1, sizeof(*x));
        if (x == NULL)
            return MCSQ_ERR_NOMEM;
        snprintf(x->xid, sizeof(x->xid), "%s", xid);
        key_set_init(&x->keys);
        x->next = a->prepared;
        a->prepared = x;
        a->nprepared++;
    }
    for (size_t i = 0; i < a->keys.nkeys; i++) {
        const mcsq_key *k = &a->keys.keys[i];
        if (key_set_add(&x->keys, k->data, k->len, (int)k->marker) != MCSQ_OK)
            return MCSQ_ERR_NOMEM;
    }
    if (a->spill != NULL && x->spill == NULL) {
        x->spill = a->spill; /* the prepared transaction keeps its spilled keys */
        a->spill = NULL;
    }
    group_clear(a);
    return MCSQ_OK;
}

/* Removes the prepared entry for xid; when `merge`, adds its keys to the
 * open group first. Returns whether it existed. */
static bool xa_take(txn_assembler *a, const char *xid, bool merge)
{
    xa_prepared **pp = xa_find(a, xid);
    xa_prepared *x = *pp;
    if (x == NULL)
        return false;
    for (size_t i = 0; merge && i < x->keys.nkeys; i++) {
        const mcsq_key *k = &x->keys.keys[i];
        if (key_set_add(&a->keys, k->data, k->len, (int)k->marker) != MCSQ_OK)
            a->nomem = true;
    }
    if (merge && x->spill != NULL && a->spill == NULL) {
        a->spill = x->spill;
        x->spill = NULL;
    }
    *pp = x->next;
    key_set_deinit(&x->keys);
    key_spill_free(x->spill);
    free(x);
    a->nprepared--;
    return true;
}

static int on_xa_decision(txn_assembler *a, stmt_kind kind, const char *rest, size_t rest_len,
                          const binlog_event *ev, const binlog_pos *pos, const mcsq_txn **txn)
{
    char xid[BINLOG_XID_TEXT_MAX];
    bool known =
        txn_xid_parse(rest, rest_len, xid) == MCSQ_OK && xa_take(a, xid, kind == STMT_XA_COMMIT);
    if (kind == STMT_XA_ROLLBACK) {
        a->stats.xa_rollbacks++;
        group_clear(a);
        return 0;
    }
    if (!known && !a->in_txn) {
        a->stats.xa_unknown_commits++;
        log_ratelimited(&group_log, LOG_LEVEL_WARN,
                        "%s: offset %llu: XA COMMIT of a transaction prepared before the start "
                        "of this stream; its keys are unknown",
                        pos->file, (unsigned long long)pos->offset);
    }
    return emit(a, ev, pos, txn);
}

static int on_query(txn_assembler *a, const binlog_event *ev, const binlog_pos *pos,
                    const mcsq_txn **txn)
{
    const binlog_query *q = &ev->u.query;
    const char *rest;
    stmt_kind kind = classify(q->text.ptr, q->text.len, &rest);
    size_t rest_len = q->text.len - (size_t)(rest - q->text.ptr);
    bool opens = kind == STMT_BEGIN || kind == STMT_XA_START || kind == STMT_OTHER;
    if (opens && !a->open)
        group_start(a, pos);
    if (q->has_sql_mode) {
        a->sql_mode = q->sql_mode;
        a->sql_mode_known = true;
    }
    unsigned flags = q->has_sql_mode ? mode_flags(q->sql_mode) : group_flags(a);
    switch (kind) {
    case STMT_BEGIN:
    case STMT_XA_START:
        a->in_txn = true;
        return 0;
    case STMT_COMMIT:
    case STMT_ROLLBACK: /* non-transactional changes were logged: invalidate */
        add_statement_keys(a, q->text.ptr, q->text.len, flags);
        return emit(a, ev, pos, txn);
    case STMT_XA_END:
    case STMT_SAVEPOINT:
        return 0;
    case STMT_XA_PREPARE: {
        char xid[BINLOG_XID_TEXT_MAX];
        if (txn_xid_parse(rest, rest_len, xid) != MCSQ_OK)
            return emit(a, ev, pos, txn); /* unparseable: when in doubt, invalidate */
        return xa_park(a, xid);
    }
    case STMT_XA_COMMIT:
    case STMT_XA_ROLLBACK:
        add_statement_keys(a, q->text.ptr, q->text.len, flags);
        return on_xa_decision(a, kind, rest, rest_len, ev, pos, txn);
    case STMT_OTHER:
        break;
    }
    add_statement_keys(a, q->text.ptr, q->text.len, flags);
    return a->in_txn ? 0 : emit(a, ev, pos, txn); /* auto-committed statement or DDL */
}

static void on_mysql_gtid(txn_assembler *a, const binlog_event *ev, const binlog_pos *pos)
{
    group_start(a, pos);
    const binlog_mysql_gtid *g = &ev->u.mysql_gtid;
    if (!g->anonymous)
        binlog_mysql_gtid_format(g, a->gtid);
    a->commit_us = (int64_t)g->original_commit_us;
}

static void on_maria_gtid(txn_assembler *a, const binlog_event *ev, const binlog_pos *pos)
{
    group_start(a, pos);
    const binlog_maria_gtid *g = &ev->u.maria_gtid;
    binlog_maria_gtid_format(g, ev->hdr.server_id, a->gtid);
    /* Without STANDALONE the GTID stands for BEGIN; an XA completion group
     * (COMPLETED_XA) holds just the XA COMMIT/ROLLBACK statement. */
    a->in_txn = !(g->flags2 & (BINLOG_MARIA_GTID_STANDALONE | BINLOG_MARIA_GTID_COMPLETED_XA));
}

static int on_xa_prepare_event(txn_assembler *a, const binlog_event *ev, const binlog_pos *pos,
                               const mcsq_txn **txn)
{
    if (ev->u.xa_prepare.one_phase)
        return emit(a, ev, pos, txn);
    return xa_park(a, ev->u.xa_prepare.xid);
}

static int dispatch(txn_assembler *a, const binlog_event *ev, const binlog_pos *pos,
                    const mcsq_txn **txn)
{
    switch (ev->hdr.type) {
    case BINLOG_QUERY_EVENT:
    case BINLOG_EXECUTE_LOAD_QUERY_EVENT:
    case BINLOG_MARIA_QUERY_COMPRESSED_EVENT:
        return on_query(a, ev, pos, txn);
    case BINLOG_MARIA_ANNOTATE_ROWS_EVENT:
    case BINLOG_ROWS_QUERY_EVENT:
        if (!a->open)
            group_start(a, pos);
        add_statement_keys(a, ev->u.rows_query.ptr, ev->u.rows_query.len, group_flags(a));
        return 0;
    case BINLOG_XID_EVENT:
        return emit(a, ev, pos, txn);
    case BINLOG_XA_PREPARE_EVENT:
        return on_xa_prepare_event(a, ev, pos, txn);
    case BINLOG_GTID_EVENT:
    case BINLOG_ANONYMOUS_GTID_EVENT:
    case BINLOG_GTID_TAGGED_EVENT:
        on_mysql_gtid(a, ev, pos);
        return 0;
    case BINLOG_MARIA_GTID_EVENT:
        on_maria_gtid(a, ev, pos);
        return 0;
    case BINLOG_INCIDENT_EVENT:
        /* The server lost changes it could not log: invalidations may be
         * missing. Counted and logged loudly; the stream goes on, as it
         * holds everything the server did log. */
        a->stats.incidents++;
        log_error("%s: offset %llu: the server logged an incident (type %u: %.*s): changes "
                  "around this point may be missing from the binlog",
                  pos->file, (unsigned long long)pos->offset, ev->u.incident.kind,
                  (int)ev->u.incident.message.len, ev->u.incident.message.ptr);
        return 0;
    default:
        return 0;
    }
}

int txn_assembler_feed(txn_assembler *a, const binlog_event *ev, const binlog_pos *pos,
                       const mcsq_txn **txn, char *errstr, size_t errstr_size)
{
    int rc = dispatch(a, ev, pos, txn);
    if (a->nomem) {
        a->nomem = false;
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM, "out of memory storing keys");
    }
    if (a->spill_errno != 0) {
        int err = a->spill_errno;
        a->spill_errno = 0;
        return errstr_set(errstr, errstr_size, MCSQ_ERR_IO,
                          "cannot spill the keys of a large transaction to %s: %s", a->spill_dir,
                          strerror(err));
    }
    return rc;
}
