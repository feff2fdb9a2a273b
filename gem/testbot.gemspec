# frozen_string_literal: true

# Built by script/package (see there): with TESTBOT_GEM_PLATFORM set (e.g. x86_64-linux), a
# platform gem holding the testbot binary at libexec/testbot; without it, the plain "ruby" gem,
# whose exe says how to get a binary.
require_relative "lib/testbot/version"

Gem::Specification.new do |spec|
  spec.name = "testbot"
  spec.version = Testbot::VERSION
  spec.authors = ["testbot's authors"]
  spec.summary = "Run a Ruby test suite in parallel on every core of every machine you can reach over SSH"
  spec.description = "testbot runs RSpec, minitest, Test::Unit and Cucumber files on local cores and SSH hosts " \
                     "from one queue and gives one truthful result. The gem carries the native testbot binary: " \
                     "add `gem \"testbot\", group: :test` and run `bundle exec testbot`."
  spec.license = "MIT"
  spec.required_ruby_version = ">= 2.7"
  spec.files = ["README.md", "LICENSE", "exe/testbot", "lib/testbot.rb", "lib/testbot/version.rb"]
  spec.bindir = "exe"
  spec.executables = ["testbot"]
  spec.require_paths = ["lib"]
  platform = ENV.fetch("TESTBOT_GEM_PLATFORM", "")
  unless platform.empty?
    spec.platform = Gem::Platform.new(platform)
    spec.files << "libexec/testbot"
  end
end
