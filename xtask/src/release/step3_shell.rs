//! Step 3, shell: `cargo build --release` of the Tauri shell for the target,
//! with tauri's `custom-protocol` (a production build serving its own assets).
//!
//! The build embeds the public keys the app's updater trusts: cargo gets
//! them as `HUDSON_UPDATER_TRUSTED_KEYS`
//! ([`hudson_lifecycle::hooks::BUILD_ENV_TRUSTED_KEYS`], read by the shell
//! with `option_env!`), one key a line in Tauri's base64 form — the key
//! this dist signs its updater artifacts with, then the configured release
//! key (`[workspace.metadata.hudson.signing] public-key`) when it is
//! another. They are in the step's fingerprint, so a new key rebuilds the
//! shell. Only public keys: `TAURI_SIGNING_PRIVATE_KEY` and its password
//! left this process's environment when `cargo xtask` started
//! (`core::keys::take_from_environment`), and the build command removes
//! them again in case anything put them back.

use anyhow::Result;
use hudson_lifecycle::hooks::BUILD_ENV_TRUSTED_KEYS;
use signing::keys::{PRIVATE_KEY_PASSWORD_VAR, PRIVATE_KEY_VAR, PublicKey};
use xshell::cmd;

use super::Step;
use super::{Ctx, Outcome, skip_build_output};
use crate::core::cmd as run;
use crate::core::config::Config;
use crate::core::keys;
use crate::core::target::Target;
use crate::release::plan::{StepName, StepPlan, rel};

pub const STEP: Step = Step { name: StepName::Shell, applies: super::every_target, plan, run: |ctx, _| run(ctx) };

fn plan(config: &Config, target: &'static Target) -> StepPlan {
    StepPlan {
        name: StepName::Shell,
        summary: "build the shell in release mode (tauri custom-protocol)".into(),
        commands: vec![format!(
            "{BUILD_ENV_TRUSTED_KEYS}=<trusted public keys> cargo build --release -p {} --target {} --features custom-protocol",
            config.shell_package, target.triple
        )],
        inputs: config
            .shell_source_dirs
            .iter()
            .map(|d| format!("{}/", rel(config, d)))
            .chain([
                "Cargo.lock".into(),
                "the signing key's public key (TAURI_SIGNING_PRIVATE_KEY, or the development key under target/)".into(),
                "the configured release public key (signing.public-key), if any".into(),
            ])
            .collect(),
        outputs: vec![rel(config, &config.shell_binary_path(target))],
    }
}

pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let config = ctx.config;
    let mut fp = ctx.fingerprint(StepName::Shell);
    for dir in &config.shell_source_dirs {
        fp.add_path(dir, &skip_build_output)?;
    }
    for file in ["Cargo.lock", "Cargo.toml", ".cargo/config.toml"] {
        fp.add_path(&config.workspace_root.join(file), &|_| false)?;
    }
    fp.add_value("rustc", &ctx.rustc_version());
    let trusted = trusted_keys_value(&trusted_keys(ctx)?);
    fp.add_value(BUILD_ENV_TRUSTED_KEYS, &trusted);
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"] {
        fp.add_value(var, &std::env::var(var).unwrap_or_default());
    }
    let outputs = [ctx.config.shell_binary_path(ctx.target)];

    ctx.cached(
        StepName::Shell,
        "cargo build --release (the first build takes several minutes)",
        &fp,
        &outputs,
        |step| {
            let cargo = ctx.cargo();
            let package = &config.shell_package;
            let triple = ctx.target.triple;
            let build =
                cmd!(ctx.sh, "{cargo} build --release -p {package} --target {triple} --features custom-protocol")
                    .env(BUILD_ENV_TRUSTED_KEYS, &trusted)
                    .env_remove(PRIVATE_KEY_VAR)
                    .env_remove(PRIVATE_KEY_PASSWORD_VAR);
            run::run(build, step)
        },
    )
}

/// The public keys the shell's updater will trust, in order, without
/// repeats: the key this dist signs with, then the configured release key.
fn trusted_keys(ctx: &Ctx) -> Result<Vec<PublicKey>> {
    let mut trusted = vec![ctx.signing_key()?.public_key().clone()];
    if let Some((_, release)) = keys::configured_public_key(ctx.config)? {
        trusted.push(release);
    }
    Ok(dedup(trusted))
}

fn dedup(keys: Vec<PublicKey>) -> Vec<PublicKey> {
    let mut unique: Vec<PublicKey> = Vec::with_capacity(keys.len());
    for key in keys {
        if !unique.contains(&key) {
            unique.push(key);
        }
    }
    unique
}

/// The value of `HUDSON_UPDATER_TRUSTED_KEYS`: one key a line, in Tauri's
/// base64 form.
fn trusted_keys_value(keys: &[PublicKey]) -> String {
    keys.iter().map(PublicKey::to_tauri_base64).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use signing::keys::{KeyPair, KeyProtection};

    use super::*;

    #[test]
    fn trusted_keys_are_one_public_key_a_line_without_repeats() {
        let one = KeyPair::generate(KeyProtection::Unencrypted).unwrap().public_key().clone();
        let two = KeyPair::generate(KeyProtection::Unencrypted).unwrap().public_key().clone();
        let keys = dedup(vec![one.clone(), two.clone(), one.clone()]);
        assert_eq!(keys, [one.clone(), two.clone()]);
        let value = trusted_keys_value(&keys);
        let read: Vec<PublicKey> = value.lines().map(|line| PublicKey::parse(line).unwrap()).collect();
        assert_eq!(read, [one, two]);
        assert!(!value.contains("SECRET") && !value.contains("secret"), "{value}");
    }
}
