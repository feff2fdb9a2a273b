//! `[profile.NAME]` tables: the run options one place (a laptop, CI) sets.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Value;

use super::Checker;
use crate::inventory::raw::{describe, RawProfile, RawValue, Section};
use crate::inventory::{Profile, FAILURE_OUTPUTS, STATUS_LEVELS};

impl Checker<'_> {
    pub(super) fn profiles(&mut self, raw: BTreeMap<String, Section<RawProfile>>) -> Vec<(String, Profile)> {
        raw.into_iter().map(|(name, Section(raw))| (name, self.profile(raw))).collect()
    }

    fn profile(&mut self, raw: RawProfile) -> Profile {
        Profile {
            retries: raw.retries.and_then(|v| self.count("retries", &v)).map(|n| n.min(u32::MAX as usize) as u32),
            fail_fast: raw.fail_fast.and_then(|v| self.fail_fast(&v)),
            timeout: raw.timeout.and_then(|v| self.duration("timeout", &v)),
            file_timeout: raw.file_timeout.and_then(|v| self.duration("file_timeout", &v)),
            junit: raw.junit.and_then(|v| self.path("junit", &v)),
            report_json: raw.report_json.and_then(|v| self.path("report_json", &v)),
            status_level: raw.status_level.and_then(|v| self.choice("status_level", &v, STATUS_LEVELS)).map(str::to_owned),
            final_status_level: raw.final_status_level.and_then(|v| self.choice("final_status_level", &v, STATUS_LEVELS)).map(str::to_owned),
            failure_output: raw.failure_output.and_then(|v| self.choice("failure_output", &v, FAILURE_OUTPUTS)).map(str::to_owned),
            success_output: raw.success_output.and_then(|v| self.choice("success_output", &v, FAILURE_OUTPUTS)).map(str::to_owned),
        }
    }

    /// A whole number, 0 or more.
    fn count(&mut self, key: &str, v: &RawValue) -> Option<usize> {
        match v.get_ref() {
            Value::Integer(n) if *n >= 0 => Some(*n as usize),
            other => {
                self.issue(v.span(), format!("`{key}` must be a whole number, 0 or more, found {}", describe(other)));
                None
            }
        }
    }

    /// `fail_fast`: a number of failures (0: never stop), or true (1) / false (never).
    fn fail_fast(&mut self, v: &RawValue) -> Option<usize> {
        match v.get_ref() {
            Value::Boolean(stop) => Some(usize::from(*stop)),
            _ => self.count("fail_fast", v),
        }
    }

    /// Seconds (`600`) or a duration as the command line takes it (`"90s"`, `"20m"`, `"1m30s"`).
    fn duration(&mut self, key: &str, v: &RawValue) -> Option<Duration> {
        let parsed = match v.get_ref() {
            Value::Integer(n) if *n >= 0 => Some(Duration::from_secs(*n as u64)),
            Value::Float(f) if *f >= 0.0 && f.is_finite() => Some(Duration::from_secs_f64(*f)),
            Value::String(s) => humantime::parse_duration(s.trim()).ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.issue(v.span(), format!("`{key}` must be seconds or a duration (e.g. 600, \"90s\", \"20m\"), found {}", describe(v.get_ref())));
        }
        parsed
    }
}
