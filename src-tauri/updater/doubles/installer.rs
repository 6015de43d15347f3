//! Test double of a Windows installer (an NSIS `-setup.exe`) and of the
//! backend it must not race, in Rust so that `tests/windows_installer.rs`
//! runs it as a Windows program (under Wine in `cargo xtask test-windows`).
//! Never shipped: no package bundles it.
//!
//! The test serves this program's own bytes as the signed NSIS artifact, so
//! the updater downloads, verifies, keeps and starts exactly this file. Its
//! roles:
//!
//! - `--backend STATE`: the running app's backend. Writes its pid to
//!   `STATE/backend.pid`, and when its stdin closes takes 500 ms to finish
//!   (so a stop that does not wait for the exit is caught), writes
//!   `STATE/backend.exited` and exits.
//! - anything else (the updater passes `/P /R`): the installer. Its folders
//!   follow from where the updater kept it,
//!   `ROOT/app-data/updates/packages/<file>`: the test's state is
//!   `ROOT/state`, the installed app `ROOT/Programs/Hudson Désktop`. What it
//!   does is read from `STATE/mode`: `succeed` (replace the app's backend
//!   program and its `version` file, then write `STATE/installed`), `fail` (change nothing, show its
//!   "error" for 2 s, exit 1), or `hang` (wait to be killed). It first writes
//!   its pid to `STATE/installer.pid` and records in `STATE/installer.json`
//!   the arguments it got and whether the backend had exited.

use std::path::{Path, PathBuf};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, state] = args.as_slice()
        && flag == "--backend"
    {
        backend(Path::new(state));
    }
    installer(&args);
}

fn backend(state: &Path) -> ! {
    write_atomic(&state.join("backend.pid"), std::process::id().to_string().as_bytes());
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut sink);
    std::thread::sleep(Duration::from_millis(500));
    // A marker, not the pid: Windows reuses pids at once, so a pid alone
    // could name the installer itself by the time it looks.
    write_atomic(&state.join("backend.exited"), b"");
    std::process::exit(0)
}

fn installer(args: &[String]) -> ! {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&format!("current_exe: {e}")));
    let root: PathBuf = exe.ancestors().nth(4).unwrap_or_else(|| fail("not run from updates/packages")).into();
    let state = root.join("state");
    let app = root.join("Programs").join("Hudson Désktop");
    let backend_exited = state.join("backend.exited").exists();
    let mode = std::fs::read_to_string(state.join("mode")).unwrap_or_default();
    write_atomic(&state.join("installer.pid"), std::process::id().to_string().as_bytes());
    let record = serde_json::json!({ "args": args, "backend_exited": backend_exited, "mode": mode.trim() });
    write_atomic(&state.join("installer.json"), record.to_string().as_bytes());
    match mode.trim() {
        "succeed" => {
            // What NSIS does: overwrite the program files in place. A backend
            // still running from them would make this fail on Windows.
            std::fs::copy(&exe, app.join("hudson-backend.exe"))
                .unwrap_or_else(|e| fail(&format!("replacing the backend program: {e}")));
            write_atomic(&app.join("version"), b"0.2.0");
            // Done: the test waits on this, never by reading `version` while
            // it is replaced (Wine refuses to replace a file someone has open).
            write_atomic(&state.join("installed"), b"");
            std::process::exit(0)
        }
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        _ => {
            // A failed installer shows its error until the user closes it.
            std::thread::sleep(Duration::from_secs(2));
            fail("the installation failed (as the test asked)")
        }
    }
}

/// The updater's own atomic write (temporary file, rename), so the test
/// never sees a file half-written.
fn write_atomic(path: &Path, bytes: &[u8]) {
    hudson_updater::write_atomic(path, bytes).unwrap_or_else(|e| fail(&e.to_string()));
}

fn fail(message: &str) -> ! {
    eprintln!("hudson-installer-double: {message}");
    std::process::exit(1)
}
