//! Which framework a project uses, from its folders: each registered framework says whether the
//! project's files point to it ([`TestFramework::detect`](super::TestFramework::detect)).

use super::{Framework, REGISTERED};
use std::path::{Path, PathBuf};

/// The project's folders do not point to one framework.
#[derive(Debug, thiserror::Error)]
#[error("could not tell which test framework {} uses: {reason}", root.display())]
pub struct Undetected {
    pub root: PathBuf,
    pub reason: String,
}

impl Undetected {
    pub fn new(root: &Path, reason: impl Into<String>) -> Undetected {
        Undetected { root: root.to_path_buf(), reason: reason.into() }
    }
}

/// What the error says when no folder holds test files.
pub const NO_TEST_FILES: &str = "there are no test files here (spec/**/*_spec.rb, test/**/*_test.rb, features/**/*.feature)";

/// One framework a project's folders point to, and the evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct Detected {
    pub framework: Framework,
    /// e.g. `spec/`, `test/ uses minitest`.
    pub evidence: String,
}

/// The framework the project's folders point to (see [`detect_all`]). With no test file
/// anywhere, one framework folder still says which (and the run then reports the empty
/// selection).
pub fn detect(root: &Path) -> Result<Framework, Undetected> {
    detect_among(REGISTERED, root)
}

/// Every framework the project's folders point to, in the order they are registered.
pub fn detect_all(root: &Path) -> Result<Vec<Detected>, Undetected> {
    detect_all_among(REGISTERED, root)
}

pub(crate) fn detect_among(frameworks: &[Framework], root: &Path) -> Result<Framework, Undetected> {
    let found = detect_all_among(frameworks, root)?;
    match found.as_slice() {
        [one] => Ok(one.framework),
        [] => bare_home(frameworks, root),
        several => {
            let named: Vec<String> = several.iter().map(|d| format!("{} ({})", d.framework.name(), d.evidence)).collect();
            Err(Undetected::new(root, format!("it has several: {}; choose one", named.join(", "))))
        }
    }
}

pub(crate) fn detect_all_among(frameworks: &[Framework], root: &Path) -> Result<Vec<Detected>, Undetected> {
    let mut found = Vec::new();
    for &framework in frameworks {
        if let Some(evidence) = framework.detect(root)? {
            found.push(Detected { framework, evidence });
        }
    }
    Ok(found)
}

/// No test files anywhere: the framework whose folder is the only framework folder there.
fn bare_home(frameworks: &[Framework], root: &Path) -> Result<Framework, Undetected> {
    let mut homes: Vec<&str> = Vec::new();
    for framework in frameworks {
        if !homes.contains(&framework.home()) {
            homes.push(framework.home());
        }
    }
    let present: Vec<&str> = homes.into_iter().filter(|home| root.join(home).is_dir()).collect();
    if let [home] = present.as_slice() {
        for &framework in frameworks.iter().filter(|f| f.home() == *home) {
            if framework.owns_bare_home(root)? {
                return Ok(framework);
            }
        }
    }
    Err(Undetected::new(root, NO_TEST_FILES))
}
