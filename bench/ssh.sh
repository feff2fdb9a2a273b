#!/usr/bin/env bash
# SSH benchmark: testbot over real sshd hosts on 127.0.0.1 vs parallel_rspec on this machine.
#
#   bench/ssh.sh [FILES] [TOTAL_SECONDS]        (defaults: 200 80)
#
# Starts HOSTS sshd "hosts" on this machine (one throwaway unix user and one
# unprivileged sshd each, on 127.0.0.1), then measures
#   1. makespan: the synthetic suite on HOSTS x HOST_SLOTS remote slots vs
#      `parallel_rspec -n HOSTS*HOST_SLOTS` locally, both with runtime history;
#   2. fixed overhead: a one-file suite (one example sleeping 0.1 s) over the
#      same, already synced hosts vs `parallel_rspec -n 2` locally.
# Needs root (useradd), openssh-server, openssh-client, util-linux.
#
# Environment:
#   RUNS=3          repetitions per mode after one warm-up run of each tool
#                   (the modes are interleaved per repetition)
#   HOSTS=4         sshd hosts;  HOST_SLOTS=4  testbot slots per host
#   TESTBOT=path    testbot binary (default: <repo>/target/release/testbot)
#   TESTBOT_OLD=path  a second testbot binary, measured side by side with the
#                   first in the same repetitions (its own copy of each suite,
#                   so the two share no remote copy and no history): its rows
#                   are marked "(TESTBOT_OLD)"
#   PARTS=makespan,one  which parts run: the makespan, the fixed overhead
#   TESTBOT_ARGS=   extra arguments appended to the testbot command line
#   SEED=42         seed for bench/gen-synthetic.rb
#   RUN_TIMEOUT=600 seconds one run may take before it is killed (and fails)
#   KEEP=1          keep the per-run logs (copied out before the temporary
#                   directory is removed); they are kept automatically when a
#                   run or the setup fails, not when interrupted
#
# The markdown report goes to stdout, progress to stderr:
#   sudo bench/ssh.sh > report.md
# Everything it creates (users, sshds and every process of those users, the
# temporary directory) is removed on exit, also on Ctrl-C or SIGTERM.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init ssh.sh 29 2 "$@"

FILES=${1:-200}
TOTAL=${2:-80}
HOSTS=${HOSTS:-4}
HOST_SLOTS=${HOST_SLOTS:-4}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
PARTS=${PARTS:-makespan,one}
part() { [[ ,$PARTS, == *,$1,* ]]; }

check_suite_settings
positive HOSTS "$HOSTS"
positive HOST_SLOTS "$HOST_SLOTS"
check_seed
positive RUN_TIMEOUT "$RUN_TIMEOUT"
SLOTS=$((HOSTS * HOST_SLOTS))

[[ $EUID -eq 0 ]] || die "must run as root: it creates one unix user per sshd host (useradd)"

need_ruby_tools
# shellcheck source-path=SCRIPTDIR source=hosts.sh
. "$SCRIPT_DIR/hosts.sh"
need_host_tools

testbot_built || die "testbot binary not found at $TESTBOT (build it with 'cargo build --release' or set TESTBOT=)"

clean_env
unset SSH_AUTH_SOCK # the logins use the bench's own key only

trap_exits
trap 'exit 129' HUP

start_hosts
SUITE=$WORK/suite
SUITE1=$WORK/suite1
mkdir -p "$SUITE" "$SUITE1/spec"

# --- the suites ----------------------------------------------------------------------

gen_suite
write_inventory "$SUITE/testbot.toml" "$HOST_SLOTS"

ONE_SLEEP=0.1
cat >"$SUITE1/spec/one_spec.rb" <<EOF
# frozen_string_literal: true

# bench/ssh.sh: one file, one example, to measure a tool's fixed cost.
RSpec.describe "One" do
  it "sleeps $ONE_SLEEP s" do
    sleep $ONE_SLEEP
    expect(1).to eq(1)
  end
end
EOF
write_inventory "$SUITE1/testbot.toml" "$HOST_SLOTS"
# TESTBOT_OLD's own copies: another project root, so another remote copy and history.
SUITE_OLD=$WORK/suite-old
SUITE1_OLD=$WORK/suite1-old
if [[ -n $TESTBOT_OLD ]]; then
  cp -a "$SUITE" "$SUITE_OLD"
  cp -a "$SUITE1" "$SUITE1_OLD"
fi

# `testbot hosts` must find every host usable before anything is timed.
if ! "$TESTBOT" hosts -C "$SUITE" >"$LOGS/testbot-hosts.log" 2>&1 </dev/null; then
  sed 's/^/    | /' "$LOGS/testbot-hosts.log" >&2
  FAILED=1
  die "testbot hosts: not every host is usable"
fi
sed 's/^/  /' "$LOGS/testbot-hosts.log" >&2

# --- measuring -------------------------------------------------------------------------
declare -A DIR KIND
add_ssh_mode() { # key, kind (tb|pr), suite dir, label, command...
  KIND[$1]=$2
  DIR[$1]=$3
  local key=$1 label=$4
  shift 4
  add_mode "$key" "$label" "$@"
}
add_ssh_mode tb_first tb "$SUITE" "testbot, very first run (no history, first copy to the hosts, cold caches; warm-up)" \
  "$TESTBOT" --no-bundler "${TESTBOT_EXTRA[@]}"
add_ssh_mode tb_nohist tb "$SUITE" "testbot, first run (no runtime history; hosts synced)" \
  "$TESTBOT" --no-bundler "${TESTBOT_EXTRA[@]}"
add_ssh_mode tb_hist tb "$SUITE" "testbot, with runtime history" \
  "$TESTBOT" --no-bundler "${TESTBOT_EXTRA[@]}"
add_ssh_mode pr_first pr "$SUITE" "parallel_rspec -n $SLOTS, no runtime log (file-size groups)" \
  parallel_rspec -n "$SLOTS" -o "$PR_RECORD" spec
add_ssh_mode pr_runtime pr "$SUITE" "parallel_rspec -n $SLOTS --group-by runtime (log of the previous run)" \
  parallel_rspec -n "$SLOTS" --group-by runtime --runtime-log "$PR_LOG" -o "$PR_RECORD" spec
add_ssh_mode one_tb_first tb "$SUITE1" "testbot, first run (syncs the suite; warm-up)" \
  "$TESTBOT" --no-bundler "${TESTBOT_EXTRA[@]}"
add_ssh_mode one_tb tb "$SUITE1" "testbot, hosts already synced" \
  "$TESTBOT" --no-bundler "${TESTBOT_EXTRA[@]}"
add_ssh_mode one_pr_first pr "$SUITE1" "parallel_rspec -n 2, first run (warm-up)" \
  parallel_rspec -n 2 spec
add_ssh_mode one_pr pr "$SUITE1" "parallel_rspec -n 2" \
  parallel_rspec -n 2 spec
MAKESPAN_MODES=(tb_first tb_nohist tb_hist pr_first pr_runtime)
ONE_MODES=(one_tb_first one_tb one_pr_first one_pr)
if [[ -n $TESTBOT_OLD ]]; then
  old=$(old_label)
  add_ssh_mode tb_first_old tb "$SUITE_OLD" "testbot $old, very first run (warm-up)" \
    "$TESTBOT_OLD" --no-bundler "${TESTBOT_EXTRA[@]}"
  add_ssh_mode tb_nohist_old tb "$SUITE_OLD" "testbot $old, first run (no runtime history; hosts synced)" \
    "$TESTBOT_OLD" --no-bundler "${TESTBOT_EXTRA[@]}"
  add_ssh_mode tb_hist_old tb "$SUITE_OLD" "testbot $old, with runtime history" "$TESTBOT_OLD" --no-bundler "${TESTBOT_EXTRA[@]}"
  add_ssh_mode one_tb_first_old tb "$SUITE1_OLD" "testbot $old, first run (syncs the suite; warm-up)" \
    "$TESTBOT_OLD" --no-bundler "${TESTBOT_EXTRA[@]}"
  add_ssh_mode one_tb_old tb "$SUITE1_OLD" "testbot $old, hosts already synced" "$TESTBOT_OLD" --no-bundler "${TESTBOT_EXTRA[@]}"
  MAKESPAN_MODES=(tb_first tb_nohist tb_hist tb_first_old tb_nohist_old tb_hist_old pr_first pr_runtime)
  ONE_MODES=(one_tb_first one_tb one_tb_first_old one_tb_old one_pr_first one_pr)
fi

# Runs one measurement of mode KEY (repetition REP, 0 = warm-up) in its suite.
measure() {
  local key=$1 rep=$2 log start secs rc last files examples floor what want
  [[ ${STATUS[$key]} == ok ]] || return 0
  log=$LOGS/$key-$rep.log
  local -a cmd
  eval "cmd=(${CMD[$key]})"
  if ((rep == 0)); then what="warm-up"; else what="run $rep/$RUNS"; fi
  note "[$what] ${LABEL[$key]}"
  start=$(date +%s.%N)
  # timeout puts the command in a process group of its own, which the
  # cleanup can end as a whole.
  (cd "${DIR[$key]}" && exec timeout -k 5 "$RUN_TIMEOUT" "${cmd[@]}") >"$log" 2>&1 </dev/null &
  RUN_PID=$!
  set +e
  wait "$RUN_PID"
  rc=$?
  set -e
  RUN_PID=""
  secs=$(elapsed "$start")
  ORDER_LOG+=("$rep $key $secs")
  if [[ ${DIR[$key]} == "$SUITE" || ${DIR[$key]} == "$SUITE_OLD" ]]; then
    files=$FILES examples=$EXAMPLES floor=$LONGEST
  else
    files=1 examples=1 floor=$ONE_SLEEP
  fi
  if [[ $rc -ne 0 ]]; then
    [[ $rc -eq 124 ]] && rc="124 (killed after RUN_TIMEOUT=$RUN_TIMEOUT s)"
    fail_mode "$key" "failed: exit $rc in run $rep (log: logs/${log##*/})"
    show_tail "$log"
    return 0
  fi
  if less_than "$secs" "$floor"; then
    fail_mode "$key" "invalid: run $rep took $secs s, less than the longest file ($floor s); did it run the suite? (log: logs/${log##*/})"
    return 0
  fi
  if [[ ${KIND[$key]} == tb ]]; then
    # testbot: "PASSED [  5.12s] 200 files on 16 slots: 349 examples, 0 failures",
    # and no host left out.
    last=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(PASSED|FAILED|INTERRUPTED) ' | tail -n 1 || true)
    want="^PASSED .* $files files? on $SLOTS slots?: $examples examples?, 0 failures"
    if [[ ! $last =~ $want ]]; then
      fail_mode "$key" "invalid: run $rep did not print PASSED for $files files on $SLOTS slots with $examples examples, 0 failures; its summary: '${last:-none}' (log: logs/${log##*/})"
      show_tail "$log"
      return 0
    fi
    if grep -q 'is left out of this run' "$log"; then
      fail_mode "$key" "invalid: a host was left out in run $rep (log: logs/${log##*/})"
      grep 'is left out of this run' "$log" | sed 's/^/    | /' >&2
      return 0
    fi
  else
    last=$(rspec_summary "$log")
    if [[ $last != "$examples example"*", 0 failures"* ]]; then
      fail_mode "$key" "invalid: run $rep reported '${last:-no summary}', expected $examples examples, 0 failures (log: logs/${log##*/})"
      return 0
    fi
  fi
  TIMES[$key]+="$secs "
  if [[ ${DIR[$key]} == "$SUITE" || ${DIR[$key]} == "$SUITE_OLD" ]]; then
    note "  $secs s ($(ratio "$secs" "$IDEAL") x ideal)"
  else
    note "  $secs s"
  fi
}

note "suite: $FILES files, $EXAMPLES examples, total ${SUM} s, longest ${LONGEST} s; $HOSTS hosts x $HOST_SLOTS slots = $SLOTS slots -> ideal ${IDEAL} s; $RUNS runs per mode after one warm-up each"

# 1. Makespan. Warm-up: testbot's very first run copies the suite to every host
# (and fills their caches). Then, per repetition, each tool without its runtime
# log and with the log that run left.
testbot_pair() { history_pair measure tb_nohist tb_hist "$1"; }
parallel_pair() {
  rm -f -- "$SUITE/$PR_LOG"
  measure pr_first "$1"
  check_pr_log "the file-size run"
  measure pr_runtime "$1"
}
if part makespan; then
  rm -rf -- "${SUITE:?}/tmp" "${SUITE_OLD:?}/tmp"
  measure tb_first 0
  [[ -z $TESTBOT_OLD ]] || measure tb_first_old 0
  alternate testbot_pair parallel_pair
fi

# 2. Fixed overhead: one file, one 0.1 s example.
one_tb_pair() { in_turn "$1" 'measure one_tb' 'measure one_tb_old'; }
if part one; then
  measure one_tb_first 0
  [[ -z $TESTBOT_OLD ]] || measure one_tb_first_old 0
  measure one_pr_first 0
  alternate one_tb_pair 'measure one_pr'
fi

# --- report ----------------------------------------------------------------------
{
  report_head "SSH: $HOSTS sshd hosts on 127.0.0.1 vs parallel_rspec"
  echo "- Tools: $(ruby_tools), $(ssh -V 2>&1 | awk -F, '{ print $1; exit }'), testbot $(testbot_version)"
  echo "- Command: \`bench/ssh.sh $FILES $TOTAL\` (RUNS=$RUNS, HOSTS=$HOSTS, HOST_SLOTS=$HOST_SLOTS, SEED=$SEED)"
  echo "- Hosts: $HOSTS unprivileged sshds on 127.0.0.1 (one unix user each, ed25519 host keys, strict known_hosts), $HOST_SLOTS testbot slots each, no local slots; set up in $SETUP_SECS s. They share this machine's cores with each other and with testbot itself: the figures show what SSH, the per-run sync of the project (incremental: only what changed) and remote processes cost, not extra capacity."
  echo
  if part makespan; then
    echo "### Makespan: synthetic sleep-bound suite, $SLOTS slots"
    echo
    suite_lines
    echo "- testbot ran once as a warm-up (no runtime history, first copy to the hosts, their fork servers' compiled-code caches empty: one run, its own row). Then $RUNS repetitions, alternating which tool goes first: each tool once without its runtime log (deleted first) and once with the log that run left. Every testbot run syncs the project to every host first (after the warm-up, nothing has changed: a probe per host)."
    echo
    table 1 "${MAKESPAN_MODES[@]}"
    echo
    side_by_side tb_hist pr_runtime "testbot over SSH with history ÷ local parallel_rspec with its runtime log"
    echo
    side_by_side tb_nohist pr_first "testbot over SSH without history ÷ local parallel_rspec without its runtime log"
    echo
    if [[ -n $TESTBOT_OLD ]]; then
      side_by_side tb_hist tb_hist_old "testbot ÷ TESTBOT_OLD, with history"
      echo
      side_by_side tb_nohist tb_nohist_old "testbot ÷ TESTBOT_OLD, without history"
      echo
    fi
  fi
  if part one; then
    echo "### Fixed overhead: one file, one example sleeping $ONE_SLEEP s"
    echo
    echo "- testbot on the same $HOSTS hosts ($SLOTS slots), after one run that copied this suite to them; \`parallel_rspec -n 2\` on the same file locally. One warm-up each, then $RUNS runs interleaved."
    echo
    table 0 "${ONE_MODES[@]}"
    echo
    side_by_side one_tb one_pr "testbot over SSH ÷ parallel_rspec -n 2, fixed cost of a run"
    echo
    if [[ -n $TESTBOT_OLD ]]; then
      side_by_side one_tb one_tb_old "testbot ÷ TESTBOT_OLD, fixed cost of a run"
      echo
    fi
  fi
  problems=$(problem_lines)
  [[ -z $problems ]] || printf '%s\n\n' "$problems"
  commands "Commands (run in the suite directory, whose testbot.toml lists the $HOSTS hosts; before the makespan warm-ups tmp/ is empty):"
  echo
  echo "Raw wall times in seconds, in the order they ran (repetition, 0 = warm-up; mode; seconds; ÷ ideal for the makespan modes):"
  echo
  raw_times 16 "${MAKESPAN_MODES[@]}"
}

exit_if_failed "ssh.sh: some runs failed or were invalid; see the report and the kept logs"
