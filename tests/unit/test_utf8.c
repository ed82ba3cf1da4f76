/*
 * Unit tests of the UTF-8 rule (core/utf8.h) shared by cache keys, bus
 * messages and diagnostics: named boundary cases, then every string of one
 * to three bytes and a sample of four-byte ones against a reference that
 * decodes by bit patterns.
 */
#include "core/utf8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8_reference.h"

static bool valid(const char *s)
{
    return utf8_valid((const unsigned char *)s, strlen(s));
}

static void test_named_cases(void **state)
{
    (void)state;
    assert_true(utf8_valid((const unsigned char *)"", 0));
    assert_true(valid("plain ascii \x01\x7f"));
    assert_true(valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    assert_true(valid("\xf4\x8f\xbf\xbf"));  /* U+10FFFF */
    assert_false(valid("\xf4\x90\x80\x80")); /* U+110000 */
    assert_false(valid("\xed\xa0\x80"));     /* U+D800, a surrogate */
    assert_true(valid("\xed\x9f\xbf"));      /* U+D7FF */
    assert_false(valid("\xc0\xaf"));         /* overlong '/' */
    assert_false(valid("\xe0\x80\xaf"));     /* overlong '/' */
    assert_false(valid("\xf0\x80\x80\xaf")); /* overlong '/' */
    assert_false(valid("\xe2\x82"));         /* truncated */
    assert_false(valid("\x80"));             /* lone continuation */
    assert_false(valid("\xff"));
    const unsigned char euro[] = {0xe2, 0x82, 0xac};
    assert_int_equal(utf8_sequence_len(euro, 3), 3);
    assert_int_equal(utf8_sequence_len(euro, 2), 0); /* cut short by n */
    assert_int_equal(utf8_sequence_len((const unsigned char *)"a", 1), 1);
}

/* All strings of one, two and three bytes. */
static void test_exhaustive_short(void **state)
{
    (void)state;
    uint8_t s[3];
    for (int a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        assert_int_equal(utf8_valid(s, 1), utf8_reference_valid(s, 1));
        for (int b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            assert_int_equal(utf8_valid(s, 2), utf8_reference_valid(s, 2));
            for (int c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                if (utf8_valid(s, 3) != utf8_reference_valid(s, 3))
                    fail_msg("mismatch on %02x %02x %02x", a, b, c);
            }
        }
    }
}

/* Four bytes: every lead byte from 0xe0 and every second byte, with
 * boundary values for the last two. */
static void test_four_byte_sample(void **state)
{
    (void)state;
    static const uint8_t tail[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                   0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    uint8_t s[4];
    for (int a = 0xe0; a < 256; a++) {
        for (int b = 0; b < 256; b++) {
            for (size_t c = 0; c < sizeof(tail); c++) {
                for (size_t d = 0; d < sizeof(tail); d++) {
                    s[0] = (uint8_t)a, s[1] = (uint8_t)b, s[2] = tail[c], s[3] = tail[d];
                    if (utf8_valid(s, 4) != utf8_reference_valid(s, 4))
                        fail_msg("mismatch on %02x %02x %02x %02x", a, b, tail[c], tail[d]);
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_cases),
        cmocka_unit_test(test_exhaustive_short),
        cmocka_unit_test(test_four_byte_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
