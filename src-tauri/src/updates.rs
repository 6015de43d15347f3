//! In-app updates: the shell's side of `hudson-updater`, whose
//! [`Session`] makes every decision (trust, download, install, recovery,
//! probation) and keeps what the Updates window shows. This module gives it
//! the build's facts (configuration, embedded keys, package type) and the
//! things only the shell can do ([`Host`]): stop and start the backend,
//! relaunch with `exec`, quit for an installer, show a window, tell the tray.
//!
//! Order at startup (before the backend is spawned): [`Updates::start`]
//! runs the updater's journal recovery, so a crash in the middle of an
//! update ends here as the old or the new version. A new version's first
//! launches are on probation: the backend's first `Ready` of that version
//! confirms it; `Failed`, `Damaged` or `UpdateRequired` roll it back and
//! relaunch the previous version, which then shows why.

use std::path::Path;
use std::sync::Arc;

use hudson_lifecycle::contract::ShellConfig;
use hudson_lifecycle::logs::Log;
use hudson_lifecycle::shell_event::ShellEvent;
use hudson_updater::{Host, Installer, Session, Setup};
use tauri::{AppHandle, Manager};

use crate::Shell;

/// The public keys this build trusts, one per line: compiled in by
/// `cargo xtask dist` (step 3 sets the variable for `cargo build`). A build
/// made any other way has none and cannot accept an update. Nothing at run
/// time (environment, app-data folder, command line) can add one.
const EMBEDDED_KEYS: Option<&str> = option_env!("HUDSON_UPDATER_TRUSTED_KEYS");

/// The shell's update session, managed by Tauri.
pub struct Updates(Arc<Session>);

impl std::ops::Deref for Updates {
    type Target = Arc<Session>;
    fn deref(&self) -> &Arc<Session> {
        &self.0
    }
}

impl Updates {
    /// Sets up the updater from the build's configuration and runs its
    /// startup recovery. Never fails: what is missing becomes the window's
    /// "unavailable" message.
    pub fn start(
        app: &AppHandle,
        config: Result<&ShellConfig, &String>,
        resources: Option<&Path>,
        version_known: Result<(), &String>,
        log: &Log,
    ) -> Updates {
        let installed = app.package_info().version.to_string();
        let host = Arc::new(TauriHost(app.clone()));
        if let Err(why) = version_known {
            let reason = format!(
                "Updates are off: this copy of Hudson cannot tell which version it is ({why}). Reinstall Hudson."
            );
            return Updates(Session::unavailable(&installed, &reason, log.clone(), host));
        }
        let config = match config {
            Ok(config) => config,
            Err(reason) => return Updates(Session::unavailable(&installed, reason, log.clone(), host)),
        };
        let app_data = app.path().app_data_dir().map_err(|e| format!("cannot find the app-data folder: {e}"));
        let program = std::env::current_exe()
            .and_then(|p| p.canonicalize())
            .map_err(|e| format!("cannot find Hudson's own program ({e})"));
        let setup = Setup {
            config,
            app_data,
            program,
            resources,
            package: package_kind(),
            installed: &installed,
            product: &app.package_info().name,
            embedded_keys: EMBEDDED_KEYS,
        };
        Updates(Session::start(setup, log.clone(), host))
    }
}

/// What the session asks of the shell.
struct TauriHost(AppHandle);

impl Host for TauriHost {
    fn stop_backend(&self) {
        self.0.state::<Shell>().stop_backend();
    }

    fn start_backend(&self) {
        crate::start_backend(&self.0);
    }

    fn update_ready(&self, version: &semver::Version) {
        crate::menu::update_ready(&self.0, &version.to_string());
    }

    fn show_updates(&self) {
        crate::open_updates_window(&self.0);
    }

    fn relaunch(&self, program: &Path) {
        relaunch(&self.0, program);
    }

    fn exit_for_installer(&self) {
        self.0.exit(0);
    }
}

/// The package type the bundler patched into this program, when the
/// updater can install that type.
fn package_kind() -> Option<Installer> {
    use tauri::utils::config::BundleType;
    match tauri::utils::platform::bundle_type()? {
        BundleType::Deb => Some(Installer::Deb),
        BundleType::Rpm => Some(Installer::Rpm),
        BundleType::Nsis => Some(Installer::Nsis),
        BundleType::Msi => Some(Installer::Msi),
        _ => None,
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
    use hudson_updater::Phase;

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
