/*
 * Small helpers shared by the integration-test harnesses (mariadb_server.c,
 * memcached_server.c): error text, clocks, finding programs, reading the
 * end of a log, free loopback ports.
 */
#ifndef MCSQ_TESTS_TEST_SUPPORT_H
#define MCSQ_TESTS_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

/* vsnprintf into errstr. */
void ts_errf(char *errstr, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* CLOCK_MONOTONIC in milliseconds. */
long long ts_now_ms(void);

/* Sleeps ms milliseconds (restarted after signals). */
void ts_sleep_ms(int ms);

/* Whether path is a regular file this process may execute. */
bool ts_is_executable(const char *path);

/* Searches PATH, then /usr/sbin and /usr/bin, for an executable `name`;
 * true with its path in out. */
bool ts_find_in_path(const char *name, char *out, size_t size);

/* The last size - 1 bytes of file into buf (NUL-terminated; "" when the file
 * cannot be read). */
void ts_read_tail(const char *file, char *buf, size_t size);

/* Binds 127.0.0.1:0 and returns the port the kernel picked, or -1. */
int ts_free_port(void);

#endif
