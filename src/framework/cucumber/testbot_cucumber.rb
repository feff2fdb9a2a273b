# testbot's Cucumber runner, embedded in the testbot binary and written next to the run:
#
#   ruby testbot_cucumber.rb ./features/a.feature … -- CUCUMBER_ARGS…
#
# It parses each feature file first (a file Gherkin cannot parse is reported as a load error
# and left out, where Cucumber would refuse to run anything), then runs Cucumber in this process
# as the `cucumber` command does, with `--format Testbot::CucumberFormatter` added. The formatter
# speaks both event APIs: Cucumber 2.4's (before_test_case, after_test_case, finished_testing)
# and Cucumber 3+'s (test_case_started, test_case_finished, test_run_finished). Scenarios (and
# outline rows) count as examples; pending, undefined and skipped ones as pending, or as failed
# when the run is strict about them. Under `--wip` Cucumber expects every scenario to fail and
# exits 0 when none passed: a scenario that failed counts as pending ("failed, as --wip
# expects") and one that passed as failed, so testbot's verdict is Cucumber's.
require_relative 'testbot_events'
require 'cucumber/rspec/disable_option_parser'
require 'cucumber/cli/main'

module Testbot
  class CucumberFormatter
    class << self
      attr_accessor :events, :batch
    end

    def initialize(config)
      @config = config
      @events = CucumberFormatter.events || Testbot::Events.new
      @batch = CucumberFormatter.batch || Testbot::Batch.new([], [])
      @file = nil
      @seconds = Hash.new(0.0)
      @finished = {}
      @count = 0
      @failures = 0
      @pending = 0
      @started = false
      # With --order random the files' scenarios interleave: files finish together at the end.
      @interleaved = config.respond_to?(:randomize?) && config.randomize?
      @retries = config.respond_to?(:retry_attempts) ? config.retry_attempts.to_i : 0
      @attempts = Hash.new(0)
      @wip = config.respond_to?(:wip?) && config.wip?
      if defined?(::Cucumber::Events::TestCaseFinished)
        config.on_event(:test_case_started) { |e| case_started(e.test_case) }
        config.on_event(:test_case_finished) { |e| case_finished(e.test_case, e.result) }
        config.on_event(:test_run_finished) { |_e| run_finished }
      else
        config.on_event(:before_test_case) { |e| case_started(e.test_case) }
        config.on_event(:after_test_case) { |e| case_finished(e.test_case, e.result) }
        config.on_event(:finished_testing) { |_e| run_finished }
      end
    end

    def self.start(events)
      events.emit(e: 'start', count: 0)
    end

    private

    def case_started(test_case)
      start
      file = file_of(test_case)
      if file != @file
        finish_file(@file) if @file && !@interleaved
        @file = file
        @events.emit(e: 'file', f: file)
      end
      @case_started_at = Testbot.clock
    end

    def case_finished(test_case, result)
      seconds = @case_started_at ? Testbot.clock - @case_started_at : 0.0
      file = file_of(test_case)
      @seconds[file] += seconds
      # A failed scenario that --retry will run again counts once, with its last result.
      key = test_case.location.to_s
      @attempts[key] += 1
      return if result.failed? && @attempts[key] <= @retries

      status = if !ok?(result) then 'failed'
               elsif result.passed? then 'passed'
               else 'pending'
               end
      location = test_case.location
      line = location.respond_to?(:line) ? location.line : location.lines.first
      event = { e: 'ex', f: file, s: status,
                d: "#{keyword(test_case)}: #{test_case.name}",
                loc: "#{file.sub(%r{\A\./}, '')}:#{line}",
                l: line, t: seconds }
      unless result.passed?
        event[:m] = message(result)
        event[:bt] = backtrace(result)
      end
      wip(event) if @wip
      @count += 1
      @failures += 1 if event[:s] == 'failed'
      @pending += 1 if event[:s] == 'pending'
      @events.emit(event)
    end

    def run_finished
      start
      finish_file(@file) if @file
      @batch.files.each { |file| finish_file(file) if @batch.loaded?(file) }
      @events.emit(e: 'done', examples: @count, failures: @failures, pending: @pending,
                   errors_outside: @batch.load_errors.size)
      @events.flush
    end

    # `--wip`: failing is what a scenario is expected to do; passing is the failure.
    def wip(event)
      case event[:s]
      when 'failed'
        event[:s] = 'pending'
        event[:m] = "failed, as --wip expects: #{event[:m]}"
        event.delete(:bt)
      when 'passed'
        event[:s] = 'failed'
        event[:m] = 'passed, but --wip expects every scenario to fail'
      end
    end

    def start
      return if @started
      @started = true
      CucumberFormatter.start(@events)
    end

    def finish_file(file)
      return if @finished[file]
      @finished[file] = true
      @events.emit(e: 'file_done', f: file, t: @seconds[file])
    end

    def file_of(test_case)
      path = test_case.location.file
      @batch.batch_file_for(path) || path
    end

    def keyword(test_case)
      test_case.respond_to?(:keyword) ? test_case.keyword : 'Scenario'
    rescue StandardError
      'Scenario'
    end

    # Cucumber 2.4: `ok?(strict)`; Cucumber 3+: `ok?(strict: StrictConfiguration)`.
    def ok?(result)
      keyword_api = result.method(:ok?).parameters.any? { |kind, _| kind == :key || kind == :keyreq }
      if keyword_api
        strict = @config.respond_to?(:strict) ? @config.strict : nil
        strict.nil? ? result.ok? : result.ok?(strict: strict)
      else
        result.ok?(@config.respond_to?(:strict?) && @config.strict?)
      end
    end

    def message(result)
      if result.respond_to?(:exception) && result.exception
        e = result.exception
        "#{e.message} (#{e.class})"
      elsif result.respond_to?(:message) && result.message
        result.message.to_s
      else
        result.to_sym.to_s
      end
    rescue StandardError
      result.to_s
    end

    def backtrace(result)
      return [] unless result.respond_to?(:exception) && result.exception
      Testbot.clean_backtrace(result.exception.backtrace).first(40)
    rescue StandardError
      []
    end
  end

  # Feature files Gherkin cannot parse. Only Gherkin's own parser errors count: if this
  # Gherkin's API is not the one expected, nothing is checked here and Cucumber decides.
  module GherkinCheck
    def self.error_in(file)
      return nil unless parser_available?
      ::Gherkin::Parser.new.parse(::Gherkin::TokenScanner.new(File.read(file)))
      nil
    rescue ::Gherkin::ParserError => e
      "#{file}: #{e.message}"
    rescue StandardError, ScriptError
      nil
    end

    def self.parser_available?
      return @available unless @available.nil?
      @available = begin
        require 'gherkin/parser'
        require 'gherkin/token_scanner'
        require 'gherkin/errors'
        defined?(::Gherkin::Parser) && defined?(::Gherkin::TokenScanner) && defined?(::Gherkin::ParserError) ? true : false
      rescue LoadError
        false
      end
    end
  end
end

events, batch = Testbot.start_runner(ARGV)
batch.files.each do |file|
  next unless (error = Testbot::GherkinCheck.error_in(file))
  batch.load_errors[file] = error
  events.emit(e: 'load_error', f: file,
              m: "An error occurred while loading #{file}.\nGherkin could not parse it:\n#{error}")
end
runnable = batch.files.select { |file| batch.loaded?(file) }
if runnable.empty?
  # Nothing left to run (and Cucumber given no file would run every feature).
  Testbot::CucumberFormatter.start(events)
  events.emit(e: 'done', examples: 0, failures: 0, pending: 0, errors_outside: batch.load_errors.size)
  exit(batch.load_errors.empty?)
end
Testbot::CucumberFormatter.events = events
Testbot::CucumberFormatter.batch = batch
Cucumber::Cli::Main.new([*batch.args, '--format', 'Testbot::CucumberFormatter', *runnable]).execute!
