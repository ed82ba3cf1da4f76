/*
 * Unit tests for core/cache_key.c: the memcached key rules plus UTF-8
 * well-formedness. Besides hand-picked cases, every string of up to three
 * bytes (and a wide sample of four-byte ones) is compared with an
 * independent, arithmetic UTF-8 decoder.
 */
#include "core/cache_key.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8_reference.h"

#define CHECK(s) cache_key_check((s), sizeof(s) - 1)

static void test_empty(void **state)
{
    (void)state;
    assert_int_equal(cache_key_check("", 0), CACHE_KEY_EMPTY);
    assert_int_equal(cache_key_check(NULL, 0), CACHE_KEY_EMPTY);
}

static void test_simple_keys_ok(void **state)
{
    (void)state;
    assert_int_equal(CHECK("k"), CACHE_KEY_OK);
    assert_int_equal(CHECK("user:42"), CACHE_KEY_OK);
    assert_int_equal(CHECK("a/b-c_d.e|f{g}[h]'i\"j*k"), CACHE_KEY_OK);
}

static void test_every_printable_ascii_ok(void **state)
{
    (void)state;
    for (int c = 0x21; c < 0x7f; c++) {
        char key[3] = {'a', (char)c, 'z'};
        assert_int_equal(cache_key_check(key, 3), CACHE_KEY_OK);
    }
}

static void test_length_limit(void **state)
{
    (void)state;
    char key[CACHE_KEY_MAX_LEN + 2];
    memset(key, 'x', sizeof(key));
    assert_int_equal(cache_key_check(key, 1), CACHE_KEY_OK);
    assert_int_equal(cache_key_check(key, 250), CACHE_KEY_OK);
    assert_int_equal(cache_key_check(key, 251), CACHE_KEY_TOO_LONG);
    assert_int_equal(cache_key_check(key, 252), CACHE_KEY_TOO_LONG);
}

static void test_length_counts_bytes_not_characters(void **state)
{
    (void)state;
    char key[260];
    for (int i = 0; i < 125; i++)
        memcpy(key + 2 * i, "\xc3\xa9", 2); /* 125 x U+00E9 = 250 bytes */
    assert_int_equal(cache_key_check(key, 250), CACHE_KEY_OK);
    memcpy(key + 250, "\xc3\xa9", 2);
    assert_int_equal(cache_key_check(key, 252), CACHE_KEY_TOO_LONG);
    /* Cut inside a character: 249 bytes end with a lone lead byte. */
    assert_int_equal(cache_key_check(key, 249), CACHE_KEY_INVALID_UTF8);
    /* Shifted by one: starts with a continuation byte. */
    assert_int_equal(cache_key_check(key + 1, 249), CACHE_KEY_INVALID_UTF8);
}

static void test_control_chars_rejected(void **state)
{
    (void)state;
    for (int c = 0; c <= 0x20; c++) {
        char key[3] = {'a', 'b', 'c'};
        for (int pos = 0; pos < 3; pos++) {
            char k[3];
            memcpy(k, key, 3);
            k[pos] = (char)c;
            assert_int_equal(cache_key_check(k, 3), CACHE_KEY_CONTROL_CHAR);
        }
    }
    assert_int_equal(CHECK("a\x7f"), CACHE_KEY_CONTROL_CHAR);
    assert_int_equal(cache_key_check("a\0b", 3), CACHE_KEY_CONTROL_CHAR);
    assert_int_equal(CHECK("with space"), CACHE_KEY_CONTROL_CHAR);
}

static void test_valid_multibyte(void **state)
{
    (void)state;
    assert_int_equal(CHECK("caf\xc3\xa9"), CACHE_KEY_OK);      /* U+00E9 */
    assert_int_equal(CHECK("\xc2\x80"), CACHE_KEY_OK);         /* U+0080, first 2-byte */
    assert_int_equal(CHECK("\xdf\xbf"), CACHE_KEY_OK);         /* U+07FF */
    assert_int_equal(CHECK("\xe0\xa0\x80"), CACHE_KEY_OK);     /* U+0800, first 3-byte */
    assert_int_equal(CHECK("\xe2\x82\xac"), CACHE_KEY_OK);     /* U+20AC euro */
    assert_int_equal(CHECK("\xed\x9f\xbf"), CACHE_KEY_OK);     /* U+D7FF, below surrogates */
    assert_int_equal(CHECK("\xee\x80\x80"), CACHE_KEY_OK);     /* U+E000, above surrogates */
    assert_int_equal(CHECK("\xef\xbf\xbf"), CACHE_KEY_OK);     /* U+FFFF */
    assert_int_equal(CHECK("\xf0\x90\x80\x80"), CACHE_KEY_OK); /* U+10000, first 4-byte */
    assert_int_equal(CHECK("\xf0\x9f\x98\x80"), CACHE_KEY_OK); /* U+1F600 */
    assert_int_equal(CHECK("\xf4\x8f\xbf\xbf"), CACHE_KEY_OK); /* U+10FFFF, last */
    assert_int_equal(CHECK("k:\xe6\x97\xa5\xe6\x9c\xac"), CACHE_KEY_OK); /* Japanese */
}

static void test_overlongs_rejected(void **state)
{
    (void)state;
    assert_int_equal(CHECK("\xc0\x80"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\xc0\xaf"), CACHE_KEY_INVALID_UTF8); /* overlong '/' */
    assert_int_equal(CHECK("\xc1\xbf"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\xe0\x80\x80"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\xe0\x9f\xbf"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\xf0\x80\x80\x80"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\xf0\x8f\xbf\xbf"), CACHE_KEY_INVALID_UTF8);
}

static void test_surrogates_rejected(void **state)
{
    (void)state;
    assert_int_equal(CHECK("\xed\xa0\x80"), CACHE_KEY_INVALID_UTF8);             /* U+D800 */
    assert_int_equal(CHECK("\xed\xbf\xbf"), CACHE_KEY_INVALID_UTF8);             /* U+DFFF */
    assert_int_equal(CHECK("\xed\xa0\xbd\xed\xb8\x80"), CACHE_KEY_INVALID_UTF8); /* CESU pair */
}

static void test_above_max_rejected(void **state)
{
    (void)state;
    assert_int_equal(CHECK("\xf4\x90\x80\x80"), CACHE_KEY_INVALID_UTF8); /* U+110000 */
    assert_int_equal(CHECK("\xf5\x80\x80\x80"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\xf7\xbf\xbf\xbf"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\xf8\x88\x80\x80\x80"), CACHE_KEY_INVALID_UTF8); /* 5-byte form */
    assert_int_equal(CHECK("\xfe"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\xff"), CACHE_KEY_INVALID_UTF8);
}

static void test_truncated_and_stray_rejected(void **state)
{
    (void)state;
    assert_int_equal(CHECK("\xc3"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("a\xe2\x82"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\xf0\x9f\x98"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\xc3z"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\xe2\x82z"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\x80"), CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("a\xbf"
                           "b"),
                     CACHE_KEY_INVALID_UTF8);
    assert_int_equal(CHECK("\xc3\xa9\xa9"), CACHE_KEY_INVALID_UTF8);
}

static void test_verdict_precedence(void **state)
{
    (void)state;
    /* Control bytes win over bad UTF-8, wherever they are. */
    assert_int_equal(CHECK("\xff\x01"), CACHE_KEY_CONTROL_CHAR);
    assert_int_equal(CHECK("\x01\xff"), CACHE_KEY_CONTROL_CHAR);
    assert_int_equal(CHECK("\xc3\x01"), CACHE_KEY_CONTROL_CHAR);
    /* Length wins over content. */
    char key[300];
    memset(key, 0x01, sizeof(key));
    assert_int_equal(cache_key_check(key, sizeof(key)), CACHE_KEY_TOO_LONG);
}

static void test_verdict_names(void **state)
{
    (void)state;
    assert_string_equal(cache_key_verdict_name(CACHE_KEY_OK), "ok");
    assert_string_equal(cache_key_verdict_name(CACHE_KEY_EMPTY), "empty");
    assert_string_equal(cache_key_verdict_name(CACHE_KEY_TOO_LONG), "too_long");
    assert_string_equal(cache_key_verdict_name(CACHE_KEY_CONTROL_CHAR), "control_char");
    assert_string_equal(cache_key_verdict_name(CACHE_KEY_INVALID_UTF8), "invalid_utf8");
    assert_string_equal(cache_key_verdict_name((cache_key_verdict)99), "unknown");
}

static cache_key_verdict ref_check(const uint8_t *s, size_t n)
{
    return utf8_reference_valid(s, n) ? CACHE_KEY_OK : CACHE_KEY_INVALID_UTF8;
}

static int next_nonctl(int b)
{
    b++;
    return b == 0x7f ? 0x80 : b;
}

/* All 1-, 2- and 3-byte strings of non-control bytes. */
static void test_exhaustive_short_strings(void **state)
{
    (void)state;
    uint8_t s[3];
    for (int a = 0x21; a <= 0xff; a = next_nonctl(a)) {
        s[0] = (uint8_t)a;
        assert_int_equal(cache_key_check((char *)s, 1), ref_check(s, 1));
        for (int b = 0x21; b <= 0xff; b = next_nonctl(b)) {
            s[1] = (uint8_t)b;
            assert_int_equal(cache_key_check((char *)s, 2), ref_check(s, 2));
            for (int c = 0x21; c <= 0xff; c = next_nonctl(c)) {
                s[2] = (uint8_t)c;
                if (cache_key_check((char *)s, 3) != ref_check(s, 3))
                    fail_msg("mismatch on %02x %02x %02x", a, b, c);
            }
        }
    }
}

/* Four-byte strings: every lead byte >= 0xe0 and every second byte, with
 * boundary values for the last two. */
static void test_four_byte_sample(void **state)
{
    (void)state;
    static const uint8_t tail[] = {0x41, 0x7e, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    uint8_t s[4];
    for (int a = 0xe0; a <= 0xff; a++) {
        for (int b = 0x21; b <= 0xff; b = next_nonctl(b)) {
            for (size_t c = 0; c < sizeof(tail); c++) {
                for (size_t d = 0; d < sizeof(tail); d++) {
                    s[0] = (uint8_t)a, s[1] = (uint8_t)b, s[2] = tail[c], s[3] = tail[d];
                    if (cache_key_check((char *)s, 4) != ref_check(s, 4))
                        fail_msg("mismatch on %02x %02x %02x %02x", s[0], s[1], s[2], s[3]);
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_simple_keys_ok),
        cmocka_unit_test(test_every_printable_ascii_ok),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_length_counts_bytes_not_characters),
        cmocka_unit_test(test_control_chars_rejected),
        cmocka_unit_test(test_valid_multibyte),
        cmocka_unit_test(test_overlongs_rejected),
        cmocka_unit_test(test_surrogates_rejected),
        cmocka_unit_test(test_above_max_rejected),
        cmocka_unit_test(test_truncated_and_stray_rejected),
        cmocka_unit_test(test_verdict_precedence),
        cmocka_unit_test(test_verdict_names),
        cmocka_unit_test(test_exhaustive_short_strings),
        cmocka_unit_test(test_four_byte_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
