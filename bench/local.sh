#!/usr/bin/env bash
# Local benchmark: testbot vs parallel_rspec on a synthetic sleep-bound suite.
#
#   bench/local.sh [SLOTS] [FILES] [TOTAL_SECONDS]        (defaults: 8 200 80)
#
# Environment:
#   RUNS=3          repetitions per mode (the modes are interleaved per repetition)
#   TESTBOT=path    testbot binary (default: <repo>/target/release/testbot);
#                   the testbot rows are skipped with a note if it does not exist
#   TESTBOT_OLD=path  a second testbot binary (e.g. an older commit's), measured in the
#                   same repetitions as TESTBOT, each first in every other one, in its own
#                   copy of the suite (the two share no history): its rows are marked
#                   "(TESTBOT_OLD: its path)"
#   TESTBOT_ARGS=   extra arguments appended to the testbot command line (both binaries)
#   SERIAL=1        also time one serial `rspec` run (takes TOTAL_SECONDS; off by default)
#   SEED=42         seed for bench/gen-synthetic.rb
#   KEEP=1          keep the temporary directory (suite + per-run logs); it is
#                   kept automatically when a run fails
#
# The markdown report goes to stdout, progress to stderr:
#   bench/local.sh > report.md
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init local.sh 21 3 "$@"

SLOTS=${1:-8}
FILES=${2:-200}
TOTAL=${3:-80}
SERIAL=${SERIAL:-0}

positive SLOTS "$SLOTS"
check_suite_settings
check_seed

need_ruby_tools
need awk mawk
need date coreutils

testbot_or_note
[[ $HAVE_TESTBOT == 1 ]] || TESTBOT_OLD="" # its rows are measured beside the first binary's

clean_env

LOAD_BEFORE=$(load_average)
local_work local

# --- the suite -----------------------------------------------------------------
gen_suite
# TESTBOT_OLD's own copy: another project, so another history.
SUITE_OLD=$WORK/suite-old
[[ -z $TESTBOT_OLD ]] || cp -a -- "$SUITE" "$SUITE_OLD"

add_mode tb_first "testbot, first run (no runtime history)" \
  "$TESTBOT" -n "$SLOTS" --no-bundler "${TESTBOT_EXTRA[@]}"
add_mode tb_hist "testbot, with runtime history" \
  "$TESTBOT" -n "$SLOTS" --no-bundler "${TESTBOT_EXTRA[@]}"
if [[ -n $TESTBOT_OLD ]]; then
  old=$(old_label)
  add_mode tb_first_old "testbot $old, first run (no runtime history)" \
    "$TESTBOT_OLD" -n "$SLOTS" --no-bundler "${TESTBOT_EXTRA[@]}"
  add_mode tb_hist_old "testbot $old, with runtime history" \
    "$TESTBOT_OLD" -n "$SLOTS" --no-bundler "${TESTBOT_EXTRA[@]}"
fi
add_mode pr_size "parallel_rspec, no runtime log (groups by file size)" \
  parallel_rspec -n "$SLOTS" -o "$PR_RECORD" spec
add_mode pr_runtime "parallel_rspec --group-by runtime (log of the previous run)" \
  parallel_rspec -n "$SLOTS" --group-by runtime --runtime-log "$PR_LOG" -o "$PR_RECORD" spec
add_mode serial "rspec, serial (1 process)" rspec
if [[ $HAVE_TESTBOT == 0 ]]; then
  STATUS[tb_first]="skipped: no binary at \`$TESTBOT\`"
  STATUS[tb_hist]=${STATUS[tb_first]}
fi
[[ $SERIAL == 1 ]] || STATUS[serial]="skipped (set SERIAL=1; takes ~${SUM} s)"

testbot_pair() { history_pair measure_makespan tb_first tb_hist "$1"; }

parallel_pair() {
  rm -f -- "$SUITE/$PR_LOG"
  measure_makespan pr_size "$1"
  check_pr_log "the file-size run"
  measure_makespan pr_runtime "$1"
}

note "suite: $FILES files, $EXAMPLES examples, total ${SUM} s, longest ${LONGEST} s; $SLOTS slots -> ideal ${IDEAL} s; $RUNS runs per mode"
alternate testbot_pair parallel_pair
if [[ $SERIAL == 1 ]]; then
  measure_makespan serial 1
fi
LOAD_AFTER=$(load_average)

# --- report ----------------------------------------------------------------------
{
  report_head "Local: synthetic sleep-bound suite vs parallel_rspec"
  echo "- Tools: $(ruby_tools), testbot $(if [[ $HAVE_TESTBOT == 1 ]]; then testbot_version; else echo '(not built)'; fi)"
  echo "- Command: \`bench/local.sh $SLOTS $FILES $TOTAL\` (RUNS=$RUNS, SEED=$SEED$([[ $SERIAL == 1 ]] && echo ', SERIAL=1'))"
  echo "- Load average (1, 5, 15 min): $LOAD_BEFORE before, $LOAD_AFTER after"
  suite_lines
  echo
  table 1 "${MODES[@]}"
  echo
  if [[ -n $TESTBOT_OLD ]]; then
    side_by_side tb_hist tb_hist_old "testbot ÷ TESTBOT_OLD, with history"
    side_by_side tb_first tb_first_old "testbot ÷ TESTBOT_OLD, without history"
    echo
  fi
  problem_lines
  echo
  commands "Commands (run in the suite directory; before each \"first run\" / \"no runtime log\" run the tool's log is deleted):"
  echo
  echo "Raw wall times in seconds, in the order they ran (repetition, mode, seconds, ÷ ideal):"
  echo
  raw_times 12 "${MODES[@]}"
}

exit_if_failed "local.sh: some runs failed or were invalid; see the table and $LOGS"
