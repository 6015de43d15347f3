//! `cargo xtask dist`: the release pipeline of one target. Each step is one
//! file, named in run order (`step1_backend` … `step8_record`), defining one
//! [`Step`]: its plan ("what will you do": commands, inputs, outputs, which
//! `cargo xtask plan` prints) and its run ("do it", which `dist` calls), so
//! the two cannot drift apart. A step whose inputs and outputs match its last
//! run's fingerprint is skipped.

pub mod plan;
pub mod step1_backend;
pub mod step2_sidecar;
mod step3_shell;
mod step4_bundle;
pub mod step5_sign;
pub mod step6_updater;
mod step7_dmg;
pub mod step8_record;

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use signing::dist::ArtifactKind;

use crate::core::config::Config;
use crate::core::fsx::{self, Fingerprint};
use crate::core::keys::{self, SigningKey};
use crate::core::openpgp::{self, OpenPgpKey, OpenPgpPublicKey};
use crate::core::target::{Target, host_triple};
use crate::core::ui::{self, Ui, seconds};
use crate::core::version;
use plan::{StepName, StepPlan};

/// One step of the pipeline: one definition answers both "what will you
/// do" (`plan`) and "do it" (`run`).
pub struct Step {
    pub name: StepName,
    /// Whether a target's pipeline has this step (the dmg: macOS only).
    pub applies: fn(&Target) -> bool,
    pub plan: fn(&Config, &'static Target) -> StepPlan,
    pub run: fn(&Ctx, &mut Built) -> Result<Outcome>,
}

/// The pipeline, in run order.
pub const PIPELINE: &[Step] = &[
    step1_backend::STEP,
    step2_sidecar::STEP,
    step3_shell::STEP,
    step4_bundle::STEP,
    step5_sign::STEP,
    step6_updater::STEP,
    step7_dmg::STEP,
    step8_record::STEP,
];

/// The steps `target` runs, in order.
pub fn steps(target: &Target) -> impl Iterator<Item = &'static Step> {
    PIPELINE.iter().filter(move |step| (step.applies)(target))
}

fn every_target(_: &Target) -> bool {
    true
}

/// The error of a step or command that needs the release tools in an xtask
/// built without them (`cargo xtask-light`).
#[cfg_attr(feature = "release-tools", allow(dead_code))]
pub fn without_release_tools(what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} needs xtask's release tools (tauri-bundler, apple-codesign), and this xtask was built without them \
         (`cargo xtask-light`, `--no-default-features`): run it as `cargo xtask …`"
    )
}

/// What the steps of one run hand on: the installers the bundle step made
/// (re-pointed at signed copies by sign and dmg) and the updater artifacts.
#[derive(Default)]
pub struct Built {
    pub bundles: step4_bundle::Bundles,
    pub updater: step6_updater::Updater,
}

/// Everything a step needs.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub target: &'static Target,
    pub ui: &'a Ui,
    pub sh: xshell::Shell,
    force: bool,
    /// The key this run signs with, loaded once ([`Ctx::signing_key`]).
    signing_key: OnceCell<SigningKey>,
    /// The package repositories' key, when the rpm is signed with it
    /// ([`Ctx::rpm_signing_key`]).
    rpm_key: OnceCell<Option<OpenPgpKey>>,
}

/// What `dist --format json` prints.
#[derive(Debug, Serialize)]
struct Summary {
    target: &'static str,
    version: String,
    dist_dir: String,
    steps: Vec<StepReport>,
    seconds: f64,
    manifest: signing::dist::DistManifest,
}

#[derive(Debug, Serialize)]
struct StepReport {
    name: &'static str,
    outcome: &'static str,
    seconds: f64,
}

pub fn run(ui: &Ui, target: Option<&str>, force: bool, out_dir: Option<&std::path::Path>) -> Result<()> {
    let started = Instant::now();
    let mut config = Config::load()?;
    if let Some(dir) = out_dir {
        config.dist_root = std::path::absolute(dir)
            .with_context(|| format!("--out-dir {}: cannot make it an absolute path", dir.display()))?;
    }
    let target = Target::given_or_host(target)?;
    if !target.is_host() {
        bail!(
            "`dist --target {}` must run on its own kind of machine (this one is {}): NIFs and the shell are not cross-built. \
             CI builds it on the `{}` runner; `cargo xtask plan --target {}` shows what it will do.",
            target.triple,
            host_triple(),
            target.runner,
            target.triple
        );
    }
    version::check(&config)?;
    version::check_identity(&config)?;

    let ctx = Ctx::new(&config, target, ui, force)?;
    ctx.rpm_signing_key()?;
    let mut reports = Vec::new();
    let mut built = Built::default();
    for step in steps(target) {
        let outcome = (step.run)(&ctx, &mut built)?;
        reports.push(StepReport { name: step.name.as_str(), outcome: outcome.label(), seconds: outcome.seconds() });
    }

    let dist_dir = config.dist_dir(target);
    let manifest = step8_record::read_manifest(&dist_dir)?;
    let total = started.elapsed();
    ui.info(format!(
        "dist {} {} finished in {}: {}",
        config.version,
        target.triple,
        seconds(total),
        config.relative(&dist_dir)
    ));
    for artifact in &manifest.artifacts {
        ui.info(format!("  {:<8} {:>10} bytes  {}", artifact.kind.as_str(), artifact.size, artifact.path));
    }
    ui.emit(&Summary {
        target: target.triple,
        version: config.version.clone(),
        dist_dir: dist_dir.display().to_string(),
        steps: reports,
        seconds: total.as_secs_f64(),
        manifest,
    });
    Ok(())
}

/// tauri-bundler's own rpm signing key variable.
const TAURI_RPM_KEY_VAR: &str = "TAURI_SIGNING_RPM_KEY";

/// True when `dist` signs `target`'s rpm with the package repositories'
/// key: it builds one and `signing.openpgp-public-key` is configured (the
/// plan says so, and the run asks for the key).
pub fn signs_rpm(config: &Config, target: &Target) -> bool {
    config.signing.openpgp_public_key.is_some() && target.artifact_kinds().any(|k| k == ArtifactKind::Rpm)
}

/// See [`Ctx::rpm_signing_key`]; `given` reads the key (from the
/// environment), called only when one is needed.
fn rpm_signing_key(
    config: &Config,
    target: &Target,
    given: impl FnOnce() -> Result<Option<OpenPgpKey>>,
) -> Result<Option<OpenPgpKey>> {
    let (true, Some(public)) = (signs_rpm(config, target), &config.signing.openpgp_public_key) else {
        return Ok(None);
    };
    // tauri-bundler signs the rpm itself when this is set, and a signed rpm
    // cannot take `%config` nor our signature: say so before building.
    if std::env::var_os(TAURI_RPM_KEY_VAR).is_some_and(|value| !value.is_empty()) {
        bail!(
            "{TAURI_RPM_KEY_VAR} is set, but with signing.openpgp-public-key configured `dist` signs the rpm itself with the package repositories' key ({}): unset {TAURI_RPM_KEY_VAR}",
            openpgp::PRIVATE_KEY_VAR
        );
    }
    let Some(key) = given()? else {
        let configured = OpenPgpPublicKey::read_configured(public)?;
        bail!(
            "signing.openpgp-public-key is configured, so `dist` signs the rpm with the package repositories' key (dnf checks it: gpgcheck=1): set {} (and {}) to the secret key of {} ({}), or remove signing.openpgp-public-key to build packages without the repository",
            openpgp::PRIVATE_KEY_VAR,
            openpgp::PASSWORD_VAR,
            public.display(),
            configured.fingerprint()
        );
    };
    key.ensure_configured(public)?;
    Ok(Some(key))
}

/// How a step ended.
pub enum Outcome {
    Ran(Duration),
    Skipped,
    NothingToDo,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Ran(_) => "ran",
            Outcome::Skipped => "skipped (unchanged)",
            Outcome::NothingToDo => "nothing to do",
        }
    }

    fn seconds(&self) -> f64 {
        match self {
            Outcome::Ran(d) => d.as_secs_f64(),
            _ => 0.0,
        }
    }
}

/// The last successful run of a step: its input digest and the digest of
/// each output it left.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Stamp {
    inputs: String,
    outputs: BTreeMap<String, String>,
}

impl<'a> Ctx<'a> {
    /// Everything a step needs for `target`; `force` runs steps whose
    /// fingerprints match.
    pub fn new(config: &'a Config, target: &'static Target, ui: &'a Ui, force: bool) -> Result<Ctx<'a>> {
        Ok(Ctx {
            config,
            target,
            ui,
            sh: xshell::Shell::new()?,
            force,
            signing_key: OnceCell::new(),
            rpm_key: OnceCell::new(),
        })
    }

    /// The key the rpm is signed with, for dnf's `gpgcheck=1`: the package
    /// repositories' OpenPGP key from `HUDSON_OPENPGP_PRIVATE_KEY`, needed
    /// when this target builds an rpm and `signing.openpgp-public-key` is
    /// configured (the rpm then goes into the channels' yum repositories,
    /// and ships their `.repo` when the build also has `updates`), and
    /// `None` otherwise. It must be the configured key. `dist` asks for it before
    /// its first step, so a missing key fails in seconds, not after the
    /// build.
    pub fn rpm_signing_key(&self) -> Result<Option<&OpenPgpKey>> {
        if let Some(key) = self.rpm_key.get() {
            return Ok(key.as_ref());
        }
        let key = rpm_signing_key(self.config, self.target, OpenPgpKey::from_environment)?;
        Ok(self.rpm_key.get_or_init(|| key).as_ref())
    }

    /// The key this run signs its updater artifacts with: the release key
    /// from the environment, else the development key (made on first use).
    /// The shell step embeds its public key, the updater step signs with
    /// it; it is loaded (and decrypted) once per run.
    pub fn signing_key(&self) -> Result<&SigningKey> {
        if let Some(key) = self.signing_key.get() {
            return Ok(key);
        }
        let key = keys::signing_key(self.config, self.ui)?;
        Ok(self.signing_key.get_or_init(|| key))
    }

    fn stamp_path(&self, name: StepName) -> PathBuf {
        self.config.work_dir(self.target).join("fingerprints").join(format!("{}.json", name.as_str()))
    }

    /// Runs `work` unless `inputs` and `outputs` match the step's last run.
    pub fn cached(
        &self,
        name: StepName,
        what: &str,
        inputs: &Fingerprint,
        outputs: &[PathBuf],
        work: impl FnOnce(&ui::Step) -> Result<()>,
    ) -> Result<Outcome> {
        let inputs = inputs.finish();
        let stamp_path = self.stamp_path(name);
        if !self.force
            && let Ok(bytes) = std::fs::read(&stamp_path)
            && let Ok(stamp) = serde_json::from_slice::<Stamp>(&bytes)
            && stamp.inputs == inputs
            && stamp.outputs == digest_outputs(outputs).unwrap_or_default()
        {
            self.ui.info(format!("- {}: unchanged, skipped", name.as_str()));
            return Ok(Outcome::Skipped);
        }
        // A step that fails half-way must not look done next time.
        let _ = std::fs::remove_file(&stamp_path);
        let step = self.ui.step(name.as_str(), what);
        if let Err(e) = work(&step) {
            step.failed();
            return Err(e.context(format!("dist step `{}` failed", name.as_str())));
        }
        let stamp = Stamp { inputs, outputs: digest_outputs(outputs)? };
        fsx::write_atomic(&stamp_path, &serde_json::to_vec_pretty(&stamp)?)?;
        Ok(Outcome::Ran(step.done("done")))
    }

    /// A fingerprint that already holds what every step depends on: the
    /// target, the toolchain and the release configuration.
    pub fn fingerprint(&self, name: StepName) -> Fingerprint {
        let mut fp = Fingerprint::new(name.as_str());
        fp.add_value("target", self.target.triple);
        fp.add_value("xtask", env!("CARGO_PKG_VERSION"));
        let runtime_config = self.config.shell_runtime_config(self.target);
        fp.add_value("config", &serde_json::to_string(&runtime_config).expect("plain data"));
        fp.add_value(
            "product",
            &format!("{}|{}|{}", self.config.product_name, self.config.identifier, self.config.version),
        );
        fp
    }

    pub fn cargo(&self) -> String {
        std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
    }

    /// `rustc -vV`, so a toolchain change rebuilds.
    pub fn rustc_version(&self) -> String {
        crate::core::cmd::probe("rustc", &["-vV"]).unwrap_or_default()
    }
}

fn digest_outputs(outputs: &[PathBuf]) -> Result<BTreeMap<String, String>> {
    let mut digests = BTreeMap::new();
    for path in outputs {
        if !path.exists() {
            bail!("expected output {} is missing", path.display());
        }
        let digest = Fingerprint::new("output").add_path(path, &|_| false)?.finish();
        digests.insert(path.display().to_string(), digest);
    }
    Ok(digests)
}

/// Skip rule for source trees: build output and editor litter never count.
pub fn skip_build_output(rel: &Path) -> bool {
    let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
    matches!(
        first.as_str(),
        "target" | "_build" | "deps" | "burrito_out" | "gen" | "binaries" | ".elixir_ls" | "node_modules"
    ) || rel.starts_with("priv/native")
        || rel.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n == "erl_crash.dump" || n.ends_with(".swp") || n.starts_with(".#")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rpm_is_signed_with_the_configured_repository_key_and_only_that_one() {
        let dir = tempfile::tempdir().unwrap();
        let key = OpenPgpKey::generate("Hudson test <t@example.invalid>", None).unwrap();
        let other = OpenPgpKey::generate("Someone else <e@example.invalid>", None).unwrap();
        let public = dir.path().join("repository.asc");
        std::fs::write(&public, key.public().to_armored().unwrap()).unwrap();
        let mut config = Config::load().unwrap();
        let linux = Target::parse("x86_64-unknown-linux-gnu").unwrap();
        let again = || OpenPgpKey::from_armored(key.secret_armored().unwrap().expose(), None, "the test key");

        // No repository key configured, or no rpm: nothing is asked for.
        config.signing.openpgp_public_key = None;
        let asked = || -> Result<Option<OpenPgpKey>> { panic!("the key was asked for") };
        assert!(rpm_signing_key(&config, linux, asked).unwrap().is_none());
        config.signing.openpgp_public_key = Some(public.clone());
        let mac = Target::parse("aarch64-apple-darwin").unwrap();
        assert!(rpm_signing_key(&config, mac, asked).unwrap().is_none());

        // Configured: the key is required, and must be the configured one.
        let error = format!("{:#}", rpm_signing_key(&config, linux, || Ok(None)).unwrap_err());
        assert!(error.contains(openpgp::PRIVATE_KEY_VAR) && error.contains(&key.fingerprint()), "{error}");
        let error = format!("{:#}", rpm_signing_key(&config, linux, || Ok(Some(other))).unwrap_err());
        assert!(error.contains("holds OpenPGP key") && error.contains(&key.fingerprint()), "{error}");
        let chosen = rpm_signing_key(&config, linux, || again().map(Some)).unwrap().unwrap();
        assert_eq!(chosen.fingerprint(), key.fingerprint());
    }
}
