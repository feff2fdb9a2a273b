//! The manifest: every directory, file (mode, size, SHA-256) and symlink (target) that a copy
//! of the project holds, its text form (kept on each host and in the local cache) and the
//! plan that turns one manifest's copy into another's.

use super::SyncError;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The mode bits a copy gets: never writable by group or others on the host, where another user
/// could then change what runs as its user (issue 27).
pub const SENT_MODE: u32 = 0o755;

/// Where testbot keeps its own files in the remote copy; never part of the shipped tree.
pub const RESERVED_DIR: &str = ".testbot";
/// The host's sync state, inside `RESERVED_DIR`: never listed, never deleted by a plan.
pub const STATE_DIR: &str = ".testbot/sync";

const HEADER: &str = "testbot-manifest 1";
const DELTA_HEADER: &str = "testbot-manifest-delta 1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir { mode: u32 },
    File { mode: u32, size: u64, hash: [u8; 32] },
    Symlink { target: String },
}

impl Kind {
    fn same_type(&self, other: &Kind) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// Paths are relative to the copy's root, `/`-separated, without `.` or `..` components.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub entries: BTreeMap<String, Kind>,
}

impl Manifest {
    /// The text form: a header, then one tab-separated line per entry, in path order, so the
    /// same tree always gives the same bytes (and the same digest).
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.entries.len() * 120);
        out.push_str(HEADER);
        out.push('\n');
        for (path, kind) in &self.entries {
            write_line(&mut out, path, kind);
        }
        out
    }

    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(ManifestError::NotManifest);
        }
        let mut entries = BTreeMap::new();
        for (n, line) in lines.enumerate() {
            let (path, kind) = parse_line(line).map_err(|problem| ManifestError::Line { of: "", line: n + 2, problem })?;
            entries.insert(path, kind);
        }
        Ok(Manifest { entries })
    }

    /// The changes that turn `base` into this manifest, as `apply_delta` reads them: a
    /// header, then each new or changed entry's line as in the text form, and `-\tPATH` for
    /// each path that is gone. Hosts keep these instead of the whole manifest after a small change.
    pub fn delta_from(&self, base: &Manifest) -> String {
        let mut out = String::new();
        out.push_str(DELTA_HEADER);
        out.push('\n');
        for (path, kind) in &self.entries {
            if base.entries.get(path) != Some(kind) {
                write_line(&mut out, path, kind);
            }
        }
        for path in base.entries.keys().filter(|p| !self.entries.contains_key(*p)) {
            out.push_str("-\t");
            out.push_str(&escape(path));
            out.push('\n');
        }
        out
    }

    /// Applies a delta written by `delta_from`.
    pub fn apply_delta(&mut self, delta: &str) -> Result<(), ManifestError> {
        let mut lines = delta.lines();
        if lines.next() != Some(DELTA_HEADER) {
            return Err(ManifestError::NotDelta);
        }
        for (n, line) in lines.enumerate() {
            let bad = |problem| ManifestError::Line { of: "delta ", line: n + 2, problem };
            if let Some(path) = line.strip_prefix("-\t") {
                let path = unescape(path).ok_or_else(|| bad(MALFORMED))?;
                self.entries.remove(&path);
            } else {
                let (path, kind) = parse_line(line).map_err(bad)?;
                self.entries.insert(path, kind);
            }
        }
        Ok(())
    }

    /// SHA-256 of the text form, in hex: what a host reports to say which copy it holds.
    pub fn digest(&self) -> String {
        digest_of(self.to_text().as_bytes())
    }
}

/// One entry's line of the text form (without the trailing newline's absence: it ends in `\n`).
fn write_line(out: &mut String, path: &str, kind: &Kind) {
    let _ = match kind {
        Kind::Dir { mode } => write!(out, "d\t{mode:o}\t"),
        Kind::File { mode, size, hash } => write!(out, "f\t{mode:o}\t{size}\t{}\t", hex(hash)),
        Kind::Symlink { target } => write!(out, "l\t{}\t", escape(target)),
    };
    // Most names need no escaping: no copy for them.
    if path.contains(['\\', '\t', '\n', '\r']) {
        out.push_str(&escape(path));
    } else {
        out.push_str(path);
    }
    out.push('\n');
}

/// Why a manifest or delta line was refused.
const MALFORMED: &str = "is malformed";

/// Why a manifest (or a delta) a host holds or the local store keeps cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("not a testbot manifest")]
    NotManifest,
    #[error("not a testbot manifest delta")]
    NotDelta,
    #[error("{of}line {line} {problem}")]
    Line { of: &'static str, line: usize, problem: &'static str },
}

fn parse_line(line: &str) -> Result<(String, Kind), &'static str> {
    const BAD: &str = MALFORMED;
    let fields: Vec<&str> = line.split('\t').collect();
    let mode = |s: &str| u32::from_str_radix(s, 8).map_err(|_| BAD);
    let (path, kind) = match fields.as_slice() {
        ["d", m, path] => (path, Kind::Dir { mode: mode(m)? }),
        ["f", m, size, hash, path] => {
            (path, Kind::File { mode: mode(m)?, size: size.parse().map_err(|_| BAD)?, hash: unhex(hash).ok_or(BAD)? })
        }
        ["l", target, path] => (path, Kind::Symlink { target: unescape(target).ok_or(BAD)? }),
        _ => return Err(BAD),
    };
    let path = unescape(path).ok_or(BAD)?;
    if !safe_path(&path) {
        return Err("names an unsafe path");
    }
    Ok((path, kind))
}

pub fn digest_of(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes).into())
}

/// What turns a copy matching `base` into one matching `new`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Removed first, each path alone, deepest first: paths of the old copy gone from `new`,
    /// and paths whose type changes. A directory here is removed only once it is empty, so
    /// that what testbot did not send (test artefacts, files made on the host) stays.
    pub delete: Vec<String>,
    /// Then unpacked, in path order: new and changed entries, each preceded by every directory
    /// above it, so that tar meets a directory entry (and replaces whatever else is there)
    /// before it writes below it.
    pub send: Vec<String>,
    /// New or changed files and symlinks (directories not counted).
    pub changed: usize,
}

pub fn plan(base: &Manifest, new: &Manifest) -> Plan {
    let mut delete: BTreeSet<&str> = BTreeSet::new();
    let mut send: BTreeSet<&str> = BTreeSet::new();
    let mut changed = 0;
    for (path, kind) in &new.entries {
        match base.entries.get(path) {
            Some(old) if old == kind => continue,
            Some(old) if !old.same_type(kind) => {
                delete.insert(path);
            }
            _ => {}
        }
        if !matches!(kind, Kind::Dir { .. }) {
            changed += 1;
        }
        send.insert(path);
        let mut dir = path.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if new.entries.contains_key(parent) {
                send.insert(parent);
            }
            dir = parent;
        }
    }
    for path in base.entries.keys() {
        if !new.entries.contains_key(path) {
            delete.insert(path);
        }
    }
    // Reverse path order puts every path before the directory holding it (`a/b` > `a`).
    let delete = delete.iter().rev().map(|p| p.to_string()).collect();
    Plan { delete, send: send.into_iter().map(str::to_string).collect(), changed }
}

/// A relative path that stays inside the copy and off testbot's state: no empty, `.` or `..`
/// component, no leading `/`, no NUL.
pub fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && path.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && path != RESERVED_DIR
        && path != STATE_DIR
        && !path.starts_with(&format!("{STATE_DIR}/"))
}

/// `\`, tab and newline escaped, so that any name fits on one line of the text form.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

pub fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(out)
}

pub fn hex(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

pub fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The manifest of a remote copy as the host itself sees it: `find -printf '%y\0%m\0%s\0%P\0%l\0'`
/// records, a `testbot-hashes\0` marker, then `sha256sum -z` lines (`HASH  ./PATH\0`). Only
/// paths in `wanted` are kept: the rest (test artefacts, files made by hand) is not testbot's.
pub fn parse_remote_scan(out: &[u8], wanted: &dyn Fn(&str) -> bool) -> Result<Manifest, SyncError> {
    let bad = |what: &str| SyncError::RemoteScan(what.to_string());
    const MARK: &[u8] = b"testbot-hashes\0";
    let split = out.windows(MARK.len()).position(|w| w == MARK).ok_or_else(|| bad("the listing has no end marker"))?;
    let (listing, hashes) = (&out[..split], &out[split + MARK.len()..]);
    let mut sums: BTreeMap<String, [u8; 32]> = BTreeMap::new();
    for line in hashes.split(|&b| b == 0).filter(|l| !l.is_empty()) {
        // `HASH  ./PATH` (or `HASH *./PATH` in binary mode).
        if line.len() < 68 || &line[66..68] != b"./" {
            continue;
        }
        let (Ok(hash), Ok(path)) = (std::str::from_utf8(&line[..64]), std::str::from_utf8(&line[68..])) else { continue };
        if let Some(hash) = unhex(hash) {
            sums.insert(path.to_string(), hash);
        }
    }
    let fields: Vec<&[u8]> = listing.split(|&b| b == 0).collect();
    let mut entries = BTreeMap::new();
    // The last split piece is the empty tail after the final NUL.
    for rec in fields.chunks(5).filter(|r| r.len() == 5) {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (kind, mode, size, path, target) = (text(rec[0]), text(rec[1]), text(rec[2]), text(rec[3]), text(rec[4]));
        if !safe_path(&path) || !wanted(&path) {
            continue;
        }
        let mode = u32::from_str_radix(&mode, 8).map_err(|_| bad("a mode is not octal"))? & 0o777;
        let kind = match kind.as_str() {
            "d" => Kind::Dir { mode },
            // A file it could not hash reads as changed.
            "f" => Kind::File {
                mode,
                size: size.parse().map_err(|_| bad("a size is not a number"))?,
                hash: sums.get(&path).copied().unwrap_or([0; 32]),
            },
            "l" => Kind::Symlink { target },
            // A fifo or socket where testbot wants a file: a type that differs from every wanted one.
            _ => Kind::Symlink { target: format!("\0{kind}") },
        };
        entries.insert(path, kind);
    }
    Ok(Manifest { entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mode: u32, byte: u8) -> Kind {
        Kind::File { mode, size: 1, hash: [byte; 32] }
    }

    fn manifest(entries: &[(&str, Kind)]) -> Manifest {
        Manifest { entries: entries.iter().map(|(p, k)| (p.to_string(), k.clone())).collect() }
    }

    #[test]
    fn text_form_round_trips_odd_names() {
        let m = manifest(&[
            ("a b/c\nd\te\\f", file(0o755, 1)),
            ("-rf", file(0o644, 2)),
            ("é 'q' \"$(touch pwned)\"", Kind::Symlink { target: "../x\ty\n".into() }),
            ("dir", Kind::Dir { mode: 0o750 }),
            ("made on windows\r", Kind::Symlink { target: "cr\r".into() }),
        ]);
        let text = m.to_text();
        assert_eq!(text.lines().count(), 6, "one line per entry: {text}");
        assert!(text.contains("l\tcr\\r\tmade on windows\\r\n"), "{text}");
        assert_eq!(Manifest::parse(&text).unwrap(), m);
        assert_eq!(m.digest(), Manifest::parse(&text).unwrap().digest());
        assert_eq!(m.digest().len(), 64);
    }

    #[test]
    fn a_delta_carries_changes_and_removals_and_rebuilds_the_manifest() {
        let base = manifest(&[("a", Kind::Dir { mode: 0o755 }), ("a/b", file(0o644, 1)), ("gone\tname", file(0o644, 1)), ("same", file(0o644, 9))]);
        let new = manifest(&[("a", Kind::Dir { mode: 0o700 }), ("a/b", file(0o644, 2)), ("new\nname", Kind::Symlink { target: "x".into() }), ("same", file(0o644, 9))]);
        let delta = new.delta_from(&base);
        assert_eq!(delta.lines().count(), 5, "header, three changed, one removed: {delta}");
        assert!(!delta.contains("same"));
        let mut rebuilt = base.clone();
        rebuilt.apply_delta(&delta).unwrap();
        assert_eq!(rebuilt, new);
        assert_eq!(rebuilt.digest(), new.digest());
        assert!(base.clone().apply_delta("junk").is_err());
        assert!(base.clone().apply_delta(&format!("{DELTA_HEADER}\nd\t755\t../up\n")).unwrap_err().to_string().contains("unsafe"));
    }

    #[test]
    fn parse_rejects_garbage_and_escapes_out_of_the_tree() {
        assert!(Manifest::parse("hello\n").is_err());
        assert!(Manifest::parse(&format!("{HEADER}\nf\t644\tx\n")).is_err());
        let evil = format!("{HEADER}\nd\t755\t../up\n");
        assert!(Manifest::parse(&evil).unwrap_err().to_string().contains("unsafe"));
        let abs = format!("{HEADER}\nd\t755\t/etc\n");
        assert!(Manifest::parse(&abs).is_err());
        let state = format!("{HEADER}\nf\t644\t1\t{}\t.testbot/sync/digest\n", "0".repeat(64));
        assert!(Manifest::parse(&state).is_err());
    }

    #[test]
    fn unchanged_tree_gives_an_empty_plan() {
        let m = manifest(&[("a", Kind::Dir { mode: 0o755 }), ("a/b", file(0o644, 1))]);
        assert_eq!(plan(&m, &m), Plan::default());
    }

    #[test]
    fn plan_sends_new_and_changed_with_their_dirs_and_deletes_vanished() {
        let base = manifest(&[
            ("a", Kind::Dir { mode: 0o755 }),
            ("a/b", file(0o644, 1)),
            ("a/same", file(0o644, 9)),
            ("gone", Kind::Dir { mode: 0o755 }),
            ("gone/x", file(0o644, 1)),
            ("gone/y", file(0o644, 1)),
            ("m", file(0o644, 1)),
            ("link", Kind::Symlink { target: "a/b".into() }),
        ]);
        let new = manifest(&[
            ("a", Kind::Dir { mode: 0o755 }),
            ("a/b", file(0o644, 2)),
            ("a/same", file(0o644, 9)),
            ("m", file(0o755, 1)),
            ("link", Kind::Symlink { target: "a/same".into() }),
            ("n", Kind::Dir { mode: 0o700 }),
            ("n/new", file(0o600, 3)),
        ]);
        let p = plan(&base, &new);
        assert_eq!(p.delete, ["gone/y", "gone/x", "gone"]);
        assert_eq!(p.send, ["a", "a/b", "link", "m", "n", "n/new"]);
        assert_eq!(p.changed, 4);
    }

    #[test]
    fn a_type_change_deletes_first() {
        // `a` was a directory and becomes a link to `/`: the directory goes, the link is sent.
        let base = manifest(&[("a", Kind::Dir { mode: 0o755 }), ("a/b", file(0o644, 1)), ("f", file(0o644, 1))]);
        let new = manifest(&[("a", Kind::Symlink { target: "/".into() }), ("f", Kind::Dir { mode: 0o755 }), ("f/g", file(0o644, 1))]);
        let p = plan(&base, &new);
        assert_eq!(p.delete, ["f", "a/b", "a"]);
        assert_eq!(p.send, ["a", "f", "f/g"]);
        // And back: the link is deleted before the directory and its file arrive.
        let p = plan(&new, &base);
        assert_eq!(p.delete, ["f/g", "f", "a"]);
        assert_eq!(p.send, ["a", "a/b", "f"]);
    }

    #[test]
    fn deletions_name_every_path_deepest_first_and_do_not_confuse_siblings() {
        let base = manifest(&[
            ("a", Kind::Dir { mode: 0o755 }),
            ("a/b", file(0o644, 1)),
            ("a-b", file(0o644, 1)),
            ("ab", file(0o644, 1)),
        ]);
        let p = plan(&base, &Manifest::default());
        assert_eq!(p.delete, ["ab", "a/b", "a-b", "a"]);
    }

    #[test]
    fn safe_paths() {
        for ok in ["a", "a/b", "-rf", ".hidden", "a..b", ".testbot/formatter.rb"] {
            assert!(safe_path(ok), "{ok}");
        }
        for bad in ["", "/etc", "a/../b", "..", "./a", "a//b", "a/", ".testbot", ".testbot/sync", ".testbot/sync/x", "a\0b"] {
            assert!(!safe_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn remote_scan_is_parsed_and_filtered() {
        let hash = "ab".repeat(32);
        let mut out = Vec::new();
        for rec in [
            ["d", "755", "4096", "spec", ""],
            ["f", "644", "5", "spec/a b.rb", ""],
            ["f", "600", "5", "spec/unreadable", ""],
            ["l", "777", "4", "ln", "/etc"],
            ["f", "644", "1", "log/test.log", ""],
            ["p", "644", "0", "fifo", ""],
        ] {
            for f in rec {
                out.extend_from_slice(f.as_bytes());
                out.push(0);
            }
        }
        out.extend_from_slice(b"testbot-hashes\0");
        out.extend_from_slice(format!("{hash}  ./spec/a b.rb\0{hash}  ./log/test.log\0").as_bytes());
        // What is not `HASH  ./PATH` is skipped: a short line, a line without the `./`.
        out.extend_from_slice(format!("sha256sum: spec/unreadable: Permission denied\0{hash}  ;;spec/unreadable\0").as_bytes());
        let m = parse_remote_scan(&out, &|p| !p.starts_with("log")).unwrap();
        let h = unhex(&hash).unwrap();
        assert_eq!(
            m,
            manifest(&[
                ("fifo", Kind::Symlink { target: "\0p".into() }),
                ("ln", Kind::Symlink { target: "/etc".into() }),
                ("spec", Kind::Dir { mode: 0o755 }),
                ("spec/a b.rb", Kind::File { mode: 0o644, size: 5, hash: h }),
                ("spec/unreadable", Kind::File { mode: 0o600, size: 5, hash: [0; 32] }),
            ])
        );
        assert!(parse_remote_scan(b"garbage", &|_| true).is_err());
    }

    #[test]
    fn a_refused_line_is_named_by_its_number() {
        let text = format!("{HEADER}\nd\t755\tok\nd\t7z5\tbad\n");
        assert_eq!(Manifest::parse(&text).unwrap_err().to_string(), "line 3 is malformed");
        let text = format!("{HEADER}\nd\t755\t../up\n");
        assert_eq!(Manifest::parse(&text).unwrap_err().to_string(), "line 2 names an unsafe path");
        let mut m = manifest(&[]);
        let delta = format!("{DELTA_HEADER}\nd\t755\tok\n-\tbad\\q\n");
        assert_eq!(m.apply_delta(&delta).unwrap_err().to_string(), "delta line 3 is malformed");
    }
}
