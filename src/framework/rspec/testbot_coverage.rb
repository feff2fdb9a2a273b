# testbot and SimpleCov, embedded in the testbot binary and written next to the run.
#
# Under parallel_tests the last process waits for the others and merges their results; under
# testbot a slot runs many batches, some on other machines, so neither "the last process" nor a
# shared `coverage/.resultset.json` exists. Instead:
#
# - a batch (TESTBOT_COVERAGE_DIR set) stores its own result, unmerged, as one file of its own
#   in that directory, and does none of SimpleCov's end-of-process work: no merge with the
#   resultset, no formatters, no `minimum_coverage`-style checks (one batch's coverage is a
#   fraction of the suite's), no waiting for parallel_tests' other processes;
# - testbot brings those files back from every host, maps the paths of each host's copy back to
#   the project's, and runs one last process on this machine (TESTBOT_COVERAGE_COLLATE set: a
#   dry run that loads the suite's helpers, so SimpleCov is configured as the suite configures
#   it; started while the last batches run, it waits for their results) in which
#   `SimpleCov.collate` merges them, stores `coverage/.resultset.json`, runs the formatters and
#   the minimum-coverage checks; its exit status decides the run's verdict.
#
# Nothing is loaded here unless the suite started SimpleCov (which loads `json` itself).
module Testbot
  module Coverage
    # Printed before SimpleCov's own lines in the collating process: testbot shows what follows.
    MARK = '--- testbot: SimpleCov ---'

    class << self
      # The runner calls this when its batch starts (the formatter is made), before a spec can
      # change the environment or the directory: the batch's own directories are read then, not
      # when this file loads, since the host's fork server loads it once for all its batches.
      # Relative directories are the runner's directory's (a host's copy of the project).
      def batch_started
        dir = ENV['TESTBOT_COVERAGE_DIR']
        @dir = dir && File.expand_path(dir)
        @collate_dir = ENV['TESTBOT_COVERAGE_COLLATE']
      end

      attr_reader :dir, :collate_dir

      # The runner calls this once its batch's tests have run (SimpleCov, if the suite uses it,
      # has been started by then). Registers the end-of-process work, which then runs before
      # SimpleCov's own (at_exit runs handlers last registered first).
      def batch_finished
        return unless running?
        return if @registered
        @registered = true
        pid = Process.pid
        if collate_dir
          ::SimpleCov.external_at_exit = true
          at_exit { collate if Process.pid == pid }
        elsif dir
          # Also in a process forked from the one that started SimpleCov (--preload), where
          # SimpleCov's own handler does nothing; not in processes the specs fork.
          ::SimpleCov.external_at_exit = true
          at_exit { store_batch if Process.pid == pid }
        end
      end

      # Whether this batch stores its result when it exits (`batch_finished` registers that, once
      # its tests have run): its `done` event says so, and testbot asks only the hosts where some
      # batch did for their results.
      def storing?
        dir && !collate_dir && running? ? true : false
      end

      private

      def running?
        defined?(::SimpleCov) && ::SimpleCov.respond_to?(:running) && ::SimpleCov.running
      end

      def store_batch
        simplecov = ::SimpleCov
        simplecov.use_merging(false)
        # SimpleCov names a result "(2/3)" when it sees parallel_tests' variables; every batch
        # of a slot would share it. The merge dedups names, so keep the framework's name.
        name = simplecov.command_name
        if name.nil? || name.match?(%r{\A\(\d+/\d+\)\z})
          simplecov.command_name(defined?(::RSpec) ? 'RSpec' : 'Tests')
        end
        result = simplecov.result
        return unless result
        require 'json'
        require 'fileutils'
        FileUtils.mkdir_p(dir)
        base = File.join(dir, "#{ENV['TESTBOT_SLOT'] || 0}-#{Process.pid}-#{rand(1 << 32)}")
        File.write("#{base}.tmp", JSON.generate('root' => simplecov.root, 'resultset' => result.to_hash))
        File.rename("#{base}.tmp", "#{base}.json")
      rescue StandardError, ScriptError => e
        warn "testbot: could not store this batch's coverage: #{e.class}: #{e.message}"
      end

      # Stores the run's merged result in place of the last one (a serial run replaces its own
      # result too), then SimpleCov's own exit work: formatters, minimum-coverage checks, and
      # `exit 2` (SimpleCov's status) when one fails.
      def collate
        # Started while the last batches ran: their results are all there once testbot writes
        # this file (testbot kills this process if none come).
        ready = ENV['TESTBOT_COVERAGE_READY']
        sleep 0.02 while ready && !File.exist?(ready)
        files = Dir[File.join(collate_dir, '*.json')].sort
        return warn('testbot: no coverage results to merge') if files.empty?
        ::SimpleCov::ResultMerger.singleton_class.prepend(OneNamePerCommand)
        ::SimpleCov.singleton_class.prepend(FinalProcess)
        resultset = ::SimpleCov::ResultMerger.resultset_path
        File.delete(resultset) if File.exist?(resultset)
        $stdout.puts MARK
        $stdout.flush
        begin
          ::SimpleCov.collate(files)
        ensure
          ::SimpleCov.running = false
          $stdout.flush
        end
      end
    end

    # Batches of one suite share their command name: name the merged result once, not per batch.
    module OneNamePerCommand
      def create_result(command_names, coverage)
        super(command_names.uniq, coverage)
      end
    end

    # The collating process is the final one, whatever parallel_tests' variables say. A share
    # of the suite (`testbot --partition`) is stored, not held to the suite's minimum.
    module FinalProcess
      def final_result_process?
        true
      end

      def result_exit_status(result)
        ENV['TESTBOT_COVERAGE_NO_CHECKS'] ? ::SimpleCov::ExitCodes::SUCCESS : super
      end
    end
  end
end
