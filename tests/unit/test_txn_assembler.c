/*
 * Unit tests of the transaction assembler: which event sequences emit a
 * transaction, when, and with which keys, GTID, positions and commit time
 * (DESIGN.md "When keys are emitted"). Events are built as decoded structs.
 */
#include "tailer/txn_assembler.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
    txn_assembler a;
    uint64_t offset;
    const mcsq_txn *last;
    int emitted;
} fixture;

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof(f));
    txn_assembler_init(&f.a, "east");
    f.offset = 4;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    txn_assembler_deinit(&f->a);
    return 0;
}

/* Feeds ev at the next offset (events are 100 bytes apart); returns the
 * assembler's result and keeps the emitted transaction. */
static int feed(fixture *f, binlog_event *ev)
{
    binlog_pos pos = {"binlog.000001", f->offset, f->offset + 100};
    f->offset += 100;
    if (ev->hdr.timestamp == 0)
        ev->hdr.timestamp = 1700000000;
    if (ev->hdr.server_id == 0)
        ev->hdr.server_id = 1;
    char err[256];
    const mcsq_txn *txn = NULL;
    int rc = txn_assembler_feed(&f->a, ev, &pos, &txn, err, sizeof(err));
    assert_true(rc >= 0);
    if (rc == 1) {
        f->last = txn;
        f->emitted++;
    }
    return rc;
}

static int query(fixture *f, const char *sql)
{
    binlog_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.hdr.type = BINLOG_QUERY_EVENT;
    ev.u.query.text.ptr = sql;
    ev.u.query.text.len = strlen(sql);
    return feed(f, &ev);
}

static int query_mode(fixture *f, const char *sql, uint64_t sql_mode)
{
    binlog_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.hdr.type = BINLOG_QUERY_EVENT;
    ev.u.query.text.ptr = sql;
    ev.u.query.text.len = strlen(sql);
    ev.u.query.has_sql_mode = true;
    ev.u.query.sql_mode = sql_mode;
    return feed(f, &ev);
}

static int annotate(fixture *f, uint8_t type, const char *sql)
{
    binlog_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.hdr.type = type;
    ev.u.rows_query.ptr = sql;
    ev.u.rows_query.len = strlen(sql);
    return feed(f, &ev);
}

static int simple(fixture *f, uint8_t type)
{
    binlog_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.hdr.type = type;
    return feed(f, &ev);
}

static int xid(fixture *f, uint32_t timestamp)
{
    binlog_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.hdr.type = BINLOG_XID_EVENT;
    ev.hdr.timestamp = timestamp;
    ev.u.xid = 77;
    return feed(f, &ev);
}

static int maria_gtid(fixture *f, uint64_t seq, uint8_t flags2, const char *xid_text)
{
    binlog_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.hdr.type = BINLOG_MARIA_GTID_EVENT;
    ev.hdr.server_id = 7;
    ev.u.maria_gtid.seq_no = seq;
    ev.u.maria_gtid.domain_id = 0;
    ev.u.maria_gtid.flags2 = flags2;
    if (xid_text != NULL)
        snprintf(ev.u.maria_gtid.xid, sizeof(ev.u.maria_gtid.xid), "%s", xid_text);
    return feed(f, &ev);
}

static int mysql_gtid(fixture *f, int64_t gno, uint64_t commit_us, bool anonymous)
{
    binlog_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.hdr.type = anonymous ? BINLOG_ANONYMOUS_GTID_EVENT : BINLOG_GTID_EVENT;
    ev.u.mysql_gtid.anonymous = anonymous;
    for (int i = 0; i < 16; i++)
        ev.u.mysql_gtid.sid[i] = (uint8_t)(0x11 * (i % 16));
    ev.u.mysql_gtid.gno = gno;
    ev.u.mysql_gtid.original_commit_us = commit_us;
    ev.u.mysql_gtid.immediate_commit_us = commit_us;
    return feed(f, &ev);
}

static int xa_prepare(fixture *f, const char *xid_text, bool one_phase)
{
    binlog_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.hdr.type = BINLOG_XA_PREPARE_EVENT;
    ev.u.xa_prepare.one_phase = one_phase;
    snprintf(ev.u.xa_prepare.xid, sizeof(ev.u.xa_prepare.xid), "%s", xid_text);
    return feed(f, &ev);
}

/* Asserts the last emitted transaction's keys, given as a space-separated
 * list; a key ending in '!' must carry the marker flag. */
static void assert_keys(const mcsq_txn *t, const char *expected)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", expected);
    size_t n = 0, markers = 0;
    for (char *tok = strtok(buf, " "); tok != NULL; tok = strtok(NULL, " "), n++) {
        size_t len = strlen(tok);
        int marker = tok[len - 1] == '!';
        len -= (size_t)marker;
        markers += (size_t)marker;
        assert_true(n < t->nkeys);
        assert_int_equal(t->keys[n].len, len);
        assert_memory_equal(t->keys[n].data, tok, len);
        assert_int_equal(t->keys[n].marker, marker);
    }
    assert_int_equal(t->nkeys, n);
    assert_int_equal(t->nmarkers, markers);
}

static void test_mysql_begin_xid(void **state)
{
    fixture *f = *state;
    assert_int_equal(mysql_gtid(f, 42, 1700000000123456ull, false), 0);
    assert_int_equal(query(f, "BEGIN"), 0);
    assert_int_equal(
        annotate(f, BINLOG_ROWS_QUERY_EVENT, "UPDATE t SET a=1 /* mcsqueal: u:1 p:1 */"), 0);
    assert_int_equal(simple(f, BINLOG_TABLE_MAP_EVENT), 0);
    assert_int_equal(simple(f, BINLOG_UPDATE_ROWS_EVENT), 0);
    assert_int_equal(
        annotate(f, BINLOG_ROWS_QUERY_EVENT, "INSERT /* mcsqueal: u:1 x:9 */ INTO t VALUES (1)"),
        0);
    assert_int_equal(xid(f, 1700000001), 1);
    assert_keys(f->last, "u:1 p:1 x:9");
    assert_string_equal(f->last->gtid, "00112233-4455-6677-8899-aabbccddeeff:42");
    assert_int_equal(f->last->pos, 4);
    assert_int_equal(f->last->end_pos, 704);
    assert_string_equal(f->last->file, "binlog.000001");
    assert_int_equal(f->last->commit_us, 1700000000123456ll);
    assert_true(f->last->commit_exact);
    assert_true(f->last->read_us > 1700000000000000ll);
}

static void test_no_emission_before_commit(void **state)
{
    fixture *f = *state;
    maria_gtid(f, 1, 0, NULL);
    assert_int_equal(
        annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, "INSERT /* mcsqueal: a */ INTO t"), 0);
    assert_int_equal(simple(f, BINLOG_WRITE_ROWS_EVENT), 0);
    assert_int_equal(f->emitted, 0);
    assert_int_equal(xid(f, 1700000005), 1);
    assert_keys(f->last, "a");
    assert_string_equal(f->last->gtid, "0-7-1");
    assert_false(f->last->commit_exact);
    assert_int_equal(f->last->commit_us, 1700000005ll * 1000000);
}

static void test_autocommit_and_ddl(void **state)
{
    fixture *f = *state;
    /* MariaDB DDL: standalone GTID, then the statement */
    maria_gtid(f, 5, BINLOG_MARIA_GTID_STANDALONE | BINLOG_MARIA_GTID_DDL, NULL);
    assert_int_equal(query(f, "CREATE TABLE t (a INT) /* mcsqueal: ddl:1 */"), 1);
    assert_keys(f->last, "ddl:1");
    assert_string_equal(f->last->gtid, "0-7-5");
    /* MySQL without GTIDs: a bare statement commits by itself */
    assert_int_equal(query(f, "DROP TABLE t /* mcsqueal: ddl:2 */"), 1);
    assert_keys(f->last, "ddl:2");
    assert_string_equal(f->last->gtid, "");
    /* MySQL 8 DDL: GTID then the statement */
    mysql_gtid(f, 3, 0, false);
    assert_int_equal(query(f, "ALTER TABLE x ADD c INT /* mcsqueal: ddl:3 */"), 1);
    assert_keys(f->last, "ddl:3");
    assert_int_equal(f->emitted, 3);
}

static void test_statement_format_commit(void **state)
{
    fixture *f = *state;
    maria_gtid(f, 9, 0, NULL);
    assert_int_equal(query(f, "INSERT INTO m VALUES (1) /* mcsqueal: m:1 */"), 0);
    assert_int_equal(query(f, "INSERT INTO m VALUES (2) /* mcsqueal: m:2 m:1 */"), 0);
    assert_int_equal(query(f, "COMMIT"), 1);
    assert_keys(f->last, "m:1 m:2");
}

static void test_rollback_still_emits(void **state)
{
    fixture *f = *state;
    assert_int_equal(query(f, "BEGIN"), 0);
    assert_int_equal(query(f, "INSERT INTO myisam_t VALUES (1) /* mcsqueal: nt:1 */"), 0);
    assert_int_equal(query(f, "ROLLBACK"), 1);
    assert_keys(f->last, "nt:1");
    assert_int_equal(f->last->pos, 4);
}

static void test_savepoint_stays_in_group(void **state)
{
    fixture *f = *state;
    query(f, "BEGIN");
    query(f, "INSERT INTO t VALUES (1) /* mcsqueal: s:1 */");
    assert_int_equal(query(f, "SAVEPOINT sp1"), 0);
    query(f, "INSERT INTO t VALUES (2) /* mcsqueal: s:2 */");
    assert_int_equal(query(f, "ROLLBACK TO sp1"), 0);
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "s:1 s:2");
}

static void test_mysql_xa_commit_later(void **state)
{
    fixture *f = *state;
    mysql_gtid(f, 10, 0, false);
    assert_int_equal(query(f, "XA START X'6162',X'',1"), 0);
    query(f, "INSERT INTO t VALUES (1) /* mcsqueal: xa:1 */");
    assert_int_equal(query(f, "XA END X'6162',X'',1"), 0);
    assert_int_equal(xa_prepare(f, "X'6162',X'',1", false), 0);
    assert_int_equal(f->emitted, 0);
    /* an unrelated transaction in between */
    mysql_gtid(f, 11, 0, false);
    query(f, "BEGIN");
    query(f, "UPDATE t SET a=2 /* mcsqueal: other:1 */");
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "other:1");
    /* the commit, in its own group, written as text */
    mysql_gtid(f, 12, 0, false);
    assert_int_equal(query(f, "XA COMMIT X'6162',X'',1"), 1);
    assert_keys(f->last, "xa:1");
    assert_true(strstr(f->last->gtid, ":12") != NULL);
    assert_int_equal(f->a.nprepared, 0);
}

static void test_xa_rollback_emits_nothing(void **state)
{
    fixture *f = *state;
    query(f, "XA START 'g1','b1',7");
    query(f, "INSERT INTO t VALUES (1) /* mcsqueal: gone:1 */");
    query(f, "XA END 'g1','b1',7");
    assert_int_equal(xa_prepare(f, "X'6731',X'6231',7", false), 0);
    assert_int_equal(query(f, "XA ROLLBACK X'6731',X'6231',7"), 0);
    assert_int_equal(f->emitted, 0);
    assert_int_equal(f->a.nprepared, 0);
    assert_int_equal(f->a.stats.xa_rollbacks, 1);
}

static void test_xa_one_phase(void **state)
{
    fixture *f = *state;
    query(f, "XA START X'01',X'',1");
    query(f, "INSERT INTO t VALUES (1) /* mcsqueal: one:1 */");
    query(f, "XA END X'01',X'',1");
    assert_int_equal(xa_prepare(f, "X'01',X'',1", true), 1);
    assert_keys(f->last, "one:1");
}

static void test_maria_xa_groups(void **state)
{
    fixture *f = *state;
    maria_gtid(f, 20, BINLOG_MARIA_GTID_PREPARED_XA, "X'78',X'',1");
    query(f, "XA START X'78',X'',1");
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, "INSERT INTO t VALUES (1) /* mcsqueal: mx:1 */");
    simple(f, BINLOG_WRITE_ROWS_EVENT);
    query(f, "XA END X'78',X'',1");
    assert_int_equal(xa_prepare(f, "X'78',X'',1", false), 0);
    assert_int_equal(f->emitted, 0);
    maria_gtid(f, 21, BINLOG_MARIA_GTID_COMPLETED_XA, "X'78',X'',1");
    assert_int_equal(query(f, "XA COMMIT X'78',X'',1"), 1);
    assert_keys(f->last, "mx:1");
    assert_string_equal(f->last->gtid, "0-7-21");
}

static void test_xa_commit_unknown_prepare(void **state)
{
    fixture *f = *state;
    mysql_gtid(f, 30, 0, false);
    assert_int_equal(query(f, "XA COMMIT X'99',X'',1"), 1);
    assert_int_equal(f->last->nkeys, 0);
    assert_int_equal(f->a.stats.xa_unknown_commits, 1);
}

static void test_markers_for_own_region_only(void **state)
{
    fixture *f = *state;
    query(f, "BEGIN");
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT,
             "UPDATE t SET a=1 /* mcsqueal: k:1 @marker=east */ /* mcsqueal: k:2 @marker=west */");
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, "UPDATE t SET a=2 /* mcsqueal: k:2 k:3 */");
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT,
             "UPDATE t SET a=3 /* mcsqueal: @marker=east k:3 */");
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "k:1! k:2 k:3!");
}

static void test_probe_gives_exact_commit_time(void **state)
{
    fixture *f = *state;
    query(f, "BEGIN");
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT,
             "UPDATE hb SET ts=1 /* mcsqueal: mcsqueal:hb:db1 @probe=1700000000654321 */");
    assert_int_equal(xid(f, 1700000009), 1);
    assert_true(f->last->commit_exact);
    assert_int_equal(f->last->commit_us, 1700000000654321ll);
    assert_keys(f->last, "mcsqueal:hb:db1");
}

static void test_no_backslash_escapes_from_sql_mode(void **state)
{
    fixture *f = *state;
    /* With backslash escapes the quote is escaped and the comment is text. */
    assert_int_equal(query(f, "INSERT INTO t VALUES ('a\\') /* mcsqueal: nbe:1 */ -- ')"), 1);
    assert_int_equal(f->last->nkeys, 0);
    assert_int_equal(query_mode(f, "INSERT INTO t VALUES ('a\\') /* mcsqueal: nbe:1 */",
                                BINLOG_SQL_MODE_NO_BACKSLASH_ESCAPES),
                     1);
    assert_keys(f->last, "nbe:1");
}

/* Row-format text carries no sql_mode, and MariaDB's row format has no
 * Query event in the group to take it from. 'a\') ... only lexes as a
 * whole statement under NO_BACKSLASH_ESCAPES, so that is the session's
 * mode and the comment is real. */
static void test_row_text_lexed_both_ways(void **state)
{
    fixture *f = *state;
    maria_gtid(f, 60, 0, NULL);
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT,
             "INSERT INTO t VALUES ('a\\') /* mcsqueal: nbe:1 */");
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "nbe:1");
    assert_int_equal(f->a.stats.keys, 1); /* counted once */
    /* without a backslash there is nothing to doubt: one lexing */
    maria_gtid(f, 61, 0, NULL);
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, "INSERT INTO t VALUES ('/* mcsqueal: no:1 */')");
    assert_int_equal(xid(f, 1), 1);
    assert_int_equal(f->last->nkeys, 0);
}

/* A backslash after the last tag cannot change where an annotation comment
 * opens: the keys are the same under every lexing (only one is needed). */
static void test_row_text_backslash_after_last_tag(void **state)
{
    fixture *f = *state;
    maria_gtid(f, 62, 0, NULL);
    annotate(
        f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT,
        "/* mcsqueal: first:1 */ INSERT INTO t VALUES ('a\\') /* mcsqueal: after:1 @marker=x */");
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "first:1 after:1");
    assert_int_equal(f->a.stats.keys, 2);
    /* before the last tag, it matters: the text lexes as a whole statement
     * only without backslash escapes, where nbe:2 is inside a string */
    maria_gtid(f, 63, 0, NULL);
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT,
             "INSERT INTO t VALUES ('a\\', '/* mcsqueal: nbe:2 */ ') /* mcsqueal: both:1 */");
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "both:1");
}

/* ---- users' data never becomes an annotation ---- */

#define NBE_MODE BINLOG_SQL_MODE_NO_BACKSLASH_ESCAPES

/* Data escaped for the default mode that, lexed without backslash escapes,
 * would open an annotation; data escaped for NO_BACKSLASH_ESCAPES (quotes
 * doubled) that, lexed with them, would; a real annotation after a literal
 * ending in a backslash (NO_BACKSLASH_ESCAPES). */
static const char smuggle_default[] =
    "UPDATE t SET bio='x\\' /* mcsqueal: evil:1 */ \\'' WHERE id=1 /* mcsqueal: user:1 */";
static const char smuggle_nbe[] = "UPDATE t SET bio='\\'' /* mcsqueal: evil:2 */ \\''', "
                                  "v='\\' WHERE id=2 /* mcsqueal: user:2 */";
static const char real_nbe[] = "INSERT INTO t VALUES ('C:\\dir\\', 'x') /* mcsqueal: nbe:1 */";
/* Default mode: an annotation between two literals with escaped quotes. The
 * text also lexes without backslash escapes, with mid:1 inside a string:
 * only a known mode finds it. */
static const char real_mid[] = "UPDATE t SET a='O\\'Brien' /* mcsqueal: mid:1 */ WHERE "
                               "b='L\\'Aquila' /* mcsqueal: end:1 */";

/* MySQL's row format: BEGIN carries the session's sql_mode; the Rows_query
 * text is lexed under it alone. */
static void test_row_text_under_begin_sql_mode(void **state)
{
    fixture *f = *state;
    mysql_gtid(f, 70, 0, false);
    query_mode(f, "BEGIN", 0);
    annotate(f, BINLOG_ROWS_QUERY_EVENT, smuggle_default);
    annotate(f, BINLOG_ROWS_QUERY_EVENT, real_mid);
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "user:1 mid:1 end:1");
    mysql_gtid(f, 71, 0, false);
    query_mode(f, "BEGIN", NBE_MODE);
    annotate(f, BINLOG_ROWS_QUERY_EVENT, smuggle_nbe);
    annotate(f, BINLOG_ROWS_QUERY_EVENT, real_nbe);
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "user:2 nbe:1");
    /* XA START carries it too */
    mysql_gtid(f, 72, 0, false);
    query_mode(f, "XA START X'01',X'',1", NBE_MODE);
    annotate(f, BINLOG_ROWS_QUERY_EVENT, smuggle_nbe);
    query_mode(f, "XA END X'01',X'',1", NBE_MODE);
    assert_int_equal(xa_prepare(f, "X'01',X'',1", true), 1);
    assert_keys(f->last, "user:2");
}

/* MariaDB's row format: the GTID event stands for BEGIN, so no Query event
 * tells the sql_mode; the text is lexed so that data never counts. */
static void test_row_text_without_sql_mode(void **state)
{
    fixture *f = *state;
    maria_gtid(f, 80, 0, NULL);
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, smuggle_default);
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, smuggle_nbe);
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, real_nbe);
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "user:1 user:2 nbe:1");
}

/* The sql_mode of one transaction does not carry over to the next. */
static void test_sql_mode_ends_with_its_group(void **state)
{
    fixture *f = *state;
    maria_gtid(f, 81, 0, NULL);
    query_mode(f, "INSERT INTO t VALUES (1) /* mcsqueal: stmt:1 */", NBE_MODE);
    assert_int_equal(xid(f, 1), 1);
    maria_gtid(f, 82, 0, NULL);
    /* presumed NO_BACKSLASH_ESCAPES, this would lex completely with evil:1 */
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, smuggle_default);
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "user:1");
}

/* Statement format: each Query event is lexed under its own sql_mode. */
static void test_statement_text_under_own_sql_mode(void **state)
{
    fixture *f = *state;
    assert_int_equal(query_mode(f, smuggle_default, 0), 1);
    assert_keys(f->last, "user:1");
    assert_int_equal(query_mode(f, smuggle_nbe, NBE_MODE), 1);
    assert_keys(f->last, "user:2");
    maria_gtid(f, 83, 0, NULL);
    query_mode(f, smuggle_nbe, NBE_MODE);
    query_mode(f, smuggle_default, 0);
    query_mode(f, real_nbe, NBE_MODE);
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "user:2 user:1 nbe:1");
}

/* Mixed format: a statement-format Query event inside the transaction
 * tells the session's current sql_mode to the row-format text after it. */
static void test_mixed_query_updates_sql_mode(void **state)
{
    fixture *f = *state;
    mysql_gtid(f, 73, 0, false);
    query_mode(f, "BEGIN", 0);
    query_mode(f, "INSERT INTO t VALUES ('y\\') /* mcsqueal: stmt:1 */", NBE_MODE);
    annotate(f, BINLOG_ROWS_QUERY_EVENT, smuggle_nbe);
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "stmt:1 user:2");
    /* and back: BEGIN's NO_BACKSLASH_ESCAPES would hide mid:1 */
    mysql_gtid(f, 75, 0, false);
    query_mode(f, "BEGIN", NBE_MODE);
    query_mode(f, "INSERT INTO t VALUES ('y') /* mcsqueal: stmt:3 */", 0);
    annotate(f, BINLOG_ROWS_QUERY_EVENT, real_mid);
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "stmt:3 mid:1 end:1");
    /* MariaDB: row text before the first Query event, then after it */
    maria_gtid(f, 84, 0, NULL);
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, smuggle_default);
    query_mode(f, "INSERT INTO t VALUES (2) /* mcsqueal: stmt:2 */", 0);
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, smuggle_default);
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "user:1 stmt:2");
}

/* The session turned NO_BACKSLASH_ESCAPES on after BEGIN: the text cannot
 * be a statement under BEGIN's mode, so the key is still found. */
static void test_row_text_after_sql_mode_change(void **state)
{
    fixture *f = *state;
    mysql_gtid(f, 74, 0, false);
    query_mode(f, "BEGIN", 0);
    annotate(f, BINLOG_ROWS_QUERY_EVENT, real_nbe);
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "nbe:1");
}

static void test_unfinished_group_is_discarded(void **state)
{
    fixture *f = *state;
    maria_gtid(f, 40, 0, NULL);
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, "INSERT /* mcsqueal: lost:1 */ INTO t");
    maria_gtid(f, 41, 0, NULL);
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, "INSERT /* mcsqueal: kept:1 */ INTO t");
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "kept:1");
    assert_int_equal(f->a.stats.groups_discarded, 1);
    assert_int_equal(f->emitted, 1);
}

static void test_transactions_without_keys_are_emitted(void **state)
{
    fixture *f = *state;
    mysql_gtid(f, 50, 0, true);
    query(f, "BEGIN");
    simple(f, BINLOG_TABLE_MAP_EVENT);
    simple(f, BINLOG_WRITE_ROWS_EVENT);
    assert_int_equal(xid(f, 1), 1);
    assert_int_equal(f->last->nkeys, 0);
    assert_string_equal(f->last->gtid, "");
}

static void test_incident_is_counted(void **state)
{
    fixture *f = *state;
    binlog_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.hdr.type = BINLOG_INCIDENT_EVENT;
    ev.u.incident.kind = 1;
    assert_int_equal(feed(f, &ev), 0);
    assert_int_equal(f->a.stats.incidents, 1);
}

static void test_xid_parse_forms(void **state)
{
    (void)state;
    char a[BINLOG_XID_TEXT_MAX], b[BINLOG_XID_TEXT_MAX];
    assert_int_equal(txn_xid_parse("'ab','c',7", 10, a), 0);
    assert_int_equal(txn_xid_parse("X'6162',X'63',7", 15, b), 0);
    assert_string_equal(a, b);
    assert_string_equal(a, "X'6162',X'63',7");
    assert_int_equal(txn_xid_parse("0x6162", 6, a), 0);
    assert_string_equal(a, "X'6162',X'',1");
    assert_int_equal(txn_xid_parse("'ab' ONE PHASE", 14, a), 0);
    assert_string_equal(a, "X'6162',X'',1");
    assert_int_equal(txn_xid_parse("", 0, a), MCSQ_ERR_INVALID);
    assert_int_equal(txn_xid_parse("'unterminated", 13, a), MCSQ_ERR_INVALID);
    assert_int_equal(txn_xid_parse("X'zz'", 5, a), MCSQ_ERR_INVALID);
}

static void test_many_keys_deduplicated(void **state)
{
    fixture *f = *state;
    query(f, "BEGIN");
    char sql[4096];
    for (int round = 0; round < 2; round++) {
        for (int s = 0; s < 200; s++) {
            int n = snprintf(sql, sizeof(sql), "UPDATE t SET a=1 /* mcsqueal:");
            for (int k = 0; k < 100; k++)
                n += snprintf(sql + n, sizeof(sql) - (size_t)n, " key:%d", s * 100 + k);
            snprintf(sql + n, sizeof(sql) - (size_t)n, " */");
            annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, sql);
        }
    }
    assert_int_equal(xid(f, 1), 1);
    assert_int_equal(f->last->nkeys, 20000);
    assert_int_equal(f->last->keys[0].len, 5);
    assert_memory_equal(f->last->keys[0].data, "key:0", 5);
    assert_memory_equal(f->last->keys[19999].data, "key:19999", 9);
    /* the next transaction starts empty */
    query(f, "BEGIN");
    annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, "UPDATE t SET a=1 /* mcsqueal: key:5 */");
    assert_int_equal(xid(f, 1), 1);
    assert_keys(f->last, "key:5");
}

/* A transaction whose keys pass the memory limit spills them; the emitted
 * transaction holds the rest; together they are every key. */
static void test_large_transaction_spills(void **state)
{
    fixture *f = *state;
    char dir[] = "/tmp/mcsq-test-spill.XXXXXX";
    assert_non_null(mkdtemp(dir));
    txn_assembler_set_spill(&f->a, dir, 64 * 1024);
    query(f, "BEGIN");
    char sql[8192];
    for (int s = 0; s < 100; s++) {
        int n = snprintf(sql, sizeof(sql), "UPDATE t SET a=1 /* mcsqueal:");
        for (int k = 0; k < 100; k++)
            n += snprintf(sql + n, sizeof(sql) - (size_t)n, " key:%d @marker=east", s * 100 + k);
        snprintf(sql + n, sizeof(sql) - (size_t)n, " */");
        annotate(f, BINLOG_MARIA_ANNOTATE_ROWS_EVENT, sql);
    }
    assert_int_equal(xid(f, 1), 1);
    key_spill *sp = txn_assembler_take_spill(&f->a);
    assert_non_null(sp);
    assert_true(f->last->nkeys < 10000);
    assert_int_equal(sp->nkeys + f->last->nkeys, 10000);
    assert_int_equal(key_spill_rewind(sp), 0);
    mcsq_key keys[512];
    long n, total = 0;
    while ((n = key_spill_read(sp, keys, 512)) > 0) {
        for (long i = 0; i < n; i++) {
            char want[32];
            snprintf(want, sizeof(want), "key:%ld", total + i);
            assert_int_equal(keys[i].len, strlen(want));
            assert_memory_equal(keys[i].data, want, keys[i].len);
            assert_int_equal(keys[i].marker, 1);
        }
        total += n;
    }
    assert_int_equal(n, 0);
    assert_int_equal(total, (long)sp->nkeys);
    assert_null(txn_assembler_take_spill(&f->a)); /* handed out once */
    key_spill_free(sp);
    rmdir(dir); /* the spill file was never linked there */
    assert_int_equal(access(dir, F_OK), -1);
}

/* A spill that fails is an error naming its cause (the errno of the
 * failure, not whatever errno holds when the error is reported). */
static void test_spill_failure_names_its_cause(void **state)
{
    fixture *f = *state;
    char file[] = "/tmp/mcsq-test-spill-file.XXXXXX";
    int fd = mkstemp(file);
    assert_true(fd >= 0);
    close(fd);
    txn_assembler_set_spill(&f->a, file, 1024); /* a file, not a directory */
    query(f, "BEGIN");
    char sql[8192];
    int n = snprintf(sql, sizeof(sql), "UPDATE t SET a=1 /* mcsqueal:");
    for (int k = 0; k < 200; k++)
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, " key:%d", k);
    snprintf(sql + n, sizeof(sql) - (size_t)n, " */");
    binlog_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.hdr.type = BINLOG_MARIA_ANNOTATE_ROWS_EVENT;
    ev.hdr.timestamp = 1700000000;
    ev.hdr.server_id = 1;
    ev.u.rows_query.ptr = sql;
    ev.u.rows_query.len = strlen(sql);
    binlog_pos pos = {"binlog.000001", f->offset, f->offset + 100};
    const mcsq_txn *txn = NULL;
    char err[512] = "";
    assert_int_equal(txn_assembler_feed(&f->a, &ev, &pos, &txn, err, sizeof(err)), MCSQ_ERR_IO);
    unlink(file);
    assert_non_null(strstr(err, "cannot spill"));
    assert_non_null(strstr(err, strerror(ENOTDIR)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mysql_begin_xid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_emission_before_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_autocommit_and_ddl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_format_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_still_emits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_savepoint_stays_in_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mysql_xa_commit_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xa_rollback_emits_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xa_one_phase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_maria_xa_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xa_commit_unknown_prepare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_markers_for_own_region_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_gives_exact_commit_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_backslash_escapes_from_sql_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_text_backslash_after_last_tag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_text_lexed_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unfinished_group_is_discarded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions_without_keys_are_emitted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_incident_is_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_text_under_begin_sql_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_text_without_sql_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_mode_ends_with_its_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_text_under_own_sql_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mixed_query_updates_sql_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_text_after_sql_mode_change, setup, teardown),
        cmocka_unit_test(test_xid_parse_forms),
        cmocka_unit_test_setup_teardown(test_many_keys_deduplicated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_transaction_spills, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spill_failure_names_its_cause, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
