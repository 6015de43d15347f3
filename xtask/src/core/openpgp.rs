//! OpenPGP, for the package repositories: apt and dnf verify OpenPGP
//! signatures, not minisign, so the repositories `publish` writes are
//! signed with a key of their own (rPGP, the `pgp` crate: pure Rust, no
//! `gpg`, agent or keyring on the release machine).
//!
//! Keys are v4 Ed25519 ("EdDSA legacy"): Debian 12's `gpgv` and `sqv`
//! read them, and neither reads v6 keys. The secret key comes from
//! `HUDSON_OPENPGP_PRIVATE_KEY` (its armored text, or the path of a file
//! holding it) and `HUDSON_OPENPGP_PRIVATE_KEY_PASSWORD`, taken out of the
//! process environment with the minisign key's variables
//! ([`crate::core::keys::take_from_environment`]). Errors name the
//! variables, never their values.
//!
//! Signatures are SHA-256, dated by the caller (a release's own time, so
//! the same inputs give the same bytes). `gpgv` refuses a signature older
//! than its key ("time conflict"), so a time before the key's creation is
//! moved up to it.

use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, Result, bail};
use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, KeyType, SecretKeyParamsBuilder,
    SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::public_key::PublicKeyAlgorithm;
use pgp::packet::{SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::ser::Serialize as _;
use pgp::types::{KeyDetails as _, KeyVersion, Password, Timestamp};
use time::OffsetDateTime;

use crate::core::credentials::Secret;

/// The secret key: armored text, or the path of a file holding it.
pub const PRIVATE_KEY_VAR: &str = "HUDSON_OPENPGP_PRIVATE_KEY";
/// Its password (unset or empty: the key is not encrypted).
pub const PASSWORD_VAR: &str = "HUDSON_OPENPGP_PRIVATE_KEY_PASSWORD";

/// The largest key file read: an Ed25519 or RSA 4096 key with a few user
/// ids is a few KiB.
pub const MAX_KEY_BYTES: u64 = 64 * 1024;
/// The largest signature read (one signature is a few hundred bytes).
pub const MAX_SIGNATURE_BYTES: u64 = 16 * 1024;

/// A secret OpenPGP key, unlocked-by-password on each use.
pub struct OpenPgpKey {
    key: SignedSecretKey,
    password: Password,
}

impl std::fmt::Debug for OpenPgpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenPgpKey({})", self.fingerprint())
    }
}

impl OpenPgpKey {
    /// A new v4 Ed25519 signing key for `user_id`, encrypted with
    /// `password` when there is one.
    pub fn generate(user_id: &str, password: Option<&Secret>) -> Result<OpenPgpKey> {
        OpenPgpKey::generate_of(KeyType::Ed25519Legacy, user_id, password)
    }

    /// An RSA key, as a release manager may bring one from `gpg` (the
    /// tests sign with both kinds).
    #[cfg(test)]
    pub fn generate_rsa(user_id: &str, bits: u32) -> Result<OpenPgpKey> {
        OpenPgpKey::generate_of(KeyType::Rsa(bits), user_id, None)
    }

    fn generate_of(key_type: KeyType, user_id: &str, password: Option<&Secret>) -> Result<OpenPgpKey> {
        let mut params = SecretKeyParamsBuilder::default();
        params
            .version(KeyVersion::V4)
            .key_type(key_type)
            .can_sign(true)
            .can_certify(true)
            .primary_user_id(user_id.to_owned())
            .preferred_hash_algorithms(vec![HashAlgorithm::Sha256].into())
            .passphrase(password.map(|p| p.expose().to_owned()));
        let params = params.build().context("OpenPGP key parameters")?;
        let key = params.generate(rand::thread_rng()).context("generating the OpenPGP key")?;
        let password = password.map_or_else(Password::empty, |p| Password::from(p.expose()));
        Ok(OpenPgpKey { key, password })
    }

    /// Reads an armored secret key and checks `password` unlocks it.
    /// `origin` names where the key came from in errors (never the key).
    pub fn from_armored(text: &str, password: Option<&Secret>, origin: &str) -> Result<OpenPgpKey> {
        if text.len() as u64 > MAX_KEY_BYTES {
            bail!(
                "{origin} is over {MAX_KEY_BYTES} bytes: not an OpenPGP secret key (make one with `cargo xtask keygen --openpgp`)"
            );
        }
        let (key, _) = SignedSecretKey::from_string(text).map_err(|_| {
            anyhow::anyhow!(
                "{origin} is not an armored OpenPGP secret key (`-----BEGIN PGP PRIVATE KEY BLOCK-----`); make one with `cargo xtask keygen --openpgp`"
            )
        })?;
        if key.version() != KeyVersion::V4 {
            bail!(
                "{origin} is a {:?} key: apt and dnf on Debian 12 and its peers read v4 keys only; make one with `cargo xtask keygen --openpgp`",
                key.version()
            );
        }
        let password = password.map_or_else(Password::empty, |p| Password::from(p.expose()));
        let key = OpenPgpKey { key, password };
        // A wrong password fails here, not half-way through a publish.
        key.detached(b"hudson: unlock probe", OffsetDateTime::now_utc()).map_err(|_| {
            anyhow::anyhow!("{origin}: the key cannot sign; check {PASSWORD_VAR} (it must unlock the key)")
        })?;
        Ok(key)
    }

    /// The key from `HUDSON_OPENPGP_PRIVATE_KEY` (text or path) and its
    /// password, if the variable was set and not blank.
    pub fn from_environment() -> Result<Option<OpenPgpKey>> {
        let Some(value) = crate::core::keys::openpgp_from_environment() else { return Ok(None) };
        let password = crate::core::keys::openpgp_password_from_environment();
        let value = value.expose().trim();
        // Blank is unset (a CI secret not defined expands to nothing): there
        // is no other key to fall back to, and a channel that serves a
        // repository refuses changes without its key.
        if value.is_empty() {
            return Ok(None);
        }
        if value.starts_with("-----BEGIN") {
            return OpenPgpKey::from_armored(value, password, PRIVATE_KEY_VAR).map(Some);
        }
        let path = Path::new(value);
        let bytes = hudson_lifecycle::untrusted::read(path, MAX_KEY_BYTES).map_err(|_| {
            anyhow::anyhow!(
                "{PRIVATE_KEY_VAR} is neither an armored OpenPGP secret key nor the path of a readable key file of at most {MAX_KEY_BYTES} bytes"
            )
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("the key file {PRIVATE_KEY_VAR} names is not armored text"))?;
        OpenPgpKey::from_armored(&text, password, &format!("the key file {PRIVATE_KEY_VAR} names")).map(Some)
    }

    /// Checks this is the key of the public key file `configured`
    /// (`signing.openpgp-public-key`): the error names both fingerprints.
    pub fn ensure_configured(&self, configured: &Path) -> Result<()> {
        let public = OpenPgpPublicKey::read_configured(configured)?;
        if public.fingerprint() != self.fingerprint() {
            bail!(
                "{PRIVATE_KEY_VAR} holds OpenPGP key {}, but the configured repository key (signing.openpgp-public-key, {}) is {}: set it to that key",
                self.fingerprint(),
                configured.display(),
                public.fingerprint()
            );
        }
        Ok(())
    }

    /// The armored secret key, to be written only to a file of mode 0600.
    pub fn secret_armored(&self) -> Result<Secret> {
        let text = self.key.to_armored_string(ArmorOptions::default()).context("armoring the secret key")?;
        Ok(Secret::new(text))
    }

    pub fn public(&self) -> OpenPgpPublicKey {
        OpenPgpPublicKey { key: self.key.to_public_key() }
    }

    /// The fingerprint, upper-case hex (as `gpg` shows it).
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.key.fingerprint().as_bytes())
    }

    fn config(&self, typ: SignatureType, at: OffsetDateTime) -> Result<SignatureConfig> {
        let created = self.key.created_at().as_secs();
        let at = u32::try_from(at.unix_timestamp().max(0)).unwrap_or(u32::MAX).max(created);
        let mut config = SignatureConfig::from_key(rand::thread_rng(), &self.key.primary_key, typ)?;
        config.hash_alg = HashAlgorithm::Sha256;
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(at)))?,
            Subpacket::regular(SubpacketData::IssuerFingerprint(self.key.fingerprint()))?,
        ];
        config.unhashed_subpackets = vec![Subpacket::regular(SubpacketData::IssuerKeyId(self.key.legacy_key_id()))?];
        Ok(config)
    }

    /// An armored detached signature of `data` (`Release.gpg`,
    /// `repomd.xml.asc`), dated `at`.
    pub fn detached(&self, data: &[u8], at: OffsetDateTime) -> Result<String> {
        let config = self.config(SignatureType::Binary, at)?;
        let signature = config.sign(&self.key.primary_key, &self.password, Cursor::new(data))?;
        Ok(DetachedSignature::new(signature).to_armored_string(ArmorOptions::default())?)
    }

    /// A binary detached signature of `data` (one signature packet, as an
    /// rpm's signature header holds it), dated `at`.
    pub fn signature_packet(&self, data: &[u8], at: OffsetDateTime) -> Result<Vec<u8>> {
        let config = self.config(SignatureType::Binary, at)?;
        let signature = config.sign(&self.key.primary_key, &self.password, Cursor::new(data))?;
        Ok(DetachedSignature::new(signature).to_bytes()?)
    }

    /// True for an RSA key (rpm files its signature under another tag than
    /// an EdDSA one's).
    pub fn is_rsa(&self) -> bool {
        matches!(
            self.key.algorithm(),
            PublicKeyAlgorithm::RSA | PublicKeyAlgorithm::RSASign | PublicKeyAlgorithm::RSAEncrypt
        )
    }

    /// `text` clearsigned (`InRelease`), dated `at`.
    pub fn clearsign(&self, text: &str, at: OffsetDateTime) -> Result<String> {
        let config = self.config(SignatureType::Text, at)?;
        let message = CleartextSignedMessage::new(text, config, &self.key.primary_key, &self.password)?;
        Ok(message.to_armored_string(ArmorOptions::default())?)
    }
}

/// A public OpenPGP key: what apt and dnf are given to verify with.
#[derive(Debug, Clone)]
pub struct OpenPgpPublicKey {
    key: SignedPublicKey,
}

impl OpenPgpPublicKey {
    /// Reads an armored or binary public key (`.asc` or `.pgp`), bounded.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<OpenPgpPublicKey> {
        if bytes.len() as u64 > MAX_KEY_BYTES {
            bail!("{origin} is over {MAX_KEY_BYTES} bytes: not an OpenPGP public key");
        }
        let parsed = if bytes.starts_with(b"-----BEGIN") {
            SignedPublicKey::from_armor_single(bytes).map(|(key, _)| key)
        } else {
            SignedPublicKey::from_bytes(bytes)
        };
        let key = parsed.map_err(|e| anyhow::anyhow!("{origin} is not an OpenPGP public key: {e}"))?;
        key.verify_bindings().map_err(|e| anyhow::anyhow!("{origin}: the key's self-signatures do not verify: {e}"))?;
        Ok(OpenPgpPublicKey { key })
    }

    pub fn read(path: &Path) -> Result<OpenPgpPublicKey> {
        let bytes = hudson_lifecycle::untrusted::read(path, MAX_KEY_BYTES)
            .with_context(|| format!("reading the OpenPGP public key {}", path.display()))?;
        OpenPgpPublicKey::from_bytes(&bytes, &path.display().to_string())
    }

    /// The configured repository key, `signing.openpgp-public-key` at
    /// `path`: an error names the setting.
    pub fn read_configured(path: &Path) -> Result<OpenPgpPublicKey> {
        OpenPgpPublicKey::read(path)
            .with_context(|| format!("signing.openpgp-public-key ({}) cannot be read", path.display()))
    }

    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.key.fingerprint().as_bytes())
    }

    /// The armored key (`.asc`, for `rpm --import` and people).
    pub fn to_armored(&self) -> Result<String> {
        Ok(self.key.to_armored_string(ArmorOptions::default())?)
    }

    /// The binary key (`.pgp`, what apt's `Signed-By:` reads).
    pub fn to_binary(&self) -> Result<Vec<u8>> {
        Ok(self.key.to_bytes()?)
    }

    /// Checks an armored detached signature of `data`.
    pub fn verify_detached(&self, data: &[u8], armored: &[u8]) -> Result<()> {
        let (signature, _) = DetachedSignature::from_armor_single(armored)
            .map_err(|e| anyhow::anyhow!("not an armored OpenPGP signature: {e}"))?;
        signature
            .verify(&self.key, data)
            .map_err(|_| anyhow::anyhow!("the signature does not verify with key {}", self.fingerprint()))
    }

    /// Checks a binary detached signature of `data` (one packet).
    pub fn verify_packet(&self, data: &[u8], packet: &[u8]) -> Result<()> {
        if packet.len() as u64 > MAX_SIGNATURE_BYTES {
            bail!("an OpenPGP signature of {} bytes: over {MAX_SIGNATURE_BYTES}", packet.len());
        }
        let signature = DetachedSignature::from_bytes(packet)
            .map_err(|e| anyhow::anyhow!("not an OpenPGP signature packet: {e}"))?;
        signature
            .verify(&self.key, data)
            .map_err(|_| anyhow::anyhow!("the signature does not verify with key {}", self.fingerprint()))
    }

    /// Checks a clearsigned message and returns the text it signs.
    pub fn verify_clearsigned(&self, armored: &str) -> Result<String> {
        let (message, _) = CleartextSignedMessage::from_string(armored)
            .map_err(|e| anyhow::anyhow!("not a clearsigned OpenPGP message: {e}"))?;
        message
            .verify(&self.key)
            .map_err(|_| anyhow::anyhow!("the signature does not verify with key {}", self.fingerprint()))?;
        Ok(message.signed_text().replace("\r\n", "\n"))
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    /// `gpgv --keyring <key> <args>`: true when it accepts.
    fn gpgv(dir: &Path, key: &OpenPgpPublicKey, args: &[&Path]) -> bool {
        let keyring = dir.join("keyring.pgp");
        std::fs::write(&keyring, key.to_binary().unwrap()).unwrap();
        let out = Command::new("gpgv").arg("--keyring").arg(&keyring).args(args).output().expect("gpgv runs");
        out.status.success()
    }

    #[test]
    fn gpgv_accepts_our_signatures_and_refuses_changed_data_or_another_key() {
        let dir = tempfile::tempdir().unwrap();
        let password = Secret::new("correct horse".into());
        let key = OpenPgpKey::generate("Hudson test <test@example.invalid>", Some(&password)).unwrap();
        // Through its armored form, as a release manager's key arrives.
        let armored = key.secret_armored().unwrap();
        assert!(armored.expose().starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
        let key = OpenPgpKey::from_armored(armored.expose(), Some(&password), "test").unwrap();
        let public = OpenPgpPublicKey::from_bytes(key.public().to_armored().unwrap().as_bytes(), "asc").unwrap();
        assert_eq!(public.fingerprint(), key.fingerprint());
        let other = OpenPgpKey::generate("Other <o@example.invalid>", None).unwrap().public();

        let data = b"Origin: Hudson\nSuite: stable\n".to_vec();
        // Dated before the key existed: moved up to its creation, or gpgv refuses it.
        let signature = key.detached(&data, at(0)).unwrap();
        let (data_path, sig_path) = (dir.path().join("Release"), dir.path().join("Release.gpg"));
        std::fs::write(&data_path, &data).unwrap();
        std::fs::write(&sig_path, &signature).unwrap();
        assert!(gpgv(dir.path(), &public, &[&sig_path, &data_path]));
        public.verify_detached(&data, signature.as_bytes()).unwrap();
        assert!(!gpgv(dir.path(), &other, &[&sig_path, &data_path]), "another key's keyring");
        assert!(other.verify_detached(&data, signature.as_bytes()).is_err());
        let mut changed = data.clone();
        changed[0] ^= 1;
        std::fs::write(&data_path, &changed).unwrap();
        assert!(!gpgv(dir.path(), &public, &[&sig_path, &data_path]), "changed data");
        assert!(public.verify_detached(&changed, signature.as_bytes()).is_err());

        let text = "Origin: Hudson\nSuite: stable\n- a dashed line\n";
        let clear = key.clearsign(text, at(2_000_000_000)).unwrap();
        let in_release = dir.path().join("InRelease");
        std::fs::write(&in_release, &clear).unwrap();
        assert!(gpgv(dir.path(), &public, &[&in_release]));
        assert_eq!(public.verify_clearsigned(&clear).unwrap(), text);
        std::fs::write(&in_release, clear.replace("stable", "stabel")).unwrap();
        assert!(!gpgv(dir.path(), &public, &[&in_release]), "changed clearsigned text");
        assert!(public.verify_clearsigned(&clear.replace("stable", "stabel")).is_err());
    }

    #[test]
    fn the_same_inputs_give_the_same_signature() {
        let key = OpenPgpKey::generate("Hudson test <test@example.invalid>", None).unwrap();
        assert_eq!(key.detached(b"x", at(2_000_000_000)).unwrap(), key.detached(b"x", at(2_000_000_000)).unwrap());
        assert_eq!(key.clearsign("x\n", at(2_000_000_000)).unwrap(), key.clearsign("x\n", at(2_000_000_000)).unwrap());
    }

    #[test]
    fn bad_keys_and_passwords_are_named_without_the_key() {
        let password = Secret::new("pw".into());
        let key = OpenPgpKey::generate("T <t@example.invalid>", Some(&password)).unwrap();
        let armored = key.secret_armored().unwrap();
        let wrong = Secret::new("nope".into());
        let error = OpenPgpKey::from_armored(armored.expose(), Some(&wrong), PRIVATE_KEY_VAR).unwrap_err().to_string();
        assert!(error.contains(PASSWORD_VAR), "{error}");
        assert!(!error.contains("PRIVATE KEY BLOCK"), "{error}");
        let error = OpenPgpKey::from_armored("not a key", None, PRIVATE_KEY_VAR).unwrap_err().to_string();
        assert!(error.contains(PRIVATE_KEY_VAR) && error.contains("keygen --openpgp"), "{error}");
        let huge = "A".repeat(MAX_KEY_BYTES as usize + 1);
        assert!(OpenPgpKey::from_armored(&huge, None, PRIVATE_KEY_VAR).unwrap_err().to_string().contains("bytes"));
        assert!(OpenPgpPublicKey::from_bytes(b"garbage", "k").is_err());
    }
}
