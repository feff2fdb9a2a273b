# shellcheck shell=bash
# Shared by the bench scripts (local.sh, ssh.sh, heavy_boot.sh, ...), which source it right after
# `set -euo pipefail`; not meant to be run. It works on the scripts' globals
# (SUITE, LOGS, FILES, TOTAL, SLOTS, SUM, LONGEST, IDEAL, ... and the mode
# tables below), so `shellcheck -x` on the scripts is what checks their use.
# shellcheck disable=SC2034,SC2154 # globals set here for the scripts, and read here from them

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)

# --- messages and arguments ------------------------------------------------------
usage() { # the calling script's header comment, lines 2 to USAGE_END
  sed -n "2,${USAGE_END}p" "$BENCH_SCRIPT" | sed 's/^# \{0,1\}//'
}

die() {
  printf '%s: error: %s\n' "$BENCH_NAME" "$*" >&2
  exit 1
}

note() {
  printf '%s\n' "$*" >&2
}

# bench_init NAME USAGE_END MAX_ARGS "$@": names the script in messages, answers
# -h/--help, refuses more than MAX_ARGS arguments, and sets the settings both
# scripts take from the environment.
bench_init() {
  BENCH_NAME=$1
  USAGE_END=$2
  BENCH_SCRIPT=${BASH_SOURCE[1]}
  local most=$3
  shift 3
  case "${1:-}" in
    -h | --help)
      usage
      exit 0
      ;;
  esac
  [[ $# -le $most ]] || {
    usage >&2
    exit 2
  }
  RUNS=${RUNS:-3}
  SEED=${SEED:-42}
  KEEP=${KEEP:-0}
  TESTBOT=${TESTBOT:-$REPO_ROOT/target/release/testbot}
  # Relative TESTBOT paths are taken relative to the caller's directory.
  [[ $TESTBOT == /* ]] || TESTBOT="$PWD/$TESTBOT"
  read -r -a TESTBOT_EXTRA <<<"${TESTBOT_ARGS:-}"
  # A second binary (e.g. main's), measured beside TESTBOT in the same repetitions.
  TESTBOT_OLD=${TESTBOT_OLD:-}
  [[ -z $TESTBOT_OLD || $TESTBOT_OLD == /* ]] || TESTBOT_OLD="$PWD/$TESTBOT_OLD"
  [[ -z $TESTBOT_OLD || (-x $TESTBOT_OLD && -f $TESTBOT_OLD) ]] || die "TESTBOT_OLD=$TESTBOT_OLD is not an executable"
}

# What marks TESTBOT_OLD's rows: "(TESTBOT_OLD: its path)" (two builds' --version are often the same).
old_label() {
  printf '(TESTBOT_OLD: %s)' "${TESTBOT_OLD//$REPO_ROOT\//}"
}

# in_turn REP 'new command' 'old command': both, each given REP; the new one first in odd
# repetitions, the old one in even ones, so that a slow drift of the machine hits both alike.
# Without TESTBOT_OLD only the new one.
in_turn() {
  local rep=$1
  local -a new old
  read -r -a new <<<"$2"
  read -r -a old <<<"$3"
  if [[ -z $TESTBOT_OLD ]]; then
    "${new[@]}" "$rep"
  elif ((rep % 2 == 1)); then
    "${new[@]}" "$rep"
    "${old[@]}" "$rep"
  else
    "${old[@]}" "$rep"
    "${new[@]}" "$rep"
  fi
}
# history_pair MEASURE FIRST HIST REP: testbot without its runtime history (key FIRST), then with
# the one that run left (key HIST), measured by MEASURE; with TESTBOT_OLD the old binary too, in
# its own copy of the suite (SUITE_OLD, keys FIRST_old and HIST_old), the two in turn (in_turn).
history_pair() {
  local measure=$1 first=$2 hist=$3
  history_new() {
    forget_testbot_history
    "$measure" "$first" "$1"
    check_tb_history
    "$measure" "$hist" "$1"
  }
  history_old() {
    local SUITE=$SUITE_OLD
    forget_testbot_history
    "$measure" "${first}_old" "$1"
    "$measure" "${hist}_old" "$1"
  }
  in_turn "$4" history_new history_old
}


positive() { # name value
  [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"
}

check_suite_settings() { # FILES, TOTAL and RUNS, in this order
  positive FILES "$FILES"
  [[ $TOTAL =~ ^[0-9]+([.][0-9]+)?$ ]] || die "TOTAL_SECONDS must be a number, got '$TOTAL'"
  positive RUNS "$RUNS"
}

check_seed() {
  [[ $SEED =~ ^[0-9]+$ ]] || die "SEED must be a non-negative integer, got '$SEED'"
}

need() { # command, Debian package
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found; install it with: apt-get install -y $2"
}

need_ruby_tools() {
  need ruby ruby
  need rspec ruby-rspec
  need parallel_rspec ruby-parallel-tests
}

testbot_built() {
  [[ -x $TESTBOT && -f $TESTBOT ]]
}

# HAVE_TESTBOT=1 when the binary is there; else 0, with a note that its rows are skipped.
testbot_or_note() {
  HAVE_TESTBOT=0
  if testbot_built; then
    HAVE_TESTBOT=1
  else
    note "note: testbot binary not found at $TESTBOT; skipping the testbot rows (build it with 'cargo build --release' or set TESTBOT=)"
  fi
}

# The suites have no Gemfile: keep bundler and any outer parallel run out.
clean_env() {
  export PARALLEL_TESTS_EXECUTABLE=rspec
  unset TEST_ENV_NUMBER PARALLEL_TEST_GROUPS PARALLEL_PID_FILE SPEC_OPTS BUNDLE_GEMFILE RUBYOPT
  export LC_ALL=C
}

# local_work NAME: a temporary directory (WORK) with room for the suite (SUITE) and the
# per-run logs (LOGS), removed on exit unless KEEP=1; installs the exit traps. For the scripts
# that need no sshd hosts (those use start_hosts from hosts.sh).
local_work() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/testbot-bench-$1.XXXXXX")
  SUITE=$WORK/suite
  LOGS=$WORK/logs
  mkdir -p "$SUITE" "$LOGS"
  trap_exits
}

cleanup() {
  if [[ $KEEP == 1 ]]; then
    note "kept $WORK (suite in suite/, one log per run in logs/)"
  else
    rm -rf -- "$WORK"
  fi
}

# The script's `cleanup` runs on exit, also after Ctrl-C or SIGTERM.
trap_exits() {
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# --- the suite -------------------------------------------------------------------
# Writes the synthetic suite into SUITE; sets SUM, LONGEST, IDEAL (at SLOTS
# slots) and EXAMPLES.
gen_suite() {
  ruby "$SCRIPT_DIR/gen-synthetic.rb" "$SUITE" --files "$FILES" --total "$TOTAL" --seed "$SEED" ${GEN_ARGS:+"${GEN_ARGS[@]}"} >&2
  read -r SUM LONGEST IDEAL < <(awk -v s="$SLOTS" '
    { t += $2; if ($2 > m) m = $2 }
    END { i = t / s; if (m > i) i = m; printf "%.3f %.3f %.3f\n", t, m, i }' "$SUITE/durations.txt")
  EXAMPLES=$(cat "$SUITE"/spec/*/*_spec.rb | grep -c '^  it "')
}

TB_LOG=tmp/testbot-runtime-rspec.log
PR_LOG=tmp/parallel_runtime_rspec.log

# Before a testbot run "without history": testbot's own logs, and parallel_tests'
# runtime log too, which testbot reads when it has none of its own (a run after a
# parallel_rspec run would otherwise have the whole history).
forget_testbot_history() {
  rm -f -- "$SUITE"/tmp/testbot-runtime-* "$SUITE"/tmp/testbot-examples-* "$SUITE"/tmp/testbot-failures-* "$SUITE/$PR_LOG"
}
# parallel_tests 4.1 records runtimes through an RSpec formatter (see its
# README); -o passes it to every rspec process. Every parallel_rspec run of the
# synthetic suite records, so the runtime mode always uses the log of the
# previous parallel_rspec run, as a CI setup with the logger in .rspec_parallel
# would.
PR_RECORD="--format progress --format ParallelTests::RSpec::RuntimeLogger --out $PR_LOG"

# --- modes -----------------------------------------------------------------------
MODES=()    # mode keys, in the order of the report
declare -A LABEL CMD SHOW TIMES STATUS
FAILED=0
NOTES=()
ORDER_LOG=() # "rep key seconds" of every run, in the order they ran

# Human-readable command line: quote only the words that need it.
show_cmd() {
  local out="" w
  for w in "$@"; do
    if [[ $w =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      out+=" $w"
    else
      out+=" '${w//\'/\'\\\'\'}'"
    fi
  done
  out=${out# }
  printf '%s' "${out//$REPO_ROOT\//}"
}

add_mode() { # key, label, command...
  local key=$1 label=$2
  shift 2
  MODES+=("$key")
  LABEL[$key]=$label
  CMD[$key]=$(printf '%q ' "$@")
  CMD[$key]=${CMD[$key]% }
  SHOW[$key]=$(show_cmd "$@")
  TIMES[$key]=""
  STATUS[$key]=ok
}

fail_mode() { # key, reason; a failed run keeps the logs
  STATUS[$1]=$2
  FAILED=1
  KEEP=1
  note "  FAILED: $2"
}

# --- measuring -------------------------------------------------------------------
# timed_run KEY REP LOG COMMAND...: runs COMMAND in $SUITE, its output to LOG, and
# records "REP KEY seconds" in ORDER_LOG; sets SECS. A failed run fails mode KEY (with
# the tail of its log) and returns 1.
timed_run() {
  local key=$1 rep=$2 log=$3 start rc
  shift 3
  note "[run $rep/$RUNS] ${LABEL[$key]}"
  start=$(date +%s.%N)
  set +e
  (cd "$SUITE" && exec "$@") >"$log" 2>&1 </dev/null
  rc=$?
  set -e
  SECS=$(elapsed "$start")
  ORDER_LOG+=("$rep $key $SECS")
  if [[ $rc -ne 0 ]]; then
    fail_mode "$key" "failed: exit $rc in run $rep (log: $log)"
    show_tail "$log"
    return 1
  fi
}

elapsed() { # start (date +%s.%N) -> seconds since then, 3 decimals
  awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'
}

less_than() { # a b: true if a < b
  awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'
}

ratio() { # a b -> a / b with 2 decimals
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

show_tail() { # log: its last 20 lines on stderr
  tail -n 20 "$1" | sed 's/^/    | /' >&2
}

rspec_summary() { # log -> rspec's last "N examples, M failures" line, or nothing
  grep -E '^[0-9]+ examples?, [0-9]+ failures?' "$1" | tail -n 1 || true
}

# After testbot's first run on SUITE: note it if it left no runtime history.
check_tb_history() {
  if [[ ${STATUS[tb_first]} == ok && ! -s $SUITE/$TB_LOG ]]; then
    local msg="testbot left no $TB_LOG after its first run: the 'with history' row ran without history"
    [[ " ${NOTES[*]-} " == *"$msg"* ]] || NOTES+=("$msg")
    note "  note: $msg"
  fi
}

# After a parallel_rspec run without a log (which one: $1): fail the runtime
# mode unless the run recorded every file.
check_pr_log() {
  local n
  if [[ ${STATUS[pr_runtime]} == ok ]]; then
    n=0
    [[ -f $SUITE/$PR_LOG ]] && n=$(grep -c ':' "$SUITE/$PR_LOG" || true)
    if [[ $n -ne $FILES ]]; then
      fail_mode pr_runtime "no usable runtime log: $PR_LOG has $n of $FILES files after $1"
    fi
  fi
}

# alternate 'command a' 'command b': RUNS repetitions of both, each given the
# repetition number; which goes first alternates so slow drifts hit both alike.
alternate() {
  local rep
  local -a a b
  read -r -a a <<<"$1"
  read -r -a b <<<"$2"
  for ((rep = 1; rep <= RUNS; rep++)); do
    if ((rep % 2 == 1)); then
      "${a[@]}" "$rep"
      "${b[@]}" "$rep"
    else
      "${b[@]}" "$rep"
      "${a[@]}" "$rep"
    fi
  done
}

# --- report ----------------------------------------------------------------------
stats() { # "t1 t2 ..." -> "n median min max"
  # shellcheck disable=SC2086 # split the list on purpose
  printf '%s\n' $1 | sort -g | awk '
    NF { v[++n] = $1 }
    END {
      if (n == 0) { print "0 - - -"; exit }
      m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
      printf "%d %.2f %.2f %.2f\n", n, m, v[1], v[n]
    }'
}

median_of() { # key -> the median of its runs with 3 decimals, or nothing when it has none
  # shellcheck disable=SC2086 # split the list on purpose
  printf '%s\n' ${TIMES[$1]} | sort -g | awk '
    NF { v[++n] = $1 }
    END { if (n) printf "%.3f", (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}

side_by_side() { # key_a key_b text: "text: **a ÷ b** (median a s ÷ median b s)." when both ran
  local a b
  a=$(median_of "$1")
  b=$(median_of "$2")
  if [[ -n $a && -n $b ]]; then
    echo "$3: **$(ratio "$a" "$b")** (median $a s ÷ median $b s)."
  fi
}

load_average() { # the 1, 5 and 15 minute load averages
  cut -d' ' -f1-3 /proc/loadavg
}

machine() {
  local os mem
  # shellcheck disable=SC1091
  os=$(. /etc/os-release 2>/dev/null && printf '%s' "${PRETTY_NAME:-unknown OS}") || os="unknown OS"
  mem=$(awk '/^MemTotal:/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || echo "? GB")
  printf '%s cores, %s, %s' "$(nproc 2>/dev/null || echo '?')" "$mem" "$os"
}

report_head() { # title: the heading, date and machine
  echo "## $1"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(machine)"
}

ruby_tools() { # "ruby X, rspec Y, parallel_tests Z"
  printf '%s, rspec %s, parallel_tests %s' \
    "$(ruby -e 'print RUBY_DESCRIPTION.split(" ")[0, 2].join(" ")')" \
    "$(rspec --version 2>/dev/null | awk '/rspec-core/ { print $NF; exit } NR == 1 && /^[0-9]/ { print; exit }')" \
    "$(parallel_rspec -v 2>/dev/null)"
}

testbot_version() {
  "$TESTBOT" --version 2>/dev/null | head -n 1 | sed 's/^testbot //' || echo '(no --version)'
}

suite_lines() { # the synthetic suite and its ideal at SLOTS slots
  echo "- Suite: $FILES files, $EXAMPLES examples, total ${SUITE_WORK:-sleep} ${SUM} s, longest file ${LONGEST} s"
  echo "- Ideal at $SLOTS slots: max(total / slots, longest file) = max($(awk -v t="$SUM" -v s="$SLOTS" 'BEGIN { printf "%.3f", t / s }'), $LONGEST) = **${IDEAL} s**"
}

table() { # with_ideal(0|1) keys...
  local with_ideal=$1 key n med min max
  shift
  if ((with_ideal)); then
    echo "| Mode | Runs | Median wall (s) | Min (s) | Max (s) | Median ÷ ideal |"
    echo "|---|---:|---:|---:|---:|---:|"
  else
    echo "| Mode | Runs | Median wall (s) | Min (s) | Max (s) |"
    echo "|---|---:|---:|---:|---:|"
  fi
  for key in "$@"; do
    read -r n med min max < <(stats "${TIMES[$key]}")
    if [[ $n -gt 0 ]]; then
      if ((with_ideal)); then
        echo "| ${LABEL[$key]} | $n | $med | $min | $max | $(ratio "$med" "$IDEAL") |"
      else
        echo "| ${LABEL[$key]} | $n | $med | $min | $max |"
      fi
    else
      echo "| ${LABEL[$key]} | 0 | ${STATUS[$key]} | | |$( ((with_ideal)) && echo ' |')"
    fi
  done
}

problem_lines() { # one line per mode that failed after some good runs, then the notes
  local key msg
  for key in "${MODES[@]}"; do
    if [[ ${STATUS[$key]} != ok && -n ${TIMES[$key]} ]]; then
      echo "- ${LABEL[$key]}: ${STATUS[$key]}"
    fi
  done
  for msg in "${NOTES[@]-}"; do
    [[ -z $msg ]] || echo "- Note: $msg"
  done
}

commands() { # intro: the command of every mode
  local key
  echo "$1"
  echo
  for key in "${MODES[@]}"; do
    echo "- ${LABEL[$key]}: \`${SHOW[$key]}\`"
  done
}

# raw_times WIDTH KEY...: every run in ORDER_LOG, mode names padded to WIDTH;
# the runs of the modes KEY... also get their time ÷ IDEAL.
raw_times() {
  local width=$1 line rep key secs
  shift
  echo '```'
  for line in "${ORDER_LOG[@]-}"; do
    [[ -n $line ]] || continue
    read -r rep key secs <<<"$line"
    if [[ " $* " == *" $key "* ]]; then
      awk -v r="$rep" -v k="$key" -v s="$secs" -v i="$IDEAL" -v w="$width" 'BEGIN { printf "%s %-" w "s %8.3f %6.3f\n", r, k, s, s / i }'
    else
      awk -v r="$rep" -v k="$key" -v s="$secs" -v w="$width" 'BEGIN { printf "%s %-" w "s %8.3f\n", r, k, s }'
    fi
  done
  echo '```'
}

exit_if_failed() { # message
  if [[ $FAILED == 1 ]]; then
    note "$1"
    exit 1
  fi
}

# Runs one measurement of mode KEY (repetition REP) of the synthetic suite in its directory, for
# local.sh and cpu.sh (globals: STATUS, CMD, LOGS, LONGEST, EXAMPLES, IDEAL, TIMES): it must not
# beat the longest file, and an rspec-based run must report every example.
measure_makespan() {
  local key=$1 rep=$2 log secs last
  [[ ${STATUS[$key]} == ok ]] || return 0
  log=$LOGS/$key-$rep.log
  local -a cmd
  eval "cmd=(${CMD[$key]})"
  timed_run "$key" "$rep" "$log" "${cmd[@]}" || return 0
  secs=$SECS
  # Sanity checks: nothing can beat the longest file, and rspec-based runs
  # must report every example (parallel_rspec's last summary line is the sum).
  if less_than "$secs" "$LONGEST"; then
    fail_mode "$key" "invalid: run $rep took $secs s, less than the longest file ($LONGEST s); did it run the suite? (log: $log)"
    return 0
  fi
  if [[ $key == pr_* || $key == serial ]]; then
    last=$(rspec_summary "$log")
    if [[ $last != "$EXAMPLES examples, 0 failures"* ]]; then
      fail_mode "$key" "invalid: run $rep reported '${last:-no summary}', expected $EXAMPLES examples, 0 failures (log: $log)"
      return 0
    fi
  fi
  TIMES[$key]+="$secs "
  note "  $secs s ($(ratio "$secs" "$IDEAL") x ideal)"
}
