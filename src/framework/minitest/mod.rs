//! minitest: testbot's runner script (`testbot_minitest.rb`) with its reporter, under Ruby with
//! the test folders on the load path. Its files live in test/, and minitest/spec suites in
//! spec/ too; test/ is minitest's unless its files name only Test::Unit.

use super::argv::{by_name_rerun_line, in_order_batch_command, load_path_dirs, names_pattern, script_command, SCRIPT_COMMAND_COMMENT};
use super::{files, RunnerConfig, TestFramework, Undetected};
use std::path::Path;

pub struct Minitest;

/// minitest's and Test::Unit's files.
pub const TEST_PATTERN: &str = "test/**/{*_test,test_*}.rb";
const SPEC_PATTERN: &str = "spec/**/*_spec.rb";

const RUBY: &[(&str, &str)] = &[("testbot_minitest.rb", include_str!("testbot_minitest.rb"))];

impl TestFramework for Minitest {
    fn name(&self) -> &'static str {
        "minitest"
    }

    fn title(&self) -> &'static str {
        "minitest"
    }

    fn parallel_tests_name(&self) -> &'static str {
        "test"
    }

    fn default_pattern(&self) -> &'static str {
        TEST_PATTERN
    }

    /// minitest/spec suites name their files `*_spec.rb`, so a folder given to minitest matches
    /// those too.
    fn default_folder_pattern(&self) -> &'static str {
        "{*_test,test_*,*_spec}.rb"
    }

    /// spec/'s files too, beside test/'s, when spec/ holds minitest specs (or is the only folder
    /// there is).
    fn project_pattern(&self, root: &Path) -> Option<&'static str> {
        if !root.join("spec").is_dir() {
            return None;
        }
        let test = root.join("test").is_dir();
        if test && !holds_minitest_specs(root) {
            return None;
        }
        Some(if test { "{test,spec}/**/{*_test,test_*,*_spec}.rb" } else { "spec/**/{*_spec,*_test,test_*}.rb" })
    }

    /// minitest specs in spec/, and test/ when it is minitest's: one suite, both folders'
    /// evidence.
    fn detect(&self, root: &Path) -> Result<Option<String>, Undetected> {
        let mut evidence = Vec::new();
        if files::has_files(root, SPEC_PATTERN) && holds_minitest_specs(root) {
            evidence.push("spec/ holds minitest specs");
        }
        if files::has_files(root, TEST_PATTERN) {
            if let TestFolder::Minitest(why) = test_folder(root)? {
                evidence.push(why);
            }
        }
        Ok((!evidence.is_empty()).then(|| evidence.join(", ")))
    }

    fn home(&self) -> &'static str {
        "test"
    }

    fn owns_bare_home(&self, root: &Path) -> Result<bool, Undetected> {
        Ok(matches!(test_folder(root)?, TestFolder::Minitest(_)))
    }

    fn ruby_files(&self) -> &'static [(&'static str, &'static str)] {
        RUBY
    }

    /// Its core as its runner requires it first (not `minitest/autorun`).
    fn core_libs(&self) -> &'static [&'static str] {
        &["minitest"]
    }

    fn load_path(&self, files: &[String]) -> Vec<String> {
        load_path_dirs(files).into_iter().map(|d| format!("-I{d}")).collect()
    }

    fn command(&self, runner: &RunnerConfig, support_dir: &str, files: &[String]) -> Vec<String> {
        script_command(runner, self.load_path(files), format!("{support_dir}/testbot_minitest.rb"), files)
    }

    fn rerun_line(&self, command: Option<&str>, location: &str, description: &str) -> String {
        by_name_rerun_line(command, location, description)
    }

    fn batch_command(&self, arguments: &[String], seed: Option<u64>) -> String {
        in_order_batch_command(arguments, seed)
    }

    fn init_command(&self) -> (&'static str, &'static str) {
        ("ruby -Ilib -Itest", SCRIPT_COMMAND_COMMENT)
    }

    /// `-n /\A(?:A#test_x|B#test_y)\z/`: minitest matches the pattern against each test's
    /// `Class#test_name` (one `-n` only: a second replaces the first).
    fn by_name(&self, names: &[String]) -> Option<Vec<String>> {
        Some(vec!["-n".to_string(), names_pattern(names)])
    }
}

/// Whether the Ruby files under spec/ mention minitest and never RSpec: minitest/spec suites
/// (`require "minitest/autorun"`, `describe … do` with `_(x).must_equal`) live in spec/ too.
pub fn holds_minitest_specs(root: &Path) -> bool {
    const RSPEC: &[&str] = &["RSpec", "rspec"];
    const MINITEST: &[&str] = &["minitest", "Minitest", "MiniTest"];
    let (rspec, minitest) = files::mentions_in(root, "spec", RSPEC, MINITEST);
    minitest > 0 && rspec == 0
}

/// Whose test/ is, from what its Ruby files mention.
pub enum TestFolder {
    /// minitest's, and why.
    Minitest(&'static str),
    TestUnit,
}

/// minitest or Test::Unit, from what the Ruby files under test/ mention; an error when some
/// mention one and some the other.
pub fn test_folder(root: &Path) -> Result<TestFolder, Undetected> {
    const MINITEST: &[&str] = &[
        "minitest",
        "Minitest",
        "MiniTest",
        "ActiveSupport::TestCase",
        "ActionDispatch::IntegrationTest",
        "ActionDispatch::SystemTestCase",
        "rails/test_help",
    ];
    const TEST_UNIT: &[&str] = &["test/unit", "Test::Unit", "test-unit"];
    match files::mentions_in(root, "test", MINITEST, TEST_UNIT) {
        (0, 0) => Ok(TestFolder::Minitest("test/ names no framework; minitest is Ruby's default")),
        (_, 0) => Ok(TestFolder::Minitest("test/ uses minitest")),
        (0, _) => Ok(TestFolder::TestUnit),
        (m, t) => Err(Undetected::new(root, format!("test/ has {m} file(s) that mention minitest and {t} that mention Test::Unit"))),
    }
}

#[cfg(test)]
mod tests {
    use crate::framework::{Framework, RunnerConfig};

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
    }

    #[test]
    fn rerun_lines_name_the_test() {
        assert_eq!(
            Framework::Minitest.rerun_line_with(Some("bin/rails test"), "test/a_test.rb:12", "MathTest#test_x"),
            "bin/rails test test/a_test.rb -n 'MathTest#test_x'"
        );
        assert_eq!(Framework::Minitest.rerun_line("test/a_test.rb:12", "MathTest#test_x"), "ruby -Itest test/a_test.rb -n 'MathTest#test_x'");
        let files = ["test/a_test.rb".to_string(), "test/b c_test.rb".into()];
        assert_eq!(Framework::Minitest.batch_command(&files, Some(3)), "# --seed 3 in this order: test/a_test.rb 'test/b c_test.rb'");
        let names = ["MathTest#test_x".to_string(), "Math::a spec#test_0001_it (works)?".into()];
        assert_eq!(
            Framework::Minitest.by_name(&names).unwrap(),
            ["-n", r"/\A(?:MathTest\#test_x|Math::a\ spec\#test_0001_it\ \(works\)\?)\z/"]
        );
        assert_eq!(Framework::RSpec.by_name(&names), None);
    }

    #[test]
    fn minitest_preloads_with_the_runners_load_path() {
        let runner = RunnerConfig { command: None, bundler: true, runner_args: vec!["--require".into(), "my_helper".into()] };
        let files = ["test/a_test.rb".to_string(), "test/m/test_b.rb".into(), "spec/c_spec.rb".into()];
        assert!(Framework::Minitest.preload_support(&runner).is_ok());
        let server = Framework::Minitest.preload_server_command(&runner, "/s", "/s/preload/slot-1.sock", &files);
        assert_eq!(
            server,
            ["bundle", "exec", "ruby", "/s/testbot_preload.rb", "/s/preload/slot-1.sock", "minitest", "-Itest", "-Ispec", "--", "--require", "my_helper"]
        );
    }
}
