#!/usr/bin/env bash
# Mutation testing (issue 19; not run by CI): cargo-mutants on the modules whose logic the
# verdict rests on, one module at a time, with nextest and the unit tests that cover it, one
# job, so that it fits a small shared machine.
#
#   bench/mutants.sh                 every module below, smallest first
#   bench/mutants.sh MODULE...       only these (names from the table below)
#   bench/mutants.sh --list          how many mutants each module has, without running them
#
# Environment: MUTANTS_SHARD=k/n runs one shard of each module (a sample: every n-th mutant);
# MUTANTS_RE=REGEX only the mutants whose names match (to re-run the missed ones after a fix);
# MUTANTS_OUT (default target/mutants-out) keeps each module's results in MUTANTS_OUT/MODULE
# (mutants.out/caught.txt, missed.txt, unviable.txt, timeout.txt). CARGO_TARGET_DIR defaults to
# this checkout's target/, so the dependencies are not rebuilt in cargo-mutants' copy; the
# mutants are built with the `mutants` profile (Cargo.toml: no debug info, incremental), in
# target/mutants/, apart from target/debug (see the trap below all the same).
# Needs `cargo install cargo-mutants --locked` (27.1 was used) and cargo-nextest. The figures
# are in docs/testing.md.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

# name | files (cargo-mutants --file globs, comma-separated) | nextest filter on the lib's tests
MODULES=(
  "known_hosts|src/ssh/known_hosts.rs|ssh::known_hosts::"
  "batch_check|src/run/batch/check.rs,src/run/batch/captured.rs|run::batch::"
  "inventory_paths|src/inventory/paths.rs|inventory::"
  "merge|src/report/merge.rs|report::merge::"
  "validate|src/inventory/validate.rs|inventory::"
  "summary|src/report/summary.rs|report::"
  "manifest|src/sync/manifest.rs|sync::"
  "batch|src/run/batch/mod.rs|run::batch::"
  "schedule|src/schedule/mod.rs|schedule::"
  "schedule_parts|src/schedule/split.rs,src/schedule/partition.rs,src/schedule/estimate.rs,src/schedule/history.rs|schedule::"
)

command -v cargo-mutants >/dev/null || { echo "needs cargo-mutants: cargo install cargo-mutants --locked" >&2; exit 2; }
command -v cargo-nextest >/dev/null || { echo "needs cargo-nextest" >&2; exit 2; }

list=false
if [[ ${1:-} == --list ]]; then
  list=true
  shift
fi
out_root=${MUTANTS_OUT:-target/mutants-out}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
# The mutated crate's test binary takes the name of this checkout's (same package), and cargo
# may then take the last mutant's build for fresh here: make the next build here rebuild it.
trap 'touch src/lib.rs' EXIT

for entry in "${MODULES[@]}"; do
  IFS='|' read -r name files filter <<<"$entry"
  if [[ $# -gt 0 && ! " $* " =~ [[:space:]]$name[[:space:]] ]]; then
    continue
  fi
  args=()
  IFS=',' read -ra globs <<<"$files"
  for g in "${globs[@]}"; do
    args+=(--file "$g")
  done
  if $list; then
    printf '%-16s %4d mutants  (%s)\n' "$name" "$(cargo mutants --list "${args[@]}" | wc -l)" "$files"
    continue
  fi
  [[ -n ${MUTANTS_SHARD:-} ]] && args+=(--shard "$MUTANTS_SHARD")
  [[ -n ${MUTANTS_RE:-} ]] && args+=(--re "$MUTANTS_RE")
  mkdir -p "$out_root/$name"
  echo "== $name: $files (tests: $filter)" >&2
  # The baseline is skipped (the unit tests are green on main), so the timeout is explicit: the
  # filtered unit tests take well under a second; a mutant that loops is killed after 20 s.
  # Do not build in this checkout meanwhile: a test phase that waits for cargo's lock on the
  # shared target dir times out, and the mutant reads as a timeout it is not.
  status=0
  nice -n 19 cargo mutants "${args[@]}" \
    --test-tool nextest --cargo-arg=--lib --profile mutants --jobs 1 \
    --baseline skip --timeout 20 --build-timeout 900 \
    --output "$out_root/$name" \
    -- "$filter" || status=$?
  # cargo-mutants exits 2 when mutants were missed, 3 on timeouts: results, not failures here.
  case $status in 0 | 2 | 3) ;; *) exit "$status" ;; esac
  for kind in caught missed unviable timeout; do
    printf '%s %s %d\n' "$name" "$kind" "$(wc -l <"$out_root/$name/mutants.out/$kind.txt" 2>/dev/null || echo 0)"
  done
done
