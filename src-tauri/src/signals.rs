//! SIGTERM and SIGINT (logout, `kill`, Ctrl-C in a terminal) end the app the
//! way Quit does: the backend is stopped gracefully, then the shell exits.
//! Without this, Tauri dies on the default action and no exit event runs
//! (the backend would still end through stdin EOF and the parent-death
//! signal, but without its graceful stop).

use tauri::AppHandle;

#[cfg(unix)]
pub fn install(app: &AppHandle) {
    use std::time::Duration;

    use signal_hook::consts::{SIGINT, SIGTERM};
    use tauri::Manager;

    use crate::Shell;

    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) {
        Ok(signals) => signals,
        Err(e) => {
            app.state::<Shell>().log.shell(&format!("cannot handle SIGTERM/SIGINT: {e}"));
            return;
        }
    };
    let app = app.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut quitting = false;
            for signal in signals.forever() {
                let name = if signal == SIGTERM { "SIGTERM" } else { "SIGINT" };
                let shell = app.state::<Shell>();
                if quitting {
                    shell.log.shell(&format!("{name} again: quitting now"));
                    std::process::exit(1);
                }
                quitting = true;
                shell.log.shell(&format!("{name} received: stopping the backend and quitting"));
                shell.log.event(&hudson_lifecycle::ShellEvent::Signal { name: name.to_owned() });
                // The event loop runs the Exit event, which stops the backend.
                app.exit(0);
                // Should the event loop be stuck, stop the backend from here.
                let app = app.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(hudson_lifecycle::contract::STOP_GRACE + Duration::from_secs(8));
                    let shell = app.state::<Shell>();
                    shell.log.shell("the event loop did not exit: stopping the backend directly");
                    shell.stop_backend();
                    std::process::exit(1);
                });
            }
        })
        .expect("spawn the signal thread");
}

/// Windows has no SIGTERM or SIGINT for a GUI app: logout and shutdown reach
/// the event loop as window messages, and the Exit event stops the backend.
#[cfg(not(unix))]
pub fn install(_app: &AppHandle) {}
