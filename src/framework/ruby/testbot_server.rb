# What testbot's two batch servers share — the fork server (testbot_fork.rb, one per host) and
# the preload server (testbot_preload.rb, one per slot) — embedded in the testbot binary and
# written next to the run: their event channel, their socket, the loop that serves batches, the
# conversation with a batch's client and the wait for a batch's child.

module Testbot
  module Server
    module_function

    # The server's own event channel (TESTBOT_EVENT_FD, taken out of ENV), else its stdout.
    def event_channel
      fd = ENV.delete('TESTBOT_EVENT_FD').to_s
      events = fd =~ /\A\d+\z/ ? IO.for_fd(fd.to_i, 'w', autoclose: false) : STDOUT.dup
      events.sync = true
      events
    end

    # The socket's path may be longer than sun_path allows: bind it from its folder, made with
    # `mode` (another server may have made it). `clean`: sockets that nobody listens on (left by
    # a run that was killed) are removed.
    def listen(path, mode: nil, clean: false)
      dir, base = File.split(path)
      begin
        mode ? Dir.mkdir(dir, mode) : Dir.mkdir(dir)
      rescue Errno::EEXIST
        nil
      end
      Dir.chdir(dir) do
        remove_stale_sockets if clean
        File.unlink(base) if File.exist?(base)
        UNIXServer.new(base)
      end
    end

    def remove_stale_sockets
      Dir.glob('*.sock').each do |stale|
        UNIXSocket.new(stale).close
      rescue Errno::ECONNREFUSED
        File.unlink(stale) rescue nil # rubocop:disable Style/RescueModifier
      rescue SystemCallError
        nil
      end
    end

    # Says the event `ready` (the server takes batches), then serves each connection on
    # `server` with the block, one at a time. A batch that fails to start is said on stderr as
    # `name`'s, and the server serves on.
    def serve_forever(server, events, ready, name)
      events.write("{\"e\":\"#{ready}\"}\n")
      loop do
        conn = server.accept
        begin
          yield conn
        rescue StandardError => e
          warn "testbot #{name}: a batch failed to start: #{e.class}: #{e.message}"
        ensure
          conn.close unless conn.closed?
        end
      end
    end

    # One line to the batch's client; a client that is gone is not told.
    def say(conn, line)
      conn.write("#{line}\n")
    rescue SystemCallError, IOError
      nil
    end

    # Waits for the batch's child `pid`. When its client hangs up first (testbot killed the
    # batch) or one of `others` can be read (the server went away), the child's process group
    # (the child and all it started) is killed, and the wait goes on. The child's status, and
    # whether `others` woke it.
    def wait_child(pid, conn, others = [])
      done_r, done_w = IO.pipe
      waiter = Thread.new do
        status = Process.wait2(pid)[1]
        done_w.write('.')
        status
      end
      watching = [conn, *others, done_r]
      woken = false
      loop do
        ready, = IO.select(watching)
        break if ready.include?(done_r)
        next if ready == [conn] && !hung_up?(conn)

        woken = (ready & others).any?
        kill_group(pid)
        watching = [done_r]
      end
      [waiter.value, woken]
    ensure
      done_r&.close
      done_w&.close
    end

    def hung_up?(conn)
      conn.read_nonblock(4096, exception: false).nil?
    rescue SystemCallError, IOError
      true
    end

    # Forks the block into a process group of its own (set on both sides: whichever runs
    # first), so that a kill of the group takes whatever it starts. Returns the child's pid.
    def fork_group(&block)
      pid = fork do
        Process.setpgid(0, 0)
        block.call
      end
      begin
        Process.setpgid(pid, pid)
      rescue SystemCallError
        nil # the child did it first (or is gone already)
      end
      pid
    end

    def kill_group(pgid)
      Process.kill(:KILL, -pgid)
    rescue SystemCallError
      nil # nothing of it is left
    end

    # How the child ended, as the client reads it.
    def ended(status)
      status.signaled? ? "signal #{status.termsig}" : "exit #{status.exitstatus}"
    end

    # Runs `ruby -IDIR… SCRIPT ARGS…` (given without `ruby`) in this process, as `ruby` would:
    # the folders on the load path once, the script as $0 with ARGS as ARGV.
    def load_script(args)
      args = args.dup
      dirs = []
      dirs << File.expand_path(args.shift.delete_prefix('-I')) while args.first&.start_with?('-I')
      $LOAD_PATH.unshift(*(dirs - $LOAD_PATH))
      script = args.shift
      $0 = script
      ARGV.replace(args)
      load script
    end
  end
end
