/*
 * text_delete_put() and text_delete_reply_parse(): the text-protocol delete
 * a proxy pool sends (twemproxy's framing), and each answer line classified:
 * DELETED and NOT_FOUND confirm, the three error answers fail the one key,
 * anything else is out of step.
 */
#include "invalidator/text_delete.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static text_delete_reply parse(const char *line)
{
    return text_delete_reply_parse(line, strlen(line));
}

static void test_put(void **state)
{
    (void)state;
    char buf[64];
    size_t n = text_delete_put(buf, "app:", 4, "user:1", 6);
    assert_int_equal(n, TEXT_DELETE_OVERHEAD + 10);
    assert_memory_equal(buf, "delete app:user:1\r\n", n);
    n = text_delete_put(buf, "", 0, "k", 1);
    assert_int_equal(n, TEXT_DELETE_OVERHEAD + 1);
    assert_memory_equal(buf, "delete k\r\n", n);
}

static void test_confirming_answers(void **state)
{
    (void)state;
    assert_int_equal(parse("DELETED"), TEXT_DELETE_DELETED);
    assert_int_equal(parse("NOT_FOUND"), TEXT_DELETE_NOT_FOUND);
    assert_true(text_delete_confirmed(TEXT_DELETE_DELETED));
    assert_true(text_delete_confirmed(TEXT_DELETE_NOT_FOUND));
    assert_false(text_delete_confirmed(TEXT_DELETE_ERROR));
    assert_false(text_delete_confirmed(TEXT_DELETE_UNEXPECTED));
}

/* twemproxy answers SERVER_ERROR when the memcached behind it fails. */
static void test_error_answers(void **state)
{
    (void)state;
    static const char *errors[] = {"ERROR",
                                   "ERROR unknown command",
                                   "CLIENT_ERROR bad command line format",
                                   "CLIENT_ERROR",
                                   "SERVER_ERROR Connection refused",
                                   "SERVER_ERROR Connection timed out",
                                   "SERVER_ERROR out of memory"};
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
        assert_int_equal(parse(errors[i]), TEXT_DELETE_ERROR);
}

/* Answers to other commands, meta replies, prefixes and extensions of the
 * words, and partial lines are not answers to `delete`. */
static void test_unexpected(void **state)
{
    (void)state;
    static const char *lines[] = {
        "",           "DELETE",      "DELETEDX", "DELETED ",       "DELETED x", "deleted",
        "NOT_FOUNDS", "NOT_FOUND 1", "NOT_",     "STORED",         "END",       "VALUE k 0 1",
        "HD",         "NF",          "MN",       "VERSION 1.6.21", "ERRORS",    "SERVER_ERR",
        "EXISTS",     "TOUCHED",     " DELETED", "DELETED\r"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (parse(lines[i]) != TEXT_DELETE_UNEXPECTED)
            fail_msg("\"%s\" taken for an answer to delete", lines[i]);
    }
    /* the length counts, not a NUL */
    assert_int_equal(text_delete_reply_parse("DELETED\0junk", 12), TEXT_DELETE_UNEXPECTED);
    assert_int_equal(text_delete_reply_parse("DELETEDjunk", 7), TEXT_DELETE_DELETED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put),
        cmocka_unit_test(test_confirming_answers),
        cmocka_unit_test(test_error_answers),
        cmocka_unit_test(test_unexpected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
