//! What may reach a terminal from text testbot did not write (spec output, file names, messages
//! that quote them): colour (SGR) and nothing else of the terminal's control language. A spec
//! could otherwise set the window title (OSC 0/2), write the clipboard (OSC 52), clear the
//! screen or switch to the alternate screen on the terminal of whoever runs it.

use std::borrow::Cow;

/// Which escape sequences survive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// `ESC [ digits;… m` (colour and style): for the terminal.
    Sgr,
    /// None: for files that are not read on a terminal (JUnit XML).
    Nothing,
}

/// `text` without control characters other than tab and newline (a carriage return only
/// before a newline) and without escape sequences other than those `keep` names. Most text
/// has none and passes through without a copy.
pub fn strip(text: &str, keep: Keep) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => escape(&mut chars, keep, &mut out),
            // C1 CSI and OSC, which some terminals take in UTF-8 too.
            '\u{9b}' => {
                let _ = csi(&mut chars);
            }
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => string_body(&mut chars),
            '\t' | '\n' => out.push(c),
            '\r' if chars.peek() == Some(&'\n') => out.push(c),
            c if is_control(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_control(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n')) || c == '\r'
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// After an ESC: the sequence it starts is dropped, or copied to `out` when `keep` allows it.
fn escape(chars: &mut Chars<'_>, keep: Keep, out: &mut String) {
    match chars.next() {
        Some('[') => {
            let (params, last) = csi(chars);
            let sgr = last == Some('m') && params.chars().all(|c| c.is_ascii_digit() || matches!(c, ';' | ':'));
            if sgr && keep == Keep::Sgr {
                out.push_str("\x1b[");
                out.push_str(&params);
                out.push('m');
            }
        }
        // OSC, DCS, SOS, PM, APC: a string up to BEL or ST.
        Some(']' | 'P' | 'X' | '^' | '_') => string_body(chars),
        // `ESC ( B` and the like: intermediates, then one final byte.
        Some(c) if (' '..='/').contains(&c) => {
            while chars.next_if(|c| (' '..='/').contains(c)).is_some() {}
            chars.next();
        }
        // `ESC c` (reset), `ESC 7`, …: one byte.
        _ => {}
    }
}

/// A control sequence's parameter and intermediate bytes, and its final byte (None: the text
/// ended first).
fn csi(chars: &mut Chars<'_>) -> (String, Option<char>) {
    let mut params = String::new();
    for c in chars.by_ref() {
        if ('@'..='~').contains(&c) {
            return (params, Some(c));
        }
        if !(' '..='?').contains(&c) {
            // Not a CSI byte: the sequence is malformed; it ends here.
            return (params, None);
        }
        params.push(c);
    }
    (params, None)
}

/// Skips a control string up to BEL, ST (`ESC \`) or C1 ST, or the end of the text.
fn string_body(chars: &mut Chars<'_>) {
    while let Some(c) = chars.next() {
        if c == '\x07' || c == '\u{9c}' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_stays_and_every_other_control_goes() {
        let hostile = "a\x1b]0;title\x07b\x1b]2;t2\x1b\\c\x1b]52;c;aGk=\x07d\x1b[2Je\x1b[?1049hf\x1b[31mred\x1b[0m\x1b[1;32mg\x1b[m";
        assert_eq!(strip(hostile, Keep::Sgr), "abcdef\x1b[31mred\x1b[0m\x1b[1;32mg\x1b[m");
        assert_eq!(strip(hostile, Keep::Nothing), "abcdefredg");
    }

    #[test]
    fn other_escapes_and_controls_go_too() {
        assert_eq!(strip("x\x1bcy\x1b(Bz\x1b7w", Keep::Sgr), "xyzw");
        assert_eq!(strip("a\x1bPdcs\x1b\\b\x1b_apc\x07c", Keep::Sgr), "abc");
        assert_eq!(strip("bell\x07 bs\x08 del\x7f nul\0", Keep::Sgr), "bell bs del nul");
        assert_eq!(strip("c1\u{9b}2J csi\u{9d}0;t\u{9c} osc", Keep::Sgr), "c1 csi osc");
        assert_eq!(strip("over\rwrite\r\nline\n\ttab", Keep::Sgr), "overwrite\r\nline\n\ttab");
        // An SGR with a private marker is not colour.
        assert_eq!(strip("\x1b[?31m\x1b[>4;2m", Keep::Sgr), "");
        // Unterminated sequences take the rest of the text with them.
        assert_eq!(strip("ok\x1b]0;never ends", Keep::Sgr), "ok");
        assert_eq!(strip("ok\x1b[12", Keep::Sgr), "ok");
        assert_eq!(strip("ok\x1b", Keep::Sgr), "ok");
    }

    #[test]
    fn plain_text_is_not_copied() {
        assert!(matches!(strip("spec/ünï_spec.rb:12 \x1b[1mbold\x1b[0m", Keep::Sgr), Cow::Owned(_)));
        assert!(matches!(strip("spec/ünï_spec.rb:12 ✓", Keep::Sgr), Cow::Borrowed(_)));
    }
}
