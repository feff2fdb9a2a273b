//! Test frameworks: how to start a batch of files, and the event protocol their formatters speak.
//!
//! Each framework ships a small formatter (embedded in the binary) that prints one JSON event per
//! line behind a per-run random tag; `protocol` parses those lines back.

pub mod protocol;


const RSPEC_FORMATTER: &str = include_str!("rspec_formatter.rb");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framework {
    RSpec,
}

/// How the project wants its runner started.
#[derive(Clone, Debug, Default)]
pub struct RunnerConfig {
    /// `[project] command`: a shell command prefix that replaces the runner.
    pub command: Option<String>,
    /// Prefix `bundle exec` (a Gemfile exists and bundler is not turned off).
    pub bundler: bool,
    /// Arguments after `--`.
    pub runner_args: Vec<String>,
}

impl Framework {
    pub const NAMES: &'static [&'static str] = &["rspec"];

    pub fn from_name(name: &str) -> Option<Framework> {
        match name.to_ascii_lowercase().as_str() {
            "rspec" => Some(Framework::RSpec),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Framework::RSpec => "rspec",
        }
    }

    /// The files a run selects when given no paths.
    pub fn default_pattern(&self) -> &'static str {
        match self {
            Framework::RSpec => "spec/**/*_spec.rb",
        }
    }

    /// Support files to write beside the run (name, contents).
    pub fn support_files(&self) -> Vec<(&'static str, &'static str)> {
        match self {
            Framework::RSpec => vec![("testbot_rspec_formatter.rb", RSPEC_FORMATTER)],
        }
    }

    /// The command that runs `files` (relative to the project root) with the support files in `support_dir`.
    pub fn command(&self, runner: &RunnerConfig, support_dir: &str, files: &[String]) -> Vec<String> {
        match self {
            Framework::RSpec => {
                let mut args = vec![
                    "--require".to_string(),
                    format!("{support_dir}/testbot_rspec_formatter.rb"),
                    "--format".to_string(),
                    "Testbot::RSpecFormatter".to_string(),
                ];
                args.extend(runner.runner_args.iter().cloned());
                // `./` keeps a name that starts with `-` from reading as an option.
                args.extend(files.iter().map(|f| dot_slash(f)));
                with_runner(runner, &["rspec"], args)
            }
        }
    }

    /// The line a person pastes to rerun one failed example.
    pub fn rerun_line(&self, location: &str, description: &str) -> String {
        match self {
            Framework::RSpec => format!("rspec {location} # {description}"),
        }
    }
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
    fn command_override_goes_through_sh() {
        let runner = RunnerConfig { command: Some("bin/rspec --no-profile".into()), bundler: true, runner_args: vec![] };
        let argv = Framework::RSpec.command(&runner, "/s", &["spec/a b_spec.rb".into()]);
        assert_eq!(&argv[..4], ["sh", "-c", "bin/rspec --no-profile \"$@\"", "testbot"]);
        assert_eq!(argv.last().unwrap(), "./spec/a b_spec.rb");
    }
}
