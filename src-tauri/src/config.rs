//! The shell's runtime configuration: `hudson-shell.json`, written by
//! `cargo xtask dist` from `[workspace.metadata.hudson]` and shipped as a
//! bundle resource next to the backend, so the shell never hard-codes what
//! the release toolchain decides. Its schema and defaults are
//! `hudson_lifecycle::contract::ShellConfig`; this module reads it and says
//! what to do when it cannot.

use std::path::{Path, PathBuf};

pub use hudson_lifecycle::contract::{Packaging, SHELL_CONFIG_FILE, ShellConfig};

/// Reads `hudson-shell.json` from the resource directory.
pub fn load(resource_dir: &Path) -> Result<ShellConfig, String> {
    let path = resource_dir.join(SHELL_CONFIG_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        format!("cannot read {}: {e}. The installation is incomplete: reinstall Hudson.", path.display())
    })?;
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
