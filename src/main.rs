//! The `testbot` binary: parse the command line, set up tracing, run, map the result to an exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = testbot::cli::Cli::parse();
    testbot::cli::init_tracing(cli.verbose);
    let code = match testbot::cli::run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            eprintln!("{}", testbot::errors::render(&err));
            err.exit_code()
        }
    };
    ExitCode::from(code)
}
