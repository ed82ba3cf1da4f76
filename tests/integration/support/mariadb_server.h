/*
 * Test harness: throwaway mariadbd servers for integration tests, in the
 * spirit of memcached's t/lib/MemcachedTest.pm and redis's start_server {}.
 * Each server gets a fresh temporary directory (datadir, socket, log), a
 * free loopback port and binary logging (datadir/binlog). Servers are kept
 * in a process-wide registry and killed at exit, on SIGINT/SIGTERM/SIGHUP/
 * SIGQUIT, and (Linux) when the test process dies, so a failing test never
 * leaves one running.
 *
 * Environment:
 *   MCSQ_TEST_MARIADBD=PATH  server binary to use (default: mariadbd found
 *                            in PATH, /usr/sbin, /usr/bin)
 *   MCSQ_TEST_KEEP=1         keep the temporary directories for debugging
 */
#ifndef MCSQ_TESTS_MARIADB_SERVER_H
#define MCSQ_TESTS_MARIADB_SERVER_H

#include <mysql.h>

#include <stddef.h>
#include <sys/types.h>

#define MARIADB_SERVER_PATH_MAX 256
#define MARIADB_SERVER_DIR_MAX 128 /* the socket path must stay under 108 bytes */

typedef struct mariadb_server {
    char dir[MARIADB_SERVER_DIR_MAX];           /* temporary root, removed by stop() */
    char datadir[MARIADB_SERVER_PATH_MAX];      /* dir/data */
    char socket[MARIADB_SERVER_PATH_MAX];       /* dir/mysqld.sock */
    char log[MARIADB_SERVER_PATH_MAX];          /* dir/mariadbd.log: the server's stderr */
    char binlog_index[MARIADB_SERVER_PATH_MAX]; /* datadir/binlog.index */
    int port;                                   /* on 127.0.0.1 */
    pid_t pid;
} mariadb_server;

/* Finds the mariadbd binary (see MCSQ_TEST_MARIADBD). Returns 0 with the
 * path in `path`, or -1 with the reason in `path` when it is missing: the
 * caller skips its test then. */
int mariadb_server_find(char *path, size_t size);

/* Creates a datadir with mariadb-install-db and starts mariadbd on it with
 * the standard options plus `extra_args` (NULL-terminated, may be NULL),
 * e.g. "--binlog-format=ROW". Waits (at most 30 s) until the server
 * accepts connections. Returns 0 with *out set (free with
 * mariadb_server_stop()), or -1 with errstr filled, including the tail of
 * the server's log. */
int mariadb_server_start(mariadb_server **out, const char *const *extra_args, char *errstr,
                         size_t errstr_size);

/* Connects as root over TCP to 127.0.0.1:port with the given client flags
 * (e.g. CLIENT_MULTI_STATEMENTS) and optional default database (may be
 * NULL). Returns the connection (caller closes with mysql_close()) or NULL
 * with errstr filled. */
MYSQL *mariadb_server_connect(const mariadb_server *srv, const char *db, unsigned long flags,
                              char *errstr, size_t errstr_size);

/* Lists the server's binlog files in index order (from binlog.index), as
 * absolute paths. Returns 0 with *paths (caller frees with
 * mariadb_server_binlogs_free()) and *npaths, or -1 with errstr filled. */
int mariadb_server_binlogs(const mariadb_server *srv, char ***paths, size_t *npaths, char *errstr,
                           size_t errstr_size);

void mariadb_server_binlogs_free(char **paths, size_t npaths);

/* Copies the last `size - 1` bytes (at most) of the server's log into buf,
 * NUL-terminated; "" when it cannot be read. */
void mariadb_server_log_tail(const mariadb_server *srv, char *buf, size_t size);

/* Stops the server (SIGTERM; SIGKILL after 20 s), removes its directory
 * unless MCSQ_TEST_KEEP=1 (then says where it is) and frees srv. NULL is a
 * no-op. */
void mariadb_server_stop(mariadb_server *srv);

#endif
