//! Step 7 on macOS, dmg: the disk image users download, made from the
//! signed (and, with credentials, notarized and stapled) app with `hdiutil`,
//! then signed itself and notarized and stapled in turn. It comes after the
//! updater step so both ship the same signed app.

use anyhow::{Context, Result, bail};
use signing::dist::ArtifactKind;
use xshell::cmd;

use super::bundle::Bundles;
use super::{Ctx, Outcome};
use crate::cmd as run;
use crate::credentials::ProcessEnv;
use crate::macos::codesign::{self, Timestamp};
use crate::macos::identity::Identity;
use crate::macos::notary::{self, ApiKey};
use crate::plan::StepName;

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
            let entitlements = crate::sign::entitlements_for(&identity, &ctx.config.entitlements_plist())?;
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
