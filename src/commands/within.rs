//! A child process that must answer within a time limit (`testbot init`'s checks). Its output is
//! read while it runs, so a child that prints more than a pipe holds is not stalled until the limit.

use std::io::Read;
use std::process::{Child, Output};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The child's output once it exited; None when it ran past `limit` (it is then killed) or could
/// not be waited for.
pub(super) fn output_within(mut child: Child, limit: Duration) -> Option<Output> {
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let collect = |reader: Option<JoinHandle<Vec<u8>>>| reader.and_then(|r| r.join().ok()).unwrap_or_default();
    Some(Output { status, stdout: collect(stdout), stderr: collect(stderr) })
}

/// Reads a pipe to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn a_child_that_prints_more_than_a_pipe_holds_is_read_to_its_end() {
        let child = Command::new("sh")
            .args(["-c", "head -c 300000 /dev/zero; echo done >&2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = output_within(child, Duration::from_secs(20)).expect("it exits");
        assert_eq!(out.stdout.len(), 300_000);
        assert_eq!(out.stderr, b"done\n");
        assert!(out.status.success());
    }

    #[test]
    fn a_child_past_its_limit_is_killed_and_gives_none() {
        let child = Command::new("sleep").arg("30").stdout(Stdio::piped()).spawn().unwrap();
        assert!(output_within(child, Duration::from_millis(200)).is_none());
    }
}
