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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

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
}
