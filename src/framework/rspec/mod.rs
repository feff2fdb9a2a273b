//! RSpec: `rspec` with testbot's formatter (`rspec_formatter.rb`), which also collects SimpleCov
//! results across batches (`testbot_coverage.rb`). The one framework whose rerun lines select
//! examples (`spec/a_spec.rb:12`, `spec/a_spec.rb[1:2]`).

use super::argv::{commented_rerun_line, dot_slash, quoted, seed_option, with_runner};
use super::{files, minitest, RunnerConfig, TestFramework, Undetected};
use std::path::Path;

pub struct RSpec;

const PATTERN: &str = "spec/**/*_spec.rb";

const RUBY: &[(&str, &str)] = &[
    ("testbot_rspec_formatter.rb", include_str!("rspec_formatter.rb")),
    ("testbot_coverage.rb", include_str!("testbot_coverage.rb")),
];

impl TestFramework for RSpec {
    fn name(&self) -> &'static str {
        "rspec"
    }

    fn title(&self) -> &'static str {
        "RSpec"
    }

    fn default_pattern(&self) -> &'static str {
        PATTERN
    }

    /// spec/ holds spec files, and they are not minitest's.
    fn detect(&self, root: &Path) -> Result<Option<String>, Undetected> {
        let ours = files::has_files(root, PATTERN) && !minitest::holds_minitest_specs(root);
        Ok(ours.then(|| "spec/".to_string()))
    }

    fn home(&self) -> &'static str {
        "spec"
    }

    fn runs_parts_of_files(&self) -> bool {
        true
    }

    fn runner_args(&self, root: &Path, given: &[String]) -> Vec<String> {
        parallel_options(root, given)
    }

    fn seed_random_order(&self, args: &mut Vec<String>) {
        one_seed(args)
    }

    fn take_documentation_format(&self, args: &mut Vec<String>) -> bool {
        without_documentation_format(args)
    }

    fn ruby_files(&self) -> &'static [(&'static str, &'static str)] {
        RUBY
    }

    /// With the files RSpec's runner requires late in every run (the default mocking adapter
    /// and the profiler), which a library that lacks them skips.
    fn core_libs(&self) -> &'static [&'static str] {
        &["rspec/core", "rspec/expectations", "rspec/mocks", "rspec/core/mocking_adapters/rspec", "rspec/core/profiler"]
    }

    /// The formatter (with the event writer and the SimpleCov glue it requires): its batch's
    /// settings are read when the batch starts, not when it loads.
    fn server_files(&self) -> &'static [&'static str] {
        &["testbot_rspec_formatter.rb"]
    }

    /// rspec with testbot's formatter, the arguments after `--`, the files.
    fn command(&self, runner: &RunnerConfig, support_dir: &str, files: &[String]) -> Vec<String> {
        let mut args = vec![
            "--require".to_string(),
            format!("{support_dir}/testbot_rspec_formatter.rb"),
            "--format".to_string(),
            "Testbot::RSpecFormatter".to_string(),
        ];
        args.extend(runner.runner_args.iter().cloned());
        args.extend(files.iter().map(|f| dot_slash(f)));
        with_runner(runner, &["rspec"], args)
    }

    /// What `.rspec` requires (SimpleCov's setup, as a Rails app's `spec_helper` does it) and no
    /// spec file: the runner's `--require`s (`rails_helper` with `--preload`) are left out, and
    /// the default path is given a pattern that matches none.
    fn dry_run_without_test_files(&self, runner_args: &[String]) -> Option<Vec<String>> {
        let mut args = without_requires(runner_args);
        args.extend(["--dry-run", "--pattern", "testbot-coverage-merge-loads-no-spec-file"].map(String::from));
        Some(args)
    }

    fn rerun_line(&self, command: Option<&str>, location: &str, description: &str) -> String {
        commented_rerun_line(command.unwrap_or("rspec"), location, description)
    }

    fn batch_command(&self, arguments: &[String], seed: Option<u64>) -> String {
        format!("rspec {}{}", seed_option(seed), quoted(arguments))
    }

    fn init_command(&self) -> (&'static str, &'static str) {
        ("bin/rspec", "# Shell command prefix that runs the tests instead of `rspec`.\n")
    }
}

/// The runner's arguments: parallel_tests' RSpec options file first, as parallel_rspec passes it
/// (`-O .rspec_parallel`, else `spec/parallel_spec.opts` or `spec/spec.opts`: RSpec then reads
/// it instead of `.rspec`), unless the arguments name an options file of their own.
fn parallel_options(root: &Path, runner_args: &[String]) -> Vec<String> {
    let mut args = Vec::new();
    let own = runner_args.iter().any(|a| a == "-O" || a.starts_with("--options") || (a.starts_with("-O") && a.len() > 2));
    if !own {
        if let Some(file) = [".rspec_parallel", "spec/parallel_spec.opts", "spec/spec.opts"].into_iter().find(|f| root.join(f).is_file()) {
            args.extend(["-O".to_string(), file.to_string()]);
        }
    }
    args.extend(runner_args.iter().cloned());
    args
}

/// The runner's arguments without their `--require`s (`-r X`, `--require X`, `--require=X`).
fn without_requires(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for arg in args {
        if std::mem::take(&mut skip) {
            continue;
        }
        match arg.as_str() {
            "-r" | "--require" => skip = true,
            a if a.starts_with("--require=") || (a.starts_with("-r") && a.len() > 2 && !a.starts_with("--")) => {}
            _ => out.push(arg.clone()),
        }
    }
    out
}

/// Takes `--format documentation` out (`-f d`, `-fd`, `--format=doc`, any prefix of
/// `documentation` as RSpec takes it); true when it was there.
fn without_documentation_format(args: &mut Vec<String>) -> bool {
    let documentation = |value: &str| !value.is_empty() && "documentation".starts_with(value);
    let before = args.len();
    let mut i = 0;
    while i < args.len() {
        let joined = args[i].strip_prefix("--format=").or_else(|| args[i].strip_prefix("-f").filter(|v| !v.is_empty()));
        match (args[i].as_str(), joined) {
            ("-f" | "--format", _) if args.get(i + 1).is_some_and(|v| documentation(v)) => {
                args.drain(i..i + 2);
            }
            (_, Some(value)) if documentation(value) => {
                args.remove(i);
            }
            _ => i += 1,
        }
    }
    args.len() < before
}

/// `-- --order random` without a seed: one seed for the whole run, passed to every batch, so
/// that the seed the run shows (and `-- --seed N`) orders every batch as it ran. Without it each
/// runner would draw its own.
fn one_seed(args: &mut Vec<String>) {
    let random = |order: &str| matches!(order, "rand" | "random");
    let mut asks = false;
    for (i, arg) in args.iter().enumerate() {
        let order = match arg.strip_prefix("--order=") {
            Some(value) => Some(value),
            None if arg == "--order" => args.get(i + 1).map(String::as_str),
            None => None,
        };
        if arg == "--seed" || arg.starts_with("--seed=") || order.is_some_and(|o| o.contains(':')) {
            return;
        }
        asks |= order.is_some_and(random);
    }
    if asks {
        let mut bytes = [0u8; 2];
        getrandom::getrandom(&mut bytes).expect("the OS has no random source");
        args.extend(["--seed".to_string(), u16::from_le_bytes(bytes).to_string()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Framework;

    fn words(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

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
    fn command_override_goes_through_sh() {
        let runner = RunnerConfig { command: Some("bin/rspec --no-profile".into()), bundler: true, runner_args: vec![] };
        let argv = Framework::RSpec.command(&runner, "/s", &["spec/a b_spec.rb".into()]);
        assert_eq!(&argv[..4], ["sh", "-c", "bin/rspec --no-profile \"$@\"", "testbot"]);
        assert_eq!(argv.last().unwrap(), "./spec/a b_spec.rb");
    }

    #[test]
    fn rerun_lines_quote_the_location_and_keep_the_comment_on_its_line() {
        assert_eq!(Framework::RSpec.rerun_line("./spec/a_spec.rb:3", "A works"), "rspec ./spec/a_spec.rb:3 # A works");
        assert_eq!(Framework::RSpec.rerun_line_with(Some("bin/rspec"), "./spec/a_spec.rb:3", "A works"), "bin/rspec ./spec/a_spec.rb:3 # A works");
        assert_eq!(
            Framework::RSpec.rerun_line("./spec/fail 'x'_spec.rb:3", "it's\nrm -rf ~"),
            "rspec './spec/fail '\\''x'\\''_spec.rb:3' # it's rm -rf ~"
        );
        assert_eq!(Framework::RSpec.rerun_line("./spec/a_spec.rb[1:2]", "A"), "rspec './spec/a_spec.rb[1:2]' # A");
        assert_eq!(Framework::RSpec.batch_command(&words(&["spec/a b_spec.rb", "spec/c_spec.rb"]), Some(7)), "rspec --seed 7 'spec/a b_spec.rb' spec/c_spec.rb");
    }

    #[test]
    fn rspec_parallel_is_passed_as_parallel_rspec_passes_it() {
        let dir = tempfile::tempdir().unwrap();
        let args = |user: &[&str]| RSpec.runner_args(dir.path(), &words(user));
        assert_eq!(args(&["--tag", "x"]), ["--tag", "x"]);
        std::fs::create_dir(dir.path().join("spec")).unwrap();
        std::fs::write(dir.path().join("spec/spec.opts"), "--color\n").unwrap();
        assert_eq!(args(&[]), ["-O", "spec/spec.opts"]);
        std::fs::write(dir.path().join(".rspec_parallel"), "--format progress\n").unwrap();
        assert_eq!(args(&["--tag", "x"]), ["-O", ".rspec_parallel", "--tag", "x"]);
        assert_eq!(args(&["-O", "mine"]), ["-O", "mine"]);
        assert_eq!(args(&["--options=mine"]), ["--options=mine"]);
        assert!(Framework::Minitest.runner_args(dir.path(), &[]).is_empty());
    }

    #[test]
    fn the_light_coverage_merge_drops_the_runners_requires_only() {
        let args = words(&["--require", "rails_helper", "-r", "x", "--require=y", "-rz", "--tag", "slow", "-O", ".rspec_parallel"]);
        assert_eq!(without_requires(&args), ["--tag", "slow", "-O", ".rspec_parallel"]);
        assert_eq!(
            RSpec.dry_run_without_test_files(&words(&["-r", "x", "--tag", "slow"])).unwrap(),
            ["--tag", "slow", "--dry-run", "--pattern", "testbot-coverage-merge-loads-no-spec-file"]
        );
        for other in [Framework::Minitest, Framework::TestUnit, Framework::Cucumber] {
            assert_eq!(other.dry_run_without_test_files(&words(&["-r", "x"])), None, "{other:?}");
        }
    }

    #[test]
    fn the_documentation_format_is_taken_out_of_the_runners_arguments() {
        for given in [&["--format", "documentation"][..], &["-f", "d"], &["-fd"], &["--format=doc"], &["--tag", "x", "-f", "doc"]] {
            let mut args = words(given);
            assert!(RSpec.take_documentation_format(&mut args), "{given:?}");
            assert!(args.iter().all(|a| !a.contains('d') || a == "x"), "{args:?}");
        }
        for kept in [&["--format", "progress"][..], &["-fp"], &["--tag", "d"], &["--format", "json"]] {
            let mut args = words(kept);
            assert!(!RSpec.take_documentation_format(&mut args), "{kept:?}");
            assert_eq!(args, words(kept));
        }
    }

    #[test]
    fn random_order_gets_one_seed_for_the_run_unless_it_has_one() {
        for asks in [&["--order", "random"][..], &["--order=rand"], &["--tag", "x", "--order", "rand"]] {
            let mut args = words(asks);
            RSpec.seed_random_order(&mut args);
            assert_eq!(args.len(), asks.len() + 2, "{asks:?}");
            assert_eq!(args[asks.len()], "--seed");
            assert!(args[asks.len() + 1].parse::<u16>().is_ok(), "{args:?}");
        }
        for left in [&["--order", "random:42"][..], &["--order", "random", "--seed", "7"], &["--seed=7"], &["--order", "defined"], &[]] {
            let mut args = words(left);
            RSpec.seed_random_order(&mut args);
            assert_eq!(args, words(left));
        }
        // Only RSpec's runner takes `--seed` for its order this way.
        let mut args = words(&["--order", "random"]);
        Framework::Minitest.seed_random_order(&mut args);
        assert_eq!(args, words(&["--order", "random"]));
    }
}
