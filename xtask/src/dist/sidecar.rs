//! Step 2, sidecar: make the backend visible to the bundler. `release`
//! packaging stages the release directory as the resource `backend/`; both
//! packagings stage the shell's runtime config `hudson-shell.json`.

use std::path::PathBuf;

use anyhow::Result;

use super::{Ctx, Outcome, backend};
use crate::config::Packaging;
use crate::fsx;
use crate::plan::StepName;

/// Folder whose content becomes the bundle's resource directory.
pub fn resources_dir(ctx: &Ctx) -> PathBuf {
    ctx.config.work_dir(ctx.target).join("resources")
}

pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let source = backend::output(ctx);
    let resources = resources_dir(ctx);
    let runtime_config = serde_json::to_vec_pretty(&ctx.config.shell_runtime_config())?;

    let mut fp = ctx.fingerprint(StepName::Sidecar)?;
    fp.add_path(&source, &|_| false)?;
    fp.add_value("runtime-config", &String::from_utf8_lossy(&runtime_config));

    match ctx.config.packaging {
        Packaging::Release => {
            ctx.cached(StepName::Sidecar, "stage the backend release", &fp, &[resources.clone()], |_| {
                let staged = resources.join("backend");
                fsx::replace_dir_with_copy(&source, &staged)?;
                fsx::write_atomic(&resources.join("hudson-shell.json"), &runtime_config)
            })
        }
        Packaging::Burrito => {
            anyhow::bail!("burrito packaging is planned but not implemented yet: set backend.packaging = \"release\"")
        }
    }
}
