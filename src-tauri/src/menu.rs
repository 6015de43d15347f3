//! The tray icon and the window's menu: Open, Settings, Restart backend,
//! Check for updates, Diagnostics, Open logs folder, Quit. Both menus carry the same item
//! ids and share one handler.

use std::sync::Mutex;

use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};

use crate::Shell;

const OPEN: &str = "open";
const SETTINGS: &str = "settings";
const RESTART: &str = "restart-backend";
const UPDATES: &str = "check-for-updates";
const DIAGNOSTICS: &str = "diagnostics";
const LOGS: &str = "open-logs";
const QUIT: &str = "quit";

fn items(app: &AppHandle) -> tauri::Result<Vec<MenuItem<Wry>>> {
    [
        (OPEN, "Open Hudson"),
        (SETTINGS, "Settings…"),
        (RESTART, "Restart backend"),
        (UPDATES, "Check for updates…"),
        (DIAGNOSTICS, "Diagnostics…"),
        (LOGS, "Open logs folder"),
        (QUIT, "Quit Hudson"),
    ]
    .into_iter()
    .map(|(id, text)| MenuItem::with_id(app, id, text, true, None::<&str>))
    .collect()
}

/// The "Check for updates…" items of the tray and the window, whose text
/// changes when an update is ready.
struct UpdateItems(Mutex<Vec<MenuItem<Wry>>>);

/// Puts the menu on the tray and on the main window.
pub fn install(app: &AppHandle) -> tauri::Result<()> {
    let tray_items = items(app)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let [open, settings, restart, updates, diagnostics, logs, quit] = &tray_items[..] else { unreachable!() };
    let tray_menu =
        Menu::with_items(app, &[open, settings, &separator, restart, updates, diagnostics, logs, &separator, quit])?;
    TrayIconBuilder::with_id("hudson")
        .icon(app.default_window_icon().cloned().ok_or(tauri::Error::InvalidIcon(std::io::Error::other("no icon")))?)
        .tooltip("Hudson")
        .menu(&tray_menu)
        .build(app)?;

    let window_items = items(app)?;
    let [open, settings, restart, updates, diagnostics, logs, quit] = &window_items[..] else { unreachable!() };
    let separator = PredefinedMenuItem::separator(app)?;
    let submenu = Submenu::with_items(
        app,
        "Hudson",
        true,
        &[open, settings, &separator, restart, updates, diagnostics, logs, &separator, quit],
    )?;
    if let Some(window) = app.get_webview_window(crate::MAIN_WINDOW) {
        window.set_menu(Menu::with_items(app, &[&submenu])?)?;
    }
    app.manage(UpdateItems(Mutex::new(vec![tray_items[3].clone(), window_items[3].clone()])));
    Ok(())
}

/// An update is downloaded and verified: the tray and the menu say so.
pub fn update_ready(app: &AppHandle, version: &str) {
    if let Some(tray) = app.tray_by_id("hudson") {
        let _ = tray.set_tooltip(Some(format!("Hudson — {version} is ready: restart to update")));
    }
    if let Some(items) = app.try_state::<UpdateItems>() {
        for item in items.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = item.set_text(format!("Restart to update to {version}…"));
        }
    }
}

pub fn on_event(app: &AppHandle, event: MenuEvent) {
    let shell = app.state::<Shell>();
    let id = event.id().as_ref();
    shell.log.shell(&format!("menu: {id}"));
    shell.log.event(&hudson_lifecycle::ShellEvent::Menu { item: id.to_owned() });
    match id {
        OPEN => crate::focus_main(app),
        SETTINGS => shell.open_settings(app),
        RESTART => shell.restart_backend(app),
        UPDATES => crate::open_updates_window(app),
        DIAGNOSTICS => crate::open_diagnostics_window(app),
        LOGS => {
            if let Err(e) = shell.open_logs_folder(app) {
                shell.log.shell(&e);
            }
        }
        QUIT => app.exit(0),
        _ => {}
    }
}
