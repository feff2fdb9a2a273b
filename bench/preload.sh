#!/usr/bin/env bash
# Preload benchmark: testbot with and without --preload on a suite whose helper is slow to load.
#
#   bench/preload.sh [SLOTS] [FILES] [HELPER_SECONDS]        (defaults: 4 100 2)
#
# The suite: spec/spec_helper.rb (required through .rspec) sleeps HELPER_SECONDS while it
# loads, a stand-in for booting Rails; FILES spec files of 2 quick examples each. Without
# --preload every batch's rspec process loads the helper; with it, each slot loads it once.
#
# Environment:
#   RUNS=5          repetitions per mode (interleaved; which goes first alternates)
#   TESTBOT=path    testbot binary (default: <repo>/target/release/testbot)
#   TESTBOT_ARGS=   extra arguments appended to both testbot command lines
#   KEEP=1          keep the temporary directory (suite + per-run logs and reports)
#
# The runtime history is deleted before every run, so both modes plan the same batches. Each
# run's JSON report must show FILES files and 2 x FILES passed examples, or the mode fails.
# The markdown report goes to stdout, progress to stderr:
#   bench/preload.sh > report.md
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
RUNS=${RUNS:-5}
bench_init preload.sh 19 3 "$@"

SLOTS=${1:-4}
FILES=${2:-100}
HELPER=${3:-2}
positive SLOTS "$SLOTS"
positive FILES "$FILES"
positive RUNS "$RUNS"
[[ $HELPER =~ ^[0-9]+([.][0-9]+)?$ ]] || die "HELPER_SECONDS must be a number, got '$HELPER'"
need ruby ruby
need rspec ruby-rspec
need awk mawk
testbot_built || die "testbot binary not found at $TESTBOT; build it with 'cargo build --release' or set TESTBOT="

clean_env

local_work preload
mkdir -p "$SUITE/spec"

# --- the suite -----------------------------------------------------------------
printf -- '--require spec_helper\n' >"$SUITE/.rspec"
cat >"$SUITE/spec/spec_helper.rb" <<EOF
# A stand-in for booting Rails: loading the helper takes $HELPER s.
sleep $HELPER
RSpec.configure { |config| config.order = :defined }
EOF
for ((i = 1; i <= FILES; i++)); do
  name=$(printf 'quick_%03d_spec.rb' "$i")
  cat >"$SUITE/spec/$name" <<EOF
RSpec.describe "Quick $i" do
  it("adds") { expect($i + 1).to eq($((i + 1))) }
  it("compares") { expect("a$i").to start_with("a") }
end
EOF
done
EXAMPLES=$((2 * FILES))

add_mode plain "testbot (every batch loads the helper)" \
  "$TESTBOT" -n "$SLOTS" --no-bundler "${TESTBOT_EXTRA[@]}"
add_mode preload "testbot --preload (each slot loads it once)" \
  "$TESTBOT" -n "$SLOTS" --no-bundler --preload "${TESTBOT_EXTRA[@]}"

measure() { # key rep
  local key=$1 rep=$2 log report secs got
  [[ ${STATUS[$key]} == ok ]] || return 0
  log=$LOGS/$key-$rep.log
  report=$LOGS/$key-$rep.json
  local -a cmd
  eval "cmd=(${CMD[$key]})"
  forget_testbot_history
  timed_run "$key" "$rep" "$log" "${cmd[@]}" --report-json "$report" || return 0
  secs=$SECS
  got=$(ruby -rjson -e 't = JSON.parse(File.read(ARGV[0]))["totals"]; print [t["files"], t["examples"], t["failures"], t["pending"]].join(" ")' "$report")
  if [[ $got != "$FILES $EXAMPLES 0 0" ]]; then
    fail_mode "$key" "invalid: run $rep reported files/examples/failures/pending '$got', expected '$FILES $EXAMPLES 0 0' (report: $report)"
    return 0
  fi
  TOTALS=$got
  TIMES[$key]+="$secs "
  note "  $secs s"
}
one_plain() { measure plain "$1"; }
one_preload() { measure preload "$1"; }

note "suite: $FILES files, $EXAMPLES examples, a helper that takes $HELPER s to load; $SLOTS slots; $RUNS runs per mode"
TOTALS=""
alternate one_plain one_preload

# --- report ----------------------------------------------------------------------
read -r _ plain_median _ _ < <(stats "${TIMES[plain]}")
read -r _ preload_median _ _ < <(stats "${TIMES[preload]}")
{
  report_head "Preload: a helper that takes ${HELPER} s to load"
  echo "- Tools: $(ruby -e 'print RUBY_DESCRIPTION.split(" ")[0, 2].join(" ")'), rspec $(rspec --version 2>/dev/null | awk '/rspec-core/ { print $NF; exit } NR == 1 && /^[0-9]/ { print; exit }'), testbot $(testbot_version)"
  echo "- Command: \`bench/preload.sh $SLOTS $FILES $HELPER\` (RUNS=$RUNS)"
  echo "- Suite: $FILES files of 2 quick examples; \`spec/spec_helper.rb\` (through \`.rspec\`) sleeps $HELPER s; $SLOTS slots; the runtime history deleted before every run"
  echo "- Totals of every run (files, examples, failures, pending): ${TOTALS:-none}"
  echo
  table 0 plain preload
  echo
  if [[ -n ${TIMES[plain]} && -n ${TIMES[preload]} ]]; then
    echo "With \`--preload\` ÷ without (medians): **$(ratio "$preload_median" "$plain_median")**"
    echo
  fi
  problem_lines
  commands "Commands (run in the suite directory, each with \`--report-json\`):"
  echo
  echo "Raw wall times in seconds, in the order they ran (repetition, mode, seconds):"
  echo
  raw_times 8
}

exit_if_failed "preload.sh: some runs failed or were invalid; see the table and $LOGS"
