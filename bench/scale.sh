#!/usr/bin/env bash
# bench/scale.sh [SLOTS] [FILES]: the controller's cost at scale (defaults 1000 20000).
#
# Builds bench/scale.rs (cargo example `scale`, release) and runs it RUNS times
# (default 5) in each of two modes: a first run (no runtime history: estimates
# from file sizes, a dynamic tail of small batches) and a run with a runtime
# history (every file planned up front). It is testbot's real dispatcher, queue,
# decoder and reporter (plain display, JSON, JUnit, runtime log) on HOSTS
# simulated hosts (default 100, SLOTS / HOSTS slots each) whose runners print
# the real event protocol for a scripted suite (FILES files, mean 1 s, 1-12
# examples each; 1 scripted second = 1 ms), on a thread of their own whose CPU
# is not counted. Each run prints one line; then the median of each mode; the
# last line is the result, the worse mode's medians:
#   cpu_seconds=X peak_rss_mb=Y
# Needs cargo. SKIP_BUILD=1 uses the example already built.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
RUNS=${RUNS:-5}
bench_init scale.sh 16 2 "$@"
SLOTS=${1:-1000}
FILES=${2:-20000}
HOSTS=${HOSTS:-100}
positive SLOTS "$SLOTS"
positive FILES "$FILES"
positive HOSTS "$HOSTS"
positive RUNS "$RUNS"
((SLOTS % HOSTS == 0)) || die "SLOTS ($SLOTS) must be a multiple of HOSTS ($HOSTS)"
BIN=$REPO_ROOT/target/release/examples/scale
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  note "building the scale example (release)"
  (cd "$REPO_ROOT" && cargo build --release --example scale >&2)
fi
[[ -x $BIN ]] || die "$BIN is not built"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/testbot-bench-scale.XXXXXX")
trap 'rm -rf -- "$OUT"' EXIT

median() { # numbers on stdin -> median, 3 decimals
  sort -g | awk '{ v[++n] = $1 } END { m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2; printf "%.3f", m }'
}
field() { # name line -> value
  tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}

echo "## Scale: $SLOTS slots ($HOSTS simulated hosts) x $FILES files"
echo
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(machine); commit $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo '```'
declare -A CPU RSS
for ((rep = 1; rep <= RUNS; rep++)); do
  for mode in first history; do
    flag=()
    [[ $mode == history ]] && flag=(--history)
    line=$("$BIN" --hosts "$HOSTS" --slots-per-host $((SLOTS / HOSTS)) --files "$FILES" --out "$OUT" "${flag[@]}" 2>&1 >/dev/null | tail -n 1)
    [[ $line == *cpu_seconds=* ]] || die "run $rep ($mode) printed no result: $line"
    [[ $(field exit "$line") == 0 ]] || die "run $rep ($mode) did not pass: $line"
    [[ $(field files "$line") == "$FILES" ]] || die "run $rep ($mode): $line"
    echo "$rep $mode $line"
    CPU[$mode]+="$(field cpu_seconds "$line") "
    RSS[$mode]+="$(field peak_rss_mb "$line") "
  done
done
echo '```'
echo
worst_cpu=0
worst_rss=0
for mode in first history; do
  c=$(tr ' ' '\n' <<<"${CPU[$mode]}" | grep . | median)
  r=$(tr ' ' '\n' <<<"${RSS[$mode]}" | grep . | median)
  echo "- $mode: median cpu_seconds=$c peak_rss_mb=$r ($RUNS runs)"
  worst_cpu=$(awk -v a="$worst_cpu" -v b="$c" 'BEGIN { print (b > a) ? b : a }')
  worst_rss=$(awk -v a="$worst_rss" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
done
echo
echo "cpu_seconds=$worst_cpu peak_rss_mb=$worst_rss"
