//! The minisign signature file, and how this crate makes one.
//!
//! The file has four lines, each ending in `\n`:
//!
//! ```text
//! untrusted comment: <text, not signed>
//! base64("ED" ‖ key id[8] ‖ Ed25519(BLAKE2b-512(data)))
//! trusted comment: <text, signed>
//! base64(Ed25519(signature[64] ‖ trusted comment text))
//! ```
//!
//! Signatures are always prehashed (`ED`), which both `minisign -V` and
//! `minisign-verify` (tauri-plugin-updater) accept. They are made here with
//! deterministic Ed25519 (RFC 8032) rather than with `minisign::sign`, which
//! mixes random noise into every signature: the same bytes, key and comments
//! always give a byte-identical signature file, so a rebuilt release is
//! reproducible and reviewable as a diff.

use std::fmt;
use std::io::{self, Read};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use blake2::{Blake2b512, Digest as _};

use crate::keys::{KeyId, SecretKey};

const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
const TRUSTED_PREFIX: &str = "trusted comment: ";
const PREHASHED: [u8; 2] = *b"ED";
/// minisign's own limits (`COMMENTMAXBYTES`, `TRUSTEDCOMMENTMAXBYTES`).
const MAX_UNTRUSTED_COMMENT: usize = 1024;
const MAX_TRUSTED_COMMENT: usize = 8192;
/// Bytes read at a time when signing a stream.
pub const READ_BUFFER_BYTES: usize = 1 << 20;

/// A prehashed (`ED`) minisign signature with its comments.
#[derive(Clone, PartialEq, Eq)]
pub struct MinisignSignature {
    untrusted_comment: String,
    key_id: KeyId,
    signature: [u8; 64],
    trusted_comment: String,
    global_signature: [u8; 64],
}

impl MinisignSignature {
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The signed comment, without its `trusted comment: ` prefix.
    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }

    /// The unsigned comment, without its `untrusted comment: ` prefix.
    pub fn untrusted_comment(&self) -> &str {
        &self.untrusted_comment
    }

    /// The signature file text (four lines, trailing newline).
    pub fn to_text(&self) -> String {
        let mut first = Vec::with_capacity(74);
        first.extend_from_slice(&PREHASHED);
        first.extend_from_slice(self.key_id.as_bytes());
        first.extend_from_slice(&self.signature);
        format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n{TRUSTED_PREFIX}{}\n{}\n",
            self.untrusted_comment,
            BASE64.encode(first),
            self.trusted_comment,
            BASE64.encode(self.global_signature),
        )
    }

    /// Standard base64 of [`Self::to_text`]: the `signature` string of Tauri's
    /// `latest.json` and the content of the `.sig` files tauri-cli writes.
    pub fn to_tauri_base64(&self) -> String {
        BASE64.encode(self.to_text())
    }

    /// Reads a signature file that must be exactly in the form
    /// [`Self::to_text`] writes: `\n` line ends, trailing newline, canonical
    /// base64, prehashed. Any other spelling of the same signature is refused,
    /// so no byte of an accepted file can vary.
    pub fn parse_canonical(text: &str) -> Result<Self, SignatureFormatError> {
        let malformed = SignatureFormatError::Malformed;
        let Some(body) = text.strip_suffix('\n') else {
            return Err(malformed("it does not end with a newline"));
        };
        let lines: Vec<&str> = body.split('\n').collect();
        let [untrusted, first, trusted, global] = lines[..] else {
            return Err(malformed("it does not have exactly four lines"));
        };
        let untrusted = untrusted
            .strip_prefix(UNTRUSTED_PREFIX)
            .ok_or(malformed("line 1 does not start with `untrusted comment: `"))?;
        let trusted =
            trusted.strip_prefix(TRUSTED_PREFIX).ok_or(malformed("line 3 does not start with `trusted comment: `"))?;
        if untrusted.contains('\r') || trusted.contains('\r') {
            return Err(malformed("a comment contains a carriage return"));
        }
        let first = BASE64.decode(first).map_err(|_| malformed("line 2 is not canonical base64"))?;
        let global = BASE64.decode(global).map_err(|_| malformed("line 4 is not canonical base64"))?;
        if first.len() != 74 {
            return Err(malformed("line 2 does not decode to 74 bytes"));
        }
        if first[0..2] != PREHASHED {
            return Err(malformed("the algorithm is not prehashed Ed25519 (`ED`)"));
        }
        let global: [u8; 64] = global[..].try_into().map_err(|_| malformed("line 4 does not decode to 64 bytes"))?;
        let mut key_id = [0; 8];
        key_id.copy_from_slice(&first[2..10]);
        let mut signature = [0; 64];
        signature.copy_from_slice(&first[10..74]);
        let parsed = MinisignSignature {
            untrusted_comment: untrusted.to_owned(),
            key_id: KeyId(key_id),
            signature,
            trusted_comment: trusted.to_owned(),
            global_signature: global,
        };
        if parsed.to_text() != text {
            return Err(malformed("it is not in canonical form"));
        }
        Ok(parsed)
    }

    /// The same signature for `minisign-verify`.
    pub(crate) fn to_verifier(&self) -> minisign_verify::Signature {
        minisign_verify::Signature::decode(&self.to_text()).expect("a signature this crate encodes always decodes")
    }
}

impl fmt::Debug for MinisignSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MinisignSignature")
            .field("key_id", &self.key_id)
            .field("trusted_comment", &self.trusted_comment)
            .finish_non_exhaustive()
    }
}

/// BLAKE2b-512 of a stream: the prehash a prehashed minisign signature signs.
#[derive(Clone, Default)]
pub struct Prehash(Blake2b512);

impl Prehash {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Signs the prehashed data. Deterministic: same data, key and comments
    /// give the same signature.
    pub fn sign(
        self,
        key: &SecretKey,
        trusted_comment: &str,
        untrusted_comment: &str,
    ) -> Result<MinisignSignature, CommentError> {
        check_comment(untrusted_comment, "untrusted", MAX_UNTRUSTED_COMMENT)?;
        check_comment(trusted_comment, "trusted", MAX_TRUSTED_COMMENT)?;
        let digest = self.0.finalize();
        let signature = key.sign_ed25519(&digest);
        let mut signed_comment = Vec::with_capacity(64 + trusted_comment.len());
        signed_comment.extend_from_slice(&signature);
        signed_comment.extend_from_slice(trusted_comment.as_bytes());
        let global_signature = key.sign_ed25519(&signed_comment);
        Ok(MinisignSignature {
            untrusted_comment: untrusted_comment.to_owned(),
            key_id: key.key_id(),
            signature,
            trusted_comment: trusted_comment.to_owned(),
            global_signature,
        })
    }
}

/// Hands everything `reader` yields to `each`, [`READ_BUFFER_BYTES`] at a
/// time, retrying interrupted reads; a read error becomes `read_error`'s.
pub(crate) fn for_each_chunk<E>(
    mut reader: impl Read,
    read_error: impl FnOnce(io::Error) -> E,
    mut each: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut buffer = vec![0; READ_BUFFER_BYTES];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => each(&buffer[..n])?,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(read_error(error)),
        }
    }
}

/// Signs everything `reader` yields, reading [`READ_BUFFER_BYTES`] at a time.
pub fn sign_reader(
    key: &SecretKey,
    reader: impl Read,
    trusted_comment: &str,
    untrusted_comment: &str,
) -> Result<MinisignSignature, SignError> {
    let mut prehash = Prehash::new();
    for_each_chunk(reader, SignError::Read, |chunk| {
        prehash.update(chunk);
        Ok(())
    })?;
    Ok(prehash.sign(key, trusted_comment, untrusted_comment)?)
}

/// The untrusted comment this crate writes: it names the key, as minisign's
/// own does.
pub fn untrusted_comment_for(key_id: KeyId) -> String {
    format!("signature from Hudson signing key {key_id}")
}

fn check_comment(comment: &str, which: &'static str, max: usize) -> Result<(), CommentError> {
    if comment.contains(['\n', '\r']) {
        return Err(CommentError::LineBreak { which });
    }
    if comment.len() > max {
        return Err(CommentError::TooLong { which, max });
    }
    Ok(())
}

/// A comment that cannot go into a signature file.
#[derive(Debug, thiserror::Error)]
pub enum CommentError {
    #[error("the {which} comment contains a line break; a signature file keeps each comment on one line")]
    LineBreak { which: &'static str },
    #[error("the {which} comment is longer than minisign's limit of {max} bytes")]
    TooLong { which: &'static str, max: usize },
}

/// Why signing a stream failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("reading the data to sign failed: {0}")]
    Read(#[source] io::Error),
    #[error(transparent)]
    Comment(#[from] CommentError),
}

/// A signature file that is not in this crate's canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureFormatError {
    #[error("not a minisign signature file: {0}")]
    Malformed(&'static str),
}
