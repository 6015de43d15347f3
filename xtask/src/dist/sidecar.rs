//! Step 2, sidecar: make the backend visible to the bundler. `release`
//! packaging stages the release directory as the resource `backend/`;
//! `burrito` links the Burrito binary as `<shell>/binaries/<sidecar>-<triple>`
//! (a copy on Windows, where it is also Authenticode-signed when a
//! certificate is configured), the name Tauri's `externalBin` expects and
//! strips when bundling: the shell then finds `<sidecar>` next to itself.
//! Both packagings stage the shell's runtime config `hudson-shell.json`.

use std::path::Path;

use anyhow::{Context, Result};

use super::{Ctx, Outcome, backend};
use crate::config::Packaging;
use crate::credentials::ProcessEnv;
use crate::fsx;
use crate::plan::StepName;
use crate::target::Os;
use crate::windows::authenticode::Pfx;

pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let source = backend::output(ctx);
    let resources = ctx.config.resources_dir(ctx.target);
    let runtime_config = serde_json::to_vec_pretty(&ctx.config.shell_runtime_config())?;

    let mut fp = ctx.fingerprint(StepName::Sidecar);
    fp.add_path(&source, &|_| false)?;
    fp.add_value("runtime-config", &String::from_utf8_lossy(&runtime_config));

    match ctx.config.packaging {
        Packaging::Release => {
            ctx.cached(StepName::Sidecar, "stage the backend release", &fp, std::slice::from_ref(&resources), |_| {
                let staged = resources.join("backend");
                fsx::replace_dir_with_copy(&source, &staged)?;
                fsx::write_atomic(&resources.join("hudson-shell.json"), &runtime_config)
            })
        }
        Packaging::Burrito => {
            let link = ctx.config.sidecar_path(ctx.target);
            let windows = ctx.target.os == Os::Windows;
            let pfx = if windows { Pfx::from_env(&ProcessEnv)? } else { None };
            fp.add_value("authenticode", &pfx.as_ref().map(Pfx::fingerprint).unwrap_or_default());
            let outputs = [link.clone(), resources.clone()];
            ctx.cached(StepName::Sidecar, "link the Burrito binary for Tauri", &fp, &outputs, |_| {
                if windows {
                    fsx::copy_atomic(&source, &link)?;
                    if let Some(pfx) = &pfx {
                        crate::dist::sign::authenticode(ctx, pfx, &link)?;
                    }
                } else {
                    link_atomic(&source, &link)?;
                }
                if resources.exists() {
                    std::fs::remove_dir_all(&resources).with_context(|| format!("clearing {}", resources.display()))?;
                }
                fsx::write_atomic(&resources.join("hudson-shell.json"), &runtime_config)
            })
        }
    }
}

/// Points `link` at `target` (absolute), replacing what was there in one
/// rename.
fn link_atomic(target: &Path, link: &Path) -> Result<()> {
    let dir = link.parent().context("the sidecar path has a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let target = std::fs::canonicalize(target).with_context(|| format!("resolving {}", target.display()))?;
    let tmp = dir.join(format!(".tmp-{}", link.file_name().unwrap_or_default().to_string_lossy()));
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&target, &tmp).with_context(|| format!("linking {}", tmp.display()))?;
    #[cfg(not(unix))]
    std::fs::copy(&target, &tmp).with_context(|| format!("copying to {}", tmp.display()))?;
    std::fs::rename(&tmp, link).with_context(|| format!("moving the link to {}", link.display()))?;
    fsx::sync_dir(dir)
}

// The Burrito test double is a shell script wrapping a Unix release.
#[cfg(all(test, unix))]
#[path = "burrito_fixture.rs"]
mod burrito_fixture;
