//! In-app updates: the shell's side of `hudson-updater`, which makes every
//! decision (trust, download, install, recovery). This module only decides
//! *when* (after the first page has loaded, then every `interval-hours`, and
//! on "Check for updates"), tells the Updates window and the tray what is
//! going on in plain words, and does the two things only the shell can:
//! stop its backend before a swap, and start the new version.
//!
//! Order at startup (before the backend is spawned): [`Updates::start`]
//! runs the updater's journal recovery, so a crash in the middle of an
//! update ends here as the old or the new version. A new version's first
//! launches are on probation: the backend's first `Ready` of that version
//! confirms it; `Failed`, `Damaged` or `UpdateRequired` roll it back and
//! relaunch the previous version, which then shows why.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hudson_lifecycle::contract::ShellConfig;
use hudson_lifecycle::hooks;
use hudson_lifecycle::logs::Log;
use hudson_lifecycle::shell_event::ShellEvent;
use hudson_lifecycle::supervisor::Status;
use hudson_updater::{
    CheckOutcome, Downloaded, Install, Installed, Layout, Next, OfferView, PackageKind, Phase, Probation, Setup,
    Startup, SystemRunner, Update, Updater, Verdict, View,
};
use tauri::{AppHandle, Manager};
use time::OffsetDateTime;

use crate::Shell;

/// The public keys this build trusts, one per line: compiled in by
/// `cargo xtask dist` (step 3 sets the variable for `cargo build`). A build
/// made any other way has none and cannot accept an update. Nothing at run
/// time (environment, app-data folder, command line) can add one.
const EMBEDDED_KEYS: Option<&str> = option_env!("HUDSON_UPDATER_TRUSTED_KEYS");

/// Everything an install needs that the check does not.
struct Live {
    updater: Updater,
    /// Where this install and its data are: every path an update touches.
    layout: Layout,
    interval: Option<Duration>,
    /// This install: what a staged tree must be.
    install: Install,
}

/// The shell's update state, managed by Tauri.
pub struct Updates {
    live: Option<Arc<Live>>,
    view: Arc<Mutex<View>>,
    probation: Mutex<Option<Probation>>,
    downloaded: Arc<Mutex<Option<Downloaded>>>,
    wake: Mutex<Option<Sender<()>>>,
    installing: AtomicBool,
    /// A rollback could not put the data back: no backend may start on
    /// data the failed version changed (the next start retries).
    hold_backend: AtomicBool,
    /// The path this shell was started from (resolved at start, before
    /// any swap): what a relaunch starts.
    program: PathBuf,
}

impl Updates {
    /// Sets up the updater from the build's configuration and runs its
    /// startup recovery. Never fails: what is missing becomes the window's
    /// "unavailable" message.
    pub fn start(
        app: &AppHandle,
        config: Result<&ShellConfig, &String>,
        resources: Option<&Path>,
        log: &Log,
    ) -> Updates {
        let installed = app.package_info().version.to_string();
        let view = View { installed: installed.clone(), ..View::default() };
        // Looked up once, for recovery, the updater and relaunches alike.
        let exe = std::env::current_exe().and_then(|p| p.canonicalize());
        let app_data = app.path().app_data_dir().map_err(|e| format!("cannot find the app-data folder: {e}"));
        let version = installed
            .parse::<semver::Version>()
            .map_err(|e| format!("this build's version {installed:?} is not a version ({e})"));
        let mut updates = Updates {
            live: None,
            view: Arc::new(Mutex::new(view)),
            probation: Mutex::new(None),
            downloaded: Arc::new(Mutex::new(None)),
            wake: Mutex::new(None),
            installing: AtomicBool::new(false),
            hold_backend: AtomicBool::new(false),
            program: exe.as_ref().cloned().unwrap_or_default(),
        };
        let config = match config {
            Ok(config) => config,
            Err(reason) => {
                updates.unavailable(reason);
                return updates;
            }
        };
        if let Some(settings) = &config.updates {
            updates.set(|v| {
                v.channel = Some(settings.channel.clone());
                v.endpoint = Some(settings.endpoint.clone());
            });
        }
        // Where this install is and where its data lives: recovery acts on
        // these paths only, never on paths read back from the journal.
        let opened = hudson_updater::open(Setup {
            config,
            app_data,
            program: exe.map_err(|e| format!("cannot find Hudson's own program ({e})")),
            resources,
            package: package_kind(),
            installed: version.clone(),
            embedded_keys: EMBEDDED_KEYS,
        });
        if let (Some(recorded), Err(why)) = (config.install_kind, &opened.install) {
            // An installed app that cannot find itself: recovery leaves any
            // update in progress alone rather than guess.
            log.shell(&format!(
                "updates: this {} install cannot tell where it is ({why}); an update in progress is left as it is",
                recorded.as_str()
            ));
        }
        // Recovery first, whether or not this build checks for updates: the
        // version that was running before may have started this update.
        match (&opened.layout, &version) {
            (Ok(layout), Ok(version)) => updates.recover(layout, version, log),
            (Err(e), _) => log.shell(&format!("updates: {e}; no update recovery")),
            (_, Err(e)) => log.shell(&format!("updates: {e}")),
        }
        let live = match (opened.updater, opened.layout, opened.install) {
            (Ok(updater), Ok(layout), Ok(install)) => Ok(Live { updater, layout, interval: opened.interval, install }),
            (Err(reason), _, _) | (_, Err(reason), _) | (_, _, Err(reason)) => Err(reason),
        };
        match live {
            Ok(live) => {
                if let Some(copy) = live.layout.rollback_copy() {
                    updates.set(|v| v.rollback_copy = copy.exists().then(|| copy.display().to_string()));
                }
                updates.live = Some(Arc::new(live));
            }
            Err(reason) => {
                log.shell(&format!("updates: {reason}"));
                updates.unavailable(&reason);
            }
        }
        updates
    }

    fn unavailable(&mut self, reason: &str) {
        self.set(|v| {
            v.phase = Phase::Unavailable;
            v.message = reason.to_owned();
        });
    }

    fn set(&self, edit: impl FnOnce(&mut View)) {
        edit(&mut self.view.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn view(&self) -> View {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The journal: finish or undo what a crash interrupted.
    fn recover(&self, layout: &Layout, installed: &semver::Version, log: &Log) {
        match hudson_updater::startup(layout, installed, &SystemRunner) {
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
            Ok(Startup::Probation(probation)) if probation.stuck().is_some() => {
                let text = probation.stuck().unwrap_or_default();
                log.shell(&format!("updates: {text}"));
                self.set(|v| {
                    v.phase = Phase::Error;
                    v.message = text.clone();
                    v.notice = Some(text);
                });
                *self.probation.lock().unwrap_or_else(|e| e.into_inner()) = Some(*probation);
            }
            Ok(Startup::Probation(probation)) => {
                log.shell(&format!(
                    "updates: Hudson {} starts on probation (launch {} of {})",
                    probation.version(),
                    probation.launches(),
                    hudson_updater::MAX_PROBATION_LAUNCHES
                ));
                log.event(&ShellEvent::ProbationStarted {
                    version: probation.version().to_string(),
                    launch: probation.launches(),
                });
                self.set(|v| {
                    v.message = format!("Hudson {} was just installed: checking that it starts…", probation.version())
                });
                *self.probation.lock().unwrap_or_else(|e| e.into_inner()) = Some(*probation);
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

    /// True when the backend must not start (see `hold_backend`); the
    /// Updates window says why.
    pub fn holds_backend(&self) -> bool {
        self.hold_backend.load(Ordering::SeqCst)
    }

    /// True when an earlier update was rolled back and the user should hear why.
    pub fn has_notice(&self) -> bool {
        self.view().notice.is_some()
    }

    pub fn dismiss_notice(&self) -> Result<(), String> {
        if let Some(live) = &self.live {
            hudson_updater::dismiss_notice(&live.updater.config().app_data).map_err(|e| e.to_string())?;
        }
        self.set(|v| v.notice = None);
        Ok(())
    }

    /// The supervisor's statuses decide probation. Called on the supervisor
    /// thread, so a rollback (which stops the backend through the
    /// supervisor) runs on a thread of its own.
    pub fn on_backend_status(&self, app: &AppHandle, status: &Status) {
        let mut slot = self.probation.lock().unwrap_or_else(|e| e.into_inner());
        let Some(verdict) = slot.as_ref().map(|probation| probation.judge(status)) else { return };
        let reason = match verdict {
            Verdict::Pending => return,
            Verdict::Fail(reason) => reason,
            Verdict::Pass => {
                let Some(probation) = slot.take() else { return };
                let shell = app.state::<Shell>();
                let confirmed = probation.version().clone();
                let stuck = probation.stuck().is_some();
                match probation.confirm() {
                    Ok(()) if stuck => shell.log.shell(&format!(
                        "updates: Hudson {confirmed} started and passed its health check: the record of the \
                         unfinished update was cleared and updates resume"
                    )),
                    Ok(()) => {
                        shell.log.shell(&format!("updates: Hudson {confirmed} passed probation"));
                        shell.log.event(&ShellEvent::ProbationPassed { version: confirmed.to_string() });
                    }
                    Err(e) => return shell.log.shell(&format!("updates: cannot close probation: {e}")),
                }
                self.set(|v| v.message = format!("Hudson {confirmed} is installed and running."));
                return;
            }
        };
        let Some(probation) = slot.take() else { return };
        let app = app.clone();
        std::thread::spawn(move || roll_back(&app, probation, &reason));
    }

    /// The first page has loaded: start checking (once).
    pub fn page_loaded(&self, app: &AppHandle) {
        self.ensure_checker(app);
    }

    /// "Check for updates": check now (starting the checker if needed).
    pub fn check_now(&self, app: &AppHandle) {
        if self.live.is_none() {
            return;
        }
        if !self.ensure_checker(app)
            && let Some(wake) = self.wake.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
        {
            let _ = wake.send(());
        }
    }

    /// Starts the checker thread unless it runs; true when this call started it.
    fn ensure_checker(&self, app: &AppHandle) -> bool {
        let Some(live) = self.live.clone() else { return false };
        let mut wake = self.wake.lock().unwrap_or_else(|e| e.into_inner());
        if wake.is_some() {
            return false;
        }
        let (tx, rx) = mpsc::channel::<()>();
        *wake = Some(tx);
        let app = app.clone();
        std::thread::Builder::new()
            .name("updates".into())
            .spawn(move || {
                loop {
                    check_once(&app, &live);
                    let next = live.interval.map(|every| OffsetDateTime::now_utc() + every);
                    app.state::<Updates>().set(|v| v.next_check = next.map(rfc3339));
                    let waited = match live.interval {
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

    /// "Restart to update": install the verified download, then start the
    /// new version. Runs on its own thread; the window follows the phase.
    pub fn restart_to_update(&self, app: &AppHandle) -> Result<String, String> {
        let Some(live) = self.live.clone() else { return Err(self.view().message) };
        let Some(downloaded) = self.downloaded.lock().unwrap_or_else(|e| e.into_inner()).take() else {
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
        let app = app.clone();
        std::thread::spawn(move || install(&app, &live, downloaded));
        Ok(format!("Installing Hudson {version}…"))
    }
}

/// The package type the bundler patched into this program, when the
/// updater can install that type.
fn package_kind() -> Option<PackageKind> {
    use tauri::utils::config::BundleType;
    match tauri::utils::platform::bundle_type()? {
        BundleType::Deb => Some(PackageKind::Deb),
        BundleType::Rpm => Some(PackageKind::Rpm),
        BundleType::Nsis => Some(PackageKind::Nsis),
        BundleType::Msi => Some(PackageKind::Msi),
        _ => None,
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// One check, and the download of what it offers.
fn check_once(app: &AppHandle, live: &Live) {
    let updates = app.state::<Updates>();
    let shell = app.state::<Shell>();
    if updates.installing.load(Ordering::SeqCst) {
        return;
    }
    if let Some(ready) = updates.downloaded.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        shell.log.shell(&format!("updates: Hudson {} is ready; not checking again", ready.update().version));
        return;
    }
    updates.set(|v| {
        v.phase = Phase::Checking;
        v.message = "Checking for updates…".into();
    });
    let outcome = live.updater.check();
    shell.log.event(&match &outcome {
        Ok(outcome) => outcome.event(),
        Err(_) => ShellEvent::UpdateChecked { outcome: "error".into(), version: None, refused: None },
    });
    let clock = live.updater.server_clock();
    updates.set(|v| {
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
        shell.log.shell(&format!("updates: refused: {}", refusal.detail));
    }
    let offer = outcome.ok().and_then(CheckOutcome::into_offer);
    shell.log.shell(&format!("updates: {message}"));
    updates.set(|v| {
        v.phase = phase;
        v.message = message;
        v.progress = None;
        v.offer = offer.as_ref().map(|(update, downgrade)| OfferView::of(update, *downgrade));
    });
    if let Some((update, _)) = offer {
        download(app, live, &update);
    }
}

fn download(app: &AppHandle, live: &Live, update: &Update) {
    let updates = app.state::<Updates>();
    let shell = app.state::<Shell>();
    let mut on_progress = |p: hudson_updater::Progress| updates.set(|v| v.progress = Some((p.done, p.total)));
    match live.updater.download(update, &mut on_progress) {
        Ok(downloaded) => {
            let version = downloaded.update().version.clone();
            shell.log.shell(&format!("updates: Hudson {version} downloaded and verified"));
            shell.log.event(&ShellEvent::UpdateDownloaded { version: version.to_string() });
            *updates.downloaded.lock().unwrap_or_else(|e| e.into_inner()) = Some(downloaded);
            updates.set(|v| {
                v.phase = Phase::Ready;
                v.message = format!("Hudson {version} is ready. Restart Hudson to update.");
            });
            crate::menu::update_ready(app, &version.to_string());
            if std::env::var_os(hooks::ENV_UPDATE_RESTART_WHEN_READY).is_some_and(|v| v == "1") {
                shell.log.shell("updates: restarting at once (HUDSON_UPDATE_RESTART_WHEN_READY=1)");
                if let Err(e) = updates.restart_to_update(app) {
                    shell.log.shell(&format!("updates: {e}"));
                }
            }
        }
        Err(error) => {
            let message = format!("The update could not be downloaded: {error}");
            shell.log.shell(&format!("updates: {message}"));
            shell.log.event(&ShellEvent::UpdateDownloadFailed {
                version: update.version.to_string(),
                refused: error.is_refused_download(),
            });
            updates.set(|v| {
                v.phase = Phase::Error;
                v.message = message;
            });
        }
    }
}

/// Installs, then relaunches; on failure the backend is started again.
fn install(app: &AppHandle, live: &Live, downloaded: Downloaded) {
    let updates = app.state::<Updates>();
    let shell = app.state::<Shell>();
    let version = downloaded.update().version.clone();
    let stopped = AtomicBool::new(false);
    let mut stop_backend = || {
        shell.stop_backend();
        stopped.store(true, Ordering::SeqCst);
        Ok(())
    };
    shell.log.shell(&format!("updates: installing Hudson {version}"));
    shell.log.event(&ShellEvent::UpdateInstalling { version: version.to_string() });
    match live.updater.install_into(downloaded, &live.layout, &live.install, &mut stop_backend) {
        Ok(Installed { next: Next::Relaunch, .. }) => {
            shell.log.shell(&format!("updates: Hudson {version} installed; relaunching {}", updates.program.display()));
            relaunch(app, &updates.program);
        }
        Ok(Installed { next: Next::ExitForInstaller, .. }) => {
            shell.log.shell(&format!("updates: the installer of Hudson {version} takes over"));
            app.exit(0);
        }
        Err(error) => {
            shell.log.shell(&format!("updates: installing Hudson {version} failed: {error}"));
            shell.log.event(&ShellEvent::UpdateInstallFailed { version: version.to_string() });
            updates.installing.store(false, Ordering::SeqCst);
            updates.set(|v| {
                v.phase = Phase::Error;
                v.message = format!("Hudson {version} could not be installed, nothing was changed: {error}");
            });
            if stopped.load(Ordering::SeqCst) {
                crate::start_backend(app);
            }
        }
    }
}

/// The new version failed probation: put the previous one back, relaunch.
fn roll_back(app: &AppHandle, probation: Probation, reason: &str) {
    let shell = app.state::<Shell>();
    let updates = app.state::<Updates>();
    let version = probation.version().clone();
    shell.log.shell(&format!("updates: Hudson {version} failed probation: {reason}; rolling back"));
    shell.log.event(&ShellEvent::ProbationFailed { version: version.to_string(), reason: reason.to_owned() });
    let mut stop_backend = || {
        shell.stop_backend();
        Ok(())
    };
    match probation.fail(reason, &mut stop_backend, &SystemRunner) {
        Ok(rolled) if rolled.restored => {
            shell.log.shell(&format!("updates: {}", rolled.notice.describe()));
            shell.log.event(&ShellEvent::RolledBack { version: version.to_string(), restored: true });
            // The path this process was started from holds the previous
            // version again.
            relaunch(app, &updates.program);
        }
        Ok(rolled) => {
            let text = rolled.notice.describe();
            shell.log.shell(&format!("updates: {text}"));
            shell.log.event(&ShellEvent::RolledBack { version: version.to_string(), restored: false });
            updates.set(|v| v.notice = Some(text));
            crate::open_updates_window(app);
        }
        Err(error) => {
            shell.log.shell(&format!("updates: the rollback of Hudson {version} failed: {error}"));
            updates.set(|v| {
                v.phase = Phase::Error;
                v.message = format!("Hudson {version} failed and could not be undone: {error}");
            });
            crate::open_updates_window(app);
        }
    }
}

/// Replaces this process with the program now at `program` (the new
/// version, or the old one after a rollback). `exec` keeps no second
/// instance around: the single-instance lock dies with this image.
fn relaunch(app: &AppHandle, program: &Path) {
    let shell = app.state::<Shell>();
    shell.stop_backend();
    shell.log.shell(&format!("relaunching {}", program.display()));
    shell.log.event(&ShellEvent::Relaunching { program: program.display().to_string() });
    // No Tauri cleanup first: it would post tray work to the main loop from
    // this thread; `exec` ends every thread, and the tray item and the
    // single-instance name go with the D-Bus connection (close-on-exec).
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = std::process::Command::new(program).args(&args).exec();
        shell.log.shell(&format!("cannot start {}: {error}; start Hudson again", program.display()));
        std::process::exit(1);
    }
    #[cfg(not(unix))]
    {
        if let Err(error) = std::process::Command::new(program).args(&args).spawn() {
            shell.log.shell(&format!("cannot start {}: {error}; start Hudson again", program.display()));
        }
        std::process::exit(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page shows and hides by these names: each one it compares with
    /// must be a phase the shell sends.
    #[test]
    fn the_page_compares_only_phases_the_shell_sends() {
        let page = include_str!("../ui/updates.js");
        let compared: Vec<&str> =
            page.split("v.phase === \"").skip(1).filter_map(|rest| rest.split('"').next()).collect();
        assert!(compared.len() >= 4, "the page no longer compares phases like this test expects: {compared:?}");
        for name in compared {
            assert!(
                Phase::ALL.iter().any(|p| p.name() == name),
                "ui/updates.js compares the phase with {name:?}, which the shell never sends"
            );
        }
    }

    /// `option_env!` needs a literal: it must stay the name `dist` sets.
    #[test]
    fn the_embedded_keys_come_from_the_variable_dist_sets() {
        let source = include_str!("updates.rs");
        let wanted = format!("option_env!(\"{}\")", hudson_lifecycle::hooks::BUILD_ENV_TRUSTED_KEYS);
        assert!(source.contains(&wanted), "updates.rs must read {wanted}");
    }
}
