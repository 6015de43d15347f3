//! `dist-manifest.json`: what one `cargo xtask dist --target <triple>` run
//! produced. Per-target CI jobs upload it; `cargo xtask publish` merges many of
//! them into a channel. Consumers must treat unknown artifact kinds as
//! [`ArtifactKind::Unknown`] so that an older toolchain can read a newer file.
//!
//! Fields added after the first version (`signing_key`, an artifact's
//! `updater`) are optional and omitted when absent, so older files still parse
//! and files without them are unchanged byte for byte.

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
    /// The key that signed the updater artifacts, when any were signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SigningKeyInfo>,
}

/// Which key signed a dist run's updater artifacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyInfo {
    /// 16 upper-case hex digits, as minisign prints it.
    pub key_id: String,
    /// Standard base64 of the minisign public-key text (Tauri's
    /// `plugins.updater.pubkey` form).
    pub public_key: String,
    /// True for a throwaway development key: such artifacts must never be
    /// published to a real channel.
    #[serde(default)]
    pub development: bool,
}

/// How the Tauri updater installs an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdaterInfo {
    /// Updater platform keys this artifact serves (see
    /// [`crate::platform::PlatformKey::keys_for_artifact`]). Kept as text so an
    /// older toolchain can read keys it does not know.
    pub platform_keys: Vec<String>,
    /// The Tauri signature: standard base64 of the minisign signature text,
    /// the same text as the `.sig` file next to the artifact.
    pub signature: String,
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
    /// Present when the Tauri updater can install this artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updater: Option<UpdaterInfo>,
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
    /// The Linux portable tree, `<Product>-<version>-<triple>.tar.gz`: the
    /// installed tree (shell, resources, icons) under one top-level folder,
    /// which the updater swaps as a whole. Made by `dist` itself, not by
    /// tauri-bundler.
    Portable,
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
            ArtifactKind::Portable => "portable",
            ArtifactKind::Unknown => "unknown",
        }
    }

    /// The kind of artifact a file name of `dist` for `triple` names, from
    /// its end: `.deb`, `.rpm`, `.AppImage`, `.app.tar.gz` (the macOS app),
    /// `.app` (the app folder), `.dmg`, `-setup.exe` (nsis), `.msi`, and
    /// `-<triple>.tar.gz` (the portable tree; never `.app.tar.gz`, which is
    /// tested first). `None` for any other name.
    pub fn of_file_name(name: &str, triple: &str) -> Option<ArtifactKind> {
        let portable = format!("-{triple}.tar.gz");
        let kind = if name.ends_with(".app.tar.gz") || name.ends_with(".app") {
            ArtifactKind::App
        } else if !triple.is_empty() && name.len() > portable.len() && name.ends_with(&portable) {
            ArtifactKind::Portable
        } else if name.ends_with(".deb") {
            ArtifactKind::Deb
        } else if name.ends_with(".rpm") {
            ArtifactKind::Rpm
        } else if name.ends_with(".AppImage") {
            ArtifactKind::Appimage
        } else if name.ends_with(".dmg") {
            ArtifactKind::Dmg
        } else if name.ends_with("-setup.exe") {
            ArtifactKind::Nsis
        } else if name.ends_with(".msi") {
            ArtifactKind::Msi
        } else {
            return None;
        };
        Some(kind)
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

impl DistManifest {
    /// The `SHA256SUMS` file: one `<sha256>  <path>` line per artifact, in
    /// artifact order, as `sha256sum -c` reads it.
    pub fn sha256sums(&self) -> String {
        self.artifacts.iter().map(|a| format!("{}  {}\n", a.sha256, a.path)).collect()
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

    fn manifest_json(path: &str) -> String {
        let path = serde_json::to_string(path).unwrap();
        format!(
            r#"{{
  "schema": "hudson-dist-manifest/1",
  "product": "Hudson",
  "identifier": "dev.hudson.desktop",
  "version": "0.1.0",
  "target": "x86_64-unknown-linux-gnu",
  "packaging": "release",
  "artifacts": [
    {{
      "kind": "deb",
      "path": {path},
      "size": 3,
      "sha256": "0000000000000000000000000000000000000000000000000000000000000000",
      "target": "x86_64-unknown-linux-gnu"
    }}
  ]
}}
"#
        )
    }

    #[test]
    fn a_file_written_before_the_updater_fields_reads_and_writes_back_unchanged() {
        let old = manifest_json("hudson_0.1.0_amd64.deb");
        let manifest = DistManifest::from_json(old.as_bytes()).unwrap();
        assert_eq!(manifest.signing_key, None);
        assert_eq!(manifest.artifacts[0].updater, None);
        assert_eq!(String::from_utf8(manifest.to_json()).unwrap(), old);
    }

    #[test]
    fn updater_fields_round_trip() {
        let mut manifest = DistManifest::from_json(manifest_json("a.deb").as_bytes()).unwrap();
        manifest.signing_key = Some(SigningKeyInfo {
            key_id: "2A9F6EF3B2FEDE22".into(),
            public_key: "dW50cnVzdGVk".into(),
            development: true,
        });
        manifest.artifacts[0].updater =
            Some(UpdaterInfo { platform_keys: vec!["linux-x86_64-deb".into()], signature: "c2ln".into() });
        let json = manifest.to_json();
        assert_eq!(DistManifest::from_json(&json).unwrap(), manifest);
        let text = String::from_utf8(json).unwrap();
        assert!(text.contains("\"platform_keys\": [\n          \"linux-x86_64-deb\""), "{text}");
        assert!(text.contains("\"development\": true"), "{text}");
    }

    #[test]
    fn artifact_paths_that_escape_the_folder_are_refused() {
        for bad in ["../hudson.deb", "/tmp/hudson.deb", "bundle/../../hudson.deb", "C:/hudson.deb", "bundle\\x.deb"] {
            match DistManifest::from_json(manifest_json(bad).as_bytes()) {
                Err(DistManifestError::PathEscapes(path)) => assert_eq!(path, bad),
                other => panic!("{bad}: expected PathEscapes, got {other:?}"),
            }
        }
    }

    #[test]
    fn sha256sums_is_in_sha256sum_format() {
        let manifest = DistManifest::from_json(manifest_json("a.deb").as_bytes()).unwrap();
        assert_eq!(manifest.sha256sums(), format!("{}  a.deb\n", "0".repeat(64)));
    }

    #[test]
    fn kinds_follow_file_names() {
        let linux = "x86_64-unknown-linux-gnu";
        let kind = |name: &str, triple: &str| ArtifactKind::of_file_name(name, triple);
        assert_eq!(kind("Hudson-0.1.0-x86_64-unknown-linux-gnu.tar.gz", linux), Some(ArtifactKind::Portable));
        assert_eq!(kind("Hudson.app.tar.gz", "aarch64-apple-darwin"), Some(ArtifactKind::App));
        // An app archive stays an app, whatever it is named after.
        assert_eq!(kind("Hudson-x86_64-unknown-linux-gnu.app.tar.gz", linux), Some(ArtifactKind::App));
        assert_eq!(kind("Hudson_0.1.0_amd64.deb", linux), Some(ArtifactKind::Deb));
        assert_eq!(kind("Hudson-0.1.0-1.x86_64.rpm", linux), Some(ArtifactKind::Rpm));
        assert_eq!(kind("Hudson_0.1.0_x64-setup.exe", "x86_64-pc-windows-msvc"), Some(ArtifactKind::Nsis));
        assert_eq!(kind("Hudson_0.1.0_x64_en-US.msi", "x86_64-pc-windows-msvc"), Some(ArtifactKind::Msi));
        assert_eq!(kind("Hudson_0.1.0_aarch64.dmg", "aarch64-apple-darwin"), Some(ArtifactKind::Dmg));
        assert_eq!(kind("Hudson_0.1.0_amd64.AppImage", linux), Some(ArtifactKind::Appimage));
        // Another target's tree, a bare suffix, or any other tarball: not a
        // portable tree of this target.
        for other in [
            "Hudson-0.1.0-aarch64-unknown-linux-gnu.tar.gz",
            "-x86_64-unknown-linux-gnu.tar.gz",
            "Hudson-0.1.0.tar.gz",
            "SHA256SUMS",
            "Hudson_0.1.0_amd64.deb.sig",
        ] {
            assert_eq!(kind(other, linux), None, "{other}");
        }
        assert_eq!(kind("Hudson-0.1.0-.tar.gz", ""), None);
        assert_eq!(serde_json::to_string(&ArtifactKind::Portable).unwrap(), "\"portable\"");
        assert_eq!(ArtifactKind::Portable.as_str(), "portable");
    }

    #[test]
    fn unknown_kinds_are_read_as_unknown() {
        let kind: ArtifactKind = serde_json::from_str("\"flatpak\"").unwrap();
        assert_eq!(kind, ArtifactKind::Unknown);
    }
}
