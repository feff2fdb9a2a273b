//! `testbot flaky`: the flaky record, worst first, one line an example.

use super::term;
use crate::history::flaky::Record;

/// The record's flaky examples, worst first: a line each (`--json`: one JSON array).
pub fn print_flaky(record: &Record, json: bool) {
    term::out(&flaky_text(record, json));
}

fn flaky_text(record: &Record, json: bool) -> String {
    let worst = record.worst_first();
    if json {
        let rows: Vec<_> = worst.iter().map(|(key, e)| serde_json::json!({ "example": key, "entry": e })).collect();
        return serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n";
    }
    if worst.is_empty() {
        return "no flaky examples recorded (examples that pass only on a retry, `--retries`, are recorded after each run)\n".into();
    }
    let mut text = String::new();
    for (key, e) in worst {
        let runs = crate::plural::plural(e.flaky_runs as usize, "flaky run", "flaky runs");
        let (first, last) = (e.first_seen.as_deref().unwrap_or("?"), e.last_seen.as_deref().unwrap_or("?"));
        let host = e.host.as_deref().map(|h| format!(", last on {h}")).unwrap_or_default();
        text.push_str(&format!("{}  {runs}, first seen {first}, last seen {last}{host}  # {key} {}\n", e.location, e.description));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::flaky::Entry;

    #[test]
    fn the_list_is_worst_first_or_says_there_is_none() {
        assert!(flaky_text(&Record::default(), false).starts_with("no flaky examples recorded"));
        assert_eq!(flaky_text(&Record::default(), true), "[]\n");
        let mut record = Record::default();
        let entry = |runs, last: &str| Entry { location: format!("./spec/a_spec.rb:{runs}"), description: "d".into(), flaky_runs: runs, first_seen: Some("2026-12-01".into()), last_seen: Some(last.into()), ..Entry::default() };
        record.examples.insert("spec/a_spec.rb[1:1]".into(), entry(1, "2026-12-05"));
        record.examples.insert("spec/a_spec.rb[1:2]".into(), entry(3, "2026-12-02"));
        assert_eq!(
            flaky_text(&record, false),
            "./spec/a_spec.rb:3  3 flaky runs, first seen 2026-12-01, last seen 2026-12-02  # spec/a_spec.rb[1:2] d\n\
             ./spec/a_spec.rb:1  1 flaky run, first seen 2026-12-01, last seen 2026-12-05  # spec/a_spec.rb[1:1] d\n"
        );
    }
}
