//! The commands the shell's own pages may call (and only they: see
//! `capabilities/local-pages.json`; the backend's origin is granted none).

use tauri::{AppHandle, State};

use crate::Shell;

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

/// The Check for updates button and window.
#[tauri::command]
pub fn check_for_updates(shell: State<'_, Shell>) -> String {
    let answer = shell.check_for_updates();
    shell.log.shell(&format!("check for updates: {answer}"));
    answer
}
