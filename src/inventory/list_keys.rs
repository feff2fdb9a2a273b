//! The names of testbot.toml's lists of strings (`exclude`, `isolate`, …): each a type, so that
//! `raw::StrList` says which key a wrong value was given for.

pub(crate) trait KeyName {
    const NAME: &'static str;
}

#[derive(Debug)]
pub(crate) struct ExcludeKey;
impl KeyName for ExcludeKey {
    const NAME: &'static str = "exclude";
}

#[derive(Debug)]
pub(crate) struct IsolateKey;
impl KeyName for IsolateKey {
    const NAME: &'static str = "isolate";
}

#[derive(Debug)]
pub(crate) struct IgnoreKey;
impl KeyName for IgnoreKey {
    const NAME: &'static str = "ignore";
}

#[derive(Debug)]
pub(crate) struct FilesKey;
impl KeyName for FilesKey {
    const NAME: &'static str = "files";
}

#[derive(Debug)]
pub(crate) struct IncludeKey;
impl KeyName for IncludeKey {
    const NAME: &'static str = "include";
}

#[derive(Debug)]
pub(crate) struct QuarantineKey;
impl KeyName for QuarantineKey {
    const NAME: &'static str = "quarantine";
}
