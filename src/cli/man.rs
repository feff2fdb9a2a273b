//! `testbot completions` and `testbot man`: the command line described for shells and for man.

use super::args::{Cli, CompletionsArgs};
use crate::commands::Outcome;
use crate::errors::Error;

/// `testbot completions SHELL`: clap_complete's script for the whole command line.
pub(super) fn completions(args: CompletionsArgs) -> Result<Outcome, Error> {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "testbot", &mut script);
    crate::report::print_completions(&String::from_utf8_lossy(&script));
    Ok(Outcome::new(crate::errors::exit::PASSED))
}

/// `testbot man`: one page for the whole command line — clap_mangen's sections for a run's
/// options and the exit codes (its after-help), and a COMMANDS section of our own with each
/// command's options: clap_mangen's SUBCOMMANDS section names a page per command
/// (`testbot-hosts(1)`), and there is only this one.
pub(super) fn man() -> Result<Outcome, Error> {
    crate::report::print_completions(&man_page());
    Ok(Outcome::new(crate::errors::exit::PASSED))
}

/// One of clap_mangen's sections, rendered into a writer.
type Section = fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>;

fn man_page() -> String {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    cli.build();
    let man = clap_mangen::Man::new(cli.clone());
    let mut page = Vec::new();
    let sections: [Section; 5] = [
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ];
    for section in sections {
        section(&man, &mut page).expect("a Vec takes every write");
    }
    let mut page = String::from_utf8_lossy(&page).into_owned();
    page.push_str(".SH COMMANDS\n");
    for (name, command) in leaf_commands(&cli, "testbot") {
        page.push_str(&command_entry(&name, command));
    }
    let mut rest = Vec::new();
    man.render_extra_section(&mut rest).expect("a Vec takes every write");
    man.render_version_section(&mut rest).expect("a Vec takes every write");
    page.push_str(&String::from_utf8_lossy(&rest));
    page
}

/// Every command a person types, `testbot hosts`, `testbot report merge`, …, with its clap
/// command (`help` left out).
fn leaf_commands<'a>(command: &'a clap::Command, prefix: &str) -> Vec<(String, &'a clap::Command)> {
    command
        .get_subcommands()
        .filter(|c| c.get_name() != "help" && !c.is_hide_set())
        .flat_map(|c| {
            let name = format!("{prefix} {}", c.get_name());
            match c.has_subcommands() {
                true => leaf_commands(c, &name),
                false => vec![(name, c)],
            }
        })
        .collect()
}

/// One command in the COMMANDS section: its name and arguments, what it does, its options.
fn command_entry(name: &str, command: &clap::Command) -> String {
    let mut entry = format!(".TP\n\\fB{}\\fR", roff_text(name));
    let (positionals, options): (Vec<&clap::Arg>, Vec<&clap::Arg>) = command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version" | "verbose" | "raw_output"))
        .partition(|a| a.is_positional());
    if !options.is_empty() {
        entry.push_str(" [OPTIONS]");
    }
    for arg in positionals {
        let value = arg.get_value_names().and_then(|v| v.first()).map_or(arg.get_id().as_str(), |v| v.as_str());
        entry.push_str(&format!(" [{}]", roff_text(value)));
    }
    entry.push('\n');
    if let Some(about) = command.get_about() {
        entry.push_str(&roff_text(&about.to_string()));
        entry.push('\n');
    }
    if name == "testbot run" {
        entry.push_str("Its options are those under OPTIONS above.\n");
        return entry;
    }
    if options.is_empty() {
        return entry;
    }
    entry.push_str(".RS\n");
    for arg in options {
        let mut flags: Vec<String> = Vec::new();
        if let Some(short) = arg.get_short() {
            flags.push(format!("-{short}"));
        }
        if let Some(long) = arg.get_long() {
            flags.push(format!("--{long}"));
        }
        let value = match arg.get_action().takes_values() {
            true => arg.get_value_names().and_then(|v| v.first()).map(|v| format!(" {v}")).unwrap_or_default(),
            false => String::new(),
        };
        entry.push_str(&format!(".TP\n\\fB{}\\fR{}\n", roff_text(&flags.join(", ")), roff_text(&value)));
        if let Some(help) = arg.get_help() {
            entry.push_str(&roff_text(&help.to_string()));
            entry.push('\n');
        }
    }
    entry.push_str(".RE\n");
    entry
}

/// `text` as roff prints it: backslashes and dashes escaped, no line taken for a request.
fn roff_text(text: &str) -> String {
    text.replace('\\', "\\e")
        .replace('-', "\\-")
        .lines()
        .map(|l| if l.starts_with('.') || l.starts_with('\'') { format!("\\&{l}") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}
