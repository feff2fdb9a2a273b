//! Test frameworks: everything testbot knows of each one, behind one interface, and the event
//! protocol their formatters speak.
//!
//! One folder per framework (`rspec/`, `minitest/`, `test_unit/`, `cucumber/`) implements
//! [`TestFramework`]: how its project is detected, which files it runs, its argv, its rerun lines
//! and its Ruby support files (a formatter or a runner script, embedded in the binary). They
//! are registered once, in [`REGISTERED`]. All print the same JSON events, one per line
//! (`ruby/testbot_events.rb`); `protocol` parses those lines back. `selection` holds the
//! `path:12` / `path[1:2]` syntax, `files` how test files are found.

pub mod argv;
pub mod client;
pub mod cucumber;
pub mod detect;
pub mod files;
pub mod minitest;
pub mod protocol;
pub mod rspec;
pub mod selection;
pub mod test_unit;

pub use detect::{detect, detect_all, Detected, Undetected};
pub use files::file_pattern;

use std::path::Path;

/// Every framework testbot runs, in the order detection reports them: the one place a
/// framework is registered.
pub const REGISTERED: &[Framework] = &[Framework::RSpec, Framework::Minitest, Framework::TestUnit, Framework::Cucumber];

/// The Ruby every framework ships (name, contents): the event writer, the fork server, what it
/// shares with the preload server, and their client. The preload server is added for the
/// frameworks that preload.
const EVENTS: (&str, &str) = ("testbot_events.rb", include_str!("ruby/testbot_events.rb"));
const PRELOAD_SERVER: (&str, &str) = ("testbot_preload.rb", include_str!("ruby/testbot_preload.rb"));
/// Recording impact (`--record-impact`): Coverage, and what starts it through `RUBYOPT`.
const IMPACT: [(&str, &str); 2] = [
    ("testbot_impact.rb", include_str!("ruby/testbot_impact.rb")),
    ("testbot_impact_start.rb", include_str!("ruby/testbot_impact_start.rb")),
];
const SERVERS: [(&str, &str); 4] = [
    ("testbot_server.rb", include_str!("ruby/testbot_server.rb")),
    ("testbot_fork.rb", include_str!("ruby/testbot_fork.rb")),
    ("testbot_client.rb", include_str!("ruby/testbot_client.rb")),
    ("testbot_request.rb", include_str!("ruby/testbot_request.rb")),
];

/// What testbot knows of one test framework. The defaults are what most frameworks do.
pub trait TestFramework: Sync {
    /// Its name on the command line and in testbot.toml (`--framework rspec`).
    fn name(&self) -> &'static str;
    /// Its name in a sentence (`Test::Unit`).
    fn title(&self) -> &'static str;
    /// Other spellings `--framework` takes (lowercase).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// The name parallel_tests gives its runtime log (`tmp/parallel_runtime_<name>.log`).
    fn parallel_tests_name(&self) -> &'static str {
        self.name()
    }

    /// The files a run selects when given no paths.
    fn default_pattern(&self) -> &'static str;
    /// The file names a folder given on the command line is searched for.
    fn default_folder_pattern(&self) -> &'static str {
        file_pattern(self.default_pattern())
    }
    /// This project's files when they are not the default pattern's (minitest specs in spec/).
    fn project_pattern(&self, _root: &Path) -> Option<&'static str> {
        None
    }

    /// Why the project's folders say it uses this framework (`spec/`, `test/ uses minitest`);
    /// None when they do not. A folder counts only when it holds test files (a Rails app's
    /// leftover test/ with `.keep` files does not).
    fn detect(&self, root: &Path) -> Result<Option<String>, Undetected>;
    /// The folder that, with no test file in it yet, says this framework when it is the only
    /// framework folder there (`spec`, `test`, `features`).
    fn home(&self) -> &'static str;
    /// Its home is the project's only framework folder and holds no test file: whether it is
    /// this framework's (test/ is minitest's or Test::Unit's, from what its files require).
    fn owns_bare_home(&self, _root: &Path) -> Result<bool, Undetected> {
        Ok(true)
    }

    /// Whether `path:12` and `path[1:2]` run part of a file ([`selection`]), and its examples
    /// have ids that a run can record and split long files by (RSpec).
    fn runs_parts_of_files(&self) -> bool {
        false
    }
    /// The runner's arguments as the project gives them (after `--`), with what the framework
    /// adds from the project's files.
    fn runner_args(&self, _root: &Path, given: &[String]) -> Vec<String> {
        given.to_vec()
    }
    /// Before a run: arguments that ask for a random order without a seed get one seed for the
    /// whole run, so that every batch orders as the run shows.
    fn seed_random_order(&self, _args: &mut Vec<String>) {}
    /// Before a run: takes out of the arguments the runner's own one-line-per-example format
    /// (RSpec's `--format documentation`), which every batch would print with its own summary;
    /// true when there was one, and testbot shows its own documentation view instead.
    fn take_documentation_format(&self, _args: &mut Vec<String>) -> bool {
        false
    }

    /// Its own Ruby files (name, contents), written beside the run with the shared ones.
    fn ruby_files(&self) -> &'static [(&'static str, &'static str)];
    /// What the fork server loads for every batch: the framework's core as its runner requires
    /// it first (nothing of the project).
    fn core_libs(&self) -> &'static [&'static str];
    /// Its own Ruby files (of `ruby_files`) that every batch's runner requires before the
    /// project and that read nothing of the batch when they load: the fork server loads them
    /// after the core, once for all its batches, rather than every child (RSpec's formatter:
    /// 16 -> 12 ms of a child's CPU to RSpec's run; docs/benchmarks.md, session 30).
    fn server_files(&self) -> &'static [&'static str] {
        &[]
    }
    /// The folders its runner puts on the load path for `files` (`-Itest`), as `-I` flags.
    fn load_path(&self, _files: &[String]) -> Vec<String> {
        Vec::new()
    }
    /// The command that runs `files` (relative to the project root) with the support files in
    /// `support_dir`.
    fn command(&self, runner: &RunnerConfig, support_dir: &str, files: &[String]) -> Vec<String>;
    /// The runner's arguments (`runner_args`, the run's) for a dry run that loads what
    /// configures the suite (SimpleCov) and no test file: the coverage merge tries it before a
    /// dry run of one file, which may boot a whole app. None: the framework has no such run.
    fn dry_run_without_test_files(&self, _runner_args: &[String]) -> Option<Vec<String>> {
        None
    }
    /// Whether `--preload` can serve its batches (testbot_preload.rb knows how to run it).
    fn preloads(&self) -> bool {
        true
    }

    /// The line a person pastes to rerun one failed example: `location` and `description` as
    /// the framework's runner reported them, with `command` (`[project] command`) in place of
    /// the framework's own runner when the project has one.
    fn rerun_line(&self, command: Option<&str>, location: &str, description: &str) -> String;
    /// A command that runs a batch's files again in one process, in the order it was given
    /// them (`arguments`, as the runner got them), with its random order's seed: what
    /// reproduces an order-dependent failure.
    fn batch_command(&self, arguments: &[String], seed: Option<u64>) -> String;
    /// `testbot init`'s example of a `[project] command`, and the comment above it.
    fn init_command(&self) -> (&'static str, &'static str);
    /// The runner arguments that run only the tests named `names` (as its reporter names them,
    /// `Class#test_name`) in every file of a batch: how `testbot bisect` narrows a polluting
    /// file of a framework that runs whole files only. None: it cannot select tests by name.
    fn by_name(&self, _names: &[String]) -> Option<Vec<String>> {
        None
    }
}

/// A framework testbot runs: a handle on its [`TestFramework`], which it dereferences to.
#[derive(Clone, Copy)]
pub struct Framework(&'static dyn TestFramework);

/// The built-in frameworks by name, for the code and tests that name one.
#[allow(non_upper_case_globals)]
impl Framework {
    pub const RSpec: Framework = Framework(&rspec::RSpec);
    pub const Minitest: Framework = Framework(&minitest::Minitest);
    pub const TestUnit: Framework = Framework(&test_unit::TestUnit);
    pub const Cucumber: Framework = Framework(&cucumber::Cucumber);
}

impl std::ops::Deref for Framework {
    type Target = dyn TestFramework;

    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl PartialEq for Framework {
    fn eq(&self, other: &Framework) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Framework {}

impl std::fmt::Debug for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why `--preload` cannot work for a project.
#[derive(Debug, thiserror::Error)]
pub enum PreloadUnsupported {
    #[error("`--preload` starts the runner inside its own Ruby process and cannot use `[project] command` (`{0}`); remove one of them")]
    Command(String),
    #[error("`--preload` supports {frameworks}; run this {0} suite without it", frameworks = preloading())]
    Framework(&'static str),
}

/// The registered frameworks `--preload` serves: `RSpec, minitest and Test::Unit`.
fn preloading() -> String {
    let titles: Vec<&str> = REGISTERED.iter().filter(|f| f.preloads()).map(|f| f.title()).collect();
    match titles.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "no framework".to_string(),
    }
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
    /// The registered framework `name` (or one of its other spellings) names.
    pub fn from_name(name: &str) -> Option<Framework> {
        let name = name.to_ascii_lowercase();
        REGISTERED.iter().copied().find(|f| f.name() == name || f.aliases().contains(&name.as_str()))
    }

    /// The registered frameworks' names.
    pub fn names() -> Vec<&'static str> {
        REGISTERED.iter().map(|f| f.name()).collect()
    }

    /// Support files to write beside the run (name, contents).
    pub fn support_files(&self) -> Vec<(&'static str, &'static str)> {
        let mut files = vec![EVENTS];
        files.extend(self.ruby_files());
        files.extend(self.preloads().then_some(PRELOAD_SERVER));
        files.extend(SERVERS);
        files.extend(IMPACT);
        files
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
        for file in self.server_files() {
            libs.push_str(&format!("{support_dir}/{file}\n"));
        }
        Some((argv::with_runner(runner, &["ruby"], args), libs))
    }

    /// Whether `--preload` works with this framework, and why not.
    pub fn preload_support(&self, runner: &RunnerConfig) -> Result<(), PreloadUnsupported> {
        match &runner.command {
            _ if !self.preloads() => Err(PreloadUnsupported::Framework(self.name())),
            Some(command) => Err(PreloadUnsupported::Command(command.clone())),
            None => Ok(()),
        }
    }

    /// The preload server of one slot (`--preload`): loads the suite's helper, then serves
    /// batches on `socket` (a path relative to the runner's directory, or absolute). Given the
    /// folders the runner puts on the load path for the run's `files` (`-Itest`): the helper is
    /// looked for there and required as the files require it.
    pub fn preload_server_command(&self, runner: &RunnerConfig, support_dir: &str, socket: &str, files: &[String]) -> Vec<String> {
        let mut args = vec![format!("{support_dir}/testbot_preload.rb"), socket.to_string(), self.name().to_string()];
        args.extend(self.load_path(files));
        args.push("--".to_string());
        args.extend(runner.runner_args.iter().cloned());
        argv::with_runner(runner, &["ruby"], args)
    }

    /// [`TestFramework::rerun_line`] with the framework's own runner.
    pub fn rerun_line(&self, location: &str, description: &str) -> String {
        self.0.rerun_line(None, location, description)
    }

    /// [`TestFramework::rerun_line`] with `[project] command` in place of the framework's own
    /// runner when the project runs its tests through one (`bin/rspec`, `ruby -Ilib -Itest`,
    /// `bin/rails test`).
    pub fn rerun_line_with(&self, command: Option<&str>, location: &str, description: &str) -> String {
        self.0.rerun_line(command, location, description)
    }
}

/// `argv` — a command as [`TestFramework::command`] gives it for [`RunnerConfig::forked`] — run
/// by the host's fork server on `socket`, through a small client: testbot's own binary `native`
/// where there is one (this machine), else `testbot_client.rb`, which needs no gems and so
/// starts without RubyGems or Bundler.
pub fn through_fork(support_dir: &str, socket: &str, argv: Vec<String>, native: Option<&str>) -> Vec<String> {
    with_client(native, support_dir, socket, "fork", argv)
}

/// A batch under `--preload`: `argv`, the command a fork server's child would run (the preload
/// server is started under `bundle exec` already), run by the slot's preload server on
/// `socket` through the same client as [`through_fork`].
pub fn through_preload(support_dir: &str, socket: &str, argv: Vec<String>, native: Option<&str>) -> Vec<String> {
    with_client(native, support_dir, socket, "preload", argv)
}

fn with_client(native: Option<&str>, support_dir: &str, socket: &str, kind: &str, argv: Vec<String>) -> Vec<String> {
    if let Some(exe) = native {
        return client::command(exe, socket, kind, argv);
    }
    let mut wrapped = vec!["ruby".to_string(), "--disable-gems".to_string(), format!("{support_dir}/testbot_client.rb"), socket.to_string(), kind.to_string()];
    wrapped.extend(argv);
    wrapped
}

#[cfg(test)]
mod tests;
