#!/usr/bin/env ruby
# frozen_string_literal: true

# Writes a deterministic, sleep-bound synthetic RSpec suite into DIR.
#
#   bench/gen-synthetic.rb DIR [--files N] [--total SECONDS] [--seed S]
#                              [--max-file SECONDS] [--cpu] [--force]
#
# Layout written:
#   DIR/spec/<area>/<name>_NNN_spec.rb   N spec files, plain RSpec, no spec_helper
#   DIR/durations.txt                    "spec/<area>/<name>_NNN_spec.rb <seconds>" per file,
#                                        sorted longest first; the seconds are the exact sum of
#                                        the file's sleeps (integer milliseconds)
#
# Per-file durations are 0.05 s plus a lognormal share (sigma 1.5, fixed seed)
# of the rest: a few files dominate, with a long tail of short ones, as in real
# suites. Files are capped at --max-file (the excess is spread over the others)
# and the durations add up to exactly --total seconds (to the millisecond).
# Each file's time is split into examples that each sleep 0.05-0.5 s, so
# longer files have more examples and are bigger on disk (file size correlates
# with duration, as in real suites).
#
# With --cpu each example spins (counts) until its process has used that much CPU time
# instead of sleeping: a CPU-bound suite, whose ideal at N slots needs N free cores.
#
# Nothing here depends on the clock or the environment: the same arguments
# always produce byte-identical files.

require "fileutils"
require "optparse"

MIN_FILE_MS = 50     # shortest file: one 0.05 s example
MIN_EX_MS = 50       # each example sleeps at least 0.05 s ...
MAX_EX_MS = 500      # ... and at most 0.5 s
TARGET_EX_MS = 275   # average example length used to pick the example count
LOGNORMAL_SIGMA = 1.5

AREAS = %w[models services requests system lib].freeze
NOUNS = %w[user account invoice order payment report search session billing
           export import mailer webhook widget catalog checkout profile
           permission notification audit].freeze

options = { files: 200, total: 80.0, seed: 42, max_file: nil, force: false, cpu: false }
parser = OptionParser.new do |o|
  o.banner = "Usage: #{File.basename($PROGRAM_NAME)} DIR [options]"
  o.on("--files N", Integer, "number of spec files (default 200)") { |v| options[:files] = v }
  o.on("--total SECONDS", Float, "total sleep over all files (default 80)") { |v| options[:total] = v }
  o.on("--seed S", Integer, "random seed (default 42)") { |v| options[:seed] = v }
  o.on("--max-file SECONDS", Float,
       "cap for the longest file (default max(total/16, 2*total/files))") { |v| options[:max_file] = v }
  o.on("--cpu", "examples spin on the CPU for their time instead of sleeping") { options[:cpu] = true }
  o.on("--force", "overwrite DIR/spec and DIR/durations.txt if they exist") { options[:force] = true }
  o.on("-h", "--help", "show this help") do
    puts o
    exit 0
  end
end

begin
  parser.parse!
rescue OptionParser::ParseError => e
  warn "gen-synthetic: #{e.message}"
  warn parser
  exit 2
end

if ARGV.size != 1
  warn parser
  exit 2
end

dir = ARGV.first
n = options[:files]
total_ms = (options[:total] * 1000).round
# Default cap: half of total/8 slots, so ideal = total/slots up to 8 slots (but
# never so low that n files could not reach the total).
max_ms = ((options[:max_file] || [options[:total] / 16.0, 2.0 * options[:total] / n].max) * 1000).round

abort "gen-synthetic: --files must be >= 1" if n < 1
abort "gen-synthetic: --total too small: need at least #{n * MIN_FILE_MS / 1000.0} s for #{n} files" if total_ms < n * MIN_FILE_MS
abort "gen-synthetic: --max-file below the #{MIN_FILE_MS} ms minimum" if max_ms < MIN_FILE_MS
if max_ms * n < total_ms
  abort "gen-synthetic: --max-file #{max_ms / 1000.0} s x #{n} files cannot reach --total #{total_ms / 1000.0} s"
end

spec_dir = File.join(dir, "spec")
durations_path = File.join(dir, "durations.txt")
if !options[:force] && (File.exist?(spec_dir) || File.exist?(durations_path))
  abort "gen-synthetic: #{spec_dir} or #{durations_path} already exists (use --force to overwrite)"
end

rng = Random.new(options[:seed])

# --- 1. raw lognormal weights (Box-Muller on the seeded generator) ----------
raw = Array.new(n) do
  u1 = 1.0 - rng.rand # (0, 1]
  u2 = rng.rand
  z = Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math::PI * u2)
  Math.exp(LOGNORMAL_SIGMA * z)
end

# --- 2. scale to the total, clamping to [MIN_FILE_MS, max_ms] -----------------
# Every file gets MIN_FILE_MS plus a lognormal share of the rest. Water-filling
# for the cap: files pinned at max_ms keep it, the free ones are rescaled to
# absorb the rest; repeat until nothing new gets pinned.
spread_ms = total_ms - n * MIN_FILE_MS
cap = max_ms - MIN_FILE_MS
share = Array.new(n, 0.0)
pinned = Array.new(n, false)
loop do
  pinned_sum = (0...n).sum { |i| pinned[i] ? share[i] : 0.0 }
  free = (0...n).reject { |i| pinned[i] }
  break if free.empty?

  scale = (spread_ms - pinned_sum) / free.sum { |i| raw[i] }
  changed = false
  free.each do |i|
    v = raw[i] * scale
    if v > cap
      share[i] = cap.to_f
      pinned[i] = true
      changed = true
    else
      share[i] = v
    end
  end
  break unless changed
end
ms = share.map { |v| MIN_FILE_MS + v }

# Integer milliseconds summing exactly to total_ms (largest remainder), never
# crossing the bounds.
ims = ms.map(&:floor)
rest = total_ms - ims.sum
order = (0...n).sort_by { |i| [-(ms[i] - ims[i]), i] }
order.cycle do |i|
  break if rest.zero?
  next if ims[i] >= max_ms

  ims[i] += 1
  rest -= 1
end
raise "internal: durations do not add up" unless ims.sum == total_ms

# --- 3. split each file into examples of 0.05-0.5 s --------------------------
def split_examples(file_ms, rng)
  k = (file_ms.to_f / TARGET_EX_MS).round
  k = k.clamp((file_ms.to_f / MAX_EX_MS).ceil, file_ms / MIN_EX_MS)
  k = 1 if k < 1
  base, extra = file_ms.divmod(k)
  parts = Array.new(k) { |j| base + (j < extra ? 1 : 0) }
  # Random transfers between examples keep the sum and the bounds but make
  # the example lengths uneven.
  (3 * k).times do
    a = rng.rand(k)
    b = rng.rand(k)
    next if a == b

    room = [parts[a] - MIN_EX_MS, MAX_EX_MS - parts[b]].min
    next if room <= 0

    d = rng.rand(room + 1)
    parts[a] -= d
    parts[b] += d
  end
  parts
end

# --- 4. names: shuffled so that name order says nothing about duration -------
names = Array.new(n) do |i|
  area = AREAS[rng.rand(AREAS.size)]
  noun = NOUNS[rng.rand(NOUNS.size)]
  format("spec/%<area>s/%<noun>s_%<i>03d_spec.rb", area: area, noun: noun, i: i + 1)
end
names = names.shuffle(random: rng)

FileUtils.rm_rf(spec_dir) if options[:force]
files = names.each_with_index.map do |path, i|
  parts = split_examples(ims[i], rng)
  raise "internal: examples do not add up for #{path}" unless parts.sum == ims[i]

  const = File.basename(path, "_spec.rb").split("_").map(&:capitalize).join
  body = +"# frozen_string_literal: true\n\n"
  body << "# Synthetic #{options[:cpu] ? 'CPU' : 'sleep'}-bound spec generated by bench/gen-synthetic.rb " \
          "(seed #{options[:seed]}): #{parts.size} examples, #{format('%.3f', ims[i] / 1000.0)} s\n"
  body << "RSpec.describe \"#{const}\" do\n"
  parts.each_with_index do |p, j|
    body << "  it \"behaves correctly in case #{j + 1}\" do\n"
    body << if options[:cpu]
              "    spin_until = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) + #{format('%.3f', p / 1000.0)}\n" \
                "    n = 0\n" \
                "    n += 1 while n % 10_000 != 0 || Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) < spin_until\n"
            else
              "    sleep #{format('%.3f', p / 1000.0)}\n"
            end
    body << "    expect(#{j + 1}).to eq(#{j + 1})\n"
    body << "  end\n"
    body << "\n" unless j == parts.size - 1
  end
  body << "end\n"
  full = File.join(dir, path)
  FileUtils.mkdir_p(File.dirname(full))
  File.write(full, body)
  [path, ims[i], parts.size]
end

files.sort_by! { |path, t, _| [-t, path] }
File.open(durations_path, "w") do |f|
  files.each { |path, t, _| f.puts "#{path} #{format('%.3f', t / 1000.0)}" }
end

examples = files.sum { |_, _, k| k }
longest = files.first[1] / 1000.0
top5 = files.first(5).sum { |_, t, _| t } / 1000.0
total_s = total_ms / 1000.0
puts format("gen-synthetic: %<n>d files, %<ex>d examples, total %<t>.3f s, longest %<l>.3f s, " \
            "shortest %<s>.3f s, top 5 files %<top>.1f s (%<pct>.0f%%), seed %<seed>d -> %<dir>s",
            n: n, ex: examples, t: total_s, l: longest, s: files.last[1] / 1000.0,
            top: top5, pct: 100.0 * top5 / total_s, seed: options[:seed], dir: dir)
