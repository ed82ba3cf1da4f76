#!/usr/bin/env bash
# End-to-end benchmark: commit -> delete confirmed, through `mcsqueal run`
# (tailer + embedded bus + router in one process) with mariadbd and two
# memcached running alongside on the same machine. A paced workload
# (tests/bench/paced_writer: BENCH_RATE annotated transactions/s for
# BENCH_SECONDS, over several connections, every transaction carrying
# @probe=<unix us> read just before it is sent) makes the router's
# mcsqueal_invalidation_lag_seconds histogram measure commit -> confirmed
# exactly; mcsqueal_pipeline_latency_seconds gives binlog read -> confirmed.
# Target: p99 of the invalidation lag at most 10 ms at 5,000 transactions/s.
# Not part of the pass/fail test run.
#
# Each configuration in BENCH_E2E_CONFIGS gets a fresh `mcsqueal run` (fresh
# state_dir, start = end) per round; rounds interleave the configurations.
# A run: wait until it is ready (GET /ready), BENCH_WARMUP seconds of the
# workload (not counted; the run waits until its deletes are confirmed),
# scrape /metrics, BENCH_SECONDS of the workload, wait
# until every transaction's deletes are confirmed, scrape again; the
# histograms' differences give p50/p99 (interpolated within a bucket as
# Prometheus's histogram_quantile does; buckets 0.5, 1, 2, 5, 10, 20 ms ...)
# and the exact share of transactions confirmed within 10 ms (a bucket
# bound), which decides PASS/FAIL.
#
# Usage: tests/bench/bench_e2e.sh [BUILD_DIR]
#   BUILD_DIR        an existing build with cli/mcsqueal and tests/bench/paced_writer;
#                    without it, a Release build is made in the temp dir
# Environment:
#   BENCH_RATE=5000       transactions/s of the workload
#   BENCH_SECONDS=20      measured seconds per run
#   BENCH_WARMUP=2        seconds of workload before the measured window
#   BENCH_THREADS=4       connections of the workload
#   BENCH_RUNS=1          rounds (each runs every configuration once)
#   BENCH_E2E_CONFIGS     '|'-separated configurations "NAME: SETTINGS", SETTINGS
#                         ';'-separated "section.key = value" for the [mcsqueal],
#                         [bus] and [audit] sections; default:
#                         "defaults: | tuned: bus.linger_ms = 2; bus.kafka.linger.ms = 0;
#                          bus.kafka.fetch.wait.max.ms = 1"
#   BENCH_PERF=0          1: one more run of each configuration with
#                         `perf record -g -p PID` over the measured window, and
#                         its top functions per thread
#   BENCH_KAFKA=0         1: `mcsqueal run` goes through a real 1-broker Apache Kafka
#                         (scripts/kafka, acks=all) instead of its embedded bus; one
#                         unreported run first warms the broker's JIT up
#   BENCH_KAFKA_CPU       with BENCH_KAFKA=1: the broker alone on this CPU, mariadbd,
#                         memcached, the writer and mcsqueal on the others (a broker
#                         host of its own, in small)
#   BENCH_KEEP=0          1: keep the temp dir (logs, metrics snapshots) and say where
#   TMPDIR                where the throwaway server lives
# Exit code: 0 when the benchmark ran (whatever the numbers), 1 on failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
rate=${BENCH_RATE:-5000}
seconds=${BENCH_SECONDS:-20}
warmup=${BENCH_WARMUP:-2}
nthreads=${BENCH_THREADS:-4}
runs=${BENCH_RUNS:-1}
configs=${BENCH_E2E_CONFIGS:-"defaults: | tuned: bus.linger_ms = 2; bus.kafka.linger.ms = 0; bus.kafka.fetch.wait.max.ms = 1"}
perf_run=${BENCH_PERF:-0}
keep=${BENCH_KEEP:-0}
python=/usr/bin/python3
export LC_ALL=C

bench_name=bench_e2e
# shellcheck source=tests/bench/bench_lib.sh
source "$root/tests/bench/bench_lib.sh"
for v in rate seconds warmup nthreads runs; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || die "BENCH_${v^^} must be a positive number"
done
need_tools mariadb-install-db mariadbd mariadb memcached "$python"
[[ $perf_run == 0 ]] || command -v perf >/dev/null || die "BENCH_PERF=1 needs perf"

bench_init mcsq-bench-e2e # pids: memcached, mcsqueal run

# --- build -------------------------------------------------------------------
bench_build "${1:-}" mcsqueal paced_writer
mcsqueal=$build/cli/mcsqueal
writer=$build/tests/bench/paced_writer
[[ -x $mcsqueal && -x $writer ]] || die "$build has no cli/mcsqueal or tests/bench/paced_writer"

# The Python helper: scrape (metrics of interest to JSON), drain (wait until
# the router confirmed N more transactions), diff (the window's numbers),
# cpu (user + sys seconds of processes), threads (per thread of a process).
cat >"$work/helper.py" <<'EOF'
"""scrape URL OUT: the histograms and counters of interest, as JSON
drain URL BEFORE TXNS TIMEOUT: waits until TXNS more invalidation-lag observations
diff BEFORE AFTER: key=value line of the window (counts, p50, p99, share <= 10 ms)
cpu PID...: user+sys CPU seconds of each process (all threads)
threads PID: "tid name user sys" per thread"""
import json
import math
import os
import re
import sys
import time
import urllib.request

HISTS = ("mcsqueal_invalidation_lag_seconds", "mcsqueal_pipeline_latency_seconds")


def parse(text):
    out = {"hist": {h: {} for h in HISTS}, "counter": {}}
    try:
        from prometheus_client.parser import text_string_to_metric_families
        samples = [(s.name, s.labels, s.value)
                   for fam in text_string_to_metric_families(text) for s in fam.samples]
    except ImportError:
        samples = []
        for line in text.splitlines():
            m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
            if m:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
                samples.append((m.group(1), labels, float(m.group(3))))
    for name, labels, value in samples:
        for h in HISTS:
            if name == h + "_bucket":
                le = labels["le"]
                key = "inf" if le in ("+Inf", "inf") else repr(float(le))
                out["hist"][h][key] = out["hist"][h].get(key, 0) + value
        if name.endswith("_total") or name.endswith("_count") or name.endswith("_sum"):
            key = name + "".join(",%s=%s" % kv for kv in sorted(labels.items()))
            out["counter"][key] = value
    return out


def scrape(url):
    return parse(urllib.request.urlopen(url, timeout=5).read().decode())


def count(m, h):
    return m["hist"][h].get("inf", 0)


def quantile(q, buckets):
    """histogram_quantile: buckets is [(upper, cumulative)], sorted, ending with inf."""
    total = buckets[-1][1]
    if total <= 0:
        return float("nan")
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, cum in buckets:
        if cum >= rank:
            if math.isinf(upper):
                return lower  # beyond the last finite bound
            return lower + (upper - lower) * (rank - below) / max(cum - below, 1e-12)
        lower, below = upper, cum
    return lower


def window(before, after, h):
    keys = sorted(after["hist"][h], key=lambda k: math.inf if k == "inf" else float(k))
    buckets = [(math.inf if k == "inf" else float(k),
                after["hist"][h][k] - before["hist"][h].get(k, 0)) for k in keys]
    return buckets


def diff(before, after):
    res = {}
    for h, tag in zip(HISTS, ("lag", "pipe")):
        b = window(before, after, h)
        total = b[-1][1] if b else 0
        within = dict(b).get(0.01, 0)
        # the smallest bucket bound that holds every observation
        full = next((u for u, c in b if c >= total), math.inf) if total else 0
        res[tag + "_n"] = "%d" % total
        res[tag + "_p50_ms"] = "%.2f" % (1e3 * quantile(0.5, b))
        res[tag + "_p99_ms"] = "%.2f" % (1e3 * quantile(0.99, b))
        res[tag + "_le10ms"] = "%.4f" % (within / total if total else float("nan"))
        res[tag + "_max_le_ms"] = "inf" if math.isinf(full) else "%g" % (1e3 * full)
        s = sum(after["counter"][k] - before["counter"].get(k, 0)
                for k in after["counter"] if k.split(",")[0] == h + "_sum")
        res[tag + "_mean_ms"] = "%.2f" % (1e3 * s / total if total else float("nan"))
    c = lambda k: int(after["counter"].get(k, 0) - before["counter"].get(k, 0))
    res["binlog_txns"] = c("mcsqueal_transactions_total")
    res["keys"] = c("mcsqueal_keys_total")
    res["confirmed"] = c("mcsqueal_deletes_total,pool=main,result=confirmed")
    res["spooled"] = c("mcsqueal_deletes_total,pool=main,result=spooled")
    res["produced"] = c("mcsqueal_bus_messages_total,result=produced")
    res["consumed"] = c("mcsqueal_bus_messages_total,result=consumed")
    res["lost"] = c("mcsqueal_bus_messages_total,result=lost")
    print(" ".join("%s=%s" % kv for kv in res.items()))


def cpu(pids):
    tck = os.sysconf("SC_CLK_TCK")
    out = []
    for pid in pids:
        with open("/proc/%s/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out.append("%.2f" % ((int(fields[11]) + int(fields[12])) / tck))
    print(" ".join(out))


def threads(pid):
    tck = os.sysconf("SC_CLK_TCK")
    for tid in sorted(os.listdir("/proc/%s/task" % pid), key=int):
        with open("/proc/%s/task/%s/stat" % (pid, tid)) as f:
            s = f.read()
        name = s[s.index("(") + 1:s.rindex(")")].replace(" ", "_")
        fields = s[s.rindex(")") + 2:].split()
        print("%s %s%s %.2f %.2f" % (tid, name, "(main)" if tid == str(pid) else "",
                                    int(fields[11]) / tck, int(fields[12]) / tck))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "scrape":
        with open(sys.argv[3], "w") as f:
            json.dump(scrape(sys.argv[2]), f)
    elif cmd == "drain":
        with open(sys.argv[3]) as f:
            before = json.load(f)
        want, deadline = int(sys.argv[4]), time.time() + float(sys.argv[5])
        h = HISTS[0]
        while time.time() < deadline:
            if count(scrape(sys.argv[2]), h) - count(before, h) >= want:
                sys.exit(0)
            time.sleep(0.05)
        sys.exit(1)
    elif cmd == "diff":
        with open(sys.argv[2]) as f, open(sys.argv[3]) as g:
            diff(json.load(f), json.load(g))
    elif cmd == "cpu":
        cpu(sys.argv[2:])
    else:
        threads(sys.argv[2])
EOF
helper() { "$python" "$work/helper.py" "$@"; }


# --- servers ---------------------------------------------------------------------
start_mariadbd
"$writer" -S "$sock" --setup || die "paced_writer --setup failed"

start_memcached 1 256
start_memcached 2 256
servers="127.0.0.1:${mc_ports[0]} 127.0.0.1:${mc_ports[1]}"

# --- configurations -------------------------------------------------------------------
names=()
declare -A cfg_mcsqueal cfg_bus cfg_audit
IFS='|' read -r -a cfg_list <<<"$configs"
for c in "${cfg_list[@]}"; do
  name=$(sed 's/^[[:space:]]*//; s/:.*//' <<<"$c")
  [[ $name =~ ^[A-Za-z0-9_-]+$ && $c == *:* ]] || die "bad configuration \"$c\" (NAME: SETTINGS)"
  names+=("$name")
  cfg_mcsqueal[$name]=""
  cfg_bus[$name]=""
  cfg_audit[$name]=""
  IFS=';' read -r -a entries <<<"${c#*:}"
  for e in "${entries[@]}"; do
    e=$(sed 's/^[[:space:]]*//; s/[[:space:]]*$//' <<<"$e")
    [[ -n $e ]] || continue
    case $e in
    mcsqueal.*) cfg_mcsqueal[$name]+="${e#mcsqueal.}"$'\n' ;;
    bus.*) cfg_bus[$name]+="${e#bus.}"$'\n' ;;
    audit.*) cfg_audit[$name]+="${e#audit.}"$'\n' ;;
    *) die "configuration $name: \"$e\" is not mcsqueal.KEY, bus.KEY or audit.KEY = VALUE" ;;
    esac
  done
done
bench_bus
metrics_port=$(free_port)
url=http://127.0.0.1:$metrics_port/metrics
write_config() { # NAME STATE_DIR
  cat >"$work/$1.ini" <<EOF
[mcsqueal]
name = bench
region = bench
state_dir = $2
log_level = info
${cfg_mcsqueal[$1]}
[mysql]
host = 127.0.0.1
port = $port
user = root
server_id = 4245
start = end

[bus]
brokers = $brokers
${cfg_bus[$1]}
[router]
cluster = e2e

[pool main]
servers = $servers

[audit]
${cfg_audit[$1]}
[metrics]
listen = 127.0.0.1:$metrics_port
EOF
  "$mcsqueal" check-config --config "$work/$1.ini" >/dev/null ||
    die "configuration $1 is not valid (see above)"
}

# --- measurements ------------------------------------------------------------------
# mariadbd memcached1 memcached2 [Kafka broker]
cpu_now() { helper cpu "$server_pid" "${mc_pids[@]}" ${kafka_pid:+"$kafka_pid"}; }

# one_run NAME TAG [PERF_OUT]: a fresh `mcsqueal run`, warm-up, measured window;
# appends "TAG name=NAME <diff> <writer> cpu..." to $work/results
one_run() {
  local name=$1 tag=$2 perf_out=${3:-} state=$work/state.$2 run_pid perf_pid="" wline dline
  local cpu0 cpu1
  rm -rf "$state"
  mkdir -p "$state"
  write_config "$name" "$state"
  "$mcsqueal" run --config "$work/$name.ini" 2>"$work/run.$tag.err" &
  run_pid=$!
  pids+=("$run_pid")
  # ready: the tailer streams and the router holds its partition
  for _ in $(seq 1 600); do
    "$mcsqueal" status --url "$url" --ready >/dev/null 2>&1 && break
    kill -0 "$run_pid" 2>/dev/null || { cat "$work/run.$tag.err" >&2; die "mcsqueal run exited"; }
    sleep 0.05
  done
  "$mcsqueal" status --url "$url" --ready >/dev/null || die "mcsqueal run not ready within 30 s"
  helper scrape "$url" "$work/warm.$tag.json"
  wline=$("$writer" -S "$sock" --rate "$rate" --seconds "$warmup" --threads "$nthreads" --seed 7) ||
    die "paced_writer (warm-up) failed"
  # the warm-up's deletes all confirmed before the window opens, so that a
  # backlog (e.g. a producer still getting its id from a broker that just
  # started) is not measured as the window's lag
  helper drain "$url" "$work/warm.$tag.json" "$(kv txns "$wline")" 60 ||
    note "$tag: the warm-up's transactions were not all confirmed within 60 s"
  sleep 0.2
  helper scrape "$url" "$work/before.$tag.json"
  helper threads "$run_pid" >"$work/threads0.$tag"
  cpu0=$(cpu_now)
  if [[ -n $perf_out ]]; then
    perf record -q -F 2000 -g -p "$run_pid" -o "$perf_out" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  wline=$("$writer" -S "$sock" --rate "$rate" --seconds "$seconds" --threads "$nthreads" \
    --seed "$((RANDOM + 1))") || die "paced_writer failed"
  helper drain "$url" "$work/before.$tag.json" "$(kv txns "$wline")" 60 ||
    note "$tag: not every transaction was confirmed within 60 s"
  if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
  fi
  cpu1=$(cpu_now)
  helper threads "$run_pid" >"$work/threads1.$tag"
  helper scrape "$url" "$work/after.$tag.json"
  stop_pid "$run_pid"
  dline=$(helper diff "$work/before.$tag.json" "$work/after.$tag.json")
  echo "$tag name=$name $dline $wline cpu0=${cpu0// /,} cpu1=${cpu1// /,}" >>"$work/results"
}

: >"$work/results"
if [[ -n ${kafka_dir:-} ]]; then
  # a JVM broker compiles its hot paths in its first minute under load: one
  # run of the first configuration, not reported, before the rounds (a
  # production broker has long been warm)
  note "warming the Kafka broker up: one unreported run of ${names[0]}"
  one_run "${names[0]}" "brokerwarm"
  sed -i '/^brokerwarm /d' "$work/results"
fi
note "measuring: $runs round(s) of ${names[*]}; ${seconds} s at $rate transactions/s each (plus ${warmup} s warm-up)"
for r in $(seq 1 "$runs"); do
  for name in "${names[@]}"; do
    note "round $r: $name"
    one_run "$name" "$name.$r"
  done
done

profile=""
if [[ $perf_run != 0 ]]; then
  for name in "${names[@]}"; do
    note "profiling one more run of $name with perf record -g -p PID"
    one_run "$name" "perf-$name" "$work/perf.$name.data"
    profile+=$(
      echo "perf -p: $name, measured window of one more run (${seconds} s at $rate/s); samples per thread of mcsqueal run:"
      perf script -i "$work/perf.$name.data" -F comm,tid 2>/dev/null |
        awk '{ n[$2 " " $1]++; t++ } END { for (k in n) printf "  %6.1f%%  %s\n", 100 * n[k] / t, k }' |
        sort -rn
      echo "by thread and library (self, share of all samples; pid:thread):"
      perf report -i "$work/perf.$name.data" --no-children -s pid,dso -g none 2>/dev/null |
        awk '!/^#/ && !/^$/ && ++n <= 12'
      echo "top functions (self, share of all samples; pid:thread):"
      perf report -i "$work/perf.$name.data" --no-children -s pid,dso,sym -g none 2>/dev/null |
        awk '!/^#/ && !/^$/ && ++n <= 30'
    )
    profile+=$'\n\n'
  done
fi

# --- report -----------------------------------------------------------------------
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v != "nan" && v >= l) ? "PASS" : "FAIL" }'; }
cpu_delta() { # LINE: CPU seconds of mariadbd and both memcached during the window
  awk -v a="$(kv cpu0 "$1")" -v b="$(kv cpu1 "$1")" 'BEGIN { n = split(a, x, ","); split(b, y, ",")
    printf "%.2f %.2f", y[1] - x[1], (y[2] - x[2]) + (y[3] - x[3]) }'
}
broker_cpu() { # LINE: ", Kafka broker N CPU s" in the window (BENCH_KAFKA=1), else nothing
  awk -v a="$(kv cpu0 "$1")" -v b="$(kv cpu1 "$1")" 'BEGIN { n = split(a, x, ","); split(b, y, ",")
    if (n >= 4) printf ", Kafka broker %.2f CPU s", y[4] - x[4] }'
}
run_cpu() { # TAG: CPU seconds of mcsqueal run during the window
  awk 'NR == FNR { u[$1] = $3 + $4; next } { s += $3 + $4 - u[$1] } END { printf "%.2f", s }' \
    "$work/threads0.$1" "$work/threads1.$1"
}
table=$(
  printf '| %-16s | %8s | %7s | %7s | %7s | %7s | %8s | %7s | %7s | %6s | %5s | %5s | %5s |\n' \
    run "txns/s" "lag p50" "lag p99" "<=10ms" "max<=" "pipe p50" "pipe p99" "txn/msg" "result" \
    "run s" "db s" "mc s"
  echo "| ---------------- | -------- | ------- | ------- | ------- | ------- | -------- | ------- | ------- | ------ | ----- | ----- | ----- |"
  while read -r line; do
    tag=${line%% *}
    read -r db mc < <(cpu_delta "$line")
    printf '| %-16s | %8s | %7s | %7s | %7s | %7s | %8s | %7s | %7.1f | %6s | %5s | %5s | %5s |\n' \
      "$tag" "$(kv rate "$line")" "$(kv lag_p50_ms "$line")" "$(kv lag_p99_ms "$line")" \
      "$(awk -v f="$(kv lag_le10ms "$line")" 'BEGIN { printf "%.2f%%", 100 * f }')" \
      "$(kv lag_max_le_ms "$line")" "$(kv pipe_p50_ms "$line")" "$(kv pipe_p99_ms "$line")" \
      "$(awk -v t="$(kv binlog_txns "$line")" -v m="$(kv consumed "$line")" 'BEGIN { print m ? t / m : 0 }')" \
      "$(verdict "$(kv lag_le10ms "$line")" 0.99)" "$(run_cpu "$tag")" "$db" "$mc"
  done <"$work/results"
)
checks=$(
  while read -r line; do
    tag=${line%% *}
    wtx=$(kv txns "$line")
    ok="OK"
    [[ $(kv lag_n "$line") == "$wtx" && $(kv confirmed "$line") == $((2 * wtx)) &&
      $(kv lost "$line") == 0 && $(kv spooled "$line") == 0 ]] || ok="MISMATCH"
    printf '  %-16s writer: %s txns, %s late (>1 ms behind schedule, worst %s ms), rtt p50 %s ms p99 %s ms;\n' \
      "$tag" "$wtx" "$(kv late "$line")" "$(kv late_max_ms "$line")" "$(kv rtt_p50_ms "$line")" \
      "$(kv rtt_p99_ms "$line")"
    printf '  %-16s tailer: %s txns, %s keys; bus: %s messages produced, %s consumed, %s lost%s;\n' \
      "" "$(kv binlog_txns "$line")" "$(kv keys "$line")" "$(kv produced "$line")" \
      "$(kv consumed "$line")" "$(kv lost "$line")" "$(broker_cpu "$line")"
    printf '  %-16s router: %s txns observed, %s deletes confirmed, %s spooled: %s\n' \
      "" "$(kv lag_n "$line")" "$(kv confirmed "$line")" "$(kv spooled "$line")" "$ok"
  done <"$work/results"
)
threads_of() { # TAG
  awk 'NR == FNR { u[$1] = $3; s[$1] = $4; next }
    ($3 - u[$1]) + ($4 - s[$1]) > 0.005 { printf "    %-8s %-20s user %5.2f s  sys %5.2f s\n", $1, $2, $3 - u[$1], $4 - s[$1] }' \
    "$work/threads0.$1" "$work/threads1.$1"
}

cat <<EOF

End-to-end benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc --all) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mariadbd $(mariadbd --version | awk '{ print $3 }') (ROW, innodb_flush_log_at_trx_commit=0, sync_binlog=0), memcached $(memcached -V | awk '{ print $2 }') x2, all on this machine
bus:         $bus_label
workload:    paced_writer, $rate transactions/s for $seconds s (+ $warmup s warm-up) over $nthreads connections;
             each one auto-committed UPDATE with /* mcsqueal: user:N profile:N @probe=<unix us> */
$(for n in "${names[@]}"; do
  s=$(printf '%s' "${cfg_mcsqueal[$n]}${cfg_bus[$n]}${cfg_audit[$n]}" | tr '\n' ';' | sed 's/;$//; s/;/; /g')
  printf 'config %-10s %s\n' "$n:" "${s:-(product defaults)}"
done)
$checks

$table

(txns/s: the writer's achieved rate; lag: mcsqueal_invalidation_lag_seconds,
commit (the @probe, read just before the statement was sent) -> delete
confirmed; pipe: mcsqueal_pipeline_latency_seconds, binlog read -> delete
confirmed; ms, interpolated within the histogram's buckets; <=10ms: the exact
share of transactions in the 10 ms bucket (PASS: at least 99%); max<=: the
smallest bucket bound holding all of them; txn/msg: transactions per bus
message; run s, db s, mc s: CPU seconds of mcsqueal run, mariadbd and both
memcached during the window.)

mcsqueal run threads, round 1 (CPU seconds in the measured window; in \`run\` the main
thread publishes, "binlog-reader" reads the binlog and "router" deletes the keys):
$(for n in "${names[@]}"; do
  echo "  $n.1:"
  threads_of "$n.1"
done)
EOF
if [[ -n $profile ]]; then
  printf '\n%s\n' "$profile"
fi
