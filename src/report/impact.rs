//! The words of `--changed`: the one line that says what it selected and why, and `testbot
//! list --changed`'s file-by-file reasons.

use super::term;
use crate::history::impact::select::{All, Selection, Why};
use crate::plural::plural;

/// "12 of 640 files: 2 changed, 9 by the impact map, 1 unmapped", or "all 640 files:
/// Gemfile.lock changed".
pub fn selection_line(s: &Selection) -> String {
    if let Some(all) = &s.all {
        return format!("all {}: {}", plural(s.total, "file", "files"), all_because(all));
    }
    let (changed, by_map, unmapped) = s.counts();
    let mut why = Vec::new();
    if changed > 0 {
        why.push(format!("{changed} changed"));
    }
    if by_map > 0 {
        why.push(format!("{by_map} by the impact map"));
    }
    if unmapped > 0 {
        why.push(format!("{unmapped} unmapped"));
    }
    if why.is_empty() {
        return format!("0 of {}: no change since {} touches them", plural(s.total, "file", "files"), short(&s.since));
    }
    format!("{} of {}: {} (since {})", s.chosen.len(), plural(s.total, "file", "files"), why.join(", "), short(&s.since))
}

pub(super) fn all_because(all: &All) -> String {
    match all {
        All::NoMap => "no impact map yet (`--record-impact` records one)".into(),
        All::Digest => "the Ruby, Gemfile.lock, .rspec or testbot.toml is not what the impact map was recorded with".into(),
        All::Boot(path) => format!("{path} changed, and it runs before every file"),
        All::Setup(path) | All::Support(path) => format!("{path} changed"),
        All::NotRuby(path) => format!("{path} changed, which the impact map cannot follow"),
    }
}

fn short(reference: &str) -> &str {
    let hex = reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit());
    if hex { &reference[..12] } else { reference }
}

fn why_text(why: &Why, s: &Selection) -> String {
    match why {
        Why::Changed => "changed".into(),
        Why::Map(path) => format!("ran {path}, which changed"),
        Why::Unmapped => "not in the impact map".into(),
        Why::All => s.all.as_ref().map(all_because).unwrap_or_default(),
    }
}

/// `testbot --changed`: the selection's line, before the run.
pub fn print_changed(s: &Selection) {
    term::out(&format!("testbot: {}\n", selection_line(s)));
}

/// `testbot list --changed`: the line, then each selected file with why.
pub fn print_changed_list(s: &Selection) {
    let mut text = format!("# {}\n", selection_line(s));
    for (file, why) in &s.chosen {
        text.push_str(&format!("{file}\t{}\n", why_text(why, s)));
    }
    term::out(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(chosen: Vec<(&str, Why)>, all: Option<All>) -> Selection {
        Selection { total: 640, chosen: chosen.into_iter().map(|(f, w)| (f.to_string(), w)).collect(), all, since: "0123456789abcdef0123456789abcdef01234567".into() }
    }

    #[test]
    fn the_line_says_what_was_selected_and_why() {
        let s = selection(vec![("a", Why::Changed), ("b", Why::Changed), ("c", Why::Map("lib/x.rb".into())), ("d", Why::Unmapped)], None);
        assert_eq!(selection_line(&s), "4 of 640 files: 2 changed, 1 by the impact map, 1 unmapped (since 0123456789ab)");
        let s = selection(vec![], Some(All::Setup("Gemfile.lock".into())));
        assert_eq!(selection_line(&s), "all 640 files: Gemfile.lock changed");
        let s = Selection { since: "main".into(), ..selection(vec![], None) };
        assert_eq!(selection_line(&s), "0 of 640 files: no change since main touches them");
    }
}
