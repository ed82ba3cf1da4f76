/*
 * Unit tests of core/state_file.h: the modes of what it creates (0700
 * directories, 0600 files, a stricter umask still applies, existing
 * directories left alone), the warning about a state_dir open to others,
 * complete writes, and the durable replacement of a file with its failures.
 */
#include "core/state_file.h"
#include "mcsqueal/error.h"

#include <fcntl.h>
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

static char dir[256];
static char err[1024];
static mode_t saved_umask;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    chmod(path, 0700);
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/mcsq-test-state.XXXXXX");
    assert_non_null(mkdtemp(dir));
    saved_umask = umask(0); /* the modes below are ours, not the umask's */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    umask(saved_umask);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (unsigned)(st.st_mode & 07777);
}

static const char *in_dir(const char *name)
{
    static char path[2][512];
    static int i;
    i = !i;
    snprintf(path[i], sizeof(path[i]), "%s/%s", dir, name);
    return path[i];
}

static void test_dir_create_modes(void **state)
{
    (void)state;
    assert_int_equal(state_dir_create(in_dir("a/b/c"), err, sizeof(err)), MCSQ_OK);
    assert_int_equal(mode_of(in_dir("a")), 0700);
    assert_int_equal(mode_of(in_dir("a/b")), 0700);
    assert_int_equal(mode_of(in_dir("a/b/c")), 0700);
    /* an existing directory is left as it is (the warning tells) */
    assert_int_equal(mkdir(in_dir("open"), 0755), 0);
    assert_int_equal(state_dir_create(in_dir("open"), err, sizeof(err)), MCSQ_OK);
    assert_int_equal(mode_of(in_dir("open")), 0755);
    /* a stricter umask still applies */
    umask(0077);
    assert_int_equal(state_dir_create(in_dir("u077"), err, sizeof(err)), MCSQ_OK);
    assert_int_equal(mode_of(in_dir("u077")), 0700);
    umask(0277);
    assert_int_equal(state_dir_create(in_dir("u277"), err, sizeof(err)), MCSQ_OK);
    assert_int_equal(mode_of(in_dir("u277")), 0500);
}

static void test_dir_create_errors(void **state)
{
    (void)state;
    int fd = open(in_dir("file"), O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(state_dir_create(in_dir("file/sub"), err, sizeof(err)), MCSQ_ERR_IO);
    assert_non_null(strstr(err, "cannot create"));
    assert_non_null(strstr(err, in_dir("file/sub")));
    assert_int_equal(state_dir_create(in_dir("file"), err, sizeof(err)), MCSQ_ERR_IO);
    assert_non_null(strstr(err, "not a directory"));
}

static void test_warn_open(void **state)
{
    (void)state;
    static const struct {
        unsigned mode;
        bool open;
    } cases[] = {{0700, false}, {0500, false}, {0750, true}, {0755, true},
                 {0701, true},  {0770, true},  {0702, true}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "d%zu", i);
        assert_int_equal(mkdir(in_dir(name), cases[i].mode), 0);
        assert_int_equal(state_dir_warn_open(in_dir(name)), cases[i].open);
    }
    assert_false(state_dir_warn_open(in_dir("missing"))); /* created later, private */
}

static void test_file_open_modes(void **state)
{
    (void)state;
    int fd = state_file_open(in_dir("f"), O_RDWR);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(mode_of(in_dir("f")), 0600);
    umask(0377);
    fd = state_file_open(in_dir("g"), O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(mode_of(in_dir("g")), 0400);
    umask(0);
    assert_int_equal(state_file_open(in_dir("missing/f"), O_RDWR), MCSQ_ERR_IO);
}

static void read_back(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void test_write_all(void **state)
{
    (void)state;
    static char big[1 << 20];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    int fd = state_file_open(in_dir("w"), O_RDWR);
    assert_int_equal(state_write_all(fd, big, sizeof(big)), MCSQ_OK);
    assert_int_equal(state_pwrite_all(fd, "XYZ", 3, 2), MCSQ_OK);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, sizeof(big));
    char head[8] = {0};
    assert_int_equal(pread(fd, head, 6, 0), 6);
    assert_string_equal(head, "abXYZf");
    close(fd);
    fd = open(in_dir("w"), O_RDONLY);
    assert_int_equal(state_write_all(fd, "x", 1), MCSQ_ERR_IO); /* errno: EBADF */
    close(fd);
    assert_int_equal(state_dir_sync(dir), MCSQ_OK);
    assert_int_equal(state_dir_sync(in_dir("missing")), MCSQ_ERR_IO);
}

static void test_replace(void **state)
{
    (void)state;
    char buf[64];
    const char *path = in_dir("target"), *tmp = in_dir("target.tmp");
    assert_int_equal(state_file_replace(path, tmp, "one\n", 4, err, sizeof(err)), MCSQ_OK);
    read_back(path, buf, sizeof(buf));
    assert_string_equal(buf, "one\n");
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(state_file_replace(path, tmp, "two", 3, err, sizeof(err)), MCSQ_OK);
    read_back(path, buf, sizeof(buf));
    assert_string_equal(buf, "two");

    /* the target is a directory: the rename fails, nothing is left behind */
    path = in_dir("adir");
    assert_int_equal(mkdir(path, 0700), 0);
    tmp = in_dir("adir.tmp");
    assert_int_equal(state_file_replace(path, tmp, "x", 1, err, sizeof(err)), MCSQ_ERR_IO);
    assert_non_null(strstr(err, "cannot rename"));
    assert_non_null(strstr(err, "Is a directory"));
    assert_int_equal(access(tmp, F_OK), -1);

    /* the temporary file cannot be written: named in the message */
    path = in_dir("nodir/x");
    tmp = in_dir("nodir/x.tmp");
    assert_int_equal(state_file_replace(path, tmp, "x", 1, err, sizeof(err)), MCSQ_ERR_IO);
    assert_non_null(strstr(err, tmp));
    assert_non_null(strstr(err, "No such file or directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_dir_create_modes), T(test_dir_create_errors), T(test_warn_open),
        T(test_file_open_modes),  T(test_write_all),         T(test_replace),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
