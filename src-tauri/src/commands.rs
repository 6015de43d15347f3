//! The commands the shell's own pages may call (and only they: see
//! `capabilities/local-pages.json`; the backend's origin is granted none).

use tauri::{AppHandle, Manager, State};

use crate::Shell;
use crate::updates::Updates;
use hudson_updater::View;

/// The error page's Restart button.
#[tauri::command]
pub fn restart_backend(app: AppHandle, shell: State<'_, Shell>) -> String {
    shell.restart_backend(&app);
    "Restarting…".into()
}

/// The Open logs folder button.
#[tauri::command]
pub fn open_logs_folder(app: AppHandle, shell: State<'_, Shell>) -> Result<String, String> {
    shell.open_logs_folder(&app)
}

/// The Check for updates buttons: check now; the Updates window follows.
#[tauri::command]
pub fn check_for_updates(updates: State<'_, Updates>) -> String {
    updates.check_now();
    let view = updates.view();
    if view.phase == hudson_updater::Phase::Unavailable { view.message } else { "Checking for updates…".into() }
}

/// What the Updates window shows (it asks every half second).
#[tauri::command]
pub fn update_status(updates: State<'_, Updates>) -> View {
    updates.view()
}

/// The Updates window's "Restart to update" button.
#[tauri::command]
pub fn restart_to_update(updates: State<'_, Updates>) -> Result<String, String> {
    updates.restart_to_update()
}

/// The Updates window has shown why an update was rolled back.
#[tauri::command]
pub fn dismiss_update_notice(updates: State<'_, Updates>) -> Result<(), String> {
    updates.dismiss_notice()
}

/// The Diagnostics window's facts (asks `/healthz` and the secure store, so
/// off the main thread).
#[tauri::command]
pub async fn diagnostics(app: AppHandle) -> Result<crate::diagnostics::Report, String> {
    tauri::async_runtime::spawn_blocking(move || crate::diagnostics::report(&app)).await.map_err(|e| e.to_string())
}

/// The same, as redacted plain text for "Copy as text".
#[tauri::command]
pub async fn diagnostics_text(app: AppHandle) -> Result<String, String> {
    tauri::async_runtime::spawn_blocking(move || {
        let report = crate::diagnostics::report(&app);
        crate::diagnostics::text(&app, &report)
    })
    .await
    .map_err(|e| e.to_string())
}

/// The Diagnostics window's "Export support bundle…": asks where to save
/// (a native save dialog over the window, opening in Downloads), writes the
/// zip there; its path, or `None` when the user cancelled.
#[tauri::command]
pub async fn export_support_bundle(app: AppHandle, window: tauri::WebviewWindow) -> Result<Option<String>, String> {
    tauri::async_runtime::spawn_blocking(move || {
        let (folder, name) = crate::support::suggested_location(&app)?;
        let request = crate::save_dialog::SaveAs {
            title: "Export support bundle",
            folder: &folder,
            name: &name,
            filter: ("Zip archive", "zip"),
        };
        let Some(out) = crate::save_dialog::ask(&window, request)? else {
            app.state::<Shell>().log.shell("support bundle: export cancelled in the save dialog");
            return Ok(None);
        };
        crate::support::export_from_window(&app, &out)?;
        Ok(Some(out.display().to_string()))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The Diagnostics window's "Send crash reports" switch.
#[tauri::command]
pub fn set_crash_upload(app: AppHandle, enabled: bool) -> Result<crate::crash_upload::UploadStatus, String> {
    let uploader =
        app.try_state::<crate::crash_upload::Uploader>().ok_or("crash upload is not available (no log folder)")?;
    uploader.set_enabled(enabled)
}
