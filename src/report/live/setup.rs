//! The phases of getting the hosts ready, a line each as they end (on a terminal and in CI logs
//! alike): a start-up that takes seconds shows what it is doing, not a blank screen.

use super::Live;
use crate::events::{Setup, SlotInfo};
use crate::plural::plural;
use crate::report::status_level::StatusLevel;

impl Live {
    /// `testbot: host1 joined the run (2 slots)`: it got ready after the run started.
    pub(super) fn host_joined(&mut self, slots: &[SlotInfo]) {
        self.slots.extend(slots.iter().cloned());
        self.slot_width = self.slots.iter().map(|s| s.name().chars().count()).max().unwrap_or(0);
        let host = slots.first().map(|s| s.host.to_string()).unwrap_or_default();
        let text = format!("{} {host} joined the run ({})", self.styles.bold.apply_to("testbot:"), plural(slots.len(), "slot", "slots"));
        self.line(&text);
    }

    pub(super) fn setup(&mut self, phase: &Setup) {
        if self.level == StatusLevel::None {
            return;
        }
        let text = match phase {
            Setup::Connecting { hosts } => format!("connecting to {} ({})", plural(hosts.len(), "host", "hosts"), hosts.join(", ")),
            Setup::Connected { host, slots } => format!("{host}: connected ({}), syncing the project", plural(*slots, "slot", "slots")),
            Setup::Synced { host, checked: false } => format!("{host}: synced, ready"),
            Setup::Synced { host, checked: true } => format!("{host}: its copy is up to date (--no-sync), ready"),
            Setup::Hook { name, places } if *name == "before_slot" => format!("running the before_slot hook on {}", plural(*places, "slot", "slots")),
            Setup::Hook { name, places } => format!("running the {name} hook on {}", plural(*places, "host", "hosts")),
            Setup::HostHook { host } => format!("{host}: running the before_run hook"),
            Setup::SlotHook { slot } => {
                let name = self.slots.iter().find(|s| s.id == *slot).map(|s| s.name()).unwrap_or_default();
                format!("{name}: running the before_slot hook before its first batch")
            }
        };
        let text = format!("{} {text}", self.styles.bold.apply_to("testbot:"));
        self.line(&text);
    }
}
