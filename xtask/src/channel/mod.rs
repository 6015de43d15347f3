//! Release channels: `publish`, `promote`, `rollout`, `halt`, `yank`,
//! `status` and `verify`, over `release-manifests/<channel>/` (layout and
//! atomicity in [`tree`]).
//!
//! Every change signs a new channel manifest with the next `sequence`
//! ([`history`] holds the rules), derives `latest.json` for stock Tauri
//! updaters from the channel's history ([`signing::latest`]), and replaces
//! the channel folder in one step. The formats and the client's rules live
//! in the `signing` crate; this module decides what to sign.
//!
//! | command | the new manifest |
//! | --- | --- |
//! | `publish` | `release` of the merged `dist-manifest.json` files |
//! | `promote <v> --from a --to b` | `release` on `b` of `a`'s release of `v` |
//! | `rollout <c> <pct>` | the current release at a new percent (resumes a halted one) |
//! | `halt <c>` | `halt`: nothing offered |
//! | `yank <c>` | `yank`: back to the newest earlier release never yanked |
//!
//! A channel is signed by one key at a time: the key of its first manifest,
//! until `rotate-key` hands it to another ([`rotate`]). A change signed by
//! any other key is refused.

pub mod apt;
pub mod gc;
pub mod halt;
pub mod history;
pub mod keygen;
pub mod promote;
pub mod publish;
pub mod repo;
pub mod rollout;
pub mod rotate;
pub mod status;
pub mod store;
pub mod tree;
pub mod verify;
pub mod yank;
pub mod yum;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use signing::keys::{KeyId, PublicKey};
use signing::latest::LatestJson;
use signing::manifest::{CHANNEL_MANIFEST_SCHEMA, ChannelManifest, ManifestKind, PlatformEntry, Rollout};
use signing::platform::{Installer, PlatformKey};
use signing::policy::DEFAULT_MAX_MANIFEST_BYTES;
use signing::rotation::{KeyChain, KeyRotation};
use time::OffsetDateTime;

use self::history::History;
use self::tree::StoredManifest;
use crate::core::config::{Config, parse_expires_in};
use crate::core::keys::{self, SigningKey};
use crate::core::openpgp::OpenPgpKey;
use crate::core::ui::Ui;

/// Overrides the clock of channel commands (RFC 3339), so tests and
/// rehearsals give byte-identical manifests.
pub const NOW_VAR: &str = "HUDSON_NOW";

/// Where the channels live.
#[derive(clap::Args, Debug, Clone)]
pub struct TreeArgs {
    /// Folder of the per-channel manifests (default: `channels.manifests-dir`,
    /// `release-manifests/`).
    #[arg(long, value_name = "DIR")]
    pub manifests_dir: Option<PathBuf>,
}

/// How long a newly signed manifest stays valid.
#[derive(clap::Args, Debug, Clone)]
pub struct ExpiryArgs {
    /// `30d`, `12h`, `2w`… at least `1h` (default: `channels.expires-in`, 30 days).
    /// Clients refuse the manifest afterwards: change the channel again
    /// (e.g. `rollout <channel> <same percent>`) before then.
    #[arg(long, value_name = "DURATION", value_parser = parse_expires_in)]
    pub expires_in: Option<time::Duration>,
}

/// A rollout percent: plain digits, 0 to 100. clap's integer parsers would
/// also take `+50`; a percent is written as the manifest will show it.
pub fn parse_percent(text: &str) -> Result<u8, String> {
    let plain = !text.is_empty() && text.len() <= 3 && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u8>() {
        Ok(percent) if plain && percent <= 100 => Ok(percent),
        _ => Err("a percent is a whole number from 0 to 100, plain digits only (e.g. `25`)".to_owned()),
    }
}

/// The manifests folder for `args`.
pub fn manifests_dir(config: &Config, args: &TreeArgs) -> PathBuf {
    match &args.manifests_dir {
        Some(dir) => std::path::absolute(dir).unwrap_or_else(|_| dir.clone()),
        None => config.channels.manifests_dir.clone(),
    }
}

/// What every changing command holds: the configuration, the signing key,
/// the clock.
pub struct Session<'a> {
    pub config: Config,
    pub ui: &'a Ui,
    pub root: PathBuf,
    pub key: SigningKey,
    /// The package repositories' key (`HUDSON_OPENPGP_PRIVATE_KEY`), if set.
    pub openpgp: Option<OpenPgpKey>,
    pub now: OffsetDateTime,
    pub expires_in: time::Duration,
}

/// What a command decides for the next manifest; [`Session::manifest`]
/// adds the channel, sequence and times.
pub struct Draft {
    pub kind: ManifestKind,
    pub version: semver::Version,
    pub rollout: Rollout,
    pub minimum_version: Option<semver::Version>,
    pub notes: Option<String>,
    pub yanked: Vec<semver::Version>,
    pub platforms: BTreeMap<PlatformKey, PlatformEntry>,
}

impl Draft {
    /// `release` offered again as a release (same version, artifacts, notes
    /// and minimum version), to the share of installs `rollout` says.
    pub fn reoffer(release: &ChannelManifest, rollout: Rollout) -> Draft {
        Draft {
            kind: ManifestKind::Release,
            version: release.version.clone(),
            rollout,
            minimum_version: release.minimum_version.clone(),
            notes: release.notes.clone(),
            yanked: Vec::new(),
            platforms: release.platforms.clone(),
        }
    }
}

/// What a change prints (`--format json`).
#[derive(Debug, Serialize)]
pub struct ChangeSummary {
    pub command: &'static str,
    pub channel: String,
    pub kind: &'static str,
    pub version: String,
    pub sequence: u64,
    pub rollout_percent: u8,
    pub expires_at: String,
    pub platforms: Vec<String>,
    pub yanked: Vec<String>,
    pub signing_key: String,
    pub dir: String,
    /// The version a stock Tauri updater is now offered (`0.0.0`: none).
    pub latest_json_version: String,
}

impl<'a> Session<'a> {
    pub fn open(ui: &'a Ui, tree: &TreeArgs, expiry: &ExpiryArgs) -> Result<Session<'a>> {
        let config = Config::load()?;
        let key = keys::signing_key(&config, ui)?;
        let root = manifests_dir(&config, tree);
        let expires_in = expiry.expires_in.unwrap_or(config.channels.expires_in);
        let openpgp = OpenPgpKey::from_environment()?;
        Ok(Session { root, key, openpgp, now: now()?, expires_in, ui, config })
    }

    /// Refuses keys a channel must not be signed with: the development key
    /// for a protected channel, or any key but the configured release key.
    pub fn check_key_for(&self, channel: &str) -> Result<()> {
        check_channel_name(channel)?;
        let configured = keys::configured_public_key(&self.config)?;
        let key_id = self.key.key.key_id();
        if self.config.is_protected(channel) {
            if self.key.development {
                bail!(
                    "{channel} is a protected channel and refuses the development key {key_id} (from {}): set TAURI_SIGNING_PRIVATE_KEY (and TAURI_SIGNING_PRIVATE_KEY_PASSWORD) to the release key",
                    self.key.origin
                );
            }
            if let Some((path, public)) = &configured
                && public.key_id() != key_id
            {
                bail!(
                    "{channel} is a protected channel: the signing key {key_id} is not the release key {} the app trusts ({}); set TAURI_SIGNING_PRIVATE_KEY to that key",
                    public.key_id(),
                    path.display()
                );
            }
        } else if let Some((path, public)) = &configured
            && public.key_id() != key_id
        {
            self.ui.info(format!(
                "warning: signing {channel} with key {key_id}, not the release key {} ({}): apps that trust only the release key will refuse it",
                public.key_id(),
                path.display()
            ));
        }
        Ok(())
    }

    /// Keys whose signatures on a channel's history are accepted: the
    /// signing key, the configured release key, and for unprotected
    /// channels the development key.
    pub fn trusted_for(&self, channel: &str) -> Result<Vec<PublicKey>> {
        let mut trusted = vec![self.key.public_key().clone()];
        if let Some((_, public)) = keys::configured_public_key(&self.config)? {
            trusted.push(public);
        }
        if !self.config.is_protected(channel)
            && let Some(public) = keys::development_public_key(&self.config)?
        {
            trusted.push(public);
        }
        Ok(trusted)
    }

    /// The channel's checked history. Besides [`Session::trusted_for`], the
    /// start of a key chain that hands the channel to our key is trusted:
    /// whoever holds the key a channel was handed to may continue it.
    pub fn load(&self, channel: &str) -> Result<History> {
        let dir = self.root.join(channel);
        let mut trusted = self.trusted_for(channel)?;
        if let Some(start) = history::start_of_chain_to(&dir, channel, self.key.public_key()) {
            trusted.push(start);
        }
        History::load(&dir, channel, &trusted).map_err(|error| {
            // A channel whose key we do not hold: say so, and how to change keys.
            match history::claimed_key(&dir) {
                Some(current) if current != self.key.key.key_id() => {
                    anyhow::anyhow!(key_mismatch(channel, current, self.key.key.key_id(), &self.key.origin))
                }
                _ => error,
            }
        })
    }

    /// A new manifest for `history`'s channel, issued now, with the next
    /// sequence.
    fn manifest(&self, history: &History, draft: Draft) -> ChannelManifest {
        ChannelManifest {
            schema: CHANNEL_MANIFEST_SCHEMA.to_owned(),
            channel: history.channel.clone(),
            sequence: history.next_sequence(),
            kind: draft.kind,
            version: draft.version,
            issued_at: self.now,
            expires_at: self.now + self.expires_in,
            rollout: draft.rollout,
            minimum_version: draft.minimum_version,
            notes: draft.notes,
            yanked: draft.yanked,
            platforms: draft.platforms,
        }
    }

    /// Loads `channel` under the lock, asks `change` for the next release,
    /// makes it the next manifest, signs it and replaces the channel folder.
    pub fn apply(
        &self,
        channel: &str,
        command: &'static str,
        change: impl FnOnce(&History) -> Result<Draft>,
    ) -> Result<ChannelManifest> {
        self.check_key_for(channel)?;
        let lock = tree::lock(&self.root)?;
        let history = self.load(channel)?;
        self.check_channel_key(&history)?;
        let manifest = self.manifest(&history, change(&history)?);
        let signed = manifest.sign(&self.key.key).context("signing the channel manifest")?;
        if signed.json.len() > DEFAULT_MAX_MANIFEST_BYTES {
            bail!(
                "the manifest would be {} bytes, over the {DEFAULT_MAX_MANIFEST_BYTES}-byte limit clients accept; shorten the notes",
                signed.json.len()
            );
        }
        let mut stored: Vec<StoredManifest> = history.entries.iter().map(|e| e.stored.clone()).collect();
        stored.push(StoredManifest {
            sequence: manifest.sequence,
            json: signed.json.clone(),
            signature: signed.signature_text(),
        });
        let mut manifests = history.manifests();
        manifests.push(manifest.clone());
        let latest = LatestJson::for_history(&manifests).expect("the history has the new manifest");
        let chain = history.chain.as_ref().map(KeyChain::to_json);
        let repository = self.repository(channel, &manifests)?;
        let latest_json = latest.to_json();
        let contents = tree::Contents {
            history: &stored,
            key_chain: chain.as_deref(),
            latest_json: &latest_json,
            repository: &repository,
        };
        tree::commit(&lock, &self.root, channel, contents, command)?;
        self.report(command, &manifest, &latest);
        self.report_repository(&manifests, &repository);
        Ok(manifest)
    }

    /// The apt repository `manifests` imply, signed with the OpenPGP key;
    /// none while no release carried a deb. A channel that serves one
    /// keeps it: without the key, or with another key than the one it was
    /// signed with (or the configured one), the change is refused.
    fn repository(&self, channel: &str, manifests: &[ChannelManifest]) -> Result<Vec<repo::RepoFile>> {
        let dir = self.root.join(channel);
        let existing = repo::channel_key(&dir)
            .with_context(|| format!("{channel}'s package repository key cannot be read; nothing was changed"))?;
        if !repo::has(manifests, Installer::Deb) && !repo::has(manifests, Installer::Rpm) {
            return Ok(Vec::new());
        }
        let Some(key) = &self.openpgp else {
            if let Some(existing) = existing {
                bail!(
                    "{channel} serves package repositories signed by OpenPGP key {}: set {} (and {}) to that key, or this change would remove the repository. Nothing was changed",
                    existing.fingerprint(),
                    crate::core::openpgp::PRIVATE_KEY_VAR,
                    crate::core::openpgp::PASSWORD_VAR
                );
            }
            self.ui.info(format!(
                "note: no package repositories (apt, yum) for {channel}: {} is not set (docs/release-manager.md, \"Package repositories\")",
                crate::core::openpgp::PRIVATE_KEY_VAR
            ));
            return Ok(Vec::new());
        };
        if let Some(existing) = existing
            && existing.fingerprint() != key.fingerprint()
        {
            bail!(
                "{channel}'s package repositories are signed by OpenPGP key {}, but {} holds key {}: users' apt and dnf trust only the first. Nothing was changed",
                existing.fingerprint(),
                crate::core::openpgp::PRIVATE_KEY_VAR,
                key.fingerprint()
            );
        }
        if let Some(path) = &self.config.signing.openpgp_public_key {
            key.ensure_configured(path).map_err(|e| anyhow::anyhow!("{e:#}. Nothing was changed"))?;
        }
        repo::build(&self.root, channel, &self.config.product_name, manifests, key)
    }

    fn report_repository(&self, manifests: &[ChannelManifest], repository: &[repo::RepoFile]) {
        if repository.is_empty() {
            return;
        }
        let fingerprint = self.openpgp.as_ref().map(OpenPgpKey::fingerprint).unwrap_or_default();
        for (installer, name) in [(Installer::Deb, "apt"), (Installer::Rpm, "yum")] {
            if !repo::has(manifests, installer) {
                continue;
            }
            let what = match repo::offered(manifests) {
                Some(release) if !repo::entries(release, installer).is_empty() => {
                    format!("{} {}", self.config.product_name, release.version)
                }
                _ => "nothing".to_owned(),
            };
            self.ui.info(format!("  {name} repository: offers {what}, signed by OpenPGP key {fingerprint}"));
        }
        if let Some(key) = &self.openpgp {
            for warning in yum::signature_warnings(&self.root, manifests, &key.public()) {
                self.ui.info(format!("  warning: {warning}"));
            }
        }
    }

    /// A published channel is signed by the key its chain has in effect,
    /// and by no other: a different `TAURI_SIGNING_PRIVATE_KEY` is refused,
    /// not silently made the channel's key.
    fn check_channel_key(&self, history: &History) -> Result<()> {
        let Some(keys) = &history.keys else { return Ok(()) };
        let (current, ours) = (keys.current().key_id(), self.key.key.key_id());
        if current != ours {
            bail!(key_mismatch(&history.channel, current, ours, &self.key.origin));
        }
        Ok(())
    }

    /// `rotate-key`: appends to `channel`'s key chain a statement, signed
    /// by the channel's current key (ours), that `to` signs from the next
    /// sequence on. The manifests and `latest.json` stay as they are.
    pub fn rotate(&self, channel: &str, to: &PublicKey) -> Result<()> {
        check_channel_name(channel)?;
        let lock = tree::lock(&self.root)?;
        let history = self.load(channel)?;
        if history.keys.is_none() {
            bail!("{channel} has not been published: its first `publish` makes the signing key its key");
        }
        self.check_channel_key(&history)?;
        let from = self.key.key.key_id();
        if to.key_id() == from {
            bail!("{channel} is already signed by key {from}: name the new key's .pub file");
        }
        let from_sequence = history.next_sequence();
        let link = KeyRotation::new(channel, self.key.public_key(), to, from_sequence, self.now)
            .sign(&self.key.key)
            .context("signing the key rotation")?;
        let mut chain = history.chain.clone().unwrap_or_else(|| KeyChain::new(channel));
        chain.links.push(link);
        // What clients will do: follow it from the key they trust.
        let start = history.keys.as_ref().expect("checked above").first.clone();
        chain.follow(channel, std::slice::from_ref(&start), &start).context("the new key chain does not verify")?;
        let stored: Vec<StoredManifest> = history.entries.iter().map(|e| e.stored.clone()).collect();
        let manifests = history.manifests();
        let latest = LatestJson::for_history(&manifests).expect("a published channel has a history");
        let repository = self.repository(channel, &manifests)?;
        let (chain_json, latest_json) = (chain.to_json(), latest.to_json());
        let contents = tree::Contents {
            history: &stored,
            key_chain: Some(&chain_json),
            latest_json: &latest_json,
            repository: &repository,
        };
        tree::commit(&lock, &self.root, channel, contents, "rotate-key")?;
        self.ui.info(format!(
            "rotate-key: {channel} is handed from key {from} to key {} from sequence {from_sequence} on ({} rotation(s) in {})",
            to.key_id(),
            chain.links.len(),
            self.config.relative(&self.root.join(channel).join(signing::rotation::KEY_CHAIN_FILE)),
        ));
        self.ui.info(format!(
            "  next, now: sign a change of {channel} with key {} (e.g. `rollout {channel} <same percent>`): apps follow the chain from key {from}, and refuse the channel until its manifest carries the new key",
            to.key_id()
        ));
        self.ui.emit(&RotationSummary {
            command: "rotate-key",
            channel: channel.to_owned(),
            from_key: from.to_string(),
            to_key: to.key_id().to_string(),
            from_sequence,
            rotations: chain.links.len(),
        });
        Ok(())
    }

    fn report(&self, command: &'static str, manifest: &ChannelManifest, latest: &LatestJson) {
        let dir = self.root.join(&manifest.channel);
        let platforms: Vec<String> = manifest.platforms.keys().map(ToString::to_string).collect();
        let expires = rfc3339(manifest.expires_at);
        self.ui.info(format!(
            "{command}: {} is now `{}` {} (sequence {}, rollout {}%, expires {expires}), signed by key {}",
            manifest.channel,
            manifest.kind.as_str(),
            manifest.version,
            manifest.sequence,
            manifest.rollout.percent,
            self.key.key.key_id()
        ));
        if !platforms.is_empty() {
            self.ui.info(format!("  platforms: {}", platforms.join(", ")));
        }
        self.ui.info(format!("  stock updaters (latest.json) are offered: {}", offered(latest)));
        self.ui.info(format!("  written: {}", self.config.relative(&dir)));
        self.ui.emit(&ChangeSummary {
            command,
            channel: manifest.channel.clone(),
            kind: manifest.kind.as_str(),
            version: manifest.version.to_string(),
            sequence: manifest.sequence,
            rollout_percent: manifest.rollout.percent,
            expires_at: expires,
            platforms,
            yanked: manifest.yanked.iter().map(ToString::to_string).collect(),
            signing_key: self.key.key.key_id().to_string(),
            dir: dir.display().to_string(),
            latest_json_version: latest.version.to_string(),
        });
    }
}

fn key_mismatch(channel: &str, current: KeyId, ours: KeyId, origin: &str) -> String {
    format!(
        "{channel} is signed by key {current}, but this command would sign it with key {ours} (from {origin}). \
         A channel changes keys only explicitly: with key {current} in TAURI_SIGNING_PRIVATE_KEY, run \
         `cargo xtask rotate-key {channel} --to <the new key's .pub file>`, then sign with the new key. Nothing was changed"
    )
}

/// What `rotate-key` prints (`--format json`).
#[derive(Debug, Serialize)]
pub struct RotationSummary {
    pub command: &'static str,
    pub channel: String,
    pub from_key: String,
    pub to_key: String,
    pub from_sequence: u64,
    pub rotations: usize,
}

fn offered(latest: &LatestJson) -> String {
    if latest.platforms.is_empty() { "nothing".to_owned() } else { latest.version.to_string() }
}

pub fn check_channel_name(channel: &str) -> Result<()> {
    if !signing::manifest::is_channel_name(channel) {
        bail!(
            "{channel:?} is not a channel name: use lower-case letters, digits and `-` (e.g. `stable`, `beta`), at most 64 characters"
        );
    }
    if channel == signing::tree::STORE_DIR {
        bail!("{channel:?} is the file store's folder beside the channels: name the channel otherwise");
    }
    Ok(())
}

/// `HUDSON_NOW` when set, else the system clock; whole seconds, UTC.
pub fn now() -> Result<OffsetDateTime> {
    let now = match std::env::var(NOW_VAR) {
        Ok(text) => OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("{NOW_VAR}={text:?} is not an RFC 3339 time such as 2026-05-01T12:00:00Z"))?,
        Err(_) => OffsetDateTime::now_utc(),
    };
    Ok(now.to_offset(time::UtcOffset::UTC).replace_nanosecond(0).expect("0 is a valid nanosecond"))
}

pub fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339).expect("a UTC time formats as RFC 3339")
}

/// The rollout salt of a release: derived from the channel and version, so
/// re-signing the release (a new percent, a new expiry) keeps the same
/// installs inside, and the next version draws a fresh sample.
pub fn rollout_salt(channel: &str, version: &semver::Version) -> String {
    let mut hash = Sha256::new();
    for part in ["hudson-rollout-salt/1", channel, &version.to_string()] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(&hash.finalize()[..16])
}

/// The download URL of `file_name` under `base` (`{version}` in `base` is
/// replaced). Tauri's updater insists on HTTPS; plain HTTP is accepted only
/// for a loopback host, for local testing.
pub fn artifact_url(base: &str, version: &semver::Version, file_name: &str) -> Result<String> {
    let base = base.trim().replace("{version}", &version.to_string());
    let example = "e.g. https://updates.example.com/hudson/{version}/";
    let mut url = url::Url::parse(&base).with_context(|| format!("base URL {base:?} is not a URL ({example})"))?;
    if let Err(why) = signing::policy::check_transport(&url) {
        bail!("base URL {:?} is refused: {why} ({example})", without_user_info(&url));
    }
    if url.host_str().is_none_or(str::is_empty) || url.query().is_some() || url.fragment().is_some() {
        bail!("base URL {base:?} needs a host and no query or fragment ({example})");
    }
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("base URL {base:?} cannot hold a path ({example})"))?
        .pop_if_empty()
        .push(file_name);
    Ok(url.into())
}

/// `url` as it may be shown: user name and password replaced by `***`.
fn without_user_info(url: &url::Url) -> String {
    let mut shown = url.clone();
    if !url.username().is_empty() || url.password().is_some() {
        let _ = shown.set_password(None);
        let _ = shown.set_username("***");
    }
    shown.into()
}

/// The file name an artifact URL ends with, percent-decoded.
pub fn url_file_name(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let last = url.path_segments()?.next_back().filter(|s| !s.is_empty())?;
    let name = percent_encoding::percent_decode_str(last).decode_utf8().ok()?.into_owned();
    (!name.contains('/') && name != "." && name != "..").then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_urls_are_https_with_an_encoded_file_name() {
        let v = semver::Version::new(1, 2, 3);
        assert_eq!(
            artifact_url("https://u.example/hudson/{version}", &v, "Hudson_1.2.3_amd64.deb").unwrap(),
            "https://u.example/hudson/1.2.3/Hudson_1.2.3_amd64.deb"
        );
        assert_eq!(
            artifact_url("https://u.example/", &v, "Hudson 1+2.app.tar.gz").unwrap(),
            "https://u.example/Hudson%201+2.app.tar.gz"
        );
        assert_eq!(artifact_url("http://127.0.0.1:8080/x", &v, "a.deb").unwrap(), "http://127.0.0.1:8080/x/a.deb");
        for bad in [
            "http://u.example/",
            "ftp://u.example/",
            "https://",
            "http://localhost.evil.example/",
            "u.example",
            "https://u.example/?a=1",
        ] {
            assert!(artifact_url(bad, &v, "a.deb").is_err(), "{bad}");
        }
        assert_eq!(
            url_file_name("https://u.example/Hudson%201+2.app.tar.gz").as_deref(),
            Some("Hudson 1+2.app.tar.gz")
        );
        assert_eq!(url_file_name("https://u.example/x/"), None);
        assert_eq!(url_file_name("https://u.example/%2E%2E"), None);
        assert_eq!(url_file_name("https://u.example/a%2Fb"), None);
        assert_eq!(artifact_url("https://u.example/a", &v, "../x").unwrap(), "https://u.example/a/..%2Fx");
    }

    #[test]
    fn the_salt_is_stable_per_release_and_differs_between_releases() {
        let v1 = semver::Version::new(1, 0, 0);
        let v2 = semver::Version::new(2, 0, 0);
        assert_eq!(rollout_salt("stable", &v1), rollout_salt("stable", &v1));
        assert_ne!(rollout_salt("stable", &v1), rollout_salt("stable", &v2));
        assert_ne!(rollout_salt("stable", &v1), rollout_salt("beta", &v1));
        assert_eq!(rollout_salt("stable", &v1).len(), 32);
    }
}
