/*
 * Throwaway memcached servers for tests (see memcached_server.h). Start:
 * fork+exec memcached on a free loopback port with its output in a temporary
 * log, poll until it answers `version`. Kill: SIGKILL (a crash). Stop:
 * SIGTERM, SIGKILL after a short grace, remove the log. A small process-wide registry of running
 * servers lets exit() and fatal signals still kill them: the one global state here, by necessity
 * (as in mariadb_server.c).
 */
#include "memcached_server.h"
#include "test_support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REGISTRY_MAX 32
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 5000
#define STOP_GRACE_MS 250 /* SIGTERM, then SIGKILL: test servers hold nothing */
#define START_ATTEMPTS 3  /* a free port can be taken before memcached binds it */
#define LOG_TAIL 1000

/* ---- registry of running servers, for exit and signal cleanup ---- */

static volatile pid_t registry[REGISTRY_MAX]; /* 0: free slot */
static bool registry_hooks_installed;

static void registry_cleanup_at_exit(void)
{
    for (int i = 0; i < REGISTRY_MAX; i++) {
        pid_t pid = registry[i];
        if (pid <= 0)
            continue;
        (void)kill(pid, SIGKILL); /* also ends a stopped process */
        (void)waitpid(pid, NULL, 0);
        registry[i] = 0;
    }
}

/* Fatal signal: only async-signal-safe work, then die of the same signal. */
static void registry_on_signal(int sig)
{
    for (int i = 0; i < REGISTRY_MAX; i++) {
        if (registry[i] > 0)
            (void)kill(registry[i], SIGKILL);
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

static int registry_add(pid_t pid)
{
    for (int i = 0; i < REGISTRY_MAX; i++) {
        if (registry[i] == 0) {
            registry[i] = pid;
            return 0;
        }
    }
    return -1;
}

static void registry_remove(pid_t pid)
{
    for (int i = 0; i < REGISTRY_MAX; i++) {
        if (registry[i] == pid)
            registry[i] = 0;
    }
}

/* ---- small helpers ---- */

int memcached_server_find(char *path, size_t size)
{
    const char *env = getenv("MCSQ_TEST_MEMCACHED");
    if (env != NULL && env[0] != '\0') {
        snprintf(path, size, "%s", env);
        if (ts_is_executable(path))
            return 0;
        snprintf(path, size, "MCSQ_TEST_MEMCACHED=%s is not an executable file", env);
        return -1;
    }
    if (ts_find_in_path("memcached", path, size))
        return 0;
    snprintf(path, size,
             "memcached not found in PATH, /usr/bin or /usr/sbin "
             "(install memcached: scripts/deps)");
    return -1;
}

/* A blocking connection to 127.0.0.1:port with 5 s I/O timeouts, or -1. */
static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {5, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the text protocol ---- */

static bool answer_complete(const char *buf, size_t len, const char *end)
{
    if (len < 2 || memcmp(buf + len - 2, "\r\n", 2) != 0)
        return false;
    if (end == NULL)
        return true;
    size_t elen = strlen(end);
    if (len < elen + 2 || memcmp(buf + len - elen - 2, end, elen) != 0)
        return false;
    return len == elen + 2 || buf[len - elen - 3] == '\n';
}

static int send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int memcached_server_command(const memcached_server *srv, const char *line, const char *end,
                             char *buf, size_t size)
{
    int fd = connect_port(srv->port);
    if (fd < 0) {
        ts_errf(buf, size, "connect to 127.0.0.1:%d: %s", srv->port, strerror(errno));
        return -1;
    }
    size_t len = 0;
    int rc = send_all(fd, line, strlen(line)) == 0 && send_all(fd, "\r\n", 2) == 0 ? 0 : -1;
    while (rc == 0 && !answer_complete(buf, len, end)) {
        ssize_t n = len + 1 < size ? recv(fd, buf + len, size - 1 - len, 0) : -1;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = -1;
        else
            len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    if (rc != 0)
        ts_errf(buf, size, "`%s` on 127.0.0.1:%d: no complete answer (%s)", line, srv->port,
                len + 1 >= size ? "buffer full" : "connection closed or timed out");
    return rc;
}

int memcached_server_has(const memcached_server *srv, const char *key)
{
    char line[300], buf[4096];
    snprintf(line, sizeof(line), "get %s", key);
    if (memcached_server_command(srv, line, "END", buf, sizeof(buf)) != 0)
        return -1;
    return strncmp(buf, "VALUE ", 6) == 0 ? 1 : 0;
}

/* ---- processes ---- */

/* Child side: own process group, die with the parent, output to the log. */
static void spawn_child(char *const *argv, const char *log)
{
    (void)setpgid(0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
        _exit(127);
    for (int i = 3; i < 1024; i++)
        (void)close(i);
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static pid_t spawn(char *const *argv, const char *log)
{
    pid_t pid = fork();
    if (pid == 0)
        spawn_child(argv, log);
    if (pid > 0) {
        (void)setpgid(pid, pid);
        if (registry_add(pid) != 0) {
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, NULL, 0);
            errno = EAGAIN;
            return -1;
        }
    }
    return pid;
}

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
        ts_sleep_ms(5);
    } while (ts_now_ms() < deadline);
    return -1;
}

/* Ends the process: SIGTERM (memcached then exits within its 1 s clock
 * tick) unless `crash`; SIGKILL when it is still there after grace_ms. */
static void end_process(memcached_server *srv, bool crash, int grace_ms)
{
    if (srv->pid <= 0)
        return;
    (void)kill(srv->pid, crash ? SIGKILL : SIGTERM);
    if (srv->stopped)
        (void)kill(srv->pid, SIGCONT);
    if (wait_exit(srv->pid, grace_ms) == -1) {
        (void)kill(-srv->pid, SIGKILL);
        (void)waitpid(srv->pid, NULL, 0);
    }
    registry_remove(srv->pid);
    srv->pid = 0;
    srv->stopped = false;
}

/* 1 when the server answers `version`, else 0. */
static int answers(const memcached_server *srv)
{
    char buf[256];
    return memcached_server_command(srv, "version", NULL, buf, sizeof(buf)) == 0 &&
           strncmp(buf, "VERSION ", 8) == 0;
}

/* -2: exited (reaped), -1: timeout, 0: ready. */
static int wait_ready(memcached_server *srv)
{
    long long deadline = ts_now_ms() + START_TIMEOUT_MS;
    while (ts_now_ms() < deadline) {
        if (waitpid(srv->pid, NULL, WNOHANG) == srv->pid) {
            registry_remove(srv->pid);
            srv->pid = 0;
            return -2;
        }
        if (answers(srv))
            return 0;
        ts_sleep_ms(10);
    }
    return -1;
}

/* One attempt on srv->port. Returns wait_ready()'s code, or -3 (no spawn). */
static int launch_once(memcached_server *srv, char *binary)
{
    char port[16], mem[16];
    snprintf(port, sizeof(port), "%d", srv->port);
    snprintf(mem, sizeof(mem), "%d", srv->memory_mb);
    const struct passwd *pw = geteuid() == 0 ? getpwuid(0) : NULL;
    char *argv[] = {binary,
                    "-l",
                    "127.0.0.1",
                    "-p",
                    port,
                    "-U",
                    "0",
                    "-m",
                    mem,
                    pw != NULL ? "-u" : NULL,
                    pw != NULL ? pw->pw_name : NULL,
                    NULL};
    srv->pid = spawn(argv, srv->log);
    if (srv->pid < 0) {
        srv->pid = 0;
        return -3;
    }
    return wait_ready(srv);
}

static int launch(memcached_server *srv, bool fixed_port, char *errstr, size_t size)
{
    char binary[MEMCACHED_SERVER_PATH_MAX], tail[LOG_TAIL];
    if (memcached_server_find(binary, sizeof(binary)) != 0) {
        ts_errf(errstr, size, "%s", binary);
        return -1;
    }
    int rc = -2;
    for (int i = 0; i < START_ATTEMPTS && rc == -2; i++) {
        if (!fixed_port && (srv->port = ts_free_port()) < 0)
            break;
        rc = launch_once(srv, binary);
    }
    if (rc == 0)
        return 0;
    if (rc == -1)
        end_process(srv, true, STOP_TIMEOUT_MS);
    ts_read_tail(srv->log, tail, sizeof(tail));
    ts_errf(errstr, size, "memcached on 127.0.0.1:%d did not start (%s); end of %s:\n%s", srv->port,
            rc == -3   ? strerror(errno)
            : rc == -1 ? "no answer within 10 s"
                       : "it exited",
            srv->log, tail);
    return -1;
}

static int make_log(memcached_server *srv, char *errstr, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(srv->log, sizeof(srv->log), "%s/mcsq-memcached-XXXXXX.log",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    int fd = mkstemps(srv->log, 4);
    if (fd < 0) {
        ts_errf(errstr, size, "mkstemps %s: %s", srv->log, strerror(errno));
        srv->log[0] = '\0';
        return -1;
    }
    close(fd);
    return 0;
}

int memcached_server_start(memcached_server **out, int port, int memory_mb, char *errstr,
                           size_t errstr_size)
{
    *out = NULL;
    memcached_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        ts_errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    registry_install_hooks();
    srv->port = port;
    srv->memory_mb = memory_mb > 0 ? memory_mb : 64;
    if (make_log(srv, errstr, errstr_size) != 0 ||
        launch(srv, port > 0, errstr, errstr_size) != 0) {
        memcached_server_stop(srv);
        return -1;
    }
    *out = srv;
    return 0;
}

void memcached_server_kill(memcached_server *srv)
{
    end_process(srv, true, STOP_TIMEOUT_MS);
}

int memcached_server_restart(memcached_server *srv, char *errstr, size_t errstr_size)
{
    memcached_server_kill(srv);
    return launch(srv, true, errstr, errstr_size);
}

/* Sends sig and waits until the child reports the state change. */
static int signal_and_wait(memcached_server *srv, int sig, int wflag)
{
    if (srv->pid <= 0 || kill(srv->pid, sig) != 0)
        return -1;
    int status;
    pid_t r;
    while ((r = waitpid(srv->pid, &status, wflag)) < 0 && errno == EINTR)
        ;
    return r == srv->pid ? 0 : -1;
}

int memcached_server_pause(memcached_server *srv)
{
    if (srv->stopped)
        return 0;
    int rc = signal_and_wait(srv, SIGSTOP, WUNTRACED);
    srv->stopped = rc == 0;
    return rc;
}

int memcached_server_resume(memcached_server *srv)
{
    if (!srv->stopped)
        return 0;
    int rc = signal_and_wait(srv, SIGCONT, WCONTINUED);
    srv->stopped = false;
    return rc;
}

void memcached_server_stop(memcached_server *srv)
{
    if (srv == NULL)
        return;
    end_process(srv, false, STOP_GRACE_MS);
    if (srv->log[0] != '\0')
        (void)unlink(srv->log);
    free(srv);
}
