//! Hudson Desktop's runtime shell.
//!
//! Opens the window on a local loading page at once and starts the backend
//! through `hudson-lifecycle`'s supervisor, which owns every lifecycle
//! decision (handshake, health, restarts with backoff, shutdown). This crate
//! only turns the supervisor's statuses into pages, and menus, signals and
//! window events into supervisor calls:
//! - ready: the backend's page through the enter token; navigation is locked
//!   to its origin and other links open in the system browser;
//! - crashed: restarted with backoff, then an error page with the reason,
//!   the last log lines, Restart and Open logs folder;
//! - damaged installation or update required: a page saying so, never a
//!   half-working UI;
//! - Quit, closing the window, SIGTERM and SIGINT stop the backend
//!   gracefully (stdin closed, SIGTERM to its group, 5 s grace, kill).

mod commands;
mod config;
mod crash;
mod crash_upload;
mod diagnostics;
mod menu;
mod pages;
mod save_dialog;
mod signals;
mod support;
mod updates;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hudson_lifecycle::handshake::default_runtime_base;
#[cfg(any(feature = "test-hooks", feature = "bench-baseline"))]
use hudson_lifecycle::hooks;
use hudson_lifecycle::logs::Log;
use hudson_lifecycle::shell_event::{LOG_FILE, ShellEvent};
use hudson_lifecycle::supervisor::{Options, Status, Supervisor};
use hudson_lifecycle::trace::{Milestone, Trace};
use hudson_lifecycle::{LaunchSpec, Readiness};
use tauri::webview::{NewWindowResponse, PageLoadEvent};
use tauri::{AppHandle, Manager, RunEvent, Url, WebviewUrl, WebviewWindowBuilder, WindowEvent};

use crate::config::ShellConfig;

const MAIN_WINDOW: &str = "main";
const UPDATES_WINDOW: &str = "updates";
const DIAGNOSTICS_WINDOW: &str = "diagnostics";
/// Opens the Diagnostics window (also in the running app, from a second
/// launch).
const DIAGNOSTICS_FLAG: &str = "--diagnostics";

/// The origin the WebView may show besides the shell's own pages.
#[derive(Default, Clone)]
struct AllowedOrigin(Arc<Mutex<Option<String>>>);

impl AllowedOrigin {
    fn set(&self, origin: Option<String>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = origin;
    }

    fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn allows(&self, url: &Url) -> bool {
        self.get().is_some_and(|origin| url.origin().ascii_serialization() == origin)
    }
}

/// The shell's state, managed by Tauri.
pub(crate) struct Shell {
    log: Log,
    config: Result<ShellConfig, String>,
    resources: Result<PathBuf, String>,
    supervisor: Mutex<Option<Supervisor>>,
    allowed: AllowedOrigin,
    trace: Arc<Trace>,
    /// Whether the main window exists yet, and the page to show when it
    /// does: the backend starts before the window (its boot overlaps the
    /// WebView's creation) and may report before the window is there.
    window: Mutex<MainWindow>,
    /// The OS secret store under the app's identifier: the backend's
    /// storage server answers from it; Diagnostics says which it is.
    store: Arc<hudson_secrets::SecureStore>,
}

#[derive(Default)]
struct MainWindow {
    created: bool,
    pending: Option<Url>,
}

impl Shell {
    fn new(app: &AppHandle, allowed: AllowedOrigin, trace: Arc<Trace>) -> Shell {
        let resources = resource_dir(app);
        let config = resources.clone().and_then(|dir| config::load(&dir));
        let rotation = config.as_ref().map(ShellConfig::rotation).unwrap_or_default();
        let log = match app.path().app_log_dir() {
            Ok(dir) => Log::open(&dir, LOG_FILE, rotation, true),
            Err(_) => Log::stderr_only(),
        };
        Shell {
            log,
            config,
            resources,
            supervisor: Mutex::new(None),
            allowed,
            trace,
            window: Mutex::new(MainWindow::default()),
            store: Arc::new(hudson_secrets::SecureStore::native(&app.config().identifier)),
        }
    }

    fn supervisor(&self) -> Option<Supervisor> {
        self.supervisor.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops the backend (once) and logs how it went.
    fn stop_backend(&self) {
        let Some(supervisor) = self.supervisor.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
        // The supervisor logs how a running backend stopped.
        if supervisor.shutdown().is_none() {
            self.log.shell("no backend was running");
        }
    }

    fn restart_backend(&self, app: &AppHandle) {
        self.allowed.set(None);
        show(app, pages::loading(Some("Restarting…")));
        match self.supervisor() {
            Some(supervisor) => supervisor.restart(),
            None => start_backend(app),
        }
    }

    fn open_settings(&self, app: &AppHandle) {
        let (Some(origin), Ok(config)) = (self.allowed.get(), &self.config) else {
            self.log.shell("Settings: the backend is not running");
            return;
        };
        match Url::parse(&origin).and_then(|o| o.join(&config.settings_route)) {
            Ok(url) => {
                focus_main(app);
                show(app, url);
            }
            Err(e) => self.log.shell(&format!("Settings: bad route {:?}: {e}", config.settings_route)),
        }
    }

    fn open_logs_folder(&self, app: &AppHandle) -> Result<String, String> {
        use tauri_plugin_opener::OpenerExt;
        let dir = self.log.dir().ok_or("this system has no log folder for Hudson")?;
        app.opener()
            .open_path(dir.to_string_lossy(), None::<&str>)
            .map(|()| format!("Opened {}", dir.display()))
            .map_err(|e| format!("Could not open the logs folder {} ({e}). Open it yourself.", dir.display()))
    }
}

pub fn run() {
    let mut context = tauri::generate_context!();
    // The app version is the release's (`hudson-version.json`), not one
    // compiled into this binary, which stays the same across releases
    // that do not change it (config::app_version).
    let version_known = config::app_version(&mut context);
    if let Some(code) =
        support::from_command_line(&context.config().identifier, &context.package_info().version.to_string())
    {
        std::process::exit(code);
    }
    let trace = Arc::new(Trace::from_env());
    trace.mark(Milestone::ShellStart);
    let allowed = AllowedOrigin::default();
    let app = tauri::Builder::default()
        // First: a second launch hands over to the running one and exits
        // before it could start a second backend.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            if let Some(shell) = app.try_state::<Shell>() {
                shell.log.shell("second launch: focusing the running window");
                shell.log.event(&ShellEvent::SecondLaunch);
            }
            focus_main(app);
            if argv.iter().any(|a| a == DIAGNOSTICS_FLAG) {
                open_diagnostics_window(app);
            }
        }))
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(tauri::generate_handler![
            commands::restart_backend,
            commands::open_logs_folder,
            commands::check_for_updates,
            commands::update_status,
            commands::restart_to_update,
            commands::dismiss_update_notice,
            commands::diagnostics,
            commands::diagnostics_text,
            commands::set_crash_upload,
            commands::export_support_bundle
        ])
        .on_menu_event(menu::on_event)
        .setup(move |app| {
            let shell = Shell::new(app.handle(), allowed, trace);
            let version = app.package_info().version.to_string();
            if let (Some(_), Ok(data_dir)) = (shell.log.dir(), app.path().app_data_dir()) {
                let dsn = shell.config.as_ref().ok().and_then(|c| c.crash_report_dsn.clone());
                let uploader = crash_upload::Uploader::start(dsn, data_dir, shell.log.clone(), version.clone());
                crash::install(shell.log.clone(), version, uploader.waker());
                app.manage(uploader);
            }
            shell.log.shell(&format!(
                "Hudson {} shell started (pid {})",
                app.package_info().version,
                std::process::id()
            ));
            if let Err(why) = &version_known {
                shell.log.shell(&format!(
                    "the app version is unknown ({why}); showing {} and updates are off. Reinstall Hudson.",
                    app.package_info().version
                ));
            }
            shell.log.event(&ShellEvent::ShellStarted { version: app.package_info().version.to_string() });
            // Before the backend starts: finish or undo an interrupted
            // update, and learn whether this launch is on probation.
            let updates = updates::Updates::start(
                app.handle(),
                shell.config.as_ref(),
                shell.resources.as_deref().ok(),
                version_known.as_ref().map(|_| ()),
                &shell.log,
            );
            let notice = updates.has_notice();
            let hold_backend = updates.holds_backend();
            app.manage(shell);
            app.manage(updates);
            app.manage(diagnostics::Seen::default());
            signals::install(app.handle());
            // The backend first (the single-instance check has already run):
            // the BEAM boots while the window, its WebView and the tray are
            // made. The benchmark's baseline starts it last, as a naive
            // shell does.
            let backend_first = readiness() == Readiness::Handshake && !hold_backend;
            if backend_first {
                start_backend(app.handle());
            }
            open_main_window(app.handle())?;
            main_window_created(app.handle());
            if let Err(e) = menu::install(app.handle()) {
                app.state::<Shell>().log.shell(&format!("no tray icon or menu: {e}"));
            }
            if hold_backend {
                app.state::<Shell>()
                    .log
                    .shell("backend not started: an unfinished rollback holds the data (see Updates)");
            } else if !backend_first {
                start_backend(app.handle());
            }
            if notice {
                open_updates_window(app.handle());
            }
            if std::env::args().any(|a| a == DIAGNOSTICS_FLAG) {
                open_diagnostics_window(app.handle());
            }
            forced_panic();
            Ok(())
        })
        .build(context)
        .expect("the Tauri application builds");

    app.run(|app, event| match event {
        // Closing the main window quits, even with the updates window open.
        RunEvent::WindowEvent { label, event: WindowEvent::Destroyed, .. } if label == MAIN_WINDOW => app.exit(0),
        RunEvent::Exit => {
            if let Some(shell) = app.try_state::<Shell>() {
                shell.stop_backend();
                shell.log.shell("shell exited");
                shell.log.event(&ShellEvent::ShellExited);
            }
        }
        _ => {}
    });
}

fn open_main_window(app: &AppHandle) -> tauri::Result<()> {
    let nav = app.clone();
    let popup = app.clone();
    let loads = app.clone();
    WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::App("index.html".into()))
        .title("Hudson")
        .inner_size(1200.0, 800.0)
        .on_navigation(move |url| {
            let shell = nav.state::<Shell>();
            let backend = shell.allowed.allows(url);
            if backend {
                // The benchmark's breakdown of the WebView's part: it took
                // the navigation to the enter URL, then the backend's
                // redirect after it (each marked once per launch).
                if url.path() == hudson_lifecycle::contract::ENTER_PATH {
                    shell.trace.mark(Milestone::WebviewEnter);
                } else if shell.trace.has(Milestone::WebviewEnter) {
                    shell.trace.mark(Milestone::WebviewRedirect);
                }
            }
            if backend || pages::is_local(url) {
                return true;
            }
            open_externally(&nav, url);
            false
        })
        .on_new_window(move |url, _features| {
            open_externally(&popup, &url);
            NewWindowResponse::Deny
        })
        .on_page_load(move |_window, payload| {
            let shell = loads.state::<Shell>();
            let url = payload.url();
            match payload.event() {
                // WebKit may still report the previous page's URL when the
                // load starts: the first start after the WebView took the
                // enter URL is the backend's page (a late start of the local
                // loading page before it cannot take its place).
                PageLoadEvent::Started => {
                    if shell.trace.has(Milestone::WebviewEnter) {
                        shell.trace.mark(Milestone::PageStarted);
                    }
                }
                PageLoadEvent::Finished if shell.allowed.allows(url) => {
                    shell.trace.mark(Milestone::PageFinished);
                    let origin = url.origin().ascii_serialization();
                    shell.log.shell(&format!("page loaded: {origin}{}", url.path()));
                    shell.log.event(&ShellEvent::PageLoaded { origin, path: url.path().to_owned() });
                    // Never before the first page: checks do not delay startup.
                    loads.state::<updates::Updates>().page_loaded();
                }
                PageLoadEvent::Finished => {}
            }
        })
        .build()?;
    Ok(())
}

/// Any URL outside the backend's origin: http(s) and mail links go to the
/// system's handler, everything else is refused.
fn open_externally(app: &AppHandle, url: &Url) {
    use tauri_plugin_opener::OpenerExt;
    let shell = app.state::<Shell>();
    if !matches!(url.scheme(), "http" | "https" | "mailto") {
        shell.log.shell(&format!("navigation refused: {}", shell.log.redact(url.as_str())));
        return;
    }
    shell.log.shell(&format!("opening {} in the system browser", shell.log.redact(url.as_str())));
    shell.log.event(&ShellEvent::OpenedExternally { url: url.to_string() });
    if let Err(e) = app.opener().open_url(url.as_str(), None::<&str>) {
        shell.log.shell(&format!("could not open the system browser: {e}"));
    }
}

pub(crate) fn focus_main(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

pub(crate) fn open_updates_window(app: &AppHandle) {
    open_local_window(app, UPDATES_WINDOW, "updates.html", "Hudson — Updates", (560.0, 420.0));
}

pub(crate) fn open_diagnostics_window(app: &AppHandle) {
    open_local_window(app, DIAGNOSTICS_WINDOW, "diagnostics.html", "Hudson — Diagnostics", (720.0, 640.0));
}

/// Focuses the window `label`, or opens it on one of the shell's own pages
/// (which may navigate only among those pages).
fn open_local_window(app: &AppHandle, label: &str, page: &str, title: &str, (width, height): (f64, f64)) {
    if let Some(window) = app.get_webview_window(label) {
        let _ = window.set_focus();
        return;
    }
    let built = WebviewWindowBuilder::new(app, label, WebviewUrl::App(page.into()))
        .title(title)
        .inner_size(width, height)
        .on_navigation(pages::is_local)
        .build();
    if let Err(e) = built {
        app.state::<Shell>().log.shell(&format!("cannot open the {label} window: {e}"));
    }
}

/// Shows `url` in the main window; before the window exists, it is kept
/// and shown as soon as the window is created.
fn show(app: &AppHandle, url: Url) {
    {
        let shell = app.state::<Shell>();
        let mut window = shell.window.lock().unwrap_or_else(|e| e.into_inner());
        if !window.created {
            window.pending = Some(url);
            return;
        }
    }
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.navigate(url);
    }
}

/// The main window exists: show what the backend asked for meanwhile. Until
/// nothing is pending, `created` stays false, so a `show` from another
/// thread during a navigation here is queued behind it, never overtaken by
/// an older page.
fn main_window_created(app: &AppHandle) {
    loop {
        let pending = {
            let shell = app.state::<Shell>();
            let mut window = shell.window.lock().unwrap_or_else(|e| e.into_inner());
            match window.pending.take() {
                Some(url) => url,
                None => {
                    window.created = true;
                    return;
                }
            }
        };
        if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
            let _ = window.navigate(pending);
        }
    }
}

fn start_backend(app: &AppHandle) {
    let shell = app.state::<Shell>();
    let spec = match launch_spec(app, &shell) {
        Ok(spec) => spec,
        Err(reason) => {
            shell.log.shell(&reason);
            show(app, pages::error(&reason, &shell.log.recent(20)));
            return;
        }
    };
    let handle = app.clone();
    let log = shell.log.clone();
    let report = move |status: Status| on_status(&handle, status);
    let supervisor = Supervisor::spawn(spec, Options::default(), log, report);
    *shell.supervisor.lock().unwrap_or_else(|e| e.into_inner()) = Some(supervisor);
}

/// Turns a supervisor status into what the window shows. Runs on the
/// supervisor thread; navigation is handed to the event loop.
fn on_status(app: &AppHandle, status: Status) {
    let shell = app.state::<Shell>();
    if let Status::Ready { version, origin, .. } = &status {
        shell.log.shell(&format!("backend {version} ready at {origin}"));
        shell.log.event(&ShellEvent::BackendReady { version: version.clone(), origin: origin.clone() });
    }
    app.state::<updates::Updates>().on_backend_status(&status);
    app.state::<diagnostics::Seen>().on_status(&status);
    match status {
        Status::Starting { attempt: 1 } => {}
        Status::Starting { attempt } => {
            shell.allowed.set(None);
            show(app, pages::loading(Some(&format!("Starting again (attempt {attempt})…"))));
        }
        Status::Ready { origin, enter_url, timings, .. } => {
            let trace = &shell.trace;
            trace.mark_at(Milestone::Spawned, timings.spawned);
            trace.mark_at(Milestone::BackendReady, timings.backend_ready);
            trace.mark_at(Milestone::Handshake, timings.handshake);
            trace.mark_at(Milestone::Healthy, timings.healthy);
            shell.allowed.set(Some(origin));
            match Url::parse(&enter_url) {
                Ok(url) => {
                    trace.mark(Milestone::Navigate);
                    show(app, url);
                }
                Err(e) => show(app, pages::error(&format!("bad backend URL: {e}"), &[])),
            }
        }
        Status::Restarting { restart, max, .. } => {
            shell.allowed.set(None);
            let text = format!("Hudson stopped unexpectedly. Restarting ({restart} of {max})…");
            show(app, pages::loading(Some(&text)));
        }
        Status::Failed { reason, .. } => {
            shell.allowed.set(None);
            show(app, pages::error(&reason, &shell.log.recent(25)));
        }
        Status::Damaged { modules } => {
            shell.allowed.set(None);
            show(app, pages::damaged(&modules));
        }
        Status::UpdateRequired { version } => {
            shell.allowed.set(None);
            show(app, pages::update_required(&version));
        }
    }
}

fn resource_dir(app: &AppHandle) -> Result<PathBuf, String> {
    config::resource_dir(app.package_info(), &app.env())
}

fn launch_spec(app: &AppHandle, shell: &Shell) -> Result<LaunchSpec, String> {
    let resources = shell.resources.clone()?;
    let config = shell.config.clone()?;
    let paths = app.path();
    let data_dir = paths.app_data_dir().map_err(|e| format!("cannot find the app-data folder: {e}"))?;
    let log_dir = paths.app_log_dir().map_err(|e| format!("cannot find the log folder: {e}"))?;
    let runtime_base = default_runtime_base(&app.config().identifier, &data_dir);
    let program = config::backend_program(&config, &resources);
    // The backend's secrets: the OS store under the app's identifier,
    // reached only through this shell (docs/shell.md, "Secrets").
    let store = shell.store.clone();
    let pilot = data_dir.join(hudson_secrets::pilot::PILOT_FILE);
    let storage = hudson_secrets::Server::new(store, shell.log.clone(), Some(pilot));
    let mut spec = match config.packaging {
        config::Packaging::Release => {
            LaunchSpec::for_release(&program, &config.release, data_dir, log_dir, runtime_base)
        }
        config::Packaging::Burrito => LaunchSpec::for_sidecar(&program, data_dir, log_dir, runtime_base),
    };
    spec.startup_timeout = Duration::from_secs(config.startup_timeout_secs);
    spec.readiness = readiness();
    spec.storage = Some(hudson_lifecycle::channel::Storage::new(storage));
    if let Readiness::TcpPoll { interval } = spec.readiness {
        shell.log.shell(&format!("benchmark baseline: polling TCP connect every {} ms", interval.as_millis()));
    }
    Ok(spec)
}

/// Only the test build (feature `test-hooks`, which `dist` never enables)
/// obeys [`hooks::ENV_TEST_PANIC`]: a shell that ships cannot be told to
/// crash.
fn forced_panic() {
    #[cfg(feature = "test-hooks")]
    if std::env::var(hooks::ENV_TEST_PANIC).as_deref() == Ok("1") {
        let _ = std::thread::Builder::new()
            .name("test-panic".into())
            .spawn(|| panic!("forced panic ({} test hook)", hooks::ENV_TEST_PANIC));
    }
}

/// How the shell learns that the backend serves: the handshake. Only the
/// benchmark's baseline build (feature `bench-baseline`, which `dist` never
/// enables) reads [`hooks::ENV_BENCH_READINESS`] and may poll instead, so a
/// shell that ships cannot be switched into the start the contract forbids.
fn readiness() -> Readiness {
    #[cfg(feature = "bench-baseline")]
    if std::env::var(hooks::ENV_BENCH_READINESS).as_deref() == Ok(hooks::BENCH_READINESS_TCP_POLL) {
        return Readiness::TcpPoll { interval: Duration::from_millis(200) };
    }
    Readiness::Handshake
}

#[cfg(test)]
mod tests {
    use super::*;
    use hudson_lifecycle::hooks;

    /// The benchmark switch, set as `cargo xtask bench startup` sets it for
    /// its baseline launches.
    fn ask_for_the_baseline() {
        // SAFETY: no other test of this crate reads or writes the environment.
        unsafe { std::env::set_var(hooks::ENV_BENCH_READINESS, hooks::BENCH_READINESS_TCP_POLL) };
    }

    #[test]
    #[cfg(not(feature = "bench-baseline"))]
    fn a_shipping_shell_ignores_the_benchmark_switch() {
        ask_for_the_baseline();
        assert_eq!(readiness(), Readiness::Handshake);
    }

    #[test]
    #[cfg(feature = "bench-baseline")]
    fn the_baseline_build_polls_when_asked() {
        ask_for_the_baseline();
        assert_eq!(readiness(), Readiness::TcpPoll { interval: Duration::from_millis(200) });
    }
}
