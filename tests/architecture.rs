//! The layers in lib.rs's doc are a fact, not a hope: every `crate::` path in `src/` is read and
//! an import from a layer above the importing module's own fails this test. Modules of one layer
//! may use each other; no two top-level modules may use each other (no circle).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Top to bottom: a module may use its own layer and the ones below it, never one above.
const LAYERS: &[&[&str]] = &[
    &["main", "cli"],
    &["commands", "errors", "init"],
    &["fleet", "run", "report"],
    &["schedule", "sync", "history", "framework", "project", "events"],
    &["ssh", "inventory", "signals", "decimal", "error_chain"],
];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| panic!("top-level module `{module}` is in no layer of tests/architecture.rs: add it where it belongs"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/run/batch.rs` → `run`; `src/lib.rs` → None.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy().into_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib").then_some(name)
}

/// The top-level modules `text` names through `crate::` (and `testbot::` in main.rs), comments
/// and test modules aside.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for prefix in ["crate::", "testbot::"] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                used.insert(name);
            }
            // `use crate::{a, b::c}`: every name in the braces.
            if after.starts_with('{') {
                let inner = &after[1..after.find('}').unwrap_or(after.len())];
                for part in inner.split(',') {
                    let name: String = part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() {
                        used.insert(name);
                    }
                }
            }
            rest = after;
        }
    }
    used
}

fn imports() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut by_module: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else { continue };
        let text = fs::read_to_string(&file).unwrap();
        let rel = file.strip_prefix(&src).unwrap().display().to_string();
        for used in used_modules(&text) {
            if used != module {
                by_module.entry(module.clone()).or_default().entry(used).or_default().push(rel.clone());
            }
        }
    }
    by_module
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let mut wrong = Vec::new();
    for (module, uses) in imports() {
        for (used, files) in uses {
            if layer_of(&used) < layer_of(&module) {
                wrong.push(format!("{module} uses {used} (a layer above it) in {}", files.join(", ")));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_two_top_level_modules_use_each_other() {
    let all = imports();
    let mut circles = Vec::new();
    for (module, uses) in &all {
        for used in uses.keys() {
            if module < used && all.get(used).is_some_and(|u| u.contains_key(module)) {
                circles.push(format!("{module} <-> {used}"));
            }
        }
    }
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}

#[test]
fn the_checker_sees_an_upward_import() {
    // The test above must be able to fail: `use crate::cli` in run/ is found.
    let used = used_modules("use crate::cli::RunArgs;\nuse crate::{report::Reporter, ssh};\n// crate::commands in a comment\n");
    assert_eq!(used.into_iter().collect::<Vec<_>>(), ["cli", "report", "ssh"]);
    assert!(layer_of("cli") < layer_of("run"));
}
