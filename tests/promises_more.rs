//! README promises about hosts that need an sshd host set up a particular way: an up-to-date
//! host costs one round trip (counted in sshd's own log), and the slot lease directory works
//! across two users of one machine (two accounts whose sshds share a host key).

mod common;

use common::batches::{max_concurrent, write_suite};
use common::sshd::{Options, Testbed};
use common::*;
use std::time::Duration;

/// The commands (SSH `exec` requests) host `i`'s sshd has served so far, from its DEBUG1 log.
fn execs(bed: &Testbed, i: usize) -> usize {
    bed.hosts()[i].log().matches("req exec").count()
}

#[test]
fn an_up_to_date_host_costs_one_round_trip() {
    let bed = Testbed::start_with(1, Options { log_level: Some("DEBUG1"), ..Options::default() });
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &bed.inventory_toml(1));
    let before = execs(&bed, 0);
    let first = p.testbot(["sync"]).run();
    first.assert_exit(0);
    assert!(first.combined().contains("files sent"), "{}", first.dump());
    let fresh = execs(&bed, 0) - before;
    // Asking, listing and sending: a fresh host costs more than one command.
    assert!(fresh >= 2, "a first sync ran {fresh} commands\n{}", bed.hosts()[0].log());

    // Nothing changed: one command, the one that asks for the manifest's digest.
    let before = execs(&bed, 0);
    let again = p.testbot(["sync"]).run();
    again.assert_exit(0);
    assert!(again.combined().contains("up to date"), "{}", again.dump());
    assert_eq!(execs(&bed, 0) - before, 1, "an up-to-date host ran more than one command\n{}", again.dump());

    // A change costs more again (and the count sees it).
    p.write("spec/changed_spec.rb", "RSpec.describe(\"changed\") { it(\"passes\") { expect(1).to eq(1) } }\n");
    let before = execs(&bed, 0);
    let changed = p.testbot(["sync"]).run();
    changed.assert_exit(0);
    assert!(execs(&bed, 0) - before >= 2, "{}", changed.dump());
}

#[test]
fn the_lease_directory_works_across_two_users() {
    // Two accounts of one machine: host1 and host2 are different unix users whose sshds have
    // the same host key, so both runs lease in the same /tmp/testbot-slots/<host key>/.
    let bed = Testbed::start_with(2, Options { shared_host_key: true, ..Options::default() });
    assert_ne!(bed.hosts()[0].uid, bed.hosts()[1].uid);
    let p = Project::new("rspec_faults");
    // Far more work than the other runs take: user A keeps slot 1 until the test ends it.
    let long: Vec<String> = write_suite(&p, 60, 1.0);
    let files: Vec<String> = long[..4].to_vec();
    // User A (host1) holds slot 1 for the whole test.
    p.write("testbot.toml", &bed.one_host_toml(0, 1));
    let user_b = p.outside("checkout-b");
    copy_tree(&p.root, &user_b);
    std::fs::write(user_b.join("testbot.toml"), bed.one_host_toml(1, 2)).unwrap();
    let user_a_again = p.outside("checkout-a2");
    copy_tree(&p.root, &user_a_again);
    std::fs::write(user_a_again.join("testbot.toml"), bed.one_host_toml(0, 2)).unwrap();

    let first = p.testbot(&long).spawn();
    let started = || bed.user_processes(0).iter().any(|(_, c)| c.contains("rspec"));
    if !wait_until(Duration::from_secs(60), started) {
        first.kill_group();
        panic!("the first run never started\n{}", first.finish(Duration::from_secs(5)).dump());
    }

    // User B sees A's lease on slot 1 and takes slot 2 (creating its lock file in A's directory).
    let second = p.testbot(&files).cwd(&user_b).run();
    second.assert_exit(0);
    second.assert_output_contains("host `host2`: 1 of its 2 slots are in use by other testbot runs; running on slots 2");
    let (most, numbers) = max_concurrent(&bed, 1);
    assert_eq!((most, numbers), (1, vec!["2".to_string()]), "user B's runners ran as slot 2 only");

    // User A again, in another checkout: slot 2's lock file is now B's, and A can lock it.
    let third = p.testbot(&files).cwd(&user_a_again).run();
    third.assert_exit(0);
    third.assert_output_contains("host `host1`: 1 of its 2 slots are in use by other testbot runs; running on slots 2");
    assert!(!third.combined().contains("without slot leases"), "{}", third.dump());

    first.kill_group();
    let _ = first.finish(Duration::from_secs(10));
    // One directory for the machine, with both users' lock files in it: slot 1 made by A's
    // first run, slot 2 by B's.
    let dir = lease_dir(&bed);
    let owner = |n: usize| std::fs::metadata(dir.join(format!("slot-{n}.lock"))).map(|m| std::os::unix::fs::MetadataExt::uid(&m)).ok();
    assert_eq!((owner(1), owner(2)), (Some(bed.hosts()[0].uid), Some(bed.hosts()[1].uid)), "{}", dir.display());
}

/// The lease directory of the test bed's (shared) host key, as testbot names it: the first 20
/// letters and digits of its SHA-256 fingerprint.
fn lease_dir(bed: &Testbed) -> std::path::PathBuf {
    let out = std::process::Command::new("ssh-keygen").arg("-lf").arg(&bed.hosts()[0].host_key_pub).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let fingerprint = text.split_whitespace().nth(1).unwrap_or_else(|| panic!("ssh-keygen -lf: {text}"));
    let key: String = fingerprint.trim_start_matches("SHA256:").chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect();
    std::path::Path::new("/tmp/testbot-slots").join(key)
}
