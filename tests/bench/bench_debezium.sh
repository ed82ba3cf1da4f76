#!/usr/bin/env bash
# Peer benchmark: `mcsqueal tail` side by side with Debezium's embedded engine
# (3.6.1.Final, MySQL connector), over the same MariaDB binlog of BENCH_TXNS
# annotated transactions (tests/bench/gen_binlog) read from its start without
# a snapshot, each into two sinks: a real 1-broker Apache Kafka (scripts/kafka,
# acks=all, idempotent producers) and a null sink (for mcsqueal the bench-only
# program mcsqueal_nullbus: the tailer with tests/bench/null_producer.c in
# place of the Kafka producer; for Debezium a consumer that drops every record
# after writing it as JSON). Then a paced mode: BENCH_RATE transactions/s
# (tests/bench/paced_writer) for BENCH_SECONDS while each side publishes to
# Kafka, and a consumer (the driver's `consume` mode) takes commit -> event
# received, p50/p99, from the probe times. Prints ratios; the machine is
# shared and noisy. Not part of the pass/fail test run.
#
# What each side does: Debezium decodes every row of every event into a
# change event (before/after images, source block) and writes it as JSON, one
# record per row; mcsqueal reads the annotations and publishes the cache keys
# of each transaction, batched (docs/bus.md).
#
# Debezium's configuration, each choice (see docs/benchmarks.md, "Peer:
# Debezium"):
#   - MySQL connector: Maven Central serves no debezium-connector-mariadb
#     3.6.1.Final. The MySQL connector takes MariaDB 10.11's version for
#     MySQL >= 8.4 and sends SHOW BINARY LOG STATUS, which MariaDB rejects;
#     so this script's mariadbd reports its version as 8.0.2-10.11-MariaDB-log
#     (Debezium then sends SHOW MASTER STATUS, MySQL Connector/J asks for
#     tx_isolation, mcsqueal still sees MariaDB).
#   - from the binlog's start without a snapshot: 3.6 has no snapshot.mode
#     `never`; the driver starts with an offset at binlog.000001:4 and
#     snapshot.mode=recovery (the table structure only, to rebuild the schema
#     history it keeps in memory; no rows).
#   - include.query=true and provide.transaction.metadata=true are set, but on
#     MariaDB the MySQL connector gives neither the statement (MariaDB writes
#     Annotate_rows events, not MySQL's Rows_query) nor transaction
#     boundaries (MariaDB's GTID events are not MySQL's). Transactions are
#     the binlog's, from `mcsqueal scan --stats`; both sides run until the
#     binlog's last transaction (a row in mcsq_bench.bench_end) is published.
#   - JSON without schemas (converter schemas.enable=false), as most
#     deployments write it; include.schema.changes=false.
#   - throughput: max.batch.size=8192, max.queue.size=32768, poll.interval.ms
#     left at 500 (the queue is never empty while it catches up); producer
#     linger.ms=5, batch.size=1 MiB. Paced: poll.interval.ms=1,
#     max.batch.size=2048 (default), producer linger.ms=0. Producer
#     compression lz4, as mcsqueal's default.
#   - mcsqueal: its defaults for throughput; paced: bus.linger_ms=2,
#     bus.kafka.linger.ms=0 (bench_e2e.sh's "tuned").
#   - JVM warm-up: Debezium's streaming rate is taken from its first record to
#     the last (the JVM's start, class loading and connecting excluded) and its
#     whole run (JVM start to last) is reported too; mcsqueal's time is from
#     its process start to the checkpoint at the binlog's end (its start
#     included: a few ms).
#
# Usage: tests/bench/bench_debezium.sh [BUILD_DIR]
#   BUILD_DIR        an existing build with cli/mcsqueal and tests/bench/{mcsqueal_nullbus,
#                    gen_binlog,paced_writer}; without it, a Release build is made in
#                    the temp dir
# Environment:
#   BENCH_TXNS=200000     annotated transactions in the binlog (at least 200000)
#   BENCH_RUNS=1          rounds of the four throughput runs (interleaved); best reported
#   BENCH_RATE=5000       paced transactions/s
#   BENCH_SECONDS=20      measured seconds of the paced mode (after 3 s of warm-up)
#   BENCH_PACED=1         0: skip the paced mode
#   BENCH_KEEP=0          1: keep the temp dir (logs, latencies) and say where
#   TMPDIR                where the throwaway servers live
# Needs scripts/deps (Java 17, Maven, the Kafka jars and the driver's jars:
# tests/bench/debezium/fetch). Exit code: 0 when the benchmark ran (whatever the
# ratios), 1 on failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
txns=${BENCH_TXNS:-200000}
runs=${BENCH_RUNS:-1}
rate=${BENCH_RATE:-5000}
seconds=${BENCH_SECONDS:-20}
paced=${BENCH_PACED:-1}
keep=${BENCH_KEEP:-0}
warmup=3
export LC_ALL=C

bench_name=bench_debezium
# shellcheck source=tests/bench/bench_lib.sh
source "$root/tests/bench/bench_lib.sh"
for v in txns runs rate seconds; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || die "BENCH_${v^^} must be a positive number"
done
[[ $txns -ge 200000 ]] || note "BENCH_TXNS=$txns is below the 200,000 the requirement names"
need_tools mariadb-install-db mariadbd mariadb java mvn cc
dbz_cache=$(/usr/bin/python3 "$root/tests/bench/debezium/fetch" --print-cache)
[[ -e $dbz_cache/complete ]] ||
  die "the driver's jars are not in $dbz_cache (run scripts/deps or tests/bench/debezium/fetch)"

bench_init mcsq-bench-debezium # pids: tailers, engines, consumers
load_start=$(cut -d ' ' -f 1-3 /proc/loadavg)

# --- builds ----------------------------------------------------------------------
bench_build "${1:-}" mcsqueal mcsqueal_nullbus gen_binlog paced_writer
mcsqueal=$build/cli/mcsqueal
nullbus=$build/tests/bench/mcsqueal_nullbus
gen=$build/tests/bench/gen_binlog
writer=$build/tests/bench/paced_writer
[[ -x $mcsqueal && -x $nullbus && -x $gen && -x $writer ]] ||
  die "$build lacks cli/mcsqueal or tests/bench/{mcsqueal_nullbus,gen_binlog,paced_writer}"
note "building the Debezium driver (Maven, offline) in $work/driver"
mkdir -p "$work/driver"
cp -r "$root/tests/bench/debezium/pom.xml" "$root/tests/bench/debezium/src" "$work/driver/"
(cd "$work/driver" && mvn -o -q -B package -DskipTests) >"$work/mvn.log" 2>&1 ||
  { cat "$work/mvn.log" >&2; die "the driver did not build (run tests/bench/debezium/fetch)"; }
driver_cp="$work/driver/target/classes:$dbz_cache/libs/*"
java_version=$(java -version 2>&1 | head -n 1)
# the Java driver: "${driver[@]}" MODE KEY=VALUE...
driver=(java -cp "$driver_cp" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn mcsqueal.bench.DebeziumDriver)
build_tailwatch # $work/tailwatch (see bench_lib.sh)

# --- servers -----------------------------------------------------------------------
BENCH_KAFKA=1 bench_bus # brokers, kafka_dir
# the broker's JVM: the node's pid file names `timeout` (scripts/kafka's
# --max-lifetime), whose child it is
broker_pid=$(cat "$kafka_dir"/*/pid 2>/dev/null | head -n 1)
[[ $broker_pid =~ ^[0-9]+$ ]] && kill -0 "$broker_pid" || die "no broker pid in $kafka_dir"
[[ $(cat "/proc/$broker_pid/comm") == java ]] || broker_pid=$(pgrep -P "$broker_pid" | head -n 1)
[[ $(cat "/proc/$broker_pid/comm" 2>/dev/null) == java ]] || die "the broker's JVM not found"
start_mariadbd --version=8.0.2-10.11-MariaDB-log # see the header: Debezium's MySQL connector
sql() { mariadb --no-defaults -S "$sock" -uroot -N -B -e "$1"; }

# --- the binlog: BENCH_TXNS annotated transactions, then the sentinel --------------------
note "generating $txns annotated ROW-format transactions"
gen_line=$("$gen" -S "$sock" --format ROW --target-mb 100000 --max-txns "$txns" -q)
sql "CREATE TABLE mcsq_bench.bench_end (id INT PRIMARY KEY) ENGINE=InnoDB;
     INSERT INTO mcsq_bench.bench_end VALUES (1) /* mcsqueal: bench:end */"
read -r end_file end_pos < <(sql "SHOW MASTER STATUS" | awk '{ print $1, $2 }')
mapfile -t binlogs < <(sql "SHOW BINARY LOGS" | awk -v d="$data" '{ print d "/" $1 }')
[[ -n $end_file && $end_pos =~ ^[0-9]+$ ]] || die "SHOW MASTER STATUS gave no position"
first_binlog=${binlogs[0]##*/}
binlog_bytes=$(cat "${binlogs[@]}" | wc -c) # also warms the page cache
"$mcsqueal" scan --stats "${binlogs[@]}" 2>"$work/scan.stats" >/dev/null
scan_stats=$(tail -n 1 "$work/scan.stats")
total_txns=$(kv transactions "$scan_stats")
total_keys=$(kv keys "$scan_stats")
[[ $total_txns =~ ^[0-9]+$ && $total_txns -gt 0 ]] || die "mcsqueal scan --stats: $scan_stats"

# --- configurations -------------------------------------------------------------------
# tail_config FILE STATE_DIR BROKERS START [BUS_LINES]
tail_config() {
  cat >"$1" <<EOF
[mcsqueal]
name = bench
region = bench
state_dir = $2
checkpoint_interval_ms = 10
log_level = warn

[mysql]
host = 127.0.0.1
port = $port
user = root
server_id = 4244
start = $4

[bus]
brokers = $3
${5:-}

[metrics]
listen =
EOF
  "$mcsqueal" check-config --config "$1" >/dev/null || die "bad tailer configuration $1"
}
dbz_common=(
  debezium.name=bench
  debezium.connector.class=io.debezium.connector.mysql.MySqlConnector
  debezium.database.hostname=127.0.0.1 debezium.database.port="$port"
  debezium.database.user=root debezium.database.password=
  debezium.database.server.id=5400 debezium.database.ssl.mode=disabled
  debezium.topic.prefix=dbz debezium.database.include.list=mcsq_bench
  debezium.schema.history.internal=io.debezium.relational.history.MemorySchemaHistory
  debezium.include.query=true debezium.provide.transaction.metadata=true
  debezium.include.schema.changes=false debezium.converter.schemas.enable=false
  producer.acks=all producer.enable.idempotence=true producer.compression.type=lz4
)
dbz_throughput=(
  start_file="$first_binlog" start_pos=4 debezium.snapshot.mode=recovery
  debezium.max.batch.size=8192 debezium.max.queue.size=32768
  producer.linger.ms=5 producer.batch.size=1048576
)
dbz_paced=(
  paced=1 debezium.snapshot.mode=no_data debezium.snapshot.locking.mode=none
  debezium.poll.interval.ms=1 debezium.max.batch.size=2048 producer.linger.ms=0
)
tail_paced_bus=$'linger_ms = 2\nkafka.linger.ms = 0'

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
secs() { awk -v a="$1" -v b="$2" -v t="$tck" 'BEGIN { printf "%.2f", (b - a) / t }'; }

# --- throughput runs -------------------------------------------------------------------
# run_tail NAME PROGRAM BROKERS: appends "seconds cpu_s vmhwm_kib broker_s server_s" to res.NAME
run_tail() {
  local state=$work/state.$1 b0 s0 b1 s1
  rm -rf "$state"
  mkdir -p "$state"
  tail_config "$work/tail.$1.ini" "$state" "$3" begin
  : >"$work/tw.$1"
  b0=$(ticks "$broker_pid")
  s0=$(ticks "$server_pid")
  "$work/tailwatch" "$work/tw.$1" "$work/threads.$1" "$state/checkpoint" "$end_file" "$end_pos" \
    600 "$2" tail --config "$work/tail.$1.ini" 2>"$work/err.$1" || die "tailwatch failed"
  b1=$(ticks "$broker_pid")
  s1=$(ticks "$server_pid")
  awk '$NF != 0 || $1 < 0 { exit 1 }' "$work/tw.$1" || { cat "$work/err.$1" >&2; die "$1 failed"; }
  echo "$(awk '{ print $1 }' "$work/tw.$1") $(awk '{ c += $3 + $4 } END { printf "%.2f", c }' \
    "$work/threads.$1") $(awk '{ print $2 }' "$work/tw.$1") $(secs "$b0" "$b1") $(secs "$s0" "$s1")" \
    >>"$work/res.$1"
}
# run_dbz NAME SINK: appends "seconds cpu_s vmhwm_kib broker_s server_s whole_s whole_cpu_s records" to res.NAME
run_dbz() {
  local b0 s0 b1 s1 line
  b0=$(ticks "$broker_pid")
  s0=$(ticks "$server_pid")
  "${driver[@]}" engine sink="$2" bootstrap="$brokers" topic=dbz.bench "${dbz_common[@]}" \
    "${dbz_throughput[@]}" >"$work/out.$1" 2>"$work/err.$1" ||
    { tail -n 30 "$work/err.$1" >&2; die "$1 failed"; }
  b1=$(ticks "$broker_pid")
  s1=$(ticks "$server_pid")
  line=$(grep '^records=' "$work/out.$1")
  [[ $(kv produce_errors "$line") == 0 ]] || die "$1: produce errors: $line"
  echo "$line" >>"$work/lines.$1"
  awk -v f="$(kv first_s "$line")" -v e="$(kv end_s "$line")" -v cf="$(kv cpu_first_s "$line")" \
    -v ce="$(kv cpu_end_s "$line")" -v h="$(kv vmhwm_kib "$line")" -v b="$(secs "$b0" "$b1")" \
    -v s="$(secs "$s0" "$s1")" -v r="$(kv records "$line")" \
    'BEGIN { printf "%.3f %.2f %d %s %s %.3f %.2f %d\n", e - f, ce - cf, h, b, s, e, ce, r }' \
    >>"$work/res.$1"
}
# both topics exist before the first run: no run waits for a topic's creation
"${driver[@]}" topics bootstrap="$brokers" names=mcsqueal.bench,dbz.bench,dbz.paced \
  >"$work/topics.out" 2>&1 || { cat "$work/topics.out" >&2; die "creating the topics failed"; }
names=(tail_null dbz_null tail_kafka dbz_kafka)
for n in "${names[@]}"; do : >"$work/res.$n"; done
note "throughput: $runs round(s) of ${names[*]} over $total_txns transactions"
for r in $(seq 1 "$runs"); do
  run_tail tail_null "$nullbus" 127.0.0.1:9
  run_dbz dbz_null null
  run_tail tail_kafka "$mcsqueal" "$brokers"
  run_dbz dbz_kafka kafka
  note "round $r: $(for n in "${names[@]}"; do printf '%s %ss ' "$n" "$(tail -n 1 "$work/res.$n" | awk '{ print $1 }')"; done)"
done
# bytes on the broker's disk per run (record batches, lz4 on both sides)
topic_bytes() {
  find "$kafka_dir" -path "*/$1-0/*.log" -printf '%s\n' | awk -v r="$runs" '{ s += $1 } END { printf "%.0f", s / r }'
}
bytes_tail=$(topic_bytes mcsqueal.bench)
bytes_dbz=$(topic_bytes dbz.bench)
declare -A best
for n in "${names[@]}"; do
  best[$n]=$(sort -n -k1,1 "$work/res.$n" | head -n 1)
done

# --- paced mode --------------------------------------------------------------------------
# paced_run NAME TOPIC CMD...: consumer on TOPIC, CMD in the background, warm-up,
# the measured window, then until every transaction of it was received; writes
# lat.NAME ("latency_us" per transaction of the window, sorted) and cpu.NAME (CMD's
# CPU seconds from the window's start until then)
paced_run() {
  local name=$1 topic=$2 cons pid c0 c1 from
  shift 2
  "${driver[@]}" consume bootstrap="$brokers" topic="$topic" out="$work/recv.$name" \
    >"$work/cons.$name.out" 2>"$work/cons.$name.err" &
  cons=$!
  pids+=("$cons")
  for _ in $(seq 1 600); do
    grep -q '^ready' "$work/cons.$name.out" 2>/dev/null && break
    kill -0 "$cons" 2>/dev/null || { cat "$work/cons.$name.err" >&2; die "consumer exited"; }
    sleep 0.1
  done
  "$@" >"$work/paced.$name.out" 2>"$work/paced.$name.err" &
  pid=$!
  pids+=("$pid")
  sleep 5 # connected, streaming (Debezium: the structure snapshot)
  kill -0 "$pid" 2>/dev/null || { tail -n 30 "$work/paced.$name.err" >&2; die "$name exited"; }
  "$writer" -S "$sock" --rate "$rate" --seconds "$warmup" >/dev/null || die "paced_writer failed"
  from=$(date +%s%6N)
  c0=$(ticks "$pid")
  "$writer" -S "$sock" --rate "$rate" --seconds "$seconds" >"$work/writer.$name" ||
    die "paced_writer failed"
  # until the consumer has every transaction of the window, or nothing new came
  # for 30 s (at most 240 s): a side that falls behind is measured, not cut off
  local want have last=-1 idle=0
  want=$(kv txns "$(cat "$work/writer.$name")")
  for _ in $(seq 1 240); do
    have=$(awk -v f="$from" '$1 >= f { n++ } END { print n + 0 }' "$work/recv.$name")
    [[ $have -ge $want ]] && break
    if [[ $have == "$last" ]]; then idle=$((idle + 1)); else idle=0; fi
    [[ $idle -ge 30 ]] && break
    last=$have
    sleep 1
  done
  c1=$(ticks "$pid")
  secs "$c0" "$c1" >"$work/cpu.$name"
  stop_pid "$cons"
  stop_pid "$pid"
  awk -v f="$from" '$1 >= f { print $2 - $1 }' "$work/recv.$name" | sort -n >"$work/lat.$name"
}
pct() { # FILE Q: the Q quantile (nearest rank) of sorted numbers, in ms
  awk -v q="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
    i = int(q * NR + 0.999999); if (i < 1) i = 1; printf "%.2f", v[i] / 1000 }' "$1"
}
if [[ $paced != 0 ]]; then
  note "paced: $rate transactions/s for $seconds s (after $warmup s), each side into Kafka"
  "$writer" -S "$sock" --setup >/dev/null || die "paced_writer --setup failed"
  mkdir -p "$work/state.paced"
  tail_config "$work/tail.paced.ini" "$work/state.paced" "$brokers" end "$tail_paced_bus"
  paced_run tail mcsqueal.bench "$mcsqueal" tail --config "$work/tail.paced.ini"
  paced_run dbz dbz.paced "${driver[@]}" engine sink=kafka bootstrap="$brokers" topic=dbz.paced \
    "${dbz_common[@]}" "${dbz_paced[@]}"
fi

# --- report ------------------------------------------------------------------------------------
f() { awk -v l="${best[$1]}" -v i="$2" 'BEGIN { split(l, a, " "); print a[i] }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
tps() { calc "%.0f" "$total_txns / $(f "$1" 1)"; }
cpu100k() { calc "%.2f" "$(f "$1" 2) * 100000 / $total_txns"; }
brk100k() { calc "%.2f" "$(f "$1" 4) * 100000 / $total_txns"; }
srv100k() { calc "%.2f" "$(f "$1" 5) * 100000 / $total_txns"; }
rss() { calc "%.0f" "$(f "$1" 3) / 1024"; }
row() { # LABEL NAME
  printf '| %-34s | %8.3f | %9s | %8s | %8s | %8s | %7s |\n' "$1" "$(f "$2" 1)" "$(tps "$2")" \
    "$(cpu100k "$2")" "$(brk100k "$2")" "$(srv100k "$2")" "$(rss "$2")"
}
ratio() { calc "%.1f" "$1 / $2"; }
dbz_line_null=$(head -n 1 "$work/lines.dbz_null")
cat <<EOF

Peer benchmark (Debezium): $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
load average at the start: $load_start, at the end: $(cut -d ' ' -f 1-3 /proc/loadavg)
mariadbd $(mariadbd --version | awk '{ print $3 }') (reporting 8.0.2-10.11-MariaDB-log), ROW, CRC32, TCP on 127.0.0.1
binlog:        ${#binlogs[@]} file(s), $(calc "%.1f" "$binlog_bytes / 1048576") MiB, end $end_file:$end_pos
generator:     $gen_line
scan --stats:  $scan_stats
bus:           $bus_label; broker pid $broker_pid
Debezium:      3.6.1.Final embedded engine, MySQL connector; $java_version (default heap)
               records per run: $(kv records "$dbz_line_null") (one per row), JVM start to first record $(kv first_s "$dbz_line_null") s
mcsqueal:      tail (Kafka) and tests/bench/mcsqueal_nullbus tail (null bus), defaults

Throughput, best of $runs round(s) (Debezium: first record -> last; mcsqueal: process start -> checkpoint at the end)
| side, sink                         | time (s) | txns/s    | CPU s/100k | broker s/100k | mariadbd s/100k | RSS MiB |
| ---------------------------------- | -------- | --------- | -------- | -------- | -------- | ------- |
$(row "mcsqueal tail, null bus" tail_null)
$(row "Debezium, null sink" dbz_null)
$(row "mcsqueal tail, Kafka (acks=all)" tail_kafka)
$(row "Debezium, Kafka (acks=all)" dbz_kafka)

bus bytes per run (topic log on the broker): mcsqueal $bytes_tail ($(calc "%.1f" "$bytes_tail / $total_txns") per transaction, $(calc "%.1f" "$bytes_tail / $total_keys") per key); Debezium $bytes_dbz ($(calc "%.1f" "$bytes_dbz / $total_txns") per transaction)
Debezium whole runs (JVM start -> last record): null $(f dbz_null 6) s, $(f dbz_null 7) CPU s; Kafka $(f dbz_kafka 6) s, $(f dbz_kafka 7) CPU s
all rounds (s): $(for n in "${names[@]}"; do printf '%s %s; ' "$n" "$(awk '{ printf "%s ", $1 }' "$work/res.$n")"; done)

| ratio (mcsqueal vs Debezium)          | null sink | Kafka | goal |
| ------------------------------------- | --------- | ----- | ---- |
| throughput (txns/s)                   | $(ratio "$(tps tail_null)" "$(tps dbz_null)")x | $(ratio "$(tps tail_kafka)" "$(tps dbz_kafka)")x | >= 10x |
| CPU per transaction (Debezium / mcsqueal) | $(ratio "$(f dbz_null 2)" "$(f tail_null 2)")x | $(ratio "$(f dbz_kafka 2)" "$(f tail_kafka 2)")x | >= 10x |
| broker CPU per transaction (Debezium / mcsqueal) | - | $(ratio "$(f dbz_kafka 4)" "$(f tail_kafka 4)")x | |
| peak RSS (Debezium / mcsqueal)        | $(ratio "$(f dbz_null 3)" "$(f tail_null 3)")x | $(ratio "$(f dbz_kafka 3)" "$(f tail_kafka 3)")x | |
EOF
if [[ $paced != 0 ]]; then
  cat <<EOF

Paced: $rate txns/s for $seconds s into Kafka, commit (probe) -> received by a consumer
| side     | txns seen | p50 ms | p99 ms | max ms | CPU s/100k | writer (late: > 1 ms behind schedule) |
| -------- | --------- | ------ | ------ | ------ | ---------- | ------ |
$(for n in tail dbz; do
    printf '| %-8s | %9s | %6s | %6s | %6s | %10s | %s |\n' "$n" "$(wc -l <"$work/lat.$n")" \
      "$(pct "$work/lat.$n" 0.5)" "$(pct "$work/lat.$n" 0.99)" "$(pct "$work/lat.$n" 1)" \
      "$(calc "%.2f" "$(cat "$work/cpu.$n") * 100000 / ($rate * $seconds)")" \
      "$(w=$(cat "$work/writer.$n"); echo "rate=$(kv rate "$w") late=$(kv late "$w") late_max_ms=$(kv late_max_ms "$w")")"
  done)
p99 ratio (Debezium / mcsqueal): $(ratio "$(pct "$work/lat.dbz" 0.99)" "$(pct "$work/lat.tail" 0.99)")x (goal >= 5x)
EOF
fi
