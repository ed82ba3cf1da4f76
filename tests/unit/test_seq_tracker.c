/*
 * Unit tests of the sequence tracker (bus/seq_tracker.h): messages in
 * order, a gap (with the number of lost messages), a rewind (a source that
 * sends again from its checkpoint: duplicates, then in order again), a
 * topic created again (offsets go back: still checked across a
 * reassignment), a source whose messages another router may have read (a
 * reassignment and an offset further on: not checked), a source that moved
 * to another partition, a partition the consumer reported a gap in, many
 * sources kept apart, and the bound on sources (the least recently seen one
 * is evicted and starts over unchecked).
 */
#include "bus/seq_tracker.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static seq_result check(seq_tracker *t, const char *source, uint64_t seq, int32_t partition,
                        int64_t offset)
{
    return seq_tracker_check(t, source, strlen(source), seq, partition, offset);
}

static void expect(seq_result r, seq_verdict v, uint64_t expected, uint64_t lost)
{
    assert_int_equal(r.verdict, v);
    assert_int_equal(r.expected, expected);
    assert_int_equal(r.lost, lost);
}

static void test_order_gap_rewind(void **state)
{
    (void)state;
    seq_tracker *t = seq_tracker_new(0);
    assert_non_null(t);
    expect(check(t, "db1", 1000, 0, 10), SEQ_FIRST, 0, 0); /* a baseline, wherever it starts */
    expect(check(t, "db1", 1001, 0, 11), SEQ_OK, 1001, 0);
    expect(check(t, "db1", 1005, 0, 12), SEQ_GAP, 1002, 3); /* 1002..1004 missing */
    expect(check(t, "db1", 1006, 0, 13), SEQ_OK, 1006, 0);
    /* a tailer restarted from its checkpoint sends 1003.. again */
    expect(check(t, "db1", 1003, 0, 14), SEQ_REWIND, 1007, 0);
    expect(check(t, "db1", 1004, 0, 15), SEQ_OK, 1004, 0);
    expect(check(t, "db1", 1005, 0, 16), SEQ_OK, 1005, 0);
    expect(check(t, "db1", 1006, 0, 17), SEQ_OK, 1006, 0);
    expect(check(t, "db1", 1007, 0, 18), SEQ_OK, 1007, 0); /* new ones: no false gap */
    /* the same number twice (a message read again) is a rewind, not a gap */
    expect(check(t, "db1", 1007, 0, 18), SEQ_REWIND, 1008, 0);
    assert_int_equal(seq_tracker_size(t), 1);
    seq_tracker_free(t);
}

static void test_sources_apart(void **state)
{
    (void)state;
    seq_tracker *t = seq_tracker_new(0);
    char name[32];
    for (int round = 0; round < 3; round++) {
        for (int s = 0; s < 500; s++) {
            snprintf(name, sizeof(name), "src-%d", s);
            seq_result r = check(t, name, (uint64_t)(round + 1 + s), s % 6, round * 1000 + s);
            if (round == 0)
                expect(r, SEQ_FIRST, 0, 0);
            else
                expect(r, SEQ_OK, (uint64_t)(round + 1 + s), 0);
        }
    }
    assert_int_equal(seq_tracker_size(t), 500);
    /* a prefix of another's name is another source */
    expect(check(t, "src-1", 6, 1, 5000), SEQ_GAP, 5, 1);
    expect(check(t, "src-10", 14, 4, 5001), SEQ_OK, 14, 0);
    seq_tracker_free(t);
}

static void test_recreated_topic(void **state)
{
    (void)state;
    seq_tracker *t = seq_tracker_new(0);
    expect(check(t, "db1", 1, 0, 0), SEQ_FIRST, 0, 0);
    expect(check(t, "db1", 2, 0, 1), SEQ_OK, 2, 0);
    expect(check(t, "db1", 3, 0, 2), SEQ_OK, 3, 0);
    /* the topic deleted and created again: the partition is assigned anew
     * and starts over at offset 0; 4..6 went with the old topic */
    seq_tracker_reassigned(t);
    expect(check(t, "db1", 7, 0, 0), SEQ_GAP, 4, 3);
    /* the same without a reassignment: offsets go back, numbers jump */
    expect(check(t, "db1", 8, 0, 1), SEQ_OK, 8, 0);
    expect(check(t, "db1", 20, 0, 0), SEQ_GAP, 9, 11);
    /* and when nothing was lost, nothing is reported */
    seq_tracker_reassigned(t);
    expect(check(t, "db1", 21, 0, 0), SEQ_OK, 21, 0);
    seq_tracker_free(t);
}

static void test_other_router_read(void **state)
{
    (void)state;
    seq_tracker *t = seq_tracker_new(0);
    expect(check(t, "db1", 1, 2, 100), SEQ_FIRST, 0, 0);
    expect(check(t, "db1", 2, 2, 101), SEQ_OK, 2, 0);
    /* the partition went to another router and came back: it read 3..9 */
    seq_tracker_reassigned(t);
    expect(check(t, "db1", 10, 2, 108), SEQ_FIRST, 0, 0);
    expect(check(t, "db1", 12, 2, 109), SEQ_GAP, 11, 1); /* checked again from here */
    /* the source moved to another partition (a topic with more partitions) */
    expect(check(t, "db1", 20, 5, 3), SEQ_FIRST, 0, 0);
    expect(check(t, "db1", 21, 5, 4), SEQ_OK, 21, 0);
    seq_tracker_free(t);
}

static void test_forget_partition(void **state)
{
    (void)state;
    seq_tracker *t = seq_tracker_new(0);
    check(t, "a", 1, 0, 0);
    check(t, "b", 1, 1, 0);
    /* the consumer reported partition 0's gap from offsets: not again */
    seq_tracker_forget_partition(t, 0);
    expect(check(t, "a", 9, 0, 50), SEQ_FIRST, 0, 0);
    expect(check(t, "a", 10, 0, 51), SEQ_OK, 10, 0);
    expect(check(t, "b", 3, 1, 1), SEQ_GAP, 2, 1); /* another partition: still checked */
    seq_tracker_free(t);
}

static void test_bounded(void **state)
{
    (void)state;
    seq_tracker *t = seq_tracker_new(3);
    check(t, "a", 1, 0, 0);
    check(t, "b", 1, 0, 1);
    check(t, "c", 1, 0, 2);
    expect(check(t, "a", 2, 0, 3), SEQ_OK, 2, 0); /* a is the most recent now; b the least */
    expect(check(t, "d", 1, 0, 4), SEQ_FIRST, 0, 0);
    assert_int_equal(seq_tracker_size(t), 3);
    expect(check(t, "a", 3, 0, 5), SEQ_OK, 3, 0);
    expect(check(t, "c", 2, 0, 6), SEQ_OK, 2, 0);
    expect(check(t, "d", 2, 0, 7), SEQ_OK, 2, 0);
    expect(check(t, "b", 5, 0, 8), SEQ_FIRST, 0, 0); /* evicted: starts over, unchecked */
    assert_int_equal(seq_tracker_size(t), 3);
    expect(check(t, "b", 6, 0, 9), SEQ_OK, 6, 0);
    /* many more sources than the bound, in turns: never more than 3 */
    char name[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "s%d", i % 7);
        check(t, name, (uint64_t)(i + 1), 0, 10 + i);
        assert_true(seq_tracker_size(t) <= 3);
    }
    seq_tracker_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_gap_rewind), cmocka_unit_test(test_sources_apart),
        cmocka_unit_test(test_recreated_topic),  cmocka_unit_test(test_other_router_read),
        cmocka_unit_test(test_forget_partition), cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
