/*
 * Unit tests for tailer/annotation.c: every rule of the annotation grammar
 * (DESIGN.md "Annotation grammar"), every rejection reason, the SQL lexing
 * that decides what is a real comment, and two fuzz-style loops that compare
 * the parser with a slow, byte-at-a-time reference implementation written
 * here from the contract.
 */
#include "tailer/annotation.h"

#include "core/cache_key.h"
#include "core/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NBE ANNOTATION_NO_BACKSLASH_ESCAPES
#define MAX_KEYS 512
#define MAX_PROBES 64

/* One delivered key, as offsets into the parsed text. */
typedef struct got_key {
    size_t off, len;
    bool has_marker;
    size_t marker_off, marker_len;
} got_key;

/* Everything one annotation_parse() call reported. */
typedef struct collector {
    const char *base; /* (ref) the parsed text */
    size_t base_len;
    got_key keys[MAX_KEYS];
    size_t nkeys;
    int64_t probes[MAX_PROBES];
    size_t nprobes;
    annotation_stats stats;
    size_t ret;
} collector;

static bool in_text(const collector *c, const char *p, size_t len)
{
    return p >= c->base && len <= c->base_len && p - c->base <= (ptrdiff_t)(c->base_len - len);
}

static bool marker_ok(const char *m, size_t len)
{
    static const char allowed[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
    if (len < 1 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (m[i] == '\0' || strchr(allowed, m[i]) == NULL)
            return false;
    }
    return true;
}

/* on_key: every key must be valid, point into the text and carry a valid
 * marker or none. */
static void on_key(void *ctx, const char *key, size_t key_len, const char *marker,
                   size_t marker_len)
{
    collector *c = ctx;
    assert_true(in_text(c, key, key_len));
    assert_int_equal(cache_key_check(key, key_len), CACHE_KEY_OK);
    assert_true(key[0] != '@');
    if (marker == NULL) {
        assert_int_equal(marker_len, 0);
    } else {
        assert_true(in_text(c, marker, marker_len));
        assert_true(marker_ok(marker, marker_len));
    }
    if (c->nkeys < MAX_KEYS) {
        got_key *k = &c->keys[c->nkeys];
        k->off = (size_t)(key - c->base);
        k->len = key_len;
        k->has_marker = marker != NULL;
        k->marker_off = marker ? (size_t)(marker - c->base) : 0;
        k->marker_len = marker_len;
    }
    c->nkeys++;
}

static void on_probe(void *ctx, int64_t probe_us)
{
    collector *c = ctx;
    assert_true(probe_us > 0);
    if (c->nprobes < MAX_PROBES)
        c->probes[c->nprobes] = probe_us;
    c->nprobes++;
}

static void collector_reset(collector *c, const char *sql, size_t len)
{
    memset(c, 0, sizeof(*c));
    c->base = sql;
    c->base_len = len;
    annotation_stats_init(&c->stats);
}

/* Parses sql[0..len) into c; checks that the return value and stats.keys
 * agree with the callbacks. */
static size_t run_n(collector *c, const char *sql, size_t len, unsigned flags)
{
    collector_reset(c, sql, len);
    annotation_handler h = {on_key, on_probe, c};
    c->ret = annotation_parse(sql, len, flags, &h, &c->stats);
    assert_int_equal(c->ret, c->nkeys);
    assert_int_equal(c->stats.keys, c->nkeys);
    return c->ret;
}

#define run(c, sql, flags) run_n((c), (sql), strlen(sql), (flags))
/* For literals holding NUL bytes. */
#define run_lit(c, lit, flags) run_n((c), (lit), sizeof(lit) - 1, (flags))

static void expect_keys_v(const collector *c, va_list ap)
{
    size_t i = 0;
    const char *want;
    while ((want = va_arg(ap, const char *)) != NULL) {
        if (i >= c->nkeys)
            fail_msg("expected key #%zu \"%s\", got only %zu keys", i, want, c->nkeys);
        assert_int_equal(c->keys[i].len, strlen(want));
        assert_memory_equal(c->base + c->keys[i].off, want, strlen(want));
        i++;
    }
    assert_int_equal(c->nkeys, i);
}

/* Asserts the delivered keys are exactly the NULL-terminated list. */
static void expect_keys_list(const collector *c, ...)
{
    va_list ap;
    va_start(ap, c);
    expect_keys_v(c, ap);
    va_end(ap);
}

#define expect_keys(c, ...) expect_keys_list((c), __VA_ARGS__, (const char *)NULL)
#define expect_no_keys(c) expect_keys_list((c), (const char *)NULL)

/* Asserts the marker of key i (NULL: none). */
static void expect_marker(const collector *c, size_t i, const char *want)
{
    assert_true(i < c->nkeys);
    const got_key *k = &c->keys[i];
    if (want == NULL) {
        assert_false(k->has_marker);
        assert_int_equal(k->marker_len, 0);
        return;
    }
    assert_true(k->has_marker);
    assert_int_equal(k->marker_len, strlen(want));
    assert_memory_equal(c->base + k->marker_off, want, strlen(want));
}

static uint64_t total_rejected(const collector *c)
{
    uint64_t n = 0;
    for (int i = 0; i < ANNOTATION_REJECT_COUNT; i++)
        n += c->stats.rejected[i];
    return n;
}

/* Parses sql and asserts it yields exactly one key, `want` (or none). */
static void expect_only(const char *sql, unsigned flags, const char *want)
{
    collector c;
    run(&c, sql, flags);
    if (want == NULL)
        expect_no_keys(&c);
    else
        expect_keys(&c, want);
}

/* ---- basic grammar ---- */

static void test_single_key(void **state)
{
    (void)state;
    collector c;
    assert_int_equal(run(&c, "UPDATE users SET a=1 WHERE id=42 /* mcsqueal: user:42 */", 0), 1);
    expect_keys(&c, "user:42");
    expect_marker(&c, 0, NULL);
    assert_int_equal(c.stats.comments, 1);
    assert_int_equal(c.stats.keys, 1);
    assert_int_equal(total_rejected(&c), 0);
    assert_int_equal(c.stats.unknown_directives, 0);
    assert_int_equal(c.nprobes, 0);
}

static void test_keys_in_order(void **state)
{
    (void)state;
    collector c;
    assert_int_equal(run(&c, "/* mcsqueal: a b c user:1 */ UPDATE t SET x=1", 0), 4);
    expect_keys(&c, "a", "b", "c", "user:1");
}

static void test_annotation_anywhere(void **state)
{
    (void)state;
    expect_only("INSERT /* mcsqueal: k */ INTO t VALUES (1)", 0, "k");
    expect_only("UPDATE t SET a=1/* mcsqueal: k */WHERE id=1", 0, "k");
    expect_only("x/*mcsqueal:k*/", 0, "k");
}

static void test_no_space_after_colon(void **state)
{
    (void)state;
    expect_only("/*mcsqueal:k*/", 0, "k");
    collector c;
    run(&c, "/*mcsqueal:a b*/", 0);
    expect_keys(&c, "a", "b");
}

static void test_at_sign_inside_key(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: user@example.com a@marker=x */", 0);
    expect_keys(&c, "user@example.com", "a@marker=x");
    expect_marker(&c, 0, NULL);
    assert_int_equal(c.stats.unknown_directives, 0);
    /* A directive right after the colon, and one before the close. */
    run(&c, "/*mcsqueal:@marker=east k @probe=3*/", 0);
    expect_keys(&c, "k");
    expect_marker(&c, 0, "east");
    assert_int_equal(c.nprobes, 1);
    assert_int_equal(c.probes[0], 3);
}

static void test_token_runs_into_close(void **state)
{
    (void)state;
    expect_only("/* mcsqueal: a*/", 0, "a");
    expect_only("/* mcsqueal:a*/ tail", 0, "a");
    /* The first star-slash closes: "a**" ends at its second star. */
    expect_only("/* mcsqueal: a**/", 0, "a*");
    expect_only("/* mcsqueal: a*b */", 0, "a*b");
    expect_only("/* mcsqueal: a/b */", 0, "a/b");
}

static void test_all_ascii_whitespace_separates(void **state)
{
    (void)state;
    collector c;
    run(&c, "/*\t\n\v\f\r mcsqueal:\ta\nb\vc\fd\re f  \t */", 0);
    expect_keys(&c, "a", "b", "c", "d", "e", "f");
}

static void test_tag_is_case_sensitive(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* MCSQUEAL: k */ /* Mcsqueal: k */ /* mcSqueal: k */ mcsqueal:", 0);
    expect_no_keys(&c);
    assert_int_equal(c.stats.comments, 0);
}

static void test_tag_needs_exact_spelling(void **state)
{
    (void)state;
    expect_only("/* mcsqueal : k */ mcsqueal:", 0, NULL);
    expect_only("/* mcsqueal k */ mcsqueal:", 0, NULL);
    expect_only("/* mcsquealk: k */ mcsqueal:", 0, NULL);
    expect_only("/* mcsqueal; k */ mcsqueal:", 0, NULL);
}

static void test_tag_must_start_body(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* note: mcsqueal: x */ /* - mcsqueal: y */ /* mcsqueal: k */", 0);
    expect_keys(&c, "k");
    assert_int_equal(c.stats.comments, 1);
    /* Whitespace before the tag may be any ASCII whitespace. */
    expect_only("/*\r\n\tmcsqueal: k */", 0, "k");
    /* A non-breaking space (UTF-8 C2 A0) is not ASCII whitespace. */
    expect_only("/*\xc2\xa0mcsqueal: k */", 0, NULL);
}

static void test_ordinary_comment_skipped_to_close(void **state)
{
    (void)state;
    /* Quotes inside an ordinary comment do not open strings. */
    expect_only("/* it's */ /* mcsqueal: k */", 0, "k");
    expect_only("/* \" ` */ /* mcsqueal: k */", 0, "k");
    /* Comments do not nest: the first star-slash closes the outer one. */
    expect_only("/* outer /* mcsqueal: x */ k */", 0, NULL);
    /* An empty comment and a lone star. */
    expect_only("/**/ /*/ */ /* mcsqueal: k */", 0, "k");
}

static void test_several_comments(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: a */ UPDATE t /* mcsqueal: b c */ SET x=1 /* other */ /*mcsqueal:d*/", 0);
    expect_keys(&c, "a", "b", "c", "d");
    assert_int_equal(c.stats.comments, 3);
    assert_int_equal(c.stats.keys, 4);
}

static void test_empty_annotation(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: */ /*mcsqueal:*/ /* mcsqueal:\n\t */", 0);
    expect_no_keys(&c);
    assert_int_equal(c.stats.comments, 3);
    assert_int_equal(total_rejected(&c), 0);
}

static void test_close_ends_annotation(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: a */ b */ c", 0);
    expect_keys(&c, "a");
}

static void test_quotes_inside_annotation_are_key_bytes(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: it's \"q\" `b` a--b #h */ /* mcsqueal: k */", 0);
    expect_keys(&c, "it's", "\"q\"", "`b`", "a--b", "#h", "k");
}

static void test_unterminated_annotation(void **state)
{
    (void)state;
    collector c;
    run(&c, "UPDATE t SET a=1 /* mcsqueal: a b", 0);
    expect_no_keys(&c);
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_UNTERMINATED], 1);
    assert_int_equal(c.stats.comments, 0);

    run(&c, "/* mcsqueal: a */ UPDATE t /* mcsqueal: b @probe=5", 0);
    expect_keys(&c, "a");
    assert_int_equal(c.nprobes, 0);
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_UNTERMINATED], 1);
    assert_int_equal(c.stats.comments, 1);

    /* A lone star at the end does not close it. */
    run(&c, "/* mcsqueal: a *", 0);
    expect_no_keys(&c);
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_UNTERMINATED], 1);

    run(&c, "/*mcsqueal:", 0);
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_UNTERMINATED], 1);
}

static void test_unterminated_ordinary_comment(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: a */ /* note mcsqueal: b", 0);
    expect_keys(&c, "a");
    assert_int_equal(total_rejected(&c), 0);
    run(&c, "/* note /* mcsqueal: b", 0);
    expect_no_keys(&c);
    assert_int_equal(total_rejected(&c), 0);
}

static void test_fast_path_without_tag(void **state)
{
    (void)state;
    collector c;
    run(&c, "UPDATE t SET a='x' /* mcsqueal k */ /* mcsqueal */", 0);
    expect_no_keys(&c);
    assert_int_equal(c.stats.comments, 0);
    assert_int_equal(total_rejected(&c), 0);
    /* Unbalanced input without the tag is not even lexed. */
    run(&c, "/* unterminated '", 0);
    assert_int_equal(total_rejected(&c), 0);
}

static void test_tag_outside_comment(void **state)
{
    (void)state;
    expect_only("SELECT 'mcsqueal: x', mcsqueal: y", 0, NULL);
    expect_only("mcsqueal: x */", 0, NULL);
}

static void test_short_and_empty_text(void **state)
{
    (void)state;
    collector c;
    assert_int_equal(run_n(&c, NULL, 0, 0), 0);
    assert_int_equal(run(&c, "", 0), 0);
    assert_int_equal(run(&c, "/*", 0), 0);
    assert_int_equal(run(&c, "mcsqueal:", 0), 0);
    assert_int_equal(run(&c, "/*mcsqueal", 0), 0);
    assert_int_equal(total_rejected(&c), 0);
}

static void test_length_is_respected(void **state)
{
    (void)state;
    collector c;
    const char *sql = "/* mcsqueal: ab */ /* mcsqueal: cd */";
    /* Cut inside the first comment: unterminated, nothing delivered. */
    run_n(&c, sql, 15, 0);
    expect_no_keys(&c);
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_UNTERMINATED], 1);
    /* Cut right after the first comment. */
    run_n(&c, sql, 18, 0);
    expect_keys(&c, "ab");
    /* Cut before the tag of the second: a slash-star at the end is an ordinary,
     * unterminated comment. */
    run_n(&c, sql, 21, 0);
    expect_keys(&c, "ab");
    assert_int_equal(total_rejected(&c), 0);
}

static void test_nul_bytes_in_text(void **state)
{
    (void)state;
    collector c;
    run_lit(&c, "SELECT '\0' \0 /* mcsqueal: k */", 0);
    expect_keys(&c, "k");
    run_lit(&c, "/* mcsqueal: a\0b c */", 0);
    expect_keys(&c, "c");
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_CONTROL_CHAR], 1);
}

/* ---- directives ---- */

static void test_marker_before_keys(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: @marker=east a b */", 0);
    expect_keys(&c, "a", "b");
    expect_marker(&c, 0, "east");
    expect_marker(&c, 1, "east");
}

static void test_marker_after_keys(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: a b @marker=east*/", 0);
    expect_keys(&c, "a", "b");
    expect_marker(&c, 0, "east");
    expect_marker(&c, 1, "east");
    run(&c, "/* mcsqueal: a @marker=eu-west.1_b b */", 0);
    expect_marker(&c, 0, "eu-west.1_b");
    expect_marker(&c, 1, "eu-west.1_b");
}

static void test_marker_does_not_leak(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: @marker=east a */ /* mcsqueal: b */ /* mcsqueal: c @marker=west */", 0);
    expect_keys(&c, "a", "b", "c");
    expect_marker(&c, 0, "east");
    expect_marker(&c, 1, NULL);
    expect_marker(&c, 2, "west");
    /* Nor between calls. */
    run(&c, "/* mcsqueal: d */", 0);
    expect_marker(&c, 0, NULL);
}

static void test_last_valid_marker_wins(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: @marker=east a @marker=west */", 0);
    expect_keys(&c, "a");
    expect_marker(&c, 0, "west");
    assert_int_equal(total_rejected(&c), 0);

    run(&c, "/* mcsqueal: @marker=east a @marker=bad! */", 0);
    expect_keys(&c, "a");
    expect_marker(&c, 0, "east");
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_BAD_DIRECTIVE], 1);
}

static void test_marker_length_limits(void **state)
{
    (void)state;
    char sql[200];
    char region[70];
    collector c;

    memset(region, 'r', sizeof(region));
    snprintf(sql, sizeof(sql), "/* mcsqueal: @marker=%.*s k */", 64, region);
    run(&c, sql, 0);
    expect_keys(&c, "k");
    assert_int_equal(c.keys[0].marker_len, 64);
    assert_int_equal(total_rejected(&c), 0);

    snprintf(sql, sizeof(sql), "/* mcsqueal: @marker=%.*s k */", 65, region);
    run(&c, sql, 0);
    expect_keys(&c, "k");
    expect_marker(&c, 0, NULL);
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_BAD_DIRECTIVE], 1);

    run(&c, "/* mcsqueal: @marker=r k */", 0);
    expect_marker(&c, 0, "r");
}

static void test_marker_invalid_values(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "/* mcsqueal: @marker= k */",
        "/* mcsqueal: @marker=a/b k */",
        "/* mcsqueal: @marker=caf\xc3\xa9 k */",
        "/* mcsqueal: @marker=a:b k */",
        "/* mcsqueal: @marker=a=b k */",
        "/* mcsqueal: @marker=a\x01 k */",
        "/* mcsqueal: @marker=east@ k */",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        collector c;
        run(&c, bad[i], 0);
        expect_keys(&c, "k");
        expect_marker(&c, 0, NULL);
        assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_BAD_DIRECTIVE], 1);
        assert_int_equal(total_rejected(&c), 1);
    }
}

static void test_directive_alone_is_not_a_key(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: @marker=east */", 0);
    expect_no_keys(&c);
    assert_int_equal(c.stats.comments, 1);
    assert_int_equal(total_rejected(&c), 0);
}

static void test_probe_valid(void **state)
{
    (void)state;
    collector c;
    assert_int_equal(run(&c, "/* mcsqueal: @probe=1763669000123456 */", 0), 0);
    assert_int_equal(c.nprobes, 1);
    assert_int_equal(c.probes[0], 1763669000123456LL);
    assert_int_equal(c.stats.comments, 1);

    run(&c, "/* mcsqueal: @probe=9223372036854775807 */", 0);
    assert_int_equal(c.nprobes, 1);
    assert_int_equal(c.probes[0], INT64_MAX);

    run(&c, "/* mcsqueal: @probe=1 @probe=007 */", 0);
    assert_int_equal(c.nprobes, 2);
    assert_int_equal(c.probes[0], 1);
    assert_int_equal(c.probes[1], 7);
    assert_int_equal(total_rejected(&c), 0);
}

static void test_probe_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "@probe=9223372036854775808",
        "@probe=18446744073709551616",
        "@probe=99999999999999999999",
        "@probe=0",
        "@probe=000",
        "@probe=-5",
        "@probe=+5",
        "@probe=12a",
        "@probe=",
        "@probe=1.5",
        "@probe=0x10",
        "@probe=1e6",
        "@probe=\xef\xbc\x91", /* fullwidth digit one */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char sql[128];
        collector c;
        snprintf(sql, sizeof(sql), "/* mcsqueal: %s k */", bad[i]);
        run(&c, sql, 0);
        if (c.nprobes != 0)
            fail_msg("%s gave a probe", bad[i]);
        assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_BAD_DIRECTIVE], 1);
        expect_keys(&c, "k");
    }
}

static void test_probe_with_keys_and_marker(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: k @probe=5 @marker=east */ /* mcsqueal: @probe=6 */", 0);
    expect_keys(&c, "k");
    expect_marker(&c, 0, "east");
    assert_int_equal(c.nprobes, 2);
    assert_int_equal(c.probes[0], 5);
    assert_int_equal(c.probes[1], 6);
}

static void test_probe_without_handler(void **state)
{
    (void)state;
    collector c;
    collector_reset(&c, "/* mcsqueal: @probe=5 k */", strlen("/* mcsqueal: @probe=5 k */"));
    annotation_handler h = {on_key, NULL, &c};
    assert_int_equal(annotation_parse(c.base, c.base_len, 0, &h, &c.stats), 1);
    assert_int_equal(c.nkeys, 1);
    assert_int_equal(c.nprobes, 0);
    assert_int_equal(total_rejected(&c), 0);
}

static void test_unknown_directives(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: @foo=bar @marker @ @=x @MARKER=east @probe a @markers=x */", 0);
    expect_keys(&c, "a");
    expect_marker(&c, 0, NULL);
    assert_int_equal(c.stats.unknown_directives, 7);
    assert_int_equal(total_rejected(&c), 0);
    assert_int_equal(c.nprobes, 0);
}

/* ---- key rejections ---- */

static void test_key_250_vs_251_bytes(void **state)
{
    (void)state;
    char sql[400];
    char key[260];
    collector c;

    memset(key, 'k', sizeof(key));
    snprintf(sql, sizeof(sql), "/* mcsqueal: a %.*s b */", 250, key);
    run(&c, sql, 0);
    assert_int_equal(c.nkeys, 3);
    assert_int_equal(c.keys[1].len, 250);

    snprintf(sql, sizeof(sql), "/* mcsqueal: a %.*s b */", 251, key);
    run(&c, sql, 0);
    expect_keys(&c, "a", "b");
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_TOO_LONG], 1);
    assert_int_equal(total_rejected(&c), 1);

    /* 251 bytes running into the close. */
    snprintf(sql, sizeof(sql), "/* mcsqueal: %.*s*/", 251, key);
    run(&c, sql, 0);
    expect_no_keys(&c);
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_TOO_LONG], 1);
}

static void test_key_control_chars(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: a\x01z b\x7f c\x1b[31m ok */", 0);
    expect_keys(&c, "ok");
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_CONTROL_CHAR], 3);
    assert_int_equal(total_rejected(&c), 3);
}

static void test_whitespace_controls_split_tokens(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: a\tb\nc\rd */", 0);
    expect_keys(&c, "a", "b", "c", "d");
    assert_int_equal(total_rejected(&c), 0);
}

static void test_multibyte_keys_accepted(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: caf\xc3\xa9 \xe2\x82\xac:1 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf */", 0);
    expect_keys(&c, "caf\xc3\xa9", "\xe2\x82\xac:1", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf");
    assert_int_equal(total_rejected(&c), 0);
}

static void test_invalid_utf8_rejected(void **state)
{
    (void)state;
    collector c;
    run(&c,
        "/* mcsqueal: k\xff \xc0\x80 \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82 \x80 \xe0\x9f\xbf "
        "\xf0\x8f\xbf\xbf ok */",
        0);
    expect_keys(&c, "ok");
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_INVALID_UTF8], 8);
    assert_int_equal(total_rejected(&c), 8);
    /* Truncated right before the close. */
    run(&c, "/* mcsqueal: \xe2\x82*/", 0);
    expect_no_keys(&c);
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_INVALID_UTF8], 1);
}

static void test_reject_names(void **state)
{
    (void)state;
    assert_string_equal(annotation_reject_name(ANNOTATION_REJECT_EMPTY), "empty");
    assert_string_equal(annotation_reject_name(ANNOTATION_REJECT_TOO_LONG), "too_long");
    assert_string_equal(annotation_reject_name(ANNOTATION_REJECT_CONTROL_CHAR), "control_char");
    assert_string_equal(annotation_reject_name(ANNOTATION_REJECT_INVALID_UTF8), "invalid_utf8");
    assert_string_equal(annotation_reject_name(ANNOTATION_REJECT_BAD_DIRECTIVE), "bad_directive");
    assert_string_equal(annotation_reject_name(ANNOTATION_REJECT_UNTERMINATED), "unterminated");
    assert_string_equal(annotation_reject_name(ANNOTATION_REJECT_COUNT), "unknown");
}

static void test_stats_init(void **state)
{
    (void)state;
    annotation_stats st;
    memset(&st, 0xab, sizeof(st));
    annotation_stats_init(&st);
    assert_int_equal(st.comments, 0);
    assert_int_equal(st.keys, 0);
    assert_int_equal(st.unknown_directives, 0);
    for (int i = 0; i < ANNOTATION_REJECT_COUNT; i++)
        assert_int_equal(st.rejected[i], 0);
    assert_int_equal(st.log_limit.interval_s, 10);
    assert_int_equal(st.log_limit.burst, 10);
}

/* Reads the file at path into buf (NUL-terminated); returns its length. */
static size_t slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

static void test_rejection_log_is_escaped_and_limited(void **state)
{
    (void)state;
    char path[] = "/tmp/test_annotation_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(log_open(path), 0);

    collector c;
    run(&c, "/* mcsqueal: a\x01\x1b[2Jb\x7f\xff\"\\ */", 0);
    char many[4096] = "/* mcsqueal:";
    for (int i = 0; i < 100; i++)
        strcat(many, " x\x01");
    strcat(many, " */");
    run(&c, many, 0);
    assert_int_equal(c.stats.rejected[ANNOTATION_REJECT_CONTROL_CHAR], 100);
    assert_int_equal(log_open(NULL), 0);

    char buf[16384];
    size_t n = slurp(path, buf, sizeof(buf));
    unlink(path);
    size_t lines = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)buf[i];
        if (b == '\n')
            lines++;
        else if (b < 0x20 || b >= 0x7f)
            fail_msg("raw byte 0x%02x in log at offset %zu", b, i);
    }
    assert_non_null(strstr(buf, "a\\x01\\x1b[2Jb\\x7f\\xff\\x22\\x5c"));
    assert_non_null(strstr(buf, "control_char"));
    /* 10 per 10 s (plus, at most, one "suppressed" note). */
    assert_in_range(lines, 2, 11);
}

/* ---- lexing: what is a real comment ---- */

static void test_single_quoted_fake(void **state)
{
    (void)state;
    expect_only("UPDATE t SET a='/* mcsqueal: x */'", 0, NULL);
    expect_only("UPDATE t SET a='/* mcsqueal: x */' /* mcsqueal: k */", 0, "k");
    expect_only("UPDATE t SET a='/* mcsqueal: x */' /* mcsqueal: k */", NBE, "k");
}

static void test_double_quoted_fake(void **state)
{
    (void)state;
    expect_only("UPDATE t SET a=\"/* mcsqueal: x */\"", 0, NULL);
    expect_only("UPDATE t SET a=\"/* mcsqueal: x */\" /* mcsqueal: k */", 0, "k");
    expect_only("UPDATE t SET a=\"/* mcsqueal: x */\" /* mcsqueal: k */", NBE, "k");
}

static void test_backquoted_fake(void **state)
{
    (void)state;
    expect_only("UPDATE `/* mcsqueal: x */` SET a=1", 0, NULL);
    expect_only("UPDATE `/* mcsqueal: x */` SET a=1 /* mcsqueal: k */", 0, "k");
}

static void test_other_quotes_inside_strings(void **state)
{
    (void)state;
    expect_only("SET a='say \"hi\" `x`' /* mcsqueal: k */", 0, "k");
    expect_only("SET a=\"it's `x`\" /* mcsqueal: k */", 0, "k");
    expect_only("SELECT `it's \"x\"` /* mcsqueal: k */", 0, "k");
    expect_only("SET a='-- #' /* mcsqueal: k */", 0, "k");
}

static void test_backslash_escaped_quote(void **state)
{
    (void)state;
    /* Default: \' is an escaped quote, so the string runs to the last '. */
    expect_only("UPDATE t SET a='it\\'s /* mcsqueal: k */'", 0, NULL);
    expect_only("UPDATE t SET a=\"say \\\"/* mcsqueal: k */\"", 0, NULL);
    expect_only("UPDATE t SET a='it\\'s /* mcsqueal: x */' /* mcsqueal: k */", 0, "k");
}

static void test_no_backslash_escapes(void **state)
{
    (void)state;
    /* NO_BACKSLASH_ESCAPES: 'it\' is a whole string, then `s`, then a real
     * comment, then a quote that is never closed. The MySQL lexer returns
     * the string, the identifier and skips the comment before it reaches the
     * unterminated quote, so the key counts; nothing after the quote would. */
    collector c;
    run(&c, "UPDATE t SET a='it\\'s /* mcsqueal: k */'", NBE);
    expect_keys(&c, "k");
    run(&c, "UPDATE t SET a=\"it\\\"s /* mcsqueal: k */\" /* mcsqueal: z */", NBE);
    expect_keys(&c, "k");
    /* A Windows path: a valid statement only under NO_BACKSLASH_ESCAPES. */
    expect_only("UPDATE t SET p='C:\\' /* mcsqueal: k */", NBE, "k");
    expect_only("UPDATE t SET p='C:\\' /* mcsqueal: k */", 0, NULL);
    /* Doubled quotes still escape. */
    expect_only("UPDATE t SET a='it''s /* mcsqueal: x */'", NBE, NULL);
}

static void test_escaped_backslash_before_quote(void **state)
{
    (void)state;
    /* '\\' is one backslash; the next quote closes the string. */
    expect_only("SET a='a\\\\' /* mcsqueal: k */", 0, "k");
    expect_only("SET a='a\\\\' /* mcsqueal: k */", NBE, "k");
    /* '\\\'' : backslash, quote, then the close. */
    expect_only("SET a='\\\\\\'' /* mcsqueal: k */", 0, "k");
    /* "\\\' x" keeps the string open: the comment is inside it. */
    expect_only("SET a='\\\\\\' /* mcsqueal: x */'", 0, NULL);
    /* Backslash-escaped ordinary characters. */
    expect_only("SET a='\\n\\t\\%' /* mcsqueal: k */", 0, "k");
}

static void test_doubled_quotes(void **state)
{
    (void)state;
    expect_only("SET a='it''s /* mcsqueal: x */'", 0, NULL);
    expect_only("SET a='it''s' /* mcsqueal: k */", 0, "k");
    expect_only("SET a=\"say \"\"/* mcsqueal: x */\"\"\"", 0, NULL);
    expect_only("SET a=\"say \"\"hi\"\"\" /* mcsqueal: k */", 0, "k");
    expect_only("SELECT `a``/* mcsqueal: x */`", 0, NULL);
    expect_only("SELECT `a``b` /* mcsqueal: k */", 0, "k");
    /* Empty strings. */
    expect_only("SET a='', b=\"\", c=`` /* mcsqueal: k */", 0, "k");
    /* Backslash then doubled quote: \' then '' then the close. */
    expect_only("SET a='\\'''' /* mcsqueal: k */", 0, "k");
}

static void test_backquote_has_no_backslash_escape(void **state)
{
    (void)state;
    expect_only("SELECT `a\\` /* mcsqueal: k */", 0, "k");
}

static void test_ansi_quotes(void **state)
{
    (void)state;
    /* Under ANSI_QUOTES "..." is an identifier: no backslash escapes. */
    expect_only("SELECT \"a\\\" /* mcsqueal: k */", ANNOTATION_ANSI_QUOTES, "k");
    expect_only("SELECT \"a\\\" /* mcsqueal: k */", 0, NULL);
    expect_only("SELECT \"a\"\"/* mcsqueal: x */\"", ANNOTATION_ANSI_QUOTES, NULL);
    /* Single quotes keep their backslash escapes. */
    expect_only("SELECT 'a\\' /* mcsqueal: x */'", ANNOTATION_ANSI_QUOTES, NULL);
}

static void test_unterminated_string_stops_scan(void **state)
{
    (void)state;
    collector c;
    run(&c, "/* mcsqueal: a */ SET x='oops /* mcsqueal: b */", 0);
    expect_keys(&c, "a");
    assert_int_equal(total_rejected(&c), 0);
    run(&c, "/* mcsqueal: a */ SET x=\"oops /* mcsqueal: b */", 0);
    expect_keys(&c, "a");
    run(&c, "/* mcsqueal: a */ SELECT `oops /* mcsqueal: b */", 0);
    expect_keys(&c, "a");
    /* A trailing backslash escapes the end of the text. */
    run(&c, "/* mcsqueal: a */ SET x='\\", 0);
    expect_keys(&c, "a");
}

static void test_dash_dash_comment(void **state)
{
    (void)state;
    expect_only("UPDATE t SET a=1 -- /* mcsqueal: x */", 0, NULL);
    expect_only("UPDATE t SET a=1 -- /* mcsqueal: x */\n/* mcsqueal: k */", 0, "k");
    expect_only("UPDATE t SET a=1 --\t/* mcsqueal: x */", 0, NULL);
    expect_only("UPDATE t SET a=1 --\r/* mcsqueal: x */", 0, NULL);
    /* Any control byte after the dashes starts a comment too. */
    expect_only("UPDATE t SET a=1 --\x01/* mcsqueal: x */", 0, NULL);
    expect_only("UPDATE t SET a=1 --\x7f/* mcsqueal: x */", 0, NULL);
    /* "--" right before a newline is a comment of its own. */
    expect_only("UPDATE t SET a=1 --\n/* mcsqueal: k */", 0, "k");
    /* A quote in a line comment opens nothing. */
    expect_only("UPDATE t SET a=1 -- it's\n/* mcsqueal: k */", 0, "k");
}

static void test_dash_dash_not_comment(void **state)
{
    (void)state;
    expect_only("UPDATE t SET a=1 --x /* mcsqueal: k */", 0, "k");
    expect_only("UPDATE t SET a=a--1 /* mcsqueal: k */", 0, "k");
    expect_only("UPDATE t SET a=a--/* mcsqueal: k */", 0, "k");
    expect_only("UPDATE t SET a=- -1 /* mcsqueal: k */", 0, "k");
    /* "---x": no pair of dashes is followed by a space. */
    expect_only("SELECT 1 ---x /* mcsqueal: k */", 0, "k");
    /* "--- x": the second and third dash start a comment. */
    expect_only("SELECT 1 --- /* mcsqueal: x */", 0, NULL);
    /* "--" at the very end is a comment and harmless. */
    expect_only("/* mcsqueal: k */--", 0, "k");
    expect_only("/* mcsqueal: k */-", 0, "k");
}

static void test_hash_comment(void **state)
{
    (void)state;
    expect_only("UPDATE t SET a=1 # /* mcsqueal: x */", 0, NULL);
    expect_only("UPDATE t SET a=1 #/* mcsqueal: x */\n/* mcsqueal: k */", 0, "k");
    expect_only("UPDATE t SET a=1 # it's\n/* mcsqueal: k */", 0, "k");
    /* Only a newline ends it. */
    expect_only("UPDATE t SET a=1 # x\r/* mcsqueal: x */", 0, NULL);
    expect_only("# x\n# y\n/* mcsqueal: k */ # z", 0, "k");
}

static void test_executable_comment(void **state)
{
    (void)state;
    expect_only("/*! mcsqueal: x */", 0, NULL);
    expect_only("/*!mcsqueal:x*/", 0, NULL);
    expect_only("/*!50000 mcsqueal: x */", 0, NULL);
    expect_only("/*!50000 SET @a='/* mcsqueal: x */", 0, NULL);
    /* Skipped to the first star-slash, even with an annotation inside. */
    expect_only("/*!50000 /* mcsqueal: x */ */", 0, NULL);
    expect_only("/*!50000 SET a=1 */ /* mcsqueal: k */", 0, "k");
    /* A quote inside does not open a string. */
    expect_only("/*!50000 ' */ /* mcsqueal: k */", 0, "k");
}

static void test_mariadb_executable_comment(void **state)
{
    (void)state;
    expect_only("/*M! mcsqueal: x */", 0, NULL);
    expect_only("/*M!100100 mcsqueal: x */", 0, NULL);
    expect_only("/*M!100100 /* mcsqueal: x */ */", 0, NULL);
    expect_only("/*M!100100 ' */ /* mcsqueal: k */", 0, "k");
}

static void test_optimizer_hint(void **state)
{
    (void)state;
    expect_only("SELECT /*+ mcsqueal: x */ 1", 0, NULL);
    expect_only("SELECT /*+ BKA(t) /* mcsqueal: x */ 1", 0, NULL);
    expect_only("SELECT /*+ BKA(t) */ 1 /* mcsqueal: k */", 0, "k");
}

static void test_slash_without_star(void **state)
{
    (void)state;
    expect_only("SET a=4/2 /* mcsqueal: k */", 0, "k");
    expect_only("SET a=1 / * mcsqueal: x */", 0, NULL);
    expect_only("SET a=1 // mcsqueal: x */", 0, NULL);
}

static void test_tag_inside_string_then_real(void **state)
{
    (void)state;
    /* The first "mcsqueal:" is in a string; the scan must find the next. */
    collector c;
    run(&c, "SET a='mcsqueal: /* mcsqueal: x */', b=\"mcsqueal:\" /* mcsqueal: k */", 0);
    expect_keys(&c, "k");
    run(&c, "-- mcsqueal:\n# mcsqueal:\n/* mcsqueal: */ /* mcsqueal: k */", 0);
    expect_keys(&c, "k");
    assert_int_equal(c.stats.comments, 2);
}

/* The scan tests 16 bytes at a time: every rule must hold at every offset. */
static void test_every_alignment(void **state)
{
    (void)state;
    char sql[256];
    collector c;
    for (int pre = 0; pre < 48; pre++) {
        for (int post = 0; post < 20; post++) {
            snprintf(sql, sizeof(sql), "%.*s/* mcsqueal: k */%.*s", pre,
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", post,
                     "yyyyyyyyyyyyyyyyyyyyyyyyyy");
            run(&c, sql, 0);
            expect_keys(&c, "k");
            snprintf(sql, sizeof(sql),
                     "%.*s'/* mcsqueal: x */'%.*s-- /* mcsqueal: y */\n/*mcsqueal:k*/", pre,
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", post,
                     "yyyyyyyyyyyyyyyyyyyyyyyyyy");
            run(&c, sql, 0);
            expect_keys(&c, "k");
            snprintf(sql, sizeof(sql), "%.*s#mcsqueal:%.*s", pre,
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", post,
                     "yyyyyyyyyyyyyyyyyyyyyyyyyy");
            run(&c, sql, 0);
            expect_no_keys(&c);
            assert_int_equal(total_rejected(&c), 0);
        }
    }
}

/* ---- fuzz-style checks against a reference implementation ---- */

static bool ref_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool ref_probe(const char *v, size_t n, int64_t *out)
{
    static const char max[] = "9223372036854775807";
    size_t i = 0;
    for (size_t k = 0; k < n; k++) {
        if (v[k] < '0' || v[k] > '9')
            return false;
    }
    while (i < n && v[i] == '0')
        i++;
    size_t digits = n - i;
    if (digits == 0 || digits > 19 || (digits == 19 && memcmp(v + i, max, 19) > 0))
        return false;
    uint64_t x = 0;
    for (; i < n; i++)
        x = x * 10 + (uint64_t)(v[i] - '0');
    *out = (int64_t)x;
    return true;
}

static void ref_directive(const char *t, size_t n, const char **marker, size_t *mlen,
                          const annotation_handler *h, annotation_stats *st)
{
    size_t eq = 0;
    while (eq < n && t[eq] != '=')
        eq++;
    const char *v = t + eq + 1;
    size_t vlen = n - eq - 1;
    int64_t probe;
    if (eq == n) {
        st->unknown_directives++;
    } else if (eq == 7 && memcmp(t, "@marker", 7) == 0) {
        if (marker_ok(v, vlen)) {
            *marker = v;
            *mlen = vlen;
        } else {
            st->rejected[ANNOTATION_REJECT_BAD_DIRECTIVE]++;
        }
    } else if (eq == 6 && memcmp(t, "@probe", 6) == 0) {
        if (ref_probe(v, vlen, &probe))
            h->on_probe(h->ctx, probe);
        else
            st->rejected[ANNOTATION_REJECT_BAD_DIRECTIVE]++;
    } else {
        st->unknown_directives++;
    }
}

static void ref_body(const char *b, const char *e, const annotation_handler *h,
                     annotation_stats *st)
{
    const char *marker = NULL;
    size_t mlen = 0;
    st->comments++;
    for (int pass = 0; pass < 2; pass++) {
        const char *p = b;
        while (p < e) {
            if (ref_space(*p)) {
                p++;
                continue;
            }
            const char *t = p;
            while (p < e && !ref_space(*p))
                p++;
            size_t n = (size_t)(p - t);
            if (pass == 0 && t[0] == '@') {
                ref_directive(t, n, &marker, &mlen, h, st);
            } else if (pass == 1 && t[0] != '@') {
                cache_key_verdict v = cache_key_check(t, n);
                if (v == CACHE_KEY_OK) {
                    h->on_key(h->ctx, t, n, marker, mlen);
                    st->keys++;
                } else {
                    st->rejected[(int)v - 1]++;
                }
            }
        }
    }
}

static bool ref_dash_comment(const char *s, size_t n, size_t i)
{
    if (s[i] != '-' || i + 1 >= n || s[i + 1] != '-')
        return false;
    return i + 2 == n || (uint8_t)s[i + 2] <= ' ' || s[i + 2] == 0x7f;
}

/* Returns the index after the string opening at s[i], or n+1 if unterminated. */
static size_t ref_string(const char *s, size_t n, size_t i, unsigned flags)
{
    char q = s[i];
    bool bs = q != '`' && !(flags & NBE) && !(q == '"' && (flags & ANNOTATION_ANSI_QUOTES));
    size_t j = i + 1;
    for (;;) {
        if (j >= n)
            return n + 1;
        if (bs && s[j] == '\\') {
            j += 2;
        } else if (s[j] == q && j + 1 < n && s[j + 1] == q) {
            j += 2;
        } else if (s[j] == q) {
            return j + 1;
        } else {
            j++;
        }
    }
}

/* Byte-at-a-time reading of the contract; same interface as annotation_parse. */
static void ref_parse(const char *s, size_t n, unsigned flags, const annotation_handler *h,
                      annotation_stats *st)
{
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '\'' || c == '"' || c == '`') {
            i = ref_string(s, n, i, flags);
        } else if (c == '#' || ref_dash_comment(s, n, i)) {
            while (i < n && s[i] != '\n')
                i++;
            i++;
        } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
            size_t k = i + 2, t = i + 2;
            while (k + 1 < n && !(s[k] == '*' && s[k + 1] == '/'))
                k++;
            while (t < n && ref_space(s[t]))
                t++;
            bool ann = n - t >= 9 && memcmp(s + t, "mcsqueal:", 9) == 0;
            if (k + 1 >= n) {
                if (ann)
                    st->rejected[ANNOTATION_REJECT_UNTERMINATED]++;
                return;
            }
            if (ann)
                ref_body(s + t + 9, s + k, h, st);
            i = k + 2;
        } else {
            i++;
        }
    }
}

static void dump_input(const char *s, size_t n, unsigned flags)
{
    fprintf(stderr, "input (flags %u, %zu bytes): \"", flags, n);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        if (b >= 0x20 && b < 0x7f && b != '\\' && b != '"')
            fputc(b, stderr);
        else
            fprintf(stderr, "\\x%02x", b);
    }
    fprintf(stderr, "\"\n");
}

static bool same_results(const collector *a, const collector *b)
{
    if (a->nkeys != b->nkeys || a->nprobes != b->nprobes)
        return false;
    if (a->stats.comments != b->stats.comments || a->stats.keys != b->stats.keys ||
        a->stats.unknown_directives != b->stats.unknown_directives)
        return false;
    if (memcmp(a->stats.rejected, b->stats.rejected, sizeof(a->stats.rejected)) != 0)
        return false;
    size_t nk = a->nkeys < MAX_KEYS ? a->nkeys : MAX_KEYS;
    for (size_t i = 0; i < nk; i++) {
        const got_key *x = &a->keys[i], *y = &b->keys[i];
        if (x->off != y->off || x->len != y->len || x->has_marker != y->has_marker ||
            x->marker_off != y->marker_off || x->marker_len != y->marker_len)
            return false;
    }
    size_t np = a->nprobes < MAX_PROBES ? a->nprobes : MAX_PROBES;
    return memcmp(a->probes, b->probes, np * sizeof(a->probes[0])) == 0;
}

/* Runs parser and reference on a private heap copy (so sanitizers see any
 * read past the end) and asserts they agree. */
static void differential(collector *got, collector *want, const char *text, size_t len,
                         unsigned flags)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len > 0)
        memcpy(copy, text, len);
    run_n(got, copy, len, flags);
    collector_reset(want, copy, len);
    annotation_handler h = {on_key, on_probe, want};
    ref_parse(copy, len, flags, &h, &want->stats);
    if (!same_results(got, want)) {
        dump_input(copy, len, flags);
        fprintf(stderr, "parser: %zu keys %zu probes; reference: %zu keys %zu probes\n", got->nkeys,
                got->nprobes, want->nkeys, want->nprobes);
        free(copy);
        fail_msg("parser and reference disagree");
    }
    free(copy);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

static collector fuzz_got, fuzz_want; /* too big for the stack */

static void test_fuzz_random_bytes(void **state)
{
    (void)state;
    uint64_t seed = 0x6d637371756561ULL;
    char buf[300];
    log_set_level(LOG_LEVEL_ERROR);
    for (int iter = 0; iter < 100000; iter++) {
        size_t len = rng_next(&seed) % sizeof(buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)rng_next(&seed);
        /* Half the buffers get an annotation opener so the scan runs. */
        if (iter % 2 == 0 && len >= 16) {
            size_t at = rng_next(&seed) % (len - 15);
            const char *opener = (iter % 4 == 0) ? "/* mcsqueal: " : "/*mcsqueal:";
            memcpy(buf + at, opener, strlen(opener));
        }
        differential(&fuzz_got, &fuzz_want, buf, len, (unsigned)(rng_next(&seed) & 3));
    }
    log_set_level(LOG_LEVEL_INFO);
}

static const char *const fragments[] = {
    "/*",
    "*/",
    "/* mcsqueal:",
    "/*mcsqueal:",
    " mcsqueal: ",
    "mcsqueal:",
    "'",
    "\"",
    "`",
    "\\",
    "\\\\",
    "''",
    "--",
    "-- ",
    "--x",
    "#",
    "\n",
    " ",
    "\t",
    "\r",
    "@marker=",
    "@marker=east",
    "@marker=a!",
    "@probe=",
    "@probe=123",
    "@probe=9223372036854775808",
    "@x=1",
    "@",
    "k",
    "key:1",
    "/*!",
    "/*+",
    "/*M!",
    "\xc3\xa9",
    "\xff",
    "\xc3",
    "\x01",
    "\x7f",
    "*",
    "/",
    "-",
    "=",
};

static size_t build_fragment_text(uint64_t *seed, char *buf, size_t size)
{
    size_t len = 0, n = rng_next(seed) % 24;
    for (size_t f = 0; f < n; f++) {
        uint64_t r = rng_next(seed);
        const char *frag = fragments[r % (sizeof(fragments) / sizeof(fragments[0]))];
        size_t flen = strlen(frag);
        if (r % 97 == 0) {
            flen = 240 + r % 20; /* a long token around the 250-byte limit */
            if (len + flen <= size)
                memset(buf + len, 'L', flen);
        } else if (r % 13 == 0) {
            flen = 1;
            if (len + flen <= size)
                buf[len] = (char)(r >> 32);
        } else if (len + flen <= size) {
            memcpy(buf + len, frag, flen);
        }
        if (len + flen > size)
            break;
        len += flen;
    }
    return len;
}

static void test_fuzz_fragments_match_reference(void **state)
{
    (void)state;
    uint64_t seed = 0x1234567887654321ULL;
    char buf[1024];
    log_set_level(LOG_LEVEL_ERROR);
    for (int iter = 0; iter < 200000; iter++) {
        size_t len = build_fragment_text(&seed, buf, sizeof(buf));
        differential(&fuzz_got, &fuzz_want, buf, len, (unsigned)(rng_next(&seed) & 3));
    }
    log_set_level(LOG_LEVEL_INFO);
}

/* Checks the reference itself on a few inputs, so a wrong reference cannot
 * hide behind agreement. */
static void test_reference_sanity(void **state)
{
    (void)state;
    static const char sql[] = "'/* mcsqueal: x */' /* mcsqueal: @marker=e k @probe=9 */ -- x";
    collector *c = &fuzz_want;
    collector_reset(c, sql, sizeof(sql) - 1);
    annotation_handler h = {on_key, on_probe, c};
    ref_parse(sql, sizeof(sql) - 1, 0, &h, &c->stats);
    expect_keys(c, "k");
    expect_marker(c, 0, "e");
    assert_int_equal(c->nprobes, 1);
    assert_int_equal(c->probes[0], 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_key),
        cmocka_unit_test(test_keys_in_order),
        cmocka_unit_test(test_annotation_anywhere),
        cmocka_unit_test(test_no_space_after_colon),
        cmocka_unit_test(test_at_sign_inside_key),
        cmocka_unit_test(test_token_runs_into_close),
        cmocka_unit_test(test_all_ascii_whitespace_separates),
        cmocka_unit_test(test_tag_is_case_sensitive),
        cmocka_unit_test(test_tag_needs_exact_spelling),
        cmocka_unit_test(test_tag_must_start_body),
        cmocka_unit_test(test_ordinary_comment_skipped_to_close),
        cmocka_unit_test(test_several_comments),
        cmocka_unit_test(test_empty_annotation),
        cmocka_unit_test(test_close_ends_annotation),
        cmocka_unit_test(test_quotes_inside_annotation_are_key_bytes),
        cmocka_unit_test(test_unterminated_annotation),
        cmocka_unit_test(test_unterminated_ordinary_comment),
        cmocka_unit_test(test_fast_path_without_tag),
        cmocka_unit_test(test_tag_outside_comment),
        cmocka_unit_test(test_short_and_empty_text),
        cmocka_unit_test(test_length_is_respected),
        cmocka_unit_test(test_nul_bytes_in_text),
        cmocka_unit_test(test_marker_before_keys),
        cmocka_unit_test(test_marker_after_keys),
        cmocka_unit_test(test_marker_does_not_leak),
        cmocka_unit_test(test_last_valid_marker_wins),
        cmocka_unit_test(test_marker_length_limits),
        cmocka_unit_test(test_marker_invalid_values),
        cmocka_unit_test(test_directive_alone_is_not_a_key),
        cmocka_unit_test(test_probe_valid),
        cmocka_unit_test(test_probe_invalid),
        cmocka_unit_test(test_probe_with_keys_and_marker),
        cmocka_unit_test(test_probe_without_handler),
        cmocka_unit_test(test_unknown_directives),
        cmocka_unit_test(test_key_250_vs_251_bytes),
        cmocka_unit_test(test_key_control_chars),
        cmocka_unit_test(test_whitespace_controls_split_tokens),
        cmocka_unit_test(test_multibyte_keys_accepted),
        cmocka_unit_test(test_invalid_utf8_rejected),
        cmocka_unit_test(test_reject_names),
        cmocka_unit_test(test_stats_init),
        cmocka_unit_test(test_rejection_log_is_escaped_and_limited),
        cmocka_unit_test(test_single_quoted_fake),
        cmocka_unit_test(test_double_quoted_fake),
        cmocka_unit_test(test_backquoted_fake),
        cmocka_unit_test(test_other_quotes_inside_strings),
        cmocka_unit_test(test_backslash_escaped_quote),
        cmocka_unit_test(test_no_backslash_escapes),
        cmocka_unit_test(test_escaped_backslash_before_quote),
        cmocka_unit_test(test_doubled_quotes),
        cmocka_unit_test(test_backquote_has_no_backslash_escape),
        cmocka_unit_test(test_ansi_quotes),
        cmocka_unit_test(test_unterminated_string_stops_scan),
        cmocka_unit_test(test_dash_dash_comment),
        cmocka_unit_test(test_dash_dash_not_comment),
        cmocka_unit_test(test_hash_comment),
        cmocka_unit_test(test_executable_comment),
        cmocka_unit_test(test_mariadb_executable_comment),
        cmocka_unit_test(test_optimizer_hint),
        cmocka_unit_test(test_slash_without_star),
        cmocka_unit_test(test_tag_inside_string_then_real),
        cmocka_unit_test(test_every_alignment),
        cmocka_unit_test(test_reference_sanity),
        cmocka_unit_test(test_fuzz_random_bytes),
        cmocka_unit_test(test_fuzz_fragments_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
