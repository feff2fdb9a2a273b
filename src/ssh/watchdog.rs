//! The shell text every remote command runs under. It prints the command's process group
//! first (sshd starts each session's command in a new session, so the shell's pid is the group
//! of everything it starts), then a background watchdog holds the channel's stdin: when the
//! channel closes — the command ended, it was killed or timed out, or testbot or the network
//! went — the watchdog kills the whole group, so nothing is left running on the host.

/// The first stdout line of every command: the process group to kill.
pub(super) const PGID_MARKER: &[u8] = b"testbot-pgid:";
/// Lines before the marker (noise from a remote shell startup file) are passed on; a line
/// longer than this means the marker is not coming.
pub(super) const PGID_SEARCH_LIMIT: usize = 64 * 1024;

/// A login environment with no locale leaves Ruby reading file names and output as US-ASCII
/// ("invalid byte sequence in US-ASCII" for a spec file named in UTF-8), where the same command
/// works on this machine: such a host gets C.UTF-8. A locale the host sets stays, and
/// `[project] env` (given to `env` on the command line) wins over both.
pub(super) const LOCALE: &str = "[ -n \"${LC_ALL:-${LC_CTYPE:-${LANG:-}}}\" ] || export LANG=C.UTF-8\n";

/// A command's line under the watchdog. The channel's stdin holds first `env_len` bytes of
/// `export K='V'` lines (the command's environment: values on a command line would be readable
/// by every user of the host), then the command's own `stdin_len` bytes. The shell reads the
/// environment into a variable of its own (not exported) and evals it in the command's shell
/// only, after the locale default, so `[project] env` wins and the watchdog's own tools keep the
/// login PATH. The command gets its bytes and then end of input (`head -c` reads no more than
/// it passes on); only then does the watchdog start reading, so the two never share the pipe.
/// With nothing to read the command gets /dev/null and starts no extra process. With
/// `events`, the command's descriptor 3 goes to the channel's stderr stream and its own stderr
/// joins its stdout, so no byte a test prints is read as an event. An endless stdin (`None`, a
/// batch session) is relayed to the command as it comes by the watchdog itself, which kills the
/// group when the channel closes; the command's end (how it ended said in a last line,
/// [`SESSION_END`]) kills the group too, the relay with it. There the line runs in a subshell:
/// its `exec` must not replace the shell that says how it ended (a session client killed while
/// its batch ran would otherwise leave the relay waiting for a request that never comes, and the
/// batch waiting for an end until the run's `--timeout`).
pub(super) fn watched(line: &str, events: bool, env_len: usize, stdin_len: Option<usize>) -> String {
    let marker = std::str::from_utf8(PGID_MARKER).expect("ASCII marker");
    let watchdog = "{ cat <&3 >/dev/null 2>&1; kill -s KILL -- -$$; } >/dev/null 2>&1 &";
    let events = if events { "exec 3>&2 2>&1\n" } else { "" };
    let read_env = if env_len == 0 { String::new() } else { format!("testbot_env=$(head -c {env_len} <&3) || exit 1\n") };
    let use_env = if env_len == 0 { "" } else { "eval \"$testbot_env\" || exit 1\nunset testbot_env\n" };
    let start = format!("printf '{marker}%s\\n' \"$$\" || exit 1\nexec 3<&0 </dev/null\n{read_env}");
    let command = |line: &str| format!("{LOCALE}{use_env}{events}{line}\n");
    match stdin_len {
        Some(0) => format!("{start}{watchdog}\nexec 3<&-\n{}", command(line)),
        Some(len) => format!("{start}{{ head -c {len} <&3; exec >&-; {watchdog} }} | {{ exec 3<&-\n{}}}\n", command(line)),
        None => {
            let end = std::str::from_utf8(SESSION_END).expect("ASCII marker");
            let relay = "{ cat <&3; kill -s KILL -- -$$; } 2>/dev/null";
            let command = command(&format!("({line})"));
            format!("{start}{relay} | {{ exec 3<&-\n{command}printf '\\n{end}%s\\n' \"$?\"; kill -s KILL -- -$$; }}\n")
        }
    }
}

/// The last stdout line of a command with an endless stdin: `testbot-session-end:STATUS` (the
/// shell's `$?`: 128 + N for a command killed by signal N).
pub const SESSION_END: &[u8] = b"testbot-session-end:";

pub(super) fn parse_pgid(line: &[u8]) -> Option<u32> {
    let digits = line.strip_prefix(PGID_MARKER)?.strip_suffix(b"\n")?;
    let pgid: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    // 0 and 1 would signal the caller's own group or every process of the user.
    (pgid > 1).then_some(pgid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The output without the process-group line `watched` prints first (lines a remote shell
    /// startup file printed before it are kept).
    fn strip_pgid_line(mut out: Vec<u8>) -> Vec<u8> {
        let mut start = 0;
        while start < out.len() {
            let end = out[start..].iter().position(|&b| b == b'\n').map_or(out.len(), |i| start + i + 1);
            if parse_pgid(&out[start..end]).is_some() {
                out.drain(start..end);
                return out;
            }
            start = end;
        }
        out
    }
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    /// Starts `watched(command, len)` as sshd would: `sh -c` leading a process group of its own
    /// (sshd makes it a session's leader: the same for the group kill, and `setsid(1)` is Linux's).
    fn start(command: &str, len: usize) -> std::process::Child {
        Command::new("sh")
            .args(["-c", &watched(command, false, 0, Some(len))])
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Running (a zombie has been killed; its reaping is init's business).
    #[cfg(target_os = "linux")]
    fn alive(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
            Err(_) => false,
        }
    }

    /// No /proc (macOS): `ps` says the state, nothing for a process that is gone.
    #[cfg(not(target_os = "linux"))]
    fn alive(pid: u32) -> bool {
        let out = Command::new("ps").args(["-o", "stat=", "-p", &pid.to_string()]).output().unwrap();
        let state = String::from_utf8_lossy(&out.stdout);
        !state.trim().is_empty() && !state.trim_start().starts_with('Z')
    }

    #[test]
    fn the_command_gets_exactly_its_stdin_and_the_pgid_line_is_stripped() {
        let mut child = start("wc -c; echo done", 5);
        let mut stdin = child.stdin.take().unwrap();
        // More than the command's share: the rest is the watchdog's.
        stdin.write_all(b"12345 and more").unwrap();
        stdin.flush().unwrap();
        let mut out = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        assert!(child.wait().unwrap().success());
        let text = String::from_utf8(strip_pgid_line(out)).unwrap();
        assert_eq!(text.split_whitespace().collect::<Vec<_>>(), ["5", "done"]);
        drop(stdin);
    }

    #[test]
    fn the_environment_comes_through_stdin_and_never_onto_a_command_line() {
        let env = "export SECRET='s3cr3t '\\''x'\\'' $(id)'\nexport LANG=xx\n";
        for input in ["", "in"] {
            let script = watched("printf '%s|%s|' \"$SECRET\" \"$LANG\"; cat; ps -o args= -p $$", false, env.len(), Some(input.len()));
            assert!(!script.contains("s3cr3t"));
            let mut child = Command::new("sh")
                .args(["-c", &script])
                .process_group(0)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(format!("{env}{input}").as_bytes()).unwrap();
            let mut out = Vec::new();
            let mut stdout = child.stdout.take().unwrap();
            let mut buf = [0u8; 4096];
            // Read up to the end of the command's output (the channel stays open meanwhile).
            while !String::from_utf8_lossy(&out).contains("testbot-pgid") || !out.ends_with(b"\n") || out.iter().filter(|&&b| b == b'\n').count() < 2 {
                let n = stdout.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            drop(stdin);
            let _ = child.wait();
            let text = String::from_utf8(strip_pgid_line(out)).unwrap();
            assert!(text.starts_with(&format!("s3cr3t 'x' $(id)|xx|{input}")), "{text:?}");
        }
    }

    /// A session's command killed while its channel stays open (a batch session's client,
    /// killed mid-batch): the shell says how it ended, and the group, the relay with it, is gone.
    #[test]
    fn a_sessions_command_killed_mid_session_is_said_and_ends_the_group() {
        let line = "cd / && exec sh -c 'echo $$; exec sleep 300'";
        let mut child = Command::new("sh")
            .args(["-c", &watched(line, false, 0, None)])
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let _stdin = child.stdin.take(); // held open: the channel stays
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        while lines.len() < 2 {
            let mut l = String::new();
            assert!(std::io::BufRead::read_line(&mut out, &mut l).unwrap() > 0, "{lines:?}");
            lines.push(l);
        }
        let command: i32 = lines[1].trim().parse().unwrap();
        unsafe { libc::kill(command, libc::SIGKILL) };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = out.read_to_string(&mut rest);
            let _ = tx.send(rest);
        });
        let Ok(rest) = rx.recv_timeout(Duration::from_secs(30)) else {
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            panic!("the session's shell neither said how its command ended nor ended");
        };
        let end = std::str::from_utf8(SESSION_END).unwrap();
        assert!(rest.contains(&format!("{end}137")), "{rest:?}");
        let status = child.wait().unwrap();
        assert!(!status.success(), "{status:?}");
    }

    #[test]
    fn closing_the_channel_kills_what_the_command_started() {
        for len in [0, 3] {
            // The command starts a process that outlives it, as `find | xargs sha256sum` would.
            let mut child = start("sh -c 'echo $$; exec sleep 300' & wait", len);
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(&b"abc"[..len]).unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let mut out = Vec::new();
            let mut buf = [0u8; 256];
            let sleeper = loop {
                let n = stdout.read(&mut buf).unwrap();
                assert!(n > 0, "no pid printed: {out:?}");
                out.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&strip_pgid_line(out.clone())).into_owned();
                if let Some(pid) = text.lines().next().and_then(|l| l.trim().parse::<u32>().ok()) {
                    break pid;
                }
            };
            assert!(alive(sleeper));
            // The channel closes: its stdin ends.
            drop(stdin);
            let _ = child.wait();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while alive(sleeper) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(!alive(sleeper), "the sleeper outlived the channel (stdin {len} bytes)");
        }
    }
}
