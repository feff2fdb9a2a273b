# testbot's batch client, embedded in the testbot binary and written next to the run. It is a
# batch's process as testbot sees it when its batches fork from a server — the host's fork server
# (testbot_fork.rb) or, with `--preload`, the slot's preload server (testbot_preload.rb) — and
# starts in tens of milliseconds (`ruby --disable-gems`):
#
#   ruby --disable-gems testbot_client.rb SOCKET fork|preload COMMAND…
#
# COMMAND is what a fresh process would have run (`rspec ARGS…`, `ruby -IDIR… SCRIPT ARGS…`).
# The client hands it, its environment, directory, stdout, stderr and event channel to the
# server (testbot_request.rb), which forks a child that runs it; the client ends the way that
# child ended (its exit status, or the same signal). Killing the client (its process group)
# makes the server kill the child and everything it started. On this machine testbot's own
# binary does the same (src/framework/client.rs).
require 'socket'
require_relative 'testbot_request'

path = ARGV.shift
server = ARGV.shift == 'preload' ? 'the preload server of this slot' : 'the fork server of this host'
dir, base = File.split(path.to_s)
begin
  conn = Dir.chdir(dir) { UNIXSocket.new(base) }
rescue SystemCallError => e
  # Every batch of this host (or slot) would end the same way: 127 takes the host out of the run.
  warn "testbot: #{server} is gone (#{e.message})"
  exit! 127
end
conn.write(Testbot::Request.dump(ARGV, ENV.to_h, Dir.pwd))
conn.send_io(STDOUT)
conn.send_io(STDERR)
# The event channel (testbot_events.rb); without one, the batch's events go to its stdout.
event_fd = ENV['TESTBOT_EVENT_FD'].to_s
conn.send_io(event_fd =~ /\A\d+\z/ ? IO.for_fd(event_fd.to_i, autoclose: false) : STDOUT)
answer = begin
  conn.gets
rescue SystemCallError, IOError
  nil
end
case answer
when /\Aexit (\d+)/
  exit! Regexp.last_match(1).to_i
when /\Asignal (\d+)/
  signal = Regexp.last_match(1).to_i
  Signal.trap(signal, 'SYSTEM_DEFAULT') rescue nil # rubocop:disable Style/RescueModifier
  Process.kill(signal, Process.pid)
  sleep 1
  exit! 128 + signal
else
  warn "testbot: #{server} went away while the batch ran"
  exit! 1
end
