#!/usr/bin/env bash
# Recall of `testbot --changed` (issue 30): a generated library suite in a git repository, an
# impact map recorded once, then for each seeded mutation of a source file (flip a `+`, flip a
# comparison, return nil), one at a time and uncommitted: the whole suite and `--changed`. Every
# file that fails in the whole run must fail in the selected run (100 % recall; a miss is a bug).
#
#   bench/impact.sh [MUTATIONS] [MODULES] [FILES]      (defaults: 20 12 40)
#
# Environment:
#   TESTBOT=path   testbot binary (default: target/debug/testbot; give a release build for timings)
#   SLOTS=2        -n for every run
#   SEED=42        which mutations, in which order
#   SLEEP=0.02     seconds each example sleeps (the suite's own work)
#   SPIN=20000     iterations of a Ruby loop in lib code each example runs (fixed work: what
#                  Coverage's line counting slows down)
#   COST=1         also measure recording's CPU cost on bench/cpu.sh's suite (gen-synthetic.rb
#                  --cpu, COST_FILES=60 files, COST_TOTAL=8 CPU seconds; its examples spin in the
#                  spec files, under the project: every line counted): RUNS whole runs each with
#                  and without --record-impact (`--no-fork`, so every runner is a child testbot
#                  waits for), CPU seconds (user + sys of testbot and its children, /usr/bin/time)
#   RUNS=3         repetitions for COST
#   KEEP=1         keep the temporary directory
#
# The markdown report goes to stdout, progress to stderr.
set -euo pipefail

MUTATIONS=${1:-20}
MODULES=${2:-12}
FILES=${3:-40}
SLOTS=${SLOTS:-2}
SEED=${SEED:-42}
RUNS=${RUNS:-3}
REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
TESTBOT=${TESTBOT:-$REPO/target/debug/testbot}
[[ -x $TESTBOT ]] || { echo "impact.sh: no testbot binary (cargo build)" >&2; exit 2; }

WORK=$(mktemp -d -t testbot-impact-bench-XXXXXX)
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf -- "$WORK"' EXIT
SUITE=$WORK/suite
note() { printf '%s\n' "$*" >&2; }

# --- the suite: MODULES lib files of three methods, FILES spec files using two modules each ---
ruby - "$SUITE" "$MODULES" "$FILES" "${SLEEP:-0.02}" "${SPIN:-20000}" <<'RUBY'
dir, modules, files, pause, spin = ARGV[0], ARGV[1].to_i, ARGV[2].to_i, ARGV[3].to_f, ARGV[4].to_i
require 'fileutils'
FileUtils.mkdir_p(["#{dir}/lib", "#{dir}/spec"])
File.write("#{dir}/.rspec", "--require spec_helper\n")
File.write("#{dir}/.gitignore", "tmp/\n")
File.write("#{dir}/spec/spec_helper.rb", "$LOAD_PATH.unshift(File.expand_path('../lib', __dir__))\n")
modules.times do |m|
  File.write("#{dir}/lib/m#{m}.rb", <<~LIB)
    module M#{m}
      def self.add(x)
        x + #{m}
      end

      def self.big?(x)
        x > #{m}
      end

      def self.name
        "m#{m}"
      end

      def self.work(n)
        total = 0
        n.times do |i|
          total += i % 7
        end
        total
      end
    end
  LIB
end
files.times do |k|
  used = [k % modules, (k * 7 + 3) % modules].uniq
  body = used.map do |m|
    <<~EX
      it("adds with M#{m}") { expect(M#{m}.add(1)).to eq(#{1 + m}) }
      it("compares with M#{m}") { expect(M#{m}.big?(#{m + 10})).to be(true) }
      it("names M#{m}") { expect(M#{m}.name).to eq("m#{m}") }
    EX
  end.join
  File.write("#{dir}/spec/s#{k}_spec.rb", used.map { |m| "require 'm#{m}'\n" }.join +
             "\nRSpec.describe('s#{k}') do\n  before { sleep #{pause}; M#{used.first}.work(#{spin}) }\n#{body}end\n")
end
RUBY
cd "$SUITE"
git init -q && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm suite

# The mutations: (file, sed expression, what), all of them, shuffled by SEED, the first MUTATIONS.
mapfile -t ALL < <(for ((m = 0; m < MODULES; m++)); do
  printf 'lib/m%d.rb\ts/x + %d/x - %d/\tflip + to -\n' "$m" "$m" "$m"
  printf 'lib/m%d.rb\ts/x > %d/x < %d/\tflip > to <\n' "$m" "$m" "$m"
  printf 'lib/m%d.rb\ts/"m%d"/nil/\treturn nil\n' "$m" "$m"
done | ruby -e "puts STDIN.readlines.shuffle(random: Random.new($SEED))")
(( MUTATIONS <= ${#ALL[@]} )) || { echo "impact.sh: at most ${#ALL[@]} mutations" >&2; exit 2; }

now() { date +%s.%N; }

# failing files of a run's JSON report, sorted
failing() { ruby -rjson -e 'puts JSON.parse(File.read(ARGV[0]))["files"].reject { |f| f["status"] == "passed" }.map { |f| f["path"] }.sort' "$1"; }

note "recording the map: $FILES files, $MODULES modules"
"$TESTBOT" -n "$SLOTS" --no-bundler --record-impact >"$WORK/record.log" 2>&1 || { cat "$WORK/record.log" >&2; exit 1; }

ROWS=()
MISSES=0
SHARES=()
SAVED=()
for ((i = 0; i < MUTATIONS; i++)); do
  IFS=$'\t' read -r file expr what <<<"${ALL[$i]}"
  sed -i "$expr" "$file"
  git diff --quiet -- "$file" && { note "mutation $i did not change $file"; exit 1; }
  t0=$(now)
  "$TESTBOT" -n "$SLOTS" --no-bundler --report-json "$WORK/whole.json" >"$WORK/whole.log" 2>&1 || true
  t1=$(now)
  "$TESTBOT" -n "$SLOTS" --no-bundler --changed --report-json "$WORK/changed.json" >"$WORK/changed.log" 2>&1 || true
  t2=$(now)
  whole_failing=$(failing "$WORK/whole.json")
  changed_failing=$(failing "$WORK/changed.json" 2>/dev/null || true)
  missed=$(comm -23 <(printf '%s\n' "$whole_failing") <(printf '%s\n' "$changed_failing") | grep -c . || true)
  selected=$(ruby -rjson -e 'c = JSON.parse(File.read(ARGV[0]))["changed"]; puts c ? c["selected"] : 0' "$WORK/changed.json" 2>/dev/null || echo 0)
  nfail=$(printf '%s\n' "$whole_failing" | grep -c . || true)
  whole_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  changed_s=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')
  MISSES=$((MISSES + missed))
  SHARES+=("$(awk -v s="$selected" -v n="$FILES" 'BEGIN { printf "%.3f", s / n }')")
  SAVED+=("$(awk -v w="$whole_s" -v c="$changed_s" 'BEGIN { printf "%.3f", (w - c) / w }')")
  ROWS+=("| $((i + 1)) | \`$file\` $what | $nfail | $selected | $missed | $whole_s | $changed_s |")
  note "mutation $((i + 1))/$MUTATIONS: $file $what: $nfail failing, $selected selected, $missed missed"
  git checkout -q -- "$file"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

cpu_of() { # CPU seconds of one whole run of the suite in directory $1 with the other arguments
  cd "$1"
  shift
  rm -f tmp/testbot-impact-rspec.json
  /usr/bin/time -f '%U %S' -o "$WORK/time" "$TESTBOT" -n "$SLOTS" --no-bundler --no-fork "$@" >/dev/null 2>&1 || true
  awk '{ printf "%.2f", $1 + $2 }' "$WORK/time"
}

COST_LINES=()
if [[ ${COST:-0} == 1 ]]; then
  ruby "$REPO/bench/gen-synthetic.rb" "$WORK/cpu" --cpu --files "${COST_FILES:-60}" --total "${COST_TOTAL:-8}" --seed "$SEED" >/dev/null
  for what in cpu suite; do
    dir=$WORK/$what
    PLAIN=(); RECORDING=()
    for ((r = 0; r < RUNS; r++)); do
      PLAIN+=("$(cpu_of "$dir")"); RECORDING+=("$(cpu_of "$dir" --record-impact)")
      note "cost ($what) run $((r + 1))/$RUNS: plain ${PLAIN[-1]} s, recording ${RECORDING[-1]} s CPU"
    done
    p=$(median "${PLAIN[@]}"); q=$(median "${RECORDING[@]}")
    if [[ $what == cpu ]]; then
      label="bench/cpu.sh's suite (${COST_FILES:-60} files, ${COST_TOTAL:-8} CPU-s; its examples spin until their process has used their CPU time, so this counts recording's fixed costs: Coverage's start, the results taken per file)"
    else
      label="this suite (each example runs a ${SPIN:-20000}-iteration loop in lib code: line counting's share)"
    fi
    COST_LINES+=("- Recording's CPU cost on $label, \`--no-fork\`, $RUNS runs each, median CPU s of testbot and its runners: plain $p, \`--record-impact\` $q: **$(awk -v p="$p" -v q="$q" 'BEGIN { printf "%+.1f %%", (q - p) / p * 100 }')** (plain: ${PLAIN[*]}; recording: ${RECORDING[*]})")
  done
fi

{
  echo "### bench/impact.sh: recall of \`--changed\`"
  echo
  echo "- Suite: $FILES spec files, $MODULES lib modules of three methods, each spec file using two; \`-n $SLOTS\`; $MUTATIONS mutations (SEED=$SEED); testbot \`$TESTBOT\`"
  echo "- Command: \`bench/impact.sh $MUTATIONS $MODULES $FILES\`$([[ ${COST:-0} == 1 ]] && echo " (COST=1 RUNS=$RUNS)")"
  echo "- **Recall: $([[ $MISSES == 0 ]] && echo '100 %' || echo "$MISSES failing file(s) missed")**; median share of files selected: **$(awk -v s="$(median "${SHARES[@]}")" 'BEGIN { printf "%.1f %%", s * 100 }')**; median time saved: **$(awk -v s="$(median "${SAVED[@]}")" 'BEGIN { printf "%.1f %%", s * 100 }')**"
  for line in "${COST_LINES[@]}"; do echo "$line"; done
  echo
  echo "| # | mutation | files failing (whole run) | files selected | failing files missed | whole run s | \`--changed\` s |"
  echo "|---:|---|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
}
[[ $MISSES == 0 ]] || exit 1
