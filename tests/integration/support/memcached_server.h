/*
 * Test harness: throwaway memcached servers for integration tests and
 * benchmarks, like mariadb_server.h. Each server is Debian's `memcached`
 * started in the background on 127.0.0.1 with a free port
 * (-l 127.0.0.1 -p PORT -U 0 -m 64, plus -u <user> when running as root),
 * its output in a temporary log file. Servers are kept in a process-wide
 * registry and killed at exit, on SIGINT/SIGTERM/SIGHUP/SIGQUIT, and (Linux)
 * when the test process dies. A stopped (SIGSTOP) server is continued before
 * it is killed.
 *
 * Environment:
 *   MCSQ_TEST_MEMCACHED=PATH  server binary (default: memcached found in PATH,
 *                             /usr/bin, /usr/sbin)
 */
#ifndef MCSQ_TESTS_MEMCACHED_SERVER_H
#define MCSQ_TESTS_MEMCACHED_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MEMCACHED_SERVER_PATH_MAX 256

typedef struct memcached_server {
    char log[MEMCACHED_SERVER_PATH_MAX]; /* the server's stdout and stderr */
    int port;                            /* on 127.0.0.1 */
    int memory_mb;                       /* -m */
    pid_t pid;                           /* 0 when not running */
    bool stopped;                        /* SIGSTOPped */
} memcached_server;

/* Finds the memcached binary (see MCSQ_TEST_MEMCACHED). Returns 0 with the
 * path in `path`, or -1 with the reason in `path`: the caller skips then. */
int memcached_server_find(char *path, size_t size);

/* Starts memcached with memory_mb megabytes (0: 64) on a free port (port 0)
 * or on `port`, and waits (at most 10 s) until it answers a `version`.
 * Returns 0 with *out set (free with memcached_server_stop()), or -1 with
 * errstr filled, including the end of the server's log. */
int memcached_server_start(memcached_server **out, int port, int memory_mb, char *errstr,
                           size_t errstr_size);

/* Kills the server (SIGKILL: a crash) but keeps srv, so that
 * memcached_server_restart() can start it again on the same port. */
void memcached_server_kill(memcached_server *srv);

/* Starts a killed server again on its port (an empty cache). Returns 0, or
 * -1 with errstr filled. */
int memcached_server_restart(memcached_server *srv, char *errstr, size_t errstr_size);

/* SIGSTOP / SIGCONT: the server keeps its connections but stops answering
 * (the kernel still accepts connections and buffers requests): a partition.
 * Return 0 or -1 (not running). */
int memcached_server_pause(memcached_server *srv);
int memcached_server_resume(memcached_server *srv);

/* Stops the server if it runs (SIGTERM; SIGKILL after 250 ms: memcached
 * needs up to a second to exit on SIGTERM, and test servers hold nothing),
 * removes its log and frees srv. NULL is a no-op. */
void memcached_server_stop(memcached_server *srv);

/* Sends one text-protocol command line (without "\r\n") on a new connection
 * and reads the whole answer up to and including the line `end` (e.g. "END",
 * or NULL: one line) into buf (NUL-terminated). Returns 0, or -1 with the
 * reason in buf. For checks independent of any client library. */
int memcached_server_command(const memcached_server *srv, const char *line, const char *end,
                             char *buf, size_t size);

/* Reads `key` with the text protocol `get`. Returns 1 when the server holds
 * it, 0 when not, -1 on error. */
int memcached_server_has(const memcached_server *srv, const char *key);

#endif
