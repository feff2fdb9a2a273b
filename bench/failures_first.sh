#!/usr/bin/env bash
# Failures first (issue 30 item 3): how soon a red run shows its first failure. A generated
# sleep-bound suite (bench/gen-synthetic.rb) of FILES files, TOTAL seconds of work, whose
# shortest file fails (the last one a longest-first order would start). One run writes the
# runtime history and the failures log; then RUNS runs with the failures log (testbot starts the
# file that failed last time first) alternate with RUNS runs without it (the log removed before
# each: the plain longest-first order). For each run: the time from the start to the first
# failure's line on testbot's output, and the whole run's time; the share is their ratio.
#
#   bench/failures_first.sh [FILES] [TOTAL]        (defaults: 200 40)
#
# Environment:
#   TESTBOT=path   testbot binary (default: target/release/testbot, else target/debug/testbot)
#   SLOTS=2        -n for every run
#   RUNS=3         repetitions of each kind
#   KEEP=1         keep the temporary directory
#
# The markdown report goes to stdout, progress to stderr.
set -euo pipefail

FILES=${1:-200}
TOTAL=${2:-40}
SLOTS=${SLOTS:-2}
RUNS=${RUNS:-3}
REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${TESTBOT:-} ]]; then
  TESTBOT=$REPO/target/release/testbot
  [[ -x $TESTBOT ]] || TESTBOT=$REPO/target/debug/testbot
fi
TESTBOT=$(realpath -- "$TESTBOT" 2>/dev/null || echo "$TESTBOT")
[[ -x $TESTBOT ]] || { echo "failures_first.sh: no testbot binary (cargo build --release)" >&2; exit 2; }
note() { printf '%s\n' "$*" >&2; }

WORK=$(mktemp -d -t testbot-failures-first-XXXXXX)
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf -- "$WORK"' EXIT
SUITE=$WORK/suite
ruby "$REPO/bench/gen-synthetic.rb" "$SUITE" --files "$FILES" --total "$TOTAL" >/dev/null
# durations.txt is longest first: its last file is the one a longest-first order starts last.
FAILING=$(tail -n 1 "$SUITE/durations.txt" | cut -d' ' -f1)
sed -i '0,/expect(1).to eq(1)/s//expect(1).to eq(2)/' "$SUITE/$FAILING"
cd "$SUITE"

# timed_run LABEL: one run; prints "FIRST TOTAL" (seconds from the start to the first line that
# names a failure, and to the end). testbot exits 1 (the failing file): anything else is an error.
timed_run() {
  ruby -e '
    start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    first = nil
    IO.popen([*ARGV, err: [:child, :out]]) do |out|
      out.each_line do |line|
        first ||= Process.clock_gettime(Process::CLOCK_MONOTONIC) - start if line =~ /^\s*FAIL \[/
      end
    end
    total = Process.clock_gettime(Process::CLOCK_MONOTONIC) - start
    abort "testbot exited #{$?.exitstatus}, not 1" unless $?.exitstatus == 1
    abort "no FAIL line on the output" unless first
    printf("%.2f %.2f\n", first, total)
  ' "$TESTBOT" -n "$SLOTS" --status-level fail --failure-output never
}

note "history run (writes the runtime history and the failures log)"
timed_run >/dev/null
FAILURES_LOG=$(ls tmp/testbot-failures-*.txt)
cp "$FAILURES_LOG" "$WORK/failures.txt"

declare -a WITH_FIRST WITH_TOTAL WITHOUT_FIRST WITHOUT_TOTAL
for ((i = 1; i <= RUNS; i++)); do
  cp "$WORK/failures.txt" "$FAILURES_LOG"
  read -r first total < <(timed_run)
  WITH_FIRST+=("$first"); WITH_TOTAL+=("$total")
  note "run $i with the failures log: first failure at ${first}s of ${total}s"
  rm -f "$FAILURES_LOG"
  read -r first total < <(timed_run)
  WITHOUT_FIRST+=("$first"); WITHOUT_TOTAL+=("$total")
  note "run $i without it:            first failure at ${first}s of ${total}s"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
share() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f %%", 100 * a / b }'; }

wf=$(median "${WITH_FIRST[@]}"); wt=$(median "${WITH_TOTAL[@]}")
of=$(median "${WITHOUT_FIRST[@]}"); ot=$(median "${WITHOUT_TOTAL[@]}")
cat <<EOF
- Suite: $FILES files, $TOTAL s of sleep (gen-synthetic.rb), the shortest file fails (\`$FAILING\`); \`-n $SLOTS\`; testbot \`$TESTBOT\`
- Command: \`RUNS=$RUNS bench/failures_first.sh $FILES $TOTAL\`; $(date -u +%Y-%m-%d), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)

| order | first failure shown, s (median) | run, s (median) | share of the run | runs (first / total) |
|---|---:|---:|---:|---|
| failures first (the log of the last run) | $wf | $wt | $(share "$wf" "$wt") | $(paste -d/ <(printf '%s\n' "${WITH_FIRST[@]}") <(printf '%s\n' "${WITH_TOTAL[@]}") | paste -sd' ') |
| longest first (no failures log) | $of | $ot | $(share "$of" "$ot") | $(paste -d/ <(printf '%s\n' "${WITHOUT_FIRST[@]}") <(printf '%s\n' "${WITHOUT_TOTAL[@]}") | paste -sd' ') |
EOF
