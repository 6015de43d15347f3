//! The release configuration: `[workspace.metadata.hudson]` in the root
//! `Cargo.toml`, read through `cargo metadata`. One place for product name,
//! identifier, backend, packaging, sidecar, Burrito aliases, NIFs and
//! channels; every command asks [`Config::load`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hudson_lifecycle::contract::shell_config;
pub use hudson_lifecycle::contract::{InstallKind, Packaging, ShellConfig, UpdatesConfig};
use serde::Deserialize;

use crate::core::target::{Os, Target};

/// The section's name, as users see it in errors.
pub const SECTION: &str = "[workspace.metadata.hudson]";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Raw {
    /// The app version (`X.Y.Z`); `mix.exs` must say the same.
    version: String,
    product_name: String,
    identifier: String,
    shell_package: String,
    sidecar: String,
    #[serde(default)]
    nifs: Vec<String>,
    #[serde(default = "shell_config::default_settings_route")]
    settings_route: String,
    #[serde(default = "shell_config::default_startup_timeout_secs")]
    startup_timeout_secs: u64,
    #[serde(default = "shell_config::default_log_max_bytes")]
    log_max_bytes: u64,
    #[serde(default = "shell_config::default_log_keep")]
    log_keep: u32,
    backend: RawBackend,
    #[serde(default)]
    burrito_aliases: BTreeMap<String, String>,
    #[serde(default)]
    signing: RawSigning,
    #[serde(default)]
    channels: RawChannels,
    #[serde(default)]
    updates: Option<UpdatesConfig>,
    #[serde(default)]
    crash_report_dsn: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawSigning {
    /// The release public key the app trusts, relative to the workspace.
    #[serde(default)]
    public_key: Option<PathBuf>,
    /// The OpenPGP public key the package repositories are signed with
    /// (`keygen --openpgp`'s `.asc`), relative to the workspace.
    #[serde(default)]
    openpgp_public_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawChannels {
    #[serde(default = "default_protected")]
    protected: Vec<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default = "default_expires_in")]
    expires_in: String,
    #[serde(default = "default_manifests_dir")]
    manifests_dir: PathBuf,
}

impl Default for RawChannels {
    fn default() -> Self {
        RawChannels {
            protected: default_protected(),
            base_url: None,
            expires_in: default_expires_in(),
            manifests_dir: default_manifests_dir(),
        }
    }
}

fn default_protected() -> Vec<String> {
    vec!["stable".into()]
}

fn default_expires_in() -> String {
    "30d".into()
}

fn default_manifests_dir() -> PathBuf {
    "release-manifests".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawBackend {
    path: PathBuf,
    release: String,
    #[serde(default)]
    packaging: Packaging,
    #[serde(default)]
    nif_crates: Vec<String>,
}

/// The loaded, checked configuration plus the workspace facts it needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
    /// Where `dist` writes what a release ships: `target/dist/` unless
    /// `dist --out-dir` says otherwise (test builds of other versions go to
    /// folders of their own, never beside the release).
    pub dist_root: PathBuf,
    /// The app version: `[workspace.metadata.hudson] version`. Not
    /// `[workspace.package] version`, which stays the same across releases
    /// (core::version says why).
    pub version: String,
    pub product_name: String,
    pub identifier: String,
    pub shell_package: String,
    /// Binary name of the shell package.
    pub shell_binary: String,
    /// Folder of the shell package (holds `tauri.conf.json`).
    pub shell_dir: PathBuf,
    pub sidecar: String,
    /// NIF modules `/healthz` must report as loaded. Read by `smoke`, which
    /// drives processes with Unix signals and is built on Unix only.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub nifs: Vec<String>,
    pub settings_route: String,
    pub startup_timeout_secs: u64,
    /// `[workspace.metadata.hudson.updates]`, checked; none: the app has
    /// no in-app updates.
    pub updates: Option<UpdatesConfig>,
    /// The shell's log rotates when a file would exceed this size.
    pub log_max_bytes: u64,
    /// Rotated log files kept besides the live one.
    pub log_keep: u32,
    /// Sentry DSN for opt-in crash upload (`crash-report-dsn`); none: the
    /// app can never send a crash report.
    pub crash_report_dsn: Option<String>,
    pub backend_dir: PathBuf,
    pub release: String,
    pub packaging: Packaging,
    pub nif_crates: Vec<String>,
    burrito_aliases: BTreeMap<String, String>,
    /// Every workspace package: (name, manifest path, version).
    pub packages: Vec<(String, PathBuf, String)>,
    /// Local path dependencies of the shell, each a folder whose files feed
    /// the shell build.
    pub shell_source_dirs: Vec<PathBuf>,
    pub signing: SigningConfig,
    pub channels: ChannelsConfig,
}

/// `[workspace.metadata.hudson.signing]`.
#[derive(Debug, Clone)]
pub struct SigningConfig {
    /// The release public key the app trusts (absolute path), if configured.
    pub public_key: Option<PathBuf>,
    /// The OpenPGP key of the package repositories (absolute path), if configured.
    pub openpgp_public_key: Option<PathBuf>,
}

/// `[workspace.metadata.hudson.channels]`.
#[derive(Debug, Clone)]
pub struct ChannelsConfig {
    /// Channels that refuse the development key (default: `stable`).
    pub protected: Vec<String>,
    /// Default for `publish --base-url`.
    pub base_url: Option<String>,
    /// How long a newly signed channel manifest stays valid.
    pub expires_in: time::Duration,
    /// Where the per-channel manifests live (absolute path).
    pub manifests_dir: PathBuf,
}

impl Config {
    /// Reads the configuration of the workspace around the current folder.
    pub fn load() -> Result<Config> {
        let metadata = cargo_metadata::MetadataCommand::new()
            .no_deps()
            .exec()
            .context("running `cargo metadata` (is this a checkout of Hudson Desktop?)")?;
        Config::from_metadata(&metadata)
    }

    fn from_metadata(metadata: &cargo_metadata::Metadata) -> Result<Config> {
        let root: PathBuf = metadata.workspace_root.clone().into();
        let manifest = root.join("Cargo.toml");
        let value = metadata.workspace_metadata.get("hudson").cloned().with_context(|| {
            format!("{} has no {SECTION} section: add it (see docs/xtask.md, \"Configuration\")", manifest.display())
        })?;
        let raw: Raw = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { format!(".{key}") };
            anyhow::anyhow!("{} {SECTION}{key}: {}", manifest.display(), e.inner())
        })?;

        // Overrides of the targets table's defaults: one that repeats the
        // default would hide a later change of the table, so it is refused.
        for (triple, alias) in &raw.burrito_aliases {
            let target = Target::parse(triple)
                .with_context(|| format!("{} {SECTION}.burrito-aliases.{triple}", manifest.display()))?;
            if alias == target.default_burrito_alias {
                bail!(
                    "{} {SECTION}.burrito-aliases.{triple}: `{alias}` is already the default for this target; remove the line (the key only overrides the targets table)",
                    manifest.display()
                );
            }
            if alias.is_empty() || alias.contains(',') {
                bail!(
                    "{} {SECTION}.burrito-aliases.{triple}: `{alias}` is not one Burrito alias (BURRITO_TARGET takes exactly one)",
                    manifest.display()
                );
            }
        }
        if semver::Version::parse(&raw.version).is_err() {
            bail!(
                "{} {SECTION}.version = {:?} is not a version: write the app version as X.Y.Z (semver, e.g. \"0.2.0\")",
                manifest.display(),
                raw.version
            );
        }
        for (key, value) in [
            ("product-name", &raw.product_name),
            ("identifier", &raw.identifier),
            ("sidecar", &raw.sidecar),
            ("backend.release", &raw.backend.release),
        ] {
            if value.trim().is_empty() {
                bail!("{} {SECTION}.{key} must not be empty", manifest.display());
            }
        }
        for channel in &raw.channels.protected {
            if !signing::manifest::is_channel_name(channel) {
                bail!(
                    "{} {SECTION}.channels.protected: {channel:?} is not a channel name ([a-z0-9][a-z0-9-]*, at most 64 characters)",
                    manifest.display()
                );
            }
        }
        let expires_in = parse_expires_in(&raw.channels.expires_in)
            .with_context(|| format!("{} {SECTION}.channels.expires-in", manifest.display()))?;
        if let Some(dsn) = &raw.crash_report_dsn
            && let Err(why) = signing::policy::check_crash_report_dsn(dsn)
        {
            bail!(
                "{} {SECTION}.crash-report-dsn is refused: {why}; it must be a Sentry DSN, https://<public key>@<host>/<project id>",
                manifest.display()
            );
        }
        if !raw.settings_route.starts_with('/') {
            bail!("{} {SECTION}.settings-route must start with `/` (it is a path on the backend)", manifest.display());
        }
        if raw.log_max_bytes < 4096 || raw.log_keep == 0 {
            bail!(
                "{} {SECTION}.log-max-bytes must be at least 4096 and log-keep at least 1 (got {} and {})",
                manifest.display(),
                raw.log_max_bytes,
                raw.log_keep
            );
        }

        if let Some(updates) = &raw.updates {
            check_updates(updates).with_context(|| format!("{} {SECTION}.updates", manifest.display()))?;
        }

        let workspace_members: Vec<&cargo_metadata::Package> =
            metadata.packages.iter().filter(|p| metadata.workspace_members.contains(&p.id)).collect();
        let shell = workspace_members.iter().find(|p| p.name.as_str() == raw.shell_package).with_context(|| {
            format!(
                "{} {SECTION}.shell-package: no workspace package named `{}`",
                manifest.display(),
                raw.shell_package
            )
        })?;
        let shell_binary = shell
            .targets
            .iter()
            .find(|t| t.is_bin())
            .map(|t| t.name.clone())
            .with_context(|| format!("package `{}` has no binary target", raw.shell_package))?;
        let shell_dir: PathBuf = shell.manifest_path.parent().expect("a manifest has a folder").into();
        let mut shell_source_dirs = vec![shell_dir.clone()];
        for dep in &shell.dependencies {
            if let Some(path) = &dep.path {
                shell_source_dirs.push(path.clone().into());
            }
        }
        for nif in &raw.backend.nif_crates {
            if !workspace_members.iter().any(|p| p.name.as_str() == nif) {
                bail!("{} {SECTION}.backend.nif-crates: no workspace package named `{nif}`", manifest.display());
            }
        }
        let version = raw.version.clone();

        Ok(Config {
            target_dir: metadata.target_directory.clone().into(),
            dist_root: PathBuf::from(metadata.target_directory.as_std_path()).join("dist"),
            version,
            product_name: raw.product_name,
            identifier: raw.identifier,
            shell_package: raw.shell_package,
            shell_binary,
            shell_dir,
            sidecar: raw.sidecar,
            nifs: raw.nifs,
            settings_route: raw.settings_route,
            startup_timeout_secs: raw.startup_timeout_secs,
            updates: raw.updates,
            log_max_bytes: raw.log_max_bytes,
            log_keep: raw.log_keep,
            crash_report_dsn: raw.crash_report_dsn,
            backend_dir: root.join(&raw.backend.path),
            release: raw.backend.release,
            packaging: raw.backend.packaging,
            nif_crates: raw.backend.nif_crates,
            burrito_aliases: raw.burrito_aliases,
            packages: workspace_members
                .iter()
                .map(|p| (p.name.to_string(), p.manifest_path.clone().into(), p.version.to_string()))
                .collect(),
            shell_source_dirs,
            signing: SigningConfig {
                public_key: raw.signing.public_key.map(|path| root.join(path)),
                openpgp_public_key: raw.signing.openpgp_public_key.map(|path| root.join(path)),
            },
            channels: ChannelsConfig {
                protected: raw.channels.protected,
                base_url: raw.channels.base_url,
                expires_in,
                manifests_dir: root.join(raw.channels.manifests_dir),
            },
            workspace_root: root,
        })
    }

    /// The Burrito alias for a target: configured, else the table's default.
    pub fn burrito_alias(&self, target: &Target) -> String {
        self.burrito_aliases.get(target.triple).cloned().unwrap_or_else(|| target.default_burrito_alias.to_owned())
    }

    /// `target/dist/<version>/<triple>/`: what a release ships.
    pub fn dist_dir(&self, target: &Target) -> PathBuf {
        self.dist_root.join(&self.version).join(target.triple)
    }

    /// `target/dist-work/<triple>/`: intermediate files and fingerprints.
    pub fn work_dir(&self, target: &Target) -> PathBuf {
        self.target_dir.join("dist-work").join(target.triple)
    }

    /// The release-mode shell executable the shell step builds.
    pub fn shell_binary_path(&self, target: &Target) -> PathBuf {
        self.target_dir.join(target.triple).join("release").join(format!(
            "{}{}",
            self.shell_binary,
            target.exe_suffix()
        ))
    }

    /// The folder whose content becomes the bundle's resource directory.
    pub fn resources_dir(&self, target: &Target) -> PathBuf {
        self.work_dir(target).join("resources")
    }

    /// `<shell>/binaries/<sidecar>-<triple>[.exe]`, where Tauri's externalBin
    /// looks for the Burrito sidecar.
    pub fn sidecar_path(&self, target: &Target) -> PathBuf {
        self.shell_dir.join("binaries").join(target.sidecar_file_name(&self.sidecar))
    }

    /// Where the updater step writes its artifacts and signatures.
    pub fn updater_dir(&self, target: &Target) -> PathBuf {
        self.work_dir(target).join("updater")
    }

    /// The macOS disk image the dmg step makes.
    pub fn dmg_path(&self, target: &Target) -> PathBuf {
        self.work_dir(target).join("dmg").join(format!(
            "{}_{}_{}.dmg",
            self.product_name,
            self.version,
            target.arch().as_str()
        ))
    }

    /// `_build/prod/rel/<release>/` of the backend.
    pub fn release_dir(&self) -> PathBuf {
        self.backend_dir.join("_build/prod/rel").join(&self.release)
    }

    pub fn tauri_conf(&self) -> PathBuf {
        self.shell_dir.join("tauri.conf.json")
    }

    /// The entitlements macOS code is signed with.
    pub fn entitlements_plist(&self) -> PathBuf {
        self.workspace_root.join("signing/entitlements.plist")
    }

    pub fn mix_exs(&self) -> PathBuf {
        self.backend_dir.join("mix.exs")
    }

    /// The shell's runtime configuration (`hudson-shell.json`) that `dist`
    /// stages as a resource of `target`'s bundles, derived from this one.
    /// Its install kind is the bundles': `app` on macOS (the `.app`, updated
    /// from the `.app.tar.gz`), `package` on Linux and Windows (deb, rpm,
    /// nsis, msi: tauri-bundler patches the package type into the shell
    /// binary of each, and the shell reads it with
    /// `tauri::utils::platform::bundle_type`). The Linux portable tree ships
    /// a copy that says `portable` (`release::step6_updater`).
    pub fn shell_runtime_config(&self, target: &Target) -> ShellConfig {
        let install_kind = match target.os() {
            Os::Darwin => InstallKind::App,
            Os::Linux | Os::Windows => InstallKind::Package,
        };
        ShellConfig {
            install_kind: Some(install_kind),
            settings_route: self.settings_route.clone(),
            startup_timeout_secs: self.startup_timeout_secs,
            updates: self.updates.clone(),
            log_max_bytes: self.log_max_bytes,
            log_keep: self.log_keep,
            crash_report_dsn: self.crash_report_dsn.clone(),
            ..ShellConfig::new(self.packaging, &self.release, &self.sidecar)
        }
    }

    pub fn relative<'a>(&self, path: &'a Path) -> std::borrow::Cow<'a, str> {
        path.strip_prefix(&self.workspace_root).unwrap_or(path).to_string_lossy()
    }

    /// True when `channel` refuses the development key.
    pub fn is_protected(&self, channel: &str) -> bool {
        self.channels.protected.iter().any(|c| c == channel)
    }
}

/// `[workspace.metadata.hudson.updates]`: an endpoint the updater will
/// fetch, a channel name, relative snapshot paths.
fn check_updates(updates: &UpdatesConfig) -> Result<()> {
    let url = url::Url::parse(&updates.endpoint).with_context(|| {
        format!("endpoint {:?} is not a URL (e.g. https://updates.example.com/hudson/)", updates.endpoint)
    })?;
    if let Err(why) = signing::policy::check_transport(&url) {
        bail!("endpoint {:?} is refused: {why}", updates.endpoint);
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("endpoint {:?} must not have a query or fragment", updates.endpoint);
    }
    if !signing::manifest::is_channel_name(&updates.channel) {
        bail!("channel {:?} is not a channel name ([a-z0-9][a-z0-9-]*, at most 64 characters)", updates.channel);
    }
    for file in &updates.snapshot_files {
        let path = Path::new(file);
        let plain = path.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if file.is_empty() || !plain {
            bail!("snapshot-files: {file:?} must be a plain path relative to the data folder (no `..`, not absolute)");
        }
        // The updater takes every listed file with its SQLite companions
        // (hudson_updater::layout::SQLITE_COMPANIONS), present or absent.
        if let Some(suffix) = ["-wal", "-shm", "-journal"].iter().find(|s| file.ends_with(*s)) {
            let database = &file[..file.len() - suffix.len()];
            bail!(
                "snapshot-files: {file:?} is covered already: every listed file is snapshotted and restored with its \
                 SQLite `-wal`, `-shm` and `-journal` files (present or absent, as they were); list {database:?} only"
            );
        }
    }
    Ok(())
}

/// The shortest `--expires-in` / `channels.expires-in`: a manifest valid for
/// less would expire before clients (checking every few hours) saw it.
pub const MIN_EXPIRES_IN: time::Duration = time::Duration::hours(1);

/// How long a newly signed channel manifest stays valid: a duration of at
/// least [`MIN_EXPIRES_IN`].
pub fn parse_expires_in(text: &str) -> Result<time::Duration> {
    let duration = parse_duration(text)?;
    if duration < MIN_EXPIRES_IN {
        bail!("{:?} is too short: a channel manifest must stay valid for at least one hour (`1h`)", text.trim());
    }
    Ok(duration)
}

/// A duration such as `30d`, `12h`, `90m`, `3600s` or `2w`.
pub fn parse_duration(text: &str) -> Result<time::Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds_per: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => bail!("{text:?} is not a duration: write a whole number and a unit, s, m, h, d or w (e.g. `30d`)"),
    };
    let number: i64 =
        number.parse().with_context(|| format!("{text:?} is not a duration: it needs a number, e.g. `30d`"))?;
    let seconds = number.checked_mul(seconds_per).filter(|s| *s > 0 && *s <= 10 * 365 * 86_400);
    match seconds {
        Some(seconds) => Ok(time::Duration::seconds(seconds)),
        None => bail!("{text:?} must be more than zero and at most ten years"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata_with(hudson: serde_json::Value) -> cargo_metadata::Metadata {
        let root = env!("CARGO_MANIFEST_DIR").trim_end_matches("/xtask");
        let json = serde_json::json!({
            "packages": [],
            "workspace_members": [],
            "resolve": null,
            "target_directory": format!("{root}/target"),
            "version": 1,
            "workspace_root": root,
            "metadata": { "hudson": hudson },
        });
        serde_json::from_value(json).unwrap()
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "version": "0.1.0",
            "product-name": "Hudson",
            "identifier": "dev.hudson.desktop",
            "shell-package": "hudson-desktop",
            "sidecar": "hudson-backend",
            "backend": { "path": "backend", "release": "hudson" }
        })
    }

    fn error(hudson: serde_json::Value) -> String {
        format!("{:#}", Config::from_metadata(&metadata_with(hudson)).unwrap_err())
    }

    #[test]
    fn a_malformed_config_names_the_key() {
        let mut bad = base();
        bad["backend"]["packaging"] = "zip".into();
        let e = error(bad);
        assert!(e.contains("[workspace.metadata.hudson].backend.packaging"), "{e}");
        assert!(e.contains("release") && e.contains("burrito"), "{e}");

        let mut bad = base();
        bad["sidecar"] = 3.into();
        let e = error(bad);
        assert!(e.contains("[workspace.metadata.hudson].sidecar"), "{e}");

        let mut bad = base();
        bad["colour"] = "blue".into();
        let e = error(bad);
        assert!(e.contains("colour"), "{e}");

        let mut bad = base();
        bad["burrito-aliases"] = serde_json::json!({ "x86_64-unknown-linux-gnu": "linux,linux_arm" });
        let e = error(bad);
        assert!(e.contains("burrito-aliases.x86_64-unknown-linux-gnu"), "{e}");

        let mut bad = base();
        bad["burrito-aliases"] = serde_json::json!({ "sparc-sun-solaris": "sol" });
        let e = error(bad);
        assert!(e.contains("sparc-sun-solaris") && e.contains("Supported"), "{e}");
    }

    #[test]
    fn burrito_aliases_only_override_the_targets_table() {
        let config = Config::load().unwrap();
        for target in crate::core::target::TARGETS {
            assert_eq!(config.burrito_alias(target), target.default_burrito_alias);
        }

        let mut bad = base();
        bad["burrito-aliases"] = serde_json::json!({ "x86_64-unknown-linux-gnu": "linux" });
        let e = error(bad);
        assert!(e.contains("burrito-aliases.x86_64-unknown-linux-gnu") && e.contains("already the default"), "{e}");

        let mut config = Config::load().unwrap();
        config.burrito_aliases.insert("x86_64-unknown-linux-gnu".into(), "linux_musl".into());
        let linux = Target::parse("x86_64-unknown-linux-gnu").unwrap();
        assert_eq!(config.burrito_alias(linux), "linux_musl");
    }

    #[test]
    fn channels_and_signing_have_defaults_and_checked_values() {
        let config = Config::load().unwrap();
        assert_eq!(config.channels.protected, ["stable"]);
        assert_eq!(config.channels.expires_in, time::Duration::days(30));
        assert!(config.channels.manifests_dir.ends_with("release-manifests"));
        assert!(config.signing.public_key.is_none());
        assert!(config.is_protected("stable") && !config.is_protected("beta"));

        let mut bad = base();
        bad["channels"] = serde_json::json!({ "expires-in": "soon" });
        let e = error(bad);
        assert!(e.contains("channels.expires-in") && e.contains("30d"), "{e}");
        let mut bad = base();
        bad["channels"] = serde_json::json!({ "expires-in": "59m" });
        let e = error(bad);
        assert!(e.contains("channels.expires-in") && e.contains("at least one hour"), "{e}");
        let mut bad = base();
        bad["channels"] = serde_json::json!({ "protected": ["Stable"] });
        assert!(error(bad).contains("channels.protected"));
        let mut bad = base();
        bad["signing"] = serde_json::json!({ "public-kee": "k.pub" });
        assert!(error(bad).contains("public-kee"));
    }

    #[test]
    fn updates_are_checked_and_reach_the_runtime_config() {
        let mut bad = base();
        bad["updates"] = serde_json::json!({ "endpoint": "http://updates.example/hudson/" });
        let e = error(bad);
        assert!(e.contains("[workspace.metadata.hudson].updates") && e.contains("loopback"), "{e}");
        let mut bad = base();
        bad["updates"] = serde_json::json!({ "endpoint": "https://u.example/", "channel": "Beta" });
        assert!(error(bad).contains("channel \"Beta\""));
        for file in ["../db.sqlite", "/etc/passwd", ""] {
            let mut bad = base();
            bad["updates"] = serde_json::json!({ "endpoint": "https://u.example/", "snapshot-files": [file] });
            assert!(error(bad).contains("snapshot-files"), "{file}");
        }
        let mut bad = base();
        bad["updates"] =
            serde_json::json!({ "endpoint": "https://u.example/", "snapshot-files": ["db/h.sqlite3-wal"] });
        let e = error(bad);
        assert!(e.contains("is covered already") && e.contains("list \"db/h.sqlite3\" only"), "{e}");
        let mut bad = base();
        bad["updates"] = serde_json::json!({ "endpoint": "https://u.example/", "interval": 6 });
        assert!(error(bad).contains("interval"));

        let mut config = Config::load().unwrap();
        config.updates = Some(UpdatesConfig {
            endpoint: "http://127.0.0.1:8000/".into(),
            channel: "beta".into(),
            interval_hours: 0,
            snapshot_files: vec!["db/app.sqlite".into()],
        });
        for (triple, kind) in [
            ("aarch64-apple-darwin", InstallKind::App),
            ("x86_64-apple-darwin", InstallKind::App),
            ("x86_64-pc-windows-msvc", InstallKind::Package),
            ("x86_64-unknown-linux-gnu", InstallKind::Package),
            ("aarch64-unknown-linux-gnu", InstallKind::Package),
        ] {
            let runtime = config.shell_runtime_config(Target::parse(triple).unwrap());
            assert_eq!(runtime.install_kind, Some(kind), "{triple}");
            assert_eq!(runtime.updates, config.updates, "{triple}");
        }
    }

    #[test]
    fn a_crash_report_dsn_is_checked_and_reaches_the_runtime_config() {
        let mut bad = base();
        bad["crash-report-dsn"] = serde_json::json!("http://key@sentry.example/1");
        let e = error(bad);
        assert!(e.contains("crash-report-dsn") && e.contains("loopback"), "{e}");
        let mut config = Config::load().unwrap();
        assert_eq!(config.crash_report_dsn, None, "the reference build sends nothing");
        config.crash_report_dsn = Some("https://key@o1.ingest.example/7".into());
        let runtime = config.shell_runtime_config(Target::parse("x86_64-unknown-linux-gnu").unwrap());
        assert_eq!(runtime.crash_report_dsn, config.crash_report_dsn);
    }

    #[test]
    fn durations_read_with_units() {
        assert_eq!(parse_duration("30d").unwrap(), time::Duration::days(30));
        assert_eq!(parse_duration("12h").unwrap(), time::Duration::hours(12));
        assert_eq!(parse_duration("2w").unwrap(), time::Duration::weeks(2));
        assert_eq!(parse_duration("90s").unwrap(), time::Duration::seconds(90));
        for bad in ["", "30", "d", "0d", "-1d", "1.5d", "30 days", "99999w"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn manifests_stay_valid_for_at_least_an_hour() {
        assert_eq!(parse_expires_in("1h").unwrap(), time::Duration::hours(1));
        assert_eq!(parse_expires_in("3600s").unwrap(), time::Duration::hours(1));
        for short in ["1s", "3599s", "59m"] {
            let e = parse_expires_in(short).unwrap_err().to_string();
            assert!(e.contains("at least one hour"), "{short}: {e}");
        }
    }

    #[test]
    fn the_real_config_loads() {
        let config = Config::load().unwrap();
        assert_eq!(config.product_name, "Hudson");
        assert_eq!(config.shell_binary, "hudson-desktop");
        assert!(config.shell_source_dirs.iter().any(|d| d.ends_with("lifecycle")));
    }
}
