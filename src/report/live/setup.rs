//! The phases of getting the hosts ready, a line each as they end (on a terminal and in CI logs
//! alike): a start-up that takes seconds shows what it is doing, not a blank screen.

use super::Live;
use crate::events::Setup;
use crate::plural::plural;
use crate::report::status_level::StatusLevel;

impl Live {
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
            Setup::SlotHook { slot } => {
                let name = self.slots.iter().find(|s| s.id == *slot).map(|s| s.name()).unwrap_or_default();
                format!("{name}: running the before_slot hook before its first batch")
            }
        };
        let text = format!("{} {text}", self.styles.bold.apply_to("testbot:"));
        self.line(&text);
    }
}
