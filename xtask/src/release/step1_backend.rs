//! Step 1, backend: build the NIF crates for the target and put them in the
//! backend's `priv/native/`, then `MIX_ENV=prod mix release`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use xshell::cmd;

use super::Step;
use super::{Ctx, Outcome, skip_build_output};
use crate::core::config::Config;
use crate::core::config::Packaging;
use crate::core::target::Os;
use crate::core::target::Target;
use crate::core::{cmd as run, fsx};
use crate::platform::burrito;
use crate::release::plan::{StepName, StepPlan, rel};

/// Tells the reference backend's Mix compiler task (`compile.hudson_nif`)
/// that the NIFs are already built and placed.
const SKIP_NIF_BUILD: &str = "HUDSON_SKIP_NIF_BUILD";

pub const STEP: Step = Step { name: StepName::Backend, applies: super::every_target, plan, run: |ctx, _| run(ctx) };

fn plan(config: &Config, target: &'static Target) -> StepPlan {
    let triple = target.triple;
    let backend = rel(config, &config.backend_dir);
    let mut commands = Vec::new();
    for nif in &config.nif_crates {
        commands.push(format!("cargo build --release -p {nif} --target {triple}"));
        commands.push(format!("copy the {nif} library into {backend}/priv/native/"));
    }
    let inputs = vec![format!("{backend}/ (sources, without _build and deps)"), "Cargo.lock".into()];
    match config.packaging {
        Packaging::Release => {
            commands.extend([
                format!("cd {backend} && mix deps.get --only prod   (when mix.lock lists deps)"),
                format!("cd {backend} && MIX_ENV=prod mix assets.deploy   (when the alias exists)"),
                format!("cd {backend} && MIX_ENV=prod {SKIP_NIF_BUILD}=1 mix release --overwrite"),
            ]);
            StepPlan {
                name: StepName::Backend,
                summary: "build the NIFs and the backend release".into(),
                commands,
                inputs,
                outputs: vec![format!("{}/", rel(config, &config.release_dir()))],
            }
        }
        Packaging::Burrito => {
            let alias = config.burrito_alias(target);
            commands.push(format!(
                "cd {backend} && MIX_ENV=prod BURRITO_TARGET={alias} {SKIP_NIF_BUILD}=1 mix release --overwrite"
            ));
            StepPlan {
                name: StepName::Backend,
                summary: format!("build the NIFs and the Burrito binary for alias `{alias}`"),
                commands,
                inputs,
                outputs: vec![rel(config, &burrito::output(config, target))],
            }
        }
    }
}

pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let config = ctx.config;
    let mut fp = ctx.fingerprint(StepName::Backend);
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
            let built = config.target_dir.join(triple).join("release").join(nif_library(ctx.target.os(), nif, false));
            let placed = config.backend_dir.join("priv/native").join(nif_library(ctx.target.os(), nif, true));
            fsx::copy_atomic(&built, &placed)
                .with_context(|| format!("placing the {nif} NIF library into the backend's priv/native/"))?;
        }

        let _dir = ctx.sh.push_dir(&config.backend_dir);
        let _env = [
            ctx.sh.push_env("MIX_ENV", "prod"),
            // The NIFs were built above, for the right target.
            ctx.sh.push_env(SKIP_NIF_BUILD, "1"),
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
                // Filesystems keep mtimes to the second or better; one second
                // of slack keeps a fresh file from looking older than the build.
                let started = SystemTime::now() - Duration::from_secs(1);
                run::run(cmd!(ctx.sh, "mix release --overwrite"), step)?;
                check_fresh(&outputs[0], started)?;
                for removed in burrito::clear_extraction_cache(&config.release, &config.version)? {
                    ctx.ui.info(format!(
                        "  removed Burrito's extraction folder {} (a rebuilt binary of an unchanged version would run the old code from it)",
                        removed.display()
                    ));
                }
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
        Packaging::Burrito => burrito::output(ctx.config, ctx.target),
    }
}

/// Burrito deletes its output before writing a new one, so a file older
/// than this build means the release step did not produce it (another
/// alias was built, or Burrito's step is missing from the release) and it
/// would ship an earlier build.
fn check_fresh(output: &Path, started: SystemTime) -> Result<()> {
    let dir = output.parent().expect("burrito_out/<file>");
    let Ok(meta) = std::fs::metadata(output) else {
        let present: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned())).collect())
            .unwrap_or_default();
        bail!(
            "`mix release` did not write {} (in {}: {}). Is `&Burrito.wrap/1` in the release's steps, and does the alias exist in its burrito targets?",
            output.display(),
            dir.display(),
            if present.is_empty() { "nothing".into() } else { present.join(", ") }
        );
    };
    let modified = meta.modified().with_context(|| format!("reading the time of {}", output.display()))?;
    if modified < started {
        bail!(
            "{} is older than this build: it is a stale file from an earlier run, not this build's output. \
             `mix release` did not rebuild it (check BURRITO_TARGET and the release's Burrito steps); delete it and run again",
            output.display()
        );
    }
    Ok(())
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
/// macOS included). The reference backend says the same in Elixir (its Mix
/// compiler task builds the NIF for `mix compile` and `mix test`, and
/// `Hudson.Native` loads it); Elixir cannot call this function, so a test
/// reads those files and fails when they disagree.
pub fn nif_library(os: Os, crate_name: &str, placed: bool) -> String {
    match (os, placed) {
        (Os::Windows, _) => format!("{crate_name}.dll"),
        (Os::Darwin, false) => format!("lib{crate_name}.dylib"),
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
        assert_eq!(nif_library(Os::Darwin, "n", false), "libn.dylib");
        assert_eq!(nif_library(Os::Darwin, "n", true), "libn.so");
        assert_eq!(nif_library(Os::Windows, "n", true), "n.dll");
    }

    #[test]
    fn the_elixir_side_builds_and_names_the_nif_the_same_way() {
        let backend = concat!(env!("CARGO_MANIFEST_DIR"), "/../backend");
        let read = |path: &str| {
            let path = format!("{backend}/{path}");
            (std::fs::read_to_string(&path).unwrap(), path)
        };
        let (task, task_path) = read("mix/tasks/compile.hudson_nif.ex");
        let (native, native_path) = read("lib/hudson/native.ex");
        let has = |text: &str, path: &str, line: &str| assert!(text.contains(line), "{path} has no `{line}`");

        let config = Config::load().unwrap();
        for nif in &config.nif_crates {
            has(&task, &task_path, &format!("@crate \"{nif}\""));
        }
        // Built: `cargo build --release -p <crate> --target <triple>`, as `plan` says.
        has(&task, &task_path, r#"["build", "--release", "--quiet", "-p", @crate]"#);
        has(&task, &task_path, r#"["--target", target]"#);
        has(&task, &task_path, &format!("System.get_env(\"{SKIP_NIF_BUILD}\") == \"1\""));
        let c = "#{@crate}";
        for (os, atom) in [(Os::Windows, ":windows"), (Os::Darwin, ":macos"), (Os::Linux, ":unix")] {
            has(&task, &task_path, &format!("{atom} -> \"{}\"", nif_library(os, c, false)));
        }
        // Placed in priv/native/ and loaded by that name without its extension.
        let (windows, unix) = (nif_library(Os::Windows, c, true), nif_library(Os::Linux, c, true));
        has(&task, &task_path, &format!("if os(target) == :windows, do: \"{windows}\", else: \"{unix}\""));
        let stem = |os| nif_library(os, "hudson_nif", true).rsplit_once('.').unwrap().0.to_owned();
        has(&native, &native_path, &format!("do: \"{}\", else: \"{}\"", stem(Os::Windows), stem(Os::Linux)));
    }
}
