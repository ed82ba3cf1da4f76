/*
 * TCP I/O against a deadline (see tcp_io.h).
 */
#include "core/tcp_io.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int tcp_wait(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - clock_mono_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {fd, events, 0};
        int r = poll(&pfd, 1, (int)left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* Connects to one address before the deadline; returns the fd or -1 with
 * *err set to the errno (ETIMEDOUT for the deadline). */
static int connect_one(const struct addrinfo *ai, int64_t deadline_ms, int *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        *err = errno;
        close(fd);
        return -1;
    }
    socklen_t len = sizeof(*err);
    *err = 0;
    if (tcp_wait(fd, POLLOUT, deadline_ms) != 0)
        *err = ETIMEDOUT;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &len) != 0)
        *err = errno;
    if (*err != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int tcp_connect(const char *host, unsigned port, int64_t deadline_ms, int *fd, char *errstr,
                size_t errstr_size)
{
    char port_text[16];
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port_text, sizeof(port_text), "%u", port);
    int g = getaddrinfo(host, port_text, &hints, &res);
    if (g != 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "%s: %s", host, gai_strerror(g));
    int err = ECONNREFUSED;
    *fd = -1;
    for (const struct addrinfo *ai = res; ai != NULL && *fd < 0; ai = ai->ai_next)
        *fd = connect_one(ai, deadline_ms, &err);
    freeaddrinfo(res);
    if (*fd < 0)
        return errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "cannot connect to %s port %u: %s",
                          host, port, strerror(err));
    return MCSQ_OK;
}

int tcp_send_all(int fd, const char *buf, size_t len, int64_t deadline_ms)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return -1;
        } else if (n < 0 && errno == EAGAIN && tcp_wait(fd, POLLOUT, deadline_ms) != 0) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
    return 0;
}
