//! `latest.json`: Tauri's static updater manifest, so that a stock
//! tauri-plugin-updater can update from `release-manifests/<channel>/`.
//!
//! ```json
//! {
//!   "version": "1.2.3",
//!   "notes": "…",
//!   "pub_date": "2026-05-01T12:00:00Z",
//!   "platforms": {
//!     "linux-x86_64-deb": { "url": "https://…", "signature": "<base64>" }
//!   }
//! }
//! ```
//!
//! Field rules (tauri-plugin-updater 2.x `RemoteRelease`): `version` is semver
//! (a leading `v` is stripped on read); `notes` optional; `pub_date` optional,
//! RFC 3339; `platforms` maps `{os}-{arch}[-{installer}]` to the artifact URL
//! and its [`signature`](crate::artifact::SignedArtifact::tauri_signature).
//! This file is not signed: the updater trusts only the artifact signature.
//! The signed channel manifest ([`crate::manifest`]) is what Hudson's own
//! client policy trusts.
//!
//! # What a stock updater is offered
//!
//! A stock updater knows neither rollout, halt nor yank: it installs whatever
//! `latest.json` names when that version is newer than its own. So
//! `latest.json` is derived from the channel's history of signed manifests
//! ([`LatestJson::for_history`], rule in [`stock_offer`]):
//!
//! - a `release` at 100 % is offered as soon as it is published;
//! - a `release` below 100 % is not offered (every stock updater would take
//!   it at once): `latest.json` keeps offering what it offered before;
//! - a `halt` offers nothing: `version` `0.0.0` and no platforms, older than
//!   every install, so no stock updater installs anything;
//! - a `yank` offers the release it goes back to. Stock updaters never
//!   downgrade, so installs of the yanked version stay on it, but nobody else
//!   takes it; Hudson's own client follows the signed yank.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::manifest::{ChannelManifest, ManifestKind};
use crate::platform::PlatformKey;

/// The file name in `release-manifests/<channel>/`.
pub const LATEST_JSON_FILE: &str = "latest.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestJson {
    pub version: semver::Version,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub pub_date: Option<OffsetDateTime>,
    pub platforms: BTreeMap<PlatformKey, LatestPlatform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestPlatform {
    pub url: String,
    /// Standard base64 of the artifact's minisign signature text.
    pub signature: String,
}

impl LatestJson {
    /// Pretty JSON with sorted platform keys and a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a LatestJson always serialises");
        out.push(b'\n');
        out
    }

    /// Reads a `latest.json` (strict: unknown platform keys are refused).
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Offers the version and artifacts of a `release` or `yank` manifest
    /// (a `halt` has none: see [`Self::offering_nothing`]).
    pub fn offering(manifest: &ChannelManifest) -> Self {
        LatestJson {
            version: manifest.version.clone(),
            notes: manifest.notes.clone(),
            pub_date: Some(manifest.issued_at),
            platforms: manifest
                .platforms
                .iter()
                .map(|(key, entry)| {
                    (*key, LatestPlatform { url: entry.url.clone(), signature: entry.signature.clone() })
                })
                .collect(),
        }
    }

    /// Offers nothing: version `0.0.0` (older than any install) and no
    /// platforms, so a stock updater finds no update and reports no error.
    pub fn offering_nothing(pub_date: OffsetDateTime) -> Self {
        LatestJson {
            version: semver::Version::new(0, 0, 0),
            notes: Some("No update is offered on this channel.".to_owned()),
            pub_date: Some(pub_date),
            platforms: BTreeMap::new(),
        }
    }

    /// The `latest.json` for a channel whose signed manifests, in sequence
    /// order, are `history` (see the module docs). `None` for an empty history.
    pub fn for_history(history: &[ChannelManifest]) -> Option<Self> {
        let current = history.last()?;
        Some(match stock_offer(history) {
            Some(offered) => LatestJson::offering(offered),
            None => LatestJson::offering_nothing(current.issued_at),
        })
    }
}

/// The manifest whose release a stock updater is offered after `history`
/// (signed manifests of one channel, in sequence order), if any.
pub fn stock_offer(history: &[ChannelManifest]) -> Option<&ChannelManifest> {
    let mut offered = None;
    for manifest in history {
        match manifest.kind {
            ManifestKind::Release if manifest.rollout.percent == 100 => offered = Some(manifest),
            ManifestKind::Release => {}
            ManifestKind::Halt => offered = None,
            ManifestKind::Yank => offered = Some(manifest),
        }
    }
    offered
}

/// What a stock tauri-plugin-updater reads from a static `latest.json`: its
/// `RemoteRelease`, field for field (`version` semver with a leading `v`
/// stripped, optional `notes`, optional RFC 3339 `pub_date`, and per platform
/// key an `url` and a `signature`). It is written apart from [`LatestJson`]
/// on purpose, so that reading our own output with it checks the file the
/// way the updater will.
#[derive(Debug, Deserialize)]
pub struct StockRelease {
    #[serde(deserialize_with = "stock_version")]
    pub version: semver::Version,
    pub notes: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub pub_date: Option<OffsetDateTime>,
    pub platforms: std::collections::HashMap<String, StockPlatform>,
}

/// One platform of a [`StockRelease`].
#[derive(Debug, Deserialize)]
pub struct StockPlatform {
    pub url: url::Url,
    pub signature: String,
}

impl StockRelease {
    /// Reads `latest.json` by the updater's field rules.
    pub fn parse(json: &[u8]) -> Result<StockRelease, serde_json::Error> {
        serde_json::from_slice(json)
    }
}

fn stock_version<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<semver::Version, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.trim_start_matches('v').parse().map_err(serde::de::Error::custom)
}
