#!/usr/bin/env bash
# Scan benchmark: how fast `mcsqueal scan` decodes a large ROW-format binlog
# written by a real mariadbd, against two references measured in the same run
# on the same file: `mariadb-binlog FILE > /dev/null` (the peer decoder; target
# at least 15x faster) and `grep -c mcsqueal FILE` (a raw byte scan, the lower
# limit; target within 3x). Also the peak RSS of `mcsqueal scan` on a file of
# about a tenth of the size, to show that memory stays flat. Prints ratios:
# machines are shared and noisy. Not part of the pass/fail test run.
#
# Usage: tests/bench/bench_scan.sh [BUILD_DIR]
#   BUILD_DIR        an existing build with cli/mcsqueal and tests/bench/gen_binlog;
#                    without it, a Release build is made in the temp dir
# Environment:
#   BENCH_MB=150     size of the big binlog file in MiB (below 1000)
#   BENCH_SMALL_MB   size of the small file (default BENCH_MB/10)
#   BENCH_RUNS=5     timed runs per command; the best is reported
#   TMPDIR           where the throwaway server and its binlogs live
# Exit code: 0 when the benchmark ran (whatever the ratios), 1 on failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bench_mb=${BENCH_MB:-150}
small_mb=${BENCH_SMALL_MB:-$(((bench_mb + 9) / 10))}
runs=${BENCH_RUNS:-5}
export LC_ALL=C # byte semantics for grep; the fastest, so the strictest limit

bench_name=bench_scan
# shellcheck source=tests/bench/bench_lib.sh
source "$root/tests/bench/bench_lib.sh"
[[ $bench_mb =~ ^[0-9]+$ && $bench_mb -ge 1 && $bench_mb -lt 1000 ]] ||
  die "BENCH_MB must be 1..999 (one binlog file holds at most 1 GiB)"
[[ $small_mb =~ ^[0-9]+$ && $small_mb -ge 1 ]] || die "BENCH_SMALL_MB must be a positive number"
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 ]] || die "BENCH_RUNS must be a positive number"
need_tools mariadb-install-db mariadbd mariadb-binlog grep cc

bench_init mcsq-bench-scan

# --- build -------------------------------------------------------------------
bench_build "${1:-}" mcsqueal gen_binlog
mcsqueal=$build/cli/mcsqueal
gen=$build/tests/bench/gen_binlog
[[ -x $mcsqueal && -x $gen ]] || die "$build has no cli/mcsqueal or tests/bench/gen_binlog"

build_runstat # $work/runstat STATFILE CMD... (see bench_lib.sh)

# --- throwaway server ----------------------------------------------------------
start_mariadbd

# --- binlogs: binlog.000001 small (schema, seed rows, ~BENCH_SMALL_MB),
#     binlog.000002 big (~BENCH_MB, benchmark transactions only) --------------------
note "generating ${small_mb} MiB + ${bench_mb} MiB of ROW binlog"
small_line=$("$gen" -S "$sock" --format ROW --target-mb "$small_mb" --flush -q)
small_bytes=$(kv binlog_bytes "$small_line")
big_target=$(((small_bytes >> 20) + 1 + bench_mb))
big_line=$("$gen" -S "$sock" --format ROW --target-mb "$big_target" --no-setup --flush -q)
gen_secs=$(awk -v a="$(kv seconds "$small_line")" -v b="$(kv seconds "$big_line")" \
  'BEGIN { printf "%.1f", a + b }')
kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=""

small=$data/binlog.000001
big=$data/binlog.000002
[[ -f $small && -f $big ]] || die "expected binlog.000001 and binlog.000002 in $data"
small_size=$(stat -c %s "$small")
big_size=$(stat -c %s "$big")
cat "$small" "$big" >/dev/null # warm the page cache

# --- measurements ---------------------------------------------------------------
# Each command is an array cmd_NAME and writes its stdout to out[NAME]. Runs
# are interleaved (round r runs every command once) so that a burst of load
# from other tenants of the machine hits all commands alike; best[NAME] is the
# fastest run in seconds, rss[NAME] the largest peak RSS in KiB.
# shellcheck disable=SC2034 # the cmd_* arrays are read through a nameref
{
  cmd_scan=("$mcsqueal" scan "$big")
  cmd_scan_nocrc=("$mcsqueal" scan --no-verify-checksum "$big")
  cmd_binlog=(mariadb-binlog --no-defaults "$big")
  cmd_binlog_v=(mariadb-binlog --no-defaults -v "$big")
  cmd_grep=(grep -c mcsqueal "$big")
  cmd_scan_small=("$mcsqueal" scan "$small")
}
names=(scan scan_nocrc binlog binlog_v grep scan_small)
declare -A out best rss
for name in "${names[@]}"; do out[$name]=/dev/null; done
out[grep]=$work/grep.out # not /dev/null: GNU grep then stops at the first match, as -q

run_one() { # NAME [timed]: one run of cmd_NAME, through runstat when timed
  local -n cmd=cmd_$1
  if [[ ${2:-} == timed ]]; then
    "$work/runstat" "$work/stats.$1" "${cmd[@]}" >"${out[$1]}" 2>"$work/err.$1"
  else
    "${cmd[@]}" >"${out[$1]}" 2>"$work/err.$1" || true
  fi
}

note "measuring, best of $runs interleaved runs each"
for name in "${names[@]}"; do
  : >"$work/stats.$name"
  run_one "$name" # warm-up, also of the binary itself
done
for _ in $(seq 1 "$runs"); do
  for name in "${names[@]}"; do run_one "$name" timed; done
done
for name in "${names[@]}"; do
  awk -v n="$name" '$3 != 0 { print "bench_scan: " n " exited " $3 > "/dev/stderr"; bad = 1 }
    END { exit bad }' "$work/stats.$name" || { cat "$work/err.$name" >&2; die "$name failed"; }
  best[$name]=$(awk 'NR == 1 || $1 < m { m = $1 } END { printf "%.4f", m }' "$work/stats.$name")
  rss[$name]=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$work/stats.$name")
done

"$mcsqueal" scan --stats "$big" 2>"$work/scan.stats" >/dev/null
scan_stats=$(tail -n 1 "$work/scan.stats")
grep_lines=$(cat "$work/grep.out")
counts="MISMATCH: the scan does not see what the generator wrote"
if [[ $(kv transactions "$scan_stats") == "$(kv transactions "$big_line")" ]] &&
  [[ $(kv keys "$scan_stats") == "$(kv keys "$big_line")" ||
    $(kv keys "$scan_stats") == "$(kv unique_keys "$big_line")" ]]; then
  counts="OK (transactions and keys match the generator)"
fi

# --- report -----------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
row() { # label, name, bytes
  awk -v l="$1" -v t="${best[$2]}" -v b="$3" -v r="${rss[$2]}" \
    'BEGIN { printf "| %-48s | %8.3f | %7.0f | %8.1f |\n", l, t, b / 1048576 / t, r / 1024 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { # value, op, limit
  awk -v v="$1" -v op="$2" -v l="$3" \
    'BEGIN { ok = (op == ">=") ? v >= l : v <= l; print ok ? "PASS" : "FAIL" }'
}
speedup=$(ratio "${best[binlog]}" "${best[scan]}")
vs_grep=$(ratio "${best[scan]}" "${best[grep]}")
rss_growth=$(ratio "${rss[scan]}" "${rss[scan_small]}")
flat=$(awk -v s="${rss[scan_small]}" -v b="${rss[scan]}" \
  'BEGIN { print (b <= s * 1.1 + 512) ? "PASS" : "FAIL" }')

cat <<EOF

Scan benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mariadbd $(mariadbd --version | awk '{ print $3 }'), binlog_format=ROW, generated in ${gen_secs} s
big file:   binlog.000002, $(mib "$big_size") MiB
small file: binlog.000001, $(mib "$small_size") MiB (schema, seed rows, then transactions)
generator, big file:    $big_line
mcsqueal scan --stats:  $scan_stats
grep -c mcsqueal:       $grep_lines
counts:                 $counts

$(printf '| %-48s | %8s | %7s | %8s |' "command (best of $runs runs, warm page cache)" "time (s)" "MiB/s" "RSS MiB")
| ------------------------------------------------ | -------- | ------- | -------- |
$(row "mcsqueal scan FILE > /dev/null" scan "$big_size")
$(row "mcsqueal scan --no-verify-checksum FILE" scan_nocrc "$big_size")
$(row "mariadb-binlog FILE > /dev/null" binlog "$big_size")
$(row "mariadb-binlog -v FILE > /dev/null" binlog_v "$big_size")
$(row "grep -c mcsqueal FILE" grep "$big_size")
$(row "mcsqueal scan SMALL_FILE > /dev/null" scan_small "$small_size")

$(printf '| %-48s | %6s | %6s | %6s |' check value target result)
| ------------------------------------------------ | ------ | ------ | ------ |
$(printf '| %-48s | %6s | %6s | %6s |' "mariadb-binlog time / mcsqueal scan time" "$speedup" ">= 15" \
  "$(verdict "$speedup" ">=" 15)")
$(printf '| %-48s | %6s | %6s | %6s |' "mcsqueal scan time / grep -c time" "$vs_grep" "<= 3" \
  "$(verdict "$vs_grep" "<=" 3)")
$(printf '| %-48s | %6s | %6s | %6s |' "peak RSS, big file / small file" "$rss_growth" "flat" "$flat")
EOF
