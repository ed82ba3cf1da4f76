/*
 * Unit tests of the log (core/log.c) under concurrency: writer threads log
 * at debug level while the daemon's signal thread (cli/daemon.c) reopens the
 * file on a storm of SIGHUPs and the file is renamed away (rotated) again and
 * again. Every line must land whole, exactly once, in one of the files, and
 * every SIGHUP must have reopened the log. Run under ASan and TSan as well
 * (scripts/test): closing a stream that other threads write to shows there.
 */
#include "cli/daemon.h"
#include "core/log.h"
#include "mcsqueal/error.h"

#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define WRITERS 4
#define SIGHUPS 1200
#define ROTATE_EVERY 40  /* SIGHUPs between two renames of the log file */
#define MAX_LINES 200000 /* per writer: bounds the files on a fast machine */

typedef struct writer {
    pthread_t thread;
    int id;
    atomic_bool *stop;
    long lines; /* written; read after join */
} writer;

/* The padding of line `seq`: its length and letter follow from seq, so a
 * line cut short or mixed with another does not parse back. */
static size_t pad_len(long seq)
{
    return 50 + (size_t)(seq * 37 % 700);
}

static char pad_char(int id, long seq)
{
    return (char)('a' + (id * 7 + seq) % 26);
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    char pad[1024];
    for (long seq = 0; seq < MAX_LINES && !atomic_load(w->stop); seq++) {
        size_t n = pad_len(seq);
        memset(pad, pad_char(w->id, seq), n);
        pad[n] = '\0';
        log_debug("writer %d line %ld %s end", w->id, seq, pad);
        w->lines = seq + 1;
        if (seq % 64 == 0)
            sched_yield();
    }
    return NULL;
}

static void no_stop(void *ctx)
{
    (void)ctx;
}

/* Sends SIGHUP to this process and waits until the signal thread took it,
 * so that no two coalesce. Returns false when it did not within 10 s. */
static bool sighup_and_wait(void)
{
    if (kill(getpid(), SIGHUP) != 0)
        return false;
    struct timespec pause = {0, 20000};
    for (int i = 0; i < 500000; i++) {
        sigset_t pending;
        sigpending(&pending);
        if (!sigismember(&pending, SIGHUP))
            return true;
        nanosleep(&pause, NULL);
    }
    return false;
}

typedef struct tally {
    char *seen[WRITERS]; /* per writer, per seq: how often seen */
    long reopened;       /* "log reopened (SIGHUP)" lines */
    long other;
} tally;

/* Checks one line (without its newline) and counts it. */
static void check_line(tally *t, const char *line, size_t len)
{
    int y, mo, d, h, mi, s, ms, src_line, consumed = 0;
    char level[8], src[64];
    int n = sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %7s %63[^:]:%d %n", &y, &mo, &d, &h, &mi, &s,
                   &ms, level, src, &src_line, &consumed);
    if (n != 10 || consumed == 0)
        fail_msg("malformed line: %.*s", (int)(len < 200 ? len : 200), line);
    const char *msg = line + consumed;
    size_t msg_len = len - (size_t)consumed;
    int id;
    long seq;
    int head = 0;
    if (sscanf(msg, "writer %d line %ld %n", &id, &seq, &head) == 2 && head > 0) {
        assert_true(id >= 0 && id < WRITERS);
        assert_true(seq >= 0 && seq < MAX_LINES);
        size_t want = pad_len(seq);
        assert_int_equal(msg_len, (size_t)head + want + 4);
        for (size_t i = 0; i < want; i++)
            assert_int_equal(msg[head + (int)i], pad_char(id, seq));
        assert_memory_equal(msg + head + want, " end", 4);
        t->seen[id][seq]++;
        return;
    }
    if (msg_len == strlen("log reopened (SIGHUP)") &&
        memcmp(msg, "log reopened (SIGHUP)", msg_len) == 0)
        t->reopened++;
    else
        t->other++;
}

static void check_file(tally *t, const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        assert_int_equal(line[n - 1], '\n'); /* no line cut at the end of a file */
        check_line(t, line, (size_t)n - 1);
    }
    free(line);
    fclose(f);
}

/* Reads every file of dir into t and removes them. Returns how many. */
static int check_dir(tally *t, const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int files = 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        check_file(t, path);
        unlink(path);
        files++;
    }
    closedir(d);
    return files;
}

static void test_sighup_storm_with_rotation(void **state)
{
    (void)state;
    char dir[] = "/tmp/mcsq-test-log.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], rotated[160];
    snprintf(path, sizeof(path), "%s/mcsqueal.log", dir);
    assert_int_equal(log_open(path), MCSQ_OK);
    log_set_level(LOG_LEVEL_DEBUG);

    static daemon_ctx d;
    memset(&d, 0, sizeof(d));
    d.command = "test";
    d.lock_fd = -1;
    assert_int_equal(daemon_signals_start(&d, no_stop, NULL), 0);

    atomic_bool stop = false;
    writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){.id = i, .stop = &stop};
        assert_int_equal(pthread_create(&w[i].thread, NULL, writer_main, &w[i]), 0);
    }
    int sent = 0, renamed = 0;
    for (bool ok = true; ok && sent < SIGHUPS; sent++) {
        if (sent % ROTATE_EVERY == 0) {
            snprintf(rotated, sizeof(rotated), "%s.%d", path, sent / ROTATE_EVERY);
            renamed += rename(path, rotated) == 0;
        }
        ok = sighup_and_wait();
    }
    atomic_store(&stop, true); /* the writers stop before anything is asserted */
    for (int i = 0; i < WRITERS; i++)
        pthread_join(w[i].thread, NULL);
    daemon_finish(&d); /* ends the signal thread; it logged each reopening first */
    assert_int_equal(log_open(NULL), MCSQ_OK);
    log_set_level(LOG_LEVEL_INFO);
    assert_int_equal(sent, SIGHUPS); /* each one was taken by the signal thread */
    assert_int_equal(renamed, (SIGHUPS + ROTATE_EVERY - 1) / ROTATE_EVERY);

    tally t = {0};
    for (int i = 0; i < WRITERS; i++)
        assert_non_null(t.seen[i] = calloc(MAX_LINES, 1));
    int files = check_dir(&t, dir);
    rmdir(dir);
    assert_int_equal(files, SIGHUPS / ROTATE_EVERY + 1);
    assert_int_equal(t.reopened, SIGHUPS);
    assert_int_equal(t.other, 0);
    long total = 0;
    for (int i = 0; i < WRITERS; i++) {
        assert_true(w[i].lines > 0);
        for (long seq = 0; seq < MAX_LINES; seq++) {
            if (t.seen[i][seq] != (seq < w[i].lines ? 1 : 0))
                fail_msg("writer %d line %ld: seen %d times (%ld written)", i, seq, t.seen[i][seq],
                         w[i].lines);
        }
        total += w[i].lines;
        free(t.seen[i]);
    }
    print_message("%ld lines from %d writers, %d SIGHUPs, %d files\n", total, WRITERS, SIGHUPS,
                  files);
}

/* Reopening keeps logging when the file cannot be created again: lines go on
 * to the file opened before. */
static void test_reopen_failure_keeps_the_old_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/mcsq-test-log.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[64], path[128], moved[64];
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    snprintf(path, sizeof(path), "%s/mcsqueal.log", sub);
    snprintf(moved, sizeof(moved), "%s/moved", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(log_open(path), MCSQ_OK);
    log_error("first");
    assert_int_equal(rename(sub, moved), 0); /* the directory is gone: no reopening */
    assert_int_equal(log_reopen(), MCSQ_ERR_IO);
    log_error("second");
    assert_int_equal(log_open(NULL), MCSQ_OK);

    snprintf(path, sizeof(path), "%s/mcsqueal.log", moved);
    tally t = {0};
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[512];
    int lines = 0;
    while (fgets(buf, sizeof(buf), f) != NULL) {
        size_t n = strlen(buf);
        assert_true(n > 0 && buf[n - 1] == '\n');
        check_line(&t, buf, n - 1);
        lines++;
    }
    fclose(f);
    assert_int_equal(lines, 2);
    assert_int_equal(t.other, 2);
    unlink(path);
    rmdir(moved);
    rmdir(dir);
}

/* A limiter shared by threads (a static one in a callback) lets exactly
 * `burst` messages through per window and counts the rest. */
#define RL_THREADS 4
#define RL_CALLS 5000

static log_ratelimit shared_limit = LOG_RATELIMIT_INIT(3600, 5);

static void *limited_main(void *arg)
{
    atomic_long *allowed = arg;
    for (int i = 0; i < RL_CALLS; i++)
        if (log_ratelimit_allow(&shared_limit) >= 0)
            atomic_fetch_add(allowed, 1);
    return NULL;
}

static void test_ratelimit_shared_by_threads(void **state)
{
    (void)state;
    atomic_long allowed = 0;
    pthread_t t[RL_THREADS];
    for (int i = 0; i < RL_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, limited_main, &allowed), 0);
    for (int i = 0; i < RL_THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&allowed), 5);
    assert_int_equal(atomic_load(&shared_limit.suppressed), RL_THREADS * RL_CALLS - 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sighup_storm_with_rotation),
        cmocka_unit_test(test_reopen_failure_keeps_the_old_file),
        cmocka_unit_test(test_ratelimit_shared_by_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
