/*
 * The clocks. Every interval, timeout, backoff and deadline runs on the
 * monotonic clock (clock_mono_*), which a step of the system time does not
 * move; wall time (clock_wall_*) is only for values that leave the process:
 * commit_us and read_us in bus messages, marker set times, log lines. The
 * coarse variants read a clock that ticks every few milliseconds at a
 * fraction of the cost, for hot paths that need no more.
 *
 * Header-only, so that the marker library stays self-contained.
 */
#ifndef MCSQ_CORE_CLOCK_H
#define MCSQ_CORE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

static inline int64_t clock_read_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Microseconds on the monotonic clock (an arbitrary origin, never back). */
static inline int64_t clock_mono_us(void)
{
    return clock_read_us(CLOCK_MONOTONIC);
}

/* Milliseconds on the monotonic clock. */
static inline int64_t clock_mono_ms(void)
{
    return clock_mono_us() / 1000;
}

/* clock_mono_us() to a few milliseconds, cheaper. */
static inline int64_t clock_mono_coarse_us(void)
{
    return clock_read_us(CLOCK_MONOTONIC_COARSE);
}

/* Unix time in microseconds: only for values that leave the process. */
static inline int64_t clock_wall_us(void)
{
    return clock_read_us(CLOCK_REALTIME);
}

/* clock_wall_us() to a few milliseconds, cheaper. */
static inline int64_t clock_wall_coarse_us(void)
{
    return clock_read_us(CLOCK_REALTIME_COARSE);
}

/* Whether a periodic task run every every_us is due at now_us (monotonic),
 * having last run at last_us; last_us 0 means never run, which is due at
 * once however young the monotonic clock is. */
static inline bool clock_due(int64_t last_us, int64_t every_us, int64_t now_us)
{
    return last_us == 0 || now_us - last_us >= every_us;
}

/* The monotonic time ms milliseconds from now, as a pthread_cond_timedwait()
 * deadline for a condition variable set to CLOCK_MONOTONIC. */
static inline struct timespec clock_mono_deadline(int64_t ms)
{
    int64_t us = clock_mono_us() + (ms > 0 ? ms : 0) * 1000;
    return (struct timespec){.tv_sec = (time_t)(us / 1000000),
                             .tv_nsec = (long)(us % 1000000) * 1000};
}

#endif
