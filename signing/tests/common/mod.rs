//! Fixtures shared by the integration tests: the real `minisign` CLI, keys,
//! and a small signed channel. Keys and bytes come from `hudson-test-support`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use hudson_test_support::KeyFixture;
pub use hudson_test_support::pseudo_random_bytes;
use signing::artifact::{self, SignedArtifact};
use signing::keys::{PublicKey, SecretKey};
use signing::manifest::{CHANNEL_MANIFEST_SCHEMA, ChannelManifest, ManifestKind, PlatformEntry, Rollout};
use signing::platform::PlatformKey;
use time::OffsetDateTime;
use time::macros::datetime;

pub const PASSWORD: &str = "correct horse battery staple 7f3a";

/// A `minisign` command; fails the test (never skips it) when the CLI is missing.
pub fn minisign() -> Command {
    match Command::new("minisign").arg("-v").output() {
        Ok(_) => Command::new("minisign"),
        Err(error) if error.kind() == ErrorKind::NotFound => {
            panic!("the minisign CLI is not on PATH; install it: apt-get install minisign")
        }
        Err(error) => panic!("cannot run minisign ({error}); install it: apt-get install minisign"),
    }
}

/// Runs `minisign -Vm FILE -x SIG -p PUB` and returns its output, or the
/// command line and output when it refuses.
pub fn minisign_verify(file: &Path, signature: &Path, public_key: &Path) -> Result<String, String> {
    let output = minisign()
        .arg("-V")
        .arg("-m")
        .arg(file)
        .arg("-x")
        .arg(signature)
        .arg("-p")
        .arg(public_key)
        .output()
        .expect("minisign runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "minisign -Vm {} -x {} -p {} failed ({}): {text}",
            file.display(),
            signature.display(),
            public_key.display(),
            output.status
        ))
    }
}

/// A password-protected key pair, as `tauri signer generate` would store it.
pub type Fixture = KeyFixture;

fn make(password: &str) -> Fixture {
    KeyFixture::generate(Some(password))
}

/// The release key, made once per test binary.
pub fn release_key() -> &'static Fixture {
    static KEY: OnceLock<Fixture> = OnceLock::new();
    KEY.get_or_init(|| make(PASSWORD))
}

/// A second key nobody trusts.
pub fn stranger_key() -> &'static Fixture {
    static KEY: OnceLock<Fixture> = OnceLock::new();
    KEY.get_or_init(|| make("another password"))
}

pub fn trusted() -> Vec<PublicKey> {
    vec![release_key().secret.public_key().clone()]
}

pub const ISSUED: OffsetDateTime = datetime!(2026-05-01 12:00 UTC);
pub const EXPIRES: OffsetDateTime = datetime!(2026-05-31 12:00 UTC);
pub const NOW: OffsetDateTime = datetime!(2026-05-10 08:30 UTC);
/// `SOURCE_DATE_EPOCH` of the fixture release.
pub const TIMESTAMP: u64 = 1_777_636_800;

pub fn version(text: &str) -> semver::Version {
    text.parse().unwrap()
}

pub fn platform(text: &str) -> PlatformKey {
    text.parse().unwrap()
}

/// An artifact of a release: its bytes and signature.
pub struct Artifact {
    pub bytes: Vec<u8>,
    pub signed: SignedArtifact,
}

pub fn artifact(file_name: &str, release: &str, seed: u64, key: &SecretKey) -> Artifact {
    let bytes = pseudo_random_bytes(4096 + seed as usize, seed);
    let signed = artifact::sign_artifact(&bytes[..], file_name, &version(release), TIMESTAMP, key).unwrap();
    Artifact { bytes, signed }
}

pub fn entry(artifact: &Artifact) -> PlatformEntry {
    PlatformEntry {
        url: format!("https://updates.hudson.example/{}", artifact.signed.size),
        size: artifact.signed.size,
        sha256: artifact.signed.sha256.clone(),
        signature: artifact.signed.tauri_signature(),
        tree: None,
    }
}

/// A release manifest for `release` on `stable` with a deb and an rpm.
pub fn release_manifest(release: &str, sequence: u64) -> (ChannelManifest, BTreeMap<String, Artifact>) {
    let key = &release_key().secret;
    let mut artifacts = BTreeMap::new();
    artifacts.insert("linux-x86_64-deb".to_owned(), artifact("hudson_amd64.deb", release, 1, key));
    artifacts.insert("linux-x86_64-rpm".to_owned(), artifact("hudson.x86_64.rpm", release, 2, key));
    let manifest = ChannelManifest {
        schema: CHANNEL_MANIFEST_SCHEMA.to_owned(),
        channel: "stable".to_owned(),
        sequence,
        kind: ManifestKind::Release,
        version: version(release),
        issued_at: ISSUED,
        expires_at: EXPIRES,
        rollout: Rollout { percent: 100, salt: "00112233445566778899aabbccddeeff".to_owned() },
        minimum_version: None,
        notes: Some("Faster start-up.".to_owned()),
        yanked: Vec::new(),
        platforms: artifacts.iter().map(|(key, artifact)| (platform(key), entry(artifact))).collect(),
    };
    (manifest, artifacts)
}
