//! testbot runs a Ruby test suite in parallel on every core of every machine it can reach.
//!
//! A run flows one way: `inventory` (testbot.toml) → `ssh` (hosts that run commands) →
//! `sync` (the project's copy on each host) → `schedule` (what runs next, pure) → `run`
//! (one task per batch, one dispatcher loop, events out) → `report` (the only module that
//! prints). The modules sit in layers, each using only its own and those below it
//! (`tests/architecture.rs` checks it):
//!
//! - `cli` (clap types, turned into plain options), above
//! - `commands` (one function per subcommand; the only layer holding both the engine and a
//!   reporter), `errors` (the one exit-code mapping), above
//! - `run` (the engine: `execute` gives every event to a callback), `fleet` (the hosts of one
//!   run: connect, sync, leases, fork and preload servers, hooks), `queue` (a CI build's shared
//!   queue in Redis, a `run::Source`), `report` (consumes events, renders host checks), above
//! - `schedule`, `sync`, `history`, `framework`, `project`, `events`, above
//! - `ssh`, `inventory`, `signals` and the small helpers `decimal`, `error_chain` and `plural`.

pub mod cli;
pub mod commands;
pub mod decimal;
pub mod error_chain;
pub mod errors;
pub mod events;
pub mod fleet;
pub mod framework;
pub mod history;
pub mod inventory;
pub mod plural;
pub mod project;
pub mod queue;
pub mod report;
pub mod run;
pub mod schedule;
pub mod signals;
pub mod ssh;
pub mod sync;
