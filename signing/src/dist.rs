//! `dist-manifest.json`: what one `cargo xtask dist --target <triple>` run
//! produced. Per-target CI jobs upload it; `cargo xtask publish` merges many of
//! them into a channel. Consumers must treat unknown artifact kinds as
//! [`ArtifactKind::Unknown`] so that an older toolchain can read a newer file.

use serde::{Deserialize, Serialize};

/// The schema identifier written into every dist manifest.
pub const DIST_MANIFEST_SCHEMA: &str = "hudson-dist-manifest/1";

/// File name of the dist manifest inside `target/dist/<version>/<triple>/`.
pub const DIST_MANIFEST_FILE: &str = "dist-manifest.json";

/// File name of the checksum list (`sha256sum -c` format) next to it.
pub const SHA256SUMS_FILE: &str = "SHA256SUMS";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistManifest {
    /// Always [`DIST_MANIFEST_SCHEMA`] for this version of the format.
    pub schema: String,
    pub product: String,
    pub identifier: String,
    pub version: String,
    /// Rust target triple the artifacts were built for.
    pub target: String,
    /// `release` or `burrito`.
    pub packaging: String,
    /// Artifacts, sorted by path. Paths are relative to the manifest's folder
    /// and never leave it.
    pub artifacts: Vec<Artifact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub kind: ArtifactKind,
    /// Relative to the folder holding `dist-manifest.json`, `/`-separated.
    pub path: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    pub target: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    Deb,
    Rpm,
    Appimage,
    App,
    Dmg,
    Nsis,
    Msi,
    /// Any kind this version of the toolchain does not know.
    #[serde(other)]
    Unknown,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Deb => "deb",
            ArtifactKind::Rpm => "rpm",
            ArtifactKind::Appimage => "appimage",
            ArtifactKind::App => "app",
            ArtifactKind::Dmg => "dmg",
            ArtifactKind::Nsis => "nsis",
            ArtifactKind::Msi => "msi",
            ArtifactKind::Unknown => "unknown",
        }
    }
}

impl DistManifest {
    /// Parses a dist manifest, naming the schema problem in the error.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DistManifestError> {
        let manifest: DistManifest = serde_json::from_slice(bytes).map_err(DistManifestError::Json)?;
        if manifest.schema != DIST_MANIFEST_SCHEMA {
            return Err(DistManifestError::Schema(manifest.schema));
        }
        for artifact in &manifest.artifacts {
            if !is_contained_relative_path(&artifact.path) {
                return Err(DistManifestError::PathEscapes(artifact.path.clone()));
            }
        }
        Ok(manifest)
    }

    /// Pretty JSON with a trailing newline: stable bytes for the same content.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a DistManifest always serialises");
        out.push(b'\n');
        out
    }
}

/// True when `path` is relative, `/`-separated and stays inside its base
/// folder: no `..`, no root, no drive prefix, no backslash, no empty part.
pub fn is_contained_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains(':')
        && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

#[derive(Debug, thiserror::Error)]
pub enum DistManifestError {
    #[error("not a valid dist manifest: {0}")]
    Json(serde_json::Error),
    #[error("unsupported dist manifest schema {0:?} (this toolchain reads {DIST_MANIFEST_SCHEMA:?})")]
    Schema(String),
    #[error("artifact path {0:?} escapes the manifest's folder (paths must be relative, without `..`)")]
    PathEscapes(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contained_paths() {
        assert!(is_contained_relative_path("hudson_0.1.0_amd64.deb"));
        assert!(is_contained_relative_path("bundle/Hudson.app.tar.gz"));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "C:/x", "a\\b"] {
            assert!(!is_contained_relative_path(bad), "{bad} must be refused");
        }
    }

    #[test]
    fn unknown_kinds_are_read_as_unknown() {
        let kind: ArtifactKind = serde_json::from_str("\"flatpak\"").unwrap();
        assert_eq!(kind, ArtifactKind::Unknown);
    }
}
