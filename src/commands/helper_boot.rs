//! How long the suite's helper takes to load here, for `testbot init`: a helper that loads an
//! app for a second or more is loaded again by every batch, which `preload = true` saves.

use crate::framework::Framework;
use std::path::Path;
use std::process::{Command, Stdio};
use super::within::output_within;
use std::time::Duration;

/// How long init waits for the helper to load before it gives up timing it.
const LOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// The helper and the seconds its load took (from its `require` to its return, in the process).
#[derive(Clone, Debug, PartialEq)]
pub struct HelperBoot {
    /// Relative to the project root: `spec/spec_helper.rb`.
    pub helper: String,
    pub seconds: f64,
}

/// The helper `--preload` would load, as it finds it: RSpec's first `--require` of `.rspec`
/// that is a file in spec/, else `spec/rails_helper.rb`, else `spec/spec_helper.rb`; minitest's
/// and Test::Unit's `test/test_helper.rb`, else `test/helper.rb`. None: none, or Cucumber.
pub fn helper(root: &Path, framework: Framework) -> Option<String> {
    let candidates: Vec<String> = if framework == Framework::RSpec {
        let dotfile = std::fs::read_to_string(root.join(".rspec")).unwrap_or_default();
        let words: Vec<&str> = dotfile.split_whitespace().collect();
        let required = words.windows(2).filter(|w| w[0] == "--require" || w[0] == "-r").map(|w| format!("spec/{}.rb", w[1]));
        required.chain(["spec/rails_helper.rb".to_string(), "spec/spec_helper.rb".to_string()]).collect()
    } else if framework == Framework::Minitest || framework == Framework::TestUnit {
        vec!["test/test_helper.rb".into(), "test/helper.rb".into()]
    } else {
        Vec::new()
    };
    candidates.into_iter().find(|c| root.join(c).is_file())
}

/// Loads `helper` once in a fresh `ruby` (through `bundle exec` when `bundler`), after the
/// framework, and reads how long its `require` took; no test runs (the process ends with `exit!`,
/// so no `at_exit` hook does). None: it did not load, or not within `LOAD_TIMEOUT`.
pub fn time(root: &Path, framework: Framework, helper: &str, bundler: bool) -> Option<HelperBoot> {
    let dir = Path::new(helper).parent()?.to_string_lossy().into_owned();
    let core = if framework == Framework::RSpec { "rspec/core" } else { "rbconfig" };
    let script = format!(
        "require {core:?}; clock = -> {{ Process.clock_gettime(Process::CLOCK_MONOTONIC) }}; t = clock.call; \
         require File.expand_path({helper:?}); $stdout.write(\"testbot-boot #{{clock.call - t}}\\n\"); $stdout.flush; exit!(0)"
    );
    let mut cmd = if bundler { Command::new("bundle") } else { Command::new("ruby") };
    if bundler {
        cmd.args(["exec", "ruby"]);
    }
    cmd.args(["-I", &dir, "-e", &script]).current_dir(root).env("RAILS_ENV", "test").env("RACK_ENV", "test");
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().ok()?;
    let out = output_within(child, LOAD_TIMEOUT)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let seconds: f64 = text.lines().find_map(|l| l.strip_prefix("testbot-boot "))?.trim().parse().ok()?;
    Some(HelperBoot { helper: helper.to_string(), seconds })
}
