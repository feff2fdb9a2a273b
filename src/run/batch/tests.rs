//! `BatchTracker`: every case with plain pieces, no process.
use super::captured::{HEAD_LIMIT, TAIL_LIMIT};
use super::*;
use crate::framework::protocol::{ExampleStatusWire, LostPart, Piece};
use std::sync::Arc;

fn slot() -> SlotInfo {
    SlotInfo { id: 1, host: Arc::from("local"), host_slot: 1 }
}

fn jobs(paths: &[&str]) -> Vec<Job> {
    paths.iter().map(|p| Job::new(*p, 1.0)).collect()
}

fn ex(f: &str, s: ExampleStatusWire) -> Piece {
    Piece::Event(Event::Example { file: f.into(), status: s, description: "d".into(), location: format!("{f}:1"), line: Some(1), seconds: 0.1, message: None, backtrace: vec![], id: Some("1:1".into()) })
}

fn ev(e: Event) -> Piece {
    Piece::Event(e)
}

fn out(s: &str) -> Piece {
    Piece::Output(s.into())
}

fn feed(t: &mut BatchTracker, pieces: Vec<Piece>) -> Vec<RunEvent> {
    let mut events = Vec::new();
    for p in pieces {
        t.piece(p, &mut events);
    }
    events
}

fn finished(events: &[RunEvent]) -> Vec<(String, usize, Option<&'static str>, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::FileFinished(r) => Some((r.path.clone(), r.examples.len(), r.error.as_ref().map(|e| e.kind()), r.output.clone())),
            _ => None,
        })
        .collect()
}

const OK: Option<u32> = Some(0);
const CRASH: ExitInfo = ExitInfo { code: None, signal: Some(9) };

#[test]
fn clean_batch_reports_each_file_with_its_output() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb", "spec/empty_spec.rb"]));
    let events = feed(
        &mut t,
        vec![
            out("loading"),
            ev(Event::Start { count: 2, seed: None }),
            ev(Event::File { file: "./spec/a_spec.rb".into() }),
            out("from a"),
            ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
            ev(Event::FileDone { file: "./spec/a_spec.rb".into(), seconds: 0.5 }),
            ev(Event::File { file: "./spec/b_spec.rb".into() }),
            ex("./spec/b_spec.rb", ExampleStatusWire::Failed),
            ev(Event::FileDone { file: "./spec/b_spec.rb".into(), seconds: 0.2 }),
            // A file with no examples is done too.
            ev(Event::FileDone { file: "./spec/empty_spec.rb".into(), seconds: 0.0 }),
            ev(Event::Done { examples: 2, failures: 1, pending: 0, errors_outside: 0, coverage: false }),
        ],
    );
    let live = finished(&events);
    assert_eq!(live, vec![
        ("spec/a_spec.rb".into(), 1, None, "from a\n".into()),
        ("spec/b_spec.rb".into(), 1, None, "".into()),
        ("spec/empty_spec.rb".into(), 0, None, "".into()),
    ]);
    let end = t.finish(ExitInfo { code: Some(1), signal: None }, Ending::Exited);
    assert!(end.requeue.is_empty());
    // A failing run may exit 1; what it printed outside files is shown once.
    match &end.events[..] {
        [RunEvent::RunOutput { text, .. }] => assert_eq!(text, "loading"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn output_goes_to_the_file_its_marks_say_whatever_order_it_is_read_in() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
    let marked = |e: Event, q: u64| Piece::Marked(e, q);
    let events = feed(
        &mut t,
        vec![
            ev(Event::Hello),
            // Every event first, as when the event pipe is read before the output pipe.
            marked(Event::File { file: "./spec/a_spec.rb".into() }, 1),
            ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
            marked(Event::FileDone { file: "./spec/a_spec.rb".into(), seconds: 0.1 }, 2),
            marked(Event::File { file: "./spec/b_spec.rb".into() }, 3),
            ex("./spec/b_spec.rb", ExampleStatusWire::Failed),
            marked(Event::FileDone { file: "./spec/b_spec.rb".into(), seconds: 0.1 }, 4),
            ev(Event::Done { examples: 2, failures: 1, pending: 0, errors_outside: 0, coverage: false }),
            out("loading"),
            Piece::OutputMark(1),
            out("from a"),
            Piece::OutputMark(2),
            Piece::OutputMark(3),
            out("from b"),
            Piece::OutputMark(4),
            out("after the run"),
        ],
    );
    assert_eq!(finished(&events), vec![
        ("spec/a_spec.rb".into(), 1, None, "from a\n".into()),
        ("spec/b_spec.rb".into(), 1, None, "from b\n".into()),
    ]);
    let end = t.finish(ExitInfo { code: Some(1), signal: None }, Ending::Exited);
    match &end.events[..] {
        [RunEvent::RunOutput { text, .. }] => assert_eq!(text, "loading\nafter the run"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn output_read_before_the_first_marked_event_waits_for_it() {
    // A forked runner starts at once: its first file's mark and output may be read before
    // the event pipe, and a file killed on its time limit then has no later mark to wait for.
    let mut t = BatchTracker::new(slot(), jobs(&["spec/hang_spec.rb"]));
    feed(
        &mut t,
        vec![
            Piece::OutputMark(1),
            out("hanging now"),
            ev(Event::Hello),
            ev(Event::Start { count: 2, seed: None }),
            Piece::Marked(Event::File { file: "./spec/hang_spec.rb".into() }, 1),
            ex("./spec/hang_spec.rb", ExampleStatusWire::Passed),
        ],
    );
    let end = t.finish(CRASH, Ending::TimedOut { seconds: 2.0 });
    let requeued = end.requeue.iter().find(|r| r.job.path == "spec/hang_spec.rb").expect("retried once");
    assert!(requeued.output.contains("hanging now"), "{:?}", requeued.output);
}

#[test]
fn a_file_the_runner_never_finished_is_an_error_not_a_pass() {
    // `$stdout.close` in one file once hid the next file's failures: whatever the cause, a
    // file with no end event after the runner's summary is not a pass.
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
    feed(&mut t, vec![
        ev(Event::Hello),
        ev(Event::Start { count: 3, seed: None }),
        ev(Event::File { file: "./spec/a_spec.rb".into() }),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        ev(Event::FileDone { file: "./spec/a_spec.rb".into(), seconds: 0.1 }),
        ev(Event::Done { examples: 3, failures: 2, pending: 0, errors_outside: 0, coverage: false }),
    ]);
    let end = t.finish(ExitInfo { code: Some(1), signal: None }, Ending::Exited);
    assert!(!end.events.iter().any(|e| matches!(e, RunEvent::ErrorOutsideExamples { .. })), "{:?}", end.events);
    let message = end
        .events
        .iter()
        .find_map(|e| match e {
            RunEvent::FileFinished(r) => r.error.as_ref().map(|e| e.message().to_string()),
            _ => None,
        })
        .unwrap();
    assert!(
        message.contains("without reporting this file as done (the runner reported 3 examples, 2 failures, 0 pending; testbot saw 1 example, 0 failures, 0 pending)"),
        "{message}"
    );
    let files = finished(&end.events);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!((files[0].0.as_str(), files[0].1, files[0].2), ("spec/b_spec.rb", 0, Some("crashed")));
}

#[test]
fn load_error_errors_that_file_and_requeues_the_others() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/bad_spec.rb"]));
    feed(&mut t, vec![
        ev(Event::LoadError { file: "./spec/bad_spec.rb".into(), message: "SyntaxError".into() }),
        ev(Event::Start { count: 0, seed: None }),
        ev(Event::Done { examples: 0, failures: 0, pending: 0, errors_outside: 1, coverage: false }),
    ]);
    let end = t.finish(ExitInfo { code: Some(1), signal: None }, Ending::Exited);
    assert_eq!(finished(&end.events), vec![("spec/bad_spec.rb".into(), 0, Some("load error"), "".into())]);
    assert_eq!(end.requeue.len(), 1);
    assert_eq!(end.requeue[0].job.path, "spec/a_spec.rb");
    // Alone: batched again with another file that fails to load it could never run.
    assert!(end.requeue[0].alone);
    assert_eq!(end.events.len(), 1, "the load error explains the error outside examples");
}

fn kill_batch(jobs_: Vec<Job>) -> BatchTracker {
    let mut t = BatchTracker::new(slot(), jobs_);
    feed(&mut t, vec![
        ev(Event::Start { count: 5, seed: None }),
        ev(Event::File { file: "./spec/a_spec.rb".into() }),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        ev(Event::FileDone { file: "./spec/a_spec.rb".into(), seconds: 0.1 }),
        ev(Event::File { file: "./spec/kill_spec.rb".into() }),
        ex("./spec/kill_spec.rb", ExampleStatusWire::Passed),
        out("about to die"),
    ]);
    t
}

#[test]
fn a_first_crash_retries_the_running_file_alone_elsewhere() {
    let t = kill_batch(jobs(&["spec/a_spec.rb", "spec/kill_spec.rb", "spec/c_spec.rb"]));
    let end = t.finish(CRASH, Ending::Exited);
    assert!(finished(&end.events).is_empty(), "a_spec was reported live; nothing is final yet");
    let paths: Vec<_> = end.requeue.iter().map(|r| (r.job.path.as_str(), r.alone, r.blame)).collect();
    assert_eq!(paths, [("spec/kill_spec.rb", true, Blame::Own), ("spec/c_spec.rb", false, Blame::OtherFile)]);
    let retry = &end.requeue[0];
    assert_eq!((retry.job.crashes, retry.job.avoid_slot, retry.discarded_examples), (1, Some(1), 1));
    assert!(retry.reason.contains("killed by signal 9 (SIGKILL)"), "{}", retry.reason);
    assert!(retry.reason.contains("retrying it once on another slot"));
}

#[test]
fn a_second_crash_errors_the_file_with_its_output() {
    let mut js = jobs(&["spec/a_spec.rb", "spec/kill_spec.rb"]);
    js[1].crashes = 1;
    let end = kill_batch(js).finish(CRASH, Ending::Exited);
    let f = finished(&end.events);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].0.as_str(), f[0].1, f[0].2), ("spec/kill_spec.rb", 1, Some("crashed")));
    assert!(f[0].3.contains("about to die"));
    match &end.events[0] {
        RunEvent::FileFinished(r) => assert!(r.error.as_ref().unwrap().message().contains("the second time")),
        other => panic!("{other:?}"),
    }
    assert!(end.requeue.is_empty());
}

#[test]
fn a_hung_file_is_retried_once_then_timed_out() {
    let hang = |timeouts: u32| {
        let mut js = jobs(&["spec/a_spec.rb", "spec/kill_spec.rb", "spec/c_spec.rb"]);
        js[1].timeouts = timeouts;
        kill_batch(js).finish(CRASH, Ending::TimedOut { seconds: 3.0 })
    };
    let first = hang(0);
    assert!(first.events.is_empty());
    assert_eq!(first.requeue[0].job.timeouts, 1);
    assert!(first.requeue[0].reason.contains("ran past its time limit of 3s"));
    assert!(first.requeue[1].reason.contains("its batch stopped at spec/kill_spec.rb"));
    let second = hang(1);
    assert_eq!(finished(&second.events)[0].2, Some("timed out"));
    assert_eq!(second.requeue.len(), 1, "c_spec still runs");
}

#[test]
fn a_lost_host_requeues_every_unfinished_file_blamelessly() {
    let end = kill_batch(jobs(&["spec/a_spec.rb", "spec/kill_spec.rb", "spec/c_spec.rb"]))
        .finish(ExitInfo { code: None, signal: None }, Ending::Exited);
    assert!(end.events.is_empty());
    let r: Vec<_> = end.requeue.iter().map(|r| (r.job.path.as_str(), r.blame, r.job.crashes)).collect();
    assert_eq!(r, [("spec/kill_spec.rb", Blame::Infrastructure, 0), ("spec/c_spec.rb", Blame::Infrastructure, 0)]);
    assert!(end.requeue[0].reason.contains("its host `local` was lost"));
}

#[test]
fn death_before_any_file_isolates_the_batch() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
    feed(&mut t, vec![out("boom at load")]);
    let end = t.finish(ExitInfo { code: Some(3), signal: None }, Ending::Exited);
    assert!(end.events.is_empty());
    assert_eq!(end.requeue.len(), 2);
    assert!(end.requeue.iter().all(|r| r.alone && r.blame == Blame::Unknown));
    assert!(end.requeue[0].output.contains("boom at load"));
    assert!(end.requeue[0].reason.contains("exited with status 3"));

    // Alone, the file is to blame: one retry elsewhere, then an error.
    let mut js = jobs(&["spec/a_spec.rb"]);
    js[0].crashes = 1;
    let mut alone = BatchTracker::new(slot(), js);
    feed(&mut alone, vec![out("boom at load")]);
    let end = alone.finish(ExitInfo { code: Some(3), signal: None }, Ending::Exited);
    let f = finished(&end.events);
    assert_eq!(f, vec![("spec/a_spec.rb".into(), 0, Some("crashed"), "boom at load\n".into())]);
}

#[test]
fn bad_exit_without_failures_is_an_error_outside_examples() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
    feed(&mut t, vec![
        ev(Event::Start { count: 1, seed: None }),
        ev(Event::File { file: "./spec/a_spec.rb".into() }),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        ev(Event::FileDone { file: "./spec/a_spec.rb".into(), seconds: 0.1 }),
        ev(Event::Done { examples: 1, failures: 0, pending: 0, errors_outside: 0, coverage: false }),
        out("Coverage too low"),
    ]);
    let end = t.finish(ExitInfo { code: Some(2), signal: None }, Ending::Exited);
    match &end.events[..] {
        [RunEvent::ErrorOutsideExamples { message, output, .. }] => {
            assert_eq!(message, "the runner exited with status 2 although none of its examples failed");
            assert!(output.contains("Coverage too low"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn suite_hook_errors_are_reported() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
    feed(&mut t, vec![
        ev(Event::Message { message: "\nAn error occurred in a `before(:suite)` hook.\nRuntimeError".into(), error: true }),
        ev(Event::Start { count: 0, seed: None }),
        ev(Event::Done { examples: 0, failures: 0, pending: 0, errors_outside: 1, coverage: false }),
    ]);
    let end = t.finish(ExitInfo { code: Some(1), signal: None }, Ending::Exited);
    let errors: Vec<_> = end.events.iter().filter(|e| matches!(e, RunEvent::ErrorOutsideExamples { .. })).collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(finished(&end.events).len(), 1, "the file itself ran (with 0 examples)");
    let _ = OK;
}

#[test]
fn interrupted_batches_settle_nothing() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
    feed(&mut t, vec![ev(Event::Start { count: 1, seed: None })]);
    let end = t.finish(CRASH, Ending::Stopped);
    assert!(end.events.is_empty() && end.requeue.is_empty());
}

#[test]
fn a_stopped_file_keeps_the_failures_it_had() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
    feed(&mut t, vec![
        ev(Event::Start { count: 3, seed: None }),
        ev(Event::File { file: "./spec/a_spec.rb".into() }),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        ex("./spec/a_spec.rb", ExampleStatusWire::Failed),
    ]);
    let end = t.finish(CRASH, Ending::Stopped);
    assert_eq!(finished(&end.events), vec![("spec/a_spec.rb".into(), 2, None, "".into())]);
    assert!(end.requeue.is_empty(), "b_spec did not run: no report");
}

#[test]
fn captured_output_keeps_head_and_tail() {
    let mut c = Captured::default();
    for i in 0..20_000 {
        c.push_line(&format!("line {i:05}"));
    }
    let text = c.render();
    assert!(text.starts_with("line 00000\n"));
    assert!(text.ends_with("line 19999\n"));
    assert!(text.contains("bytes of output left out"));
    assert!(text.len() < HEAD_LIMIT + 2 * TAIL_LIMIT + 100);
}

#[test]
fn errors_outside_examples_that_nothing_explains_are_reported_with_their_count() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
    feed(&mut t, vec![
        ev(Event::Start { count: 1, seed: None }),
        ev(Event::File { file: "./spec/a_spec.rb".into() }),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        ev(Event::FileDone { file: "./spec/a_spec.rb".into(), seconds: 0.1 }),
        ev(Event::Done { examples: 1, failures: 0, pending: 0, errors_outside: 2, coverage: false }),
    ]);
    // Exit 1 goes with those errors: no second error for the exit status.
    let end = t.finish(ExitInfo { code: Some(1), signal: None }, Ending::Exited);
    let messages: Vec<&str> = end
        .events
        .iter()
        .filter_map(|e| match e {
            RunEvent::ErrorOutsideExamples { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(messages, ["the runner reported 2 error(s) outside of examples"]);
}

#[test]
fn the_runner_started_at_hello_and_the_batch_at_start() {
    // The run layer reads these two: a runner that never said hello (it did not start at all)
    // and a batch that started running examples (its boot is over).
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
    assert!(!t.runner_started());
    assert!(!t.has_started());
    feed(&mut t, vec![out("booting"), ev(Event::Hello)]);
    assert!(t.runner_started());
    assert!(!t.has_started());
    feed(&mut t, vec![ev(Event::Start { count: 1, seed: None })]);
    assert!(t.runner_started());
    assert!(t.has_started());
}

#[test]
fn the_running_file_and_the_output_outside_files_are_there_to_read_meanwhile() {
    // The run layer names the running file when it boots slowly, and the output outside files
    // when the runner never started.
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
    feed(&mut t, vec![out("Could not find gem 'rspec'"), ev(Event::Hello), ev(Event::Start { count: 2, seed: None })]);
    assert_eq!(t.current_file(), None);
    assert_eq!(t.batch_output(), "Could not find gem 'rspec'\n");
    feed(&mut t, vec![ev(Event::File { file: "./spec/b_spec.rb".into() }), out("from b")]);
    assert_eq!(t.current_file(), Some("spec/b_spec.rb"));
    assert_eq!(t.batch_output(), "Could not find gem 'rspec'\n");
    feed(&mut t, vec![ev(Event::FileDone { file: "./spec/b_spec.rb".into(), seconds: 0.1 })]);
    assert_eq!(t.current_file(), None);
}

#[test]
fn events_of_another_file_than_the_running_one_go_to_that_file() {
    // A runner may report a file's start before the one it was in says it is done.
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
    let events = feed(&mut t, vec![
        ev(Event::Start { count: 3, seed: None }),
        ev(Event::File { file: "./spec/a_spec.rb".into() }),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        ev(Event::File { file: "./spec/b_spec.rb".into() }),
        ex("./spec/b_spec.rb", ExampleStatusWire::Failed),
        ex("./spec/b_spec.rb", ExampleStatusWire::Passed),
        ev(Event::FileDone { file: "./spec/b_spec.rb".into(), seconds: 0.2 }),
        ev(Event::FileDone { file: "./spec/a_spec.rb".into(), seconds: 0.3 }),
    ]);
    let started: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::FileStarted { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started, ["spec/a_spec.rb", "spec/b_spec.rb"]);
    let files: Vec<(String, usize)> = finished(&events).into_iter().map(|(p, n, _, _)| (p, n)).collect();
    assert_eq!(files, [("spec/b_spec.rb".to_string(), 2), ("spec/a_spec.rb".to_string(), 1)]);
}

#[test]
fn output_in_a_file_reported_already_is_kept_outside_files() {
    // A file the runner comes back to after its end (minitest runs a file's classes apart):
    // its report is made, so what it prints then is shown with the run's output, not lost.
    let mut t = BatchTracker::new(slot(), jobs(&["test/a_test.rb"]));
    let events = feed(&mut t, vec![
        ev(Event::Start { count: 2, seed: None }),
        ev(Event::File { file: "test/a_test.rb".into() }),
        out("first class"),
        ex("test/a_test.rb", ExampleStatusWire::Passed),
        ev(Event::FileDone { file: "test/a_test.rb".into(), seconds: 0.1 }),
        ev(Event::File { file: "test/a_test.rb".into() }),
        out("second class"),
        ev(Event::Done { examples: 1, failures: 0, pending: 0, errors_outside: 0, coverage: false }),
    ]);
    assert_eq!(finished(&events), vec![("test/a_test.rb".into(), 1, None, "first class\n".into())]);
    let end = t.finish(ExitInfo { code: Some(0), signal: None }, Ending::Exited);
    match &end.events[..] {
        [RunEvent::RunOutput { text, .. }] => assert_eq!(text, "second class"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn output_read_before_its_files_events_goes_to_its_file_when_they_come() {
    // The output pipe read to its end before the event pipe: every line waits for its mark's
    // event, and each file is reported with its own output once its end's event is here.
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
    let marked = |e: Event, q: u64| Piece::Marked(e, q);
    let early = feed(&mut t, vec![
        Piece::OutputMark(1),
        out("from a"),
        Piece::OutputMark(2),
        Piece::OutputMark(3),
        out("from b"),
        Piece::OutputMark(4),
    ]);
    assert!(early.is_empty(), "{early:?}");
    let events = feed(&mut t, vec![
        ev(Event::Hello),
        ev(Event::Start { count: 2, seed: None }),
        marked(Event::File { file: "./spec/a_spec.rb".into() }, 1),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        marked(Event::FileDone { file: "./spec/a_spec.rb".into(), seconds: 0.1 }, 2),
        marked(Event::File { file: "./spec/b_spec.rb".into() }, 3),
        ex("./spec/b_spec.rb", ExampleStatusWire::Passed),
        marked(Event::FileDone { file: "./spec/b_spec.rb".into(), seconds: 0.1 }, 4),
    ]);
    assert_eq!(finished(&events), vec![
        ("spec/a_spec.rb".into(), 1, None, "from a\n".into()),
        ("spec/b_spec.rb".into(), 1, None, "from b\n".into()),
    ]);
}

#[test]
fn a_mark_number_seen_before_changes_nothing() {
    // Marks only go up; an event that carries one already seen (a repeated end) does not
    // move where the output after that mark goes.
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
    let marked = |e: Event, q: u64| Piece::Marked(e, q);
    let events = feed(&mut t, vec![
        ev(Event::Start { count: 1, seed: None }),
        marked(Event::File { file: "./spec/a_spec.rb".into() }, 1),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        marked(Event::FileDone { file: "./spec/a_spec.rb".into(), seconds: 0.1 }, 2),
        marked(Event::File { file: "./spec/b_spec.rb".into() }, 3),
        marked(Event::FileDone { file: "./spec/a_spec.rb".into(), seconds: 0.1 }, 2),
        Piece::OutputMark(1),
        out("from a"),
        Piece::OutputMark(2),
        out("between files"),
        Piece::OutputMark(3),
        out("from b"),
        ex("./spec/b_spec.rb", ExampleStatusWire::Passed),
        marked(Event::FileDone { file: "./spec/b_spec.rb".into(), seconds: 0.1 }, 4),
        Piece::OutputMark(4),
        ev(Event::Done { examples: 2, failures: 0, pending: 0, errors_outside: 0, coverage: false }),
    ]);
    assert_eq!(finished(&events), vec![
        ("spec/a_spec.rb".into(), 1, None, "from a\n".into()),
        ("spec/b_spec.rb".into(), 1, None, "from b\n".into()),
    ]);
    let end = t.finish(ExitInfo { code: Some(0), signal: None }, Ending::Exited);
    match &end.events[..] {
        [RunEvent::RunOutput { text, .. }] => assert_eq!(text, "between files"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn pending_examples_agree_with_the_runners_count() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
    feed(&mut t, vec![
        ev(Event::Start { count: 3, seed: None }),
        ev(Event::File { file: "./spec/a_spec.rb".into() }),
        ex("./spec/a_spec.rb", ExampleStatusWire::Pending),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        ex("./spec/a_spec.rb", ExampleStatusWire::Pending),
        ev(Event::FileDone { file: "./spec/a_spec.rb".into(), seconds: 0.1 }),
        ev(Event::Done { examples: 3, failures: 0, pending: 2, errors_outside: 0, coverage: false }),
    ]);
    let end = t.finish(ExitInfo { code: Some(0), signal: None }, Ending::Exited);
    assert!(end.events.is_empty() && end.requeue.is_empty(), "{:?}", end.events);
}

#[test]
fn the_frameworks_notes_outside_examples_are_shown_once_but_not_blank_ones() {
    let mut t = BatchTracker::new(slot(), jobs(&["test/a_test.rb"]));
    feed(&mut t, vec![
        ev(Event::Message { message: "Run options: --seed 42\n".into(), error: false }),
        ev(Event::Message { message: "  \n".into(), error: false }),
        ev(Event::Start { count: 0, seed: None }),
        ev(Event::FileDone { file: "test/a_test.rb".into(), seconds: 0.0 }),
        ev(Event::Done { examples: 0, failures: 0, pending: 0, errors_outside: 0, coverage: false }),
    ]);
    let end = t.finish(ExitInfo { code: Some(0), signal: None }, Ending::Exited);
    match &end.events[..] {
        [RunEvent::RunOutput { text, .. }] => assert_eq!(text, "Run options: --seed 42"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_file_whose_end_mark_never_shows_in_the_output_is_reported_at_the_end() {
    // Its stdout closed (`$stdout.close` in a spec), the mark of its end never comes: the
    // stream's end settles it, with the output that was read.
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
    let events = feed(&mut t, vec![
        ev(Event::Start { count: 1, seed: None }),
        Piece::Marked(Event::File { file: "./spec/a_spec.rb".into() }, 1),
        Piece::OutputMark(1),
        out("from a"),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        Piece::Marked(Event::FileDone { file: "./spec/a_spec.rb".into(), seconds: 0.1 }, 2),
        ev(Event::Done { examples: 1, failures: 0, pending: 0, errors_outside: 0, coverage: false }),
    ]);
    assert!(finished(&events).is_empty(), "{events:?}");
    let end = t.finish(ExitInfo { code: Some(0), signal: None }, Ending::Exited);
    assert_eq!(finished(&end.events), vec![("spec/a_spec.rb".into(), 1, None, "from a\n".into())]);
    assert_eq!(end.events.len(), 1, "{:?}", end.events);
}

fn seconds_of(events: &[RunEvent], path: &str) -> f64 {
    events
        .iter()
        .find_map(|e| match e {
            RunEvent::FileFinished(r) if r.path == path => Some(r.seconds),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no report of {path}: {events:?}"))
}

#[test]
fn a_stopped_file_with_only_passes_so_far_is_not_reported_and_one_with_a_failure_counts_its_time() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
    feed(&mut t, vec![
        ev(Event::Start { count: 3, seed: None }),
        ev(Event::File { file: "./spec/a_spec.rb".into() }),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        ex("./spec/a_spec.rb", ExampleStatusWire::Pending),
    ]);
    let end = t.finish(CRASH, Ending::Stopped);
    assert!(end.events.is_empty() && end.requeue.is_empty(), "{:?}", end.events);

    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
    feed(&mut t, vec![
        ev(Event::Start { count: 3, seed: None }),
        ev(Event::File { file: "./spec/a_spec.rb".into() }),
        ex("./spec/a_spec.rb", ExampleStatusWire::Failed),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
    ]);
    let end = t.finish(CRASH, Ending::Stopped);
    // Its time is what its examples took: 3 × 0.1 s.
    assert!((seconds_of(&end.events, "spec/a_spec.rb") - 0.3).abs() < 1e-9, "{:?}", end.events);
}

#[test]
fn a_file_never_reported_as_done_counts_the_time_of_the_examples_it_ran() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
    feed(&mut t, vec![
        ev(Event::Start { count: 2, seed: None }),
        ev(Event::File { file: "./spec/a_spec.rb".into() }),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
        ev(Event::Done { examples: 2, failures: 0, pending: 0, errors_outside: 0, coverage: false }),
    ]);
    let end = t.finish(ExitInfo { code: Some(0), signal: None }, Ending::Exited);
    assert_eq!(finished(&end.events)[0].2, Some("crashed"));
    assert!((seconds_of(&end.events, "spec/a_spec.rb") - 0.2).abs() < 1e-9, "{:?}", end.events);
}

#[test]
fn a_crash_names_the_example_it_happened_in() {
    let mut t = kill_batch(jobs(&["spec/a_spec.rb", "spec/kill_spec.rb"]));
    feed(&mut t, vec![ev(Event::ExampleStarted { file: "./spec/kill_spec.rb".into(), description: "dies hard".into(), location: "./spec/kill_spec.rb:7".into() })]);
    let end = t.finish(CRASH, Ending::Exited);
    let retry = end.requeue.iter().find(|r| r.job.path == "spec/kill_spec.rb").expect("retried");
    assert!(retry.reason.starts_with("the runner process "), "{}", retry.reason);
    assert!(retry.reason.contains(" while running this file in `dies hard` (./spec/kill_spec.rb:7); retrying it once"), "{}", retry.reason);
}

#[test]
fn output_outside_files_goes_with_a_load_error_and_is_not_shown_twice() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/bad_spec.rb"]));
    feed(&mut t, vec![
        out("warning: from the helper"),
        ev(Event::LoadError { file: "./spec/bad_spec.rb".into(), message: "SyntaxError".into() }),
        ev(Event::Start { count: 0, seed: None }),
        ev(Event::Done { examples: 0, failures: 0, pending: 0, errors_outside: 1, coverage: false }),
    ]);
    let end = t.finish(ExitInfo { code: Some(1), signal: None }, Ending::Exited);
    assert_eq!(finished(&end.events), vec![("spec/bad_spec.rb".into(), 0, Some("load error"), "warning: from the helper\n".into())]);
    assert_eq!(end.events.len(), 1, "{:?}", end.events);
}

#[test]
fn a_second_crash_counts_the_time_of_the_examples_it_ran() {
    let mut js = jobs(&["spec/a_spec.rb", "spec/kill_spec.rb"]);
    js[1].crashes = 1;
    let mut t = kill_batch(js);
    feed(&mut t, vec![ex("./spec/kill_spec.rb", ExampleStatusWire::Passed)]);
    let end = t.finish(CRASH, Ending::Exited);
    assert!((seconds_of(&end.events, "spec/kill_spec.rb") - 0.2).abs() < 1e-9, "{:?}", end.events);
}

#[test]
fn a_runner_that_cannot_start_gives_every_file_back_quietly() {
    let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
    feed(&mut t, vec![out("bash: ruby: command not found")]);
    let end = t.spawn_failed();
    assert!(end.events.is_empty(), "{:?}", end.events);
    let back: Vec<(&str, bool, Blame, bool, &str, &str)> =
        end.requeue.iter().map(|r| (r.job.path.as_str(), r.alone, r.blame, r.quiet, r.reason.as_str(), r.output.as_str())).collect();
    let reason = "not run: its host `local` could not start a test runner";
    let infra = Blame::Infrastructure;
    assert_eq!(back, [("spec/a_spec.rb", false, infra, true, reason, ""), ("spec/b_spec.rb", false, infra, true, reason, "")]);
}

#[test]
fn a_batch_whose_server_went_away_keeps_what_is_done_and_sends_the_rest_back_uncharged() {
    let mut t = kill_batch(jobs(&["spec/a_spec.rb", "spec/kill_spec.rb", "spec/c_spec.rb"]));
    feed(&mut t, vec![ev(Event::Lost { what: LostPart::Keeper, message: "the keeper went away".into() })]);
    assert_eq!(t.lost_under(), Some((LostPart::Keeper, "the keeper went away")));
    let end = t.finish_lost();
    assert!(finished(&end.events).is_empty(), "a_spec was reported live, when it was done");
    let back: Vec<_> = end.requeue.iter().map(|r| (r.job.path.as_str(), r.blame, r.job.crashes)).collect();
    assert_eq!(back, [("spec/kill_spec.rb", Blame::Infrastructure, 0), ("spec/c_spec.rb", Blame::Infrastructure, 0)]);
    assert!(end.requeue[0].reason.contains("the keeper went away"), "{}", end.requeue[0].reason);
}
