//! What the shell calls first at every startup, before it launches the
//! backend: [`startup`] reads the journal and finishes or undoes whatever a
//! crash interrupted, then says how to start.
//!
//! - [`Startup::Normal`]: start as usual (with a [`Notice`] to show if an
//!   update was rolled back).
//! - [`Startup::Probation`]: the new version's first launches. Start it, then
//!   call [`Probation::confirm`] once `/healthz` passes
//!   ([`probation_verdict`]), or [`Probation::fail`] on a crash loop, a
//!   timeout or a NIF that is not `ok`. Each startup on probation counts a
//!   launch; past [`MAX_PROBATION_LAUNCHES`] (a crash loop that never reached
//!   `fail`), `startup` rolls back by itself.

use std::path::Path;

use hudson_lifecycle::contract::HealthDoc;
use time::OffsetDateTime;

use crate::error::{Result, UpdateError};
use crate::install::{self, PackageRunner, Step};
use crate::state::{Journal, Notice, PackageKind, State, Store, TreeId};
use crate::{fsx, snapshot};

/// Launches on probation before `startup` gives up on the new version.
pub const MAX_PROBATION_LAUNCHES: u32 = 3;

/// How the shell should start.
#[derive(Debug)]
pub enum Startup {
    Normal {
        /// An update was rolled back: tell the user (until [`dismiss_notice`]).
        notice: Option<Notice>,
        /// The state file was unreadable and was reset: log it.
        warning: Option<String>,
    },
    Probation(Probation),
}

/// The new version's probation; consumed by `confirm` or `fail`.
#[derive(Debug)]
pub struct Probation {
    store: Store,
    journal: Journal,
}

/// The outcome of a rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack {
    pub notice: Notice,
    /// True when the previous version is back and the shell should relaunch
    /// it; false when it could not be restored automatically (the notice says
    /// what to do).
    pub restored: bool,
}

/// Whether a `/healthz` answer lets the new version pass probation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
}

/// Decides probation from the new backend's `/healthz` document.
pub fn probation_verdict(doc: &HealthDoc, expected: &semver::Version) -> Verdict {
    let damaged = doc.damaged_nifs();
    if !damaged.is_empty() {
        let list: Vec<String> = damaged.iter().map(|(m, why)| format!("{m}: {why}")).collect();
        return Verdict::Fail(format!("a native module of {expected} did not load ({})", list.join(", ")));
    }
    if doc.status != "ok" {
        return Verdict::Fail(format!("the backend of {expected} reported status {:?}", doc.status));
    }
    match doc.version.parse::<semver::Version>() {
        Ok(v) if v.cmp_precedence(expected).is_eq() && doc.is_ok() => Verdict::Pass,
        _ => Verdict::Fail(format!("the backend reported version {:?}, not {expected}", doc.version)),
    }
}

/// Reads the journal, finishes or undoes an interrupted step, and says how
/// to start. `installed` is the version of the running shell.
pub fn startup(app_data: &Path, installed: &semver::Version, runner: &dyn PackageRunner) -> Result<Startup> {
    startup_with_hook(app_data, installed, runner, &|_| {})
}

#[doc(hidden)]
pub fn startup_with_hook(
    app_data: &Path,
    installed: &semver::Version,
    runner: &dyn PackageRunner,
    hook: &dyn Fn(Step),
) -> Result<Startup> {
    let store = Store::new(app_data);
    let loaded = store.load()?;
    let warning = loaded.warning;
    let normal = |store: &Store| -> Result<Startup> {
        Ok(Startup::Normal { notice: store.load()?.state.notice, warning: warning.clone() })
    };
    let Some(journal) = loaded.state.journal else { return normal(&store) };
    match journal {
        Journal::Unpacking { ref staging, .. } => {
            install::undo_unpacking(&store, staging, &store.dir().join("snapshot"))?;
            normal(&store)
        }
        Journal::Swapping { ref install, ref staging, ref snapshot, new_tree, old_tree, .. } => {
            match TreeId::at(install)? {
                Some(id) if id == new_tree => {
                    install::finish_swapping(&store, &journal, None)?;
                    count_probation_launch(store, installed, runner, hook, warning)
                }
                Some(id) if id == old_tree => {
                    install::undo_unpacking(&store, staging, snapshot)?;
                    normal(&store)
                }
                _ => Err(UpdateError::UnknownTree { install: install.clone() }),
            }
        }
        Journal::Probation { .. } => count_probation_launch(store, installed, runner, hook, warning),
        Journal::Package { ref version, ref previous, ref package, ref snapshot, .. } => {
            if installed.cmp_precedence(version).is_eq() {
                return count_probation_launch(store, installed, runner, hook, warning);
            }
            // The installer never completed: the previous version still runs.
            fsx::remove_any(snapshot)?;
            fsx::remove_any(package)?;
            let reason = format!("the installer for {version} did not complete; {previous} is still installed");
            store.update(|s| {
                s.journal = None;
                s.notice = Some(notice(version, previous, &reason));
            })?;
            normal(&store)
        }
        Journal::RollingBack { .. } => {
            finish_rollback(&store, &journal, runner, hook)?;
            normal(&store)
        }
    }
}

fn count_probation_launch(
    store: Store,
    installed: &semver::Version,
    runner: &dyn PackageRunner,
    hook: &dyn Fn(Step),
    warning: Option<String>,
) -> Result<Startup> {
    let journal = store.update(|s| {
        if let Some(Journal::Probation { launches, .. } | Journal::Package { launches, .. }) = &mut s.journal {
            *launches += 1;
        }
        s.journal.clone()
    })?;
    let Some(journal) = journal else { unreachable!("probation was just journaled") };
    let (Journal::Probation { launches, version, .. } | Journal::Package { launches, version, .. }) = &journal else {
        unreachable!("only probation journals count launches")
    };
    if *launches > MAX_PROBATION_LAUNCHES {
        let reason = format!("{version} did not start successfully in {MAX_PROBATION_LAUNCHES} attempts");
        let probation = Probation { store: store.clone(), journal: journal.clone() };
        probation.roll_back(&reason, runner, hook)?;
        let notice = store.load()?.state.notice;
        return Ok(Startup::Normal { notice, warning });
    }
    let _ = installed;
    Ok(Startup::Probation(Probation { store, journal }))
}

impl Probation {
    /// The version on probation.
    pub fn version(&self) -> &semver::Version {
        match &self.journal {
            Journal::Probation { version, .. } | Journal::Package { version, .. } => version,
            _ => unreachable!("a Probation holds a probation journal"),
        }
    }

    /// How many startups this version has had on probation, this one included.
    pub fn launches(&self) -> u32 {
        match &self.journal {
            Journal::Probation { launches, .. } | Journal::Package { launches, .. } => *launches,
            _ => 0,
        }
    }

    /// The new version is healthy: close the journal. The rollback copy
    /// (folder swap) or the new package file is kept for the next update.
    pub fn confirm(self) -> Result<()> {
        match &self.journal {
            Journal::Probation { snapshot, .. } => fsx::remove_any(snapshot)?,
            Journal::Package { snapshot, previous_package, .. } => {
                fsx::remove_any(snapshot)?;
                if let Some(previous) = previous_package {
                    fsx::remove_any(previous)?;
                }
            }
            _ => {}
        }
        self.store.update(|s| s.journal = None)
    }

    /// The new version failed (`reason` in plain words): stop its backend,
    /// put the previous version and its data back, mark the version bad.
    /// The shell then relaunches (the previous version is at the same path).
    pub fn fail(
        self,
        reason: &str,
        stop_backend: &mut dyn FnMut() -> std::result::Result<(), String>,
        runner: &dyn PackageRunner,
    ) -> Result<RolledBack> {
        self.fail_with_hook(reason, stop_backend, runner, &|_| {})
    }

    #[doc(hidden)]
    pub fn fail_with_hook(
        self,
        reason: &str,
        stop_backend: &mut dyn FnMut() -> std::result::Result<(), String>,
        runner: &dyn PackageRunner,
        hook: &dyn Fn(Step),
    ) -> Result<RolledBack> {
        stop_backend().map_err(|detail| UpdateError::StopBackend { detail })?;
        self.roll_back(reason, runner, hook)
    }

    fn roll_back(self, reason: &str, runner: &dyn PackageRunner, hook: &dyn Fn(Step)) -> Result<RolledBack> {
        let rolling = match self.journal.clone() {
            Journal::Probation {
                version, previous, sequence, install, rollback, old_tree, new_tree, snapshot, ..
            } => Journal::RollingBack {
                version,
                previous,
                sequence,
                install,
                rollback,
                old_tree,
                new_tree,
                snapshot,
                reason: reason.to_owned(),
            },
            Journal::Package { .. } => return roll_back_package(&self.store, &self.journal, reason, runner),
            other => unreachable!("cannot roll back from {}", other.step()),
        };
        self.store.update(|s| s.journal = Some(rolling.clone()))?;
        hook(Step::RollbackJournaled);
        let notice = finish_rollback(&self.store, &rolling, runner, hook)?;
        Ok(RolledBack { notice, restored: true })
    }
}

/// Finish of `rolling_back`: idempotent, so recovery runs it again after a crash.
fn finish_rollback(
    store: &Store,
    journal: &Journal,
    _runner: &dyn PackageRunner,
    hook: &dyn Fn(Step),
) -> Result<Notice> {
    let Journal::RollingBack { version, previous, sequence, reason, .. } = journal else {
        unreachable!("finish_rollback takes rolling_back")
    };
    install::finish_rolling_back(journal, hook)?;
    let notice = notice(version, previous, reason);
    store.update(|s: &mut State| {
        s.journal = None;
        s.mark_bad(version.clone(), *sequence, reason.clone());
        s.notice = Some(notice.clone());
    })?;
    Ok(notice)
}

/// deb/rpm: reinstall the kept previous package, then restore the data.
/// Without a kept package (the first update of a hand-installed app) or on
/// Windows, the previous version cannot come back by itself: the version is
/// marked bad and the notice says what to do; the data is left as the new
/// version has it, since restoring it under the new program would be worse.
fn roll_back_package(store: &Store, journal: &Journal, reason: &str, runner: &dyn PackageRunner) -> Result<RolledBack> {
    let Journal::Package { kind, version, previous, sequence, package, previous_package, snapshot, .. } = journal
    else {
        unreachable!("roll_back_package takes package")
    };
    let restored = match (kind, previous_package) {
        (PackageKind::Deb | PackageKind::Rpm, Some(file)) => {
            let command = install::package_command(*kind, file, install::running_as_root(), true).expect("deb/rpm");
            runner.run(&command).map_err(|detail| UpdateError::Command { command: command.to_string(), detail })?;
            snapshot::restore(snapshot)?;
            true
        }
        _ => false,
    };
    let reason = if restored {
        reason.to_owned()
    } else {
        format!("{reason}; {previous} could not be reinstalled automatically: install it from its installer")
    };
    fsx::remove_any(snapshot)?;
    fsx::remove_any(package)?;
    let notice = notice(version, previous, &reason);
    store.update(|s| {
        s.journal = None;
        s.mark_bad(version.clone(), *sequence, reason.clone());
        s.notice = Some(notice.clone());
    })?;
    Ok(RolledBack { notice, restored })
}

fn notice(version: &semver::Version, restored: &semver::Version, reason: &str) -> Notice {
    Notice {
        version: version.clone(),
        restored: restored.clone(),
        reason: reason.to_owned(),
        at: OffsetDateTime::now_utc(),
    }
}

/// The window has shown the notice: forget it.
pub fn dismiss_notice(app_data: &Path) -> Result<()> {
    Store::new(app_data).update(|s| s.notice = None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn doc(status: &str, version: &str, nifs: &[(&str, &str)]) -> HealthDoc {
        HealthDoc {
            status: status.to_owned(),
            version: version.to_owned(),
            pid: 1,
            nifs: nifs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<BTreeMap<_, _>>(),
            checks: BTreeMap::new(),
            erts: None,
        }
    }

    #[test]
    fn probation_passes_only_on_an_ok_backend_of_the_new_version() {
        let v: semver::Version = "0.2.0".parse().unwrap();
        assert_eq!(probation_verdict(&doc("ok", "0.2.0", &[("hudson_nif", "ok")]), &v), Verdict::Pass);
        let Verdict::Fail(why) = probation_verdict(&doc("ok", "0.2.0", &[("hudson_nif", "enoent")]), &v) else {
            panic!("a broken NIF must fail probation")
        };
        assert!(why.contains("hudson_nif: enoent"), "{why}");
        assert!(
            matches!(probation_verdict(&doc("ok", "0.1.0", &[]), &v), Verdict::Fail(_)),
            "old backend still answering"
        );
        assert!(matches!(probation_verdict(&doc("update_required", "0.2.0", &[]), &v), Verdict::Fail(_)));
    }
}
