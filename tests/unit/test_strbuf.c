/*
 * Unit tests of strbuf: integer formatting (against printf), JSON string
 * escaping of keys, and the lossy JSON text form used for statements.
 */
#include "core/strbuf.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void assert_sb(strbuf *sb, const char *want)
{
    assert_int_equal(sb->len, strlen(want));
    assert_memory_equal(sb->buf, want, sb->len);
    sb->len = 0;
}

static void test_integers_match_printf(void **state)
{
    (void)state;
    static const uint64_t edges[] = {0,   1,    9,     10,    99,        100,       101,
                                     999, 1000, 12345, 99999, 100000000, UINT64_MAX};
    strbuf sb;
    strbuf_init(&sb);
    char want[32];
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        strbuf_append_u64(&sb, edges[i]);
        snprintf(want, sizeof(want), "%" PRIu64, edges[i]);
        assert_sb(&sb, want);
    }
    strbuf_append_i64(&sb, INT64_MIN);
    assert_sb(&sb, "-9223372036854775808");
    srand(3);
    for (int i = 0; i < 200000; i++) {
        uint64_t v = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 11) ^ (uint64_t)rand();
        v >>= rand() % 64;
        strbuf_append_i64(&sb, (int64_t)v);
        snprintf(want, sizeof(want), "%" PRId64, (int64_t)v);
        assert_sb(&sb, want);
    }
    strbuf_deinit(&sb);
}

static void test_json_string_escaping(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb);
    strbuf_append_json_string(&sb, "user:42", 7);
    assert_sb(&sb, "\"user:42\"");
    strbuf_append_json_string(&sb, "a\"b\\c\n\x01\x7f", 8);
    assert_sb(&sb, "\"a\\\"b\\\\c\\n\\u0001\\u007f\"");
    strbuf_append_json_string(&sb, "caf\xc3\xa9", 5); /* UTF-8 passes through */
    assert_sb(&sb, "\"caf\xc3\xa9\"");
    strbuf_deinit(&sb);
}

/* The escaping, byte by byte, for comparison. */
static void escape_slowly(const unsigned char *s, size_t n, char *out)
{
    *out++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        if (c == '"' || c == '\\')
            out += sprintf(out, "\\%c", c);
        else if (c == '\n')
            out += sprintf(out, "\\n");
        else if (c == '\r')
            out += sprintf(out, "\\r");
        else if (c == '\t')
            out += sprintf(out, "\\t");
        else if (c < 0x20 || c == 0x7f)
            out += sprintf(out, "\\u%04x", c);
        else
            *out++ = (char)c;
    }
    *out++ = '"';
    *out = '\0';
}

/* Strings of 0..40 bytes (8 bytes at a time, then the rest) with one byte
 * of every value at every position, among bytes either side of the ones
 * that need escaping (0x1f/0x20, '!'/'#', '['/']', 0x7e/0x80, 0xff). */
static void test_json_escaping_every_position(void **state)
{
    (void)state;
    static const unsigned char fillers[] = {0x20, '!', '#', '[', ']', 0x7e, 0x80, 0xff, 'a'};
    unsigned char s[40];
    char want[40 * 6 + 3];
    strbuf sb;
    strbuf_init(&sb);
    for (size_t n = 1; n <= sizeof(s); n++) {
        for (size_t f = 0; f < sizeof(fillers); f++) {
            memset(s, fillers[f], n);
            for (size_t pos = 0; pos < n; pos++) {
                for (unsigned c = 0; c < 256; c++) {
                    s[pos] = (unsigned char)c;
                    escape_slowly(s, n, want);
                    strbuf_append_json_string(&sb, (const char *)s, n);
                    assert_sb(&sb, want);
                }
                s[pos] = fillers[f];
            }
        }
    }
    strbuf_deinit(&sb);
}

static void test_json_text_replaces_invalid_utf8(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb);
    strbuf_append_json_text(&sb, "ok \xff x \xc3\xa9 \xed\xa0\x80", 13);
    assert_sb(&sb, "\"ok \\ufffd x \xc3\xa9 \\ufffd\\ufffd\\ufffd\"");
    strbuf_deinit(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers_match_printf),
        cmocka_unit_test(test_json_string_escaping),
        cmocka_unit_test(test_json_escaping_every_position),
        cmocka_unit_test(test_json_text_replaces_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
