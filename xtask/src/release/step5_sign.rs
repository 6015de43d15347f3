//! Step 5, sign: embedded code signatures.
//!
//! - Linux packages carry none (their integrity comes from the updater
//!   signatures of the next step).
//! - macOS: the `.app` is signed (nested Mach-O first, then the bundle; see
//!   `macos::codesign`) with the Developer ID from `APPLE_CERTIFICATE`, or
//!   ad-hoc when none is configured (a development build), then notarized
//!   and stapled when the App Store Connect key is set. The updater archive
//!   and the dmg are made from this signed app by the later steps.
//! - Windows: the installers are Authenticode-signed when
//!   `WINDOWS_CERTIFICATE` is set (the shell executable inside was signed
//!   before bundling, see [`before_bundling`]).
//!
//! Signing works on copies under `target/dist-work/<triple>/signed/`, so the
//! bundle step's outputs stay as it left them and an unchanged `dist` skips
//! both steps. Credentials are checked before any file is written.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use signing::dist::ArtifactKind;

use super::Step;
use super::step4_bundle::Bundles;
use super::{Ctx, Outcome};
use crate::core::config::Config;
#[cfg(feature = "release-tools")]
use crate::core::credentials::APPLE_CERTIFICATE;
use crate::core::credentials::ProcessEnv;
use crate::core::fsx;
use crate::core::target::Os;
use crate::core::target::Target;
#[cfg(feature = "release-tools")]
use crate::platform::macos::codesign::{self, Timestamp};
#[cfg(feature = "release-tools")]
use crate::platform::macos::identity::Identity;
#[cfg(feature = "release-tools")]
use crate::platform::macos::notary::{self, ApiKey};
use crate::platform::windows::authenticode::{self, Pfx};
use crate::release::plan::{StepName, StepPlan, rel};

pub const STEP: Step =
    Step { name: StepName::Sign, applies: super::every_target, plan, run: |ctx, built| run(ctx, &mut built.bundles) };

fn plan(config: &Config, target: &'static Target) -> StepPlan {
    let triple = target.triple;
    let signed = rel(config, &config.work_dir(target).join("signed"));
    let product = &config.product_name;
    let (summary, commands, outputs) = match target.os() {
        Os::Darwin => (
            "sign every nested Mach-O, then the app, with hardened runtime; notarize and staple when credentials are set",
            vec![
                format!("cargo xtask sign --target {triple} {signed}/{product}.app   (APPLE_CERTIFICATE, else ad-hoc)"),
                format!("cargo xtask notarize {signed}/{product}.app   (when the App Store Connect key is set)"),
            ],
            vec![format!("{signed}/{product}.app/")],
        ),
        Os::Windows => (
            "Authenticode-sign the shell before bundling, then the installers (when WINDOWS_CERTIFICATE is set)",
            vec![format!(
                "cargo xtask sign --target {triple} {signed}/<installer>   (osslsigncode; signtool on Windows)"
            )],
            super::step4_bundle::planned_outputs(config, target),
        ),
        Os::Linux => (
            "nothing to embed: Linux packages are verified through their updater signatures (next step)",
            vec![],
            vec![],
        ),
    };
    StepPlan {
        name: StepName::Sign,
        summary: summary.into(),
        commands,
        inputs: super::step4_bundle::planned_outputs(config, target),
        outputs,
    }
}

fn signed_dir(ctx: &Ctx) -> PathBuf {
    ctx.config.work_dir(ctx.target).join("signed")
}

pub fn run(ctx: &Ctx, bundles: &mut Bundles) -> Result<Outcome> {
    match ctx.target.os() {
        Os::Linux => {
            ctx.ui.info("- sign: nothing to embed in Linux packages");
            Ok(Outcome::NothingToDo)
        }
        Os::Darwin => macos(ctx, bundles),
        Os::Windows => windows(ctx, bundles),
    }
}

/// Without the release tools there is no apple-codesign to sign with.
#[cfg(not(feature = "release-tools"))]
fn macos(_: &Ctx, _: &mut Bundles) -> Result<Outcome> {
    Err(super::without_release_tools("signing the macOS app"))
}

#[cfg(feature = "release-tools")]
fn macos(ctx: &Ctx, bundles: &mut Bundles) -> Result<Outcome> {
    let identity = Identity::from_env(&ProcessEnv)?;
    let api_key = ApiKey::from_env(&ProcessEnv)?;
    if api_key.is_some() && matches!(identity, Identity::AdHoc) {
        bail!(
            "the App Store Connect key is set but {APPLE_CERTIFICATE} is not: notarization needs a Developer ID signature"
        );
    }
    let entitlements_file = ctx.config.entitlements_plist();
    let entitlements = crate::platform::sign::entitlements_for(&identity, &entitlements_file)?;
    let Some(app) = bundles.of(ArtifactKind::App).next().cloned() else {
        bail!("no .app bundle to sign (the bundle step made none)")
    };
    let signed = signed_dir(ctx).join(app.file_name().expect("an app has a name"));

    let mut fp = ctx.fingerprint(StepName::Sign);
    fp.add_path(&app, &|_| false)?;
    fp.add_value("entitlements", &entitlements);
    fp.add_value("identity", &identity.fingerprint());
    fp.add_value("notarize", if api_key.is_some() { "yes" } else { "no" });
    let what = format!("codesign {} ({})", file_name(&app), identity.describe());
    let outcome = ctx.cached(StepName::Sign, &what, &fp, std::slice::from_ref(&signed), |step| {
        let options = codesign::Options { identity: &identity, entitlements, timestamp: Timestamp::Default };
        let order = codesign::sign(&app, &signed, &options)?;
        step.progress(&format!("signed {} files", order.len()));
        if let Some(key) = &api_key {
            notary::notarize(ctx.ui, key, &notary::default_request(&signed))?;
        } else {
            ctx.ui.info("  not notarized: APPLE_API_ISSUER, APPLE_API_KEY_ID and APPLE_API_KEY are not set");
        }
        Ok(())
    })?;
    replace(bundles, &app, signed);
    Ok(outcome)
}

fn windows(ctx: &Ctx, bundles: &mut Bundles) -> Result<Outcome> {
    let Some(pfx) = Pfx::from_env(&ProcessEnv)? else {
        ctx.ui
            .info("- sign: installers left unsigned (development): set WINDOWS_CERTIFICATE to Authenticode-sign them");
        return Ok(Outcome::NothingToDo);
    };
    let installers: Vec<PathBuf> = bundles
        .items
        .iter()
        .filter(|(k, _)| matches!(k, ArtifactKind::Nsis | ArtifactKind::Msi))
        .map(|(_, p)| p.clone())
        .collect();
    let copies: Vec<PathBuf> = installers.iter().map(|p| signed_dir(ctx).join(file_name(p))).collect();
    let mut fp = ctx.fingerprint(StepName::Sign);
    for installer in &installers {
        fp.add_path(installer, &|_| false)?;
    }
    fp.add_value("certificate", &pfx.fingerprint());
    let outcome = ctx.cached(StepName::Sign, "Authenticode-sign the installers", &fp, &copies, |step| {
        for (installer, copy) in installers.iter().zip(&copies) {
            step.progress(&format!("signing {}", file_name(installer)));
            fsx::copy_atomic(installer, copy)?;
            authenticode(ctx, &pfx, copy)?;
        }
        Ok(())
    })?;
    for (installer, copy) in installers.iter().zip(copies) {
        replace(bundles, installer, copy);
    }
    Ok(outcome)
}

/// Authenticode-signs one file in place with the product's name.
pub fn authenticode(ctx: &Ctx, pfx: &Pfx, file: &Path) -> Result<()> {
    let options = authenticode::Options {
        pfx,
        timestamp_url: Some(authenticode::DEFAULT_TIMESTAMP_URL.into()),
        description: ctx.config.product_name.clone(),
    };
    authenticode::sign(file, &options)
}

/// Windows: signs the shell executable that goes into the installers,
/// before tauri-bundler packs it. (The backend's own executables — the
/// Burrito sidecar, or ERTS in a release folder — are not signed yet.)
pub fn before_bundling(ctx: &Ctx, shell: &Path) -> Result<()> {
    if ctx.target.os() != Os::Windows {
        return Ok(());
    }
    let Some(pfx) = Pfx::from_env(&ProcessEnv)? else { return Ok(()) };
    authenticode(ctx, &pfx, shell)
}

fn replace(bundles: &mut Bundles, old: &Path, new: PathBuf) {
    for (_, path) in bundles.items.iter_mut() {
        if path == old {
            *path = new.clone();
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap_or_default().to_string_lossy().into_owned()
}
