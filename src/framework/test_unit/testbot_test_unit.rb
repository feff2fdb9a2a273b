# testbot's Test::Unit runner, embedded in the testbot binary and written next to the run:
#
#   ruby -Itest testbot_test_unit.rb ./test/a_test.rb … -- TEST_UNIT_ARGS…
#
# It requires each file inside a rescue (a file that raises is reported as a load error and the
# others still run), then runs Test::Unit's AutoRunner with a collector that makes one suite per
# file (the test cases whose loading that file caused) and a runner that reports to testbot
# instead of the console. TEST_UNIT_ARGS are AutoRunner's options (`-n NAME`, `-t TESTCASE`, …).
require_relative 'testbot_events'
require 'test/unit'
require 'test/unit/collector'
require 'test/unit/ui/testrunner'
require 'test/unit/ui/testrunnermediator'

module Testbot
  class TestUnit
    class << self
      attr_accessor :current
    end

    attr_reader :events, :batch

    def initialize(events, batch)
      @events = events
      @batch = batch
      @file_suites = {}
      @count = 0
      @failures = 0
      @pending = 0
      @outside = 0
      @started = false
      @done = false
      @finished_files = {}
    end

    def load
      @batch.load(@events, -> { ::Test::Unit::TestCase::DESCENDANTS })
    end

    # One suite per loaded file, in the batch's order; filters (-n, -t, …) as AutoRunner's.
    def collect(filters)
      collector = Collector.new
      collector.filter = filters
      root = ::Test::Unit::TestSuite.new('testbot')
      @batch.files.each do |file|
        next unless @batch.loaded?(file)
        suite = ::Test::Unit::TestSuite.new(file)
        collector.add_test_cases(suite, @batch.classes_of(file))
        @file_suites[suite.object_id] = file
        root << suite
      end
      root
    end

    class Collector
      include ::Test::Unit::Collector
    end

    def start
      return if @started
      @started = true
      @events.emit(e: 'start', count: 0)
    end

    def suite_started(suite)
      file = @file_suites[suite.object_id]
      return unless file
      @file = file
      @file_started_at = Testbot.clock
      @events.emit(e: 'file', f: file)
    end

    def suite_finished(suite)
      file = @file_suites[suite.object_id]
      return unless file
      finish_file(file, Testbot.clock - @file_started_at)
      @file = nil
    end

    def finish_file(file, seconds)
      return if @finished_files[file]
      @finished_files[file] = true
      @events.emit(e: 'file_done', f: file, t: seconds)
    end

    def test_started(test)
      @test = test
      @faults = []
      @test_started_at = Testbot.clock
    end

    def fault(fault)
      if @test
        @faults << fault
      else
        # A fault outside any test: a `startup`/`shutdown` class hook.
        @outside += 1
        @events.emit(e: 'msg', m: "An error occurred outside of tests (#{fault.class.name.split('::').last} " \
                                 "in #{fault.test_name}).\n#{long_display(fault)}")
      end
    end

    def test_finished(test)
      return unless @test.equal?(test)
      faults = @faults
      @test = nil
      failed = faults.select { |f| f.is_a?(::Test::Unit::Failure) || f.is_a?(::Test::Unit::Error) }
      skipped = faults.select { |f| f.is_a?(::Test::Unit::Pending) || f.is_a?(::Test::Unit::Omission) }
      status = if failed.any? then 'failed'
               elsif skipped.any? then 'pending'
               else 'passed'
               end
      file = @file || @batch.batch_file_for(source_of(test)&.first) || @batch.files.first
      shown = failed.any? ? failed : skipped
      event = Testbot.example_event(file, status, "#{test.class.name}##{test.local_name}", source_of(test),
                                    Testbot.clock - @test_started_at,
                                    shown.empty? ? nil : [shown.map { |f| message(f) }.join("\n\n"), backtrace(shown.first)])
      @count += 1
      @failures += 1 if status == 'failed'
      @pending += 1 if status == 'pending'
      @events.emit(event)
    end

    def finish
      return if @done
      @done = true
      start
      @batch.files.each { |file| finish_file(file, 0.0) if @batch.loaded?(file) }
      @events.emit(e: 'done', examples: @count, failures: @failures, pending: @pending,
                   errors_outside: @batch.load_errors.size + @outside)
      @events.flush
    end

    def passed?
      @failures.zero? && @outside.zero? && @batch.load_errors.empty?
    end

    private

    def source_of(test)
      test.method(test.method_name).source_location
    rescue StandardError
      nil
    end

    def message(fault)
      if fault.is_a?(::Test::Unit::Error)
        "#{fault.exception.class}: #{fault.exception.message}"
      else
        fault.message.to_s
      end
    rescue StandardError
      fault.to_s
    end

    def long_display(fault)
      fault.long_display
    rescue StandardError
      fault.to_s
    end

    def backtrace(fault)
      bt = fault.is_a?(::Test::Unit::Error) ? fault.exception.backtrace : Array(fault.location)
      Testbot.clean_backtrace(bt).reject { |l| l.include?('/test/unit/') || l.include?('/test-unit') }.first(40)
    rescue StandardError
      []
    end

    # The Test::Unit UI runner: the mediator's events, passed to the state above.
    class Runner < ::Test::Unit::UI::TestRunner
      private

      def attach_to_mediator
        state = Testbot::TestUnit.current
        m = ::Test::Unit
        @mediator.add_listener(m::UI::TestRunnerMediator::STARTED) { |_| state.start }
        @mediator.add_listener(m::TestSuite::STARTED_OBJECT) { |suite| state.suite_started(suite) }
        @mediator.add_listener(m::TestSuite::FINISHED_OBJECT) { |suite| state.suite_finished(suite) }
        @mediator.add_listener(m::TestCase::STARTED_OBJECT) { |test| state.test_started(test) }
        @mediator.add_listener(m::TestResult::FAULT) { |fault| state.fault(fault) }
        @mediator.add_listener(m::TestCase::FINISHED_OBJECT) { |test| state.test_finished(test) }
        @mediator.add_listener(m::UI::TestRunnerMediator::FINISHED) { |_| state.finish }
      end
    end
  end
end

Test::Unit::AutoRunner.register_runner(:testbot) { |_auto_runner| Testbot::TestUnit::Runner }
Test::Unit::AutoRunner.register_collector(:testbot) do |auto_runner|
  Testbot::TestUnit.current.collect(auto_runner.filters)
end

events, batch = Testbot.start_runner(ARGV)
ARGV.replace(batch.args)
state = Testbot::TestUnit.current = Testbot::TestUnit.new(events, batch)
state.load
# Run here, not from test/unit's at_exit hook, with testbot's runner and collector.
Test::Unit::AutoRunner.need_auto_run = false
Test::Unit::AutoRunner.run(false, nil, ['--runner=testbot', '--collector=testbot', *batch.args])
# AutoRunner skips the runner when no test is left (empty files, everything filtered out).
state.finish
exit(state.passed?)
