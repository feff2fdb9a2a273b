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
#   BASELINE=path   a second testbot binary (an earlier build) timed in the same runs, side
#                   by side, into its own remote dir (tb0) with its own cache: before/after
#   SEED=42         seed for bench/gen-tree.rb
#   KEEP=1          keep the per-run logs
#   STEPS="..."     the measurements to make, of: first nochange onefile mixed (default: all)
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
bench_init sync.sh 36 0 "$@"
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
need diff diffutils
need awk mawk
# The copies go to a tmpfs by default: on a loaded VM disk, writing 4 x 120 MB measures the disk
# (seen: 7-30 s for either tool, varying run to run), not the sync.
if [[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]]; then
  export TMPDIR=/dev/shm
fi
# shellcheck source-path=SCRIPTDIR source=hosts.sh
. "$SCRIPT_DIR/hosts.sh"
need_host_tools
testbot_built || die "testbot binary not found at $TESTBOT (build it with 'cargo build --release' or set TESTBOT=)"
unset SSH_AUTH_SOCK
export LC_ALL=C

trap_exits
trap 'exit 129' HUP

start_hosts
TREE=$WORK/tree
CACHE=$WORK/cache
CACHE0=$WORK/cache0
TOOLS=(rs tb)
if [[ -n ${BASELINE:-} ]]; then
  [[ $BASELINE == /* ]] || BASELINE="$PWD/$BASELINE"
  [[ -x $BASELINE ]] || die "BASELINE=$BASELINE is not an executable"
  TOOLS+=(tb0)
fi

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
# The baseline's inventory: the same hosts, its own remote dir, outside the tree.
sed 's/^remote_dir = "tb"$/remote_dir = "tb0"/' "$TREE/testbot.toml" >"$WORK/testbot0.toml"
TREE_FILES=$(find "$TREE" -mindepth 1 \( -type f -o -type l \) | wc -l)
TREE_MB=$(du -sm --apparent-size "$TREE" | awk '{ print $1 }')
note "  $TREE_FILES files and links, $TREE_MB MB"

SSH_CMD="ssh -F /dev/null -i $CLIENT_KEY -o IdentitiesOnly=yes -o IdentityAgent=none -o UserKnownHostsFile=$KNOWN_HOSTS -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o BatchMode=yes -o ControlMaster=no -o ControlPath=none -o LogLevel=ERROR"

# --- measuring -------------------------------------------------------------------------
declare -A T
read -r -a STEPS <<<"${STEPS:-first nochange onefile mixed}"
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

baseline_all() {
  XDG_CACHE_HOME=$CACHE0 "$BASELINE" sync -C "$TREE" -c "$WORK/testbot0.toml"
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
      [[ $tool == tb0 ]] && rm -rf -- "$CACHE0"
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
  elif [[ $tool == tb0 ]]; then
    baseline_all >"$log" 2>&1 || { note "  FAILED: baseline testbot sync ($step, run $rep)"; show_tail "$log"; FAILED=1; exit 1; }
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
for tool in "${TOOLS[@]}"; do timed first "$tool" 0; done
T=()
ORDER_LOG=()
for step in "${STEPS[@]}"; do
  note "${STEP_LABEL[$step]}"
  for ((rep = 1; rep <= RUNS; rep++)); do
    # Each tool goes first in turn.
    order=("${TOOLS[@]:rep % ${#TOOLS[@]}}" "${TOOLS[@]:0:rep % ${#TOOLS[@]}}")
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
if [[ -n ${BASELINE:-} ]]; then
  echo "- Baseline (tb0): $BASELINE, timed in the same runs"
  echo
  echo "| Sync | rsync median (s) | testbot median (s) | testbot min–max (s) | testbot ÷ rsync | baseline median (s) | baseline min–max (s) | baseline ÷ rsync |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
else
  echo
  echo "| Sync | rsync median (s) | testbot median (s) | testbot min–max (s) | testbot ÷ rsync |"
  echo "|---|---:|---:|---:|---:|"
fi
for step in "${STEPS[@]}"; do
  read -r _ rmed _ _ < <(stats "${T[$step.rs]}")
  read -r _ tmed tmin tmax < <(stats "${T[$step.tb]}")
  row="| ${STEP_LABEL[$step]} | $rmed | $tmed | $tmin–$tmax | $(ratio "$tmed" "$rmed") |"
  if [[ -n ${BASELINE:-} ]]; then
    read -r _ bmed bmin bmax < <(stats "${T[$step.tb0]}")
    row+=" $bmed | $bmin–$bmax | $(ratio "$bmed" "$rmed") |"
  fi
  echo "$row"
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
