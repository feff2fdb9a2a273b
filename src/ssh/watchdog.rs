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

/// A command's line under the watchdog. The channel's stdin holds first `env`, the
/// `export K='V'` lines of the command's environment (values on a command line would be readable
/// by every user of the host), then the command's own `stdin_len` bytes. The shell reads the
/// environment into a variable of its own (not exported) and evals it in the command's shell
/// only, after the locale default, so `[project] env` wins and the watchdog's own tools keep the
/// login PATH (see [`read_env`]). The command gets its bytes and then end of input (`head -c`
/// reads no more than it passes on); only then does the watchdog start reading, so the two never
/// share the pipe.
/// With nothing to read the command gets /dev/null and starts no extra process. With
/// `events`, the command's descriptor 3 goes to the channel's stderr stream and its own stderr
/// joins its stdout, so no byte a test prints is read as an event. An endless stdin (`None`, a
/// batch session) is relayed to the command as it comes by the watchdog itself, which kills the
/// group when the channel closes; the command's end (how it ended said in a last line,
/// [`SESSION_END`]) kills the group too, the relay with it. There the line runs in a subshell:
/// its `exec` must not replace the shell that says how it ended (a session client killed while
/// its batch ran would otherwise leave the relay waiting for a request that never comes, and the
/// batch waiting for an end until the run's `--timeout`).
pub(super) fn watched(line: &str, events: bool, env: &str, stdin_len: Option<usize>) -> String {
    let marker = std::str::from_utf8(PGID_MARKER).expect("ASCII marker");
    // The shell's own `read` waits for the channel's end: nothing comes after the command's
    // bytes, and a `cat` was an exec on every command (on every host, two or three a run).
    let watchdog = "{ while read -r testbot_line; do :; done <&3; kill -s KILL -- -$$; } >/dev/null 2>&1 &";
    let events = if events { "exec 3>&2 2>&1\n" } else { "" };
    let read_env = read_env(env);
    let use_env = if env.is_empty() { "" } else { "eval \"$testbot_env\" || exit 1\nunset testbot_env\n" };
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

/// Up to this many bytes of environment are read by the shell's own `read`, a line at a time;
/// more by `head -c`. `read` takes a byte a system call from a pipe (it must leave the rest of
/// the pipe unread), `head` costs a fork and an exec: with dash the builtins were the quicker up
/// to about 4 KiB (0.5 KiB: 1-1.5 ms quicker; 5.7 KiB: 0.9 ms slower; docs/benchmarks.md,
/// session 32).
const ENV_READ_LIMIT: usize = 4096;

/// The shell text that reads `env` (`export K='V'` lines, each ending in a newline; a value's
/// own newlines make more lines) from descriptor 3 into `testbot_env`, byte for byte, and no
/// byte more. A short environment, the usual one, is read by builtins (a batch's is about 300
/// bytes: the fork and exec of `head` were a millisecond before its runner could start); a
/// channel that ends early fails the read and the command.
fn read_env(env: &str) -> String {
    if env.is_empty() {
        return String::new();
    }
    if env.len() > ENV_READ_LIMIT {
        return format!("testbot_env=$(head -c {} <&3) || exit 1\n", env.len());
    }
    let lines = env.bytes().filter(|&b| b == b'\n').count();
    debug_assert!(env.ends_with('\n'), "every export line ends in a newline");
    format!(
        "testbot_env=; testbot_n={lines}\n\
         while [ \"$testbot_n\" -gt 0 ]; do IFS= read -r testbot_line <&3 || exit 1; testbot_env=\"$testbot_env$testbot_line\n\
         \"; testbot_n=$((testbot_n - 1)); done; unset testbot_n testbot_line\n"
    )
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
            .args(["-c", &watched(command, false, "", Some(len))])
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
            let script = watched("printf '%s|%s|' \"$SECRET\" \"$LANG\"; cat; ps -o args= -p $$", false, env, Some(input.len()));
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

    /// Runs `line` under the watchdog as sshd would, `env`'s variables and then `input` on its
    /// stdin, in each shell a host's login shell is likely to be: its stdout up to the line
    /// `END` (the pgid line left out), per shell. The channel stays open until then (its close
    /// would kill the command).
    fn run_with_env(line: &str, env: &[(&str, &str)], input: &[u8]) -> Vec<(&'static str, String)> {
        let command = crate::ssh::HostCommand::new(vec!["true".into()], env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), Default::default());
        let env = crate::ssh::quote::env_script(&command).unwrap();
        let script = watched(&format!("{line}; echo END"), false, &env, Some(input.len()));
        let mut runs = Vec::new();
        for shell in ["sh", "dash", "bash"] {
            if Command::new(shell).args(["-c", "true"]).output().is_err() {
                continue;
            }
            let mut child = Command::new(shell).args(["-c", &script]).process_group(0).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            // A pipe, as the channel is: the shell's `read` takes a byte at a time from it.
            stdin.write_all(env.as_bytes()).unwrap();
            stdin.write_all(input).unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let (mut out, mut buf) = (Vec::new(), [0u8; 4096]);
            while !out.ends_with(b"END\n") {
                let n = stdout.read(&mut buf).unwrap();
                assert!(n > 0, "{shell}: the command ended early: {:?}", String::from_utf8_lossy(&out));
                out.extend_from_slice(&buf[..n]);
            }
            drop(stdin);
            let _ = child.wait();
            let out = String::from_utf8(strip_pgid_line(out)).unwrap();
            runs.push((shell, out.strip_suffix("END\n").unwrap().to_string()));
        }
        runs
    }

    /// Values a shell could read as something else — newlines (a value's own lines, an empty
    /// one, one that looks like an `export`), quotes, `$(...)`, backslashes, trailing blanks and
    /// CRs — reach the command byte for byte, in a short environment (the shell's `read`) and a
    /// long one (`head -c`), and the command's own stdin after them is untouched.
    #[test]
    fn every_byte_of_the_environment_reaches_the_command_and_no_byte_of_its_stdin_is_taken() {
        let nasty = "line one\n\nexport EVIL=1\n  'single' \"double\" $(touch pwned) `id` \\ back\\\\ \t \r\nlast  \n";
        let long = "x".repeat(ENV_READ_LIMIT);
        for extra in ["", long.as_str()] {
            let env = [("A", nasty), ("EMPTY", ""), ("B", "\n"), ("LONG", extra)];
            let input = b"the command's own\nstdin\\";
            let line = "printf '%s|%s|%s|%s|' \"$A\" \"$EMPTY\" \"$B\" \"${#LONG}\"; printf '%s' \"${EVIL-unset}\"; echo; cat; echo";
            for (shell, out) in run_with_env(line, &env, input) {
                let want = format!("{nasty}||\n|{}|unset\n{}\n", extra.len(), String::from_utf8_lossy(input));
                assert_eq!(out, want, "{shell}, {} bytes of LONG", extra.len());
            }
        }
        assert!(!std::path::Path::new("pwned").exists());
    }

    /// A channel that ends before the whole environment came fails the command before it runs.
    #[test]
    fn an_environment_cut_short_runs_nothing() {
        let command = crate::ssh::HostCommand::new(vec!["true".into()], vec![("A".into(), "a\nb".into()), ("B".into(), "b".into())], Default::default());
        let env = crate::ssh::quote::env_script(&command).unwrap();
        let script = watched("echo ran", false, &env, Some(0));
        for cut in [0, 5, env.len() - 1] {
            let mut child = Command::new("sh").args(["-c", &script]).process_group(0).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(&env.as_bytes()[..cut]).unwrap();
            drop(stdin);
            let out = child.wait_with_output().unwrap();
            assert!(!out.status.success(), "{cut} bytes");
            assert!(!String::from_utf8_lossy(&out.stdout).contains("ran"), "{cut} bytes");
        }
    }

    /// A session's command killed while its channel stays open (a batch session's client,
    /// killed mid-batch): the shell says how it ended, and the group, the relay with it, is gone.
    #[test]
    fn a_sessions_command_killed_mid_session_is_said_and_ends_the_group() {
        let line = "cd / && exec sh -c 'echo $$; exec sleep 300'";
        let mut child = Command::new("sh")
            .args(["-c", &watched(line, false, "", None)])
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
