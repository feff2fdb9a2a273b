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
