#!/usr/bin/env bash
# Faults benchmark: testbot over real sshd hosts on 127.0.0.1 while hosts die.
#
#   bench/faults.sh [SOAK_RUNS] [FILES] [TOTAL_SECONDS]     (defaults: 30 120 40)
#
# Starts HOSTS sshd "hosts" (one throwaway unix user and one unprivileged sshd
# each, see bench/hosts.sh), writes the synthetic sleep-bound suite for
# HOSTS x HOST_SLOTS slots, then runs testbot
#   1. clean: nothing happens (the reference totals);
#   2. kill: every process of host1 (its sshd too) SIGKILLed KILL_AT s in;
#   3. stop: every process of host1 SIGSTOPped STOP_AT s in, continued after;
#   4. ctrl-c: SIGINT to testbot INT_AT s in; 2 s later, every host is checked
#      for processes other than its sshd;
#   5. soak: SOAK_RUNS runs, each with one random fault at a random moment of
#      the run (from 0.3 s to the suite's ideal time, so also during the
#      sync): SIGINT or SIGTERM to testbot, SIGKILL of testbot, every process
#      of a random host SIGKILLed (started again afterwards) or SIGSTOPped
#      (continued afterwards), or one of a random host's fork-server processes:
#      fserver-kill / fserver-stop (its fork server SIGKILLed / SIGSTOPped, continued
#      after the run), keeper-kill (a batch's keeper SIGKILLed), client-kill (a
#      batch's client SIGKILLed); FAULTS="…" picks the kinds. After each: no process of any host user but its
#      sshd may be left within 10 s; `testbot sync` must then leave every
#      host's copy equal to the local tree (`diff -r`: nothing missing or
#      different; files the runs made there may stay); nothing outside the
#      remote dirs in the hosts' homes may have changed; a run that finished
#      (exit 0) reports every file exactly once with the clean totals, and a
#      stopped one (130) reports no file twice. Every run has `--timeout TIMEOUT`; a run
#      that ends more than 2 s past it is counted as late.
#   6. drift: DRIFT_RUNS runs of one spec that checks a fixture file and then
#      changes it in the host's copy (rewritten with the same size, truncated,
#      or removed), as a spec that rewrites a snapshot would: every run must
#      pass (its sync puts the fixture back, no --verify), and after a final
#      `testbot sync` every host's copy must equal the tree.
# For each run it prints the exit code, the wall time, and how many files of
# the suite were lost (not in the JSON report) and duplicated (in it twice),
# and whether the example totals equal the clean run's. Needs root.
#
# Environment:
#   HOSTS=4  HOST_SLOTS=2    the hosts and testbot's slots on each
#   KILL_AT=2 STOP_AT=2 INT_AT=3   seconds into a run
#   TESTBOT=path     testbot binary (default: <repo>/target/release/testbot)
#   TESTBOT_ARGS=    extra arguments appended to every testbot command line
#   SEED=42          seed for bench/gen-synthetic.rb and the soak's choices
#   RUN_TIMEOUT=300  seconds one run may take before it is killed (and fails)
#   DRIFT_RUNS=10    runs of the drift step (0: none)
#   TIMEOUT=         testbot's --timeout for every run (default: 3 x the ideal time + 40 s,
#                    room for a stopped fork server's 20 s bound on taking a batch)
#   FAULTS="int term tbkill kill stop fserver-kill fserver-stop keeper-kill client-kill"
#                    the soak's fault kinds
#   KEEP=1           keep the per-run logs and reports
#
# The markdown report goes to stdout, progress to stderr:
#   sudo bench/faults.sh > report.md
# Everything it creates is removed on exit, also on Ctrl-C or SIGTERM.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init faults.sh 46 3 "$@"

SOAK_RUNS=${1:-30}
FILES=${2:-120}
TOTAL=${3:-40}
HOSTS=${HOSTS:-4}
HOST_SLOTS=${HOST_SLOTS:-2}
KILL_AT=${KILL_AT:-2}
STOP_AT=${STOP_AT:-2}
INT_AT=${INT_AT:-3}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
DRIFT_RUNS=${DRIFT_RUNS:-10}

positive SOAK_RUNS "$SOAK_RUNS"
check_suite_settings
positive HOSTS "$HOSTS"
positive HOST_SLOTS "$HOST_SLOTS"
check_seed
positive RUN_TIMEOUT "$RUN_TIMEOUT"
((HOSTS >= 2)) || die "HOSTS must be at least 2: one is broken, the others carry on"
SLOTS=$((HOSTS * HOST_SLOTS))

[[ $EUID -eq 0 ]] || die "must run as root: it creates one unix user per sshd host (useradd)"

need_ruby_tools
# shellcheck source-path=SCRIPTDIR source=hosts.sh
. "$SCRIPT_DIR/hosts.sh"
need_host_tools
testbot_built || die "testbot binary not found at $TESTBOT (build it with 'cargo build --release' or set TESTBOT=)"

clean_env
unset SSH_AUTH_SOCK

trap_exits
trap 'exit 129' HUP

start_hosts
SUITE=$WORK/suite
mkdir -p "$SUITE"
gen_suite
TIMEOUT=${TIMEOUT:-$(awk -v i="$IDEAL" 'BEGIN { printf "%d", 3 * i + 40 }')}
positive TIMEOUT "$TIMEOUT"
# Each host's copy, under its home: compared with the suite after every soak run.
REMOTE_DIR=tb-suite
INVENTORY_EXTRA=("[sync]" "remote_dir = \"$REMOTE_DIR\"")
write_inventory "$SUITE/testbot.toml" "$HOST_SLOTS" "${INVENTORY_EXTRA[@]}"
RANDOM=$SEED

# --- host faults ---------------------------------------------------------------------
as_user_signal() { # k signal: to every process of host k's user (procps kill takes -SIG -1, not -s SIG -- -1)
  (cd / && exec env -i /usr/bin/setpriv --reuid="${H_UID[$1]}" --regid="${H_GID[$1]}" --clear-groups -- \
    /bin/kill -"$2" -1) >/dev/null 2>&1 || true
}

# Processes of host k's user other than its sshds.
leftovers() {
  ps -e -o ruid=,stat=,comm= | awk -v u="${H_UID[$1]}" '$1 == u && $2 !~ /^[ZX]/ && $3 != "sshd"' | wc -l
}

# A killed host comes back on a new port: known_hosts and the inventory follow.
restart_host() {
  local k=$1 j kind key
  kill_user "${H_UID[k]}" "${H_GID[k]}" || true
  start_sshd "$k"
  : >"$KNOWN_HOSTS"
  for ((j = 1; j <= HOSTS; j++)); do
    read -r kind key _ <"$WORK/host$j/keys/ssh_host_ed25519_key.pub"
    printf '[127.0.0.1]:%s %s %s\n' "${H_PORT[j]}" "$kind" "$key" >>"$KNOWN_HOSTS"
  done
  write_inventory "$SUITE/testbot.toml" "$HOST_SLOTS" "${INVENTORY_EXTRA[@]}"
}

# Everything in the hosts' homes outside their remote dirs (and sshd's pid file): one digest.
outside_digest() {
  local k
  for ((k = 1; k <= HOSTS; k++)); do
    find "${H_HOME[k]}" -mindepth 1 \( -path "${H_HOME[k]}/$REMOTE_DIR" -o -path "${H_HOME[k]}/sshd.pid" \) -prune \
      -o -printf '%P %y %s %m %T@ %l\n'
  done | LC_ALL=C sort | sha256sum | cut -c1-16
}

# Paths of the suite missing from host k's copy or different there (files the runs made on
# the host, only there, do not count; nor do testbot's own records in tmp/ — runtime, failures,
# examples, flaky and impact: `Project::own_files` — which the sync never sends).
copy_differences() {
  local k=$1
  LC_ALL=C diff -r --no-dereference -x .testbot -x 'testbot-runtime-*.log' -x 'testbot-failures-*.txt' \
    -x 'testbot-examples-*.json' -x 'testbot-flaky-*.json' -x 'testbot-impact-*.json' "$SUITE" "${H_HOME[k]}/$REMOTE_DIR" 2>&1 |
    grep -c -e "^Only in $SUITE" -e '^Files .* differ$' -e '^diff ' -e '^File .* is a ' || true
}

# One of host k's fork-server processes (pid, or nothing): `server` (a testbot_fork.rb whose
# parent is not one), `keeper` (a testbot_fork.rb forked from the server), `client` (a batch's
# testbot_client.rb).
fork_process() {
  ps -e -o pid=,ppid=,ruid=,args= | awk -v u="${H_UID[$1]}" -v want="$2" '
    $3 == u { pid[$1] = $2; fork[$1] = ($0 ~ /testbot_fork\.rb/); client[$1] = ($0 ~ /testbot_client\.rb/) }
    END {
      for (p in pid) {
        if (want == "client" && client[p]) { print p; exit }
        if (want == "server" && fork[p] && !fork[pid[p]]) { print p; exit }
        if (want == "keeper" && fork[p] && fork[pid[p]]) { print p; exit }
      }
    }'
}

fork_signal() { # k which signal: to one of host k's fork-server processes, if there is one
  local pid
  pid=$(fork_process "$1" "$2")
  [[ -n $pid ]] && kill -"$3" "$pid" 2>/dev/null || true
  STOPPED_PID=$pid
}

# --- one run -----------------------------------------------------------------------
# run_once NAME FAULT HOST AT: runs testbot on the suite, does FAULT (none, kill,
# stop, int, term, tbkill) to HOST AT seconds in; sets R_EXIT, R_WALL, R_LOST, R_DUP, R_EX
# and R_LEFT (processes left on the hosts 10 s after the end, or as soon as there are none).
run_once() {
  local name=$1 fault=$2 k=$3 at=$4 report=$LOGS/$1.json log=$LOGS/$1.log start end i
  start=$(date +%s.%N)
  STOPPED_PID=""
  (cd "$SUITE" && exec timeout -s KILL "$RUN_TIMEOUT" "$TESTBOT" --timeout "$TIMEOUT" --report-json "$report" "${TESTBOT_EXTRA[@]}") \
    >"$log" 2>&1 </dev/null &
  RUN_PID=$!
  if [[ $fault != none ]]; then
    sleep "$at"
    case $fault in
      kill) as_user_signal "$k" KILL ;;
      stop) as_user_signal "$k" STOP ;;
      int) pkill -INT -P "$RUN_PID" || true ;;
      term) pkill -TERM -P "$RUN_PID" || true ;;
      tbkill) pkill -KILL -P "$RUN_PID" || true ;;
      fserver-kill) fork_signal "$k" server KILL ;;
      fserver-stop) fork_signal "$k" server STOP ;;
      keeper-kill) fork_signal "$k" keeper KILL ;;
      client-kill) fork_signal "$k" client KILL ;;
    esac
  fi
  R_EXIT=0
  wait "$RUN_PID" || R_EXIT=$?
  RUN_PID=""
  end=$(date +%s.%N)
  R_WALL=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
  [[ $fault == stop ]] && as_user_signal "$k" CONT
  [[ $fault == fserver-stop && -n $STOPPED_PID ]] && { kill -CONT "$STOPPED_PID" 2>/dev/null || true; }
  R_LATE=$(awk -v w="$R_WALL" -v t="$TIMEOUT" 'BEGIN { print (w > t + 2) ? 1 : 0 }')
  local waited
  for ((waited = 0; waited <= 100; waited++)); do
    R_LEFT=0
    for ((i = 1; i <= HOSTS; i++)); do
      R_LEFT=$((R_LEFT + $(leftovers "$i")))
    done
    ((R_LEFT == 0)) && break
    sleep 0.1
  done
  read -r R_LOST R_DUP R_EX < <(ruby -rjson -e '
    files = Dir.chdir(ARGV[0]) { Dir["spec/**/*_spec.rb"] }
    r = (JSON.parse(File.read(ARGV[1])) rescue { "files" => [], "totals" => { "examples" => -1 } })
    paths = r["files"].map { |f| f["path"] }
    lost = files.count { |f| !paths.include?(f) }
    dup = paths.tally.values.sum { |n| n - 1 }
    puts [lost, dup, r["totals"]["examples"]].join(" ")' "$SUITE" "$report")
  [[ $fault == kill ]] && restart_host "$k"
  return 0
}

ROWS=()
row() { # name expected-exit
  local ok=yes
  [[ $R_EXIT == "$2" ]] || ok=NO
  if [[ $2 == 0 ]]; then
    [[ $R_LOST == 0 && $R_DUP == 0 && $R_EX == "$CLEAN_EX" ]] || ok=NO
  fi
  [[ $R_LEFT == 0 ]] || ok=NO
  [[ $ok == yes ]] || FAILED=1
  ROWS+=("| $1 | $R_EXIT | $R_WALL | $R_LOST | $R_DUP | $R_EX | $R_LEFT | $ok |")
  note "  $1: exit $R_EXIT, ${R_WALL} s, lost $R_LOST, duplicated $R_DUP, examples $R_EX, left $R_LEFT -> $ok"
}

note "suite: $FILES files, $EXAMPLES examples, total ${SUM} s; $HOSTS hosts x $HOST_SLOTS slots -> ideal ${IDEAL} s"
# A warm-up run copies the project to every host and writes the runtime history.
run_once warmup none 1 0
CLEAN_EX=$EXAMPLES
run_once clean none 1 0
CLEAN_EX=$R_EX
row clean 0
run_once kill kill 1 "$KILL_AT"
row "host1 killed ${KILL_AT} s in" 0
run_once stop stop 1 "$STOP_AT"
row "host1 stopped ${STOP_AT} s in" 0
run_once int int 1 "$INT_AT"
row "Ctrl-C ${INT_AT} s in" 130

SOAK_LOST=0 SOAK_DUP=0 SOAK_BAD=0 SOAK_LEFT=0 SOAK_DIFF=0 SOAK_OUTSIDE=0 SOAK_SYNC=0 SOAK_WRONG=0 SOAK_LATE=0 SOAK_HITS=0
declare -A SOAK_KIND=()
SOAK_TIMES=()
read -r -a FAULTS <<<"${FAULTS:-int term tbkill kill stop fserver-kill fserver-stop keeper-kill client-kill}"
limit=$(awk -v i="$IDEAL" 'BEGIN { printf "%d", i * 1000 }')
OUTSIDE=$(outside_digest)
for ((n = 1; n <= SOAK_RUNS; n++)); do
  fault=${FAULTS[RANDOM % ${#FAULTS[@]}]}
  k=$((RANDOM % HOSTS + 1))
  at=$(awk -v r="$RANDOM" -v l="$limit" 'BEGIN { printf "%.2f", 0.3 + (r % (l > 0 ? l : 1)) / 1000 }')
  run_once "soak$n" "$fault" "$k" "$at"
  case $fault in
    kill | stop | fserver-kill | fserver-stop | keeper-kill | client-kill) want=0 ;;
    int | term) want=130 ;;
    tbkill) want=137 ;;
  esac
  bad=0
  [[ $R_EXIT == "$want" ]] || bad=1
  if [[ $want == 0 ]]; then
    [[ $R_LOST == 0 && $R_DUP == 0 && $R_EX == "$CLEAN_EX" ]] || bad=1
    SOAK_LOST=$((SOAK_LOST + R_LOST))
    # The suite passes: any other verdict (or total) is a wrong one.
    [[ $R_EXIT == 0 && $R_EX == "$CLEAN_EX" ]] || SOAK_WRONG=$((SOAK_WRONG + 1))
  fi
  ((R_LATE == 0)) || bad=1
  SOAK_LATE=$((SOAK_LATE + R_LATE))
  SOAK_DUP=$((SOAK_DUP + R_DUP))
  SOAK_LEFT=$((SOAK_LEFT + R_LEFT))
  # The next sync brings every host's copy back to the tree, whatever the fault left.
  sync_log=$LOGS/soak$n-sync.log
  if (cd "$SUITE" && exec timeout -s KILL "$RUN_TIMEOUT" "$TESTBOT" sync) >"$sync_log" 2>&1 </dev/null; then :; else
    SOAK_SYNC=$((SOAK_SYNC + 1))
    bad=1
  fi
  diffs=0
  for ((i = 1; i <= HOSTS; i++)); do
    diffs=$((diffs + $(copy_differences "$i")))
  done
  SOAK_DIFF=$((SOAK_DIFF + diffs))
  now=$(outside_digest)
  [[ $now == "$OUTSIDE" ]] || SOAK_OUTSIDE=$((SOAK_OUTSIDE + 1))
  ((diffs == 0)) && [[ $now == "$OUTSIDE" ]] || bad=1
  ((R_LEFT == 0)) || bad=1
  SOAK_BAD=$((SOAK_BAD + bad))
  SOAK_KIND[$fault]=$((${SOAK_KIND[$fault]:-0} + 1))
  hit=""
  if [[ $fault == fserver-* || $fault == keeper-kill || $fault == client-kill ]]; then
    hit=" (no such process then)"
    [[ -n $STOPPED_PID ]] && hit=" (pid $STOPPED_PID)"
  fi
  [[ -n $STOPPED_PID ]] && SOAK_HITS=$((SOAK_HITS + 1))
  note "  soak $n/$SOAK_RUNS: $fault (host$k)$hit at ${at} s: exit $R_EXIT (want $want), ${R_WALL} s$( ((R_LATE)) && echo " (LATE: --timeout $TIMEOUT)"), lost $R_LOST, duplicated $R_DUP, examples $R_EX, left $R_LEFT, copy differences $diffs, outside $( [[ $now == "$OUTSIDE" ]] && echo same || echo CHANGED )"
  OUTSIDE=$now
  SOAK_TIMES+=("$R_WALL")
done
((SOAK_LOST == 0 && SOAK_DUP == 0 && SOAK_BAD == 0 && SOAK_LEFT == 0 && SOAK_WRONG == 0 && SOAK_LATE == 0)) || FAILED=1
# --- drift: a host's copy changed between runs -------------------------------------------
# drift_soak N: adds a spec that passes only while its fixture is as committed and then changes
# the fixture in the copy it ran in (rewritten with the same size, truncated or removed, at
# random), as a spec that rewrites a snapshot would; then runs it N times: each run must pass
# (its sync put the fixture back), and every host's copy must equal the tree after the last
# run's sync. Sets DRIFT_BAD and DRIFT_DIFF.
drift_soak() {
  local n=$1 i k diffs log
  DRIFT_BAD=0 DRIFT_DIFF=0
  ((n > 0)) || return 0
  mkdir -p "$SUITE/spec/fixtures"
  printf 'pristine\n' >"$SUITE/spec/fixtures/drift.txt"
  cat >"$SUITE/spec/drift_spec.rb" <<'RUBY'
RSpec.describe "a fixture the hosts' copies must not keep changed" do
  path = File.expand_path("fixtures/drift.txt", __dir__)
  after do
    case rand(3)
    when 0 then File.write(path, "drifted!\n")
    when 1 then File.write(path, "")
    else File.delete(path)
    end
  end
  it "is as committed" do
    expect(File.exist?(path) && File.read(path)).to eq("pristine\n")
  end
end
RUBY
  for ((i = 1; i <= n; i++)); do
    log=$LOGS/drift$i.log
    R_EXIT=0
    (cd "$SUITE" && exec timeout -s KILL "$RUN_TIMEOUT" "$TESTBOT" spec/drift_spec.rb "${TESTBOT_EXTRA[@]}") >"$log" 2>&1 </dev/null ||
      R_EXIT=$?
    ((R_EXIT == 0)) || DRIFT_BAD=$((DRIFT_BAD + 1))
    note "  drift $i/$n: exit $R_EXIT (want 0)"
  done
  (cd "$SUITE" && exec timeout -s KILL "$RUN_TIMEOUT" "$TESTBOT" sync) >"$LOGS/drift-sync.log" 2>&1 </dev/null ||
    DRIFT_BAD=$((DRIFT_BAD + 1))
  for ((k = 1; k <= HOSTS; k++)); do
    diffs=$(copy_differences "$k")
    DRIFT_DIFF=$((DRIFT_DIFF + diffs))
  done
  ((DRIFT_DIFF == 0)) || DRIFT_BAD=$((DRIFT_BAD + 1))
  ((DRIFT_BAD == 0)) || FAILED=1
}
drift_soak "$DRIFT_RUNS"

SOAK_MEDIAN=$(printf '%s\n' "${SOAK_TIMES[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
SOAK_MIX=$(for f in "${FAULTS[@]}"; do printf '%s %s, ' "${SOAK_KIND[$f]:-0}" "$f"; done)

{
  echo "### Faults: hosts killed and stopped mid-run ($(date -u +%Y-%m-%d))"
  echo
  echo "- Command: \`bench/faults.sh $SOAK_RUNS $FILES $TOTAL\` (HOSTS=$HOSTS, HOST_SLOTS=$HOST_SLOTS, SEED=$SEED)"
  echo "- Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo); testbot $("$TESTBOT" --version | awk '{ print $2 }')"
  echo "- Suite: $FILES files, $CLEAN_EX examples, ${SUM} s of sleeps; ideal ${IDEAL} s on $SLOTS slots"
  echo
  echo "| run | exit | wall s | files lost | files duplicated | examples | processes left | as expected |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Soak: $SOAK_RUNS runs, each with one random fault at a random moment (${SOAK_MIX%, };" \
    "int/term: SIGINT/SIGTERM to testbot, tbkill: SIGKILL of testbot, kill/stop: every process of a host" \
    "SIGKILLed/SIGSTOPped, fserver-kill/fserver-stop: a host's fork server SIGKILLed/SIGSTOPped," \
    "keeper-kill/client-kill: a batch's keeper/client SIGKILLed): **$SOAK_LOST files lost by finished runs," \
    "$SOAK_DUP duplicated, $SOAK_WRONG wrong verdicts, $SOAK_LATE runs more than 2 s past their --timeout ($TIMEOUT s)**" \
    "($SOAK_HITS fork-process faults found their process)," \
    "$SOAK_BAD runs not as expected, $SOAK_LEFT processes left on the hosts after 10 s," \
    "$SOAK_SYNC failed syncs after a run, $SOAK_DIFF paths of the tree missing or different on a host after" \
    "that sync, $SOAK_OUTSIDE runs that changed something outside the remote dirs; median wall ${SOAK_MEDIAN} s."
  if ((DRIFT_RUNS > 0)); then
    echo
    echo "Drift: $DRIFT_RUNS runs of a spec that checks a fixture and then rewrites, truncates or removes it" \
      "in the host's copy: **$DRIFT_BAD wrong verdicts or unrestored copies**," \
      "$DRIFT_DIFF paths missing or different on a host after a final sync."
  fi
}
((FAILED == 0)) || die "some runs did not go as expected (logs kept)"
