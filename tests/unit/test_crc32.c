/*
 * Unit tests of crc32_update(): equal to zlib's crc32() for every length and
 * alignment, in one call or split across calls, on both code paths.
 */
#include "core/crc32.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include <cmocka.h>

#include "skip.h"

static void fill_random(uint8_t *buf, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)rand();
}

static void *crc_main(void *arg)
{
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7);
    *(uint32_t *)arg = crc32_update(0, buf, sizeof(buf));
    return NULL;
}

/* Regression: the tables were set up lazily without a lock, and the scan's
 * checksum verifier thread raced the scan for them (ThreadSanitizer). Runs
 * first, so that these threads make the first calls of the process. */
static void test_first_calls_from_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    uint32_t crc[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, crc_main, &crc[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 1; i < 4; i++)
        assert_int_equal(crc[i], crc[0]);
}

static void test_known_value(void **state)
{
    (void)state;
    /* the standard check value of CRC-32/ISO-HDLC */
    assert_int_equal(crc32_update(0, "123456789", 9), 0xcbf43926u);
    assert_int_equal(crc32_update(0, "", 0), 0);
}

static void test_matches_zlib_all_lengths(void **state)
{
    (void)state;
    static uint8_t buf[4096 + 64];
    for (unsigned seed = 1; seed <= 20; seed++) {
        fill_random(buf, sizeof(buf), seed);
        for (size_t len = 0; len <= 4096; len += (len < 300 ? 1 : 37)) {
            size_t off = (seed * 7 + len) % 64;
            uint32_t want = (uint32_t)crc32(0, buf + off, (uInt)len);
            assert_int_equal(crc32_update(0, buf + off, len), want);
        }
    }
}

static void test_split_calls(void **state)
{
    (void)state;
    static uint8_t buf[1000];
    fill_random(buf, sizeof(buf), 99);
    uint32_t whole = (uint32_t)crc32(0, buf, sizeof(buf));
    for (size_t cut = 0; cut <= sizeof(buf); cut += 13) {
        uint32_t c = crc32_update(0, buf, cut);
        assert_int_equal(crc32_update(c, buf + cut, sizeof(buf) - cut), whole);
    }
}

static void test_pclmul_fold_direct(void **state)
{
    (void)state;
    if (!crc32_pclmul_usable())
        MCSQ_SKIP_TEST("pclmul", "the CPU lacks PCLMULQDQ and SSE4.1");
    static uint8_t buf[1024];
    fill_random(buf, sizeof(buf), 5);
    for (size_t len = 16; len <= sizeof(buf); len += 16) {
        uint32_t want = (uint32_t)crc32(0x12345678u, buf, (uInt)len);
        assert_int_equal(~crc32_pclmul_fold(~0x12345678u, buf, len), want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_calls_from_threads), cmocka_unit_test(test_known_value),
        cmocka_unit_test(test_matches_zlib_all_lengths), cmocka_unit_test(test_split_calls),
        cmocka_unit_test(test_pclmul_fold_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
