/*
 * Leveled logging (see log.h). One process-wide sink: stderr or a file that
 * SIGHUP reopens, so log rotation works as operators expect. Each line carries
 * a UTC timestamp, the level and the source location.
 */
#include "core/log.h"
#include "core/clock.h"
#include "mcsqueal/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
    log_level level;
    FILE *out; /* NULL means stderr */
    char *path;
} g_log = {LOG_LEVEL_INFO, NULL, NULL};

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(log_level level)
{
    g_log.level = level;
}

log_level log_get_level(void)
{
    return g_log.level;
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

int log_open(const char *path)
{
    FILE *f = NULL;
    if (path != NULL) {
        f = fopen(path, "a");
        if (f == NULL)
            return MCSQ_ERR_IO;
        setvbuf(f, NULL, _IOLBF, 0);
    }
    if (g_log.out != NULL)
        fclose(g_log.out);
    g_log.out = f;
    if (path != g_log.path) {
        free(g_log.path);
        g_log.path = path ? strdup(path) : NULL;
    }
    return MCSQ_OK;
}

int log_reopen(void)
{
    if (g_log.path == NULL)
        return MCSQ_OK;
    return log_open(g_log.path);
}

void log_write(log_level level, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    int64_t now_us = clock_wall_us();
    time_t now_s = (time_t)(now_us / 1000000);
    struct tm tm;
    gmtime_r(&now_s, &tm);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    FILE *out = g_log.out ? g_log.out : stderr;
    fprintf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s:%d %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            (long)(now_us % 1000000 / 1000), level_names[level], base, line, msg);
}

int64_t log_ratelimit_allow(log_ratelimit *rl)
{
    int64_t now_s = clock_mono_us() / 1000000;
    if (now_s - rl->window_start >= (int64_t)rl->interval_s) {
        int64_t dropped = (int64_t)rl->suppressed;
        rl->window_start = now_s;
        rl->printed = 1;
        rl->suppressed = 0;
        return dropped;
    }
    if (rl->printed < rl->burst) {
        rl->printed++;
        return 0;
    }
    rl->suppressed++;
    return -1;
}
