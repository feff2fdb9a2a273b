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

check_suite_settings
positive HOSTS "$HOSTS"
positive HOST_SLOTS "$HOST_SLOTS"
check_seed
positive RUN_TIMEOUT "$RUN_TIMEOUT"
SLOTS=$((HOSTS * HOST_SLOTS))

[[ $EUID -eq 0 ]] || die "must run as root: it creates one unix user per sshd host (useradd)"

need_ruby_tools
need ssh openssh-client
need ssh-keygen openssh-client
need unshare util-linux
need setpriv util-linux
need useradd passwd
need userdel passwd
need ps procps
need timeout coreutils
need awk mawk
SSHD=/usr/sbin/sshd
[[ -x $SSHD ]] || die "$SSHD not found; install it with: apt-get install -y openssh-server"

testbot_built || die "testbot binary not found at $TESTBOT (build it with 'cargo build --release' or set TESTBOT=)"

clean_env
unset SSH_AUTH_SOCK # the logins use the bench's own key only

# The test users must reach their homes inside the temporary directory: use
# TMPDIR only if every directory on its path is traversable by others.
BASE=${TMPDIR:-/tmp}
BASE=$(cd -- "$BASE" 2>/dev/null && pwd -P) || BASE=/tmp
p=$BASE
while [[ -n $p && $p != / ]]; do
  perm=$(stat -Lc %A -- "$p") || {
    BASE=/tmp
    break
  }
  [[ ${perm:9:1} == [xt] ]] || {
    BASE=/tmp
    break
  }
  p=${p%/*}
done
[[ $BASE =~ ^/[A-Za-z0-9_./-]*$ ]] || BASE=/tmp # it goes into sshd_config unquoted

# --- cleanup (installed before anything is created) ------------------------------
WORK=""
USERS=()       # every user this run created (or was creating), in order
SSHD_PIDS=()   # the `unshare` processes the sshds run under
RUN_PID=""     # the process (group) of the measured command running now
CLEANED=0

is_test_uid() {
  [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1000 && $1 != 65534))
}

# Pids of the live (not zombie) processes whose real, effective or saved uid is $1.
user_procs() {
  ps -e -o pid=,ruid=,euid=,suid=,stat= |
    awk -v u="$1" '($2 == u || $3 == u || $4 == u) && $5 !~ /^[ZX]/ { print $1 }'
}

# SIGKILL every process of uid $1 (gid $2): `kill -1` run as the user reaches all
# of them in one sweep, then stragglers by pid; waits until none is left.
kill_user() {
  local uid=$1 gid=$2 left i
  is_test_uid "$uid" || {
    note "warning: refusing to signal the processes of uid $uid"
    return 1
  }
  (cd / && exec env -i /usr/bin/setpriv --reuid="$uid" --regid="$gid" --clear-groups -- /bin/kill -s KILL -- -1) >/dev/null 2>&1 || true
  for ((i = 0; i < 500; i++)); do
    left=$(user_procs "$uid")
    [[ -z $left ]] && return 0
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL $left 2>/dev/null || true
    sleep 0.01
  done
  note "warning: processes of uid $uid survived SIGKILL: ${left//$'\n'/ }"
  return 1
}

delete_user() {
  local name=$1 force="" rc i
  for ((i = 0; i < 300; i++)); do
    userdel $force "$name" >/dev/null 2>&1 && return 0
    rc=$?
    case $rc in
      6) return 0 ;;                       # no such user
      8) # only zombies left
        [[ -z $force ]] || break
        force=-f
        ;;
      1 | 10) sleep 0.1 ;;                 # passwd/group file locked
      *) break ;;
    esac
  done
  note "warning: could not delete user $name (userdel exit $rc)"
  return 1
}

save_logs() {
  local kept
  kept=$(mktemp -d "$BASE/testbot-bench-ssh-logs.XXXXXX") || return 0
  cp -r -- "$WORK/logs" "$kept/" 2>/dev/null || true
  for d in "$WORK"/host*; do
    [[ -d $d ]] || continue
    mkdir -p -- "$kept/${d##*/}"
    cp -- "$d/sshd.log" "$d/sshd_config" "$kept/${d##*/}/" 2>/dev/null || true
  done
  cp -- "$WORK/suite/testbot.toml" "$kept/" 2>/dev/null || true
  note "kept the logs in $kept (one log per run in logs/, sshd logs in host*/)"
}

cleanup() {
  local rc=$? uid gid name pid i
  ((CLEANED)) && return 0
  CLEANED=1
  trap '' INT TERM HUP # a second Ctrl-C must not cut the cleanup short
  set +e
  if [[ -n $RUN_PID ]]; then
    kill -TERM -- "-$RUN_PID" 2>/dev/null || kill -TERM "$RUN_PID" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
      kill -0 "$RUN_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$RUN_PID" 2>/dev/null || kill -KILL "$RUN_PID" 2>/dev/null
    wait "$RUN_PID" 2>/dev/null
  fi
  if ((${#USERS[@]})); then
    note "cleanup: stopping the sshd hosts and deleting users ${USERS[*]}"
  fi
  for name in "${USERS[@]-}"; do
    [[ -n $name ]] || continue
    uid=$(id -u "$name" 2>/dev/null) || continue
    gid=$(id -g "$name" 2>/dev/null) || continue
    kill_user "$uid" "$gid"
  done
  for pid in "${SSHD_PIDS[@]-}"; do
    [[ -n $pid ]] || continue
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for name in "${USERS[@]-}"; do
    [[ -n $name ]] && delete_user "$name"
  done
  if [[ -n $WORK && -d $WORK ]]; then
    # Logs are kept on request, after a failed run and when the setup failed;
    # an interrupted run leaves nothing behind.
    if [[ $KEEP == 1 || $FAILED == 1 || $rc -eq 1 ]] && [[ -d $WORK/logs ]]; then
      save_logs
    fi
    rm -rf -- "$WORK"
  fi
  return 0
}
trap_exits
trap 'exit 129' HUP

WORK=$(mktemp -d "$BASE/testbot-bench-ssh.XXXXXX")
chmod 755 "$WORK"
SUITE=$WORK/suite
SUITE1=$WORK/suite1
LOGS=$WORK/logs
CLIENT_KEY=$WORK/client/id_ed25519
KNOWN_HOSTS=$WORK/known_hosts
mkdir -p "$SUITE" "$SUITE1/spec" "$LOGS" "$WORK/client"

# --- the hosts ---------------------------------------------------------------------
# One unix user and one sshd per host, as tests/common/sshd.rs does it.
[[ -d /run/sshd ]] || install -d -m 755 /run/sshd # sshd's privilege separation dir

SETUP_START=$(date +%s.%N)
note "setting up $HOSTS sshd hosts on 127.0.0.1 in $WORK"
ssh-keygen -q -t ed25519 -N '' -C testbot-bench-client -f "$CLIENT_KEY" </dev/null &
KEYGENS=($!)
for ((k = 1; k <= HOSTS; k++)); do
  install -d -m 755 "$WORK/host$k" "$WORK/host$k/keys" "$WORK/host$k/home"
  ssh-keygen -q -t ed25519 -N '' -C "testbot-bench-host$k" -f "$WORK/host$k/keys/ssh_host_ed25519_key" </dev/null &
  KEYGENS+=($!)
done
for pid in "${KEYGENS[@]}"; do
  wait "$pid" || die "ssh-keygen failed"
done

declare -a H_USER H_UID H_GID H_PORT H_HOME
for ((k = 1; k <= HOSTS; k++)); do
  name="tbbench$$h$k"
  if getent passwd "$name" >/dev/null; then
    die "user $name already exists (left by an earlier run that was killed with SIGKILL?); check it is unused and delete it with: userdel $name"
  fi
  home=$WORK/host$k/home
  USERS+=("$name")
  rc=0
  for ((i = 0; i < 150; i++)); do
    rc=0
    # -p '*': no usable password but not a locked account, which sshd refuses with UsePAM no.
    useradd -M -U -l -s /bin/sh -p '*' -c "testbot bench/ssh.sh pid=$$" \
      -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 -d "$home" "$name" </dev/null >/dev/null 2>"$LOGS/useradd.err" || rc=$?
    case $rc in
      0) break ;;
      1 | 4 | 10) sleep 0.2 ;; # another process holds the passwd/group lock
      *) break ;;
    esac
  done
  if [[ $rc -ne 0 ]]; then
    [[ $rc -eq 9 ]] && unset 'USERS[${#USERS[@]}-1]' # someone else's user: not ours to delete
    die "useradd $name failed (exit $rc): $(cat "$LOGS/useradd.err")"
  fi
  uid=$(id -u "$name")
  gid=$(id -g "$name")
  is_test_uid "$uid" || die "useradd $name gave uid $uid, outside the range this script may signal"
  H_USER[k]=$name
  H_UID[k]=$uid
  H_GID[k]=$gid
  H_HOME[k]=$home
  install -d -m 700 -o "$uid" -g "$gid" "$home/.ssh"
  install -m 600 -o "$uid" -g "$gid" "$CLIENT_KEY.pub" "$home/.ssh/authorized_keys"
  chown "$uid:$gid" "$home" "$WORK/host$k/keys"/*
done

USED_PORTS=" "
free_port() { # sets PORT: a free port on 127.0.0.1 not handed out before
  while :; do
    PORT=$(ruby -rsocket -e 's = TCPServer.new("127.0.0.1", 0); print s.addr[1]')
    [[ $USED_PORTS == *" $PORT "* ]] || break
  done
  USED_PORTS+="$PORT "
}

write_sshd_config() { # k port
  local k=$1 port=$2 home=${H_HOME[$1]}
  cat >"$WORK/host$k/sshd_config" <<EOF
# sshd for bench/ssh.sh: host$k, run as ${H_USER[k]}.
ListenAddress 127.0.0.1
Port $port
HostKey $WORK/host$k/keys/ssh_host_ed25519_key
PidFile $home/sshd.pid
AuthorizedKeysFile $home/.ssh/authorized_keys
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
HostbasedAuthentication no
PermitRootLogin no
StrictModes no
# Many slots per host means many sessions and connections at once.
MaxSessions 50
MaxStartups 100:30:200
PermitUserEnvironment no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
Subsystem sftp internal-sftp
LogLevel INFO
EOF
}

# Starts host k's sshd as PID 1 of its own PID namespace (so nothing it orphans
# is left as a zombie) and waits until it listens; another port if it was taken.
start_sshd() {
  local k=$1 port attempt i pid log
  log=$WORK/host$k/sshd.log
  for ((attempt = 1; attempt <= 5; attempt++)); do
    free_port
    port=$PORT
    write_sshd_config "$k" "$port"
    (cd "${H_HOME[k]}" && exec env -i PATH=/usr/bin:/bin HOME="${H_HOME[k]}" USER="${H_USER[k]}" LOGNAME="${H_USER[k]}" \
      unshare --pid --fork --mount-proc -- \
      setpriv --reuid="${H_UID[k]}" --regid="${H_GID[k]}" --clear-groups -- \
      "$SSHD" -D -e -f "$WORK/host$k/sshd_config") >>"$log" 2>&1 </dev/null &
    pid=$!
    SSHD_PIDS+=("$pid")
    for ((i = 0; i < 1500; i++)); do
      if grep -qF "Server listening on 127.0.0.1 port $port." "$log"; then
        H_PORT[k]=$port
        return 0
      fi
      if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.01
    done
    if kill -0 "$pid" 2>/dev/null; then
      die "sshd of host$k is not listening on port $port after 15 s; its log:
$(cat "$log")"
    fi
    grep -q "Address already in use" "$log" || break
  done
  die "sshd of host$k did not start; its log:
$(cat "$log")"
}

for ((k = 1; k <= HOSTS; k++)); do
  start_sshd "$k"
done

: >"$KNOWN_HOSTS"
for ((k = 1; k <= HOSTS; k++)); do
  read -r kind key _ <"$WORK/host$k/keys/ssh_host_ed25519_key.pub"
  printf '[127.0.0.1]:%s %s %s\n' "${H_PORT[k]}" "$kind" "$key" >>"$KNOWN_HOSTS"
done

# One real login per host with OpenSSH's client, strict host key checking.
for ((k = 1; k <= HOSTS; k++)); do
  ssh -F /dev/null -i "$CLIENT_KEY" \
    -o IdentitiesOnly=yes -o IdentityAgent=none \
    -o UserKnownHostsFile="$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
    -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o BatchMode=yes \
    -o ConnectTimeout=10 -o ControlMaster=no -o ControlPath=none -o LogLevel=ERROR \
    -p "${H_PORT[k]}" -l "${H_USER[k]}" 127.0.0.1 -- true </dev/null >"$LOGS/ssh-check-host$k.log" 2>&1 ||
    die "ssh login to host$k (${H_USER[k]}@127.0.0.1:${H_PORT[k]}) failed: $(cat "$LOGS/ssh-check-host$k.log")
sshd log:
$(cat "$WORK/host$k/sshd.log")"
done
SETUP_SECS=$(awk -v a="$SETUP_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
note "  $HOSTS hosts up in $SETUP_SECS s (ports$(printf ' %s' "${H_PORT[@]}"))"

# --- the suites ----------------------------------------------------------------------
write_inventory() { # file
  {
    echo "# Written by bench/ssh.sh: $HOSTS sshd hosts on 127.0.0.1, one unix user each."
    for ((k = 1; k <= HOSTS; k++)); do
      echo
      echo "[[host]]"
      echo "name = \"host$k\""
      echo "address = \"127.0.0.1\""
      echo "port = ${H_PORT[k]}"
      echo "user = \"${H_USER[k]}\""
      echo "identity = \"$CLIENT_KEY\""
      echo "slots = $HOST_SLOTS"
    done
    echo
    echo "[ssh]"
    echo "known_hosts = \"$KNOWN_HOSTS\""
    echo "host_key_checking = \"strict\""
  } >"$1"
}

gen_suite
write_inventory "$SUITE/testbot.toml"

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
write_inventory "$SUITE1/testbot.toml"

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
add_ssh_mode tb_first tb "$SUITE" "testbot, first run (no history, first sync; warm-up)" \
  "$TESTBOT" --no-bundler "${TESTBOT_EXTRA[@]}"
add_ssh_mode tb_hist tb "$SUITE" "testbot, with runtime history" \
  "$TESTBOT" --no-bundler "${TESTBOT_EXTRA[@]}"
add_ssh_mode pr_first pr "$SUITE" "parallel_rspec -n $SLOTS, no runtime log (file-size groups; warm-up)" \
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
MAKESPAN_MODES=(tb_first tb_hist pr_first pr_runtime)
ONE_MODES=(one_tb_first one_tb one_pr_first one_pr)

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
  if [[ ${DIR[$key]} == "$SUITE" ]]; then
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
  if [[ ${DIR[$key]} == "$SUITE" ]]; then
    note "  $secs s ($(ratio "$secs" "$IDEAL") x ideal)"
  else
    note "  $secs s"
  fi
}

note "suite: $FILES files, $EXAMPLES examples, total ${SUM} s, longest ${LONGEST} s; $HOSTS hosts x $HOST_SLOTS slots = $SLOTS slots -> ideal ${IDEAL} s; $RUNS runs per mode after one warm-up each"

# 1. Makespan. Warm-ups: testbot's first run leaves its runtime history (and
# the copy on every host); parallel_rspec's leaves its runtime log.
rm -rf -- "${SUITE:?}/tmp"
measure tb_first 0
check_tb_history
measure pr_first 0
check_pr_log "the warm-up run"
alternate 'measure tb_hist' 'measure pr_runtime'

# 2. Fixed overhead: one file, one 0.1 s example.
measure one_tb_first 0
measure one_pr_first 0
alternate 'measure one_tb' 'measure one_pr'

# --- report ----------------------------------------------------------------------
median_of() { # key -> median with 3 decimals, or empty
  # shellcheck disable=SC2086
  printf '%s\n' ${TIMES[$1]} | sort -g | awk '
    NF { v[++n] = $1 }
    END { if (n) printf "%.3f", (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}

side_by_side() { # key_a key_b text
  local a b
  a=$(median_of "$1")
  b=$(median_of "$2")
  if [[ -n $a && -n $b ]]; then
    echo "$3: **$(ratio "$a" "$b")** (median $a s ÷ median $b s)."
  fi
}

{
  report_head "SSH: $HOSTS sshd hosts on 127.0.0.1 vs parallel_rspec"
  echo "- Tools: $(ruby_tools), $(ssh -V 2>&1 | awk -F, '{ print $1; exit }'), testbot $(testbot_version)"
  echo "- Command: \`bench/ssh.sh $FILES $TOTAL\` (RUNS=$RUNS, HOSTS=$HOSTS, HOST_SLOTS=$HOST_SLOTS, SEED=$SEED)"
  echo "- Hosts: $HOSTS unprivileged sshds on 127.0.0.1 (one unix user each, ed25519 host keys, strict known_hosts), $HOST_SLOTS testbot slots each, no local slots; set up in $SETUP_SECS s. They share this machine's cores with each other and with testbot itself: the figures show what SSH, the per-run copy of the project and remote processes cost, not extra capacity."
  echo
  echo "### Makespan: synthetic sleep-bound suite, $SLOTS slots"
  echo
  suite_lines
  echo "- Each tool ran once as a warm-up (testbot: no runtime history, first copy to the hosts; parallel_rspec: no runtime log, so file-size groups), then $RUNS times with history, interleaved, alternating which tool goes first. Every testbot run copies the whole project to every host before it starts (sync v1)."
  echo
  table 1 "${MAKESPAN_MODES[@]}"
  echo
  side_by_side tb_hist pr_runtime "testbot over SSH with history ÷ local parallel_rspec with its runtime log"
  echo
  echo "### Fixed overhead: one file, one example sleeping $ONE_SLEEP s"
  echo
  echo "- testbot on the same $HOSTS hosts ($SLOTS slots), after one run that copied this suite to them; \`parallel_rspec -n 2\` on the same file locally. One warm-up each, then $RUNS runs interleaved."
  echo
  table 0 "${ONE_MODES[@]}"
  echo
  side_by_side one_tb one_pr "testbot over SSH ÷ parallel_rspec -n 2, fixed cost of a run"
  echo
  problems=$(problem_lines)
  [[ -z $problems ]] || printf '%s\n\n' "$problems"
  commands "Commands (run in the suite directory, whose testbot.toml lists the $HOSTS hosts; before the makespan warm-ups tmp/ is empty):"
  echo
  echo "Raw wall times in seconds, in the order they ran (repetition, 0 = warm-up; mode; seconds; ÷ ideal for the makespan modes):"
  echo
  raw_times 12 "${MAKESPAN_MODES[@]}"
}

exit_if_failed "ssh.sh: some runs failed or were invalid; see the report and the kept logs"
