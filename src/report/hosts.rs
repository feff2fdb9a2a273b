//! `testbot hosts`: one table, a row a host.

use crate::fleet::remote::HostCheck;
use std::fmt::Write;

pub fn render(checks: &[HostCheck]) -> String {
    let header = ["HOST", "ADDRESS", "STATUS", "USER", "CORES", "SLOTS", "RUBY", "BUNDLER", "FREE", "RTT"];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    let mut notes = Vec::new();
    for c in checks {
        match &c.result {
            Ok(r) => {
                let status = match r.problem() {
                    Some(p) => {
                        notes.push(format!("{}: {p}", c.name));
                        "unusable".to_string()
                    }
                    None => match &r.capacity {
                        Some(note) => {
                            notes.push(format!("{}: {note}", c.name));
                            "limited".to_string()
                        }
                        None => "ok".to_string(),
                    },
                };
                let ruby = r.ruby.as_deref().map(short_ruby).unwrap_or_else(|| "-".into());
                let bundler = r.bundler.as_deref().map(|b| b.trim_start_matches("Bundler version ").to_string()).unwrap_or_else(|| "-".into());
                rows.push(vec![
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
                ]);
            }
            Err(reason) => {
                notes.push(format!("{}: {reason}", c.name));
                let mut row = vec![c.name.clone(), c.endpoint.clone(), "unreachable".to_string()];
                row.extend(std::iter::repeat_n("-".to_string(), header.len() - 3));
                rows.push(row);
            }
        }
    }
    let widths: Vec<usize> = (0..header.len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
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

/// `ruby 3.1.2p20 (2022-04-12 revision 4491bb740a) [x86_64-linux-gnu]` → `3.1.2p20`.
fn short_ruby(v: &str) -> String {
    v.split_whitespace().nth(1).unwrap_or(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::remote::HostReport;
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
            HostCheck { name: "ci-2".into(), endpoint: "127.0.0.1:2202".into(), result: Err("connection refused".into()) },
        ];
        assert_eq!(
            render(&checks),
            "\
HOST  ADDRESS         STATUS       USER  CORES  SLOTS  RUBY      BUNDLER  FREE  RTT
ci-1  127.0.0.1:2201  ok           tb    4      4      3.1.2p20  2.3.15   2.0G  3ms
ci-2  127.0.0.1:2202  unreachable  -     -      -      -         -        -     -

ci-2: connection refused
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
        let out = render(&[HostCheck { name: "h".into(), endpoint: "127.0.0.1:22".into(), result: Ok(report) }]);
        assert_eq!(
            out,
            "\
HOST  ADDRESS       STATUS   USER  CORES  SLOTS  RUBY      BUNDLER  FREE  RTT
h     127.0.0.1:22  limited  tb    2      16     3.1.2p20  -        -     2ms

h: it refused channels: 12 of the 17 sessions its 16 slots need opened at once
"
        );
    }
}
