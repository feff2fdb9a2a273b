//! The raw serde layer: private types that mirror `testbot.toml` as written.
//!
//! This layer only knows the *shape* of the file: which tables exist, which
//! keys each table accepts (unknown keys are rejected at every level), and
//! where every leaf value sits in the source (`toml::Spanned`). It performs no
//! semantic checks: leaves are kept as `toml::Value`s so that `validate` can
//! report wrong types with the key's name and the value's position, and turn
//! the raw tree into the checked public types.
//!
//! Tables are deliberately *not* wrapped in `Spanned`: tables created
//! implicitly by dotted keys (`project.framework = "rspec"`) or by sub-table
//! headers (`[project.env]`) have no span, and `Spanned` cannot deserialize
//! them. The only spanned tables are `[[host]]` entries, which always have a
//! header (or are inline tables) and therefore a span.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::{Spanned, Value};
pub(super) use super::list_keys::*;

/// A leaf value with its byte span in the source.
pub(super) type RawValue = Spanned<Value>;

// The keys each table accepts are listed in `keys.rs`, in the order of the structs' fields.

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub project: Option<Section<RawProject>>,
    pub local: Option<Section<RawLocal>>,
    pub host: Option<RawHosts>,
    pub ssh: Option<Section<RawSsh>>,
    pub sync: Option<Section<RawSync>>,
    pub hooks: Option<Section<RawHooks>>,
    pub queue: Option<Section<RawQueue>>,
    /// `[profile.NAME]` tables, by name.
    pub profile: Option<std::collections::BTreeMap<String, Section<RawProfile>>>,
    pub impact: Option<Section<RawImpact>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProject {
    pub framework: Option<RawValue>,
    pub pattern: Option<RawValue>,
    pub command: Option<RawValue>,
    pub bundler: Option<RawValue>,
    pub env: Option<RawEnv>,
    pub preload: Option<RawValue>,
    pub exclude: Option<StrList<ExcludeKey>>,
    pub fork: Option<RawValue>,
    pub isolate: Option<StrList<IsolateKey>>,
    pub group: Option<Vec<Spanned<Section<RawGroup>>>>,
    pub quarantine: Option<StrList<QuarantineKey>>,
    pub quarantine_passes: Option<RawValue>,
}

/// A `[[project.group]]` entry: files that share runner processes only with each other.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    pub files: Option<StrList<FilesKey>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLocal {
    pub slots: Option<RawValue>,
    pub allow_many_slots: Option<RawValue>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHost {
    pub name: Option<RawValue>,
    pub address: Option<RawValue>,
    pub port: Option<RawValue>,
    pub user: Option<RawValue>,
    pub identity: Option<RawValue>,
    pub slots: Option<RawValue>,
    pub allow_many_slots: Option<RawValue>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSsh {
    pub known_hosts: Option<RawValue>,
    pub host_key_checking: Option<RawValue>,
    pub config: Option<RawValue>,
    pub server_alive_interval: Option<RawValue>,
    pub server_alive_count_max: Option<RawValue>,
    pub slot_leases: Option<RawValue>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSync {
    pub remote_dir: Option<RawValue>,
    pub exclude: Option<StrList<ExcludeKey>>,
    pub include: Option<StrList<IncludeKey>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHooks {
    pub before_run: Option<RawValue>,
    pub before_slot: Option<RawValue>,
    pub after_run: Option<RawValue>,
}

/// `[queue]`: the CI build's shared queue (`--queue`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQueue {
    pub url: Option<RawValue>,
    pub project: Option<RawValue>,
}

/// `[impact]`: recording per-file impact maps, and what `--changed` ignores.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImpact {
    pub record: Option<RawValue>,
    pub ignore: Option<StrList<IgnoreKey>>,
}

/// A `[profile.NAME]`: the run options that differ from place to place (a laptop, CI).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProfile {
    pub retries: Option<RawValue>,
    pub fail_fast: Option<RawValue>,
    pub timeout: Option<RawValue>,
    pub file_timeout: Option<RawValue>,
    pub junit: Option<RawValue>,
    pub report_json: Option<RawValue>,
    pub status_level: Option<RawValue>,
    pub final_status_level: Option<RawValue>,
    pub failure_output: Option<RawValue>,
    pub success_output: Option<RawValue>,
}

/// How a value of the wrong type is described in messages:
/// `found a string "four"`, `found an integer 0`, `found a table`, ...
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("a string {s:?}"),
        Value::Integer(i) => format!("an integer {i}"),
        Value::Float(f) => format!("a float {f}"),
        Value::Boolean(b) => format!("a boolean {b}"),
        Value::Datetime(d) => format!("a date-time {d}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}

/// Implements the scalar `visit_*` methods of a visitor that only accepts a
/// table or an array, by failing with `self.wrong(&found)`. The error gets the
/// value's span from toml.
macro_rules! reject_scalars {
    () => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Err(E::custom(self.wrong(&Value::Boolean(v))))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Err(E::custom(self.wrong(&Value::Integer(v))))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            // toml only produces i64; this is for completeness.
            Err(E::custom(
                self.wrong(&Value::Integer(v.try_into().unwrap_or(i64::MAX))),
            ))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Err(E::custom(self.wrong(&Value::Float(v))))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Err(E::custom(self.wrong(&Value::String(v.to_owned()))))
        }
    };
}

/// Turns a map we do not want (a table, or a date-time, which toml also
/// presents as a map) into a `toml::Value` to describe it.
fn map_as_value<'de, A: MapAccess<'de>>(map: A) -> Result<Value, A::Error> {
    Value::deserialize(MapAccessDeserializer::new(map))
}

fn seq_as_value<'de, A: SeqAccess<'de>>(seq: A) -> Result<Value, A::Error> {
    Value::deserialize(SeqAccessDeserializer::new(seq))
}

// ---------------------------------------------------------------------------
// Tables: `[project]`, `[local]`, `[ssh]`, `[sync]` and each `[[host]]` entry.

/// A table of the config. Anything but a table is rejected with a message
/// naming the table (`` `local` must be a table, found an integer 4 ``).
#[derive(Debug)]
pub(super) struct Section<T>(pub T);

/// What a table is called in messages.
pub(super) trait SectionKind {
    /// The subject of "must be a table", e.g. "`project`".
    const SUBJECT: &'static str;
}

impl SectionKind for RawProject {
    const SUBJECT: &'static str = "`project`";
}
impl SectionKind for RawGroup {
    const SUBJECT: &'static str = "each `project.group` entry";
}
impl SectionKind for RawLocal {
    const SUBJECT: &'static str = "`local`";
}
impl SectionKind for RawHost {
    const SUBJECT: &'static str = "each `host` entry";
}
impl SectionKind for RawSsh {
    const SUBJECT: &'static str = "`ssh`";
}
impl SectionKind for RawSync {
    const SUBJECT: &'static str = "`sync`";
}

impl SectionKind for RawHooks {
    const SUBJECT: &'static str = "`hooks`";
}

impl SectionKind for RawQueue {
    const SUBJECT: &'static str = "`queue`";
}

impl SectionKind for RawImpact {
    const SUBJECT: &'static str = "`impact`";
}

impl SectionKind for RawProfile {
    const SUBJECT: &'static str = "each `profile` entry";
}

impl<'de, T> Deserialize<'de> for Section<T>
where
    T: Deserialize<'de> + SectionKind,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SectionVisitor(PhantomData))
    }
}

struct SectionVisitor<T>(PhantomData<T>);

impl<T: SectionKind> SectionVisitor<T> {
    fn wrong(&self, found: &Value) -> String {
        format!("{} must be a table, found {}", T::SUBJECT, describe(found))
    }
}

impl<'de, T> Visitor<'de> for SectionVisitor<T>
where
    T: Deserialize<'de> + SectionKind,
{
    type Value = Section<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to be a table", T::SUBJECT)
    }

    reject_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let found = seq_as_value(seq)?;
        Err(de::Error::custom(self.wrong(&found)))
    }

    // A date-time also arrives here, as a map with a private key; `T` rejects
    // that key as unknown and `error::unknown_key` turns it into a
    // "must be a table, found a date-time" message.
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Section)
    }
}

// ---------------------------------------------------------------------------
// `[[host]]`: an array of tables.

#[derive(Debug)]
pub(super) struct RawHosts(pub Vec<Spanned<Section<RawHost>>>);

impl<'de> Deserialize<'de> for RawHosts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(HostsVisitor)
    }
}

struct HostsVisitor;

impl HostsVisitor {
    fn wrong(&self, found: &Value) -> String {
        match found {
            Value::Table(_) => "`host` must be an array of tables: write each host as a \
                                [[host]] section (double brackets), not [host]"
                .to_owned(),
            other => format!(
                "`host` must be an array of tables ([[host]] sections), found {}",
                describe(other)
            ),
        }
    }
}

impl<'de> Visitor<'de> for HostsVisitor {
    type Value = RawHosts;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of [[host]] tables")
    }

    reject_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut hosts = Vec::new();
        while let Some(host) = seq.next_element()? {
            hosts.push(host);
        }
        Ok(RawHosts(hosts))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let found = map_as_value(map)?;
        Err(de::Error::custom(self.wrong(&found)))
    }
}

// ---------------------------------------------------------------------------
// `env`: a free-form table; keys and values keep their spans.

#[derive(Debug)]
pub(super) struct RawEnv(pub Vec<(Spanned<String>, RawValue)>);

impl<'de> Deserialize<'de> for RawEnv {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EnvVisitor)
    }
}

struct EnvVisitor;

impl EnvVisitor {
    fn wrong(&self, found: &Value) -> String {
        format!(
            "`env` must be a table of strings, like env = {{ RAILS_ENV = \"test\" }}, found {}",
            describe(found)
        )
    }
}

impl<'de> Visitor<'de> for EnvVisitor {
    type Value = RawEnv;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of strings")
    }

    reject_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let found = seq_as_value(seq)?;
        Err(de::Error::custom(self.wrong(&found)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        loop {
            // Keys of a real table always carry a span. The only map whose
            // key cannot be read as `Spanned` is toml's encoding of a
            // date-time, which is the one non-table value arriving here.
            let key = match map.next_key::<Spanned<String>>() {
                Ok(Some(key)) => key,
                Ok(None) => break,
                Err(_) if entries.is_empty() => {
                    return Err(de::Error::custom(
                        "`env` must be a table of strings, found a date-time",
                    ));
                }
                Err(e) => return Err(e),
            };
            let value: RawValue = map.next_value()?;
            entries.push((key, value));
        }
        Ok(RawEnv(entries))
    }
}

// ---------------------------------------------------------------------------
// Lists of strings (`exclude`, `include`): elements keep their spans.

#[derive(Debug)]
pub(super) struct StrList<K> {
    pub items: Vec<RawValue>,
    _key: PhantomData<K>,
}

impl<'de, K: KeyName> Deserialize<'de> for StrList<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrListVisitor::<K>(PhantomData))
    }
}

struct StrListVisitor<K>(PhantomData<K>);

impl<K: KeyName> StrListVisitor<K> {
    fn wrong(&self, found: &Value) -> String {
        let hint = match found {
            Value::String(s) => format!(" (write {} = [{s:?}])", K::NAME),
            _ => String::new(),
        };
        format!(
            "`{}` must be an array of strings, found {}{hint}",
            K::NAME,
            describe(found)
        )
    }
}

impl<'de, K: KeyName> Visitor<'de> for StrListVisitor<K> {
    type Value = StrList<K>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of strings")
    }

    reject_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(StrList {
            items,
            _key: PhantomData,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let found = map_as_value(map)?;
        Err(de::Error::custom(self.wrong(&found)))
    }
}
