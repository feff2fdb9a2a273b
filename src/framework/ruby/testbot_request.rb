# The request a batch's client sends to a fork server (testbot_fork.rb) or a preload server
# (testbot_preload.rb), embedded in the testbot binary and written next to the run. The client is
# testbot_client.rb on SSH hosts and testbot's own binary on this machine
# (src/framework/client.rs), which writes the same bytes:
#
#   LENGTH, 4 bytes big-endian, then LENGTH bytes of fields, each followed by a NUL:
#   ARGC, the ARGC words of the command, ENVC, ENVC × (NAME, VALUE), the directory
#
# then the client's stdout, stderr and event channel, one descriptor a message (SCM_RIGHTS, as
# UNIXSocket#send_io sends them). No NUL can be in a word, a variable or a path.
module Testbot
  module Request
    module_function

    def dump(argv, env, dir)
      fields = [argv.size.to_s, *argv, env.size.to_s, *env.flat_map { |k, v| [k, v] }, dir]
      body = fields.map { |f| f.b << "\0" }.join
      [body.bytesize].pack('N') + body
    end

    # [argv, env, dir], or nil when the client hung up before sending it.
    def read(conn)
      size = conn.read(4)&.unpack1('N') or return nil
      body = conn.read(size).to_s
      return nil unless body.bytesize == size

      fields = body.split("\0", -1)
      fields.pop # after the last NUL
      fields.each { |f| f.force_encoding(Encoding.default_external) }
      argv = fields.shift(fields.shift.to_i)
      env = fields.shift(2 * fields.shift.to_i).each_slice(2).to_h
      [argv, env, fields.shift]
    end
  end
end
