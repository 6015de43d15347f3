//! The native "Save as" dialog, for "Export support bundle…": the user picks
//! the folder and the name; the answer arrives on a channel.
//!
//! Linux: GTK's own file chooser, built and answered on the main thread,
//! the thread that runs Tauri's GTK loop (the `gtk` crate tauri already
//! links). `rfd`'s GTK backend is not used there: it spins a second GTK
//! loop on a thread of its own, which GTK does not support, and
//! `tauri-plugin-dialog` (built on it) also replaces `window.alert` and
//! `window.confirm` in every webview, the backend's pages included, where
//! an asynchronous `confirm` is always truthy — it would defeat Phoenix's
//! `data-confirm`.
//! macOS and Windows: `rfd`'s native panels (NSSavePanel, IFileSaveDialog),
//! created on the main thread as AppKit requires.

use std::path::{Path, PathBuf};
use std::sync::mpsc::channel;

/// What the dialog is asked: its title, the folder it opens in, the name it
/// suggests, and the one file type it offers.
pub(crate) struct SaveAs<'a> {
    pub title: &'a str,
    pub folder: &'a Path,
    pub name: &'a str,
    pub filter: (&'a str, &'a str),
}

/// Opens the dialog over `window` and waits for the user: the chosen path,
/// `None` when they cancel, or why the dialog could not open or the
/// chosen place cannot take the file. Blocking:
/// never call it on the main thread (the dialog runs there).
pub(crate) fn ask(window: &tauri::WebviewWindow, request: SaveAs<'_>) -> Result<Option<PathBuf>, String> {
    // The path, `None` on cancel, or why the place cannot take the file.
    let (tx, rx) = channel::<Result<Option<PathBuf>, &'static str>>();
    let title = request.title.to_owned();
    let folder = request.folder.to_owned();
    let name = request.name.to_owned();
    let (kind, extension) = (request.filter.0.to_owned(), request.filter.1.to_owned());
    let parent = window.clone();
    let opened = window.run_on_main_thread(move || {
        #[cfg(target_os = "linux")]
        {
            use gtk::prelude::*;
            let owner = parent.gtk_window().ok();
            let dialog = gtk::FileChooserDialog::with_buttons(
                Some(&title),
                owner.as_ref(),
                gtk::FileChooserAction::Save,
                &[("_Cancel", gtk::ResponseType::Cancel), ("_Save", gtk::ResponseType::Accept)],
            );
            dialog.set_default_response(gtk::ResponseType::Accept);
            dialog.set_do_overwrite_confirmation(true);
            dialog.set_modal(true);
            let _ = dialog.set_current_folder(&folder);
            dialog.set_current_name(&name);
            let filter = gtk::FileFilter::new();
            filter.set_name(Some(&kind));
            filter.add_pattern(&format!("*.{extension}"));
            dialog.add_filter(filter);
            // Closing emits one more response (a delete event): only the
            // first answers, and closes.
            let answer = std::cell::Cell::new(Some(tx));
            dialog.connect_response(move |dialog, response| {
                if let Some(tx) = answer.take() {
                    // A place with no local path (a remote mount) cannot
                    // take the file: an error, not a silent cancel.
                    let chosen = match (response == gtk::ResponseType::Accept, dialog.filename()) {
                        (false, _) => Ok(None),
                        (true, Some(path)) => Ok(Some(path)),
                        (true, None) => Err("the chosen place is not a local folder: pick a folder on this computer"),
                    };
                    let _ = tx.send(chosen);
                    dialog.close();
                }
            });
            dialog.show_all();
        }
        #[cfg(any(target_os = "macos", windows))]
        {
            let pending = rfd::AsyncFileDialog::new()
                .set_title(&title)
                .set_directory(&folder)
                .set_file_name(&name)
                .add_filter(&kind, &[&extension])
                .set_parent(&parent)
                .save_file();
            std::thread::spawn(move || {
                let chosen = tauri::async_runtime::block_on(pending);
                let _ = tx.send(Ok(chosen.map(|file| file.path().to_owned())));
            });
        }
        #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
        {
            // No native dialog here: the channel closes unanswered.
            let _ = (title, folder, name, kind, extension, parent, tx);
        }
    });
    opened.map_err(|e| format!("cannot open the save dialog: {e}"))?;
    let answer = rx.recv().map_err(|_| "the save dialog closed without an answer".to_owned())?;
    answer.map_err(str::to_owned)
}
