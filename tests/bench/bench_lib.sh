# shellcheck shell=bash
# What every tests/bench/bench_*.sh script needs around its own measurements:
# messages, a temp dir cleaned up on any exit, the build, free loopback
# ports, a throwaway mariadbd, memcached servers and the runstat timer.
#
# Usage, near the top of a script (after `set -euo pipefail`):
#   bench_name=bench_foo                   # prefix of every message
#   source "$root/tests/bench/bench_lib.sh"
#   bench_init mcsq-bench-foo              # work=$(mktemp -d ...), traps
# Then: pids+=("$pid") for every background process to stop at exit;
# server_pid is the throwaway mariadbd (start_mariadbd sets it); keep=1
# keeps the temp dir (without data and build) and says where.

die() { echo "$bench_name: $*" >&2; exit 1; }
note() { echo "$bench_name: $*" >&2; }

need_tools() { # TOOL...: each must be on PATH
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found (run scripts/deps)"
  done
}

stop_pid() { # PID: TERM, wait up to 10 s, KILL
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  stop_pid "$server_pid"
  if [[ -n ${kafka_dir:-} ]]; then
    /usr/bin/python3 "$root/scripts/kafka" stop --dir "$kafka_dir" >/dev/null 2>&1 || true
  fi
  if [[ ${keep:-0} != 0 ]]; then
    rm -rf "$work/data" "$work/build"
    note "kept $work"
  else
    rm -rf "$work"
  fi
}

bench_init() { # TEMPLATE: the temp dir ${TMPDIR:-/tmp}/TEMPLATE.XXXXXX, and the traps
  work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  pids=()
  server_pid=""
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  bench_pin_others
}

# With BENCH_KAFKA=1 and BENCH_KAFKA_CPU=N, the broker gets CPU N to itself:
# the script and everything it starts run on the other CPUs (set here, from
# bench_init, so mariadbd and memcached inherit it) and bench_bus moves every
# thread of the broker's JVM to CPU N: a broker host of its own, in small.
kafka_cpu=""   # the broker's CPU, when pinned
others_cpus="" # the CPUs of everything else then
bench_pin_others() {
  [[ ${BENCH_KAFKA:-0} != 0 && -n ${BENCH_KAFKA_CPU:-} ]] || return 0
  local n
  n=$(nproc --all)
  [[ $BENCH_KAFKA_CPU =~ ^[0-9]+$ && $BENCH_KAFKA_CPU -lt $n && $n -ge 2 ]] ||
    die "BENCH_KAFKA_CPU must be a CPU number below $n, on a machine of 2 CPUs or more"
  need_tools taskset
  kafka_cpu=$BENCH_KAFKA_CPU
  others_cpus=$(seq 0 $((n - 1)) | grep -vx "$kafka_cpu" | paste -sd,)
  taskset -pc "$others_cpus" $$ >/dev/null || die "taskset -pc $others_cpus failed"
}

# bench_bus: sets brokers (bus.brokers) and bus_label: the embedded bus, or
# with BENCH_KAFKA=1 a 1-broker Apache Kafka (scripts/kafka: KRaft, the full
# JIT) started in $work/kafka and stopped at exit; the tailer produces with
# acks=all (its default); kafka_pid is the broker's JVM.
bench_bus() {
  brokers=embedded
  bus_label="embedded bus"
  [[ ${BENCH_KAFKA:-0} != 0 ]] || return 0
  kafka_dir=$work/kafka
  note "starting a 1-broker Apache Kafka (scripts/kafka)"
  /usr/bin/python3 "$root/scripts/kafka" start --detach --full-jit --max-lifetime 7200 \
    --dir "$kafka_dir" >"$work/kafka.out" 2>&1 || { cat "$work/kafka.out" >&2; die "Kafka did not start"; }
  # the broker's JVM, for its CPU time (its command line names its log directory)
  kafka_pid=""
  for p in $(pgrep -f -- "-Dkafka.logs.dir=$kafka_dir/" || true); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) == java ]] && kafka_pid=$p
  done
  brokers=$(sed -n 's/^bootstrap servers: *//p' "$work/kafka.out")
  [[ -n $brokers ]] || die "scripts/kafka printed no bootstrap servers"
  bus_label="Apache Kafka $(sed -n 's/^Apache Kafka \([^:]*\):.*/\1/p' "$work/kafka.out"), 1 broker at $brokers, acks=all"
  if [[ -n $kafka_cpu ]]; then
    [[ -n $kafka_pid ]] || die "BENCH_KAFKA_CPU: the broker's JVM was not found"
    taskset -a -pc "$kafka_cpu" "$kafka_pid" >/dev/null || die "taskset -a -pc $kafka_cpu failed"
    bus_label+="; the broker alone on CPU $kafka_cpu, everything else on CPUs $others_cpus"
  fi
}

bench_build() { # BUILD_DIR_OR_EMPTY TARGET...: sets build (a Release build in $work when empty)
  local dir=$1
  shift
  if [[ -n $dir ]]; then
    build=$(cd "$dir" && pwd)
    return
  fi
  build=$work/build
  note "building (Release) in $build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$(nproc)" --target "$@" >/dev/null
}

free_port() { # a loopback port nothing listens on, below the ephemeral range (which any
  # connection's local end may take between the pick and the bind, or between two
  # starts of a server that keeps its port, as the router's metrics listener does)
  local p low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  ((low > 20000)) || low=32768
  for _ in $(seq 1 50); do
    p=$((16384 + RANDOM % (low - 16384)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free loopback port found"
}

kv() { # KEY LINE: the value of KEY in a line of key=value pairs
  sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

# start_mariadbd: a throwaway server in $work/data (ROW binlogs of up to 1 GiB,
# CRC32 checksums, no syncing), on a free loopback port and $work/mysqld.sock,
# with its own --tmpdir (a mariadbd starting elsewhere empties a shared /tmp of
# its #sql files, which broke mariadb-install-db). Sets data, sock, port and
# server_pid; returns once the socket is open. Arguments are passed on to
# mariadbd (after the ones above).
start_mariadbd() {
  data=$work/data
  sock=$work/mysqld.sock
  port=$(free_port)
  note "starting mariadbd on 127.0.0.1:$port in $data"
  mariadb-install-db --no-defaults --user=root --datadir="$data" --tmpdir="$work" \
    --auth-root-authentication-method=normal --skip-test-db >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; die "mariadb-install-db failed"; }
  mariadbd --no-defaults --user=root --datadir="$data" --tmpdir="$work" --socket="$sock" \
    --port="$port" --bind-address=127.0.0.1 --log-bin="$data/binlog" --server-id=1 \
    --binlog-format=ROW --max-binlog-size=1G --innodb-flush-log-at-trx-commit=0 --sync-binlog=0 \
    --log-error="$work/mariadbd.err" "$@" >>"$work/mariadbd.err" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    [[ -S $sock ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/mariadbd.err" >&2; die "mariadbd exited"; }
    sleep 0.1
  done
  die "mariadbd did not open its socket"
}

# start_memcached N MEGABYTES: memcached N on a free loopback port (another one
# if that is taken); appends to mc_pids, mc_ports and pids.
mc_pids=()
mc_ports=()
start_memcached() {
  local port pid
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    memcached -U 0 -l 127.0.0.1 -p "$port" -m "$2" -u "$(id -un)" >"$work/memcached.$1.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      mc_pids+=("$pid")
      mc_ports+=("$port")
      return 0
    fi
    stop_pid "$pid"
  done
  cat "$work/memcached.$1.log" >&2
  die "memcached did not start"
}

# build_runstat: $work/runstat STATFILE CMD... runs CMD and appends
# "wall_seconds max_rss_kib exit" to STATFILE (wait4 rusage: the exact peak RSS
# of CMD alone, no /usr/bin/time needed).
build_runstat() {
  cc -O2 -o "$work/runstat" -x c - <<'EOF'
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    struct timespec a, b;
    struct rusage ru;
    int st;
    if (argc < 3)
        return 2;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &st, 0, &ru) < 0)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &b);
    FILE *f = fopen(argv[1], "a");
    if (f == NULL)
        return 1;
    fprintf(f, "%.6f %ld %d\n", (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
            ru.ru_maxrss, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    return fclose(f) != 0;
}
EOF
}

# build_tailwatch: $work/tailwatch STATFILE THREADFILE CHECKPOINT END_FILE END_POS TIMEOUT_S CMD...:
# starts CMD (the tailer), reads CHECKPOINT each time inotify reports a file
# written or renamed into its directory (and every 5 ms, when it also samples
# VmHWM) until its file= and pos= reach END_FILE:END_POS, then sends SIGTERM
# and waits. Appends
# "seconds_to_end vmhwm_kib_at_end max_rss_kib exit" to STATFILE (exit 124:
# timeout; seconds_to_end is from fork to the poll that saw the end) and
# writes the per-thread CPU seconds at the end to THREADFILE as
# "tid name user sys" lines (the main thread's name ends in "(main)").
build_tailwatch() {
  cc -O2 -o "$work/tailwatch" -x c - <<'EOF'
#include <dirent.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}
static int reached(const char *path, const char *end_file, unsigned long long end_pos)
{
    char line[4096], file[4096] = "";
    unsigned long long pos = 0;
    int have_pos = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "file=", 5) == 0) {
            snprintf(file, sizeof(file), "%s", line + 5);
            file[strcspn(file, "\n")] = '\0';
        } else if (strncmp(line, "pos=", 4) == 0) {
            have_pos = sscanf(line + 4, "%llu", &pos) == 1;
        }
    }
    fclose(f);
    int cmp = strcmp(file, end_file);
    return file[0] != '\0' && have_pos && (cmp > 0 || (cmp == 0 && pos >= end_pos));
}
static long vmhwm(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmHWM: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}
static void threads(pid_t pid, const char *out)
{
    char dir[64], path[300], buf[1024];
    FILE *o = fopen(out, "w");
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (o == NULL || d == NULL)
        goto done;
    double tck = (double)sysconf(_SC_CLK_TCK);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        unsigned long ut, stime;
        if (open == NULL || close == NULL ||
            sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                   &stime) != 2)
            continue;
        *close = '\0';
        for (char *c = open + 1; *c; c++)
            if (*c == ' ')
                *c = '_';
        int main_thread = atoi(e->d_name) == (int)pid;
        fprintf(o, "%s %s%s %.2f %.2f\n", e->d_name, open + 1, main_thread ? "(main)" : "",
                ut / tck, stime / tck);
    }
done:
    if (d != NULL)
        closedir(d);
    if (o != NULL)
        fclose(o);
}
int main(int argc, char **argv)
{
    if (argc < 8)
        return 2;
    const char *stat_file = argv[1], *thread_file = argv[2], *ckpt = argv[3], *end_file = argv[4];
    unsigned long long end_pos = strtoull(argv[5], NULL, 10);
    double timeout = atof(argv[6]), t_end = -1;
    long hwm = -1;
    /* the checkpoint is written to a temporary file and renamed: both show
     * in its directory, so the end is seen when it happens, not at a poll */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", ckpt);
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino < 0 || inotify_add_watch(ino, dirname(dir), IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
        return 1;
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[7], argv + 7);
        _exit(127);
    }
    if (pid < 0)
        return 1;
    struct timespec tick = {0, 5000000};
    int st = 0, done = 0;
    struct rusage ru;
    char events[4096];
    for (;;) {
        if (wait4(pid, &st, WNOHANG, &ru) == pid) {
            done = 1; /* exited before reaching the end: a failure */
            break;
        }
        long h = vmhwm(pid);
        if (h > hwm)
            hwm = h;
        if (reached(ckpt, end_file, end_pos)) {
            t_end = now() - t0;
            threads(pid, thread_file);
            break;
        }
        if (now() - t0 > timeout)
            break;
        struct pollfd pfd = {ino, POLLIN, 0};
        if (poll(&pfd, 1, 5) > 0)
            while (read(ino, events, sizeof(events)) > 0)
                ; /* drained: the checkpoint is read at the top of the loop */
    }
    if (!done) {
        kill(pid, SIGTERM);
        double t_term = now();
        while (wait4(pid, &st, WNOHANG, &ru) != pid) {
            if (now() - t_term > 15)
                kill(pid, SIGKILL);
            nanosleep(&tick, NULL);
        }
    }
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (t_end < 0 && rc == 0)
        rc = 124;
    FILE *f = fopen(stat_file, "a");
    if (f == NULL)
        return 1;
    fprintf(f, "%.6f %ld %ld %d\n", t_end, hwm, ru.ru_maxrss, rc);
    return fclose(f) != 0;
}
EOF
}
