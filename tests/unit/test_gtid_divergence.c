/*
 * Unit tests of GTID divergence (tailer/gtid_divergence.h): which GTIDs of
 * the state the tailer read a server's gtid_binlog_state lacks, the state
 * to continue from, the message naming them, and the server refusals that
 * mean the same.
 */
#include "mcsqueal/error.h"
#include "tailer/gtid_divergence.h"
#include "tailer/gtid_state.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* The divergence of the state text `read` from the server's `server`. */
static gtid_divergence find(const char *read, const char *server)
{
    gtid_state st;
    gtid_divergence dv;
    assert_int_equal(gtid_state_parse(&st, read), MCSQ_OK);
    assert_int_equal(gtid_divergence_find(&st, server, &dv), MCSQ_OK);
    return dv;
}

/* The state to continue from, as text. */
static const char *continue_state(const char *read, const char *server)
{
    static char out[256];
    gtid_state st;
    gtid_divergence dv = find(read, server);
    assert_int_equal(gtid_state_parse(&st, read), MCSQ_OK);
    gtid_divergence_continue_state(&dv, &st);
    gtid_state_format(&st, out, sizeof(out));
    return out;
}

static const char *format(const char *read, const char *server)
{
    static char out[512];
    gtid_divergence dv = find(read, server);
    size_t n = gtid_divergence_format(&dv, out, sizeof(out));
    assert_int_equal(n, strlen(out));
    return out;
}

static void test_server_has_everything(void **state)
{
    (void)state;
    assert_int_equal(find("0-1-41", "0-1-41").n, 0);
    /* a planned switchover: the new primary wrote on after the old one's GTIDs */
    assert_int_equal(find("0-1-41", "0-1-41,0-2-50").n, 0);
    assert_int_equal(find("0-1-41", "0-2-50, 0-1-60").n, 0);
    assert_int_equal(find("0-1-41,1-7-3", "1-7-3,0-1-41,2-9-9").n, 0);
    assert_int_equal(find("", "0-1-5").n, 0);
    assert_string_equal(continue_state("0-1-41,1-7-3", "0-1-41,1-7-3"), "0-1-41,1-7-3");
}

static void test_lost_tail_of_old_primary(void **state)
{
    (void)state;
    /* the replica had 0-1-36, then wrote 0-2-37.. as the new primary */
    gtid_divergence dv = find("0-1-41", "0-1-36,0-2-46");
    assert_int_equal(dv.n, 1);
    assert_int_equal(dv.v[0].domain, 0);
    assert_int_equal(dv.v[0].server, 1);
    assert_int_equal(dv.v[0].have, 36);
    assert_int_equal(dv.v[0].want, 41);
    assert_string_equal(format("0-1-41", "0-1-36,0-2-46"),
                        "0-1-37 to 0-1-41 (its last of server 1 in domain 0: 0-1-36)");
    /* from the last GTID in common: the server sends 0-2-37 on, nothing skipped */
    assert_string_equal(continue_state("0-1-41", "0-1-36,0-2-46"), "0-1-36");
    /* one transaction lost */
    assert_string_equal(format("0-1-41", "0-1-40"),
                        "0-1-41 (its last of server 1 in domain 0: 0-1-40)");
}

static void test_only_lacking_domains_change(void **state)
{
    (void)state;
    gtid_divergence dv = find("0-1-41,1-5-7,2-3-9", "0-1-50,1-5-3,2-3-9");
    assert_int_equal(dv.n, 1);
    assert_int_equal(dv.v[0].domain, 1);
    assert_string_equal(continue_state("0-1-41,1-5-7,2-3-9", "0-1-50,1-5-3,2-3-9"),
                        "0-1-41,1-5-3,2-3-9");
    assert_string_equal(
        format("0-1-41,1-5-7,2-3-9", "2-3-1,1-5-3"),
        "up to 0-1-41 (it has none of server 1 in domain 0); 1-5-4 to 1-5-7 (its last "
        "of server 5 in domain 1: 1-5-3); 2-3-2 to 2-3-9 (its last of server 3 in "
        "domain 2: 2-3-1)");
}

static void test_nothing_in_common(void **state)
{
    (void)state;
    /* an empty binlog (RESET MASTER), or another server's domain only */
    assert_string_equal(format("0-1-41", ""), "up to 0-1-41 (it has none of server 1 in domain 0)");
    assert_int_equal(find("0-1-41", "0-2-99").n, 1);
    assert_string_equal(continue_state("0-1-41", "0-2-99"), "");
    assert_string_equal(continue_state("0-1-41,1-1-2", "1-1-2"), "1-1-2");
}

static void test_bad_server_state(void **state)
{
    (void)state;
    gtid_state st;
    gtid_divergence dv;
    assert_int_equal(gtid_state_parse(&st, "0-1-41"), MCSQ_OK);
    assert_int_equal(gtid_divergence_find(&st, "0-1", &dv), MCSQ_ERR_INVALID);
    assert_int_equal(gtid_divergence_find(&st, "0-1-x", &dv), MCSQ_ERR_INVALID);
    assert_int_equal(gtid_divergence_find(&st, "0-1-5;1-1-1", &dv), MCSQ_ERR_INVALID);
    assert_int_equal(gtid_divergence_find(&st, "0-1-99999999999999999999", &dv), MCSQ_ERR_INVALID);
}

static void test_format_cut_to_size(void **state)
{
    (void)state;
    gtid_state st;
    gtid_divergence dv;
    char small[16];
    memset(small, 'x', sizeof(small));
    assert_int_equal(gtid_state_parse(&st, "0-1-41,1-5-7"), MCSQ_OK);
    assert_int_equal(gtid_divergence_find(&st, "", &dv), MCSQ_OK);
    size_t n = gtid_divergence_format(&dv, small, sizeof(small));
    assert_true(n > sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(gtid_divergence_format(&dv, NULL, 0), n);
}

static void test_refusals(void **state)
{
    (void)state;
    assert_true(gtid_divergence_refused(
        "127.0.0.1:3306 cannot send the binlog from GTID state '0-1-41': Error: connecting "
        "slave requested to start from GTID 0-1-41, which is not in the master's binlog. Since "
        "the master's binlog contains GTIDs with higher sequence numbers, it probably means that "
        "the slave has diverged due to executing extra erroneous transactions (error 1236)"));
    assert_true(gtid_divergence_refused(
        "The binlog on the master is missing the GTID 0-1-5 requested by the slave (even though "
        "a subsequent sequence number does exist), and GTID strict mode is enabled"));
    /* purged is another story (mysql.on_purged) */
    assert_false(gtid_divergence_refused(
        "Could not find GTID state requested by slave in any binlog files. Probably the slave "
        "state is too old and required binlog files have been purged."));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_has_everything),
        cmocka_unit_test(test_lost_tail_of_old_primary),
        cmocka_unit_test(test_only_lacking_domains_change),
        cmocka_unit_test(test_nothing_in_common),
        cmocka_unit_test(test_bad_server_state),
        cmocka_unit_test(test_format_cut_to_size),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
