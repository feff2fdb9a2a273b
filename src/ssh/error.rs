//! What can go wrong reaching a host over SSH and running a command there.

use super::quote::CommandLineError;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("failed to connect to host `{host}` ({endpoint})")]
    Connect {
        host: String,
        endpoint: String,
        #[source]
        source: Box<russh::Error>,
    },
    #[error("timed out after {timeout:?} connecting to host `{host}` ({endpoint})")]
    ConnectTimeout { host: String, endpoint: String, timeout: Duration },
    #[error(
        "host `{host}` is not in known_hosts {}: it offered the {algorithm} key {fingerprint}\n\
         If that is the right key, trust it with `ssh-keyscan -p {port} {address} >> {}` \
         or set host_key_checking = \"accept-new\" in [ssh]",
        known_hosts.display(), known_hosts.display()
    )]
    HostKeyUnknown {
        host: String,
        address: String,
        port: u16,
        algorithm: String,
        fingerprint: String,
        known_hosts: PathBuf,
    },
    #[error(
        "the host key of `{host}` has CHANGED: the {algorithm} key it offered ({fingerprint}) does not \
         match line {line} of {}\n\
         Someone could be intercepting the connection (a man-in-the-middle attack), or the host was \
         reinstalled. If you know the new key is right, remove the old one with \
         `ssh-keygen -R '{known_name}' -f {}` and connect again",
        known_hosts.display(), known_hosts.display()
    )]
    HostKeyChanged {
        host: String,
        known_name: String,
        algorithm: String,
        fingerprint: String,
        known_hosts: PathBuf,
        line: usize,
    },
    #[error(
        "host `{host}` offered a {algorithm} key ({fingerprint}) but {} (line {line}) records a key of \
         another type ({known}) for it\n\
         Someone could be intercepting the connection (a man-in-the-middle attack), or the host's keys \
         were replaced. If you know the new key is right, remove the old one with \
         `ssh-keygen -R '{known_name}' -f {}` and connect again",
        known_hosts.display(), known_hosts.display()
    )]
    HostKeyOtherType {
        host: String,
        known_name: String,
        algorithm: String,
        fingerprint: String,
        known: String,
        known_hosts: PathBuf,
        line: usize,
    },
    #[error("host `{host}` offered a host certificate, which testbot does not check")]
    HostCertificate { host: String },
    #[error("failed to read known_hosts file {}", path.display())]
    KnownHosts {
        path: PathBuf,
        #[source]
        source: russh::keys::Error,
    },
    #[error("failed to record the host key of `{host}` in {}", path.display())]
    LearnHostKey {
        host: String,
        path: PathBuf,
        #[source]
        source: russh::keys::Error,
    },
    #[error("failed to read SSH key {}", path.display())]
    KeyLoad {
        path: PathBuf,
        #[source]
        source: russh::keys::Error,
    },
    #[error(
        "SSH key {} is protected by a passphrase and no ssh-agent is running (SSH_AUTH_SOCK is not set)\n\
         Start one and add the key (`eval $(ssh-agent)` then `ssh-add {}`), or use a key without a passphrase",
        path.display(), path.display()
    )]
    KeyEncrypted { path: PathBuf },
    #[error("no way to authenticate to host `{host}`: no identity file is readable and SSH_AUTH_SOCK is not set")]
    NoAuthMethod { host: String },
    #[error("failed to authenticate to host `{host}` as `{user}`; tried: {}", tried.join("; "))]
    Auth { host: String, user: String, tried: Vec<String> },
    #[error("timed out after {timeout:?} authenticating to host `{host}` as `{user}`")]
    AuthTimeout { host: String, user: String, timeout: Duration },
    #[error("failed to open a channel on host `{host}`")]
    Channel {
        host: String,
        #[source]
        source: Box<russh::Error>,
    },
    #[error("host `{host}` refused to run `{command}`")]
    ExecRefused { host: String, command: String },
    #[error("lost the connection to host `{host}`")]
    Disconnected { host: String },
    #[error("timed out after {timeout:?} waiting for `{command}` on host `{host}`")]
    Timeout { host: String, command: String, timeout: Duration },
    #[error("failed to build the command line for host `{host}`")]
    CommandLine {
        host: String,
        #[source]
        source: CommandLineError,
    },
}
