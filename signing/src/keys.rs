//! Signing keys: minisign key pairs in the formats Tauri uses.
//!
//! A key pair is a minisign Ed25519 key pair. The secret key is stored the way
//! `tauri signer generate` stores it, so one key serves both this toolchain and
//! Tauri's own tools:
//!
//! - **secret key file**: standard base64 of the whole minisign secret-key text
//!   (`untrusted comment: …` line + key line), scrypt-encrypted with a
//!   password. Raw minisign text (what `minisign -G` writes) is read too.
//! - **public key**: the minisign public-key text
//!   (`untrusted comment: minisign public key <KEY ID>` + `RW…` line); Tauri's
//!   `plugins.updater.pubkey` is the standard base64 of that text.
//! - **environment**: `TAURI_SIGNING_PRIVATE_KEY` holds the key (base64 or raw
//!   text) or the path of a key file; `TAURI_SIGNING_PRIVATE_KEY_PASSWORD` its
//!   password. The library never reads the environment itself: the caller
//!   passes the values, or a lookup closure to [`SecretKey::from_env`].
//!
//! Secret material never appears in an error, a `Debug` output or a log:
//! [`SecretKey`], [`SecretText`] and [`Password`] print `<redacted>`, and key
//! errors name where the key came from, never its content.
//!
//! Passwords: an empty or absent password means "no password". A key that is
//! scrypt-encrypted with the empty password (what `tauri signer generate --ci`
//! writes) then loads; any other encrypted key is refused with
//! [`KeyError::PasswordRequired`]. A password given for an unencrypted key is
//! ignored.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;
use zeroize::Zeroize as _;

/// The variable that holds the secret key (its text, base64 text, or a path).
pub const PRIVATE_KEY_VAR: &str = "TAURI_SIGNING_PRIVATE_KEY";
/// The variable that holds the secret key's password.
pub const PRIVATE_KEY_PASSWORD_VAR: &str = "TAURI_SIGNING_PRIVATE_KEY_PASSWORD";

const COMMENT_PREFIX: &str = "untrusted comment: ";
const SIG_ALG: [u8; 2] = *b"Ed";
const KDF_NONE: [u8; 2] = [0, 0];
const KDF_SCRYPT: [u8; 2] = *b"Sc";
const CHK_BLAKE2B: [u8; 2] = *b"B2";
/// sig_alg 2, kdf_alg 2, chk_alg 2, salt 32, opslimit 8, memlimit 8, key id 8,
/// secret key 64 (seed ‖ public key), checksum 32.
const SECRET_KEY_BYTES: usize = 158;
const KEY_ID_AT: usize = 54;
const SECRET_AT: usize = 62;
const CHECKSUM_AT: usize = 126;
/// "Ed" ‖ key id ‖ Ed25519 public key.
const PUBLIC_KEY_BYTES: usize = 42;

/// The 8-byte key id minisign stores in keys and signatures. Displays as 16
/// upper-case hex digits, exactly as minisign prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub(crate) [u8; 8]);

impl KeyId {
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // minisign reads the id as a little-endian integer before printing it.
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A minisign Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key_id: KeyId,
    key: [u8; 32],
}

impl PublicKey {
    /// Reads a public key given in any of the usual forms: the minisign text
    /// (two lines), the bare `RW…` key line (`minisign -P`), or the base64 of
    /// the text (Tauri's `plugins.updater.pubkey`).
    pub fn parse(input: &str) -> Result<Self, KeyError> {
        let input = input.trim();
        if input.starts_with(COMMENT_PREFIX) {
            return Self::from_minisign_text(input);
        }
        if let Some(text) = decode_base64_text(input)
            && text.trim_start().starts_with(COMMENT_PREFIX)
        {
            return Self::from_minisign_text(&text);
        }
        Self::from_key_line(input)
    }

    /// Reads the minisign public-key text: `untrusted comment: …` then the key line.
    pub fn from_minisign_text(text: &str) -> Result<Self, KeyError> {
        let mut lines = text.trim().lines();
        match lines.next() {
            Some(comment) if comment.starts_with(COMMENT_PREFIX) => {}
            _ => {
                return Err(not_a_public_key("the first line must start with `untrusted comment:`"));
            }
        }
        let Some(line) = lines.next() else {
            return Err(not_a_public_key("the key line after the comment is missing"));
        };
        if lines.any(|rest| !rest.trim().is_empty()) {
            return Err(not_a_public_key("text follows the key line"));
        }
        Self::from_key_line(line)
    }

    /// Reads the base64 of the minisign public-key text, as Tauri stores it.
    pub fn from_tauri_base64(encoded: &str) -> Result<Self, KeyError> {
        let text = decode_base64_text(encoded.trim())
            .ok_or_else(|| not_a_public_key("it is not the base64 of a UTF-8 text"))?;
        Self::from_minisign_text(&text)
    }

    /// Reads the bare key line (`RW…`, 56 base64 characters).
    pub fn from_key_line(line: &str) -> Result<Self, KeyError> {
        let bytes = BASE64.decode(line.trim()).map_err(|_| not_a_public_key("the key line is not base64"))?;
        if bytes.len() != PUBLIC_KEY_BYTES {
            return Err(not_a_public_key("the key line does not decode to 42 bytes"));
        }
        if bytes[0..2] != SIG_ALG {
            return Err(not_a_public_key("the key is not an Ed25519 (`Ed`) minisign key"));
        }
        let mut key_id = [0; 8];
        key_id.copy_from_slice(&bytes[2..10]);
        let mut key = [0; 32];
        key.copy_from_slice(&bytes[10..42]);
        Ok(PublicKey { key_id: KeyId(key_id), key })
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn ed25519_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// The bare key line (`RW…`), as `minisign -P` takes it.
    pub fn to_key_line(&self) -> String {
        let mut bytes = Vec::with_capacity(PUBLIC_KEY_BYTES);
        bytes.extend_from_slice(&SIG_ALG);
        bytes.extend_from_slice(&self.key_id.0);
        bytes.extend_from_slice(&self.key);
        BASE64.encode(bytes)
    }

    /// The minisign public-key file text, as `minisign -G` writes it
    /// (`minisign -p FILE` reads it).
    pub fn to_minisign_text(&self) -> String {
        format!("{COMMENT_PREFIX}minisign public key {}\n{}\n", self.key_id, self.to_key_line())
    }

    /// Standard base64 of [`Self::to_minisign_text`]: the value for Tauri's
    /// `plugins.updater.pubkey`.
    pub fn to_tauri_base64(&self) -> String {
        BASE64.encode(self.to_minisign_text())
    }

    /// The same key for `minisign-verify`, the verifier tauri-plugin-updater uses.
    pub(crate) fn to_verifier(&self) -> minisign_verify::PublicKey {
        minisign_verify::PublicKey::from_base64(&self.to_key_line())
            .expect("a parsed public key always re-encodes to a valid key line")
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.key_id, self.to_key_line())
    }
}

/// A decrypted secret key, ready to sign. Never printed: `Debug` shows only the
/// key id.
pub struct SecretKey {
    signing: SigningKey,
    public: PublicKey,
}

impl SecretKey {
    /// Loads the key from the values of `TAURI_SIGNING_PRIVATE_KEY` and
    /// `TAURI_SIGNING_PRIVATE_KEY_PASSWORD`: the first is the key text, the
    /// base64 of the key text, or the path of a file holding either.
    pub fn from_env_value(value_or_path: &str, password: Option<&str>) -> Result<Self, KeyError> {
        let value = value_or_path.trim();
        if value.is_empty() {
            return Err(KeyError::Missing { var: PRIVATE_KEY_VAR });
        }
        let source = KeySource::Variable(PRIVATE_KEY_VAR);
        if let Some(text) = secret_key_text(value) {
            return Self::from_text(&text, password, &source);
        }
        let path = Path::new(value);
        if path.is_file() {
            let source = KeySource::FileNamedBy { var: PRIVATE_KEY_VAR, path: path.to_path_buf() };
            return Self::read_file(path, password, source);
        }
        Err(KeyError::NeitherKeyNorFile { var: PRIVATE_KEY_VAR })
    }

    /// Loads the key through `lookup`, which returns the value of an
    /// environment variable (pass `|name| std::env::var(name).ok()`).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, KeyError> {
        let value = lookup(PRIVATE_KEY_VAR).unwrap_or_default();
        let password = lookup(PRIVATE_KEY_PASSWORD_VAR);
        Self::from_env_value(&value, password.as_deref())
    }

    /// Loads a key file: base64 of the key text (as `tauri signer generate`
    /// writes it) or the raw minisign text (as `minisign -G` writes it).
    pub fn from_file(path: &Path, password: Option<&str>) -> Result<Self, KeyError> {
        Self::read_file(path, password, KeySource::File(path.to_path_buf()))
    }

    /// Loads a key given as text: the minisign secret-key text or its base64.
    pub fn from_text_or_base64(value: &str, password: Option<&str>) -> Result<Self, KeyError> {
        let source = KeySource::Inline;
        let text = secret_key_text(value).ok_or(KeyError::NotASecretKey { origin: source.clone() })?;
        Self::from_text(&text, password, &source)
    }

    fn read_file(path: &Path, password: Option<&str>, source: KeySource) -> Result<Self, KeyError> {
        let mut content =
            std::fs::read_to_string(path).map_err(|error| KeyError::Read { origin: source.clone(), error })?;
        let text = secret_key_text(&content);
        content.zeroize();
        let text = text.ok_or(KeyError::NotASecretKey { origin: source.clone() })?;
        Self::from_text(&text, password, &source)
    }

    fn from_text(text: &SecretText, password: Option<&str>, source: &KeySource) -> Result<Self, KeyError> {
        let not_a_key = || KeyError::NotASecretKey { origin: source.clone() };
        let mut lines = text.0.lines();
        lines.next().filter(|comment| comment.starts_with(COMMENT_PREFIX)).ok_or_else(not_a_key)?;
        let line = lines.next().ok_or_else(not_a_key)?;
        let mut raw = BASE64.decode(line.trim()).map_err(|_| not_a_key())?;
        let structure = check_structure(&raw, source);
        let encrypted = raw.get(2..4) == Some(&KDF_SCRYPT[..]);
        raw.zeroize();
        structure?;

        let password = password.unwrap_or("");
        let decrypted = if !encrypted {
            minisign::SecretKey::from_unencrypted_box(text.0.clone().into())
                .map_err(|_| KeyError::Corrupt { origin: source.clone(), detail: "its checksum does not match" })?
        } else {
            match minisign::SecretKey::from_box(text.0.clone().into(), Some(password.to_owned())) {
                Ok(key) => key,
                Err(error) if matches!(error.kind(), minisign::ErrorKind::Verify) => {
                    return Err(if password.is_empty() {
                        KeyError::PasswordRequired { origin: source.clone() }
                    } else {
                        KeyError::WrongPassword { origin: source.clone() }
                    });
                }
                // scrypt parameter errors; minisign's messages are static text.
                Err(_) => {
                    return Err(KeyError::Corrupt {
                        origin: source.clone(),
                        detail: "its scrypt parameters are unusable",
                    });
                }
            }
        };
        // `minisign::SecretKey` does not wipe itself; our copy of its bytes is wiped.
        let mut bytes = decrypted.to_bytes();
        let key = Self::from_decrypted_bytes(&bytes, source);
        bytes.zeroize();
        key
    }

    fn from_decrypted_bytes(bytes: &[u8], source: &KeySource) -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&bytes[SECRET_AT..SECRET_AT + 32]);
        let signing = SigningKey::from_bytes(&seed);
        seed.zeroize();
        let mut key_id = [0; 8];
        key_id.copy_from_slice(&bytes[KEY_ID_AT..SECRET_AT]);
        let public = PublicKey { key_id: KeyId(key_id), key: signing.verifying_key().to_bytes() };
        // The secret key carries its public half: a mismatch means damage.
        if public.key[..] != bytes[SECRET_AT + 32..CHECKSUM_AT] {
            return Err(KeyError::Corrupt {
                origin: source.clone(),
                detail: "its public half does not match its secret half",
            });
        }
        Ok(SecretKey { signing, public })
    }

    pub fn key_id(&self) -> KeyId {
        self.public.key_id
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Deterministic Ed25519 (RFC 8032) signature of `message`.
    pub(crate) fn sign_ed25519(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer as _;
        self.signing.sign(message).to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("key_id", &self.public.key_id).field("secret", &"<redacted>").finish()
    }
}

/// Checks the layout of a decoded minisign secret key before decrypting it, so
/// that each kind of bad key gets its own error.
fn check_structure(raw: &[u8], source: &KeySource) -> Result<(), KeyError> {
    if raw.len() != SECRET_KEY_BYTES {
        return Err(KeyError::NotASecretKey { origin: source.clone() });
    }
    let unsupported = |what| KeyError::Unsupported { origin: source.clone(), what };
    if raw[0..2] != SIG_ALG {
        return Err(unsupported("signature algorithm (expected Ed25519, `Ed`)"));
    }
    if raw[4..6] != CHK_BLAKE2B {
        return Err(unsupported("checksum algorithm (expected BLAKE2b, `B2`)"));
    }
    match [raw[2], raw[3]] {
        KDF_SCRYPT => Ok(()),
        KDF_NONE if raw[CHECKSUM_AT..].iter().all(|&b| b == 0) => {
            Err(KeyError::MissingChecksum { origin: source.clone() })
        }
        KDF_NONE => Ok(()),
        _ => Err(unsupported("key encryption (expected scrypt, `Sc`, or none)")),
    }
}

/// The minisign secret-key text held in `value`, which is either that text or
/// its standard base64.
fn secret_key_text(value: &str) -> Option<SecretText> {
    let value = value.trim();
    if value.starts_with(COMMENT_PREFIX) {
        return Some(SecretText(value.to_owned()));
    }
    let text = decode_base64_text(value)?;
    text.starts_with(COMMENT_PREFIX).then(|| SecretText(text))
}

fn decode_base64_text(value: &str) -> Option<String> {
    let compact: String = value.split_whitespace().collect();
    let bytes = BASE64.decode(compact).ok()?;
    String::from_utf8(bytes).ok()
}

fn not_a_public_key(reason: &'static str) -> KeyError {
    KeyError::NotAPublicKey { reason }
}

/// How a new key pair's secret key is protected.
#[derive(Debug)]
pub enum KeyProtection {
    /// scrypt-encrypted with this password (may be empty, as with
    /// `tauri signer generate --ci`).
    Password(Password),
    /// Not encrypted (`--no-password`). `tauri signer sign` cannot read such a
    /// key; this crate and the `minisign` CLI can.
    Unencrypted,
}

/// A new key pair, as files would hold it.
#[derive(Debug)]
pub struct KeyPair {
    public: PublicKey,
    secret: SecretText,
}

impl KeyPair {
    /// Generates a key pair with the `minisign` crate, as tauri-cli does.
    pub fn generate(protection: KeyProtection) -> Result<Self, KeyError> {
        let pair = match &protection {
            KeyProtection::Password(password) => {
                minisign::KeyPair::generate_encrypted_keypair(Some(password.0.clone()))
            }
            KeyProtection::Unencrypted => minisign::KeyPair::generate_unencrypted_keypair(),
        }
        .map_err(|error| KeyError::Generate { detail: error.to_string() })?;
        let secret_box = pair.sk.to_box(None).map_err(|error| KeyError::Generate { detail: error.to_string() })?;
        let public_line = pair.pk.to_base64();
        Ok(KeyPair { public: PublicKey::from_key_line(&public_line)?, secret: SecretText(secret_box.into_string()) })
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn key_id(&self) -> KeyId {
        self.public.key_id
    }

    /// The secret-key file text as `minisign -G` writes it.
    pub fn secret_key_minisign_text(&self) -> &SecretText {
        &self.secret
    }

    /// The secret-key file content as `tauri signer generate` writes it: the
    /// standard base64 of the minisign text (also the value for
    /// `TAURI_SIGNING_PRIVATE_KEY`).
    pub fn secret_key_tauri_base64(&self) -> SecretText {
        SecretText(BASE64.encode(&self.secret.0))
    }
}

/// Secret text (a secret-key file's content). `Debug` prints `<redacted>`;
/// there is no `Display`, so it cannot slip into a message by accident.
pub struct SecretText(String);

impl SecretText {
    /// The text, for writing it to a key file or a CI secret.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

impl Drop for SecretText {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A password for a secret key. `Debug` prints `<redacted>`; no `Display`.
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        Password(password.into())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Where a secret key came from; errors name it instead of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The key itself was in this environment variable.
    Variable(&'static str),
    /// The key was in this file.
    File(PathBuf),
    /// The key was in this file, whose path was in the variable.
    FileNamedBy { var: &'static str, path: PathBuf },
    /// The key was passed as a value by the caller.
    Inline,
}

impl KeySource {
    fn password_hint(&self) -> String {
        match self {
            KeySource::Variable(_) | KeySource::FileNamedBy { .. } => {
                format!("set {PRIVATE_KEY_PASSWORD_VAR} to the password chosen when the key was generated")
            }
            KeySource::File(_) | KeySource::Inline => "pass the password chosen when the key was generated".to_owned(),
        }
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Variable(var) => write!(f, "the signing key from {var}"),
            KeySource::File(path) => write!(f, "the signing key file {}", path.display()),
            KeySource::FileNamedBy { var, path } => {
                write!(f, "the signing key file {} (named by {var})", path.display())
            }
            KeySource::Inline => f.write_str("the signing key given"),
        }
    }
}

/// Why a key could not be loaded or made. No variant holds key material or a
/// password.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{var} is empty or unset: set it to the secret key (the base64 text `tauri signer generate` writes, or raw minisign text) or to the path of the key file; `cargo xtask keygen` makes a key"
    )]
    Missing { var: &'static str },
    #[error(
        "{var} holds neither a minisign secret key (its text, or the base64 of it as `tauri signer generate` writes) nor the path of an existing file; the value is not shown because it may be secret"
    )]
    NeitherKeyNorFile { var: &'static str },
    #[error("cannot read {origin}: {error}")]
    Read {
        origin: KeySource,
        #[source]
        error: std::io::Error,
    },
    #[error(
        "{origin} is not a minisign secret key: expected the text starting `untrusted comment:` followed by the key line, or the base64 of that text (as `tauri signer generate` writes)"
    )]
    NotASecretKey { origin: KeySource },
    #[error("{origin} uses an unsupported {what}; generate a new key with `cargo xtask keygen`")]
    Unsupported { origin: KeySource, what: &'static str },
    #[error(
        "{origin} is unencrypted and has no checksum (keys made by `minisign -G -W` 0.11 do); the minisign format requires one: generate a new key with `cargo xtask keygen`, or with `minisign -G` and a password"
    )]
    MissingChecksum { origin: KeySource },
    #[error("{origin} is damaged: {detail}; restore it from the original key file")]
    Corrupt { origin: KeySource, detail: &'static str },
    #[error("{origin} is password-protected but no password was given: {}", .origin.password_hint())]
    PasswordRequired { origin: KeySource },
    #[error("wrong password for {origin} (the password is not shown): {}", .origin.password_hint())]
    WrongPassword { origin: KeySource },
    #[error(
        "not a minisign public key ({reason}): expected the minisign text (`untrusted comment: minisign public key …` and the `RW…` line), the `RW…` line alone, or the base64 of the text (Tauri's plugins.updater.pubkey)"
    )]
    NotAPublicKey { reason: &'static str },
    #[error("could not generate a key pair: {detail}")]
    Generate { detail: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_prints_like_minisign() {
        // From a key made by `minisign -G`: the comment says 2A9F6EF3B2FEDE22.
        let key = PublicKey::parse("RWQi3v6y826fKpgFXv6hWxxSh1Sh5f6lTxI5+/MutscIx8k4k+0I2BnG").unwrap();
        assert_eq!(key.key_id().to_string(), "2A9F6EF3B2FEDE22");
    }

    #[test]
    fn public_key_forms_round_trip() {
        let key = PublicKey::parse("RWQi3v6y826fKpgFXv6hWxxSh1Sh5f6lTxI5+/MutscIx8k4k+0I2BnG").unwrap();
        assert_eq!(PublicKey::parse(&key.to_minisign_text()).unwrap(), key);
        assert_eq!(PublicKey::parse(&key.to_tauri_base64()).unwrap(), key);
        assert_eq!(PublicKey::from_tauri_base64(&key.to_tauri_base64()).unwrap(), key);
        assert!(matches!(PublicKey::parse("RWQ"), Err(KeyError::NotAPublicKey { .. })));
    }
}
