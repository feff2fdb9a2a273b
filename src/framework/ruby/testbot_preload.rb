# testbot's preload server (`--preload`), embedded in the testbot binary and written next to the
# run. One runs per slot for the length of one run:
#
#   ruby testbot_preload.rb SOCKET FRAMEWORK [-IDIR…] -- RUNNER_ARGS…
#
# It loads the framework and the suite's helper once, sends the event `{"e":"preload_ready"}`
# and serves batches on the UNIX socket SOCKET: a client (testbot_client.rb) sends the
# command a fresh process would have run (`rspec ARGS…`, or `ruby -IDIR… SCRIPT FILE… -- ARGS…`
# for testbot's minitest and Test::Unit runners), its stdout, stderr and event channel; the
# server forks a child that runs it on those descriptors, then sends back how the child ended.
# Nothing has run in the server when it forks, so every batch starts from the state right after
# the helper loaded.
#
# The helper. RSpec: the `--require`s of .rspec and the arguments, else spec/rails_helper.rb or
# spec/spec_helper.rb. minitest and Test::Unit: the `--require`s of the arguments (testbot's
# runners honour them too), else in each DIR (the folders the runner puts on the load path,
# `test` for `ruby -Itest`) the first of test_helper.rb, helper.rb and spec_helper.rb, required
# by the name the test files use (`require "test_helper"` then finds it loaded).
#
# A helper that raises is printed once on stderr and the server exits 1. The server never ends
# through Ruby's `exit`: the `at_exit` handlers a helper installs (minitest/autorun's, which runs
# the suite; SimpleCov's) run in the batch children only, once each. A batch child runs in a
# process group of its own: when its client goes away (testbot killed the batch) the server
# kills that group, and when the server goes away the child kills its own group.
require 'socket'
require_relative 'testbot_request'
require_relative 'testbot_server'

module Testbot
  module Preload
    module_function

    def main(argv)
      at = argv.index('--') || argv.size
      socket, framework, *dirs = argv[0...at]
      abort('usage: testbot_preload.rb SOCKET FRAMEWORK [-IDIR…] -- RUNNER_ARGS…') unless framework
      runner_args = argv[(at + 1)..] || []
      # The server's own event channel: out of ENV and closed on exec before the helper loads.
      events = Server.event_channel
      events.close_on_exec = true
      if framework == 'rspec'
        load_rspec_helper(runner_args)
      else
        load_test_helper(framework, dirs.map { |d| d.delete_prefix('-I') }, runner_args)
      end
      # Recording impact: what the helper ran is the boot set of every batch (a child's counts start empty).
      Testbot::Impact.keep_boot if defined?(Testbot::Impact)
      server = Server.listen(socket)
      Server.serve_forever(server, events, 'preload_ready', 'preload') { |conn| serve(conn, server, events) }
    end

    def load_rspec_helper(rspec_args)
      require 'rspec/core'
      # Loaded by the first example group anyway; loading them here is shared by every batch.
      %w[rspec/expectations rspec/mocks].each do |lib|
        require lib
      rescue LoadError
        nil
      end
      options = RSpec::Core::ConfigurationOptions.new(rspec_args).options
      config = RSpec.configuration
      config.default_path = options[:default_path] if options[:default_path]
      config.libs = options[:libs] || []
      # What `--require` does before it requires: `lib` and the spec folder on the load path.
      dirs = ['lib', config.default_path].select { |d| File.directory?(d) }
      RSpec::Core::RubyProject.add_to_load_path(*dirs)
      helpers = options[:requires] || []
      helpers = detect_helper(config.default_path) if helpers.empty?
      require_helpers(helpers)
      # The server's own frames are in every backtrace of a child: not the suite's.
      config.backtrace_exclusion_patterns << /#{Regexp.escape(__FILE__)}/
    end

    def detect_helper(spec_dir)
      %w[rails_helper spec_helper].select { |name| File.file?(File.join(spec_dir.to_s, "#{name}.rb")) }.first(1)
    end

    # minitest and Test::Unit: what testbot's runner loads first, the load path it gets
    # (`ruby -Itest`), then the helpers.
    def load_test_helper(framework, dirs, args)
      $LOAD_PATH.unshift(*dirs.map { |d| File.expand_path(d) })
      require_relative 'testbot_events'
      libs = framework == 'test-unit' ? %w[test/unit test/unit/collector test/unit/ui/testrunner test/unit/ui/testrunnermediator] : %w[minitest]
      libs.each do |lib|
        require lib
      rescue LoadError
        nil # the batches fail the same way, and say so
      end
      helpers, = Testbot::Batch.split_requires(args)
      helpers = dirs.filter_map { |dir| detect_test_helper(dir) } if helpers.empty?
      require_helpers(helpers)
    end

    # Rails generates test/test_helper.rb; gems often name it test/helper.rb; minitest specs
    # in spec/ use spec/spec_helper.rb.
    def detect_test_helper(dir)
      %w[test_helper helper spec_helper].find { |name| File.file?(File.join(dir, "#{name}.rb")) }
    end

    def require_helpers(helpers)
      helpers.each do |helper|
        require helper
      rescue Exception => e # rubocop:disable Lint/RescueException
        raise if e.is_a?(SystemExit) && e.success?
        report_load_error(helper, e)
        exit! 1
      end
    end

    def report_load_error(helper, error)
      lines = ["An error occurred while loading #{helper}.", "#{error.class}: #{error.message}"]
      backtrace = Array(error.backtrace).reject { |l| l.include?('/rubygems/core_ext/kernel_require.rb') || l.start_with?(__FILE__) }
      lines.concat(backtrace.first(20).map { |l| "  # #{l}" })
      STDERR.puts(lines.join("\n"))
      STDERR.flush
    end

    # One batch: its command (testbot_request.rb), then the client's stdout, stderr and event
    # channel; says `group PGID` once the child is forked, then `exit N` or `signal N`.
    def serve(conn, server, own_events)
      # The client sends its descriptors once told `ready` (see testbot_fork.rb).
      Server.say(conn, 'ready')
      # The client's environment and directory are the slot's, which this server already has.
      request = Testbot::Request.read(conn) or return
      args = request.first
      out_io = conn.recv_io
      err_io = conn.recv_io
      event_io = conn.recv_io
      alive_r, alive_w = IO.pipe
      pid = Server.fork_group do
        server.close
        conn.close
        alive_w.close
        # The server is gone (killed with testbot's run): take this batch's whole group along.
        Thread.new do
          alive_r.read
          Process.kill(:KILL, 0)
        end
        STDIN.reopen(File::NULL)
        STDOUT.reopen(out_io)
        STDERR.reopen(err_io)
        out_io.close
        err_io.close
        # The batch's events go to its client's channel, never to the server's.
        own_events.close
        ENV['TESTBOT_EVENT_FD'] = event_io.fileno.to_s
        run(args)
      end
      [alive_r, out_io, err_io, event_io].each(&:close)
      Server.say(conn, "group #{pid}")
      status, = Server.wait_child(pid, conn)
      alive_w.close
      # What the batch started and left running goes with its group, as a fresh runner's does.
      Server.kill_group(pid)
      Server.say(conn, Server.ended(status))
    end

    # In the child: runs the command a fresh process would have run. It ends through `exit` (or
    # the end of the fork block), so the at_exit handlers it inherited run here, once.
    def run(argv)
      case argv.first
      when 'rspec'
        exit RSpec::Core::Runner.run(argv.drop(1), $stderr, $stdout)
      when 'ruby'
        # The server put the folders on the load path already (`ruby -I` would not add them
        # twice either).
        Server.load_script(argv.drop(1))
      else
        warn "testbot preload: cannot run #{argv.first.inspect}"
        exit 127
      end
    end
  end
end

begin
  Testbot::Preload.main(ARGV)
rescue SignalException => e
  # Dies of the signal without Ruby's exit, so that no at_exit handler of the helper runs here.
  Signal.trap(e.signo, 'SYSTEM_DEFAULT')
  Process.kill(e.signo, Process.pid)
  sleep 1
  exit!(128 + e.signo)
rescue SystemExit => e
  exit!(e.status)
rescue Exception => e # rubocop:disable Lint/RescueException
  warn "testbot preload: the server failed: #{e.class}: #{e.message}"
  exit!(1)
end
