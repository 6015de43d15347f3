//! Step 2, sidecar: make the backend visible to the bundler. `release`
//! packaging stages the release directory as the resource `backend/`;
//! `burrito` links the Burrito binary as `<shell>/binaries/<sidecar>-<triple>`
//! (a copy on Windows, where it is also Authenticode-signed when a
//! certificate is configured), the name Tauri's `externalBin` expects and
//! strips when bundling: the shell then finds `<sidecar>` next to itself.
//! Both packagings stage the shell's runtime config `hudson-shell.json` and
//! the app version `hudson-version.json` (the shell compiles in neither).

use std::path::Path;

use anyhow::{Context, Result};
use hudson_lifecycle::contract::{AppVersion, SHELL_CONFIG_FILE, VERSION_FILE};

use super::Step;
use super::{Ctx, Outcome};
use crate::core::config::Config;
use crate::core::config::Packaging;
use crate::core::credentials::ProcessEnv;
use crate::core::fsx;
use crate::core::target::Os;
use crate::core::target::Target;
use crate::platform::windows::authenticode::Pfx;
use crate::release::plan::{StepName, StepPlan, rel};

pub const STEP: Step = Step { name: StepName::Sidecar, applies: super::every_target, plan, run: |ctx, _| run(ctx) };

fn plan(config: &Config, target: &'static Target) -> StepPlan {
    let resources = rel(config, &config.resources_dir(target));
    let runtime_config = format!("{resources}/{SHELL_CONFIG_FILE}");
    let version_file = format!("{resources}/{VERSION_FILE}");
    match config.packaging {
        Packaging::Release => {
            let release_dir = rel(config, &config.release_dir());
            StepPlan {
                name: StepName::Sidecar,
                summary:
                    "stage the release directory, the shell's runtime config and the app version as bundle resources"
                        .into(),
                commands: vec![format!("copy {release_dir}/ to {resources}/backend/")],
                inputs: vec![format!("{release_dir}/"), "Cargo.toml [workspace.metadata.hudson]".into()],
                outputs: vec![format!("{resources}/backend/"), runtime_config, version_file],
            }
        }
        Packaging::Burrito => {
            let out = rel(config, &crate::platform::burrito::output(config, target));
            let sidecar_path = rel(config, &config.sidecar_path(target));
            StepPlan {
                name: StepName::Sidecar,
                summary: "link the Burrito binary where Tauri's externalBin expects it".into(),
                commands: vec![if target.os() == Os::Windows {
                    format!("copy {out} to {sidecar_path}")
                } else {
                    format!("ln -s {out} {sidecar_path}")
                }],
                inputs: vec![out],
                outputs: vec![sidecar_path, runtime_config, version_file],
            }
        }
    }
}

pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let source = super::step1_backend::output(ctx);
    let resources = ctx.config.resources_dir(ctx.target);
    let runtime_config = ctx.config.shell_runtime_config(ctx.target).to_pretty_json();
    let version = AppVersion::new(&ctx.config.version).to_pretty_json();

    let mut fp = ctx.fingerprint(StepName::Sidecar);
    fp.add_path(&source, &|_| false)?;
    fp.add_value("runtime-config", &String::from_utf8_lossy(&runtime_config));
    fp.add_value("app-version", &ctx.config.version);

    match ctx.config.packaging {
        Packaging::Release => {
            ctx.cached(StepName::Sidecar, "stage the backend release", &fp, std::slice::from_ref(&resources), |_| {
                let staged = resources.join("backend");
                fsx::replace_dir_with_copy(&source, &staged)?;
                fsx::write_atomic(&resources.join(SHELL_CONFIG_FILE), &runtime_config)?;
                fsx::write_atomic(&resources.join(VERSION_FILE), &version)
            })
        }
        Packaging::Burrito => {
            let link = ctx.config.sidecar_path(ctx.target);
            let windows = ctx.target.os() == Os::Windows;
            let pfx = if windows { Pfx::from_env(&ProcessEnv)? } else { None };
            fp.add_value("authenticode", &pfx.as_ref().map(Pfx::fingerprint).unwrap_or_default());
            let outputs = [link.clone(), resources.clone()];
            ctx.cached(StepName::Sidecar, "link the Burrito binary for Tauri", &fp, &outputs, |_| {
                if windows {
                    fsx::copy_atomic(&source, &link)?;
                    if let Some(pfx) = &pfx {
                        crate::release::step5_sign::authenticode(ctx, pfx, &link)?;
                    }
                } else {
                    link_atomic(&source, &link)?;
                }
                if resources.exists() {
                    std::fs::remove_dir_all(&resources).with_context(|| format!("clearing {}", resources.display()))?;
                }
                fsx::write_atomic(&resources.join(SHELL_CONFIG_FILE), &runtime_config)?;
                fsx::write_atomic(&resources.join(VERSION_FILE), &version)
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
