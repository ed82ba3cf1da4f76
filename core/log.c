/*
 * Leveled logging (see log.h). One process-wide sink: stderr or a file that
 * SIGHUP reopens, so log rotation works as operators expect. Each line carries
 * a UTC timestamp, the level and the source location. When stderr is
 * systemd's journal (log_detect_journal()), lines written there carry no
 * timestamp of their own (the journal stamps each line) and start with the
 * syslog priority prefix ("<3>" for an error...) that the journal reads, so
 * that `journalctl -p warning` selects by level.
 *
 * Concurrency: any thread may log while another reopens the file. Each line
 * is formatted on the writer's stack and handed to the kernel in one write(2)
 * on a descriptor opened with O_APPEND, so lines from different threads never
 * interleave and a line is never split. Reopening does not close what a
 * writer may hold: the new file is dup3()'d onto the log descriptor's
 * number, which the kernel swaps atomically; a write in flight keeps its
 * reference to the old file until it completes. So writers take no lock
 * (logging stays one syscall, and a thread blocked on a slow disk holds up no
 * other), there is no use-after-free, and every line lands whole in either the
 * old (rotated) file or the new one. The alternative, a stdio FILE behind a
 * mutex, would serialise formatting and could not be swapped without that
 * mutex around every fprintf.
 */
#include "core/log.h"
#include "core/clock.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1280 /* a message of up to 1023 bytes and its prefix */

static struct {
    atomic_int level;
    atomic_int fd;       /* where lines go: STDERR_FILENO until a file is opened */
    char *path;          /* the log file, NULL: stderr (set at startup, read on SIGHUP) */
    atomic_bool journal; /* stderr is the journal: no timestamp, a priority prefix */
    atomic_bool to_file; /* lines go to the log file, not to stderr */
} g_log = {LOG_LEVEL_INFO, STDERR_FILENO, NULL, false, false};

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* syslog priorities of the levels: err, warning, info, debug */
static const char level_priorities[] = {'3', '4', '6', '7'};

void log_set_level(log_level level)
{
    atomic_store_explicit(&g_log.level, (int)level, memory_order_relaxed);
}

log_level log_get_level(void)
{
    return (log_level)atomic_load_explicit(&g_log.level, memory_order_relaxed);
}

int log_level_parse(const char *name, log_level *level)
{
    for (int i = 0; i <= LOG_LEVEL_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level = (log_level)i;
            return MCSQ_OK;
        }
    }
    return MCSQ_ERR_INVALID;
}

/* Points the log descriptor at `target` (which the caller still owns). The
 * first file gets a descriptor of its own; later ones replace what that
 * descriptor refers to, atomically for concurrent writers. */
static int log_point_at(int target)
{
    int cur = atomic_load_explicit(&g_log.fd, memory_order_acquire);
    if (cur != STDERR_FILENO)
        return dup3(target, cur, O_CLOEXEC) < 0 ? MCSQ_ERR_IO : MCSQ_OK;
    int own = fcntl(target, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (own < 0)
        return MCSQ_ERR_IO;
    atomic_store_explicit(&g_log.fd, own, memory_order_release);
    return MCSQ_OK;
}

int log_open(const char *path)
{
    int rc;
    if (path == NULL) {
        /* back to stderr; the log descriptor (if any) stays valid for writers */
        rc = atomic_load(&g_log.fd) == STDERR_FILENO ? MCSQ_OK : log_point_at(STDERR_FILENO);
    } else {
        int f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
        if (f < 0)
            return MCSQ_ERR_IO;
        rc = log_point_at(f);
        int saved = errno;
        close(f);
        errno = saved;
    }
    if (rc == MCSQ_OK)
        atomic_store_explicit(&g_log.to_file, path != NULL, memory_order_relaxed);
    if (rc == MCSQ_OK && path != g_log.path) {
        free(g_log.path);
        g_log.path = path ? strdup(path) : NULL;
    }
    return rc;
}

bool log_detect_journal(void)
{
    /* systemd sets JOURNAL_STREAM to "<device>:<inode>" of the stream it
     * connected; it is the journal only if stderr still is that stream (a
     * child whose stderr was redirected inherits the variable). */
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    bool journal = env != NULL && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
                   fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
                   (unsigned long long)st.st_ino == ino;
    atomic_store_explicit(&g_log.journal, journal, memory_order_relaxed);
    return journal;
}

int log_reopen(void)
{
    if (g_log.path == NULL)
        return MCSQ_OK;
    return log_open(g_log.path);
}

/* Writes all of buf (retrying short writes); a failing log has nowhere to
 * report to, so errors are dropped. */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

void log_write(log_level level, const char *file, int line, const char *fmt, ...)
{
    int saved_errno = errno; /* callers may still read errno after logging */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int fd = atomic_load_explicit(&g_log.fd, memory_order_acquire);
    char out[LINE_MAX_BYTES];
    int n;
    if (atomic_load_explicit(&g_log.journal, memory_order_relaxed) &&
        !atomic_load_explicit(&g_log.to_file, memory_order_relaxed)) {
        n = snprintf(out, sizeof(out), "<%c>%-5s %s:%d %s\n", level_priorities[level],
                     level_names[level], base, line, msg);
    } else {
        int64_t now_us = clock_wall_us();
        time_t now_s = (time_t)(now_us / 1000000);
        struct tm tm;
        gmtime_r(&now_s, &tm);
        n = snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s:%d %s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(now_us % 1000000 / 1000), level_names[level], base, line, msg);
    }
    if (n >= (int)sizeof(out)) { /* cut (a very long file name): still one line */
        n = (int)sizeof(out);
        out[n - 1] = '\n';
    }
    if (n > 0)
        write_all(fd, out, (size_t)n);
    errno = saved_errno;
}

int64_t log_ratelimit_allow(log_ratelimit *rl)
{
    int64_t now_s = clock_mono_us() / 1000000;
    int64_t start = atomic_load_explicit(&rl->window_start, memory_order_relaxed);
    /* one thread opens the next window; the others count in it */
    if (now_s - start >= (int64_t)rl->interval_s &&
        atomic_compare_exchange_strong(&rl->window_start, &start, now_s)) {
        atomic_store(&rl->printed, 1);
        return (int64_t)atomic_exchange(&rl->suppressed, 0);
    }
    if (atomic_fetch_add(&rl->printed, 1) < rl->burst)
        return 0;
    atomic_fetch_add(&rl->suppressed, 1);
    return -1;
}
