/*
 * Unit tests of core/clock.h: the monotonic helpers read the monotonic
 * clock and keep their pace when the wall clock steps (the test steps it by
 * wrapping clock_gettime, see tests/unit/CMakeLists.txt), the wall helpers
 * follow the wall clock, and the contracts of clock_due() and
 * clock_mono_deadline().
 */
#include "core/clock.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

int __real_clock_gettime(clockid_t id, struct timespec *ts);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts);

/* Added to every CLOCK_REALTIME* reading: a step of the system time. */
static int64_t wall_step_s;

int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc = __real_clock_gettime(id, ts);
    if (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)
        ts->tv_sec += (time_t)wall_step_s;
    return rc;
}

static int64_t raw_us(clockid_t id)
{
    struct timespec ts;
    __real_clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int reset(void **state)
{
    (void)state;
    wall_step_s = 0;
    return 0;
}

static void test_reads_the_right_clocks(void **state)
{
    (void)state;
    assert_true(llabs(clock_mono_us() - raw_us(CLOCK_MONOTONIC)) < 100000);
    assert_true(llabs(clock_mono_ms() - raw_us(CLOCK_MONOTONIC) / 1000) < 100);
    assert_true(llabs(clock_mono_coarse_us() - raw_us(CLOCK_MONOTONIC)) < 100000);
    assert_true(llabs(clock_wall_us() - raw_us(CLOCK_REALTIME)) < 100000);
    assert_true(llabs(clock_wall_coarse_us() - raw_us(CLOCK_REALTIME)) < 100000);
}

/* The wall clock steps back an hour, then forward a day, between readings:
 * the monotonic readings and an interval measured on them do not notice. */
static void test_monotonic_ignores_wall_steps(void **state)
{
    (void)state;
    int64_t mono0 = clock_mono_us(), wall0 = clock_wall_us();
    wall_step_s = -3600;
    sleep_ms(20);
    int64_t mono1 = clock_mono_us(), wall1 = clock_wall_us();
    assert_true(wall1 < wall0 - 3590 * 1000000LL); /* the step is visible on the wall */
    assert_true(mono1 - mono0 >= 20000);
    assert_true(mono1 - mono0 < 5000000);
    assert_true(clock_due(mono0, 20000, mono1)); /* the 20 ms interval passed */
    wall_step_s = 86400;
    int64_t mono2 = clock_mono_us();
    assert_true(mono2 >= mono1 && mono2 - mono1 < 5000000);
    assert_false(clock_due(mono1, 3600 * 1000000LL, mono2)); /* no hour passed */
    assert_true(clock_wall_us() > wall0 + 86390 * 1000000LL);
}

static void test_monotonic_never_goes_back(void **state)
{
    (void)state;
    int64_t last = clock_mono_us(), last_ms = clock_mono_ms();
    for (int i = 0; i < 100000; i++) {
        int64_t now = clock_mono_us(), now_ms = clock_mono_ms();
        assert_true(now >= last);
        assert_true(now_ms >= last_ms);
        last = now;
        last_ms = now_ms;
    }
}

static void test_due(void **state)
{
    (void)state;
    /* never run: due at once, however young the clock */
    assert_true(clock_due(0, 30000000, 1));
    assert_true(clock_due(0, 30000000, 29999999));
    assert_false(clock_due(5000000, 500000, 5499999));
    assert_true(clock_due(5000000, 500000, 5500000));
    assert_true(clock_due(5000000, 500000, 90000000));
    assert_true(clock_due(5000000, 0, 5000000));
}

static void test_deadline(void **state)
{
    (void)state;
    int64_t before = clock_mono_us();
    wall_step_s = -3600;
    struct timespec d = clock_mono_deadline(1500);
    int64_t at = (int64_t)d.tv_sec * 1000000 + d.tv_nsec / 1000;
    assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
    assert_true(at >= before + 1500000);
    assert_true(at < clock_mono_us() + 1600000);
    d = clock_mono_deadline(-5); /* a negative wait is no wait */
    at = (int64_t)d.tv_sec * 1000000 + d.tv_nsec / 1000;
    assert_true(at <= clock_mono_us());

    /* a timed wait on a monotonic condition variable ends at it */
    pthread_condattr_t attr;
    pthread_cond_t cond;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &attr);
    pthread_mutex_lock(&lock);
    before = clock_mono_us();
    d = clock_mono_deadline(30);
    int rc = 0;
    while (rc == 0)
        rc = pthread_cond_timedwait(&cond, &lock, &d);
    int64_t waited = clock_mono_us() - before;
    pthread_mutex_unlock(&lock);
    pthread_cond_destroy(&cond);
    pthread_condattr_destroy(&attr);
    assert_true(waited >= 29000 && waited < 5000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_reads_the_right_clocks, reset),
        cmocka_unit_test_setup(test_monotonic_ignores_wall_steps, reset),
        cmocka_unit_test_setup(test_monotonic_never_goes_back, reset),
        cmocka_unit_test_setup(test_due, reset),
        cmocka_unit_test_setup(test_deadline, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
