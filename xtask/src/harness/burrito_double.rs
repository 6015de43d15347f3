//! Test support: the reference backend packaged the Burrito way by the real
//! `backend` and `sidecar` steps, with a **test double of Burrito**
//! (`xtask/tests/fixtures/burrito_test_double.exs`) as the release's wrap
//! step — Burrito itself comes from Hex, which the build machines cannot
//! reach. Used by the Burrito packaging test and by `cargo xtask e2e`, which
//! starts the real shell on the result.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};

use crate::core::config::{Config, Packaging};
use crate::core::target::{Os, Target};
use crate::core::ui::Ui;
use crate::release::{Ctx, step1_backend as backend, step2_sidecar as sidecar};

/// A Burrito build of a copy of the reference backend, in a folder of its
/// own (its fingerprints and staged files never touch the real dist's).
pub struct Fixture {
    pub config: Config,
    pub target: &'static Target,
}

impl Fixture {
    /// Copies the reference backend into `dir`, makes the double its wrap
    /// step, and runs the real backend and sidecar steps for the host.
    pub fn build(real: &Config, dir: &Path, ui: &Ui) -> Result<Fixture> {
        let target = Target::host()?;
        ensure!(target.os() == Os::Linux, "the Burrito test double builds Linux sidecars only");
        let mut config = real.clone();
        config.backend_dir = backend_copy(real, dir)?;
        config.packaging = Packaging::Burrito;
        // The NIF is placed in the copy already, built for the host.
        config.nif_crates = Vec::new();
        config.shell_dir = dir.join("shell");
        config.target_dir = dir.join("target");
        let fixture = Fixture { config, target };
        let ctx = fixture.ctx(ui)?;
        backend::run(&ctx)?;
        sidecar::run(&ctx)?;
        Ok(fixture)
    }

    /// A dist context over the fixture (every step runs: no skipping).
    pub fn ctx<'a>(&'a self, ui: &'a Ui) -> Result<Ctx<'a>> {
        Ctx::new(&self.config, self.target, ui, true)
    }

    /// `<shell>/binaries/<sidecar>-<triple>`, the link the sidecar step made.
    pub fn sidecar_link(&self) -> PathBuf {
        self.config.sidecar_path(self.target)
    }

    /// The staged `hudson-shell.json` (packaging `burrito`).
    pub fn shell_config(&self) -> PathBuf {
        self.config.resources_dir(self.target).join(hudson_lifecycle::contract::SHELL_CONFIG_FILE)
    }
}

/// A copy of the reference backend (sources only) whose release is wrapped
/// by the double, with the host's NIF library in `priv/native/`.
fn backend_copy(real: &Config, dir: &Path) -> Result<PathBuf> {
    let backend = dir.join("backend");
    crate::core::fsx::copy_tree_filtered(&real.backend_dir, &backend, &crate::release::skip_build_output)?;
    let mix_exs = backend.join("mix.exs");
    let mix = std::fs::read_to_string(&mix_exs).with_context(|| format!("reading {}", mix_exs.display()))?;
    ensure!(
        mix.contains("releases: [hudson: []]"),
        "the reference backend's release configuration changed; update the Burrito test double's wiring in {}",
        file!()
    );
    let double_path = real.workspace_root.join("xtask/tests/fixtures/burrito_test_double.exs");
    let double = std::fs::read_to_string(&double_path).with_context(|| format!("reading {}", double_path.display()))?;
    let mix =
        mix.replace("releases: [hudson: []]", "releases: [hudson: [steps: [:assemble, &BurritoTestDouble.wrap/1]]]");
    std::fs::write(&mix_exs, format!("{mix}\n{double}"))?;

    // The NIF as the backend step would place it, built for the host
    // without --target, as `mix test` builds it.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "hudson_nif"])
        .current_dir(&real.workspace_root)
        .status()
        .context("building the NIF")?;
    ensure!(status.success(), "`cargo build --release -p hudson_nif` failed");
    let lib = backend::nif_library(Os::Linux, "hudson_nif", false);
    let native = backend.join("priv/native");
    std::fs::create_dir_all(&native)?;
    std::fs::copy(real.target_dir.join("release").join(&lib), native.join(&lib)).context("placing the NIF")?;
    Ok(backend)
}
