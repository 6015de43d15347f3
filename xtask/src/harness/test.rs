//! `cargo xtask test`: every test, in the order a failure is cheapest to
//! see — formatting, the backend's ExUnit suite, the Rust workspace's tests,
//! clippy, the macOS and Windows type-check (`check_targets`), then a real
//! `dist` of the host target and the checks on what it built (declared
//! outputs, reproducibility, signatures, secrets: `release_checks`; the
//! lifecycle against the real release; the shell end to end; smoke).

use std::time::Instant;

use anyhow::{Context, Result};
use xshell::cmd;

use crate::core::config::Config;
use crate::core::ui::{Ui, seconds};

pub fn run(ui: &Ui) -> Result<()> {
    let started = Instant::now();
    let config = Config::load()?;
    let sh = xshell::Shell::new()?;
    sh.change_dir(&config.workspace_root);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    stage(ui, "cargo fmt --check", || Ok(cmd!(sh, "{cargo} fmt --all -- --check").run()?))?;
    stage(ui, "actionlint (release workflow)", || Ok(cmd!(sh, "actionlint .github/workflows/release.yml").run()?))?;
    stage(ui, "mix test (backend)", || {
        let _dir = sh.push_dir(&config.backend_dir);
        Ok(cmd!(sh, "mix test").run()?)
    })?;
    stage(ui, "cargo test --workspace", || Ok(cmd!(sh, "{cargo} test --workspace").run()?))?;
    stage(ui, "cargo clippy (host; xtask also without its release tools)", || {
        cmd!(sh, "{cargo} clippy --workspace --all-targets --locked -- -D warnings").run()?;
        Ok(cmd!(sh, "{cargo} clippy -p xtask --no-default-features --locked -- -D warnings").run()?)
    })?;
    stage(ui, "cargo xtask check-targets (macOS and Windows type-check and clippy)", || {
        crate::harness::check_targets::run(ui, crate::harness::check_targets::Args { targets: Vec::new() })
    })?;
    stage(ui, "cargo xtask dist (host)", || crate::release::run(ui, None, false, None))?;
    stage(ui, "each step's declared outputs are what dist wrote", || crate::harness::release_checks::plan_outputs(ui))?;
    stage(ui, "dist --force reproduces the updater artifacts", || crate::harness::release_checks::reproducible(ui))?;
    stage(ui, "minisign and Tauri's verifier accept the .sig files", || {
        crate::harness::release_checks::signatures(ui)
    })?;
    stage(ui, "no secret in dist + publish output", || crate::harness::release_checks::secrets(ui))?;
    stage(ui, "lifecycle against the real release", || {
        let release =
            crate::harness::e2e::Build::from_dist(&config, crate::core::target::Target::host()?)?.release()?;
        let _env = sh.push_env("HUDSON_RELEASE_DIR", &release);
        Ok(cmd!(sh, "{cargo} test -p hudson-lifecycle --test real_backend -- --ignored --test-threads=1").run()?)
    })?;
    stage(ui, "secure storage: real release, real Secret Service, secret-tool", || {
        let release =
            crate::harness::e2e::Build::from_dist(&config, crate::core::target::Target::host()?)?.release()?;
        crate::harness::secure_storage::run(&sh, &cargo, &release)
    })?;
    stage(ui, "cargo xtask e2e (shell under Xvfb)", || {
        crate::harness::e2e::run(ui, &crate::harness::e2e::Options::default())
    })?;
    stage(ui, "cargo xtask smoke --shell (the packages dist built)", || {
        crate::harness::secure_storage::smoke_with_keyring(&sh)
    })?;
    // Smoke must also fail, at the right step, on a broken copy of the real
    // package: these tests need dist's output, so they are #[ignore]d in
    // `cargo test --workspace` and run here.
    stage(ui, "smoke failure tests on the real package", || {
        Ok(cmd!(sh, "{cargo} test --workspace -- --ignored smoke::tests::real").run()?)
    })?;
    // Last: its scratch builds of the next versions share the target folder,
    // so afterwards the release shell there is theirs (the versioned dist
    // folders the stages above read stay as they are).
    stage(ui, "cargo xtask e2e-update (the installed app updates itself)", || {
        crate::harness::e2e_update::run(ui, &crate::harness::e2e_update::Options::default())
    })?;
    stage(ui, "target/dist holds only this version (test builds stay out of the release output)", || {
        crate::harness::release_checks::dist_holds_only_this_version(ui)
    })?;
    ui.info(format!("all tests passed in {}", seconds(started.elapsed())));
    Ok(())
}

fn stage(ui: &Ui, name: &str, work: impl FnOnce() -> Result<()>) -> Result<()> {
    ui.info(format!("==> test: {name}"));
    let started = Instant::now();
    work().with_context(|| format!("test stage `{name}` failed"))?;
    ui.info(format!("✓ test: {name} ({})", seconds(started.elapsed())));
    Ok(())
}
