//! `testbot sync`: a line a host (what was sent, how long it took, or why it failed).

use crate::fleet::remote::SyncReport;
use crate::plural::plural;
use crate::sync::SyncOutcome;
use std::fmt::Write;

pub fn render(reports: &[SyncReport]) -> String {
    let width = reports.iter().map(|r| r.name.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for r in reports {
        let line = match &r.result {
            Ok(s) => {
                let what = match s.outcome {
                    SyncOutcome::UpToDate => "up to date".to_string(),
                    SyncOutcome::Updated | SyncOutcome::Rescanned => format!(
                        "{} sent, {} deleted, {}{}",
                        plural(s.files, "file", "files"),
                        s.deleted,
                        human_bytes(s.bytes),
                        if s.outcome == SyncOutcome::Rescanned { " (after rehashing its copy)" } else { "" }
                    ),
                };
                format!("ok      {what} in {:.2}s", s.seconds)
            }
            Err(reason) => format!("FAILED  {reason}"),
        };
        let _ = writeln!(out, "{:<width$}  {line}", r.name);
    }
    let failed = reports.iter().filter(|r| r.result.is_err()).count();
    if failed > 0 {
        let _ = writeln!(out, "\n{failed} of {} hosts could not be synced", reports.len());
    }
    out
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 10 << 20 => format!("{} MB", b >> 20),
        b if b >= 10 << 10 => format!("{} KB", b >> 10),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::HostSync;

    #[test]
    fn one_line_per_host() {
        let reports = vec![
            SyncReport {
                name: "ci-1".into(),
                result: Ok(HostSync { outcome: SyncOutcome::Updated, files: 3, bytes: 42_000, deleted: 1, seconds: 0.25 }),
            },
            SyncReport {
                name: "b".into(),
                result: Ok(HostSync { outcome: SyncOutcome::UpToDate, files: 0, bytes: 0, deleted: 0, seconds: 0.004 }),
            },
            SyncReport {
                name: "ci-3".into(),
                result: Ok(HostSync { outcome: SyncOutcome::Rescanned, files: 1, bytes: 900, deleted: 0, seconds: 1.5 }),
            },
            SyncReport { name: "ci-4".into(), result: Err(crate::fleet::HostFailure::Connect(crate::ssh::SshError::Disconnected { host: "ci-4".into() })) },
        ];
        assert_eq!(
            render(&reports),
            "ci-1  ok      3 files sent, 1 deleted, 41 KB in 0.25s\n\
             b     ok      up to date in 0.00s\n\
             ci-3  ok      1 file sent, 0 deleted, 900 B (after rehashing its copy) in 1.50s\n\
             ci-4  FAILED  lost the connection to host `ci-4`\n\
             \n1 of 4 hosts could not be synced\n"
        );
    }
}
