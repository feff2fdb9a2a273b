//! The Rails fixture (`tests/fixtures/rails_app`): its spec files, the hook that gives each slot
//! its database, SimpleCov's `.resultset.json` read as lines covered, and the rows each batch
//! writes into its slot's database (`slot_marks`: the slot's TEST_ENV_NUMBER and the files it ran).

#![allow(dead_code)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Every spec file of the fixture.
pub const RAILS_FILES: &[&str] = &[
    "spec/lib/parallel_tests_api_spec.rb",
    "spec/lib/slug_spec.rb",
    "spec/models/author_spec.rb",
    "spec/models/comment_spec.rb",
    "spec/models/post_spec.rb",
    "spec/models/slow_post_spec.rb",
    "spec/requests/authors_spec.rb",
    "spec/requests/posts_spec.rb",
    "spec/requests/slow_requests_spec.rb",
];

/// The spec files that load only spec_helper, not Rails.
pub const NO_RAILS_FILES: &[&str] = &["spec/lib/parallel_tests_api_spec.rb", "spec/lib/slug_spec.rb"];

/// The `[hooks]` `testbot init` writes for a Rails app: each slot creates its database and loads
/// the schema.
pub const HOOKS: &str = "\n[hooks]\nbefore_slot = \"RAILS_ENV=test bin/rails db:create db:schema:load\"\n";

/// Sets the suite's `minimum_coverage` (the fixture's spec_helper holds a placeholder line).
pub fn set_minimum_coverage(project_root: &Path, percent: f64) {
    let path = project_root.join("spec/spec_helper.rb");
    let text = fs::read_to_string(&path).unwrap();
    let placeholder = "  # minimum_coverage: the tests put a line here";
    let current = text.lines().find(|l| l.starts_with("  minimum_coverage ")).map(str::to_string);
    let target = current.as_deref().unwrap_or(placeholder);
    assert!(text.contains(target), "spec_helper.rb has no minimum_coverage line to replace");
    fs::write(&path, text.replace(target, &format!("  minimum_coverage {percent}"))).unwrap();
}

/// One run's coverage as SimpleCov stored it: per file (relative to the project), the relevant
/// lines and the covered ones (hit counts differ between one process and many: load-time lines
/// run once per process; what is covered must not).
#[derive(Debug, PartialEq)]
pub struct Coverage {
    pub command_names: Vec<String>,
    pub files: BTreeMap<String, (BTreeSet<usize>, BTreeSet<usize>)>,
}

impl Coverage {
    pub fn read(project_root: &Path) -> Coverage {
        let path = project_root.join("coverage/.resultset.json");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("no {} ({e})", path.display()));
        let json: Value = serde_json::from_str(&text).expect("resultset parses");
        let root = fs::canonicalize(project_root).unwrap().to_string_lossy().into_owned();
        let mut files = BTreeMap::new();
        let mut command_names = Vec::new();
        for (name, data) in json.as_object().expect("resultset is an object") {
            command_names.push(name.clone());
            for (file, cov) in data["coverage"].as_object().expect("coverage") {
                let rel = file.strip_prefix(&format!("{root}/")).unwrap_or_else(|| panic!("{file} is not under {root}"));
                let entry: &mut (BTreeSet<usize>, BTreeSet<usize>) = files.entry(rel.to_string()).or_default();
                for (i, hits) in cov["lines"].as_array().expect("lines").iter().enumerate() {
                    if let Some(n) = hits.as_u64() {
                        entry.0.insert(i + 1);
                        if n > 0 {
                            entry.1.insert(i + 1);
                        }
                    }
                }
            }
        }
        Coverage { command_names, files }
    }

    /// Line coverage in percent, as SimpleCov counts it (covered / relevant lines).
    pub fn percent(&self) -> f64 {
        let relevant: usize = self.files.values().map(|(r, _)| r.len()).sum();
        let covered: usize = self.files.values().map(|(_, c)| c.len()).sum();
        100.0 * covered as f64 / relevant as f64
    }
}

/// SimpleCov's line `72 / 77 LOC (93.51%) covered.` from a run's output.
pub fn loc_line(output: &str) -> String {
    let line = output.lines().find(|l| l.contains(" LOC (")).unwrap_or_else(|| panic!("no SimpleCov LOC line in:\n{output}"));
    let end = line.find(" LOC (").unwrap();
    let start = line[..end].rfind(". ").map_or(0, |i| i + 2);
    line[start..].trim().to_string()
}

/// `slot_marks` rows (`test_env_number|file\nfile…`, as `sqlite3`/`psql` print them, files
/// separated by newlines) → (TEST_ENV_NUMBER, files) per batch.
pub fn parse_marks(text: &str) -> Vec<Mark> {
    let mut rows: Vec<Mark> = Vec::new();
    for line in text.lines() {
        match line.split_once('|') {
            Some((n, first)) if !n.contains('/') => rows.push((n.to_string(), vec![first.to_string()])),
            _ => rows.last_mut().expect("a row starts with its slot number").1.push(line.to_string()),
        }
    }
    rows
}

/// One batch's row: the TEST_ENV_NUMBER it ran with, and its files.
pub type Mark = (String, Vec<String>);
/// (host, TEST_ENV_NUMBER of the database) → the rows in that database.
pub type Marks = BTreeMap<(String, String), Vec<Mark>>;

/// The SQL that lists a slot database's marks.
pub const MARKS_SQL: &str = "select test_env_number, files from slot_marks order by id";

/// Checks the database of every slot: each batch's row names the slot whose database it is in,
/// and the files it names ran on that slot (per the report), each file in exactly one database.
/// `marks`: (host, TEST_ENV_NUMBER of the database) → its rows; `ran_on`: file → (host, host slot).
pub fn assert_a_database_per_slot(
    marks: &Marks,
    ran_on: &BTreeMap<String, (String, u64)>,
    first_is_1: bool,
) {
    let number = |host_slot: u64| if host_slot == 1 && !first_is_1 { String::new() } else { host_slot.to_string() };
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
    for ((host, db_number), rows) in marks {
        for (row_number, files) in rows {
            assert_eq!(row_number, db_number, "a batch of slot {row_number:?} wrote into the database of slot {db_number:?} on {host}: {marks:?}");
            for f in files {
                let (ran_host, ran_slot) = ran_on.get(f).unwrap_or_else(|| panic!("{f} is not in the report"));
                assert_eq!((ran_host, &number(*ran_slot)), (host, db_number), "{f} ran on {ran_host}#{ran_slot} but was recorded in {host}'s database {db_number:?}");
                assert!(seen.insert(f.clone(), (host.clone(), db_number.clone())).is_none(), "{f} recorded twice: {marks:?}");
            }
        }
    }
    // A batch of spec/lib files alone loads no Rails and writes no row.
    let all: Vec<&String> = ran_on.keys().filter(|f| !NO_RAILS_FILES.contains(&f.as_str())).collect();
    let recorded: Vec<&String> = seen.keys().filter(|f| !NO_RAILS_FILES.contains(&f.as_str())).collect();
    assert_eq!(recorded, all, "every file that ran is recorded in its slot's database");
    let slots: BTreeSet<&(String, String)> = seen.values().collect();
    assert!(slots.len() >= 2, "the files ran on one slot only: {seen:?}");
}
