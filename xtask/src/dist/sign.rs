//! Step 5, sign: embedded code signatures. Linux packages carry none (their
//! integrity comes from the updater signatures of the next step); macOS and
//! Windows bundles are signed on their own runners.

use anyhow::{Result, bail};

use super::bundle::Bundles;
use super::{Ctx, Outcome};
use crate::target::Os;

pub fn run(ctx: &Ctx, _bundles: &Bundles) -> Result<Outcome> {
    match ctx.target.os {
        Os::Linux => {
            ctx.ui.info("- sign: nothing to embed in Linux packages");
            Ok(Outcome::NothingToDo)
        }
        Os::Macos | Os::Windows => {
            bail!("code signing for {} is not implemented yet", ctx.target.triple)
        }
    }
}
