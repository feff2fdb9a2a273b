//! The events a run produces. Batch tasks and the dispatcher send them to the caller of
//! `run::Runner::execute`; the reporter consumes them, `history` reads file reports back.

use serde::Serialize;
use std::sync::Arc;

/// One slot: a process at a time on one host.
#[derive(Clone, Debug)]
pub struct SlotInfo {
    /// 1-based, unique in the run.
    pub id: usize,
    pub host: Arc<str>,
    /// 1-based within its host; TEST_ENV_NUMBER derives from it.
    pub host_slot: usize,
}

/// A slot's name, one function per form the output shows it in (each form is what that
/// output has always printed).
impl SlotInfo {
    /// `local/2`: the live display (running files, SLOW and seed lines), the summary's
    /// "Stopped while running" and its batches with failures.
    pub fn name(&self) -> String {
        format!("{}/{}", self.host, self.host_slot)
    }
    /// `local slot 2`: the heading of a file's failure details.
    pub fn name_in_words(&self) -> String {
        format!("{} slot {}", self.host, self.host_slot)
    }
    /// `local#2`: the summary's busy time per slot, `testbot exec --per-slot`'s results.
    pub fn tag(&self) -> String {
        format!("{}#{}", self.host, self.host_slot)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExampleStatus {
    Passed,
    Failed,
    Pending,
}

#[derive(Clone, Debug)]
pub struct ExampleResult {
    pub description: String,
    /// What the framework accepts to rerun this example, e.g. `./spec/a_spec.rb:12`.
    pub location: String,
    pub line: Option<u32>,
    pub status: ExampleStatus,
    pub seconds: f64,
    pub message: Option<String>,
    pub backtrace: Vec<String>,
    /// The framework's id for running this example alone (RSpec: `1:2:1`), when it has one.
    pub id: Option<String>,
    /// Failure messages of earlier attempts (`--retries`): a passed example with any is flaky.
    pub earlier_failures: Vec<String>,
}

impl ExampleResult {
    pub fn is_flaky(&self) -> bool {
        self.status == ExampleStatus::Passed && !self.earlier_failures.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Passed,
    Failed,
    Errored,
}

/// Why a file did not run cleanly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileError {
    /// The file raised while it was loaded (syntax error, NameError, …). Counts as an error outside examples.
    Load(String),
    /// The runner process died while it ran this file.
    Crashed(String),
    /// The file never ran (its batch failed before reaching it too often, or no host was left).
    NotRun(String),
    /// It ran past its time limit (twice: once on another slot too) and was killed.
    TimedOut(String),
}

impl FileError {
    pub fn message(&self) -> &str {
        match self {
            FileError::Load(m) | FileError::Crashed(m) | FileError::NotRun(m) | FileError::TimedOut(m) => m,
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            FileError::Load(_) => "load error",
            FileError::Crashed(_) => "crashed",
            FileError::NotRun(_) => "not run",
            FileError::TimedOut(_) => "timed out",
        }
    }
}

/// The final word on one file: sent once per file, whatever happened to its batches.
#[derive(Clone, Debug)]
pub struct FileReport {
    pub path: String,
    pub slot: Option<SlotInfo>,
    pub seconds: f64,
    /// What the scheduler expected, for the ETA.
    pub expected_seconds: f64,
    pub examples: Vec<ExampleResult>,
    pub error: Option<FileError>,
    /// What the file's examples printed (stdout and stderr, in order).
    pub output: String,
}

impl FileReport {
    /// A planned file that never ran, and why (a stop, a share's report that lacks it).
    pub fn not_run(path: String, why: String) -> FileReport {
        FileReport {
            path,
            slot: None,
            seconds: 0.0,
            expected_seconds: 0.0,
            examples: Vec::new(),
            error: Some(FileError::NotRun(why)),
            output: String::new(),
        }
    }

    pub fn count(&self, status: ExampleStatus) -> usize {
        self.examples.iter().filter(|e| e.status == status).count()
    }

    /// This piece of a split file and another as one report: all their examples (in file
    /// order), their times added up, the first error.
    pub fn join_piece(mut self, piece: FileReport) -> FileReport {
        self.seconds += piece.seconds;
        self.expected_seconds += piece.expected_seconds;
        self.examples.extend(piece.examples);
        self.examples.sort_by_key(|e| e.line.unwrap_or(u32::MAX));
        if self.error.is_none() {
            self.error = piece.error;
        }
        if !piece.output.trim().is_empty() {
            self.output.push_str(&piece.output);
        }
        self
    }
    pub fn flaky(&self) -> usize {
        self.examples.iter().filter(|e| e.is_flaky()).count()
    }
    pub fn status(&self) -> FileStatus {
        if self.error.is_some() {
            FileStatus::Errored
        } else if self.count(ExampleStatus::Failed) > 0 {
            FileStatus::Failed
        } else {
            FileStatus::Passed
        }
    }
}

#[derive(Clone, Debug)]
pub enum RunEvent {
    /// A phase of getting the hosts ready, as it happens: what a start-up that takes seconds
    /// shows instead of a blank screen.
    Setup(Setup),
    RunStarted {
        framework: &'static str,
        files: usize,
        /// Every planned file, in the plan's order.
        planned: Vec<String>,
        slots: Vec<SlotInfo>,
        expected_seconds: f64,
        /// Planned files whose expected time is a guess from their size (the runtime history
        /// does not have them): their SLOW lines say "estimated", not "expected".
        estimated_by_size: Vec<String>,
        /// `--partition K/N`: this share and the whole plan it was cut from.
        partition: Option<Arc<crate::schedule::partition::Share>>,
    },
    /// A host that got ready after the run started joined it with these slots (ids after the
    /// run's).
    HostJoined {
        slots: Vec<SlotInfo>,
    },
    BatchStarted {
        slot: SlotInfo,
        files: Vec<String>,
        /// What the runner was given for them, in order (`spec/a_spec.rb`, `spec/b_spec.rb[1:2]`):
        /// with the seed, what reruns the batch as it ran.
        arguments: Vec<String>,
    },
    /// The batch's runner orders at random with this seed (RSpec's `--order random`).
    BatchSeed {
        slot: usize,
        seed: u64,
    },
    /// The runners were asked for a profile of the `examples` slowest examples (RSpec's
    /// `--profile N`): the summary shows one for the whole run.
    ProfileAsked {
        examples: usize,
    },
    /// A runner began a file (its formatter said so): what the live display shows as running
    /// on `slot` until that slot starts another file or its batch ends.
    FileStarted {
        slot: usize,
        path: String,
        /// What the scheduler expected the file (or this piece of it) to take.
        expected_seconds: f64,
    },
    /// `--no-capture`: a line the runner on `slot` printed, as it came (it is kept for the file's
    /// report too).
    Output {
        slot: usize,
        line: String,
    },
    /// Live progress; the file's final results come with `FileFinished`.
    ExampleFinished {
        slot: usize,
        status: ExampleStatus,
    },
    FileFinished(Box<FileReport>),
    /// A file goes back to the queue; `discarded_examples` were counted live and no longer count.
    FileRequeued {
        path: String,
        reason: String,
        discarded_examples: usize,
    },
    /// Failed examples of a file run again (`--retries`); its report waits for the last attempt.
    FileRetrying {
        path: String,
        failed: usize,
        /// 1 for the first rerun.
        attempt: u32,
        /// What each failed example said on the try that failed: `description: first line`.
        failures: Vec<String>,
    },
    /// A host stopped answering or its connection dropped; its unfinished files went back to the
    /// queue and it takes no more work.
    HostLost {
        host: Arc<str>,
        reason: String,
        /// Another host still takes work: the lost host's unfinished files run there.
        others_remain: bool,
    },
    /// An error that belongs to no example: a `before(:suite)` hook, a runner that exited badly, …
    ErrorOutsideExamples {
        slot: usize,
        message: String,
        output: String,
    },
    /// Something the person running testbot should know that does not fail the run (a host left
    /// out, a note from leasing slots).
    Warning(Warning),
    /// The run is stopping early (the first reason only): what runs is being stopped.
    Stopping(Stop),
    /// A signal stopped the run before any batch ran, while it was `doing` something; `done`:
    /// what had been done, a line each.
    InterruptedBeforeRun { doing: String, done: Vec<String> },
    /// What a batch's runner printed outside its files, and notes its framework gave outside
    /// examples (deprecation summaries, warnings printed after the run): shown once per text.
    RunOutput {
        slot: usize,
        text: String,
    },
    BatchFinished {
        slot: usize,
        seconds: f64,
    },
    /// The suite's coverage, merged once after the batches (SimpleCov).
    Coverage(CoverageReport),
    /// `--record-impact`: the project files that ran while `path` ran (None: outside every
    /// file, the boot set), with the runner's Ruby.
    Impact { path: Option<String>, files: Vec<String>, ruby: Option<String> },
    RunFinished {
        wall_seconds: f64,
        stopped: Option<Stop>,
        /// The median time this run's batches took from their start to their first file's (the
        /// app's boot), kept in the runtime history for the next run's plan; None: none measured.
        boot_seconds: Option<f64>,
    },
}

/// The phases of getting the hosts ready, in the order they come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setup {
    /// Connecting to these SSH hosts, to bring the project's copy up to date there.
    Connecting { hosts: Vec<String> },
    /// A host answered: it has `slots` slots; the sync of its copy begins.
    Connected { host: String, slots: usize },
    /// A host's copy is up to date (`checked`: `--no-sync`, found up to date, nothing copied).
    Synced { host: String, checked: bool },
    /// A hook runs: `before_run` on `places` hosts, or `before_slot` on `places` slots at once
    /// (`--preload`).
    Hook { name: &'static str, places: usize },
    /// A host's `before_run` hook runs (a host that joins the run when it is ready).
    HostHook { host: String },
    /// A slot runs its `before_slot` hook before its first batch.
    SlotHook { slot: usize },
}

/// Something the person running testbot should know that does not fail the run, one kind per
/// variant; `report/warning.rs` puts it into words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// A host takes no part in the run (not reached, not synced, no free slot, a hook or the
    /// `--preload` helper failed there), and why.
    HostLeftOut { host: String, reason: String },
    /// A host's fork server did not start (`reason`: the first line of why; `-v` logs all of
    /// it): its batches run as fresh processes.
    ForkServerNotStarted { host: String, reason: String },
    /// A host's fork server went away or is stuck during the run: its batches run as fresh
    /// processes from then on.
    ForkServerLost { host: String, reason: String },
    /// The `after_run` hook failed on a host.
    AfterRunFailed { host: String, reason: String },
    /// A note from leasing slots on shared hosts (fewer slots, waiting for one), as
    /// `fleet::lease` words it.
    Leasing(String),
}

/// What the merge of the batches' coverage results said.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CoverageReport {
    /// Batch results merged.
    pub batches: usize,
    /// What SimpleCov printed while merging, formatting and checking (a line each).
    pub lines: Vec<String>,
    /// Why the merged coverage fails the run (a check such as `minimum_coverage`, or a merge
    /// that could not run); None: it passes.
    pub failed: Option<String>,
    /// Hosts whose results could not be brought back.
    pub warnings: Vec<String>,
}

impl CoverageReport {
    pub fn failed(why: String) -> CoverageReport {
        CoverageReport { failed: Some(why), ..CoverageReport::default() }
    }
}

/// Why a run stopped before every file had run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// `--fail-fast`: this many failures were reached.
    FailFast { failures: usize },
    /// `--timeout`: the run's time limit passed.
    Timeout { seconds: f64 },
}
