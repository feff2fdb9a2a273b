//! The formatters' event protocol: `TAG{json}` lines on the runner's stdout.
//!
//! TAG holds a random nonce chosen by the controller for each run, and the formatter removes it
//! from the environment before any spec runs, so nothing a spec prints can pass for an event.
//! A spec may leave a partial line behind; the event then follows on the same line and whatever
//! stands before the tag is the spec's output.

use crate::events::ExampleStatus;
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Start { count: u64 },
    File { f: String },
    Example {
        f: String,
        s: ExampleStatusWire,
        d: String,
        loc: String,
        l: Option<u32>,
        t: f64,
        m: Option<String>,
        bt: Vec<String>,
        /// The framework's id to run just this example again (RSpec's scoped id, `1:2:1`).
        id: Option<String>,
    },
    FileDone { f: String, t: f64 },
    LoadError { f: String, m: String },
    Message { m: String },
    Done { examples: u64, failures: u64, pending: u64, errors_outside: u64 },
}

/// An event line as sent: every event's fields in one flat struct. Parsing into it directly
/// is several times cheaper than serde's internally tagged enums, which buffer each event
/// before reading it, and a run may see hundreds of thousands of events.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    e: std::borrow::Cow<'a, str>,
    count: Option<u64>,
    f: Option<String>,
    s: Option<ExampleStatusWire>,
    d: Option<String>,
    loc: Option<String>,
    l: Option<u32>,
    t: Option<f64>,
    m: Option<String>,
    #[serde(default)]
    bt: Vec<String>,
    id: Option<String>,
    examples: Option<u64>,
    failures: Option<u64>,
    pending: Option<u64>,
    errors_outside: Option<u64>,
}

impl Event {
    /// One event's JSON; None when it is not an event this version knows, or lacks a field.
    pub fn parse(json: &[u8]) -> Result<Event, String> {
        // Checked as UTF-8 once for the line rather than once for every string in it.
        let w: Wire = match std::str::from_utf8(json) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(json),
        }
        .map_err(|e| e.to_string())?;
        let need = |what: &str| format!("a `{}` event without `{what}`", w.e);
        let event = match &*w.e {
            "start" => Event::Start { count: w.count.ok_or_else(|| need("count"))? },
            "file" => Event::File { f: w.f.ok_or_else(|| need("f"))? },
            "ex" => Event::Example {
                f: w.f.ok_or_else(|| need("f"))?,
                s: w.s.ok_or_else(|| need("s"))?,
                d: w.d.ok_or_else(|| need("d"))?,
                loc: w.loc.ok_or_else(|| need("loc"))?,
                l: w.l,
                t: w.t.unwrap_or_default(),
                m: w.m,
                bt: w.bt,
                id: w.id,
            },
            "file_done" => Event::FileDone { f: w.f.ok_or_else(|| need("f"))?, t: w.t.ok_or_else(|| need("t"))? },
            "load_error" => Event::LoadError { f: w.f.ok_or_else(|| need("f"))?, m: w.m.ok_or_else(|| need("m"))? },
            "msg" => Event::Message { m: w.m.ok_or_else(|| need("m"))? },
            "done" => Event::Done {
                examples: w.examples.ok_or_else(|| need("examples"))?,
                failures: w.failures.ok_or_else(|| need("failures"))?,
                pending: w.pending.ok_or_else(|| need("pending"))?,
                errors_outside: w.errors_outside.ok_or_else(|| need("errors_outside"))?,
            },
            other => return Err(format!("unknown event `{other}`")),
        };
        Ok(event)
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

/// One piece of the runner's stdout, in order.
#[derive(Debug, PartialEq)]
pub enum Piece {
    Output(String),
    Event(Event),
}

/// A fresh tag for one run: `@@testbot-<16 hex>@@`.
pub fn new_tag() -> String {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the OS has no random source");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("@@testbot-{hex}@@")
}

/// Splits a byte stream into output lines and events.
pub struct Decoder {
    tag: Vec<u8>,
    buf: Vec<u8>,
}

/// A line longer than this with no tag in it is passed on as output in pieces.
const MAX_LINE: usize = 1 << 20;

impl Decoder {
    pub fn new(tag: &str) -> Decoder {
        Decoder { tag: tag.as_bytes().to_vec(), buf: Vec::new() }
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
        if self.buf.len() > MAX_LINE && find(&self.buf, &self.tag).is_none() {
            // Keep the last bytes: a tag may be arriving in two chunks.
            let keep = self.tag.len();
            let cut = self.buf.len() - keep;
            out.push(Piece::Output(String::from_utf8_lossy(&self.buf[..cut]).into_owned()));
            self.buf.drain(..cut);
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

    /// The stream ended: what is left is output without a final newline.
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        if !self.buf.is_empty() {
            self.line(&self.buf, out);
            self.buf.clear();
        }
    }

    fn line(&self, line: &[u8], out: &mut Vec<Piece>) {
        let Some(at) = find(line, &self.tag) else {
            out.push(Piece::Output(lossy_line(line)));
            return;
        };
        let json = &line[at + self.tag.len()..];
        match Event::parse(json) {
            Ok(event) => {
                if at > 0 {
                    out.push(Piece::Output(lossy_line(&line[..at])));
                }
                out.push(Piece::Event(event));
            }
            Err(err) => {
                tracing::warn!("unreadable event from the formatter ({err}); kept as output");
                out.push(Piece::Output(lossy_line(line)));
            }
        }
    }
}

fn lossy_line(bytes: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    if s.ends_with('\r') {
        s.pop();
    }
    s
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    // Nearly every event line starts with the tag.
    if haystack.starts_with(needle) {
        return Some(0);
    }
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "@@testbot-00ff@@";

    fn decode(chunks: &[&[u8]]) -> Vec<Piece> {
        let mut d = Decoder::new(TAG);
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut out);
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn events_output_and_partial_lines() {
        let out = decode(&[
            b"hello\n{\"e\":\"start\",\"count\":1}\npart",
            b"ial@@testbot-00ff@@{\"e\":\"file\",\"f\":\"./spec/a_spec.rb\"}\n@@testbot-00",
            b"ff@@{\"e\":\"done\",\"examples\":1,\"failures\":0,\"pending\":0,\"errors_outside\":0}\ntail",
        ]);
        assert_eq!(
            out,
            vec![
                Piece::Output("hello".into()),
                Piece::Output("{\"e\":\"start\",\"count\":1}".into()),
                Piece::Output("partial".into()),
                Piece::Event(Event::File { f: "./spec/a_spec.rb".into() }),
                Piece::Event(Event::Done { examples: 1, failures: 0, pending: 0, errors_outside: 0 }),
                Piece::Output("tail".into()),
            ]
        );
    }

    #[test]
    fn a_foreign_tag_is_output() {
        let out = decode(&[b"@@testbot-1234@@{\"e\":\"start\",\"count\":9}\n"]);
        assert_eq!(out, vec![Piece::Output("@@testbot-1234@@{\"e\":\"start\",\"count\":9}".into())]);
    }

    #[test]
    fn a_broken_event_is_kept_as_output() {
        let out = decode(&[b"@@testbot-00ff@@{\"e\":\"nope\"}\n"]);
        assert_eq!(out, vec![Piece::Output("@@testbot-00ff@@{\"e\":\"nope\"}".into())]);
    }

    #[test]
    fn example_event_parses() {
        let line = br#"@@testbot-00ff@@{"e":"ex","f":"./spec/a_spec.rb","s":"failed","d":"A fails","loc":"./spec/a_spec.rb:3","l":3,"t":0.02,"m":"boom","bt":["x:1"]}"#;
        let out = decode(&[line]);
        match &out[0] {
            Piece::Event(Event::Example { s, l, m, bt, .. }) => {
                assert_eq!(*s, ExampleStatusWire::Failed);
                assert_eq!(*l, Some(3));
                assert_eq!(m.as_deref(), Some("boom"));
                assert_eq!(bt, &vec!["x:1".to_string()]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn huge_lines_are_split_but_keep_a_late_tag() {
        let mut big = vec![b'x'; MAX_LINE + 10];
        big.extend_from_slice(b"@@testbot-00");
        let out = decode(&[&big, b"ff@@{\"e\":\"msg\",\"m\":\"hi\"}\n"]);
        let output_len: usize = out
            .iter()
            .map(|p| if let Piece::Output(s) = p { s.len() } else { 0 })
            .sum();
        assert_eq!(output_len, MAX_LINE + 10);
        assert_eq!(out.last(), Some(&Piece::Event(Event::Message { m: "hi".into() })));
    }

    #[test]
    fn tags_differ() {
        assert_ne!(new_tag(), new_tag());
        assert!(new_tag().starts_with("@@testbot-"));
    }
}
