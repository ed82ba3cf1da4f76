/*
 * Pool flush (see pool_flush.h): one short-lived text-protocol connection
 * per server, apart from the router's delete connections (a flush must not
 * wait behind, or disturb, a pipeline of deletes).
 */
#include "invalidator/pool_flush.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/tcp_io.h"
#include "mcsqueal/error.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* Reads until the first line ends; returns whether it is "OK". */
static bool read_ok(int fd, int64_t deadline_ms)
{
    char buf[128];
    size_t len = 0;
    while (len < sizeof(buf) - 1 && memchr(buf, '\n', len) == NULL) {
        if (tcp_wait(fd, POLLIN, deadline_ms) != 0)
            return false;
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
            return false;
        len += n > 0 ? (size_t)n : 0;
    }
    return len >= 4 && memcmp(buf, "OK\r\n", 4) == 0;
}

static int flush_server(const mcsq_hostport *hp, int timeout_ms, char *errstr, size_t errstr_size)
{
    static const char cmd[] = "flush_all\r\n";
    int64_t deadline = clock_mono_ms() + timeout_ms;
    int fd;
    int rc = tcp_connect(hp->host, (unsigned)hp->port, deadline, &fd, errstr, errstr_size);
    if (rc != MCSQ_OK)
        return rc;
    bool ok = tcp_send_all(fd, cmd, sizeof(cmd) - 1, deadline) == 0 && read_ok(fd, deadline);
    close(fd);
    return ok ? MCSQ_OK
              : errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "%s:%d did not answer flush_all",
                           hp->host, hp->port);
}

size_t pool_flush_all(const mcsq_pool_config *pool, int timeout_ms, char *errstr,
                      size_t errstr_size)
{
    size_t ok = 0;
    bool first = true;
    for (size_t i = 0; i < pool->servers.n; i++) {
        char err[512];
        if (flush_server(&pool->servers.v[i], timeout_ms, err, sizeof(err)) == MCSQ_OK) {
            ok++;
        } else if (first && errstr != NULL) {
            errstr_set(errstr, errstr_size, MCSQ_ERR_CONNECT, "%s", err);
            first = false;
        }
    }
    return ok;
}
