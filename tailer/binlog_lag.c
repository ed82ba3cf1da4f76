/*
 * Binlog lag (see binlog_lag.h).
 */
#include "tailer/binlog_lag.h"

void binlog_lag_init(binlog_lag *l, int64_t exact_window_us, int64_t silent_after_us)
{
    atomic_init(&l->lag_us, 0);
    atomic_init(&l->last_event_us, 0);
    atomic_init(&l->last_exact_us, 0);
    l->exact_window_us = exact_window_us;
    l->silent_after_us = silent_after_us;
}

static bool exact_recent(const binlog_lag *l, int64_t now_us)
{
    int64_t t = atomic_load_explicit(&l->last_exact_us, memory_order_relaxed);
    return t > 0 && now_us - t <= l->exact_window_us;
}

static void set_lag(binlog_lag *l, int64_t lag_us)
{
    atomic_store_explicit(&l->lag_us, lag_us > 0 ? lag_us : 0, memory_order_relaxed);
}

void binlog_lag_on_event(binlog_lag *l, int64_t now_us, uint32_t header_ts, bool heartbeat)
{
    atomic_store_explicit(&l->last_event_us, now_us, memory_order_relaxed);
    if (exact_recent(l, now_us))
        return; /* exact commits rule while they keep coming */
    if (heartbeat)
        set_lag(l, 0); /* the server had nothing more to send */
    else if (header_ts > 0)
        set_lag(l, now_us - (int64_t)header_ts * 1000000);
}

void binlog_lag_on_commit(binlog_lag *l, int64_t commit_us, int64_t read_us, bool exact)
{
    if (!exact || commit_us <= 0)
        return; /* on_event already measured it from the header */
    atomic_store_explicit(&l->last_exact_us, read_us, memory_order_relaxed);
    set_lag(l, read_us - commit_us);
}

double binlog_lag_seconds(const binlog_lag *l, int64_t now_us)
{
    int64_t lag = atomic_load_explicit(&l->lag_us, memory_order_relaxed);
    int64_t last = atomic_load_explicit(&l->last_event_us, memory_order_relaxed);
    if (last > 0 && now_us - last > l->silent_after_us && now_us - last > lag)
        lag = now_us - last; /* nothing read for a while: at least that far behind */
    return (double)lag / 1e6;
}
