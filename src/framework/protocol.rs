//! The formatters' event protocol: one JSON object per line on the runner's event channel.
//!
//! The channel is a descriptor of its own (`ssh::EVENT_FD`), apart from the runner's stdout and
//! stderr, so nothing a spec prints can pass for an event and no output of a spec can hide one:
//! a `Decoder` reads either a stream of output or a stream of events, never a mix.

use crate::events::ExampleStatus;
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The runner's formatter is up (before any file loads).
    Hello,
    /// `seed`: the runner orders at random with this seed (RSpec's `--order random`).
    Start { count: u64, seed: Option<u64> },
    /// The runner was asked for a profile of its `count` slowest examples (RSpec's `--profile N`):
    /// testbot builds one for the whole run, and the runner prints none of its own.
    Profile { count: u64 },
    File { file: String },
    /// An example began: what a hang or a crash is blamed on.
    ExampleStarted { file: String, description: String, location: String },
    Example {
        file: String,
        status: ExampleStatusWire,
        description: String,
        /// What the framework takes to rerun it (`./spec/a_spec.rb:12`).
        location: String,
        line: Option<u32>,
        seconds: f64,
        message: Option<String>,
        backtrace: Vec<String>,
        /// The framework's id to run just this example again (RSpec's scoped id, `1:2:1`).
        id: Option<String>,
    },
    FileDone { file: String, seconds: f64 },
    LoadError { file: String, message: String },
    /// Text the framework reported outside examples; `error`: it reported an error there (a
    /// failing `before(:suite)`, a helper that did not load).
    Message { message: String, error: bool },
    /// `--preload`: the slot's server loaded the suite's helper and takes batches.
    PreloadReady,
    /// The host's fork server loaded the framework's core and takes batches.
    ForkReady,
    /// The runner's closing counts; `coverage`: it stores its coverage result on its host at its
    /// exit (SimpleCov runs in it), so the run asks that host for the results.
    Done { examples: u64, failures: u64, pending: u64, errors_outside: u64, coverage: bool },
    /// The batch's client: the batch ended through no doing of the framework's (its exit status
    /// is the client's, not the framework's).
    Lost { what: LostPart, message: String },
    /// `--record-impact`: the project files (relative to the runner's directory) that ran while
    /// `file` ran; `file` None: what ran outside every file (the boot set), with `ruby`, the
    /// runner's Ruby (`RUBY_DESCRIPTION`).
    Impact { file: Option<String>, paths: Vec<String>, ruby: Option<String> },
    /// The batch's client: the child ended and the client ends the same way (without it, a
    /// client that ended by a signal was killed from outside).
    ChildEnded,
}

/// What went away under a forked batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostPart {
    /// The fork (or preload) server: gone, stuck, or it went away while the batch ran.
    Server,
    /// The process that kept the batch (the fork server's keeper, the preload server).
    Keeper,
}

/// An event line as sent: every event's fields in one flat struct. Parsing into it directly
/// is several times cheaper than serde's internally tagged enums, which buffer each event
/// before reading it, and a run may see hundreds of thousands of events.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow, rename = "e")]
    event: std::borrow::Cow<'a, str>,
    count: Option<u64>,
    #[serde(rename = "f")]
    file: Option<String>,
    #[serde(rename = "s")]
    status: Option<ExampleStatusWire>,
    #[serde(rename = "d")]
    description: Option<String>,
    #[serde(rename = "loc")]
    location: Option<String>,
    #[serde(rename = "l")]
    line: Option<u32>,
    #[serde(rename = "t")]
    seconds: Option<f64>,
    #[serde(rename = "m")]
    message: Option<String>,
    #[serde(default, rename = "bt")]
    backtrace: Vec<String>,
    id: Option<String>,
    seed: Option<u64>,
    examples: Option<u64>,
    failures: Option<u64>,
    pending: Option<u64>,
    errors_outside: Option<u64>,
    /// `done`: the batch stores its coverage result.
    #[serde(default, rename = "cov")]
    coverage: bool,
    #[serde(default, rename = "err")]
    error: bool,
    /// What went away (`lost`): `server` or `keeper`.
    what: Option<String>,
    /// The number of this event's mark in the output (`file`, `file_done`).
    #[serde(rename = "q")]
    mark: Option<u64>,
    /// `impact`: project files.
    #[serde(default, rename = "p")]
    paths: Vec<String>,
    ruby: Option<String>,
}

/// Why a line on the event channel is not an event this version knows.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// `field` as the wire names it.
    #[error("a `{event}` event without `{field}`")]
    Missing { event: String, field: &'static str },
    #[error("unknown event `{0}`")]
    Unknown(String),
}

impl Event {
    /// One event's JSON and the number of its mark in the output, if it has one; an error when
    /// it is not an event this version knows, or lacks a field.
    pub fn parse_marked(json: &[u8]) -> Result<(Event, Option<u64>), EventError> {
        // Checked as UTF-8 once for the line rather than once for every string in it.
        let w: Wire = match std::str::from_utf8(json) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(json),
        }?;
        let need = |field: &'static str| EventError::Missing { event: w.event.to_string(), field };
        let event = match &*w.event {
            "hello" => Event::Hello,
            "preload_ready" => Event::PreloadReady,
            "fork_ready" => Event::ForkReady,
            "ex_start" => Event::ExampleStarted {
                file: w.file.ok_or_else(|| need("f"))?,
                description: w.description.ok_or_else(|| need("d"))?,
                location: w.location.ok_or_else(|| need("loc"))?,
            },
            "start" => Event::Start { count: w.count.ok_or_else(|| need("count"))?, seed: w.seed },
            "profile" => Event::Profile { count: w.count.ok_or_else(|| need("count"))? },
            "file" => Event::File { file: w.file.ok_or_else(|| need("f"))? },
            "ex" => Event::Example {
                file: w.file.ok_or_else(|| need("f"))?,
                status: w.status.ok_or_else(|| need("s"))?,
                description: w.description.ok_or_else(|| need("d"))?,
                location: w.location.ok_or_else(|| need("loc"))?,
                line: w.line,
                seconds: w.seconds.unwrap_or_default(),
                message: w.message,
                backtrace: w.backtrace,
                id: w.id,
            },
            "file_done" => Event::FileDone { file: w.file.ok_or_else(|| need("f"))?, seconds: w.seconds.ok_or_else(|| need("t"))? },
            "load_error" => Event::LoadError { file: w.file.ok_or_else(|| need("f"))?, message: w.message.ok_or_else(|| need("m"))? },
            "msg" => Event::Message { message: w.message.ok_or_else(|| need("m"))?, error: w.error },
            "done" => Event::Done {
                examples: w.examples.ok_or_else(|| need("examples"))?,
                failures: w.failures.ok_or_else(|| need("failures"))?,
                pending: w.pending.ok_or_else(|| need("pending"))?,
                errors_outside: w.errors_outside.ok_or_else(|| need("errors_outside"))?,
                coverage: w.coverage,
            },
            "child_ended" => Event::ChildEnded,
            "impact" => Event::Impact { file: w.file, paths: w.paths, ruby: w.ruby },
            "lost" => Event::Lost {
                what: if w.what.as_deref() == Some("server") { LostPart::Server } else { LostPart::Keeper },
                message: w.message.ok_or_else(|| need("m"))?,
            },
            other => return Err(EventError::Unknown(other.to_string())),
        };
        Ok((event, w.mark))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExampleStatusWire {
    Passed,
    Failed,
    Pending,
}

impl From<ExampleStatusWire> for ExampleStatus {
    fn from(s: ExampleStatusWire) -> Self {
        match s {
            ExampleStatusWire::Passed => ExampleStatus::Passed,
            ExampleStatusWire::Failed => ExampleStatus::Failed,
            ExampleStatusWire::Pending => ExampleStatus::Pending,
        }
    }
}

/// One piece of a runner's streams, in the order read.
#[derive(Debug, PartialEq)]
pub enum Piece {
    Output(String),
    Event(Event),
    /// An event with mark `q` in the output (it changes which file output belongs to).
    Marked(Event, u64),
    /// Mark `q` in the output: what came before it was printed before event `q`.
    OutputMark(u64),
}

/// A fresh start for one batch's output marks (`TESTBOT_SYNC`): 16 hex digits.
pub fn new_sync() -> String {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the OS has no random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The variable that gives a runner its marks' start.
pub const SYNC_VAR: &str = "TESTBOT_SYNC";

/// Splits one of a runner's streams into lines: its output, or its events.
pub struct Decoder {
    events: bool,
    /// The output's marks start with this (`TESTBOT_SYNC`).
    sync: Option<Vec<u8>>,
    buf: Vec<u8>,
}

/// A line longer than this is passed on in pieces.
const MAX_LINE: usize = 1 << 20;

impl Decoder {
    /// The runner's stdout and stderr: every line is output, whatever it holds.
    pub fn output() -> Decoder {
        Decoder { events: false, sync: None, buf: Vec::new() }
    }

    /// The runner's stdout and stderr with its marks (`sync` followed by a number ends a mark's
    /// line); everything else is output.
    pub fn output_marked(sync: &str) -> Decoder {
        Decoder { events: false, sync: Some(sync.as_bytes().to_vec()), buf: Vec::new() }
    }

    /// The runner's event channel: every line is an event.
    pub fn events() -> Decoder {
        Decoder { events: true, sync: None, buf: Vec::new() }
    }

    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Piece>) {
        // Nearly always a whole line or more: decode it where it lies, buffering only a partial
        // line's bytes until its end arrives.
        if self.buf.is_empty() {
            let start = self.lines(bytes, out);
            self.buf.extend_from_slice(&bytes[start..]);
        } else {
            self.buf.extend_from_slice(bytes);
            let buf = std::mem::take(&mut self.buf);
            let start = self.lines(&buf, out);
            self.buf = buf;
            self.buf.drain(..start);
        }
        if !self.events && self.buf.len() > MAX_LINE {
            out.push(Piece::Output(String::from_utf8_lossy(&self.buf).into_owned()));
            self.buf.clear();
        }
    }

    /// Decodes the whole lines in `bytes`; returns where the unfinished one starts.
    fn lines(&self, bytes: &[u8], out: &mut Vec<Piece>) -> usize {
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', bytes) {
            self.line(&bytes[start..nl], out);
            start = nl + 1;
        }
        start
    }

    /// The stream ended: what is left is a line without a final newline.
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        if !self.buf.is_empty() {
            self.line(&self.buf, out);
            self.buf.clear();
        }
    }

    fn line(&self, line: &[u8], out: &mut Vec<Piece>) {
        if !self.events {
            if let Some((before, q)) = self.sync.as_deref().and_then(|sync| mark(line, sync)) {
                if !before.is_empty() {
                    out.push(Piece::Output(lossy_line(before)));
                }
                out.push(Piece::OutputMark(q));
            } else {
                out.push(Piece::Output(lossy_line(line)));
            }
            return;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match Event::parse_marked(line) {
            Ok((event, Some(q))) => out.push(Piece::Marked(event, q)),
            Ok((event, None)) => out.push(Piece::Event(event)),
            Err(err) => {
                // Only the formatter writes here; a remote login script's noise before the
                // runner started is the one other thing that can.
                tracing::warn!("unreadable event from the formatter ({err}); kept as output");
                out.push(Piece::Output(lossy_line(line)));
            }
        }
    }
}

/// `line` ends with a mark (`sync` and digits): what stands before it, and its number. (The
/// start is hex and may end in digits itself: found as a whole, then the digits after it.)
fn mark<'a>(line: &'a [u8], sync: &[u8]) -> Option<(&'a [u8], u64)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let at = memchr::memmem::rfind(line, sync)?;
    let number = &line[at + sync.len()..];
    if number.is_empty() || !number.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let q = std::str::from_utf8(number).ok()?.parse().ok()?;
    Some((&line[..at], q))
}

fn lossy_line(bytes: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    if s.ends_with('\r') {
        s.pop();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(events: bool, chunks: &[&[u8]]) -> Vec<Piece> {
        let mut d = if events { Decoder::events() } else { Decoder::output() };
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut out);
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn output_is_never_an_event_whatever_it_holds() {
        let out = decode(false, &[b"hello\n{\"e\":\"start\",\"count\":1}\npart", b"ial\ntail"]);
        assert_eq!(
            out,
            vec![
                Piece::Output("hello".into()),
                Piece::Output("{\"e\":\"start\",\"count\":1}".into()),
                Piece::Output("partial".into()),
                Piece::Output("tail".into()),
            ]
        );
    }

    #[test]
    fn a_client_says_what_went_away_and_how_its_child_ended() {
        // On lines of their own, after whatever half line a killed child left.
        let out = decode(true, &[b"{\"e\":\"hel", b"\n{\"e\":\"lost\",\"what\":\"server\",\"m\":\"gone\"}\n\n{\"e\":\"child_ended\"}\n"]);
        assert_eq!(
            out,
            vec![
                Piece::Output("{\"e\":\"hel".into()),
                Piece::Event(Event::Lost { what: LostPart::Server, message: "gone".into() }),
                Piece::Event(Event::ChildEnded),
            ]
        );
        let keeper = Event::parse_marked(br#"{"e":"lost","what":"keeper","m":"x"}"#).unwrap().0;
        assert_eq!(keeper, Event::Lost { what: LostPart::Keeper, message: "x".into() });
    }

    #[test]
    fn events_split_across_chunks() {
        let out = decode(
            true,
            &[b"{\"e\":\"hello\"}\n{\"e\":\"file\",\"f\":\"./spec/a", b"_spec.rb\"}\n{\"e\":\"done\",\"examples\":1,\"failures\":0,\"pending\":0,\"errors_outside\":0}"],
        );
        assert_eq!(
            out,
            vec![
                Piece::Event(Event::Hello),
                Piece::Event(Event::File { file: "./spec/a_spec.rb".into() }),
                Piece::Event(Event::Done { examples: 1, failures: 0, pending: 0, errors_outside: 0, coverage: false }),
            ]
        );
    }

    #[test]
    fn a_done_event_says_whether_its_batch_stores_coverage() {
        let done = |json: &[u8]| Event::parse_marked(json).unwrap().0;
        let stores = done(br#"{"e":"done","examples":1,"failures":0,"pending":0,"errors_outside":0,"cov":true}"#);
        assert!(matches!(stores, Event::Done { coverage: true, .. }), "{stores:?}");
        let not = done(br#"{"e":"done","examples":1,"failures":0,"pending":0,"errors_outside":0}"#);
        assert!(matches!(not, Event::Done { coverage: false, .. }), "{not:?}");
    }

    #[test]
    fn a_broken_event_is_kept_as_output() {
        let out = decode(true, &[b"{\"e\":\"nope\"}\nnoise from a login script\n"]);
        assert_eq!(
            out,
            vec![Piece::Output("{\"e\":\"nope\"}".into()), Piece::Output("noise from a login script".into())]
        );
    }

    #[test]
    fn example_event_parses() {
        let line = br#"{"e":"ex","f":"./spec/a_spec.rb","s":"failed","d":"A fails","loc":"./spec/a_spec.rb:3","l":3,"t":0.02,"m":"boom","bt":["x:1"]}"#;
        let out = decode(true, &[line]);
        match &out[0] {
            Piece::Event(Event::Example { status, line, message, backtrace, .. }) => {
                assert_eq!(*status, ExampleStatusWire::Failed);
                assert_eq!(*line, Some(3));
                assert_eq!(message.as_deref(), Some("boom"));
                assert_eq!(backtrace, &vec!["x:1".to_string()]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unknown_or_incomplete_event_says_what_is_wrong_by_its_wire_names() {
        assert_eq!(Event::parse_marked(br#"{"e":"nope"}"#).unwrap_err().to_string(), "unknown event `nope`");
        assert_eq!(Event::parse_marked(br#"{"e":"file"}"#).unwrap_err().to_string(), "a `file` event without `f`");
        assert_eq!(Event::parse_marked(br#"{"e":"file_done","f":"a"}"#).unwrap_err().to_string(), "a `file_done` event without `t`");
        assert!(matches!(Event::parse_marked(b"noise").unwrap_err(), EventError::Json(_)));
    }

    #[test]
    fn messages_say_whether_they_are_errors() {
        let out = decode(true, &[b"{\"e\":\"msg\",\"m\":\"note\",\"err\":false}\n{\"e\":\"msg\",\"m\":\"boom\",\"err\":true}\n"]);
        assert_eq!(
            out,
            vec![
                Piece::Event(Event::Message { message: "note".into(), error: false }),
                Piece::Event(Event::Message { message: "boom".into(), error: true }),
            ]
        );
    }

    #[test]
    fn marks_are_found_in_the_output_and_after_marked_events() {
        let mut d = Decoder::output_marked("ab12");
        let mut out = Vec::new();
        // The start ends in digits: `ab12` then `3`, not `ab` then `123`.
        d.feed(b"hello\nab123\npartialab124\nab12x\nab12\n", &mut out);
        assert_eq!(
            out,
            vec![
                Piece::Output("hello".into()),
                Piece::OutputMark(3),
                Piece::Output("partial".into()),
                Piece::OutputMark(4),
                Piece::Output("ab12x".into()),
                Piece::Output("ab12".into()),
            ]
        );
        let out = decode(true, &[b"{\"e\":\"file\",\"f\":\"./a_spec.rb\",\"q\":1}\n"]);
        assert_eq!(out, vec![Piece::Marked(Event::File { file: "./a_spec.rb".into() }, 1)]);
    }

    #[test]
    fn huge_output_lines_are_split() {
        let big = vec![b'x'; MAX_LINE + 10];
        let out = decode(false, &[&big, b"yy\n"]);
        let output_len: usize = out.iter().map(|p| if let Piece::Output(s) = p { s.len() } else { 0 }).sum();
        assert_eq!(output_len, MAX_LINE + 12);
    }
}
