//! testbot runs a Ruby test suite in parallel on every core of every machine it can reach.
//!
//! A run flows one way: `inventory` (testbot.toml) → `ssh` (hosts that run commands) →
//! `sync` (the project's copy on each host) → `schedule` (what runs next, pure) → `run`
//! (one task per batch, one dispatcher loop) → `report` (the only module that prints).

pub mod cli;
pub mod commands;
pub mod decimal;
pub mod error_chain;
pub mod errors;
pub mod events;
pub mod framework;
pub mod history;
pub mod inventory;
pub mod project;
pub mod report;
pub mod run;
pub mod schedule;
pub mod signals;
pub mod ssh;
pub mod sync;
