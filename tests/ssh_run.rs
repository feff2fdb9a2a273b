//! Runs over real OpenSSH sshd hosts on 127.0.0.1 (tests/common/sshd.rs), with real Ruby.

mod common;

use common::sshd::Testbed;
use common::*;
use std::collections::BTreeSet;
use std::fs;

/// `SHA256:…` of a key file (public, or private with its `.pub` beside it), as ssh-keygen says.
fn key_fingerprint(path: &std::path::Path) -> String {
    let out = std::process::Command::new("ssh-keygen").arg("-lf").arg(path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).unwrap().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn three_hosts_and_local_slots_give_exact_totals() {
    let bed = Testbed::start(3);
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &format!("[local]\nslots = 1\n\n{}", bed.inventory_toml(2)));
    let serial = p.serial_rspec(&[]);
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(Vec::<String>::new()).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent();
    assert_eq!(report.totals().counts(), serial.counts, "{}", run.dump());
    assert_eq!(report.file_paths(), sorted(BASIC_FILES));
    let hosts: BTreeSet<(String, u64)> = report.hosts().into_iter().map(|h| (h.name, h.slots)).collect();
    let expected: BTreeSet<(String, u64)> =
        [("host1", 2), ("host2", 2), ("host3", 2), ("local", 1)].iter().map(|(n, s)| (n.to_string(), *s)).collect();
    assert_eq!(hosts, expected);
    let per_file = serial.per_file();
    for path in BASIC_FILES {
        assert_eq!(report.file(path).counts(), per_file.get(*path).copied().unwrap_or_default(), "{path}");
    }
    run.assert_stdout_contains("rspec ./spec/math_spec.rb:6");
    // The copy landed in each host's default remote dir, under its home.
    for h in bed.hosts() {
        let out = bed.ssh(bed.hosts().iter().position(|x| x.name == h.name).unwrap(), "ls -d .cache/testbot/project-*/spec");
        assert!(out.status.success(), "{}: {}", h.name, String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn unknown_host_key_is_refused_under_strict_with_its_fingerprint() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_basic");
    let empty = p.outside("known_hosts_empty");
    fs::write(&empty, "").unwrap();
    let toml = bed.inventory_toml(1).replace(&bed.known_hosts().to_string_lossy().into_owned(), &empty.to_string_lossy());
    p.write("testbot.toml", &toml);
    let run = p.testbot(["spec/passing_spec.rb"]).run();
    run.assert_exit(3);
    run.assert_output_contains("host `host1` is not in known_hosts");
    // The fingerprint is the host's own ed25519 key (its first HostKey), and the ssh-keyscan
    // line trusts exactly this host and port.
    let host = &bed.hosts()[0];
    let fingerprint = key_fingerprint(&host.host_key_pub);
    run.assert_output_contains(&format!("it offered the ssh-ed25519 key {fingerprint}"));
    run.assert_output_contains(&format!("`ssh-keyscan -p {} 127.0.0.1 >> {}`", host.port, empty.display()));
    run.assert_output_contains("host_key_checking = \"accept-new\"");
    assert_eq!(fs::read_to_string(&empty).unwrap(), "", "strict never writes known_hosts");
}

#[test]
fn accept_new_records_the_key_then_strict_accepts_it() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_basic");
    let kh = p.outside("known_hosts_new");
    fs::write(&kh, "").unwrap();
    let toml = bed.inventory_toml(1).replace(&bed.known_hosts().to_string_lossy().into_owned(), &kh.to_string_lossy());
    p.write("testbot.toml", &toml.replace("\"strict\"", "\"accept-new\""));
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["spec/passing_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(0);
    assert_eq!(report.hosts().iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["host1"]);
    let recorded = fs::read_to_string(&kh).unwrap();
    let port = bed.hosts()[0].port;
    assert_eq!(recorded.lines().count(), 1, "{recorded}");
    assert!(recorded.starts_with(&format!("[127.0.0.1]:{port} ")), "{recorded}");
    p.write("testbot.toml", &toml);
    p.testbot(["spec/passing_spec.rb"]).run().assert_exit(0);
}

#[test]
fn changed_host_key_is_refused_even_under_accept_new() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_basic");
    // host2's key filed under host1's address: host1 now offers a "changed" key.
    let (h1, h2) = (&bed.hosts()[0], &bed.hosts()[1]);
    let key2 = fs::read_to_string(&h2.host_key_pub).unwrap();
    let forged = p.outside("known_hosts_forged");
    let key2: Vec<&str> = key2.split_whitespace().collect();
    fs::write(&forged, format!("[127.0.0.1]:{} {} {}\n", h1.port, key2[0], key2[1])).unwrap();
    let toml = bed.inventory_toml(1).replace(&bed.known_hosts().to_string_lossy().into_owned(), &forged.to_string_lossy());
    let toml = toml.replace("\"strict\"", "\"accept-new\"");
    // Only host1 in the run.
    let (hosts, ssh) = toml.split_once("[ssh]").unwrap();
    let host1_only: Vec<&str> = hosts.split("[[host]]").filter(|s| !s.contains(&format!("port = {}", h2.port))).collect();
    let host1_only = format!("{}[ssh]{ssh}", host1_only.join("[[host]]"));
    p.write("testbot.toml", &host1_only);
    let run = p.testbot(["spec/passing_spec.rb"]).run();
    run.assert_exit(3);
    run.assert_output_contains("has CHANGED");
    run.assert_output_contains("man-in-the-middle");
    run.assert_output_contains("line 1 of");
}

#[test]
fn a_key_the_host_does_not_know_names_the_host() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_basic");
    let stranger = p.outside("stranger_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(status.success());
    let toml = bed.inventory_toml(1).replace(&bed.client_key().to_string_lossy().into_owned(), &stranger.to_string_lossy());
    p.write("testbot.toml", &toml);
    let run = p.testbot(["spec/passing_spec.rb"]).run();
    run.assert_exit(3);
    run.assert_output_contains("failed to authenticate to host `host1`");
}

#[test]
fn an_unreachable_host_is_skipped_with_a_warning() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_basic");
    let dead = free_port();
    let toml = format!(
        "[[host]]\nname = \"gone\"\naddress = \"127.0.0.1\"\nport = {dead}\nidentity = \"{}\"\nslots = 1\n\n{}",
        bed.client_key().display(),
        bed.inventory_toml(1)
    );
    p.write("testbot.toml", &toml);
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["spec/passing_spec.rb", "spec/pending_spec.rb"])
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(0);
    run.assert_output_contains("host `gone` is left out of this run");
    let names: BTreeSet<String> = report.hosts().into_iter().map(|h| h.name).collect();
    assert_eq!(names, ["host1", "host2"].iter().map(|s| s.to_string()).collect());
    assert_eq!(report.totals().files, 2);
    let warnings = report.json["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("gone")), "{warnings:?}");
}

#[test]
fn a_file_name_with_shell_syntax_runs_green_and_runs_nothing_else() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_basic");
    let name = "spec/it's $(touch pwned) a b_spec.rb";
    p.write(name, "RSpec.describe 'quoted' do\n  it('passes') { expect(1).to eq(1) }\nend\n");
    p.write("testbot.toml", &bed.inventory_toml(2));
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot([name, "spec/passing_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(0);
    let row = report.file(name);
    assert_eq!((row.examples, row.status.as_str(), row.host.as_str()), (1, "passed", "host1"));
    // `touch pwned` ran nowhere: not in the host's home or project copy, not here.
    let out = bed.ssh(0, "find . -name pwned | wc -l");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    assert!(!p.path("pwned").exists());
}

#[test]
fn testbot_hosts_prints_one_row_a_host_and_fails_when_one_is_down() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &bed.inventory_toml(2));
    let run = p.testbot(["hosts"]).run();
    run.assert_exit(0);
    let text = strip_ansi(&run.stdout);
    assert!(text.starts_with("HOST"), "{text}");
    for h in bed.hosts() {
        let row = text.lines().find(|l| l.starts_with(&h.name)).unwrap_or_else(|| panic!("no row for {}: {text}", h.name));
        assert!(row.contains(" ok "), "{row}");
        assert!(row.contains(&h.user), "{row}");
        assert!(row.contains("3.1"), "ruby version in {row}");
    }
    bed.kill_host(1);
    let run = p.testbot(["hosts"]).run();
    run.assert_exit(1);
    let text = strip_ansi(&run.stdout);
    let row = text.lines().find(|l| l.starts_with("host2")).unwrap();
    assert!(row.contains("unreachable"), "{row}");
    assert!(text.lines().find(|l| l.starts_with("host1")).unwrap().contains(" ok "));
}

#[test]
fn an_rsa_key_logs_in_with_sha2_signatures() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_basic");
    let toml = bed.inventory_toml(1).replace(&bed.client_key().to_string_lossy().into_owned(), &bed.rsa_client_key().to_string_lossy());
    p.write("testbot.toml", &toml);
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["spec/passing_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(0);
    assert_eq!(report.file("spec/passing_spec.rb").host, "host1");
    // sshd says the RSA key logged in…
    let host = &bed.hosts()[0];
    let fingerprint = key_fingerprint(bed.rsa_client_key());
    let log = host.log();
    let accepted = format!("Accepted publickey for {} from 127.0.0.1", host.user);
    assert!(
        log.lines().any(|l| l.contains(&accepted) && l.ends_with(&format!("ssh2: RSA {fingerprint}"))),
        "no RSA login {fingerprint} in the sshd log:\n{log}"
    );
    // …and this sshd accepts no SHA-1 (`ssh-rsa`) signature, so it signed with rsa-sha2-*.
    let config = std::process::Command::new("/usr/sbin/sshd").arg("-T").arg("-f").arg(&host.config).output().unwrap();
    let config = String::from_utf8_lossy(&config.stdout);
    let accepted_algs = config.lines().find_map(|l| l.strip_prefix("pubkeyacceptedalgorithms ")).unwrap_or_else(|| panic!("{config}"));
    let algs: Vec<&str> = accepted_algs.split(',').collect();
    assert!(!algs.contains(&"ssh-rsa") && algs.contains(&"rsa-sha2-512"), "{accepted_algs}");
}

#[test]
fn ssh_agent_keys_are_used_when_no_identity_is_given() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_basic");
    let sock = p.outside("agent.sock");
    let agent = std::process::Command::new("ssh-agent").arg("-D").arg("-a").arg(&sock).spawn().unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _agent = Kill(agent);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !sock.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(sock.exists(), "ssh-agent did not start");
    let add = std::process::Command::new("ssh-add").arg(bed.client_key()).env("SSH_AUTH_SOCK", &sock).output().unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let toml: String = bed.inventory_toml(1).lines().filter(|l| !l.starts_with("identity")).map(|l| format!("{l}\n")).collect();
    p.write("testbot.toml", &toml);
    // An empty HOME: no default key files, so only the agent can log in.
    let home = p.out_dir("empty-home");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["spec/passing_spec.rb"])
        .env("SSH_AUTH_SOCK", sock.as_os_str())
        .env("HOME", home.as_os_str())
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(0);
    assert_eq!(report.file("spec/passing_spec.rb").host, "host1");
}

#[test]
fn an_ssh_config_alias_supplies_hostname_port_user_key_and_known_hosts() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_basic");
    // Nothing but the alias: the rest comes from the ssh config (-F).
    p.write("testbot.toml", "[[host]]\nname = \"via-alias\"\naddress = \"host2\"\nslots = 1\n");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["-F", &bed.ssh_config().to_string_lossy(), "spec/passing_spec.rb"])
        .env("HOME", p.out_dir("empty-home").as_os_str())
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(0);
    assert_eq!(report.file("spec/passing_spec.rb").host, "via-alias");
    // It ran as host2's user: the copy is in host2's home, not host1's.
    let listed = |i: usize| bed.ssh(i, "ls -d .cache/testbot/project-* 2>/dev/null | wc -l");
    assert_eq!(String::from_utf8_lossy(&listed(1).stdout).trim(), "1");
    assert_eq!(String::from_utf8_lossy(&listed(0).stdout).trim(), "0");
    // The same through [ssh] config.
    p.write(
        "testbot.toml",
        &format!("[[host]]\nname = \"via-alias\"\naddress = \"host2\"\nslots = 1\n\n[ssh]\nconfig = \"{}\"\n", bed.ssh_config().display()),
    );
    p.testbot(["spec/passing_spec.rb"]).env("HOME", p.out_dir("empty-home").as_os_str()).run().assert_exit(0);
}

#[test]
fn proxy_jump_tunnels_through_another_host() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_basic");
    let h2 = &bed.hosts()[1];
    let base = fs::read_to_string(bed.ssh_config()).unwrap();
    let behind = |jump: &str| {
        format!(
            "{base}\nHost behind\n    HostName 127.0.0.1\n    Port {}\n    User {}\n    IdentityFile {}\n    UserKnownHostsFile {}\n    ProxyJump {jump}\n",
            h2.port,
            h2.user,
            bed.client_key().display(),
            bed.known_hosts().display()
        )
    };
    let config = p.outside("ssh_config_jump");
    fs::write(&config, behind("host1")).unwrap();
    p.write("testbot.toml", "[[host]]\nname = \"behind\"\naddress = \"behind\"\nslots = 1\n");
    let config_arg = config.to_string_lossy().into_owned();
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["-F", config_arg.as_str(), "spec/passing_spec.rb"])
        .env("HOME", p.out_dir("empty-home").as_os_str())
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(0);
    assert_eq!(report.file("spec/passing_spec.rb").host, "behind");
    // A dead jump host: the error names it, so the tunnel really is in the path.
    fs::write(&config, behind(&format!("127.0.0.1:{}", free_port()))).unwrap();
    let run = p.testbot(["-F", config_arg.as_str(), "spec/passing_spec.rb"]).env("HOME", p.out_dir("empty-home").as_os_str()).run();
    run.assert_exit(3);
    run.assert_output_contains("jump host of behind");
}

/// Issue 32 (session 29): on several hosts a forked run's tail batches hold an even share of what
/// is left (`Tuning::forked_on_hosts`), not half of one: over SSH a batch costs more than a local
/// fork. 48 spec files of one size (so one estimate each, by size: no history), one example
/// sleeping 0.5 s each, on 2 sshd hosts × 2 slots: the first wave is 7 files a slot, and the first
/// tail batch takes 20 ÷ 4 = 5 files (main: 2, or 3-4 when a measured boot's floor adds some). The
/// verdict is the files' own: each ran once, all green.
#[test]
fn forked_tail_batches_on_two_hosts_hold_an_even_share_of_what_is_left() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_empty");
    p.write("testbot.toml", &bed.inventory_toml(2));
    for i in 0..48 {
        p.write(&format!("spec/t{i:02}_spec.rb"), &format!("RSpec.describe(\"t{i:02}\") {{ it(\"runs\") {{ sleep 0.5 }} }}\n"));
    }
    let report_path = p.fresh_path("report", "json");
    // Forked batches (the NO_FORK pass of script/test turns them off elsewhere): their tail is the rule.
    let (run, report) = p.testbot(Vec::<String>::new()).env("TESTBOT_NO_FORK", "0").report_to(&report_path).run_with_report();
    run.assert_exit(0);
    report.assert_consistent();
    let batches = report.json["batches"].as_array().unwrap();
    let files = |b: &serde_json::Value| b["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect::<Vec<_>>();
    let mut ran: Vec<String> = batches.iter().flat_map(files).collect();
    ran.sort();
    assert_eq!(ran, (0..48).map(|i| format!("spec/t{i:02}_spec.rb")).collect::<Vec<_>>(), "each file once\n{}", run.dump());
    // Each slot's batches in the order it ran them (the report lists them as they ended).
    let mut by_slot: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
    for b in batches {
        by_slot.entry(b["slot"].as_u64().unwrap()).or_default().push(files(b).len());
    }
    let firsts: Vec<usize> = by_slot.values().map(|sizes| sizes[0]).collect();
    assert_eq!(firsts, [7, 7, 7, 7], "{by_slot:?}");
    // 5, or more when a measured boot past 1.25 s asks for more (main: 2 or 3 below a 1 s boot).
    let largest_tail = by_slot.values().flat_map(|sizes| sizes[1..].iter().copied()).max().unwrap_or(0);
    assert!(largest_tail >= 5, "{by_slot:?}\n{}", run.dump());
}
