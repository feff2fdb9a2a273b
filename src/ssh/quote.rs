//! POSIX `sh` quoting: the one place that turns a `HostCommand` into the command line an SSH
//! server hands to the remote user's shell. Everything remote goes through `quote`, so there is
//! exactly one function to get right.

use super::HostCommand;

/// Quotes `arg` as one word for POSIX `sh`.
///
/// Words made only of characters that no shell treats specially are left as they are (the
/// command lines stay readable in logs); anything else is wrapped in single quotes, inside which
/// `sh` interprets nothing, and each `'` becomes `'\''` (close, escaped quote, reopen).
pub fn quote(arg: &str) -> String {
    if !arg.is_empty() && arg.bytes().all(is_safe) {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

// `=` is safe only because no quoted word is ever the first word of a command here (where
// `A=B` would be an assignment); `~`, `#` and the glob/expansion characters are not.
fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b',' | b':' | b'@' | b'%' | b'+' | b'=')
}

/// Why a `HostCommand` cannot be turned into a command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandLineError {
    #[error("the command is empty")]
    EmptyArgv,
    #[error("environment variable name `{0}` is not valid (it must match [A-Za-z_][A-Za-z0-9_]*)")]
    EnvName(String),
    #[error("the program name `{0}` contains `=`, which `env` would read as a variable assignment")]
    ProgramWithEquals(String),
    #[error("{what} contains a NUL byte, which cannot be passed to a program")]
    Nul { what: String },
    #[error("the working directory `{0}` is not valid UTF-8")]
    CwdNotUtf8(String),
}

/// `cd <cwd> && exec <argv…>`, every piece quoted. The environment is not on it: a
/// command line is readable by every user of the host (`ps`, /proc/*/cmdline), and `[project]
/// env` may hold secrets. It goes through the channel's stdin instead (see [`env_script`]).
/// An empty `cwd` means the login directory.
pub fn command_line(cmd: &HostCommand) -> Result<String, CommandLineError> {
    let program = cmd.argv.first().ok_or(CommandLineError::EmptyArgv)?;
    if program.contains('=') {
        return Err(CommandLineError::ProgramWithEquals(program.clone()));
    }
    let mut line = String::new();
    let cwd = cmd.cwd.to_str().ok_or_else(|| CommandLineError::CwdNotUtf8(cmd.cwd.display().to_string()))?;
    if !cwd.is_empty() {
        check_nul("the working directory", cwd)?;
        // A relative directory starting with `-` would be read as an option by `cd`.
        let cwd = if cwd.starts_with('-') { format!("./{cwd}") } else { cwd.to_string() };
        line.push_str("cd ");
        line.push_str(&quote(&cwd));
        line.push_str(" && ");
    }
    if cmd.tmpdir {
        line.push_str(MAKE_TMPDIR);
        line.push_str(" && ");
    }
    // The shell's `exec` looks the program up in PATH (never a builtin, nor a function in sh,
    // dash or bash) as `env` would, without `env`'s own process: one exec fewer on every
    // command, on every host. A program name starting with `-` would be read as an option of
    // `exec` (dash has no `--` there): it goes through `env --`.
    line.push_str(if program.starts_with('-') { "exec env --" } else { "exec" });
    for (i, arg) in cmd.argv.iter().enumerate() {
        check_nul(&format!("argument {i}"), arg)?;
        line.push(' ');
        line.push_str(&quote(arg));
    }
    Ok(line)
}

/// Shell text that makes `$TMPDIR` absolute (from the working directory when it is not), makes
/// it, and exports it; `mkdir` runs only where it is missing. On an SSH host it runs in the
/// command's own shell, before the `exec` of the program: a `sh -c` wrapper of its own was an
/// exec, and its `mkdir` a fork and an exec, on every batch's way to its runner (2 ms of the
/// batch's start on a 2-core host, docs/benchmarks.md, session 32).
pub const MAKE_TMPDIR: &str = r#"case $TMPDIR in /*) ;; *) TMPDIR=$PWD/$TMPDIR ;; esac && { [ -d "$TMPDIR" ] || mkdir -p -- "$TMPDIR"; } && export TMPDIR"#;

/// `argv` under `sh -c`, `MAKE_TMPDIR` first (a command this machine runs without a shell of
/// its own); `exec` keeps the program's process the one that was spawned.
pub fn making_tmpdir(argv: Vec<String>) -> Vec<String> {
    let mut wrapped = vec!["sh".to_string(), "-c".to_string(), format!("{MAKE_TMPDIR} && exec \"$@\""), "testbot".to_string()];
    wrapped.extend(argv);
    wrapped
}

/// `export K='V'` lines for the command's environment, for the remote shell to `eval` after
/// reading them from the channel's stdin: the values never appear in any process's argv.
/// (Not SSH `SetEnv`/`env` requests either: sshd drops those unless its `AcceptEnv` lists
/// each name.)
pub fn env_script(cmd: &HostCommand) -> Result<String, CommandLineError> {
    let mut script = String::new();
    for (name, value) in &cmd.env {
        if !valid_env_name(name) {
            return Err(CommandLineError::EnvName(name.clone()));
        }
        check_nul(&format!("the value of {name}"), value)?;
        script.push_str("export ");
        script.push_str(name);
        script.push('=');
        script.push_str(&quote(value));
        script.push('\n');
    }
    Ok(script)
}

/// `[A-Za-z_][A-Za-z0-9_]*`, the names `sh` and `env` agree on.
pub fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn check_nul(what: &str, s: &str) -> Result<(), CommandLineError> {
    if s.contains('\0') {
        return Err(CommandLineError::Nul { what: what.to_string() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    fn cmd(argv: &[&str], env: &[(&str, &str)], cwd: &str) -> HostCommand {
        HostCommand {
            tmpdir: false,
            events: false,
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            cwd: PathBuf::from(cwd),
            stdin: Vec::new().into(),
        }
    }

    #[test]
    fn safe_words_stay_bare() {
        assert_eq!(quote("rspec"), "rspec");
        assert_eq!(quote("spec/models/user_spec.rb:12"), "spec/models/user_spec.rb:12");
        assert_eq!(quote("--format=json"), "--format=json");
        assert_eq!(quote("-n"), "-n");
    }

    #[test]
    fn special_words_are_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("'"), "''\\'''");
        assert_eq!(quote("$(touch pwned)"), "'$(touch pwned)'");
        assert_eq!(quote("`id`"), "'`id`'");
        assert_eq!(quote("a\nb"), "'a\nb'");
        assert_eq!(quote("*"), "'*'");
        assert_eq!(quote("~"), "'~'");
        assert_eq!(quote("#x"), "'#x'");
        assert_eq!(quote("héllo"), "'héllo'");
        assert_eq!(quote("\"x\""), "'\"x\"'");
        assert_eq!(quote("a\\b"), "'a\\b'");
    }

    #[test]
    fn command_line_shape() {
        let hc = cmd(&["rspec", "a b.rb"], &[("TEST_ENV_NUMBER", "2"), ("X", "a'b")], "/srv/app dir");
        assert_eq!(command_line(&hc).unwrap(), "cd '/srv/app dir' && exec rspec 'a b.rb'");
        assert_eq!(env_script(&hc).unwrap(), "export TEST_ENV_NUMBER=2\nexport X='a'\\''b'\n");
        let line = command_line(&cmd(&["true"], &[], "")).unwrap();
        assert_eq!(line, "exec true");
        let line = command_line(&cmd(&["true"], &[], "-odd")).unwrap();
        assert_eq!(line, "cd ./-odd && exec true");
        let line = command_line(&cmd(&["-odd", "x"], &[], "")).unwrap();
        assert_eq!(line, "exec env -- -odd x");
    }

    /// What the line runs is the program on PATH, as `env` ran it: not a shell function or
    /// builtin of that name, in the shells a host's login shell is likely to be.
    #[test]
    fn the_line_runs_the_program_not_a_function_or_builtin_of_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("-odd");
        std::fs::write(&bin, "#!/bin/sh\necho odd \"$@\"\n").unwrap();
        std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
        for shell in ["sh", "dash", "bash"] {
            if Command::new(shell).arg("-c").arg("true").output().is_err() {
                continue;
            }
            let line = command_line(&cmd(&["printf", "%s|", "x"], &[], "")).unwrap();
            let script = format!("printf() {{ echo function; }}; {line}");
            let out = Command::new(shell).arg("-c").arg(&script).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "x|", "{shell}: {script}");
            let line = command_line(&cmd(&["-odd", "y"], &[], "")).unwrap();
            let out = Command::new(shell).arg("-c").arg(&line).env("PATH", &path).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "odd y\n", "{shell}: {line}");
            let line = command_line(&cmd(&["no-such-program-here"], &[], "")).unwrap();
            let out = Command::new(shell).arg("-c").arg(&line).output().unwrap();
            assert_eq!(out.status.code(), Some(127), "{shell}: {line}");
        }
    }

    #[test]
    fn command_line_rejects_what_cannot_pass() {
        assert_eq!(command_line(&cmd(&[], &[], "/")), Err(CommandLineError::EmptyArgv));
        for bad in ["", "1X", "A-B", "A B", "A=B", "$(x)", "É"] {
            assert_eq!(
                env_script(&cmd(&["true"], &[(bad, "v")], "/")),
                Err(CommandLineError::EnvName(bad.to_string())),
                "{bad:?}"
            );
        }
        assert!(valid_env_name("_"));
        assert!(valid_env_name("TEST_ENV_NUMBER"));
        assert!(valid_env_name("a1"));
        assert!(matches!(command_line(&cmd(&["a\0b"], &[], "/")), Err(CommandLineError::Nul { .. })));
        assert!(matches!(env_script(&cmd(&["true"], &[("A", "\0")], "/")), Err(CommandLineError::Nul { .. })));
        assert_eq!(command_line(&cmd(&["A=B"], &[], "/")), Err(CommandLineError::ProgramWithEquals("A=B".into())));
    }

    const NASTY: &[&str] = &[
        "plain",
        "with space",
        "  leading and trailing  ",
        "it's",
        "'",
        "''",
        "\"double\"",
        "$(touch pwned)",
        "`touch pwned`",
        "${HOME}",
        "$HOME",
        "a\nb\n",
        "\ttab",
        "-n",
        "--",
        "-",
        "",
        "ünïcødé ✓ 日本",
        "*",
        "?",
        "[a]",
        "~",
        "~root",
        "#comment",
        "a;touch pwned",
        "a|touch pwned",
        "a&&touch pwned",
        "> pwned",
        "back\\slash\\",
        "!bang",
        "a=b",
        "%s",
    ];

    /// Runs the produced line through a real `sh` and compares what the program received.
    #[test]
    fn sh_receives_argv_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("dir with 'quote' and $(touch pwned)");
        std::fs::create_dir(&cwd).unwrap();
        let mut argv = vec!["printf", "%s\\0"];
        argv.extend_from_slice(NASTY);
        let env = [("NASTY_ONE", "$(touch pwned) `touch pwned` 'x' \"y\"\nz *"), ("EMPTY", "")];
        let hc = cmd(&argv, &env, cwd.to_str().unwrap());
        let line = command_line(&hc).unwrap();

        let out = Command::new("sh").arg("-c").arg(&line).current_dir(dir.path()).output().unwrap();
        assert!(out.status.success(), "sh failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut expected = Vec::new();
        for a in NASTY {
            expected.extend_from_slice(a.as_bytes());
            expected.push(0);
        }
        assert_eq!(out.stdout, expected, "line was: {line}");

        // The environment and the working directory arrive intact too.
        let mut probe = hc.clone();
        probe.argv = ["sh", "-c", "printf '%s\\0' \"$NASTY_ONE\" \"${EMPTY-unset}\" \"$PWD\""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let script = format!("eval \"$(cat)\"\n{}", command_line(&probe).unwrap());
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(env_script(&probe).unwrap().as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(!script.contains("`touch pwned`"), "an environment value is on the command line: {script}");
        assert!(out.status.success(), "sh failed: {}", String::from_utf8_lossy(&out.stderr));
        let fields: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
        assert_eq!(fields[0], env[0].1.as_bytes());
        assert_eq!(fields[1], b"");
        assert_eq!(fields[2], cwd.to_str().unwrap().as_bytes());

        for d in [dir.path(), cwd.as_path()] {
            assert!(!d.join("pwned").exists(), "an argument was executed in {}", d.display());
        }
    }

    /// A command that makes its TMPDIR — on an SSH host in its own shell (sh, dash or bash: what a
    /// login shell is likely to be), here under `sh -c` — gets it absolute (from its working
    /// directory when it was relative), made, exported, and its arguments intact; where the
    /// directory exists (a link to one counts), no `mkdir` runs: none is on the PATH then.
    #[test]
    fn a_command_making_its_tmpdir_gets_it_absolute_and_made_and_its_arguments_intact() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("work dir");
        std::fs::create_dir(&cwd).unwrap();
        let program = ["sh", "-c", r#"printf '%s|' "$TMPDIR" "$@"; sh -c 'printf "%s|" "$TMPDIR"'"#, "x", "a b", "$(touch pwned)"];
        let mut hc = cmd(&program, &[], cwd.to_str().unwrap()).making_tmpdir();
        let want_rest = "a b|$(touch pwned)|";
        for shell in ["sh", "dash", "bash"] {
            if Command::new(shell).args(["-c", "true"]).output().is_err() {
                continue;
            }
            for (i, tmpdir) in [".testbot/tmp/slot-2".to_string(), cwd.join("abs/slot-3").to_str().unwrap().to_string()].iter().enumerate() {
                let line = command_line(&hc).unwrap();
                let out = Command::new(shell).args(["-c", &line]).env("TMPDIR", tmpdir).output().unwrap();
                assert!(out.status.success(), "{shell}: {out:?}");
                let text = String::from_utf8(out.stdout).unwrap();
                let made = if i == 0 { cwd.join(tmpdir) } else { std::path::PathBuf::from(tmpdir) };
                assert!(made.is_dir(), "{shell}: {text}");
                let made = made.to_str().unwrap();
                assert_eq!(text, format!("{made}|{want_rest}{made}|"), "{shell}");
                std::fs::remove_dir_all(cwd.join(".testbot")).ok();
            }
            // It exists (through a link): the line needs no `mkdir`.
            std::fs::create_dir_all(dir.path().join("real")).unwrap();
            let link = cwd.join("link");
            let _ = std::os::unix::fs::symlink(dir.path().join("real"), &link);
            let no_mkdir = dir.path().join("bin");
            std::fs::create_dir_all(&no_mkdir).unwrap();
            let _ = std::os::unix::fs::symlink(which("sh"), no_mkdir.join("sh"));
            let line = command_line(&hc).unwrap();
            let out = Command::new(which(shell)).args(["-c", &line]).env("TMPDIR", "link").env("PATH", &no_mkdir).output().unwrap();
            let link = link.to_str().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{link}|{want_rest}{link}|"), "{shell}: {out:?}");
        }
        // This machine's commands: the same text under a `sh -c` of their own.
        let argv = making_tmpdir(hc.argv.clone());
        let out = Command::new(&argv[0]).args(&argv[1..]).current_dir(&cwd).env("TMPDIR", ".testbot/tmp/slot-4").output().unwrap();
        let made = cwd.join(".testbot/tmp/slot-4");
        assert!(made.is_dir());
        let made = made.to_str().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{made}|{want_rest}{made}|"));
        hc.tmpdir = false;
        assert!(!command_line(&hc).unwrap().contains("mkdir"));
        assert!(!cwd.join("pwned").exists() && !dir.path().join("pwned").exists());
    }

    fn which(program: &str) -> std::path::PathBuf {
        let out = Command::new("sh").args(["-c", &format!("command -v {program}")]).output().unwrap();
        let path = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert!(path.starts_with('/'), "{program} is not on the PATH: {path:?}");
        std::path::PathBuf::from(path)
    }

    #[test]
    fn quote_round_trips_through_sh_one_word_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        for a in NASTY {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", quote(a)))
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert_eq!(out.stdout, a.as_bytes(), "word {a:?} quoted as {}", quote(a));
        }
        assert!(!dir.path().join("pwned").exists());
    }
}
