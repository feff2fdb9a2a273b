//! The batch client inside testbot's own binary, for batches on this machine: it does what
//! `testbot_client.rb` does on SSH hosts — hands a batch's command, environment, directory,
//! stdout, stderr and event channel to the fork (or preload) server, then ends the way the
//! batch's child ended — without starting Ruby. A Ruby client costs ~14 ms of CPU; with every
//! slot starting its first batch at once on a few cores, that was a good part of a forked
//! batch's start.
//!
//!   testbot __batch-client SOCKET fork|preload COMMAND…
//!
//! `main.rs` hands it the arguments before anything else runs (no clap, no runtime). The request
//! it writes is the one `testbot_request.rb` reads; it sends it only once the server said
//! `ready` (within `TESTBOT_FORK_START_TIMEOUT` seconds), so a stopped server never holds the
//! batch's pipes. The keeper then says `group PGID`, then `exit N`, `signal N` or `lost server`.
//! Whatever ends the batch through no doing of the framework's (no server, a stuck one, a lost
//! keeper) is said on the event channel as `{"e":"lost"}`, and how the child ended as
//! `{"e":"child_ended"}`: testbot then never takes this client's status for the framework's.
//! It makes the batch's `$TMPDIR` first, as `ssh::quote::MAKE_TMPDIR`'s shell text does
//! for the other runners: a batch here starts no shell and no `mkdir`.

use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The hidden first argument that makes the binary a batch client.
pub const COMMAND: &str = "__batch-client";

/// `argv` run by the server on `socket` (`kind`: `fork` or `preload`), with testbot's binary
/// `exe` as the client.
pub fn command(exe: &str, socket: &str, kind: &str, argv: Vec<String>) -> Vec<String> {
    let mut wrapped = vec![exe.to_string(), COMMAND.to_string(), socket.to_string(), kind.to_string()];
    wrapped.extend(argv);
    wrapped
}

/// What the server (or the batch's keeper) says on the socket, a line each.
#[derive(Debug, PartialEq)]
enum Answer {
    /// The server took the connection: the request and descriptors may go.
    Ready,
    /// The child's process group.
    Group(i32),
    Exit(i32),
    Signal(i32),
    /// The server went away and its keeper killed the batch.
    LostServer,
}

/// What went away under a batch, as said on the event channel (`{"e":"lost","what":…}`).
#[derive(Clone, Copy)]
enum Lost {
    Server,
    Keeper,
}

/// The variable that bounds the wait for the server's `ready`, in seconds (the client's only).
pub const START_TIMEOUT_VAR: &str = "TESTBOT_FORK_START_TIMEOUT";
const DEFAULT_START_TIMEOUT: f64 = 20.0;

/// Runs the client with `args` (what follows `COMMAND`) and exits as the batch did.
pub fn main(args: &[OsString]) -> ! {
    let (Some(socket), Some(kind)) = (args.first(), args.get(1)) else {
        fail("usage: testbot __batch-client SOCKET fork|preload COMMAND…", 2)
    };
    make_tmpdir();
    let server = if kind == "preload" { "the preload server of this slot" } else { "the fork server of this host" };
    let start_timeout = std::env::var(START_TIMEOUT_VAR).ok().and_then(|v| v.parse::<f64>().ok()).filter(|s| *s > 0.0);
    let start_timeout = std::time::Duration::from_secs_f64(start_timeout.unwrap_or(DEFAULT_START_TIMEOUT));
    std::env::remove_var(START_TIMEOUT_VAR);
    let conn = match connect(Path::new(socket)) {
        Ok(conn) => conn,
        // Every batch of this host (or slot) would end the same way.
        Err(e) => lost(Lost::Server, &format!("{server} is gone ({e})"), 127),
    };
    let mut reader = BufReader::new(&conn);
    // A stopped or wedged server accepts nothing: the batch never starts, and it holds none of
    // the batch's descriptors (they go only once it said `ready`).
    let _ = conn.set_read_timeout(Some(start_timeout));
    match next_answer(&mut reader) {
        Ok(Some(Answer::Ready)) => {}
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
            lost(Lost::Server, &format!("{server} did not take the batch within {}s", start_timeout.as_secs_f64()), 1)
        }
        _ => lost(Lost::Server, &format!("{server} went away before the batch started"), 1),
    }
    let _ = conn.set_read_timeout(None);
    if request(&conn, &args[2..]).is_err() {
        lost(Lost::Server, &format!("{server} went away before the batch started"), 1)
    }
    let mut group = None;
    loop {
        match next_answer(&mut reader) {
            Ok(Some(Answer::Group(pgid))) => group = Some(pgid),
            Ok(Some(Answer::Exit(code))) => {
                event(&serde_json::json!({ "e": "child_ended" }));
                std::process::exit(code)
            }
            Ok(Some(Answer::Signal(signal))) => {
                event(&serde_json::json!({ "e": "child_ended" }));
                die_by(signal)
            }
            Ok(Some(Answer::LostServer)) => lost(Lost::Server, &format!("{server} went away while the batch ran"), 1),
            Ok(Some(Answer::Ready)) => {}
            Ok(None) | Err(_) => {
                // The keeper is gone: the batch it kept goes too, not left running unwatched.
                if let Some(pgid) = group.filter(|g| *g > 1) {
                    // SAFETY: a plain kill(2) of the child's process group.
                    unsafe { libc::kill(-pgid, libc::SIGKILL) };
                }
                lost(Lost::Keeper, &format!("the process that kept this batch on {server} went away while the batch ran"), 1)
            }
        }
    }
}

/// What `ssh::quote::MAKE_TMPDIR` does before a command runs: `$TMPDIR` made absolute
/// (from the batch's directory when it is not), made, and exported as such. A `sh -c` and
/// its `mkdir` took 2-5 ms a batch on a loaded 2-core machine, and a first run of
/// `bench/local.sh` starts 61 batches on 8 slots.
fn make_tmpdir() {
    let dir = std::env::var_os("TMPDIR").unwrap_or_default();
    let dir = match std::env::current_dir() {
        Ok(cwd) => absolute_tmpdir(&dir, &cwd),
        Err(e) => fail(&format!("testbot: the batch's directory: {e}"), 1),
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        fail(&format!("testbot: cannot create directory {}: {e}", dir.to_string_lossy()), 1)
    }
    std::env::set_var("TMPDIR", dir);
}

/// `$TMPDIR` as the shell's `case $TMPDIR in /*) ;; *) TMPDIR=$PWD/$TMPDIR ;; esac` leaves it.
fn absolute_tmpdir(dir: &OsStr, cwd: &Path) -> OsString {
    if dir.as_bytes().starts_with(b"/") {
        return dir.to_os_string();
    }
    let mut joined = cwd.as_os_str().to_os_string();
    joined.push("/");
    joined.push(dir);
    joined
}

/// The batch ended through no doing of the framework's: said on stderr and, for testbot, on the
/// event channel, so that it reruns what is not proven instead of taking this status for the
/// framework's.
fn lost(what: Lost, message: &str, code: i32) -> ! {
    let _ = writeln!(io::stderr(), "testbot: {message}");
    let what = match what {
        Lost::Server => "server",
        Lost::Keeper => "keeper",
    };
    event(&serde_json::json!({ "e": "lost", "what": what, "m": message }));
    std::process::exit(code)
}

/// One event line on the batch's event channel (its stdout without one), on a line of its own.
fn event(line: &serde_json::Value) {
    let fd = std::env::var("TESTBOT_EVENT_FD").ok().and_then(|fd| fd.parse::<RawFd>().ok()).unwrap_or(1);
    let bytes = format!("\n{line}\n");
    // SAFETY: a plain write(2) of a buffer that lives for the call, to a descriptor this process
    // was given; it is not closed or owned here.
    unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
}

fn fail(message: &str, code: i32) -> ! {
    let _ = writeln!(io::stderr(), "{message}");
    std::process::exit(code)
}

/// Connects from the socket's folder: a UNIX socket's path may not be longer than ~100 bytes.
fn connect(path: &Path) -> io::Result<UnixStream> {
    let (Some(dir), Some(base)) = (path.parent().filter(|d| !d.as_os_str().is_empty()), path.file_name()) else {
        return UnixStream::connect(path);
    };
    let back = std::env::current_dir()?;
    std::env::set_current_dir(dir)?;
    let conn = UnixStream::connect(base);
    std::env::set_current_dir(back)?;
    conn
}

/// The request (`testbot_request.rb`), then stdout, stderr and the event channel.
fn request(conn: &UnixStream, argv: &[OsString]) -> io::Result<()> {
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let dir = std::env::current_dir()?;
    (&*conn).write_all(&encode(argv, &env, dir.as_os_str()))?;
    // The event channel (testbot_events.rb); without one, the batch's events go to its stdout.
    let events = std::env::var("TESTBOT_EVENT_FD").ok().and_then(|fd| fd.parse::<RawFd>().ok()).unwrap_or(1);
    for fd in [1, 2, events] {
        send_fd(conn.as_raw_fd(), fd)?;
    }
    Ok(())
}

/// A request as `testbot_request.rb` reads it (also a batch session's, `testbot_client.rb --session`).
pub fn encode(argv: &[OsString], env: &[(OsString, OsString)], dir: &OsStr) -> Vec<u8> {
    let mut body = Vec::new();
    let mut field = |bytes: &[u8]| {
        body.extend_from_slice(bytes);
        body.push(0);
    };
    field(argv.len().to_string().as_bytes());
    argv.iter().for_each(|a| field(a.as_bytes()));
    field(env.len().to_string().as_bytes());
    for (name, value) in env {
        field(name.as_bytes());
        field(value.as_bytes());
    }
    field(dir.as_bytes());
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

/// One descriptor in one message, with one byte of data, as Ruby's `UNIXSocket#send_io` sends it.
fn send_fd(sock: RawFd, fd: RawFd) -> io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    // u64s: the control buffer must be aligned for a `cmsghdr`.
    let mut control = [0u64; 4];
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    assert!(space <= std::mem::size_of_val(&control));
    // SAFETY: a zeroed msghdr is valid; its pointers are set to live buffers below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer holds CMSG_SPACE(one fd) bytes, so its first header and the
    // data after it are in bounds.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
    }
    loop {
        // SAFETY: msg points at the buffers above, alive for the call.
        if unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) } >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The next line on the socket (None: the other end hung up without one).
fn next_answer(reader: &mut BufReader<&UnixStream>) -> io::Result<Option<Answer>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(parse_answer(&line))
}

fn parse_answer(line: &str) -> Option<Answer> {
    match line.trim_end() {
        "ready" => return Some(Answer::Ready),
        "lost server" => return Some(Answer::LostServer),
        _ => {}
    }
    let (word, number) = line.trim_end().split_once(' ')?;
    let number = number.parse().ok()?;
    match word {
        "group" => Some(Answer::Group(number)),
        "exit" => Some(Answer::Exit(number)),
        "signal" => Some(Answer::Signal(number)),
        _ => None,
    }
}

/// Ends this process by `signal`, as the batch's child ended.
fn die_by(signal: i32) -> ! {
    // SAFETY: plain libc calls on this process's own signal disposition and mask.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), signal);
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    std::process::exit(128 + signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_length_then_nul_ended_fields() {
        let argv = [OsString::from("rspec"), OsString::from("./spec/a b_spec.rb")];
        let env = [(OsString::from("A"), OsString::from("1=2")), (OsString::from("E"), OsString::new())];
        let bytes = encode(&argv, &env, OsStr::new("/w"));
        let body = b"2\0rspec\0./spec/a b_spec.rb\x002\0A\x001=2\0E\0\0/w\0";
        assert_eq!(&bytes[..4], (body.len() as u32).to_be_bytes());
        assert_eq!(&bytes[4..], body);
    }

    #[test]
    fn a_relative_tmpdir_is_taken_from_the_batch_directory_as_the_shell_takes_it() {
        let cwd = Path::new("/w/p");
        assert_eq!(absolute_tmpdir(OsStr::new("/tmp/run/slot-2"), cwd), "/tmp/run/slot-2");
        assert_eq!(absolute_tmpdir(OsStr::new("tmp/slot-2"), cwd), "/w/p/tmp/slot-2");
        assert_eq!(absolute_tmpdir(OsStr::new(""), cwd), "/w/p/", "unset: $PWD/, as sh makes it");
    }

    #[test]
    fn answers_are_exit_or_signal() {
        assert_eq!(parse_answer("exit 3\n"), Some(Answer::Exit(3)));
        assert_eq!(parse_answer("signal 9\n"), Some(Answer::Signal(9)));
        assert_eq!(parse_answer(""), None);
        assert_eq!(parse_answer("exit x\n"), None);
        assert_eq!(parse_answer("bye 1\n"), None);
        assert_eq!(parse_answer("ready\n"), Some(Answer::Ready));
        assert_eq!(parse_answer("group 4242\n"), Some(Answer::Group(4242)));
        assert_eq!(parse_answer("lost server\n"), Some(Answer::LostServer));
    }
}
