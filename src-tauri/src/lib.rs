//! Hudson Desktop's runtime shell.
//!
//! Opens the window on a local loading page at once, starts the backend on a
//! supervisor thread (see `hudson-lifecycle` for the contract), then shows the
//! backend's page through the enter token — or a local error page with the
//! reason, never an endless "Starting…". Navigation is locked to the backend's
//! origin; other links open in the system browser. Quitting stops the backend
//! (stdin closed, SIGTERM, 5 s grace, then kill).

mod config;
mod pages;
mod supervisor;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hudson_lifecycle::LaunchSpec;
use hudson_lifecycle::handshake::default_runtime_base;
use tauri::{AppHandle, Manager, RunEvent, Url, WebviewUrl, WebviewWindowBuilder};

use crate::config::ShellConfig;
use crate::supervisor::{Status, Supervisor};

const MAIN_WINDOW: &str = "main";

/// The origin the WebView may show besides the shell's own pages.
#[derive(Default, Clone)]
struct AllowedOrigin(Arc<Mutex<Option<String>>>);

impl AllowedOrigin {
    fn set(&self, origin: Option<String>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = origin;
    }

    fn allows(&self, url: &Url) -> bool {
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_deref().is_some_and(|origin| url.origin().ascii_serialization() == origin)
    }
}

pub fn run() {
    let allowed = AllowedOrigin::default();
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| focus_main(app)))
        .plugin(tauri_plugin_opener::init())
        .setup({
            let allowed = allowed.clone();
            move |app| {
                open_main_window(app.handle(), allowed.clone())?;
                start_backend(app.handle(), allowed);
                Ok(())
            }
        })
        .build(tauri::generate_context!())
        .expect("the Tauri application builds");

    app.run(|app, event| {
        if let RunEvent::Exit = event
            && let Some(supervisor) = app.try_state::<Supervisor>()
            && let Some(report) = supervisor.shutdown()
        {
            eprintln!("[shell] backend stopped: {:?} after {:?}", report.exit, report.took);
        }
    });
}

fn open_main_window(app: &AppHandle, allowed: AllowedOrigin) -> tauri::Result<()> {
    let opener = app.clone();
    WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::App("index.html".into()))
        .title("Hudson")
        .inner_size(1200.0, 800.0)
        .on_navigation(move |url| {
            if pages::is_local(url) || allowed.allows(url) {
                return true;
            }
            if matches!(url.scheme(), "http" | "https" | "mailto") {
                use tauri_plugin_opener::OpenerExt;
                let _ = opener.opener().open_url(url.as_str(), None::<&str>);
            }
            false
        })
        .build()?;
    Ok(())
}

fn focus_main(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

fn show(app: &AppHandle, url: Url) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.navigate(url);
    }
}

fn start_backend(app: &AppHandle, allowed: AllowedOrigin) {
    let spec = match launch_spec(app) {
        Ok(spec) => spec,
        Err(reason) => {
            eprintln!("[shell] {reason}");
            show(app, pages::error(&reason, &[]));
            return;
        }
    };
    let handle = app.clone();
    let supervisor = Supervisor::spawn(spec, move |status| match status {
        Status::Starting => {}
        Status::Ready { origin, enter_url } => {
            allowed.set(Some(origin));
            match Url::parse(&enter_url) {
                Ok(url) => show(&handle, url),
                Err(e) => show(&handle, pages::error(&format!("bad backend URL: {e}"), &[])),
            }
        }
        Status::Failed { reason, tail } => {
            allowed.set(None);
            eprintln!("[shell] {reason}");
            show(&handle, pages::error(&reason, &tail));
        }
    });
    app.manage(supervisor);
}

fn resource_dir(app: &AppHandle) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(config::ENV_RESOURCE_DIR) {
        return Ok(PathBuf::from(dir));
    }
    app.path().resource_dir().map_err(|e| format!("cannot find the app's resources: {e}"))
}

fn launch_spec(app: &AppHandle) -> Result<LaunchSpec, String> {
    let resources = resource_dir(app)?;
    let config = ShellConfig::load(&resources)?;
    let paths = app.path();
    let data_dir = paths.app_data_dir().map_err(|e| format!("cannot find the app-data folder: {e}"))?;
    let log_dir = paths.app_log_dir().map_err(|e| format!("cannot find the log folder: {e}"))?;
    let runtime_base = default_runtime_base(&app.config().identifier, &data_dir);
    let program = config.backend_program(&resources);
    let mut spec = match config.packaging {
        config::Packaging::Release => {
            LaunchSpec::for_release(&program, &config.release, data_dir, log_dir, runtime_base)
        }
        config::Packaging::Burrito => LaunchSpec::for_sidecar(&program, data_dir, log_dir, runtime_base),
    };
    spec.startup_timeout = Duration::from_secs(config.startup_timeout_secs);
    Ok(spec)
}
