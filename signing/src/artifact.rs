//! Update artifacts: the Tauri-compatible signature, size and SHA-256 of a
//! file, computed in one read.
//!
//! tauri-plugin-updater installs an artifact only when its `signature` (from
//! `latest.json`) verifies: standard base64 of a minisign signature file whose
//! data signature covers the whole downloaded file. The trusted comment this
//! crate writes is
//!
//! ```text
//! timestamp:<unix seconds>\tfile:<file name>\tversion:<version>
//! ```
//!
//! — tauri-cli's `timestamp:…\tfile:…`, plus `version:` as its own
//! tab-separated field so that the updater's signed-version check
//! (`requireSignedVersion`) finds it. The timestamp is an input (derive it from
//! `SOURCE_DATE_EPOCH`), so signing the same bytes twice gives the same `.sig`.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};

use crate::hex;
use crate::keys::{KeyId, PublicKey, SecretKey};
use crate::signature::{self, CommentError, MinisignSignature, Prehash};

/// What signing an artifact produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedArtifact {
    pub size: u64,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    pub signature: MinisignSignature,
}

impl SignedArtifact {
    /// The minisign signature text (what `minisign -V -x` reads).
    pub fn minisign_text(&self) -> String {
        self.signature.to_text()
    }

    /// The Tauri `signature` string: standard base64 of the minisign text.
    /// Also the content of the `.sig` file next to the artifact.
    pub fn tauri_signature(&self) -> String {
        self.signature.to_tauri_base64()
    }
}

/// The trusted comment of an artifact signature.
pub fn trusted_comment(timestamp: u64, file_name: &str, version: &semver::Version) -> String {
    format!("timestamp:{timestamp}\tfile:{file_name}\tversion:{version}")
}

/// The value of the `version:` field of a trusted comment, if it has one.
pub fn signed_version(trusted_comment: &str) -> Option<&str> {
    trusted_comment.split('\t').find_map(|field| field.strip_prefix("version:"))
}

/// Signs the artifact at `path`; the trusted comment names its file name.
pub fn sign_artifact_file(
    path: &Path,
    version: &semver::Version,
    timestamp: u64,
    key: &SecretKey,
) -> Result<SignedArtifact, ArtifactError> {
    let file_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| ArtifactError::FileName { name: path.display().to_string() })?;
    let file = File::open(path).map_err(|error| ArtifactError::Open { path: path.display().to_string(), error })?;
    sign_artifact(file, file_name, version, timestamp, key)
}

/// Signs everything `reader` yields and measures it in the same read. Each
/// block read feeds SHA-256 on this thread and the signature's BLAKE2b
/// prehash on a second one, so a large artifact takes about as long as the
/// slower digest (BLAKE2b) rather than the sum of both.
pub fn sign_artifact(
    reader: impl Read,
    file_name: &str,
    version: &semver::Version,
    timestamp: u64,
    key: &SecretKey,
) -> Result<SignedArtifact, ArtifactError> {
    if file_name.is_empty() || file_name.contains(['\t', '\n', '\r', '/', '\\']) {
        return Err(ArtifactError::FileName { name: file_name.to_owned() });
    }
    let comment = trusted_comment(timestamp, file_name, version);
    let (prehash, size, sha256) = digest_both(reader).map_err(|error| ArtifactError::Read { error })?;
    let signature =
        prehash.sign(key, &comment, &signature::untrusted_comment_for(key.key_id())).map_err(ArtifactError::Comment)?;
    Ok(SignedArtifact { size, sha256, signature })
}

/// Blocks in flight between the reading thread and the BLAKE2b thread.
const BLOCKS_IN_FLIGHT: usize = 8;
/// Small enough that both threads find a block still in the CPU cache.
const BLOCK_BYTES: usize = 128 << 10;

/// Reads `reader` once; returns the BLAKE2b prehash, the size and the
/// lower-case hex SHA-256. The slower digest, BLAKE2b, gets a thread of its
/// own; reading and SHA-256 (fast with the CPU's SHA extensions) share this
/// one. Blocks are shared by reference count and come back to be refilled,
/// so memory stays at a few blocks whatever the file size.
fn digest_both(mut reader: impl Read) -> io::Result<(Prehash, u64, String)> {
    let (to_blake2b, blocks) = mpsc::sync_channel::<Arc<Vec<u8>>>(BLOCKS_IN_FLIGHT);
    let (give_back, returned) = mpsc::channel::<Arc<Vec<u8>>>();
    thread::scope(|scope| {
        let prehash = scope.spawn(move || {
            let mut prehash = Prehash::new();
            for block in blocks {
                prehash.update(&block);
                // The reader may have stopped early; then nobody takes it back.
                let _ = give_back.send(block);
            }
            prehash
        });
        let mut sha256 = Sha256::new();
        let mut size = 0u64;
        let mut allocated = 0;
        let outcome = loop {
            let mut block = if allocated <= BLOCKS_IN_FLIGHT {
                allocated += 1;
                Vec::new()
            } else {
                let shared = returned.recv().expect("the BLAKE2b thread returns every block it is sent");
                Arc::try_unwrap(shared).expect("a returned block has no other owner")
            };
            block.resize(BLOCK_BYTES, 0);
            let filled = match fill(&mut reader, &mut block) {
                Ok(0) => break Ok(()),
                Ok(filled) => filled,
                Err(error) => break Err(error),
            };
            block.truncate(filled);
            let block = Arc::new(block);
            if to_blake2b.send(Arc::clone(&block)).is_err() {
                break Ok(());
            }
            sha256.update(&block[..]);
            size += filled as u64;
        };
        drop(to_blake2b);
        let prehash = match prehash.join() {
            Ok(prehash) => prehash,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        outcome.map(|()| (prehash, size, hex::encode(sha256.finalize())))
    })
}

/// Reads until `buffer` is full or the stream ends; returns the bytes read.
fn fill(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Verifies a downloaded artifact exactly as tauri-plugin-updater does:
/// base64-decode the signature and the public key text,
/// `PublicKey::decode`, `Signature::decode`, `verify(bytes, &sig, true)`.
pub fn verify_artifact(bytes: &[u8], tauri_signature: &str, public_key: &PublicKey) -> Result<(), ArtifactError> {
    let signature = decode_tauri_signature(tauri_signature)?;
    let verifier = minisign_verify::PublicKey::decode(&public_key.to_minisign_text())
        .expect("an exported public key always decodes");
    verifier.verify(bytes, &signature.verifier, true).map_err(|error| verify_error(error, &signature, public_key))
}

/// Streaming form of [`verify_artifact`] (prehashed signatures only, which is
/// what tauri-cli and this crate write), reading [`signature::READ_BUFFER_BYTES`] at a time.
pub fn verify_artifact_reader(
    reader: impl Read,
    tauri_signature: &str,
    public_key: &PublicKey,
) -> Result<(), ArtifactError> {
    let signature = decode_tauri_signature(tauri_signature)?;
    let verifier = public_key.to_verifier();
    let mut stream =
        verifier.verify_stream(&signature.verifier).map_err(|error| verify_error(error, &signature, public_key))?;
    signature::for_each_chunk(
        reader,
        |error| ArtifactError::Read { error },
        |chunk| {
            stream.update(chunk);
            Ok(())
        },
    )?;
    stream.finalize().map_err(|error| verify_error(error, &signature, public_key))
}

/// A Tauri `signature` string, decoded for `minisign-verify`.
pub(crate) struct TauriSignature {
    pub(crate) verifier: minisign_verify::Signature,
    pub(crate) key_id: KeyId,
}

/// Decodes a Tauri `signature` string (standard base64 of the signature text).
pub(crate) fn decode_tauri_signature(tauri_signature: &str) -> Result<TauriSignature, ArtifactError> {
    let bytes = BASE64.decode(tauri_signature.trim()).map_err(|_| ArtifactError::SignatureNotBase64)?;
    let text = String::from_utf8(bytes).map_err(|_| ArtifactError::SignatureNotBase64)?;
    let verifier = minisign_verify::Signature::decode(&text)
        .map_err(|error| ArtifactError::MalformedSignature { detail: error.to_string() })?;
    // minisign-verify keeps the key id private: read it from the second line,
    // "ED" ‖ key id ‖ signature, which it has just checked is 74 bytes.
    let key_id = text
        .lines()
        .nth(1)
        .and_then(|line| BASE64.decode(line.trim()).ok())
        .and_then(|bytes| bytes.get(2..10).map(|id| KeyId(id.try_into().expect("8 bytes"))))
        .ok_or_else(|| ArtifactError::MalformedSignature {
            detail: "the signature line is not canonical base64".to_owned(),
        })?;
    Ok(TauriSignature { verifier, key_id })
}

fn verify_error(error: minisign_verify::Error, signature: &TauriSignature, public_key: &PublicKey) -> ArtifactError {
    match error {
        minisign_verify::Error::UnexpectedKeyId => {
            ArtifactError::KeyMismatch { signature_key: signature.key_id, public_key: public_key.key_id() }
        }
        minisign_verify::Error::InvalidSignature => ArtifactError::BadSignature { key_id: public_key.key_id() },
        minisign_verify::Error::IoError(error) => ArtifactError::Read { error },
        other => ArtifactError::MalformedSignature { detail: other.to_string() },
    }
}

/// Why an artifact could not be signed or did not verify.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot open artifact {path}: {error}")]
    Open {
        path: String,
        #[source]
        error: io::Error,
    },
    #[error("reading the artifact failed: {error}")]
    Read {
        #[source]
        error: io::Error,
    },
    #[error(
        "artifact file name {name:?} cannot go into a signature's trusted comment: it must be non-empty UTF-8 without tabs, line breaks or path separators; rename the file"
    )]
    FileName { name: String },
    #[error(transparent)]
    Comment(CommentError),
    #[error(
        "the artifact signature is not standard base64 of a UTF-8 minisign signature (the `signature` field of latest.json, or a .sig file, must be)"
    )]
    SignatureNotBase64,
    #[error("the artifact signature is not a valid minisign signature: {detail}")]
    MalformedSignature { detail: String },
    #[error(
        "the artifact was signed by key {signature_key}, not by {public_key}; check that plugins.updater.pubkey matches the signing key"
    )]
    KeyMismatch { signature_key: KeyId, public_key: KeyId },
    #[error(
        "the artifact signature does not verify with key {key_id}: the file or its signature was altered, or they do not belong together"
    )]
    BadSignature { key_id: KeyId },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields at most `step` bytes per read, and an `Interrupted` error before
    /// every third read, as pipes and signals can.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
        reads: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            if self.reads.is_multiple_of(3) {
                return Err(io::Error::from(io::ErrorKind::Interrupted));
            }
            let n = self.data.len().min(self.step).min(buffer.len());
            buffer[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    struct Broken(usize);

    impl Read for Broken {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk gone"));
            }
            self.0 -= 1;
            buffer[0] = 1;
            Ok(1.min(buffer.len()))
        }
    }

    #[test]
    fn both_digests_see_every_byte_whatever_the_block_boundaries() {
        use crate::keys::{KeyPair, KeyProtection};
        let pair = KeyPair::generate(KeyProtection::Unencrypted).unwrap();
        let key = SecretKey::from_text_or_base64(pair.secret_key_minisign_text().expose_secret(), None).unwrap();
        // Deterministic signatures are equal exactly when the prehashes are.
        let signed = |prehash: Prehash| prehash.sign(&key, "t", "u").unwrap();
        for len in [0, 1, BLOCK_BYTES - 1, BLOCK_BYTES, BLOCK_BYTES + 1, 20 * BLOCK_BYTES + 3] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            for step in [1 << 20, 4093] {
                let (prehash, size, sha256) = digest_both(Trickle { data: &data, step, reads: 0 }).unwrap();
                assert_eq!(size, len as u64);
                assert_eq!(sha256, hex::encode(Sha256::digest(&data)), "{len} bytes in steps of {step}");
                let mut expected = Prehash::new();
                expected.update(&data);
                assert_eq!(signed(prehash), signed(expected), "{len} bytes in steps of {step}");
            }
        }
    }

    #[test]
    fn a_read_error_is_returned_not_swallowed() {
        let error = digest_both(Broken(5 * BLOCK_BYTES + 7)).err().expect("the error comes back");
        assert_eq!(error.to_string(), "disk gone");
    }
}
