//! The project on this machine: its framework, the files to run, and how to start its runner.

use crate::cli::RunArgs;
use crate::errors::Error;
use crate::framework::{Framework, RunnerConfig};
use crate::inventory::{Inventory, Slots};
use globset::{Glob, GlobMatcher};
use std::path::{Component, Path, PathBuf};

#[derive(Clone, Debug, PartialEq)]
pub struct SpecFile {
    /// Relative to the project root, `/`-separated, no leading `./`.
    pub path: String,
    pub size: u64,
}

#[derive(Clone, Debug)]
pub struct Project {
    pub root: PathBuf,
    pub framework: Framework,
    pub files: Vec<SpecFile>,
    pub runner: RunnerConfig,
    /// `[project] env`, given to every runner process.
    pub env: Vec<(String, String)>,
    pub local_slots: usize,
    pub first_is_1: bool,
    pub runtime_log: PathBuf,
}

impl Project {
    pub fn resolve(root: &Path, inventory: &Inventory, args: &RunArgs) -> Result<Project, Error> {
        let framework = choose_framework(root, inventory, args)?;
        let pattern = inventory.project.pattern.clone().unwrap_or_else(|| framework.default_pattern().to_string());
        let files = select(root, &args.paths, &pattern)?;
        let bundler = inventory.project.bundler
            && !args.no_bundler
            && (root.join("Gemfile").is_file() || root.join("gems.rb").is_file());
        let runner = RunnerConfig {
            command: inventory.project.command.clone(),
            bundler,
            runner_args: args.runner_args.clone(),
        };
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let local_slots = match (args.local_slots, inventory.local.slots) {
            (Some(n), _) => n,
            (None, Some(Slots::Count(n))) => n,
            (None, Some(Slots::Auto)) => cores,
            (None, None) if inventory.hosts.is_empty() => cores,
            (None, None) => 0,
        };
        let runtime_log = args
            .runtime_log
            .clone()
            .unwrap_or_else(|| root.join("tmp").join(format!("testbot-runtime-{}.log", framework.name())));
        Ok(Project {
            root: root.to_path_buf(),
            framework,
            files,
            runner,
            env: inventory.project.env.clone(),
            local_slots,
            first_is_1: args.first_is_1,
            runtime_log,
        })
    }

    /// parallel_tests' runtime log, read when testbot has none of its own yet.
    pub fn parallel_tests_runtime_log(&self) -> PathBuf {
        self.root.join("tmp").join(format!("parallel_runtime_{}.log", self.framework.name()))
    }
}

fn choose_framework(root: &Path, inventory: &Inventory, args: &RunArgs) -> Result<Framework, Error> {
    let named = args.framework.as_deref().or(inventory.project.framework.as_deref());
    if let Some(name) = named {
        return Framework::from_name(name).ok_or_else(|| {
            Error::Usage(format!(
                "framework `{name}` is not supported by this version of testbot (supported: {})",
                Framework::NAMES.join(", ")
            ))
        });
    }
    if root.join("spec").is_dir() {
        return Ok(Framework::RSpec);
    }
    let reason = if root.join("test").is_dir() || root.join("features").is_dir() {
        "it has test/ or features/ but no spec/, and this version runs RSpec only".to_string()
    } else {
        "there is no spec/ folder here".to_string()
    };
    Err(Error::Framework { root: root.to_path_buf(), reason })
}

/// The files to run: PATHs (files as given, folders searched for the pattern's file name),
/// or the whole pattern when no PATH is given. Sorted, without duplicates.
pub fn select(root: &Path, paths: &[String], pattern: &str) -> Result<Vec<SpecFile>, Error> {
    let glob = |p: &str| -> Result<GlobMatcher, Error> {
        Glob::new(p)
            .map(|g| g.compile_matcher())
            .map_err(|e| Error::Usage(format!("invalid file pattern `{p}`: {e}")))
    };
    let mut found: Vec<SpecFile> = Vec::new();
    if paths.is_empty() {
        let matcher = glob(pattern)?;
        let base = literal_prefix(pattern);
        walk(root, &root.join(&base), &mut |rel| matcher.is_match(rel), &mut found);
    } else {
        let file_glob = glob(pattern.rsplit('/').next().unwrap_or(pattern))?;
        for given in paths {
            let full = root.join(given);
            let meta = std::fs::metadata(&full).map_err(|_| Error::MissingPath(given.clone()))?;
            if meta.is_dir() {
                walk(root, &full, &mut |rel| file_glob.is_match(rel.rsplit('/').next().unwrap_or(rel)), &mut found);
            } else {
                let path = relative(root, &full).ok_or_else(|| {
                    Error::Usage(format!("`{given}` is outside the project at {}", root.display()))
                })?;
                found.push(SpecFile { path, size: meta.len() });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|a, b| a.path == b.path);
    if found.is_empty() {
        let what = if paths.is_empty() { format!("`{pattern}`") } else { format!("`{}` under {}", file_pattern(pattern), paths.join(", ")) };
        return Err(Error::EmptySelection { what, root: root.to_path_buf() });
    }
    Ok(found)
}

fn file_pattern(pattern: &str) -> &str {
    pattern.rsplit('/').next().unwrap_or(pattern)
}

/// `spec/**/*_spec.rb` → `spec`: the folder a walk can start from.
fn literal_prefix(pattern: &str) -> PathBuf {
    let mut prefix = PathBuf::new();
    let parts: Vec<&str> = pattern.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        if part.contains(['*', '?', '[', '{']) {
            break;
        }
        prefix.push(part);
    }
    prefix
}

fn walk(root: &Path, dir: &Path, matches: &mut dyn FnMut(&str) -> bool, found: &mut Vec<SpecFile>) {
    if !dir.is_dir() {
        return;
    }
    // Spec files are found the way Ruby's Dir.glob finds them: dot-folders skipped, .gitignore not consulted.
    let walker = ignore::WalkBuilder::new(dir).standard_filters(false).hidden(true).build();
    for entry in walker.flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Some(rel) = relative(root, entry.path()) else { continue };
        if matches(&rel) {
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            found.push(SpecFile { path: rel, size });
        }
    }
}

/// `root/spec/./a_spec.rb` → `spec/a_spec.rb`; None when outside the root.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let rel = path.strip_prefix(root).ok()?;
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
        }
        dir
    }

    fn paths(found: &[SpecFile]) -> Vec<&str> {
        found.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn default_pattern_walks_spec() {
        let dir = tree(&["spec/a_spec.rb", "spec/m/b c_spec.rb", "spec/helper.rb", "spec/.hidden/x_spec.rb", "lib/z_spec.rb"]);
        let found = select(dir.path(), &[], "spec/**/*_spec.rb").unwrap();
        assert_eq!(paths(&found), ["spec/a_spec.rb", "spec/m/b c_spec.rb"]);
    }

    #[test]
    fn given_files_and_folders() {
        let dir = tree(&["spec/a_spec.rb", "spec/m/b_spec.rb", "spec/m/helper.rb", "spec/other.rb"]);
        let given = vec!["spec/m".to_string(), "./spec/other.rb".to_string(), "spec/m/b_spec.rb".to_string()];
        let found = select(dir.path(), &given, "spec/**/*_spec.rb").unwrap();
        assert_eq!(paths(&found), ["spec/m/b_spec.rb", "spec/other.rb"]);
    }

    #[test]
    fn missing_and_empty_are_errors() {
        let dir = tree(&["spec/helper.rb"]);
        let err = select(dir.path(), &["spec/nope_spec.rb".into()], "spec/**/*_spec.rb").unwrap_err();
        assert_eq!(err.to_string(), "no such file or directory: `spec/nope_spec.rb`");
        let err = select(dir.path(), &[], "spec/**/*_spec.rb").unwrap_err();
        assert!(err.to_string().starts_with("no spec files matched `spec/**/*_spec.rb` in "), "{err}");
    }

    #[test]
    fn prefix_of_pattern() {
        assert_eq!(literal_prefix("spec/**/*_spec.rb"), PathBuf::from("spec"));
        assert_eq!(literal_prefix("test/unit/*_test.rb"), PathBuf::from("test/unit"));
        assert_eq!(literal_prefix("**/*_spec.rb"), PathBuf::new());
    }
}
