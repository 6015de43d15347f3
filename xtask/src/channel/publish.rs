//! `cargo xtask publish --channel <c> --base-url <url> <dist-manifest.json>...`:
//! merges the `dist-manifest.json` files of one release (one per target, from
//! parallel CI jobs) into the channel's next `release` manifest. One job
//! merges them all at once, so no platform is lost to a read-modify-write
//! race on a shared `latest.json`.
//!
//! Before anything is signed, every updater artifact is checked exactly as a
//! client will check its download: size, SHA-256, and a signature by the
//! signing key whose trusted comment names the version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use signing::dist::{ArtifactKind, DistManifest, SigningKeyInfo};
use signing::manifest::{ManifestKind, PlatformEntry, Rollout};
use signing::platform::{self, Installer, PlatformKey};
use signing::policy::{self, Offer, OfferReason};

use super::{Draft, ExpiryArgs, Session, TreeArgs, artifact_url, parse_percent, rollout_salt, store};
use crate::core::fsx;
use crate::core::ui::Ui;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The channel to publish to (`stable`, `beta`, …).
    #[arg(long)]
    pub channel: String,
    /// Where clients download the artifacts: `<base-url>/<file name>`;
    /// `{version}` is replaced (default: `channels.base-url`).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Percent of installs offered the release (default 100).
    #[arg(long, value_name = "PERCENT", default_value_t = 100, value_parser = parse_percent)]
    pub rollout: u8,
    /// Release notes shown to users.
    #[arg(long)]
    pub notes: Option<String>,
    /// Installs older than this must use the full installer instead of updating.
    #[arg(long, value_name = "VERSION")]
    pub minimum_version: Option<semver::Version>,
    #[command(flatten)]
    pub expiry: ExpiryArgs,
    #[command(flatten)]
    pub tree: TreeArgs,
    /// The `dist-manifest.json` of every target of the release.
    #[arg(required = true, value_name = "DIST_MANIFEST")]
    pub dist_manifests: Vec<PathBuf>,
}

pub fn run(ui: &Ui, args: Args) -> Result<()> {
    let session = Session::open(ui, &args.tree, &args.expiry)?;
    let (base_url, origin) = match (&args.base_url, &session.config.channels.base_url) {
        (Some(url), _) => (url.clone(), "--base-url"),
        (None, Some(url)) => (url.clone(), "channels.base-url in [workspace.metadata.hudson]"),
        (None, None) => bail!("no base URL: pass --base-url, or set base-url in [workspace.metadata.hudson.channels]"),
    };
    // Checked before any dist manifest is read; the error names where the URL came from.
    artifact_url(&base_url, &semver::Version::new(0, 0, 0), "artifact")
        .with_context(|| format!("{origin} is refused"))?;
    // `apply` checks the key for the channel before anything is read.
    session.apply(&args.channel, "publish", |history| {
        let release = merge(&session, &args.channel, &args.dist_manifests, &base_url)?;
        if let Some(minimum) = &args.minimum_version
            && minimum.cmp_precedence(&release.version).is_gt()
        {
            bail!("--minimum-version {minimum} is above the release {}: nobody could update to it", release.version);
        }
        history.check_releasable(&release.version)?;
        let rollout = Rollout { percent: args.rollout, salt: rollout_salt(&args.channel, &release.version) };
        Ok(Draft {
            kind: ManifestKind::Release,
            version: release.version,
            rollout,
            minimum_version: args.minimum_version.clone(),
            notes: args.notes.clone(),
            yanked: Vec::new(),
            platforms: release.platforms,
        })
    })?;
    Ok(())
}

/// The release the dist manifests describe together.
struct Merged {
    version: semver::Version,
    platforms: BTreeMap<PlatformKey, PlatformEntry>,
}

fn merge(session: &Session, channel: &str, paths: &[PathBuf], base_url: &str) -> Result<Merged> {
    let config = &session.config;
    let public_key = session.key.public_key();
    let mut version: Option<(semver::Version, &Path)> = None;
    let mut targets: BTreeMap<String, &Path> = BTreeMap::new();
    let mut platforms: BTreeMap<PlatformKey, (PlatformEntry, &Path)> = BTreeMap::new();
    for path in paths {
        let bytes = fsx::read_untrusted(path, fsx::MAX_JSON_BYTES)?;
        let dist = DistManifest::from_json(&bytes)
            .with_context(|| format!("{} is not a dist manifest `cargo xtask dist` wrote", path.display()))?;
        let dir = fsx::parent(path)?;
        if dist.product != config.product_name || dist.identifier != config.identifier {
            bail!(
                "{} is for {} ({}), not {} ({})",
                path.display(),
                dist.product,
                dist.identifier,
                config.product_name,
                config.identifier
            );
        }
        let this_version: semver::Version = dist
            .version
            .parse()
            .with_context(|| format!("{}: version {:?} is not semver", path.display(), dist.version))?;
        match &version {
            None => version = Some((this_version.clone(), path)),
            Some((first, first_path)) if *first != this_version => bail!(
                "{} is version {this_version} but {} is {first}: publish one release at a time",
                path.display(),
                first_path.display()
            ),
            Some(_) => {}
        }
        if let Some(other) = targets.insert(dist.target.clone(), path) {
            bail!(
                "{} and {} are both for {}: pass one dist manifest per target",
                other.display(),
                path.display(),
                dist.target
            );
        }
        check_signing_key(session, channel, path, dist.signing_key.as_ref())?;

        // Each artifact kind belongs to one OS: a Linux package in a build
        // whose target says Windows is a mislabelled manifest.
        for artifact in &dist.artifacts {
            if artifact.target != dist.target {
                bail!(
                    "{}: artifact {} is for target {}, but the manifest is for {}",
                    path.display(),
                    artifact.path,
                    artifact.target,
                    dist.target
                );
            }
            platform::check_target(&dist.target, artifact.kind)
                .with_context(|| format!("{}: artifact {}", path.display(), artifact.path))?;
        }

        let signed: Vec<_> = dist.artifacts.iter().filter_map(|a| a.updater.as_ref().map(|u| (a, u))).collect();
        if signed.is_empty() {
            bail!(
                "{} lists no updater artifacts: `cargo xtask dist` signs them for every target that has one",
                path.display()
            );
        }
        for (artifact, updater) in signed {
            let file = contained(dir, &artifact.path)
                .with_context(|| format!("{}: artifact {}", path.display(), artifact.path))?;
            let file_name = file.file_name().expect("a contained path names a file").to_string_lossy().into_owned();
            // The kind decides the platform keys, and a client installs the
            // download as that kind: a name that says otherwise (a `.deb`
            // listed as the portable tree) is a mix-up, not a release.
            if let Some(named) = ArtifactKind::of_file_name(&file_name, &dist.target)
                && artifact.kind != ArtifactKind::Unknown
                && named != artifact.kind
            {
                bail!(
                    "{}: artifact {} is listed as `{}`, but its name is that of a `{}`",
                    path.display(),
                    artifact.path,
                    artifact.kind.as_str(),
                    named.as_str()
                );
            }
            let mut entry = PlatformEntry {
                url: artifact_url(base_url, &this_version, &file_name)?,
                size: artifact.size,
                sha256: artifact.sha256.clone(),
                signature: updater.signature.clone(),
                tree: None,
            };
            let keys = updater
                .platform_keys
                .iter()
                .map(|key| key.parse::<PlatformKey>())
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("{}: artifact {}", path.display(), artifact.path))?;
            let Some(first_key) = keys.first() else {
                bail!("{}: artifact {} has no updater platform key", path.display(), artifact.path);
            };
            // The keys are the table's for this kind and target, whatever the
            // dist manifest says: a client on that key installs the download.
            let made = PlatformKey::keys_for_artifact(&dist.target, artifact.kind)
                .with_context(|| format!("{}: artifact {}", path.display(), artifact.path))?;
            for key in &keys {
                platform::check_key(*key, artifact.kind)
                    .with_context(|| format!("{}: artifact {}", path.display(), artifact.path))?;
                if !made.contains(key) {
                    bail!(
                        "{}: artifact {} may not be offered under {key}: a `{}` for {} goes under {}",
                        path.display(),
                        artifact.path,
                        artifact.kind.as_str(),
                        dist.target,
                        made.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    );
                }
            }
            let offer = Offer {
                version: this_version.clone(),
                reason: OfferReason::Release,
                platform: *first_key,
                artifact: entry.clone(),
            };
            let reader = fsx::open_untrusted(&file)?;
            policy::verify_download(reader, &offer, std::slice::from_ref(public_key))
                .with_context(|| format!("{} does not match what {} says about it", file.display(), path.display()))?;
            // apt and dnf install packages from the channel's repositories:
            // they are kept in the store, where every later change finds them.
            let installer = match artifact.kind {
                ArtifactKind::Deb => Some(Installer::Deb),
                ArtifactKind::Rpm => Some(Installer::Rpm),
                _ => None,
            };
            if let Some(installer) = installer
                && super::repo::add_package(&session.root, &file, &artifact.sha256, artifact.size, installer)
                    .with_context(|| format!("adding {} to the file store", file.display()))?
            {
                session.ui.info(format!("publish: {file_name}: added to the store for the package repositories"));
            }
            // A tree a client swaps in as a whole can also be assembled
            // from the files it already has: its files go to the store.
            if matches!(artifact.kind, ArtifactKind::Portable | ArtifactKind::App) {
                // Labelled with the key that names the installer (`…-app`).
                let label = keys.iter().find(|k| k.installer.is_some()).unwrap_or(first_key);
                let (tree, added) = store::add_tree(&session.root, &file, &this_version, *label)
                    .with_context(|| format!("adding {} to the file store", file.display()))?;
                session.ui.info(format!(
                    "publish: {}: {} files ({} MB) in the store, {} new object(s), {} already there{}",
                    file_name,
                    added.files,
                    added.tree_bytes / 1_000_000,
                    added.written - added.repaired.len(),
                    added.present,
                    if added.repaired.is_empty() {
                        String::new()
                    } else {
                        format!(", {} damaged object(s) replaced: {}", added.repaired.len(), added.repaired.join(", "))
                    }
                ));
                entry.tree = Some(tree);
                super::tree::failpoint("publish", "stored");
            }
            for key in keys {
                if let Some((_, other)) = platforms.get(&key) {
                    bail!("platform {key} is offered by both {} and {}", other.display(), path.display());
                }
                if let Some((clash, _)) =
                    platforms.iter().find(|(_, (e, _))| e.url == entry.url && e.sha256 != entry.sha256)
                {
                    bail!("two different artifacts would download from {} ({clash} and {key}): rename one", entry.url);
                }
                platforms.insert(key, (entry.clone(), path));
            }
        }
    }
    let (version, _) = version.context("no dist manifest given")?;
    session.ui.info(format!(
        "publish: {} {} for {} from {} dist manifest(s); every artifact matches its size, SHA-256 and signature",
        config.product_name,
        version,
        targets.keys().cloned().collect::<Vec<_>>().join(", "),
        paths.len()
    ));
    Ok(Merged { version, platforms: platforms.into_iter().map(|(key, (entry, _))| (key, entry)).collect() })
}

/// The key that signed a dist run must be the one signing the channel, and
/// a development build never reaches a protected channel.
fn check_signing_key(session: &Session, channel: &str, path: &Path, info: Option<&SigningKeyInfo>) -> Result<()> {
    let Some(info) = info else {
        bail!("{} names no signing key: rebuild it with `cargo xtask dist`", path.display());
    };
    let key_id = session.key.key.key_id().to_string();
    if info.development && session.config.is_protected(channel) {
        bail!(
            "{} was signed with the development key, and {channel} is a protected channel: rebuild with TAURI_SIGNING_PRIVATE_KEY set to the release key",
            path.display()
        );
    }
    if info.key_id != key_id {
        bail!(
            "{} was signed with key {}, but the channel is being signed with key {key_id}: build and publish with the same TAURI_SIGNING_PRIVATE_KEY",
            path.display(),
            info.key_id
        );
    }
    Ok(())
}

/// `dir/rel`, refused unless it is a file that stays inside `dir` once
/// symbolic links are followed.
fn contained(dir: &Path, rel: &str) -> Result<PathBuf> {
    if !signing::dist::is_contained_relative_path(rel) {
        bail!("the path escapes the dist manifest's folder");
    }
    let base = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    let file = dir.join(rel);
    let resolved = file.canonicalize().with_context(|| format!("{} is missing", file.display()))?;
    if !resolved.starts_with(&base) {
        bail!("{} leads outside the dist manifest's folder (to {})", file.display(), resolved.display());
    }
    if !resolved.is_file() {
        bail!("{} is not a file", file.display());
    }
    Ok(file)
}
