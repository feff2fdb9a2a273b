//! `InventoryError`, the rendering of source snippets, and the translation of
//! toml/serde error messages into testbot's wording.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::keys::{
    GROUP_KEYS, HOOKS_KEYS, HOST_KEYS, IMPACT_KEYS, LOCAL_KEYS, PROFILE_KEYS, PROJECT_KEYS, QUEUE_KEYS, SSH_KEYS, SYNC_KEYS, TOP_KEYS,
};

/// Why `testbot.toml` could not be loaded.
///
/// `Display` is the complete message, causes included, so `source()` is
/// `None`: the crate prints errors with their `source()` chain, which would
/// otherwise repeat the I/O error ("failed to read x: not found: not found").
#[derive(Debug)]
pub enum InventoryError {
    /// The file could not be read. Displays as `failed to read PATH: ERROR`.
    Read { path: PathBuf, source: io::Error },

    /// The file is not valid TOML, or not a valid testbot configuration.
    ///
    /// `line` and `column` are 1-based (the column counts characters);
    /// `snippet` is the offending line with a caret underneath, already
    /// rendered. Displays as `PATH:LINE:COLUMN: MESSAGE` then the snippet:
    ///
    /// ```text
    /// testbot.toml:7:1: unknown key `slot` in [[host]]; did you mean `slots`?
    ///   |
    /// 7 | slot = 4
    ///   | ^^^^
    /// ```
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        snippet: String,
    },
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InventoryError::Read { path, source } => {
                write!(f, "failed to read {}: {source}", path.display())
            }
            InventoryError::Invalid {
                path,
                line,
                column,
                message,
                snippet,
            } => write!(
                f,
                "{}:{line}:{column}: {message}\n{snippet}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for InventoryError {}

/// Builds an `Invalid` error for the byte `span` of `text`.
pub(super) fn invalid(
    path: &Path,
    text: &str,
    span: Range<usize>,
    message: impl Into<String>,
) -> InventoryError {
    let loc = locate(text, span);
    InventoryError::Invalid {
        path: path.to_path_buf(),
        line: loc.line,
        column: loc.column,
        message: message.into(),
        snippet: loc.snippet,
    }
}

/// Converts a toml deserialization error: a TOML syntax error, an unknown key
/// (rewritten with a suggestion) or a type error raised by the raw layer.
pub(super) fn from_toml(path: &Path, text: &str, err: &toml::de::Error) -> InventoryError {
    let raw = err.message();
    let span = err.span().unwrap_or(0..0);
    let message = unknown_key(raw)
        .or_else(|| dotted_leaf(raw, text, &span))
        .unwrap_or_else(|| {
            // toml's syntax messages may span several lines ("invalid table
            // header\nexpected `.`, `]`"); keep them on one line. Its own
            // snippet is not part of `message()`.
            raw.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        });
    invalid(path, text, span, message)
}

/// A dotted key where a plain value belongs (`slots.x = 1`) makes an
/// implicit table without a span, which `toml::Spanned` cannot read; it fails
/// with a message about its own internals, pointing at the key after the
/// dot. Say what is wrong instead, naming the key before the dot when the
/// source makes that easy.
fn dotted_leaf(message: &str, text: &str, span: &Range<usize>) -> Option<String> {
    message
        .strip_prefix("invalid type: string ")?
        .strip_suffix(", expected a borrowed string")?;
    let key = text.get(span.clone())?;
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let before = text[line_start..span.start].trim_end();
    let parent = before
        .strip_suffix('.')
        .map(str::trim_end)
        .map(|b| {
            let is_bare = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            let start = b
                .char_indices()
                .rev()
                .find(|&(_, c)| !is_bare(c))
                .map_or(0, |(i, c)| i + c.len_utf8());
            &b[start..]
        })
        .filter(|p| !p.is_empty());
    Some(match parent {
        Some(parent) => format!(
            "`{parent}` must be a plain value, not a table (`{parent}.{key}` is a dotted key)"
        ),
        None => format!("`{key}` is a dotted key where a plain value is expected, not a table"),
    })
}

/// Where a byte offset is, for humans.
pub(super) struct LineColumn {
    pub line: usize,
    pub column: usize,
    pub snippet: String,
}

/// Computes the 1-based line and (character) column of `span.start`, and
/// renders that line with carets under the span (clipped to the line).
pub(super) fn locate(text: &str, span: Range<usize>) -> LineColumn {
    let start = floor_char_boundary(text, span.start.min(text.len()));
    let end = floor_char_boundary(text, span.end.clamp(start, text.len()));

    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_text = text[line_start..line_end].trim_end_matches('\r');
    let line = text[..start].matches('\n').count() + 1;
    let before = &text[line_start..start];
    let column = before.chars().count() + 1;

    // Keep tabs in the padding so the caret lines up with the source line.
    let padding: String = before
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let visible_end = end.min(line_start + line_text.len()).max(start);
    let width = text[start..visible_end].chars().count().max(1);

    let gutter = line.to_string().len();
    let snippet = format!(
        "{empty:gutter$} |\n{line:>gutter$} | {line_text}\n{empty:gutter$} | {padding}{carets}",
        empty = "",
        carets = "^".repeat(width),
    );
    LineColumn {
        line,
        column,
        snippet,
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A table of the config as named in messages, with the keys it accepts.
struct TableInfo {
    /// "in [[host]]", "at the top level", ...
    place: &'static str,
    /// The subject of "must be a table" for a date-time given as the table.
    subject: &'static str,
    keys: &'static [&'static str],
}

const TABLES: &[TableInfo] = &[
    TableInfo {
        place: "at the top level",
        subject: "the document",
        keys: TOP_KEYS,
    },
    TableInfo {
        place: "in [project]",
        subject: "`project`",
        keys: PROJECT_KEYS,
    },
    TableInfo {
        place: "in [[project.group]]",
        subject: "each `project.group` entry",
        keys: GROUP_KEYS,
    },
    TableInfo {
        place: "in [local]",
        subject: "`local`",
        keys: LOCAL_KEYS,
    },
    TableInfo {
        place: "in [[host]]",
        subject: "each `host` entry",
        keys: HOST_KEYS,
    },
    TableInfo {
        place: "in [ssh]",
        subject: "`ssh`",
        keys: SSH_KEYS,
    },
    TableInfo {
        place: "in [sync]",
        subject: "`sync`",
        keys: SYNC_KEYS,
    },
    TableInfo {
        place: "in [hooks]",
        subject: "`hooks`",
        keys: HOOKS_KEYS,
    },
    TableInfo {
        place: "in [queue]",
        subject: "`queue`",
        keys: QUEUE_KEYS,
    },
    TableInfo {
        place: "in [impact]",
        subject: "`impact`",
        keys: IMPACT_KEYS,
    },
    TableInfo {
        place: "in a [profile.NAME]",
        subject: "each `profile` entry",
        keys: PROFILE_KEYS,
    },
];

/// Where a key does belong, for "`slots` belongs in [local] or [[host]]".
const HOMES: &[(&str, &[&str])] = &[
    ("[project]", PROJECT_KEYS),
    ("[local]", LOCAL_KEYS),
    ("[[host]]", HOST_KEYS),
    ("[ssh]", SSH_KEYS),
    ("[sync]", SYNC_KEYS),
    ("[hooks]", HOOKS_KEYS),
    ("[queue]", QUEUE_KEYS),
    ("[impact]", IMPACT_KEYS),
    ("[profile.NAME]", PROFILE_KEYS),
];

/// Rewrites serde's "unknown field `slot`, expected one of `a`, `b`" (as
/// produced by `deny_unknown_fields` in the raw layer) into testbot's
/// message. The table is recognised by its list of expected keys, which is
/// unique to each raw struct. Returns `None` for any other message.
fn unknown_key(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (name, table) = TABLES.iter().find_map(|table| {
        let suffix = format!("`, expected {}", serde_one_of(table.keys));
        rest.strip_suffix(suffix.as_str()).map(|name| (name, table))
    })?;

    // toml hands a date-time to a table's deserializer as a map with a
    // private key; a date-time where a table belongs ends up here.
    if name.starts_with("$__toml_private") {
        return Some(format!(
            "{} must be a table, found a date-time",
            table.subject
        ));
    }

    let mut out = format!("unknown key `{name}` {}", table.place);
    if let Some(best) = did_you_mean(name, table.keys) {
        out.push_str(&format!("; did you mean `{best}`?"));
        return Some(out);
    }
    let homes: Vec<&str> = HOMES
        .iter()
        .filter(|(_, keys)| keys.contains(&name))
        .map(|(home, _)| *home)
        .collect();
    if !homes.is_empty() {
        out.push_str(&format!("; `{name}` belongs in {}", homes.join(" or ")));
        return Some(out);
    }
    match table.keys {
        [only] => out.push_str(&format!("; the only valid key is `{only}`")),
        keys => out.push_str(&format!("; expected one of {}", backticked(keys))),
    }
    Some(out)
}

/// serde's rendering of the expected fields (`serde::de::OneOf`, private).
fn serde_one_of(names: &[&str]) -> String {
    match names {
        [one] => format!("`{one}`"),
        [a, b] => format!("`{a}` or `{b}`"),
        names => format!("one of {}", backticked(names)),
    }
}

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The name in `candidates` closest to `name`, if it is close enough to be a likely typo (a
/// misspelt key here; a mistyped command for the command line).
pub fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let name = name.to_lowercase();
    candidates
        .iter()
        .map(|c| {
            let lev = strsim::normalized_levenshtein(&name, c);
            let jw = strsim::jaro_winkler(&name, c);
            (*c, lev, jw)
        })
        .filter(|&(_, lev, jw)| lev >= 0.7 || jw >= 0.85)
        .max_by(|a, b| (a.1 + a.2).total_cmp(&(b.1 + b.2)))
        .map(|(c, _, _)| c)
}
