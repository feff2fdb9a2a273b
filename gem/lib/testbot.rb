# frozen_string_literal: true

require_relative "testbot/version"

# testbot is a native program (written in Rust); this gem carries it. Nothing here is loaded by
# `bundle exec testbot`: exe/testbot runs the binary. See README.md.
module Testbot
  # Where the platform gem keeps the binary.
  def self.binary_path
    File.expand_path("../libexec/testbot", __dir__)
  end

  # Whether this gem holds a binary (the platform gems do; the plain "ruby" gem does not).
  def self.binary?
    File.file?(binary_path) && File.executable?(binary_path)
  end
end
