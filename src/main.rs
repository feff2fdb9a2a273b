//! The `testbot` binary: parse the command line, set up tracing, run, map the result to an exit code.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc: a run allocates a few small strings per example event, and glibc's malloc spent
/// a quarter of the controller's CPU on them at scale (docs/benchmarks.md, Scale).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A batch's client on this machine: before anything else, so that it starts in a millisecond.
    if args.get(1).is_some_and(|a| a == testbot::framework::client::COMMAND) {
        testbot::framework::client::main(&args[2..]);
    }
    let cli = testbot::cli::Cli::parse_from(testbot::cli::hoist_project_options(args));
    testbot::cli::init_tracing(cli.verbose);
    let code = match testbot::cli::run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            // Not `eprintln!`: it panics when stderr is closed.
            testbot::report::term::err(&format!("{}\n", testbot::errors::render(&err)));
            err.exit_code()
        }
    };
    ExitCode::from(code)
}
