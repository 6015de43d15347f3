//! Which key signs: the release key from `TAURI_SIGNING_PRIVATE_KEY` (its
//! text, base64 or path) and `TAURI_SIGNING_PRIVATE_KEY_PASSWORD`, or, when
//! none is set, a development key that `cargo xtask` makes under
//! `target/hudson-signing/` on first use (a key variable set but blank is an
//! error, not the development key).
//!
//! The two variables are taken out of the process environment before
//! anything else runs ([`take_from_environment`]), so no command `cargo
//! xtask` starts (mix, cargo, tauri-driver, …) inherits them. Their values
//! live only here, as [`Secret`]s that never print themselves.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use signing::dist::SigningKeyInfo;
use signing::keys::{
    KeyPair, KeyProtection, PRIVATE_KEY_PASSWORD_VAR, PRIVATE_KEY_VAR, Password, PublicKey, SecretKey,
};

use crate::core::config::Config;
use crate::core::credentials::Secret;
use crate::core::ui::Ui;
use crate::core::{fsx, openpgp};

struct Environment {
    key: Option<Secret>,
    password: Option<Secret>,
    openpgp_key: Option<Secret>,
    openpgp_password: Option<Secret>,
}

/// Every variable [`take_from_environment`] takes: the minisign key of
/// the channels and artifacts, the OpenPGP key of the package repositories.
const TAKEN: [&str; 4] = [PRIVATE_KEY_VAR, PRIVATE_KEY_PASSWORD_VAR, openpgp::PRIVATE_KEY_VAR, openpgp::PASSWORD_VAR];

static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();

/// Moves the signing variables from the process environment into memory.
/// Call it first thing in `main`, while the process has a single thread.
///
/// Removing a variable only drops it from `environ`; the kernel's copy of
/// the initial environment (`/proc/<pid>/environ`, readable by the same
/// user) still holds the value, so its bytes are overwritten first.
pub fn take_from_environment() {
    let [key, password, openpgp_key, openpgp_password] = TAKEN.map(|name| std::env::var(name).ok().map(Secret::new));
    for name in TAKEN {
        // SAFETY: `main` calls this before it starts any thread, so nothing
        // can read the environment concurrently.
        unsafe {
            #[cfg(unix)]
            wipe_value(name);
            std::env::remove_var(name);
        }
    }
    let _ = ENVIRONMENT.set(Environment { key, password, openpgp_key, openpgp_password });
}

/// Overwrites the value of `name` in place with NUL bytes, where the C
/// environment keeps it (for the initial environment: the memory the kernel
/// shows as `/proc/<pid>/environ`).
///
/// # Safety
///
/// No other thread may use the environment, and the variable must be removed
/// right after (its value is gone).
#[cfg(unix)]
unsafe fn wipe_value(name: &str) {
    let Ok(name) = std::ffi::CString::new(name) else { return };
    // SAFETY: single-threaded (the caller's contract); `getenv` returns the
    // variable's value inside its `NAME=value` string, or null.
    unsafe {
        let value = libc::getenv(name.as_ptr());
        if value.is_null() {
            return;
        }
        let len = libc::strlen(value);
        for i in 0..len {
            std::ptr::write_volatile(value.add(i), 0);
        }
    }
}

fn environment() -> &'static Environment {
    ENVIRONMENT.get_or_init(|| Environment { key: None, password: None, openpgp_key: None, openpgp_password: None })
}

/// `HUDSON_OPENPGP_PRIVATE_KEY`, when it was set.
pub fn openpgp_from_environment() -> Option<&'static Secret> {
    environment().openpgp_key.as_ref()
}

/// `HUDSON_OPENPGP_PRIVATE_KEY_PASSWORD`, when it was set and not empty.
pub fn openpgp_password_from_environment() -> Option<&'static Secret> {
    environment().openpgp_password.as_ref().filter(|p| !p.expose().is_empty())
}

/// `TAURI_SIGNING_PRIVATE_KEY_PASSWORD`, when it was set.
pub fn password_from_environment() -> Option<&'static Secret> {
    environment().password.as_ref()
}

/// A loaded signing key and where it came from.
pub struct SigningKey {
    pub key: SecretKey,
    /// True for the development key: its signatures must never reach a
    /// protected channel.
    pub development: bool,
    /// Where it came from (a variable or a file), for messages.
    pub origin: String,
}

impl SigningKey {
    pub fn public_key(&self) -> &PublicKey {
        self.key.public_key()
    }

    /// What `dist-manifest.json` records about the key.
    pub fn info(&self) -> SigningKeyInfo {
        SigningKeyInfo {
            key_id: self.key.key_id().to_string(),
            public_key: self.key.public_key().to_tauri_base64(),
            development: self.development,
        }
    }
}

/// The release key from the environment, else the development key (made on
/// first use).
pub fn signing_key(config: &Config, ui: &Ui) -> Result<SigningKey> {
    let env = environment();
    let development_public = development_public_key(config)?;
    if env.key.as_ref().is_some_and(|value| value.expose().trim().is_empty()) {
        // A missing CI secret expands to an empty value: never sign with the
        // development key instead of the release key the job was meant to use.
        bail!(
            "{PRIVATE_KEY_VAR} is set but blank: set it to the release key (its text, its base64 or the path of the key file), \
             or unset it to sign with the development key"
        );
    }
    match env.key.as_ref() {
        Some(value) => {
            let password = env.password.as_ref().map(Secret::expose);
            let key = SecretKey::from_env_value(value.expose(), password)
                .context("loading the signing key from the environment")?;
            let development = development_public.is_some_and(|public| public.key_id() == key.key_id());
            Ok(SigningKey { key, development, origin: PRIVATE_KEY_VAR.to_owned() })
        }
        None => {
            let path = development_key_path(config);
            if !path.exists() {
                generate_development_key(&path)?;
                ui.info(format!("made a development signing key: {}", config.relative(&path)));
            }
            let key = SecretKey::from_file(&path, None).with_context(|| {
                format!("loading the development key {} (delete it to make a new one)", path.display())
            })?;
            ui.info(format!(
                "signing with the development key {} ({PRIVATE_KEY_VAR} is not set); `publish` refuses it for protected channels",
                config.relative(&path)
            ));
            Ok(SigningKey { origin: config.relative(&path).into_owned(), key, development: true })
        }
    }
}

/// `target/hudson-signing/development.key`.
pub fn development_key_path(config: &Config) -> PathBuf {
    config.target_dir.join("hudson-signing").join("development.key")
}

/// The development key's public key, if the key has been made.
pub fn development_public_key(config: &Config) -> Result<Option<PublicKey>> {
    let path = public_path(&development_key_path(config));
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(PublicKey::parse(&text).with_context(|| format!("reading {}", path.display()))?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// The public key configured in `[workspace.metadata.hudson.signing]`: the
/// one the app trusts.
pub fn configured_public_key(config: &Config) -> Result<Option<(PathBuf, PublicKey)>> {
    let Some(path) = &config.signing.public_key else { return Ok(None) };
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the public key {} ({}.signing.public-key); make one with `cargo xtask keygen`",
            path.display(),
            crate::core::config::SECTION
        )
    })?;
    let key = PublicKey::parse(&text).with_context(|| format!("{} is not a minisign public key", path.display()))?;
    Ok(Some((path.clone(), key)))
}

/// Reads a public key file in any form minisign or Tauri write.
pub fn read_public_key(path: &Path) -> Result<PublicKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    PublicKey::parse(&text).with_context(|| format!("{} is not a minisign public key", path.display()))
}

/// `<key>.pub`, where the public half of a key file lives.
pub fn public_path(secret: &Path) -> PathBuf {
    fsx::with_suffix(secret, ".pub")
}

/// Makes the development key: scrypt-encrypted with the empty password, as
/// `tauri signer generate --ci` writes keys, so Tauri's own tools read it too.
fn generate_development_key(path: &Path) -> Result<()> {
    let pair =
        KeyPair::generate(KeyProtection::Password(Password::new(""))).context("generating the development key")?;
    write_key_pair(path, &pair)
}

/// Writes the secret key (mode 0600, Tauri's base64 form) and `<path>.pub`
/// (Tauri's base64 form), each atomically, the public half last.
pub fn write_key_pair(path: &Path, pair: &KeyPair) -> Result<()> {
    let secret = pair.secret_key_tauri_base64();
    write_secret_file(path, secret.expose_secret().as_bytes())?;
    fsx::write_atomic(&public_path(path), pair.public_key().to_tauri_base64().as_bytes())
}

/// Writes a file only its owner can read: the temporary file is made 0600
/// before a byte is written, then renamed into place.
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    fsx::write_atomic_with(path, Some(0o600), |tmp| {
        tmp.as_file().write_all(bytes).with_context(|| format!("writing {}", tmp.path().display()))
    })
}
