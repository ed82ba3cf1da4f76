/*
 * State files across versions: checkpoint and spool files written by an
 * earlier release (tests/fixtures/state, see its README) are read back by
 * this one with the same meaning: a MariaDB checkpoint with a GTID state, a
 * MySQL file:offset checkpoint, and a retry spool with replayed and waiting
 * keys. A checkpoint read and written again is byte for byte the same file.
 */
#include "invalidator/spool.h"
#include "mcsqueal/error.h"
#include "tailer/binlog_position.h"
#include "tailer/checkpoint.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define FIXTURE_MAX 4096

static char dir[256];

/* Path of a fixture file under tests/fixtures/state. */
static void fixture_path(char *out, size_t size, const char *name)
{
    const char *src = getenv("MCSQ_SOURCE_DIR");
    assert_non_null(src); /* set by ctest */
    snprintf(out, size, "%s/tests/fixtures/state/%s", src, name);
}

/* Reads a whole (small) file into buf; returns its length. */
static size_t read_all(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, size, f);
    assert_int_equal(ferror(f), 0);
    assert_true(n < size);
    fclose(f);
    return n;
}

static void write_all_to(const char *path, const char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Copies fixture name to dir/rel (directories made as needed). */
static void install(const char *name, const char *rel)
{
    char from[1024], to[1024], buf[FIXTURE_MAX];
    fixture_path(from, sizeof(from), name);
    size_t n = read_all(from, buf, sizeof(buf));
    snprintf(to, sizeof(to), "%s/%s", dir, rel);
    for (char *slash = strchr(to + strlen(dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        assert_true(mkdir(to, 0700) == 0 || errno == EEXIST);
        *slash = '/';
    }
    write_all_to(to, buf, n);
}

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/mcsq-test-state-compat.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int remove_dir(void **state)
{
    (void)state;
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* Loads the fixture checkpoint name, checks what it says, saves it again
 * and checks the file is unchanged. */
static void check_checkpoint(const char *name, const char *file, uint64_t pos, const char *gtid)
{
    char err[512], rel[256], path[1024], before[FIXTURE_MAX], after[FIXTURE_MAX];
    snprintf(rel, sizeof(rel), "%s/checkpoint", name);
    install(rel, "checkpoint");
    binlog_position p;
    memset(&p, 0x5a, sizeof(p)); /* nothing left over from before the load */
    assert_int_equal(checkpoint_load(dir, &p, err, sizeof(err)), MCSQ_OK);
    assert_string_equal(p.file, file);
    assert_int_equal(p.pos, pos);
    assert_string_equal(p.gtid, gtid);

    fixture_path(path, sizeof(path), rel);
    size_t n = read_all(path, before, sizeof(before));
    assert_int_equal(checkpoint_save(dir, &p, err, sizeof(err)), MCSQ_OK);
    snprintf(path, sizeof(path), "%s/checkpoint", dir);
    assert_int_equal(read_all(path, after, sizeof(after)), n);
    assert_memory_equal(after, before, n);
}

static void test_checkpoint_mariadb_gtid(void **state)
{
    (void)state;
    check_checkpoint("mariadb-gtid", "mariadb-bin.000007", 123456789012ull, "0-1-4242,7-12-99");
}

static void test_checkpoint_mysql_file_offset(void **state)
{
    (void)state;
    check_checkpoint("mysql-file", "binlog.000003", 8812, "");
}

/* The fixture spool: two batches appended ("user:1 user:2", then
 * "session:abc profile:42 k"), the first replayed and committed. */
static void test_spool(void **state)
{
    (void)state;
    char err[512];
    install("spool-state/spool/main/10.0.0.7_11211.spool", "spool/main/10.0.0.7_11211.spool");
    spool_name *names;
    size_t nnames;
    assert_int_equal(spool_dir_list(dir, &names, &nnames, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(nnames, 1);
    assert_string_equal(names[0].pool, "main");
    assert_string_equal(names[0].server, "10.0.0.7:11211");
    spool_dir_list_free(names, nnames);

    spool *sp;
    assert_int_equal(spool_open(&sp, dir, "main", "10.0.0.7:11211", NULL, err, sizeof(err)),
                     MCSQ_OK);
    assert_int_equal(spool_depth(sp), 3);
    assert_int_equal(spool_bytes(sp), 164);
    mcsq_key keys[8];
    size_t n;
    assert_int_equal(spool_replay_next(sp, keys, 8, &n, err, sizeof(err)), MCSQ_OK);
    const char *want[] = {"session:abc", "profile:42", "k"};
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(keys[i].len, strlen(want[i]));
        assert_memory_equal(keys[i].data, want[i], keys[i].len);
    }
    assert_int_equal(spool_replay_next(sp, keys, 8, &n, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(spool_replay_commit(sp, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(spool_depth(sp), 0);
    spool_close(sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_checkpoint_mariadb_gtid, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_checkpoint_mysql_file_offset, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_spool, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
