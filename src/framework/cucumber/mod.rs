//! Cucumber: testbot's runner script (`testbot_cucumber.rb`) with its formatter, under Ruby.
//! Its features live in features/; `--preload` does not serve it.

use super::argv::{commented_rerun_line, quoted, script_command, SCRIPT_COMMAND_COMMENT};
use super::{files, RunnerConfig, TestFramework, Undetected};
use std::path::Path;

pub struct Cucumber;

const PATTERN: &str = "features/**/*.feature";

const RUBY: &[(&str, &str)] = &[("testbot_cucumber.rb", include_str!("testbot_cucumber.rb"))];

impl TestFramework for Cucumber {
    fn name(&self) -> &'static str {
        "cucumber"
    }

    fn title(&self) -> &'static str {
        "Cucumber"
    }

    fn default_pattern(&self) -> &'static str {
        PATTERN
    }

    fn detect(&self, root: &Path) -> Result<Option<String>, Undetected> {
        Ok(files::has_files(root, PATTERN).then(|| "features/".to_string()))
    }

    fn home(&self) -> &'static str {
        "features"
    }

    fn ruby_files(&self) -> &'static [(&'static str, &'static str)] {
        RUBY
    }

    fn core_libs(&self) -> &'static [&'static str] {
        &["cucumber/rspec/disable_option_parser", "cucumber/cli/main"]
    }

    fn command(&self, runner: &RunnerConfig, support_dir: &str, files: &[String]) -> Vec<String> {
        script_command(runner, Vec::new(), format!("{support_dir}/testbot_cucumber.rb"), files)
    }

    fn preloads(&self) -> bool {
        false
    }

    fn rerun_line(&self, command: Option<&str>, location: &str, description: &str) -> String {
        commented_rerun_line(command.unwrap_or("cucumber"), location, description)
    }

    fn batch_command(&self, arguments: &[String], _seed: Option<u64>) -> String {
        format!("cucumber {}", quoted(arguments))
    }

    fn init_command(&self) -> (&'static str, &'static str) {
        ("ruby -Ilib", SCRIPT_COMMAND_COMMENT)
    }
}

#[cfg(test)]
mod tests {
    use crate::framework::{Framework, RunnerConfig};

    #[test]
    fn cucumber_command_and_command_override() {
        let argv = Framework::Cucumber.command(&RunnerConfig::default(), "/s", &["features/a.feature".into()]);
        assert_eq!(argv, ["ruby", "/s/testbot_cucumber.rb", "./features/a.feature", "--"]);
        let runner = RunnerConfig { command: Some("ruby -Ilib".into()), bundler: true, runner_args: vec!["--tags".into(), "@x".into()] };
        let argv = Framework::Cucumber.command(&runner, "/s", &["features/a.feature".into()]);
        assert_eq!(argv, ["sh", "-c", "ruby -Ilib \"$@\"", "testbot", "/s/testbot_cucumber.rb", "./features/a.feature", "--", "--tags", "@x"]);
    }

    #[test]
    fn rerun_lines_and_no_preload() {
        assert_eq!(Framework::Cucumber.rerun_line("features/a.feature:12", "Scenario: adds"), "cucumber features/a.feature:12 # Scenario: adds");
        assert_eq!(
            Framework::Cucumber.rerun_line_with(Some("bin/cucumber"), "features/$(id).feature:4", "S"),
            "bin/cucumber 'features/$(id).feature:4' # S"
        );
        let cucumber = Framework::Cucumber.preload_support(&RunnerConfig::default()).unwrap_err().to_string();
        assert!(cucumber.contains("supports RSpec, minitest and Test::Unit; run this cucumber suite without it"), "{cucumber}");
        assert!(Framework::Cucumber.support_files().iter().any(|(name, _)| *name == "testbot_client.rb"));
        assert!(!Framework::Cucumber.support_files().iter().any(|(name, _)| *name == "testbot_preload.rb"));
    }
}
