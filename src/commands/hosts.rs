//! `testbot hosts`, `testbot sync` and `testbot exec`: the hosts without a run.

use super::{install_signals, no_hosts, runtime, settings, setup, Location, Outcome};
use crate::errors::{exit, Error};
use crate::project::{self, Project};
use crate::fleet;

/// `testbot exec`, as the command line asked for it.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub location: Location,
    pub local_slots: Option<usize>,
    /// Its words joined with spaces, for `sh -c`, as ssh does.
    pub command: String,
    pub per_slot: bool,
}

pub fn exec(options: ExecOptions) -> Result<Outcome, Error> {
    let (root, inventory) = setup(&options.location, settings::invocation(false))?;
    let project = Project::without_files(&root, &inventory, &project::Options { local_slots: options.local_slots, ..Default::default() });
    if project.local_slots == 0 && inventory.hosts.is_empty() {
        return Err(Error::Usage("no host to run on: `[local] slots = 0` and no [[host]] in testbot.toml".into()));
    }
    let (outcomes, signals) = runtime()?.block_on(async {
        let signals = install_signals()?;
        Ok::<_, Error>((fleet::exec::exec(&project, &inventory, &options.command, options.per_slot, &signals).await, signals))
    })?;
    crate::report::print_exec(&outcomes);
    if signals.caught().is_some() {
        return Ok(Outcome::new(exit::INTERRUPTED));
    }
    let ok = outcomes.iter().all(|o| o.succeeded());
    Ok(Outcome::new(if ok { exit::PASSED } else { exit::FAILED }))
}

/// `testbot sync`: one line per host; exit 1 if any host could not be synced, 2 if one's
/// `remote_dir` is one another user could change.
pub fn sync(location: &Location, verify: bool) -> Result<Outcome, Error> {
    let (root, inventory) = setup(location, settings::invocation(false))?;
    if inventory.hosts.is_empty() {
        return Err(no_hosts(&inventory, "sync", "copies the project to SSH hosts"));
    }
    // The framework's support files travel with the project, and its runtime history stays
    // behind, as in a run.
    let project = Project::without_files(&root, &inventory, &project::Options::default());
    let (reports, signals) = runtime()?.block_on(async {
        let signals = install_signals()?;
        let reports = fleet::remote::sync_only(&project, &inventory, verify, &signals).await.map_err(Error::Sync)?;
        Ok::<_, Error>((reports, signals))
    })?;
    crate::report::print_sync(&reports.reports);
    if signals.caught().is_some() {
        return Ok(Outcome::new(exit::INTERRUPTED));
    }
    // A remote directory another user could change is a setup error, like a bad config value.
    if reports.unsafe_dir {
        return Ok(Outcome::new(exit::USAGE));
    }
    let ok = reports.reports.iter().all(|r| r.result.is_ok());
    Ok(Outcome::new(if ok { exit::PASSED } else { exit::FAILED }))
}

/// `testbot hosts`: one table; exit 1 unless every host is usable.
pub fn hosts(location: &Location) -> Result<Outcome, Error> {
    let (root, inventory) = setup(location, settings::invocation(false))?;
    if inventory.hosts.is_empty() {
        return Err(no_hosts(&inventory, "hosts", "checks SSH hosts"));
    }
    let (checks, signals) = runtime()?.block_on(async {
        let signals = install_signals()?;
        Ok::<_, Error>((fleet::remote::check_all(&inventory, &root, &signals).await, signals))
    })?;
    crate::report::print_hosts(&checks, copy_bytes(&root, &inventory));
    if signals.caught().is_some() {
        return Ok(Outcome::new(exit::INTERRUPTED));
    }
    let usable = checks.iter().filter(|c| c.result.as_ref().is_ok_and(|r| r.problem().is_none())).count();
    Ok(Outcome::new(if usable == checks.len() { exit::PASSED } else { exit::FAILED }))
}

/// What the project's copy on a host takes: the files a sync ships. None when the walk fails
/// (a sync would say why).
fn copy_bytes(root: &std::path::Path, inventory: &crate::inventory::Inventory) -> Option<u64> {
    let found = crate::sync::walk(root, &inventory.sync.exclude, &inventory.sync.include, &Default::default()).ok()?;
    Some(found.iter().filter(|f| f.meta.is_file()).map(|f| f.meta.len()).sum())
}
