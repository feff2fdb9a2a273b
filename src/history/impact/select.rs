//! `--changed`: which test files a change can break, from the impact map. Pure: the map, the
//! changed paths and the test files in, the selection with a reason for each file out.
//!
//! Selected: every changed or new test file; every test file whose entry holds a changed or
//! deleted file; every test file with no entry. Every test file when a change touches what the
//! map cannot see: the boot set, the gems and options (`Gemfile`, `Gemfile.lock`, `.rspec`,
//! testbot.toml, a gemspec), a helper or support file (a Ruby file under the tests' folder that is
//! not a test file), a file that is not Ruby (YAML, templates, locales, `db/schema.rb` too) unless
//! `[impact] ignore` (or the built-in list of docs) leaves it out; and when there is no map, or
//! its digest is not the digest of today's Ruby and files.

use super::ImpactMap;
use globset::{Glob, GlobSet, GlobSetBuilder};

/// One changed path (from the project root); `deleted`: it is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub deleted: bool,
}

impl Change {
    pub fn new(path: &str, deleted: bool) -> Change {
        Change { path: path.to_string(), deleted }
    }
}

/// Why a file is selected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// It changed, or it is new.
    Changed,
    /// Its entry holds this changed (or deleted) file.
    Map(String),
    /// The map has no entry for it.
    Unmapped,
    /// Every file runs (`Selection::all` says why).
    All,
}

/// Why every file runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum All {
    NoMap,
    /// The Ruby, `Gemfile.lock`, `.rspec` or testbot.toml is not what the map was made with.
    Digest,
    /// A file of the boot set changed.
    Boot(String),
    /// A file that decides the gems or the options changed.
    Setup(String),
    /// A helper or support file changed.
    Support(String),
    /// A file that is not Ruby changed: the map cannot see what reads it.
    NotRuby(String),
}

/// What `--changed` runs, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// Test files there are.
    pub total: usize,
    /// The selected files, in the given order, each with why.
    pub chosen: Vec<(String, Why)>,
    pub all: Option<All>,
    /// What the changes were taken from (a commit, `main`).
    pub since: String,
}

impl Selection {
    /// How many files each reason selected: changed, by the map, unmapped.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |f: fn(&Why) -> bool| self.chosen.iter().filter(|(_, w)| f(w)).count();
        (count(|w| *w == Why::Changed), count(|w| matches!(w, Why::Map(_))), count(|w| *w == Why::Unmapped))
    }

    /// Files the map left out.
    pub fn skipped(&self) -> usize {
        self.total - self.chosen.len()
    }
}

/// What the selection needs besides the map: the tests' folder (`spec`), the test files' name
/// pattern (`*_spec.rb`) and the globs of changes that do not count.
pub struct Rules {
    pub home: String,
    test_name: globset::GlobMatcher,
    ignore: GlobSet,
}

/// Changes that never count: docs, and what runs leave in the project.
const IGNORED: &[&str] = &["**/*.md", "**/*.rdoc", "doc/**", "docs/**", "LICENSE*", ".github/**", ".gitignore", "tmp/**", "log/**", "coverage/**"];

/// Setup files: what they say decides every run.
const SETUP: &[&str] = &["Gemfile", "Gemfile.lock", "gems.rb", "gems.locked", ".rspec", ".rspec_parallel", "testbot.toml", ".ruby-version"];

impl Rules {
    pub fn new(home: &str, test_name: &str, ignore: &[String]) -> Result<Rules, globset::Error> {
        let mut set = GlobSetBuilder::new();
        for glob in IGNORED.iter().copied().chain(ignore.iter().map(String::as_str)) {
            let glob = glob.trim_start_matches("./").trim_end_matches('/');
            set.add(Glob::new(glob)?);
            set.add(Glob::new(&format!("{glob}/**"))?);
        }
        Ok(Rules { home: home.trim_end_matches('/').to_string(), test_name: Glob::new(test_name)?.compile_matcher(), ignore: set.build()? })
    }

    fn name_is_test(&self, path: &str) -> bool {
        self.test_name.is_match(path.rsplit('/').next().unwrap_or(path))
    }

    /// Why `change` makes every file run, if it does.
    fn touches_all(&self, change: &Change, map: &ImpactMap, files: &[String]) -> Option<All> {
        let path = &change.path;
        let name = path.rsplit('/').next().unwrap_or(path);
        let a_test = files.contains(path) || self.name_is_test(path);
        if a_test && !map.boot.contains(path) {
            // A test file (a Cucumber feature too): it runs itself, or it is gone.
            return None;
        }
        if map.boot.contains(path) {
            return Some(All::Boot(path.clone()));
        }
        if SETUP.contains(&path.as_str()) || name.ends_with(".gemspec") {
            return Some(All::Setup(path.clone()));
        }
        if !path.ends_with(".rb") || path == "db/schema.rb" {
            return Some(All::NotRuby(path.clone()));
        }
        path.starts_with(&format!("{}/", self.home)).then(|| All::Support(path.clone()))
    }
}

/// The test files `files` (from the project root) a change in `changes` can break. `map`: the
/// impact map, if there is one; `digest`: today's (None: unknown, as a mismatch). The
/// selection's `since` is left for the caller to name.
pub fn select(map: Option<&ImpactMap>, digest: Option<&str>, changes: &[Change], files: &[String], rules: &Rules) -> Selection {
    let since = "";
    let mut changes: Vec<&Change> = changes.iter().filter(|c| !rules.ignore.is_match(&c.path)).collect();
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    let every = |all: All| Selection { total: files.len(), chosen: files.iter().map(|f| (f.clone(), Why::All)).collect(), all: Some(all), since: since.to_string() };
    let Some(map) = map else { return every(All::NoMap) };
    if digest != Some(map.digest.as_str()) {
        return every(All::Digest);
    }
    if let Some(all) = changes.iter().find_map(|c| rules.touches_all(c, map, files)) {
        return every(all);
    }
    let chosen = files
        .iter()
        .filter_map(|file| {
            let why = if changes.iter().any(|c| &c.path == file) {
                Why::Changed
            } else if let Some(entry) = map.files.get(file) {
                Why::Map(changes.iter().find(|c| entry.contains(&c.path))?.path.clone())
            } else {
                Why::Unmapped
            };
            Some((file.clone(), why))
        })
        .collect();
    Selection { total: files.len(), chosen, all: None, since: since.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn map() -> ImpactMap {
        let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
        let mut map = ImpactMap { version: 1, commit: Some("c1".into()), digest: "d".into(), boot: set(&["spec/spec_helper.rb", "config/boot.rb"]), ..ImpactMap::default() };
        for n in 0..10 {
            let uses: &[&str] = if n < 2 { &["lib/shared.rb", "lib/own.rb"] } else { &["lib/own.rb"] };
            map.files.insert(format!("spec/s{n}_spec.rb"), set(uses));
        }
        map.files.get_mut("spec/s9_spec.rb").unwrap().insert("lib/nine.rb".into());
        map
    }

    fn files() -> Vec<String> {
        (0..10).map(|n| format!("spec/s{n}_spec.rb")).collect()
    }

    fn pick(changes: &[Change], files: &[String]) -> Selection {
        let rules = Rules::new("spec", "*_spec.rb", &["config/ignored.yml".to_string()]).unwrap();
        select(Some(&map()), Some("d"), changes, files, &rules)
    }

    fn chosen(s: &Selection) -> Vec<(&str, Why)> {
        s.chosen.iter().map(|(f, w)| (f.as_str(), w.clone())).collect()
    }

    #[test]
    fn a_lib_file_selects_the_files_whose_entries_hold_it() {
        let s = pick(&[Change::new("lib/shared.rb", false)], &files());
        assert_eq!(chosen(&s), [("spec/s0_spec.rb", Why::Map("lib/shared.rb".into())), ("spec/s1_spec.rb", Why::Map("lib/shared.rb".into()))]);
        assert_eq!((s.all.clone(), s.skipped(), s.counts()), (None, 8, (0, 2, 0)));
        // Deleted: the same.
        assert_eq!(pick(&[Change::new("lib/nine.rb", true)], &files()).chosen, [("spec/s9_spec.rb".to_string(), Why::Map("lib/nine.rb".into()))]);
        // A Ruby file no test ran: nothing.
        assert!(pick(&[Change::new("lib/unused.rb", false)], &files()).chosen.is_empty());
    }

    #[test]
    fn changed_new_and_unmapped_test_files_are_selected() {
        let mut all = files();
        all.push("spec/new_spec.rb".into());
        all.push("spec/old_unmapped_spec.rb".into());
        let s = pick(&[Change::new("spec/s3_spec.rb", false), Change::new("spec/new_spec.rb", false)], &all);
        assert_eq!(chosen(&s), [("spec/s3_spec.rb", Why::Changed), ("spec/new_spec.rb", Why::Changed), ("spec/old_unmapped_spec.rb", Why::Unmapped)]);
        assert_eq!(s.counts(), (2, 0, 1));
        // A test file that is not Ruby (a Cucumber feature) is a test file, not a template.
        let rules = Rules::new("features", "*.feature", &[]).unwrap();
        let features = vec!["features/a.feature".to_string(), "features/b.feature".to_string()];
        let mut map = map();
        map.files = features.iter().map(|f| (f.clone(), BTreeSet::new())).collect();
        let s = select(Some(&map), Some("d"), &[Change::new("features/a.feature", false)], &features, &rules);
        assert_eq!(chosen(&s), [("features/a.feature", Why::Changed)]);
    }

    #[test]
    fn what_the_map_cannot_see_selects_everything() {
        for (path, all) in [
            ("spec/support/matchers.rb", All::Support("spec/support/matchers.rb".into())),
            ("spec/spec_helper.rb", All::Boot("spec/spec_helper.rb".into())),
            ("Gemfile.lock", All::Setup("Gemfile.lock".into())),
            ("config/settings.yml", All::NotRuby("config/settings.yml".into())),
            ("db/schema.rb", All::NotRuby("db/schema.rb".into())),
            ("app/views/a.html.erb", All::NotRuby("app/views/a.html.erb".into())),
            ("config/boot.rb", All::Boot("config/boot.rb".into())),
        ] {
            let s = pick(&[Change::new("lib/shared.rb", false), Change::new(path, false)], &files());
            assert_eq!((s.all, s.chosen.len()), (Some(all), 10), "{path}");
        }
        // Docs, and what `[impact] ignore` lists, do not count.
        let s = pick(&[Change::new("README.md", false), Change::new("config/ignored.yml", false), Change::new("docs/x.txt", false)], &files());
        assert_eq!((s.all, s.chosen.len()), (None, 0));
    }

    #[test]
    fn no_map_or_another_digest_selects_everything() {
        let rules = Rules::new("spec", "*_spec.rb", &[]).unwrap();
        assert_eq!(select(None, Some("d"), &[], &files(), &rules).all, Some(All::NoMap));
        assert_eq!(select(Some(&map()), Some("e"), &[], &files(), &rules).all, Some(All::Digest));
        assert_eq!(select(Some(&map()), None, &[], &files(), &rules).all, Some(All::Digest));
    }
}
