//! `testbot sync` and the sync before a run, over real OpenSSH sshd hosts on 127.0.0.1
//! (tests/common/sshd.rs). The remote copies are read straight from the hosts' homes (the
//! hosts are local users), and compared entry by entry: type, mode, content, link target.

mod common;

use common::sshd::Testbed;
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the copy goes, under each host user's home.
const REMOTE: &str = "work";
const ODD: &[&str] = &[
    "spec/with space.rb",
    "spec/quote ' and \" .rb",
    "spec/new\nline.rb",
    "spec/ünïcødé ✓.rb",
    "-leading-dash.rb",
    "spec/$(touch pwned).rb",
    "spec/`touch pwned2`;.rb",
];

fn setup(bed: &Testbed) -> Project {
    let p = Project::new("rspec_basic");
    let toml = format!("{}\n[sync]\nremote_dir = \"{REMOTE}\"\n", bed.inventory_toml(1));
    p.write("testbot.toml", &toml);
    p.write(".gitignore", "/log/\n/tmp/\n");
    p.write("log/test.log", "never shipped");
    for (i, name) in ODD.iter().enumerate() {
        p.write(name, &format!("odd {i}\n"));
    }
    p
}

fn sync(p: &Project, args: &[&str]) -> Run {
    let mut all = vec!["sync"];
    all.extend_from_slice(args);
    p.testbot(all).env("XDG_CACHE_HOME", p.outside("cache")).run()
}

fn remote(bed: &Testbed, i: usize) -> PathBuf {
    bed.hosts()[i].home.join(REMOTE)
}

/// Every entry below `dir` (not following links): type, mode, content or target.
fn snapshot(dir: &Path, skip: &[&str]) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, skip: &[&str], out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if skip.contains(&rel.as_str()) {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            let mode = meta.mode() & 0o777;
            if meta.file_type().is_symlink() {
                out.insert(rel, format!("link -> {}", fs::read_link(&path).unwrap().display()));
            } else if meta.is_dir() {
                out.insert(rel, format!("dir {mode:o}"));
                walk(root, &path, skip, out);
            } else {
                out.insert(rel, format!("file {mode:o} {:?}", String::from_utf8_lossy(&fs::read(&path).unwrap())));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, skip, &mut out);
    out
}

/// The host's copy is exactly the project (less what is ignored), also by `diff -r`.
fn assert_exact(p: &Project, bed: &Testbed, i: usize) {
    let local = snapshot(&p.root, &["log", "tmp"]);
    let theirs = snapshot(&remote(bed, i), &[".testbot"]);
    if local != theirs {
        let only_local: Vec<_> = local.iter().filter(|(k, v)| theirs.get(*k) != Some(v)).collect();
        let only_remote: Vec<_> = theirs.iter().filter(|(k, v)| local.get(*k) != Some(v)).collect();
        panic!("host{} differs\nlocal only/different: {only_local:#?}\nremote only/different: {only_remote:#?}", i + 1);
    }
    let diff = Command::new("diff")
        .args(["-r", "--no-dereference", "-x", ".testbot", "-x", "log", "-x", "tmp"])
        .arg(&p.root)
        .arg(remote(bed, i))
        .output()
        .unwrap();
    assert!(diff.status.success(), "diff -r: {}", String::from_utf8_lossy(&diff.stdout));
    // The formatter arrives with the copy.
    assert!(remote(bed, i).join(".testbot/testbot_rspec_formatter.rb").is_file());
}

/// The `testbot sync` line of host `name`.
fn line<'a>(run: &'a Run, name: &str) -> &'a str {
    run.stdout.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no line for {name}\n{}", run.dump()))
}

fn no_pwned(p: &Project, bed: &Testbed) {
    for h in bed.hosts() {
        for dir in [h.home.clone(), h.home.join(REMOTE), h.home.join(REMOTE).join("spec")] {
            for name in ["pwned", "pwned2"] {
                assert!(!dir.join(name).exists(), "{} exists", dir.join(name).display());
            }
        }
    }
    assert!(!p.path("pwned").exists());
}

#[test]
fn sync_is_exact_through_edits_deletions_links_modes_and_odd_names() {
    let bed = Testbed::start(2);
    let p = setup(&bed);
    let first = sync(&p, &["-v"]);
    first.assert_exit(0);
    for (i, name) in ["host1", "host2"].iter().enumerate() {
        assert!(line(&first, name).contains(" ok "), "{}", first.dump());
        assert!(line(&first, name).contains("files sent"), "{}", first.dump());
        assert_exact(&p, &bed, i);
    }
    // Both hosts were empty: one archive, built once, went to both.
    assert_eq!(first.stderr.matches("built the archive").count(), 1, "{}", first.dump());
    assert!(!remote(&bed, 0).join("log").exists(), "ignored files are not shipped");
    no_pwned(&p, &bed);

    // Nothing changed: nothing is sent.
    let again = sync(&p, &[]);
    again.assert_exit(0);
    assert!(line(&again, "host1").contains("up to date"), "{}", again.dump());
    assert!(line(&again, "host2").contains("up to date"), "{}", again.dump());

    // One file changed: one file is sent, in one archive for both hosts (in the same state).
    p.write("spec/support/greeter.rb", "# changed\n");
    let one = sync(&p, &["-v"]);
    one.assert_exit(0);
    assert_eq!(one.stderr.matches("built the archive").count(), 1, "{}", one.dump());
    assert!(line(&one, "host1").contains("1 file sent, 0 deleted"), "{}", one.dump());
    assert_exact(&p, &bed, 0);
    assert_exact(&p, &bed, 1);

    // Edits, deletions (a file, a whole dir), new links, mode changes, a file that becomes a
    // dir and a dir that becomes a file, more odd names.
    p.write("spec/math_spec.rb", "# edited\n");
    fs::remove_file(p.path("spec/pending_spec.rb")).unwrap();
    fs::remove_dir_all(p.path("spec/support")).unwrap();
    p.write("spec/support", "now a file\n");
    fs::remove_file(p.path("spec/empty_spec.rb")).unwrap();
    p.write("spec/empty_spec.rb/inside.rb", "now a dir\n");
    symlink("math_spec.rb", p.path("spec/link_spec.rb")).unwrap();
    symlink("/etc/passwd", p.path("outside-link")).unwrap();
    symlink("does/not/exist", p.path("dangling")).unwrap();
    fs::set_permissions(p.path("spec/passing_spec.rb"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(p.path("spec/nested_spec.rb"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir_all(p.path("empty/dir")).unwrap();
    fs::set_permissions(p.path("empty"), fs::Permissions::from_mode(0o700)).unwrap();
    p.write("spec/-rf", "dash\n");
    p.write("spec/tab\there.rb", "tab\n");
    let many = sync(&p, &[]);
    many.assert_exit(0);
    for i in 0..2 {
        assert_exact(&p, &bed, i);
    }
    let outside = remote(&bed, 0).join("outside-link");
    assert_eq!(fs::read_link(&outside).unwrap(), Path::new("/etc/passwd"), "a link out of the tree stays a link");
    no_pwned(&p, &bed);

    // And removed again.
    fs::remove_dir_all(p.path("empty")).unwrap();
    fs::remove_file(p.path("spec/link_spec.rb")).unwrap();
    for name in ODD {
        fs::remove_file(p.path(name)).unwrap();
    }
    let fewer = sync(&p, &[]);
    fewer.assert_exit(0);
    assert_exact(&p, &bed, 0);
    assert_exact(&p, &bed, 1);
}

#[test]
fn a_directory_replaced_by_a_link_out_of_the_tree_is_never_written_through() {
    let bed = Testbed::start(1);
    let p = setup(&bed);
    let h = &bed.hosts()[0];
    // A place the host user could write to, if anything were written through a link.
    let victim = h.home.join("victim");
    fs::create_dir(&victim).unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o777)).unwrap();
    fs::write(victim.join("b.rb"), "victim\n").unwrap();
    fs::set_permissions(victim.join("b.rb"), fs::Permissions::from_mode(0o666)).unwrap();
    let untouched = || snapshot(&victim, &[]);
    let before = untouched();

    p.write("a/b.rb", "original\n");
    p.write("a/c.rb", "c\n");
    sync(&p, &[]).assert_exit(0);

    // Locally, `a` becomes a link to the victim: it arrives as a link, nothing more.
    fs::remove_dir_all(p.path("a")).unwrap();
    symlink(&victim, p.path("a")).unwrap();
    sync(&p, &[]).assert_exit(0);
    assert_eq!(fs::read_link(remote(&bed, 0).join("a")).unwrap(), victim);
    assert_eq!(untouched(), before);

    // Back to a directory with a changed `a/b.rb`: the link is replaced, not followed.
    fs::remove_file(p.path("a")).unwrap();
    p.write("a/b.rb", "changed\n");
    p.write("a/c.rb", "c\n");
    sync(&p, &[]).assert_exit(0);
    assert_eq!(untouched(), before);
    assert_exact(&p, &bed, 0);

    // By hand on the host, `a` becomes a link to the victim; a plain sync of a change below
    // `a` trusts the host's manifest, but tar meets `a/` first and replaces the link.
    let ra = remote(&bed, 0).join("a");
    fs::remove_dir_all(&ra).unwrap();
    symlink(&victim, &ra).unwrap();
    p.write("a/b.rb", "changed again\n");
    sync(&p, &[]).assert_exit(0);
    assert_eq!(untouched(), before);
    assert!(!fs::symlink_metadata(&ra).unwrap().file_type().is_symlink());
    // The rest of `a` (c.rb) went with the link; --verify brings it back.
    sync(&p, &["--verify"]).assert_exit(0);
    assert_exact(&p, &bed, 0);
    assert_eq!(untouched(), before);
}

#[test]
fn changes_made_on_the_host_are_repaired_by_a_plain_sync_and_by_verify() {
    let bed = Testbed::start(1);
    let p = setup(&bed);
    // A run used the copy (its tests could have changed it): the next sync compares.
    p.testbot(["spec/passing_spec.rb"]).env("XDG_CACHE_HOME", p.outside("cache")).run().assert_exit(0);
    let r = remote(&bed, 0);
    let tamper = || {
        fs::write(r.join("spec/math_spec.rb"), "# edited on the host\n").unwrap();
        fs::remove_file(r.join("spec/passing_spec.rb")).unwrap();
        fs::set_permissions(r.join("spec/nested_spec.rb"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::remove_file(r.join("spec/with space_spec.rb")).unwrap();
        symlink("/tmp", r.join("spec/with space_spec.rb")).unwrap();
    };
    tamper();
    // A test artefact testbot never shipped stays.
    fs::create_dir_all(r.join("tmp")).unwrap();
    fs::write(r.join("tmp/artefact"), "kept\n").unwrap();

    // The host's record of what testbot wrote shows the four changes: no rehashing needed.
    // (Changes by hand after a plain sync, with no run since, are for --verify: below.)
    let plain = sync(&p, &[]);
    plain.assert_exit(0);
    assert!(line(&plain, "host1").contains("4 files sent"), "{}", plain.dump());
    assert!(!line(&plain, "host1").contains("after rehashing"), "{}", plain.dump());
    assert_eq!(fs::read_to_string(r.join("tmp/artefact")).unwrap(), "kept\n", "not testbot's to delete");
    assert_eq!(fs::read_to_string(r.join("spec/math_spec.rb")).unwrap(), fs::read_to_string(p.path("spec/math_spec.rb")).unwrap());

    tamper();
    let verify = sync(&p, &["--verify"]);
    verify.assert_exit(0);
    assert!(line(&verify, "host1").contains("4 files sent"), "{}", verify.dump());
    assert!(line(&verify, "host1").contains("after rehashing"), "{}", verify.dump());
    assert_eq!(fs::read_to_string(r.join("tmp/artefact")).unwrap(), "kept\n", "not testbot's to delete");
    fs::remove_dir_all(r.join("tmp")).unwrap();
    assert_exact(&p, &bed, 0);

    // And a second --verify finds nothing to do.
    fs::create_dir_all(r.join("tmp")).unwrap();
    let clean = sync(&p, &["--verify"]);
    clean.assert_exit(0);
    assert!(line(&clean, "host1").contains("up to date"), "{}", clean.dump());
}

#[test]
fn an_interrupted_sync_keeps_the_old_manifest_and_is_repaired_by_the_next() {
    let bed = Testbed::start(1);
    let p = setup(&bed);
    let h = &bed.hosts()[0];
    sync(&p, &[]).assert_exit(0);
    let state = remote(&bed, 0).join(".testbot/sync");
    let manifests = || -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&state).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.retain(|n| n.starts_with("manifest."));
        names
    };
    let before = manifests();
    assert_eq!(before.len(), 1, "{before:?}");
    // tar cannot write into spec/ once it belongs to root.
    let spec = remote(&bed, 0).join("spec");
    std::os::unix::fs::chown(&spec, Some(0), Some(0)).unwrap();
    p.write("spec/new_spec.rb", "# new\n");
    p.write("aaa_first.rb", "# sent before tar reaches spec/\n");
    fs::remove_file(p.path("spec/error_spec.rb")).unwrap();
    let failed = sync(&p, &[]);
    failed.assert_exit(1);
    assert!(line(&failed, "host1").contains("FAILED"), "{}", failed.dump());
    failed.assert_output_contains("Permission denied");
    assert_eq!(manifests(), before, "the host's manifest did not move");
    assert!(state.join("dirty").exists());
    // --no-sync does not run on a copy whose last sync did not finish: the host is left out
    // with that reason (and with no other host, nothing can run).
    let no_sync = p.testbot(["--no-sync", "spec/passing_spec.rb"]).env("XDG_CACHE_HOME", p.outside("cache")).run();
    no_sync.assert_exit(3);
    no_sync.assert_output_contains(&format!(
        "host `host1` is left out of this run: its last sync to {REMOTE} did not finish: run `testbot sync`, or drop --no-sync"
    ));

    std::os::unix::fs::chown(&spec, Some(h.uid), Some(h.gid)).unwrap();
    let repaired = sync(&p, &[]);
    repaired.assert_exit(0);
    assert!(line(&repaired, "host1").contains("after rehashing"), "{}", repaired.dump());
    assert_exact(&p, &bed, 0);
    assert!(!state.join("dirty").exists());
    assert_eq!(manifests().len(), 1, "the old manifest went");
    assert_ne!(manifests(), before);
    let after = sync(&p, &[]);
    assert!(line(&after, "host1").contains("up to date"), "{}", after.dump());
}

#[test]
fn an_unreadable_local_file_is_named() {
    let bed = Testbed::start(1);
    let p = setup(&bed);
    p.write("spec/secret_spec.rb", "secret\n");
    fs::set_permissions(p.path("spec/secret_spec.rb"), fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads anything: drop the capabilities that let it, so the file is unreadable here too.
    let mut cmd = Command::new("setpriv");
    cmd.args(["--bounding-set=-dac_override,-dac_read_search", "--"]).arg(TESTBOT).arg("sync");
    cmd.current_dir(&p.root).env("XDG_CACHE_HOME", p.outside("cache")).env("NO_COLOR", "1");
    let run = run_with_timeout(cmd, "testbot sync (without DAC capabilities)", TESTBOT_TIMEOUT);
    run.assert_exit(1);
    run.assert_output_contains("spec/secret_spec.rb");
    run.assert_output_contains("Permission denied");
    assert!(!remote(&bed, 0).exists(), "nothing was sent");
}

#[test]
fn no_sync_runs_on_the_hosts_copy_and_names_a_host_never_synced() {
    let bed = Testbed::start(2);
    let p = setup(&bed);
    let both = fs::read_to_string(p.path("testbot.toml")).unwrap();
    // Only host1 is synced.
    let port2 = format!("port = {}", bed.hosts()[1].port);
    let (hosts, rest) = both.split_once("[ssh]").unwrap();
    let host1_only: Vec<&str> = hosts.split("[[host]]").filter(|s| !s.contains(&port2)).collect();
    p.write("testbot.toml", &format!("{}[ssh]{rest}", host1_only.join("[[host]]")));
    sync(&p, &[]).assert_exit(0);
    p.write("testbot.toml", &both);
    // The local copy now fails; the hosts' copy does not.
    p.write("spec/passing_spec.rb", "RSpec.describe('x') { it('fails') { expect(1).to eq(2) } }\n");
    let run = p.testbot(["--no-sync", "spec/passing_spec.rb"]).env("XDG_CACHE_HOME", p.outside("cache")).run();
    run.assert_exit(0);
    run.assert_output_contains("host `host2` is left out of this run: it has never been synced");
    assert!(!remote(&bed, 1).exists(), "--no-sync sent nothing");
    // Without --no-sync the change arrives, on both.
    let synced = p.testbot(["spec/passing_spec.rb"]).env("XDG_CACHE_HOME", p.outside("cache")).run();
    synced.assert_exit(1);
    assert_exact(&p, &bed, 0);
    assert_exact(&p, &bed, 1);
}

#[test]
fn a_full_remote_disk_is_a_clear_error_that_keeps_the_hosts_manifest() {
    let bed = Testbed::start(1);
    let p = setup(&bed);
    let h = &bed.hosts()[0];
    let dir = remote(&bed, 0);
    fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(h.uid), Some(h.gid)).unwrap();
    // A 1 MB disk at the remote dir, mounted where sshd sees it: in its own mount namespace
    // (it goes away with the host).
    let mount = Command::new("nsenter")
        .args(["--target", &h.pid.to_string(), "--mount", "--", "mount", "-t", "tmpfs"])
        .arg("-o")
        .arg(format!("size=1m,uid={},gid={},mode=755", h.uid, h.gid))
        .arg("tmpfs")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(mount.status.success(), "mount: {}", String::from_utf8_lossy(&mount.stderr));
    sync(&p, &[]).assert_exit(0);
    let state = format!("cd {REMOTE}/.testbot/sync && echo manifest.*");
    let digest = bed.ssh(0, &state);
    assert!(digest.status.success());
    p.write("vendor/big.bin", &"x".repeat(2 << 20));
    let full = sync(&p, &[]);
    full.assert_exit(1);
    assert!(line(&full, "host1").contains("FAILED"), "{}", full.dump());
    full.assert_output_contains("No space left on device");
    assert_eq!(bed.ssh(0, &state).stdout, digest.stdout, "the host's manifest did not move");
    // Room again: the next sync repairs the copy.
    fs::remove_dir_all(p.path("vendor")).unwrap();
    p.write("spec/after_spec.rb", "# after\n");
    let repaired = sync(&p, &[]);
    repaired.assert_exit(0);
    assert!(line(&repaired, "host1").contains("after rehashing"), "{}", repaired.dump());
    let listed = bed.ssh(0, &format!("cat {REMOTE}/spec/after_spec.rb; test -e {REMOTE}/vendor && echo vendor is still there; df -k {REMOTE} | tail -n 1"));
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.starts_with("# after\ntmpfs "), "the partly written file went: {listed}");
}

#[test]
fn testbots_own_history_stays_behind_so_an_unchanged_tree_is_up_to_date_after_a_run() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_basic");
    // No .gitignore: tmp/ would be shipped like any other directory.
    p.write("testbot.toml", &format!("{}\n[sync]\nremote_dir = \"{REMOTE}\"\n", bed.inventory_toml(1)));
    p.write("tmp/keep.txt", "the project's own file in tmp/\n");
    // Written by a run only for long files; none of these is.
    p.write("tmp/testbot-examples-rspec.json", "{}\n");
    let files = ["spec/passing_spec.rb", "spec/math_spec.rb"];
    let args = files.to_vec();
    let first = p.testbot(args.clone()).env("XDG_CACHE_HOME", p.outside("cache")).run();
    first.assert_exit(1);
    // The run left its history in the project…
    let own = ["tmp/testbot-runtime-rspec.log", "tmp/testbot-failures-rspec.txt", "tmp/testbot-examples-rspec.json", "tmp/testbot-flaky-rspec.json"];
    for file in own {
        assert!(p.path(file).is_file(), "{file} was not written\n{}", first.dump());
    }
    // …and none of it on the hosts, where the project's own tmp/ file is.
    for i in 0..2 {
        assert!(remote(&bed, i).join("tmp/keep.txt").is_file());
        for file in own {
            assert!(!remote(&bed, i).join(file).exists(), "{file} was shipped to host{}", i + 1);
        }
    }
    // So after a second run (which rewrites the history) the hosts are still up to date.
    let second = p.testbot(args).env("XDG_CACHE_HOME", p.outside("cache")).run();
    second.assert_exit(1);
    // The second run's sync found the first run's history, and left it behind too.
    for i in 0..2 {
        for file in own {
            assert!(!remote(&bed, i).join(file).exists(), "{file} was shipped to host{} by the second run", i + 1);
        }
    }
    let after = sync(&p, &[]);
    after.assert_exit(0);
    assert!(line(&after, "host1").contains("up to date"), "{}", after.dump());
    assert!(line(&after, "host2").contains("up to date"), "{}", after.dump());
}

// Issue 26 (session 25): a host's copy that drifts, memory with large files, Ctrl-C while hashing.

/// An auto-updating snapshot: the spec fails against the committed file and rewrites it (same
/// size) with what it rendered, so that a copy left as the spec wrote it passes next time.
const SNAPSHOT_SPEC: &str = "RSpec.describe 'rendered output' do
  it 'matches its snapshot' do
    path = File.expand_path('fixtures/snapshot.txt', __dir__)
    expected = File.read(path)
    File.write(path, \"rendered!\\n\")
    expect(\"rendered!\\n\").to eq(expected)
  end
end
";

#[test]
fn a_file_a_spec_rewrites_on_a_host_is_sent_again_so_the_next_run_is_red_too() {
    let bed = Testbed::start(1);
    let p = setup(&bed);
    p.write("spec/fixtures/snapshot.txt", "committed\n");
    p.write("spec/fixtures/kept.txt", "kept\n");
    p.write("spec/snapshot_spec.rb", SNAPSHOT_SPEC);
    let snapshot = remote(&bed, 0).join("spec/fixtures/snapshot.txt");
    let run = || p.testbot(["spec/snapshot_spec.rb"]).env("XDG_CACHE_HOME", p.outside("cache")).run();
    let first = run();
    first.assert_exit(1);
    assert_eq!(fs::read_to_string(&snapshot).unwrap(), "rendered!\n", "the spec rewrote the host's copy");
    // The local tree did not change; the host's copy did, and is put back before the next run.
    let second = run();
    second.assert_exit(1);
    second.assert_output_contains("1 failure");
    // `testbot sync` says what it sends again, not "up to date".
    let resync = sync(&p, &[]);
    resync.assert_exit(0);
    assert!(line(&resync, "host1").contains("1 file sent"), "{}", resync.dump());
    assert_eq!(fs::read_to_string(&snapshot).unwrap(), "committed\n");
    assert_exact(&p, &bed, 0);
    // A file removed from the host's copy after a run used it comes back; one made there stays.
    p.testbot(["spec/passing_spec.rb"]).env("XDG_CACHE_HOME", p.outside("cache")).run().assert_exit(0);
    fs::remove_file(remote(&bed, 0).join("spec/fixtures/kept.txt")).unwrap();
    fs::create_dir_all(remote(&bed, 0).join("log")).unwrap();
    fs::write(remote(&bed, 0).join("log/made-by-a-test.log"), "x").unwrap();
    let restored = sync(&p, &[]);
    restored.assert_exit(0);
    assert!(line(&restored, "host1").contains("1 file sent"), "{}", restored.dump());
    assert_eq!(fs::read_to_string(remote(&bed, 0).join("spec/fixtures/kept.txt")).unwrap(), "kept\n");
    assert!(remote(&bed, 0).join("log/made-by-a-test.log").exists());
    let quiet = sync(&p, &[]);
    assert!(line(&quiet, "host1").contains("up to date"), "{}", quiet.dump());
}

/// The peak resident memory (VmHWM, kB) `pid` has reached, if it is still there.
fn peak_kb(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_large_sparse_file_is_streamed_in_bounded_memory_and_arrives_intact() {
    const SIZE: u64 = 1 << 30;
    let bed = Testbed::start(1);
    let p = setup(&bed);
    {
        use std::io::{Seek, SeekFrom, Write};
        fs::create_dir_all(p.path("data")).unwrap();
        let mut f = fs::File::create(p.path("data/big.bin")).unwrap();
        f.write_all(b"head of the file").unwrap();
        f.set_len(SIZE).unwrap();
        f.seek(SeekFrom::Start(SIZE / 2)).unwrap();
        f.write_all(b"middle").unwrap();
        f.seek(SeekFrom::Start(SIZE - 4)).unwrap();
        f.write_all(b"tail").unwrap();
    }
    let running = p.testbot(["sync"]).env("XDG_CACHE_HOME", p.outside("cache")).spawn();
    let pid = running.pid();
    // VmHWM only grows: its last reading is the process's peak up to then.
    let poller = std::thread::spawn(move || {
        let mut peak = 0;
        while let Some(kb) = peak_kb(pid) {
            peak = peak.max(kb);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        peak
    });
    let run = running.finish(std::time::Duration::from_secs(600));
    let peak = poller.join().unwrap();
    eprintln!("testbot sync's peak resident memory: {peak} kB");
    run.assert_exit(0);
    // 64 MB, and a little for each of the project's ~20 files.
    assert!(peak > 0 && peak < 64 * 1024 + 20 * 64, "peak resident memory {peak} kB while sending a {SIZE}-byte file\n{}", run.dump());
    let copy = remote(&bed, 0).join("data/big.bin");
    assert_eq!(fs::metadata(&copy).unwrap().len(), SIZE);
    let cmp = Command::new("cmp").arg(p.path("data/big.bin")).arg(&copy).output().unwrap();
    assert!(cmp.status.success(), "the host's copy differs: {}", String::from_utf8_lossy(&cmp.stdout));
}

/// Bytes `pid` has read so far (`rchar` of /proc/PID/io), if it is still there.
fn read_bytes(pid: u32) -> Option<u64> {
    let io = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines().find_map(|l| l.strip_prefix("rchar: "))?.trim().parse().ok()
}

#[test]
fn ctrl_c_while_new_files_are_hashed_stops_the_hashing() {
    const FILES: usize = 40;
    const SIZE: u64 = 32 << 20;
    let bed = Testbed::start(1);
    let p = setup(&bed);
    fs::create_dir_all(p.path("data")).unwrap();
    for i in 0..FILES {
        let f = fs::File::create(p.path(&format!("data/blob_{i:02}.bin"))).unwrap();
        f.set_len(SIZE).unwrap();
    }
    let cache = p.outside("cache");
    let running = p.testbot(["sync"]).env("XDG_CACHE_HOME", &cache).spawn();
    let pid = running.pid();
    // Once it has read 64 MB of the blobs it is hashing them: interrupt it there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while read_bytes(pid).is_some_and(|n| n < 64 << 20) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let read_then = read_bytes(pid).expect("testbot still running when it had read 64 MB");
    assert!(read_then < FILES as u64 * SIZE / 2, "it read {read_then} bytes before the signal");
    running.signal("INT");
    let run = running.finish(std::time::Duration::from_secs(120));
    run.assert_exit(130);
    // The process's own record: a finished hashing leaves the tree cache, listing every blob;
    // stopped, it leaves none. And nothing reached the host.
    let tree = std::process::Command::new("find").arg(&cache).args(["-name", "tree"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&tree.stdout), "", "the hashing ran to its end\n{}", run.dump());
    assert!(!remote(&bed, 0).join(".testbot/sync").exists() || fs::read_dir(remote(&bed, 0).join(".testbot/sync")).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with("manifest.")));
    assert!(!remote(&bed, 0).join("data").exists());
}
