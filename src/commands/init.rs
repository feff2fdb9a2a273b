//! `testbot init`: a commented testbot.toml written from what the project shows (its test
//! framework, a Gemfile, this machine's cores). Rendering is pure; `write` never overwrites.

use super::bundle::Bundle;
use super::helper_boot::{self, HelperBoot};
use crate::errors::Error;
use crate::framework::Framework;
use crate::framework::Detected;
use crate::project;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `init` found in the project.
#[derive(Clone, Debug, PartialEq)]
pub struct Findings {
    /// The framework to write, and why.
    pub framework: Framework,
    pub evidence: String,
    /// Other frameworks the folders point to (the project has several).
    pub others: Vec<Detected>,
    pub gemfile: Option<&'static str>,
    /// With a Gemfile: whether its bundle resolves here (`bundle check`).
    pub bundle: Option<Bundle>,
    pub cores: usize,
    /// A Rails app (config/application.rb, config/database.yml): whether its test database is
    /// named per slot (`database.yml` uses TEST_ENV_NUMBER).
    pub rails: Option<RailsDb>,
    /// How long the suite's helper took to load here (None: no helper, or it did not load).
    pub boot: Option<HelperBoot>,
}

/// A helper that loads for at least this long is loaded once per slot (`preload = true`): every
/// batch would load it again, and batches are forked in milliseconds (docs/benchmarks.md).
pub const PRELOAD_FROM_SECONDS: f64 = crate::schedule::HEAVY_BOOT;

/// A Rails app's test databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RailsDb {
    /// `database.yml` names the test database with TEST_ENV_NUMBER: one database per slot.
    PerSlot,
    /// One test database for every slot: their transactions and cleanups would collide.
    Shared,
}

/// The hook that gives every slot, on every host, its own test database with the current schema.
pub const RAILS_BEFORE_SLOT: &str = "RAILS_ENV=test bin/rails db:create db:schema:load";

fn rails_db(root: &Path) -> Option<RailsDb> {
    if !root.join("config/application.rb").is_file() {
        return None;
    }
    let yml = std::fs::read_to_string(root.join("config/database.yml")).ok()?;
    Some(if yml.contains("TEST_ENV_NUMBER") { RailsDb::PerSlot } else { RailsDb::Shared })
}

impl Findings {
    /// Looks at `root`, on a machine with `cores`. `framework` (from `--framework`) wins over
    /// what the folders say.
    pub fn gather(root: &Path, framework: Option<&str>, cores: usize) -> Result<Findings, Error> {
        let detected = crate::framework::detect_all(root).map_err(project::Error::from)?;
        let (framework, evidence, others) = match framework {
            Some(name) => {
                let framework = Framework::from_name(name).ok_or_else(|| {
                    Error::Usage(format!("framework `{name}` is not supported (supported: {})", Framework::names().join(", ")))
                })?;
                let others = detected.into_iter().filter(|d| d.framework != framework).collect();
                (framework, "--framework".to_string(), others)
            }
            None => {
                let mut detected = detected.into_iter();
                let first = detected.next().ok_or_else(|| crate::project::Error::Framework {
                    root: root.to_path_buf(),
                    reason: crate::framework::detect::NO_TEST_FILES.to_string(),
                })?;
                (first.framework, first.evidence, detected.collect())
            }
        };
        let gemfile = ["Gemfile", "gems.rb"].into_iter().find(|g| root.join(g).is_file());
        let bundle = gemfile.map(|_| Bundle::check(root));
        let bundler = bundle == Some(Bundle::Resolves);
        let boot = match (&bundle, helper_boot::helper(root, framework)) {
            (None | Some(Bundle::Resolves), Some(helper)) => helper_boot::time(root, framework, &helper, bundler),
            _ => None,
        };
        Ok(Findings { framework, evidence, others, gemfile, bundle, cores, rails: rails_db(root), boot })
    }
}

/// The testbot.toml `init` writes.
pub fn render(f: &Findings) -> String {
    let mut out = String::new();
    out.push_str(
        "# testbot.toml: where and how testbot runs this project's tests.\n\
         #\n\
         # Written by `testbot init` from what it found here. Every key is optional; testbot's\n\
         # testbot.toml.example describes them all. Unknown keys are errors, so typos are caught.\n\n",
    );
    out.push_str("[project]\n");
    out.push_str("# Test framework: \"rspec\", \"minitest\", \"test-unit\" or \"cucumber\".\n");
    out.push_str(&format!("# Found: {}.\n", f.evidence));
    if !f.others.is_empty() {
        let others: Vec<String> = f.others.iter().map(|d| format!("{} ({})", d.framework.name(), d.evidence)).collect();
        out.push_str(&format!(
            "# Also found: {}. testbot runs one framework per run: change this, or pass\n# `--framework NAME` for a run of the other.\n",
            others.join(", ")
        ));
    }
    out.push_str(&format!("framework = \"{}\"\n\n", f.framework.name()));
    out.push_str("# Glob of the test files, relative to the project root.\n");
    out.push_str(&format!("# pattern = \"{}\"\n\n", f.framework.default_pattern()));
    let (runner, comment) = f.framework.init_command();
    out.push_str(comment);
    out.push_str(&format!("# command = \"{runner}\"\n\n"));
    out.push_str(&bundler_key(f));
    out.push_str(&preload_key(f));
    out.push_str("# Environment variables for every test process, locally and on hosts.\n");
    out.push_str("# env = { RAILS_ENV = \"test\" }\n\n");
    out.push_str("[local]\n");
    out.push_str(&format!(
        "# Test processes on this machine: a number, or \"auto\" for one per core ({} here).\n\
         # Default: \"auto\" with no [[host]] below; with hosts, only the hosts run tests unless this is set.\n",
        f.cores
    ));
    out.push_str("# slots = \"auto\"\n\n");
    out.push_str(
        "# SSH hosts that run tests too: one [[host]] per machine (check them with `testbot hosts`).\n\
         # [[host]]\n\
         # address = \"build-1.example.com\"\n\
         # user = \"deploy\"\n\
         # slots = \"auto\"\n\n\
         # [ssh]\n\
         # host_key_checking = \"strict\"   # or \"accept-new\" to record unknown host keys\n",
    );
    if let Some(db) = f.rails {
        out.push_str(&rails_hooks(db));
    }
    out
}

/// `bundler = true` when the bundle resolves here; commented out, with what to run, when not.
fn bundler_key(f: &Findings) -> String {
    match (f.gemfile, &f.bundle) {
        (Some(g), Some(Bundle::Resolves)) => format!("# This project has a {g}: the tests run through `bundle exec`.\nbundler = true\n\n"),
        (Some(g), Some(Bundle::Missing(why) | Bundle::Unknown(why))) => format!(
            "# This project has a {g}, but its bundle does not resolve here ({why}).\n\
             # The tests run through `bundle exec` whenever there is a Gemfile (unless this is false), so\n\
             # every test runner would fail to start: run `bundle install` first.\n# bundler = true\n\n"
        ),
        _ => "# No Gemfile here. With one, the tests run through `bundle exec` unless this is false.\n# bundler = true\n\n".to_string(),
    }
}

/// `preload = true` when the helper took `PRELOAD_FROM_SECONDS` or more to load here, with
/// what it changes; commented out, with the time, when it was quicker.
fn preload_key(f: &Findings) -> String {
    let Some(HelperBoot { helper, seconds }) = &f.boot else { return String::new() };
    let took = format!("Loading {helper} took {seconds:.2} s here (timed by `testbot init`)");
    if *seconds < PRELOAD_FROM_SECONDS {
        return format!("# {took}: quick, so every batch loads it.\n# preload = true\n\n");
    }
    let reconnect = if f.rails.is_some() { " (ActiveRecord: `establish_connection` in `before(:suite)`)" } else { "" };
    format!(
        "# {took}, and every batch would load it again.\n\
         # preload = true loads it once per slot and forks each batch from it. What the helper sets up\n\
         # is then shared by the slot's batches as a copy: reconnect what it connects to{reconnect};\n\
         # see docs/fork-server-and-preload.md. Remove this line if the suite needs a fresh process.\n\
         preload = true\n\n"
    )
}

/// The `[hooks]` of a Rails app: a database per slot, as `rake parallel:create parallel:prepare`.
fn rails_hooks(db: RailsDb) -> String {
    let mut out = String::from(
        "\n[hooks]\n\
         # A Rails app: every slot (TEST_ENV_NUMBER \"\", 2, 3, … on each host, as parallel_tests sets it)\n\
         # gets a test database of its own. Before the first batch, each slot creates its database and\n\
         # loads the schema, on every host (parallel_tests: rake parallel:create parallel:prepare).\n\
         # To do it only when the schema changes, remove this and run\n\
         #   testbot exec --per-slot -- 'RAILS_ENV=test bin/rails db:create db:schema:load'\n",
    );
    match db {
        RailsDb::PerSlot => out.push_str(&format!("before_slot = \"{RAILS_BEFORE_SLOT}\"\n")),
        RailsDb::Shared => {
            out.push_str(
                "# config/database.yml does not use TEST_ENV_NUMBER: all slots would share one test database.\n\
                 # Name it per slot first, e.g. `database: myapp_test<%= ENV['TEST_ENV_NUMBER'] %>`, then uncomment:\n",
            );
            out.push_str(&format!("# before_slot = \"{RAILS_BEFORE_SLOT}\"\n"));
        }
    }
    out
}

/// What `init` tells the person, after writing `path`.
pub fn summary(f: &Findings, path: &Path) -> String {
    let mut out = format!("wrote {}\n", path.display());
    out.push_str(&format!("  framework: {} ({})\n", f.framework.name(), f.evidence));
    for other in &f.others {
        out.push_str(&format!("  also found: {} ({}); run it with `testbot --framework {}`\n", other.framework.name(), other.evidence, other.framework.name()));
    }
    match (f.gemfile, &f.bundle) {
        (Some(g), Some(Bundle::Resolves)) => out.push_str(&format!("  bundler: yes ({g})\n")),
        (Some(g), Some(Bundle::Missing(why) | Bundle::Unknown(why))) => out.push_str(&format!(
            "  bundler: the {g}'s bundle does not resolve here ({why});\n    run `bundle install` before testbot: every test runner would fail to start\n"
        )),
        _ => out.push_str("  bundler: no (no Gemfile)\n"),
    }
    if let Some(HelperBoot { helper, seconds }) = &f.boot {
        let preload = if *seconds >= PRELOAD_FROM_SECONDS { "yes" } else { "no" };
        out.push_str(&format!("  preload: {preload} ({helper} took {seconds:.2} s to load)\n"));
    }
    out.push_str(&format!("  local slots: auto ({} cores)\n", f.cores));
    match f.rails {
        Some(RailsDb::PerSlot) => out.push_str(&format!("  rails: a test database per slot (hook before_slot: {RAILS_BEFORE_SLOT})\n")),
        Some(RailsDb::Shared) => out.push_str(
            "  rails: config/database.yml does not use TEST_ENV_NUMBER, so every slot would share one test database;\n    name it per slot, then uncomment the before_slot hook in the file\n",
        ),
        None => {}
    }
    out
}

/// Writes `text` to `path` unless a file is already there.
pub fn write(path: &Path, text: &str) -> Result<(), Error> {
    let exists = || {
        Error::Usage(format!(
            "{} already exists; `testbot init` never overwrites it (edit it, or remove it and run init again)",
            path.display()
        ))
    };
    if path.exists() {
        return Err(exists());
    }
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
        Err(source) => return Err(Error::Io { what: format!("create {}", path.display()), source }),
    };
    file.write_all(text.as_bytes()).map_err(|source| Error::Io { what: format!("write {}", path.display()), source })
}

/// `-c FILE` or `<root>/testbot.toml`.
pub fn target(root: &Path, config: Option<&Path>) -> PathBuf {
    match config {
        Some(path) => root.join(path),
        None => root.join("testbot.toml"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            // spec/ is RSpec's unless its files are minitest's (detection reads them).
            let body = if f.starts_with("spec/") { "RSpec.describe 'a' do\nend\n" } else { "require 'minitest/autorun'\n" };
            std::fs::write(&p, body).unwrap();
        }
        dir
    }

    #[test]
    fn the_written_file_loads_and_says_what_was_found() {
        let dir = tree(&["test/a_test.rb", "Gemfile"]);
        let f = Findings::gather(dir.path(), None, 4).unwrap();
        assert_eq!(f.framework, Framework::Minitest);
        assert_eq!(f.gemfile, Some("Gemfile"));
        // This Gemfile is not one bundler reads: say its bundle resolves.
        let f = Findings { bundle: Some(Bundle::Resolves), ..f };
        let text = render(&f);
        assert!(text.contains("framework = \"minitest\"\n"), "{text}");
        assert!(text.contains("# Found: test/ uses minitest.\n"), "{text}");
        assert!(text.contains("bundler = true\n"), "{text}");
        let path = dir.path().join("testbot.toml");
        write(&path, &text).unwrap();
        let inv = Inventory::load(&path, &Framework::names()).unwrap();
        assert_eq!(inv.project.framework.as_deref(), Some("minitest"));
        assert!(inv.hosts.is_empty());
        assert_eq!(inv.local.slots, None, "local slots stay at their default");
    }

    #[test]
    fn a_bundle_that_does_not_resolve_leaves_bundler_commented_out_with_what_to_run() {
        let dir = tree(&["spec/a_spec.rb"]);
        let f = Findings::gather(dir.path(), None, 4).unwrap();
        let why = "Bundler can't satisfy your Gemfile's dependencies.".to_string();
        let f = Findings { gemfile: Some("Gemfile"), bundle: Some(Bundle::Missing(why)), ..f };
        let text = render(&f);
        assert!(!text.lines().any(|l| l.trim_start().starts_with("bundler")), "{text}");
        assert!(text.contains("# bundler = true\n"), "{text}");
        assert!(text.contains("run `bundle install` first."), "{text}");
        assert!(summary(&f, Path::new("testbot.toml")).contains("run `bundle install`"));
    }

    #[test]
    fn several_frameworks_pick_the_first_and_name_the_others() {
        let dir = tree(&["spec/a_spec.rb", "features/a.feature"]);
        let f = Findings::gather(dir.path(), None, 4).unwrap();
        assert_eq!(f.framework, Framework::RSpec);
        let text = render(&f);
        assert!(text.contains("# Also found: cucumber (features/)."), "{text}");
        assert!(summary(&f, Path::new("testbot.toml")).contains("also found: cucumber (features/); run it with `testbot --framework cucumber`"));
        let chosen = Findings::gather(dir.path(), Some("cucumber"), 4).unwrap();
        assert_eq!(chosen.framework, Framework::Cucumber);
        assert_eq!(chosen.others.len(), 1);
        Inventory::parse(&render(&chosen), Path::new("testbot.toml"), &Framework::names()).unwrap();
    }

    #[test]
    fn a_rails_app_gets_a_database_per_slot_hook_or_is_told_how() {
        let dir = tree(&["spec/a_spec.rb", "config/application.rb", "Gemfile"]);
        std::fs::write(dir.path().join("config/database.yml"), "test:\n  database: db/test<%= ENV['TEST_ENV_NUMBER'] %>.sqlite3\n").unwrap();
        let f = Findings::gather(dir.path(), None, 4).unwrap();
        assert_eq!(f.rails, Some(RailsDb::PerSlot));
        let text = render(&f);
        let inv = Inventory::parse(&text, Path::new("testbot.toml"), &Framework::names()).unwrap();
        assert_eq!(inv.hooks.before_slot.as_deref(), Some(RAILS_BEFORE_SLOT), "{text}");
        assert!(summary(&f, Path::new("testbot.toml")).contains("rails: a test database per slot"));

        std::fs::write(dir.path().join("config/database.yml"), "test:\n  database: db/test.sqlite3\n").unwrap();
        let f = Findings::gather(dir.path(), None, 4).unwrap();
        assert_eq!(f.rails, Some(RailsDb::Shared));
        let text = render(&f);
        assert_eq!(Inventory::parse(&text, Path::new("testbot.toml"), &Framework::names()).unwrap().hooks.before_slot, None);
        assert!(text.contains("does not use TEST_ENV_NUMBER"), "{text}");
        assert!(summary(&f, Path::new("testbot.toml")).contains("would share one test database"));

        let plain = tree(&["spec/a_spec.rb"]);
        assert_eq!(Findings::gather(plain.path(), None, 4).unwrap().rails, None);
    }

    #[test]
    fn a_helper_slow_to_load_turns_preload_on_with_what_it_changes() {
        let dir = tree(&["spec/a_spec.rb"]);
        let f = Findings::gather(dir.path(), None, 4).unwrap();
        assert_eq!(f.boot, None, "no helper to time");
        let timed = |seconds| Findings { boot: Some(HelperBoot { helper: "spec/spec_helper.rb".into(), seconds }), ..f.clone() };
        let text = render(&timed(1.5));
        let inv = Inventory::parse(&text, Path::new("testbot.toml"), &Framework::names()).unwrap();
        assert!(inv.project.preload, "{text}");
        let said = "# Loading spec/spec_helper.rb took 1.50 s here (timed by `testbot init`), and every batch";
        assert!(text.contains(said), "{text}");
        assert!(text.contains("reconnect what it connects to;"), "{text}");
        let summary = summary(&timed(1.5), Path::new("testbot.toml"));
        assert!(summary.contains("  preload: yes (spec/spec_helper.rb took 1.50 s to load)\n"), "{summary}");
        let text = render(&timed(0.1));
        assert!(!Inventory::parse(&text, Path::new("testbot.toml"), &Framework::names()).unwrap().project.preload, "{text}");
        let said = "took 0.10 s here (timed by `testbot init`): quick, so every batch loads it.\n# preload = true\n";
        assert!(text.contains(said), "{text}");
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tree(&["spec/a_spec.rb"]);
        let path = dir.path().join("testbot.toml");
        std::fs::write(&path, "# mine\n").unwrap();
        let err = write(&path, "new").unwrap_err();
        assert!(err.to_string().contains("already exists; `testbot init` never overwrites it"), "{err}");
        assert_eq!(err.exit_code(), crate::errors::exit::USAGE);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
    }
}
