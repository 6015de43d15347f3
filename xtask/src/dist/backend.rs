//! Step 1, backend: build the NIF crates for the target and put them in the
//! backend's `priv/native/`, then `MIX_ENV=prod mix release`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::cmd;

use super::{Ctx, Outcome, skip_build_output};
use crate::config::Packaging;
use crate::plan::StepName;
use crate::target::Os;
use crate::{cmd as run, fsx};

pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let config = ctx.config;
    let mut fp = ctx.fingerprint(StepName::Backend)?;
    fp.add_path(&config.backend_dir, &skip_build_output)?;
    for nif in &config.nif_crates {
        fp.add_path(&nif_dir(ctx, nif)?, &skip_build_output)?;
    }
    fp.add_path(&config.workspace_root.join("Cargo.lock"), &|_| false)?;
    fp.add_value("rustc", &ctx.rustc_version());
    fp.add_value("packaging", config.packaging.as_str());
    let outputs = [output(ctx)];

    ctx.cached(StepName::Backend, "NIFs and mix release", &fp, &outputs, |step| {
        let triple = ctx.target.triple;
        let cargo = ctx.cargo();
        for nif in &config.nif_crates {
            step.progress(&format!("cargo build -p {nif}"));
            run::run(cmd!(ctx.sh, "{cargo} build --release -p {nif} --target {triple}"), step)?;
            let built = config.target_dir.join(triple).join("release").join(nif_library(ctx.target.os, nif, false));
            let placed = config.backend_dir.join("priv/native").join(nif_library(ctx.target.os, nif, true));
            fsx::copy_atomic(&built, &placed)
                .with_context(|| format!("placing the {nif} NIF library into the backend's priv/native/"))?;
        }

        let _dir = ctx.sh.push_dir(&config.backend_dir);
        let _env = [
            ctx.sh.push_env("MIX_ENV", "prod"),
            // The NIFs were built above, for the right target.
            ctx.sh.push_env("HUDSON_SKIP_NIF_BUILD", "1"),
        ];
        if has_deps(&config.backend_dir) {
            run::run(cmd!(ctx.sh, "mix deps.get --only prod"), step)?;
        }
        if defines_alias(&config.backend_dir, "assets.deploy")? {
            run::run(cmd!(ctx.sh, "mix assets.deploy"), step)?;
        }
        match config.packaging {
            Packaging::Release => run::run(cmd!(ctx.sh, "mix release --overwrite"), step)?,
            Packaging::Burrito => {
                let alias = config.burrito_alias(ctx.target);
                let _burrito = ctx.sh.push_env("BURRITO_TARGET", &alias);
                run::run(cmd!(ctx.sh, "mix release --overwrite"), step)?;
            }
        }
        if !outputs[0].exists() {
            bail!("`mix release` finished but {} does not exist", outputs[0].display());
        }
        Ok(())
    })
}

/// What the step leaves behind.
pub fn output(ctx: &Ctx) -> PathBuf {
    match ctx.config.packaging {
        Packaging::Release => ctx.config.release_dir(),
        Packaging::Burrito => ctx.config.backend_dir.join("burrito_out").join(format!(
            "{}_{}{}",
            ctx.config.release,
            ctx.config.burrito_alias(ctx.target),
            ctx.target.exe_suffix()
        )),
    }
}

fn nif_dir(ctx: &Ctx, nif: &str) -> Result<PathBuf> {
    ctx.config
        .packages
        .iter()
        .find(|(name, _, _)| name == nif)
        .and_then(|(_, manifest, _)| manifest.parent().map(Path::to_path_buf))
        .with_context(|| format!("NIF crate `{nif}` is not a workspace package"))
}

/// The NIF library's file name as cargo builds it (`placed = false`) or as
/// `:erlang.load_nif` looks for it (`placed = true`: `.so` on every Unix,
/// macOS included).
pub fn nif_library(os: Os, crate_name: &str, placed: bool) -> String {
    match (os, placed) {
        (Os::Windows, _) => format!("{crate_name}.dll"),
        (Os::Macos, false) => format!("lib{crate_name}.dylib"),
        _ => format!("lib{crate_name}.so"),
    }
}

fn has_deps(backend: &Path) -> bool {
    std::fs::read_to_string(backend.join("mix.lock")).is_ok_and(|lock| lock.contains(':'))
}

fn defines_alias(backend: &Path, alias: &str) -> Result<bool> {
    let mix = std::fs::read_to_string(backend.join("mix.exs"))
        .with_context(|| format!("reading {}", backend.join("mix.exs").display()))?;
    Ok(mix.contains(&format!("\"{alias}\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nif_library_names() {
        assert_eq!(nif_library(Os::Linux, "n", false), "libn.so");
        assert_eq!(nif_library(Os::Macos, "n", false), "libn.dylib");
        assert_eq!(nif_library(Os::Macos, "n", true), "libn.so");
        assert_eq!(nif_library(Os::Windows, "n", true), "n.dll");
    }
}
