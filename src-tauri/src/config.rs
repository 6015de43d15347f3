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
/// among the resources, before anything reads it. The error says why it
/// could not: the shell then shows the version compiled in (the crates'
/// fixed `0.0.0`) and turns updates off with that reason, since an updater
/// that does not know what is installed would misjudge every journal,
/// yank and minimum version.
pub fn app_version<R: tauri::Runtime>(context: &mut tauri::Context<R>) -> Result<(), String> {
    let dir = resource_dir(context.package_info(), &tauri::Env::default());
    let version = dir.and_then(|dir| version_in(&dir))?;
    context.package_info_mut().version = version;
    Ok(())
}

/// The version `hudson-version.json` in `resources` states.
fn version_in(resources: &Path) -> Result<semver::Version, String> {
    let doc = AppVersion::read(resources)?;
    semver::Version::parse(&doc.version).map_err(|e| format!("{:?} is not a version: {e}", doc.version))
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

#[cfg(test)]
mod tests {
    use super::*;
    use hudson_lifecycle::contract::VERSION_FILE;

    #[test]
    fn the_version_is_the_resource_files() {
        let dir = tempfile::tempdir().unwrap();
        let e = version_in(dir.path()).unwrap_err();
        assert!(e.contains(VERSION_FILE) && e.contains("does not exist"), "{e}");
        std::fs::write(dir.path().join(VERSION_FILE), r#"{"version":"0.3.1-rc.1"}"#).unwrap();
        assert_eq!(version_in(dir.path()).unwrap(), semver::Version::parse("0.3.1-rc.1").unwrap());
        // A file the contract accepts but semver does not.
        std::fs::write(dir.path().join(VERSION_FILE), r#"{"version":"1.2"}"#).unwrap();
        let e = version_in(dir.path()).unwrap_err();
        assert!(e.contains("\"1.2\" is not a version"), "{e}");
    }
}
