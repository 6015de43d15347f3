//! What this project relies on about Burrito (burrito-elixir/burrito;
//! REFERENCES.md, "Burrito"): the output file's name, the Zig version each
//! Burrito release builds with, and where a built binary extracts itself.

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

/// The Zig a Burrito version needs (exactly that version: Burrito's build
/// script refuses others). Burrito 1.5 → 0.15.2; earlier 1.x → 0.13.0.
pub fn zig_for(burrito_version: &str) -> &'static str {
    let mut parts = burrito_version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    match (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) {
        (major, minor) if major > 1 || (major == 1 && minor >= 5) => "0.15.2",
        _ => "0.13.0",
    }
}

/// The Burrito version locked in the Mix project's `mix.lock`, if any.
pub fn locked_version(backend_dir: &Path) -> Option<String> {
    let lock = std::fs::read_to_string(backend_dir.join("mix.lock")).ok()?;
    // "burrito": {:hex, :burrito, "1.5.0", "<hash>", …}
    let entry = lock.lines().find(|l| l.trim_start().starts_with("\"burrito\":"))?;
    let after = entry.split(":burrito,").nth(1)?;
    Some(after.split('"').nth(1)?.to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zig_versions() {
        assert_eq!(zig_for("1.5.0"), "0.15.2");
        assert_eq!(zig_for("1.4.0"), "0.13.0");
        assert_eq!(zig_for("2.0.0"), "0.15.2");
    }

    #[test]
    fn locked_burrito_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mix.lock"),
            "%{\n  \"burrito\": {:hex, :burrito, \"1.5.0\", \"abc\", [:mix], [], \"hexpm\", \"def\"},\n}\n",
        )
        .unwrap();
        assert_eq!(locked_version(dir.path()).as_deref(), Some("1.5.0"));
    }
}
