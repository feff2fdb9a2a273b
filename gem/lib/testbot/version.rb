# frozen_string_literal: true

module Testbot
  # The testbot binary's version (Cargo.toml's `version`; tests/gem.rs checks that they agree).
  VERSION = "0.1.0"
end
