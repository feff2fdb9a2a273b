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
# makes the server kill the child and everything it started. When the batch ends through no
# doing of the framework's — the server is gone, stuck (no `ready` within
# TESTBOT_FORK_START_TIMEOUT seconds) or went away, or the batch's keeper did — the client says
# so on the event channel (`{"e":"lost","what":"server"|"keeper"}`) and kills what the keeper
# kept. On this machine testbot's own binary does the same (src/framework/client.rs).
require 'socket'
require_relative 'testbot_request'

# How long the server may take to say `ready` (TESTBOT_FORK_START_TIMEOUT seconds): past it the
# server is stuck (stopped, or wedged) and the batch never started.
start_timeout = Float(ENV.delete('TESTBOT_FORK_START_TIMEOUT') || 20) rescue 20.0 # rubocop:disable Style/RescueModifier
path = ARGV.shift
kind = ARGV.shift
server = kind == 'preload' ? 'the preload server of this slot' : 'the fork server of this host'
event_fd = ENV['TESTBOT_EVENT_FD'].to_s
events = event_fd =~ /\A\d+\z/ ? IO.for_fd(event_fd.to_i, autoclose: false) : STDOUT

# The batch ended through no doing of the framework's (`server`: the server is gone or stuck;
# `keeper`: the batch's keeper is): said on the event channel, so that testbot reruns what is not
# proven rather than take this client's status for the framework's.
lost = lambda do |what, message, code|
  warn "testbot: #{message}"
  begin
    text = message.gsub(/[\\"]/) { |c| "\\#{c}" }.gsub(/[\x00-\x1f]/, ' ')
    events.write("\n{\"e\":\"lost\",\"what\":\"#{what}\",\"m\":\"#{text}\"}\n")
    events.flush # `exit!` flushes nothing
  rescue SystemCallError, IOError
    nil
  end
  exit! code
end

# The child ended and this client ends the same way: said, so that a client killed from outside
# (no such line) is not taken for a child that died.
ended = lambda do
  events.write("\n{\"e\":\"child_ended\"}\n")
  events.flush
rescue SystemCallError, IOError
  nil
end

dir, base = File.split(path.to_s)
begin
  conn = Dir.chdir(dir) { UNIXSocket.new(base) }
rescue SystemCallError => e
  lost.call('server', "#{server} is gone (#{e.message})", 127)
end
if IO.select([conn], nil, nil, start_timeout).nil?
  shown = start_timeout == start_timeout.to_i ? start_timeout.to_i : start_timeout
  lost.call('server', "#{server} did not take the batch within #{shown}s", 1)
end
ready = begin
  conn.gets
rescue SystemCallError, IOError
  nil
end
lost.call('server', "#{server} went away before the batch started", 1) unless ready == "ready\n"
begin
  conn.write(Testbot::Request.dump(ARGV, ENV.to_h, Dir.pwd))
  conn.send_io(STDOUT)
  conn.send_io(STDERR)
  # The event channel (testbot_events.rb); without one, the batch's events go to its stdout.
  conn.send_io(events)
rescue SystemCallError, IOError
  lost.call('server', "#{server} went away before the batch started", 1)
end
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
    code = Regexp.last_match(1).to_i
    ended.call
    exit! code
  when /\Asignal (\d+)/
    signal = Regexp.last_match(1).to_i
    ended.call
    Signal.trap(signal, 'SYSTEM_DEFAULT') rescue nil # rubocop:disable Style/RescueModifier
    Process.kill(signal, Process.pid)
    sleep 1
    exit! 128 + signal
  when /\Alost server/
    lost.call('server', "#{server} went away while the batch ran", 1)
  else
    # The keeper is gone: the batch it kept goes too, not left running unwatched.
    begin
      Process.kill(:KILL, -group) if group
    rescue SystemCallError
      nil
    end
    lost.call('keeper', "the process that kept this batch on #{server} went away while the batch ran", 1)
  end
end
