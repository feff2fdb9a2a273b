#!/usr/bin/env bash
# Local benchmark: testbot vs parallel_rspec on a synthetic sleep-bound suite.
#
#   bench/local.sh [SLOTS] [FILES] [TOTAL_SECONDS]        (defaults: 8 200 80)
#
# Environment:
#   RUNS=3          repetitions per mode (the modes are interleaved per repetition)
#   TESTBOT=path    testbot binary (default: <repo>/target/release/testbot);
#                   the testbot rows are skipped with a note if it does not exist
#   TESTBOT_ARGS=   extra arguments appended to the testbot command line
#   SERIAL=1        also time one serial `rspec` run (takes TOTAL_SECONDS; off by default)
#   SEED=42         seed for bench/gen-synthetic.rb
#   KEEP=1          keep the temporary directory (suite + per-run logs); it is
#                   kept automatically when a run fails
#
# The markdown report goes to stdout, progress to stderr:
#   bench/local.sh > report.md
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)

usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
  printf 'local.sh: error: %s\n' "$*" >&2
  exit 1
}

note() {
  printf '%s\n' "$*" >&2
}

case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
esac
[[ $# -le 3 ]] || {
  usage >&2
  exit 2
}

SLOTS=${1:-8}
FILES=${2:-200}
TOTAL=${3:-80}
RUNS=${RUNS:-3}
SERIAL=${SERIAL:-0}
SEED=${SEED:-42}
KEEP=${KEEP:-0}
TESTBOT=${TESTBOT:-$REPO_ROOT/target/release/testbot}
TESTBOT_ARGS=${TESTBOT_ARGS:-}

[[ $SLOTS =~ ^[1-9][0-9]*$ ]] || die "SLOTS must be a positive integer, got '$SLOTS'"
[[ $FILES =~ ^[1-9][0-9]*$ ]] || die "FILES must be a positive integer, got '$FILES'"
[[ $TOTAL =~ ^[0-9]+([.][0-9]+)?$ ]] || die "TOTAL_SECONDS must be a number, got '$TOTAL'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
[[ $SEED =~ ^[0-9]+$ ]] || die "SEED must be a non-negative integer, got '$SEED'"

need() { # command, Debian package
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found; install it with: apt-get install -y $2"
}
need ruby ruby
need rspec ruby-rspec
need parallel_rspec ruby-parallel-tests
need awk mawk
need date coreutils

# Relative TESTBOT paths are taken relative to the caller's directory.
[[ $TESTBOT == /* ]] || TESTBOT="$PWD/$TESTBOT"
HAVE_TESTBOT=0
if [[ -x $TESTBOT && -f $TESTBOT ]]; then
  HAVE_TESTBOT=1
else
  note "note: testbot binary not found at $TESTBOT; skipping the testbot rows (build it with 'cargo build --release' or set TESTBOT=)"
fi
read -r -a TESTBOT_EXTRA <<<"$TESTBOT_ARGS"

# The suite has no Gemfile: make sure nothing drags bundler or an outer
# parallel run into it.
export PARALLEL_TESTS_EXECUTABLE=rspec
unset TEST_ENV_NUMBER PARALLEL_TEST_GROUPS PARALLEL_PID_FILE SPEC_OPTS BUNDLE_GEMFILE RUBYOPT
export LC_ALL=C

WORK=$(mktemp -d "${TMPDIR:-/tmp}/testbot-bench.XXXXXX")
SUITE=$WORK/suite
LOGS=$WORK/logs
mkdir -p "$SUITE" "$LOGS"
cleanup() {
  if [[ $KEEP == 1 ]]; then
    note "kept $WORK (suite in suite/, one log per run in logs/)"
  else
    rm -rf -- "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the suite -----------------------------------------------------------------
ruby "$SCRIPT_DIR/gen-synthetic.rb" "$SUITE" --files "$FILES" --total "$TOTAL" --seed "$SEED" >&2
DURATIONS=$SUITE/durations.txt
read -r SUM LONGEST IDEAL < <(awk -v s="$SLOTS" '
  { t += $2; if ($2 > m) m = $2 }
  END { i = t / s; if (m > i) i = m; printf "%.3f %.3f %.3f\n", t, m, i }' "$DURATIONS")
EXAMPLES=$(cat "$SUITE"/spec/*/*_spec.rb | grep -c '^  it "')

TB_LOG=tmp/testbot-runtime-rspec.log
PR_LOG=tmp/parallel_runtime_rspec.log
# parallel_tests 4.1 records runtimes through an RSpec formatter (see its
# README); -o passes it to every rspec process. Both parallel_rspec modes
# record, so the runtime mode always uses the log of the previous
# parallel_rspec run, as a CI setup with the logger in .rspec_parallel would.
PR_RECORD="--format progress --format ParallelTests::RSpec::RuntimeLogger --out $PR_LOG"

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

MODES=()
declare -A LABEL CMD SHOW TIMES STATUS
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
add_mode tb_first "testbot, first run (no runtime history)" \
  "$TESTBOT" -n "$SLOTS" --no-bundler "${TESTBOT_EXTRA[@]}"
add_mode tb_hist "testbot, with runtime history" \
  "$TESTBOT" -n "$SLOTS" --no-bundler "${TESTBOT_EXTRA[@]}"
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

FAILED=0
NOTES=()
ORDER_LOG=()

fail_mode() { # key, reason
  STATUS[$1]=$2
  FAILED=1
  KEEP=1
  note "  FAILED: $2"
}

# Runs one measurement of mode KEY (repetition REP) in the suite directory.
measure() {
  local key=$1 rep=$2 log start end secs rc last
  [[ ${STATUS[$key]} == ok ]] || return 0
  log=$LOGS/$key-$rep.log
  local -a cmd
  eval "cmd=(${CMD[$key]})"
  note "[run $rep/$RUNS] ${LABEL[$key]}"
  start=$(date +%s.%N)
  set +e
  (cd "$SUITE" && exec "${cmd[@]}") >"$log" 2>&1 </dev/null
  rc=$?
  set -e
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  ORDER_LOG+=("$rep $key $secs")
  if [[ $rc -ne 0 ]]; then
    fail_mode "$key" "failed: exit $rc in run $rep (log: $log)"
    tail -n 20 "$log" | sed 's/^/    | /' >&2
    return 0
  fi
  # Sanity checks: nothing can beat the longest file, and rspec-based runs
  # must report every example (parallel_rspec's last summary line is the sum).
  if awk -v s="$secs" -v l="$LONGEST" 'BEGIN { exit !(s < l) }'; then
    fail_mode "$key" "invalid: run $rep took $secs s, less than the longest file ($LONGEST s); did it run the suite? (log: $log)"
    return 0
  fi
  if [[ $key == pr_* || $key == serial ]]; then
    last=$(grep -E '^[0-9]+ examples?, [0-9]+ failures?' "$log" | tail -n 1 || true)
    if [[ $last != "$EXAMPLES examples, 0 failures"* ]]; then
      fail_mode "$key" "invalid: run $rep reported '${last:-no summary}', expected $EXAMPLES examples, 0 failures (log: $log)"
      return 0
    fi
  fi
  TIMES[$key]+="$secs "
  note "  $secs s ($(awk -v s="$secs" -v i="$IDEAL" 'BEGIN { printf "%.2f", s / i }') x ideal)"
}

testbot_pair() {
  local rep=$1
  rm -f -- "$SUITE/$TB_LOG"
  measure tb_first "$rep"
  if [[ ${STATUS[tb_first]} == ok && ! -s $SUITE/$TB_LOG ]]; then
    local msg="testbot left no $TB_LOG after its first run: the 'with history' row ran without history"
    [[ " ${NOTES[*]-} " == *"$msg"* ]] || NOTES+=("$msg")
    note "  note: $msg"
  fi
  measure tb_hist "$rep"
}

parallel_pair() {
  local rep=$1 n
  rm -f -- "$SUITE/$PR_LOG"
  measure pr_size "$rep"
  if [[ ${STATUS[pr_runtime]} == ok ]]; then
    n=0
    [[ -f $SUITE/$PR_LOG ]] && n=$(grep -c ':' "$SUITE/$PR_LOG" || true)
    if [[ $n -ne $FILES ]]; then
      fail_mode pr_runtime "no usable runtime log: $PR_LOG has $n of $FILES files after the file-size run"
      return 0
    fi
  fi
  measure pr_runtime "$rep"
}

note "suite: $FILES files, $EXAMPLES examples, total ${SUM} s, longest ${LONGEST} s; $SLOTS slots -> ideal ${IDEAL} s; $RUNS runs per mode"
for ((rep = 1; rep <= RUNS; rep++)); do
  # Alternate which tool goes first so slow drifts hit both alike.
  if ((rep % 2 == 1)); then
    testbot_pair "$rep"
    parallel_pair "$rep"
  else
    parallel_pair "$rep"
    testbot_pair "$rep"
  fi
done
if [[ $SERIAL == 1 ]]; then
  measure serial 1
fi

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

machine() {
  local os mem
  # shellcheck disable=SC1091
  os=$(. /etc/os-release 2>/dev/null && printf '%s' "${PRETTY_NAME:-unknown OS}") || os="unknown OS"
  mem=$(awk '/^MemTotal:/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || echo "? GB")
  printf '%s cores, %s, %s' "$(nproc 2>/dev/null || echo '?')" "$mem" "$os"
}

{
  echo "## Local: synthetic sleep-bound suite vs parallel_rspec"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(machine)"
  echo "- Tools: $(ruby -e 'print RUBY_DESCRIPTION.split(" ")[0, 2].join(" ")'), rspec $(rspec --version 2>/dev/null | awk '/rspec-core/ { print $NF; exit } NR == 1 && /^[0-9]/ { print; exit }'), parallel_tests $(parallel_rspec -v 2>/dev/null), testbot $(if [[ $HAVE_TESTBOT == 1 ]]; then "$TESTBOT" --version 2>/dev/null | head -n 1 | sed "s/^testbot //" || echo '(no --version)'; else echo '(not built)'; fi)"
  echo "- Command: \`bench/local.sh $SLOTS $FILES $TOTAL\` (RUNS=$RUNS, SEED=$SEED$([[ $SERIAL == 1 ]] && echo ', SERIAL=1'))"
  echo "- Suite: $FILES files, $EXAMPLES examples, total sleep ${SUM} s, longest file ${LONGEST} s"
  echo "- Ideal at $SLOTS slots: max(total / slots, longest file) = max($(awk -v t="$SUM" -v s="$SLOTS" 'BEGIN { printf "%.3f", t / s }'), $LONGEST) = **${IDEAL} s**"
  echo
  echo "| Mode | Runs | Median wall (s) | Min (s) | Max (s) | Median ÷ ideal |"
  echo "|---|---:|---:|---:|---:|---:|"
  for key in "${MODES[@]}"; do
    read -r n med min max < <(stats "${TIMES[$key]}")
    if [[ $n -gt 0 ]]; then
      ratio=$(awk -v m="$med" -v i="$IDEAL" 'BEGIN { printf "%.2f", m / i }')
      echo "| ${LABEL[$key]} | $n | $med | $min | $max | $ratio |"
    else
      echo "| ${LABEL[$key]} | 0 | ${STATUS[$key]} | | | |"
    fi
  done
  echo
  for key in "${MODES[@]}"; do
    if [[ ${STATUS[$key]} != ok && -n ${TIMES[$key]} ]]; then
      echo "- ${LABEL[$key]}: ${STATUS[$key]}"
    fi
  done
  for msg in "${NOTES[@]-}"; do
    [[ -n $msg ]] && echo "- Note: $msg"
  done
  echo
  echo "Commands (run in the suite directory; before each \"first run\" / \"no runtime log\" run the tool's log is deleted):"
  echo
  for key in "${MODES[@]}"; do
    echo "- ${LABEL[$key]}: \`${SHOW[$key]}\`"
  done
  echo
  echo "Raw wall times in seconds, in the order they ran (repetition, mode, seconds, ÷ ideal):"
  echo
  echo '```'
  for line in "${ORDER_LOG[@]-}"; do
    [[ -n $line ]] || continue
    read -r rep key secs <<<"$line"
    awk -v r="$rep" -v k="$key" -v s="$secs" -v i="$IDEAL" 'BEGIN { printf "%s %-10s %8.3f %6.3f\n", r, k, s, s / i }'
  done
  echo '```'
}

if [[ $FAILED == 1 ]]; then
  note "local.sh: some runs failed or were invalid; see the table and $LOGS"
  exit 1
fi
