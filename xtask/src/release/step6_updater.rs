//! Step 6, updater: the artifacts Tauri's updater installs, each
//! reproducible and signed.
//!
//! - Linux: the deb and the rpm themselves, rewritten so the same contents
//!   give the same bytes ([`crate::platform::archive`]); they are also the
//!   installers `record` ships.
//! - macOS: `<Product>.app.tar.gz`, a reproducible archive of the `.app`.
//! - Windows: the nsis `-setup.exe` and the `.msi` as built.
//!
//! Each gets `<file>.sig`: the Tauri signature (base64 of the minisign
//! signature text, as tauri-cli writes it), whose trusted comment carries
//! `SOURCE_DATE_EPOCH` as its timestamp, so re-signing the same bytes gives
//! the same `.sig`. The key is `TAURI_SIGNING_PRIVATE_KEY`, or the
//! development key ([`crate::core::keys`]).

use std::path::{Path, PathBuf};

use crate::core::target::Target;
use anyhow::{Context, Result};
use signing::dist::{ArtifactKind, SigningKeyInfo};

use super::Step;
use super::step4_bundle::Bundles;
use super::{Ctx, Outcome};
use crate::core::config::Config;
use crate::core::ui::Ui;
use crate::core::{fsx, keys};
use crate::platform::linux::rpm::Normalized;
use crate::platform::{archive, linux, macos};
use crate::release::plan::{StepName, StepPlan, rel};

pub const STEP: Step = Step {
    name: StepName::Updater,
    applies: super::every_target,
    plan,
    run: |ctx, built| {
        let (outcome, updater) = run(ctx, &built.bundles)?;
        built.updater = updater;
        Ok(outcome)
    },
};

fn plan(config: &Config, target: &'static Target) -> StepPlan {
    let keys: Vec<String> = target.updater_keys().into_iter().map(|(_, key)| key).collect();
    StepPlan {
        name: StepName::Updater,
        summary: format!("updater artifacts and Tauri signatures for {}", keys.join(", ")),
        commands: vec!["signing::artifact::sign (minisign, prehashed, version in the trusted comment)".into()],
        inputs: vec!["the bundles".into(), "TAURI_SIGNING_PRIVATE_KEY (or the development key under target/)".into()],
        outputs: planned_outputs(config, target, &rel(config, &config.updater_dir(target))),
    }
}

/// The updater artifacts of `target` in `dir`, each with its `.sig`, as a
/// plan shows them (`*` for a name the bundler picks).
pub fn planned_outputs(config: &Config, target: &Target, dir: &str) -> Vec<String> {
    target
        .bundles
        .iter()
        .filter(|kind| Target::is_updatable(**kind))
        .flat_map(|kind| {
            let file = match kind {
                ArtifactKind::App => format!("{dir}/{}.app.tar.gz", config.product_name),
                kind => format!("{dir}/*.{}", extension(*kind)),
            };
            [file.clone(), format!("{file}.sig")]
        })
        .collect()
}

/// The file name's end of an updater artifact that is an installer.
fn extension(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::Nsis => "exe",
        kind => kind.as_str(),
    }
}

/// An updater artifact ready to ship.
#[derive(Debug, Clone)]
pub struct UpdaterArtifact {
    pub kind: ArtifactKind,
    pub path: PathBuf,
    /// `<path>.sig`.
    pub signature_path: PathBuf,
    /// The bundle it is made from.
    pub source: PathBuf,
    /// True when it ships in place of its bundle (the deb and rpm are
    /// installer and update at once); false for the macOS archive, which
    /// ships beside the `.app`.
    pub replaces_bundle: bool,
}

/// What the step produced.
#[derive(Debug, Clone, Default)]
pub struct Updater {
    pub artifacts: Vec<UpdaterArtifact>,
    /// The key that signed them.
    pub signing_key: Option<SigningKeyInfo>,
}

pub fn run(ctx: &Ctx, bundles: &Bundles) -> Result<(Outcome, Updater)> {
    let planned = artifacts(&ctx.config.updater_dir(ctx.target), bundles)?;
    if planned.is_empty() {
        ctx.ui.info("- updater: no bundle the updater installs");
        return Ok((Outcome::NothingToDo, Updater::default()));
    }
    let key = keys::signing_key(ctx.config, ctx.ui)?;
    let epoch = archive::source_date_epoch(&ctx.config.workspace_root)?;
    let version: semver::Version = ctx.config.version.parse().context("the workspace version is not semver")?;

    let mut fp = ctx.fingerprint(StepName::Updater);
    fp.add_value("source-date-epoch", &epoch.to_string());
    fp.add_value("key", &serde_json::to_string(&key.info())?);
    for artifact in &planned {
        fp.add_value("kind", artifact.kind.as_str());
        fp.add_path(&artifact.source, &|_| false)?;
    }
    let outputs: Vec<PathBuf> = planned.iter().flat_map(|a| [a.path.clone(), a.signature_path.clone()]).collect();

    let outcome =
        ctx.cached(StepName::Updater, "reproducible update artifacts and signatures", &fp, &outputs, |step| {
            let dir = ctx.config.updater_dir(ctx.target);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
            }
            for artifact in &planned {
                let name = artifact.path.file_name().expect("an artifact has a file name").to_string_lossy();
                step.progress(&format!("{name}: reproducible copy"));
                build(ctx.ui, artifact, epoch)?;
                step.progress(&format!("{name}: signing"));
                let signed = signing::artifact::sign_artifact_file(&artifact.path, &version, epoch, &key.key)
                    .with_context(|| format!("signing {}", artifact.path.display()))?;
                fsx::write_atomic(&artifact.signature_path, signed.tauri_signature().as_bytes())?;
            }
            Ok(())
        })?;
    Ok((outcome, Updater { artifacts: planned, signing_key: Some(key.info()) }))
}

/// The updater artifacts this run's bundles give, in `dir`.
fn artifacts(dir: &Path, bundles: &Bundles) -> Result<Vec<UpdaterArtifact>> {
    let mut planned = Vec::new();
    for (kind, bundle) in &bundles.items {
        if !Target::is_updatable(*kind) {
            continue;
        }
        let name = bundle.file_name().with_context(|| format!("{} has no file name", bundle.display()))?;
        let name = name.to_string_lossy();
        let file_name = match kind {
            ArtifactKind::App => format!("{name}.tar.gz"),
            _ => name.into_owned(),
        };
        planned.push(UpdaterArtifact {
            kind: *kind,
            path: dir.join(&file_name),
            signature_path: dir.join(format!("{file_name}.sig")),
            source: bundle.clone(),
            replaces_bundle: *kind != ArtifactKind::App,
        });
    }
    Ok(planned)
}

/// Writes the artifact from its bundle.
fn build(ui: &Ui, artifact: &UpdaterArtifact, epoch: u64) -> Result<()> {
    let (from, to) = (&artifact.source, &artifact.path);
    match artifact.kind {
        ArtifactKind::Deb => linux::deb::normalize(from, to, epoch),
        ArtifactKind::Rpm => {
            if linux::rpm::normalize(from, to, epoch)? == Normalized::KeptSigned {
                ui.info(format!(
                    "- updater: {} carries an OpenPGP signature (TAURI_SIGNING_RPM_KEY), which covers its times: kept as built, so it is not reproducible",
                    from.display()
                ));
            }
            Ok(())
        }
        ArtifactKind::App => macos::app_archive::archive_dir(from, to, epoch),
        // Authenticode signatures and installers carry their own times.
        _ => fsx::copy_atomic(from, to),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::GzDecoder;

    use super::*;

    /// The macOS path on any host: a fake `.app` and `.dmg` from the bundle
    /// step become one signed-able `<App>.app.tar.gz`; the dmg is no update.
    #[test]
    fn a_mac_app_bundle_becomes_a_reproducible_app_tar_gz() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("bundle/macos/Hudson.app");
        std::fs::create_dir_all(app.join("Contents/MacOS")).unwrap();
        std::fs::write(app.join("Contents/MacOS/hudson-desktop"), b"fake Mach-O").unwrap();
        std::fs::write(app.join("Contents/Info.plist"), b"<plist/>").unwrap();
        let dmg = dir.path().join("bundle/dmg/Hudson_0.1.0_aarch64.dmg");
        std::fs::create_dir_all(dmg.parent().unwrap()).unwrap();
        std::fs::write(&dmg, b"dmg").unwrap();
        let bundles = Bundles { items: vec![(ArtifactKind::App, app.clone()), (ArtifactKind::Dmg, dmg)] };

        let out = dir.path().join("updater");
        let planned = artifacts(&out, &bundles).unwrap();
        assert_eq!(planned.len(), 1, "the dmg is not an update");
        let artifact = &planned[0];
        assert_eq!(artifact.path, out.join("Hudson.app.tar.gz"));
        assert_eq!(artifact.signature_path, out.join("Hudson.app.tar.gz.sig"));
        assert!(!artifact.replaces_bundle, "the archive ships beside the app");

        let ui = Ui::new(crate::core::ui::Format::Text);
        build(&ui, artifact, 1_750_000_000).unwrap();
        let first = std::fs::read(&artifact.path).unwrap();
        build(&ui, artifact, 1_750_000_000).unwrap();
        assert_eq!(std::fs::read(&artifact.path).unwrap(), first, "rebuilding gives the same bytes");
        let mut names = Vec::new();
        for entry in tar::Archive::new(GzDecoder::new(&first[..])).entries().unwrap() {
            let mut entry = entry.unwrap();
            names.push(entry.path().unwrap().display().to_string());
            entry.read_to_end(&mut Vec::new()).unwrap();
        }
        assert_eq!(
            names,
            [
                "Hudson.app",
                "Hudson.app/Contents",
                "Hudson.app/Contents/Info.plist",
                "Hudson.app/Contents/MacOS",
                "Hudson.app/Contents/MacOS/hudson-desktop"
            ]
        );
    }

    #[test]
    fn linux_packages_are_updates_in_place_of_their_bundles() {
        let bundles = Bundles {
            items: vec![
                (ArtifactKind::Deb, PathBuf::from("/b/deb/Hudson_0.1.0_amd64.deb")),
                (ArtifactKind::Rpm, PathBuf::from("/b/rpm/Hudson-0.1.0-1.x86_64.rpm")),
            ],
        };
        let planned = artifacts(Path::new("/u"), &bundles).unwrap();
        let shown: Vec<(String, bool)> =
            planned.iter().map(|a| (a.path.display().to_string(), a.replaces_bundle)).collect();
        assert_eq!(shown, [("/u/Hudson_0.1.0_amd64.deb".into(), true), ("/u/Hudson-0.1.0-1.x86_64.rpm".into(), true)]);
    }
}
