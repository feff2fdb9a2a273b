use super::*;
use detect::{detect_all_among, detect_among};

#[test]
fn names_round_trip() {
    assert_eq!(Framework::names(), ["rspec", "minitest", "test-unit", "cucumber"]);
    for framework in REGISTERED {
        assert_eq!(Framework::from_name(framework.name()), Some(*framework));
        assert_eq!(Framework::from_name(&framework.name().to_uppercase()), Some(*framework));
    }
    assert_eq!(Framework::from_name("test_unit"), Some(Framework::TestUnit));
    assert_eq!(Framework::from_name("jest"), None);
    assert_eq!(Framework::Minitest.default_folder_pattern(), "{*_test,test_*,*_spec}.rb");
    assert_eq!(Framework::RSpec.default_folder_pattern(), "*_spec.rb");
    assert_eq!(format!("{:?}", Framework::TestUnit), "test-unit");
}

#[test]
fn preload_server_and_client_commands() {
    let runner = RunnerConfig { command: None, bundler: true, runner_args: vec!["--tag".into(), "focus".into()] };
    let server = Framework::RSpec.preload_server_command(&runner, "./.testbot", ".testbot/preload/slot-2.sock", &["spec/a_spec.rb".into()]);
    assert_eq!(
        server,
        ["bundle", "exec", "ruby", "./.testbot/testbot_preload.rb", ".testbot/preload/slot-2.sock", "rspec", "--", "--tag", "focus"]
    );
    let argv = Framework::RSpec.command(&runner.forked(), "/s", &["spec/a_spec.rb".into()]);
    let client = through_preload("/s", "/s/preload/slot-1.sock", argv, None);
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
    for framework in [Framework::RSpec, Framework::Minitest, Framework::TestUnit] {
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
    // RSpec's formatter loads in the server too, after the core it registers with.
    let (_, libs) = Framework::RSpec.fork_server_command(&runner, "/s", "/s/fork/ab.sock", None).unwrap();
    assert!(libs.ends_with("rspec/core/profiler\n/s/testbot_rspec_formatter.rb\n"), "{libs}");
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
}

fn tree_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (f, text) in files {
        let p = dir.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    dir
}

fn tree(files: &[&str]) -> tempfile::TempDir {
    tree_with(&files.iter().map(|f| (*f, "x")).collect::<Vec<_>>())
}

#[test]
fn detects_each_framework_from_its_folder() {
    let rspec = tree(&["spec/a_spec.rb"]);
    assert_eq!(detect(rspec.path()).unwrap(), Framework::RSpec);
    let minitest = tree_with(&[("test/test_helper.rb", "require 'minitest/autorun'"), ("test/a_test.rb", "require 'test_helper'")]);
    assert_eq!(detect(minitest.path()).unwrap(), Framework::Minitest);
    let rails = tree_with(&[("test/models/user_test.rb", "class UserTest < ActiveSupport::TestCase\nend")]);
    assert_eq!(detect(rails.path()).unwrap(), Framework::Minitest);
    let test_unit = tree_with(&[("test/test_a.rb", "require 'test/unit'\nclass A < Test::Unit::TestCase; end")]);
    assert_eq!(detect(test_unit.path()).unwrap(), Framework::TestUnit);
    let old_minitest = tree_with(&[("test/a_test.rb", "class A < MiniTest::Unit::TestCase; end")]);
    assert_eq!(detect(old_minitest.path()).unwrap(), Framework::Minitest);
    let cucumber = tree(&["features/a.feature", "features/step_definitions/s.rb"]);
    assert_eq!(detect(cucumber.path()).unwrap(), Framework::Cucumber);
}

#[test]
fn a_spec_folder_is_minitest_when_its_files_are() {
    let dir = tree(&[]);
    let write = |f: &str, body: &str| {
        let p = dir.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    write("spec/a_spec.rb", "require \"minitest/autorun\"\ndescribe \"A\" do\nend\n");
    assert_eq!(detect(dir.path()).unwrap(), Framework::Minitest);
    assert_eq!(Framework::Minitest.project_pattern(dir.path()), Some("spec/**/{*_spec,*_test,test_*}.rb"));
    // With test/ too, one suite and both folders' evidence.
    write("test/b_test.rb", "require \"minitest/autorun\"\n");
    let found = detect_all(dir.path()).unwrap();
    assert_eq!(found, [Detected { framework: Framework::Minitest, evidence: "spec/ holds minitest specs, test/ uses minitest".into() }]);
    assert_eq!(Framework::Minitest.project_pattern(dir.path()), Some("{test,spec}/**/{*_test,test_*,*_spec}.rb"));
    std::fs::remove_dir_all(dir.path().join("test")).unwrap();
    // One file that names RSpec (a spec_helper) makes it RSpec's.
    write("spec/spec_helper.rb", "RSpec.configure { |c| c.order = :random }\n");
    assert_eq!(detect(dir.path()).unwrap(), Framework::RSpec);
    // Bare `describe` with nothing named: RSpec, as before.
    std::fs::remove_file(dir.path().join("spec/spec_helper.rb")).unwrap();
    write("spec/a_spec.rb", "describe \"A\" do\nend\n");
    assert_eq!(detect(dir.path()).unwrap(), Framework::RSpec);
}

#[test]
fn several_frameworks_or_none_are_named_in_the_error() {
    let both = tree(&["spec/a_spec.rb", "features/a.feature"]);
    let err = detect(both.path()).unwrap_err().reason;
    assert_eq!(err, "it has several: rspec (spec/), cucumber (features/); choose one");
    // A leftover test/ without test files does not count.
    let leftover = tree(&["spec/a_spec.rb", "test/models/.keep", "test/test_helper.rb"]);
    assert_eq!(detect(leftover.path()).unwrap(), Framework::RSpec);
    let mixed = tree_with(&[("test/a_test.rb", "require 'minitest/autorun'"), ("test/b_test.rb", "require 'test/unit'")]);
    let err = detect(mixed.path()).unwrap_err().reason;
    assert!(err.contains("1 file(s) that mention minitest and 1 that mention Test::Unit"), "{err}");
    let none = tree(&["lib/a.rb"]);
    assert!(detect(none.path()).unwrap_err().reason.contains("there are no test files here"));
    let empty_spec = tree(&["spec/spec_helper.rb"]);
    assert_eq!(detect(empty_spec.path()).unwrap(), Framework::RSpec, "the empty selection is reported later");
    let empty_test = tree_with(&[("test/test_helper.rb", "require 'test/unit'")]);
    assert_eq!(detect(empty_test.path()).unwrap(), Framework::TestUnit);
    let two_homes = tree(&["spec/spec_helper.rb", "features/support/env.rb"]);
    assert!(detect(two_homes.path()).unwrap_err().reason.contains("there are no test files here"));
}

/// A fifth framework, as one would add it: a folder with one `TestFramework` and its line in
/// the registration (here a test-only list). Everything testbot asks of a framework goes
/// through the interface, so detection, argv and rerun lines need nothing else.
mod stub {
    use super::super::argv::{commented_rerun_line, quoted, script_command};
    use super::super::{files, RunnerConfig, TestFramework, Undetected};
    use std::path::Path;

    pub struct Stub;

    impl TestFramework for Stub {
        fn name(&self) -> &'static str {
            "stub"
        }
        fn title(&self) -> &'static str {
            "Stub"
        }
        fn default_pattern(&self) -> &'static str {
            "checks/**/*_check.rb"
        }
        fn detect(&self, root: &Path) -> Result<Option<String>, Undetected> {
            Ok(files::has_files(root, self.default_pattern()).then(|| "checks/".to_string()))
        }
        fn home(&self) -> &'static str {
            "checks"
        }
        fn ruby_files(&self) -> &'static [(&'static str, &'static str)] {
            &[("testbot_stub.rb", "# the stub's runner\n")]
        }
        fn core_libs(&self) -> &'static [&'static str] {
            &["stub"]
        }
        fn command(&self, runner: &RunnerConfig, support_dir: &str, files: &[String]) -> Vec<String> {
            script_command(runner, Vec::new(), format!("{support_dir}/testbot_stub.rb"), files)
        }
        fn preloads(&self) -> bool {
            false
        }
        fn rerun_line(&self, command: Option<&str>, location: &str, description: &str) -> String {
            commented_rerun_line(command.unwrap_or("stub"), location, description)
        }
        fn batch_command(&self, arguments: &[String], _seed: Option<u64>) -> String {
            format!("stub {}", quoted(arguments))
        }
        fn init_command(&self) -> (&'static str, &'static str) {
            ("ruby -Ilib", "# Runs the checks.\n")
        }
    }
}

#[test]
fn a_fifth_framework_needs_only_its_folder_and_its_registration() {
    const WITH_STUB: &[Framework] = &[Framework::RSpec, Framework::Minitest, Framework::TestUnit, Framework::Cucumber, Framework(&stub::Stub)];
    let stub = Framework(&stub::Stub);
    let project = tree(&["checks/a_check.rb", "checks/helper.rb"]);
    assert_eq!(detect_among(WITH_STUB, project.path()).unwrap(), stub);
    assert!(detect(project.path()).is_err(), "not registered: not detected");
    let both = tree(&["checks/a_check.rb", "spec/a_spec.rb"]);
    let found: Vec<Framework> = detect_all_among(WITH_STUB, both.path()).unwrap().into_iter().map(|d| d.framework).collect();
    assert_eq!(found, [Framework::RSpec, stub]);
    let bare = tree(&["checks/.keep"]);
    assert_eq!(detect_among(WITH_STUB, bare.path()).unwrap(), stub);
    let runner = RunnerConfig { command: None, bundler: true, runner_args: vec!["--fast".into()] };
    assert_eq!(stub.command(&runner, "/s", &["checks/a_check.rb".into()]), ["bundle", "exec", "ruby", "/s/testbot_stub.rb", "./checks/a_check.rb", "--", "--fast"]);
    let (server, libs) = stub.fork_server_command(&runner, "/s", "/s/fork.sock", None).unwrap();
    assert_eq!((server.last().unwrap().as_str(), libs.as_str()), ("/s/fork.sock", "/s/testbot_events.rb\nstub\n"));
    assert_eq!(stub.rerun_line("checks/a_check.rb:3", "adds"), "stub checks/a_check.rb:3 # adds");
    assert_eq!(stub.rerun_line_with(Some("bin/stub"), "checks/a_check.rb:3", "adds"), "bin/stub checks/a_check.rb:3 # adds");
    let names: Vec<&str> = stub.support_files().iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["testbot_events.rb", "testbot_stub.rb", "testbot_server.rb", "testbot_fork.rb", "testbot_client.rb", "testbot_request.rb", "testbot_impact.rb", "testbot_impact_start.rb"]);
    assert!(stub.preload_support(&RunnerConfig::default()).is_err());
}
