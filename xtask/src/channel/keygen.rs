//! `cargo xtask keygen --out <path>`: a new signing key pair in the format
//! `tauri signer generate` writes — `<path>`, the secret key (base64 of the
//! scrypt-encrypted minisign text, mode 0600), and `<path>.pub` (base64 of
//! the minisign public-key text, Tauri's `plugins.updater.pubkey` value).
//!
//! The password comes from `TAURI_SIGNING_PRIVATE_KEY_PASSWORD` when it is
//! set (empty means the empty password, as `tauri signer generate --ci`),
//! else from a prompt on the terminal; `--no-password` writes an
//! unencrypted key.
//!
//! `--openpgp` makes the package repositories' key instead (apt and dnf
//! verify OpenPGP): a v4 Ed25519 key, `<path>` the armored secret key
//! (mode 0600, what `HUDSON_OPENPGP_PRIVATE_KEY` takes), `<path>.asc` and
//! `<path>.pgp` the public key, armored and binary; its password comes from
//! `HUDSON_OPENPGP_PRIVATE_KEY_PASSWORD` or the prompt.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use signing::keys::{KeyPair, KeyProtection, PRIVATE_KEY_PASSWORD_VAR, Password};

use crate::core::credentials::Secret;
use crate::core::openpgp::{self, OpenPgpKey};
use crate::core::ui::Ui;
use crate::core::{fsx, keys};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write the secret key; the public key goes to `<out>.pub`.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing key files.
    #[arg(long)]
    pub force: bool,
    /// Write an unencrypted secret key (otherwise the password comes from
    /// TAURI_SIGNING_PRIVATE_KEY_PASSWORD or a prompt).
    #[arg(long)]
    pub no_password: bool,
    /// Make the OpenPGP key that signs the apt and dnf repositories.
    #[arg(long)]
    pub openpgp: bool,
    /// The OpenPGP key's user id (default: `<productName> repository`).
    #[arg(long, requires = "openpgp", value_name = "NAME <EMAIL>")]
    pub user_id: Option<String>,
}

#[derive(Serialize)]
struct OpenPgpSummary {
    secret_key: String,
    public_key_file: String,
    public_keyring_file: String,
    fingerprint: String,
    user_id: String,
    encrypted: bool,
}

#[derive(Serialize)]
struct Summary {
    secret_key: String,
    public_key_file: String,
    key_id: String,
    /// Tauri's `plugins.updater.pubkey` value.
    public_key: String,
    /// The bare key line, as `minisign -P` takes it.
    minisign_public_key: String,
    encrypted: bool,
}

pub fn run(ui: &Ui, args: Args) -> Result<()> {
    if args.openpgp {
        return run_openpgp(ui, args);
    }
    let Args { out, force, no_password, .. } = args;
    let out = out.as_path();
    let public = keys::public_path(out);
    if !force {
        for path in [out, public.as_path()] {
            if path.exists() {
                bail!(
                    "{} already exists; pass --force to replace it (apps that trust only the old key can then no longer verify new releases)",
                    path.display()
                );
            }
        }
    }
    let protection = if no_password { KeyProtection::Unencrypted } else { KeyProtection::Password(password()?) };
    let encrypted = !no_password;
    let pair = KeyPair::generate(protection).context("generating the key pair")?;
    keys::write_key_pair(out, &pair)?;

    let key = pair.public_key();
    ui.info(format!("secret key: {} (mode 0600; keep it out of the repository)", out.display()));
    ui.info(format!("public key: {} (key id {})", public.display(), key.key_id()));
    if ui.json() {
        ui.emit(&Summary {
            secret_key: out.display().to_string(),
            public_key_file: public.display().to_string(),
            key_id: key.key_id().to_string(),
            public_key: key.to_tauri_base64(),
            minisign_public_key: key.to_key_line(),
            encrypted,
        });
    } else {
        // The value for tauri.conf.json's plugins.updater.pubkey, alone on stdout.
        println!("{}", key.to_tauri_base64());
    }
    Ok(())
}

fn run_openpgp(ui: &Ui, args: Args) -> Result<()> {
    let out = args.out.as_path();
    let armored = fsx::with_suffix(out, ".asc");
    let binary = fsx::with_suffix(out, ".pgp");
    if !args.force {
        for path in [out, armored.as_path(), binary.as_path()] {
            if path.exists() {
                bail!(
                    "{} already exists; pass --force to replace it (apt and dnf that trust only the old key then refuse the repositories)",
                    path.display()
                );
            }
        }
    }
    let password = if args.no_password {
        None
    } else if let Some(password) = keys::openpgp_password_from_environment() {
        Some(Secret::new(password.expose().to_owned()))
    } else {
        Some(Secret::new(ask(openpgp::PASSWORD_VAR)?))
    };
    let user_id = match args.user_id {
        Some(id) => id,
        None => format!("{} repository", crate::core::config::Config::load()?.product_name),
    };
    let key = OpenPgpKey::generate(&user_id, password.as_ref())?;
    keys::write_secret_file(out, key.secret_armored()?.expose().as_bytes())?;
    let public = key.public();
    for (path, bytes) in [(&armored, public.to_armored()?.into_bytes()), (&binary, public.to_binary()?)] {
        fsx::write_atomic_with(path, Some(0o644), |tmp| {
            tmp.as_file().write_all(&bytes).with_context(|| format!("writing {}", tmp.path().display()))
        })?;
    }
    ui.info(format!("OpenPGP secret key: {} (mode 0600; keep it out of the repository)", out.display()));
    ui.info(format!("public key: {} and {} (fingerprint {})", armored.display(), binary.display(), key.fingerprint()));
    if ui.json() {
        ui.emit(&OpenPgpSummary {
            secret_key: out.display().to_string(),
            public_key_file: armored.display().to_string(),
            public_keyring_file: binary.display().to_string(),
            fingerprint: key.fingerprint(),
            user_id,
            encrypted: password.is_some(),
        });
    } else {
        println!("{}", key.fingerprint());
    }
    Ok(())
}

/// The password: from the environment, else asked twice on the terminal.
fn password() -> Result<Password> {
    if let Some(password) = keys::password_from_environment() {
        return Ok(Password::new(password.expose()));
    }
    Ok(Password::new(ask(PRIVATE_KEY_PASSWORD_VAR)?))
}

/// A new password, asked twice on the terminal; `variable` is the one that
/// would have given it.
fn ask(variable: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "no password for the new key: set {variable}, run on a terminal to be asked, or pass --no-password for an unencrypted key"
        );
    }
    let first = rpassword::prompt_password("Password for the new key: ").context("reading the password")?;
    if first.is_empty() {
        bail!("the password is empty: type one, or pass --no-password for an unencrypted key");
    }
    let second = rpassword::prompt_password("The same password again: ").context("reading the password")?;
    if first != second {
        bail!("the two passwords differ; nothing was written");
    }
    let _ = std::io::stderr().flush();
    Ok(first)
}
