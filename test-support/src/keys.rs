//! Signing-key fixtures made with `signing`'s own key API: a fresh key pair
//! in every form the tests hand around (the loaded secret key, the base64
//! text `tauri signer generate` writes, the minisign public-key text an app
//! embeds).

use std::fmt;

use signing::keys::{KeyPair, KeyProtection, Password, PublicKey, SecretKey};

/// A freshly generated key pair, loaded back the way the release tool loads
/// it. Tests keep one per role in a `OnceLock` (generating and, with a
/// password, decrypting a key costs an scrypt run). `Debug` shows the key
/// id, never the secret texts.
pub struct KeyFixture {
    /// The pair as generated (its files' texts).
    pub pair: KeyPair,
    /// The secret key, loaded from `secret_base64` with `password`.
    pub secret: SecretKey,
    /// What `tauri signer generate` writes to the key file, and the value of
    /// `TAURI_SIGNING_PRIVATE_KEY`.
    pub secret_base64: String,
    /// The password the secret key is encrypted with (`None`: unencrypted).
    pub password: Option<String>,
    /// The public key's minisign text (`untrusted comment:` line and key
    /// line). `'static`, as a key embedded in the app is: leaked, once per
    /// fixture.
    pub public_text: &'static str,
}

impl KeyFixture {
    /// A new key pair, scrypt-encrypted with `password` (as
    /// `tauri signer generate` makes them), or unencrypted with `None`, which
    /// is much cheaper to generate and load.
    ///
    /// Panics if `signing` cannot generate or load the key.
    pub fn generate(password: Option<&str>) -> KeyFixture {
        let protection = match password {
            Some(password) => KeyProtection::Password(Password::new(password)),
            None => KeyProtection::Unencrypted,
        };
        let pair = KeyPair::generate(protection).expect("signing generates a key pair");
        let secret_base64 = pair.secret_key_tauri_base64().expose_secret().to_owned();
        let secret = SecretKey::from_text_or_base64(&secret_base64, password).expect("the new secret key loads");
        let public_text: &'static str = Box::leak(pair.public_key().to_minisign_text().into_boxed_str());
        KeyFixture { pair, secret, secret_base64, password: password.map(str::to_owned), public_text }
    }

    /// The public key.
    pub fn public(&self) -> &PublicKey {
        self.pair.public_key()
    }
}

impl fmt::Debug for KeyFixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFixture")
            .field("key_id", &self.pair.key_id())
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use signing::artifact::{sign_artifact, verify_artifact};

    use super::*;

    fn signs_and_its_public_text_verifies(fixture: &KeyFixture) {
        let bytes = crate::pseudo_random_bytes(5000, 1);
        let signed =
            sign_artifact(&bytes[..], "Hudson.tar.gz", &"1.2.3".parse().unwrap(), 1_777_636_800, &fixture.secret)
                .unwrap();
        let public = PublicKey::parse(fixture.public_text).unwrap();
        assert_eq!(&public, fixture.public());
        assert_eq!(fixture.secret.public_key(), fixture.public());
        verify_artifact(&bytes, &signed.tauri_signature(), &public).unwrap();
        let mut changed = bytes.clone();
        changed[0] ^= 1;
        verify_artifact(&changed, &signed.tauri_signature(), &public).unwrap_err();
    }

    #[test]
    fn an_unencrypted_fixture_signs_what_its_public_text_verifies() {
        let fixture = KeyFixture::generate(None);
        assert_eq!(fixture.password, None);
        signs_and_its_public_text_verifies(&fixture);
        let loaded = SecretKey::from_env_value(&fixture.secret_base64, None).unwrap();
        assert_eq!(loaded.key_id(), fixture.secret.key_id());
    }

    #[test]
    fn a_password_protected_fixture_signs_what_its_public_text_verifies() {
        let fixture = KeyFixture::generate(Some("test password 91c2"));
        assert_eq!(fixture.password.as_deref(), Some("test password 91c2"));
        signs_and_its_public_text_verifies(&fixture);
        // The base64 text is what a release manager's CI secret holds: it
        // needs the password.
        let loaded = SecretKey::from_env_value(&fixture.secret_base64, fixture.password.as_deref()).unwrap();
        assert_eq!(loaded.key_id(), fixture.secret.key_id());
        SecretKey::from_env_value(&fixture.secret_base64, None).unwrap_err();
        SecretKey::from_env_value(&fixture.secret_base64, Some("wrong")).unwrap_err();
    }

    #[test]
    fn two_fixtures_are_two_keys() {
        let (one, two) = (KeyFixture::generate(None), KeyFixture::generate(None));
        assert_ne!(one.public(), two.public());
        assert_ne!(one.public_text, two.public_text);
        let bytes = b"signed by one";
        let signed = sign_artifact(&bytes[..], "a.bin", &"1.0.0".parse().unwrap(), 0, &one.secret).unwrap();
        verify_artifact(bytes, &signed.tauri_signature(), two.public()).unwrap_err();
    }
}
