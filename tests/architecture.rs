//! The layers in lib.rs's doc are a fact, not a hope: every `crate::` path in `src/` is read and
//! an import from a layer above the importing module's own fails this test. Modules of one layer
//! may use each other; no two top-level modules may use each other (no circle), and no two files
//! inside one module either (`report/display.rs` may use `report/summary.rs` or the other way, not
//! both). The layer list here is the one in lib.rs's doc, module for module.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Top to bottom: a module may use its own layer and the ones below it, never one above.
const LAYERS: &[&[&str]] = &[
    &["main", "cli"],
    &["commands", "errors"],
    &["fleet", "run", "queue", "report"],
    &["schedule", "sync", "history", "framework", "project", "events"],
    &["ssh", "inventory", "signals", "decimal", "error_chain", "plural"],
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

/// A file's module path: `report/display.rs` → [report, display]; `run/batch/mod.rs` → [run, batch].
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.strip_suffix(".rs").unwrap();
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

/// Every path a file names that starts with `crate::`, `super::` or `self::`, resolved to a module
/// path (the leading identifiers; the file that owns it is found later). `super` in `a/mod.rs`
/// is `a`'s parent, as `module_path` leaves `mod` out.
struct Paths<'a> {
    here: &'a [String],
    out: Vec<Vec<String>>,
}

impl Paths<'_> {
    fn resolve(&mut self, segments: Vec<String>) {
        let mut iter = segments.into_iter().peekable();
        let mut base: Vec<String> = match iter.peek().map(String::as_str) {
            Some("crate") => Vec::new(),
            Some("self") => self.here.to_vec(),
            Some("super") => {
                let mut b = self.here.to_vec();
                b.pop();
                b
            }
            _ => return,
        };
        iter.next();
        while iter.peek().map(String::as_str) == Some("super") {
            iter.next();
            base.pop();
        }
        base.extend(iter);
        self.out.push(base);
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                full.push(n.ident.to_string());
                self.resolve(full);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                full.push(r.ident.to_string());
                self.resolve(full);
            }
            syn::UseTree::Glob(_) => self.resolve(prefix.clone()),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

impl<'ast> syn::visit::Visit<'ast> for Paths<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let test = m.attrs.iter().any(|a| a.path().is_ident("cfg"));
        if !test {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }
    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.resolve(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }
}

/// Edges between two files of one top-level module where neither is the other's ancestor
/// (`mod.rs` and its children share items both ways by design).
fn file_edges() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    use syn::visit::Visit;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(f.strip_prefix(&src).unwrap())).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let here = module_path(rel);
        let parsed = syn::parse_file(&fs::read_to_string(file).unwrap()).unwrap();
        let mut paths = Paths { here: &here, out: Vec::new() };
        paths.visit_file(&parsed);
        for path in paths.out {
            // The file that owns the path: its longest prefix that is a file's module path.
            let Some(owner) = (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains(p)) else { continue };
            let same_top = owner.first() == here.first();
            let related = owner.starts_with(&here) || here.starts_with(&owner);
            if same_top && !related {
                edges.entry(here.clone()).or_default().insert(owner);
            }
        }
    }
    edges
}

fn circles_inside_modules(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<String> {
    let mut circles = Vec::new();
    for (from, tos) in edges {
        for to in tos {
            if from < to && edges.get(to).is_some_and(|back| back.contains(from)) {
                circles.push(format!("{} <-> {}", from.join("/"), to.join("/")));
            }
        }
    }
    circles
}

#[test]
fn no_two_files_inside_a_module_use_each_other() {
    let circles = circles_inside_modules(&file_edges());
    assert!(circles.is_empty(), "import circles between files of one module (move what both need into one of them or a third file):\n{}", circles.join("\n"));
}

#[test]
fn the_file_checker_sees_a_circle() {
    let a = vec!["report".to_string(), "display".to_string()];
    let b = vec!["report".to_string(), "summary".to_string()];
    let edges = BTreeMap::from([(a.clone(), BTreeSet::from([b.clone()])), (b, BTreeSet::from([a]))]);
    assert_eq!(circles_inside_modules(&edges), ["report/display <-> report/summary"]);
}

#[test]
fn the_layer_list_is_lib_rs_module_for_module() {
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: BTreeSet<String> =
        lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|m| m.trim_end_matches(';').to_string()).collect();
    let mut listed: BTreeSet<String> = LAYERS.iter().flat_map(|l| l.iter().map(|m| m.to_string())).collect();
    listed.remove("main");
    assert_eq!(listed, declared, "tests/architecture.rs's LAYERS and lib.rs's `pub mod` lines differ");
    // lib.rs's doc names every module of every layer, in backticks.
    let doc: String = lib.lines().filter(|l| l.starts_with("//!")).collect::<Vec<_>>().join("\n");
    let missing: Vec<&String> = declared.iter().filter(|m| !doc.contains(&format!("`{m}`"))).collect();
    assert!(missing.is_empty(), "lib.rs's doc does not name {missing:?}");
}
