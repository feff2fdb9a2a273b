//! `testbot hosts`: one table, a row a host.

use crate::fleet::remote::{HostCheck, HostReport};
use std::fmt::Write;

const HEADER: [&str; 10] = ["HOST", "ADDRESS", "STATUS", "USER", "CORES", "SLOTS", "RUBY", "BUNDLER", "FREE", "RTT"];

/// The table; `copy_bytes` is what the project's copy takes (None: not known), and a host with
/// less free space than that in its remote directory's file system is marked `low-space`.
pub fn render(checks: &[HostCheck], copy_bytes: Option<u64>) -> String {
    let mut rows: Vec<Vec<String>> = vec![HEADER.iter().map(|s| s.to_string()).collect()];
    let mut notes = Vec::new();
    for c in checks {
        match &c.result {
            Ok(r) => {
                let status = status(c, r, copy_bytes, &mut notes);
                rows.push(reached_row(c, r, status));
            }
            Err(reason) => {
                notes.push(format!("{}: {reason}", c.name));
                let mut row = vec![c.name.clone(), c.endpoint.clone(), "unreachable".to_string()];
                row.extend(std::iter::repeat_n("-".to_string(), HEADER.len() - 3));
                rows.push(row);
            }
        }
    }
    let widths: Vec<usize> = (0..HEADER.len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "{n}");
        }
    }
    out
}

/// A reachable host's STATUS: `unusable`, `limited`, `low-space` or `ok`; why, in `notes`.
fn status(c: &HostCheck, r: &HostReport, copy_bytes: Option<u64>, notes: &mut Vec<String>) -> String {
    if let Some(p) = r.problem() {
        notes.push(format!("{}: {p}", c.name));
        return "unusable".to_string();
    }
    match (&r.capacity, low_space(r.free_mb, copy_bytes)) {
        (Some(note), _) => {
            notes.push(format!("{}: {note}", c.name));
            "limited".to_string()
        }
        (None, Some((free, needed))) => {
            notes.push(format!(
                "{}: warning: {free} free where its copy goes (`{}`), less than the project's {needed}; \
                 a first sync there would fail",
                c.name, r.remote_dir
            ));
            "low-space".to_string()
        }
        (None, None) => "ok".to_string(),
    }
}

/// A reachable host's row.
fn reached_row(c: &HostCheck, r: &HostReport, status: String) -> Vec<String> {
    let ruby = r.ruby.as_deref().map(short_ruby).unwrap_or_else(|| "-".into());
    let bundler = r.bundler.as_deref().map(|b| b.trim_start_matches("Bundler version ").to_string()).unwrap_or_else(|| "-".into());
    vec![
        c.name.clone(),
        c.endpoint.clone(),
        status,
        r.user.clone(),
        r.cores.to_string(),
        r.slots.to_string(),
        ruby,
        bundler,
        r.free_mb.map(|m| format!("{:.1}G", m as f64 / 1024.0)).unwrap_or_else(|| "-".into()),
        format!("{:.0}ms", r.round_trip.as_secs_f64() * 1000.0),
    ]
}

/// Free space and the copy's size, both in words, when the free space is less than the copy.
fn low_space(free_mb: Option<u64>, copy_bytes: Option<u64>) -> Option<(String, String)> {
    let (free_mb, copy) = (free_mb?, copy_bytes?);
    (free_mb.saturating_mul(1024 * 1024) < copy).then(|| (size(free_mb.saturating_mul(1024 * 1024)), size(copy)))
}

/// `0.0 GB`, `1.4 GB`, `12 MB`, `3 KB`.
fn size(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    match bytes {
        b if b >= 1024 * MB => format!("{:.1} GB", b as f64 / (1024 * MB) as f64),
        b if b >= MB => format!("{} MB", b / MB),
        b => format!("{} KB", b.div_ceil(1024)),
    }
}

/// `ruby 3.1.2p20 (2022-04-12 revision 4491bb740a) [x86_64-linux-gnu]` → `3.1.2p20`.
fn short_ruby(v: &str) -> String {
    v.split_whitespace().nth(1).unwrap_or(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn table_with_a_good_and_a_bad_host() {
        let checks = vec![
            HostCheck {
                name: "ci-1".into(),
                endpoint: "127.0.0.1:2201".into(),
                result: Ok(HostReport {
                    user: "tb".into(),
                    cores: 4,
                    slots: 4,
                    ruby: Some("ruby 3.1.2p20 (2022-04-12 revision 4491bb740a) [x86_64-linux-gnu]".into()),
                    bundler: Some("Bundler version 2.3.15".into()),
                    free_mb: Some(2048),
                    round_trip: Duration::from_millis(3),
                    remote_dir: ".cache/testbot/app-1".into(),
                    capacity: None,
                    dir_problem: None,
                }),
            },
            HostCheck { name: "ci-2".into(), endpoint: "127.0.0.1:2202".into(), result: Err(crate::fleet::HostFailure::Connect(crate::ssh::SshError::Disconnected { host: "ci-2".into() })) },
        ];
        assert_eq!(
            render(&checks, Some(1024)),
            "\
HOST  ADDRESS         STATUS       USER  CORES  SLOTS  RUBY      BUNDLER  FREE  RTT
ci-1  127.0.0.1:2201  ok           tb    4      4      3.1.2p20  2.3.15   2.0G  3ms
ci-2  127.0.0.1:2202  unreachable  -     -      -      -         -        -     -

ci-2: lost the connection to host `ci-2`
"
        );
    }

    #[test]
    fn a_host_that_refuses_channels_is_limited_with_the_reason() {
        let report = HostReport {
            user: "tb".into(),
            cores: 2,
            slots: 16,
            ruby: Some("ruby 3.1.2p20 (2022-04-12 revision 4491bb740a) [x86_64-linux-gnu]".into()),
            bundler: None,
            free_mb: None,
            round_trip: Duration::from_millis(2),
            remote_dir: "work".into(),
            capacity: Some("it refused channels: 12 of the 17 sessions its 16 slots need opened at once".into()),
            dir_problem: None,
        };
        let out = render(&[HostCheck { name: "h".into(), endpoint: "127.0.0.1:22".into(), result: Ok(report) }], None);
        assert_eq!(
            out,
            "\
HOST  ADDRESS       STATUS   USER  CORES  SLOTS  RUBY      BUNDLER  FREE  RTT
h     127.0.0.1:22  limited  tb    2      16     3.1.2p20  -        -     2ms

h: it refused channels: 12 of the 17 sessions its 16 slots need opened at once
"
        );
    }

    #[test]
    fn a_host_with_less_free_space_than_the_copy_is_marked_and_warned_about() {
        let report = |free_mb| HostReport {
            user: "tb".into(),
            cores: 2,
            slots: 2,
            ruby: Some("ruby 3.1.2p20 (2022-04-12 revision 4491bb740a) [x86_64-linux-gnu]".into()),
            bundler: None,
            free_mb,
            round_trip: Duration::from_millis(2),
            remote_dir: ".cache/testbot/app-1".into(),
            capacity: None,
            dir_problem: None,
        };
        let check = |free_mb| HostCheck { name: "h".into(), endpoint: "127.0.0.1:22".into(), result: Ok(report(free_mb)) };
        let out = render(&[check(Some(0))], Some(3 * 1024 * 1024));
        assert_eq!(
            out,
            "\
HOST  ADDRESS       STATUS     USER  CORES  SLOTS  RUBY      BUNDLER  FREE  RTT
h     127.0.0.1:22  low-space  tb    2      2      3.1.2p20  -        0.0G  2ms

h: warning: 0 KB free where its copy goes (`.cache/testbot/app-1`), less than the project's 3 MB; a first sync there would fail
"
        );
        // Enough room, or nothing known: ok.
        assert!(render(&[check(Some(4))], Some(3 * 1024 * 1024)).contains("  ok  "));
        assert!(render(&[check(None)], Some(3 * 1024 * 1024)).contains("  ok  "));
        assert!(render(&[check(Some(0))], None).contains("  ok  "));
        assert_eq!(size(5 * 1024 * 1024 * 1024 / 2), "2.5 GB");
    }
}
