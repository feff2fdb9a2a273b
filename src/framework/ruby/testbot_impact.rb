# testbot's impact recording (`[impact] record = true`, `--record-impact`), embedded in the
# testbot binary and written next to the run.
#
# Ruby's `Coverage` in lines mode, started before the project's code loads: a fresh runner gets
# testbot_impact_start.rb through `RUBYOPT=-r…` (with TESTBOT_IMPACT), a `--preload` server the
# same way (Ruby clears the counts in its forked children: it hands them what its helper ran,
# `keep_boot`), and a fork server's child requires it before it runs the batch's command (the
# server itself loaded no project file). Lines mode, not `oneshot_lines`: a one-shot line is
# reported once per process, so the second file of a batch that calls the same method would
# not see it.
#
# `take` returns the project files (under the runner's directory, not gems, not vendor/, not
# testbot's own files) that ran since the last `take` (`Coverage.peek_result`, never cleared),
# relative to that directory: a host's copy names them as the project does. The runner's formatter takes them around each file and
# sends them as `impact` events; what ran outside any file (helpers, boot) is sent without a file.
require 'coverage'

module Testbot
  module Impact
    OWN = "#{File.expand_path(__dir__)}/".freeze
    SKIP = %r{\A(?:vendor|\.bundle|\.testbot|\.git|tmp|log|node_modules)/}.freeze

    module_function

    # Starts Coverage unless it runs already (then another tool owns it, and this process is
    # not recorded). SimpleCov, started later by the suite, finds it running and reads the same
    # counts, which `take` never clears. Programs the tests start in another directory find
    # this file by its full path.
    def start
      return if ::Coverage.running?
      ::Coverage.start(lines: true)
      @ours = true
      # The project's directory now, before a test can change it (`Dir.chdir`).
      @root = "#{File.expand_path(Dir.pwd)}/"
      opt = ENV['RUBYOPT']
      return unless opt&.include?('testbot_impact_start.rb')
      ENV['RUBYOPT'] = opt.sub(/-r\S*testbot_impact_start\.rb/) { "-r#{OWN}testbot_impact_start.rb" }
    end

    def recording?
      @ours && ::Coverage.running?
    end

    # Ruby clears the counts in a forked child: a `--preload` server takes what its helper ran
    # before it forks, and its children find it here.
    def keep_boot
      @inherited = take if recording?
    end

    def inherited
      @inherited || []
    end

    # The project files that ran a line since the last `take`. The counts are never cleared
    # (a suite's SimpleCov reads the same counts at its end): a file ran when the sum of its
    # line counts grew. A forked child starts with every count at 0 (Ruby clears them).
    def take
      return [] unless recording?
      if @pid != Process.pid
        @pid = Process.pid
        @sums = {}
      end
      files = []
      ::Coverage.peek_result.each do |path, counts|
        relative = project_file(path) or next
        lines = counts.is_a?(Hash) ? counts[:lines] : counts
        next unless lines
        sum = lines.sum { |n| n || 0 }
        before = @sums[path] || 0
        # Counts that went down were cleared by someone else: whatever ran, count it as run.
        files << relative if sum > before || (sum.positive? && sum < before)
        @sums[path] = sum
      end
      files
    rescue StandardError
      @ours = false # recording stops: what it could not take is never sent as taken
      []
    end

    # `path` relative to the project's directory, if it is a project file (not a gem's, not
    # vendor/, not testbot's own); cached.
    def project_file(path)
      @project_files ||= {}
      return @project_files[path] if @project_files.key?(path)
      @gems ||= Gem.path.map { |d| "#{File.expand_path(d)}/" }
      inside = path.start_with?(@root) && !path.start_with?(OWN) && @gems.none? { |g| path.start_with?(g) }
      relative = inside ? path.delete_prefix(@root) : nil
      @project_files[path] = relative && !relative.match?(SKIP) ? relative : nil
    end
  end
end
