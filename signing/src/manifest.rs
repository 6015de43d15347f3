//! The signed channel manifest: `release-manifests/<channel>/manifest.json`
//! and its minisign signature `manifest.json.minisig`.
//!
//! Tauri signs artifacts but not its `latest.json`, so whoever controls the
//! update host could replay an old release, freeze clients on an old state, or
//! mix platforms. This manifest binds, in one signed document, the channel, a
//! sequence number, an expiry, the version and every artifact's size, SHA-256
//! and signature. [`crate::policy`] holds the rules a client applies to it.
//!
//! # Schema `hudson-channel-manifest/1`
//!
//! ```json
//! {
//!   "schema": "hudson-channel-manifest/1",
//!   "channel": "stable",
//!   "sequence": 7,
//!   "kind": "release",
//!   "version": "1.2.3",
//!   "issued_at": "2026-05-01T12:00:00Z",
//!   "expires_at": "2026-05-31T12:00:00Z",
//!   "rollout": { "percent": 25, "salt": "9f2c4a0d5e7b1c3a" },
//!   "minimum_version": "1.0.0",
//!   "notes": "Faster start-up.",
//!   "platforms": {
//!     "linux-x86_64-deb": {
//!       "url": "https://updates.example/hudson_1.2.3_amd64.deb",
//!       "size": 48213504,
//!       "sha256": "<64 lower-case hex digits>",
//!       "signature": "<Tauri signature: base64 of the minisign signature text>"
//!     },
//!     "linux-x86_64": {
//!       "url": "https://updates.example/Hudson-1.2.3-x86_64-unknown-linux-gnu.tar.gz",
//!       "size": 61234567,
//!       "sha256": "<64 lower-case hex digits>",
//!       "signature": "<Tauri signature>",
//!       "tree": { "sha256": "<64 lower-case hex digits>", "size": 912345 }
//!     }
//!   }
//! }
//! ```
//!
//! | field | meaning and rules |
//! | --- | --- |
//! | `schema` | Exactly `hudson-channel-manifest/1`. A client refuses any other value: a new schema is a new string. |
//! | `channel` | The channel this manifest is for (`stable`, `beta`, …): `[a-z0-9][a-z0-9-]*`, at most 64 characters. A client refuses a manifest for another channel. |
//! | `sequence` | Unsigned 64-bit counter, strictly increasing per channel: every published change (publish, promote, rollout, halt, yank) takes the next number. A client remembers the last sequence it accepted and refuses a lower one (replay), and refuses the same sequence with different bytes. |
//! | `kind` | `release`: offer `version`. `halt`: stop offering updates (clients stay where they are). `yank`: pull the versions in `yanked` and send their clients to `version`, even when that is a downgrade. |
//! | `version` | Semver, no leading `v`, at most 64 characters (it is shown to users and kept in their update state). The release offered (`release`), stopped (`halt`) or returned to (`yank`). |
//! | `issued_at`, `expires_at` | RFC 3339 in UTC (`Z`), `issued_at` ≤ `expires_at`. A client refuses the manifest after `expires_at`, so a frozen mirror cannot hide newer releases for longer than that; republish (with the next sequence) before it expires. |
//! | `rollout` | `percent` 0–100 and `salt` (16–64 lower-case hex digits). An install takes a `release` when [`crate::rollout::in_rollout`] puts its install id inside `percent`. A new salt reshuffles who is in; raising the percent only adds installs. A yank reaches every yanked install whatever the percent. |
//! | `minimum_version` | Optional semver. Installs older than it must not update in place from this manifest: the client tells the user to install the full installer instead (use it when an update needs a migration step an old version cannot run). |
//! | `notes` | Optional release notes for the user, at most 64 KiB. A client shows them with control characters other than line breaks and tabs replaced. |
//! | `yanked` | Only for `yank`, and then non-empty: the versions being pulled (each at most 64 characters). Must not contain `version`. Omitted otherwise. |
//! | `platforms` | Updater platform key (`{os}-{arch}` or `{os}-{arch}-{installer}`, see [`crate::platform`]) → `url`, `size` (bytes), `sha256` (lower-case hex) and `signature` (the artifact's Tauri signature; its trusted comment carries `version:<version>`); optional `tree`, the SHA-256 and size of the release's tree manifest in the file store (see [`crate::tree`]), for the folder-swap kinds a client can assemble from the files it has. Non-empty for `release` and `yank`; may be empty for `halt`. |
//!
//! Unknown fields are ignored, so a later `/1` writer may add optional ones.
//!
//! # Bytes and signature
//!
//! The published bytes are [`ChannelManifest::to_json`]: the fields in the
//! order above, optional ones omitted when absent, platform keys sorted,
//! two-space pretty JSON, one trailing newline. The same manifest always gives
//! the same bytes, so a change reviews as a plain diff.
//!
//! `manifest.json.minisig` is a standard minisign signature file (text, not
//! base64) over exactly those bytes, so
//! `minisign -Vm manifest.json -x manifest.json.minisig -p key.pub` verifies it.
//! Its trusted comment binds the manifest's identity:
//!
//! ```text
//! hudson-channel-manifest/1 channel:stable sequence:7 kind:release version:1.2.3
//! ```
//!
//! and its untrusted comment is `signature from Hudson signing key <KEY ID>`.
//! Clients accept the signature file only in exactly this form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::hex;
use crate::keys::SecretKey;
use crate::platform::PlatformKey;
use crate::signature::{self, MinisignSignature};
use crate::tree::TreeRef;

/// The schema identifier of this format.
pub const CHANNEL_MANIFEST_SCHEMA: &str = "hudson-channel-manifest/1";
/// File name of the manifest in `release-manifests/<channel>/`.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of its signature, next to it.
pub const MANIFEST_SIGNATURE_FILE: &str = "manifest.json.minisig";
/// The longest version a manifest may name, in characters: a client shows
/// versions in sentences and keeps them in its update state.
pub const MAX_VERSION_CHARS: usize = 64;
/// The largest release notes a manifest may carry, in bytes.
pub const MAX_NOTES_BYTES: usize = 64 << 10;

/// True when `version` is short enough for a manifest (and for a client's
/// state, which holds only versions manifests named).
pub fn version_fits(version: &semver::Version) -> bool {
    version.to_string().len() <= MAX_VERSION_CHARS
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelManifest {
    pub schema: String,
    pub channel: String,
    pub sequence: u64,
    pub kind: ManifestKind,
    pub version: semver::Version,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub rollout: Rollout,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_version: Option<semver::Version>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub yanked: Vec<semver::Version>,
    pub platforms: BTreeMap<PlatformKey, PlatformEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManifestKind {
    Release,
    Halt,
    Yank,
}

impl ManifestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ManifestKind::Release => "release",
            ManifestKind::Halt => "halt",
            ManifestKind::Yank => "yank",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// 0–100.
    pub percent: u8,
    /// 16–64 lower-case hex digits.
    pub salt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformEntry {
    pub url: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the artifact.
    pub sha256: String,
    /// The artifact's Tauri signature (base64 of the minisign signature text).
    pub signature: String,
    /// The release's tree manifest in the file store, for platforms a
    /// client can assemble file by file (see [`crate::tree`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreeRef>,
}

/// A manifest and its signature, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    /// The exact bytes of `manifest.json`.
    pub json: Vec<u8>,
    pub signature: MinisignSignature,
}

impl SignedManifest {
    /// The exact text of `manifest.json.minisig`.
    pub fn signature_text(&self) -> String {
        self.signature.to_text()
    }
}

impl ChannelManifest {
    /// Checks every rule of the schema that does not depend on the client.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let invalid = |field: &'static str, problem: String| Err(ManifestError::Invalid { field, problem });
        if self.schema != CHANNEL_MANIFEST_SCHEMA {
            return Err(ManifestError::Schema { found: self.schema.clone() });
        }
        if !is_channel_name(&self.channel) {
            return invalid(
                "channel",
                format!("{:?} must match [a-z0-9][a-z0-9-]* and be at most 64 characters", self.channel),
            );
        }
        for (field, time) in [("issued_at", self.issued_at), ("expires_at", self.expires_at)] {
            if !time.offset().is_utc() {
                return invalid(field, "must be in UTC (`Z`)".to_owned());
            }
        }
        if self.issued_at > self.expires_at {
            return invalid("expires_at", "is before issued_at".to_owned());
        }
        for version in std::iter::once(&self.version).chain(&self.yanked).chain(&self.minimum_version) {
            if !version_fits(version) {
                let field = if *version == self.version { "version" } else { "yanked or minimum_version" };
                return invalid(field, format!("a version is longer than {MAX_VERSION_CHARS} characters"));
            }
        }
        if let Some(notes) = &self.notes
            && notes.len() > MAX_NOTES_BYTES
        {
            return invalid("notes", format!("{} bytes, over the {MAX_NOTES_BYTES}-byte limit", notes.len()));
        }
        if self.rollout.percent > 100 {
            return invalid("rollout.percent", format!("{} is above 100", self.rollout.percent));
        }
        let salt = &self.rollout.salt;
        if !(16..=64).contains(&salt.len()) || !salt.len().is_multiple_of(2) || !hex::is_lower_hex(salt, salt.len() / 2)
        {
            return invalid("rollout.salt", format!("{salt:?} must be 16 to 64 lower-case hex digits"));
        }
        match self.kind {
            ManifestKind::Yank if self.yanked.is_empty() => {
                return invalid("yanked", "a yank must list the versions it pulls".to_owned());
            }
            ManifestKind::Release | ManifestKind::Halt if !self.yanked.is_empty() => {
                return invalid(
                    "yanked",
                    format!("only a yank lists yanked versions, this is a {}", self.kind.as_str()),
                );
            }
            _ => {}
        }
        if self.yanked.iter().any(|v| v.cmp_precedence(&self.version).is_eq()) {
            return invalid("yanked", format!("contains {}, the version clients are sent to", self.version));
        }
        if self.kind != ManifestKind::Halt && self.platforms.is_empty() {
            return invalid("platforms", format!("a {} must offer at least one platform", self.kind.as_str()));
        }
        for (key, entry) in &self.platforms {
            if entry.url.trim().is_empty() {
                return invalid("platforms", format!("{key}: url is empty"));
            }
            if !hex::is_lower_hex(&entry.sha256, 32) {
                return invalid("platforms", format!("{key}: sha256 must be 64 lower-case hex digits"));
            }
            if entry.signature.trim().is_empty() {
                return invalid("platforms", format!("{key}: signature is empty"));
            }
            if let Some(tree) = &entry.tree
                && let Err(e) = tree.validate()
            {
                return invalid("platforms", format!("{key}: {e}"));
            }
        }
        Ok(())
    }

    /// The published bytes: see "Bytes and signature" in the module docs.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a ChannelManifest always serialises");
        out.push(b'\n');
        out
    }

    /// Reads and validates a manifest. The schema is checked first, so a
    /// manifest of another schema gets [`ManifestError::Schema`], not a parse error.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ManifestError> {
        #[derive(Deserialize)]
        struct SchemaOnly {
            schema: Option<String>,
        }
        let peek: SchemaOnly = serde_json::from_slice(bytes).map_err(ManifestError::Json)?;
        match peek.schema {
            Some(schema) if schema == CHANNEL_MANIFEST_SCHEMA => {}
            other => {
                return Err(ManifestError::Schema { found: other.unwrap_or_else(|| "<missing>".to_owned()) });
            }
        }
        let manifest: ChannelManifest = serde_json::from_slice(bytes).map_err(ManifestError::Json)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The trusted comment that binds the signature to this manifest.
    pub fn trusted_comment(&self) -> String {
        format!(
            "{CHANNEL_MANIFEST_SCHEMA} channel:{} sequence:{} kind:{} version:{}",
            self.channel,
            self.sequence,
            self.kind.as_str(),
            self.version
        )
    }

    /// Validates, serialises and signs the manifest.
    pub fn sign(&self, key: &SecretKey) -> Result<SignedManifest, ManifestError> {
        self.validate()?;
        let json = self.to_json();
        let mut prehash = signature::Prehash::new();
        prehash.update(&json);
        let signature = prehash
            .sign(key, &self.trusted_comment(), &signature::untrusted_comment_for(key.key_id()))
            .map_err(ManifestError::Comment)?;
        Ok(SignedManifest { json, signature })
    }
}

/// True when `name` is a valid channel name: `[a-z0-9][a-z0-9-]*`, at most
/// 64 characters (it is also a folder name under `release-manifests/`).
pub fn is_channel_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0] != b'-'
        && bytes.iter().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

/// Why a channel manifest cannot be read, validated or signed.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("not a channel manifest ({CHANNEL_MANIFEST_SCHEMA}): {0}")]
    Json(#[source] serde_json::Error),
    #[error("unsupported channel manifest schema {found:?}: this version reads {CHANNEL_MANIFEST_SCHEMA:?}")]
    Schema { found: String },
    #[error("channel manifest field `{field}` {problem}")]
    Invalid { field: &'static str, problem: String },
    #[error(transparent)]
    Comment(signature::CommentError),
}
