//! Test frameworks: how to start a batch of files, and the event protocol their formatters speak.
//!
//! Each framework ships small Ruby support files (embedded in the binary): RSpec a formatter,
//! minitest, Test::Unit and Cucumber a runner script with its reporter. All print the same JSON
//! events, one per line, behind a per-run random tag; `protocol` parses those lines back.

pub mod client;
pub mod protocol;

use crate::ssh::quote::quote;

const RSPEC_FORMATTER: &str = include_str!("rspec_formatter.rb");
const EVENTS: &str = include_str!("testbot_events.rb");
const MINITEST_RUNNER: &str = include_str!("testbot_minitest.rb");
const TEST_UNIT_RUNNER: &str = include_str!("testbot_test_unit.rb");
const CUCUMBER_RUNNER: &str = include_str!("testbot_cucumber.rb");
const PRELOAD_SERVER: &str = include_str!("testbot_preload.rb");
const COVERAGE: &str = include_str!("testbot_coverage.rb");
const FORK_SERVER: &str = include_str!("testbot_fork.rb");
const CLIENT: &str = include_str!("testbot_client.rb");
const REQUEST: &str = include_str!("testbot_request.rb");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framework {
    RSpec,
    Minitest,
    TestUnit,
    Cucumber,
}

/// Why `--preload` cannot work for a project.
#[derive(Debug, thiserror::Error)]
pub enum PreloadUnsupported {
    #[error("`--preload` starts the runner inside its own Ruby process and cannot use `[project] command` (`{0}`); remove one of them")]
    Command(String),
    #[error("`--preload` supports RSpec, minitest and Test::Unit; run this {0} suite without it")]
    Framework(&'static str),
}

/// How the project wants its runner started.
#[derive(Clone, Debug, Default)]
pub struct RunnerConfig {
    /// `[project] command`: a shell command prefix that replaces the runner (for minitest,
    /// Test::Unit and Cucumber: the Ruby that runs testbot's runner script).
    pub command: Option<String>,
    /// Prefix `bundle exec` (a Gemfile exists and bundler is not turned off).
    pub bundler: bool,
    /// Arguments after `--`.
    pub runner_args: Vec<String>,
}

impl RunnerConfig {
    /// The runner as the host's fork server starts it: the server already runs under
    /// `bundle exec`, so its children do not go through it again.
    pub fn forked(&self) -> RunnerConfig {
        RunnerConfig { bundler: false, ..self.clone() }
    }
}

impl Framework {
    pub const ALL: &'static [Framework] = &[Framework::RSpec, Framework::Minitest, Framework::TestUnit, Framework::Cucumber];
    pub const NAMES: &'static [&'static str] = &["rspec", "minitest", "test-unit", "cucumber"];

    pub fn from_name(name: &str) -> Option<Framework> {
        match name.to_ascii_lowercase().as_str() {
            "rspec" => Some(Framework::RSpec),
            "minitest" => Some(Framework::Minitest),
            "test-unit" | "test_unit" | "testunit" | "test::unit" => Some(Framework::TestUnit),
            "cucumber" => Some(Framework::Cucumber),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Framework::RSpec => "rspec",
            Framework::Minitest => "minitest",
            Framework::TestUnit => "test-unit",
            Framework::Cucumber => "cucumber",
        }
    }

    /// The files a run selects when given no paths.
    pub fn default_pattern(&self) -> &'static str {
        match self {
            Framework::RSpec => "spec/**/*_spec.rb",
            Framework::Minitest | Framework::TestUnit => "test/**/{*_test,test_*}.rb",
            Framework::Cucumber => "features/**/*.feature",
        }
    }

    /// The file names a folder given on the command line is searched for. minitest/spec suites
    /// name their files `*_spec.rb`, so a folder given to minitest matches those too.
    pub fn default_folder_pattern(&self) -> &'static str {
        match self {
            Framework::Minitest => "{*_test,test_*,*_spec}.rb",
            _ => file_pattern(self.default_pattern()),
        }
    }

    /// The name parallel_tests gives this framework's runtime log (`tmp/parallel_runtime_<name>.log`).
    pub fn parallel_tests_name(&self) -> &'static str {
        match self {
            Framework::RSpec => "rspec",
            Framework::Minitest | Framework::TestUnit => "test",
            Framework::Cucumber => "cucumber",
        }
    }

    /// Support files to write beside the run (name, contents).
    pub fn support_files(&self) -> Vec<(&'static str, &'static str)> {
        let mut files = match self {
            Framework::RSpec => vec![
                ("testbot_events.rb", EVENTS),
                ("testbot_rspec_formatter.rb", RSPEC_FORMATTER),
                ("testbot_coverage.rb", COVERAGE),
                ("testbot_preload.rb", PRELOAD_SERVER),
            ],
            Framework::Minitest => vec![
                ("testbot_events.rb", EVENTS),
                ("testbot_minitest.rb", MINITEST_RUNNER),
                ("testbot_preload.rb", PRELOAD_SERVER),
            ],
            Framework::TestUnit => vec![
                ("testbot_events.rb", EVENTS),
                ("testbot_test_unit.rb", TEST_UNIT_RUNNER),
                ("testbot_preload.rb", PRELOAD_SERVER),
            ],
            Framework::Cucumber => vec![("testbot_events.rb", EVENTS), ("testbot_cucumber.rb", CUCUMBER_RUNNER)],
        };
        files.extend([("testbot_fork.rb", FORK_SERVER), ("testbot_client.rb", CLIENT), ("testbot_request.rb", REQUEST)]);
        files
    }

    /// What the fork server loads for every batch: the framework's core as its runner requires
    /// it first (not `minitest/autorun`, nothing of the project), and testbot's events.
    fn core_libs(&self) -> &'static [&'static str] {
        match self {
            // With the files RSpec's runner requires late in every run (the default mocking
            // adapter and the profiler), which a library that lacks them skips.
            Framework::RSpec => &[
                "rspec/core",
                "rspec/expectations",
                "rspec/mocks",
                "rspec/core/mocking_adapters/rspec",
                "rspec/core/profiler",
            ],
            Framework::Minitest => &["minitest"],
            Framework::TestUnit => &["test/unit", "test/unit/collector", "test/unit/ui/testrunner", "test/unit/ui/testrunnermediator"],
            Framework::Cucumber => &["cucumber/rspec/disable_option_parser", "cucumber/cli/main"],
        }
    }

    /// The host's fork server (testbot_fork.rb): loads the framework's core under the project's
    /// Bundler setup, then serves batches on `socket`. Its argv, and what to give it on stdin:
    /// the libraries to load, one a line (not in its arguments, where a process list would take
    /// it for a batch). `None` when the project starts its runner with its own `[project]
    /// command`, which a server cannot stand in for.
    /// `compiled`: where it keeps the compiled code of what it loads between runs.
    pub fn fork_server_command(
        &self,
        runner: &RunnerConfig,
        support_dir: &str,
        socket: &str,
        compiled: Option<&str>,
    ) -> Option<(Vec<String>, String)> {
        if runner.command.is_some() {
            return None;
        }
        let mut args = vec![format!("{support_dir}/testbot_fork.rb"), socket.to_string()];
        args.extend(compiled.map(str::to_string));
        let mut libs = format!("{support_dir}/testbot_events.rb\n");
        for lib in self.core_libs() {
            libs.push_str(lib);
            libs.push('\n');
        }
        Some((with_runner(runner, &["ruby"], args), libs))
    }

    /// The command that runs `files` (relative to the project root) with the support files in `support_dir`.
    pub fn command(&self, runner: &RunnerConfig, support_dir: &str, files: &[String]) -> Vec<String> {
        match self {
            Framework::RSpec => with_runner(runner, &["rspec"], rspec_args(runner, support_dir, files)),
            Framework::Minitest | Framework::TestUnit | Framework::Cucumber => {
                let script = match self {
                    Framework::Minitest => "testbot_minitest.rb",
                    Framework::TestUnit => "testbot_test_unit.rb",
                    _ => "testbot_cucumber.rb",
                };
                // The runner script reads `FILE… -- ARGS…`; files always start with `./` or `/`,
                // so the first `--` is the separator.
                let mut args = vec![format!("{support_dir}/{script}")];
                args.extend(files.iter().map(|f| dot_slash(f)));
                args.push("--".to_string());
                args.extend(runner.runner_args.iter().cloned());
                let mut ruby = vec!["ruby".to_string()];
                if *self != Framework::Cucumber {
                    ruby.extend(load_path_dirs(files).into_iter().map(|d| format!("-I{d}")));
                }
                let ruby: Vec<&str> = ruby.iter().map(String::as_str).collect();
                with_runner(runner, &ruby, args)
            }
        }
    }

    /// Whether `--preload` works with this framework, and why not.
    pub fn preload_support(&self, runner: &RunnerConfig) -> Result<(), PreloadUnsupported> {
        match (self, &runner.command) {
            (Framework::Cucumber, _) => Err(PreloadUnsupported::Framework(self.name())),
            (_, Some(command)) => Err(PreloadUnsupported::Command(command.clone())),
            (_, None) => Ok(()),
        }
    }

    /// The preload server of one slot (`--preload`): loads the suite's helper, then serves
    /// batches on `socket` (a path relative to the runner's directory, or absolute). minitest and
    /// Test::Unit servers get the folders their runner puts on the load path for the run's
    /// `files` (`-Itest`): the helper is looked for there and required as the files require it.
    pub fn preload_server_command(&self, runner: &RunnerConfig, support_dir: &str, socket: &str, files: &[String]) -> Vec<String> {
        let mut args = vec![format!("{support_dir}/testbot_preload.rb"), socket.to_string(), self.name().to_string()];
        if matches!(self, Framework::Minitest | Framework::TestUnit) {
            args.extend(load_path_dirs(files).into_iter().map(|d| format!("-I{d}")));
        }
        args.push("--".to_string());
        args.extend(runner.runner_args.iter().cloned());
        with_runner(runner, &["ruby"], args)
    }

    /// A batch under `--preload`: a small client that has the slot's preload server run the
    /// command a fork server's child would run (the server is started under `bundle exec`
    /// already): testbot's own binary `native` where there is one (this machine), else
    /// `testbot_client.rb`, which needs no gems and so starts without RubyGems or Bundler.
    pub fn preload_client_command(
        &self,
        runner: &RunnerConfig,
        support_dir: &str,
        socket: &str,
        files: &[String],
        native: Option<&str>,
    ) -> Vec<String> {
        with_client(native, support_dir, socket, "preload", self.command(&runner.forked(), support_dir, files))
    }

    /// The line a person pastes to rerun one failed example: `location` and `description` as
    /// the framework's runner reported them. The location is shell-quoted (a file named
    /// `fail 'x'_spec.rb`); the description after `#` is a comment, kept on its one line.
    pub fn rerun_line(&self, location: &str, description: &str) -> String {
        match self {
            Framework::RSpec => format!("rspec {} # {}", quote(location), one_line(description)),
            Framework::Minitest | Framework::TestUnit => {
                // `Class#test_name` selects exactly one test in both minitest and Test::Unit.
                let file = strip_line(location);
                let include = load_path_dirs(&[file.to_string()]).into_iter().map(|d| format!("-I{} ", quote(&d))).collect::<String>();
                format!("ruby {include}{} -n {}", quote(file), quote(description))
            }
            Framework::Cucumber => format!("cucumber {} # {}", quote(location), one_line(description)),
        }
    }
}

impl Framework {
    /// A command that runs a batch's files again in one process, in the order it was given them
    /// (`arguments`, as the runner got them), with its random order's seed: what reproduces an
    /// order-dependent failure. Minitest and Test::Unit have no stock command for several
    /// files: their files are listed in order.
    pub fn batch_command(&self, arguments: &[String], seed: Option<u64>) -> String {
        let files: Vec<String> = arguments.iter().map(|a| quote(a)).collect();
        let files = files.join(" ");
        let seed = seed.map(|s| format!("--seed {s} ")).unwrap_or_default();
        match self {
            Framework::RSpec => format!("rspec {seed}{files}"),
            Framework::Cucumber => format!("cucumber {files}"),
            Framework::Minitest | Framework::TestUnit => format!("# {seed}in this order: {files}"),
        }
    }
}

impl Framework {
    /// `rerun_line`, with `[project] command` in place of the framework's own runner when the
    /// project runs its tests through one (`bin/rspec`, `ruby -Ilib -Itest`, `bin/rails test`).
    pub fn rerun_line_with(&self, command: Option<&str>, location: &str, description: &str) -> String {
        match (self, command) {
            (_, None) => self.rerun_line(location, description),
            (Framework::Minitest | Framework::TestUnit, Some(command)) => {
                format!("{command} {} -n {}", quote(strip_line(location)), quote(description))
            }
            (Framework::RSpec | Framework::Cucumber, Some(command)) => {
                format!("{command} {} # {}", quote(location), one_line(description))
            }
        }
    }
}

/// A comment's text with its line breaks as spaces: a pasted line whose comment broke onto a
/// second line would run that line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// `argv` — a command as [`Framework::command`] gives it for [`RunnerConfig::forked`] — run by
/// the host's fork server on `socket`, through a small client: testbot's own binary `native`
/// where there is one (this machine), else `testbot_client.rb`, which needs no gems and so
/// starts without RubyGems or Bundler.
pub fn through_fork(support_dir: &str, socket: &str, argv: Vec<String>, native: Option<&str>) -> Vec<String> {
    with_client(native, support_dir, socket, "fork", argv)
}

fn with_client(native: Option<&str>, support_dir: &str, socket: &str, kind: &str, argv: Vec<String>) -> Vec<String> {
    if let Some(exe) = native {
        return client::command(exe, socket, kind, argv);
    }
    let mut wrapped = vec!["ruby".to_string(), "--disable-gems".to_string(), format!("{support_dir}/testbot_client.rb"), socket.to_string(), kind.to_string()];
    wrapped.extend(argv);
    wrapped
}

/// What rspec is given: testbot's formatter, the arguments after `--`, the files.
fn rspec_args(runner: &RunnerConfig, support_dir: &str, files: &[String]) -> Vec<String> {
    let mut args = vec![
        "--require".to_string(),
        format!("{support_dir}/testbot_rspec_formatter.rb"),
        "--format".to_string(),
        "Testbot::RSpecFormatter".to_string(),
    ];
    args.extend(runner.runner_args.iter().cloned());
    // `./` keeps a name that starts with `-` from reading as an option.
    args.extend(files.iter().map(|f| dot_slash(f)));
    args
}

/// `test/a_test.rb:12` → `test/a_test.rb`.
fn strip_line(location: &str) -> &str {
    match location.rsplit_once(':') {
        Some((file, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => file,
        _ => location,
    }
}

/// The folders minitest and Test::Unit files expect on the load path (`require "test_helper"`):
/// the top folder of each file, as `ruby -Itest` gives it.
fn load_path_dirs(files: &[String]) -> Vec<String> {
    let mut dirs: Vec<String> = Vec::new();
    for file in files {
        let file = file.strip_prefix("./").unwrap_or(file);
        if file.starts_with('/') {
            continue;
        }
        if let Some((top, _)) = file.split_once('/') {
            if !dirs.iter().any(|d| d == top) {
                dirs.push(top.to_string());
            }
        }
    }
    dirs
}

/// `spec/**/*_spec.rb` → `*_spec.rb`.
pub fn file_pattern(pattern: &str) -> &str {
    pattern.rsplit('/').next().unwrap_or(pattern)
}

fn dot_slash(path: &str) -> String {
    if path.starts_with('/') || path.starts_with("./") {
        path.to_string()
    } else {
        format!("./{path}")
    }
}

/// `[project] command` runs through `sh -c 'CMD "$@"'` so it may hold shell syntax while the
/// arguments stay exactly as they are.
fn with_runner(runner: &RunnerConfig, default: &[&str], args: Vec<String>) -> Vec<String> {
    let mut argv: Vec<String> = Vec::new();
    if let Some(command) = &runner.command {
        argv.extend(["sh".to_string(), "-c".to_string(), format!("{command} \"$@\""), "testbot".to_string()]);
    } else {
        if runner.bundler {
            argv.extend(["bundle".to_string(), "exec".to_string()]);
        }
        argv.extend(default.iter().map(|s| s.to_string()));
    }
    argv.extend(args);
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rspec_command_with_bundler_and_args() {
        let runner = RunnerConfig { command: None, bundler: true, runner_args: vec!["--tag".into(), "focus".into()] };
        let argv = Framework::RSpec.command(&runner, "/tmp/x", &["spec/a_spec.rb".into(), "-odd_spec.rb".into()]);
        assert_eq!(
            argv,
            [
                "bundle", "exec", "rspec", "--require", "/tmp/x/testbot_rspec_formatter.rb", "--format",
                "Testbot::RSpecFormatter", "--tag", "focus", "./spec/a_spec.rb", "./-odd_spec.rb"
            ]
        );
    }

    #[test]
    fn minitest_command_puts_files_before_the_separator() {
        let runner = RunnerConfig { command: None, bundler: true, runner_args: vec!["--seed".into(), "7".into()] };
        let files = ["test/a_test.rb".to_string(), "test/m/test_b.rb".into(), "spec/c_spec.rb".into()];
        let argv = Framework::Minitest.command(&runner, "./.testbot", &files);
        assert_eq!(
            argv,
            [
                "bundle", "exec", "ruby", "-Itest", "-Ispec", "./.testbot/testbot_minitest.rb", "./test/a_test.rb",
                "./test/m/test_b.rb", "./spec/c_spec.rb", "--", "--seed", "7"
            ]
        );
        let argv = Framework::TestUnit.command(&RunnerConfig::default(), "/s", &["test/a_test.rb".into()]);
        assert_eq!(argv, ["ruby", "-Itest", "/s/testbot_test_unit.rb", "./test/a_test.rb", "--"]);
    }

    #[test]
    fn cucumber_command_and_command_override() {
        let argv = Framework::Cucumber.command(&RunnerConfig::default(), "/s", &["features/a.feature".into()]);
        assert_eq!(argv, ["ruby", "/s/testbot_cucumber.rb", "./features/a.feature", "--"]);
        let runner = RunnerConfig { command: Some("ruby -Ilib".into()), bundler: true, runner_args: vec!["--tags".into(), "@x".into()] };
        let argv = Framework::Cucumber.command(&runner, "/s", &["features/a.feature".into()]);
        assert_eq!(argv, ["sh", "-c", "ruby -Ilib \"$@\"", "testbot", "/s/testbot_cucumber.rb", "./features/a.feature", "--", "--tags", "@x"]);
    }

    #[test]
    fn rerun_lines_in_each_frameworks_idiom() {
        assert_eq!(Framework::RSpec.rerun_line("./spec/a_spec.rb:3", "A works"), "rspec ./spec/a_spec.rb:3 # A works");
        assert_eq!(
            Framework::Minitest.rerun_line_with(Some("bin/rails test"), "test/a_test.rb:12", "MathTest#test_x"),
            "bin/rails test test/a_test.rb -n 'MathTest#test_x'"
        );
        assert_eq!(Framework::RSpec.rerun_line_with(Some("bin/rspec"), "./spec/a_spec.rb:3", "A works"), "bin/rspec ./spec/a_spec.rb:3 # A works");
        assert_eq!(
            Framework::Minitest.rerun_line("test/a_test.rb:12", "MathTest#test_x"),
            "ruby -Itest test/a_test.rb -n 'MathTest#test_x'"
        );
        assert_eq!(
            Framework::TestUnit.rerun_line("test/unit/a b_test.rb", "A#test: it's fine"),
            "ruby -Itest 'test/unit/a b_test.rb' -n 'A#test: it'\\''s fine'"
        );
        assert_eq!(
            Framework::Cucumber.rerun_line("features/a.feature:12", "Scenario: adds"),
            "cucumber features/a.feature:12 # Scenario: adds"
        );
    }

    #[test]
    fn rerun_lines_quote_the_location_and_keep_the_comment_on_its_line() {
        assert_eq!(
            Framework::RSpec.rerun_line("./spec/fail 'x'_spec.rb:3", "it's\nrm -rf ~"),
            "rspec './spec/fail '\\''x'\\''_spec.rb:3' # it's rm -rf ~"
        );
        assert_eq!(Framework::RSpec.rerun_line("./spec/a_spec.rb[1:2]", "A"), "rspec './spec/a_spec.rb[1:2]' # A");
        assert_eq!(
            Framework::Cucumber.rerun_line_with(Some("bin/cucumber"), "features/$(id).feature:4", "S"),
            "bin/cucumber 'features/$(id).feature:4' # S"
        );
    }

    #[test]
    fn names_round_trip() {
        for (framework, name) in Framework::ALL.iter().zip(Framework::NAMES) {
            assert_eq!(framework.name(), *name);
            assert_eq!(Framework::from_name(name), Some(*framework));
        }
        assert_eq!(Framework::from_name("Test::Unit"), Some(Framework::TestUnit));
        assert_eq!(Framework::Minitest.default_folder_pattern(), "{*_test,test_*,*_spec}.rb");
        assert_eq!(Framework::TestUnit.default_folder_pattern(), "{*_test,test_*}.rb");
    }

    #[test]
    fn preload_server_and_client_commands() {
        let runner = RunnerConfig { command: None, bundler: true, runner_args: vec!["--tag".into(), "focus".into()] };
        let server = Framework::RSpec.preload_server_command(&runner, "./.testbot", ".testbot/preload/slot-2.sock", &["spec/a_spec.rb".into()]);
        assert_eq!(
            server,
            ["bundle", "exec", "ruby", "./.testbot/testbot_preload.rb", ".testbot/preload/slot-2.sock", "rspec", "--", "--tag", "focus"]
        );
        let client = Framework::RSpec.preload_client_command(&runner, "/s", "/s/preload/slot-1.sock", &["spec/a_spec.rb".into()], None);
        assert_eq!(
            client,
            [
                "ruby", "--disable-gems", "/s/testbot_client.rb", "/s/preload/slot-1.sock", "preload", "rspec", "--require",
                "/s/testbot_rspec_formatter.rb", "--format", "Testbot::RSpecFormatter", "--tag", "focus", "./spec/a_spec.rb"
            ]
        );
        assert!(Framework::RSpec.preload_support(&runner).is_ok());
        let own = RunnerConfig { command: Some("bin/rspec".into()), ..runner.clone() };
        assert!(Framework::RSpec.preload_support(&own).unwrap_err().to_string().contains("`[project] command` (`bin/rspec`)"));
        assert!(Framework::Minitest.preload_support(&own).is_err());
        let cucumber = Framework::Cucumber.preload_support(&RunnerConfig::default()).unwrap_err().to_string();
        assert!(cucumber.contains("supports RSpec, minitest and Test::Unit; run this cucumber suite without it"), "{cucumber}");
    }

    #[test]
    fn minitest_and_test_unit_preload_with_the_runners_load_path() {
        let runner = RunnerConfig { command: None, bundler: true, runner_args: vec!["--require".into(), "my_helper".into()] };
        let files = ["test/a_test.rb".to_string(), "test/m/test_b.rb".into(), "spec/c_spec.rb".into()];
        assert!(Framework::Minitest.preload_support(&runner).is_ok() && Framework::TestUnit.preload_support(&runner).is_ok());
        let server = Framework::Minitest.preload_server_command(&runner, "/s", "/s/preload/slot-1.sock", &files);
        assert_eq!(
            server,
            ["bundle", "exec", "ruby", "/s/testbot_preload.rb", "/s/preload/slot-1.sock", "minitest", "-Itest", "-Ispec", "--", "--require", "my_helper"]
        );
        // The client asks for what a fork server's child would run: testbot's runner script.
        let client = Framework::TestUnit.preload_client_command(&runner, "/s", "/s/preload/slot-1.sock", &files[..1], None);
        assert_eq!(
            client,
            [
                "ruby", "--disable-gems", "/s/testbot_client.rb", "/s/preload/slot-1.sock", "preload", "ruby", "-Itest", "/s/testbot_test_unit.rb",
                "./test/a_test.rb", "--", "--require", "my_helper"
            ]
        );
        for framework in [Framework::Minitest, Framework::TestUnit] {
            let names: Vec<&str> = framework.support_files().iter().map(|(name, _)| *name).collect();
            assert!(names.contains(&"testbot_preload.rb") && names.contains(&"testbot_client.rb"), "{names:?}");
        }
    }

    #[test]
    fn forked_commands_are_the_fresh_ones_without_bundler_behind_the_client() {
        let runner = RunnerConfig { command: None, bundler: true, runner_args: vec![] };
        let (server, libs) = Framework::Minitest.fork_server_command(&runner, "/s", "/s/fork/ab.sock", None).unwrap();
        assert_eq!(server, ["bundle", "exec", "ruby", "/s/testbot_fork.rb", "/s/fork/ab.sock"]);
        assert_eq!(libs, "/s/testbot_events.rb\nminitest\n");
        // The compiled code's folder follows the socket.
        let (server, _) = Framework::Minitest.fork_server_command(&runner, "/s", "/s/fork/ab.sock", Some("/c/compiled")).unwrap();
        assert_eq!(server[3..], ["/s/testbot_fork.rb", "/s/fork/ab.sock", "/c/compiled"]);
        let argv = Framework::Minitest.command(&runner.forked(), "/s", &["test/a_test.rb".into()]);
        assert_eq!(
            through_fork("/s", "/s/fork/ab.sock", argv.clone(), None),
            ["ruby", "--disable-gems", "/s/testbot_client.rb", "/s/fork/ab.sock", "fork", "ruby", "-Itest", "/s/testbot_minitest.rb", "./test/a_test.rb", "--"]
        );
        // On this machine testbot's own binary is the client.
        assert_eq!(
            through_fork("/s", "/s/fork/ab.sock", argv, Some("/bin/testbot")),
            ["/bin/testbot", client::COMMAND, "/s/fork/ab.sock", "fork", "ruby", "-Itest", "/s/testbot_minitest.rb", "./test/a_test.rb", "--"]
        );
        let own = RunnerConfig { command: Some("bin/rspec".into()), ..runner };
        assert_eq!(Framework::RSpec.fork_server_command(&own, "/s", "/s/x.sock", None), None);
        assert!(Framework::Cucumber.support_files().iter().any(|(name, _)| *name == "testbot_client.rb"));
    }

    #[test]
    fn command_override_goes_through_sh() {
        let runner = RunnerConfig { command: Some("bin/rspec --no-profile".into()), bundler: true, runner_args: vec![] };
        let argv = Framework::RSpec.command(&runner, "/s", &["spec/a b_spec.rb".into()]);
        assert_eq!(&argv[..4], ["sh", "-c", "bin/rspec --no-profile \"$@\"", "testbot"]);
        assert_eq!(argv.last().unwrap(), "./spec/a b_spec.rb");
    }
}
