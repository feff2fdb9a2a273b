//! TEMPORARY STUB until the real inventory module lands.
use std::path::{Path, PathBuf};
#[derive(Debug, Clone)] pub struct Inventory { pub source: Option<PathBuf>, pub project: Project, pub local: Local, pub hosts: Vec<HostSpec>, pub ssh: Ssh, pub sync: Sync }
#[derive(Debug, Clone)] pub struct Project { pub framework: Option<String>, pub pattern: Option<String>, pub command: Option<String>, pub bundler: bool, pub env: Vec<(String, String)> }
#[derive(Debug, Clone)] pub struct Local { pub slots: Option<Slots> }
#[derive(Clone, Copy, Debug, PartialEq, Eq)] pub enum Slots { Auto, Count(usize) }
#[derive(Debug, Clone)] pub struct HostSpec { pub name: String, pub address: String, pub port: u16, pub user: Option<String>, pub identity: Option<PathBuf>, pub slots: Slots }
#[derive(Debug, Clone)] pub struct Ssh { pub known_hosts: Option<PathBuf>, pub host_key_checking: HostKeyChecking }
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)] pub enum HostKeyChecking { #[default] Strict, AcceptNew }
#[derive(Debug, Clone)] pub struct Sync { pub remote_dir: Option<String>, pub exclude: Vec<String>, pub include: Vec<String> }
#[derive(Debug, thiserror::Error)] pub enum InventoryError { #[error("failed to read {}", path.display())] Read { path: PathBuf, #[source] source: std::io::Error } }
impl Inventory {
    pub fn empty() -> Inventory { Inventory { source: None, project: Project { framework: None, pattern: None, command: None, bundler: true, env: vec![] }, local: Local { slots: None }, hosts: vec![], ssh: Ssh { known_hosts: None, host_key_checking: HostKeyChecking::Strict }, sync: Sync { remote_dir: None, exclude: vec![], include: vec![] } } }
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> { let _ = std::fs::read_to_string(path).map_err(|source| InventoryError::Read { path: path.to_path_buf(), source })?; Ok(Self::empty()) }
}
