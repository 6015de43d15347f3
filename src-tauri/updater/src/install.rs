//! Installing a verified download, by the install's kind.
//!
//! Read top to bottom, each install is a list of steps; each irreversible
//! step is one small function, journaled before it runs, with the function
//! that finishes or undoes it right beside it (Sparkle's `SUPlainInstaller`
//! layout). [`crate::recovery`] calls the same finish/undo functions after a
//! crash.
//!
//! - **Folder swap** (Linux portable tree, macOS `.app`): unpack beside the
//!   install, check, stop the backend, snapshot data, exchange atomically,
//!   keep the old tree as `.<name>.rollback`.
//! - **Package manager** (deb, rpm): `dpkg -i` / `rpm -U`, directly as root,
//!   else through `pkexec`; the package is kept in `updates/packages/` so the
//!   next update can roll back to it.
//! - **Windows** (nsis, msi): after the backend has exited, start the
//!   installer passively and let the shell exit; compiled only on Windows.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::Updater;
use crate::download::Downloaded;
use crate::error::{IoContext, Result, UpdateError};
use crate::layout::Layout;
use crate::space::{self, Need};
use crate::state::{Journal, Staged, Store, SwapRecord, TreeId};
use crate::unpack::{self, UnpackLimits};
use crate::{fsx, snapshot, swap};
use signing::platform::Installer;

/// How this install is replaced (recorded by `dist` in `hudson-shell.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallKind {
    /// Replace the folder at `install` (the `.app`, or the portable tree).
    FolderSwap {
        install: PathBuf,
    },
    Package(Installer),
}

/// A point between two steps, where tests simulate a crash.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    UnpackJournaled,
    Unpacked,
    Prepared,
    SnapshotTaken,
    SwapJournaled,
    Swapped,
    RollbackMoved,
    ProbationJournaled,
    PackageJournaled,
    RollbackJournaled,
    SwappedBack,
    DataRestored,
    BadTreeRemoved,
}

/// What the install needs from the shell. Where things go is the
/// [`Layout`]'s, never the caller's to say per call.
pub struct InstallContext<'a> {
    /// Checks the unpacked tree (say, that its `hudson-shell.json` names the
    /// offered version). Folder swaps only.
    pub check_staged: &'a dyn Fn(&Path) -> std::result::Result<(), String>,
    /// Stops the backend and returns only once it has exited.
    pub stop_backend: &'a mut dyn FnMut() -> std::result::Result<(), String>,
    /// Runs `dpkg`/`rpm` (tests observe the command instead).
    pub runner: &'a dyn PackageRunner,
    pub limits: UnpackLimits,
    #[doc(hidden)]
    pub crash_hook: Option<&'a dyn Fn(Step)>,
}

/// A finished install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub version: semver::Version,
    pub next: Next,
}

/// What the shell does after an install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Relaunch: the new version starts on probation.
    Relaunch,
    /// Exit now: the Windows installer replaces the app and relaunches it.
    ExitForInstaller,
}

impl Updater {
    /// Installs a verified download into the install `layout` describes.
    /// Refused while another update's journal is open (the shell runs
    /// [`crate::startup`] first), and for a development run (no install).
    /// A folder swap whose tree [`Updater::prepare`] staged goes straight
    /// to stopping the backend and the swap, once the staged tree is found
    /// as it was left; a staged tree that changed, or belongs to another
    /// update, is removed and this one unpacked again.
    pub fn install(&self, downloaded: Downloaded, layout: &Layout, mut ctx: InstallContext<'_>) -> Result<Installed> {
        let job = self.job(&downloaded, layout)?;
        let store = layout.store();
        let prepared = match store.load()?.state.journal {
            None => false,
            Some(Journal::Unpacking { staged: Some(staged), .. }) if layout.staging().is_some() => {
                let staging = layout.staging().expect("checked above");
                if job.finds_staged(&staged, &staging) {
                    true
                } else {
                    undo_unpacking(&store, &staging, &layout.snapshot_dir())?;
                    false
                }
            }
            Some(journal) => return Err(busy(layout, journal)),
        };
        match layout.kind() {
            Some(InstallKind::FolderSwap { install }) => job.folder_swap(install, prepared, &mut ctx),
            Some(InstallKind::Package(kind)) => job.package(*kind, &mut ctx),
            None => Err(not_installed()),
        }
    }

    /// Stages a verified folder-swap update while the app runs, so that
    /// "Restart to update" is only the swap: checks the space, unpacks (or
    /// assembles from the file store) into the staging folder under the
    /// `unpacking` journal, runs the staged check, and records the staged
    /// tree in the journal. The install is not touched; recovery removes
    /// the staged tree if the app ends before the restart. Other kinds of
    /// install have nothing to stage: `Ok` without a change.
    pub fn prepare(&self, downloaded: &Downloaded, layout: &Layout, ctx: &mut InstallContext<'_>) -> Result<()> {
        let job = self.job(downloaded, layout)?;
        let store = layout.store();
        if let Some(journal) = store.load()?.state.journal {
            return Err(busy(layout, journal));
        }
        let Some(InstallKind::FolderSwap { install }) = layout.kind() else {
            return match layout.kind() {
                Some(_) => Ok(()),
                None => Err(not_installed()),
            };
        };
        folder_swaps_here()?;
        let staging = layout.staging().expect("a folder swap has a staging folder");
        job.stage(install, &staging, ctx)?;
        let recorded = shape(&staging, ctx.limits).and_then(|shape| {
            let staged = Staged { sha256: job.offer.artifact.sha256.clone(), tree: TreeId::of(&staging)?, shape };
            store.update(|s| {
                if let Some(Journal::Unpacking { staged: slot, .. }) = &mut s.journal {
                    *slot = Some(staged);
                }
            })
        });
        if let Err(error) = recorded {
            undo_unpacking(&store, &staging, &layout.snapshot_dir())?;
            return Err(error);
        }
        hook(ctx, Step::Prepared);
        Ok(())
    }

    fn job<'a>(&self, downloaded: &Downloaded, layout: &'a Layout) -> Result<Job<'a>> {
        if layout.app_data() != self.config.app_data {
            return Err(UpdateError::Unsupported {
                detail: format!(
                    "the install's layout keeps its state in {}, the updater in {}: the app is misconfigured",
                    layout.app_data().display(),
                    self.config.app_data.display()
                ),
            });
        }
        Ok(Job {
            store: layout.store(),
            layout,
            offer: downloaded.update.offer.clone(),
            version: downloaded.update.version.clone(),
            previous: self.config.installed.clone(),
            sequence: downloaded.update.sequence,
            artifact: downloaded.path.clone(),
            tree: downloaded.tree.clone(),
            objects: crate::delta::objects_dir(self),
        })
    }
}

/// The refusal while another step's journal is open.
fn busy(layout: &Layout, journal: Journal) -> UpdateError {
    match journal {
        Journal::Stuck { during, version, reason } => {
            crate::recovery::stuck_error(layout, &during, version.as_ref(), &reason)
        }
        other => UpdateError::Busy { path: layout.store().path(), step: other.step() },
    }
}

fn folder_swaps_here() -> Result<()> {
    if cfg!(any(target_os = "linux", target_vendor = "apple")) {
        Ok(())
    } else {
        Err(UpdateError::Unsupported { detail: "folder swaps run only on Linux and macOS".to_owned() })
    }
}

fn not_installed() -> UpdateError {
    UpdateError::Unsupported {
        detail: "this is a development run, not an installed app: it installs no updates".to_owned(),
    }
}

/// A digest of the tree at `root` as the file system describes it: every
/// entry's relative path, kind, mode, size, inode and change time, and each
/// link's target, in name order, after the root's own. Reads no file's contents, so it costs a
/// `stat` per entry; the change time moves on any write, `chmod` or rename
/// into the tree, and the inode on any replacement. More than
/// `limits.max_entries` entries is an error: the staged tree held at most
/// that many.
pub(crate) fn shape(root: &Path, limits: UnpackLimits) -> Result<String> {
    use sha2::{Digest as _, Sha256};
    let mut digest = Sha256::new();
    // The root's own mode too: its identity alone would not show a chmod.
    digest.update(stat_line(&fs::symlink_metadata(root).at("inspecting", root)?).as_bytes());
    let mut pending = vec![PathBuf::new()];
    let mut entries = 0u64;
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        let mut names: Vec<OsString> = fs::read_dir(&dir)
            .at("reading", &dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .at("reading", &dir)?;
        names.sort();
        for name in names.into_iter().rev() {
            entries += 1;
            if entries > limits.max_entries {
                return Err(UpdateError::Unpack {
                    archive: root.to_path_buf(),
                    detail: format!("the staged tree has more than {} entries", limits.max_entries),
                });
            }
            let path = relative.join(&name);
            let full = root.join(&path);
            let meta = fs::symlink_metadata(&full).at("inspecting", &full)?;
            digest.update(path.as_os_str().as_encoded_bytes());
            digest.update([0]);
            digest.update(stat_line(&meta).as_bytes());
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&full).at("reading the link", &full)?;
                digest.update(target.as_os_str().as_encoded_bytes());
            } else if meta.is_dir() {
                pending.push(path);
            }
            digest.update([0]);
        }
    }
    Ok(hex::encode(digest.finalize()))
}

#[cfg(unix)]
fn stat_line(meta: &fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt as _;
    format!(
        "{} {:o} {} {} {}.{}",
        kind_letter(meta),
        meta.mode(),
        meta.size(),
        meta.ino(),
        meta.ctime(),
        meta.ctime_nsec()
    )
}

#[cfg(not(unix))]
fn stat_line(meta: &fs::Metadata) -> String {
    format!("{} {} {:?} {:?}", kind_letter(meta), meta.len(), meta.permissions().readonly(), meta.modified().ok())
}

fn kind_letter(meta: &fs::Metadata) -> char {
    let kind = meta.file_type();
    if kind.is_symlink() {
        'l'
    } else if kind.is_dir() {
        'd'
    } else if kind.is_file() {
        'f'
    } else {
        '?'
    }
}

/// One install in progress.
struct Job<'a> {
    store: Store,
    layout: &'a Layout,
    /// What the download was verified against (kept with a package, so a
    /// rollback can verify it again before running it as root).
    offer: signing::policy::Offer,
    version: semver::Version,
    previous: semver::Version,
    sequence: u64,
    /// The artifact, or the kept tree manifest of `tree`.
    artifact: PathBuf,
    /// A tree to assemble from `objects` and the install's own files.
    tree: Option<std::sync::Arc<signing::tree::TreeManifest>>,
    objects: PathBuf,
}

fn hook(ctx: &InstallContext<'_>, step: Step) {
    if let Some(hook) = ctx.crash_hook {
        hook(step);
    }
}

impl Job<'_> {
    /// Whether `staged` is this update's tree, found as it was staged.
    fn finds_staged(&self, staged: &Staged, staging: &Path) -> bool {
        staged.sha256 == self.offer.artifact.sha256
            && TreeId::at(staging).ok().flatten() == Some(staged.tree)
            && shape(staging, UnpackLimits::default()).is_ok_and(|now| now == staged.shape)
    }

    /// `prepared`: the staged tree is in place and checked ([`Updater::prepare`]).
    fn folder_swap(&self, install: &Path, prepared: bool, ctx: &mut InstallContext<'_>) -> Result<Installed> {
        let store = &self.store;
        let staging = self.layout.staging().expect("a folder swap has a staging folder");
        let rollback = self.layout.rollback_copy().expect("a folder swap has a rollback copy");
        let snapshot_dir = self.layout.snapshot_dir();
        let old_tree = match folder_swaps_here().and_then(|()| TreeId::of(install)) {
            Ok(id) => id,
            Err(error) => {
                if prepared {
                    undo_unpacking(store, &staging, &snapshot_dir)?;
                }
                return Err(error);
            }
        };

        if prepared {
            // The data may have grown since the tree was staged.
            if let Err(error) =
                space::ensure(&[Need { dir: &self.layout.updates_dir(), bytes: snapshot::size(self.layout) }])
            {
                undo_unpacking(store, &staging, &snapshot_dir)?;
                return Err(error);
            }
        } else {
            self.stage(install, &staging, ctx)?;
        }
        if let Err(detail) = (ctx.stop_backend)() {
            undo_unpacking(store, &staging, &snapshot_dir)?;
            return Err(UpdateError::StopBackend { detail });
        }
        if let Err(error) = snapshot::take(self.layout) {
            undo_unpacking(store, &staging, &snapshot_dir)?;
            return Err(error);
        }
        hook(ctx, Step::SnapshotTaken);

        let journal = Journal::Swapping {
            swap: SwapRecord {
                version: self.version.clone(),
                previous: self.previous.clone(),
                sequence: self.sequence,
                install: install.to_path_buf(),
                rollback,
                old_tree,
                new_tree: TreeId::of(&staging)?,
                snapshot: snapshot_dir,
            },
            staging: staging.clone(),
        };
        swap_in(store, &journal, ctx)?;
        // The new version is in place: what is left of the download is
        // clean-up, never a failed install (a later fetch clears the rest).
        let _ = fsx::remove_any(&self.artifact);
        if self.tree.is_some() {
            let _ = crate::delta::forget(&self.artifact, &self.objects);
        }
        Ok(Installed { version: self.version.clone(), next: Next::Relaunch })
    }

    /// Every header read and the space checked before anything is written
    /// (an archive that cannot be unpacked, or does not fit, leaves the
    /// disk as it was); then unpack and check the staged tree.
    fn stage(&self, install: &Path, staging: &Path, ctx: &InstallContext<'_>) -> Result<()> {
        let survey = match &self.tree {
            Some(tree) => crate::delta::survey(tree),
            None => unpack::survey(&self.artifact, ctx.limits)?,
        };
        space::ensure(&[
            Need { dir: fsx::parent(install), bytes: survey.disk_bytes() },
            Need { dir: &self.layout.updates_dir(), bytes: snapshot::size(self.layout) },
        ])?;
        self.unpack(install, staging, ctx.limits)?;
        hook(ctx, Step::Unpacked);
        if let Err(detail) = (ctx.check_staged)(staging) {
            undo_unpacking(&self.store, staging, &self.layout.snapshot_dir())?;
            return Err(UpdateError::StagedCheck { staging: staging.to_path_buf(), detail });
        }
        Ok(())
    }

    /// Journal `unpacking`, then unpack (or assemble) into the staging folder.
    fn unpack(&self, install: &Path, staging: &Path, limits: UnpackLimits) -> Result<()> {
        // Leftovers of an update whose journal was lost (a corrupt state).
        fsx::remove_any(staging)?;
        self.store.update(|s| {
            s.journal = Some(Journal::Unpacking {
                version: self.version.clone(),
                install: install.to_path_buf(),
                staging: staging.to_path_buf(),
                staged: None,
            })
        })?;
        let staged = match &self.tree {
            Some(tree) => crate::delta::assemble_from(tree, install, &self.objects, staging, limits),
            None => unpack::unpack_tar_gz(&self.artifact, staging, limits),
        };
        if let Err(error) = staged {
            undo_unpacking(&self.store, staging, &self.layout.snapshot_dir())?;
            return Err(error);
        }
        fsx::sync_dir(fsx::parent(install))
    }
}

/// Undo of `unpacking` (and of a `swapping` that did not swap): the install
/// was never touched; remove what was staged. The paths are the layout's.
pub(crate) fn undo_unpacking(store: &Store, staging: &Path, snapshot: &Path) -> Result<()> {
    fsx::remove_any(staging)?;
    fsx::remove_any(snapshot)?;
    fsx::sync_dir(fsx::parent(staging))?;
    store.update(|s| s.journal = None)
}

/// Journal `swapping`, then the one atomic exchange, then on to probation.
fn swap_in(store: &Store, journal: &Journal, ctx: &InstallContext<'_>) -> Result<()> {
    let Journal::Swapping { swap: SwapRecord { install, rollback, .. }, staging } = journal else {
        unreachable!("swap_in takes swapping")
    };
    // The previous update's rollback copy: the running version is confirmed,
    // so it is no longer needed, and its name is about to be reused.
    fsx::remove_any(rollback)?;
    store.update(|s| s.journal = Some(journal.clone()))?;
    hook(ctx, Step::SwapJournaled);
    swap::exchange(install, staging).at("exchanging the install with the staged update at", staging)?;
    fsx::sync_dir(fsx::parent(install))?;
    hook(ctx, Step::Swapped);
    finish_swapping(store, journal, Some(ctx))
}

/// Finish of `swapping` once the exchange happened: move the old tree to
/// the rollback name and journal probation. Safe to run again. The
/// journal's paths were checked against the layout by the caller.
pub(crate) fn finish_swapping(store: &Store, journal: &Journal, ctx: Option<&InstallContext<'_>>) -> Result<()> {
    let Journal::Swapping { swap, staging } = journal else { unreachable!("finish_swapping takes swapping") };
    let SwapRecord { install, rollback, old_tree, .. } = swap;
    if TreeId::at(staging)? == Some(*old_tree) {
        fsx::remove_any(rollback)?;
        fs::rename(staging, rollback).at("keeping the previous version as", rollback)?;
        fsx::sync_dir(fsx::parent(install))?;
    }
    if let Some(ctx) = ctx {
        hook(ctx, Step::RollbackMoved);
    }
    store.update(|s| s.journal = Some(Journal::Probation { swap: swap.clone(), launches: 0 }))?;
    if let Some(ctx) = ctx {
        hook(ctx, Step::ProbationJournaled);
    }
    Ok(())
}

/// Rolls a folder swap back: exchange again so the old tree is at the
/// install path, restore the data snapshot, remove the bad tree. Journaled
/// as `rolling_back` by the caller first; safe to run again after a crash.
/// The journal's paths were checked against the layout by the caller.
pub(crate) fn finish_rolling_back(journal: &Journal, layout: &Layout, hook_at: &dyn Fn(Step)) -> Result<()> {
    let Journal::RollingBack { swap: SwapRecord { install, rollback, old_tree, new_tree, snapshot, .. }, .. } = journal
    else {
        unreachable!("finish_rolling_back takes rolling_back")
    };
    match TreeId::at(install)? {
        Some(id) if id == *new_tree && TreeId::at(rollback)? == Some(*old_tree) => {
            swap::exchange(install, rollback).at("putting back the previous version from", rollback)?;
            fsx::sync_dir(fsx::parent(install))?;
        }
        Some(id) if id == *old_tree => {}
        _ => return Err(UpdateError::UnknownTree { install: install.clone() }),
    }
    hook_at(Step::SwappedBack);
    snapshot::restore(layout)?;
    hook_at(Step::DataRestored);
    fsx::remove_any(rollback)?;
    fsx::remove_any(snapshot)?;
    fsx::sync_dir(fsx::parent(install))?;
    hook_at(Step::BadTreeRemoved);
    Ok(())
}

// ---------------------------------------------------------------------------
// Package managers

/// A package-manager command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageCommand {
    pub program: OsString,
    pub args: Vec<OsString>,
}

impl std::fmt::Display for PackageCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.program.to_string_lossy())?;
        for arg in &self.args {
            write!(f, " {}", arg.to_string_lossy())?;
        }
        Ok(())
    }
}

/// Runs package-manager commands to completion.
pub trait PackageRunner {
    /// `Err` carries what the user should see: exit status and output tail.
    fn run(&self, command: &PackageCommand) -> std::result::Result<(), String>;
}

/// Runs the command for real.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRunner;

impl PackageRunner for SystemRunner {
    fn run(&self, command: &PackageCommand) -> std::result::Result<(), String> {
        let output = std::process::Command::new(&command.program)
            .args(&command.args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot start it: {e}"))?;
        if output.status.success() {
            return Ok(());
        }
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        let tail: Vec<&str> = text.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
        Err(format!("{} — last lines:\n{}", output.status, tail.join("\n")))
    }
}

/// `dpkg -i FILE` / `rpm -U FILE` (`--oldpackage` to go back), through
/// `pkexec` unless already root.
pub fn package_command(kind: Installer, file: &Path, as_root: bool, rollback: bool) -> Option<PackageCommand> {
    let mut line: Vec<OsString> = match kind {
        Installer::Deb => vec!["dpkg".into(), "-i".into()],
        Installer::Rpm if rollback => vec!["rpm".into(), "-U".into(), "--oldpackage".into()],
        Installer::Rpm => vec!["rpm".into(), "-U".into()],
        _ => return None,
    };
    line.push(file.as_os_str().to_owned());
    if !as_root {
        line.insert(0, "pkexec".into());
    }
    let program = line.remove(0);
    Some(PackageCommand { program, args: line })
}

/// True when this process may run the package manager itself.
pub(crate) fn running_as_root() -> bool {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }
    #[cfg(not(unix))]
    {
        false
    }
}

impl Job<'_> {
    fn package(&self, kind: Installer, ctx: &mut InstallContext<'_>) -> Result<Installed> {
        if self.tree.is_some() {
            let detail = "a tree from the file store is installed by a folder swap, not a package manager".to_owned();
            return Err(UpdateError::Unsupported { detail });
        }
        if !kind.is_package() {
            let detail = format!("{} is not a package the updater can install", kind.as_str());
            return Err(UpdateError::Unsupported { detail });
        }
        let dir = self.layout.packages_dir();
        fs::create_dir_all(&dir).at("creating the folder", &dir)?;
        let name = self.artifact.file_name().expect("a download has a file name").to_os_string();
        let mut kept = OsString::from(format!("{}--", self.version));
        kept.push(&name);
        let package = dir.join(kept);
        let previous_package = find_kept(&dir, &self.previous)?;
        kept::write_offer(&package, &self.offer)?;
        fs::rename(&self.artifact, &package).at("keeping the package as", &package)?;
        fsx::sync_dir(&dir)?;

        space::ensure(&[Need { dir: &self.layout.updates_dir(), bytes: snapshot::size(self.layout) }])?;
        (ctx.stop_backend)().map_err(|detail| UpdateError::StopBackend { detail })?;
        snapshot::take(self.layout)?;
        hook(ctx, Step::SnapshotTaken);
        self.store.update(|s| {
            s.journal = Some(Journal::Package {
                kind,
                version: self.version.clone(),
                previous: self.previous.clone(),
                sequence: self.sequence,
                package: package.clone(),
                previous_package,
                snapshot: self.layout.snapshot_dir(),
                launches: 0,
            })
        })?;
        hook(ctx, Step::PackageJournaled);
        match kind {
            Installer::Deb | Installer::Rpm => {
                let command = package_command(kind, &package, running_as_root(), false).expect("deb/rpm");
                if let Err(detail) = ctx.runner.run(&command) {
                    // The package manager refused: the old version is still
                    // installed (dpkg/rpm keep their own consistency).
                    fsx::remove_any(&self.layout.snapshot_dir())?;
                    kept::remove(&package)?;
                    self.store.update(|s| s.journal = None)?;
                    return Err(UpdateError::Command { command: command.to_string(), detail });
                }
                Ok(Installed { version: self.version.clone(), next: Next::Relaunch })
            }
            _ => {
                windows::start_installer(kind, &package)?;
                Ok(Installed { version: self.version.clone(), next: Next::ExitForInstaller })
            }
        }
    }
}

/// The kept package of `version`, if any: a regular file named
/// `<version>--…` that has its offer beside it — the one whose offer names
/// `version` when several do (`0.2.0--rc` is a version too), else the
/// first, whose check then says why it is not.
pub(crate) fn find_kept(dir: &Path, version: &semver::Version) -> Result<Option<PathBuf>> {
    let prefix = format!("{version}--");
    let Ok(entries) = fs::read_dir(dir) else { return Ok(None) };
    let mut first = None;
    for entry in entries {
        let entry = entry.at("listing", dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix)
            && !name.ends_with(kept::OFFER_SUFFIX)
            && entry.file_type().is_ok_and(|t| t.is_file())
            && fsx::exists(&kept::offer_path(&entry.path()))
        {
            if kept::read(&entry.path()).is_ok_and(|offer| offer.version.cmp_precedence(version).is_eq()) {
                return Ok(Some(entry.path()));
            }
            first.get_or_insert(entry.path());
        }
    }
    Ok(first)
}

/// Kept packages carry the offer they were verified against
/// (`<package>.offer.json`): before a rollback runs one through the
/// package manager — as root — it is verified again against this build's
/// embedded keys, so a file planted in the updates folder is never run.
pub(crate) mod kept {
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Serialize};
    use signing::manifest::PlatformEntry;
    use signing::platform::{Installer, PlatformKey};
    use signing::policy::{Offer, OfferReason};

    use crate::TrustedKeys;
    use crate::error::{Result, UpdateError};
    use crate::fsx;

    pub(crate) const OFFER_SUFFIX: &str = ".offer.json";
    const MAX_OFFER_BYTES: u64 = 64 << 10;

    #[derive(Serialize, Deserialize)]
    pub(crate) struct KeptOffer {
        pub(crate) version: semver::Version,
        platform: PlatformKey,
        artifact: PlatformEntry,
    }

    pub(crate) fn offer_path(package: &Path) -> PathBuf {
        let mut name = package.as_os_str().to_owned();
        name.push(OFFER_SUFFIX);
        PathBuf::from(name)
    }

    pub(crate) fn write_offer(package: &Path, offer: &Offer) -> Result<()> {
        let kept =
            KeptOffer { version: offer.version.clone(), platform: offer.platform, artifact: offer.artifact.clone() };
        fsx::write_atomic(&offer_path(package), &serde_json::to_vec_pretty(&kept).expect("an offer serialises"))
    }

    /// The package and its offer.
    pub(crate) fn remove(package: &Path) -> Result<()> {
        fsx::remove_any(&offer_path(package))?;
        fsx::remove_any(package)
    }

    /// `Ok` when `package` is, byte for byte, the artifact its offer names,
    /// signed by one of `keys` for that version, and that version is
    /// `version` for this system's `installer`; else why not. The offer file
    /// sits in a user-writable folder: any package the release key ever
    /// signed (an old, yanked or halted release) with its own offer beside it
    /// verifies as itself, so what it claims to be is checked too.
    pub(crate) fn verify(
        package: &Path,
        version: &semver::Version,
        installer: Installer,
        keys: Option<&TrustedKeys>,
    ) -> std::result::Result<(), String> {
        let keys = keys.ok_or("this build has no trusted key to verify it with")?;
        let kept = read(package)?;
        if !kept.version.cmp_precedence(version).is_eq() {
            return Err(format!(
                "it is the package of {}, not of {version}",
                crate::unpack::shown(kept.version.to_string().as_bytes())
            ));
        }
        let platform = PlatformKey::host(installer)?;
        if kept.platform != platform {
            return Err(format!("it is a package for {}, not for {platform}", kept.platform));
        }
        let offer = Offer {
            version: kept.version,
            reason: OfferReason::Release,
            platform: kept.platform,
            artifact: kept.artifact,
        };
        let file = fsx::open_regular(package).map_err(|e| format!("{}: {e}", package.display()))?;
        signing::policy::verify_download(file, &offer, keys).map_err(|e| e.to_string())
    }

    /// The offer kept beside `package`.
    pub(crate) fn read(package: &Path) -> std::result::Result<KeptOffer, String> {
        let path = offer_path(package);
        let bytes = fsx::read_capped(&path, MAX_OFFER_BYTES).map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{} is damaged ({e})", path.display()))
    }

    /// The error a rollback reports when the kept package does not verify.
    pub(crate) fn refused(package: &Path, why: &str) -> UpdateError {
        UpdateError::Unsupported {
            detail: format!("the kept package {} does not verify ({why}), so it was not installed", package.display()),
        }
    }
}

// ---------------------------------------------------------------------------
// Windows installers

#[cfg(windows)]
mod windows {
    //! nsis and msi: the installer replaces the app's files, so it must run
    //! after the backend has exited (tauri#9950: sidecars still running) and
    //! while the shell exits. Flags as tauri-plugin-updater passes them for
    //! its passive mode.

    use std::path::Path;
    use std::process::Command;

    use crate::error::{Result, UpdateError};
    use signing::platform::Installer;

    pub(super) fn start_installer(kind: Installer, file: &Path) -> Result<()> {
        let mut command = match kind {
            Installer::Nsis => {
                let mut c = Command::new(file);
                c.args(["/P", "/R"]);
                c
            }
            Installer::Msi => {
                let mut c = Command::new("msiexec.exe");
                c.arg("/i").arg(file).arg("/passive");
                c
            }
            other => {
                return Err(UpdateError::Unsupported {
                    detail: format!("{} is not a Windows installer", other.as_str()),
                });
            }
        };
        command.spawn().map(drop).map_err(|e| UpdateError::Command {
            command: format!("{command:?}"),
            detail: format!("cannot start the installer: {e}"),
        })
    }
}

#[cfg(not(windows))]
mod windows {
    use std::path::Path;

    use crate::error::{Result, UpdateError};
    use signing::platform::Installer;

    pub(super) fn start_installer(kind: Installer, _file: &Path) -> Result<()> {
        Err(UpdateError::Unsupported { detail: format!("{} installers run only on Windows", kind.as_str()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `0.2.0--rc1` is a version too: its kept package also starts with
    /// `0.2.0--`, and the one found for 0.2.0 is the one whose offer says so.
    #[test]
    fn the_kept_package_of_a_version_is_the_one_its_offer_names() {
        let dir = tempfile::tempdir().unwrap();
        let versions: Vec<String> = (1..10).map(|n| format!("0.2.0--rc{n}")).chain(["0.2.0".to_owned()]).collect();
        for version in &versions {
            let package = dir.path().join(format!("{version}--hudson.deb"));
            fs::write(&package, version).unwrap();
            let offer = serde_json::json!({"version": version, "platform": "linux-x86_64-deb", "artifact": {
                "url": "https://u.example/hudson.deb", "size": 1, "sha256": "00".repeat(32), "signature": "s"}});
            fs::write(kept::offer_path(&package), offer.to_string()).unwrap();
        }
        let found = find_kept(dir.path(), &"0.2.0".parse().unwrap()).unwrap().unwrap();
        assert_eq!(found, dir.path().join("0.2.0--hudson.deb"));
        let rc = find_kept(dir.path(), &"0.2.0--rc4".parse().unwrap()).unwrap().unwrap();
        assert_eq!(rc, dir.path().join("0.2.0--rc4--hudson.deb"));
    }

    #[test]
    fn package_commands_use_pkexec_unless_root() {
        let file = Path::new("/data/updates/packages/0.2.0--hudson_0.2.0_amd64.deb");
        let deb = package_command(Installer::Deb, file, false, false).unwrap();
        assert_eq!(deb.to_string(), "pkexec dpkg -i /data/updates/packages/0.2.0--hudson_0.2.0_amd64.deb");
        assert_eq!(
            package_command(Installer::Deb, file, true, false).unwrap().to_string(),
            format!("dpkg -i {}", file.display())
        );
        assert_eq!(
            package_command(Installer::Rpm, file, true, false).unwrap().to_string(),
            format!("rpm -U {}", file.display())
        );
        assert_eq!(
            package_command(Installer::Rpm, file, false, true).unwrap().to_string(),
            format!("pkexec rpm -U --oldpackage {}", file.display())
        );
        assert!(package_command(Installer::Msi, file, true, false).is_none());
    }
}
