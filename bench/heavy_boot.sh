#!/usr/bin/env bash
# Heavy-boot benchmark (issue 32): testbot vs parallel_rspec on a suite whose helper takes
# HELPER_CPU_SECONDS of CPU to load (an app's boot: rubocop's spec_helper loads every cop),
# then the Rails fixture through bench/rails.sh, in one script run.
#
#   bench/heavy_boot.sh [SLOTS] [FILES] [TOTAL_SECONDS] [HELPER_CPU_SECONDS]   (defaults: 2 600 24 1.5)
#
# The suite: spec/spec_helper.rb (through .rspec) burns HELPER_CPU_SECONDS of CPU (a loop on the
# process's CPU clock, not a sleep: a loaded machine makes it slower, as it does a real boot);
# FILES spec files of 1 to 5 examples that burn TOTAL_SECONDS of CPU between them (SEED-random
# shares, so a file's size says only roughly what it costs). Modes, interleaved, RUNS each:
# parallel_rspec -n SLOTS by file size and --group-by runtime (the log of its previous run),
# testbot -n SLOTS with defaults without and with its runtime history, and testbot --preload
# (the helper loaded once per slot, what `testbot init` writes for such a suite) with history.
#
# Environment:
#   RUNS=3          repetitions per mode
#   TESTBOT=path    testbot binary (default: <repo>/target/release/testbot)
#   SEED=42         seed of the suite's work shares
#   RAILS=1         also run bench/rails.sh SLOTS with the same RUNS (0: skip it)
#   KEEP=1          keep the temporary directory (suite + per-run logs)
#
# The markdown report goes to stdout, progress to stderr:
#   bench/heavy_boot.sh > report.md
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init heavy_boot.sh 24 4 "$@"

SLOTS=${1:-2}
FILES=${2:-600}
TOTAL=${3:-24}
HELPER=${4:-1.5}
RAILS=${RAILS:-1}
positive SLOTS "$SLOTS"
check_suite_settings
check_seed
[[ $HELPER =~ ^[0-9]+([.][0-9]+)?$ ]] || die "HELPER_CPU_SECONDS must be a number, got '$HELPER'"
need_ruby_tools
need awk mawk
testbot_built || die "testbot binary not found at $TESTBOT; build it with 'cargo build --release' or set TESTBOT="

clean_env
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
local_work heavy-boot

# --- the suite -----------------------------------------------------------------
ruby - "$SUITE" "$FILES" "$TOTAL" "$HELPER" "$SEED" <<'RUBY'
dir, files, total, helper, seed = ARGV
files = Integer(files)
srand(Integer(seed))
Dir.mkdir("#{dir}/spec")
File.write("#{dir}/.rspec", "--require spec_helper\n")
File.write("#{dir}/spec/spec_helper.rb", <<~HELPER)
  # An app's boot: #{helper} s of CPU before the first example.
  module Burn
    def self.cpu(seconds)
      clock = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) }
      start = clock.call
      n = 0
      n += 1 while clock.call - start < seconds
      n
    end
  end
  Burn.cpu(#{helper})
  RSpec.configure { |config| config.order = :defined }
HELPER
weights = Array.new(files) { Math.exp(rand * 3.0) }
scale = Float(total) / weights.sum
File.open("#{dir}/durations.txt", "w") do |durations|
  weights.each_with_index do |w, i|
    seconds = w * scale
    examples = 1 + rand(5)
    share = (seconds / examples).round(5)
    body = (1..examples).map { |e| "  it(\"burns #{e}\") { expect(Burn.cpu(#{share})).to be > 0 }\n" }.join
    path = format("spec/work_%03d_spec.rb", i)
    File.write("#{dir}/#{path}", "RSpec.describe \"Work #{i}\" do\n#{body}end\n")
    durations.puts "#{path} #{seconds.round(5)}"
  end
end
RUBY
read -r SUM LONGEST IDEAL < <(awk -v s="$SLOTS" '
  { t += $2; if ($2 > m) m = $2 }
  END { i = t / s; if (m > i) i = m; printf "%.3f %.3f %.3f\n", t, m, i }' "$SUITE/durations.txt")
EXAMPLES=$(cat "$SUITE"/spec/*_spec.rb | grep -c '^  it(')
SUITE_WORK=CPU

add_mode pr_size "parallel_rspec, no runtime log (groups by file size)" \
  parallel_rspec -n "$SLOTS" -o "$PR_RECORD" spec
add_mode pr_runtime "parallel_rspec --group-by runtime (log of the previous run)" \
  parallel_rspec -n "$SLOTS" --group-by runtime --runtime-log "$PR_LOG" -o "$PR_RECORD" spec
add_mode tb_first "testbot, defaults, no runtime history" "$TESTBOT" -n "$SLOTS" --no-bundler
add_mode tb_hist "testbot, defaults, with runtime history" "$TESTBOT" -n "$SLOTS" --no-bundler
add_mode tb_preload "testbot --preload (helper once per slot), with history" "$TESTBOT" -n "$SLOTS" --no-bundler --preload

testbot_runs() {
  forget_testbot_history
  measure_makespan tb_first "$1"
  check_tb_history
  measure_makespan tb_hist "$1"
  measure_makespan tb_preload "$1"
}

parallel_runs() {
  rm -f -- "$SUITE/$PR_LOG"
  measure_makespan pr_size "$1"
  check_pr_log "the file-size run"
  measure_makespan pr_runtime "$1"
}

note "suite: $FILES files, $EXAMPLES examples, $SUM s of CPU, helper $HELPER s of CPU; $SLOTS slots;" \
  "$RUNS runs per mode; load $LOAD_BEFORE"
alternate testbot_runs parallel_runs
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

median_of() { stats "${TIMES[$1]}" | awk '{ print $2 }'; }
versus() { # testbot key, parallel_rspec key -> "a ÷ b = r"
  local a b
  a=$(median_of "$1")
  b=$(median_of "$2")
  if [[ $a == - || $b == - ]]; then echo "-"; else echo "$a ÷ $b = **$(ratio "$a" "$b")**"; fi
}

# --- report ----------------------------------------------------------------------
{
  report_head "Heavy boot: a helper that takes ${HELPER} s of CPU to load, vs parallel_rspec"
  echo "- Load average (1, 5, 15 min): $LOAD_BEFORE before, $LOAD_AFTER after"
  echo "- Tools: $(ruby_tools), testbot $(testbot_version)"
  echo "- Command: \`bench/heavy_boot.sh $SLOTS $FILES $TOTAL $HELPER\` (RUNS=$RUNS, SEED=$SEED)"
  echo "- Suite: $FILES files, $EXAMPLES examples, $SUM s of CPU in examples, longest file $LONGEST s;" \
    "\`spec/spec_helper.rb\` burns $HELPER s of CPU; ideal at $SLOTS slots (boots left out) **$IDEAL s**"
  echo
  table 1 "${MODES[@]}"
  echo
  echo "- testbot with history ÷ parallel_rspec with history: $(versus tb_hist pr_runtime)"
  echo "- testbot without history ÷ parallel_rspec without: $(versus tb_first pr_size)"
  echo "- testbot --preload ÷ parallel_rspec with history: $(versus tb_preload pr_runtime)"
  echo
  problem_lines
  commands "Commands (run in the suite directory; before each \"no runtime\" run the tool's log is deleted):"
  echo
  echo "Raw wall times in seconds, in the order they ran (repetition, mode, seconds, ÷ ideal):"
  echo
  raw_times 10 "${MODES[@]}"
}

if [[ $RAILS == 1 ]]; then
  echo
  RUNS=$RUNS TESTBOT=$TESTBOT "$SCRIPT_DIR/rails.sh" "$SLOTS" || FAILED=1
  echo
  echo "- Load average after the Rails runs: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

exit_if_failed "heavy_boot.sh: some runs failed or were invalid; see the tables and $LOGS"
