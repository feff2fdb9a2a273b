# testbot's RSpec formatter, embedded in the testbot binary and written next to the run.
#
# It sends one event per line on the event channel (testbot_events.rb: a descriptor of its own,
# apart from the specs' stdout and stderr). What RSpec knows is taken from RSpec's own objects,
# never read back out of text it printed: the file a load error belongs to is the file RSpec was
# loading when it reported it, and an error outside examples is one RSpec's reporter was told of.
#
# It loads what RSpec's stock formatters load (base_formatter.rb requires `stringio`) and nothing
# more, so a spec sees the same Ruby under testbot as under `rspec`.
require 'stringio'
require_relative 'testbot_events'
require_relative 'testbot_coverage'
# Started before the helpers, when recording (testbot_impact_start.rb): not loaded otherwise.
require_relative 'testbot_impact' if ENV.key?('TESTBOT_IMPACT')

module Testbot
  class RSpecFormatter
    RSpec::Core::Formatters.register self,
      :start, :example_group_started, :example_group_finished,
      :example_started, :example_passed, :example_failed, :example_pending,
      :message, :dump_profile, :dump_summary, :close

    class << self
      attr_accessor :current
    end

    # Tells the formatter which file RSpec is loading (spec files and `--require`d helpers).
    module Loading
      def load_file_handling_errors(method, file)
        formatter = Testbot::RSpecFormatter.current
        formatter ? formatter.loading(method, file) { super } : super
      end
    end

    # Tells the formatter that the next message is an error outside examples.
    module OutsideErrors
      def notify_non_example_exception(exception, context_description)
        Testbot::RSpecFormatter.current&.outside_error
        super
      end
    end

    RSpec::Core::Configuration.prepend(Loading)
    RSpec::Core::Reporter.prepend(OutsideErrors)

    def initialize(_output)
      @events = Testbot::Events.new
      @remaining = Hash.new(0)
      @seconds = Hash.new(0.0)
      @done = {}
      @loaded = []
      @loading = nil
      @load_failed = false
      @error_next = false
      @group_started_at = nil
      @clock = Process::CLOCK_MONOTONIC
      # `--record-impact`: the project files each file ran (testbot_impact.rb); nil: not recording.
      @impact = Hash.new { |h, k| h[k] = [] } if defined?(Testbot::Impact) && Testbot::Impact.recording?
      @boot = @impact ? Testbot::Impact.inherited.dup : []
      Testbot::RSpecFormatter.current = self
      Testbot::Coverage.batch_started
      # testbot's frames are in a load error's backtrace (Loading above): not the suite's.
      RSpec.configuration.backtrace_exclusion_patterns << %r{\A#{Regexp.escape(__dir__)}/}
      emit(e: 'hello', pid: Process.pid)
    end

    def loading(method, file)
      @loading = [method, file]
      @load_failed = false
      impact_between if method == :load
      yield
    ensure
      if method == :load
        @loaded << relative(file) unless @load_failed
        impact_of(relative(file))
      end
      @loading = nil
    end

    def outside_error
      @error_next = true
    end

    def start(notification)
      RSpec.world.ordered_example_groups.each do |group|
        @remaining[file_of(group)] += RSpec.world.example_count([group])
      end
      # Random order: the seed this process shuffles with, to run its files again in its order.
      config = RSpec.configuration
      seed = config.seed if config.seed && config.seed_used?
      @shared_locations = nil
      emit(e: 'start', count: notification.count, seed: seed)
      # `--profile N` (from the command line, `.rspec`, SPEC_OPTS or `config.profile_examples`):
      # testbot builds one profile for the whole run from the example events. RSpec adds its own
      # profile formatter only when no formatter takes `dump_profile`; this one does, and prints
      # nothing, so no batch prints a partial list.
      profile = config.profile_examples
      emit(e: 'profile', count: profile) if profile.is_a?(Integer) && profile.positive?
    end

    def dump_profile(_notification); end


    def example_group_started(notification)
      group = notification.group
      return unless top_level?(group)
      impact_between
      @group_started_at = Process.clock_gettime(@clock)
      emit(e: 'file', f: file_of(group))
    end

    def example_group_finished(notification)
      group = notification.group
      return unless top_level?(group)
      file = file_of(group)
      impact_of(file)
      @seconds[file] += Process.clock_gettime(@clock) - @group_started_at if @group_started_at
      @group_started_at = nil
      finish_file(file) if @remaining[file] <= 0
    end

    def example_started(notification)
      example = notification.example
      emit(e: 'ex_start', f: file_of(example.example_group), d: example.full_description,
           loc: rerun_argument(example))
    end

    def example_passed(notification)
      example_event(notification.example, 'passed')
    end

    def example_pending(notification)
      example = notification.example
      example_event(example, 'pending', m: example.execution_result.pending_message.to_s)
    end

    def example_failed(notification)
      example_event(notification.example, 'failed',
                    m: failure_message(notification),
                    bt: notification.formatted_backtrace)
    end

    def message(notification)
      text = notification.message.to_s
      error = @error_next
      @error_next = false
      return if !error && split_run_options?(text)
      if error && @loading
        @load_failed = true
        method, file = @loading
        if method == :load
          emit(e: 'load_error', f: relative(file), m: text)
          return
        end
      end
      emit(e: 'msg', m: text, err: error)
    end

    def dump_summary(summary)
      @remaining.each_key { |file| finish_file(file) if @remaining[file] <= 0 }
      # A file that loaded but defined no examples (or none that the filters kept) is done too.
      @loaded.each { |file| finish_file(file) if @remaining[file] <= 0 }
      if @impact
        impact_between
        emit(e: 'impact', p: @boot.uniq, ruby: RUBY_DESCRIPTION) if Testbot::Impact.recording?
      end
      emit(e: 'done',
           examples: summary.example_count,
           failures: summary.failure_count,
           pending: summary.pending_count,
           errors_outside: summary.errors_outside_of_examples_count,
           **(Testbot::Coverage.storing? ? { cov: true } : {}))
    end

    def close(_notification)
      @events.flush
      Testbot::Coverage.batch_finished
    end

    private

    # `Run options: include {:ids=>…}` (or `:locations`): the pieces of files testbot gave this
    # batch, different in every batch that ran part of a file; not the suite's own options.
    def split_run_options?(text)
      return false unless text.start_with?('Run options:')
      rules = RSpec.world.filter_manager.inclusions.rules
      rules.key?(:ids) || rules.key?(:locations)
    end

    # RSpec's own rerun argument (`rerun_argument_for` in its summary): the example's line, or
    # its id (`./spec/a_spec.rb[1:1:6]`) when other examples share that line (defined in a loop).
    def rerun_argument(example)
      @shared_locations ||= RSpec.world.all_examples.group_by(&:location_rerun_argument).select { |_, e| e.size > 1 }
      location = example.location_rerun_argument
      @shared_locations.key?(location) ? example.id : location
    end

    # RSpec's own failure text without the description line; for aggregated failures
    # (`:aggregate_failures`, an example error plus an `after` hook error) every sub-failure.
    def failure_message(notification)
      lines = notification.message_lines
      return lines.join("\n") unless lines.empty?
      full = notification.fully_formatted_lines(nil, RSpec::Core::Notifications::NullColorizer).map(&:to_s)
      full = full.drop_while { |l| l.strip.empty? }.drop(1) # the description
      indent = full.reject { |l| l.strip.empty? }.map { |l| l[/\A */].size }.min || 0
      full.map { |l| l[indent..] || '' }.join("\n").strip
    rescue StandardError => e
      "#{notification.example.exception.class}: (testbot could not format this failure: #{e.class}: #{e.message})"
    end

    def example_event(example, status, extra = {})
      file = file_of(example.example_group)
      @remaining[file] -= 1
      emit({ e: 'ex', f: file, s: status,
             d: example.full_description,
             loc: rerun_argument(example),
             l: example.metadata[:line_number],
             id: example.metadata[:scoped_id],
             t: example.execution_result.run_time }.merge(extra))
    end

    def finish_file(file)
      return if @done[file]
      @done[file] = true
      paths = @impact&.delete(file)
      emit(e: 'impact', f: file, p: paths.uniq) if paths && Testbot::Impact.recording?
      emit(e: 'file_done', f: file, t: @seconds[file])
    end

    # What ran outside any file: the boot set.
    def impact_between
      @boot.concat(Testbot::Impact.take) if @impact
    end

    def impact_of(file)
      @impact[file].concat(Testbot::Impact.take) if @impact
    end

    def top_level?(group)
      group.respond_to?(:superclass) && group.superclass == RSpec::Core::ExampleGroup ||
        group.parent_groups.size == 1
    end

    def file_of(group)
      group.parent_groups.last.metadata[:file_path].to_s
    end

    def relative(file)
      RSpec::Core::Metadata.relative_path(File.expand_path(file.to_s))
    end

    def emit(event)
      @events.emit(event)
    end
  end
end
