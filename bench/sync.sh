#!/usr/bin/env bash
# Sync benchmark: `testbot sync` vs `rsync -a --delete` over OpenSSH, to sshd hosts on 127.0.0.1.
#
#   bench/sync.sh
#
# Generates a Rails-sized tree (bench/gen-tree.rb: 10,000 entries, ~120 MB with
# 6 random 11 MB binaries, odd names and symlinks), starts HOSTS sshd "hosts" on
# this machine (one throwaway unix user and one unprivileged sshd each, as
# bench/ssh.sh does), and times, RUNS times each with the two tools interleaved
# and alternating which goes first:
#   1. first sync: into empty remote dirs (testbot's local hash cache removed too);
#   2. no-change sync: right after a sync;
#   3. one changed file: one source file edited before each sync;
#   4. mixed changes: edits, deletions, a new symlink, a mode change, a new odd name.
# rsync runs once per host, all hosts in parallel (as testbot does), with OpenSSH's
# default cipher. After every timed run each host's copy is compared with the tree
# by `diff -r --no-dereference` (testbot's own .testbot/ left out); a difference
# fails the run. Needs root (useradd), ruby, openssh-server, openssh-client,
# util-linux; installs rsync with apt-get when it is missing.
#
# Environment:
#   RUNS=5          repetitions per measurement
#   HOSTS=4         sshd hosts
#   TESTBOT=path    testbot binary (default: <repo>/target/release/testbot)
#   SEED=42         seed for bench/gen-tree.rb
#   KEEP=1          keep the per-run logs
#   TMPDIR=/dev/shm where the tree and the hosts' homes go (default /dev/shm, a
#                   tmpfs, so that disk speed does not decide the figures)
#
# The markdown report goes to stdout, progress to stderr:
#   sudo bench/sync.sh > sync-report.md
# Everything it creates (users, sshds and every process of those users, the
# temporary directory) is removed on exit, also on Ctrl-C or SIGTERM.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
bench_init sync.sh 33 0 "$@"
RUNS=${RUNS:-5}
HOSTS=${HOSTS:-4}
positive RUNS "$RUNS"
positive HOSTS "$HOSTS"
check_seed
FAILED=0

[[ $EUID -eq 0 ]] || die "must run as root: it creates one unix user per sshd host (useradd)"
if ! command -v rsync >/dev/null 2>&1; then
  note "installing rsync"
  apt-get install -y rsync >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y rsync >/dev/null 2>&1; } ||
    die "rsync is missing and apt-get could not install it"
fi
need ruby ruby
need ssh openssh-client
need ssh-keygen openssh-client
need unshare util-linux
need setpriv util-linux
need useradd passwd
need userdel passwd
need ps procps
need diff diffutils
need awk mawk
SSHD=/usr/sbin/sshd
[[ -x $SSHD ]] || die "$SSHD not found; install it with: apt-get install -y openssh-server"
testbot_built || die "testbot binary not found at $TESTBOT (build it with 'cargo build --release' or set TESTBOT=)"
unset SSH_AUTH_SOCK
export LC_ALL=C

# The copies go to a tmpfs by default: on a loaded VM disk, writing 4 x 120 MB measures the disk
# (seen: 7-30 s for either tool, varying run to run), not the sync.
BASE=${TMPDIR:-/dev/shm}
[[ -d $BASE && -w $BASE ]] || BASE=/tmp
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
  kept=$(mktemp -d "$BASE/testbot-bench-sync-logs.XXXXXX") || return 0
  cp -r -- "$WORK/logs" "$kept/" 2>/dev/null || true
  for d in "$WORK"/host*; do
    [[ -d $d ]] || continue
    mkdir -p -- "$kept/${d##*/}"
    cp -- "$d/sshd.log" "$d/sshd_config" "$kept/${d##*/}/" 2>/dev/null || true
  done
  cp -- "$WORK/tree/testbot.toml" "$kept/" 2>/dev/null || true
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

WORK=$(mktemp -d "$BASE/testbot-bench-sync.XXXXXX")
chmod 755 "$WORK"
TREE=$WORK/tree
CACHE=$WORK/cache
LOGS=$WORK/logs
CLIENT_KEY=$WORK/client/id_ed25519
KNOWN_HOSTS=$WORK/known_hosts
mkdir -p "$LOGS" "$WORK/client"

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
  name="tbsync$$h$k"
  if getent passwd "$name" >/dev/null; then
    die "user $name already exists (left by an earlier run that was killed with SIGKILL?); check it is unused and delete it with: userdel $name"
  fi
  home=$WORK/host$k/home
  USERS+=("$name")
  rc=0
  for ((i = 0; i < 150; i++)); do
    rc=0
    # -p '*': no usable password but not a locked account, which sshd refuses with UsePAM no.
    useradd -M -U -l -s /bin/sh -p '*' -c "testbot bench/sync.sh pid=$$" \
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
# sshd for bench/sync.sh: host$k, run as ${H_USER[k]}.
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

# --- the tree ------------------------------------------------------------------------
note "generating the tree in $TREE"
ruby "$SCRIPT_DIR/gen-tree.rb" "$TREE" --seed "$SEED"
{
  echo "# Written by bench/sync.sh: $HOSTS sshd hosts on 127.0.0.1, one unix user each."
  for ((k = 1; k <= HOSTS; k++)); do
    printf '\n[[host]]\nname = "host%s"\naddress = "127.0.0.1"\nport = %s\nuser = "%s"\nidentity = "%s"\nslots = 1\n' \
      "$k" "${H_PORT[k]}" "${H_USER[k]}" "$CLIENT_KEY"
  done
  printf '\n[ssh]\nknown_hosts = "%s"\nhost_key_checking = "strict"\n' "$KNOWN_HOSTS"
  printf '\n[sync]\nremote_dir = "tb"\n'
} >"$TREE/testbot.toml"
TREE_FILES=$(find "$TREE" -mindepth 1 \( -type f -o -type l \) | wc -l)
TREE_MB=$(du -sm --apparent-size "$TREE" | awk '{ print $1 }')
note "  $TREE_FILES files and links, $TREE_MB MB"

SSH_CMD="ssh -F /dev/null -i $CLIENT_KEY -o IdentitiesOnly=yes -o IdentityAgent=none -o UserKnownHostsFile=$KNOWN_HOSTS -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o BatchMode=yes -o ControlMaster=no -o ControlPath=none -o LogLevel=ERROR"

# --- measuring -------------------------------------------------------------------------
declare -A T
STEPS=(first nochange onefile mixed)
declare -A STEP_LABEL=([first]="first sync (empty hosts)" [nochange]="no-change sync" [onefile]="one changed file" [mixed]="mixed changes")

rsync_all() {
  local k pids=() rc=0
  for ((k = 1; k <= HOSTS; k++)); do
    rsync -a --delete -e "$SSH_CMD -p ${H_PORT[k]}" "$TREE/" "${H_USER[k]}@127.0.0.1:rs/" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  return $rc
}

testbot_all() {
  XDG_CACHE_HOME=$CACHE "$TESTBOT" sync -C "$TREE"
}

check_copies() { # tool (rs|tb), what
  local k dir
  for ((k = 1; k <= HOSTS; k++)); do
    dir=${H_HOME[k]}/$1
    if ! diff -r --no-dereference -x .testbot "$TREE" "$dir" >"$LOGS/diff-$1-host$k.log" 2>&1; then
      FAILED=1
      KEEP=1
      note "  FAILED: host$k's $1 copy differs from the tree after $2:"
      show_tail "$LOGS/diff-$1-host$k.log"
      exit 1
    fi
  done
}

prepare_step() { # step tool: what happens before the timed run
  local step=$1 tool=$2 k
  case $step in
    first)
      for ((k = 1; k <= HOSTS; k++)); do rm -rf -- "${H_HOME[k]:?}/$tool"; done
      [[ $tool == tb ]] && rm -rf -- "$CACHE"
      ;;
    onefile) printf '# edit %s\n' "$RANDOM" >>"$TREE/app/models/group_3/file_0.rb" ;;
    mixed)
      printf '# edit %s\n' "$RANDOM" >>"$TREE/spec/models/group_1/file_12.rb"
      printf '# edit %s\n' "$RANDOM" >>"$TREE/lib/core/group_2/file_14.rb"
      rm -f -- "$TREE"/config/locales/group_0/file_1*.rb
      ln -sfn "../models/group_0/file_0.rb" "$TREE/app/helpers/link_$RANDOM.rb"
      chmod +x "$TREE/db/migrate/group_0/file_11.rb"
      printf 'odd\n' >"$TREE/spec/odd 'name' $RANDOM.rb"
      ;;
  esac
  return 0
}

timed() { # step tool rep
  local step=$1 tool=$2 rep=$3 start secs log
  log=$LOGS/$step-$tool-$rep.log
  start=$(date +%s.%N)
  if [[ $tool == rs ]]; then
    rsync_all >"$log" 2>&1 || { note "  FAILED: rsync ($step, run $rep)"; show_tail "$log"; FAILED=1; exit 1; }
  else
    testbot_all >"$log" 2>&1 || { note "  FAILED: testbot sync ($step, run $rep)"; show_tail "$log"; FAILED=1; exit 1; }
  fi
  secs=$(elapsed "$start")
  T[$step.$tool]+="$secs "
  ORDER_LOG+=("$rep $step.$tool $secs")
  note "  [$step run $rep] $tool: $secs s"
  check_copies "$tool" "$step run $rep"
}

# One untimed warm-up of each tool (page cache, sshd, host key checks).
note "warm-up"
timed first rs 0 && timed first tb 0
T=()
ORDER_LOG=()
for step in "${STEPS[@]}"; do
  note "${STEP_LABEL[$step]}"
  for ((rep = 1; rep <= RUNS; rep++)); do
    if ((rep % 2 == 1)); then order=(rs tb); else order=(tb rs); fi
    # Both tools start from the same state: the change is made once, before the first.
    if [[ $step == first ]]; then
      for tool in "${order[@]}"; do prepare_step first "$tool"; timed first "$tool" "$rep"; done
    else
      prepare_step "$step" both
      for tool in "${order[@]}"; do timed "$step" "$tool" "$rep"; done
    fi
  done
done

# --- report ----------------------------------------------------------------------
report_head "Sync: testbot sync vs rsync -a --delete, $HOSTS hosts on 127.0.0.1"
echo "- Tree: $TREE_FILES files and links, $TREE_MB MB (bench/gen-tree.rb, seed $SEED)"
echo "- testbot $(testbot_version); $(rsync --version | head -n 1 | awk '{ print "rsync " $3 }'); $(ssh -V 2>&1 | cut -d, -f1)"
echo "- Runs: $RUNS per row, tools interleaved; every copy checked with diff -r after every run"
echo
echo "| Sync | rsync median (s) | testbot median (s) | testbot min–max (s) | testbot ÷ rsync |"
echo "|---|---:|---:|---:|---:|"
for step in "${STEPS[@]}"; do
  read -r _ rmed _ _ < <(stats "${T[$step.rs]}")
  read -r _ tmed tmin tmax < <(stats "${T[$step.tb]}")
  echo "| ${STEP_LABEL[$step]} | $rmed | $tmed | $tmin–$tmax | $(ratio "$tmed" "$rmed") |"
done
echo
echo "Commands: \`rsync -a --delete -e 'ssh -p PORT …' TREE/ USER@127.0.0.1:rs/\` once per host, all in parallel;"
echo "\`testbot sync\` with the four hosts in testbot.toml (\`[sync] remote_dir = \"tb\"\`)."
echo
echo "Raw times (run step.tool seconds), in the order they ran:"
echo
echo '```'
printf '%s\n' "${ORDER_LOG[@]}"
echo '```'
