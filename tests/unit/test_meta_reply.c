/*
 * meta_reply_parse(): memcached 1.6 meta reply header lines as the lease
 * client reads them (codes, value size, c/W/X/Z flags in any order, unknown
 * flags skipped), and lines that are not meta replies refused.
 */
#include "marker/meta_reply.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static meta_reply parse_ok(const char *line)
{
    meta_reply r;
    if (meta_reply_parse(line, strlen(line), &r) != 0)
        fail_msg("refused: \"%s\"", line);
    return r;
}

static void test_values_and_flags(void **state)
{
    (void)state;
    meta_reply r = parse_ok("VA 0 c1 t30 W");
    assert_int_equal(r.code, META_VA);
    assert_int_equal(r.value_len, 0);
    assert_int_equal(r.cas, 1);
    assert_true(r.win);
    assert_false(r.stale || r.won_elsewhere);
    r = parse_ok("VA 12 c18446744073709551615 Z X");
    assert_int_equal(r.value_len, 12);
    assert_true(r.cas == UINT64_MAX);
    assert_true(r.stale && r.won_elsewhere && !r.win);
    r = parse_ok("VA 2 f0 s2 O17 kuser:1 c3");
    assert_int_equal(r.cas, 3);
    assert_false(r.stale || r.won_elsewhere || r.win);
    r = parse_ok("VA 5");
    assert_int_equal(r.value_len, 5);
    assert_int_equal(r.cas, 0);
    assert_false(r.has_ttl);
    r = parse_ok("HD c7 t30");
    assert_true(r.has_ttl && r.ttl_s == 30 && r.cas == 7);
    r = parse_ok("HD h0 c0 t-1");
    assert_true(r.has_ttl && r.ttl_s == -1);
}

static void test_codes(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        meta_reply_code code;
    } cases[] = {{"HD", META_HD}, {"HD c9", META_HD}, {"EN", META_EN},
                 {"EX", META_EX}, {"NF", META_NF},    {"NF O17", META_NF},
                 {"NS", META_NS}, {"MN", META_MN},    {"ERROR", META_ERROR}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(parse_ok(cases[i].line).code, cases[i].code);
    meta_reply r = parse_ok("SERVER_ERROR out of memory storing object");
    assert_int_equal(r.code, META_SERVER_ERROR);
    assert_int_equal(r.text_len, strlen("out of memory storing object"));
    assert_memory_equal(r.text, "out of memory storing object", r.text_len);
    r = parse_ok("CLIENT_ERROR bad data chunk");
    assert_int_equal(r.code, META_CLIENT_ERROR);
    assert_memory_equal(r.text, "bad data chunk", r.text_len);
}

static void test_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "   ",
        "VALUE k 0 1",
        "END",
        "va 1",
        "VA",
        "VA x",
        "VA -1",
        "VA 1x",
        "VA 99999999999999999999",
        "VA 1 c",
        "VA 1 cx",
        "HD t",
        "HD t-2",
        "HD tx",
        "HD t9223372036854775808",
        "VA 1 c18446744073709551616",
        "VA 1 1",
        "HD =",
        "STORED",
        "HTTP/1.1 400 Bad Request",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        meta_reply r;
        if (meta_reply_parse(bad[i], strlen(bad[i]), &r) != -1)
            fail_msg("accepted: \"%s\"", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_flags),
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
