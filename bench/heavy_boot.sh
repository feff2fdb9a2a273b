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
# (the helper loaded once per slot, what `testbot init` writes for such a suite) with history;
# then testbot as `testbot init` sets the suite up (init run once in a copy of the suite: the
# testbot.toml it writes), without and with history.
#
# Environment:
#   RUNS=3          repetitions per mode
#   TESTBOT=path    testbot binary (default: <repo>/target/release/testbot)
#   TESTBOT_OLD=path  a second binary (e.g. main's): its defaults without history, side by side
#   FLOOR=1         also a serial `rspec` of the suite, and one helper's burn alone vs two at once:
#                   what any tool's floor on this machine is (boot + (serial - boot) / SLOTS)
#   SEED=42         seed of the suite's work shares
#   RAILS=1         also run bench/rails.sh SLOTS with the same RUNS (0: skip it)
#   KEEP=1          keep the temporary directory (suite + per-run logs)
#
# The markdown report goes to stdout, progress to stderr:
#   bench/heavy_boot.sh > report.md
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init heavy_boot.sh 28 4 "$@"

SLOTS=${1:-2}
FILES=${2:-600}
TOTAL=${3:-24}
HELPER=${4:-1.5}
RAILS=${RAILS:-1}
FLOOR=${FLOOR:-0}
positive SLOTS "$SLOTS"
check_suite_settings
check_seed
[[ $HELPER =~ ^[0-9]+([.][0-9]+)?$ ]] || die "HELPER_CPU_SECONDS must be a number, got '$HELPER'"
need_ruby_tools
need awk mawk
testbot_built || die "testbot binary not found at $TESTBOT; build it with 'cargo build --release' or set TESTBOT="

clean_env
LOAD_BEFORE=$(load_average)
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
add_mode tb_init_first "testbot as \`testbot init\` set it up, no runtime history" "$TESTBOT" -n "$SLOTS" --no-bundler
add_mode tb_init_hist "testbot as \`testbot init\` set it up, with runtime history" "$TESTBOT" -n "$SLOTS" --no-bundler
[[ -n $TESTBOT_OLD ]] && add_mode tb_old_first "testbot (TESTBOT_OLD), defaults, no runtime history" "$TESTBOT_OLD" -n "$SLOTS" --no-bundler
[[ $FLOOR == 1 ]] && add_mode serial "rspec, one process (serial)" rspec

# The init modes run in a copy of the suite where `testbot init` wrote its testbot.toml.
INIT_SUITE=$WORK/suite-init
cp -r -- "$SUITE" "$INIT_SUITE"
(cd "$INIT_SUITE" && "$TESTBOT" init) >"$LOGS/init.log" 2>&1 || die "testbot init failed in $INIT_SUITE (log: $LOGS/init.log)"
INIT_KEYS=$(grep -E '^[a-z_]+ *=' "$INIT_SUITE/testbot.toml" | paste -sd, - || true)
note "testbot init wrote: ${INIT_KEYS:-no keys}"

in_init_suite() { # command...: runs it with SUITE set to the init copy
  local plain=$SUITE
  SUITE=$INIT_SUITE
  "$@"
  SUITE=$plain
}

testbot_runs() {
  forget_testbot_history
  measure_makespan tb_first "$1"
  check_tb_history
  measure_makespan tb_hist "$1"
  measure_makespan tb_preload "$1"
  if [[ -n $TESTBOT_OLD ]]; then
    forget_testbot_history
    measure_makespan tb_old_first "$1"
  fi
  in_init_suite forget_testbot_history
  in_init_suite measure_makespan tb_init_first "$1"
  in_init_suite measure_makespan tb_init_hist "$1"
}

parallel_runs() {
  rm -f -- "$SUITE/$PR_LOG"
  measure_makespan pr_size "$1"
  check_pr_log "the file-size run"
  measure_makespan pr_runtime "$1"
  [[ $FLOOR == 1 ]] && measure_makespan serial "$1"
  return 0
}

# One process burning the helper's CPU twice over alone, then two at once: the wall seconds of
# each (equal when the machine's cores are independent for this work).
burns() {
  local burn="c = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) }; s = c.call; nil while c.call - s < $HELPER * 2"
  local start one two
  start=$(date +%s.%N)
  ruby -e "$burn"
  one=$(elapsed "$start")
  start=$(date +%s.%N)
  ruby -e "$burn" &
  ruby -e "$burn"
  wait
  two=$(elapsed "$start")
  BURNS+="$one/$two "
}
BURNS=""

note "suite: $FILES files, $EXAMPLES examples, $SUM s of CPU, helper $HELPER s of CPU; $SLOTS slots;" \
  "$RUNS runs per mode; load $LOAD_BEFORE"
alternate testbot_runs parallel_runs
if [[ $FLOOR == 1 ]]; then
  for ((rep = 1; rep <= RUNS; rep++)); do burns; done
fi
LOAD_AFTER=$(load_average)

versus() { # testbot key, parallel_rspec key -> "a ÷ b = r"
  local a b
  a=$(median_of "$1")
  b=$(median_of "$2")
  if [[ -z $a || -z $b ]]; then echo "-"; else echo "$a ÷ $b = **$(ratio "$a" "$b")**"; fi
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
  echo "- \`testbot init\` wrote: ${INIT_KEYS:-no keys}"
  echo "- testbot as init set it up, without history ÷ parallel_rspec without: $(versus tb_init_first pr_size)"
  echo "- testbot as init set it up, with history ÷ parallel_rspec with history: $(versus tb_init_hist pr_runtime)"
  [[ -n $TESTBOT_OLD ]] && echo "- TESTBOT_OLD without history ÷ parallel_rspec without: $(versus tb_old_first pr_size)"
  if [[ $FLOOR == 1 ]]; then
    echo "- A burn of $(awk -v h="$HELPER" 'BEGIN { print h * 2 }') s of CPU alone / two at once, wall seconds: $BURNS"
    serial=$(median_of serial)
    [[ -n $serial ]] && echo "- Floor for $SLOTS slots, boot + (serial - boot) ÷ $SLOTS: $(awk -v s="$serial" -v b="$HELPER" -v n="$SLOTS" 'BEGIN { printf "%.2f", b + (s - b) / n }') s"
  fi
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
  echo "- Load average after the Rails runs: $(load_average)"
fi

exit_if_failed "heavy_boot.sh: some runs failed or were invalid; see the tables and $LOGS"
