//! Step 7, macOS only, dmg: the disk image users download, made from the
//! signed (and, with credentials, notarized and stapled) app with `hdiutil`,
//! then signed itself and notarized and stapled in turn. It comes after the
//! updater step so both ship the same signed app.

use anyhow::{Context, Result, bail};
use signing::dist::ArtifactKind;
#[cfg(feature = "release-tools")]
use xshell::cmd;

use super::Step;
use super::step4_bundle::Bundles;
use super::{Ctx, Outcome};
#[cfg(feature = "release-tools")]
use crate::core::cmd as run;
use crate::core::config::Config;
#[cfg(feature = "release-tools")]
use crate::core::credentials::ProcessEnv;
use crate::core::target::{Os, Target};
#[cfg(feature = "release-tools")]
use crate::platform::macos::codesign::{self, Timestamp};
#[cfg(feature = "release-tools")]
use crate::platform::macos::identity::Identity;
#[cfg(feature = "release-tools")]
use crate::platform::macos::notary::{self, ApiKey};
use crate::release::plan::{StepName, StepPlan, rel};

pub const STEP: Step = Step {
    name: StepName::Dmg,
    applies: |target| target.os() == Os::Darwin,
    plan,
    run: |ctx, built| run(ctx, &mut built.bundles),
};

fn plan(config: &Config, target: &'static Target) -> StepPlan {
    let dmg = rel(config, &config.dmg_path(target));
    let product = &config.product_name;
    StepPlan {
        name: StepName::Dmg,
        summary: "the disk image, from the signed (and notarized) app; signed, notarized and stapled in turn".into(),
        commands: vec![
            format!("hdiutil create -volname {product} -srcfolder <signed App.app> -format UDZO {dmg}"),
            format!("cargo xtask sign --target {} {dmg}", target.triple),
            format!("cargo xtask notarize {dmg}   (when the App Store Connect key is set)"),
        ],
        inputs: vec![format!("{}/{product}.app", rel(config, &config.work_dir(target).join("signed")))],
        outputs: vec![dmg],
    }
}

/// Without the release tools there is no apple-codesign to sign the image.
#[cfg(not(feature = "release-tools"))]
pub fn run(_: &Ctx, _: &mut Bundles) -> Result<Outcome> {
    Err(super::without_release_tools("the dmg step"))
}

#[cfg(feature = "release-tools")]
pub fn run(ctx: &Ctx, bundles: &mut Bundles) -> Result<Outcome> {
    let identity = Identity::from_env(&ProcessEnv)?;
    let api_key = ApiKey::from_env(&ProcessEnv)?;
    let Some(app) = bundles.of(ArtifactKind::App).next().cloned() else { bail!("no signed .app to put in a dmg") };
    let dmg = ctx.config.dmg_path(ctx.target);
    let mut fp = ctx.fingerprint(StepName::Dmg);
    fp.add_path(&app, &|_| false)?;
    fp.add_value("identity", &identity.fingerprint());
    fp.add_value("notarize", if api_key.is_some() { "yes" } else { "no" });
    let outcome =
        ctx.cached(StepName::Dmg, "hdiutil create, sign, notarize", &fp, std::slice::from_ref(&dmg), |_| {
            let dir = dmg.parent().expect("dmg/<file>");
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let scratch = tempfile::Builder::new().prefix(".tmp-dmg-").tempdir_in(dir)?;
            let raw = scratch.path().join(dmg.file_name().expect("a name"));
            let volume = &ctx.config.product_name;
            let step = ctx.ui.step("dmg", "hdiutil create");
            run::run(cmd!(ctx.sh, "hdiutil create -volname {volume} -srcfolder {app} -ov -format UDZO {raw}"), &step)?;
            step.done("disk image");
            let entitlements = crate::platform::sign::entitlements_for(&identity, &ctx.config.entitlements_plist())?;
            let options = codesign::Options { identity: &identity, entitlements, timestamp: Timestamp::Default };
            codesign::sign(&raw, &raw, &options)?;
            if let Some(key) = &api_key {
                notary::notarize(ctx.ui, key, &notary::default_request(&raw))?;
            }
            std::fs::rename(&raw, &dmg).with_context(|| format!("moving the disk image to {}", dmg.display()))?;
            Ok(())
        })?;
    bundles.items.push((ArtifactKind::Dmg, dmg));
    Ok(outcome)
}
