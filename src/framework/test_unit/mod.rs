//! Test::Unit: testbot's runner script (`testbot_test_unit.rb`) with its reporter, under Ruby
//! with the test folders on the load path. Its files are minitest's (test/); test/ is Test::Unit's
//! when its files name Test::Unit and never minitest.

use super::argv::{by_name_rerun_line, in_order_batch_command, load_path_dirs, script_command, SCRIPT_COMMAND_COMMENT};
use super::minitest::{test_folder, TestFolder, TEST_PATTERN};
use super::{files, RunnerConfig, TestFramework, Undetected};
use std::path::Path;

pub struct TestUnit;

const RUBY: &[(&str, &str)] = &[("testbot_test_unit.rb", include_str!("testbot_test_unit.rb"))];

impl TestFramework for TestUnit {
    fn name(&self) -> &'static str {
        "test-unit"
    }

    fn title(&self) -> &'static str {
        "Test::Unit"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["test_unit", "testunit", "test::unit"]
    }

    fn parallel_tests_name(&self) -> &'static str {
        "test"
    }

    fn default_pattern(&self) -> &'static str {
        TEST_PATTERN
    }

    fn detect(&self, root: &Path) -> Result<Option<String>, Undetected> {
        if !files::has_files(root, TEST_PATTERN) {
            return Ok(None);
        }
        Ok(matches!(test_folder(root)?, TestFolder::TestUnit).then(|| "test/ uses Test::Unit".to_string()))
    }

    fn home(&self) -> &'static str {
        "test"
    }

    fn owns_bare_home(&self, root: &Path) -> Result<bool, Undetected> {
        Ok(matches!(test_folder(root)?, TestFolder::TestUnit))
    }

    fn ruby_files(&self) -> &'static [(&'static str, &'static str)] {
        RUBY
    }

    fn core_libs(&self) -> &'static [&'static str] {
        &["test/unit", "test/unit/collector", "test/unit/ui/testrunner", "test/unit/ui/testrunnermediator"]
    }

    fn load_path(&self, files: &[String]) -> Vec<String> {
        load_path_dirs(files).into_iter().map(|d| format!("-I{d}")).collect()
    }

    fn command(&self, runner: &RunnerConfig, support_dir: &str, files: &[String]) -> Vec<String> {
        script_command(runner, self.load_path(files), format!("{support_dir}/testbot_test_unit.rb"), files)
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
}

#[cfg(test)]
mod tests {
    use crate::framework::{Framework, RunnerConfig};

    #[test]
    fn test_unit_runs_its_script_and_reruns_a_test_by_name() {
        let argv = Framework::TestUnit.command(&RunnerConfig::default(), "/s", &["test/a_test.rb".into()]);
        assert_eq!(argv, ["ruby", "-Itest", "/s/testbot_test_unit.rb", "./test/a_test.rb", "--"]);
        assert_eq!(
            Framework::TestUnit.rerun_line("test/unit/a b_test.rb", "A#test: it's fine"),
            "ruby -Itest 'test/unit/a b_test.rb' -n 'A#test: it'\\''s fine'"
        );
        assert_eq!(Framework::TestUnit.default_folder_pattern(), "{*_test,test_*}.rb");
        assert_eq!(Framework::from_name("Test::Unit"), Some(Framework::TestUnit));
    }

    #[test]
    fn test_unit_preloads_through_the_same_client() {
        let runner = RunnerConfig { command: None, bundler: true, runner_args: vec!["--require".into(), "my_helper".into()] };
        assert!(Framework::TestUnit.preload_support(&runner).is_ok());
        // The client asks for what a fork server's child would run: testbot's runner script.
        let argv = Framework::TestUnit.command(&runner.forked(), "/s", &["test/a_test.rb".into()]);
        assert_eq!(
            crate::framework::through_preload("/s", "/s/preload/slot-1.sock", argv, None),
            [
                "ruby", "--disable-gems", "/s/testbot_client.rb", "/s/preload/slot-1.sock", "preload", "ruby", "-Itest", "/s/testbot_test_unit.rb",
                "./test/a_test.rb", "--", "--require", "my_helper"
            ]
        );
    }
}
