#!/usr/bin/env bash
# The CI queue (issue 29): 4 CI jobs × 2 slots started 0, 2, 4 and 6 s apart on a sleep-bound
# synthetic suite whose restored runtime history is stale (half the files' times changed), with
# `--queue` (one build in a redis-server this script starts on 127.0.0.1) and with
# `--partition K/4` (each job given the same stale history). Measures each mode's makespan,
# from the first job's start to the last file's result (each spec file writes the time it
# finished), against the ideal for the slots' union given the offsets: the total work spread
# over 8 slots that become free 2 at a time at 0, 2, 4 and 6 s (and never below the longest file).
#
#   bench/queue.sh [FILES] [TOTAL_SECONDS]      (defaults: 48 72)
#
# Environment:
#   RUNS=3          repetitions (the modes alternate within each)
#   TESTBOT=path    testbot binary (default: <repo>/target/debug/testbot: the suite only sleeps)
#   TESTBOT_OLD=path  a second binary (e.g. main's) measured side by side: "queue (old)" and
#                   "partition (old)" columns, the four modes interleaved in each repetition
#   SEED=7          seed for bench/gen-synthetic.rb
#   KEEP=1          keep the temporary directory
#
# Prints one line per run and the medians, in markdown, to stdout; progress to stderr.
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
FILES=${1:-48}
TOTAL=${2:-72}
RUNS=${RUNS:-3}
SEED=${SEED:-7}
TESTBOT=${TESTBOT:-$REPO/target/debug/testbot}
OFFSETS=(0 2 4 6)
TESTBOT_OLD=${TESTBOT_OLD:-}
[[ -x $TESTBOT ]] || { echo "queue.sh: no testbot at $TESTBOT (cargo build)" >&2; exit 1; }
[[ -z $TESTBOT_OLD || -x $TESTBOT_OLD ]] || { echo "queue.sh: no testbot at $TESTBOT_OLD (TESTBOT_OLD)" >&2; exit 1; }
# The jobs run in checkouts of their own: a relative path would name nothing there.
TESTBOT=$(realpath -- "$TESTBOT")
[[ -z $TESTBOT_OLD ]] || TESTBOT_OLD=$(realpath -- "$TESTBOT_OLD")
command -v redis-server >/dev/null || { echo "queue.sh: redis-server is missing (apt-get install redis-server)" >&2; exit 1; }

WORK=$(mktemp -d -t testbot-bench-queue-XXXXXX)
REDIS_PID=
cleanup() {
  [[ -n $REDIS_PID ]] && kill "$REDIS_PID" 2>/dev/null || true
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# --- the suite, its stale history, four checkouts ---------------------------------
ruby "$REPO/bench/gen-synthetic.rb" "$WORK/suite" --files "$FILES" --total "$TOTAL" --max-file 3 --seed "$SEED" >/dev/null
# Each spec file (or part of one, when a run splits it by example) writes the time it finished
# to BENCH_LOG (the last result's time).
mkdir -p "$WORK/suite/tmp"
cat >"$WORK/suite/spec/bench_hook.rb" <<'RUBY'
RSpec.configure do |config|
  config.after(:context) do
    next unless self.class.superclass == RSpec::Core::ExampleGroup
    File.open(ENV.fetch("BENCH_LOG"), "a") { |f| f.puts(format("%.3f %s", Time.now.to_f, self.class.metadata[:file_path])) }
  end
end
RUBY
echo "--require ./spec/bench_hook.rb" >"$WORK/suite/.rspec"
# Stale: every other file (by name) ran 3× longer or 3× shorter then than now.
sort "$WORK/suite/durations.txt" | awk '{ t = $2; if (NR % 4 == 1) t = t * 3; else if (NR % 4 == 3) t = t / 3; printf "%s:%.3f\n", $1, t }' \
  >"$WORK/suite/tmp/testbot-runtime-rspec.log"
for k in 1 2 3 4; do
  mkdir -p "$WORK/job$k"
  cp -r "$WORK/suite" "$WORK/job$k/suite"
done
SUM=$(awk '{ s += $2 } END { printf "%.3f", s }' "$WORK/suite/durations.txt")
LONGEST=$(awk '$2 > m { m = $2 } END { printf "%.3f", m }' "$WORK/suite/durations.txt")
# The ideal M: 2 slots free at each offset o, so sum over offsets of 2 × max(0, M − o) = SUM.
IDEAL=$(awk -v sum="$SUM" -v longest="$LONGEST" -v offs="${OFFSETS[*]}" 'BEGIN {
  n = split(offs, o, " ");
  for (k = n; k >= 1; k--) { s = 0; for (i = 1; i <= k; i++) s += o[i]; m = (sum / 2 + s) / k; if (m >= o[k]) break }
  if (m < longest) m = longest; printf "%.2f", m }')

# --- redis ------------------------------------------------------------------------
PORT=$(ruby -rsocket -e 's = TCPServer.new("127.0.0.1", 0); puts s.addr[1]; s.close')
redis-server --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do redis-cli -p "$PORT" PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done

# run_mode MODE REP: the four jobs at their offsets; prints the makespan in seconds. MODE is
# queue or partition (TESTBOT), or queue-old or partition-old (TESTBOT_OLD).
run_mode() {
  local mode=$1 rep=$2 log="$WORK/finished-$1-$2.txt" pids=() k args bin=$TESTBOT
  [[ $mode == *-old ]] && bin=$TESTBOT_OLD
  : >"$log"
  redis-cli -p "$PORT" FLUSHALL >/dev/null # no history or plan kept from the run before
  # Each job's restored history is the stale one again: a run writes the times it measured to
  # the job's runtime log (a queued job the build's, from Redis) and the long files' examples.
  for k in 1 2 3 4; do rm -rf "$WORK/job$k/suite/tmp"; cp -r "$WORK/suite/tmp" "$WORK/job$k/suite/tmp"; done
  local start
  start=$(date +%s.%N)
  for k in 1 2 3 4; do
    case $mode in
      queue*) args=(--queue "redis://127.0.0.1:$PORT" --build-id "bench-$mode-$rep") ;;
      partition*) args=(--partition "$k/4") ;;
    esac
    (cd "$WORK/job$k/suite" && BENCH_LOG=$log exec "$bin" -n 2 "${args[@]}" >"$WORK/$mode-$rep-job$k.out" 2>&1) &
    pids+=($!)
    [[ $k -lt 4 ]] && sleep $((OFFSETS[k] - OFFSETS[k - 1]))
  done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  local files
  files=$(awk '{ print $2 }' "$log" | sort -u | wc -l)
  [[ $files -eq $FILES ]] || echo "queue.sh: $mode run $rep: $files of $FILES files finished (see $WORK)" >&2
  awk -v start="$start" '$1 > m { m = $1 } END { printf "%.2f", m - start }' "$log"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

MODES=(queue partition)
[[ -n $TESTBOT_OLD ]] && MODES+=(queue-old partition-old)
declare -A TIMES
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
printf '| run |'; printf ' %s (s) |' "${MODES[@]}"; echo
printf '|---|'; printf -- '---|%.0s' "${MODES[@]}"; echo
for rep in $(seq "$RUNS"); do
  echo "run $rep of $RUNS…" >&2
  row="| $rep |"
  for mode in "${MODES[@]}"; do
    t=$(run_mode "$mode" "$rep")
    TIMES[$mode]+="$t "
    row+=" $t |"
  done
  echo "$row"
done
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "$FILES files, $SUM s of sleep (longest $LONGEST s), 4 jobs × 2 slots at ${OFFSETS[*]} s, history stale for half the files."
echo "testbot: $TESTBOT${TESTBOT_OLD:+; old: $TESTBOT_OLD}; load average after: $LOAD"
echo
echo "| | makespan, median of $RUNS (s) | ÷ partition | ÷ ideal |"
echo "|---|---|---|---|"
for suffix in "" "-old"; do
  [[ -z $suffix || -n $TESTBOT_OLD ]] || continue
  QM=$(printf '%s\n' ${TIMES[queue$suffix]} | median)
  PM=$(printf '%s\n' ${TIMES[partition$suffix]} | median)
  label=${suffix:+ (old)}
  awk -v q="$QM" -v p="$PM" -v i="$IDEAL" -v l="$label" 'BEGIN {
    printf "| `--queue`%s | %.2f | %.2f | %.2f |\n", l, q, q / p, q / i
    printf "| `--partition K/4`%s | %.2f | 1.00 | %.2f |\n", l, p, p / i }'
done
echo "| ideal (8 slots free at the offsets) | $IDEAL | | 1.00 |"
