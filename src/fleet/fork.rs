//! The fork servers: one per host (this machine included) loads Ruby, Bundler's setup and the
//! framework's core once, and every batch there is a child forked from it, so a batch costs a
//! fork rather than a Ruby boot. This module boots them; `servers.rs` points each slot at its
//! host's server (or leaves it fresh processes) and ends them with the run.

use super::preload::boot;
use super::slots::PreparedHost;
use super::tmpdir;
use crate::framework::protocol::{self, Event};
use crate::project::Project;
use crate::ssh::HostCommand;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

pub use super::slots::{Booted, EarlyBoot};

/// How long a server may take to load Bundler and the framework (seconds on a loaded host);
/// past it the host runs fresh processes.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const WHAT: &str = "its fork server (loading Bundler and the framework)";

/// Starts `host`'s fork server now (None: the project forks nothing).
pub fn boot_early(project: &Project, host: &PreparedHost) -> Option<EarlyBoot> {
    let (_, boot) = boots(project, std::slice::from_ref(host)).pop()?;
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let _ = tx.send(boot.await);
    });
    Some(EarlyBoot { booted: Mutex::new(Some(rx)), task: task.abort_handle() })
}

/// An early boot, once (None: taken already).
fn take_early(early: &EarlyBoot) -> Option<BoxFuture<'static, Booted>> {
    let rx = early.booted.lock().unwrap_or_else(|p| p.into_inner()).take()?;
    Some(
        async move {
            let lost = super::BootFailure::NotReady { what: WHAT, limit: READY_TIMEOUT };
            rx.await.unwrap_or_else(|_| Booted { socket: String::new(), result: Err(lost) })
        }
        .boxed(),
    )
}

/// The boot of every host's fork server (none when the project turned forking off, or runs its
/// own `[project] command`), by host index; each ends when its server is ready or failed. A host
/// whose server boots already (`EarlyBoot`) gives that boot.
pub fn boots(project: &Project, hosts: &[PreparedHost]) -> Vec<(usize, BoxFuture<'static, Booted>)> {
    if !project.fork {
        return Vec::new();
    }
    // One name per run: other runs may share a host's remote directory.
    let tag = protocol::new_sync();
    hosts
        .iter()
        .enumerate()
        .filter_map(|(h, host)| {
            if let Some(early) = host.fork_boot.as_ref().and_then(take_early) {
                return Some((h, early));
            }
            let socket = socket_path(&host.support_dir, &tag);
            let (argv, libs) =
                project.framework.fork_server_command(&project.runner, &host.support_dir, &socket, host.compiled_dir.as_deref())?;
            let env = tmpdir::with_tmpdir(super::host_env(project, host), &host.run_tmp_dir(), "fork-server");
            let command = HostCommand::new(argv, env, host.workdir.clone()).making_tmpdir().with_events().with_stdin(libs.into_bytes());
            let target = host.host.clone();
            let booting = async move { Booted { result: boot(&*target, command, READY_TIMEOUT, Event::ForkReady, WHAT).await, socket } };
            Some((h, booting.boxed()))
        })
        .collect()
}

/// The socket of a run's fork server, under the support dir (the server binds it from its
/// folder, so the path may be long).
pub fn socket_path(support_dir: &str, tag: &str) -> String {
    let base = support_dir.strip_prefix("./").unwrap_or(support_dir).trim_end_matches('/');
    format!("{base}/fork/{tag}.sock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_live_in_the_support_dir() {
        assert_eq!(socket_path("./.testbot", "ab12"), ".testbot/fork/ab12.sock");
        assert_eq!(socket_path("/tmp/testbot-x1/", "ab12"), "/tmp/testbot-x1/fork/ab12.sock");
    }
}
