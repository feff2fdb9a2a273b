//! Where a host finds the project. Locally the project is run in place; copying it to SSH
//! hosts (manifest, diff, one tar stream) lands here with the sync work.

use std::path::{Path, PathBuf};

/// The project's directory as a host sees it.
pub fn local_workdir(root: &Path) -> PathBuf {
    root.to_path_buf()
}
