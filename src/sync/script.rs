//! The shell text a sync runs on a host — `sh`, `tar` and coreutils only — and how its answers
//! are read: the probe (is the directory testbot's, which manifest does it hold), the listing
//! of a copy, and the script that deletes, unpacks and records the new manifest.

use super::manifest::{self, Manifest, RESERVED_DIR, STATE_DIR};
use crate::ssh::quote::quote;

pub(super) fn delta_name(n: usize, digest: &str) -> String {
    format!("manifest.delta.{n:04}.{digest}")
}

/// What a host says about its copy.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Probe {
    /// The digest of the manifest it holds, if it holds one.
    pub digest: Option<String>,
    /// A sync began and did not finish; the digest it was installing, when known.
    pub unfinished: Option<String>,
    /// How that manifest is kept: the whole manifest's digest, then each delta's, in order
    /// (the last one is `digest`).
    pub chain: Vec<String>,
    /// Why the directory is not testbot's to sync into, if it is not.
    pub refusal: Option<Refusal>,
    /// Files and symlinks of the copy that changed or went since a run started using it (by
    /// their ctime, inode and size against `STAT_RECORD`), when asked for (`sync_probe_script`)
    /// and known; None: not asked, or the record is gone (the copy must be listed and hashed).
    pub drifted: Option<Vec<String>>,
}

/// The record, in `STATE_DIR`, of every file and symlink in the copy as testbot left it, taken
/// before a run's tests used it (by the run's probe, or by its sync's unpack): `listing()`'s output.
pub const STAT_RECORD: &str = "stat";

/// Shell text, run in the copy, that prints `CTIME INODE SIZE PATH` and a NUL for every file and symlink
/// (not following links), testbot's state and slots' temp dirs left out, in the order `find`
/// meets them (the same order while no directory changes). A file rewritten, replaced,
/// re-moded or removed after it was recorded no longer has its line.
fn listing() -> String {
    format!(
        "find . \\( -path ./{STATE_DIR} -o -path ./{RESERVED_DIR}/tmp \\) -prune -o \\( -type f -o -type l \\) \
         -printf '%C@ %i %s %P\\0' 2>/dev/null"
    )
}

/// Why a host's remote directory is not testbot's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It is the login directory, or above it.
    Home,
    /// It holds files but no `OWNED_MARK` (nor a sync state): testbot did not make it.
    Foreign,
    /// Something other than a directory is there, or one the user cannot enter.
    NotDir,
    /// Another user could change what runs there (see `strict_modes`).
    Unsafe(UnsafePath),
}

/// A path (the directory, an ancestor, or testbot's mark in it) that another user could change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafePath {
    pub path: String,
    /// Its owner's name (as `stat` prints it) and uid.
    pub owner: String,
    pub uid: u32,
    pub mode: u32,
    /// Whether it is the owner that is wrong (else only the mode: group or others may write).
    pub foreign_owner: bool,
}

/// What the scripts print (the apply script to stderr) for an `UnsafePath`.
const UNSAFE: &str = "refuse:unsafe:";

/// Shell text that enters the directory `cd` entered as it physically is, and sets `$here` to
/// its path (what `pwd -P` prints, by builtins alone: `$(pwd -P)` was a fork).
const HERE: &str = "cd -P . && here=$PWD";

/// Shell text, run in the remote directory (`$here`, from `HERE`), that runs `then` (with `$bad`
/// set to `WHY:UID:OWNER:MODE:PATH`) when another user could change what runs there, as OpenSSH's
/// StrictModes judges it: the directory, or one above it up to the first root-owned sticky one,
/// owned by another user (not root) or writable by group or others (WHY `owner` or `mode`); or
/// testbot's mark in it (`.testbot`, `.testbot/owned`) not the user's own or writable by others.
/// One `stat` for every path (each fork costs the probe a few milliseconds), the user's own
/// uid among them: `/proc/self/` is the `stat` process's own directory, owned by its effective
/// uid (`id -u` cost the probe 1.6 of its 6 ms of CPU, on every host of every run). Where there
/// is no such directory (no /proc, or one of another PID namespace) or it says root's (a process
/// that is not dumpable), `id -u` says it.
fn strict_modes(then: &str) -> String {
    format!(
        "set -- \"$here/.testbot\" \"$here/{OWNED_MARK}\"; p=$here; \
         while :; do set -- \"$@\" \"$p\"; if [ \"$p\" = / ]; then break; fi; p=${{p%/*}}; p=${{p:-/}}; done; \
         bad=$(me=; stat -c '%u %a %U %n' -- /proc/self/ \"$@\" 2>/dev/null | while read -r u m o p; do \
         if [ -z \"$me\" ]; then if [ \"$p\" = /proc/self/ ] && [ \"$u\" != 0 ]; then me=$u; continue; fi; me=$(id -u); \
         if [ \"$p\" = /proc/self/ ]; then continue; fi; fi; \
         mark=0; case $p in \"$here/.testbot\"|\"$here/{OWNED_MARK}\") mark=1;; esac; \
         if [ $mark = 0 ]; then case \"$u $m\" in \"0 1\"???) break;; esac; fi; why=; \
         if [ \"$u\" != \"$me\" ] && {{ [ \"$u\" != 0 ] || [ $mark = 1 ]; }}; then why=owner; \
         elif [ $((0$m & 022)) != 0 ]; then why=mode; fi; \
         if [ -n \"$why\" ]; then printf '%s:%s:%s:%s:%s\\n' \"$why\" \"$u\" \"$o\" \"$m\" \"$p\"; break; fi; done); \
         if [ -n \"$bad\" ]; then {then}; fi; "
    )
}

/// Reads `refuse:unsafe:WHY:UID:OWNER:MODE:PATH`.
fn parse_unsafe(line: &str) -> Option<UnsafePath> {
    let mut parts = line.strip_prefix(UNSAFE)?.splitn(5, ':');
    let why = parts.next()?;
    let uid = parts.next()?.parse().ok()?;
    let owner = parts.next()?.to_string();
    let mode = u32::from_str_radix(parts.next()?, 8).ok()?;
    Some(UnsafePath { path: parts.next()?.to_string(), owner, uid, mode, foreign_owner: why == "owner" })
}

/// The unsafe path the apply script named in its error output, if it named one.
pub fn unsafe_in(stderr: &str) -> Option<UnsafePath> {
    stderr.lines().find_map(parse_unsafe)
}

/// The mark testbot leaves in a remote directory it made (or found empty): only a directory
/// with it (or with a sync state, from before the mark existed) is synced into when not empty.
pub const OWNED_MARK: &str = ".testbot/owned";

pub(super) fn state(dir: &str) -> String {
    quote(&format!("{dir}/{STATE_DIR}"))
}

/// `~/x` means under the remote home, which is where commands start anyway.
pub fn remote_path(dir: &str) -> String {
    dir.strip_prefix("~/").unwrap_or(dir).to_string()
}

/// Whether the directory is testbot's (not the login directory or above it, safe from other
/// users: `strict_modes`, marked, or empty), then its state, from file names. Besides shell
/// builtins, only `id` and one `stat` run.
pub fn probe_script(dir: &str) -> String {
    probe(dir, false, false)
}

/// `probe_script`, then the copy's files that drifted from its record (`STAT_RECORD`): a
/// `drifted:` line, each entry of the record that no longer matches (NUL-terminated), and
/// `drift-status:N`, the status of the comparison; or `drift:unknown` when the record is gone.
/// The copy is listed (`find`, then `cmp` with the record; `sort` and `comm` only when they
/// differ; no file is read) only if a run used it since testbot last wrote it (`USED_MARK`):
/// otherwise nothing but testbot changed it, and no drift is reported. `run`: this sync is a
/// run's, whose tests use the copy next: a copy not marked used yet is recorded as it is (one
/// listing) and marked.
pub fn sync_probe_script(dir: &str, run: bool) -> String {
    probe(dir, true, run)
}

/// `probe_script` for a run on the copy as it is (`--no-sync`): marks the copy used.
pub fn used_probe_script(dir: &str) -> String {
    probe(dir, false, true)
}

/// In `STATE_DIR`: a run used the copy since `STAT_RECORD` was written (its tests may have
/// changed files), so the next sync compares the copy with the record.
pub const USED_MARK: &str = "used";

fn probe(dir: &str, compare: bool, mark: bool) -> String {
    let d = quote(dir);
    let mut drift = String::new();
    if compare {
        drift.push_str(&format!(
            "if [ -e {USED_MARK} ]; then if [ -f {STAT_RECORD} ]; then echo drifted:; \
             ( cd -- \"$here\" && {listing} ) | cmp -s -- - {STAT_RECORD} || \
             {{ ( cd -- \"$here\" && {listing} ) | LC_ALL=C sort -z > {STAT_RECORD}.now && \
             LC_ALL=C sort -z -- {STAT_RECORD} | LC_ALL=C comm -z -23 -- - {STAT_RECORD}.now; }}; \
             printf '\\0drift-status:%s\\n' \"$?\"; if [ -e {STAT_RECORD}.now ] || [ -L {STAT_RECORD}.now ]; then rm -f -- {STAT_RECORD}.now; fi; \
             else echo drift:unknown; fi; else printf 'drifted:\\n\\0drift-status:0\\n'; fi; ",
            listing = listing()
        ));
    }
    if mark {
        // The copy as testbot left it, recorded before the run's tests can change it.
        drift.push_str(&format!(
            "if [ ! -e {USED_MARK} ]; then {{ ( cd -- \"$here\" && {listing} ) > {STAT_RECORD}.new && \
             mv -f -- {STAT_RECORD}.new {STAT_RECORD} && : > {USED_MARK}; }} 2>/dev/null || rm -f -- {STAT_RECORD}.new; fi",
            listing = listing()
        ));
    }
    format!(
        "if [ ! -e {d} ] && [ ! -L {d} ]; then exit 0; fi; \
         cd -- {d} 2>/dev/null && {HERE} 2>/dev/null || {{ echo refuse:notdir; exit 0; }}; \
         home=$(cd -- \"$HOME\" 2>/dev/null && pwd -P); \
         if [ -n \"$home\" ]; then case \"$home/\" in \"${{here%/}}\"/*) echo refuse:home; exit 0;; esac; fi; \
         {strict}{owned_or_refuse}\
         cd -- {STATE_DIR} 2>/dev/null || exit 0; \
         for f in manifest.*; do if [ -f \"$f\" ]; then echo \"digest:${{f#manifest.}}\"; fi; done; \
         if [ -e dirty ]; then d=; read -r d < dirty; echo \"dirty:$d\"; fi; {drift}",
        owned_or_refuse = not_owned("echo refuse:foreign; exit 0"),
        strict = strict_modes(&format!("echo \"{UNSAFE}$bad\"; exit 0")),
    )
}

/// Shell text, run in the remote directory, that runs `then` when the directory holds files
/// but neither `OWNED_MARK` nor a sync state.
fn not_owned(then: &str) -> String {
    format!(
        "if [ ! -f {OWNED_MARK} ] && [ ! -d {STATE_DIR} ]; then \
         for f in * .[!.]* ..?*; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then {then}; fi; done; fi; "
    )
}

pub fn parse_probe(out: &[u8]) -> Probe {
    let (head, drift) = match out.windows(DRIFTED.len()).position(|w| w == DRIFTED).filter(|&i| i == 0 || out[i - 1] == b'\n') {
        Some(i) => (&out[..i], Some(&out[i + DRIFTED.len()..])),
        None => (out, None),
    };
    let mut probe = parse_state(head);
    probe.drifted = drift.and_then(parse_drift);
    probe
}

const DRIFTED: &[u8] = b"drifted:\n";

/// The paths in the record's entries that no longer match (`CTIME INODE SIZE PATH`, each
/// NUL-terminated), if the comparison that found them succeeded.
fn parse_drift(out: &[u8]) -> Option<Vec<String>> {
    let mut items: Vec<&[u8]> = out.split(|&b| b == 0).collect();
    let status = items.pop()?;
    if status != b"drift-status:0\n" {
        return None;
    }
    let mut paths = Vec::new();
    for item in items.into_iter().filter(|i| !i.is_empty()) {
        let mut fields = item.splitn(4, |&b| b == b' ');
        let path = fields.nth(3)?;
        paths.push(String::from_utf8_lossy(path).into_owned());
    }
    Some(paths)
}

/// The probe's lines before any drift report.
fn parse_state(out: &[u8]) -> Probe {
    let text = String::from_utf8_lossy(out);
    let mut probe = Probe::default();
    let hex = |v: &str| Some(v.trim().to_string()).filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    let mut whole = Vec::new();
    let mut deltas = Vec::new();
    let mut odd = false;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("digest:") {
            // `manifest.DIGEST` is a whole manifest, `manifest.delta.NNNN.DIGEST` a delta.
            match v.strip_prefix("delta.").and_then(|d| d.split_once('.')) {
                Some((n, d)) => match (n.parse::<usize>(), hex(d)) {
                    (Ok(n), Some(d)) if n.to_string().len() <= 4 && n > 0 => deltas.push((n, d)),
                    _ => odd = true,
                },
                None => match hex(v) {
                    Some(d) => whole.push(d),
                    None => odd = true,
                },
            }
        } else if let Some(v) = line.strip_prefix("dirty:") {
            probe.unfinished = Some(hex(v).unwrap_or_default());
        } else if let Some(v) = line.strip_prefix("refuse:") {
            probe.refusal = match v.trim() {
                "home" => Some(Refusal::Home),
                "notdir" => Some(Refusal::NotDir),
                _ => match parse_unsafe(line) {
                    Some(path) => Some(Refusal::Unsafe(path)),
                    None => Some(Refusal::Foreign),
                },
            };
        }
    }
    deltas.sort();
    // Anything but one well-formed manifest and deltas 1..=n reads as none: the host gets rescanned.
    if let ([base], false) = (whole.as_slice(), odd) {
        if deltas.iter().enumerate().all(|(i, (n, _))| *n == i + 1) {
            probe.chain = std::iter::once(base.clone()).chain(deltas.into_iter().map(|(_, d)| d)).collect();
            probe.digest = probe.chain.last().cloned();
        }
    }
    probe
}

/// Lists the copy without following links, then hashes its files; testbot's state is left out.
pub fn scan_script(dir: &str) -> String {
    let dir = quote(dir);
    format!(
        "cd -- {dir} 2>/dev/null || {{ printf 'testbot-hashes\\0'; exit 0; }}; \
         find . -mindepth 1 -path ./{STATE_DIR} -prune -o -printf '%y\\0%m\\0%s\\0%P\\0%l\\0'; \
         printf 'testbot-hashes\\0'; \
         find . -mindepth 1 -path ./{STATE_DIR} -prune -o -type f -print0 | xargs -0 -r sha256sum -z -- 2>/dev/null; \
         exit 0"
    )
}

/// The state file a payload leaves on the host, last in its tar: its name in `STATE_DIR`, and
/// whether it is a whole manifest (`compact`: it replaces the host's manifest and deltas) or a
/// delta on top of them.
#[derive(Clone, Copy, Debug)]
pub struct StateFile<'a> {
    pub name: &'a str,
    pub compact: bool,
}

/// Makes the directory (or checks that it is testbot's: marked, or empty) and marks it,
/// marks the copy unfinished, deletes the paths on the list (each alone, deepest first; a
/// directory only once it is empty; refusing any path below a symlink), unpacks (the new
/// state file `state`, a manifest or a delta, comes last in the tar), and only after tar
/// succeeded, for a run's sync (`run`), records the copy's files (`STAT_RECORD`) and marks it
/// used (else drops that mark: only testbot changed the copy since), and
/// drops the mark and, for a whole manifest (`compact`), the old manifest and deltas.
/// Any failure leaves the mark, so the next sync lists the copy instead of trusting a
/// manifest. Besides `tar`, `rm`, `rmdir` and the listing (`find`, `mv`), only shell builtins run.
pub fn apply_script(dir: &str, delete_len: usize, digest: &str, state: StateFile, run: bool) -> String {
    let StateFile { name: state, compact } = state;
    let d = quote(dir);
    let deletions = if delete_len == 0 {
        String::new()
    } else {
        // `head -c` passes exactly this many bytes of the pipe on (leaving the tar to tar) and
        // nothing goes to disk, which may be full. Each item is `LEN:./PATH`: an item cut short
        // by a lost connection fails its length check, and nothing of its batch is deleted.
        // Files and links go first (one `rm`, in a subshell that keeps the list), then the
        // directories, deepest first, and only those left empty.
        format!(
            "head -c {delete_len} | LC_ALL=C xargs -0 -r sh -c '\
             for a; do p=${{a#*:}}; if [ \"${{a%%:*}}\" != \"${{#p}}\" ]; then echo \"the deletion list arrived damaged\" >&2; exit 1; fi; \
             d=${{p%/*}}; while [ \"$d\" != . ]; do \
             if [ -L \"$d\" ]; then echo \"refusing to delete $p: $d is a symlink\" >&2; exit 1; fi; d=${{d%/*}}; done; done; \
             ( n=$#; for a; do p=${{a#*:}}; if [ -L \"$p\" ] || [ ! -d \"$p\" ]; then set -- \"$@\" \"$p\"; fi; done; shift $n; \
             if [ $# -gt 0 ]; then exec rm -f -- \"$@\"; fi ) || exit 1; \
             n=$#; for a; do p=${{a#*:}}; if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then set -- \"$@\" \"$p\"; fi; done; shift $n; \
             if [ $# -gt 0 ]; then rmdir -- \"$@\" 2>/dev/null; fi; exit 0' sh || exit 1; "
        )
    };
    let state = quote(state);
    let old = if compact {
        format!("for f in $s/manifest.*; do if [ \"$f\" != $s/{state} ]; then set -- \"$@\" \"$f\"; fi; done; ")
    } else {
        String::new()
    };
    let dir_text = dir.replace(['\'', '\n'], "?");
    let foreign = not_owned(&format!(
        "echo 'refusing to sync into {dir_text}: it holds files testbot did not put there (it has no {OWNED_MARK}); \
         empty it, or choose another remote_dir in testbot.toml' >&2; exit 1"
    ));
    let strict = strict_modes(&format!("echo \"{UNSAFE}$bad\" >&2; exit 1"));
    format!(
        "umask 022; s={STATE_DIR}; \
         if [ -e {d} ] || [ -L {d} ]; then cd -- {d} || exit 1; {foreign}else mkdir -p -- {d} && cd -- {d} || exit 1; fi; \
         {HERE} || exit 1; {strict}\
         if [ ! -d $s ]; then mkdir -p -- $s || exit 1; fi; if [ ! -f {OWNED_MARK} ]; then : > {OWNED_MARK} || exit 1; fi; \
         printf '%s\\n' {digest} > $s/dirty || exit 1; \
         {deletions}\
         tar -x -p --no-same-owner -f - || {{ rm -f $s/{state}; exit 1; }}; \
         {record}\
         set -- $s/dirty; {old}rm -f -- \"$@\"",
        // A run's tests come next: the copy as it now is, recorded, and marked used. Otherwise
        // no run used it since: the next run's probe records it before its tests.
        record = if run {
            format!(
                "{{ {listing} > $s/{STAT_RECORD}.new && mv -f -- $s/{STAT_RECORD}.new $s/{STAT_RECORD} && : > $s/{USED_MARK}; }} || \
                 rm -f -- $s/{STAT_RECORD} $s/{STAT_RECORD}.new; ",
                listing = listing()
            )
        } else {
            format!("rm -f -- $s/{USED_MARK}; ")
        },
    )
}

/// The manifest that a host's files (`manifest.D0`, then its deltas, each followed by a NUL)
/// add up to, if the whole manifest has its digest and the result has the last one.
pub fn manifest_from_chain(text: &str, chain: &[String]) -> Option<Manifest> {
    let mut files = text.split('\0');
    let whole = files.next()?;
    if manifest::digest_of(whole.as_bytes()) != chain[0] {
        return None;
    }
    let mut m = Manifest::parse(whole).ok()?;
    for _ in 1..chain.len() {
        m.apply_delta(files.next()?).ok()?;
    }
    (files.next() == Some("") && files.next().is_none() && m.digest() == *chain.last()?).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::local::Local;
    use std::io::Write;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::Path;
    use std::process::{Command, Stdio};

    #[test]
    fn probe_output_is_read() {
        let d = "a".repeat(64);
        assert_eq!(parse_probe(b""), Probe::default());
        assert_eq!(parse_probe(format!("digest:{d}\n").as_bytes()), Probe { digest: Some(d.clone()), unfinished: None, chain: vec![d.clone()], refusal: None, drifted: None });
        assert_eq!(
            parse_probe(format!("digest:junk\ndirty:{d}\n").as_bytes()),
            Probe { digest: None, unfinished: Some(d.clone()), chain: vec![], refusal: None, drifted: None }
        );
        assert_eq!(parse_probe(b"dirty:\n").unfinished, Some(String::new()));
    }

    /// Runs a script the way sshd would (`sh -c`), in `home`, with `stdin`.
    fn sh(home: &Path, script: &str, stdin: &[u8]) -> (bool, String, String) {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let bytes = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&bytes);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Plans from `base`, applies on a local "host" dir with the whole manifest.
    fn apply(local: &Local, base: &Manifest, home: &Path, dir: &str) -> (bool, String) {
        let plan = manifest::plan(base, &local.manifest);
        let state = format!("manifest.{}", local.digest);
        let payload = local.payload(&plan, &state, &local.text).unwrap();
        let (ok, _, err) = sh(home, &apply_script(dir, payload.delete_len, &local.digest, StateFile { name: &state, compact: true }, false), &local.payload_bytes(&payload));
        (ok, err)
    }

    /// The same with a delta from `base`, as the host's `n`th; `cut` stops the payload inside the last file.
    fn apply_delta(local: &Local, base: &Manifest, home: &Path, dir: &str, n: usize, cut: bool) -> (bool, String) {
        let plan = manifest::plan(base, &local.manifest);
        let state = delta_name(n, &local.digest);
        let payload = local.payload(&plan, &state, &local.manifest.delta_from(base)).unwrap();
        let mut bytes = local.payload_bytes(&payload);
        if cut {
            bytes.truncate(bytes.len() - 3000);
        }
        let (ok, _, err) = sh(home, &apply_script(dir, payload.delete_len, &local.digest, StateFile { name: &state, compact: false }, false), &bytes);
        (ok, err)
    }

    fn probe_of(home: &Path, dir: &str) -> Probe {
        parse_probe(sh(home, &probe_script(dir), b"").1.as_bytes())
    }

    /// What `known_manifest` fetches when the local store lacks the host's manifest.
    fn fetch(home: &Path, dir: &str, chain: &[String]) -> Option<Manifest> {
        let names: Vec<String> =
            std::iter::once(format!("manifest.{}", chain[0])).chain(chain[1..].iter().enumerate().map(|(i, d)| delta_name(i + 1, d))).collect();
        let mut text = String::new();
        for n in names {
            text.push_str(&std::fs::read_to_string(home.join(dir).join(STATE_DIR).join(n)).ok()?);
            text.push('\0');
        }
        manifest_from_chain(&text, chain)
    }

    #[test]
    fn hosts_keep_deltas_that_add_up_to_the_manifest_and_a_whole_one_replaces_them() {
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let p = src.path();
        std::fs::create_dir(p.join("a")).unwrap();
        for f in ["a/1", "a/2", "b"] {
            std::fs::write(p.join(f), f).unwrap();
        }
        let build = || Local::build(p, &[], &[], Vec::new(), None).unwrap();
        let first = build();
        assert!(apply(&first, &Manifest::default(), home.path(), "d").0);
        // Two small changes go as deltas; the copy stays exact and the chain adds up.
        std::fs::write(p.join("a/1"), "edited").unwrap();
        let second = build();
        let (ok, err) = apply_delta(&second, &first.manifest, home.path(), "d", 1, false);
        assert!(ok, "{err}");
        std::fs::remove_file(p.join("b")).unwrap();
        let third = build();
        let (ok, err) = apply_delta(&third, &second.manifest, home.path(), "d", 2, false);
        assert!(ok, "{err}");
        assert_eq!(scan(home.path(), "d"), third.manifest);
        let probe = probe_of(home.path(), "d");
        assert_eq!(probe.chain, [first.digest.clone(), second.digest.clone(), third.digest.clone()]);
        assert_eq!((probe.digest.as_deref(), probe.unfinished.as_deref()), (Some(third.digest.as_str()), None));
        assert_eq!(fetch(home.path(), "d", &probe.chain), Some(third.manifest.clone()));
        // Files that do not add up to the digest they claim are not believed.
        let state = home.path().join("d").join(STATE_DIR);
        let text = [format!("manifest.{}", first.digest), delta_name(1, &second.digest)]
            .map(|n| std::fs::read_to_string(state.join(n)).unwrap() + "\0")
            .concat();
        assert_eq!(manifest_from_chain(&text, &[first.digest.clone(), second.digest.clone()]), Some(second.manifest.clone()));
        assert_eq!(manifest_from_chain(&text, &[first.digest.clone(), third.digest.clone()]), None);
        assert_eq!(manifest_from_chain(&text, &[second.digest.clone(), second.digest.clone()]), None);
        assert_eq!(manifest_from_chain(&text, std::slice::from_ref(&first.digest)), None, "a file left over");

        // An interrupted delta leaves the chain as it was, and the mark.
        std::fs::write(p.join("a/2"), "x".repeat(4096)).unwrap();
        let fourth = build();
        let (ok, _) = apply_delta(&fourth, &third.manifest, home.path(), "d", 3, true);
        assert!(!ok);
        let probe = probe_of(home.path(), "d");
        assert_eq!(probe.digest.as_deref(), Some(third.digest.as_str()));
        assert_eq!(probe.unfinished.as_deref(), Some(fourth.digest.as_str()));
        assert_eq!(probe.chain.len(), 3);

        // The next sync (after listing the copy) sends the whole manifest: one file again.
        let (ok, err) = apply(&fourth, &scan(home.path(), "d"), home.path(), "d");
        assert!(ok, "{err}");
        let probe = probe_of(home.path(), "d");
        assert_eq!(probe, Probe { digest: Some(fourth.digest.clone()), unfinished: None, chain: vec![fourth.digest.clone()], refusal: None, drifted: None });
        let mut left: Vec<_> = std::fs::read_dir(home.path().join("d").join(STATE_DIR)).unwrap().map(|e| e.unwrap().file_name()).collect();
        left.sort();
        assert_eq!(left, [std::ffi::OsString::from(format!("manifest.{}", fourth.digest))]);
        assert_eq!(scan(home.path(), "d"), fourth.manifest);
    }

    #[test]
    fn a_broken_chain_reads_as_no_manifest() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let gap = format!("digest:{a}\ndigest:delta.0002.{b}\n");
        assert_eq!(parse_probe(gap.as_bytes()).digest, None);
        let junk = format!("digest:{a}\ndigest:delta.x.{b}\n");
        assert_eq!(parse_probe(junk.as_bytes()).digest, None);
        let ok = format!("digest:delta.0001.{b}\ndigest:{a}\n");
        assert_eq!(parse_probe(ok.as_bytes()).chain, [a.clone(), b.clone()]);
    }

    fn scan(home: &Path, dir: &str) -> Manifest {
        let out = Command::new("sh").arg("-c").arg(scan_script(dir)).current_dir(home).output().unwrap();
        manifest::parse_remote_scan(&out.stdout, &|p| !p.starts_with(".testbot")).unwrap()
    }

    #[test]
    fn scripts_sync_a_local_dir_exactly_and_never_write_through_a_symlink() {
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let dir = "copy dir";
        let p = src.path();
        let names = ["a/b", "-rf", "odd\nname 'q' \"$(touch pwned)\"", "é ü"];
        for n in names {
            std::fs::create_dir_all(p.join(n).parent().unwrap()).unwrap();
            std::fs::write(p.join(n), n).unwrap();
        }
        let build = || Local::build(p, &[], &[], Vec::new(), None).unwrap();
        let first = build();
        let (ok, err) = apply(&first, &Manifest::default(), home.path(), dir);
        assert!(ok, "{err}");
        assert_eq!(scan(home.path(), dir), first.manifest);
        let probe = parse_probe(sh(home.path(), &probe_script(dir), b"").1.as_bytes());
        assert_eq!(probe, Probe { digest: Some(first.digest.clone()), unfinished: None, chain: vec![first.digest.clone()], refusal: None, drifted: None });
        assert!(!home.path().join("pwned").exists() && !home.path().join(dir).join("pwned").exists());

        // `a` becomes a link out of the tree; nothing is written through it.
        std::fs::remove_dir_all(p.join("a")).unwrap();
        symlink(outside.path(), p.join("a")).unwrap();
        std::fs::remove_file(p.join("-rf")).unwrap();
        let second = build();
        let (ok, err) = apply(&second, &first.manifest, home.path(), dir);
        assert!(ok, "{err}");
        assert_eq!(scan(home.path(), dir), second.manifest);
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);

        // And back to a directory, from a host whose manifest is stale (it still thinks `a`
        // is a directory): tar meets `a/` first and replaces the link instead of following it.
        std::fs::remove_file(p.join("a")).unwrap();
        std::fs::create_dir(p.join("a")).unwrap();
        std::fs::write(p.join("a/b"), "new").unwrap();
        let third = build();
        let (ok, err) = apply(&third, &Manifest::default(), home.path(), dir);
        assert!(ok, "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        assert_eq!(std::fs::read_to_string(home.path().join(dir).join("a/b")).unwrap(), "new");
        assert!(!std::fs::symlink_metadata(home.path().join(dir).join("a")).unwrap().file_type().is_symlink());
    }

    #[test]
    fn deletion_below_a_symlink_is_refused_and_leaves_the_mark() {
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("a")).unwrap();
        std::fs::write(src.path().join("a/b"), "b").unwrap();
        let first = Local::build(src.path(), &[], &[], Vec::new(), None).unwrap();
        assert!(apply(&first, &Manifest::default(), home.path(), "d").0);
        // By hand on the host: `a` now points outside, where a `b` lives.
        std::fs::write(outside.path().join("b"), "keep").unwrap();
        std::fs::remove_dir_all(home.path().join("d/a")).unwrap();
        symlink(outside.path(), home.path().join("d/a")).unwrap();
        std::fs::remove_file(src.path().join("a/b")).unwrap();
        let second = Local::build(src.path(), &[], &[], Vec::new(), None).unwrap();
        let (ok, err) = apply(&second, &first.manifest, home.path(), "d");
        assert!(!ok);
        assert!(err.contains("refusing to delete ./a/b"), "{err}");
        assert_eq!(std::fs::read_to_string(outside.path().join("b")).unwrap(), "keep");
        let probe = parse_probe(sh(home.path(), &probe_script("d"), b"").1.as_bytes());
        assert_eq!(probe, Probe { digest: Some(first.digest.clone()), unfinished: Some(second.digest.clone()), chain: vec![first.digest.clone()], refusal: None, drifted: None });
    }

    #[test]
    fn a_deletion_list_cut_short_deletes_nothing() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("d/gone dir")).unwrap();
        std::fs::write(home.path().join("d/gone dir/x"), "x").unwrap();
        std::fs::write(home.path().join("d/gone"), "x").unwrap();
        std::fs::create_dir_all(home.path().join("d/.testbot")).unwrap();
        std::fs::write(home.path().join("d").join(OWNED_MARK), "").unwrap();
        // `./gone dir` arrives as `./gone`: a real path, but not the one sent.
        let (ok, _, err) = sh(home.path(), &apply_script("d", 16, &"0".repeat(64), StateFile { name: &format!("manifest.{}", "0".repeat(64)), compact: true }, false), b"12:./gone");
        assert!(!ok);
        assert!(err.contains("the deletion list arrived damaged"), "{err}");
        assert!(home.path().join("d/gone").exists() && home.path().join("d/gone dir/x").exists());
    }

    #[test]
    fn a_deletion_removes_only_what_was_sent_and_keeps_what_was_made_on_the_host() {
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let p = src.path();
        for f in [".cache/x/a", ".cache/y", "keep"] {
            std::fs::create_dir_all(p.join(f).parent().unwrap()).unwrap();
            std::fs::write(p.join(f), f).unwrap();
        }
        let build = || Local::build(p, &[], &[], Vec::new(), None).unwrap();
        let first = build();
        assert!(apply(&first, &Manifest::default(), home.path(), "d").0);
        // Made on the host, never sent: another project's copy inside a sent directory.
        let theirs = home.path().join("d/.cache/x/other/copy");
        std::fs::create_dir_all(theirs.parent().unwrap()).unwrap();
        std::fs::write(&theirs, "not testbot's").unwrap();
        std::fs::remove_dir_all(p.join(".cache")).unwrap();
        let second = build();
        let plan = manifest::plan(&first.manifest, &second.manifest);
        assert_eq!(plan.delete, [".cache/y", ".cache/x/a", ".cache/x", ".cache"]);
        let (ok, err) = apply(&second, &first.manifest, home.path(), "d");
        assert!(ok, "{err}");
        assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "not testbot's");
        assert!(!home.path().join("d/.cache/x/a").exists() && !home.path().join("d/.cache/y").exists());
        assert!(home.path().join("d/keep").exists());
        // Directories left empty go.
        std::fs::create_dir_all(p.join("e/f")).unwrap();
        std::fs::write(p.join("e/f/g"), "g").unwrap();
        let third = build();
        assert!(apply(&third, &second.manifest, home.path(), "d").0);
        std::fs::remove_dir_all(p.join("e")).unwrap();
        let fourth = build();
        let (ok, err) = apply(&fourth, &third.manifest, home.path(), "d");
        assert!(ok, "{err}");
        assert!(!home.path().join("d/e").exists());
    }

    /// `sh` with `$HOME` set to `home`.
    fn sh_at_home(home: &Path, script: &str) -> String {
        let out = Command::new("sh").arg("-c").arg(script).current_dir(home).env("HOME", home).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The probe learns whose the directories are from `/proc/self/` (no `id`): a user's own
    /// directory passes, another user's, or a mark of root's in it, is refused. Run as another
    /// user (nobody) when these tests run as root, which is when `/proc/self/` says a uid not 0.
    #[test]
    fn the_users_own_uid_comes_from_proc_and_another_users_directory_is_refused() {
        use std::os::unix::fs::{chown, PermissionsExt};
        let base = tempfile::tempdir().unwrap();
        let root = unsafe { libc::geteuid() } == 0;
        let setpriv = Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success());
        let (me, other) = if root && setpriv { (65534, 1) } else { (unsafe { libc::geteuid() }, u32::MAX) };
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let make = |rel: &str, uid: u32| {
            let path = base.path().join(rel);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            if uid != u32::MAX && root {
                chown(&path, Some(uid), Some(uid)).unwrap();
            }
        };
        // An `id` that records its calls: with `/proc/self/`, the probe of a user's own copy runs none.
        let bin = base.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let calls = base.path().join("id-calls");
        std::fs::write(&calls, "").unwrap();
        std::fs::set_permissions(&calls, std::fs::Permissions::from_mode(0o666)).unwrap();
        std::fs::write(bin.join("id"), format!("#!/bin/sh\necho \"$@\" >> {}\nexec /usr/bin/env -i /usr/bin/id \"$@\"\n", calls.display())).unwrap();
        std::fs::set_permissions(bin.join("id"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let probe = |dir: &str| {
            let mut command = if root && setpriv {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh"]);
                c
            } else {
                Command::new("sh")
            };
            let out = command.arg("-c").arg(probe_script(dir)).current_dir(base.path()).env("HOME", base.path()).env("PATH", &path).output().unwrap();
            parse_probe(&out.stdout).refusal
        };
        make("mine", me);
        assert_eq!(probe("mine"), None);
        if std::path::Path::new("/proc/self/").is_dir() && me != 0 {
            assert_eq!(std::fs::read_to_string(&calls).unwrap(), "", "the probe ran `id`");
        }
        if other == u32::MAX {
            return;
        }
        let full = |rel: &str| format!("{}/{rel}", std::fs::canonicalize(base.path()).unwrap().display());
        make("theirs", other);
        let Some(Refusal::Unsafe(path)) = probe("theirs") else { panic!("another user's directory passed") };
        assert_eq!((path.path, path.uid, path.foreign_owner), (full("theirs"), other, true));
        // Root's mark in the user's directory: not the user's own (were the user taken for root,
        // it would pass).
        make("mine/.testbot", 0);
        let Some(Refusal::Unsafe(path)) = probe("mine") else { panic!("root's mark passed") };
        assert_eq!((path.path, path.uid, path.foreign_owner), (full("mine/.testbot"), 0, true));
    }

    #[test]
    fn only_a_directory_testbot_made_or_found_empty_is_synced_into() {
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("f"), "1").unwrap();
        let local = Local::build(src.path(), &[], &[], Vec::new(), None).unwrap();
        // The login directory, or above it: refused before anything is sent.
        for dir in [".", "./", "..", "/"] {
            assert_eq!(parse_probe(sh_at_home(home.path(), &probe_script(dir)).as_bytes()).refusal, Some(Refusal::Home), "{dir}");
        }
        std::os::unix::fs::symlink(home.path(), home.path().join("link-home")).unwrap();
        assert_eq!(parse_probe(sh_at_home(home.path(), &probe_script("link-home")).as_bytes()).refusal, Some(Refusal::Home));
        // Absent, or empty: fine, and marked by the sync.
        assert_eq!(parse_probe(sh_at_home(home.path(), &probe_script("new")).as_bytes()).refusal, None);
        std::fs::create_dir(home.path().join("empty")).unwrap();
        assert_eq!(parse_probe(sh_at_home(home.path(), &probe_script("empty")).as_bytes()).refusal, None);
        assert!(apply(&local, &Manifest::default(), home.path(), "empty").0);
        assert!(home.path().join("empty").join(OWNED_MARK).is_file());
        assert!(apply(&local, &Manifest::default(), home.path(), "new").0);
        assert!(home.path().join("new").join(OWNED_MARK).is_file());
        // Marked, it is synced into even with files testbot did not send.
        std::fs::write(home.path().join("new/artefact"), "x").unwrap();
        assert_eq!(parse_probe(sh_at_home(home.path(), &probe_script("new")).as_bytes()).refusal, None);
        assert!(apply(&local, &local.manifest, home.path(), "new").0);
        // Not empty and not marked: refused, by the probe and by the sync itself, untouched.
        std::fs::create_dir(home.path().join("theirs")).unwrap();
        std::fs::write(home.path().join("theirs/.hidden"), "x").unwrap();
        assert_eq!(parse_probe(sh_at_home(home.path(), &probe_script("theirs")).as_bytes()).refusal, Some(Refusal::Foreign));
        let (ok, err) = apply(&local, &Manifest::default(), home.path(), "theirs");
        assert!(!ok);
        assert!(err.contains("refusing to sync into theirs") && err.contains("empty it, or choose another remote_dir"), "{err}");
        assert_eq!(std::fs::read_dir(home.path().join("theirs")).unwrap().count(), 1);
        std::fs::write(home.path().join("file"), "x").unwrap();
        assert_eq!(parse_probe(sh_at_home(home.path(), &probe_script("file")).as_bytes()).refusal, Some(Refusal::NotDir));
    }

    #[test]
    fn the_probe_names_files_changed_or_removed_on_the_host_since_they_were_written() {
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        for f in ["a", "b", "c", "d"] {
            std::fs::write(src.path().join(f), f).unwrap();
        }
        std::os::unix::fs::symlink("a", src.path().join("l")).unwrap();
        let local = Local::build(src.path(), &[], &[], Vec::new(), None).unwrap();
        let probe = |run: bool| parse_probe(sh(home.path(), &sync_probe_script("d", run), b"").1.as_bytes()).drifted;
        let drift = || probe(false);
        assert_eq!(drift(), None, "nothing synced: no record");
        assert!(apply(&local, &Manifest::default(), home.path(), "d").0);
        assert_eq!(drift(), Some(vec![]));
        let copy = home.path().join("d");
        // No run used the copy since it was written: it is not listed, whatever changed.
        std::fs::write(copy.join("d"), "D").unwrap();
        assert_eq!(drift(), Some(vec![]));
        // A run's probe records the copy as it is and marks it used: from then on every probe
        // compares with that record.
        assert_eq!(probe(true), Some(vec![]));
        assert_eq!(drift(), Some(vec![]));
        // Rewritten with the same size, removed, re-moded, a link replaced; a new file is not drift.
        std::fs::write(copy.join("a"), "A").unwrap();
        std::fs::remove_file(copy.join("b")).unwrap();
        std::fs::set_permissions(copy.join("c"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::remove_file(copy.join("l")).unwrap();
        std::os::unix::fs::symlink("b", copy.join("l")).unwrap();
        std::fs::write(copy.join("made by a test"), "x").unwrap();
        let mut drifted = drift().unwrap();
        drifted.sort();
        assert_eq!(drifted, ["a", "b", "c", "l"]);
        // A record that is gone reads as unknown: the copy is listed.
        std::fs::remove_file(copy.join(STATE_DIR).join(STAT_RECORD)).unwrap();
        assert_eq!(drift(), None);
        assert_eq!(probe_of(home.path(), "d").drifted, None, "the plain probe does not look");
    }

    #[test]
    fn a_probe_of_a_copy_that_did_not_drift_runs_no_rm() {
        use std::os::unix::fs::PermissionsExt;
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("a"), "a").unwrap();
        let local = Local::build(src.path(), &[], &[], Vec::new(), None).unwrap();
        assert!(apply(&local, &Manifest::default(), home.path(), "d").0);
        // An `rm` first on the PATH that says it ran, then does the real one's work.
        let bin = tempfile::tempdir().unwrap();
        let log = bin.path().join("rm.log");
        let fake = format!("#!/bin/sh\necho \"$*\" >> '{}'\nexec /bin/rm \"$@\"\n", log.display());
        std::fs::write(bin.path().join("rm"), fake).unwrap();
        std::fs::set_permissions(bin.path().join("rm"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap());
        let probe = |run: bool| {
            let out = Command::new("sh").arg("-c").arg(sync_probe_script("d", run)).current_dir(home.path()).env("PATH", &path).output().unwrap();
            parse_probe(&out.stdout).drifted
        };
        assert_eq!(probe(true), Some(vec![]), "recorded and marked used");
        let _ = std::fs::remove_file(&log);
        assert_eq!(probe(false), Some(vec![]));
        assert_eq!(std::fs::read_to_string(&log).unwrap_or_default(), "", "rm ran for a copy that did not drift");
        // Drifted: the comparison's file is made, and removed.
        std::fs::write(home.path().join("d/a"), "A").unwrap();
        assert_eq!(probe(false), Some(vec!["a".to_string()]));
        assert!(std::fs::read_to_string(&log).unwrap().contains("stat.now"));
        assert!(!home.path().join("d").join(STATE_DIR).join(format!("{STAT_RECORD}.now")).exists());
    }

    #[test]
    fn a_failed_unpack_keeps_the_old_manifest() {
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("f"), "1").unwrap();
        let first = Local::build(src.path(), &[], &[], Vec::new(), None).unwrap();
        assert!(apply(&first, &Manifest::default(), home.path(), "d").0);
        std::fs::write(src.path().join("f"), "2").unwrap();
        let second = Local::build(src.path(), &[], &[], Vec::new(), None).unwrap();
        let plan = manifest::plan(&first.manifest, &second.manifest);
        let state = format!("manifest.{}", second.digest);
        let payload = second.payload(&plan, &state, &second.text).unwrap();
        let mut bytes = second.payload_bytes(&payload);
        bytes.truncate(bytes.len() / 2);
        let (ok, _, _) = sh(home.path(), &apply_script("d", payload.delete_len, &second.digest, StateFile { name: &state, compact: true }, false), &bytes);
        assert!(!ok);
        let probe = parse_probe(sh(home.path(), &probe_script("d"), b"").1.as_bytes());
        assert_eq!(probe.digest, Some(first.digest.clone()));
        assert_eq!(probe.unfinished, Some(second.digest.clone()));
    }

    #[test]
    fn a_directory_others_could_change_is_refused_like_sshds_strict_modes() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let chmod = |rel: &str, mode: u32| std::fs::set_permissions(home.path().join(rel), std::fs::Permissions::from_mode(mode)).unwrap();
        let refusal = |dir: &str| parse_probe(sh_at_home(home.path(), &probe_script(dir)).as_bytes()).refusal;
        std::fs::create_dir_all(home.path().join("open/mine")).unwrap();
        chmod("open", 0o755);
        chmod("open/mine", 0o755);
        assert_eq!(refusal("open/mine"), None);
        // Writable by others: the directory itself, or one above it.
        let full = |rel: &str| format!("{}/{rel}", std::fs::canonicalize(home.path()).unwrap().display());
        let me = unsafe { libc::geteuid() };
        let want = |rel: &str, mode: u32| {
            Some(Refusal::Unsafe(UnsafePath { path: full(rel), owner: "root".into(), uid: me, mode, foreign_owner: false }))
        };
        chmod("open", 0o777);
        assert_eq!(refusal("open/mine"), want("open", 0o777));
        chmod("open", 0o755);
        chmod("open/mine", 0o775);
        assert_eq!(refusal("open/mine"), want("open/mine", 0o775));
        // The apply script refuses the same before it writes anything, and says so on stderr.
        let (ok, _, err) = sh(home.path(), &apply_script("open/mine", 0, &"0".repeat(64), StateFile { name: &format!("manifest.{}", "0".repeat(64)), compact: true }, false), b"");
        assert!(!ok);
        assert_eq!(unsafe_in(&err), Some(UnsafePath { path: full("open/mine"), owner: "root".into(), uid: me, mode: 0o775, foreign_owner: false }));
        assert_eq!(std::fs::read_dir(home.path().join("open/mine")).unwrap().count(), 0);
        // Below a root-owned sticky directory (as /tmp), what is above it is not looked at.
        chmod("open/mine", 0o755);
        chmod("open", 0o1777);
        assert_eq!(refusal("open/mine"), None);
        // testbot's mark, writable by others.
        std::fs::create_dir_all(home.path().join("open/mine/.testbot")).unwrap();
        chmod("open/mine/.testbot", 0o777);
        assert_eq!(refusal("open/mine"), want("open/mine/.testbot", 0o777));
    }
}
