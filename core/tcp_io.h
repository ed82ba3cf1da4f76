/*
 * Blocking-style TCP I/O against one deadline on non-blocking sockets:
 * connecting to host:port (every address getaddrinfo gives, in order),
 * waiting for readiness, sending everything. Every wait runs on the
 * monotonic clock (clock_mono_ms() deadlines), so a dead or silent peer costs
 * at most the time left. Used by the metrics HTTP client and the lease
 * client; header and source are self-contained for the marker library.
 */
#ifndef MCSQ_CORE_TCP_IO_H
#define MCSQ_CORE_TCP_IO_H

#include <stddef.h>
#include <stdint.h>

/* Waits until fd is ready for events (POLLIN, POLLOUT) or the deadline
 * (clock_mono_ms()) passes. Returns 0 when ready, -1 on timeout or a poll
 * error. */
int tcp_wait(int fd, short events, int64_t deadline_ms);

/* Connects to host port before the deadline, trying each address. Returns 0
 * with *fd (non-blocking, close-on-exec) or MCSQ_ERR_CONNECT with errstr
 * ("cannot connect to host port N: reason", or the resolver's error). */
int tcp_connect(const char *host, unsigned port, int64_t deadline_ms, int *fd, char *errstr,
                size_t errstr_size);

/* Sends len bytes before the deadline. Returns 0, or -1 (timeout, or the
 * connection failed: errno says which, ETIMEDOUT for the deadline). */
int tcp_send_all(int fd, const char *buf, size_t len, int64_t deadline_ms);

#endif
