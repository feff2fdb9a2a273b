//! The formatters' event protocol: `TAG{json}` lines on the runner's stdout.
//!
//! TAG holds a random nonce chosen by the controller for each run, and the formatter removes it
//! from the environment before any spec runs, so nothing a spec prints can pass for an event.
//! A spec may leave a partial line behind; the event then follows on the same line and whatever
//! stands before the tag is the spec's output.

use crate::events::ExampleStatus;
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "e")]
pub enum Event {
    #[serde(rename = "start")]
    Start { count: u64 },
    #[serde(rename = "file")]
    File { f: String },
    #[serde(rename = "ex")]
    Example {
        f: String,
        s: ExampleStatusWire,
        d: String,
        loc: String,
        l: Option<u32>,
        #[serde(default)]
        t: f64,
        #[serde(default)]
        m: Option<String>,
        #[serde(default)]
        bt: Vec<String>,
        /// The framework's id to run just this example again (RSpec's scoped id, `1:2:1`).
        #[serde(default)]
        id: Option<String>,
    },
    #[serde(rename = "file_done")]
    FileDone { f: String, t: f64 },
    #[serde(rename = "load_error")]
    LoadError { f: String, m: String },
    #[serde(rename = "msg")]
    Message { m: String },
    #[serde(rename = "done")]
    Done { examples: u64, failures: u64, pending: u64, errors_outside: u64 },
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
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl;
            self.line(start, end, out);
            start = end + 1;
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE && find(&self.buf, &self.tag).is_none() {
            // Keep the last bytes: a tag may be arriving in two chunks.
            let keep = self.tag.len();
            let cut = self.buf.len() - keep;
            out.push(Piece::Output(String::from_utf8_lossy(&self.buf[..cut]).into_owned()));
            self.buf.drain(..cut);
        }
    }

    /// The stream ended: what is left is output without a final newline.
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        if !self.buf.is_empty() {
            let end = self.buf.len();
            self.line(0, end, out);
            self.buf.clear();
        }
    }

    fn line(&self, start: usize, end: usize, out: &mut Vec<Piece>) {
        let line = &self.buf[start..end];
        let Some(at) = find(line, &self.tag) else {
            out.push(Piece::Output(lossy_line(line)));
            return;
        };
        let json = &line[at + self.tag.len()..];
        match serde_json::from_slice::<Event>(json) {
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
    haystack.windows(needle.len()).position(|w| w == needle)
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
