//! `hudson-shell.json`: the shell's runtime configuration, the one contract
//! between the release toolchain and the shell. `cargo xtask dist` writes it
//! from `[workspace.metadata.hudson]` into the bundle's resource folder; the
//! shell reads it at start; `cargo xtask smoke` reads it from an unpacked
//! package to find the backend the way the shell does. All three use this
//! type, so a field is added here once: give it a `#[serde(default)]` and
//! files written before it still load.

use serde::{Deserialize, Serialize};

use crate::logs::Rotation;

/// The file's name inside the resource folder.
pub const SHELL_CONFIG_FILE: &str = "hudson-shell.json";

/// The most bytes `hudson-shell.json` may have (it is a few hundred).
pub const MAX_SHELL_CONFIG_BYTES: u64 = 64 << 10;

/// The document. Fields are in the order `dist` has always written them
/// (alphabetical, as a `serde_json` map wrote them), so the bytes in a
/// package, and the fingerprints that hash them, stay the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ShellConfig {
    /// A Sentry DSN for opt-in crash upload
    /// (`[workspace.metadata.hudson] crash-report-dsn`); none: nothing can
    /// ever be sent. Even with one, nothing is sent until the user turns it
    /// on in the Diagnostics window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_report_dsn: Option<String>,
    /// How an update replaces this install. `dist` writes it for each
    /// artifact, so the shell never guesses; none: updates cannot be
    /// installed (a development run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_kind: Option<InstallKind>,
    /// Rotated log files kept besides the live one.
    #[serde(default = "default_log_keep")]
    pub log_keep: u32,
    /// The log rotates when a file would exceed this size.
    #[serde(default = "default_log_max_bytes")]
    pub log_max_bytes: u64,
    /// `release`: `<resources>/backend/bin/<release> start`;
    /// `burrito`: the sidecar binary next to the shell executable.
    pub packaging: Packaging,
    /// The `mix release` name (`bin/<release>`).
    pub release: String,
    /// Backend route the Settings menu item opens.
    #[serde(default = "default_settings_route")]
    pub settings_route: String,
    /// The sidecar's name (Burrito packaging), without `.exe`.
    pub sidecar: String,
    /// How long the shell waits for the backend's handshake and health.
    #[serde(default = "default_startup_timeout_secs")]
    pub startup_timeout_secs: u64,
    /// In-app updates (`[workspace.metadata.hudson.updates]`); none means
    /// updates are not set up for this build.
    #[serde(default)]
    pub updates: Option<UpdatesConfig>,
}

/// How an update replaces an install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstallKind {
    /// The Linux portable tree (`<Product>-<version>-<triple>.tar.gz`): the
    /// folder holding the shell executable is swapped as a whole.
    Portable,
    /// The macOS `.app` (from the `.app.tar.gz`), swapped as a whole.
    App,
    /// A tauri-bundler package (deb, rpm, nsis, msi): the package type the
    /// bundler patched into the shell binary of that package says which
    /// installer runs (`tauri::utils::platform::bundle_type`).
    Package,
}

/// `updates` in `hudson-shell.json`: where and how often to look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct UpdatesConfig {
    /// The channel tree's base URL (`<endpoint>/<channel>/manifest.json`):
    /// HTTPS, or plain HTTP to a loopback host only.
    pub endpoint: String,
    /// The channel this build follows.
    #[serde(default = "default_channel")]
    pub channel: String,
    /// Hours between background checks (0: only on "Check for updates").
    #[serde(default = "default_interval_hours")]
    pub interval_hours: u32,
    /// Files in the backend's data folder snapshotted before a new version's
    /// first boot and restored if it is rolled back (relative paths).
    #[serde(default)]
    pub snapshot_files: Vec<String>,
}

/// `updates.channel` when none is given.
pub fn default_channel() -> String {
    "stable".into()
}

/// `updates.interval-hours` when none is given.
pub fn default_interval_hours() -> u32 {
    6
}

impl InstallKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallKind::Portable => "portable",
            InstallKind::App => "app",
            InstallKind::Package => "package",
        }
    }
}

/// How the backend ships inside the bundle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Packaging {
    /// The `mix release` directory ships as a bundle resource.
    #[default]
    Release,
    /// A single Burrito binary ships as a Tauri sidecar.
    Burrito,
}

impl ShellConfig {
    /// The configuration of a backend with every optional field at its
    /// default.
    pub fn new(packaging: Packaging, release: impl Into<String>, sidecar: impl Into<String>) -> Self {
        ShellConfig {
            log_keep: default_log_keep(),
            log_max_bytes: default_log_max_bytes(),
            packaging,
            release: release.into(),
            settings_route: default_settings_route(),
            sidecar: sidecar.into(),
            startup_timeout_secs: default_startup_timeout_secs(),
            updates: None,
            install_kind: None,
            crash_report_dsn: None,
        }
    }

    /// Reads the document (`deny_unknown_fields`: a key this shell does not
    /// know means the file was not written for it).
    pub fn from_slice(bytes: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(bytes)
    }

    /// The document as `dist` writes it.
    pub fn to_pretty_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("the shell config is plain data")
    }

    /// The shell's log rotation.
    pub fn rotation(&self) -> Rotation {
        Rotation { max_bytes: self.log_max_bytes, keep: self.log_keep }
    }
}

/// `settings-route` when none is given.
pub fn default_settings_route() -> String {
    "/settings".into()
}

/// `startup-timeout-secs` when none is given.
pub fn default_startup_timeout_secs() -> u64 {
    30
}

/// `log-max-bytes` when none is given.
pub fn default_log_max_bytes() -> u64 {
    Rotation::default().max_bytes
}

/// `log-keep` when none is given.
pub fn default_log_keep() -> u32 {
    Rotation::default().keep
}

impl Packaging {
    pub const ALL: [Packaging; 2] = [Packaging::Release, Packaging::Burrito];

    pub fn as_str(self) -> &'static str {
        match self {
            Packaging::Release => "release",
            Packaging::Burrito => "burrito",
        }
    }
}

impl std::fmt::Display for Packaging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Packaging {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Packaging::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| format!("unknown packaging `{text}`, expected `release` or `burrito`"))
    }
}

impl Serialize for Packaging {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Packaging {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_bytes_dist_has_always_written() {
        let config = ShellConfig::new(Packaging::Release, "hudson", "hudson-backend");
        let expected = r#"{
  "log-keep": 3,
  "log-max-bytes": 1048576,
  "packaging": "release",
  "release": "hudson",
  "settings-route": "/settings",
  "sidecar": "hudson-backend",
  "startup-timeout-secs": 30,
  "updates": null
}"#;
        assert_eq!(String::from_utf8(config.to_pretty_json()).unwrap(), expected);
        assert_eq!(ShellConfig::from_slice(expected.as_bytes()).unwrap(), config);
    }

    #[test]
    fn optional_fields_default_and_unknown_ones_are_refused() {
        let config =
            ShellConfig::from_slice(br#"{"packaging":"burrito","release":"hudson","sidecar":"hudson-backend"}"#)
                .unwrap();
        assert_eq!(config, ShellConfig::new(Packaging::Burrito, "hudson", "hudson-backend"));

        let e = ShellConfig::from_slice(br#"{"packaging":"release","release":"r","sidecar":"s","colour":1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        let e = ShellConfig::from_slice(br#"{"packaging":"zip","release":"r","sidecar":"s"}"#).unwrap_err().to_string();
        assert!(e.contains("unknown packaging `zip`") && e.contains("burrito"), "{e}");
    }

    #[test]
    fn updates_and_install_kind_round_trip_with_defaults() {
        let config = ShellConfig::from_slice(
            br#"{"install-kind":"portable","packaging":"release","release":"r","sidecar":"s",
                 "updates":{"endpoint":"https://u.example/"}}"#,
        )
        .unwrap();
        assert_eq!(config.install_kind, Some(InstallKind::Portable));
        let updates = config.updates.clone().unwrap();
        assert_eq!((updates.channel.as_str(), updates.interval_hours), ("stable", 6));
        assert!(updates.snapshot_files.is_empty());
        assert_eq!(ShellConfig::from_slice(&config.to_pretty_json()).unwrap(), config);
        let e = ShellConfig::from_slice(br#"{"install-kind":"zip","packaging":"release","release":"r","sidecar":"s"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("zip"), "{e}");
    }
}
