/*
 * Unit tests of the packet reader over a socket pair: packets handed out in
 * order whatever the read boundaries, a payload split over 0xffffff-byte
 * packets joined, the buffer growing for large payloads, buffered() telling
 * whether the next packet is complete, and the errors (timeout, peer
 * closed, payload over the limit).
 */
#include "mcsqueal/error.h"
#include "tailer/packet_reader.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define PART_MAX 0xffffffu

static int fds[2]; /* fds[0]: the reader's end */

static int pair_open(void **state)
{
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    return 0;
}

static int pair_close(void **state)
{
    (void)state;
    close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    return 0;
}

/* Appends one packet (header and payload of len bytes of `fill`) to buf. */
static size_t put_packet(uint8_t *buf, size_t len, uint8_t seq, uint8_t fill)
{
    buf[0] = (uint8_t)len;
    buf[1] = (uint8_t)(len >> 8);
    buf[2] = (uint8_t)(len >> 16);
    buf[3] = seq;
    memset(buf + 4, fill, len);
    return len + 4;
}

typedef struct writer {
    const uint8_t *data;
    size_t len;
    size_t chunk; /* bytes per write() */
    bool close_after;
} writer;

static void *write_main(void *arg)
{
    writer *w = arg;
    for (size_t off = 0; off < w->len;) {
        size_t n = w->len - off < w->chunk ? w->len - off : w->chunk;
        ssize_t k = write(fds[1], w->data + off, n);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    if (w->close_after) {
        close(fds[1]);
        fds[1] = -1;
    }
    return NULL;
}

static bool all_bytes(const uint8_t *p, size_t len, uint8_t want)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != want)
            return false;
    return true;
}

/* 2,000 packets of 0..3,000 bytes, written 7 bytes or 100 KiB at a time. */
static void packets_in_order(size_t chunk)
{
    enum { N = 2000 };
    size_t total = 0;
    uint8_t *data = malloc(N * (3001 + 4));
    assert_non_null(data);
    for (size_t i = 0; i < N; i++)
        total += put_packet(data + total, (i * 7919) % 3001, (uint8_t)i, (uint8_t)i);
    writer w = {data, total, chunk, true};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, write_main, &w), 0);
    packet_reader pr;
    char err[256];
    assert_int_equal(packet_reader_init(&pr, fds[0], 5000, 1 << 20), MCSQ_OK);
    for (size_t i = 0; i < N; i++) {
        const uint8_t *p;
        size_t len;
        assert_int_equal(packet_reader_next(&pr, &p, &len, err, sizeof(err)), MCSQ_OK);
        assert_int_equal(len, (i * 7919) % 3001);
        assert_true(all_bytes(p, len, (uint8_t)i));
    }
    const uint8_t *p;
    size_t len;
    assert_int_equal(packet_reader_next(&pr, &p, &len, err, sizeof(err)), MCSQ_ERR_CONNECT);
    assert_non_null(strstr(err, "closed"));
    pthread_join(t, NULL);
    packet_reader_deinit(&pr);
    free(data);
}

static void test_small_writes(void **state)
{
    (void)state;
    packets_in_order(7);
}

static void test_large_writes(void **state)
{
    (void)state;
    packets_in_order(100 * 1024);
}

/* A payload of 0xffffff + 0xffffff + 10 bytes arrives in three packets and
 * is handed out as one; the buffer shrinks back afterwards. */
static void test_joined_payload(void **state)
{
    (void)state;
    size_t want = 2 * (size_t)PART_MAX + 10, total = 0;
    uint8_t *data = malloc(want + 4 * 4 + 100);
    assert_non_null(data);
    total += put_packet(data + total, PART_MAX, 0, 0x11);
    total += put_packet(data + total, PART_MAX, 1, 0x11);
    total += put_packet(data + total, 10, 2, 0x11);
    total += put_packet(data + total, 5, 3, 0x22);
    writer w = {data, total, 1 << 20, false};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, write_main, &w), 0);
    packet_reader pr;
    char err[256];
    const uint8_t *p;
    size_t len;
    /* a generous wait while 32 MiB cross a socketpair on a loaded machine */
    assert_int_equal(packet_reader_init(&pr, fds[0], 10000, 64u << 20), MCSQ_OK);
    assert_int_equal(packet_reader_next(&pr, &p, &len, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(len, want);
    assert_true(all_bytes(p, len, 0x11));
    assert_true(pr.cap >= want);
    pthread_join(t, NULL);
    assert_int_equal(packet_reader_next(&pr, &p, &len, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(len, 5);
    assert_true(all_bytes(p, len, 0x22));
    assert_false(packet_reader_buffered(&pr));
    /* nothing more: times out, and the emptied buffer is back to its size */
    pr.timeout_ms = 200;
    assert_int_equal(packet_reader_next(&pr, &p, &len, err, sizeof(err)), MCSQ_ERR_AGAIN);
    assert_int_equal(pr.cap, PACKET_READER_BUF);
    packet_reader_deinit(&pr);
    free(data);
}

static int64_t realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Whether a whole packet is buffered, and when the packets handed out
 * arrived: received_us is the time of the recv() that completed them (the
 * tailer's read_us), read once per recv(), not per packet. */
static void test_buffered_and_arrival_time(void **state)
{
    (void)state;
    uint8_t data[64];
    size_t n = put_packet(data, 10, 0, 1);
    n += put_packet(data + n, 20, 1, 2);
    packet_reader pr;
    char err[256];
    const uint8_t *p;
    size_t len;
    assert_int_equal(packet_reader_init(&pr, fds[0], 1000, 1 << 20), MCSQ_OK);
    assert_false(packet_reader_buffered(&pr));
    assert_int_equal(packet_reader_received_us(&pr), 0);            /* nothing read yet */
    assert_int_equal(write(fds[1], data, n - 5), (ssize_t)(n - 5)); /* the second one cut */
    int64_t before = realtime_us();
    assert_int_equal(packet_reader_next(&pr, &p, &len, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(len, 10);
    int64_t first = packet_reader_received_us(&pr);
    assert_true(first >= before && first <= realtime_us());
    assert_false(packet_reader_buffered(&pr));
    struct timespec pause = {0, 20 * 1000000L};
    nanosleep(&pause, NULL);
    assert_int_equal(write(fds[1], data + n - 5, 5), 5);
    assert_int_equal(packet_reader_next(&pr, &p, &len, err, sizeof(err)), MCSQ_OK);
    assert_int_equal(len, 20);
    assert_true(all_bytes(p, len, 2));
    /* completed by a later recv(): its time, not the first one's */
    assert_true(packet_reader_received_us(&pr) >= first + 20000);
    packet_reader_deinit(&pr);
}

static void test_timeout(void **state)
{
    (void)state;
    packet_reader pr;
    char err[256];
    const uint8_t *p;
    size_t len;
    assert_int_equal(packet_reader_init(&pr, fds[0], 30, 1 << 20), MCSQ_OK);
    assert_int_equal(write(fds[1],
                           "\x05\x00\x00\x00"
                           "ab",
                           6),
                     6); /* 3 bytes short */
    assert_int_equal(packet_reader_next(&pr, &p, &len, err, sizeof(err)), MCSQ_ERR_AGAIN);
    assert_non_null(strstr(err, "30 ms"));
    packet_reader_deinit(&pr);
}

static void test_too_large(void **state)
{
    (void)state;
    packet_reader pr;
    char err[256];
    const uint8_t *p;
    size_t len;
    assert_int_equal(packet_reader_init(&pr, fds[0], 1000, 1000), MCSQ_OK);
    assert_int_equal(write(fds[1], "\xe9\x03\x00\x00", 4), 4); /* 1001 bytes announced */
    assert_int_equal(packet_reader_next(&pr, &p, &len, err, sizeof(err)), MCSQ_ERR_LIMIT);
    packet_reader_deinit(&pr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_small_writes, pair_open, pair_close),
        cmocka_unit_test_setup_teardown(test_large_writes, pair_open, pair_close),
        cmocka_unit_test_setup_teardown(test_joined_payload, pair_open, pair_close),
        cmocka_unit_test_setup_teardown(test_buffered_and_arrival_time, pair_open, pair_close),
        cmocka_unit_test_setup_teardown(test_timeout, pair_open, pair_close),
        cmocka_unit_test_setup_teardown(test_too_large, pair_open, pair_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
