/*
 * Unit tests of the log's journal format (core/log.c): when stderr is the
 * stream systemd's JOURNAL_STREAM names, lines carry the syslog priority
 * prefix and no timestamp of their own; anywhere else (another stream, no
 * variable, a log file) they keep the timestamp.
 */
#include "core/log.h"
#include "mcsqueal/error.h"

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

typedef struct fixture {
    char dir[64];
    char path[128]; /* what stderr points at during a test */
    int saved_stderr;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/mcsq-log-journal-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/stderr", f->dir);
    FILE *out = fopen(f->path, "w");
    assert_non_null(out);
    fflush(stderr);
    f->saved_stderr = dup(STDERR_FILENO);
    assert_true(dup2(fileno(out), STDERR_FILENO) >= 0);
    fclose(out);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    log_open(NULL);
    unsetenv("JOURNAL_STREAM");
    log_detect_journal();
    dup2(f->saved_stderr, STDERR_FILENO);
    close(f->saved_stderr);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Sets JOURNAL_STREAM to fd's "<device>:<inode>". */
static void journal_stream_is(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char value[64];
    snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", value, 1);
}

/* The last line of path, without its newline. */
static void last_line(const char *path, char *line, size_t size)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    line[0] = '\0';
    char buf[2048];
    while (fgets(buf, sizeof(buf), in))
        snprintf(line, size, "%s", buf);
    fclose(in);
    line[strcspn(line, "\n")] = '\0';
}

static void test_journal_lines_have_priority_and_no_timestamp(void **state)
{
    fixture *f = *state;
    char line[2048];
    journal_stream_is(STDERR_FILENO);
    assert_true(log_detect_journal());
    log_warn("disk almost full: %d%%", 97);
    last_line(f->path, line, sizeof(line));
    assert_non_null(strstr(line, "disk almost full: 97%"));
    assert_memory_equal(line, "<4>warn  ", 9);
    log_error("broken");
    last_line(f->path, line, sizeof(line));
    assert_memory_equal(line, "<3>error ", 9);
    log_info("fine");
    last_line(f->path, line, sizeof(line));
    assert_memory_equal(line, "<6>info  ", 9);
}

static void test_other_stream_keeps_timestamp(void **state)
{
    fixture *f = *state;
    char line[2048];
    journal_stream_is(f->saved_stderr); /* the variable names another stream */
    assert_false(log_detect_journal());
    log_warn("not the journal");
    last_line(f->path, line, sizeof(line));
    assert_memory_equal(line, "20", 2); /* 20YY-MM-DDTHH:MM:SS.mmmZ */
    assert_int_equal(line[10], 'T');
    assert_non_null(strstr(line, " warn  "));

    unsetenv("JOURNAL_STREAM");
    assert_false(log_detect_journal());
    setenv("JOURNAL_STREAM", "garbage", 1);
    assert_false(log_detect_journal());
    log_info("still stamped");
    last_line(f->path, line, sizeof(line));
    assert_int_equal(line[10], 'T');
}

static void test_log_file_keeps_timestamp_under_journal(void **state)
{
    fixture *f = *state;
    char line[2048], file[160];
    journal_stream_is(STDERR_FILENO);
    assert_true(log_detect_journal());
    snprintf(file, sizeof(file), "%s/mcsqueal.log", f->dir);
    assert_int_equal(log_open(file), MCSQ_OK);
    log_warn("to the file");
    last_line(file, line, sizeof(line));
    assert_int_equal(line[10], 'T');
    assert_non_null(strstr(line, "to the file"));
    assert_int_equal(log_open(NULL), MCSQ_OK); /* back to the journal */
    log_warn("to the journal");
    last_line(f->path, line, sizeof(line));
    assert_memory_equal(line, "<4>warn  ", 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_journal_lines_have_priority_and_no_timestamp, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_stream_keeps_timestamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_file_keeps_timestamp_under_journal, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
