/*
 * Throwaway mariadbd servers for integration tests (see mariadb_server.h).
 * Start: mkdtemp, mariadb-install-db, fork+exec mariadbd with its stderr in
 * dir/mariadbd.log, poll until a connection succeeds. Stop: SIGTERM, wait,
 * SIGKILL, remove the directory. A small process-wide registry remembers
 * every running server so that exit() and fatal signals still kill them:
 * this registry is the one global state here, by necessity.
 */
#include "mariadb_server.h"
#include "test_support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REGISTRY_MAX 16
#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 20000
#define INSTALL_TIMEOUT_MS 120000
#define POLL_MS 50
#define LOG_TAIL 1500
#define MAX_ARGS 64

/* ---- registry of running servers, for exit and signal cleanup ---- */

typedef struct registry_entry {
    volatile pid_t pid; /* 0: free slot */
    char dir[MARIADB_SERVER_DIR_MAX];
} registry_entry;

static registry_entry registry[REGISTRY_MAX];
static bool registry_hooks_installed;

static bool keep_dirs(void)
{
    const char *k = getenv("MCSQ_TEST_KEEP");
    return k != NULL && k[0] != '\0' && strcmp(k, "0") != 0;
}

static int rmtree_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    (void)remove(path);
    return 0;
}

static void rmtree(const char *dir)
{
    if (dir[0] != '\0')
        (void)nftw(dir, rmtree_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* atexit: kill whatever is still running, then remove the directories.
 * Every child leads its own process group (see spawn_child()). */
static void registry_cleanup_at_exit(void)
{
    for (int i = 0; i < REGISTRY_MAX; i++) {
        pid_t pid = registry[i].pid;
        if (pid <= 0)
            continue;
        (void)kill(-pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        registry[i].pid = 0;
        if (keep_dirs())
            fprintf(stderr, "mariadb_server: kept %s\n", registry[i].dir);
        else
            rmtree(registry[i].dir);
    }
}

/* Fatal signal: only async-signal-safe work (kill, write), then die of the
 * same signal. The directories stay behind, and are named on stderr. */
static void registry_on_signal(int sig)
{
    static const char msg[] = "mariadb_server: killed by a signal; left behind: ";
    for (int i = 0; i < REGISTRY_MAX; i++) {
        if (registry[i].pid <= 0)
            continue;
        (void)kill(-registry[i].pid, SIGKILL);
        (void)!write(2, msg, sizeof(msg) - 1);
        (void)!write(2, registry[i].dir, strlen(registry[i].dir));
        (void)!write(2, "\n", 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void registry_install_hooks(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    if (registry_hooks_installed)
        return;
    registry_hooks_installed = true;
    atexit(registry_cleanup_at_exit);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = registry_on_signal;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(sigs[i], &sa, NULL);
    }
}

/* Registers a running child (mariadbd or mariadb-install-db) of dir. */
static int registry_add(pid_t pid, const char *dir)
{
    for (int i = 0; i < REGISTRY_MAX; i++) {
        if (registry[i].pid == 0) {
            snprintf(registry[i].dir, sizeof(registry[i].dir), "%s", dir);
            registry[i].pid = pid;
            return 0;
        }
    }
    return -1;
}

static int registry_free_slots(void)
{
    int n = 0;
    for (int i = 0; i < REGISTRY_MAX; i++)
        n += registry[i].pid == 0;
    return n;
}

static void registry_remove(pid_t pid)
{
    for (int i = 0; i < REGISTRY_MAX; i++) {
        if (registry[i].pid == pid)
            registry[i].pid = 0;
    }
}

/* ---- small helpers ---- */

int mariadb_server_find(char *path, size_t size)
{
    const char *env = getenv("MCSQ_TEST_MARIADBD");
    if (env != NULL && env[0] != '\0') {
        snprintf(path, size, "%s", env);
        if (ts_is_executable(path))
            return 0;
        snprintf(path, size, "MCSQ_TEST_MARIADBD=%s is not an executable file", env);
        return -1;
    }
    if (ts_find_in_path("mariadbd", path, size) || ts_find_in_path("mysqld", path, size))
        return 0;
    snprintf(path, size,
             "mariadbd not found in PATH, /usr/sbin or /usr/bin "
             "(install mariadb-server: scripts/deps)");
    return -1;
}

static bool find_install_db(char *path, size_t size)
{
    return ts_find_in_path("mariadb-install-db", path, size) ||
           ts_find_in_path("mysql_install_db", path, size);
}

void mariadb_server_log_tail(const mariadb_server *srv, char *buf, size_t size)
{
    ts_read_tail(srv->log, buf, size);
}

/* ---- processes ---- */

/* Child side of spawn(): own process group (so that a kill reaches its
 * children, e.g. install-db's bootstrap server), die with the parent,
 * output to log, exec. */
static void spawn_child(char *const *argv, const char *log, const char *bootstrap)
{
    (void)setpgid(0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
        _exit(127);
    for (int i = 3; i < 1024; i++)
        (void)close(i);
    if (bootstrap != NULL)
        (void)setenv("MYSQLD_BOOTSTRAP", bootstrap, 1);
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Starts argv[0] and registers it under dir. Returns its pid or -1. */
static pid_t spawn(char *const *argv, const char *log, const char *bootstrap, const char *dir)
{
    pid_t pid = fork();
    if (pid == 0)
        spawn_child(argv, log, bootstrap);
    if (pid > 0) {
        (void)setpgid(pid, pid); /* also here: no race with kill(-pid) */
        if (registry_add(pid, dir) != 0) {
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, NULL, 0);
            errno = EAGAIN; /* registry full; mariadb_server_start() checks first */
            return -1;
        }
    }
    return pid;
}

/* Waits for pid up to timeout_ms; returns its wait status or -1. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    int status;
    do {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        ts_sleep_ms(10);
    } while (ts_now_ms() < deadline);
    return -1;
}

/* SIGTERM, then SIGKILL to the whole process group after timeout_ms. */
static void kill_and_reap(pid_t pid, int timeout_ms)
{
    (void)kill(pid, SIGTERM);
    if (wait_exit(pid, timeout_ms) == -1) {
        (void)kill(-pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
    }
    registry_remove(pid);
}

/* ---- start ---- */

static int make_dirs(mariadb_server *srv, char *errstr, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 60)
        tmp = "/tmp"; /* keeps the socket path under 108 bytes */
    snprintf(srv->dir, sizeof(srv->dir), "%s/mcsq-itest-XXXXXX", tmp);
    if (mkdtemp(srv->dir) == NULL) {
        ts_errf(errstr, size, "mkdtemp %s: %s", srv->dir, strerror(errno));
        srv->dir[0] = '\0';
        return -1;
    }
    snprintf(srv->datadir, sizeof(srv->datadir), "%s/data", srv->dir);
    snprintf(srv->socket, sizeof(srv->socket), "%s/mysqld.sock", srv->dir);
    snprintf(srv->log, sizeof(srv->log), "%s/mariadbd.log", srv->dir);
    snprintf(srv->binlog_index, sizeof(srv->binlog_index), "%s/data/binlog.index", srv->dir);
    return 0;
}

static int install_db(const mariadb_server *srv, const char *mariadbd, char *errstr, size_t size)
{
    char tool[MARIADB_SERVER_PATH_MAX], log[MARIADB_SERVER_PATH_MAX + 16];
    char datadir[MARIADB_SERVER_PATH_MAX + 16], tmpdir[MARIADB_SERVER_PATH_MAX + 16];
    char tail[LOG_TAIL];
    if (!find_install_db(tool, sizeof(tool))) {
        ts_errf(errstr, size, "mariadb-install-db not found in PATH, /usr/sbin or /usr/bin");
        return -1;
    }
    snprintf(log, sizeof(log), "%s/install.log", srv->dir);
    snprintf(datadir, sizeof(datadir), "--datadir=%s", srv->datadir);
    /* the bootstrap server's temporary tables in the server's own directory:
     * a mariadbd starting elsewhere removes every #sql file in its tmpdir,
     * which in a shared /tmp failed installs running at the same time
     * ("Unknown table 'mysql.tmp_proxies_priv'") */
    snprintf(tmpdir, sizeof(tmpdir), "--tmpdir=%s", srv->dir);
    char *argv[] = {tool,
                    "--no-defaults",
                    "--user=root",
                    datadir,
                    tmpdir,
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    NULL};
    const char *env = getenv("MCSQ_TEST_MARIADBD");
    pid_t pid = spawn(argv, log, env != NULL && env[0] != '\0' ? mariadbd : NULL, srv->dir);
    int status = pid > 0 ? wait_exit(pid, INSTALL_TIMEOUT_MS) : -1;
    if (pid > 0 && status == -1)
        kill_and_reap(pid, 1000);
    else if (pid > 0)
        registry_remove(pid);
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    ts_read_tail(log, tail, sizeof(tail));
    ts_errf(errstr, size, "%s failed (status %d); end of %s:\n%s", tool, status, log, tail);
    return -1;
}

/* Fills argv (with storage in `opts`) for mariadbd. */
static void server_argv(const mariadb_server *srv, char *binary, const char *const *extra,
                        char opts[6][MARIADB_SERVER_PATH_MAX + 32], char **argv)
{
    snprintf(opts[0], sizeof(opts[0]), "--datadir=%s", srv->datadir);
    snprintf(opts[1], sizeof(opts[1]), "--socket=%s", srv->socket);
    snprintf(opts[2], sizeof(opts[2]), "--port=%d", srv->port);
    snprintf(opts[3], sizeof(opts[3]), "--log-bin=%s/binlog", srv->datadir);
    snprintf(opts[4], sizeof(opts[4]), "--pid-file=%s/mariadbd.pid", srv->dir);
    snprintf(opts[5], sizeof(opts[5]), "--tmpdir=%s", srv->dir); /* see install_db() */
    int n = 0;
    char *fixed[] = {binary,
                     "--no-defaults",
                     "--user=root",
                     opts[0],
                     opts[1],
                     opts[2],
                     "--bind-address=127.0.0.1",
                     opts[3],
                     "--server-id=1",
                     opts[4],
                     opts[5]};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv[n++] = fixed[i];
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < MAX_ARGS - 1; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
}

/* 1: accepts connections, 0: not yet. */
static int try_connect(const mariadb_server *srv)
{
    char err[256];
    MYSQL *db = mariadb_server_connect(srv, NULL, 0, err, sizeof(err));
    if (db == NULL)
        return 0;
    mysql_close(db);
    return 1;
}

static int wait_ready(const mariadb_server *srv, char *errstr, size_t size)
{
    char tail[LOG_TAIL];
    long long deadline = ts_now_ms() + START_TIMEOUT_MS;
    while (ts_now_ms() < deadline) {
        int status;
        if (waitpid(srv->pid, &status, WNOHANG) == srv->pid) {
            ts_read_tail(srv->log, tail, sizeof(tail));
            ts_errf(errstr, size, "mariadbd exited during startup (status %d); end of %s:\n%s",
                    status, srv->log, tail);
            return -2;
        }
        if (access(srv->socket, F_OK) == 0 && try_connect(srv))
            return 0;
        ts_sleep_ms(POLL_MS);
    }
    ts_read_tail(srv->log, tail, sizeof(tail));
    ts_errf(errstr, size, "mariadbd did not accept connections within %d s; end of %s:\n%s",
            START_TIMEOUT_MS / 1000, srv->log, tail);
    return -1;
}

static int launch(mariadb_server *srv, char *binary, const char *const *extra, char *errstr,
                  size_t size)
{
    char opts[6][MARIADB_SERVER_PATH_MAX + 32];
    char *argv[MAX_ARGS];
    srv->port = ts_free_port();
    if (srv->port < 0) {
        ts_errf(errstr, size, "cannot find a free loopback port: %s", strerror(errno));
        return -1;
    }
    server_argv(srv, binary, extra, opts, argv);
    srv->pid = spawn(argv, srv->log, NULL, srv->dir);
    if (srv->pid < 0) {
        ts_errf(errstr, size, "cannot start %s: %s", binary, strerror(errno));
        srv->pid = 0;
        return -1;
    }
    int rc = wait_ready(srv, errstr, size);
    if (rc == -2) { /* already reaped */
        registry_remove(srv->pid);
        srv->pid = 0;
    }
    return rc == 0 ? 0 : -1;
}

int mariadb_server_start(mariadb_server **out, const char *const *extra_args, char *errstr,
                         size_t errstr_size)
{
    char binary[MARIADB_SERVER_PATH_MAX];
    *out = NULL;
    if (mariadb_server_find(binary, sizeof(binary)) != 0) {
        ts_errf(errstr, errstr_size, "%s", binary);
        return -1;
    }
    if (registry_free_slots() < 2) { /* install-db, then mariadbd */
        ts_errf(errstr, errstr_size, "too many servers at once (at most %d)", REGISTRY_MAX - 1);
        return -1;
    }
    mariadb_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        ts_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    registry_install_hooks();
    if (make_dirs(srv, errstr, errstr_size) != 0 ||
        install_db(srv, binary, errstr, errstr_size) != 0 ||
        launch(srv, binary, extra_args, errstr, errstr_size) != 0)
        goto err;
    *out = srv;
    return 0;
err:
    mariadb_server_stop(srv);
    return -1;
}

MYSQL *mariadb_server_connect(const mariadb_server *srv, const char *db, unsigned long flags,
                              char *errstr, size_t errstr_size)
{
    MYSQL *m = mysql_init(NULL);
    if (m == NULL) {
        ts_errf(errstr, errstr_size, "mysql_init: out of memory");
        return NULL;
    }
    unsigned int timeout = 5;
    (void)mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (mysql_real_connect(m, "127.0.0.1", "root", "", db, (unsigned)srv->port, NULL, flags) ==
        NULL) {
        ts_errf(errstr, errstr_size, "connect to 127.0.0.1:%d: %s", srv->port, mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* ---- binlog listing ---- */

static int push_path(char ***paths, size_t *n, const char *path)
{
    char **p = realloc(*paths, (*n + 1) * sizeof(**paths));
    if (p == NULL)
        return -1;
    *paths = p;
    p[*n] = strdup(path);
    if (p[*n] == NULL)
        return -1;
    (*n)++;
    return 0;
}

/* An index line is absolute or relative to the datadir ("./binlog.000001"). */
static void resolve_index_line(const mariadb_server *srv, const char *line, char *out, size_t size)
{
    if (line[0] == '/')
        snprintf(out, size, "%s", line);
    else
        snprintf(out, size, "%s/%s", srv->datadir,
                 line[0] == '.' && line[1] == '/' ? line + 2 : line);
}

int mariadb_server_binlogs(const mariadb_server *srv, char ***paths, size_t *npaths, char *errstr,
                           size_t errstr_size)
{
    *paths = NULL;
    *npaths = 0;
    FILE *f = fopen(srv->binlog_index, "re");
    if (f == NULL) {
        ts_errf(errstr, errstr_size, "%s: %s", srv->binlog_index, strerror(errno));
        return -1;
    }
    char line[MARIADB_SERVER_PATH_MAX * 2], path[MARIADB_SERVER_PATH_MAX * 3];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        resolve_index_line(srv, line, path, sizeof(path));
        rc = push_path(paths, npaths, path);
    }
    fclose(f);
    if (rc != 0 || *npaths == 0) {
        ts_errf(errstr, errstr_size, "%s: %s", srv->binlog_index,
                rc != 0 ? "out of memory" : "no binlog files listed");
        mariadb_server_binlogs_free(*paths, *npaths);
        *paths = NULL;
        *npaths = 0;
        return -1;
    }
    return 0;
}

void mariadb_server_binlogs_free(char **paths, size_t npaths)
{
    for (size_t i = 0; i < npaths; i++)
        free(paths[i]);
    free(paths);
}

/* ---- stop ---- */

void mariadb_server_stop(mariadb_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->pid > 0)
        kill_and_reap(srv->pid, STOP_TIMEOUT_MS);
    if (srv->dir[0] != '\0') {
        if (keep_dirs())
            fprintf(stderr, "mariadb_server: MCSQ_TEST_KEEP=1: kept %s\n", srv->dir);
        else
            rmtree(srv->dir);
    }
    free(srv);
}
