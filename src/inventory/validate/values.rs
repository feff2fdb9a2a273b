//! The checks of single values (strings, numbers, globs, paths, `env`), each recording an
//! issue at the value's span and giving `None` for a value that fails.

use std::path::PathBuf;

use toml::Value;

use crate::inventory::paths::{expand_tilde, remote_dir};
use crate::inventory::raw::{describe, RawEnv, RawValue, StrList};
use super::Checker;
use crate::inventory::Slots;
use super::MAX_SLOTS;
use crate::ssh::quote::valid_env_name;

impl Checker<'_> {
    /// `[sync] remote_dir`, normalized (see `remote_dir`).
    pub(super) fn remote_dir(&mut self, v: &RawValue) -> Option<String> {
        let s = self.string("remote_dir", v)?;
        match remote_dir(&s) {
            Ok(dir) => Some(dir),
            Err(why) => {
                self.issue(v.span(), format!("`remote_dir` = {s:?} is refused: {why}"));
                None
            }
        }
    }

    pub(super) fn string(&mut self, key: &str, v: &RawValue) -> Option<String> {
        match v.get_ref() {
            Value::String(s) => Some(s.clone()),
            other => {
                self.issue(
                    v.span(),
                    format!("`{key}` must be a string, found {}", describe(other)),
                );
                None
            }
        }
    }

    pub(super) fn non_empty(&mut self, key: &str, v: &RawValue) -> Option<String> {
        let s = self.string(key, v)?;
        if s.trim().is_empty() {
            self.issue(v.span(), format!("`{key}` must not be empty"));
            return None;
        }
        Some(s)
    }

    /// A word handed to ssh on its command line (`address`, `user`): not
    /// empty, no whitespace, and not starting with `-` (ssh would read it as
    /// an option).
    pub(super) fn ssh_word(&mut self, key: &str, v: &RawValue) -> Option<String> {
        let s = self.non_empty(key, v)?;
        if s.chars().any(char::is_whitespace) {
            self.issue(
                v.span(),
                format!("`{key}` must not contain whitespace, found {s:?}"),
            );
            return None;
        }
        if s.starts_with('-') {
            self.issue(
                v.span(),
                format!("`{key}` must not start with `-`, found {s:?}"),
            );
            return None;
        }
        Some(s)
    }

    pub(super) fn boolean(&mut self, key: &str, v: &RawValue) -> Option<bool> {
        match v.get_ref() {
            Value::Boolean(b) => Some(*b),
            other => {
                self.issue(
                    v.span(),
                    format!("`{key}` must be true or false, found {}", describe(other)),
                );
                None
            }
        }
    }

    pub(super) fn choice(
        &mut self,
        key: &str,
        v: &RawValue,
        choices: &[&'static str],
    ) -> Option<&'static str> {
        if let Value::String(s) = v.get_ref() {
            if let Some(c) = choices.iter().find(|c| **c == s) {
                return Some(c);
            }
        }
        let quoted: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
        let expected = match quoted.as_slice() {
            [a, b] => format!("{a} or {b}"),
            _ => format!("one of {}", quoted.join(", ")),
        };
        self.issue(
            v.span(),
            format!(
                "`{key}` must be {expected}, found {}",
                describe(v.get_ref())
            ),
        );
        None
    }

    /// `min` is 0 for [local] (`slots = 0`: this machine runs nothing, the hosts do) and 1 for
    /// a [[host]] (a host with no slots is one to leave out of the file).
    pub(super) fn slots(&mut self, v: &RawValue, min: i64) -> Option<Slots> {
        match v.get_ref() {
            Value::Integer(n) if *n >= min => match usize::try_from(*n) {
                Ok(n) => Some(Slots::Count(n)),
                Err(_) => {
                    self.issue(v.span(), format!("`slots` is too large: {n}"));
                    None
                }
            },
            Value::Integer(_) => {
                self.issue(v.span(), format!("slots must be at least {min}, or \"auto\""));
                None
            }
            Value::String(s) if s == "auto" => Some(Slots::Auto),
            other => {
                self.issue(
                    v.span(),
                    format!(
                        "`slots` must be a number of at least {min} or \"auto\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    /// A machine's `slots`, at most `MAX_SLOTS` unless `allow_many_slots = true` in the same
    /// table (`table`: a [[host]] or [local]): every slot is a process (and on a host an SSH
    /// channel), and a typo like `slots = 100000` would otherwise start thousands of them.
    pub(super) fn capped_slots(&mut self, v: &RawValue, min: i64, allow_many: bool, table: &str) -> Option<Slots> {
        let slots = self.slots(v, min)?;
        match slots {
            Slots::Count(n) if n > MAX_SLOTS && !allow_many => {
                let limit = if table == "[local]" { "testbot's limit for this machine" } else { "testbot's limit per host" };
                self.issue(
                    v.span(),
                    format!(
                        "`slots` = {n} is more than {MAX_SLOTS}, {limit}; lower it, \
                         or add `allow_many_slots = true` to {table} if the machine really runs that many"
                    ),
                );
                None
            }
            slots => Some(slots),
        }
    }

    /// A whole number from 1 to `max` (seconds, counts).
    pub(super) fn positive(&mut self, key: &str, v: &RawValue, max: i64) -> Option<usize> {
        match v.get_ref() {
            Value::Integer(n) if (1..=max).contains(n) => Some(*n as usize),
            other => {
                self.issue(
                    v.span(),
                    format!("`{key}` must be a whole number from 1 to {max}, found {}", describe(other)),
                );
                None
            }
        }
    }

    pub(super) fn port(&mut self, v: &RawValue) -> Option<u16> {
        match v.get_ref() {
            Value::Integer(n) => match u16::try_from(*n) {
                Ok(p) if p >= 1 => Some(p),
                _ => {
                    self.issue(
                        v.span(),
                        format!("`port` must be between 1 and 65535, found {n}"),
                    );
                    None
                }
            },
            other => {
                self.issue(
                    v.span(),
                    format!(
                        "`port` must be an integer between 1 and 65535, found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    pub(super) fn pattern(&mut self, v: &RawValue) -> Option<String> {
        let pattern = self.non_empty("pattern", v)?;
        if pattern.starts_with('/') {
            self.issue(
                v.span(),
                format!("`pattern` must be relative to the project root, found {pattern:?}"),
            );
            return None;
        }
        if let Err(e) = globset::Glob::new(&pattern) {
            self.issue(
                v.span(),
                format!("`pattern` is not a valid glob: {}", e.kind()),
            );
            return None;
        }
        Some(pattern)
    }

    pub(super) fn path(&mut self, key: &str, v: &RawValue) -> Option<PathBuf> {
        let s = self.non_empty(key, v)?;
        match expand_tilde(&s, self.home) {
            Some(p) => Some(p),
            None => {
                self.issue(
                    v.span(),
                    format!("cannot expand `~` in `{key}`: $HOME is not set"),
                );
                None
            }
        }
    }

    pub(super) fn env(&mut self, raw: RawEnv) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for (key, value) in raw.0 {
            let name = key.get_ref();
            if name.is_empty() {
                self.issue(
                    key.span(),
                    "environment variable names in `env` must not be empty",
                );
                continue;
            }
            if !valid_env_name(name) {
                self.issue(
                    key.span(),
                    format!(
                        "environment variable name {name:?} in `env` is not valid: a name is letters, digits and `_`, \
                         not starting with a digit (a host's shell and `env` take no other)"
                    ),
                );
                continue;
            }
            match value.get_ref() {
                Value::String(s) if s.contains('\0') => {
                    self.issue(
                        value.span(),
                        format!("`env.{name}` must not contain a NUL byte"),
                    );
                }
                Value::String(s) => env.push((name.clone(), s.clone())),
                other => {
                    let hint = match other {
                        Value::Integer(_) | Value::Float(_) | Value::Boolean(_) => {
                            format!(" (quote it: {name} = \"{other}\")")
                        }
                        _ => String::new(),
                    };
                    self.issue(
                        value.span(),
                        format!(
                            "`env.{name}` must be a string, found {}{hint}",
                            describe(other)
                        ),
                    );
                }
            }
        }
        env.sort();
        env
    }

    pub(super) fn strings<K>(&mut self, key: &str, list: StrList<K>) -> Vec<String> {
        let mut out = Vec::new();
        for item in list.items {
            match item.get_ref() {
                Value::String(s) => out.push(s.clone()),
                other => self.issue(
                    item.span(),
                    format!(
                        "`{key}` must contain only strings, found {}",
                        describe(other)
                    ),
                ),
            }
        }
        out
    }
}
