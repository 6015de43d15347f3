//! One app version: the Cargo manifests, `mix.exs` and `tauri.conf.json`
//! must agree, or `dist` stops and names each file and value.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::core::config::Config;

/// Where the version is written, and what it says there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stated {
    pub file: PathBuf,
    pub value: String,
}

/// Every place the app version is stated.
pub fn stated_versions(config: &Config) -> Result<Vec<Stated>> {
    let mut stated: Vec<Stated> = config
        .packages
        .iter()
        .map(|(_, manifest, version)| Stated { file: manifest.clone(), value: version.clone() })
        .collect();
    stated.push(Stated { file: config.mix_exs(), value: mix_version(&config.mix_exs())? });
    stated.push(Stated { file: config.tauri_conf(), value: tauri_conf_field(&config.tauri_conf(), "version")? });
    Ok(stated)
}

/// The agreed version, or an error listing every file and value.
pub fn check(config: &Config) -> Result<String> {
    let stated = stated_versions(config)?;
    agreed(&stated, &config.workspace_root)
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
        "the app version disagrees between files; make them all the same:\n{}\n(Cargo manifests take it from [workspace.package] version in Cargo.toml)",
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
            Stated { file: root.join("src-tauri/tauri.conf.json"), value: "0.1.0".into() },
        ];
        let e = agreed(&stated, root).unwrap_err().to_string();
        assert!(e.contains("Cargo.toml: 0.1.0"), "{e}");
        assert!(e.contains("backend/mix.exs: 0.2.0"), "{e}");
        assert!(e.contains("src-tauri/tauri.conf.json: 0.1.0"), "{e}");
        assert_eq!(agreed(&stated[..1], root).unwrap(), "0.1.0");
    }

    #[test]
    fn the_checkout_agrees() {
        let config = Config::load().unwrap();
        assert_eq!(check(&config).unwrap(), config.version);
        check_identity(&config).unwrap();
    }
}
