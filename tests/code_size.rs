//! Size limits that keep every piece of `src/` readable in one sitting, read from the code as
//! Rust (syn), not as text:
//!
//! - no non-test file over 500 lines (lines inside `#[cfg(test)]` items and test-only files
//!   such as `run/batch/tests.rs` do not count),
//! - no function over 60 lines (from `fn` to its closing brace),
//! - no parameter list over 5 (`self` counts),
//! - no `Result<_, String>` outside the clap value parsers (`value_parser = f` in `src/cli/`):
//!   errors are typed.
//!
//! `script/code-size` prints the whole table (every file and the longest functions) with
//! `CODE_SIZE_REPORT=1`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::visit::Visit;

const MAX_FILE_LINES: usize = 500;
const MAX_FN_LINES: usize = 60;
const MAX_PARAMS: usize = 5;

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

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.meta.require_list().is_ok_and(|l| l.tokens.to_string().split_whitespace().any(|t| t == "test"))
    })
}

/// One function's facts.
struct Function {
    file: String,
    name: String,
    line: usize,
    lines: usize,
    params: usize,
    string_error: bool,
}

#[derive(Default)]
struct FileFacts {
    /// Lines inside `#[cfg(test)]` items.
    test_lines: usize,
    /// `mod x;` declared under `#[cfg(test)]`: those files are test code.
    test_children: Vec<String>,
    functions: Vec<Function>,
    /// `Result<_, String>` outside any function (struct fields, type aliases, trait items).
    loose_string_errors: Vec<usize>,
}

struct Reader<'a> {
    file: &'a str,
    facts: FileFacts,
}

/// `Result<T, String>` anywhere inside a type.
#[derive(Default)]
struct StringError(bool);

impl<'ast> Visit<'ast> for StringError {
    fn visit_path_segment(&mut self, seg: &'ast syn::PathSegment) {
        if seg.ident == "Result" {
            if let syn::PathArguments::AngleBracketed(args) = &seg.arguments {
                if let Some(syn::GenericArgument::Type(syn::Type::Path(p))) = args.args.iter().nth(1) {
                    if p.path.is_ident("String") {
                        self.0 = true;
                    }
                }
            }
        }
        syn::visit::visit_path_segment(self, seg);
    }
}

fn has_string_error(node: impl FnOnce(&mut StringError)) -> bool {
    let mut found = StringError::default();
    node(&mut found);
    found.0
}

impl Reader<'_> {
    fn function(&mut self, sig: &syn::Signature, block: &syn::Block) {
        let start = sig.fn_token.span.start().line;
        let end = block.brace_token.span.close().end().line;
        let string_error = has_string_error(|v| v.visit_signature(sig));
        self.facts.functions.push(Function {
            file: self.file.to_string(),
            name: sig.ident.to_string(),
            line: start,
            lines: end - start + 1,
            params: sig.inputs.len(),
            string_error,
        });
    }

    fn skip_test(&mut self, attrs: &[syn::Attribute], span: proc_macro2::Span) -> bool {
        if is_cfg_test(attrs) {
            self.facts.test_lines += span.end().line - span.start().line + 1;
            return true;
        }
        false
    }
}

impl<'ast> Visit<'ast> for Reader<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            syn::Item::Trait(t) => &t.attrs,
            syn::Item::Macro(m) => &m.attrs,
            _ => &[],
        };
        if is_cfg_test(attrs) {
            if let syn::Item::Mod(m) = item {
                if m.content.is_none() {
                    self.facts.test_children.push(m.ident.to_string());
                }
            }
            self.skip_test(attrs, item.span());
            return;
        }
        if let syn::Item::Type(t) = item {
            if has_string_error(|v| v.visit_type(&t.ty)) {
                self.facts.loose_string_errors.push(t.span().start().line);
            }
        }
        if let syn::Item::Struct(s) = item {
            if has_string_error(|v| v.visit_fields(&s.fields)) {
                self.facts.loose_string_errors.push(s.span().start().line);
            }
        }
        if let syn::Item::Enum(e) = item {
            for variant in &e.variants {
                if has_string_error(|v| v.visit_fields(&variant.fields)) {
                    self.facts.loose_string_errors.push(variant.span().start().line);
                }
            }
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.function(&f.sig, &f.block);
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if self.skip_test(&f.attrs, f.span()) {
            return;
        }
        self.function(&f.sig, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        match &f.default {
            Some(block) => self.function(&f.sig, block),
            None if has_string_error(|v| v.visit_signature(&f.sig)) => {
                self.facts.loose_string_errors.push(f.sig.fn_token.span.start().line);
            }
            None => {}
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

struct SourceFile {
    rel: String,
    lines: usize,
    counted: usize,
    facts: FileFacts,
}

fn read_src() -> Vec<SourceFile> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    paths.sort();
    let mut files: Vec<SourceFile> = paths
        .iter()
        .map(|path| {
            let rel = path.strip_prefix(&src).unwrap().display().to_string();
            let text = fs::read_to_string(path).unwrap();
            let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("src/{rel}: {e}"));
            let mut reader = Reader { file: &rel, facts: FileFacts::default() };
            reader.visit_file(&parsed);
            let lines = text.lines().count();
            SourceFile { counted: lines - reader.facts.test_lines, lines, facts: reader.facts, rel }
        })
        .collect();
    // `#[cfg(test)] mod tests;` in `run/batch/mod.rs` makes `run/batch/tests.rs` test code.
    let mut test_files = BTreeSet::new();
    for file in &files {
        let dir = Path::new(&file.rel).parent().unwrap().to_path_buf();
        let stem = Path::new(&file.rel).file_stem().unwrap().to_string_lossy().into_owned();
        let base = if ["mod", "lib", "main"].contains(&stem.as_str()) { dir } else { dir.join(stem) };
        for child in &file.facts.test_children {
            test_files.insert(base.join(format!("{child}.rs")).display().to_string());
            test_files.insert(base.join(child).join("mod.rs").display().to_string());
        }
    }
    for file in &mut files {
        if test_files.contains(&file.rel) {
            file.counted = 0;
            file.facts.functions.clear();
            file.facts.loose_string_errors.clear();
        }
    }
    files
}

/// The functions named in `value_parser = f` (clap's parsers must return `Result<_, String>`).
fn clap_value_parsers() -> BTreeSet<String> {
    // The command line's files: src/cli/ (its clap types are in args.rs).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
    let cli: String = fs::read_dir(dir).unwrap().map(|e| fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    cli.split("value_parser = ")
        .skip(1)
        .filter_map(|rest| {
            let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            path.rsplit("::").next().map(str::to_string)
        })
        .collect()
}

fn problems(files: &[SourceFile]) -> Vec<String> {
    let parsers = clap_value_parsers();
    let mut out = Vec::new();
    for file in files {
        if file.counted > MAX_FILE_LINES {
            out.push(format!("src/{}: {} lines outside tests (at most {MAX_FILE_LINES})", file.rel, file.counted));
        }
        for line in &file.facts.loose_string_errors {
            out.push(format!("src/{}:{line}: Result<_, String> (give the error a type)", file.rel));
        }
        for f in &file.facts.functions {
            let at = format!("src/{}:{} `{}`", f.file, f.line, f.name);
            if f.lines > MAX_FN_LINES {
                out.push(format!("{at}: {} lines (at most {MAX_FN_LINES})", f.lines));
            }
            if f.params > MAX_PARAMS {
                out.push(format!("{at}: {} parameters (at most {MAX_PARAMS})", f.params));
            }
            if f.string_error && !parsers.contains(&f.name) {
                out.push(format!("{at}: Result<_, String> (give the error a type)"));
            }
        }
    }
    out
}

fn report(files: &[SourceFile]) {
    println!("{:>6} {:>6}  file (lines outside tests, all lines)", "counted", "all");
    let mut by_size: Vec<&SourceFile> = files.iter().collect();
    by_size.sort_by_key(|f| std::cmp::Reverse(f.counted));
    for file in by_size {
        println!("{:>6} {:>6}  src/{}", file.counted, file.lines, file.rel);
    }
    let mut functions: Vec<&Function> = files.iter().flat_map(|f| &f.facts.functions).collect();
    functions.sort_by_key(|f| std::cmp::Reverse(f.lines));
    println!("\nlongest functions:");
    for f in functions.iter().take(40) {
        println!("{:>6}  src/{}:{} {} ({} params)", f.lines, f.file, f.line, f.name, f.params);
    }
}

#[test]
fn every_file_and_function_is_within_its_limits() {
    let files = read_src();
    if std::env::var_os("CODE_SIZE_REPORT").is_some() {
        report(&files);
    }
    let problems = problems(&files);
    assert!(problems.is_empty(), "{} over the limits:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_reader_sees_long_functions_string_errors_and_test_code() {
    let text = format!(
        "fn short(a: u8) -> Result<(), String> {{ Ok(()) }}\nfn long() {{\n{}}}\n#[cfg(test)]\nmod tests {{\n    fn t() {{}}\n}}\n",
        "    let _x = 1;\n".repeat(70)
    );
    let parsed = syn::parse_file(&text).unwrap();
    let mut reader = Reader { file: "x.rs", facts: FileFacts::default() };
    reader.visit_file(&parsed);
    let names: Vec<(&str, usize, bool)> =
        reader.facts.functions.iter().map(|f| (f.name.as_str(), f.lines, f.string_error)).collect();
    assert_eq!(names, [("short", 1, true), ("long", 72, false)]);
    assert_eq!(reader.facts.test_lines, 4);
}
