/*
 * Packet reader (see packet_reader.h): one buffer, refilled with
 * non-blocking recv() and poll() for the timeout; a packet is handed out in
 * place, and a payload split over several packets is joined in place by
 * moving its parts over the headers between them.
 */
#include "tailer/packet_reader.h"
#include "core/byte_reader.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#define HEADER 4
#define PART_MAX 0xffffffu /* a payload this long continues in the next packet */

int packet_reader_init(packet_reader *pr, int fd, int timeout_ms, size_t max_payload)
{
    memset(pr, 0, sizeof(*pr));
    pr->fd = fd;
    pr->timeout_ms = timeout_ms;
    pr->max_payload = max_payload;
    pr->buf = malloc(PACKET_READER_BUF);
    if (pr->buf == NULL)
        return MCSQ_ERR_NOMEM;
    pr->cap = PACKET_READER_BUF;
    return MCSQ_OK;
}

void packet_reader_deinit(packet_reader *pr)
{
    free(pr->buf);
    memset(pr, 0, sizeof(*pr));
    pr->fd = -1;
}

/* The 3-byte length of the packet part whose header is at p. */
static size_t le24(const uint8_t *p)
{
    return (size_t)byte_le(p, 3);
}

/* One recv() into the free end of the buffer, waiting up to the timeout. */
static int fill(packet_reader *pr, char *errstr, size_t errstr_size)
{
    for (;;) {
        ssize_t n = recv(pr->fd, pr->buf + pr->end, pr->cap - pr->end, MSG_DONTWAIT);
        if (n > 0) {
            pr->end += (size_t)n;
            pr->received_us = clock_wall_us(); /* one clock read per recv(), not per txn */
            return MCSQ_OK;
        }
        if (n == 0)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "connection closed");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "recv: %s", strerror(errno));
        struct pollfd p = {.fd = pr->fd, .events = POLLIN};
        int ready = poll(&p, 1, pr->timeout_ms);
        if (ready == 0)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_AGAIN, "no data for %d ms",
                              pr->timeout_ms);
        if (ready < 0 && errno != EINTR)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "poll: %s", strerror(errno));
    }
}

/* Makes room for n bytes from start: moves the unread bytes to the front,
 * and grows the buffer when n is larger than it. */
static int make_room(packet_reader *pr, size_t n)
{
    if (pr->start + n <= pr->cap)
        return MCSQ_OK;
    memmove(pr->buf, pr->buf + pr->start, pr->end - pr->start);
    pr->end -= pr->start;
    pr->start = 0;
    if (n <= pr->cap)
        return MCSQ_OK;
    size_t cap = pr->cap * 2 > n ? pr->cap * 2 : n;
    uint8_t *buf = realloc(pr->buf, cap);
    if (buf == NULL)
        return MCSQ_ERR_NOMEM;
    pr->buf = buf;
    pr->cap = cap;
    return MCSQ_OK;
}

/* Reads until at least n bytes from start are buffered. */
static int need(packet_reader *pr, size_t n, char *errstr, size_t errstr_size)
{
    if (make_room(pr, n) != MCSQ_OK)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_NOMEM,
                          "out of memory for a packet of %zu bytes", n);
    while (pr->end - pr->start < n) {
        int rc = fill(pr, errstr, errstr_size);
        if (rc != MCSQ_OK)
            return rc;
    }
    return MCSQ_OK;
}

/* Back to the usual size after a large payload, once nothing is buffered. */
static void reset_if_empty(packet_reader *pr)
{
    if (pr->start != pr->end)
        return;
    pr->start = pr->end = 0;
    if (pr->cap > PACKET_READER_BUF) {
        uint8_t *buf = realloc(pr->buf, PACKET_READER_BUF);
        if (buf != NULL) {
            pr->buf = buf;
            pr->cap = PACKET_READER_BUF;
        }
    }
}

/* packet_reader_next() when the next packet is not whole in the buffer, or
 * is one part of a longer payload. */
static int next_slow(packet_reader *pr, const uint8_t **payload, size_t *len, char *errstr,
                     size_t errstr_size)
{
    size_t off = 0, total = 0, part;
    reset_if_empty(pr);
    do {
        int rc = need(pr, off + HEADER, errstr, errstr_size);
        if (rc != MCSQ_OK)
            return rc;
        part = le24(pr->buf + pr->start + off);
        if (total + part > pr->max_payload)
            return errstr_set(errstr, errstr_size, MCSQ_ERR_LIMIT,
                              "a packet of more than %zu bytes (the largest allowed)",
                              pr->max_payload);
        rc = need(pr, off + HEADER + part, errstr, errstr_size);
        if (rc != MCSQ_OK)
            return rc;
        uint8_t *base = pr->buf + pr->start;
        if (off > 0) /* a continuation: join it to the parts before */
            memmove(base + HEADER + total, base + off + HEADER, part);
        total += part;
        off += HEADER + part;
    } while (part == PART_MAX);
    *payload = pr->buf + pr->start + HEADER;
    *len = total;
    pr->start += off;
    return MCSQ_OK;
}

int packet_reader_next(packet_reader *pr, const uint8_t **payload, size_t *len, char *errstr,
                       size_t errstr_size)
{
    size_t have = pr->end - pr->start;
    if (have >= HEADER) { /* the usual case: a whole, short packet is there */
        const uint8_t *p = pr->buf + pr->start;
        size_t part = le24(p);
        if (part < PART_MAX && have >= HEADER + part) {
            *payload = p + HEADER;
            *len = part;
            pr->start += HEADER + part;
            return MCSQ_OK;
        }
    }
    return next_slow(pr, payload, len, errstr, errstr_size);
}

bool packet_reader_buffered(const packet_reader *pr)
{
    size_t have = pr->end - pr->start;
    if (have < HEADER)
        return false;
    size_t part = le24(pr->buf + pr->start);
    return part < PART_MAX && have >= HEADER + part;
}

int64_t packet_reader_received_us(const packet_reader *pr)
{
    return pr->received_us;
}
