/*
 * Unit tests of the per-transaction key set (tailer/key_set.c): keys come
 * out de-duplicated in order of first appearance, a duplicate only ORs in
 * its marker, both while the set is searched linearly (few keys) and once
 * it is indexed by the hash table (more), across the switch and across
 * resets that keep or drop the table.
 */
#include "mcsqueal/error.h"
#include "tailer/key_set.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void add(key_set *ks, const char *key, int marker)
{
    assert_int_equal(key_set_add(ks, key, strlen(key), marker), MCSQ_OK);
}

static void check_keys(const key_set *ks, size_t n)
{
    assert_int_equal(ks->nkeys, n);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "user:%zu", i);
        assert_int_equal(ks->keys[i].len, strlen(want));
        assert_memory_equal(ks->keys[i].data, want, strlen(want));
    }
}

/* n distinct keys, each added three times, every key's last copy marked
 * when its number is even. */
static void fill(key_set *ks, size_t n)
{
    char key[32];
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < n; i++) {
            snprintf(key, sizeof(key), "user:%zu", i);
            add(ks, key, round == 2 && i % 2 == 0);
        }
    }
}

static void test_sizes(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 15, 16, 17, 40, 3000, 5, 1};
    key_set ks;
    key_set_init(&ks);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        fill(&ks, sizes[s]);
        check_keys(&ks, sizes[s]);
        assert_int_equal(ks.nmarkers, (sizes[s] + 1) / 2);
        for (size_t i = 0; i < sizes[s]; i++)
            assert_int_equal(ks.keys[i].marker, i % 2 == 0);
        key_set_reset(&ks);
        assert_int_equal(ks.nkeys, 0);
    }
    key_set_deinit(&ks);
}

static void test_prefixes_and_lengths(void **state)
{
    (void)state;
    key_set ks;
    key_set_init(&ks);
    static const char *const keys[] = {"a", "ab", "abc", "a", "abcd", "ab", "b", "abc"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        add(&ks, keys[i], 0);
    assert_int_equal(ks.nkeys, 5);
    assert_memory_equal(ks.keys[3].data, "abcd", 4);
    assert_memory_equal(ks.keys[4].data, "b", 1);
    key_set_deinit(&ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_prefixes_and_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
