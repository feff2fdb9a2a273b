# testbot's RSpec formatter, embedded in the testbot binary and written next to the run.
#
# It streams one JSON event per line on the process's stdout, each behind a tag that
# holds a random nonce from the controller (TESTBOT_EVENT_TAG), so nothing a spec
# prints can pass for an event. The nonce is removed from ENV before any spec runs.
# stderr is merged into stdout and stdout is unbuffered, so the controller sees the
# specs' own output in order and can attribute it to the file that printed it.
require 'json'

module Testbot
  class RSpecFormatter
    RSpec::Core::Formatters.register self,
      :start, :example_group_started, :example_group_finished,
      :example_started, :example_passed, :example_failed, :example_pending,
      :message, :dump_summary, :close

    LOAD_ERROR = /\AAn error occurred while loading (.+?)\.?$/

    def initialize(_output)
      @tag = ENV.delete('TESTBOT_EVENT_TAG') || 'testbot'
      @io = STDOUT.dup
      @io.sync = true
      STDOUT.sync = true
      STDERR.reopen(STDOUT)
      STDERR.sync = true
      @remaining = Hash.new(0)
      @seconds = Hash.new(0.0)
      @done = {}
      @group_started_at = nil
      @clock = Process::CLOCK_MONOTONIC
    end

    def start(notification)
      RSpec.world.ordered_example_groups.each do |group|
        @remaining[file_of(group)] += RSpec.world.example_count([group])
      end
      emit(e: 'start', count: notification.count)
    end

    def example_group_started(notification)
      group = notification.group
      return unless top_level?(group)
      @group_started_at = Process.clock_gettime(@clock)
      emit(e: 'file', f: file_of(group))
    end

    def example_group_finished(notification)
      group = notification.group
      return unless top_level?(group)
      file = file_of(group)
      @seconds[file] += Process.clock_gettime(@clock) - @group_started_at if @group_started_at
      @group_started_at = nil
      finish_file(file) if @remaining[file] <= 0
    end

    def example_started(_notification); end

    def example_passed(notification)
      example_event(notification.example, 'passed')
    end

    def example_pending(notification)
      example = notification.example
      example_event(example, 'pending', m: example.execution_result.pending_message.to_s)
    end

    def example_failed(notification)
      example_event(notification.example, 'failed',
                    m: notification.message_lines.join("\n"),
                    bt: notification.formatted_backtrace)
    end

    def message(notification)
      text = notification.message.to_s
      first = text.lstrip.lines.first.to_s.strip
      if (m = LOAD_ERROR.match(first))
        emit(e: 'load_error', f: m[1], m: text)
      else
        emit(e: 'msg', m: text)
      end
    end

    def dump_summary(summary)
      @remaining.each_key { |file| finish_file(file) if @remaining[file] <= 0 }
      emit(e: 'done',
           examples: summary.example_count,
           failures: summary.failure_count,
           pending: summary.pending_count,
           errors_outside: summary.errors_outside_of_examples_count)
    end

    def close(_notification)
      @io.flush
    end

    private

    def example_event(example, status, extra = {})
      file = file_of(example.example_group)
      @remaining[file] -= 1
      emit({ e: 'ex', f: file, s: status,
             d: example.full_description,
             loc: example.location_rerun_argument,
             l: example.metadata[:line_number],
             id: example.metadata[:scoped_id],
             t: example.execution_result.run_time }.merge(extra))
    end

    def finish_file(file)
      return if @done[file]
      @done[file] = true
      emit(e: 'file_done', f: file, t: @seconds[file])
    end

    def top_level?(group)
      group.respond_to?(:superclass) && group.superclass == RSpec::Core::ExampleGroup ||
        group.parent_groups.size == 1
    end

    def file_of(group)
      group.parent_groups.last.metadata[:file_path].to_s
    end

    def emit(event)
      @io.write("#{@tag}#{JSON.generate(event)}\n")
    rescue JSON::GeneratorError
      event.each { |k, v| event[k] = v.to_s.scrub('?') if v.is_a?(String) }
      @io.write("#{@tag}#{JSON.generate(event)}\n")
    end
  end
end
