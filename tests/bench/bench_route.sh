#!/usr/bin/env bash
# Router benchmark: how fast `mcsqueal route` gets deletes confirmed by two
# local memcached, reading invalidations from a standalone `mcsqueal bus`,
# against the meta ceiling measured in the same run: bench_mc_delete's bare
# pipelined loop of `md <key> q` ... `mn` on the same servers (no placement,
# nothing confirmed per key), for cached and for missing keys. Pass: the
# router at least 0.8x the ceiling for both; 2,000,000 confirmed deletes/s
# is the aim, reported as information. Prints ratios: machines are shared
# and noisy. Not part of the pass/fail test run.
#
# What it does: starts two memcached and a standalone bus (several
# partitions, so that the bus's 5 MiB-per-partition retention holds every
# message), produces BENCH_KEYS keys in messages of BENCH_MSG_KEYS keys
# (transactions of BENCH_TXN_KEYS keys each, as the tailer batches them)
# with kcat and lz4, checks that the bus kept all of them, then runs
# interleaved rounds of: bench_mc_delete (meta ceiling, cached and missing
# keys; mc_pool alone; the libmemcached binary loop for reference);
# `mcsqueal route` over keys that are cached (the servers are filled first);
# `mcsqueal route` over keys that are not cached (memcached answers every
# delete "not found"). Each router run uses a new consumer group, so it reads
# every message from offset 0. A watcher starts the router and polls
# mcsqueal_deletes_total{pool="main",result="confirmed"} every 10 ms until it
# reaches BENCH_KEYS.
#
# Usage: tests/bench/bench_route.sh [BUILD_DIR]
#   BUILD_DIR         an existing build with cli/mcsqueal and
#                     tests/bench/bench_mc_delete; without it, a Release build
#                     is made in the temp dir
# Environment:
#   BENCH_KEYS=2000000    keys to delete per router run
#   BENCH_MSG_KEYS=10000  keys per bus message
#   BENCH_TXN_KEYS=5      keys per transaction inside a message
#   BENCH_RUNS=5          interleaved rounds; the best of each is reported
#   BENCH_PARTITIONS      bus partitions (default: enough for 3 MiB of lz4
#                         batches each)
#   BENCH_ROUTE_BUS       extra [bus] settings for the router, ';'-separated
#                         (e.g. "kafka.fetch.wait.max.ms = 1")
#   BENCH_PLACEMENT       the pool's `placement` (default libmemcached; e.g.
#                         pymemcache, dalli, all): compare each mode's
#                         route figures with libmemcached's
#   BENCH_COMPARE_PLACEMENT  placements (comma-separated, e.g.
#                         "libmemcached-modula,pymemcache,dalli") to compare with
#                         libmemcached in the same rounds: each round runs a
#                         router of every one of them and of libmemcached, in an
#                         order rotated by round, over cached keys (every key
#                         stored on both servers, so each delete hits whatever
#                         the placement) and over missing keys; reports each
#                         mode's best and the median of its per-round ratios
#                         to libmemcached (goal >= 0.9 for the client modes)
#   BENCH_PROXY=0         1: also route through one twemproxy (nutcracker) in
#                         front of both servers (a pool of that proxy,
#                         placement = proxy), cached and missing keys, in the
#                         same rounds as the direct runs: the proxy's cost
#                         as a ratio. For its cached-keys runs every key is
#                         stored on both servers (twemproxy places keys its
#                         own way), so each delete hits, and one copy of
#                         each key must remain afterwards
#   BENCH_PERF=0          1: two more router runs (cached, missing keys) under
#                         `perf record -g -p PID` from the first confirmed delete
#                         on, and their top functions per thread
#   TMPDIR                where the temporary files live
# Exit code: 0 when the benchmark ran (whatever the numbers), 1 on failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
keys=${BENCH_KEYS:-2000000}
msg_keys=${BENCH_MSG_KEYS:-10000}
txn_keys=${BENCH_TXN_KEYS:-5}
runs=${BENCH_RUNS:-5}
partitions=${BENCH_PARTITIONS:-}
extra_bus=${BENCH_ROUTE_BUS:-}
perf_run=${BENCH_PERF:-0}
proxy_run=${BENCH_PROXY:-0}
compare_list=()
if [[ -n ${BENCH_COMPARE_PLACEMENT:-} ]]; then
  IFS=, read -r -a compare_list <<<"libmemcached,${BENCH_COMPARE_PLACEMENT}"
fi
python=/usr/bin/python3
export LC_ALL=C

bench_name=bench_route
# shellcheck source=tests/bench/bench_lib.sh
source "$root/tests/bench/bench_lib.sh"
for v in keys msg_keys txn_keys runs; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || die "BENCH_${v^^} must be a positive number"
done
[[ -z $partitions || $partitions =~ ^[0-9]+$ ]] || die "BENCH_PARTITIONS must be a number"
need_tools memcached kcat cc pkg-config "$python"
[[ $perf_run == 0 ]] || command -v perf >/dev/null || die "BENCH_PERF=1 needs perf"
[[ $proxy_run == 0 ]] || command -v nutcracker >/dev/null ||
  [[ -x /usr/sbin/nutcracker ]] || die "BENCH_PROXY=1 needs nutcracker (twemproxy)"

bench_init mcsq-bench-route

# --- build -------------------------------------------------------------------
bench_build "${1:-}" mcsqueal bench_mc_delete
mcsqueal=$build/cli/mcsqueal
mcdelete=$build/tests/bench/bench_mc_delete
[[ -x $mcsqueal && -x $mcdelete ]] || die "$build has no cli/mcsqueal or tests/bench/bench_mc_delete"

# mcfill HOST:PORT HOST:PORT STEM N: stores STEM0 .. STEM<N-1> (value "v") with
# the documented placement (KETAMA_WEIGHTED; noreply, buffered, binary sets),
# then waits with one get per server until both have processed everything.
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
cc -O2 -o "$work/mcfill" -x c - $(pkg-config --cflags --libs libmemcached) <<'EOF'
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    memcached_st *mc = memcached_create(NULL);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    for (int i = 1; i <= 2; i++) {
        char host[256];
        snprintf(host, sizeof(host), "%s", argv[i]);
        char *colon = strrchr(host, ':');
        if (colon == NULL)
            return 2;
        *colon = '\0';
        memcached_server_add(mc, host, (in_port_t)atoi(colon + 1));
    }
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_NOREPLY, 1);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
    long n = atol(argv[4]);
    char key[256];
    for (long i = 0; i < n; i++) {
        int len = snprintf(key, sizeof(key), "%s%ld", argv[3], i);
        memcached_set(mc, key, (size_t)len, "v", 1, 0, 0);
    }
    if (memcached_flush_buffers(mc) != MEMCACHED_SUCCESS)
        return 1;
    unsigned seen = 0;
    for (long i = 0; i < n && seen != 3; i++) {
        int len = snprintf(key, sizeof(key), "%s%ld", argv[3], i);
        uint32_t s = memcached_generate_hash(mc, key, (size_t)len);
        if (seen & (1u << s))
            continue;
        seen |= 1u << s;
        size_t vlen;
        uint32_t flags;
        memcached_return_t rc;
        free(memcached_get(mc, key, (size_t)len, &vlen, &flags, &rc));
    }
    memcached_free(mc);
    return 0;
}
EOF

# The Python helper: gen (bus messages), watch (runs the router and times it),
# items (memcached's curr_items).
cat >"$work/helper.py" <<'EOF'
"""gen DIR KEYS MSG_KEYS TXN_KEYS PARTS: writes DIR/part.<p> (kcat -K '\\t' input)
   and prints "messages=N json_bytes=B lz4_bytes=L" (L: lz4 frames, -1 without lz4)
watch URL TOTAL TIMEOUT STATE PERF_OUT CMD...: starts CMD, polls URL every
   10 ms until deletes_total{pool="main",result="confirmed"} >= TOTAL, then
   SIGTERM; prints key=value results and writes per-thread CPU to STATE.threads
items PORT...: prints curr_items of each memcached
flush PORT...: flush_all on each memcached"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request


def gen(out, keys, msg_keys, txn_keys, parts):
    try:
        import lz4.frame as lz4f
    except ImportError:
        lz4f = None
    files = [open(os.path.join(out, "part.%d" % p), "w") for p in range(parts)]
    messages = json_bytes = lz4_bytes = 0
    k = gtid = 0
    now = int(time.time() * 1e6)
    while k < keys:
        txns = []
        n = min(msg_keys, keys - k)
        end = k + n
        while k < end:
            m = min(txn_keys, end - k)
            gtid += 1
            txns.append({"gtid": "0-1-%d" % gtid, "pos": "binlog.000001:%d" % (4 + 700 * gtid),
                         "commit_us": (now // 1000000) * 1000000, "read_us": now,
                         "keys": ["user:%d" % i for i in range(k, k + m)]})
            k += m
        body = json.dumps({"v": 1, "source": "bench", "region": "bench", "txns": txns},
                          separators=(",", ":"))
        files[messages % parts].write("bench\t" + body + "\n")
        messages += 1
        json_bytes += len(body)
        if lz4f is not None:
            lz4_bytes += len(lz4f.compress(body.encode()))
    for f in files:
        f.close()
    print("messages=%d json_bytes=%d lz4_bytes=%d" % (messages, json_bytes,
                                                      lz4_bytes if lz4f else -1))


def scrape(url):
    return urllib.request.urlopen(url, timeout=2).read().decode()


def series(text, name, labels):
    m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return int(float(m.group(1))) if m else 0


def threads(pid):
    tck = os.sysconf("SC_CLK_TCK")
    out = []
    for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            s = f.read()
        name = s[s.index("(") + 1:s.rindex(")")].replace(" ", "_")
        fields = s[s.rindex(")") + 2:].split()
        out.append("%s %s%s %.2f %.2f" % (tid, name, "(main)" if int(tid) == pid else "",
                                         int(fields[11]) / tck, int(fields[12]) / tck))
    return out


def vmhwm(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def watch(url, total, timeout, state, perf_out, cmd):
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(state + ".err", "w"))
    perf = None
    t_first = t_end = -1.0
    c_first = c = 0
    text = ""
    while True:
        time.sleep(0.01)
        if proc.poll() is not None:
            break
        try:
            text = scrape(url)
        except OSError:
            continue
        t = time.monotonic() - t0
        c = series(text, "mcsqueal_deletes_total", 'pool="main",result="confirmed"')
        if c > 0 and t_first < 0:
            t_first, c_first = t, c
            if perf_out != "-":  # from the first delete on: every thread exists by then
                perf = subprocess.Popen(["perf", "record", "-q", "-F", "2000", "-g", "-p",
                                         str(proc.pid), "-o", perf_out],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if c >= total:
            t_end = t
            break
        if t > timeout:
            break
    rc = proc.poll()
    hwm = -1
    if rc is None:
        with open(state + ".threads", "w") as f:
            f.write("\n".join(threads(proc.pid)) + "\n")
        hwm = vmhwm(proc.pid)
    if perf is not None:
        perf.send_signal(signal.SIGINT)
        perf.wait()
    if rc is None:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
    lost = series(text, "mcsqueal_bus_messages_total", 'result="lost"')
    consumed = series(text, "mcsqueal_bus_messages_total", 'result="consumed"')
    spooled = series(text, "mcsqueal_deletes_total", 'pool="main",result="spooled"')
    steady = (c - c_first) / (t_end - t_first) if t_end > t_first > 0 else 0
    print("ok=%d confirmed=%d consumed=%d lost=%d spooled=%d t_first=%.3f c_first=%d "
          "t_end=%.3f steady=%.0f wall=%.0f vmhwm_kib=%d exit=%s"
          % (t_end > 0 and rc == 0, c, consumed, lost, spooled, t_first, c_first, t_end,
             steady, c / t_end if t_end > 0 else 0, hwm, rc))


def flush(ports):
    for port in ports:
        s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
        s.sendall(b"flush_all\r\n")
        if s.recv(64) != b"OK\r\n":
            sys.exit("flush_all on port %s failed" % port)
        s.close()


def items(ports):
    out = []
    for port in ports:
        s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
        s.sendall(b"stats\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        m = re.search(rb"STAT curr_items (\d+)", data)
        out.append(m.group(1).decode() if m else "?")
    print(" ".join(out))


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2], *(int(a) for a in sys.argv[3:7]))
    elif sys.argv[1] == "watch":
        watch(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6],
              sys.argv[7:])
    elif sys.argv[1] == "flush":
        flush(sys.argv[2:])
    else:
        items(sys.argv[2:])
EOF


# --- memcached ---------------------------------------------------------------------
start_memcached 1 1024
start_memcached 2 1024
mc_cpu() { # CPU seconds (user + sys) both memcached have used
  awk -v t="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); split($0, f, " "); s += f[12] + f[13] }
    END { printf "%.2f\n", s / t }' "/proc/${mc_pids[0]}/stat" "/proc/${mc_pids[1]}/stat"
}
servers="127.0.0.1:${mc_ports[0]} 127.0.0.1:${mc_ports[1]}"
mc_threads=$(memcached -h | sed -n 's/.*number of threads to use (default: \([0-9]*\)).*/\1/p')
note "memcached on 127.0.0.1:${mc_ports[0]} and 127.0.0.1:${mc_ports[1]}"

# --- twemproxy (BENCH_PROXY=1) ---------------------------------------------------------
proxy_servers=""
if [[ $proxy_run != 0 ]]; then
  nutcracker=$(command -v nutcracker || echo /usr/sbin/nutcracker)
  nc_port=$(free_port)
  cat >"$work/nutcracker.yml" <<EOF
pool:
  listen: 127.0.0.1:$nc_port
  hash: fnv1a_64
  distribution: ketama
  timeout: 2000
  auto_eject_hosts: false
  servers:
    - 127.0.0.1:${mc_ports[0]}:1
    - 127.0.0.1:${mc_ports[1]}:1
EOF
  "$nutcracker" -c "$work/nutcracker.yml" -s "$(free_port)" -a 127.0.0.1 \
    -o "$work/nutcracker.log" >/dev/null 2>&1 &
  nc_pid=$!
  pids+=("$nc_pid")
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$nc_port") 2>/dev/null && break
    kill -0 "$nc_pid" 2>/dev/null || { cat "$work/nutcracker.log" >&2; die "nutcracker exited"; }
    sleep 0.05
  done
  proxy_servers="127.0.0.1:$nc_port"
  nc_cpu() { # CPU seconds (user + sys) twemproxy has used
    awk -v t="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); split($0, f, " "); printf "%.2f\n", (f[12] + f[13]) / t }' \
      "/proc/$nc_pid/stat"
  }
  note "twemproxy $("$nutcracker" --version 2>&1 | sed -n 's/^This is nutcracker-//p') on $proxy_servers"
fi

# --- the messages --------------------------------------------------------------------
mkdir -p "$work/msgs"
gen_line=$("$python" "$work/helper.py" gen "$work/msgs" "$keys" "$msg_keys" "$txn_keys" 1)
messages=$(kv messages "$gen_line")
lz4_bytes=$(kv lz4_bytes "$gen_line")
if [[ -z $partitions ]]; then
  partitions=8
  [[ $lz4_bytes -lt 0 ]] || partitions=$(((lz4_bytes + 3145727) / 3145728))
  [[ $partitions -ge 1 ]] || partitions=1
fi
"$python" "$work/helper.py" gen "$work/msgs" "$keys" "$msg_keys" "$txn_keys" "$partitions" >/dev/null
note "$messages messages of up to $msg_keys keys, $(awk -v b="$lz4_bytes" \
  'BEGIN { printf "%.1f", b / 1048576 }') MiB as lz4 frames: $partitions partition(s)"

# --- the bus -------------------------------------------------------------------------
bus_state=$work/bus
mkdir -p "$bus_state"
cat >"$work/bus.ini" <<EOF
[mcsqueal]
name = bench
region = bench
state_dir = $bus_state
[bus]
brokers = embedded
[metrics]
listen =
EOF
"$mcsqueal" bus --config "$work/bus.ini" --bootstrap-file "$bus_state/bootstrap" \
  --partitions "$partitions" >"$work/bus.out" 2>"$work/bus.err" &
bus_pid=$!
pids+=("$bus_pid")
for _ in $(seq 1 200); do
  [[ -s $bus_state/bootstrap ]] && break
  kill -0 "$bus_pid" 2>/dev/null || { cat "$work/bus.err" >&2; die "mcsqueal bus exited"; }
  sleep 0.05
done
bootstrap=$(head -n 1 "$bus_state/bootstrap")
[[ -n $bootstrap ]] || die "mcsqueal bus wrote no bootstrap address"
topic=mcsqueal.bench

note "producing with kcat -z lz4"
for ((p = 0; p < partitions; p++)); do
  kcat -P -b "$bootstrap" -t "$topic" -p "$p" -K '\t' -z lz4 -X linger.ms=5 \
    -l "$work/msgs/part.$p" 2>>"$work/kcat.err" || { cat "$work/kcat.err" >&2; die "kcat failed"; }
done
rm -rf "$work/msgs"
# every partition must still start at offset 0 and hold all its messages
held=0
for ((p = 0; p < partitions; p++)); do
  first=$(kcat -C -b "$bootstrap" -t "$topic" -p "$p" -o beginning -c 1 -e -f '%o\n' 2>/dev/null)
  end=$(kcat -Q -b "$bootstrap" -t "$topic:$p:-1" 2>/dev/null | awk '{ print $NF }')
  [[ $first == 0 ]] || die "partition $p starts at offset ${first:-?}: the bus dropped messages \
(retention); raise BENCH_PARTITIONS"
  held=$((held + end))
done
[[ $held == "$messages" ]] || die "the bus holds $held messages, not $messages"
bus_check="all $messages messages held (every partition from offset 0)"

# --- configurations -------------------------------------------------------------------
settings() { # STRING: one "key = value" line per ';'-separated entry
  local entry
  local -a entries
  IFS=';' read -r -a entries <<<"$1"
  for entry in "${entries[@]}"; do
    entry=$(sed 's/^[[:space:]]*//; s/[[:space:]]*$//' <<<"$entry")
    [[ -z $entry ]] || printf '%s\n' "$entry"
  done
}
metrics_port=$(free_port)
route_servers=$servers
route_placement=${BENCH_PLACEMENT:-libmemcached}
route_config() { # NAME: writes $work/NAME.ini with cluster NAME and a fresh state_dir
  # (pool main: $route_servers with $route_placement)
  rm -rf "$work/state.$1"
  mkdir -p "$work/state.$1"
  cat >"$work/$1.ini" <<EOF
[mcsqueal]
name = bench
region = bench
state_dir = $work/state.$1
log_level = info

[bus]
brokers = $bootstrap
topic = $topic
$(settings "$extra_bus")

[router]
cluster = $1

[pool main]
servers = $route_servers
placement = $route_placement

[metrics]
listen = 127.0.0.1:$metrics_port
EOF
  "$mcsqueal" check-config --config "$work/$1.ini" >/dev/null || die "bad router configuration"
}

# route_run NAME KIND [PERF_OUT]: one router run; appends the watcher's line and
# both memcached's CPU seconds during the run to $work/stats.KIND
route_run() {
  local line cpu0 nc0=0
  route_config "$1"
  cpu0=$(mc_cpu)
  [[ -z $proxy_servers ]] || nc0=$(nc_cpu)
  line=$("$python" "$work/helper.py" watch "http://127.0.0.1:$metrics_port/metrics" "$keys" 120 \
    "$work/state.$1/run" "${3:--}" "$mcsqueal" route --config "$work/$1.ini")
  line+=" memcached_cpu=$(awk -v a="$cpu0" -v b="$(mc_cpu)" 'BEGIN { printf "%.2f", b - a }')"
  [[ -z $proxy_servers ]] ||
    line+=" proxy_cpu=$(awk -v a="$nc0" -v b="$(nc_cpu)" 'BEGIN { printf "%.2f", b - a }')"
  [[ $(kv ok "$line") == 1 ]] ||
    { cat "$work/state.$1/run.err" >&2; die "router run $1 failed: $line"; }
  [[ $(kv lost "$line") == 0 && $(kv spooled "$line") == 0 ]] ||
    die "router run $1 lost messages or spooled deletes: $line"
  echo "$line" >>"$work/stats.$2"
  cp "$work/state.$1/run.threads" "$work/threads.$2.$(wc -l <"$work/stats.$2")"
}

items() { "$python" "$work/helper.py" items "${mc_ports[@]}"; }

# fill_both_servers: every key stored on both servers (after a flush), so that
# each delete hits whichever server a placement or a proxy sends it to
fill_both_servers() {
  "$python" "$work/helper.py" flush "${mc_ports[@]}"
  "$work/mcfill" "127.0.0.1:${mc_ports[0]}" "127.0.0.1:${mc_ports[0]}" user: "$keys" ||
    die "mcfill failed"
  "$work/mcfill" "127.0.0.1:${mc_ports[1]}" "127.0.0.1:${mc_ports[1]}" user: "$keys" ||
    die "mcfill failed"
}

# proxy_round R: the router through twemproxy (placement = proxy), over cached
# keys (every key on both servers) and then missing ones (for twemproxy: each
# key's copy on its own server is gone, the other copy is not its)
proxy_round() {
  local after
  fill_both_servers
  route_servers=$proxy_servers route_placement=proxy route_run "phits$1" phits
  after=$(items)
  [[ $(awk '{ print $1 + $2 }' <<<"$after") == "$keys" ]] ||
    proxy_check="MISMATCH: round $1, items after the proxy run $after (want $keys in all)"
  route_servers=$proxy_servers route_placement=proxy route_run "pabsent$1" pabsent
  "$python" "$work/helper.py" flush "${mc_ports[@]}"
}

# compare_round R: a router of each placement of compare_list (libmemcached
# first, then rotated by round) over cached keys, each key on both servers, then
# over missing keys
compare_round() {
  local i n=${#compare_list[@]} mode tag
  for ((i = 0; i < n; i++)); do
    mode=${compare_list[$(((i + $1) % n))]}
    tag=cmp_${mode//-/_}
    fill_both_servers
    route_placement=$mode route_run "${tag}_h$1" "${tag}_h"
    "$python" "$work/helper.py" flush "${mc_ports[@]}"
    route_placement=$mode route_run "${tag}_a$1" "${tag}_a"
  done
}

# --- measurements ------------------------------------------------------------------
note "measuring: $runs interleaved rounds of bench_mc_delete, route (cached keys), route (missing keys)"
: >"$work/stats.raw"
: >"$work/stats.meta"
: >"$work/stats.meta_misses"
: >"$work/stats.pool"
: >"$work/stats.misses"
: >"$work/stats.hits"
: >"$work/stats.absent"
: >"$work/stats.phits"
: >"$work/stats.pabsent"
deleted_check="OK: no key left on either server after any cached-keys run"
proxy_check="OK: after each proxy run over cached keys, exactly one copy of each key left"
for r in $(seq 1 "$runs"); do
  # shellcheck disable=SC2086 # two servers, two arguments
  BENCH_KEYS=$keys BENCH_RUNS=1 BENCH_RAW_MISSES=0 "$mcdelete" $servers >"$work/mcdelete.$r" 2>&1 ||
    { cat "$work/mcdelete.$r" >&2; die "bench_mc_delete failed"; }
  awk '$1 == "raw" && $2 == "run" { print $4 }' "$work/mcdelete.$r" >>"$work/stats.raw"
  awk '$1 == "meta" && $2 == "run" { print $4 }' "$work/mcdelete.$r" >>"$work/stats.meta"
  awk '$1 == "meta-misses" && $2 == "run" { print $4 }' "$work/mcdelete.$r" >>"$work/stats.meta_misses"
  awk '$1 == "pool" && $2 == "run" { print $4 }' "$work/mcdelete.$r" >>"$work/stats.pool"
  awk '$1 == "pool-misses" && $2 == "run" { print $4 }' "$work/mcdelete.$r" >>"$work/stats.misses"
  # shellcheck disable=SC2086
  "$work/mcfill" $servers user: "$keys" || die "mcfill failed"
  before=$(items)
  route_run "hits$r" hits
  after=$(items)
  [[ $after == "0 0" ]] || deleted_check="MISMATCH: round $r, items before $before, after $after"
  route_run "absent$r" absent
  [[ $proxy_run == 0 ]] || proxy_round "$r"
  [[ ${#compare_list[@]} == 0 ]] || compare_round "$r"
done

# --- profile (optional) ------------------------------------------------------------
profile=""
if [[ $perf_run != 0 ]]; then
  note "profiling two more router runs (cached, missing keys) with perf record -g -p PID"
  # shellcheck disable=SC2086
  "$work/mcfill" $servers user: "$keys" || die "mcfill failed"
  route_run perf1 perf "$work/perf.hits.data"
  route_run perf2 perf "$work/perf.absent.data"
  for kind in hits absent; do
    profile+=$(
      label=cached
      [[ $kind == hits ]] || label=missing
      echo "perf -p, router run over $label keys, from the first confirmed delete to the last:"
      echo "samples per thread:"
      perf script -i "$work/perf.$kind.data" -F comm,tid 2>/dev/null |
        awk '{ n[$2 " " $1]++; t++ } END { for (k in n) printf "  %6.1f%%  %s\n", 100 * n[k] / t, k }' |
        sort -rn
      echo "by thread and library (self, share of all samples; pid:thread):"
      perf report -i "$work/perf.$kind.data" --no-children -s pid,dso -g none 2>/dev/null |
        awk '!/^#/ && !/^$/ && ++n <= 10'
      echo "top functions (self; libhashkit and libmemcached have no symbols: MD5 and ketama):"
      perf report -i "$work/perf.$kind.data" --no-children -s pid,dso,sym -g none 2>/dev/null |
        awk '!/^#/ && !/^$/ && ++n <= 20'
      echo
    )
    profile+=$'\n'
  done
fi

# --- report -----------------------------------------------------------------------
best() { sort -g "$1" | tail -n 1; } # largest keys/s
best_line() { # FILE: the watcher line with the best steady rate, and its round
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^steady=/) { v = substr($i, 8) + 0 }
         if (NR == 1 || v > m) { m = v; l = $0; r = NR } } END { print r " " l }' "$1"
}
raw=$(best "$work/stats.raw")
meta=$(best "$work/stats.meta")
meta_misses=$(best "$work/stats.meta_misses")
pool=$(best "$work/stats.pool")
pool_misses=$(best "$work/stats.misses")
read -r hits_round hits_line < <(best_line "$work/stats.hits")
read -r absent_round absent_line < <(best_line "$work/stats.absent")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v >= l) ? "PASS" : "FAIL" }'; }
all() { # FILE KEY: every run's value of KEY
  awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) printf "%s%s", sep,
    substr($i, length(k) + 2); sep = " " } END { print "" }' "$1"
}
row_line() { # LABEL KIND ROUND LINE
  local l=$4
  printf '| %-42s | %10s | %9s | %9s | %8s | %7.1f | %7.2f | %7s |\n' "$1" "$(kv steady "$l")" \
    "$(kv wall "$l")" "$(kv t_first "$l")" "$(kv t_end "$l")" \
    "$(awk -v k="$(kv vmhwm_kib "$l")" 'BEGIN { print k / 1024 }')" \
    "$(awk '{ s += $3 + $4 } END { print s }' "$work/threads.$2.$3")" "$(kv memcached_cpu "$l")"
}
threads_of() { # KIND ROUND
  awk '$3 + $4 > 0 { printf "  %-8s %-20s user %5.2f s  sys %5.2f s\n", $1, $2, $3, $4 }
    { u += $3; s += $4 } END { printf "  %-8s %-20s user %5.2f s  sys %5.2f s", "all", "", u, s }' \
    "$work/threads.$1.$2"
}
hits=$(kv steady "$hits_line")
absent=$(kv steady "$absent_line")
proxy_rows=""
proxy_checks=""
if [[ $proxy_run != 0 ]]; then
  read -r phits_round phits_line < <(best_line "$work/stats.phits")
  read -r pabsent_round pabsent_line < <(best_line "$work/stats.pabsent")
  proxy_rows=$(
    row_line "through twemproxy, cached keys" phits "$phits_round" "$phits_line"
    row_line "through twemproxy, missing keys" pabsent "$pabsent_round" "$pabsent_line"
  )
  proxy_checks=$(
    printf '| %-56s | %10s | %10s | %6s |\n' "through twemproxy / direct, cached keys (information)" \
      "$(ratio "$(kv steady "$phits_line")" "$hits")" "-" "-"
    printf '| %-56s | %10s | %10s | %6s |' "through twemproxy / direct, missing keys (information)" \
      "$(ratio "$(kv steady "$pabsent_line")" "$absent")" "-" "-"
  )
fi

compare_rows=""
if [[ ${#compare_list[@]} -gt 0 ]]; then
  compare_rows=$(
    "$python" - "$work" "${compare_list[@]}" <<'PY'
import re, statistics, sys
work, modes = sys.argv[1], sys.argv[2:]
def steady(mode, kind):
    with open("%s/stats.cmp_%s_%s" % (work, mode.replace("-", "_"), kind)) as f:
        return [float(re.search(r"\bsteady=(\S+)", l).group(1)) for l in f if l.strip()]
base = {k: steady("libmemcached", k) for k in ("h", "a")}
print("placements in the same rounds (cached keys: every key on both servers; x: to libmemcached,")
print("best to best and the median of the per-round ratios; goal for client modes: median >= 0.9)")
print()
print("| %-20s | %10s | %12s | %10s | %12s | %6s |" % ("placement", "cached/s", "x (med)", "missing/s", "x (med)", "result"))
print("| %s | %s | %s | %s | %s | %s |" % ("-" * 20, "-" * 10, "-" * 12, "-" * 10, "-" * 12, "-" * 6))
for m in modes:
    cells, ok = [], True
    for k in ("h", "a"):
        v = steady(m, k)
        rounds = [a / b for a, b in zip(v, base[k]) if a > 0 and b > 0]
        if not rounds:  # too few keys for a steady rate
            ok = False
            cells += ["%.0f" % max(v), "-"]
            continue
        med = statistics.median(rounds)
        ok = ok and med >= 0.9
        cells += ["%.0f" % max(v), "%.2f (%.2f)" % (max(v) / max(base[k]), med)]
    verdict = "-" if m in ("libmemcached", "all") else ("PASS" if ok else "FAIL")
    print("| %-20s | %10s | %12s | %10s | %12s | %6s |" % (m, cells[0], cells[1], cells[2], cells[3], verdict))
print()
for m in modes:
    print("%-20s rounds, cached: %s; missing: %s" % (m, " ".join("%.0f" % v for v in steady(m, "h")),
                                                     " ".join("%.0f" % v for v in steady(m, "a"))))
PY
  )
fi

cat <<EOF

Router benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
memcached $(memcached -V | awk '{ print $2 }') x2 (-m 1024, $mc_threads threads each) on 127.0.0.1:${mc_ports[0]} 127.0.0.1:${mc_ports[1]}
bus:                  mcsqueal bus, $partitions partition(s); $gen_line
                      produced with kcat -z lz4; $bus_check
router:               mcsqueal route, one [pool main] of both servers, new consumer group per run${extra_bus:+; $extra_bus}
keys per run:         $keys (messages of $msg_keys keys, transactions of $txn_keys keys)
deleted check:        $deleted_check
meta ceiling, runs:   cached $(tr '\n' ' ' <"$work/stats.meta")keys/s; missing $(tr '\n' ' ' <"$work/stats.meta_misses")keys/s
raw binary, runs:     $(tr '\n' ' ' <"$work/stats.raw")keys/s
load average:         $(cut -d' ' -f1-3 /proc/loadavg) (at the end; the machine's other work shares the CPUs)
route cached, runs:   steady $(all "$work/stats.hits" steady) keys/s
route missing, runs:  steady $(all "$work/stats.absent" steady) keys/s
${proxy_servers:+twemproxy:            one nutcracker on $proxy_servers in front of both servers (fnv1a_64, ketama), a pool of it with placement = proxy; $proxy_check
route via proxy:      steady, cached $(all "$work/stats.phits" steady) keys/s; missing $(all "$work/stats.pabsent" steady) keys/s
twemproxy CPU s:      cached $(all "$work/stats.phits" proxy_cpu); missing $(all "$work/stats.pabsent" proxy_cpu) (each run, start to the last delete)}
route threads, best cached-keys run (CPU seconds from start to the last delete):
$(threads_of hits "$hits_round")
route threads, best missing-keys run:
$(threads_of absent "$absent_round")

$(printf '| %-56s | %10s |' "bench_mc_delete (best of $runs interleaved rounds)" "keys/s")
| -------------------------------------------------------- | ---------- |
$(printf '| %-56s | %10.0f |' "meta ceiling: md q ... mn loop, cached keys" "$meta")
$(printf '| %-56s | %10.0f |' "meta ceiling: md q ... mn loop, missing keys" "$meta_misses")
$(printf '| %-56s | %10.0f |' "libmemcached binary noreply loop (reference)" "$raw")
$(printf '| %-56s | %10.0f |' "mc_pool alone, confirmed, cached keys" "$pool")
$(printf '| %-56s | %10.0f |' "mc_pool alone, confirmed, missing keys" "$pool_misses")

$(printf '| %-42s | %10s | %9s | %9s | %8s | %7s | %7s | %7s |' "mcsqueal route (best of $runs)" "steady/s" "wall/s" "first (s)" "last (s)" "RSS MiB" "CPU s" "mc CPU")
| ------------------------------------------ | ---------- | --------- | --------- | -------- | ------- | ------- | ------- |
$(row_line "cached keys (every delete hits)" hits "$hits_round" "$hits_line")
$(row_line "missing keys (every delete \"not found\")" absent "$absent_round" "$absent_line")
${proxy_rows}

(steady: keys confirmed between the first poll that saw a confirmed delete and
the poll that saw all $keys, over that time; wall: $keys over the time from
process start, which includes connecting and the consumer group's join,
about 3 s on the embedded bus; first/last: seconds from start to the first
confirmed delete and to the last; CPU s: the router's CPU seconds from start
to the last delete; mc CPU: both memcached's CPU seconds during the run.
The router's metrics endpoint, polled every 10 ms, is part of its CPU.)

$(printf '| %-56s | %10s | %10s | %6s |' check value target result)
| -------------------------------------------------------- | ---------- | ---------- | ------ |
$(printf '| %-56s | %10s | %10s | %6s |' "route / meta ceiling, cached keys" "$(ratio "$hits" "$meta")" ">= 0.8" "$(verdict "$(ratio "$hits" "$meta")" 0.8)")
$(printf '| %-56s | %10s | %10s | %6s |' "route / meta ceiling, missing keys" "$(ratio "$absent" "$meta_misses")" ">= 0.8" "$(verdict "$(ratio "$absent" "$meta_misses")" 0.8)")
$(printf '| %-56s | %10s | %10s | %6s |' "route confirmed deletes/s, cached keys (steady; aim)" "$hits" "2000000" "-")
$(printf '| %-56s | %10s | %10s | %6s |' "route confirmed deletes/s, missing keys (steady; aim)" "$absent" "2000000" "-")
$(printf '| %-56s | %10s | %10s | %6s |' "route confirmed deletes/s, cached keys (wall)" "$(kv wall "$hits_line")" "-" "-")
$(printf '| %-56s | %10s | %10s | %6s |' "route / mc_pool alone, cached keys (information)" "$(ratio "$hits" "$pool")" "-" "-")
$(printf '| %-56s | %10s | %10s | %6s |' "route / mc_pool alone, missing keys (information)" "$(ratio "$absent" "$pool_misses")" "-" "-")
${proxy_checks}
${compare_rows:+
$compare_rows}
EOF
if [[ -n $profile ]]; then
  printf '\n%s\n' "$profile"
fi
