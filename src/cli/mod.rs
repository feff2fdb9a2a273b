//! The command line: a pure first stage (clap, `args`) and `run`, which turns it into the plain
//! options `commands` takes (`convert`) and runs the command.

mod args;
mod bisect_args;
mod convert;
mod man;
mod project_args;
mod queue_args;
mod repeat_args;

pub use args::*;

use crate::commands::{self, Outcome};
use crate::errors::Error;
use crate::project;

/// Log lines go to stderr, coloured only where `report::term` would colour them: escape codes
/// in a CI log or a file are noise.
pub fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "testbot=debug",
        _ => "testbot=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::report::term::LogWriter)
        .with_ansi(crate::report::term::stderr_colours())
        .with_target(false)
        .try_init();
}

/// Runs the command the command line names, with its arguments turned into the plain options
/// `commands` takes.
pub fn run(cli: Cli) -> Result<Outcome, Error> {
    crate::report::term::set_raw_output(cli.raw_output);
    match cli.command {
        Some(Command::Run(args)) => commands::run(args.into()),
        Some(Command::Hosts(args)) => commands::hosts(&args.project.into()),
        Some(Command::Init(args)) => commands::init(args.chdir, args.config, args.framework),
        Some(Command::Exec(args)) => commands::exec(args.into()),
        Some(Command::Report(args)) => match args.action {
            Some(args::ReportCommand::Merge(merge)) => commands::merge((args.chdir, merge).into()),
            None => commands::queue::report(args.chdir, args.queue.into()),
        },
        Some(Command::Sync(args)) => commands::sync(&args.project.into(), args.verify),
        Some(Command::List(args)) => {
            let options = project::Options {
                paths: args.paths,
                runtime_log: args.runtime_log,
                framework: args.framework,
                exclude: args.exclude,
                changed: args.changed,
                ..Default::default()
            };
            commands::list(&args.project.into(), &options, args.partition)
        }
        Some(Command::Flaky(args)) => {
            let options = project::Options { runtime_log: args.runtime_log, framework: args.framework, ..Default::default() };
            commands::flaky(&args.project.into(), &options, args.json)
        }
        Some(Command::Bisect(args)) => commands::bisect(args.into()),
        Some(Command::Completions(args)) => man::completions(args),
        Some(Command::Man) => man::man(),
        None => {
            if let Some(error) = unknown_command(&cli.run) {
                return Err(error);
            }
            commands::run(cli.run.into())
        }
    }
}

/// `testbot hsots`: a lone PATH that does not exist and reads like a mistyped command is that,
/// not a missing spec file. So is a command's exact name after a run's options (`testbot -n 2
/// hosts`), which clap reads as a PATH.
fn unknown_command(args: &RunArgs) -> Option<Error> {
    let [word] = args.paths.as_slice() else { return None };
    let base = args.project.chdir.clone().unwrap_or_default();
    if word.contains('/') || base.join(word).exists() {
        return None;
    }
    let names = command_names();
    if names.contains(word) {
        return Some(Error::CommandAfterRunOptions(word.clone()));
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    crate::inventory::did_you_mean(word, &names)
        .map(|name| Error::UnknownCommand { given: word.clone(), suggestion: name.to_string() })
}

/// The subcommands' names, as clap knows them.
fn command_names() -> Vec<String> {
    use clap::CommandFactory;
    Cli::command().get_subcommands().map(|c| c.get_name().to_string()).filter(|n| n != "help").collect()
}

/// The options every project command takes (`-C`, `-c`, `-F`, and `-v`), given before the
/// subcommand — `testbot -c ci.toml hosts` — are moved after it, where clap takes them: the top
/// level also holds a run's options, and there a word after them is a PATH. Anything else is
/// left as it is.
pub fn hoist_project_options(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const WITH_VALUE: &[&str] = &["-C", "--chdir", "-c", "--config", "-F", "--ssh-config"];
    let names = command_names();
    let mut at = 1;
    while let Some(arg) = args.get(at).and_then(|a| a.to_str()) {
        let verbose = arg == "--verbose" || (arg.len() > 1 && arg.starts_with('-') && arg[1..].chars().all(|c| c == 'v'));
        // `--config=FILE`, `-cFILE`: the value is in the same word.
        let joined = WITH_VALUE.iter().any(|o| {
            (o.starts_with("--") && arg.starts_with(&format!("{o}="))) || (o.len() == 2 && arg.len() > 2 && arg.starts_with(o))
        });
        if WITH_VALUE.contains(&arg) {
            at += 2;
        } else if verbose || joined {
            at += 1;
        } else {
            break;
        }
    }
    let Some(command) = args.get(at).and_then(|a| a.to_str()) else { return args };
    if at == 1 || !names.iter().any(|n| n == command) {
        return args;
    }
    let mut hoisted = Vec::with_capacity(args.len());
    hoisted.push(args[0].clone());
    hoisted.push(args[at].clone());
    hoisted.extend_from_slice(&args[1..at]);
    hoisted.extend_from_slice(&args[at + 1..]);
    hoisted
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn project_options_before_a_command_move_after_it() {
        assert_eq!(hoist_project_options(args(&["testbot", "-c", "ci.toml", "hosts"])), args(&["testbot", "hosts", "-c", "ci.toml"]));
        assert_eq!(
            hoist_project_options(args(&["testbot", "-C", "app", "--config=ci.toml", "-Fssh.conf", "sync", "--verify"])),
            args(&["testbot", "sync", "-C", "app", "--config=ci.toml", "-Fssh.conf", "--verify"])
        );
        assert_eq!(hoist_project_options(args(&["testbot", "-vv", "-c", "ci.toml", "list"])), args(&["testbot", "list", "-vv", "-c", "ci.toml"]));
        // Left as they are: no command, a command first, a run's option in front, a PATH.
        for words in [
            &["testbot", "-c", "ci.toml"][..],
            &["testbot", "hosts", "-c", "ci.toml"],
            &["testbot", "-n", "2", "hosts"],
            &["testbot", "-c", "ci.toml", "spec/hosts_spec.rb"],
            &["testbot", "-c", "ci.toml", "-vx", "hosts"],
        ] {
            assert_eq!(hoist_project_options(args(words)), args(words), "{words:?}");
        }
    }

    #[test]
    fn a_lone_missing_path_close_to_a_command_is_a_mistyped_command() {
        let run = |paths: &[&str]| RunArgs { paths: paths.iter().map(|p| p.to_string()).collect(), ..RunArgs::default() };
        let message = |paths: &[&str]| unknown_command(&run(paths)).map(|e| e.to_string());
        assert_eq!(message(&["hsots"]), Some("unknown command `hsots`; did you mean `hosts`?".into()));
        assert_eq!(message(&["lsit"]), Some("unknown command `lsit`; did you mean `list`?".into()));
        assert_eq!(message(&["spec/hsots"]), None, "a path with a folder is a path");
        assert_eq!(message(&["hsots", "spec"]), None, "only a lone word");
        assert_eq!(message(&["spec/models_spec.rb"]), None);
        assert_eq!(message(&["zzzz"]), None, "not close to any command");
        assert_eq!(message(&["src"]), None, "it exists (testbot's own source folder, the tests' cwd)");
    }
}
