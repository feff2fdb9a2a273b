//! The colours of what a person reads (on when stdout takes them, `term`).

use crate::events::FileStatus;
use console::Style;

#[derive(Clone, Debug, Default)]
pub struct Styles {
    pub pass: Style,
    pub fail: Style,
    pub pending: Style,
    pub dim: Style,
    pub bold: Style,
}

impl Styles {
    pub fn new(colors: bool) -> Styles {
        let s = |style: Style| style.force_styling(colors);
        Styles {
            pass: s(Style::new().green().bold()),
            fail: s(Style::new().red().bold()),
            pending: s(Style::new().yellow()),
            dim: s(Style::new().dim()),
            bold: s(Style::new().bold()),
        }
    }

    /// A file's status in its colour: green when it passed, red otherwise.
    pub fn of_status(&self, status: FileStatus) -> &Style {
        match status {
            FileStatus::Passed => &self.pass,
            FileStatus::Failed | FileStatus::Errored => &self.fail,
        }
    }
}

