//! `cargo xtask verify <channel|path> [--pubkey <file>] [--artifacts <dir>]`:
//! checks a published channel end to end, as a client and a stock updater
//! would see it:
//!
//! 1. `manifest.json` and its signature pass the client's checks (size cap,
//!    canonical signature, trusted key, valid manifest) for this channel, and
//!    it has not expired;
//! 2. the history verifies, entry by entry, with increasing sequences, and
//!    ends with `manifest.json`;
//! 3. `latest.json` is exactly what the history implies for stock updaters;
//! 4. every artifact signature is by a trusted key and names the version;
//! 5. with `--artifacts`, every artifact file (named by its URL) matches its
//!    size, SHA-256 and signature, streamed as a client downloads it;
//! 6. every tree manifest a release in the history names is in the file
//!    store with the SHA-256 and size the signed manifest gives, and every
//!    object it names is there, decompresses to its size and has its
//!    SHA-256 (each problem is named, not only the first);
//! 7. the package repositories (`apt/`, `yum/`), when there are any: their
//!    signatures verify with the repository key, every index has the size
//!    and SHA-256 its signed file gives, every package is there with its
//!    size and SHA-256, and each offers what the channel's history implies
//!    (each difference named). The repository key is the
//!    `--openpgp-key`, else the configured one
//!    (`signing.openpgp-public-key`), else the channel's own key file.
//!
//! The default key is the configured release key
//! (`[workspace.metadata.hudson.signing] public-key`), else the development
//! key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use signing::dist::ArtifactKind;
use signing::keys::PublicKey;
use signing::latest::{LATEST_JSON_FILE, LatestJson, StockRelease};
use signing::manifest::{MANIFEST_FILE, MANIFEST_SIGNATURE_FILE};
use signing::platform::{Installer, PlatformKey};
use signing::policy::{self, DEFAULT_MAX_MANIFEST_BYTES, Offer, OfferReason};
use signing::rotation::{KEY_CHAIN_FILE, KeyChain, MAX_KEY_CHAIN_BYTES};

use super::history::History;
use super::promote::signature_key_id;
use super::{TreeArgs, apt, manifests_dir, now, repo, rfc3339, store, url_file_name, yum};
use crate::core::config::Config;
use crate::core::openpgp::OpenPgpPublicKey;
use crate::core::ui::Ui;
use crate::core::{fsx, keys};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A channel name (under the manifests folder) or the path of a channel folder.
    pub channel: String,
    /// The public key to trust (minisign or Tauri form; default: the
    /// configured release key, else the development key).
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
    /// A folder holding artifact files, named as in their URLs (repeat it
    /// for the dist folders of several targets). Every artifact must be found.
    #[arg(long, value_name = "DIR")]
    pub artifacts: Vec<PathBuf>,
    /// The OpenPGP public key the package repositories must be signed with
    /// (default: `signing.openpgp-public-key`, else the channel's own keyring).
    #[arg(long, value_name = "FILE")]
    pub openpgp_key: Option<PathBuf>,
    #[command(flatten)]
    pub tree: TreeArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    channel: String,
    dir: String,
    key_id: String,
    kind: &'static str,
    version: String,
    sequence: u64,
    expires_at: String,
    history_entries: usize,
    latest_json_version: String,
    artifact_signatures: usize,
    artifacts_verified: Vec<String>,
    store: StoreReport,
    /// The package repositories' key fingerprint, when the channel has any.
    repository_key: Option<String>,
}

#[derive(Debug, Default, Serialize)]
struct StoreReport {
    trees: usize,
    objects: usize,
    bytes: u64,
    stored_bytes: u64,
}

/// Every tree manifest the history's releases name, and every object in
/// them, checked in the store beside the channel folder.
fn check_store(dir: &Path, manifests: &[signing::manifest::ChannelManifest]) -> Result<StoreReport> {
    let root = std::path::absolute(dir)?.parent().map(Path::to_path_buf).context("the channel folder has no parent")?;
    let mut report = StoreReport::default();
    let mut trees = BTreeMap::new();
    for manifest in manifests {
        for (platform, entry) in &manifest.platforms {
            if let Some(tree) = &entry.tree {
                trees.entry(tree.sha256.clone()).or_insert((tree.clone(), manifest.version.clone(), *platform));
            }
        }
    }
    let mut problems = Vec::new();
    let mut objects = BTreeMap::new();
    for (tree, version, platform) in trees.values() {
        match store::read_tree(&root, tree) {
            Ok(manifest) => {
                report.trees += 1;
                for object in manifest.objects() {
                    objects.entry(object.sha256.clone()).or_insert((object, version.clone(), *platform));
                }
            }
            Err(e) => problems.push(format!("the tree manifest of {version} for {platform}: {e:#}")),
        }
    }
    for (object, version, platform) in objects.values() {
        let path = store::object_file(&root, &object.sha256);
        match store::check_object(&path, &object.sha256, object.size) {
            Ok(stored) if stored == object.stored => {
                report.objects += 1;
                report.bytes += object.size;
                report.stored_bytes += stored;
            }
            Ok(stored) => problems.push(format!(
                "{} is {stored} bytes, the tree manifest of {version} for {platform} says {}",
                path.display(),
                object.stored
            )),
            Err(problem) => problems.push(format!(
                "{} (a file of {version} for {platform}, {} bytes with SHA-256 {}) {problem}",
                path.display(),
                object.size,
                object.sha256
            )),
        }
    }
    if !problems.is_empty() {
        bail!(
            "the file store beside {} is not what the channel's releases name; clients fall back to full downloads for them:\n  {}\nRepair it with `cargo xtask publish` of the same dist manifests to a scratch folder and copying its store/ over, or restore it from backup",
            dir.display(),
            problems.join("\n  ")
        );
    }
    Ok(report)
}

pub fn run(ui: &Ui, args: Args) -> Result<()> {
    let config = Config::load()?;
    let (dir, channel) = locate(&config, &args)?;
    let key = trusted_key(&config, ui, args.pubkey.as_deref())?;
    // The trusted key, and the keys a rotation chain hands the channel to.
    let chain = chain_keys(&dir, &channel, &key)?;
    let trusted = &chain[..];

    // 1. The current manifest, as a client checks it.
    let read = |name: &str, cap: u64| fsx::read_untrusted(&dir.join(name), cap);
    let json = read(MANIFEST_FILE, fsx::MAX_JSON_BYTES)?;
    let signature = read(MANIFEST_SIGNATURE_FILE, fsx::MAX_SIGNATURE_BYTES)?;
    let manifest = policy::verify_manifest(trusted, &json, &signature, DEFAULT_MAX_MANIFEST_BYTES)
        .with_context(|| format!("{} is refused", dir.join(MANIFEST_FILE).display()))?;
    if manifest.channel != channel {
        bail!(
            "{} is the manifest of channel {:?}, not of {channel:?}: channels were mixed up",
            dir.display(),
            manifest.channel
        );
    }
    let now = now()?;
    if now > manifest.expires_at {
        bail!(
            "{channel}'s manifest expired at {}: clients refuse it; re-sign it with `cargo xtask rollout {channel} {}`",
            rfc3339(manifest.expires_at),
            manifest.rollout.percent
        );
    }
    if manifest.expires_at - now < time::Duration::days(7) {
        ui.info(format!(
            "warning: {channel}'s manifest expires at {}, in less than a week",
            rfc3339(manifest.expires_at)
        ));
    }

    // Every key carries an artifact of its own OS and installer.
    for (platform, entry) in &manifest.platforms {
        check_kind_for_key(*platform, &entry.url).with_context(|| format!("{}", dir.join(MANIFEST_FILE).display()))?;
    }

    // 2. The history.
    // Sorted by sequence, one entry a sequence (file names are canonical).
    let history = History::load(&dir, &channel, trusted)?;
    let manifests = history.manifests();
    if let Some(keys) = &history.keys {
        let current = keys.current().key_id();
        let signer = keys.key_for(manifest.sequence).key_id();
        if signer != current {
            bail!(
                "{channel}'s manifest.json (sequence {}) is signed by key {signer}, but the channel's key chain hands it to key {current}: \
                 apps refuse it until the next change is signed with key {current} (e.g. `cargo xtask rollout {channel} {}` with that key)",
                manifest.sequence,
                manifest.rollout.percent
            );
        }
    }
    let unaccounted = unaccounted_files(&dir, &history)?;
    if !unaccounted.is_empty() {
        bail!(
            "{} holds files no manifest accounts for: {}. Nothing `publish` writes is named so: remove them, or restore the folder from version control",
            dir.display(),
            unaccounted.join(", ")
        );
    }

    // 3. latest.json for stock updaters.
    let latest_bytes = read(LATEST_JSON_FILE, fsx::MAX_JSON_BYTES)?;
    let latest = LatestJson::from_json(&latest_bytes)
        .with_context(|| format!("{} does not read as Tauri's latest.json", dir.join(LATEST_JSON_FILE).display()))?;
    // And as a stock tauri-plugin-updater reads it, by its own field rules.
    StockRelease::parse(&latest_bytes)
        .with_context(|| format!("a stock Tauri updater cannot read {}", dir.join(LATEST_JSON_FILE).display()))?;
    for (platform, entry) in &latest.platforms {
        check_kind_for_key(*platform, &entry.url)
            .with_context(|| format!("{}", dir.join(LATEST_JSON_FILE).display()))?;
    }
    let expected = LatestJson::for_history(&manifests).expect("a verified channel has a history");
    if latest != expected || latest_bytes != expected.to_json() {
        bail!(
            "{} does not match the channel's signed history: {} (restore it, or re-run the last change)",
            dir.join(LATEST_JSON_FILE).display(),
            latest_differences(&latest, &expected).join("; ")
        );
    }

    // 4. Artifact signatures: trusted key, signed version.
    for (platform, entry) in &manifest.platforms {
        let key_id = signature_key_id(&entry.signature).with_context(|| format!("the signature for {platform}"))?;
        if !trusted.iter().any(|k| k.key_id() == key_id) {
            bail!(
                "the artifact for {platform} is signed by key {key_id}, not by the trusted key {}{}",
                key.key_id(),
                if trusted.len() > 1 { " or a key its rotation chain hands the channel to" } else { "" }
            );
        }
    }

    // 5. The artifact files.
    let mut verified = Vec::new();
    if !args.artifacts.is_empty() {
        let mut by_url: BTreeMap<&str, _> = BTreeMap::new();
        for (platform, entry) in &manifest.platforms {
            by_url.entry(entry.url.as_str()).or_insert((*platform, entry));
        }
        for (url, (platform, entry)) in by_url {
            let name = url_file_name(url).with_context(|| format!("the URL {url} does not end with a file name"))?;
            let Some(path) = args.artifacts.iter().map(|dir| dir.join(&name)).find(|path| path.is_file()) else {
                bail!("{name} is in none of the --artifacts folders (it is the artifact of {url})");
            };
            let file = fsx::open_untrusted(&path)?;
            let offer = Offer {
                version: manifest.version.clone(),
                reason: OfferReason::Release,
                platform,
                artifact: entry.clone(),
            };
            policy::verify_download(file, &offer, trusted)
                .with_context(|| format!("{} is not the artifact {channel} offers for {platform}", path.display()))?;
            verified.push(name);
        }
    }

    // 6. The file store.
    let store = check_store(&dir, &manifests)?;

    // 7. The apt repository.
    let repository_key = check_repositories(&config, ui, &dir, &channel, &manifests, args.openpgp_key.as_deref())?;

    let signer = history.keys.as_ref().map_or(key.key_id(), |keys| keys.key_for(manifest.sequence).key_id());
    let rotations = history.chain.as_ref().map_or(0, |chain| chain.links.len());
    if rotations > 0 {
        ui.info(format!("  key chain: {rotations} rotation(s) from the trusted key {} to {signer}", key.key_id()));
    }
    ui.info(format!(
        "✓ {channel}: `{}` {} at sequence {}, signed by key {}, expires {}",
        manifest.kind.as_str(),
        manifest.version,
        manifest.sequence,
        signer,
        rfc3339(manifest.expires_at)
    ));
    ui.info(format!(
        "  history: {} signed manifest(s); latest.json offers stock updaters {}",
        manifests.len(),
        latest.version
    ));
    ui.info(format!(
        "  {} artifact signature(s) by the trusted key or its chain, naming {}",
        manifest.platforms.len(),
        manifest.version
    ));
    if !args.artifacts.is_empty() {
        ui.info(format!("  artifacts match size, SHA-256 and signature: {}", verified.join(", ")));
    }
    if store.trees > 0 {
        ui.info(format!(
            "  file store: {} tree manifest(s), {} object(s) ({} MB stored for {} MB of files) present with the right content",
            store.trees,
            store.objects,
            store.stored_bytes / 1_000_000,
            store.bytes / 1_000_000
        ));
    }
    ui.emit(&Report {
        channel,
        dir: dir.display().to_string(),
        key_id: signer.to_string(),
        kind: manifest.kind.as_str(),
        version: manifest.version.to_string(),
        sequence: manifest.sequence,
        expires_at: rfc3339(manifest.expires_at),
        history_entries: manifests.len(),
        latest_json_version: latest.version.to_string(),
        artifact_signatures: manifest.platforms.len(),
        artifacts_verified: verified,
        store,
        repository_key,
    });
    Ok(())
}

/// What differs between the `latest.json` found and the one the history
/// implies: each field with both values (the found one first).
fn latest_differences(found: &LatestJson, expected: &LatestJson) -> Vec<String> {
    let mut differences = Vec::new();
    let differ = |field: String, found: &dyn std::fmt::Debug, expected: &dyn std::fmt::Debug| {
        format!("{field} is {found:?}, the history implies {expected:?}")
    };
    if found.version != expected.version {
        differences.push(differ("version".into(), &found.version.to_string(), &expected.version.to_string()));
    }
    if found.notes != expected.notes {
        differences.push(differ("notes".into(), &found.notes, &expected.notes));
    }
    if found.pub_date != expected.pub_date {
        differences.push(differ("pub_date".into(), &found.pub_date.map(rfc3339), &expected.pub_date.map(rfc3339)));
    }
    for (platform, entry) in &found.platforms {
        match expected.platforms.get(platform) {
            None => differences.push(format!("platform {platform} is added (url {:?})", entry.url)),
            Some(implied) => {
                if entry.url != implied.url {
                    differences.push(differ(format!("platforms.{platform}.url"), &entry.url, &implied.url));
                }
                if entry.signature != implied.signature {
                    differences.push(differ(
                        format!("platforms.{platform}.signature"),
                        &entry.signature,
                        &implied.signature,
                    ));
                }
            }
        }
    }
    for platform in expected.platforms.keys().filter(|key| !found.platforms.contains_key(key)) {
        differences.push(format!("platform {platform} is missing"));
    }
    if differences.is_empty() {
        differences.push(
            "the fields match, but the bytes are not the canonical form `publish` writes (spacing, order)".into(),
        );
    }
    differences
}

/// Refuses an artifact URL whose file name says a kind `platform` may not
/// carry (an `.rpm` under a Windows key). A name of no known kind passes:
/// `publish` names files after their kind.
fn check_kind_for_key(platform: PlatformKey, url: &str) -> Result<()> {
    let Some(name) = url_file_name(url) else { return Ok(()) };
    // The portable tree is `<Product>-<version>-<triple>.tar.gz`.
    let kind =
        ArtifactKind::of_file_name(&name, "").or_else(|| name.ends_with(".tar.gz").then_some(ArtifactKind::Portable));
    if let Some(kind) = kind {
        signing::platform::check_key(platform, kind)
            .with_context(|| format!("platform {platform}: artifact {name}"))?;
    }
    Ok(())
}

/// Files and folders in a channel folder (and its history) that neither
/// the history nor the layout of [`super::tree`] accounts for.
/// Step 7: the package repositories, checked with the key the release
/// manager names (or the channel's own). Returns the key's fingerprint.
fn check_repositories(
    config: &Config,
    ui: &Ui,
    dir: &Path,
    channel: &str,
    manifests: &[signing::manifest::ChannelManifest],
    openpgp_key: Option<&Path>,
) -> Result<Option<String>> {
    let present = [apt::APT_DIR, yum::YUM_DIR].iter().any(|d| std::fs::symlink_metadata(dir.join(d)).is_ok());
    let packages = repo::has(manifests, Installer::Deb) || repo::has(manifests, Installer::Rpm);
    if !present {
        if packages {
            ui.info(format!("  no package repositories: {channel} was published without HUDSON_OPENPGP_PRIVATE_KEY"));
        }
        return Ok(None);
    }
    let (key, origin) = match (openpgp_key, config.signing.openpgp_public_key.as_deref()) {
        (Some(path), _) | (None, Some(path)) => (OpenPgpPublicKey::read(path)?, path.display().to_string()),
        (None, None) => {
            let key = repo::channel_key(dir)?
                .with_context(|| format!("{} has package repositories but no key file in them", dir.display()))?;
            ui.info(
                "  warning: checking the package repositories with their own key: pass --openpgp-key or set signing.openpgp-public-key to pin it",
            );
            (key, "the channel's own key file".to_owned())
        }
    };
    let problems = repo::check(dir, channel, manifests, &key);
    if !problems.is_empty() {
        bail!(
            "{channel}'s package repositories do not match its signed history ({} problem(s)):\n  - {}\nRe-run the channel's last change to rewrite them",
            problems.len(),
            problems.join("\n  - ")
        );
    }
    let offered = repo::offered(manifests);
    for (installer, name) in [(Installer::Deb, "apt"), (Installer::Rpm, "yum")] {
        if repo::has(manifests, installer) {
            ui.info(format!(
                "  {name} repository: signed by OpenPGP key {} ({origin}), indexes and packages match, offers {}",
                key.fingerprint(),
                offered
                    .filter(|r| !repo::entries(r, installer).is_empty())
                    .map_or("nothing".to_owned(), |r| r.version.to_string())
            ));
        }
    }
    if let Some(root) = dir.parent() {
        for warning in yum::signature_warnings(root, manifests, &key) {
            ui.info(format!("  warning: {warning}"));
        }
    }
    Ok(Some(key.fingerprint()))
}

fn unaccounted_files(dir: &Path, history: &History) -> Result<Vec<String>> {
    let mut expected: std::collections::BTreeSet<String> = [
        MANIFEST_FILE,
        MANIFEST_SIGNATURE_FILE,
        LATEST_JSON_FILE,
        super::tree::HISTORY_DIR,
        apt::APT_DIR,
        yum::YUM_DIR,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    if history.chain.is_some() {
        expected.insert(KEY_CHAIN_FILE.to_owned());
    }
    for entry in &history.entries {
        let name = super::tree::history_name(entry.stored.sequence);
        expected.insert(format!("{}/{name}.minisig", super::tree::HISTORY_DIR));
        expected.insert(format!("{}/{name}", super::tree::HISTORY_DIR));
    }
    let mut found = Vec::new();
    for (folder, prefix) in [
        (dir.to_path_buf(), String::new()),
        (dir.join(super::tree::HISTORY_DIR), format!("{}/", super::tree::HISTORY_DIR)),
    ] {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries {
            let name = format!("{prefix}{}", entry?.file_name().to_string_lossy());
            if !expected.contains(&name) {
                found.push(name);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// `key`, then every key the channel's `keys.json` (if any) hands the
/// channel to, each link checked as clients check it.
fn chain_keys(dir: &Path, channel: &str, key: &PublicKey) -> Result<Vec<PublicKey>> {
    let path = dir.join(KEY_CHAIN_FILE);
    let Some(bytes) = hudson_lifecycle::untrusted::read_optional(&path, MAX_KEY_CHAIN_BYTES as u64)? else {
        return Ok(vec![key.clone()]);
    };
    let chain = KeyChain::from_json(&bytes).with_context(|| format!("{}", path.display()))?;
    let schedule = chain
        .follow(channel, std::slice::from_ref(key), key)
        .with_context(|| format!("{} does not start from the trusted key {}", path.display(), key.key_id()))?;
    Ok(schedule.keys())
}

/// The channel folder and the channel it must hold.
fn locate(config: &Config, args: &Args) -> Result<(PathBuf, String)> {
    let given = Path::new(&args.channel);
    let dir = if signing::manifest::is_channel_name(&args.channel) && !given.is_dir() {
        manifests_dir(config, &args.tree).join(&args.channel)
    } else {
        given.to_path_buf()
    };
    // Not `is_file`: a planted symlink or FIFO exists and is refused, by
    // name, when it is read.
    if std::fs::symlink_metadata(dir.join(MANIFEST_FILE)).is_err() {
        bail!("{} holds no {MANIFEST_FILE}: name a published channel or its folder", dir.display());
    }
    let absolute = std::path::absolute(&dir)?;
    let channel = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} has no folder name", dir.display()))?;
    Ok((dir, channel))
}

fn trusted_key(config: &Config, ui: &Ui, pubkey: Option<&Path>) -> Result<PublicKey> {
    if let Some(path) = pubkey {
        return keys::read_public_key(path);
    }
    if let Some((path, key)) = keys::configured_public_key(config)? {
        ui.info(format!("trusting the release key {} ({})", key.key_id(), config.relative(&path)));
        return Ok(key);
    }
    match keys::development_public_key(config)? {
        Some(key) => {
            ui.info(format!(
                "no release key is configured ([workspace.metadata.hudson.signing] public-key): trusting the development key {}",
                key.key_id()
            ));
            Ok(key)
        }
        None => bail!("no key to verify with: pass --pubkey, or set public-key in [workspace.metadata.hudson.signing]"),
    }
}
