//! The gem (issue 33, docs/platforms.md#the-gem): `script/package` builds a platform gem holding the
//! binary and a plain gem without one; a team adds `gem "testbot", group: :test` and runs
//! `bundle exec testbot`. Everything offline: `gem install --local` into a temporary GEM_HOME,
//! `bundle install --local` against it and Debian's system gems.
//!
//! The gem holds a stripped copy of the binary under test (the debug build), not a release build:
//! CI builds no release binary for this, and what the gem does with its binary does not depend on
//! the profile (stripped, the gem is ~8 MB instead of ~70).

mod common;

use common::rails::HOOKS;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Cargo.toml's version, which the gems carry.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A command with the tests' scrubbed environment, its gems in `home` (and Debian's system gems).
fn gem_command(program: &str, home: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    scrub_env(&mut cmd);
    cmd.env("GEM_HOME", home).env_remove("GEM_PATH");
    cmd
}

fn run(cmd: Command, desc: &str) -> Run {
    run_with_timeout(cmd, desc, Duration::from_secs(300))
}

/// This machine's RubyGems platform (`x86_64-linux` here): the platform gem's.
fn platform() -> String {
    let out = Command::new("ruby").args(["-e", "print Gem::Platform.local"]).output().expect("run ruby");
    String::from_utf8(out.stdout).unwrap()
}

/// Both gems built by `script/package` into `scratch`: (the platform gem, the plain gem).
fn build_gems(scratch: &Path) -> (PathBuf, PathBuf) {
    let binary = scratch.join("testbot-stripped");
    let strip = Command::new("strip").arg("-o").arg(&binary).arg(TESTBOT).status().expect("run strip");
    assert!(strip.success(), "strip {TESTBOT}");
    let out = scratch.join("gems");
    let mut cmd = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("script/package"));
    scrub_env(&mut cmd);
    cmd.env("BINARY", &binary).env("OUT", &out);
    let built = run(cmd, "script/package");
    built.assert_exit(0);
    let platform = out.join(format!("testbot-{VERSION}-{}.gem", platform()));
    let plain = out.join(format!("testbot-{VERSION}.gem"));
    assert!(platform.is_file() && plain.is_file(), "{}", built.dump());
    (platform, plain)
}

fn install(gem: &Path, home: &Path) {
    let mut cmd = gem_command("gem", home, home.parent().unwrap());
    cmd.args(["install", "--local", "--no-document"]).arg(gem);
    run(cmd, "gem install --local").assert_exit(0);
}

#[test]
fn bundle_exec_testbot_from_the_platform_gem_gives_the_cargo_binarys_totals_on_the_rails_app() {
    let p = Project::new("rails_app");
    let scratch = p.outside("gem-scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let (platform_gem, _) = build_gems(&scratch);
    let home = scratch.join("gem-home");
    install(&platform_gem, &home);
    let binary = home.join(format!("gems/testbot-{VERSION}-{}/libexec/testbot", platform()));
    assert!(binary.is_file(), "the platform gem holds the binary at libexec/testbot");

    // The team's one line, then its usual offline install.
    let gemfile = std::fs::read_to_string(p.path("Gemfile")).unwrap();
    p.write("Gemfile", &format!("{gemfile}\ngem \"testbot\", group: :test\n"));
    let mut bundle = gem_command("bundle", &home, &p.root);
    bundle.args(["install", "--local"]);
    run(bundle, "bundle install --local").assert_exit(0);
    let lock = std::fs::read_to_string(p.path("Gemfile.lock")).unwrap();
    assert!(lock.contains(&format!("testbot ({VERSION}-{})", platform())), "{lock}");
    let mut which = gem_command("bundle", &home, &p.root);
    which.args(["exec", "sh", "-c", "command -v testbot"]);
    let which = run(which, "bundle exec command -v testbot");
    assert_eq!(which.stdout.trim(), home.join("bin/testbot").to_string_lossy(), "{}", which.dump());

    // Every command of the app's from now on needs the gem's GEM_HOME: the Gemfile names testbot.
    p.sh("RAILS_ENV=test bin/rails db:schema:load", &[("GEM_HOME".into(), home.to_string_lossy().into_owned())]).assert_exit(0);
    p.write("testbot.toml", HOOKS);
    // The binary cargo built, then the gem's through `bundle exec`, on the same app.
    let cargo_report = p.fresh_path("cargo", "json");
    let (cargo_run, cargo) = p.testbot(["-n", "2"]).env("GEM_HOME", &home).report_to(&cargo_report).run_with_report();
    cargo_run.assert_exit(0);
    let gem_report = p.fresh_path("gem", "json");
    let mut cmd = gem_command("bundle", &home, &p.root);
    cmd.args(["exec", "testbot", "-n", "2", "--report-json"]).arg(&gem_report);
    let gem_run = run_with_timeout(cmd, "bundle exec testbot -n 2", TESTBOT_TIMEOUT);
    gem_run.assert_exit(0);
    let gem = Report::read(&gem_report, &gem_run);
    assert_eq!(gem.totals(), cargo.totals(), "{}", gem_run.dump());
    assert_eq!(gem.totals().counts(), counts(34, 0, 0), "{}", gem_run.dump());
    gem_run.assert_output_contains("34 examples, 0 failures");
}

#[test]
fn the_plain_gem_says_how_to_get_a_binary_and_fails() {
    let scratch = tempfile::tempdir().unwrap();
    let (_, plain_gem) = build_gems(scratch.path());
    let home = scratch.path().join("gem-home");
    install(&plain_gem, &home);
    assert!(!home.join(format!("gems/testbot-{VERSION}/libexec")).exists(), "the plain gem holds no binary");
    let cmd = gem_command(&home.join("bin/testbot").to_string_lossy(), &home, scratch.path());
    let said = run(cmd, "testbot from the plain gem");
    assert_eq!(said.code, Some(1), "{}", said.dump());
    assert!(said.stdout.is_empty(), "{}", said.dump());
    let platform = platform();
    let machine = format!("holds no binary for this machine ({platform})");
    let add = format!("bundle lock --add-platform {platform}");
    for needed in [machine.as_str(), "cargo install", add.as_str()] {
        assert!(said.stderr.contains(needed), "{needed:?} missing:\n{}", said.dump());
    }
}

#[test]
fn the_gems_version_is_cargos() {
    let version_rb = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("gem/lib/testbot/version.rb")).unwrap();
    let line = format!("VERSION = \"{VERSION}\"");
    assert!(version_rb.contains(&line), "gem/lib/testbot/version.rb is not at {VERSION}:\n{version_rb}");
}
