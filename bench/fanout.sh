#!/usr/bin/env bash
# bench/fanout.sh [CONNECTIONS]: time to open CONNECTIONS (default 100) SSH
# connections at once, as a run connects to every host at once.
#
# Needs root (like ssh.sh): starts HOSTS (default 4) sshd hosts on 127.0.0.1
# with bench/hosts.sh (MaxStartups 100:30:200, so 100 unauthenticated
# connections at once are accepted), writes a testbot.toml for them, and runs
# bench/fanout.rs (cargo example `fanout`, release) RUNS times (default 5).
# Each connection is its own testbot SshHost (TCP connect, key exchange, host
# key checked against a strict known_hosts, ed25519 public key auth), spread
# round-robin over the hosts; ready = connected and one `true` answered on
# every connection. Prints every run, then the medians; the last line is
#   ready_seconds=X
# SKIP_BUILD=1 uses the example already built. The hosts and their users are
# removed at exit, also on Ctrl-C.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
RUNS=${RUNS:-5}
bench_init fanout.sh 16 1 "$@"
CONNECTIONS=${1:-100}
HOSTS=${HOSTS:-4}
positive CONNECTIONS "$CONNECTIONS"
positive HOSTS "$HOSTS"
positive RUNS "$RUNS"
[[ $(id -u) == 0 ]] || die "needs root (it creates throwaway users for its sshd hosts)"
# shellcheck source=bench/hosts.sh
source "$SCRIPT_DIR/hosts.sh"
need_host_tools
BIN=$REPO_ROOT/target/release/examples/fanout
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  note "building the fanout example (release)"
  (cd "$REPO_ROOT" && cargo build --release --example fanout >&2)
fi
[[ -x $BIN ]] || die "$BIN is not built"
trap_exits
start_hosts
mkdir -p "$WORK/suite"
write_inventory "$WORK/suite/testbot.toml" 1

median() {
  sort -g | awk '{ v[++n] = $1 } END { m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2; printf "%.3f", m }'
}
field() { # name line -> value
  tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}

echo "## Fan-out: $CONNECTIONS connections at once to $HOSTS sshd hosts on 127.0.0.1"
echo
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(machine); $(ssh -V 2>&1 | cut -d, -f1); commit $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo '```'
CONNECTED=""
READY=""
for ((rep = 1; rep <= RUNS; rep++)); do
  line=$("$BIN" --config "$WORK/suite/testbot.toml" --connections "$CONNECTIONS" 2>"$LOGS/fanout-$rep.err") ||
    die "run $rep failed: $line $(head -n 5 "$LOGS/fanout-$rep.err")"
  echo "$rep $line"
  CONNECTED+="$(field connected_seconds "$line") "
  READY+="$(field ready_seconds "$line") "
  sleep 1 # let the sshds reap the sessions that just closed
done
echo '```'
echo
echo "- median connected_seconds=$(tr ' ' '\n' <<<"$CONNECTED" | grep . | median) ($RUNS runs)"
echo
echo "ready_seconds=$(tr ' ' '\n' <<<"$READY" | grep . | median)"
