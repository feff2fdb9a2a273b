# testbot's event stream for every framework's runner, embedded in the testbot binary and
# written next to the run.
#
# Events are JSON lines on a descriptor of their own: testbot starts the runner with the event
# channel on the descriptor named by TESTBOT_EVENT_FD (3), apart from stdout and stderr, which
# carry the tests' own output. Nothing a test prints, closes or reopens can pass for an event or
# lose one; the variable is removed from ENV and the descriptor is closed on exec, so programs the
# tests start do not inherit it, and a forked child never writes events (they come from the
# process that opened the channel). No library is loaded for this (not even `json`): a test must
# see the same loaded features as under its framework's own runner.
#
# Output and events travel apart, so where a file starts and ends is also marked in the output:
# a `file` or `file_done` event carries a number `q`, and the line TESTBOT_SYNC + q is written to
# the runner's own stdout (a copy of it taken before any test ran) right after the event. What a
# test printed before that line belongs before the event, whatever order the controller reads
# the two streams in. A spec that forged such a line could only move output between files.

module Testbot
  # JSON for the few shapes events have: strings, symbols, numbers, booleans, nil, arrays, hashes.
  module JSONLine
    ESCAPES = { '"' => '\\"', '\\' => '\\\\', "\b" => '\\b', "\f" => '\\f', "\n" => '\\n', "\r" => '\\r', "\t" => '\\t' }.freeze

    module_function

    def generate(value, out = +'')
      case value
      when Hash
        out << '{'
        value.each_with_index do |(k, v), i|
          out << ',' if i.positive?
          string(k.to_s, out)
          out << ':'
          generate(v, out)
        end
        out << '}'
      when Array
        out << '['
        value.each_with_index do |v, i|
          out << ',' if i.positive?
          generate(v, out)
        end
        out << ']'
      when String, Symbol then string(value.to_s, out)
      when Integer then out << value.to_s
      when Float then out << (value.finite? ? value.to_s : 'null')
      when true then out << 'true'
      when false then out << 'false'
      when nil then out << 'null'
      else string(value.to_s, out)
      end
      out
    end

    def string(text, out)
      unless text.encoding == Encoding::UTF_8
        text = if text.encoding == Encoding::BINARY || text.encoding == Encoding::US_ASCII
                 text.dup.force_encoding(Encoding::UTF_8)
               else
                 text.encode(Encoding::UTF_8, invalid: :replace, undef: :replace, replace: '?')
               end
      end
      text = text.scrub('?') unless text.valid_encoding?
      out << '"'
      out << text.gsub(/["\\\x00-\x1f]/) { |c| ESCAPES[c] || format('\\u%04x', c.ord) }
      out << '"'
    end
  end

  class Events
    MARKED = %w[file file_done].freeze

    def initialize
      fd = ENV.delete('TESTBOT_EVENT_FD')
      @sync = ENV.delete('TESTBOT_SYNC')
      @sync = nil unless @sync =~ /\A[0-9a-f]{8,64}\z/
      @seq = 0
      @pid = Process.pid
      @io = if fd && fd =~ /\A\d+\z/
              IO.for_fd(fd.to_i, 'w', autoclose: false)
            else
              STDOUT.dup # run by hand, outside testbot
            end
      @io.close_on_exec = true
      @io.sync = true
      @io.binmode
      # The runner's stdout as it is now: a spec closing or reopening $stdout leaves it alone.
      @out = @sync && (STDOUT.dup rescue nil) # rubocop:disable Style/RescueModifier
      @out&.sync = true
      STDOUT.sync = true
      STDERR.sync = true
      @lock = Mutex.new
    end

    # `--record-impact` (testbot_impact.rb) for the runners that mark their files with `file`
    # and `file_done` (minitest, Test::Unit, Cucumber; RSpec's formatter does its own): what ran
    # while a file loaded or ran is that file's, the rest is the boot set.
    def track_impact
      return unless defined?(Testbot::Impact) && Testbot::Impact.recording?
      @impact = Hash.new { |h, k| h[k] = [] }
      @boot = Testbot::Impact.inherited.dup
      @current = nil
    end

    # What ran since the last switch goes to the file that was current; `file` is current now.
    def impact_switch(file)
      return unless @impact
      taken = Testbot::Impact.take
      @current ? @impact[@current].concat(taken) : @boot.concat(taken)
      @current = file
    end

    # A file's set is sent before its `file_done`, the boot set before `done`; nothing once
    # recording failed (the files not sent are unmapped: `--changed` runs them).
    def impact_before(event)
      case event[:e]
      when 'file' then impact_switch(event[:f])
      when 'file_done'
        impact_switch(nil)
        paths = @impact.delete(event[:f]) || []
        emit_now(e: 'impact', f: event[:f], p: paths.uniq) if Testbot::Impact.recording?
      when 'done'
        impact_switch(nil)
        emit_now(e: 'impact', p: @boot.uniq, ruby: RUBY_DESCRIPTION) if Testbot::Impact.recording?
      end
    rescue StandardError
      @impact = nil
    end

    def emit(event)
      # A child forked by a test shares the descriptor; its events are not the runner's.
      return unless Process.pid == @pid
      impact_before(event) if @impact
      emit_now(event)
    end

    def emit_now(event)
      @lock.synchronize do
        if @out && MARKED.include?(event[:e])
          @seq += 1
          @io.write(JSONLine.generate(event.merge(q: @seq)) << "\n")
          mark
        else
          @io.write(JSONLine.generate(event) << "\n")
        end
      end
    rescue IOError, SystemCallError
      nil # testbot is gone; nothing to tell
    end

    def mark
      @out.write("#{@sync}#{@seq}\n")
    rescue IOError, SystemCallError
      @out = nil # stdout is gone: output then goes where it arrives
    end

    def flush
      @io.flush
    rescue IOError, SystemCallError
      nil
    end
  end

  # The batch: `runner.rb FILE… -- RUNNER_ARGS…`. Files come first and always start with `./`
  # or `/`, so the first `--` is the separator. `--require NAME` in RUNNER_ARGS (as RSpec's) names
  # a helper to require before the files; the framework gets the other arguments.
  class Batch
    attr_reader :files, :args, :requires, :load_errors

    def self.from_argv(argv)
      at = argv.index('--') || argv.size
      new(argv[0...at], argv[(at + 1)..] || [])
    end

    # `[requires, other arguments]` of RUNNER_ARGS.
    def self.split_requires(args)
      requires = []
      rest = []
      list = args.dup
      while (arg = list.shift)
        if arg == '--require' && !list.empty?
          requires << list.shift
        elsif arg.start_with?('--require=')
          requires << arg.delete_prefix('--require=')
        else
          rest << arg
        end
      end
      [requires, rest]
    end

    def initialize(files, args)
      @files = files
      @requires, @args = Batch.split_requires(args)
      @load_errors = {}
      @owner = {}
    end

    # Requires the helpers named with `--require`, then each file in turn; a file that raises is
    # a load error and the others still load. A helper that raises fails every file, as it
    # would when each file required it. `classes` returns the framework's (append-only) list of
    # test classes: the classes that appear while a file loads belong to that file.
    def load(events, classes)
      @requires.each do |helper|
        require helper
      rescue Interrupt, SignalException, NoMemoryError
        raise
      rescue Exception => e # rubocop:disable Lint/RescueException
        @files.each do |file|
          @load_errors[file] = e
          events.emit(e: 'load_error', f: file, m: Batch.describe_load_error(file, e, helper))
        end
        return
      end
      @files.each do |file|
        before = classes.call.size
        events.impact_switch(file)
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
      events.impact_switch(nil)
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

    def self.describe_load_error(file, error, helper = nil)
      what = helper ? "#{file} (its helper #{helper}, from `--require`, raised)" : file
      lines = ["An error occurred while loading #{what}.", "#{error.class}: #{error.message}"]
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

  # The start of every runner script (minitest, Test::Unit, Cucumber): the event channel, the
  # `hello` event (the runner and its framework are loaded: a batch that ends now is the files'
  # doing), and the batch its arguments name.
  def self.start_runner(argv)
    events = Events.new
    events.track_impact
    events.emit(e: 'hello')
    [events, Batch.from_argv(argv)]
  end

  # The `ex` event of a test that ran in `file` (as the batch names it) and whose method is
  # written at `source` ([file, line]): its location is that line when the method is in `file`
  # itself, else the file. `failure`: its message and backtrace, when it has one.
  def self.example_event(file, status, description, source, seconds, failure = nil)
    source_file, line = source
    same = source_file && File.expand_path(source_file) == File.expand_path(file)
    path = file.sub(%r{\A\./}, '')
    event = { e: 'ex', f: file, s: status, d: description,
              loc: same && line ? "#{path}:#{line}" : path,
              l: same ? line : nil,
              t: seconds }
    event[:m], event[:bt] = failure if failure
    event
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
