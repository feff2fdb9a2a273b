# testbot's fork server, embedded in the testbot binary and written next to the run. One runs
# per host (and one on this machine) for the length of one run:
#
#   [bundle exec] ruby testbot_fork.rb SOCKET [COMPILED] < LIBS
#
# It loads what every batch of the run loads anyway — RubyGems, Bundler's setup when it runs
# under `bundle exec`, and LIBS, one a line on its stdin (the framework's core: rspec-core,
# minitest, test-unit, cucumber; on stdin so that no process list takes it for a batch)
# — and nothing of the project, sends the event `{"e":"fork_ready"}` and serves batches on the
# UNIX socket SOCKET. A batch's process is a small client (testbot_client.rb) that sends the
# command a fresh process would have run (`rspec ARGS…`, or `ruby -IDIR… SCRIPT ARGS…`), its
# environment and directory, and its stdout, stderr and event channel. For each batch the server
# forks a keeper, which forks the batch's child and sends back how the child ended:
#
#   server ── keeper (process group of its own) ── child (process group of its own): sets the
#                                                  batch's environment, chdir, descriptors 0–3,
#                                                  then runs the command
#
# The conversation on the socket: the server says `ready` once it has accepted (the client sends
# its descriptors only then: a stopped server must never hold a batch's pipes open); the keeper
# says `group PGID` (the child's process group) once the child is forked, then `exit N`,
# `signal N`, or `lost server` (the server went away and the keeper killed the batch).
#
# No process is left behind: the keeper kills the child's process group (the child and all it
# started) when the child ends, when the client hangs up (testbot killed the batch: a timeout,
# fail-fast, Ctrl-C, a lost host) or when the server goes away (the run ended, or testbot was
# killed); a client whose keeper is gone kills that group itself. The child runs no thread of
# testbot's; the server runs nothing of a batch, so every batch starts from the same state.
#
# COMPILED, a directory testbot keeps between runs, holds the compiled code (instruction
# sequences) of the files LIBS load, as bootsnap keeps an app's: the next run's server loads
# them without parsing them again. Only the server's own loading of LIBS goes through it; the
# batches compile what they load as a fresh process does.
require 'socket'
require_relative 'testbot_request'
require_relative 'testbot_server'

module Testbot
  module ForkServer
    module_function

    def main(argv)
      socket = argv.shift or abort('usage: testbot_fork.rb SOCKET [COMPILED] < LIBS')
      compiled = argv.shift
      libs = STDIN.read.split("\n").reject(&:empty?)
      events = Server.event_channel
      # What this process was started with, before `bundle exec` changed it: a batch's own
      # variables are the ones its client has that differ from these.
      launched = launch_env
      Compiled.around(compiled) do
        libs.each do |lib|
          require lib
        rescue LoadError
          nil # a fresh process would fail the same way, and says so in the batch
        end
      end
      # A full collection now, once, rather than one in every child: a child whose first
      # collection marks the whole inherited heap copies every page it touches.
      GC.start
      server = Server.listen(socket, mode: 0o700, clean: true)
      # Closed in the server only when it ends: every keeper watches the read end.
      alive_r, alive_w = IO.pipe
      Server.serve_forever(server, events, 'fork_ready', 'fork server') do |conn|
        serve(conn, server, events, launched, alive_r, alive_w)
      end
    end

    def launch_env
      env = defined?(Bundler) && Bundler.respond_to?(:original_env) ? Bundler.original_env : ENV.to_h
      env.delete('TESTBOT_EVENT_FD')
      env
    end

    # One batch: its command, environment and directory (testbot_request.rb), then the client's
    # stdout, stderr and event channel. The keeper answers `exit N` or `signal N`.
    def serve(conn, server, events, launched, alive_r, alive_w)
      conn.write("ready\n")
      request = Testbot::Request.read(conn) or return
      argv, env, cwd = request
      ios = [conn.recv_io, conn.recv_io, conn.recv_io]
      keeper = fork do
        alive_w.close
        server.close
        Process.setpgid(0, 0)
        keep(conn, alive_r, ios, events) do
          conn.close
          alive_r.close
          events.reopen(ios[2])
          events.close_on_exec = false # descriptor 3, as a fresh runner has it
          STDIN.reopen(File::NULL)
          STDOUT.reopen(ios[0])
          STDERR.reopen(ios[1])
          ios.each(&:close)
          ENV.replace(batch_env(launched, env))
          Dir.chdir(cwd)
          run(argv)
        end
      end
      Process.detach(keeper)
    ensure
      ios&.each { |io| io.close unless io.closed? }
    end

    # In the keeper: forks the child into a process group of its own, then waits for it, the
    # client's hang-up or the server's end, whichever comes first. Whatever the child started
    # and left running goes with its group when it ends, as a fresh runner's does.
    def keep(conn, alive_r, ios, events, &child)
      pid = Server.fork_group(&child)
      # The keeper holds none of the batch's descriptors (its output ends with the child), nor
      # the server's.
      ios.each(&:close)
      events.close
      STDOUT.reopen(File::NULL)
      STDERR.reopen(File::NULL)
      Server.say(conn, "group #{pid}")
      # Killed, or the run is over: the child and all it started go with its group.
      status, server_gone = Server.wait_child(pid, conn, [alive_r])
      Server.kill_group(pid)
      Server.say(conn, server_gone ? 'lost server' : Server.ended(status))
      exit!(0)
    end

    # The client's variables that differ from the server's start, over the server's own (which
    # hold Bundler's setup): what a fresh `bundle exec` process of that batch would have.
    def batch_env(launched, client)
      env = ENV.to_h
      launched.each_key { |k| env.delete(k) unless client.key?(k) }
      client.each { |k, v| env[k] = v unless launched[k] == v }
      env
    end

    # Runs the command a fresh process would have run: `rspec ARGS…` or `ruby -IDIR… SCRIPT ARGS…`.
    def run(argv)
      # Recording impact: Coverage starts here, in the child, before the project loads.
      if ENV.key?('TESTBOT_IMPACT')
        require_relative 'testbot_impact'
        Testbot::Impact.start
      end
      case argv.first
      when 'rspec'
        $0 = 'rspec'
        ARGV.replace(argv.drop(1))
        require 'rspec/core'
        # The server's frames are under every example: not the suite's.
        RSpec.configuration.backtrace_exclusion_patterns << /#{Regexp.escape(__FILE__)}/
        # "files took N seconds to load" counts from here, not from the server's start.
        RSpec.configuration.start_time = RSpec::Core::Time.now
        RSpec::Core::Runner.invoke
      when 'ruby'
        Server.load_script(argv.drop(1))
      else
        warn "testbot fork server: cannot run #{argv.first.inspect}"
        exit 127
      end
    end
  end

  # The compiled code of what the server loads, in DIR: one file per source file, named by its
  # path, under a folder named by the Ruby that compiled it, and stamped with the source's
  # modification time and size (a changed source is compiled again, over it); written whole
  # (a temporary file renamed). Anything amiss — no DIR, a file that cannot be read,
  # written or loaded — and the source is compiled as usual (and stored again).
  module Compiled
    module_function

    def around(dir)
      return yield unless dir && !dir.empty? && defined?(RubyVM::InstructionSequence.load_from_binary)

      dir = File.join(File.expand_path(dir), "ruby-#{RUBY_VERSION}-#{RUBY_PLATFORM}-#{RUBY_REVISION}")
      hook = RubyVM::InstructionSequence.singleton_class
      return yield if hook.method_defined?(:load_iseq) # someone else's (bootsnap): theirs stays

      # testbot's own files (this one's folder) are written again every run, to another temporary
      # folder on this machine: not kept.
      own = "#{__dir__}/"
      hook.define_method(:load_iseq) { |path| path.start_with?(own) ? nil : Compiled.load(dir, path) }
      begin
        yield
      ensure
        hook.send(:remove_method, :load_iseq)
      end
    end

    def load(dir, path)
      stat = File.stat(path)
      stamp = "#{stat.mtime.to_i}.#{stat.mtime.nsec}.#{stat.size}\n"
      cached = File.join(dir, path.tr('/', '%'))
      return nil if File.basename(cached).bytesize > 240

      begin
        data = File.binread(cached)
        if data.start_with?(stamp)
          return RubyVM::InstructionSequence.load_from_binary(data.byteslice(stamp.bytesize..))
        end
      rescue StandardError
        nil # not there yet, or damaged: compiled again, and stored over it
      end
      iseq = RubyVM::InstructionSequence.compile_file(path)
      store(dir, cached, stamp + iseq.to_binary)
      iseq
    rescue StandardError, ScriptError
      nil
    end

    def store(dir, cached, data)
      # `mkdir -p` without FileUtils, which the server does not load for its batches.
      missing = []
      d = dir
      until File.directory?(d) || d == File.dirname(d)
        missing.unshift(d)
        d = File.dirname(d)
      end
      missing.each do |m|
        Dir.mkdir(m, 0o700)
      rescue Errno::EEXIST
        nil
      end
      temp = "#{cached}.#{Process.pid}.tmp"
      File.binwrite(temp, data)
      File.rename(temp, cached)
    rescue SystemCallError, IOError
      File.unlink(temp) rescue nil # rubocop:disable Style/RescueModifier
    end
  end
end

Testbot::ForkServer.main(ARGV)
