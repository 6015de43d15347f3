//! What this project relies on about Burrito (its README and `lib/burrito.ex`,
//! https://github.com/burrito-elixir/burrito): the output file's name and where a built
//! binary extracts itself. The Zig version each Burrito release builds with
//! is a prerequisite, checked by `doctor` (`core::doctor::zig_for`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::core::config::Config;
use crate::core::target::Target;

/// `burrito_out/<release>_<alias>[.exe]` in the Mix project.
pub fn output(config: &Config, target: &Target) -> PathBuf {
    config.backend_dir.join("burrito_out").join(format!(
        "{}_{}{}",
        config.release,
        config.burrito_alias(target),
        target.exe_suffix()
    ))
}

/// Where a Burrito binary of `release` extracts itself on this machine:
/// `<base>/.burrito/`, with `<base>` from `<RELEASE>_INSTALL_DIR` or the
/// user's app-data folder (XDG data home on Linux, Application Support on
/// macOS, LOCALAPPDATA on Windows).
pub fn extraction_base(release: &str) -> Option<PathBuf> {
    let override_var = format!("{}_INSTALL_DIR", release.to_uppercase());
    if let Some(dir) = std::env::var_os(override_var) {
        return Some(PathBuf::from(dir).join(".burrito"));
    }
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    let base = if cfg!(target_os = "macos") {
        home()?.join("Library/Application Support")
    } else if cfg!(windows) {
        PathBuf::from(std::env::var_os("LOCALAPPDATA")?)
    } else {
        match std::env::var_os("XDG_DATA_HOME") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => home()?.join(".local/share"),
        }
    };
    Some(base.join(".burrito"))
}

/// Removes this machine's extraction folders of `release` at `version`
/// (`<release>_erts-*_<version>`). A production Burrito binary never
/// extracts again while its folder exists, so without this a rebuilt
/// binary with an unchanged version would run the previous build's code
/// on the machine that built it. Returns the folders removed.
pub fn clear_extraction_cache(release: &str, version: &str) -> Result<Vec<PathBuf>> {
    match extraction_base(release) {
        Some(base) => clear_extraction_cache_in(&base, release, version),
        None => Ok(Vec::new()),
    }
}

/// [`clear_extraction_cache`] under a given `.burrito` folder.
pub fn clear_extraction_cache_in(base: &Path, release: &str, version: &str) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(base) else { return Ok(Vec::new()) };
    let prefix = format!("{release}_erts-");
    let suffix = format!("_{version}");
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(&suffix) && entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing Burrito's extraction folder {}", entry.path().display()))?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}
