//! What the shell calls first at every startup, before it launches the
//! backend: [`startup`] reads the journal and finishes or undoes whatever a
//! crash interrupted, then says how to start.
//!
//! - [`Startup::Normal`]: start as usual (with a [`Notice`] to show if an
//!   update was rolled back).
//! - [`Startup::Probation`]: the new version's first launches. Start it, then
//!   call [`Probation::confirm`] or [`Probation::fail`] as
//!   [`Probation::judge`] decides from the backend's status (ready with the
//!   new version passes; a failed start, NIFs that did not load or a refused
//!   schema fail). Each startup on probation counts a
//!   launch; past [`MAX_PROBATION_LAUNCHES`] (a crash loop that never reached
//!   `fail`), `startup` rolls back by itself.

use std::fs;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::error::{IoContext, Result, UpdateError};
use crate::install::{self, InstallKind, PackageRunner, Step};
use crate::layout::Layout;
use crate::state::{Journal, Notice, State, Store, SwapRecord, TreeId};
use crate::{fsx, snapshot};
use signing::platform::Installer;

/// Launches on probation before `startup` gives up on the new version.
pub const MAX_PROBATION_LAUNCHES: u32 = 3;

/// How the shell should start.
#[derive(Debug)]
pub enum Startup {
    Normal {
        /// An update was rolled back: tell the user (until [`dismiss_notice`]).
        notice: Option<Notice>,
        /// The state file was unreadable and was reset, or a journal was
        /// left alone: log it.
        warning: Option<String>,
    },
    Probation(Box<Probation>),
}

/// The new version's probation; consumed by `confirm` or `fail`. Also the
/// way out of a [`Journal::Stuck`] record: the install that starts must
/// pass its health check, and `confirm` then clears the record.
#[derive(Debug)]
pub struct Probation {
    store: Store,
    layout: Layout,
    journal: Journal,
    /// The running shell's version.
    installed: semver::Version,
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

/// Reads the journal, finishes or undoes an interrupted step, and says how
/// to start. `installed` is the version of the running shell. Every path
/// acted on is `layout`'s; a journal naming others is not acted on.
pub fn startup(layout: &Layout, installed: &semver::Version, runner: &dyn PackageRunner) -> Result<Startup> {
    startup_with_hook(layout, installed, runner, &|_| {})
}

#[doc(hidden)]
pub fn startup_with_hook(
    layout: &Layout,
    installed: &semver::Version,
    runner: &dyn PackageRunner,
    hook: &dyn Fn(Step),
) -> Result<Startup> {
    let store = layout.store();
    let loaded = store.load()?;
    let warning = loaded.warning;
    let normal = |store: &Store, warning: Option<String>| -> Result<Startup> {
        Ok(Startup::Normal { notice: stored_notice(store)?, warning })
    };
    let Some(journal) = loaded.state.journal else { return normal(&store, warning) };
    if layout.kind().is_none() {
        // This run does not know where it is installed (a development run,
        // which shares the installed app's data folder): the update in
        // progress belongs to an installed copy.
        let note = format!(
            "an update ({} of {}) is in progress, and this run does not know where the app is installed (a development run?): it leaves it alone",
            journal.step(),
            journal.version().map_or("an unknown version".to_owned(), |v| v.to_string())
        );
        return normal(&store, Some(note));
    }
    if let Err(why) = recorded_paths_match(&journal, layout) {
        return stuck(&store, layout, &journal, installed, &why);
    }
    // A new tree on probation is judged only by the program it installed:
    // any other version running means the journal is not this install's
    // story (planted, or the app replaced by hand), and acting on it could
    // roll a good version back.
    let running_new = |version: &semver::Version| installed.cmp_precedence(version).is_eq();
    if let Journal::Probation { swap: SwapRecord { version, .. }, .. } = &journal
        && !running_new(version)
    {
        let why = format!("the update journal has {version} on probation, but this is Hudson {installed}");
        return stuck(&store, layout, &journal, installed, &why);
    }
    let probation = |store: Store, journal: Journal| Probation {
        store,
        layout: layout.clone(),
        journal,
        installed: installed.clone(),
    };
    match journal {
        Journal::Unpacking { ref staging, .. } => {
            install::undo_unpacking(&store, staging, &layout.snapshot_dir())?;
            normal(&store, warning)
        }
        Journal::Swapping {
            swap: SwapRecord { ref version, ref install, ref snapshot, new_tree, old_tree, .. },
            ref staging,
        } => match TreeId::at(install)? {
            Some(id) if id == new_tree && !running_new(version) => {
                let why = format!("the update journal swapped in {version}, but this is Hudson {installed}");
                stuck(&store, layout, &journal, installed, &why)
            }
            Some(id) if id == new_tree => {
                install::finish_swapping(&store, &journal, None)?;
                count_probation_launch(probation(store, journal), runner, hook, warning)
            }
            Some(id) if id == old_tree => {
                install::undo_unpacking(&store, staging, snapshot)?;
                normal(&store, warning)
            }
            _ => {
                let why = UpdateError::UnknownTree { install: install.clone() }.to_string();
                stuck(&store, layout, &journal, installed, &why)
            }
        },
        Journal::Probation { .. } => count_probation_launch(probation(store, journal), runner, hook, warning),
        Journal::Package { ref version, ref previous, ref package, ref snapshot, .. } => {
            if installed.cmp_precedence(version).is_eq() {
                return count_probation_launch(probation(store, journal), runner, hook, warning);
            }
            // The installer never completed: the previous version still runs.
            fsx::remove_any(snapshot)?;
            // A Windows installer may still be running (its error dialog
            // open) and cannot be deleted then: that must not keep the
            // previous version from starting. The next download of that
            // version replaces the file.
            let warning = match install::kept::remove(package) {
                Ok(()) => warning,
                Err(e) => Some(format!("the installer that did not complete is left in place: {e}")),
            };
            let reason = format!("the installer for {version} did not complete; {previous} is still installed");
            store.update(|s| {
                s.journal = None;
                s.notice = Some(notice(version, previous, &reason));
            })?;
            normal(&store, warning)
        }
        Journal::RollingBack { swap: SwapRecord { ref version, .. }, .. } => {
            match finish_rollback(&store, layout, &journal, runner, hook) {
                Ok(_) => normal(&store, warning),
                Err(UpdateError::UnknownTree { install }) => {
                    let why = UpdateError::UnknownTree { install }.to_string();
                    stuck(&store, layout, &journal, installed, &why)
                }
                // The journal stays: the next start tries again, and until then
                // no backend may run on the data the failed version changed.
                Err(other) => {
                    Err(UpdateError::RollbackUnfinished { version: version.clone(), detail: other.to_string() })
                }
            }
        }
        Journal::Stuck { .. } => Ok(Startup::Probation(Box::new(probation(store, journal)))),
    }
}

/// `Err(why)` when the journal names a path other than the one `layout`
/// derives, or was written for another kind of install.
fn recorded_paths_match(journal: &Journal, layout: &Layout) -> std::result::Result<(), String> {
    let same = |what: &str, recorded: &Path, derived: Option<PathBuf>| match derived {
        Some(derived) if derived == recorded => Ok(()),
        Some(derived) => Err(format!(
            "the update journal names {} as the {what}, but this install's {what} is {}",
            shown_path(recorded),
            derived.display()
        )),
        None => Err(format!(
            "the update journal is for a folder-swap install (its {what} {}), but this app is not one",
            shown_path(recorded)
        )),
    };
    let install_root = || layout.install_root().map(Path::to_path_buf);
    let snapshot = |recorded: &Path| same("data snapshot", recorded, Some(layout.snapshot_dir()));
    match journal {
        Journal::Unpacking { install, staging, .. } => {
            same("install", install, install_root())?;
            same("staging folder", staging, layout.staging())
        }
        Journal::Swapping { swap, .. } | Journal::Probation { swap, .. } | Journal::RollingBack { swap, .. } => {
            same("install", &swap.install, install_root())?;
            if let Journal::Swapping { staging, .. } = journal {
                same("staging folder", staging, layout.staging())?;
            }
            same("rollback copy", &swap.rollback, layout.rollback_copy())?;
            snapshot(&swap.snapshot)
        }
        Journal::Package { kind, package, previous_package, snapshot: snap, .. } => {
            if layout.kind() != Some(&InstallKind::Package(*kind)) {
                return Err(format!("the update journal is for a {kind:?} package install, but this app is not one"));
            }
            let kept = |recorded: &Path| {
                let derived = recorded.file_name().map(|name| layout.packages_dir().join(name));
                same("kept package", recorded, derived)
            };
            kept(package)?;
            if let Some(previous) = previous_package {
                kept(previous)?;
            }
            snapshot(snap)
        }
        Journal::Stuck { .. } => Ok(()),
    }
}

/// A path read from the journal as a message shows it: short and printable.
fn shown_path(path: &Path) -> String {
    crate::unpack::shown(path.as_os_str().as_encoded_bytes())
}

/// Records that the journal can be neither finished nor undone. Nothing it
/// names is touched; the tree at the install path starts on a health check.
fn stuck(store: &Store, layout: &Layout, journal: &Journal, installed: &semver::Version, why: &str) -> Result<Startup> {
    let record = Journal::Stuck {
        during: journal.step().to_owned(),
        version: journal.version().cloned(),
        reason: why.to_owned(),
    };
    store.update(|s| s.journal = Some(record.clone()))?;
    Ok(Startup::Probation(Box::new(Probation {
        store: store.clone(),
        layout: layout.clone(),
        journal: record,
        installed: installed.clone(),
    })))
}

/// What a stuck record means for the user, and the way out.
pub(crate) fn stuck_error(layout: &Layout, step: &str, version: Option<&semver::Version>, reason: &str) -> UpdateError {
    let place = match layout.install_root() {
        Some(root) => format!("from {}", root.display()),
        None => "as installed".to_owned(),
    };
    // The record is read back from a file the user (or anyone) may edit:
    // what it says is shown short and printable.
    let step = crate::unpack::shown(step.as_bytes());
    let reason = crate::unpack::shown_long(reason.as_bytes());
    UpdateError::Stuck {
        update: match version {
            Some(version) => format!("the update to {version} ({step})"),
            None => format!("an update ({step})"),
        },
        reason,
        place,
    }
}

fn count_probation_launch(
    probation: Probation,
    runner: &dyn PackageRunner,
    hook: &dyn Fn(Step),
    warning: Option<String>,
) -> Result<Startup> {
    let Probation { store, layout, installed, .. } = probation;
    let journal = store.update(|s| {
        if let Some(Journal::Probation { launches, .. } | Journal::Package { launches, .. }) = &mut s.journal {
            *launches = launches.saturating_add(1);
        }
        s.journal.clone()
    })?;
    // Read back from the file: changed since startup's first read (another
    // instance, or the file was damaged and started over), it no longer
    // holds this probation. Nothing is left to confirm or roll back.
    let Some(
        journal @ (Journal::Probation { launches, swap: SwapRecord { version, .. } }
        | Journal::Package { launches, version, .. }),
    ) = &journal
    else {
        let note =
            "the update state changed while this version started; its probation record is gone, so it starts normally";
        let warning = Some(warning.map_or_else(|| note.to_owned(), |w| format!("{w}; {note}")));
        return Ok(Startup::Normal { notice: stored_notice(&store)?, warning });
    };
    if *launches > MAX_PROBATION_LAUNCHES {
        let reason = format!("{version} did not start successfully in {MAX_PROBATION_LAUNCHES} attempts");
        let probation = Probation { store: store.clone(), layout, journal: journal.clone(), installed };
        probation.roll_back(&reason, runner, hook)?;
        return Ok(Startup::Normal { notice: stored_notice(&store)?, warning });
    }
    Ok(Startup::Probation(Box::new(Probation { store, layout, journal: journal.clone(), installed })))
}

impl Probation {
    /// The version that must pass: the new one on probation; after a
    /// stuck update, whatever version this shell is.
    pub fn version(&self) -> &semver::Version {
        match &self.journal {
            Journal::Probation { swap: SwapRecord { version, .. }, .. } | Journal::Package { version, .. } => version,
            _ => &self.installed,
        }
    }

    /// How many startups this version has had on probation, this one included.
    pub fn launches(&self) -> u32 {
        match &self.journal {
            Journal::Probation { launches, .. } | Journal::Package { launches, .. } => *launches,
            _ => 0,
        }
    }

    /// `Some(what happened and the way out)` when this is not a new
    /// version's probation but the health check that clears an update that
    /// could be neither finished nor undone.
    pub fn stuck(&self) -> Option<String> {
        match &self.journal {
            Journal::Stuck { during, version, reason } => {
                Some(stuck_error(&self.layout, during, version.as_ref(), reason).to_string())
            }
            _ => None,
        }
    }

    /// The new version is healthy: close the journal. The rollback copy
    /// (folder swap) or the new package file is kept for the next update.
    /// After a stuck update: the install at this path works, so the record
    /// is cleared (and only the layout's own snapshot folder removed).
    pub fn confirm(self) -> Result<()> {
        match &self.journal {
            Journal::Probation { swap, .. } => fsx::remove_any(&swap.snapshot)?,
            Journal::Package { snapshot, previous_package, .. } => {
                fsx::remove_any(snapshot)?;
                if let Some(previous) = previous_package {
                    install::kept::remove(previous)?;
                }
            }
            // The snapshot stays: a rollback that could not finish may not
            // have restored it (the next update's snapshot replaces it).
            _ => {}
        }
        self.store.update(|s| s.journal = None)
    }

    /// The new version failed (`reason` in plain words): stop its backend,
    /// put the previous version and its data back, mark the version bad.
    /// The shell then relaunches (the previous version is at the same path).
    /// After a stuck update there is nothing to go back to: the error says
    /// what to do, and the record stays until a working install starts.
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
        if let Journal::Stuck { during, version, reason: why } = &self.journal {
            let why = format!("{why}; and the install did not start either: {reason}");
            return Err(stuck_error(&self.layout, during, version.as_ref(), &why));
        }
        stop_backend().map_err(|detail| UpdateError::StopBackend { detail })?;
        self.roll_back(reason, runner, hook)
    }

    fn roll_back(self, reason: &str, runner: &dyn PackageRunner, hook: &dyn Fn(Step)) -> Result<RolledBack> {
        let rolling = match self.journal.clone() {
            Journal::Probation { swap, .. } => Journal::RollingBack { swap, reason: reason.to_owned() },
            Journal::Package { .. } => {
                return roll_back_package(&self.store, &self.layout, &self.journal, reason, runner);
            }
            other => unreachable!("cannot roll back from {}", other.step()),
        };
        self.store.update(|s| s.journal = Some(rolling.clone()))?;
        hook(Step::RollbackJournaled);
        match finish_rollback(&self.store, &self.layout, &rolling, runner, hook) {
            Ok(notice) => Ok(RolledBack { notice, restored: true }),
            Err(UpdateError::UnknownTree { install }) => {
                let why = UpdateError::UnknownTree { install }.to_string();
                stuck(&self.store, &self.layout, &rolling, &self.installed, &why)?;
                Err(stuck_error(&self.layout, "rolling_back", rolling.version(), &why))
            }
            Err(other) => Err(other),
        }
    }
}

/// Finish of `rolling_back`: idempotent, so recovery runs it again after a crash.
fn finish_rollback(
    store: &Store,
    layout: &Layout,
    journal: &Journal,
    _runner: &dyn PackageRunner,
    hook: &dyn Fn(Step),
) -> Result<Notice> {
    let Journal::RollingBack { swap: SwapRecord { version, previous, sequence, .. }, reason } = journal else {
        unreachable!("finish_rollback takes rolling_back")
    };
    install::finish_rolling_back(journal, layout, hook)?;
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
fn roll_back_package(
    store: &Store,
    layout: &Layout,
    journal: &Journal,
    reason: &str,
    runner: &dyn PackageRunner,
) -> Result<RolledBack> {
    let Journal::Package { kind, version, previous, sequence, package, previous_package, snapshot, .. } = journal
    else {
        unreachable!("roll_back_package takes package")
    };
    // A kept package is run as root: only the package of the version being
    // restored (its folder was checked with the journal's other paths),
    // verifying against this build's own keys as the download did.
    let mut reason = reason.to_owned();
    let restored = match (kind, previous_package) {
        (Installer::Deb | Installer::Rpm, Some(file)) => {
            match install::kept::verify(file, previous, *kind, layout.trusted_keys()) {
                Ok(()) => {
                    let command =
                        install::package_command(*kind, file, install::running_as_root(), true).expect("deb/rpm");
                    runner
                        .run(&command)
                        .map_err(|detail| UpdateError::Command { command: command.to_string(), detail })?;
                    snapshot::restore(layout)?;
                    true
                }
                Err(why) => {
                    reason.push_str(&format!("; {}", install::kept::refused(file, &why)));
                    false
                }
            }
        }
        _ => false,
    };
    if restored {
        fsx::remove_any(snapshot)?;
    } else {
        // The data stays as the new version has it (restoring it under
        // the new program would be worse), and the copy from before the
        // update is kept for the previous version, under a name the next
        // update does not reuse.
        let kept = layout.updates_dir().join(format!("snapshot-before-{version}"));
        let kept_note = if fsx::exists(snapshot) {
            fsx::remove_any(&kept)?;
            fs::rename(snapshot, &kept).at("keeping the data snapshot as", &kept)?;
            format!(" (your data from before the update is kept in {})", kept.display())
        } else {
            String::new()
        };
        reason.push_str(&format!(
            "; {previous} could not be reinstalled automatically: install it from its installer{kept_note}"
        ));
    }
    install::kept::remove(package)?;
    let notice = notice(version, previous, &reason);
    store.update(|s| {
        s.journal = None;
        s.mark_bad(version.clone(), *sequence, reason.clone());
        s.notice = Some(notice.clone());
    })?;
    Ok(RolledBack { notice, restored })
}

/// The notice the window shows, read back from a file anyone may edit:
/// its reason short and printable (its versions are checked on load).
fn stored_notice(store: &Store) -> Result<Option<Notice>> {
    Ok(store.load()?.state.notice.map(|mut notice| {
        notice.reason = crate::unpack::shown_long(notice.reason.as_bytes());
        notice
    }))
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
    use crate::policy::Verdict;
    use hudson_lifecycle::supervisor::Status;

    fn on_probation(version: &str) -> Probation {
        let dir = std::env::temp_dir();
        let version: semver::Version = version.parse().unwrap();
        Probation {
            store: Store::new(&dir),
            layout: Layout::new(&dir, &dir, &[], None).unwrap(),
            journal: Journal::Package {
                kind: Installer::Deb,
                version: version.clone(),
                previous: "0.1.0".parse().unwrap(),
                sequence: 2,
                package: dir.join("p.deb"),
                previous_package: None,
                snapshot: dir.join("snapshot"),
                launches: 1,
            },
            installed: version,
        }
    }

    fn ready(version: &str) -> Status {
        let now = std::time::Instant::now();
        Status::Ready {
            origin: "http://127.0.0.1:1".into(),
            enter_url: "http://127.0.0.1:1/".into(),
            version: version.into(),
            timings: hudson_lifecycle::StartTimings {
                spawned: now,
                handshake: now,
                backend_ready: now,
                healthy: now,
                source: hudson_lifecycle::HandshakeSource::File,
            },
        }
    }

    /// Runs nothing: no package command is expected.
    struct NoRunner;
    impl PackageRunner for NoRunner {
        fn run(&self, command: &crate::install::PackageCommand) -> std::result::Result<(), String> {
            panic!("no package command was expected: {command}")
        }
    }

    #[test]
    fn a_probation_record_gone_from_the_file_since_startup_starts_normally() {
        let dir = tempfile::tempdir().unwrap();
        let mut probation = on_probation("0.2.0");
        probation.store = Store::new(dir.path());
        // The file holds no journal (started over since startup's read).
        probation.store.load().unwrap();
        let startup = count_probation_launch(probation, &NoRunner, &|_| {}, None).unwrap();
        let Startup::Normal { warning: Some(warning), .. } = startup else { panic!("expected a normal start") };
        assert!(warning.contains("probation record is gone"), "{warning}");
    }

    #[test]
    fn probation_passes_only_on_a_ready_backend_of_the_new_version() {
        let probation = on_probation("0.2.0");
        assert_eq!(probation.judge(&ready("0.2.0")), Verdict::Pass);
        let Verdict::Fail(why) =
            probation.judge(&Status::Damaged { modules: vec![("hudson_nif".into(), "enoent".into())] })
        else {
            panic!("a broken NIF must fail probation")
        };
        assert!(why.contains("hudson_nif: enoent"), "{why}");
        assert!(matches!(probation.judge(&ready("0.1.0")), Verdict::Fail(_)), "old backend still answering");
        assert!(matches!(probation.judge(&ready("not a version")), Verdict::Fail(_)));
        assert!(matches!(probation.judge(&Status::UpdateRequired { version: "9".into() }), Verdict::Fail(_)));
        assert!(matches!(probation.judge(&Status::Failed { reason: "exit 1".into(), tail: vec![] }), Verdict::Fail(_)));
        assert_eq!(probation.judge(&Status::Starting { attempt: 1 }), Verdict::Pending);
    }
}
