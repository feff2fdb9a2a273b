//! `testbot bisect [FAILURE] --from FILE`: the batch a failure ran in, replayed on this machine's
//! first slot (`--in-order`, the batch's seed), then halved (`schedule::bisect`) down to the
//! files, and then the examples, that make it fail. One run is one replay of (part of) the batch.

use super::run::{in_order_here, prepare_and_run, runner_args_for_the_run, Job};
use super::{install_signals, runtime, settings, setup, Location, Outcome};
use crate::errors::{exit, Error};
use crate::events::{ExampleStatus, FileReport, RunEvent};
use crate::framework::Framework;
use crate::inventory::Inventory;
use crate::project::{self, Project};
use crate::report::bisect::{Bisected, NotReproduced, Stage};
use crate::report::past_run::{Failure, RanExample, Target};
use crate::run::{Ended, Policy};
use crate::schedule::bisect::{runs_bound, Bisection, Found, Step};
use crate::signals::Signals;
use std::path::PathBuf;

/// `testbot bisect`, as the command line asked for it.
#[derive(Clone, Debug, Default)]
pub struct BisectOptions {
    pub location: Location,
    /// `--from`: the JSON report of the run that failed.
    pub from: Option<PathBuf>,
    /// FAILURE: its id or rerun location (None: the report's first failure).
    pub failure: Option<String>,
    /// How the replays run: `--framework`, `--no-fork`, `--preload`, `--no-bundler`, the runner's arguments.
    pub project: project::Options,
}

pub fn bisect(options: BisectOptions) -> Result<Outcome, Error> {
    let (root, mut inventory) = setup(&options.location, settings::invocation(false))?;
    let target = crate::report::past_run::target(options.from.as_deref(), options.failure.as_deref())?;
    let mut base = options.project.clone();
    in_order_here(&mut inventory, &mut base);
    if let Some(seed) = target.seed.filter(|_| !base.runner_args.iter().any(|a| a == "--seed" || a.starts_with("--seed="))) {
        base.runner_args.extend(["--seed".to_string(), seed.to_string()]);
    }
    let policy = Policy { knobs: settings::knobs()?, in_order: true, ..Policy::default() };
    crate::report::bisect::print_start(&target);
    let mut replay = Replay { root, inventory, base, policy, failure: target.failure.clone(), runs: 0 };
    runtime()?.block_on(async {
        let signals = install_signals()?;
        let Some(conclusion) = bisect_in(&mut replay, &target, &signals, options.from.as_deref()).await? else {
            return Ok(Outcome::new(exit::INTERRUPTED));
        };
        let command = reproduce_command(&options, &replay.base, &conclusion.arguments);
        match conclusion.outcome {
            Err(why) => {
                crate::report::bisect::print_not_reproduced(why, replay.runs);
                Ok(Outcome::new(exit::FAILED))
            }
            Ok(found) => {
                crate::report::bisect::print_found(&found, replay.runs, &command);
                Ok(Outcome::new(exit::PASSED))
            }
        }
    })
}

/// How a bisection ended: what it found (or why it could not), and the run that reproduces it.
struct Conclusion {
    outcome: Result<Bisected, NotReproduced>,
    arguments: Pick,
}

/// What one run runs: arguments of the batch (files, parts of files) in its order, and runner
/// arguments of its own after the replayed ones (minitest's `-n /…/`: the tests it selects by name).
#[derive(Clone, Debug, Default, PartialEq)]
struct Pick {
    paths: Vec<String>,
    runner_args: Vec<String>,
}

impl Pick {
    fn paths(paths: Vec<String>) -> Pick {
        Pick { paths, runner_args: Vec::new() }
    }
}

/// The replays of one failure's batch.
struct Replay {
    root: PathBuf,
    inventory: Inventory,
    base: project::Options,
    policy: Policy,
    failure: Failure,
    runs: usize,
}

impl Replay {
    /// One run of `pick` in order: whether the failing example failed (None: interrupted).
    async fn fails(&mut self, pick: &Pick, signals: &Signals) -> Result<Option<bool>, Error> {
        self.runs += 1;
        let runner_args = [&self.base.runner_args[..], &pick.runner_args].concat();
        let options = project::Options { paths: pick.paths.clone(), runner_args, ..self.base.clone() };
        let mut project = Project::resolve(&self.root, &self.inventory, &options)?;
        runner_args_for_the_run(&mut project);
        let failure = &self.failure;
        let mut failed = false;
        let mut emit = |event: RunEvent| {
            if let RunEvent::FileFinished(report) = event {
                failed |= report.path == failure.path && failed_in(&report, failure);
            }
        };
        let job = Job { project: &project, inventory: &self.inventory, policy: &self.policy };
        let ended = prepare_and_run(&job, None, signals, &mut emit).await?;
        Ok((ended == Ended::Ran && signals.caught().is_none()).then_some(failed))
    }

    /// `fails`, with the run's line printed: `what` it ran.
    async fn step(&mut self, stage: Stage, what: &str, pick: &Pick, signals: &Signals) -> Result<Option<bool>, Error> {
        let failed = self.fails(pick, signals).await?;
        if let Some(failed) = failed {
            crate::report::bisect::print_run(self.runs, stage, what, failed);
        }
        Ok(failed)
    }
}

/// The failing example failed (or its file did not run cleanly) in this file's report.
fn failed_in(report: &FileReport, failure: &Failure) -> bool {
    let same = |e: &&crate::events::ExampleResult| match (&failure.id, &e.id) {
        (Some(a), Some(b)) => a == b,
        _ => failure.line.is_some() && e.line == failure.line && e.description == failure.description,
    };
    report.error.is_some() || report.examples.iter().filter(same).any(|e| e.status == ExampleStatus::Failed)
}

/// Confirms the failure in its batch and not alone, then narrows the files and their examples.
/// None: interrupted.
async fn bisect_in(
    replay: &mut Replay,
    target: &Target,
    signals: &Signals,
    from: Option<&std::path::Path>,
) -> Result<Option<Conclusion>, Error> {
    let victim = Pick::paths(vec![target.victim.clone()]);
    let not = |why| Some(Conclusion { outcome: Err(why), arguments: victim.clone() });
    let batch = Pick::paths(in_batch_order(target, &target.candidates));
    let what = format!("the batch up to it ({} of {})", batch.paths.len(), files(target.batch.len()));
    let Some(failed) = replay.step(Stage::Confirm, &what, &batch, signals).await? else {
        return Ok(None);
    };
    if !failed {
        return Ok(not(NotReproduced::PassedInBatch));
    }
    let what = format!("{} alone", target.victim);
    let Some(failed) = replay.step(Stage::Confirm, &what, &victim, signals).await? else { return Ok(None) };
    if failed {
        return Ok(not(NotReproduced::FailsAlone));
    }
    let Some((files_found, file_runs)) = narrow_files(replay, target, signals).await? else { return Ok(None) };
    let mut bisected = Bisected {
        failure: target.failure.name(),
        candidates: target.candidates.len(),
        file_runs,
        bound: runs_bound(target.candidates.len()),
        files: files_found.clone(),
        example: None,
    };
    let mut arguments = Pick::paths(in_batch_order(target, &files_found));
    if let ([file], Some(from)) = (files_found.as_slice(), from) {
        let examples = crate::report::past_run::examples_of(from, file);
        let Some(culprit) = narrow_examples(replay, target, file, &examples, signals).await? else { return Ok(None) };
        if let Some(culprit) = culprit {
            bisected.example = Some((culprit.name, culprit.description));
            arguments = culprit.pick;
        }
    }
    Ok(Some(Conclusion { outcome: Ok(bisected), arguments }))
}

/// The file stage: the candidates halved down to the one (or, when it needs several together,
/// the fewest seen failing) that makes the failure fail, and the runs it took with the two
/// confirming ones (a check of a file kept untried is not counted here: it is its own step).
async fn narrow_files(replay: &mut Replay, target: &Target, signals: &Signals) -> Result<Option<(Vec<String>, usize)>, Error> {
    let items = &target.candidates;
    let before = replay.runs;
    crate::report::bisect::print_files_stage(items.len(), runs_bound(items.len()));
    let Some(found) = narrow(replay, Stage::Files, items, |chosen| Pick::paths(in_batch_order(target, chosen)), signals).await? else {
        return Ok(None);
    };
    let file_runs = replay.runs - before + 2;
    let pick = |set: &[usize]| set.iter().map(|i| items[*i].clone()).collect::<Vec<_>>();
    if found.checked {
        return Ok(Some((pick(&found.kept), file_runs)));
    }
    let kept = pick(&found.kept);
    let what = format!("check {} (kept untried)", kept.join(" "));
    let Some(failed) = replay.step(Stage::Check, &what, &Pick::paths(in_batch_order(target, &kept)), signals).await? else { return Ok(None) };
    Ok(Some((if failed { kept } else { pick(&found.last_failing) }, file_runs)))
}

/// The example stage: the polluting `file`'s `examples` halved to the one that makes the
/// failure fail (RSpec by id, minitest by name). None inside: the file as a whole is the answer
/// (one example, no way to select some, or no one example does it).
async fn narrow_examples(
    replay: &mut Replay,
    target: &Target,
    file: &str,
    examples: &[RanExample],
    signals: &Signals,
) -> Result<Option<Option<Culprit>>, Error> {
    let Some((selector, examples, items)) = example_stage(&replay.base, target, file, examples) else { return Ok(Some(None)) };
    crate::report::bisect::print_examples_stage(file, items.len());
    let select = |chosen: &[String]| selector.pick(target, file, chosen);
    let Some(found) = narrow(replay, Stage::Examples, &items, select, signals).await? else { return Ok(None) };
    let [one] = found.kept.as_slice() else { return Ok(Some(None)) };
    let pick = select(&items[*one..=*one]);
    if !found.checked {
        let what = format!("check {} (kept untried)", items[*one]);
        let Some(failed) = replay.step(Stage::Check, &what, &pick, signals).await? else { return Ok(None) };
        if !failed {
            return Ok(Some(None));
        }
    }
    let example = &examples[*one];
    let name = match &example.id {
        Some(id) => format!("{file}[{id}]"),
        None => example.location.trim_start_matches("./").to_string(),
    };
    Ok(Some(Some(Culprit { name, description: example.description.clone(), pick })))
}

/// The one example of the polluting file that makes the failure fail, and the run that shows it.
struct Culprit {
    /// `spec/p_spec.rb[1:2]`, `test/p_test.rb:9`.
    name: String,
    description: String,
    pick: Pick,
}

/// How the example stage runs some of the polluting file's examples with the failing one.
#[derive(Clone, Copy)]
enum Selector {
    /// RSpec: the file's examples by id (`spec/p_spec.rb[1:2,1:5]`) where the file stood.
    Ids,
    /// minitest: the whole file where it stood, and the runner's filter that runs the tests
    /// named (the failing one among them) in every file of the batch.
    Names(Framework),
}

impl Selector {
    /// The run of the examples `chosen` (as the stage names them) of `file` with the failing one.
    fn pick(self, target: &Target, file: &str, chosen: &[String]) -> Pick {
        match self {
            Selector::Ids => {
                let ids: Vec<&str> = chosen.iter().map(|c| &c[file.len() + 1..c.len() - 1]).collect();
                Pick::paths(in_batch_order(target, &[format!("{file}[{}]", ids.join(","))]))
            }
            Selector::Names(framework) => {
                let names = [chosen, std::slice::from_ref(&target.failure.description)].concat();
                Pick { paths: in_batch_order(target, &[file.to_string()]), runner_args: framework.by_name(&names).unwrap_or_default() }
            }
        }
    }
}

/// How the example stage selects `file`'s `examples`, with them in the order it halves them
/// and their names in the run lines (`spec/p_spec.rb[1:2]`, `PTest#test_x`). None: fewer than
/// two, a file that is already a part of one, or a framework that cannot select some of them
/// (Test::Unit, Cucumber; minitest when the runner's arguments filter by name already).
fn example_stage(base: &project::Options, target: &Target, file: &str, examples: &[RanExample]) -> Option<(Selector, Vec<RanExample>, Vec<String>)> {
    if examples.len() < 2 || file.contains('[') || file.contains(':') {
        return None;
    }
    if examples.iter().all(|e| e.id.is_some()) {
        let items = examples.iter().map(|e| format!("{file}[{}]", e.id.as_deref().unwrap_or_default())).collect();
        return Some((Selector::Ids, examples.to_vec(), items));
    }
    let framework = Framework::from_name(&target.framework)?;
    let filtered = base.runner_args.iter().any(|a| a.starts_with("-n") || a.starts_with("--name"));
    if filtered || target.failure.id.is_some() || framework.by_name(&[]).is_none() {
        return None;
    }
    // minitest runs a file's tests in an order of its own: halve them by name, in a stable order.
    let mut named = examples.to_vec();
    named.sort_by(|a, b| a.description.cmp(&b.description));
    named.dedup_by(|a, b| a.description == b.description);
    let items = named.iter().map(|e| e.description.clone()).collect();
    (named.len() >= 2).then_some((Selector::Names(framework), named, items))
}

/// Halves `items` until one is left: each run is `arguments(half)` with the failing example.
async fn narrow(
    replay: &mut Replay,
    stage: Stage,
    items: &[String],
    arguments: impl Fn(&[String]) -> Pick,
    signals: &Signals,
) -> Result<Option<Found>, Error> {
    let mut bisection = Bisection::new(items.len());
    loop {
        match bisection.next_step() {
            Step::Done(found) => return Ok(Some(found)),
            Step::Try(half) => {
                let chosen: Vec<String> = half.iter().map(|i| items[*i].clone()).collect();
                let what = format!("{} of {}: {}", half.len(), bisection.left(), ends(&chosen));
                let Some(failed) = replay.step(stage, &what, &arguments(&chosen), signals).await? else { return Ok(None) };
                bisection.record(failed);
            }
        }
    }
}

/// `chosen` arguments (of the batch, or parts of its files) and the failing file's, in the order
/// the batch ran them; a part of a file stands where its file stood.
fn in_batch_order(target: &Target, chosen: &[String]) -> Vec<String> {
    let file = |a: &str| crate::framework::selection::file_of(a).to_string();
    let mut ordered = Vec::new();
    for argument in &target.batch {
        if *argument == target.victim {
            ordered.push(argument.clone());
        }
        ordered.extend(chosen.iter().filter(|c| **argument != target.victim && file(c) == file(argument)).cloned());
    }
    ordered
}

/// `spec/a_spec.rb … spec/n_spec.rb`: the first and last of a long list.
fn ends(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [first, second] => format!("{first} {second}"),
        [first, .., last] => format!("{first} … {last}"),
    }
}

fn files(n: usize) -> String {
    crate::plural::plural(n, "file", "files")
}

/// The command that reproduces what the bisection found: a run of `pick` in order, with the
/// options the bisection was given and the runner's arguments it replayed (the batch's seed)
/// and the run's own (the tests selected by name).
fn reproduce_command(options: &BisectOptions, base: &project::Options, pick: &Pick) -> String {
    let quote = |a: &str| crate::ssh::quote::quote(a);
    let mut words = vec!["testbot".to_string()];
    let path = |flag: &str, p: &Option<PathBuf>| p.as_ref().map(|p| format!("{flag} {}", quote(&p.to_string_lossy())));
    words.extend(path("-C", &options.location.chdir));
    words.extend(path("-c", &options.location.config));
    words.extend(base.framework.as_ref().map(|f| format!("--framework {}", quote(f))));
    for (given, flag) in [(base.no_fork, "--no-fork"), (base.preload, "--preload"), (base.no_bundler, "--no-bundler")] {
        words.extend(given.then(|| flag.to_string()));
    }
    words.push("--in-order".into());
    words.extend(pick.paths.iter().map(|a| quote(a)));
    let runner_args = [&base.runner_args[..], &pick.runner_args].concat();
    if !runner_args.is_empty() {
        words.push("--".into());
        words.extend(runner_args.iter().map(|a| quote(a)));
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(batch: &[&str], victim: &str) -> Target {
        let batch: Vec<String> = batch.iter().map(|s| s.to_string()).collect();
        let location = format!("./{victim}:1");
        let failure = Failure { path: victim.into(), line: Some(1), location, id: None, description: "d".into() };
        let slot = "local/1".into();
        Target { framework: "rspec".into(), failure, slot, seed: None, candidates: vec![], victim: victim.into(), batch }
    }

    #[test]
    fn a_run_keeps_the_batch_order_with_parts_of_files_where_their_files_stood() {
        let t = target(&["spec/c_spec.rb", "spec/a_spec.rb", "spec/v_spec.rb", "spec/b_spec.rb"], "spec/v_spec.rb");
        let chosen = ["spec/b_spec.rb".to_string(), "spec/a_spec.rb[1:2,1:3]".into(), "spec/c_spec.rb".into()];
        let ordered = ["spec/c_spec.rb", "spec/a_spec.rb[1:2,1:3]", "spec/v_spec.rb", "spec/b_spec.rb"];
        assert_eq!(in_batch_order(&t, &chosen), ordered);
        assert_eq!(in_batch_order(&t, &[]), ["spec/v_spec.rb"]);
    }

    #[test]
    fn the_reproducing_command_is_quoted_for_a_shell() {
        let location = Location { chdir: Some("my app".into()), ..Location::default() };
        let options = BisectOptions { location, ..BisectOptions::default() };
        let base = project::Options { no_fork: true, runner_args: vec!["--seed".into(), "42".into()], ..Default::default() };
        let arguments = Pick::paths(vec!["spec/p_spec.rb[1:2]".to_string(), "spec/v_spec.rb".into()]);
        assert_eq!(
            reproduce_command(&options, &base, &arguments),
            "testbot -C 'my app' --no-fork --in-order 'spec/p_spec.rb[1:2]' spec/v_spec.rb -- --seed 42"
        );
        assert_eq!(ends(&["a".into(), "b".into(), "c".into()]), "a … c");
    }

    #[test]
    fn minitest_tests_are_halved_by_name_in_name_order_with_the_failing_test_always_selected() {
        let mut t = target(&["test/p_test.rb", "test/v_test.rb"], "test/v_test.rb");
        (t.framework, t.failure.description) = ("minitest".into(), "VTest#test_v".into());
        let ran = |description: &str| {
            let json = serde_json::json!({ "description": description, "location": "test/p_test.rb:3", "status": "passed" });
            serde_json::from_value::<RanExample>(json).unwrap()
        };
        let examples = [ran("PTest#test_b"), ran("PTest#test_a"), ran("PTest#test_b")];
        let (selector, named, items) = example_stage(&project::Options::default(), &t, "test/p_test.rb", &examples).unwrap();
        assert_eq!((named.len(), items), (2, vec!["PTest#test_a".to_string(), "PTest#test_b".into()]));
        let pick = selector.pick(&t, "test/p_test.rb", &["PTest#test_b".into()]);
        assert_eq!(pick.paths, ["test/p_test.rb", "test/v_test.rb"]);
        assert_eq!(pick.runner_args, ["-n", r"/\A(?:PTest\#test_b|VTest\#test_v)\z/"]);
        // The runner's arguments filter by name already: the file is the answer.
        let filtered = project::Options { runner_args: vec!["-n".into(), "/x/".into()], ..Default::default() };
        assert!(example_stage(&filtered, &t, "test/p_test.rb", &examples).is_none());
        t.framework = "test-unit".into();
        assert!(example_stage(&project::Options::default(), &t, "test/p_test.rb", &examples).is_none());
    }
}
