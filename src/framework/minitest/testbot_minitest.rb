# testbot's minitest runner, embedded in the testbot binary and written next to the run:
#
#   ruby -Itest testbot_minitest.rb ./test/a_test.rb … -- MINITEST_ARGS…
#
# It requires each file inside a rescue (a file that raises is reported as a load error and the
# others still run), then lets minitest run as `minitest/autorun` would, with two changes: the
# suites run grouped by the file whose loading defined them (so each file starts and finishes
# once, as RSpec's files do), and testbot's reporter replaces minitest's console reporters.
require_relative 'testbot_events'
require 'minitest'

module Testbot
  class Minitest
    class << self
      attr_accessor :current
    end

    def initialize(events, batch)
      @events = events
      @batch = batch
      @file = nil
      @started = false
    end

    attr_reader :events, :batch

    def load
      @batch.load(@events, -> { ::Minitest::Runnable.runnables })
    end

    # Replaces Minitest.__run: every file's serial suites in a row (shuffled within the file, as
    # minitest shuffles), then the suites that asked to run in parallel.
    def run_grouped(reporter, options)
      suites = ::Minitest::Runnable.runnables
      orphans = suites.reject { |s| @batch.file_of(s) }
      orphans.shuffle.each { |suite| suite.run(reporter, options) }
      later = []
      @batch.files.each do |file|
        next unless @batch.loaded?(file)
        start_file(file)
        parallel, serial = @batch.classes_of(file).shuffle.partition { |s| s.test_order == :parallel }
        serial.each { |suite| suite.run(reporter, options) }
        if parallel.empty?
          finish_file(file)
        else
          later << [file, parallel]
        end
      end
      later.each do |file, parallel|
        start_file(file)
        parallel.each { |suite| suite.run(reporter, options) }
      end
      # Parallel suites finish in Minitest.run's executor shutdown; the reporter closes them.
      []
    end

    def start_file(file)
      @file = file
      @file_started_at = Testbot.clock
      @seconds ||= Hash.new(0.0)
      @events.emit(e: 'file', f: file)
    end

    def finish_file(file)
      @seconds[file] += Testbot.clock - @file_started_at
      @done ||= {}
      return if @done[file]
      @done[file] = true
      @events.emit(e: 'file_done', f: file, t: @seconds[file])
      @file = nil
    end

    def finish_all
      @batch.files.each do |file|
        next unless @batch.loaded?(file)
        @seconds ||= Hash.new(0.0)
        @done ||= {}
        next if @done[file]
        @done[file] = true
        @events.emit(e: 'file_done', f: file, t: @seconds[file])
      end
    end

    # The file a test belongs to: the file whose loading defined its class; for a class defined
    # elsewhere (a helper), the file its test method is written in.
    def file_for(klass, source_file)
      (klass && @batch.file_of(klass)) || @batch.batch_file_for(source_file) || @file ||
        (source_file && "./#{relative(source_file)}") || @batch.files.first
    end

    def relative(path)
      full = File.expand_path(path)
      dir = Dir.pwd + '/'
      full.start_with?(dir) ? full[dir.size..] : full
    end

    class Reporter < ::Minitest::AbstractReporter
      def initialize(runner)
        super()
        @runner = runner
        @events = runner.events
        @count = 0
        @failures = 0
        @pending = 0
        @lock = Mutex.new
      end

      def start
        @events.emit(e: 'start', count: 0)
      end

      def prerecord(klass, _name)
        Thread.current[:testbot_test] = [klass, Testbot.clock]
      end

      def record(result)
        klass, started = Thread.current[:testbot_test]
        Thread.current[:testbot_test] = nil
        klass = nil unless klass && klass.name == class_name(result)
        source_file, line = source_location(result)
        file = @runner.file_for(klass || find_class(result), source_file)
        failure = result.failure
        status = if result.skipped? then 'pending'
                 elsif failure then 'failed'
                 else 'passed'
                 end
        event = Testbot.example_event(file, status, "#{class_name(result)}##{result.name}", [source_file, line],
                                      result.time || (started ? Testbot.clock - started : 0.0),
                                      failure && [message(result, failure), backtrace(failure)])
        @lock.synchronize do
          @count += 1
          @failures += 1 if status == 'failed'
          @pending += 1 if status == 'pending'
        end
        @events.emit(event)
      end

      def report
        @runner.finish_all
        errors = @runner.batch.load_errors.size
        @events.emit(e: 'done', examples: @count, failures: @failures, pending: @pending, errors_outside: errors)
        @events.flush
      end

      def passed?
        @failures.zero? && @runner.batch.load_errors.empty?
      end

      private

      def class_name(result)
        k = result.respond_to?(:klass) ? result.klass : result.class
        k.is_a?(String) ? k : k.name.to_s
      end

      def find_class(result)
        k = result.respond_to?(:klass) ? result.klass : result.class
        return k unless k.is_a?(String)
        ::Minitest::Runnable.runnables.find { |r| r.name == k }
      end

      def source_location(result)
        if result.respond_to?(:source_location)
          result.source_location
        else
          result.method(result.name).source_location
        end
      rescue StandardError
        [nil, nil]
      end

      def message(result, failure)
        if failure.is_a?(::Minitest::UnexpectedError)
          error = failure.respond_to?(:error) ? failure.error : failure.exception
          "#{error.class}: #{error.message}"
        elsif failure.is_a?(::Minitest::Skip)
          failure.message
        else
          failure.message
        end
      rescue StandardError => e
        "#{result.failure.class}: (message unavailable: #{e.message})"
      end

      def backtrace(failure)
        bt = if failure.is_a?(::Minitest::UnexpectedError)
               error = failure.respond_to?(:error) ? failure.error : failure.exception
               error.backtrace
             else
               failure.backtrace
             end
        Testbot.clean_backtrace(::Minitest.filter_backtrace(Array(bt))).first(40)
      rescue StandardError
        []
      end
    end

    # Installed into Minitest.run: testbot's reporter instead of the console ones, and the
    # grouped run. Other plugins' reporters stay.
    module Hooks
      def init_plugins(options)
        super
        runner = Testbot::Minitest.current
        return unless runner && reporter
        # Every reporter that prints to the console goes: minitest's own, and those plugins put
        # in their place (Rails' TestUnitReporter, SuppressedSummaryReporter). They all derive
        # from Minitest::Reporter, the reporter with an `io`; other plugins' reporters stay.
        reporter.reporters.reject! { |r| r.is_a?(::Minitest::Reporter) }
        reporter << Reporter.new(runner)
      end

      def __run(reporter, options)
        runner = Testbot::Minitest.current
        runner ? runner.run_grouped(reporter, options) : super
      end
    end
  end
end

events, batch = Testbot.start_runner(ARGV)
ARGV.replace(batch.args)
Minitest.singleton_class.prepend(Testbot::Minitest::Hooks)
Testbot::Minitest.current = Testbot::Minitest.new(events, batch)
Testbot::Minitest.current.load
# Runs at exit unless a file already asked for it (the usual `require "minitest/autorun"`).
Minitest.autorun
