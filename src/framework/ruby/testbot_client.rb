# testbot's batch client, embedded in the testbot binary and written next to the run. It is a
# batch's process as testbot sees it when its batches fork from a server — the host's fork server
# (testbot_fork.rb) or, with `--preload`, the slot's preload server (testbot_preload.rb) — and
# starts in tens of milliseconds (`ruby --disable-gems`):
#
#   ruby --disable-gems testbot_client.rb SOCKET fork|preload COMMAND…
#   ruby --disable-gems testbot_client.rb --session
#
# COMMAND is what a fresh process would have run (`rspec ARGS…`, `ruby -IDIR… SCRIPT ARGS…`).
# The client hands it, its environment, directory, stdout, stderr and event channel to the
# server (testbot_request.rb), which forks a child that runs it; the client ends the way that
# child ended (its exit status, or the same signal). Killing the client (its process group)
# makes the server kill the child and everything it started. When the batch ends through no
# doing of the framework's — the server is gone, stuck (no `ready` within
# TESTBOT_FORK_START_TIMEOUT seconds) or went away, or the batch's keeper did — the client says
# so on the event channel (`{"e":"lost","what":"server"|"keeper"}`) and kills what the keeper
# kept. On this machine testbot's own binary does the same (src/framework/client.rs).
#
# With `--session` (an SSH slot's batch session, src/fleet/session.rs) one client carries batch
# after batch: it reads requests from its stdin in testbot_request.rb's form — argv `MARK SOCKET
# fork|preload COMMAND…`, the batch's own variables (over the client's), its directory (empty: the
# client's) — makes the batch's TMPDIR, runs it as above with its own stdout, stderr and event
# channel, and ends it with the line `testbot-batch-end:MARK exit N` (or `signal N`) on both stdout and the event
# channel, after all the batch wrote there. Its stdin's end (the channel closed) ends it.
require 'socket'
require_relative 'testbot_request'

module Testbot
  module Client
    module_function

    # One batch: COMMAND `argv` with environment `env` in `dir`, through the server on `path`.
    # Returns how it ended: [:exit, N] or [:signal, N].
    def batch(path, kind, argv, env, dir, events)
      # How long the server may take to say `ready`: past it the server is stuck (stopped, or
      # wedged) and the batch never started.
      start_timeout = Float(env.delete('TESTBOT_FORK_START_TIMEOUT') || 20) rescue 20.0 # rubocop:disable Style/RescueModifier
      server = kind == 'preload' ? 'the preload server of this slot' : 'the fork server of this host'
      conn = connect(path, server, events) or return [:exit, 127]
      conn.sync = true
      begin
        waited = wait_ready(conn, server, start_timeout, events) and return waited
        sent = send_request(conn, server, [argv, env, dir], events) and return sent
        answers(conn, server, events)
      ensure
        conn.close unless conn.closed?
      end
    end

    def connect(path, server, events)
      dir, base = File.split(path.to_s)
      Dir.chdir(dir) { UNIXSocket.new(base) }
    rescue SystemCallError => e
      # Every batch of this host (or slot) would end the same way.
      lost(events, 'server', "#{server} is gone (#{e.message})", 127)
      nil
    end

    def wait_ready(conn, server, start_timeout, events)
      if IO.select([conn], nil, nil, start_timeout).nil?
        shown = start_timeout == start_timeout.to_i ? start_timeout.to_i : start_timeout
        return lost(events, 'server', "#{server} did not take the batch within #{shown}s")
      end
      ready = begin
        conn.gets
      rescue SystemCallError, IOError
        nil
      end
      ready == "ready\n" ? nil : lost(events, 'server', "#{server} went away before the batch started")
    end

    def send_request(conn, server, (argv, env, dir), events)
      conn.write(Testbot::Request.dump(argv, env, dir))
      conn.send_io(STDOUT)
      conn.send_io(STDERR)
      # The event channel (testbot_events.rb); without one, the batch's events go to its stdout.
      conn.send_io(events)
      nil
    rescue SystemCallError, IOError
      lost(events, 'server', "#{server} went away before the batch started")
    end

    def answers(conn, server, events)
      group = nil
      loop do
        answer = begin
          conn.gets
        rescue SystemCallError, IOError
          nil
        end
        case answer
        when /\Agroup (\d+)/
          group = Regexp.last_match(1).to_i
        when /\Aexit (\d+)/
          ended(events)
          return [:exit, Regexp.last_match(1).to_i]
        when /\Asignal (\d+)/
          ended(events)
          return [:signal, Regexp.last_match(1).to_i]
        when /\Alost server/
          return lost(events, 'server', "#{server} went away while the batch ran")
        else
          # The keeper is gone: the batch it kept goes too, not left running unwatched.
          begin
            Process.kill(:KILL, -group) if group
          rescue SystemCallError
            nil
          end
          return lost(events, 'keeper', "the process that kept this batch on #{server} went away while the batch ran")
        end
      end
    end

    # The batch ended through no doing of the framework's (`server`: the server is gone or stuck;
    # `keeper`: the batch's keeper is): said on the event channel, so that testbot reruns what is
    # not proven rather than take this client's status for the framework's.
    def lost(events, what, message, code = 1)
      warn "testbot: #{message}"
      begin
        text = message.gsub(/[\\"]/) { |c| "\\#{c}" }.gsub(/[\x00-\x1f]/, ' ')
        events.write("\n{\"e\":\"lost\",\"what\":\"#{what}\",\"m\":\"#{text}\"}\n")
        events.flush # `exit!` flushes nothing
      rescue SystemCallError, IOError
        nil
      end
      [:exit, code]
    end

    # The child ended and this client ends the same way: said, so that a client killed from
    # outside (no such line) is not taken for a child that died.
    def ended(events)
      events.write("\n{\"e\":\"child_ended\"}\n")
      events.flush
    rescue SystemCallError, IOError
      nil
    end

    # Ends this process as the batch ended.
    def finish((how, number))
      exit! number if how == :exit
      Signal.trap(number, 'SYSTEM_DEFAULT') rescue nil # rubocop:disable Style/RescueModifier
      Process.kill(number, Process.pid)
      sleep 1
      exit! 128 + number
    end

    # `--session`: batch after batch from stdin, each ended by its mark on stdout and on the event
    # channel.
    def session(events)
      STDOUT.sync = true
      base = ENV.to_h
      while (request = Testbot::Request.read(STDIN))
        argv, env, dir = request
        dir = Dir.pwd if dir.empty? # the client's own
        mark, path, kind, *command = argv
        env = base.merge(env)
        how, number = begin
          Dir.chdir(dir) { make_tmpdir(env) }
          batch(path, kind, command, env, dir, events)
        rescue SystemCallError => e
          warn "testbot: the batch could not start: #{e.message}"
          [:exit, 127]
        end
        line = "\ntestbot-batch-end:#{mark} #{how} #{number}\n"
        events.write(line)
        events.flush
        STDOUT.write(line)
      end
    end

    # The batch's TMPDIR, made absolute (from its directory) and made.
    def make_tmpdir(env)
      return unless env['TMPDIR']

      env['TMPDIR'] = File.expand_path(env['TMPDIR'])
      missing = []
      d = env['TMPDIR']
      until File.directory?(d) || d == File.dirname(d)
        missing.unshift(d)
        d = File.dirname(d)
      end
      missing.each do |m|
        Dir.mkdir(m)
      rescue Errno::EEXIST
        nil
      end
    end
  end
end

event_fd = ENV['TESTBOT_EVENT_FD'].to_s
events = event_fd =~ /\A\d+\z/ ? IO.for_fd(event_fd.to_i, autoclose: false) : STDOUT
if ARGV.first == '--session'
  Testbot::Client.session(events)
  exit! 0
end
path = ARGV.shift
kind = ARGV.shift
env = ENV.to_h
ENV.delete('TESTBOT_FORK_START_TIMEOUT')
Testbot::Client.finish(Testbot::Client.batch(path, kind, ARGV, env, Dir.pwd, events))
