//! The fork servers: one per host (this machine included) loads Ruby, Bundler's setup and the
//! framework's core once, and every batch there is a child forked from it, so a batch costs a
//! fork rather than a Ruby boot. This module starts them, points each slot at its host's
//! server, says which hosts fall back to fresh processes, and ends them with the run.

use super::preload::{boot, keep, Servers};
use super::slots::{PreparedHost, Slot};
use super::tmpdir;
use crate::framework::protocol::{self, Event};
use crate::project::Project;
use crate::ssh::HostCommand;
use std::time::Duration;

/// How long a server may take to load Bundler and the framework (seconds on a loaded host);
/// past it the host runs fresh processes.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const WHAT: &str = "its fork server (loading Bundler and the framework)";

/// The run's fork servers, and a warning for each host whose server did not start (its batches
/// run as fresh processes).
pub struct Forked {
    pub servers: Servers,
    pub warnings: Vec<String>,
}

/// Starts one fork server per host at once (unless the project turned forking off) and points
/// the slots of every host whose server got ready at its socket. `None` on a signal.
pub async fn prepare(project: &Project, hosts: &[PreparedHost], slots: &mut [Slot], signals: &crate::signals::Signals) -> Option<Forked> {
    let mut forked = Forked { servers: Servers { running: Vec::new() }, warnings: Vec::new() };
    if !project.fork {
        return Some(forked);
    }
    // One name per run: other runs may share a host's remote directory.
    let tag = protocol::new_sync();
    let boots = hosts.iter().map(|host| {
        let socket = socket_path(&host.support_dir, &tag);
        let argv = project.framework.fork_server_command(&project.runner, &host.support_dir, &socket);
        let mut env = super::host_env(project, host);
        env = tmpdir::with_tmpdir(env, &host.support_dir, "fork-server");
        async move {
            let (argv, libs) = argv?;
            let command = HostCommand::new(tmpdir::creating_tmpdir(argv), env, host.workdir.clone()).with_events().with_stdin(libs.into_bytes());
            Some((boot(&*host.host, command, READY_TIMEOUT, Event::ForkReady, WHAT).await, socket))
        }
    });
    let results = signals.unless_stopped(futures::future::join_all(boots)).await?;
    for (h, result) in results.into_iter().enumerate() {
        let Some((result, socket)) = result else { continue };
        match result {
            Ok(process) => {
                forked.servers.running.push(keep(process, hosts[h].host.name().to_string()));
                for slot in slots.iter_mut().filter(|s| s.host_index == h) {
                    slot.fork = Some(socket.clone());
                }
            }
            Err(why) => {
                // Its output once, in the log: the fresh runners that follow say the same when
                // they fail the same way (a Gemfile that does not resolve), as without a server.
                let name = hosts[h].host.name();
                tracing::info!(host = %name, "{why}");
                let head = why.lines().next().unwrap_or_default();
                let head = head.split(" (the last").next().unwrap_or(head).trim_end_matches(':');
                forked.warnings.push(format!("host `{name}`: {head}; its batches run as fresh processes (-v shows its output)"));
            }
        }
    }
    Some(forked)
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
