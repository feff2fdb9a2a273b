//! `testbot bisect`'s lines: the failure and its batch, each run with what it ran and whether the
//! failure failed, and the end: the polluting file and example with the command that reproduces
//! it, or why the failure does not reproduce.

use super::past_run::Target;
use super::term;
use crate::plural::plural;

/// Which part of the bisection a run belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The batch as it ran, and the failing file alone.
    Confirm,
    /// Halving the files that ran with it.
    Files,
    /// A set kept because its other half passed, run on its own.
    Check,
    /// Halving the polluting file's examples.
    Examples,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Confirm => "confirm",
            Stage::Files => "files",
            Stage::Check => "check",
            Stage::Examples => "examples",
        }
    }
}

/// Why a failure was not bisected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotReproduced {
    /// It passed in its batch replayed: flaky, not order-dependent.
    PassedInBatch,
    /// It fails on its own too: nothing that ran before it is to blame.
    FailsAlone,
}

/// What a bisection found.
#[derive(Clone, Debug, PartialEq)]
pub struct Bisected {
    /// `spec/v_spec.rb[1:1]`.
    pub failure: String,
    /// How many files (arguments of the batch) may have run before it.
    pub candidates: usize,
    /// The file stage's runs, with the two confirming ones.
    pub file_runs: usize,
    /// ⌈log2 candidates⌉ + 2.
    pub bound: usize,
    /// The file (or, when it takes several together, the files) that make it fail.
    pub files: Vec<String>,
    /// The one example of that file that does, when the stage found one: its name
    /// (`spec/p_spec.rb[1:2]`, `test/p_test.rb:9`) and description.
    pub example: Option<(String, String)>,
}

pub fn print_start(target: &Target) {
    term::out(&start_text(target));
}

fn start_text(target: &Target) -> String {
    let seed = target.seed.map(|s| format!(", seed {s}")).unwrap_or_default();
    let before = match target.seed {
        Some(_) => "any of the others may have run before it (random order)",
        None => "these ran before it",
    };
    format!(
        "Bisecting {} ({:?}): it failed in {}'s batch of {}{seed}; {}: {}\n",
        target.failure.name(),
        target.failure.description,
        target.slot,
        plural(target.batch.len(), "file", "files"),
        before,
        plural(target.candidates.len(), "file", "files"),
    )
}

/// The file stage starts: `n` candidates, at most `bound` runs with the two confirming ones.
pub fn print_files_stage(n: usize, bound: usize) {
    term::out(&format!("Files: {n} candidates, at most ⌈log2 {n}⌉ + 2 = {bound} runs with the two above\n"));
}

/// The example stage starts: `n` examples of `file`.
pub fn print_examples_stage(file: &str, n: usize) {
    term::out(&format!("Examples of {file}: {n} candidates (runs beyond the file stage's)\n"));
}

/// Run number `n` of the bisection ran `what`: whether the failure failed.
pub fn print_run(n: usize, stage: Stage, what: &str, failed: bool) {
    term::out(&run_text(n, stage, what, failed));
}

fn run_text(n: usize, stage: Stage, what: &str, failed: bool) -> String {
    let verdict = if failed { "fails" } else { "passes" };
    format!("  run {n} ({}): {what} → {verdict}\n", stage.name())
}

pub fn print_not_reproduced(why: NotReproduced, runs: usize) {
    term::out(&not_reproduced_text(why, runs));
}

fn not_reproduced_text(why: NotReproduced, runs: usize) -> String {
    let runs = plural(runs, "run", "runs");
    match why {
        NotReproduced::PassedInBatch => format!(
            "Does not reproduce: it passed in its batch replayed ({runs}). It is flaky, not order-dependent \
             (or it depends on what the batch does not hold: time, the host, other slots, the network).\n"
        ),
        NotReproduced::FailsAlone => {
            format!("Not order-dependent: it fails alone too ({runs}); nothing that ran before it is needed.\n")
        }
    }
}

pub fn print_found(found: &Bisected, runs: usize, command: &str) {
    term::out(&found_text(found, runs, command));
}

fn found_text(found: &Bisected, runs: usize, command: &str) -> String {
    let mut text = match found.files.as_slice() {
        [file] => format!("Polluting file: {file}\n"),
        files => format!("It fails only with these {} together: {}\n", files.len(), files.join(" ")),
    };
    if let Some((name, description)) = &found.example {
        text.push_str(&format!("Polluting example: {name} ({description:?})\n"));
    }
    text.push_str(&format!(
        "File stage: {} of {} candidates (at most ⌈log2 {}⌉ + 2 = {}); {} in all\n",
        plural(found.file_runs, "run", "runs"),
        found.candidates,
        found.candidates,
        found.bound,
        plural(runs, "run", "runs"),
    ));
    text.push_str(&format!("Reproduce {}:\n  {command}\n", found.failure));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_names_the_file_the_example_the_runs_and_the_command() {
        let found = Bisected {
            failure: "spec/v_spec.rb[1:1]".into(),
            candidates: 29,
            file_runs: 7,
            bound: 7,
            files: vec!["spec/p_spec.rb".into()],
            example: Some(("spec/p_spec.rb[1:2]".into(), "sets it".into())),
        };
        assert_eq!(
            found_text(&found, 9, "testbot --in-order 'spec/p_spec.rb[1:2]' spec/v_spec.rb"),
            "Polluting file: spec/p_spec.rb\nPolluting example: spec/p_spec.rb[1:2] (\"sets it\")\n\
             File stage: 7 runs of 29 candidates (at most ⌈log2 29⌉ + 2 = 7); 9 runs in all\n\
             Reproduce spec/v_spec.rb[1:1]:\n  testbot --in-order 'spec/p_spec.rb[1:2]' spec/v_spec.rb\n"
        );
        assert_eq!(run_text(3, Stage::Files, "14 of 29: a … n", false), "  run 3 (files): 14 of 29: a … n → passes\n");
        let flaky = not_reproduced_text(NotReproduced::PassedInBatch, 1);
        assert!(flaky.starts_with("Does not reproduce: it passed in its batch replayed (1 run)"), "{flaky}");
    }
}
