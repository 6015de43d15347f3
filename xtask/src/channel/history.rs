//! A channel's history of signed manifests, checked, and the rules every
//! change follows: sequence numbers, which versions may be published, what
//! a yank goes back to.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use semver::Version;
use signing::keys::PublicKey;
use signing::manifest::{ChannelManifest, ManifestKind};
use signing::policy::{self, DEFAULT_MAX_MANIFEST_BYTES};
use signing::rotation::{KEY_CHAIN_FILE, KeyChain, KeySchedule};

use super::tree::{self, StoredManifest};

/// One entry: the stored bytes and what they say.
#[derive(Debug, Clone)]
pub struct Entry {
    pub stored: StoredManifest,
    pub manifest: ChannelManifest,
}

/// Every manifest a channel has had, oldest first; the last is current.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub channel: String,
    pub entries: Vec<Entry>,
    /// The channel's key chain (no links until a `rotate-key`).
    pub chain: Option<KeyChain>,
    /// Which key signs which sequence; `None` for a channel not yet published.
    pub keys: Option<KeySchedule>,
}

/// The key a channel without a key chain is signed by now, unchecked: its
/// newest manifest's signer. For messages only; a channel with a chain gets
/// the chain's own error instead (its unchecked keys are not repeated).
pub fn claimed_key(dir: &Path) -> Option<signing::keys::KeyId> {
    let files = tree::read_channel(dir).ok()?;
    if files.key_chain.is_some() {
        return None;
    }
    super::promote::minisign_key_id(&files.history.last()?.signature).ok()
}

/// The start of `dir`'s key chain when the chain checks out and hands the
/// channel to `ours`.
pub fn start_of_chain_to(dir: &Path, channel: &str, ours: &PublicKey) -> Option<PublicKey> {
    let bytes = tree::read_channel(dir).ok()?.key_chain?;
    let chain = KeyChain::from_json(&bytes).ok()?;
    let start = chain.start()?;
    let schedule = chain.follow(channel, std::slice::from_ref(&start), &start).ok()?;
    (schedule.current() == ours).then_some(start)
}

impl History {
    /// Reads `dir` and checks it: the chain of keys starts from one of
    /// `trusted_keys`, every entry is signed by the key the chain puts in
    /// effect for its sequence, is for this channel, sequences increase, and
    /// `manifest.json` is the newest entry.
    pub fn load(dir: &Path, channel: &str, trusted_keys: &[PublicKey]) -> Result<History> {
        let files = tree::read_channel(dir)?;
        let chain = match &files.key_chain {
            Some(bytes) => {
                Some(KeyChain::from_json(bytes).with_context(|| format!("{}", dir.join(KEY_CHAIN_FILE).display()))?)
            }
            None => None,
        };
        // Before the chain's first change (or with no chain), an entry may be
        // signed by any trusted key: channels published before rotations
        // existed mix the development and the release key. The key in effect
        // at the end of that stretch is where the chain starts; from its
        // first change on, each entry must carry the key the chain says.
        let first_change = chain
            .as_ref()
            .and_then(|c| c.links.first())
            .and_then(|l| serde_json::from_str::<signing::rotation::KeyRotation>(&l.statement).ok())
            .map(|r| r.from_sequence);
        let mut entries = Vec::new();
        let mut before_chain: Option<PublicKey> = None;
        for stored in &files.history {
            if first_change.is_some_and(|from| stored.sequence >= from) {
                break;
            }
            let name = dir.join(tree::HISTORY_DIR).join(tree::history_name(stored.sequence));
            let signer = super::promote::minisign_key_id(&stored.signature)
                .with_context(|| format!("{}.minisig", name.display()))?;
            let key = trusted_keys.iter().find(|k| k.key_id() == signer).with_context(|| {
                format!(
                    "{} is signed by key {signer}, which is not trusted here (trusted: {})",
                    name.display(),
                    trusted_keys.iter().map(|k| k.key_id().to_string()).collect::<Vec<_>>().join(", ")
                )
            })?;
            before_chain = Some(key.clone());
        }
        let keys = match (&before_chain, &chain) {
            (_, Some(chain)) if !chain.links.is_empty() => {
                let start = before_chain.as_ref().or(trusted_keys.first()).context("no trusted key")?;
                let schedule = chain
                    .follow(channel, trusted_keys, start)
                    .with_context(|| format!("{} is refused", dir.join(KEY_CHAIN_FILE).display()))?;
                if let Some(last) = &before_chain
                    && schedule.first != *last
                {
                    bail!(
                        "{} starts from key {}, but the channel was signed by key {} until then",
                        dir.join(KEY_CHAIN_FILE).display(),
                        schedule.first.key_id(),
                        last.key_id()
                    );
                }
                Some(schedule)
            }
            (Some(last), _) => Some(KeySchedule::single(last.clone())),
            (None, _) => None,
        };
        for stored in files.history {
            let name = dir.join(tree::HISTORY_DIR).join(tree::history_name(stored.sequence));
            let in_chain = first_change.is_some_and(|from| stored.sequence >= from);
            let allowed: Vec<PublicKey> = match (&keys, in_chain) {
                (Some(keys), true) => vec![keys.key_for(stored.sequence).clone()],
                _ => trusted_keys.to_vec(),
            };
            let manifest = policy::verify_manifest(
                &allowed,
                &stored.json,
                stored.signature.as_bytes(),
                DEFAULT_MAX_MANIFEST_BYTES,
            )
            .with_context(|| {
                format!(
                    "{} does not verify with {}, the channel's key for sequence {} (a channel changes keys only with `cargo xtask rotate-key`)",
                    name.display(),
                    allowed.iter().map(|k| format!("key {}", k.key_id())).collect::<Vec<_>>().join(" or "),
                    stored.sequence
                )
            })?;
            if manifest.channel != channel {
                bail!("{} is for channel {:?}, not {channel:?}", name.display(), manifest.channel);
            }
            if manifest.sequence != stored.sequence {
                bail!("{} holds sequence {}, not the one its name says", name.display(), manifest.sequence);
            }
            entries.push(Entry { stored, manifest });
        }
        match (&files.manifest, entries.last()) {
            (None, None) => {}
            (Some((json, signature)), Some(last))
                if *json == last.stored.json && *signature == last.stored.signature.as_bytes() => {}
            (Some(_), _) => bail!(
                "{}/manifest.json is not the newest entry of {}/{}: the channel was edited by hand; restore it from version control",
                dir.display(),
                dir.display(),
                tree::HISTORY_DIR
            ),
            (None, Some(_)) => {
                bail!("{} has a history but no manifest.json; restore it from version control", dir.display())
            }
        }
        Ok(History { channel: channel.to_owned(), entries, chain, keys })
    }

    pub fn current(&self) -> Option<&ChannelManifest> {
        self.entries.last().map(|e| &e.manifest)
    }

    pub fn next_sequence(&self) -> u64 {
        self.current().map_or(1, |m| m.sequence + 1)
    }

    pub fn manifests(&self) -> Vec<ChannelManifest> {
        self.entries.iter().map(|e| e.manifest.clone()).collect()
    }

    /// Every version a yank has pulled.
    pub fn yanked(&self) -> BTreeSet<Version> {
        self.entries
            .iter()
            .filter(|e| e.manifest.kind == ManifestKind::Yank)
            .flat_map(|e| e.manifest.yanked.iter().cloned())
            .collect()
    }

    pub fn is_yanked(&self, version: &Version) -> bool {
        self.yanked().iter().any(|v| v.cmp_precedence(version).is_eq())
    }

    /// The newest `release` manifest of `version`.
    pub fn release(&self, version: &Version) -> Option<&ChannelManifest> {
        self.entries
            .iter()
            .rev()
            .map(|e| &e.manifest)
            .find(|m| m.kind == ManifestKind::Release && m.version.cmp_precedence(version).is_eq())
    }

    /// The highest version ever released on the channel.
    pub fn highest_released(&self) -> Option<&Version> {
        self.entries
            .iter()
            .filter(|e| e.manifest.kind == ManifestKind::Release)
            .map(|e| &e.manifest.version)
            .max_by(|a, b| a.cmp_precedence(b))
    }

    /// Whether `version` may be released now: above every version the channel
    /// has released (clients refuse anything not newer than what they run),
    /// or the current release again (to add platforms or change notes), and
    /// never a yanked one.
    pub fn check_releasable(&self, version: &Version) -> Result<()> {
        let channel = &self.channel;
        if self.is_yanked(version) {
            bail!("{version} was yanked from {channel}; release a new version instead");
        }
        let Some(highest) = self.highest_released() else { return Ok(()) };
        if version.cmp_precedence(highest).is_gt() {
            return Ok(());
        }
        let current = self.current().expect("a released channel has a current manifest");
        if current.kind == ManifestKind::Release && current.version.cmp_precedence(version).is_eq() {
            return Ok(());
        }
        bail!(
            "{channel} has already released {highest}; {version} is not newer, and clients refuse an update that is not newer than what they run"
        )
    }

    /// The release a yank of `bad` goes back to: the newest release below
    /// it that was never yanked.
    pub fn yank_target(&self, bad: &Version) -> Option<&ChannelManifest> {
        let yanked = self.yanked();
        self.entries
            .iter()
            .map(|e| &e.manifest)
            .filter(|m| m.kind == ManifestKind::Release && m.version.cmp_precedence(bad).is_lt())
            .filter(|m| !yanked.iter().any(|y| y.cmp_precedence(&m.version).is_eq()))
            // The newest manifest of the highest version: its platforms are the latest.
            .max_by(|a, b| a.version.cmp_precedence(&b.version).then(a.sequence.cmp(&b.sequence)))
    }
}
