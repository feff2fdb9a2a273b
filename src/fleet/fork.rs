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
use std::time::Duration;

/// How long a server may take to load Bundler and the framework (seconds on a loaded host);
/// past it the host runs fresh processes.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const WHAT: &str = "its fork server (loading Bundler and the framework)";

/// How one host's fork server boot ended, and the socket it serves on.
pub struct Booted {
    pub socket: String,
    pub result: Result<crate::ssh::Process, super::BootFailure>,
}

/// The boot of every host's fork server (none when the project turned forking off, or runs its
/// own `[project] command`), by host index; each ends when its server is ready or failed.
pub fn boots(project: &Project, hosts: &[PreparedHost]) -> Vec<(usize, impl std::future::Future<Output = Booted> + Send + 'static)> {
    if !project.fork {
        return Vec::new();
    }
    // One name per run: other runs may share a host's remote directory.
    let tag = protocol::new_sync();
    hosts
        .iter()
        .enumerate()
        .filter_map(|(h, host)| {
            let socket = socket_path(&host.support_dir, &tag);
            let (argv, libs) =
                project.framework.fork_server_command(&project.runner, &host.support_dir, &socket, host.compiled_dir.as_deref())?;
            let env = tmpdir::with_tmpdir(super::host_env(project, host), &host.run_tmp_dir(), "fork-server");
            let command = HostCommand::new(tmpdir::creating_tmpdir(argv), env, host.workdir.clone()).with_events().with_stdin(libs.into_bytes());
            let target = host.host.clone();
            Some((h, async move { Booted { result: boot(&*target, command, READY_TIMEOUT, Event::ForkReady, WHAT).await, socket } }))
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
