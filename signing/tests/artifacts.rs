//! Artifact signatures: verified by the real `minisign` CLI and by
//! `minisign-verify` the way tauri-plugin-updater uses it; deterministic;
//! streamed in one read together with size and SHA-256.

mod common;

use std::fs::{self, File};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use sha2::{Digest as _, Sha256};
use signing::artifact::{self, ArtifactError, SignedArtifact};

/// SHA-256 computed independently of the crate's tee.
fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The updater's check, step by step as in tauri-plugin-updater's
/// `verify_signature`: base64-decode both, decode, `verify(bytes, &sig, true)`.
fn tauri_updater_verifies(bytes: &[u8], signature_base64: &str, pubkey_base64: &str) -> Result<(), String> {
    let pubkey =
        String::from_utf8(BASE64.decode(pubkey_base64).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let public_key = minisign_verify::PublicKey::decode(&pubkey).map_err(|e| e.to_string())?;
    let signature =
        String::from_utf8(BASE64.decode(signature_base64).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let signature = minisign_verify::Signature::decode(&signature).map_err(|e| e.to_string())?;
    public_key.verify(bytes, &signature, true).map_err(|e| e.to_string())
}

// The minisign CLI is a Unix program here: Unix-only by name (the
// Windows stage reports it), the Tauri verifier checks the same on Windows.
#[cfg(unix)]
#[test]
fn the_minisign_cli_and_the_tauri_verifier_accept_artifact_signatures() {
    let key = &release_key().secret;
    let dir = tempfile::tempdir().unwrap();
    let public_path = dir.path().join("hudson.pub");
    fs::write(&public_path, key.public_key().to_minisign_text()).unwrap();

    for (name, len) in [("Hudson.app.tar.gz", 0), ("hudson_1.2.3_amd64.deb", 1), ("Hudson_1.2.3_x64-setup.exe", 70_001)]
    {
        let path = dir.path().join(name);
        let bytes = pseudo_random_bytes(len, len as u64);
        fs::write(&path, &bytes).unwrap();
        let signed = artifact::sign_artifact_file(&path, &version("1.2.3"), TIMESTAMP, key).unwrap();

        // The `.sig` file holds the Tauri form; the CLI reads the decoded text.
        let sig_path = dir.path().join(format!("{name}.sig"));
        fs::write(&sig_path, signed.tauri_signature()).unwrap();
        let decoded = dir.path().join(format!("{name}.minisig"));
        fs::write(&decoded, BASE64.decode(fs::read(&sig_path).unwrap()).unwrap()).unwrap();
        let output = minisign_verify(&path, &decoded, &public_path).unwrap();
        assert!(output.contains(&format!("timestamp:{TIMESTAMP}\tfile:{name}\tversion:1.2.3")), "{output}");

        tauri_updater_verifies(&bytes, &signed.tauri_signature(), &key.public_key().to_tauri_base64()).unwrap();
        artifact::verify_artifact(&bytes, &signed.tauri_signature(), key.public_key()).unwrap();
        artifact::verify_artifact_reader(&bytes[..], &signed.tauri_signature(), key.public_key()).unwrap();
        assert_eq!(signed.size, len as u64);
        assert_eq!(signed.sha256, sha256_hex(&bytes));
    }
}

#[test]
fn the_trusted_comment_has_tauri_fields_and_a_separate_version_field() {
    let artifact = artifact("Hudson.app.tar.gz", "2.0.0-rc.1", 3, &release_key().secret);
    let comment = artifact.signed.signature.trusted_comment();
    assert_eq!(comment, format!("timestamp:{TIMESTAMP}\tfile:Hudson.app.tar.gz\tversion:2.0.0-rc.1"));
    let fields: Vec<&str> = comment.split('\t').collect();
    assert_eq!(fields.len(), 3);
    assert_eq!(artifact::signed_version(comment), Some("2.0.0-rc.1"));
    // What the Tauri signature decodes to is a minisign file with that comment.
    let text = String::from_utf8(BASE64.decode(artifact.signed.tauri_signature()).unwrap()).unwrap();
    assert_eq!(text, artifact.signed.minisign_text());
    assert_eq!(text.lines().nth(2).unwrap(), format!("trusted comment: {comment}"));
    assert!(text.lines().nth(1).unwrap().starts_with("RU"), "prehashed signatures start with base64 of \"ED\"");
}

#[test]
fn the_same_bytes_and_timestamp_give_a_byte_identical_signature() {
    let key = &release_key().secret;
    let bytes = pseudo_random_bytes(100_000, 9);
    let sign = |timestamp| artifact::sign_artifact(&bytes[..], "a.deb", &version("1.0.0"), timestamp, key).unwrap();
    let (first, second) = (sign(TIMESTAMP), sign(TIMESTAMP));
    assert_eq!(first.tauri_signature(), second.tauri_signature());
    assert_eq!(first.minisign_text(), second.minisign_text());
    assert_ne!(sign(TIMESTAMP + 1).tauri_signature(), first.tauri_signature());
    // Even when the same key is loaded again from its file form.
    let reloaded = signing::keys::SecretKey::from_text_or_base64(
        release_key().pair.secret_key_tauri_base64().expose_secret(),
        Some(PASSWORD),
    )
    .unwrap();
    let third = artifact::sign_artifact(&bytes[..], "a.deb", &version("1.0.0"), TIMESTAMP, &reloaded).unwrap();
    assert_eq!(third.tauri_signature(), first.tauri_signature());
}

#[test]
fn tampered_artifacts_and_foreign_keys_are_refused() {
    let key = &release_key().secret;
    let artifact = artifact("a.deb", "1.0.0", 4, key);
    let mut tampered = artifact.bytes.clone();
    tampered[100] ^= 1;
    let signature = artifact.signed.tauri_signature();
    assert!(matches!(
        artifact::verify_artifact(&tampered, &signature, key.public_key()),
        Err(ArtifactError::BadSignature { .. })
    ));
    assert!(matches!(
        artifact::verify_artifact_reader(&tampered[..], &signature, key.public_key()),
        Err(ArtifactError::BadSignature { .. })
    ));
    let stranger = stranger_key().secret.public_key();
    match artifact::verify_artifact(&artifact.bytes, &signature, stranger) {
        Err(ArtifactError::KeyMismatch { signature_key, public_key }) => {
            assert_eq!(signature_key, key.key_id());
            assert_eq!(public_key, stranger.key_id());
        }
        other => panic!("expected KeyMismatch, got {other:?}"),
    }
    assert!(matches!(
        artifact::verify_artifact(&artifact.bytes, "not base64!", key.public_key()),
        Err(ArtifactError::SignatureNotBase64)
    ));
    assert!(matches!(
        artifact::verify_artifact(&artifact.bytes, &BASE64.encode("untrusted comment: x\n"), key.public_key()),
        Err(ArtifactError::MalformedSignature { .. })
    ));
}

#[test]
fn file_names_that_would_break_the_trusted_comment_are_refused() {
    for name in ["", "a\tb.deb", "a\nb.deb", "dir/a.deb"] {
        let result = artifact::sign_artifact(&b"x"[..], name, &version("1.0.0"), TIMESTAMP, &release_key().secret);
        assert!(matches!(result, Err(ArtifactError::FileName { .. })), "{name:?}: {result:?}");
    }
}

/// 64 MiB streams through one read: size and SHA-256 match an independent
/// `sha2` pass over the file, and both verifiers accept the signature.
/// A 64 MiB file and its signature (made in one streaming read).
fn big_signed_file(dir: &Path) -> (PathBuf, SignedArtifact) {
    let path = dir.join("big.AppImage");
    let mut file = BufWriter::new(File::create(&path).unwrap());
    for chunk in 0..64 {
        file.write_all(&pseudo_random_bytes(1 << 20, chunk)).unwrap();
    }
    file.write_all(b"odd tail").unwrap();
    drop(file);
    let started = Instant::now();
    let signed = artifact::sign_artifact_file(&path, &version("1.2.3"), TIMESTAMP, &release_key().secret).unwrap();
    eprintln!("hashed and signed 64 MiB in {:?}", started.elapsed());
    (path, signed)
}

#[test]
fn a_64_mib_file_is_hashed_and_signed_in_one_streaming_read() {
    let key = &release_key().secret;
    let dir = tempfile::tempdir().unwrap();
    let (path, signed) = big_signed_file(dir.path());
    let bytes = fs::read(&path).unwrap();
    assert_eq!(signed.size, bytes.len() as u64);
    assert_eq!(signed.size, (64 << 20) + 8);
    assert_eq!(signed.sha256, sha256_hex(&bytes));
    tauri_updater_verifies(&bytes, &signed.tauri_signature(), &key.public_key().to_tauri_base64()).unwrap();
    artifact::verify_artifact_reader(File::open(&path).unwrap(), &signed.tauri_signature(), key.public_key()).unwrap();
}

// The minisign CLI is a Unix program here: Unix-only by name (the
// Windows stage reports it), the Tauri verifier checks the same on Windows.
#[cfg(unix)]
#[test]
fn the_minisign_cli_verifies_a_64_mib_streaming_signature() {
    let dir = tempfile::tempdir().unwrap();
    let (path, signed) = big_signed_file(dir.path());
    let public_path = dir.path().join("k.pub");
    fs::write(&public_path, release_key().secret.public_key().to_minisign_text()).unwrap();
    let sig_path = dir.path().join("big.AppImage.minisig");
    fs::write(&sig_path, signed.minisign_text()).unwrap();
    minisign_verify(&path, &sig_path, &public_path).unwrap();
}

/// Not a test: `cargo test -p signing --test artifacts -- --ignored --nocapture`
/// prints how long hashing and signing a 500 MB file takes.
#[test]
#[ignore = "measurement: writes and reads a 500 MB file"]
fn measure_hashing_and_signing_500_mb() {
    let key = &release_key().secret;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let mut file = BufWriter::new(File::create(&path).unwrap());
    for chunk in 0..500 {
        file.write_all(&pseudo_random_bytes(1_000_000, chunk)).unwrap();
    }
    drop(file);
    // Warm the page cache, so the number is the code's, not the disk's.
    let _ = fs::read(&path).unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        let signed = artifact::sign_artifact_file(&path, &version("1.2.3"), TIMESTAMP, key).unwrap();
        let elapsed = started.elapsed();
        eprintln!(
            "500 MB hashed (SHA-256 + BLAKE2b) and signed in {elapsed:?}: {:.0} MB/s",
            signed.size as f64 / 1e6 / elapsed.as_secs_f64()
        );
    }
}
