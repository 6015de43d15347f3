//! Step 3, shell: `cargo build --release` of the Tauri shell for the target,
//! with tauri's `custom-protocol` (a production build serving its own assets).

use anyhow::Result;
use xshell::cmd;

use super::{Ctx, Outcome, skip_build_output};
use crate::cmd as run;
use crate::plan::StepName;

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
