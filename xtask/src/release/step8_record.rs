//! Step 8 (the last), record: the shipped files, `SHA256SUMS` (`sha256sum -c` format)
//! and `dist-manifest.json` in `target/dist/<version>/<triple>/`. The folder
//! is assembled beside its final place and swapped in, so it is never seen
//! half-written.
//!
//! Updater artifacts ship with their `.sig` next to them, and their entry in
//! the dist manifest carries the updater platform keys and the signature;
//! the manifest names the key that signed them (`signing_key`). Each
//! signature is checked against the shipped bytes before the manifest is
//! written.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use signing::dist::{
    Artifact, ArtifactKind, DIST_MANIFEST_FILE, DIST_MANIFEST_SCHEMA, DistManifest, SHA256SUMS_FILE, UpdaterInfo,
};
use signing::keys::PublicKey;
use signing::platform::PlatformKey;

use super::Step;
use super::step4_bundle::Bundles;
use super::step6_updater::Updater;
use super::{Ctx, Outcome};
use crate::core::config::Config;
use crate::core::fsx;
use crate::core::target::Target;
use crate::release::plan::{StepName, StepPlan, rel};

pub const STEP: Step = Step {
    name: StepName::Record,
    applies: super::every_target,
    plan,
    run: |ctx, built| run(ctx, &built.bundles, &built.updater),
};

fn plan(config: &Config, target: &'static Target) -> StepPlan {
    let dist = rel(config, &config.dist_dir(target));
    let updater = super::step6_updater::planned_outputs(config, target, &rel(config, &config.updater_dir(target)));
    let installers: Vec<String> = target
        .bundles
        .iter()
        .filter(|kind| !Target::is_updatable(**kind))
        .map(|kind| format!("{dist}/*.{}", kind.as_str()))
        .collect();
    let mut outputs = super::step6_updater::planned_outputs(config, target, &dist);
    outputs.extend(installers);
    outputs.extend([format!("{dist}/{SHA256SUMS_FILE}"), format!("{dist}/{DIST_MANIFEST_FILE}")]);
    StepPlan {
        name: StepName::Record,
        summary: "ship the installers and update artifacts with their .sig, the checksums and the dist manifest".into(),
        commands: vec![],
        inputs: [vec!["the installers".to_owned()], updater].concat(),
        outputs,
    }
}

pub fn run(ctx: &Ctx, bundles: &Bundles, updater: &Updater) -> Result<Outcome> {
    let shipped = shipped_files(bundles, updater);
    let mut fp = ctx.fingerprint(StepName::Record);
    for file in &shipped {
        fp.add_value("kind", file.kind.as_str());
        fp.add_path(&file.path, &|_| false)?;
        if let Some(signature) = &file.signature {
            fp.add_path(signature, &|_| false)?;
        }
    }
    fp.add_value("signing-key", &serde_json::to_string(&updater.signing_key)?);
    let public_key = match &updater.signing_key {
        Some(info) => Some(PublicKey::parse(&info.public_key).context("the signing key's public key")?),
        None => None,
    };
    let dist_dir = ctx.config.dist_dir(ctx.target);
    let outputs = [dist_dir.clone()];
    ctx.cached(StepName::Record, "checksums and dist manifest", &fp, &outputs, |_| {
        let parent = dist_dir.parent().expect("dist dir has a parent");
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        let staging = tempfile::Builder::new().prefix(".tmp-").tempdir_in(parent)?;
        let assembled = staging.path().join("new");
        std::fs::create_dir_all(&assembled)?;

        let mut artifacts = Vec::new();
        for file in &shipped {
            let name = file.path.file_name().context("artifact without a file name")?.to_string_lossy().into_owned();
            let dest = assembled.join(&name);
            std::fs::copy(&file.path, &dest).with_context(|| format!("copying {}", file.path.display()))?;
            let (sha256, size) = fsx::sha256_file(&dest)?;
            let updater = match (&file.signature, &public_key) {
                (Some(signature_path), Some(public_key)) => {
                    let signature = std::fs::read_to_string(signature_path)
                        .with_context(|| format!("reading {}", signature_path.display()))?;
                    let bytes = std::fs::File::open(&dest)?;
                    signing::artifact::verify_artifact_reader(bytes, &signature, public_key)
                        .with_context(|| format!("the signature of {name} does not match the shipped file"))?;
                    std::fs::copy(signature_path, assembled.join(format!("{name}.sig")))?;
                    let keys = PlatformKey::keys_for_artifact(ctx.target.triple, file.kind)?;
                    Some(UpdaterInfo { platform_keys: keys.iter().map(ToString::to_string).collect(), signature })
                }
                _ => None,
            };
            artifacts.push(Artifact {
                kind: file.kind,
                path: name,
                size,
                sha256,
                target: ctx.target.triple.to_owned(),
                updater,
            });
        }
        artifacts.sort_by(|a, b| a.path.cmp(&b.path));
        let signed_any = artifacts.iter().any(|a| a.updater.is_some());
        let manifest = DistManifest {
            schema: DIST_MANIFEST_SCHEMA.to_owned(),
            product: ctx.config.product_name.clone(),
            identifier: ctx.config.identifier.clone(),
            version: ctx.config.version.clone(),
            target: ctx.target.triple.to_owned(),
            packaging: ctx.config.packaging.as_str().to_owned(),
            artifacts,
            signing_key: if signed_any { updater.signing_key.clone() } else { None },
        };
        std::fs::write(assembled.join(SHA256SUMS_FILE), manifest.sha256sums())?;
        std::fs::write(assembled.join(DIST_MANIFEST_FILE), manifest.to_json())?;

        let old = staging.path().join("old");
        if dist_dir.exists() {
            std::fs::rename(&dist_dir, &old).with_context(|| format!("moving the old {} aside", dist_dir.display()))?;
        }
        std::fs::rename(&assembled, &dist_dir).with_context(|| format!("moving the new {} in", dist_dir.display()))?;
        fsx::sync_dir(parent)
    })
}

/// A file that ships, and its updater signature if it has one.
struct Shipped {
    kind: ArtifactKind,
    path: PathBuf,
    signature: Option<PathBuf>,
}

/// Files that ship: every installer — the updater's reproducible copy where
/// there is one — and the updater artifacts that are not installers (the
/// macOS `.app.tar.gz`).
fn shipped_files(bundles: &Bundles, updater: &Updater) -> Vec<Shipped> {
    let mut files = Vec::new();
    for (kind, path) in bundles.items.iter().filter(|(_, p)| p.is_file()) {
        match updater.artifacts.iter().find(|a| a.replaces_bundle && &a.source == path) {
            Some(artifact) => files.push(Shipped {
                kind: *kind,
                path: artifact.path.clone(),
                signature: Some(artifact.signature_path.clone()),
            }),
            None => files.push(Shipped { kind: *kind, path: path.clone(), signature: None }),
        }
    }
    for artifact in updater.artifacts.iter().filter(|a| !a.replaces_bundle) {
        files.push(Shipped {
            kind: artifact.kind,
            path: artifact.path.clone(),
            signature: Some(artifact.signature_path.clone()),
        });
    }
    files
}

pub fn read_manifest(dist_dir: &Path) -> Result<DistManifest> {
    let path = dist_dir.join(DIST_MANIFEST_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    DistManifest::from_json(&bytes).with_context(|| format!("{} is not a valid dist manifest", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::step6_updater::UpdaterArtifact;

    #[test]
    fn updates_ship_in_place_of_their_installers_and_beside_the_app() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, name).unwrap();
            path
        };
        let (deb, dmg) = (file("Hudson_0.1.0_amd64.deb"), file("Hudson.dmg"));
        let app = dir.path().join("Hudson.app");
        std::fs::create_dir(&app).unwrap();
        let bundles = Bundles {
            items: vec![
                (ArtifactKind::Deb, deb.clone()),
                (ArtifactKind::App, app.clone()),
                (ArtifactKind::Dmg, dmg.clone()),
            ],
        };
        let update = |kind, name: &str, source: &PathBuf, replaces_bundle| UpdaterArtifact {
            kind,
            path: dir.path().join("updater").join(name),
            signature_path: dir.path().join("updater").join(format!("{name}.sig")),
            source: source.clone(),
            replaces_bundle,
        };
        let updater = Updater {
            artifacts: vec![
                update(ArtifactKind::Deb, "Hudson_0.1.0_amd64.deb", &deb, true),
                update(ArtifactKind::App, "Hudson.app.tar.gz", &app, false),
            ],
            signing_key: None,
        };
        let shipped: Vec<(ArtifactKind, String, bool)> = shipped_files(&bundles, &updater)
            .into_iter()
            .map(|s| (s.kind, s.path.strip_prefix(dir.path()).unwrap().display().to_string(), s.signature.is_some()))
            .collect();
        assert_eq!(
            shipped,
            [
                (ArtifactKind::Deb, "updater/Hudson_0.1.0_amd64.deb".to_owned(), true),
                (ArtifactKind::Dmg, "Hudson.dmg".to_owned(), false),
                (ArtifactKind::App, "updater/Hudson.app.tar.gz".to_owned(), true),
            ]
        );
    }
}
