//! Commands on this machine, each in its own process group so that a kill reaches its children.

use super::{ExitInfo, Host, HostCommand, HostError, Output, Process};
use futures::future::BoxFuture;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, oneshot};

pub struct LocalHost {
    name: String,
}

impl LocalHost {
    pub fn new() -> Self {
        LocalHost { name: "local".to_string() }
    }
}

impl Default for LocalHost {
    fn default() -> Self {
        Self::new()
    }
}

impl Host for LocalHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn spawn(&self, command: HostCommand) -> BoxFuture<'_, Result<Process, HostError>> {
        Box::pin(async move {
            let mut cmd = tokio::process::Command::new(&command.argv[0]);
            cmd.args(&command.argv[1..])
                .envs(command.env.iter().map(|(k, v)| (k, v)))
                .current_dir(&command.cwd)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .kill_on_drop(true);
            // Every way out of testbot kills the group, except testbot being killed itself:
            // then the kernel ends the runner. (It is sent when the spawning thread exits; a
            // runtime worker thread lives as long as the run.)
            // SAFETY: prctl is async-signal-safe and touches nothing of the parent's.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                    Ok(())
                });
            }
            let mut child = cmd.spawn().map_err(|source| HostError::Spawn {
                host: self.name.clone(),
                program: command.argv[0].clone(),
                source,
            })?;
            let pgid = child.id().map(|id| id as i32);
            let (out_tx, out_rx) = mpsc::channel(64);
            let (exit_tx, exit_rx) = oneshot::channel();
            let (kill_tx, mut kill_rx) = oneshot::channel::<()>();
            let stdout = child.stdout.take().expect("piped stdout");
            let stderr = child.stderr.take().expect("piped stderr");
            tokio::spawn(async move {
                let readers = futures::future::join(
                    pump(stdout, out_tx.clone(), Output::Stdout),
                    pump(stderr, out_tx, Output::Stderr),
                );
                tokio::pin!(readers);
                let mut killed = false;
                let mut readers_done = false;
                let mut status = None;
                while !(readers_done && status.is_some()) {
                    tokio::select! {
                        _ = &mut readers, if !readers_done => readers_done = true,
                        s = child.wait(), if status.is_none() => {
                            // Children that outlive the runner (daemonised helpers) go with its
                            // group, so that their copies of the pipes close too.
                            kill_group(pgid);
                            status = Some(s);
                        }
                        // Either an explicit kill or the Process was dropped.
                        _ = &mut kill_rx, if !killed => {
                            killed = true;
                            kill_group(pgid);
                        }
                    }
                }
                let info = match status {
                    Some(Ok(s)) => ExitInfo { code: s.code(), signal: s.signal() },
                    _ => ExitInfo { code: None, signal: None },
                };
                let _ = exit_tx.send(info);
            });
            Ok(Process::new(out_rx, exit_rx, kill_tx))
        })
    }
}

fn kill_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

async fn pump<R: AsyncRead + Unpin>(mut reader: R, tx: mpsc::Sender<Output>, wrap: fn(Vec<u8>) -> Output) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx.send(wrap(buf[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        }
    }
}
