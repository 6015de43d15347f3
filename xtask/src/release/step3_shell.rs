//! Step 3, shell: `cargo build --release` of the Tauri shell for the target,
//! with tauri's `custom-protocol` (a production build serving its own assets).

use anyhow::Result;
use xshell::cmd;

use super::Step;
use super::{Ctx, Outcome, skip_build_output};
use crate::core::cmd as run;
use crate::core::config::Config;
use crate::core::target::Target;
use crate::release::plan::{StepName, StepPlan, rel};

pub const STEP: Step = Step { name: StepName::Shell, applies: super::every_target, plan, run: |ctx, _| run(ctx) };

fn plan(config: &Config, target: &'static Target) -> StepPlan {
    StepPlan {
        name: StepName::Shell,
        summary: "build the shell in release mode (tauri custom-protocol)".into(),
        commands: vec![format!(
            "cargo build --release -p {} --target {} --features custom-protocol",
            config.shell_package, target.triple
        )],
        inputs: config
            .shell_source_dirs
            .iter()
            .map(|d| format!("{}/", rel(config, d)))
            .chain(["Cargo.lock".into()])
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
            run::run(
                cmd!(ctx.sh, "{cargo} build --release -p {package} --target {triple} --features custom-protocol"),
                step,
            )
        },
    )
}
