//! One app version: `[workspace.metadata.hudson] version` in Cargo.toml and
//! `version:` in `mix.exs` must agree, or `dist` stops and names each file
//! and value.
//!
//! Nothing compiled into the shell states it. `[workspace.package] version`
//! (every workspace crate's) stays the same across releases: Cargo hashes a
//! crate's version into every symbol, so a bump rewrote 22 of the shell's
//! 27 MB and a backend-only delta update fetched the whole shell again.
//! `tauri.conf.json` has no `version` for the same reason (Tauri compiles it
//! into the binary); `dist` refuses one. The shell reads the version from
//! `hudson-version.json`, which `dist` writes beside `hudson-shell.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::core::config::{Config, SECTION};

/// Where the version is written, and what it says there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stated {
    pub file: PathBuf,
    pub value: String,
}

/// Every place the app version is stated.
pub fn stated_versions(config: &Config) -> Result<Vec<Stated>> {
    Ok(vec![
        Stated { file: config.workspace_root.join("Cargo.toml"), value: config.version.clone() },
        Stated { file: config.mix_exs(), value: mix_version(&config.mix_exs())? },
    ])
}

/// The agreed version, or an error listing every file and value; and no
/// version where the shell would compile it in.
pub fn check(config: &Config) -> Result<String> {
    crates_fixed(&config.packages, &config.workspace_root)?;
    let shell_dir = config.tauri_conf().parent().map(Path::to_path_buf).unwrap_or_default();
    for name in TAURI_CONFIGS {
        let path = shell_dir.join(name);
        if name == "tauri.conf.json" || path.exists() {
            not_compiled_in(&path, &config.workspace_root)?;
        }
    }
    if let Some(merged) = std::env::var_os("TAURI_CONFIG") {
        let merged: serde_json::Value = serde_json::from_str(&merged.to_string_lossy()).unwrap_or_default();
        if let Some(found) = merged.get("version") {
            bail!("TAURI_CONFIG states a version ({found}): unset it. {WHY_NOT_COMPILED_IN}");
        }
    }
    let stated = stated_versions(config)?;
    agreed(&stated, &config.workspace_root)
}

/// The configuration files Tauri merges at build time (the shell's own and
/// each platform's); `TAURI_CONFIG` is checked as well.
const TAURI_CONFIGS: [&str; 4] =
    ["tauri.conf.json", "tauri.linux.conf.json", "tauri.macos.conf.json", "tauri.windows.conf.json"];

/// The version every workspace crate keeps.
pub const CRATES_VERSION: &str = "0.0.0";

const WHY_NOT_COMPILED_IN: &str = "The app version lives in Cargo.toml [workspace.metadata.hudson].version and \
     backend/mix.exs; one compiled into the shell makes every release's shell binary differ, so each delta update \
     would download the whole shell again.";

/// Every workspace crate is at [`CRATES_VERSION`]: Cargo hashes a crate's
/// version into its symbols, so a bump with each release rewrites the
/// shell and the NIF.
fn crates_fixed(packages: &[(String, PathBuf, String)], root: &Path) -> Result<()> {
    let bumped: Vec<String> = packages
        .iter()
        .filter(|(_, _, version)| version != CRATES_VERSION)
        .map(|(name, manifest, version)| {
            format!("  {name} {version} ({})", manifest.strip_prefix(root).unwrap_or(manifest).display())
        })
        .collect();
    if !bumped.is_empty() {
        bail!(
            "the workspace crates must stay at version {CRATES_VERSION} ([workspace.package] version); these are not:\n{}\n\
             Bump the app version in Cargo.toml {SECTION}.version instead. Cargo hashes a crate's version into every \
             symbol, so a new one rewrites the shell binary and each delta update would download the whole shell again.",
            bumped.join("\n")
        );
    }
    Ok(())
}

/// A Tauri configuration file states no `version`: Tauri would compile it
/// into the shell, whose bytes would then change with every release.
fn not_compiled_in(tauri_conf: &Path, root: &Path) -> Result<()> {
    let bytes = std::fs::read(tauri_conf).with_context(|| format!("reading {}", tauri_conf.display()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", tauri_conf.display()))?;
    if let Some(found) = value.get("version") {
        bail!(
            "{} states a version ({found}): remove it. {WHY_NOT_COMPILED_IN}",
            tauri_conf.strip_prefix(root).unwrap_or(tauri_conf).display()
        );
    }
    Ok(())
}

fn agreed(stated: &[Stated], root: &Path) -> Result<String> {
    let first = &stated[0].value;
    if stated.iter().all(|s| &s.value == first) {
        return Ok(first.clone());
    }
    let lines: Vec<String> = stated
        .iter()
        .map(|s| format!("  {}: {}", s.file.strip_prefix(root).unwrap_or(&s.file).display(), s.value))
        .collect();
    bail!(
        "the app version disagrees between files; make them all the same:\n{}\n(in Cargo.toml it is {SECTION}.version, not [workspace.package] version)",
        lines.join("\n")
    )
}

/// The literal `version: "X"` of a `mix.exs` project.
pub fn mix_version(mix_exs: &Path) -> Result<String> {
    let text = std::fs::read_to_string(mix_exs).with_context(|| format!("reading {}", mix_exs.display()))?;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("version:") {
            let rest = rest.trim();
            if let Some(value) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                return Ok(value.to_owned());
            }
        }
    }
    bail!("{}: no `version: \"X.Y.Z\"` line in the project definition", mix_exs.display())
}

/// A string field of `tauri.conf.json`.
pub fn tauri_conf_field(path: &Path, field: &str) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", path.display()))?;
    value
        .get(field)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .with_context(|| format!("{}: no string field `{field}`", path.display()))
}

/// `productName` and `identifier` of `tauri.conf.json` match the release
/// configuration.
pub fn check_identity(config: &Config) -> Result<()> {
    let conf = config.tauri_conf();
    for (field, expected, key) in
        [("productName", &config.product_name, "product-name"), ("identifier", &config.identifier, "identifier")]
    {
        let found = tauri_conf_field(&conf, field)?;
        if &found != expected {
            bail!(
                "{} says {field} = {found:?} but Cargo.toml {}.{key} = {expected:?}; make them the same",
                config.relative(&conf),
                crate::core::config::SECTION
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_mix_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mix.exs");
        std::fs::write(&path, "def project do\n  [\n    app: :hudson,\n    version: \"1.2.3\",\n  ]\nend\n").unwrap();
        assert_eq!(mix_version(&path).unwrap(), "1.2.3");
        std::fs::write(&path, "def project, do: [app: :x]\n").unwrap();
        assert!(mix_version(&path).unwrap_err().to_string().contains("version"));
    }

    #[test]
    fn disagreement_names_every_file_and_value() {
        let root = Path::new("/w");
        let stated = vec![
            Stated { file: root.join("Cargo.toml"), value: "0.1.0".into() },
            Stated { file: root.join("backend/mix.exs"), value: "0.2.0".into() },
        ];
        let e = agreed(&stated, root).unwrap_err().to_string();
        assert!(e.contains("Cargo.toml: 0.1.0"), "{e}");
        assert!(e.contains("backend/mix.exs: 0.2.0"), "{e}");
        assert!(e.contains("[workspace.metadata.hudson].version"), "{e}");
        assert_eq!(agreed(&stated[..1], root).unwrap(), "0.1.0");
    }

    #[test]
    fn a_version_in_tauri_conf_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("src-tauri/tauri.conf.json");
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        std::fs::write(&conf, r#"{"productName":"Hudson","identifier":"dev.hudson.desktop"}"#).unwrap();
        not_compiled_in(&conf, dir.path()).unwrap();
        std::fs::write(&conf, r#"{"productName":"Hudson","version":"0.2.0"}"#).unwrap();
        let e = not_compiled_in(&conf, dir.path()).unwrap_err().to_string();
        assert!(e.contains("src-tauri/tauri.conf.json states a version (\"0.2.0\")"), "{e}");
        assert!(e.contains("remove it") && e.contains("delta"), "{e}");
    }

    #[test]
    fn a_bumped_crate_is_refused_by_name() {
        let root = Path::new("/w");
        let fixed =
            |name: &str, version: &str| (name.to_owned(), root.join(name).join("Cargo.toml"), version.to_owned());
        crates_fixed(&[fixed("xtask", "0.0.0"), fixed("src-tauri", "0.0.0")], root).unwrap();
        let e = crates_fixed(&[fixed("xtask", "0.0.0"), fixed("src-tauri", "0.2.0")], root).unwrap_err().to_string();
        assert!(e.contains("src-tauri 0.2.0 (src-tauri/Cargo.toml)") && !e.contains("  xtask"), "{e}");
        assert!(e.contains("[workspace.metadata.hudson].version instead"), "{e}");
    }

    #[test]
    fn the_checkout_agrees() {
        let config = Config::load().unwrap();
        assert_eq!(check(&config).unwrap(), config.version);
        check_identity(&config).unwrap();
    }
}
