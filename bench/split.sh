#!/usr/bin/env bash
# Example-split benchmark: one file much longer than the others, with and without splitting it.
#
#   bench/split.sh [SLOTS] [FILES] [EXAMPLES]        (defaults: 8 49 32)
#
# The suite: FILES files of one example sleeping 0.5 s, plus spec/big_spec.rb with EXAMPLES
# examples of 0.5 s each. Ideal = total / SLOTS (with the defaults: (49 + 32) * 0.5 / 8 =
# 5.06 s); a scheduler that runs files whole cannot go below EXAMPLES * 0.5 s (16 s).
# Two warm-up runs write the runtime history and the examples log, then RUNS repetitions of
# two interleaved modes, both with the runtime history:
#   split: testbot as it is (the big file runs as pieces on several slots);
#   whole: the examples log removed before each run, so the big file runs whole.
# Every run must pass with FILES + EXAMPLES examples.
#
# Environment: RUNS=5, TESTBOT=path (default <repo>/target/release/testbot), KEEP=1.
# The markdown report goes to stdout, progress to stderr.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init split.sh 15 3 "$@"

SLOTS=${1:-8}
FILES=${2:-49}
EXAMPLES=${3:-32}
RUNS=${RUNS:-5}
positive SLOTS "$SLOTS"
positive FILES "$FILES"
positive EXAMPLES "$EXAMPLES"
positive RUNS "$RUNS"
need ruby ruby
need rspec ruby-rspec
need awk mawk
testbot_built || die "testbot binary not found at $TESTBOT (build it with 'cargo build --release' or set TESTBOT=)"
clean_env

local_work split
mkdir -p "$SUITE/spec"

for ((i = 1; i <= FILES; i++)); do
  printf 'RSpec.describe("file %d") { it("sleeps 0.5 s") { sleep 0.5 } }\n' "$i" >"$SUITE/spec/file_$(printf %03d "$i")_spec.rb"
done
{
  echo 'RSpec.describe("big") do'
  for ((i = 1; i <= EXAMPLES; i++)); do
    printf '  it("example %d sleeps 0.5 s") { sleep 0.5 }\n' "$i"
  done
  echo 'end'
} >"$SUITE/spec/big_spec.rb"
IDEAL=$(awk -v f="$FILES" -v e="$EXAMPLES" -v s="$SLOTS" 'BEGIN { printf "%.3f", (f + e) * 0.5 / s }')
WHOLE_FLOOR=$(awk -v e="$EXAMPLES" 'BEGIN { printf "%.1f", e * 0.5 }')
TOTAL_EXAMPLES=$((FILES + EXAMPLES))
note "suite: $FILES files of 0.5 s + big_spec.rb of $EXAMPLES x 0.5 s on $SLOTS slots: ideal $IDEAL s"

run_mode() { # mode rep -> prints seconds
  local mode=$1 rep=$2 log=$LOGS/$1-$2.log start end
  [[ $mode == whole ]] && rm -f "$SUITE/tmp/testbot-examples-rspec.json"
  start=$(date +%s.%N)
  (cd "$SUITE" && "$TESTBOT" -n "$SLOTS" "${TESTBOT_EXTRA[@]}") >"$log" 2>&1 </dev/null || {
    FAILED=1
    die "testbot ($mode, run $rep) failed; see $log"
  }
  end=$(date +%s.%N)
  grep -q "PASSED .* $TOTAL_EXAMPLES examples, 0 failures" "$log" || die "testbot ($mode, run $rep) did not report $TOTAL_EXAMPLES passing examples; see $log"
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

note "warm-up: two runs write the runtime history and the examples log"
run_mode split 0 >/dev/null
run_mode split 0 >/dev/null
declare -a T_SPLIT T_WHOLE
for ((r = 1; r <= RUNS; r++)); do
  T_WHOLE+=("$(run_mode whole "$r")")
  T_SPLIT+=("$(run_mode split "$r")")
  note "  run $r: split ${T_SPLIT[-1]} s, whole ${T_WHOLE[-1]} s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
MS=$(median "${T_SPLIT[@]}")
MW=$(median "${T_WHOLE[@]}")
{
  echo "### Example split ($(date -u +%Y-%m-%d))"
  echo
  echo "- Command: \`bench/split.sh $SLOTS $FILES $EXAMPLES\` (RUNS=$RUNS)"
  echo "- Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo); testbot $("$TESTBOT" --version | awk '{ print $2 }')"
  echo "- Suite: $FILES files of 0.5 s + one file of $EXAMPLES x 0.5 s; ideal $IDEAL s on $SLOTS slots; running the big file whole cannot go below $WHOLE_FLOOR s"
  echo
  echo "| mode | median wall s | ÷ ideal | runs |"
  echo "|---|---|---|---|"
  echo "| split (with the examples log) | $MS | $(awk -v m="$MS" -v i="$IDEAL" 'BEGIN { printf "%.2f", m / i }') | ${T_SPLIT[*]} |"
  echo "| whole (examples log removed) | $MW | $(awk -v m="$MW" -v i="$IDEAL" 'BEGIN { printf "%.2f", m / i }') | ${T_WHOLE[*]} |"
}
