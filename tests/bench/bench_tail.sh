#!/usr/bin/env bash
# Tail benchmark: how fast `mcsqueal tail` follows a real mariadbd's binlog
# from its start and publishes every committed transaction to the embedded
# bus, against two references measured in the same run on the same binlog:
# rpl_fetch_loop (a bare mariadb_rpl_fetch() replica loop: the raw stream
# limit; target at least 0.3x its transactions/s) and
# `mariadb-binlog --read-from-remote-server` to /dev/null (the peer replica
# client; target at least 10x faster). Also: at least 300,000 transactions/s
# absolute, and the tailer's peak RSS under 64 MB. A last, untimed run
# publishes to a standalone `mcsqueal bus` while a kafka-python consumer
# counts what was delivered (a correctness check). Prints ratios: machines
# are shared and noisy. Not part of the pass/fail test run.
#
# Usage: tests/bench/bench_tail.sh [BUILD_DIR]
#   BUILD_DIR        an existing build with cli/mcsqueal, tests/bench/gen_binlog
#                    and tests/bench/rpl_fetch_loop; without it, a Release build
#                    is made in the temp dir
# Environment:
#   BENCH_TXNS=250000     annotated transactions to generate (at least 200000)
#   BENCH_RUNS=5          timed runs per command, interleaved; the best is reported
#   BENCH_TAIL_MCSQUEAL   extra [mcsqueal] settings for the tailer, ';'-separated
#                         (e.g. "queue_max_bytes = 32M")
#   BENCH_TAIL_MYSQL      extra [mysql] settings for the tailer, ';'-separated
#                         (e.g. "verify_checksum = false")
#   BENCH_TAIL_BUS        extra [bus] settings for the tailer, ';'-separated
#                         (e.g. "linger_ms = 0; kafka.linger.ms = 5")
#   BENCH_PERF=0          1: one more, untimed tail run under `perf record -g`,
#                         and its top functions per thread
#   BENCH_PERF_DATA       with BENCH_PERF=1: keep perf.data at this path
#   BENCH_CHECK=1         0: skip the delivery check
#   BENCH_KAFKA=0         1: the tail runs publish to a real 1-broker Apache Kafka
#                         (scripts/kafka, acks=all) instead of the embedded bus
#   TMPDIR                where the throwaway server and its binlogs live
# Exit code: 0 when the benchmark ran (whatever the ratios), 1 on failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
txns=${BENCH_TXNS:-250000}
runs=${BENCH_RUNS:-5}
perf_run=${BENCH_PERF:-0}
check_run=${BENCH_CHECK:-1}
extra_mcsqueal=${BENCH_TAIL_MCSQUEAL:-}
extra_mysql=${BENCH_TAIL_MYSQL:-}
extra_bus=${BENCH_TAIL_BUS:-}
export LC_ALL=C

bench_name=bench_tail
# shellcheck source=tests/bench/bench_lib.sh
source "$root/tests/bench/bench_lib.sh"
[[ $txns =~ ^[0-9]+$ && $txns -ge 1 ]] || die "BENCH_TXNS must be a positive number"
[[ $txns -ge 200000 ]] || note "BENCH_TXNS=$txns is below the 200,000 the requirement names"
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 ]] || die "BENCH_RUNS must be a positive number"
need_tools mariadb-install-db mariadbd mariadb mariadb-binlog cc
[[ $perf_run == 0 ]] || command -v perf >/dev/null || die "BENCH_PERF=1 needs perf"
python=""
if [[ $check_run != 0 ]]; then
  for p in /usr/bin/python3 python3; do
    if "$p" -c 'import kafka' 2>/dev/null; then python=$p; break; fi
  done
  [[ -n $python ]] || die "the delivery check needs python3-kafka (or BENCH_CHECK=0)"
fi

bench_init mcsq-bench-tail # pids: the bus, the consumer, a tailer under perf

# --- build -------------------------------------------------------------------
bench_build "${1:-}" mcsqueal gen_binlog rpl_fetch_loop
mcsqueal=$build/cli/mcsqueal
gen=$build/tests/bench/gen_binlog
loop=$build/tests/bench/rpl_fetch_loop
[[ -x $mcsqueal && -x $gen && -x $loop ]] ||
  die "$build has no cli/mcsqueal, tests/bench/gen_binlog or tests/bench/rpl_fetch_loop"

build_runstat # $work/runstat STATFILE CMD... (see bench_lib.sh)

build_tailwatch # $work/tailwatch (see bench_lib.sh)

# --- throwaway server ----------------------------------------------------------
start_mariadbd
sql() { mariadb --no-defaults -S "$sock" -uroot -N -B -e "$1"; }

# --- the binlog: schema, seed rows, then BENCH_TXNS annotated transactions --------
note "generating $txns annotated ROW-format transactions"
gen_line=$("$gen" -S "$sock" --format ROW --target-mb 100000 --max-txns "$txns" -q)
read -r end_file end_pos < <(sql "SHOW MASTER STATUS" | awk '{ print $1, $2 }')
mapfile -t binlogs < <(sql "SHOW BINARY LOGS" | awk -v d="$data" '{ print d "/" $1 }')
[[ -n $end_file && $end_pos =~ ^[0-9]+$ && ${#binlogs[@]} -ge 1 ]] ||
  die "SHOW MASTER STATUS / SHOW BINARY LOGS gave no position"
binlog_bytes=$(cat "${binlogs[@]}" | wc -c) # also warms the page cache
"$mcsqueal" scan --stats "${binlogs[@]}" 2>"$work/scan.stats" >"$work/scan.json"
scan_stats=$(tail -n 1 "$work/scan.stats")
total_txns=$(kv transactions "$scan_stats")
total_keys=$(kv keys "$scan_stats")
keyed_txns=$(grep -c '"keys":\["' "$work/scan.json" || true)
rm -f "$work/scan.json"
[[ $total_txns =~ ^[0-9]+$ && $total_txns -gt 0 ]] || die "mcsqueal scan --stats: $scan_stats"

# --- the tailer's configuration ----------------------------------------------------
# settings STRING: one "key = value" line per ';'-separated entry
settings() {
  local entry
  local -a entries
  IFS=';' read -r -a entries <<<"$1"
  for entry in "${entries[@]}"; do
    entry=$(sed 's/^[[:space:]]*//; s/[[:space:]]*$//' <<<"$entry")
    [[ -z $entry ]] || printf '%s\n' "$entry"
  done
}
# write_config FILE STATE_DIR BROKERS [BUS_SETTINGS]
write_config() {
  cat >"$1" <<EOF
[mcsqueal]
name = bench
region = bench
state_dir = $2
checkpoint_interval_ms = 10
log_level = info
$(settings "$extra_mcsqueal")

[mysql]
host = 127.0.0.1
port = $port
user = root
server_id = 4244
start = begin
$(settings "$extra_mysql")

[bus]
brokers = $3
$(settings "${4-$extra_bus}")

[metrics]
listen =
EOF
  "$mcsqueal" check-config --config "$1" >/dev/null || die "bad tailer configuration (see above)"
}
state=$work/state
bench_bus
write_config "$work/tail.ini" "$state" "$brokers"

# --- measurements ---------------------------------------------------------------
# Interleaved rounds (each round runs every command once) so that bursts of
# load from other tenants hit all commands alike; best[NAME] is the fastest
# run. srv[NAME] is mariadbd's CPU time (user + sys) during that run.
# shellcheck disable=SC2034 # the cmd_* arrays are read through a nameref
{
  cmd_loop=("$loop" -h 127.0.0.1 -P "$port" -u root -f "${binlogs[0]##*/}")
  cmd_binlog=(mariadb-binlog --no-defaults --read-from-remote-server --host=127.0.0.1
    --port="$port" --user=root --to-last-log "${binlogs[0]##*/}")
  cmd_tail=("$mcsqueal" tail --config "$work/tail.ini")
}
names=(loop binlog tail)
declare -A best rss srv
server_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
tck=$(getconf CLK_TCK)

run_one() { # NAME: one timed run of cmd_NAME; appends to stats.NAME and srv.NAME
  local -n cmd=cmd_$1
  local t0 t1 out=/dev/null
  [[ $1 == loop ]] && out=$work/out.loop
  t0=$(server_ticks)
  if [[ $1 == tail ]]; then
    rm -rf "$state"
    mkdir -p "$state"
    "$work/tailwatch" "$work/stats.tail" "$work/threads.tail.$2" "$state/checkpoint" \
      "$end_file" "$end_pos" 300 "${cmd[@]}" 2>"$work/err.tail"
  else
    "$work/runstat" "$work/stats.$1" "${cmd[@]}" >"$out" 2>"$work/err.$1"
  fi
  t1=$(server_ticks)
  awk -v a="$t0" -v b="$t1" -v t="$tck" 'BEGIN { printf "%.2f\n", (b - a) / t }' \
    >>"$work/srv.$1"
}

note "measuring, best of $runs interleaved runs each (plus one warm-up)"
for name in "${names[@]}"; do
  : >"$work/stats.$name"
  : >"$work/srv.$name"
  run_one "$name" 0 # warm-up
  : >"$work/stats.$name"
  : >"$work/srv.$name"
done
for r in $(seq 1 "$runs"); do
  for name in "${names[@]}"; do run_one "$name" "$r"; done
done
for name in "${names[@]}"; do
  awk -v n="$name" '$NF != 0 || $1 < 0 { print "bench_tail: " n " failed: " $0 > "/dev/stderr"; bad = 1 }
    END { exit bad }' "$work/stats.$name" || { cat "$work/err.$name" >&2; die "$name failed"; }
  # best run: its time, the largest peak RSS of all runs, the server CPU of the best run
  read -r "best[$name]" "srv[$name]" < <(paste -d ' ' "$work/stats.$name" "$work/srv.$name" |
    awk 'NR == 1 || $1 < m { m = $1; s = $NF } END { printf "%.4f %s\n", m, s }')
  rss[$name]=$(awk '{ r = (NF == 4) ? $3 : $2; if (r > m) m = r } END { print m + 0 }' \
    "$work/stats.$name")
done
best_tail_run=$(awk 'NR == 1 || $1 < m { m = $1; r = NR } END { print r }' "$work/stats.tail")
tail_hwm=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$work/stats.tail")
loop_line=$(tail -n 1 "$work/out.loop")
loop_events=$(kv events "$loop_line")
loop_txns=$(kv transactions "$loop_line")
[[ $(kv end "$loop_line") == "$end_file:$end_pos" ]] ||
  die "rpl_fetch_loop ended at $(kv end "$loop_line"), not at $end_file:$end_pos"

# --- profile (optional) ------------------------------------------------------------
profile=""
if [[ $perf_run != 0 ]]; then
  note "profiling one more tail run with perf record -g"
  rm -rf "$state"
  mkdir -p "$state"
  perf record -q -F 2000 --call-graph dwarf,16384 -o "$work/perf.data" -- \
    "$work/tailwatch" "$work/stats.perf" "$work/threads.perf" "$state/checkpoint" \
    "$end_file" "$end_pos" 300 "${cmd_tail[@]}" 2>"$work/err.perf" >/dev/null
  profile=$(
    echo "perf: tail run of $(awk '{ print $1 }' "$work/stats.perf") s under perf; samples per thread:"
    perf script -i "$work/perf.data" -F comm,tid 2>/dev/null |
      awk '{ n[$2 " " $1]++; t++ } END { for (k in n) printf "  %6.1f%%  %s\n", 100 * n[k] / t, k }' |
      sort -rn
    echo "top functions (self, share of all samples; pid:thread):"
    perf report -i "$work/perf.data" --no-children -s pid,sym -g none 2>/dev/null |
      awk '!/^#/ && !/^$/ && ++n <= 30' # awk, not head: no SIGPIPE under pipefail
  )
  [[ -z ${BENCH_PERF_DATA:-} ]] || cp "$work/perf.data" "$BENCH_PERF_DATA"
fi

# --- delivery check: standalone bus, kafka-python consumer, one more tail run ------
delivery="skipped (BENCH_CHECK=0)"
if [[ $check_run != 0 ]]; then
  note "delivery check: mcsqueal bus + kafka-python consumer + one tail run"
  bus_state=$work/bus
  mkdir -p "$bus_state"
  write_config "$work/bus.ini" "$bus_state" embedded
  "$mcsqueal" bus --config "$work/bus.ini" >"$work/bus.out" 2>"$work/bus.err" &
  bus_pid=$!
  pids+=("$bus_pid")
  for _ in $(seq 1 200); do
    [[ -s $bus_state/bus.bootstrap ]] && break
    kill -0 "$bus_pid" 2>/dev/null || { cat "$work/bus.err" >&2; die "mcsqueal bus exited"; }
    sleep 0.05
  done
  bootstrap=$(head -n 1 "$bus_state/bus.bootstrap")
  [[ -n $bootstrap ]] || die "mcsqueal bus wrote no bootstrap address"
  cat >"$work/consume.py" <<'EOF'
"""Counts the txns entries of every bus message from offset 0 on until it has
seen EXPECTED of them or the topic stays idle for IDLE seconds; reports gaps
in the offsets (messages the bus dropped before they were read)."""
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition

bootstrap, topic, expected, idle = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         check_crcs=False, fetch_max_bytes=64 << 20,
                         max_partition_fetch_bytes=16 << 20, auto_offset_reset="earliest")
deadline = time.time() + 30
parts = None
while not parts and time.time() < deadline:
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        time.sleep(0.1)
if not parts:
    sys.exit("consume: topic %s not found" % topic)
tps = [TopicPartition(topic, p) for p in sorted(parts)]
consumer.assign(tps)
consumer.seek_to_beginning(*tps)
for tp in tps:
    consumer.position(tp)
print("ready", flush=True)
messages = txns = keys = gaps = bad = 0
gtids = set()
next_offset = {tp.partition: 0 for tp in tps}
last = time.time()
while txns < expected and time.time() - last < idle:
    for tp, records in consumer.poll(timeout_ms=200, max_records=100000).items():
        for m in records:
            if m.offset != next_offset[tp.partition]:
                gaps += 1
            next_offset[tp.partition] = m.offset + 1
            messages += 1
            last = time.time()
            try:
                batch = json.loads(m.value)
                for t in batch["txns"]:
                    txns += 1
                    keys += len(t["keys"])
                    gtids.add(t.get("gtid", t["pos"]))
            except (ValueError, KeyError, TypeError):
                bad += 1
print("messages=%d txns=%d distinct_txns=%d keys=%d offset_gaps=%d unparsable=%d"
      % (messages, txns, len(gtids), keys, gaps, bad), flush=True)
EOF
  "$python" "$work/consume.py" "$bootstrap" mcsqueal.bench "$keyed_txns" 20 \
    >"$work/consume.out" 2>"$work/consume.err" &
  consumer_pid=$!
  pids+=("$consumer_pid")
  for _ in $(seq 1 600); do
    grep -q '^ready' "$work/consume.out" 2>/dev/null && break
    kill -0 "$consumer_pid" 2>/dev/null || { cat "$work/consume.err" >&2; die "consumer exited"; }
    sleep 0.05
  done
  grep -q '^ready' "$work/consume.out" || die "the consumer did not get ready"
  # The bus keeps 5 MiB per partition and drops older batches, and the
  # consumer (pure Python, sharing the CPUs) is slower than the tailer: gzip
  # (which kafka-python reads natively) stretches 5 MiB to tens of MB of JSON,
  # and a niced tailer leaves the consumer more CPU.
  check_bus=$extra_bus
  [[ $check_bus == *compression* ]] || check_bus="$check_bus; kafka.compression.type = gzip"
  write_config "$work/tail-check.ini" "$state" "$bootstrap" "$check_bus"
  rm -rf "$state"
  mkdir -p "$state"
  "$work/tailwatch" "$work/stats.check" "$work/threads.check" "$state/checkpoint" \
    "$end_file" "$end_pos" 300 nice -n 10 "$mcsqueal" tail --config "$work/tail-check.ini" \
    2>"$work/err.check" || die "tailwatch failed"
  awk '$NF != 0 || $1 < 0 { exit 1 }' "$work/stats.check" ||
    { cat "$work/err.check" >&2; die "the tail run of the delivery check failed"; }
  wait "$consumer_pid" || { cat "$work/consume.err" >&2; die "the consumer failed"; }
  consumed=$(tail -n 1 "$work/consume.out")
  stop_pid "$bus_pid"
  verdict_check="MISMATCH"
  if [[ $(kv txns "$consumed") == "$keyed_txns" && $(kv distinct_txns "$consumed") == "$keyed_txns" &&
    $(kv keys "$consumed") == "$total_keys" && $(kv offset_gaps "$consumed") == 0 &&
    $(kv unparsable "$consumed") == 0 ]]; then
    verdict_check="OK (every annotated transaction delivered exactly once, with all its keys)"
  elif [[ $(kv distinct_txns "$consumed") == "$keyed_txns" && $(kv offset_gaps "$consumed") == 0 ]]; then
    verdict_check="OK with duplicates (at least once: every transaction delivered)"
  elif [[ $(kv offset_gaps "$consumed") != 0 ]]; then
    verdict_check="INCOMPLETE: the bus dropped batches before the consumer read them (it fell
                        more than the embedded bus's 5 MiB retention behind); not a tailer error"
  fi
  delivery="$consumed
                        expected txns=$keyed_txns keys=$total_keys
                        tail run took $(awk '{ printf "%.3f s", $1 }' "$work/stats.check") (not timed: external bus, gzip, niced, consumer running)
                        $verdict_check"
fi

# --- report -----------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
per_s() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }
verdict() { # value, op, limit
  awk -v v="$1" -v op="$2" -v l="$3" \
    'BEGIN { ok = (op == ">=") ? v >= l : v < l; print ok ? "PASS" : "FAIL" }'
}
row() { # label, name, events, transactions
  awk -v l="$1" -v t="${best[$2]}" -v e="$3" -v n="$4" -v r="${rss[$2]}" -v s="${srv[$2]}" \
    'BEGIN { printf "| %-44s | %8.3f | %9s | %9.0f | %7.1f | %6s |\n", l, t,
             e == "" ? "-" : sprintf("%.0f", e / t), n / t, r / 1024, s }'
}
tail_tps=$(per_s "$total_txns" "${best[tail]}")
loop_tps=$(per_s "$loop_txns" "${best[loop]}")
vs_loop=$(ratio "$tail_tps" "$loop_tps")
vs_binlog=$(ratio "${best[binlog]}" "${best[tail]}")
rss_mb=$(awk -v k="${rss[tail]}" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }')
# every round, not only the best: the times and each round's mariadb-binlog / tail
# ratio (stats.binlog: time rss exit; stats.tail: time vmhwm maxrss exit)
runs_of() { awk '{ printf "%s%.3f", (NR > 1 ? " " : ""), $1 }' "$work/stats.$1"; }
round_ratios=$(paste -d ' ' "$work/stats.binlog" "$work/stats.tail" |
  awk '{ r[NR] = $1 / $4; printf "%s%.2f", (NR > 1 ? " " : ""), r[NR] }
       END { n = asort(r); m = (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
             printf " (median %.2f)", m }')
threads=$(awk '$3 + $4 > 0 { printf "  %-8s %-16s user %5.2f s  sys %5.2f s\n", $1, $2, $3, $4 }
  { u += $3; s += $4 } END { printf "  %-8s %-16s user %5.2f s  sys %5.2f s", "all", "", u, s }' \
  "$work/threads.tail.$best_tail_run")

cat <<EOF

Tail benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc --all) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mariadbd $(mariadbd --version | awk '{ print $3 }'), binlog_format=ROW, checksum CRC32, over TCP on 127.0.0.1
binlog:                 ${#binlogs[@]} file(s), $(awk -v b="$binlog_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB, end $end_file:$end_pos
generator:              $gen_line
mcsqueal scan --stats:  $scan_stats (annotated: $keyed_txns)
rpl_fetch_loop:         $loop_line
tailer settings:        checkpoint_interval_ms=10, $bus_label${extra_mcsqueal:+; $extra_mcsqueal}${extra_mysql:+; $extra_mysql}${extra_bus:+; $extra_bus}
tail peak RSS:          VmHWM polled $(awk -v k="$tail_hwm" 'BEGIN { printf "%.1f", k / 1024 }') MiB, wait4 maxrss $(awk -v k="${rss[tail]}" 'BEGIN { printf "%.1f", k / 1024 }') MiB (largest of all runs)
tail threads, best run (CPU seconds until the checkpoint reached the end):
$threads

$(printf '| %-44s | %8s | %9s | %9s | %7s | %6s |' "command (best of $runs interleaved runs)" "time (s)" "events/s" "txns/s" "RSS MiB" "srv s")
| -------------------------------------------- | -------- | --------- | --------- | ------- | ------ |
$(row "rpl_fetch_loop (raw mariadb_rpl_fetch loop)" loop "$loop_events" "$loop_txns")
$(row "mariadb-binlog -R --to-last-log > /dev/null" binlog "$loop_events" "$total_txns")
$(row "mcsqueal tail, start to checkpoint at end" tail "$loop_events" "$total_txns")

runs (s), in order:     loop $(runs_of loop); mariadb-binlog $(runs_of binlog); tail $(runs_of tail)
mariadb-binlog / tail:  per round $round_ratios

(srv s: mariadbd's CPU time during the best run; times are process start to
exit, for the tailer process start to the poll that saw the checkpoint at the
end of the binlog.)

$(printf '| %-44s | %9s | %9s | %6s |' check value target result)
| -------------------------------------------- | --------- | --------- | ------ |
$(printf '| %-44s | %9s | %9s | %6s |' "tail transactions/s" "$tail_tps" ">= 300000" "$(verdict "$tail_tps" ">=" 300000)")
$(printf '| %-44s | %9s | %9s | %6s |' "tail txns/s / rpl_fetch_loop txns/s" "$vs_loop" ">= 0.3" "$(verdict "$vs_loop" ">=" 0.3)")
$(printf '| %-44s | %9s | %9s | %6s |' "mariadb-binlog time / tail time" "$vs_binlog" ">= 10" "$(verdict "$vs_binlog" ">=" 10)")
$(printf '| %-44s | %9s | %9s | %6s |' "tail peak RSS (MB, 10^6 bytes)" "$rss_mb" "< 64" "$(verdict "$rss_mb" "<" 64)")

delivery check:         $delivery
EOF
if [[ -n $profile ]]; then
  printf '\n%s\n' "$profile"
fi
