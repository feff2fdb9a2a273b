#!/usr/bin/env bash
# CPU-bound benchmark: testbot vs parallel_rspec on a synthetic suite whose examples spin on
# the CPU (bench/gen-synthetic.rb --cpu), so every Ruby boot and every idle core shows.
#
#   bench/cpu.sh [SLOTS] [FILES] [TOTAL_CPU_SECONDS]      (defaults: 2 300 40)
#
# Environment:
#   RUNS=3          repetitions per mode (the modes are interleaved per repetition)
#   TESTBOT=path    testbot binary (default: <repo>/target/release/testbot);
#                   the testbot rows are skipped with a note if it does not exist
#   TESTBOT_ARGS=   extra arguments appended to the testbot command line
#   SERIAL=1        also time one serial `rspec` run (takes TOTAL_CPU_SECONDS; off by default)
#   SEED=42         seed for bench/gen-synthetic.rb
#   KEEP=1          keep the temporary directory (suite + per-run logs); it is
#                   kept automatically when a run fails
#
# The markdown report goes to stdout, progress to stderr:
#   bench/cpu.sh > report.md
#
# Besides the modes of local.sh it times testbot with history and `--no-fork` (a fresh Ruby
# per batch), in the testbot repetition.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init cpu.sh 20 3 "$@"

SLOTS=${1:-2}
FILES=${2:-300}
TOTAL=${3:-40}
GEN_ARGS=(--cpu)
SUITE_WORK="CPU time"
SERIAL=${SERIAL:-0}

positive SLOTS "$SLOTS"
check_suite_settings
check_seed

need_ruby_tools
need awk mawk
need date coreutils

testbot_or_note

clean_env

local_work cpu

# --- the suite -----------------------------------------------------------------
gen_suite

add_mode tb_first "testbot, first run (no runtime history)" \
  "$TESTBOT" -n "$SLOTS" --no-bundler "${TESTBOT_EXTRA[@]}"
add_mode tb_hist "testbot, with runtime history" \
  "$TESTBOT" -n "$SLOTS" --no-bundler "${TESTBOT_EXTRA[@]}"
add_mode tb_nofork "testbot --no-fork, with runtime history" \
  "$TESTBOT" -n "$SLOTS" --no-bundler --no-fork "${TESTBOT_EXTRA[@]}"
add_mode pr_size "parallel_rspec, no runtime log (groups by file size)" \
  parallel_rspec -n "$SLOTS" -o "$PR_RECORD" spec
add_mode pr_runtime "parallel_rspec --group-by runtime (log of the previous run)" \
  parallel_rspec -n "$SLOTS" --group-by runtime --runtime-log "$PR_LOG" -o "$PR_RECORD" spec
add_mode serial "rspec, serial (1 process)" rspec
if [[ $HAVE_TESTBOT == 0 ]]; then
  STATUS[tb_first]="skipped: no binary at \`$TESTBOT\`"
  STATUS[tb_hist]=${STATUS[tb_first]}
  STATUS[tb_nofork]=${STATUS[tb_first]}
fi
[[ $SERIAL == 1 ]] || STATUS[serial]="skipped (set SERIAL=1; takes ~${SUM} s)"


testbot_pair() {
  forget_testbot_history
  measure_makespan tb_first "$1"
  check_tb_history
  measure_makespan tb_hist "$1"
  measure_makespan tb_nofork "$1"
}

parallel_pair() {
  rm -f -- "$SUITE/$PR_LOG"
  measure_makespan pr_size "$1"
  check_pr_log "the file-size run"
  measure_makespan pr_runtime "$1"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
note "suite: $FILES files, $EXAMPLES examples, total ${SUM} s, longest ${LONGEST} s; $SLOTS slots -> ideal ${IDEAL} s; $RUNS runs per mode"
alternate testbot_pair parallel_pair
if [[ $SERIAL == 1 ]]; then
  measure_makespan serial 1
fi

# --- report ----------------------------------------------------------------------
{
  report_head "CPU-bound: synthetic suite that spins vs parallel_rspec"
  echo "- Tools: $(ruby_tools), testbot $(if [[ $HAVE_TESTBOT == 1 ]]; then testbot_version; else echo '(not built)'; fi)"
  echo "- Load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- Command: \`bench/cpu.sh $SLOTS $FILES $TOTAL\` (RUNS=$RUNS, SEED=$SEED$([[ $SERIAL == 1 ]] && echo ', SERIAL=1'))"
  suite_lines
  echo
  table 1 "${MODES[@]}"
  echo
  problem_lines
  echo
  commands "Commands (run in the suite directory; before each \"first run\" / \"no runtime log\" run the tool's log is deleted):"
  echo
  echo "Raw wall times in seconds, in the order they ran (repetition, mode, seconds, ÷ ideal):"
  echo
  raw_times 10 "${MODES[@]}"
}

exit_if_failed "cpu.sh: some runs failed or were invalid; see the table and $LOGS"
