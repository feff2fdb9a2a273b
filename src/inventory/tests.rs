use std::path::{Path, PathBuf};

use indoc::indoc;

use super::paths::expand_tilde;
use super::*;

const HOME: &str = "/home/tester";
/// The registered frameworks' names, as `commands` gives them (`framework::Framework::names()`).
const FRAMEWORKS: &[&str] = &["rspec", "minitest", "test-unit", "cucumber"];

fn parse(text: &str) -> Result<Inventory, InventoryError> {
    Inventory::parse_with_home(text, Path::new("testbot.toml"), Some(Path::new(HOME)), FRAMEWORKS)
}

fn ok(text: &str) -> Inventory {
    match parse(text) {
        Ok(inv) => inv,
        Err(e) => panic!("expected success, got:\n{e}"),
    }
}

/// The whole `Display` of the error.
fn err(text: &str) -> String {
    match parse(text) {
        Ok(inv) => panic!("expected an error, got {inv:#?}"),
        Err(e) => e.to_string(),
    }
}

/// `(line, column, message)` of an `Invalid` error.
fn invalid(text: &str) -> (usize, usize, String) {
    match parse(text) {
        Err(InventoryError::Invalid {
            path,
            line,
            column,
            message,
            ..
        }) => {
            assert_eq!(path, PathBuf::from("testbot.toml"));
            (line, column, message)
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn at(line: usize, column: usize, message: &str) -> (usize, usize, String) {
    (line, column, message.to_owned())
}

fn host(name: &str, address: &str) -> HostSpec {
    HostSpec {
        name: name.to_owned(),
        address: address.to_owned(),
        port: 22,
        user: None,
        identity: None,
        slots: Slots::Auto,
    }
}

// -- successful parses -------------------------------------------------------

#[test]
fn full_config_parses_to_expected_values() {
    let inv = ok(indoc! {r#"
        [project]
        framework = "rspec"
        pattern = "spec/**/*_spec.rb"
        command = "bin/rspec"
        bundler = false
        env = { RAILS_ENV = "test", A_FIRST = "1" }
        preload = true
        exclude = ["spec/features/**"]
        fork = false
        isolate = ["spec/serial/**"]

        [[project.group]]
        files = ["spec/model"]

        [[project.group]]
        files = ["spec/extensions", "spec/plugins/**"]

        [local]
        slots = 4

        [[host]]
        name = "ci-1"
        address = "build-1.example.com"
        port = 2222
        user = "deploy"
        identity = "~/.ssh/id_ed25519"
        slots = 8

        [[host]]
        address = "192.0.2.7"

        [ssh]
        known_hosts = "~/.ssh/known_hosts"
        host_key_checking = "accept-new"
        server_alive_interval = 2
        server_alive_count_max = 4
        slot_leases = false

        [sync]
        remote_dir = "/srv/testbot"
        exclude = ["log/**", "tmp/**"]
        include = [".git"]

        [hooks]
        before_run = "bundle install --local"
        before_slot = "bin/rails db:create db:schema:load"
        after_run = "rm -rf tmp/cache"

        [queue]
        url = "redis://redis:6379/0"
        project = "shop"

        [impact]
        record = true
        ignore = ["docs/**"]

        [profile.default]
        file_timeout = "2m"

        [profile.ci]
        retries = 2
        fail_fast = false
        timeout = 900
        junit = "tmp/junit.xml"
    "#});
    let expected = Inventory {
        source: Some(PathBuf::from("testbot.toml")),
        project: ProjectSettings {
            framework: Some("rspec".into()),
            pattern: Some("spec/**/*_spec.rb".into()),
            command: Some("bin/rspec".into()),
            bundler: false,
            env: vec![
                ("A_FIRST".into(), "1".into()),
                ("RAILS_ENV".into(), "test".into()),
            ],
            preload: true,
            exclude: vec!["spec/features/**".into()],
            fork: false,
            isolate: vec!["spec/serial/**".into()],
            groups: vec![vec!["spec/model".into()], vec!["spec/extensions".into(), "spec/plugins/**".into()]],
            quarantine: Vec::new(),
            quarantine_passes: 5,
        },
        local: LocalSettings {
            slots: Some(Slots::Count(4)),
        },
        hosts: vec![
            HostSpec {
                name: "ci-1".into(),
                address: "build-1.example.com".into(),
                port: 2222,
                user: Some("deploy".into()),
                identity: Some(PathBuf::from("/home/tester/.ssh/id_ed25519")),
                slots: Slots::Count(8),
            },
            host("192.0.2.7", "192.0.2.7"),
        ],
        ssh: Ssh {
            known_hosts: Some(PathBuf::from("/home/tester/.ssh/known_hosts")),
            host_key_checking: HostKeyChecking::AcceptNew,
            config: None,
            server_alive_interval: std::time::Duration::from_secs(2),
            server_alive_count_max: 4,
            slot_leases: false,
        },
        sync: SyncSettings {
            remote_dir: Some("/srv/testbot".into()),
            exclude: vec!["log/**".into(), "tmp/**".into()],
            include: vec![".git".into()],
        },
        hooks: Hooks {
            before_run: Some("bundle install --local".into()),
            before_slot: Some("bin/rails db:create db:schema:load".into()),
            after_run: Some("rm -rf tmp/cache".into()),
        },
        queue: QueueSettings { url: Some("redis://redis:6379/0".into()), project: Some("shop".into()) },
        profiles: vec![
            (
                "ci".into(),
                Profile {
                    retries: Some(2),
                    fail_fast: Some(0),
                    timeout: Some(std::time::Duration::from_secs(900)),
                    junit: Some("tmp/junit.xml".into()),
                    ..Profile::default()
                },
            ),
            ("default".into(), Profile { file_timeout: Some(std::time::Duration::from_secs(120)), ..Profile::default() }),
        ],
        impact: Impact { record: true, ignore: vec!["docs/**".into()] },
        invocation: Invocation::default(),
    };
    assert_eq!(inv, expected);
}

#[test]
fn empty_file_gives_defaults() {
    let inv = ok("");
    assert_eq!(
        inv,
        Inventory {
            source: Some(PathBuf::from("testbot.toml")),
            ..Inventory::empty()
        }
    );
    assert_eq!(inv.project.framework, None);
    assert_eq!(inv.project.pattern, None);
    assert_eq!(inv.project.command, None);
    assert!(inv.project.bundler);
    assert!(inv.project.env.is_empty());
    assert_eq!(inv.local.slots, None);
    assert!(inv.hosts.is_empty());
    assert_eq!(inv.ssh.known_hosts, None);
    assert_eq!(inv.ssh.host_key_checking, HostKeyChecking::Strict);
    // The keepalive defaults of docs/troubleshooting.md and docs/configuration.md: 5 s × 3, so a silent host is lost after about 20 s; and
    // slot leases on.
    assert_eq!(inv.ssh.server_alive_interval, std::time::Duration::from_secs(5));
    assert_eq!(inv.ssh.server_alive_count_max, 3);
    assert!(inv.ssh.slot_leases);
    assert_eq!(inv.sync, SyncSettings::default());
    assert_eq!(Inventory::empty().source, None);
}

#[test]
fn empty_tables_give_defaults() {
    let inv = ok(indoc! {"
        # only comments and empty tables
        [project]
        [local]
        [ssh]
        [sync]
    "});
    assert_eq!(
        inv,
        Inventory {
            source: Some(PathBuf::from("testbot.toml")),
            ..Inventory::empty()
        }
    );
}

#[test]
fn host_defaults_are_applied() {
    let inv = ok(indoc! {r#"
        [[host]]
        address = "build-2.example.com"
    "#});
    assert_eq!(
        inv.hosts,
        vec![host("build-2.example.com", "build-2.example.com")]
    );
}

#[test]
fn slots_auto_and_numbers() {
    let inv = ok(indoc! {r#"
        [local]
        slots = "auto"

        [[host]]
        address = "a.example.com"
        slots = 1

        [[host]]
        address = "b.example.com"
        slots = "auto"

        [[host]]
        address = "c.example.com"
        slots = 64
    "#});
    assert_eq!(inv.local.slots, Some(Slots::Auto));
    let slots: Vec<Slots> = inv.hosts.iter().map(|h| h.slots).collect();
    assert_eq!(slots, [Slots::Count(1), Slots::Auto, Slots::Count(64)]);

    let inv = ok("[local]\nslots = 3\n");
    assert_eq!(inv.local.slots, Some(Slots::Count(3)));
}

#[test]
fn dotted_keys_inline_tables_and_subtables_are_accepted() {
    let inv = ok(indoc! {r#"
        project.framework = "minitest"
        local = { slots = 2 }
        host = [{ address = "127.0.0.1", port = 2201 }, { address = "127.0.0.1", port = 2202, name = "second" }]

        [project.env]
        RAILS_ENV = "test"
    "#});
    assert_eq!(inv.project.framework.as_deref(), Some("minitest"));
    assert_eq!(inv.project.env, vec![("RAILS_ENV".into(), "test".into())]);
    assert_eq!(inv.local.slots, Some(Slots::Count(2)));
    let names: Vec<(&str, u16)> = inv
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), h.port))
        .collect();
    assert_eq!(names, [("127.0.0.1", 2201), ("second", 2202)]);
}

#[test]
fn env_is_sorted_by_key() {
    let inv = ok(indoc! {r#"
        [project.env]
        ZED = "z"
        ALPHA = "a"
        MIDDLE = ""
    "#});
    assert_eq!(
        inv.project.env,
        vec![
            ("ALPHA".into(), "a".into()),
            ("MIDDLE".into(), "".into()),
            ("ZED".into(), "z".into()),
        ]
    );
}

#[test]
fn every_framework_is_accepted() {
    for framework in ["rspec", "minitest", "test-unit", "cucumber"] {
        let inv = ok(&format!("[project]\nframework = {framework:?}\n"));
        assert_eq!(inv.project.framework.as_deref(), Some(framework));
    }
}

#[test]
fn tilde_is_expanded_with_the_given_home() {
    let home = Path::new("/home/alice");
    assert_eq!(
        expand_tilde("~/.ssh/id_rsa", Some(home)),
        Some(PathBuf::from("/home/alice/.ssh/id_rsa"))
    );
    assert_eq!(
        expand_tilde("~", Some(home)),
        Some(PathBuf::from("/home/alice"))
    );
    assert_eq!(
        expand_tilde("/etc/ssh/key", Some(home)),
        Some(PathBuf::from("/etc/ssh/key"))
    );
    assert_eq!(
        expand_tilde("keys/id", Some(home)),
        Some(PathBuf::from("keys/id"))
    );
    // Only a leading `~/` is special.
    assert_eq!(
        expand_tilde("~bob/key", Some(home)),
        Some(PathBuf::from("~bob/key"))
    );
    assert_eq!(
        expand_tilde("a/~/b", Some(home)),
        Some(PathBuf::from("a/~/b"))
    );
    assert_eq!(expand_tilde("~/key", None), None);
    assert_eq!(
        expand_tilde("/abs/key", None),
        Some(PathBuf::from("/abs/key"))
    );
}

#[test]
fn tilde_in_config_paths_uses_home() {
    let text = indoc! {r#"
        [[host]]
        address = "build-1.example.com"
        identity = "~/keys/ci"

        [ssh]
        known_hosts = "~/.ssh/known_hosts_ci"
    "#};
    let inv =
        Inventory::parse_with_home(text, Path::new("t.toml"), Some(Path::new("/Users/x")), FRAMEWORKS).unwrap();
    assert_eq!(
        inv.hosts[0].identity,
        Some(PathBuf::from("/Users/x/keys/ci"))
    );
    assert_eq!(
        inv.ssh.known_hosts,
        Some(PathBuf::from("/Users/x/.ssh/known_hosts_ci"))
    );
    assert_eq!(inv.source, Some(PathBuf::from("t.toml")));
}

#[test]
fn tilde_without_home_is_an_error() {
    let text = "[ssh]\nknown_hosts = \"~/.ssh/known_hosts\"\n";
    let e = Inventory::parse_with_home(text, Path::new("testbot.toml"), None, FRAMEWORKS).unwrap_err();
    assert_eq!(
        e.to_string(),
        indoc! {r#"
            testbot.toml:2:15: cannot expand `~` in `known_hosts`: $HOME is not set
              |
            2 | known_hosts = "~/.ssh/known_hosts"
              |               ^^^^^^^^^^^^^^^^^^^^"#}
    );
}

#[test]
fn example_file_parses() {
    let text = include_str!("../../testbot.toml.example");
    let inv = Inventory::parse_with_home(
        text,
        Path::new("testbot.toml.example"),
        Some(Path::new("/home/u")),
        FRAMEWORKS,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inv.project.framework.as_deref(), Some("rspec"));
    assert_eq!(inv.project.pattern.as_deref(), Some("spec/**/*_spec.rb"));
    assert_eq!(inv.project.command.as_deref(), Some("bin/rspec"));
    assert!(inv.project.bundler);
    assert_eq!(
        inv.project.env,
        vec![
            ("DISABLE_SPRING".into(), "1".into()),
            ("RAILS_ENV".into(), "test".into())
        ]
    );
    assert_eq!(inv.local.slots, Some(Slots::Auto));
    assert_eq!(
        inv.hosts,
        vec![
            HostSpec {
                name: "build-1".into(),
                address: "build-1.example.com".into(),
                port: 22,
                user: Some("deploy".into()),
                identity: Some(PathBuf::from("/home/u/.ssh/id_ed25519")),
                slots: Slots::Count(8),
            },
            host("192.0.2.10", "192.0.2.10"),
            HostSpec {
                port: 2222,
                slots: Slots::Count(2),
                ..host("loopback-2222", "127.0.0.1")
            },
        ]
    );
    assert_eq!(
        inv.ssh,
        Ssh {
            known_hosts: Some(PathBuf::from("/home/u/.ssh/known_hosts")),
            host_key_checking: HostKeyChecking::Strict,
            config: Some(PathBuf::from("/home/u/.ssh/config")),
            ..Ssh::default()
        }
    );
    assert_eq!(
        inv.sync,
        SyncSettings {
            remote_dir: Some("/tmp/testbot".into()),
            exclude: vec!["log/**".into(), "tmp/**".into()],
            include: vec![".git".into()],
        }
    );
}

#[test]
fn example_file_uses_no_private_addresses() {
    let text = include_str!("../../testbot.toml.example");
    for private in ["10.", "192.168.", "172.16.", "172.17.", "172.31."] {
        assert!(
            !text.contains(&format!("\"{private}")),
            "example contains a private-range address starting with {private}"
        );
    }
}

#[test]
fn load_reads_the_file() {
    let dir = std::env::temp_dir().join(format!("testbot-inventory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("testbot.toml");
    std::fs::write(&path, "[local]\nslots = 2\n").unwrap();
    let inv = Inventory::load(&path, FRAMEWORKS);
    let _ = std::fs::remove_dir_all(&dir);
    let inv = inv.unwrap();
    assert_eq!(inv.source, Some(path));
    assert_eq!(inv.local.slots, Some(Slots::Count(2)));
}

#[test]
fn load_reports_unreadable_files() {
    let path = Path::new("/nonexistent-testbot-dir/testbot.toml");
    let e = Inventory::load(path, FRAMEWORKS).unwrap_err();
    let io = std::io::Error::from(std::io::ErrorKind::NotFound);
    assert!(
        matches!(&e, InventoryError::Read { path: p, source } if p == path && source.kind() == io.kind())
    );
    let display = e.to_string();
    assert!(
        display.starts_with("failed to read /nonexistent-testbot-dir/testbot.toml: "),
        "{display}"
    );
    assert!(display.contains("No such file or directory"), "{display}");
    // The cause is part of the message, not repeated as a source.
    assert!(std::error::Error::source(&e).is_none());
}

#[test]
fn load_reports_errors_with_the_given_path() {
    let dir = std::env::temp_dir().join(format!("testbot-inventory-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("testbot.toml");
    std::fs::write(&path, "[local]\nslots = -1\n").unwrap();
    let e = Inventory::load(&path, FRAMEWORKS).unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:9: slots must be at least 0, or \"auto\"\n  |\n2 | slots = -1\n  |         ^^",
            path.display()
        )
    );
}

// -- errors: whole Display ---------------------------------------------------

#[test]
fn unknown_key_in_host_suggests_the_closest_key() {
    let text = indoc! {r#"
        [project]
        framework = "rspec"

        [[host]]
        name = "ci-1"
        address = "build-1.example.com"
        slot = 4
    "#};
    assert_eq!(
        err(text),
        indoc! {"
            testbot.toml:7:1: unknown key `slot` in [[host]]; did you mean `slots`?
              |
            7 | slot = 4
              | ^^^^"}
    );
}

#[test]
fn wrong_type_for_slots_names_the_key_and_the_value() {
    let text = indoc! {r#"
        [local]
        slots = "four"
    "#};
    assert_eq!(
        err(text),
        indoc! {r#"
            testbot.toml:2:9: `slots` must be a number of at least 0 or "auto", found a string "four"
              |
            2 | slots = "four"
              |         ^^^^^^"#}
    );
}

#[test]
fn toml_syntax_error_uses_tomls_message_without_its_snippet() {
    let text = indoc! {r#"
        [project]
        framework = "rspec

        [local]
    "#};
    assert_eq!(
        err(text),
        indoc! {r#"
            testbot.toml:2:19: invalid basic string
              |
            2 | framework = "rspec
              |                   ^"#}
    );
}

#[test]
fn duplicate_host_name_is_reported_at_the_second_host() {
    let text = indoc! {r#"
        [[host]]
        name = "ci"
        address = "127.0.0.1"
        port = 2201

        [[host]]
        name = "ci"
        address = "127.0.0.1"
        port = 2202
    "#};
    assert_eq!(
        err(text),
        indoc! {r#"
            testbot.toml:7:8: duplicate host name "ci"; the [[host]] at line 2 already uses it
              |
            7 | name = "ci"
              |        ^^^^"#}
    );
}

#[test]
fn snippet_gutter_grows_with_the_line_number() {
    let mut text = "\n".repeat(11);
    text.push_str("[local]\nslots = -1\n");
    assert_eq!(
        err(&text),
        indoc! {r#"
            testbot.toml:13:9: slots must be at least 0, or "auto"
               |
            13 | slots = -1
               |         ^^"#}
    );
}

#[test]
fn snippet_keeps_tabs_and_counts_columns_in_characters() {
    let text = "[[host]]\n\taddress = \"é.example\"\n\tport = 0\n";
    assert_eq!(
        err(text),
        "testbot.toml:3:9: `port` must be between 1 and 65535, found 0\n  |\n3 | \tport = 0\n  | \t       ^"
    );
    let text = "[project]\nenv = { A = \"É\", B = 1 }\n";
    let (line, column, _) = invalid(text);
    assert_eq!((line, column), (2, 22));
}

#[test]
fn crlf_line_endings_are_not_shown_in_snippets() {
    let text = "[local]\r\nslots = -1\r\n";
    assert_eq!(
        err(text),
        "testbot.toml:2:9: slots must be at least 0, or \"auto\"\n  |\n2 | slots = -1\n  |         ^^"
    );
}

#[test]
fn a_group_needs_files_and_isolate_needs_a_list() {
    assert_eq!(
        err("[project]\nisolate = \"spec/a_spec.rb\"\n"),
        "testbot.toml:2:11: `isolate` must be an array of strings, found a string \"spec/a_spec.rb\" (write isolate = [\"spec/a_spec.rb\"])\n  |\n2 | isolate = \"spec/a_spec.rb\"\n  |           ^^^^^^^^^^^^^^^^"
    );
    let message = err("[[project.group]]\nfiles = []\n");
    assert!(message.starts_with("testbot.toml:1:1: a `[[project.group]]` needs `files`"), "{message}");
    let message = err("[[project.group]]\nfile = [\"spec/model\"]\n");
    assert!(message.contains("unknown key `file` in [[project.group]]; did you mean `files`?"), "{message}");
    let message = err("[[project.group]]\nfiles = [\"spec/model\", 3]\n");
    assert!(message.starts_with("testbot.toml:2:24: `files` must contain only strings, found an integer 3"), "{message}");
}

#[test]
fn quarantine_entries_name_one_example_each() {
    let inv = ok("[project]\nquarantine = [\"spec/a_spec.rb:12\", \"./spec/b_spec.rb[1:2]\"]\nquarantine_passes = 3\n");
    assert_eq!(inv.project.quarantine, ["spec/a_spec.rb:12", "spec/b_spec.rb[1:2]"]);
    assert_eq!(inv.project.quarantine_passes, 3);
    let message = err("[project]\nquarantine = [\n  \"spec/a_spec.rb:12\",\n  \"spec/b_spec.rb\",\n]\n");
    assert!(message.starts_with("testbot.toml:4:3: `quarantine` entry \"spec/b_spec.rb\" does not name one example: write `path:LINE`"), "{message}");
    let message = err("[project]\nquarantine = \"spec/a_spec.rb:1\"\n");
    assert!(message.starts_with("testbot.toml:2:14: `quarantine` must be an array of strings"), "{message}");
    let message = err("[project]\nquarantine_passes = 0\n");
    assert!(message.starts_with("testbot.toml:2:21: `quarantine_passes` must be a whole number from 1 to 1000"), "{message}");
}

#[test]
fn a_misspelt_queue_key_is_named_with_the_one_meant() {
    let message = err("[queue]\nprojekt = \"shop\"\n");
    assert!(message.contains("unknown key `projekt` in [queue]; did you mean `project`?"), "{message}");
}

#[test]
fn multi_line_spans_are_underlined_to_the_end_of_the_first_line() {
    let text = "[sync]\nexclude = [\n  \"log\",\n  1,\n]\n";
    assert_eq!(
        err(text),
        "testbot.toml:4:3: `exclude` must contain only strings, found an integer 1\n  |\n4 |   1,\n  |   ^"
    );
    let text = "[[host]]\nname = \"x\"\n";
    assert_eq!(
        err(text),
        "testbot.toml:1:1: missing required key `address` in [[host]]\n  |\n1 | [[host]]\n  | ^^^^^^^^"
    );
}

// -- errors: position and message --------------------------------------------

#[test]
fn unknown_keys_at_every_level() {
    assert_eq!(
        invalid("[projet]\nframework = \"rspec\"\n"),
        at(
            1,
            2,
            "unknown key `projet` at the top level; did you mean `project`?"
        )
    );
    assert_eq!(
        invalid("[[hosts]]\naddress = \"a\"\n"),
        at(
            1,
            3,
            "unknown key `hosts` at the top level; did you mean `host`?"
        )
    );
    assert_eq!(
        invalid("[runner]\n"),
        at(
            1,
            2,
            "unknown key `runner` at the top level; expected one of `project`, `local`, `host`, `ssh`, `sync`, `hooks`, `queue`, `profile`, `impact`"
        )
    );
    assert_eq!(
        invalid("[project]\nframwork = \"rspec\"\n"),
        at(
            2,
            1,
            "unknown key `framwork` in [project]; did you mean `framework`?"
        )
    );
    assert_eq!(
        invalid("[project]\nrunner = \"x\"\n"),
        at(
            2,
            1,
            "unknown key `runner` in [project]; expected one of `framework`, `pattern`, `command`, `bundler`, `env`, `preload`, `exclude`, `fork`, `isolate`, `group`, `quarantine`, `quarantine_passes`"
        )
    );
    assert_eq!(
        invalid("[local]\nworkers = 4\n"),
        at(
            2,
            1,
            "unknown key `workers` in [local]; expected one of `slots`, `allow_many_slots`"
        )
    );
    assert_eq!(
        invalid("[local]\nSlots = 4\n"),
        at(
            2,
            1,
            "unknown key `Slots` in [local]; did you mean `slots`?"
        )
    );
    assert_eq!(
        invalid("[[host]]\naddress = \"a\"\nidentity_file = \"k\"\n"),
        at(
            3,
            1,
            "unknown key `identity_file` in [[host]]; did you mean `identity`?"
        )
    );
    assert_eq!(
        invalid("[ssh]\nstrict = true\n"),
        at(
            2,
            1,
            "unknown key `strict` in [ssh]; expected one of `known_hosts`, `host_key_checking`, `config`, `server_alive_interval`, `server_alive_count_max`, `slot_leases`"
        )
    );
    assert_eq!(
        invalid("[sync]\nexcludes = []\n"),
        at(
            2,
            1,
            "unknown key `excludes` in [sync]; did you mean `exclude`?"
        )
    );
}

#[test]
fn a_profiles_keys_and_values_are_checked_where_they_are_written() {
    assert_eq!(
        invalid("[profile.ci]\nretires = 2\n"),
        at(2, 1, "unknown key `retires` in a [profile.NAME]; did you mean `retries`?")
    );
    assert_eq!(
        invalid("[profile.ci]\nslots = 2\n"),
        at(2, 1, "unknown key `slots` in a [profile.NAME]; `slots` belongs in [local] or [[host]]")
    );
    assert_eq!(
        invalid("[profile.ci]\nretries = -1\n"),
        at(2, 11, "`retries` must be a whole number, 0 or more, found an integer -1")
    );
    assert_eq!(
        invalid("[profile.ci]\ntimeout = \"soon\"\n"),
        at(2, 11, "`timeout` must be seconds or a duration (e.g. 600, \"90s\", \"20m\"), found a string \"soon\"")
    );
    assert_eq!(invalid("profile = 3\n"), at(1, 11, "invalid type: integer `3`, expected a map"));
}

#[test]
fn unknown_key_that_belongs_elsewhere_says_where() {
    assert_eq!(
        invalid("slots = 4\n"),
        at(
            1,
            1,
            "unknown key `slots` at the top level; `slots` belongs in [local] or [[host]]"
        )
    );
    assert_eq!(
        invalid("[project]\nremote_dir = \"/srv/x\"\n"),
        at(
            2,
            1,
            "unknown key `remote_dir` in [project]; `remote_dir` belongs in [sync]"
        )
    );
    assert_eq!(
        invalid("[ssh]\nport = 22\n"),
        at(
            2,
            1,
            "unknown key `port` in [ssh]; `port` belongs in [[host]]"
        )
    );
}

#[test]
fn unknown_keys_in_dotted_and_inline_forms_point_at_the_key() {
    assert_eq!(
        invalid("local = { slots = 2, cores = 3 }\n"),
        at(
            1,
            22,
            "unknown key `cores` in [local]; expected one of `slots`, `allow_many_slots`"
        )
    );
    assert_eq!(
        invalid("project.framwork = \"rspec\"\n"),
        at(
            1,
            9,
            "unknown key `framwork` in [project]; did you mean `framework`?"
        )
    );
    assert_eq!(
        invalid("[[host]]\naddress = \"a\"\n[host.extra]\nx = 1\n"),
        at(
            3,
            7,
            "unknown key `extra` in [[host]]; expected one of `name`, `address`, `port`, `user`, `identity`, `slots`, `allow_many_slots`"
        )
    );
}

#[test]
fn a_host_needs_a_slot_and_local_may_have_none() {
    assert_eq!(
        invalid("[[host]]\naddress = \"a\"\nslots = 0\n"),
        at(3, 9, "slots must be at least 1, or \"auto\"")
    );
    assert_eq!(
        invalid("[[host]]\naddress = \"a\"\nslots = -2\n"),
        at(3, 9, "slots must be at least 1, or \"auto\"")
    );
    // `[local] slots = 0`: this machine runs nothing, the hosts do.
    assert_eq!(ok("[local]\nslots = 0\n").local.slots, Some(Slots::Count(0)));
    assert_eq!(
        invalid("[local]\nslots = -1\n"),
        at(2, 9, "slots must be at least 0, or \"auto\"")
    );
}

#[test]
fn slots_of_the_wrong_type() {
    assert_eq!(
        invalid("[local]\nslots = \"Auto\"\n"),
        at(
            2,
            9,
            "`slots` must be a number of at least 0 or \"auto\", found a string \"Auto\""
        )
    );
    assert_eq!(
        invalid("[local]\nslots = 2.5\n"),
        at(
            2,
            9,
            "`slots` must be a number of at least 0 or \"auto\", found a float 2.5"
        )
    );
    assert_eq!(
        invalid("[[host]]\naddress = \"a\"\nslots = true\n"),
        at(
            3,
            9,
            "`slots` must be a number of at least 1 or \"auto\", found a boolean true"
        )
    );
    assert_eq!(
        invalid("[local]\nslots = [4]\n"),
        at(
            2,
            9,
            "`slots` must be a number of at least 0 or \"auto\", found an array"
        )
    );
}

#[test]
fn port_must_be_in_range() {
    assert_eq!(
        invalid("[[host]]\naddress = \"a\"\nport = 0\n"),
        at(3, 8, "`port` must be between 1 and 65535, found 0")
    );
    assert_eq!(
        invalid("[[host]]\naddress = \"a\"\nport = 65536\n"),
        at(3, 8, "`port` must be between 1 and 65535, found 65536")
    );
    assert_eq!(
        invalid("[[host]]\naddress = \"a\"\nport = \"22\"\n"),
        at(
            3,
            8,
            "`port` must be an integer between 1 and 65535, found a string \"22\""
        )
    );
    let inv = ok("[[host]]\naddress = \"a\"\nport = 65535\n");
    assert_eq!(inv.hosts[0].port, 65535);
}

#[test]
fn address_is_required_and_must_be_a_usable_word() {
    assert_eq!(
        invalid("[[host]]\naddress = \"\"\n"),
        at(2, 11, "`address` must not be empty")
    );
    assert_eq!(
        invalid("[[host]]\naddress = \"   \"\n"),
        at(2, 11, "`address` must not be empty")
    );
    assert_eq!(
        invalid("[[host]]\naddress = \"a b\"\n"),
        at(
            2,
            11,
            "`address` must not contain whitespace, found \"a b\""
        )
    );
    assert_eq!(
        invalid("[[host]]\naddress = \"-oProxyCommand=x\"\n"),
        at(
            2,
            11,
            "`address` must not start with `-`, found \"-oProxyCommand=x\""
        )
    );
    assert_eq!(
        invalid("[[host]]\naddress = 127\n"),
        at(2, 11, "`address` must be a string, found an integer 127")
    );
    assert_eq!(
        invalid("[[host]]\naddress = \"a\"\n\n[[host]]\nname = \"b\"\nport = 22\n"),
        at(4, 1, "missing required key `address` in [[host]]")
    );
    assert_eq!(
        invalid("host = [{ name = \"b\" }]\n"),
        at(1, 9, "missing required key `address` in [[host]]")
    );
    assert_eq!(
        invalid("[[host]]\naddress = \"a\"\nuser = \"\"\n"),
        at(3, 8, "`user` must not be empty")
    );
    assert_eq!(
        invalid("[[host]]\naddress = \"a\"\nname = \"\"\n"),
        at(3, 8, "`name` must not be empty")
    );
}

#[test]
fn host_names_must_be_unique_after_defaulting() {
    // Two hosts without `name` on the same address.
    assert_eq!(
        invalid(indoc! {r#"
            [[host]]
            address = "127.0.0.1"
            port = 2201

            [[host]]
            address = "127.0.0.1"
            port = 2202
        "#}),
        at(
            6,
            11,
            "duplicate host name \"127.0.0.1\" (a host without `name` is named after its \
             `address`); the [[host]] at line 2 already uses it, so give one of them a \
             distinct `name`"
        )
    );
    // An explicit name equal to another host's defaulted name.
    assert_eq!(
        invalid(indoc! {r#"
            [[host]]
            address = "build-1.example.com"

            [[host]]
            name = "build-1.example.com"
            address = "127.0.0.1"
        "#}),
        at(
            5,
            8,
            "duplicate host name \"build-1.example.com\"; the [[host]] at line 2 already uses it"
        )
    );
    // Distinct names on one address are fine (another port: another sshd).
    let inv = ok(indoc! {r#"
        [[host]]
        address = "127.0.0.1"

        [[host]]
        name = "other"
        address = "127.0.0.1"
        port = 2222
    "#});
    assert_eq!(inv.hosts.len(), 2);
}

#[test]
fn framework_must_be_known() {
    assert_eq!(
        invalid("[project]\nframework = \"jest\"\n"),
        at(
            2,
            13,
            "`framework` must be one of \"rspec\", \"minitest\", \"test-unit\", \"cucumber\", found a string \"jest\""
        )
    );
    assert_eq!(
        invalid("[project]\nframework = \"RSpec\"\n"),
        at(
            2,
            13,
            "`framework` must be one of \"rspec\", \"minitest\", \"test-unit\", \"cucumber\", found a string \"RSpec\""
        )
    );
    assert_eq!(
        invalid("[project]\nframework = 1\n"),
        at(
            2,
            13,
            "`framework` must be one of \"rspec\", \"minitest\", \"test-unit\", \"cucumber\", found an integer 1"
        )
    );
}

#[test]
fn pattern_must_be_a_relative_glob() {
    assert_eq!(
        invalid("[project]\npattern = \"spec/[a-\"\n"),
        at(
            2,
            11,
            "`pattern` is not a valid glob: unclosed character class; missing ']'"
        )
    );
    assert_eq!(
        invalid("[project]\npattern = \"spec/{a,b\"\n"),
        at(2, 11, "`pattern` is not a valid glob: unclosed alternate group; missing '}' (maybe escape '{' with '[{]'?)")
    );
    assert_eq!(
        invalid("[project]\npattern = \"/spec/**/*.rb\"\n"),
        at(
            2,
            11,
            "`pattern` must be relative to the project root, found \"/spec/**/*.rb\""
        )
    );
    assert_eq!(
        invalid("[project]\npattern = \"\"\n"),
        at(2, 11, "`pattern` must not be empty")
    );
    let inv = ok("[project]\npattern = \"test/**/{*_test,test_*}.rb\"\n");
    assert_eq!(
        inv.project.pattern.as_deref(),
        Some("test/**/{*_test,test_*}.rb")
    );
}

#[test]
fn other_project_values_are_type_checked() {
    assert_eq!(
        invalid("[project]\nbundler = \"yes\"\n"),
        at(
            2,
            11,
            "`bundler` must be true or false, found a string \"yes\""
        )
    );
    assert_eq!(
        invalid("[project]\ncommand = [\"bin/rspec\"]\n"),
        at(2, 11, "`command` must be a string, found an array")
    );
    assert_eq!(
        invalid("[project]\ncommand = \" \"\n"),
        at(2, 11, "`command` must not be empty")
    );
}

#[test]
fn env_values_must_be_strings() {
    assert_eq!(
        invalid("[project]\nenv = { RAILS_ENV = \"test\", WORKERS = 4 }\n"),
        at(
            2,
            39,
            "`env.WORKERS` must be a string, found an integer 4 (quote it: WORKERS = \"4\")"
        )
    );
    assert_eq!(
        invalid("[project.env]\nA = [\"x\"]\n"),
        at(2, 5, "`env.A` must be a string, found an array")
    );
    assert_eq!(
        invalid("[project.env]\n\"A=B\" = \"x\"\n"),
        at(
            2,
            1,
            "environment variable name \"A=B\" in `env` is not valid: a name is letters, digits and `_`, \
             not starting with a digit (a host's shell and `env` take no other)"
        )
    );
    // A NUL cannot go into a process's environment: refused here, not when a runner starts.
    assert_eq!(
        invalid("[project.env]\nA = \"x\\u0000y\"\n"),
        at(2, 5, "`env.A` must not contain a NUL byte")
    );
    assert_eq!(
        invalid("[project.env]\n\"\" = \"x\"\n"),
        at(
            2,
            1,
            "environment variable names in `env` must not be empty"
        )
    );
    assert_eq!(
        invalid("[project]\nenv = \"RAILS_ENV=test\"\n"),
        at(
            2,
            7,
            "`env` must be a table of strings, like env = { RAILS_ENV = \"test\" }, found a string \"RAILS_ENV=test\""
        )
    );
    assert_eq!(
        invalid("[project]\nenv = 2024-01-01\n"),
        at(2, 7, "`env` must be a table of strings, found a date-time")
    );
}

#[test]
fn ssh_values_are_checked() {
    assert_eq!(
        invalid("[ssh]\nhost_key_checking = \"no\"\n"),
        at(
            2,
            21,
            "`host_key_checking` must be \"strict\" or \"accept-new\", found a string \"no\""
        )
    );
    assert_eq!(
        invalid("[ssh]\nhost_key_checking = false\n"),
        at(
            2,
            21,
            "`host_key_checking` must be \"strict\" or \"accept-new\", found a boolean false"
        )
    );
    let inv = ok("[ssh]\nhost_key_checking = \"strict\"\n");
    assert_eq!(inv.ssh.host_key_checking, HostKeyChecking::Strict);
    assert_eq!(
        invalid("[ssh]\nknown_hosts = 1\n"),
        at(2, 15, "`known_hosts` must be a string, found an integer 1")
    );
    assert_eq!(
        invalid("[ssh]\nserver_alive_interval = 0\n"),
        at(2, 25, "`server_alive_interval` must be a whole number from 1 to 3600, found an integer 0")
    );
    assert_eq!(
        invalid("[ssh]\nserver_alive_count_max = \"3\"\n"),
        at(2, 26, "`server_alive_count_max` must be a whole number from 1 to 100, found a string \"3\"")
    );
}

#[test]
fn impact_takes_a_boolean_and_globs() {
    assert_eq!(invalid("[impact]\nrecord = \"yes\"\n"), at(2, 10, "`record` must be true or false, found a string \"yes\""));
    assert_eq!(invalid("[impact]\nrecords = true\n"), at(2, 1, "unknown key `records` in [impact]; did you mean `record`?"));
}

#[test]
fn hooks_are_non_empty_strings() {
    assert_eq!(
        invalid("[hooks]\nbefore_run = 1\n"),
        at(2, 14, "`before_run` must be a string, found an integer 1")
    );
    assert_eq!(invalid("[hooks]\nafter_run = \" \"\n"), at(2, 13, "`after_run` must not be empty"));
    assert_eq!(
        invalid("[hooks]\nbefore_all = \"x\"\n"),
        at(2, 1, "unknown key `before_all` in [hooks]; did you mean `before_slot`?")
    );
}

#[test]
fn sync_values_are_type_checked() {
    assert_eq!(
        invalid("[sync]\nexclude = \"log/**\"\n"),
        at(
            2,
            11,
            "`exclude` must be an array of strings, found a string \"log/**\" (write exclude = [\"log/**\"])"
        )
    );
    assert_eq!(
        invalid("[sync]\ninclude = [\".git\", true]\n"),
        at(
            2,
            20,
            "`include` must contain only strings, found a boolean true"
        )
    );
    assert_eq!(
        invalid("[sync]\nremote_dir = 5\n"),
        at(2, 14, "`remote_dir` must be a string, found an integer 5")
    );
}

#[test]
fn tables_of_the_wrong_type() {
    assert_eq!(
        invalid("local = 4\n"),
        at(1, 9, "`local` must be a table, found an integer 4")
    );
    assert_eq!(
        invalid("project = [\"rspec\"]\n"),
        at(1, 11, "`project` must be a table, found an array")
    );
    assert_eq!(
        invalid("ssh = 2024-01-01T00:00:00Z\n"),
        at(1, 7, "`ssh` must be a table, found a date-time")
    );
    assert_eq!(
        invalid("[host]\naddress = \"a\"\n"),
        at(
            1,
            1,
            "`host` must be an array of tables: write each host as a [[host]] section (double brackets), not [host]"
        )
    );
    assert_eq!(
        invalid("host = \"build-1.example.com\"\n"),
        at(
            1,
            8,
            "`host` must be an array of tables ([[host]] sections), found a string \"build-1.example.com\""
        )
    );
    assert_eq!(
        invalid("host = [\"build-1.example.com\"]\n"),
        at(
            1,
            9,
            "each `host` entry must be a table, found a string \"build-1.example.com\""
        )
    );
}

#[test]
fn the_first_error_in_the_file_is_reported() {
    // Validation runs [project] before [[host]], but the host comes first.
    let text = indoc! {r#"
        [[host]]
        address = "a"
        port = 0

        [project]
        framework = "nope"
    "#};
    assert_eq!(
        invalid(text),
        at(3, 8, "`port` must be between 1 and 65535, found 0")
    );
}

#[test]
fn toml_syntax_errors_keep_their_position() {
    assert_eq!(
        invalid("[local]\nslots = 4\n[local]\nslots = 5\n"),
        at(
            3,
            1,
            "invalid table header; duplicate key `local` in document root"
        )
    );
    assert_eq!(
        invalid("[project\n"),
        at(1, 9, "invalid table header; expected `.`, `]`")
    );
    assert_eq!(
        invalid("[local]\nslots = \n"),
        at(2, 9, "invalid string; expected `\"`, `'`")
    );
}

#[test]
fn did_you_mean_only_suggests_close_keys() {
    use super::error::did_you_mean;
    let keys = keys::HOST_KEYS;
    assert_eq!(did_you_mean("slot", keys), Some("slots"));
    assert_eq!(did_you_mean("adress", keys), Some("address"));
    assert_eq!(did_you_mean("hostname", keys), None);
    assert_eq!(did_you_mean("identityfile", keys), Some("identity"));
    assert_eq!(did_you_mean("zzz", keys), None);
}

#[test]
fn dotted_keys_where_a_value_belongs() {
    assert_eq!(
        invalid("[local]\nslots.count = 1\n"),
        at(
            2,
            7,
            "`slots` must be a plain value, not a table (`slots.count` is a dotted key)"
        )
    );
    assert_eq!(
        invalid("[project]\nenv.RAILS.ENV = \"test\"\n"),
        at(
            2,
            11,
            "`RAILS` must be a plain value, not a table (`RAILS.ENV` is a dotted key)"
        )
    );
    assert_eq!(
        invalid("[local.slots]\ncount = 1\n"),
        at(
            1,
            1,
            "`slots` must be a number of at least 0 or \"auto\", found a table"
        )
    );
    assert_eq!(
        invalid("[sync]\nexclude.log = true\n"),
        at(2, 1, "`exclude` must be an array of strings, found a table")
    );
}

#[test]
fn toml_errors_for_values_it_cannot_represent() {
    assert_eq!(
        invalid("[local]\nslots = 99999999999999999999\n"),
        at(2, 9, "number too large to fit in target type")
    );
    assert_eq!(
        invalid("[local]\nslots = 1\nslots = 2\n"),
        at(3, 1, "duplicate key `slots` in table `local`")
    );
}

#[test]
fn dangerous_remote_dirs_are_refused_with_the_value_and_the_line() {
    // (value, a part of the reason)
    let refused: &[(&str, &str)] = &[
        ("", "it is empty"),
        ("   ", "it is empty"),
        (".", "the login directory itself"),
        ("./", "the login directory itself"),
        ("~", "`~` is the login directory itself"),
        ("~/", "the login directory itself"),
        ("~/.", "the login directory itself"),
        ("/", "`/` is the whole filesystem"),
        ("//", "`/` is the whole filesystem"),
        ("/tmp", "/tmp is a system directory"),
        ("/tmp/", "/tmp is a system directory"),
        ("/etc", "/etc is a system directory"),
        ("/usr", "/usr is a system directory"),
        ("/usr/local", "/usr/local is a system directory"),
        ("/bin", "/bin is a system directory"),
        ("/var", "/var is a system directory"),
        ("/proc", "/proc is a system directory"),
        ("/sys", "/sys is a system directory"),
        ("/dev", "/dev is a system directory"),
        ("/boot", "/boot is a system directory"),
        ("/lib64", "/lib64 is a system directory"),
        ("/sbin", "/sbin is a system directory"),
        ("/opt", "/opt is a system directory"),
        ("/root", "/root is a system directory"),
        ("/home", "/home is a system directory"),
        ("/./home/.", "/home is a system directory"),
        ("..", "contains `..`"),
        ("a/../..", "contains `..`"),
        ("/srv/x/../..", "contains `..`"),
        ("~/../other", "contains `..`"),
        ("$HOME", "does not expand variables"),
        ("$HOME/work", "does not expand variables"),
        ("${XDG_CACHE_HOME}/t", "does not expand variables"),
        ("~other", "`~user` is not expanded"),
        ("~other/work", "`~user` is not expanded"),
        ("work\nrm", "it contains a control character"),
    ];
    for (value, why) in refused {
        let text = format!("[sync]\nremote_dir = {value:?}\n");
        let (line, column, message) = invalid(&text);
        assert_eq!((line, column), (2, 14), "{value:?}: {message}");
        assert!(message.starts_with(&format!("`remote_dir` = {value:?} is refused: ")), "{value:?}: {message}");
        assert!(message.contains(why), "{value:?}: {message}");
    }
    // The whole message names the file and shows the line.
    let e = err("[sync]\nremote_dir = \"~\"\n");
    assert!(e.starts_with("testbot.toml:2:14: `remote_dir` = \"~\" is refused"), "{e}");
    assert!(e.contains("2 | remote_dir = \"~\""), "{e}");
}

#[test]
fn safe_remote_dirs_are_normalized() {
    let accepted: &[(&str, &str)] = &[
        ("work", "work"),
        ("./work/", "work"),
        ("~/work", "work"),
        ("~//work//x/", "work/x"),
        (".cache/testbot/app", ".cache/testbot/app"),
        ("/srv/testbot", "/srv/testbot"),
        ("/tmp/testbot", "/tmp/testbot"),
        ("/tmp/./testbot/", "/tmp/testbot"),
        ("/data", "/data"),
        ("a..b", "a..b"),
    ];
    for (value, want) in accepted {
        let inv = ok(&format!("[sync]\nremote_dir = {value:?}\n"));
        assert_eq!(inv.sync.remote_dir.as_deref(), Some(*want), "{value:?}");
    }
}

#[test]
fn slots_above_the_cap_need_allow_many_slots() {
    let (line, column, message) = invalid("[[host]]\naddress = \"a\"\nslots = 100000\n");
    assert_eq!((line, column), (3, 9));
    assert!(message.contains("`slots` = 100000 is more than 256"), "{message}");
    assert!(message.contains("allow_many_slots = true"), "{message}");
    assert_eq!(ok("[[host]]\naddress = \"a\"\nslots = 256\n").hosts[0].slots, Slots::Count(256));
    let many = ok("[[host]]\naddress = \"a\"\nslots = 1000\nallow_many_slots = true\n");
    assert_eq!(many.hosts[0].slots, Slots::Count(1000));
    let (_, _, message) = invalid("[[host]]\naddress = \"a\"\nallow_many_slots = \"yes\"\n");
    assert_eq!(message, "`allow_many_slots` must be true or false, found a string \"yes\"");
}

// -- issue 27 item 5: values that used to fail only on a host ----------------

#[test]
fn env_names_a_shell_cannot_take_are_refused_where_they_are_written() {
    for (name, column) in [("H2 SP", 9), ("$(id)", 9), ("1X", 9), ("É", 9), ("A-B", 9), ("A.B", 9)] {
        let text = format!("[project]\nenv = {{ \"{name}\" = \"x\" }}\n");
        let (line, col, message) = invalid(&text);
        assert_eq!((line, col), (2, column), "{name:?}");
        assert!(message.starts_with(&format!("environment variable name {name:?} in `env` is not valid")), "{message}");
    }
    let text = "[project.env]\nRAILS_ENV = \"test\"\n\"$(id)\" = \"x\"\n";
    assert_eq!(
        err(text),
        "testbot.toml:3:1: environment variable name \"$(id)\" in `env` is not valid: a name is letters, digits and `_`, \
         not starting with a digit (a host's shell and `env` take no other)\n  |\n3 | \"$(id)\" = \"x\"\n  | ^^^^^^^"
    );
    let inv = ok("[project.env]\n_A1 = \"x\"\nb = \"y\"\n");
    assert_eq!(inv.project.env, vec![("_A1".into(), "x".into()), ("b".into(), "y".into())]);
}

#[test]
fn local_slots_are_capped_like_a_hosts() {
    let (line, column, message) = invalid("[local]\nslots = 500\n");
    assert_eq!((line, column), (2, 9));
    assert_eq!(
        message,
        "`slots` = 500 is more than 256, testbot's limit for this machine; lower it, or add \
         `allow_many_slots = true` to [local] if the machine really runs that many"
    );
    assert_eq!(ok("[local]\nslots = 500\nallow_many_slots = true\n").local.slots, Some(Slots::Count(500)));
    assert_eq!(ok("[local]\nslots = 256\n").local.slots, Some(Slots::Count(256)));
    assert_eq!(ok("[local]\nslots = 0\n").local.slots, Some(Slots::Count(0)));
    assert_eq!(invalid("[local]\nallow_many_slots = 1\n").2, "`allow_many_slots` must be true or false, found an integer 1");
}

#[test]
fn the_same_machine_listed_twice_is_an_error_naming_both_entries() {
    let text = indoc! {r#"
        [[host]]
        name = "a"
        address = "build1.example"
        user = "ci"

        [[host]]
        name = "b"
        address = "BUILD1.example."
        port = 22
        user = "ci"
    "#};
    assert_eq!(
        invalid(text),
        at(
            8,
            11,
            "the [[host]] `b` is the same machine as the [[host]] `a` at line 1 (address `BUILD1.example.`, port 22 \
             as user `ci`): listed twice, one entry's slot leases read as another run's to the other; list it once, \
             with the slots of both"
        )
    );
    // Loopback by any of its names.
    let (line, _, message) = invalid("[[host]]\nname = \"x\"\naddress = \"localhost\"\n[[host]]\nname = \"y\"\naddress = \"127.0.0.1\"\n");
    assert_eq!(line, 6);
    assert!(message.starts_with("the [[host]] `y` is the same machine as the [[host]] `x` at line 1"), "{message}");
    // Another port, another user or another address is another machine (or another account on it).
    let first = "[[host]]\nname = \"a\"\naddress = \"build1.example\"\nuser = \"ci\"\n";
    for second in [
        "address = \"build1.example\"\nuser = \"ci\"\nport = 2222\n",
        "address = \"build1.example\"\nuser = \"deploy\"\n",
        "address = \"build2.example\"\nuser = \"ci\"\n",
    ] {
        assert_eq!(ok(&format!("{first}[[host]]\nname = \"b\"\n{second}")).hosts.len(), 2, "{second}");
    }
}
