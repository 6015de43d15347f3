//! One running app's update session, without a window: what the Updates
//! window shows ([`View`]), the probation of a new version, the checker
//! thread, the download waiting for "Restart to update", and the order of
//! an install or a rollback. The shell gives it a [`Host`] — the few things
//! only the shell can do (stop and start its backend, relaunch, quit for an
//! installer, show a window) — and puts [`Session::view`] on screen.
//!
//! Every step is logged twice: a sentence for people, and a
//! [`ShellEvent`] line that tests and tools read. The sentences may change
//! freely; the events are the protocol.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hudson_lifecycle::hooks;
use hudson_lifecycle::logs::Log;
use hudson_lifecycle::shell_event::ShellEvent;
use hudson_lifecycle::supervisor::Status;
use signing::policy::OfferReason;
use time::OffsetDateTime;

use crate::policy::{Install, Setup, Verdict};
use crate::recovery::{MAX_PROBATION_LAUNCHES, Probation, Startup};
use crate::status::{OfferView, Phase, View};
use crate::{
    CheckOutcome, Downloaded, InstallKind, Installed, Layout, Next, SystemRunner, UnpackLimits, Update, Updater,
};

/// What only the shell can do. Called from the session's own threads.
pub trait Host: Send + Sync + 'static {
    /// Stops the backend and returns once it has exited.
    fn stop_backend(&self);
    /// Starts the backend again (an install failed after stopping it).
    fn start_backend(&self);
    /// A verified download waits for "Restart to update" (the tray says so).
    fn update_ready(&self, version: &semver::Version);
    /// Brings the Updates window forward: a rollback the user must hear about.
    fn show_updates(&self);
    /// Replaces this process with `program` (the new version, or the old one
    /// after a rollback). Returns only in tests.
    fn relaunch(&self, program: &Path);
    /// Quits, so that the Windows installer can replace the files.
    fn exit_for_installer(&self);
}

/// Everything an install needs that the check does not.
struct Live {
    updater: Updater,
    /// Every path an update touches.
    layout: Layout,
    interval: Option<Duration>,
    /// What a staged tree must be.
    install: Install,
    /// The deb's and rpm's package name (their repository files' names).
    package_name: String,
}

/// The update state of one running app.
pub struct Session {
    live: Option<Live>,
    log: Log,
    host: Arc<dyn Host>,
    view: Mutex<View>,
    probation: Mutex<Option<Probation>>,
    downloaded: Mutex<Option<Downloaded>>,
    wake: Mutex<Option<Sender<()>>>,
    installing: AtomicBool,
    /// A rollback could not put the data back: no backend may start on
    /// data the failed version changed (the next start retries).
    hold_backend: AtomicBool,
    /// The path this process was started from (resolved before any swap):
    /// what a relaunch starts.
    program: PathBuf,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    /// Sets up the updater from the build's configuration and runs the
    /// journal's recovery, before the backend is spawned: a crash in the
    /// middle of an update ends here as the old or the new version. Never
    /// fails: what is missing becomes the window's "unavailable" message.
    pub fn start(setup: Setup<'_>, log: Log, host: Arc<dyn Host>) -> Arc<Session> {
        let program = setup.program.as_ref().cloned().unwrap_or_default();
        let config = setup.config;
        let mut session = Session::new(setup.installed, program, log, host);
        if let Some(settings) = &config.updates {
            session.set(|v| {
                v.channel = Some(settings.channel.clone());
                v.endpoint = Some(settings.endpoint.clone());
            });
        }
        let opened = crate::open(setup);
        if let (Some(recorded), Err(why)) = (config.install_kind, &opened.install) {
            // An installed app that cannot find itself: recovery leaves any
            // update in progress alone rather than guess.
            session.log.shell(&format!(
                "updates: this {} install cannot tell where it is ({why}); an update in progress is left as it is",
                recorded.as_str()
            ));
        }
        // Recovery first, whether or not this build checks for updates: the
        // version that ran before may have started this update.
        match (&opened.layout, &opened.installed) {
            (Ok(layout), Ok(version)) => session.recover(layout, version),
            (Err(e), _) | (_, Err(e)) => session.log.shell(&format!("updates: {e}; no update recovery")),
        }
        match (opened.updater, opened.layout, opened.install) {
            (Ok(updater), Ok(layout), Ok(install)) => {
                if let Some(copy) = layout.rollback_copy() {
                    session.set(|v| v.rollback_copy = copy.exists().then(|| copy.display().to_string()));
                }
                session.live = Some(Live {
                    updater,
                    layout,
                    interval: opened.interval,
                    install,
                    package_name: opened.package_name,
                });
            }
            (Err(reason), _, _) | (_, Err(reason), _) | (_, _, Err(reason)) => {
                session.log.shell(&format!("updates: {reason}"));
                session.set_unavailable(reason);
            }
        }
        Arc::new(session)
    }

    /// A session for a build whose configuration could not be read: no
    /// recovery, no checks, and the window says why.
    pub fn unavailable(installed: &str, reason: &str, log: Log, host: Arc<dyn Host>) -> Arc<Session> {
        let session = Session::new(installed, PathBuf::new(), log, host);
        session.set_unavailable(reason.to_owned());
        Arc::new(session)
    }

    fn new(installed: &str, program: PathBuf, log: Log, host: Arc<dyn Host>) -> Session {
        Session {
            live: None,
            log,
            host,
            view: Mutex::new(View { installed: installed.to_owned(), ..View::default() }),
            probation: Mutex::new(None),
            downloaded: Mutex::new(None),
            wake: Mutex::new(None),
            installing: AtomicBool::new(false),
            hold_backend: AtomicBool::new(false),
            program,
        }
    }

    fn set_unavailable(&self, reason: String) {
        self.set(|v| {
            v.phase = Phase::Unavailable;
            v.message = reason;
        });
    }

    fn set(&self, edit: impl FnOnce(&mut View)) {
        edit(&mut lock(&self.view));
    }

    pub fn view(&self) -> View {
        lock(&self.view).clone()
    }

    /// True when the backend must not start; the Updates window says why.
    pub fn holds_backend(&self) -> bool {
        self.hold_backend.load(Ordering::SeqCst)
    }

    /// True when an earlier update was rolled back and the user should hear why.
    pub fn has_notice(&self) -> bool {
        lock(&self.view).notice.is_some()
    }

    pub fn dismiss_notice(&self) -> Result<(), String> {
        if let Some(live) = &self.live {
            crate::dismiss_notice(&live.updater.config().app_data).map_err(|e| e.to_string())?;
        }
        self.set(|v| v.notice = None);
        Ok(())
    }

    /// Replaces the updater's network limits and clock (tests).
    #[doc(hidden)]
    pub fn with_updater(mut self: Arc<Self>, edit: impl FnOnce(Updater) -> Updater) -> Arc<Self> {
        let session = Arc::get_mut(&mut self).expect("with_updater before the session is shared");
        if let Some(live) = session.live.take() {
            session.live = Some(Live { updater: edit(live.updater), ..live });
        }
        self
    }

    /// The journal: finish or undo what a crash interrupted.
    fn recover(&self, layout: &Layout, installed: &semver::Version) {
        let log = &self.log;
        match crate::startup(layout, installed, &SystemRunner) {
            Ok(Startup::Normal { notice, warning }) => {
                if let Some(warning) = warning {
                    log.shell(&format!("updates: {warning}"));
                }
                if let Some(notice) = notice {
                    let text = notice.describe();
                    log.shell(&format!("updates: {text}"));
                    self.set(|v| v.notice = Some(text));
                }
            }
            Ok(Startup::Probation(probation)) => {
                if let Some(text) = probation.stuck() {
                    log.shell(&format!("updates: {text}"));
                    self.set(|v| {
                        v.phase = Phase::Error;
                        v.message = text.clone();
                        v.notice = Some(text);
                    });
                } else {
                    let version = probation.version();
                    log.shell(&format!(
                        "updates: Hudson {version} starts on probation (launch {} of {MAX_PROBATION_LAUNCHES})",
                        probation.launches(),
                    ));
                    log.event(&ShellEvent::ProbationStarted {
                        version: version.to_string(),
                        launch: probation.launches(),
                    });
                    self.set(|v| v.message = format!("Hudson {version} was just installed: checking that it starts…"));
                }
                *lock(&self.probation) = Some(*probation);
            }
            Err(error) => {
                if error.holds_backend() {
                    self.hold_backend.store(true, Ordering::SeqCst);
                }
                log.shell(&format!("updates: the last update could not be finished: {error}"));
                let text = format!("The last update could not be finished: {error}");
                self.set(|v| {
                    v.phase = Phase::Error;
                    v.message = text.clone();
                    v.notice = Some(text);
                });
            }
        }
    }

    /// The supervisor's statuses decide probation. Called on the supervisor
    /// thread, so a rollback (which stops the backend through the
    /// supervisor) runs on a thread of its own.
    pub fn on_backend_status(self: &Arc<Self>, status: &Status) {
        let mut slot = lock(&self.probation);
        let failure = match slot.as_ref().map(|probation| probation.judge(status)) {
            None | Some(Verdict::Pending) => return,
            Some(Verdict::Pass) => None,
            Some(Verdict::Fail(reason)) => Some(reason),
        };
        let Some(probation) = slot.take() else { return };
        drop(slot);
        match failure {
            None => self.pass(probation),
            Some(reason) => {
                let session = Arc::clone(self);
                std::thread::spawn(move || session.roll_back(probation, &reason));
            }
        }
    }

    fn pass(&self, probation: Probation) {
        let confirmed = probation.version().clone();
        let stuck = probation.stuck().is_some();
        match probation.confirm() {
            Ok(()) if stuck => self.log.shell(&format!(
                "updates: Hudson {confirmed} started and passed its health check: the record of the \
                 unfinished update was cleared and updates resume"
            )),
            Ok(()) => {
                self.log.shell(&format!("updates: Hudson {confirmed} passed probation"));
                self.log.event(&ShellEvent::ProbationPassed { version: confirmed.to_string() });
            }
            Err(e) => return self.log.shell(&format!("updates: cannot close probation: {e}")),
        }
        self.set(|v| v.message = format!("Hudson {confirmed} is installed and running."));
    }

    /// The first page has loaded: start checking (once).
    pub fn page_loaded(self: &Arc<Self>) {
        self.ensure_checker();
    }

    /// "Check for updates": check now (starting the checker if needed).
    pub fn check_now(self: &Arc<Self>) {
        if self.live.is_some()
            && !self.ensure_checker()
            && let Some(wake) = lock(&self.wake).as_ref()
        {
            let _ = wake.send(());
        }
    }

    /// Starts the checker thread unless it runs; true when this call started
    /// it. It checks at once, then every `interval-hours` and when woken.
    fn ensure_checker(self: &Arc<Self>) -> bool {
        let Some(interval) = self.live.as_ref().map(|live| live.interval) else { return false };
        let mut wake = lock(&self.wake);
        if wake.is_some() {
            return false;
        }
        let (tx, rx) = mpsc::channel::<()>();
        *wake = Some(tx);
        let session = Arc::clone(self);
        std::thread::Builder::new()
            .name("updates".into())
            .spawn(move || {
                loop {
                    session.check_once();
                    let next = interval.map(|every| OffsetDateTime::now_utc() + every);
                    session.set(|v| v.next_check = next.map(rfc3339));
                    let waited = match interval {
                        Some(every) => rx.recv_timeout(every),
                        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    };
                    if matches!(waited, Err(RecvTimeoutError::Disconnected)) {
                        return;
                    }
                }
            })
            .expect("the updates thread starts");
        true
    }

    /// One check, and the download of what it offers.
    fn check_once(&self) {
        let Some(live) = &self.live else { return };
        if self.installing.load(Ordering::SeqCst) {
            return;
        }
        if let Some(ready) = lock(&self.downloaded).as_ref() {
            self.log.shell(&format!("updates: Hudson {} is ready; not checking again", ready.update().version));
            return;
        }
        self.set(|v| {
            v.phase = Phase::Checking;
            v.message = "Checking for updates…".into();
        });
        let outcome = live.updater.check();
        self.log.event(&match &outcome {
            Ok(outcome) => outcome.event(),
            Err(_) => ShellEvent::UpdateChecked { outcome: "error".into(), version: None, refused: None },
        });
        let clock = live.updater.server_clock();
        self.set(|v| {
            v.last_check = Some(rfc3339(OffsetDateTime::now_utc()));
            if let Some(clock) = clock {
                v.clock = Some(format!("{} (measured {})", clock.describe(), rfc3339(clock.measured_at)));
            }
        });
        let (phase, message) = match &outcome {
            Ok(outcome) => outcome.status(&live.updater.config().installed),
            Err(error) => (Phase::Error, format!("Could not check for updates: {error}")),
        };
        if let Ok(CheckOutcome::Refused(refusal)) = &outcome {
            self.log.shell(&format!("updates: refused: {}", refusal.detail));
        }
        let offer = outcome.ok().and_then(CheckOutcome::into_offer);
        self.log.shell(&format!("updates: {message}"));
        self.set(|v| {
            v.phase = phase;
            v.message = message;
            v.progress = None;
            v.offer = offer.as_ref().map(|(update, downgrade)| OfferView::of(update, *downgrade));
        });
        if let Some((update, downgrade)) = offer {
            // The repository offers what stock updaters are offered: a newer
            // release at 100 %. A yank's way back (apt and dnf never
            // downgrade) or a partial rollout is still installed by the app.
            if let Some(InstallKind::Package(kind)) = live.layout.kind()
                && !downgrade
                && update.offer.reason == OfferReason::Release
                && update.rollout_percent == 100
                && let Some(source) = crate::system_source::find(*kind, &live.package_name, Path::new("/"))
            {
                return self.defer(&update, &source);
            }
            self.download(live, &update);
        }
    }

    /// The package configured the system's package manager for the
    /// channel's repository: the update comes from there, like every other
    /// package's, and the app says how instead of installing it itself.
    fn defer(&self, update: &Update, source: &crate::SystemSource) {
        let version = &update.version;
        let message = format!(
            "Hudson {version} is available through your system's software updates (its source is {}). \
             Install it from your software updates, or now in a terminal: {}",
            source.path.display(),
            source.command
        );
        self.log.shell(&format!("updates: {message}"));
        self.log.event(&ShellEvent::UpdateDeferred {
            version: version.to_string(),
            source: source.path.display().to_string(),
        });
        self.set(|v| {
            v.phase = Phase::Waiting;
            v.message = message;
        });
    }

    fn download(&self, live: &Live, update: &Update) {
        let mut on_progress = |p: crate::Progress| self.set(|v| v.progress = Some((p.done, p.total)));
        // A folder swap whose release is in the file store fetches only the
        // files it lacks; anything wrong there, up to the staged tree's
        // check, falls back to the artifact.
        if let (Some(InstallKind::FolderSwap { install }), Some(_)) = (live.layout.kind(), &update.offer.artifact.tree)
            && std::env::var_os(hooks::ENV_UPDATE_FULL_DOWNLOAD).is_none_or(|v| v != "1")
        {
            let error = match live.updater.fetch_tree(update, install, UnpackLimits::default(), &mut on_progress) {
                Ok((downloaded, report)) => {
                    self.log.shell(&format!(
                        "updates: Hudson {} fetched from the file store: {} bytes ({} object(s), {} resumed) instead of the {}-byte download; {} of {} files from this install",
                        update.version,
                        report.downloaded,
                        report.fetched,
                        report.resumed,
                        report.full_size,
                        report.reused,
                        report.files
                    ));
                    self.log.event(&ShellEvent::UpdateDelta {
                        version: update.version.to_string(),
                        downloaded: report.downloaded,
                        full: report.full_size,
                        fetched: report.fetched as u64,
                        reused: report.reused as u64,
                    });
                    self.downloaded(&update.version);
                    match self.prepare(live, &downloaded) {
                        Ok(()) => return self.ready(downloaded),
                        // The tree could not be built or failed its check:
                        // the artifact may still do.
                        Err(
                            error @ (crate::UpdateError::Delta { .. }
                            | crate::UpdateError::Unpack { .. }
                            | crate::UpdateError::StagedCheck { .. }),
                        ) => error,
                        Err(error) => {
                            let _ = live.updater.discard_fetched();
                            return self.install_failed(&update.version, &error);
                        }
                    }
                }
                Err(error) => error,
            };
            self.log.shell(&format!(
                "updates: the file store could not be used ({error}); downloading the full update instead"
            ));
            if let Err(e) = live.updater.discard_fetched() {
                self.log.shell(&format!("updates: {e}"));
            }
            self.log.event(&ShellEvent::UpdateDeltaFailed {
                version: update.version.to_string(),
                reason: error.to_string(),
            });
        }
        let downloaded = match live.updater.download(update, &mut on_progress) {
            Ok(downloaded) => downloaded,
            Err(error) => {
                let message = format!("The update could not be downloaded: {error}");
                self.log.shell(&format!("updates: {message}"));
                self.log.event(&ShellEvent::UpdateDownloadFailed {
                    version: update.version.to_string(),
                    refused: error.is_refused_download(),
                });
                return self.set(|v| {
                    v.phase = Phase::Error;
                    v.message = message;
                });
            }
        };
        self.downloaded(&update.version);
        match self.prepare(live, &downloaded) {
            Ok(()) => self.ready(downloaded),
            Err(error) => self.install_failed(&update.version, &error),
        }
    }

    fn downloaded(&self, version: &semver::Version) {
        self.log.shell(&format!("updates: Hudson {version} downloaded and verified"));
        self.log.event(&ShellEvent::UpdateDownloaded { version: version.to_string() });
    }

    /// Stages a verified download beside the install while the app runs
    /// (folder swaps; other installs have nothing to stage), so that
    /// "Restart to update" is only the swap.
    fn prepare(&self, live: &Live, downloaded: &Downloaded) -> crate::Result<()> {
        let version = &downloaded.update().version;
        if !matches!(live.layout.kind(), Some(InstallKind::FolderSwap { .. })) {
            return Ok(());
        }
        self.set(|v| {
            v.progress = None;
            v.message = format!("Checking Hudson {version} before it is installed…");
        });
        live.updater.prepare_for(downloaded, &live.layout, &live.install)?;
        self.log.shell(&format!("updates: Hudson {version} is unpacked beside this install and checked"));
        self.log.event(&ShellEvent::UpdatePrepared { version: version.to_string() });
        Ok(())
    }

    /// An install failed before it changed anything: say so; the next
    /// check offers the update again.
    fn install_failed(&self, version: &semver::Version, error: &crate::UpdateError) {
        self.log.shell(&format!("updates: installing Hudson {version} failed: {error}"));
        self.log.event(&ShellEvent::UpdateInstallFailed { version: version.to_string() });
        self.set(|v| {
            v.phase = Phase::Error;
            v.message = format!("Hudson {version} could not be installed, nothing was changed: {error}");
        });
    }

    /// A verified (and, for a folder swap, staged) update waits for
    /// "Restart to update".
    fn ready(&self, downloaded: Downloaded) {
        let version = downloaded.update().version.clone();
        *lock(&self.downloaded) = Some(downloaded);
        self.set(|v| {
            v.phase = Phase::Ready;
            v.message = format!("Hudson {version} is ready. Restart Hudson to update.");
        });
        self.host.update_ready(&version);
        if std::env::var_os(hooks::ENV_UPDATE_RESTART_WHEN_READY).is_some_and(|v| v == "1") {
            self.log.shell("updates: restarting at once (HUDSON_UPDATE_RESTART_WHEN_READY=1)");
            match self.install_ready() {
                Ok((downloaded, _)) => self.install(downloaded),
                Err(e) => self.log.shell(&format!("updates: {e}")),
            }
        }
    }

    /// "Restart to update": installs the verified download on a thread of
    /// its own, then starts the new version; the window follows the phase.
    pub fn restart_to_update(self: &Arc<Self>) -> Result<String, String> {
        let (downloaded, version) = self.install_ready()?;
        let session = Arc::clone(self);
        std::thread::spawn(move || session.install(downloaded));
        Ok(format!("Installing Hudson {version}…"))
    }

    /// Takes the verified download for an install (once).
    fn install_ready(&self) -> Result<(Downloaded, semver::Version), String> {
        if self.live.is_none() {
            return Err(self.view().message);
        }
        let Some(downloaded) = lock(&self.downloaded).take() else {
            return Err("No update is ready to install yet.".into());
        };
        if self.installing.swap(true, Ordering::SeqCst) {
            return Err("The update is already being installed.".into());
        }
        let version = downloaded.update().version.clone();
        self.set(|v| {
            v.phase = Phase::Installing;
            v.message = format!("Installing Hudson {version}: Hudson restarts in a moment…");
        });
        Ok((downloaded, version))
    }

    /// Installs, then relaunches; on failure the backend is started again.
    fn install(&self, downloaded: Downloaded) {
        let Some(live) = &self.live else { return };
        let version = downloaded.update().version.clone();
        let stopped = AtomicBool::new(false);
        let mut stop_backend = || {
            self.host.stop_backend();
            stopped.store(true, Ordering::SeqCst);
            Ok(())
        };
        self.log.shell(&format!("updates: installing Hudson {version}"));
        self.log.event(&ShellEvent::UpdateInstalling { version: version.to_string() });
        match live.updater.install_into(downloaded, &live.layout, &live.install, &mut stop_backend) {
            Ok(Installed { next: Next::Relaunch, .. }) => {
                self.log.shell(&format!("updates: Hudson {version} installed; relaunching {}", self.program.display()));
                self.host.relaunch(&self.program);
            }
            Ok(Installed { next: Next::ExitForInstaller, .. }) => {
                self.log.shell(&format!("updates: the installer of Hudson {version} takes over"));
                self.host.exit_for_installer();
            }
            Err(error) => {
                self.installing.store(false, Ordering::SeqCst);
                self.install_failed(&version, &error);
                if stopped.load(Ordering::SeqCst) {
                    self.host.start_backend();
                }
            }
        }
    }

    /// The new version failed probation: put the previous one back, relaunch.
    fn roll_back(&self, probation: Probation, reason: &str) {
        let version = probation.version().clone();
        self.log.shell(&format!("updates: Hudson {version} failed probation: {reason}; rolling back"));
        self.log.event(&ShellEvent::ProbationFailed { version: version.to_string(), reason: reason.to_owned() });
        let mut stop_backend = || {
            self.host.stop_backend();
            Ok(())
        };
        match probation.fail(reason, &mut stop_backend, &SystemRunner) {
            Ok(rolled) => {
                let text = rolled.notice.describe();
                self.log.shell(&format!("updates: {text}"));
                self.log.event(&ShellEvent::RolledBack { version: version.to_string(), restored: rolled.restored });
                if rolled.restored {
                    // The path this process was started from holds the
                    // previous version again.
                    return self.host.relaunch(&self.program);
                }
                self.set(|v| v.notice = Some(text));
            }
            Err(error) => {
                self.log.shell(&format!("updates: the rollback of Hudson {version} failed: {error}"));
                self.set(|v| {
                    v.phase = Phase::Error;
                    v.message = format!("Hudson {version} failed and could not be undone: {error}");
                });
            }
        }
        self.host.show_updates();
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
