//! The shell's runtime configuration: `hudson-shell.json`, written by
//! `cargo xtask dist` from `[workspace.metadata.hudson]` and shipped as a
//! bundle resource next to the backend, so the shell never hard-codes what
//! the release toolchain decides.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// File name inside the resource directory.
pub const FILE_NAME: &str = "hudson-shell.json";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ShellConfig {
    /// `release`: `<resources>/backend/bin/<release> start`;
    /// `burrito`: the sidecar binary next to the shell executable.
    pub packaging: Packaging,
    pub release: String,
    pub sidecar: String,
    /// Backend route the Settings menu item opens.
    #[serde(default = "default_settings_route")]
    pub settings_route: String,
    #[serde(default = "default_startup_timeout")]
    pub startup_timeout_secs: u64,
    /// Where "Check for updates" looks; none means updates are not set up.
    #[serde(default)]
    pub update_endpoint: Option<String>,
    /// The log rotates when a file would exceed this size.
    #[serde(default = "default_log_max_bytes")]
    pub log_max_bytes: u64,
    /// Rotated log files kept besides the live one.
    #[serde(default = "default_log_keep")]
    pub log_keep: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Packaging {
    Release,
    Burrito,
}

fn default_settings_route() -> String {
    "/settings".into()
}

fn default_startup_timeout() -> u64 {
    30
}

fn default_log_max_bytes() -> u64 {
    hudson_lifecycle::logs::Rotation::default().max_bytes
}

fn default_log_keep() -> u32 {
    hudson_lifecycle::logs::Rotation::default().keep
}

impl ShellConfig {
    pub fn load(resource_dir: &Path) -> Result<Self, String> {
        let path = resource_dir.join(FILE_NAME);
        let bytes = std::fs::read(&path).map_err(|e| {
            format!("cannot read {}: {e}. The installation is incomplete: reinstall Hudson.", path.display())
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            format!("{} is not valid: {e}. The installation is damaged: reinstall Hudson.", path.display())
        })
    }

    pub fn rotation(&self) -> hudson_lifecycle::logs::Rotation {
        hudson_lifecycle::logs::Rotation { max_bytes: self.log_max_bytes, keep: self.log_keep }
    }

    /// Where the backend lives.
    pub fn backend_program(&self, resource_dir: &Path) -> PathBuf {
        match self.packaging {
            Packaging::Release => resource_dir.join("backend"),
            Packaging::Burrito => {
                let exe_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf));
                let name = if cfg!(windows) { format!("{}.exe", self.sidecar) } else { self.sidecar.clone() };
                exe_dir.unwrap_or_default().join(name)
            }
        }
    }
}
