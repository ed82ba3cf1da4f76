/*
 * Unit tests of the name rule (core/name_rule.h): ASCII letters, digits and
 * the given punctuation only, whatever the locale; the region's length.
 */
#include "core/name_rule.h"

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static bool word(const char *s)
{
    return name_rule_word(s, strlen(s));
}

static bool region(const char *s)
{
    return name_rule_region(s, strlen(s));
}

static void test_word(void **state)
{
    (void)state;
    assert_true(word("eu-west_1.a"));
    assert_true(word("ABCxyz0189"));
    assert_true(word("")); /* the length is the caller's rule */
    assert_false(word("eu west"));
    assert_false(word("eu/west"));
    assert_false(word("a:b"));
    assert_false(word("a$b"));
    assert_false(word("caf\xc3\xa9"));         /* UTF-8 */
    assert_false(word("caf\xe9"));             /* Latin-1 */
    assert_false(name_rule_word("ab\0cd", 5)); /* a NUL inside is not a name */
}

/* Every byte outside ASCII letters, digits and the punctuation given is
 * refused, and every one inside accepted, in every locale there is. */
static void test_every_byte_in_every_locale(void **state)
{
    (void)state;
    static const char *const locales[] = {
        "C", "C.UTF-8", "en_US.UTF-8", "de_DE.ISO-8859-1", "en_US.ISO-8859-1", ""};
    for (size_t l = 0; l < sizeof(locales) / sizeof(locales[0]); l++) {
        setlocale(LC_ALL, locales[l]);
        for (int b = 0; b < 256; b++) {
            char c = (char)b;
            bool want = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
                        (b >= '0' && b <= '9') || b == '_' || b == '-';
            assert_int_equal(name_rule_chars(&c, 1, "_-"), want);
            assert_int_equal(name_rule_word(&c, 1), want || b == '.');
            assert_int_equal(name_rule_digit(c), b >= '0' && b <= '9');
        }
    }
    setlocale(LC_ALL, "C");
}

static void test_region(void **state)
{
    (void)state;
    char s[NAME_RULE_REGION_MAX + 2];
    memset(s, 'r', sizeof(s));
    s[NAME_RULE_REGION_MAX] = '\0';
    assert_true(region(s));
    s[NAME_RULE_REGION_MAX] = 'r';
    s[NAME_RULE_REGION_MAX + 1] = '\0';
    assert_false(region(s));
    assert_false(region(""));
    assert_true(region("w"));
    assert_true(region("eu-west.1_b"));
    assert_false(region("eu west"));
    assert_false(name_rule_region(NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_word),
        cmocka_unit_test(test_every_byte_in_every_locale),
        cmocka_unit_test(test_region),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
