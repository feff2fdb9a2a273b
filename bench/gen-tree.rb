# frozen_string_literal: true

# Writes a Rails-sized project tree for bench/sync.sh:
#   ruby bench/gen-tree.rb DIR [--files N] [--binaries N] [--binary-mb MB] [--seed S]
# Defaults: 10,000 entries in all (text files under app/, spec/, lib/, config/, db/, public/,
# vendor/; a few odd names and symlinks), plus 6 random binaries of 11 MB: about 120 MB.
# Text files are 200 B–24 KB of words (so they compress like source code); the same
# arguments always give the same tree.

require "fileutils"

dir = ARGV.shift or abort("usage: gen-tree.rb DIR [--files N] [--binaries N] [--binary-mb MB] [--seed S]")
opts = { files: 10_000, binaries: 6, binary_mb: 11, seed: 42 }
until ARGV.empty?
  key = ARGV.shift.delete_prefix("--").tr("-", "_").to_sym
  abort("unknown option --#{key}") unless opts.key?(key)
  opts[key] = Integer(ARGV.shift)
end
rng = Random.new(opts[:seed])
abort("#{dir} exists and is not empty") if Dir.exist?(dir) && !Dir.empty?(dir)

WORDS = %w[def end class module self user account order item price total render redirect_to params
           expect to eq be_truthy let before describe context it validates belongs_to has_many scope
           where joins includes find_by create update destroy json html status ok created errors
           attribute string integer datetime references index migration change add_column].freeze
AREAS = %w[app/models app/controllers app/views/orders app/views/users app/helpers app/jobs app/mailers
           lib/tasks lib/core config/initializers config/locales db/migrate spec/models
           spec/controllers spec/requests spec/system spec/support public/assets vendor/javascript].freeze

special = [
  "spec/with space_spec.rb", "spec/quote ' and \" .rb", "spec/new\nline.rb", "spec/ünïcødé ✓.rb",
  "-leading-dash.rb", "spec/$(touch pwned).rb",
]
links = { "config/current.rb" => "initializers/area_0.rb", "public/outside" => "/etc/hostname" }
text_files = opts[:files] - opts[:binaries] - special.size - links.size

def words(rng, bytes)
  out = +""
  out << WORDS[rng.rand(WORDS.size)] << (rng.rand(8).zero? ? "\n" : " ") while out.bytesize < bytes
  out
end

text_files.times do |i|
  area = AREAS[i % AREAS.size]
  sub = (i / AREAS.size) % 25
  path = File.join(dir, area, "group_#{sub}", "file_#{i}.rb")
  FileUtils.mkdir_p(File.dirname(path))
  # Mostly small files, a few larger ones: ~7 KB on average.
  size = rng.rand < 0.9 ? 200 + rng.rand(8_000) : 8_000 + rng.rand(16_000)
  File.write(path, words(rng, size))
end
FileUtils.mkdir_p(File.join(dir, "config/initializers"))
File.write(File.join(dir, "config/initializers/area_0.rb"), "# initializer\n")
special.each_with_index do |name, i|
  path = File.join(dir, name)
  FileUtils.mkdir_p(File.dirname(path))
  File.write(path, "odd #{i}\n")
end
links.each { |name, target| File.symlink(target, File.join(dir, name)) }
FileUtils.mkdir_p(File.join(dir, "vendor/assets"))
opts[:binaries].times do |i|
  File.binwrite(File.join(dir, "vendor/assets/blob_#{i}.bin"), rng.bytes(opts[:binary_mb] * 1024 * 1024))
end
File.chmod(0o755, File.join(dir, "lib/tasks/group_0/file_#{AREAS.index('lib/tasks')}.rb"))
