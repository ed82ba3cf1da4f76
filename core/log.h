/*
 * Leveled logging to stderr (or a file reopened on SIGHUP), with the source
 * file and line of each message, and a rate limiter for messages that bad
 * input could otherwise repeat millions of times.
 */
#ifndef MCSQ_CORE_LOG_H
#define MCSQ_CORE_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
} log_level;

/* Sets the threshold; messages above it are dropped. */
void log_set_level(log_level level);
log_level log_get_level(void);

/* Parses "error", "warn", "info" or "debug"; returns 0 or MCSQ_ERR_INVALID. */
int log_level_parse(const char *name, log_level *level);

/* Sends output to path (appending), or to stderr when path is NULL.
 * Returns 0 or MCSQ_ERR_IO. log_reopen() reopens the same path (SIGHUP). */
int log_open(const char *path);
int log_reopen(void);

/* Checks whether stderr is systemd's journal (JOURNAL_STREAM names it) and
 * from then on writes lines that go to stderr without a timestamp and with
 * the journal's priority prefix; a log file keeps the timestamps. Returns
 * whether it is. Call at startup, before other threads log. */
bool log_detect_journal(void);

void log_write(log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Rate limiter: at most `burst` messages per `interval_s`; the first message
 * after a suppressed stretch reports how many were suppressed. Threads may
 * share one (a static limiter in a callback): its counters are atomics. */
typedef struct log_ratelimit {
    uint32_t interval_s;
    uint32_t burst;
    _Atomic int64_t window_start;
    _Atomic uint32_t printed;
    _Atomic uint64_t suppressed;
} log_ratelimit;

#define LOG_RATELIMIT_INIT(interval, n)                                                            \
    {                                                                                              \
        (interval), (n), 0, 0, 0                                                                   \
    }

/* Returns the number of suppressed messages to report (>= 0) when this one
 * may be printed, or -1 when it must be suppressed. */
int64_t log_ratelimit_allow(log_ratelimit *rl);

/* Makes the limiter suppress every message from now on (before other
 * threads use it). */
static inline void log_ratelimit_mute(log_ratelimit *rl)
{
    rl->window_start = INT64_MAX / 2;
    rl->burst = 0;
}

#define log_enabled(lvl) ((lvl) <= log_get_level())
#define log_error(...) log_write(LOG_LEVEL_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)                                                                              \
    do {                                                                                           \
        if (log_enabled(LOG_LEVEL_WARN))                                                           \
            log_write(LOG_LEVEL_WARN, __FILE__, __LINE__, __VA_ARGS__);                            \
    } while (0)
#define log_info(...)                                                                              \
    do {                                                                                           \
        if (log_enabled(LOG_LEVEL_INFO))                                                           \
            log_write(LOG_LEVEL_INFO, __FILE__, __LINE__, __VA_ARGS__);                            \
    } while (0)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_LEVEL_DEBUG))                                                          \
            log_write(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __VA_ARGS__);                           \
    } while (0)

/* Logs at `lvl` through the limiter `rl` (a static or per-object log_ratelimit). */
#define log_ratelimited(rl, lvl, ...)                                                              \
    do {                                                                                           \
        int64_t log_rl_dropped_ = log_ratelimit_allow(rl);                                         \
        if (log_rl_dropped_ > 0)                                                                   \
            log_write((lvl), __FILE__, __LINE__, "(%lld similar messages suppressed)",             \
                      (long long)log_rl_dropped_);                                                 \
        if (log_rl_dropped_ >= 0 && log_enabled(lvl))                                              \
            log_write((lvl), __FILE__, __LINE__, __VA_ARGS__);                                     \
    } while (0)

#endif
