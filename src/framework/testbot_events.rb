# testbot's event stream for the minitest, Test::Unit and Cucumber runners, embedded in the
# testbot binary and written next to the run (the RSpec formatter has its own copy).
#
# Events are JSON lines on the process's stdout, each behind a tag that holds a random nonce
# from the controller (TESTBOT_EVENT_TAG), so nothing a test prints can pass for an event. The
# nonce is removed from ENV before any test file loads. stderr is merged into stdout and both
# are unbuffered, so the controller sees the tests' own output in order.
require 'json'

module Testbot
  class Events
    def initialize
      @tag = ENV.delete('TESTBOT_EVENT_TAG') || 'testbot'
      @io = STDOUT.dup
      @io.sync = true
      STDOUT.sync = true
      STDERR.reopen(STDOUT)
      STDERR.sync = true
      @lock = Mutex.new
    end

    def emit(event)
      line = begin
        JSON.generate(event)
      rescue JSON::GeneratorError
        JSON.generate(event.transform_values { |v| v.is_a?(String) ? v.to_s.scrub('?') : v })
      end
      @lock.synchronize { @io.write("#{@tag}#{line}\n") }
    end

    def flush
      @io.flush
    end
  end

  # The batch: `runner.rb FILE… -- RUNNER_ARGS…`. Files come first and always start with `./`
  # or `/`, so the first `--` is the separator.
  class Batch
    attr_reader :files, :args, :load_errors

    def self.from_argv(argv)
      at = argv.index('--') || argv.size
      new(argv[0...at], argv[(at + 1)..] || [])
    end

    def initialize(files, args)
      @files = files
      @args = args
      @load_errors = {}
      @owner = {}
    end

    # Requires each file in turn; a file that raises is a load error and the others still load.
    # `classes` returns the framework's (append-only) list of test classes: the classes that
    # appear while a file loads belong to that file.
    def load(events, classes)
      @files.each do |file|
        before = classes.call.size
        begin
          require File.expand_path(file)
        rescue Interrupt, SignalException, NoMemoryError
          raise
        rescue Exception => e # rubocop:disable Lint/RescueException
          @load_errors[file] = e
          events.emit(e: 'load_error', f: file, m: Batch.describe_load_error(file, e))
        end
        classes.call[before..].each { |klass| @owner[klass] ||= file }
      end
    end

    # The batch file whose loading defined `klass`, or nil (defined by a helper before any file).
    def file_of(klass)
      @owner[klass]
    end

    def classes_of(file)
      @owner.select { |_klass, f| f == file }.keys
    end

    def loaded?(file)
      !@load_errors.key?(file)
    end

    def self.describe_load_error(file, error)
      lines = ["An error occurred while loading #{file}.", "#{error.class}: #{error.message}"]
      lines.concat(Testbot.clean_backtrace(error.backtrace).first(20).map { |l| "  # #{l}" })
      lines.join("\n")
    end

    # `test/a_test.rb` → `./test/a_test.rb` as the batch named it, when `path` is one of its files.
    def batch_file_for(path)
      return nil unless path
      full = File.expand_path(path)
      @files.find { |f| File.expand_path(f) == full }
    end
  end

  # The backtrace without testbot's own frames and Ruby's require machinery.
  def self.clean_backtrace(backtrace)
    Array(backtrace).map(&:to_s).reject do |line|
      line.start_with?(__dir__ + '/') || line.include?('/rubygems/core_ext/kernel_require.rb')
    end
  end

  def self.clock
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end
end
