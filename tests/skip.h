/*
 * Skipping a test that cannot run here (the C side of
 * tests/integration/skips.py): one line "SKIP [id]: reason" that scripts/test
 * collects, then the skip. Under CI (the CI environment variable set to
 * anything but empty, 0 or false) a skip whose id is not in
 * MCSQ_ALLOWED_SKIPS (filled by scripts/test from README's "Skipped tests")
 * fails the test instead, with its reason.
 */
#ifndef MCSQ_TESTS_SKIP_H
#define MCSQ_TESTS_SKIP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The exit code ctest counts as skipped (SKIP_RETURN_CODE). */
#define MCSQ_EXIT_SKIP 77

static inline bool mcsq_under_ci(void)
{
    const char *ci = getenv("CI");
    return ci != NULL && ci[0] != '\0' && strcmp(ci, "0") != 0 && strcasecmp(ci, "false") != 0 &&
           strcasecmp(ci, "no") != 0;
}

static inline bool mcsq_skip_allowed(const char *id)
{
    const char *p = getenv("MCSQ_ALLOWED_SKIPS");
    size_t n = strlen(id);
    while (p != NULL && *p != '\0') {
        p += strspn(p, " ,");
        size_t len = strcspn(p, " ,");
        if (len == n && strncmp(p, id, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/* Prints why the test skips; returns whether it may (false: under CI and not
 * allowed, the test must fail). */
static inline bool mcsq_may_skip(const char *id, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline bool mcsq_may_skip(const char *id, const char *fmt, ...)
{
    bool ok = !mcsq_under_ci() || mcsq_skip_allowed(id);
    printf(ok ? "SKIP [%s]: " : "FAIL: a skip under CI=true that README does not allow: [%s] ", id);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(ok ? "\n"
              : " (scripts/deps installs what the tests need; README's \"Skipped "
                "tests\" lists the skips CI allows)\n");
    fflush(stdout);
    return ok;
}

/* The exit code of a test program that cannot run: 77, or 1 under CI. */
#define MCSQ_SKIP_EXIT(id, ...) (mcsq_may_skip((id), __VA_ARGS__) ? MCSQ_EXIT_SKIP : EXIT_FAILURE)

/* Inside a cmocka test (cmocka.h included before): skips it, or fails it
 * under CI. */
#define MCSQ_SKIP_TEST(id, ...)                                                                    \
    do {                                                                                           \
        if (mcsq_may_skip((id), __VA_ARGS__))                                                      \
            skip();                                                                                \
        fail_msg("skip not allowed under CI: [%s]", (id));                                         \
    } while (0)

#endif
