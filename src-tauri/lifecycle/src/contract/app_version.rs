//! `hudson-version.json`: the app version of the release an install holds,
//! written by `cargo xtask dist` next to `hudson-shell.json` and read by the
//! shell at start.
//!
//! The version is a file rather than something compiled into the shell: a
//! release that changes only the backend then ships a shell binary that is
//! byte for byte the previous one, so a delta update fetches none of it
//! (docs/updates.md, "Only what changed"). A version compiled in — Cargo's
//! package version, or `tauri.conf.json`'s — rewrites the binary: Cargo's
//! version is hashed into every symbol of the workspace's crates (a bump
//! changed 22 of 27 MB of the shell), Tauri's is a string in its context.
//!
//! Its own file, not a key of `hudson-shell.json`: an installed shell checks
//! a staged update's `hudson-shell.json` with `deny_unknown_fields`, so a
//! new key there would make every older install refuse the update. This
//! document ignores keys it does not know, for the same reason.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::untrusted;

/// The file's name, in the resource folder beside `hudson-shell.json`.
pub const VERSION_FILE: &str = "hudson-version.json";

/// The most bytes the file may have: it holds one short string.
pub const MAX_VERSION_FILE_BYTES: u64 = 4 << 10;

/// The most characters a version may have.
const MAX_VERSION_CHARS: usize = 64;

/// The document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppVersion {
    /// The app version (`X.Y.Z`, semver), as `[workspace.metadata.hudson]
    /// version` and `mix.exs` state it.
    pub version: String,
}

impl AppVersion {
    pub fn new(version: impl Into<String>) -> Self {
        AppVersion { version: version.into() }
    }

    /// Reads the document: a JSON object whose `version` is a non-empty
    /// string of at most 64 characters from `0-9A-Za-z.+-`.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, String> {
        let doc: AppVersion = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let v = &doc.version;
        let valid = !v.is_empty()
            && v.len() <= MAX_VERSION_CHARS
            && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'));
        if !valid {
            return Err(format!("`version` {:?} is not a version like 1.2.3", truncate(v)));
        }
        Ok(doc)
    }

    /// Reads `<dir>/hudson-version.json` as a regular file of at most
    /// [`MAX_VERSION_FILE_BYTES`]; the error names the file.
    pub fn read(dir: &Path) -> Result<Self, String> {
        let path = dir.join(VERSION_FILE);
        let bytes = untrusted::read(&path, MAX_VERSION_FILE_BYTES).map_err(|e| e.to_string())?;
        AppVersion::from_slice(&bytes).map_err(|e| format!("{} is not valid: {e}", path.display()))
    }

    /// The document as `dist` writes it.
    pub fn to_pretty_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a version is plain data")
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_VERSION_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown_keys() {
        let doc = AppVersion::new("0.2.0");
        assert_eq!(AppVersion::from_slice(&doc.to_pretty_json()).unwrap(), doc);
        // A later release may add keys; this one still reads the version.
        let later = br#"{"version":"1.0.0-rc.1+build.5","channel":"beta"}"#;
        assert_eq!(AppVersion::from_slice(later).unwrap().version, "1.0.0-rc.1+build.5");
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for bad in [
            &br#"{}"#[..],
            br#"{"version":""}"#,
            br#"{"version":"1.0.0/../../x"}"#,
            br#"{"version":"1.0\n0"}"#,
            br#"{"version":3}"#,
            br#"[]"#,
        ] {
            assert!(AppVersion::from_slice(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let long = format!(r#"{{"version":"{}"}}"#, "1".repeat(65));
        let e = AppVersion::from_slice(long.as_bytes()).unwrap_err();
        assert!(e.contains("is not a version"), "{e}");
    }

    #[test]
    fn read_names_the_file_and_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let e = AppVersion::read(dir.path()).unwrap_err();
        assert!(e.contains(VERSION_FILE), "{e}");
        std::fs::write(dir.path().join(VERSION_FILE), vec![b' '; 5000]).unwrap();
        let e = AppVersion::read(dir.path()).unwrap_err();
        assert!(e.contains("larger than"), "{e}");
        std::fs::write(dir.path().join(VERSION_FILE), br#"{"version":"nope!"}"#).unwrap();
        let e = AppVersion::read(dir.path()).unwrap_err();
        assert!(e.contains(VERSION_FILE) && e.contains("nope!"), "{e}");
        std::fs::write(dir.path().join(VERSION_FILE), AppVersion::new("0.3.1").to_pretty_json()).unwrap();
        assert_eq!(AppVersion::read(dir.path()).unwrap().version, "0.3.1");
    }
}
