//! The client's update policy: whether a fetched channel manifest may be
//! trusted, what it means for this install, and whether a downloaded artifact
//! is the one the manifest promised.
//!
//! [`check_manifest`] applies these rules in this order, and refuses with a
//! distinct [`ManifestRefused`] variant at the first that fails:
//!
//! 1. the manifest is at most `max_manifest_bytes` (default 1 MiB) — checked
//!    before anything is parsed or verified (endless-data attack);
//! 2. the signature file is a prehashed minisign signature in exactly the
//!    canonical form [`crate::manifest`] describes;
//! 3. its key id is one of the trusted keys, and its untrusted comment is the
//!    canonical one naming that key (the one part no signature covers);
//! 4. the data and trusted-comment signatures verify (`minisign-verify`);
//! 5. the manifest parses, has the known schema and obeys its rules;
//! 6. the trusted comment is the one the manifest body implies;
//! 7. the channel is the install's channel (mix-and-match);
//! 8. `now` is not after `expires_at` (indefinite freeze);
//! 9. the sequence is not below the last one accepted (rollback); an equal
//!    sequence is accepted only with byte-identical content (the same state
//!    fetched again), otherwise it is a conflict;
//! 10. versions: a `halt` offers nothing; a `yank` whose `yanked` lists the
//!     installed version offers `version` even as a downgrade; otherwise
//!     `version` equal to the installed one is "up to date" and a lower one
//!     is refused (downgrade);
//! 11. the install's platform key has an entry;
//! 12. an install below `minimum_version` is told to use the full installer;
//! 13. a `release` is offered only to installs inside its rollout percent.
//!
//! After any success the caller stores [`UpdateCheck::seen`] as the new
//! last-seen state for the channel, whatever the decision, so that a later
//! replay of an older manifest is refused.
//!
//! [`verify_download`] then streams the downloaded artifact once, checking its
//! size (and stopping as soon as it is too long), SHA-256 and signature
//! against the offer, with a distinct [`DownloadRefused`] variant for each.

use std::cmp::Ordering;
use std::io::{self, Read};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::artifact;
use crate::hex;
use crate::keys::{KeyId, PublicKey};
use crate::manifest::{ChannelManifest, ManifestError, ManifestKind, PlatformEntry};
use crate::platform::PlatformKey;
use crate::rollout;
use crate::rotation::{KeyChain, SeenChain};
use crate::signature::{self, MinisignSignature};

/// The default cap on a manifest's size.
pub const DEFAULT_MAX_MANIFEST_BYTES: usize = 1 << 20;

/// What the client knows when it checks a manifest.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Keys whose signatures the client trusts (the app's embedded keys).
    pub trusted_keys: Vec<PublicKey>,
    /// The channel this install follows.
    pub channel: String,
    /// This install's platform key (`{os}-{arch}-{installer}`).
    pub platform: PlatformKey,
    /// The version now installed.
    pub installed: semver::Version,
    /// A random id stored at first run, used only for rollout membership.
    pub install_id: String,
    /// The last manifest accepted on this channel, if any.
    pub last_seen: Option<SeenManifest>,
    /// The channel's key chain as last seen, if it had one.
    pub last_chain: Option<SeenChain>,
    pub now: OffsetDateTime,
    pub max_manifest_bytes: usize,
}

impl Policy {
    /// A policy with no last-seen manifest and the default size cap.
    pub fn new(
        trusted_keys: Vec<PublicKey>,
        channel: impl Into<String>,
        platform: PlatformKey,
        installed: semver::Version,
        install_id: impl Into<String>,
        now: OffsetDateTime,
    ) -> Self {
        Policy {
            trusted_keys,
            channel: channel.into(),
            platform,
            installed,
            install_id: install_id.into(),
            last_seen: None,
            last_chain: None,
            now,
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
        }
    }
}

/// What a client stores about the last manifest it accepted on its channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenManifest {
    pub sequence: u64,
    /// Lower-case hex SHA-256 of the manifest bytes.
    pub sha256: String,
}

/// A trusted manifest and what it means for this install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateCheck {
    pub decision: Decision,
    /// Store this as the channel's new [`Policy::last_seen`].
    pub seen: SeenManifest,
    pub manifest: ChannelManifest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Download and install this.
    Install(Offer),
    /// The manifest's version is the installed one.
    UpToDate,
    /// The channel is halted: stay on the installed version.
    Halted,
    /// A newer release exists but this install is outside its rollout.
    NotInRollout { percent: u8 },
    /// Too old to update in place: tell the user to install the full installer.
    InstallerRequired { minimum_version: semver::Version },
}

/// An update this install should take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub version: semver::Version,
    pub reason: OfferReason,
    pub platform: PlatformKey,
    pub artifact: PlatformEntry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferReason {
    /// A newer release.
    Release,
    /// The installed version was yanked; `version` may be lower.
    Yank,
}

/// What [`check_manifest_chained`] accepted.
#[derive(Debug, Clone)]
pub struct ChainedCheck {
    pub check: UpdateCheck,
    /// The keys whose artifact signatures go with this manifest: the app's,
    /// and those the chain handed the channel to.
    pub keys: Vec<PublicKey>,
    /// Store this as [`Policy::last_chain`].
    pub chain: Option<SeenChain>,
}

/// [`check_manifest`] for a channel that may have handed its signing key on
/// ([`crate::rotation`]); `key_chain` is the channel's `keys.json`, if it has
/// one. The chain must reach the client from a key it trusts and extend the
/// chain it saw last ([`Policy::last_chain`]: a chain removed or cut short
/// is refused), and the manifest must be signed by the chain's current key:
/// a retired key signs nothing any more, even where the app embeds it (so
/// after `rotate-key`, the next change signed by the new key is what apps
/// take).
pub fn check_manifest_chained(
    policy: &Policy,
    manifest: &[u8],
    signature_file: &[u8],
    key_chain: Option<&[u8]>,
) -> Result<ChainedCheck, ManifestRefused> {
    let chain = match key_chain.map(KeyChain::from_json).transpose() {
        Ok(Some(chain)) if !chain.links.is_empty() => chain,
        Ok(_) => {
            if let Some(seen) = policy.last_chain.as_ref().filter(|seen| seen.links > 0) {
                return Err(ManifestRefused::KeyChain {
                    detail: format!(
                        "this app saw a chain of {} key change(s) on this channel, and now there is none",
                        seen.links
                    ),
                });
            }
            let check = check_manifest(policy, manifest, signature_file)?;
            return Ok(ChainedCheck { check, keys: policy.trusted_keys.clone(), chain: policy.last_chain.clone() });
        }
        Err(error) => return Err(ManifestRefused::KeyChain { detail: error.to_string() }),
    };
    if let Some(seen) = &policy.last_chain
        && (chain.links.len() < seen.links || chain.seen(seen.links) != *seen)
    {
        return Err(ManifestRefused::KeyChain {
            detail: format!(
                "it does not extend the chain of {} key change(s) this app saw before (removed, cut short or rewritten)",
                seen.links
            ),
        });
    }
    let start = policy
        .trusted_keys
        .first()
        .ok_or_else(|| ManifestRefused::KeyChain { detail: "this app trusts no key".to_owned() })?;
    let schedule = chain
        .follow(&policy.channel, &policy.trusted_keys, start)
        .map_err(|error| ManifestRefused::KeyChain { detail: error.to_string() })?;
    let mut chained = policy.clone();
    for key in schedule.keys() {
        if !chained.trusted_keys.contains(&key) {
            chained.trusted_keys.push(key);
        }
    }
    let check = check_manifest(&chained, manifest, signature_file)?;
    let current = schedule.current().key_id();
    let signer = parse_signature(signature_file)?.key_id();
    if signer != current {
        return Err(ManifestRefused::RetiredKey { key_id: signer, sequence: check.manifest.sequence, current });
    }
    let seen = chain.seen(chain.links.len());
    Ok(ChainedCheck { check, keys: chained.trusted_keys, chain: Some(seen) })
}

/// Checks a fetched manifest and its signature file against the policy; see
/// the module docs for the rules and their order.
pub fn check_manifest(policy: &Policy, manifest: &[u8], signature_file: &[u8]) -> Result<UpdateCheck, ManifestRefused> {
    let parsed = verify_manifest(&policy.trusted_keys, manifest, signature_file, policy.max_manifest_bytes)?;
    if parsed.channel != policy.channel {
        return Err(ManifestRefused::ChannelMismatch { expected: policy.channel.clone(), found: parsed.channel });
    }
    if policy.now > parsed.expires_at {
        return Err(ManifestRefused::Expired { expires_at: parsed.expires_at, now: policy.now });
    }
    let seen = SeenManifest { sequence: parsed.sequence, sha256: hex::encode(Sha256::digest(manifest)) };
    if let Some(last) = &policy.last_seen {
        match parsed.sequence.cmp(&last.sequence) {
            Ordering::Less => {
                return Err(ManifestRefused::Replay { sequence: parsed.sequence, last_seen: last.sequence });
            }
            Ordering::Equal if seen.sha256 != last.sha256 => {
                return Err(ManifestRefused::SequenceConflict { sequence: parsed.sequence });
            }
            _ => {}
        }
    }
    let decision = decide(policy, &parsed)?;
    Ok(UpdateCheck { decision, seen, manifest: parsed })
}

/// Rules 1–6: the manifest is signed by one of `trusted_keys`, in the
/// canonical form, and is a valid manifest whose body matches the signed
/// trusted comment. Says nothing about channel, expiry or sequence: the
/// publisher and `verify` use it to read a channel they already know.
pub fn verify_manifest(
    trusted_keys: &[PublicKey],
    manifest: &[u8],
    signature_file: &[u8],
    max_manifest_bytes: usize,
) -> Result<ChannelManifest, ManifestRefused> {
    if manifest.len() > max_manifest_bytes {
        return Err(ManifestRefused::TooLarge { size: manifest.len(), limit: max_manifest_bytes });
    }
    let signature = parse_signature(signature_file)?;
    let key = trusted_keys.iter().find(|key| key.key_id() == signature.key_id()).ok_or_else(|| {
        ManifestRefused::UnknownKey {
            key_id: signature.key_id(),
            trusted: trusted_keys.iter().map(PublicKey::key_id).collect(),
        }
    })?;
    let expected = signature::untrusted_comment_for(key.key_id());
    if signature.untrusted_comment() != expected {
        return Err(ManifestRefused::MalformedSignature {
            detail: format!("its untrusted comment is not {expected:?}"),
        });
    }
    key.to_verifier()
        .verify(manifest, &signature.to_verifier(), false)
        .map_err(|_| ManifestRefused::BadSignature { key_id: key.key_id() })?;

    let parsed = ChannelManifest::from_json(manifest).map_err(|error| match error {
        ManifestError::Schema { found } => ManifestRefused::UnknownSchema { found },
        other => ManifestRefused::Malformed { detail: other.to_string() },
    })?;
    let expected_comment = parsed.trusted_comment();
    if signature.trusted_comment() != expected_comment {
        return Err(ManifestRefused::CommentMismatch {
            expected: expected_comment,
            found: signature.trusted_comment().to_owned(),
        });
    }
    Ok(parsed)
}

/// Rules 10–13: what a trusted, current manifest means for this install.
fn decide(policy: &Policy, manifest: &ChannelManifest) -> Result<Decision, ManifestRefused> {
    let installed = &policy.installed;
    let reason = match manifest.kind {
        ManifestKind::Halt => return Ok(Decision::Halted),
        ManifestKind::Yank if manifest.yanked.iter().any(|v| v.cmp_precedence(installed).is_eq()) => OfferReason::Yank,
        ManifestKind::Release | ManifestKind::Yank => match manifest.version.cmp_precedence(installed) {
            Ordering::Greater => OfferReason::Release,
            Ordering::Equal => return Ok(Decision::UpToDate),
            Ordering::Less => {
                return Err(ManifestRefused::VersionNotNewer {
                    offered: manifest.version.clone(),
                    installed: installed.clone(),
                });
            }
        },
    };
    let artifact = manifest.platforms.get(&policy.platform).ok_or_else(|| ManifestRefused::PlatformMissing {
        platform: policy.platform,
        available: manifest.platforms.keys().copied().collect(),
    })?;
    // An offer the client could never download is refused here, not found
    // out after the user was told of an update.
    let refused_url = |why: String| ManifestRefused::ArtifactUrl { url: artifact.url.clone(), why };
    let url = url::Url::parse(&artifact.url).map_err(|e| refused_url(format!("it is not a URL ({e})")))?;
    check_transport(&url).map_err(refused_url)?;
    if let Some(minimum) = &manifest.minimum_version
        && installed.cmp_precedence(minimum).is_lt()
    {
        return Ok(Decision::InstallerRequired { minimum_version: minimum.clone() });
    }
    if reason == OfferReason::Release {
        let version = manifest.version.to_string();
        let percent = manifest.rollout.percent;
        if !rollout::in_rollout(&policy.install_id, &manifest.channel, &version, &manifest.rollout.salt, percent) {
            return Ok(Decision::NotInRollout { percent });
        }
    }
    Ok(Decision::Install(Offer {
        version: manifest.version.clone(),
        reason,
        platform: policy.platform,
        artifact: artifact.clone(),
    }))
}

fn parse_signature(signature_file: &[u8]) -> Result<MinisignSignature, ManifestRefused> {
    let text = std::str::from_utf8(signature_file)
        .map_err(|_| ManifestRefused::MalformedSignature { detail: "it is not UTF-8 text".to_owned() })?;
    MinisignSignature::parse_canonical(text)
        .map_err(|error| ManifestRefused::MalformedSignature { detail: error.to_string() })
}

/// Checks a downloaded artifact against the offer in one streaming read:
/// size, SHA-256, and the Tauri signature by a trusted key whose trusted
/// comment carries the offered version.
pub fn verify_download(reader: impl Read, offer: &Offer, trusted_keys: &[PublicKey]) -> Result<(), DownloadRefused> {
    let expected = &offer.artifact;
    let signature = artifact::decode_tauri_signature(&expected.signature)
        .map_err(|error| DownloadRefused::MalformedSignature { detail: error.to_string() })?;
    let key = trusted_keys
        .iter()
        .find(|key| key.key_id() == signature.key_id)
        .ok_or(DownloadRefused::UnknownKey { key_id: signature.key_id })?;
    let signed = artifact::signed_version(signature.verifier.trusted_comment());
    if signed != Some(offer.version.to_string().as_str()) {
        return Err(DownloadRefused::SignedVersionMismatch {
            expected: offer.version.clone(),
            found: signed.map(str::to_owned),
        });
    }
    let verifier = key.to_verifier();
    let mut stream = verifier
        .verify_stream(&signature.verifier)
        .map_err(|error| DownloadRefused::MalformedSignature { detail: error.to_string() })?;

    let mut sha256 = Sha256::new();
    let mut size: u64 = 0;
    signature::for_each_chunk(reader, DownloadRefused::Read, |chunk| {
        size += chunk.len() as u64;
        if size > expected.size {
            return Err(DownloadRefused::SizeMismatch { expected: expected.size, actual: size, complete: false });
        }
        sha256.update(chunk);
        stream.update(chunk);
        Ok(())
    })?;
    if size != expected.size {
        return Err(DownloadRefused::SizeMismatch { expected: expected.size, actual: size, complete: true });
    }
    let actual = hex::encode(sha256.finalize());
    if actual != expected.sha256 {
        return Err(DownloadRefused::Sha256Mismatch { expected: expected.sha256.clone(), actual });
    }
    stream.finalize().map_err(|_| DownloadRefused::SignatureMismatch { key_id: key.key_id() })
}

/// Why a fetched manifest is not trusted. Each rule has its own variant;
/// [`ManifestRefused::kind`] names it without the details.
#[derive(Debug, thiserror::Error)]
pub enum ManifestRefused {
    #[error("the manifest is {size} bytes, over the {limit}-byte limit; it was not parsed")]
    TooLarge { size: usize, limit: usize },
    #[error("the manifest signature file is malformed: {detail}")]
    MalformedSignature { detail: String },
    #[error("the manifest is signed by key {key_id}, which this app does not trust (trusted: {})", list(.trusted))]
    UnknownKey { key_id: KeyId, trusted: Vec<KeyId> },
    #[error("the manifest signature by key {key_id} does not verify: the manifest or its signature was altered")]
    BadSignature { key_id: KeyId },
    #[error("the signed manifest is malformed: {detail}")]
    Malformed { detail: String },
    #[error(
        "the manifest has schema {found:?}; this app reads {:?}: update the app with a full installer",
        crate::manifest::CHANNEL_MANIFEST_SCHEMA
    )]
    UnknownSchema { found: String },
    #[error("the signature's trusted comment {found:?} does not match the manifest (expected {expected:?})")]
    CommentMismatch { expected: String, found: String },
    #[error("the manifest is for channel {found:?}, but this install follows {expected:?}")]
    ChannelMismatch { expected: String, found: String },
    #[error("the manifest expired at {expires_at} (now {now}): the update host serves a stale manifest")]
    Expired { expires_at: OffsetDateTime, now: OffsetDateTime },
    #[error("the manifest has sequence {sequence}, below {last_seen} already seen: an old manifest is being replayed")]
    Replay { sequence: u64, last_seen: u64 },
    #[error(
        "the manifest has sequence {sequence}, already seen with different content: two manifests share a sequence"
    )]
    SequenceConflict { sequence: u64 },
    #[error("the manifest has no artifact for platform {platform} (it has: {})", list(.available))]
    PlatformMissing { platform: PlatformKey, available: Vec<PlatformKey> },
    #[error("the manifest offers {offered}, not newer than the installed {installed}, and does not yank it")]
    VersionNotNewer { offered: semver::Version, installed: semver::Version },
    #[error("the channel's key chain (keys.json) is refused: {detail}")]
    KeyChain { detail: String },
    #[error(
        "the manifest (sequence {sequence}) is signed by key {key_id}, but the channel's key chain has handed the channel to key {current}"
    )]
    RetiredKey { key_id: KeyId, sequence: u64, current: KeyId },
    #[error("the manifest's download address {url:?} for this platform is not allowed: {why}")]
    ArtifactUrl { url: String, why: String },
}

/// The rule a [`ManifestRefused`] reports, without its details. Serialised
/// in snake_case (`unknown_key`, `replay`, …): the shell's events name it so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    TooLarge,
    MalformedSignature,
    UnknownKey,
    BadSignature,
    Malformed,
    UnknownSchema,
    CommentMismatch,
    ChannelMismatch,
    Expired,
    Replay,
    SequenceConflict,
    PlatformMissing,
    VersionNotNewer,
    KeyChain,
    RetiredKey,
    ArtifactUrl,
}

impl ManifestRefused {
    pub fn kind(&self) -> RefusalKind {
        match self {
            ManifestRefused::TooLarge { .. } => RefusalKind::TooLarge,
            ManifestRefused::MalformedSignature { .. } => RefusalKind::MalformedSignature,
            ManifestRefused::UnknownKey { .. } => RefusalKind::UnknownKey,
            ManifestRefused::BadSignature { .. } => RefusalKind::BadSignature,
            ManifestRefused::Malformed { .. } => RefusalKind::Malformed,
            ManifestRefused::UnknownSchema { .. } => RefusalKind::UnknownSchema,
            ManifestRefused::CommentMismatch { .. } => RefusalKind::CommentMismatch,
            ManifestRefused::ChannelMismatch { .. } => RefusalKind::ChannelMismatch,
            ManifestRefused::Expired { .. } => RefusalKind::Expired,
            ManifestRefused::Replay { .. } => RefusalKind::Replay,
            ManifestRefused::SequenceConflict { .. } => RefusalKind::SequenceConflict,
            ManifestRefused::PlatformMissing { .. } => RefusalKind::PlatformMissing,
            ManifestRefused::VersionNotNewer { .. } => RefusalKind::VersionNotNewer,
            ManifestRefused::KeyChain { .. } => RefusalKind::KeyChain,
            ManifestRefused::RetiredKey { .. } => RefusalKind::RetiredKey,
            ManifestRefused::ArtifactUrl { .. } => RefusalKind::ArtifactUrl,
        }
    }
}

/// Why a downloaded artifact is not the one the manifest promised.
#[derive(Debug, thiserror::Error)]
pub enum DownloadRefused {
    #[error("the offer's artifact signature is malformed: {detail}")]
    MalformedSignature { detail: String },
    #[error("the artifact is signed by key {key_id}, which this app does not trust")]
    UnknownKey { key_id: KeyId },
    #[error("the artifact signature is for version {}, not the offered {expected}", .found.as_deref().unwrap_or("<none>"))]
    SignedVersionMismatch { expected: semver::Version, found: Option<String> },
    /// `complete`: `actual` is the whole download; otherwise reading stopped
    /// once `actual` bytes, more than `expected`, had arrived — the download
    /// is at least `actual` bytes (possibly exactly that many).
    #[error("the download is {}{actual} bytes, the manifest says {expected}", if *.complete { "" } else { "at least " })]
    SizeMismatch { expected: u64, actual: u64, complete: bool },
    #[error("the download's SHA-256 is {actual}, the manifest says {expected}")]
    Sha256Mismatch { expected: String, actual: String },
    #[error("the download's signature by key {key_id} does not verify")]
    SignatureMismatch { key_id: KeyId },
    #[error("reading the download failed: {0}")]
    Read(#[source] io::Error),
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Whether `url`'s host is loopback: 127.0.0.0/8, `::1` or `localhost`,
/// told by address, not by spelling. Where plain HTTP is allowed, and what
/// no proxy may see.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The one transport rule for every URL the updater fetches (the endpoint,
/// artifact URLs, redirects) and every URL `publish` writes or the build
/// configures: `https://`, or plain `http://` to a loopback host only
/// (127.0.0.0/8, `::1`, `localhost`) for tests and local mirrors. A URL with
/// user info is refused too: it would put a password into published files.
pub fn check_transport(url: &url::Url) -> Result<(), String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it carries a user name or password (user info is never published)".to_owned());
    }
    if url.host().is_none() {
        return Err("it has no host".to_owned());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err("plain http:// is allowed only for a loopback host; use https://".to_owned()),
        other => Err(format!("scheme {other}:// is not https://")),
    }
}

/// The one rule for a crash-report endpoint (a Sentry DSN,
/// `https://<public key>@<host>/<project id>`), used by the build's
/// configuration and by the shell: a public key, a numeric project id, and
/// the transport rule above for the rest (the key is the DSN's user name, so
/// it is set aside before [`check_transport`], which refuses user info).
pub fn check_crash_report_dsn(dsn: &str) -> Result<(), String> {
    let url = url::Url::parse(dsn.trim()).map_err(|e| format!("it is not a URL ({e})"))?;
    if url.username().is_empty() {
        return Err("it has no public key (https://<public key>@<host>/<project id>)".to_owned());
    }
    if url.password().is_some() {
        return Err("it carries a secret key; a DSN for a desktop app holds the public key only".to_owned());
    }
    let project = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default();
    if project.is_empty() || !project.bytes().all(|b| b.is_ascii_digit()) {
        return Err("it does not end with a numeric project id".to_owned());
    }
    let mut bare = url.clone();
    bare.set_username("").map_err(|()| "it has no host".to_owned())?;
    check_transport(&bare)
}

#[cfg(test)]
mod transport_tests {
    use super::check_transport;

    #[test]
    fn transport_is_https_or_loopback_http_without_user_info() {
        let check = |u: &str| check_transport(&url::Url::parse(u).unwrap());
        for ok in
            ["https://u.example/x", "http://127.0.0.1:8000/", "http://127.9.9.9/", "http://[::1]/", "http://LocalHost/"]
        {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://u.example/", "loopback"),
            ("ftp://u.example/", "ftp"),
            ("https://user:s3cr3t@u.example/", "user"),
            ("http://127.0.0.1.evil.com/", "loopback"),
            ("file:///etc/passwd", "host"),
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn loopback_is_told_by_address_not_by_spelling() {
        let loopback = |u: &str| super::is_loopback(&url::Url::parse(u).unwrap());
        for host in ["127.0.0.1", "127.0.0.2", "[::1]", "LocalHost"] {
            assert!(loopback(&format!("http://{host}/")), "{host}");
        }
        for host in ["sentry.example", "127.0.0.1.evil.example", "10.0.0.1"] {
            assert!(!loopback(&format!("http://{host}/")), "{host}");
        }
        assert!(!loopback("file:///etc/passwd"));
    }

    #[test]
    fn a_crash_report_dsn_is_a_public_key_a_project_and_a_safe_transport() {
        use super::check_crash_report_dsn as check;
        for ok in ["https://abc123@o1.ingest.sentry.io/42", "http://public@127.0.0.1:9999/1"] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("https://o1.ingest.sentry.io/42", "public key"),
            ("https://k:secret@o1.ingest.sentry.io/42", "secret key"),
            ("https://k@o1.ingest.sentry.io/", "project id"),
            ("https://k@o1.ingest.sentry.io/abc", "project id"),
            ("http://k@sentry.example/1", "loopback"),
            ("not a dsn", "URL"),
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
