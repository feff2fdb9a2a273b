#!/usr/bin/env bash
# Rails benchmark: the Rails fixture (tests/fixtures/rails_app: Rails 6.1, SQLite, SimpleCov)
# with parallel_rspec, testbot and testbot --preload on the same cores.
#
#   bench/rails.sh [SLOTS]        (default: 2)
#
# testbot keeps its runtime history (one untimed warm-up run records it first).
# The slots' databases are prepared once, before any run, with `rake parallel:setup`
# (db/test.sqlite3, db/test2.sqlite3, …: the same files testbot's slots use), so no mode
# prepares databases inside its timed runs. `--preload` loads `rails_helper` in each slot's
# server (`-- --require rails_helper`). Each run's totals must be 34 examples, 0 failures, and
# its merged coverage must be SimpleCov's 93.51 %, or the mode fails.
#
# Environment:
#   RUNS=5          repetitions per mode (interleaved; the order rotates)
#   TESTBOT=path    testbot binary (default: <repo>/target/release/testbot)
#   KEEP=1          keep the temporary directory (app + per-run logs)
#   HISTORY=0       no runtime history: no warm-up, and testbot's history (tmp/testbot-*) is
#                   deleted before every run (a team's first run)
#
# The markdown report goes to stdout, progress to stderr:
#   bench/rails.sh > report.md
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
RUNS=${RUNS:-5}
HISTORY=${HISTORY:-1}
bench_init rails.sh 20 1 "$@"

SLOTS=${1:-2}
positive SLOTS "$SLOTS"
positive RUNS "$RUNS"
need ruby ruby
need bundle bundler
need parallel_rspec ruby-parallel-tests
testbot_built || die "testbot binary not found at $TESTBOT; build it with 'cargo build --release' or set TESTBOT="

clean_env
# The app runs through Bundler (config/boot.rb); parallel_rspec with `bundle exec` as its users do.
unset PARALLEL_TESTS_EXECUTABLE

local_work rails
cp -r "$REPO_ROOT/tests/fixtures/rails_app/." "$SUITE/"
note "preparing $SLOTS databases with rake parallel:setup"
(cd "$SUITE" && PARALLEL_TEST_PROCESSORS=$SLOTS bundle exec rake parallel:setup) >"$LOGS/setup.log" 2>&1 || {
  show_tail "$LOGS/setup.log"
  die "rake parallel:setup failed"
}
EXPECTED_LOC="72 / 77 LOC (93.51%) covered"

add_mode parallel "parallel_rspec (after parallel:setup)" \
  env PARALLEL_TEST_PROCESSORS="$SLOTS" bundle exec parallel_rspec spec
add_mode testbot "testbot" \
  "$TESTBOT" -n "$SLOTS"
add_mode preload "testbot --preload (rails_helper loaded once a slot)" \
  "$TESTBOT" -n "$SLOTS" --preload -- --require rails_helper

measure() { # key rep
  local key=$1 rep=$2 log secs
  [[ ${STATUS[$key]} == ok ]] || return 0
  log=$LOGS/$key-$rep.log
  local -a cmd
  eval "cmd=(${CMD[$key]})"
  rm -rf -- "$SUITE/coverage"
  [[ $HISTORY == 1 ]] || rm -f -- "$SUITE"/tmp/testbot-*
  timed_run "$key" "$rep" "$log" "${cmd[@]}" || return 0
  secs=$SECS
  if ! grep -Eq '(^|[^0-9])34 examples, 0 failures' "$log"; then
    fail_mode "$key" "invalid: run $rep did not report 34 examples, 0 failures (log: $log)"
    return 0
  fi
  if ! grep -qF "$EXPECTED_LOC" "$log"; then
    fail_mode "$key" "invalid: run $rep did not report the merged coverage '$EXPECTED_LOC' (log: $log)"
    return 0
  fi
  TIMES[$key]+="$secs "
  note "  $secs s"
}

note "the Rails fixture: 9 files, 34 examples; $SLOTS slots; $RUNS runs per mode"
# testbot keeps its runtime history between runs, as it does for its users: one untimed run
# first records it (parallel_rspec records none here; it groups by file size).
if [[ $HISTORY == 1 ]]; then
  note "warm-up: one untimed testbot run records the runtime history"
  (cd "$SUITE" && "$TESTBOT" -n "$SLOTS") >"$LOGS/warm-up.log" 2>&1 || {
    show_tail "$LOGS/warm-up.log"
    die "the warm-up run failed"
  }
fi
for ((rep = 1; rep <= RUNS; rep++)); do
  case $((rep % 3)) in
    1) order=(parallel testbot preload) ;;
    2) order=(testbot preload parallel) ;;
    0) order=(preload parallel testbot) ;;
  esac
  for key in "${order[@]}"; do measure "$key" "$rep"; done
done

# --- report ----------------------------------------------------------------------
read -r _ parallel_median _ _ < <(stats "${TIMES[parallel]}")
read -r _ testbot_median _ _ < <(stats "${TIMES[testbot]}")
read -r _ preload_median _ _ < <(stats "${TIMES[preload]}")
{
  report_head "Rails fixture: testbot vs parallel_rspec, and --preload"
  echo "- Tools: $(ruby_tools), Rails $(cd "$SUITE" && bundle exec ruby -e 'require "rails"; print Rails.version' 2>/dev/null), testbot $(testbot_version)"
  echo "- Command: \`bench/rails.sh $SLOTS\` (RUNS=$RUNS)"
  echo "- Suite: tests/fixtures/rails_app, 9 files, 34 examples (4 of them sleep 0.4 s), SimpleCov; SQLite databases per slot made once by \`rake parallel:setup\`; $([[ $HISTORY == 1 ]] && echo "testbot's runtime history kept (one untimed warm-up run first)" || echo "no runtime history (HISTORY=0: testbot's deleted before every run)"); every run checked for 34 examples, 0 failures and \`$EXPECTED_LOC\`"
  echo
  table 0 parallel testbot preload
  echo
  if [[ -n ${TIMES[parallel]} && -n ${TIMES[testbot]} ]]; then
    echo "testbot ÷ parallel_rspec (medians): **$(ratio "$testbot_median" "$parallel_median")**"
  fi
  if [[ -n ${TIMES[testbot]} && -n ${TIMES[preload]} ]]; then
    echo "testbot --preload ÷ testbot (medians): **$(ratio "$preload_median" "$testbot_median")**"
  fi
  echo
  problem_lines
  commands "Commands (run in the app's directory):"
  echo
  echo "Raw wall times in seconds, in the order they ran (repetition, mode, seconds):"
  echo
  raw_times 8
}

exit_if_failed "rails.sh: some runs failed or were invalid; see the table and $LOGS"
