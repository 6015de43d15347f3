//! The shell's runtime configuration: `hudson-shell.json`, written by
//! `cargo xtask dist` from `[workspace.metadata.hudson]` and shipped as a
//! bundle resource next to the backend, so the shell never hard-codes what
//! the release toolchain decides. Its schema and defaults are
//! `hudson_lifecycle::contract::ShellConfig`; this module reads it and says
//! what to do when it cannot.

use std::path::{Path, PathBuf};

use hudson_lifecycle::contract::AppVersion;
use hudson_lifecycle::contract::shell_config::MAX_SHELL_CONFIG_BYTES;
pub use hudson_lifecycle::contract::{Packaging, SHELL_CONFIG_FILE, ShellConfig};
use hudson_lifecycle::hooks;

/// Where the app's resources are: `hudson-shell.json`, `hudson-version.json`
/// and the backend (`HUDSON_RESOURCE_DIR` overrides it for development runs
/// and tests).
pub fn resource_dir(package_info: &tauri::PackageInfo, env: &tauri::Env) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(hooks::ENV_RESOURCE_DIR) {
        return Ok(PathBuf::from(dir));
    }
    tauri::utils::platform::resource_dir(package_info, env).map_err(|e| format!("cannot find the app's resources: {e}"))
}

/// Sets the context's version to the release's, from `hudson-version.json`
/// among the resources, before anything reads it. Returns what to log when
/// the file cannot be read: the shell then runs with the version compiled
/// in (the workspace crates' fixed version), so an update is offered and
/// installs a whole release again.
pub fn app_version<R: tauri::Runtime>(context: &mut tauri::Context<R>) -> Option<String> {
    let compiled = context.package_info().version.clone();
    let read = resource_dir(context.package_info(), &tauri::Env::default())
        .and_then(|dir| AppVersion::read(&dir))
        .and_then(|doc| semver::Version::parse(&doc.version).map_err(|e| format!("{:?}: {e}", doc.version)));
    match read {
        Ok(version) => {
            context.package_info_mut().version = version;
            None
        }
        Err(e) => Some(format!(
            "the app version is unknown ({e}); running as {compiled}. The installation is incomplete: reinstall Hudson."
        )),
    }
}

/// Reads `hudson-shell.json` from the resource directory.
pub fn load(resource_dir: &Path) -> Result<ShellConfig, String> {
    let path = resource_dir.join(SHELL_CONFIG_FILE);
    let bytes = hudson_lifecycle::untrusted::read(&path, MAX_SHELL_CONFIG_BYTES)
        .map_err(|e| format!("{e}. The installation is incomplete: reinstall Hudson."))?;
    ShellConfig::from_slice(&bytes)
        .map_err(|e| format!("{} is not valid: {e}. The installation is damaged: reinstall Hudson.", path.display()))
}

/// Where the backend lives.
pub fn backend_program(config: &ShellConfig, resource_dir: &Path) -> PathBuf {
    match config.packaging {
        Packaging::Release => resource_dir.join("backend"),
        Packaging::Burrito => {
            let exe_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf));
            let name = if cfg!(windows) { format!("{}.exe", config.sidecar) } else { config.sidecar.clone() };
            exe_dir.unwrap_or_default().join(name)
        }
    }
}
