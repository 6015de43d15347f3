//! Step 7, record: the shipped files, `SHA256SUMS` (`sha256sum -c` format)
//! and `dist-manifest.json` in `target/dist/<version>/<triple>/`. The folder
//! is assembled beside its final place and swapped in, so it is never seen
//! half-written.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use signing::dist::{Artifact, ArtifactKind, DIST_MANIFEST_FILE, DIST_MANIFEST_SCHEMA, DistManifest, SHA256SUMS_FILE};

use super::bundle::Bundles;
use super::updater::UpdaterArtifact;
use super::{Ctx, Outcome};
use crate::fsx;
use crate::plan::StepName;

pub fn run(ctx: &Ctx, bundles: &Bundles, updater: &[UpdaterArtifact]) -> Result<Outcome> {
    let shipped = shipped_files(bundles, updater);
    let mut fp = ctx.fingerprint(StepName::Record)?;
    for (kind, path) in &shipped {
        fp.add_value("kind", kind.as_str());
        fp.add_path(path, &|_| false)?;
    }
    let dist_dir = ctx.config.dist_dir(ctx.target);
    let outputs = [dist_dir.clone()];
    ctx.cached(StepName::Record, "checksums and dist manifest", &fp, &outputs, |_| {
        let parent = dist_dir.parent().expect("dist dir has a parent");
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        let staging = tempfile::Builder::new().prefix(".tmp-").tempdir_in(parent)?;
        let assembled = staging.path().join("new");
        std::fs::create_dir_all(&assembled)?;

        let mut artifacts = Vec::new();
        for (kind, path) in &shipped {
            let name = path.file_name().context("artifact without a file name")?;
            let dest = assembled.join(name);
            std::fs::copy(path, &dest).with_context(|| format!("copying {}", path.display()))?;
            let (sha256, size) = fsx::sha256_file(&dest)?;
            artifacts.push(Artifact {
                kind: *kind,
                path: name.to_string_lossy().into_owned(),
                size,
                sha256,
                target: ctx.target.triple.to_owned(),
                updater: None,
            });
        }
        artifacts.sort_by(|a, b| a.path.cmp(&b.path));
        let manifest = DistManifest {
            schema: DIST_MANIFEST_SCHEMA.to_owned(),
            product: ctx.config.product_name.clone(),
            identifier: ctx.config.identifier.clone(),
            version: ctx.config.version.clone(),
            target: ctx.target.triple.to_owned(),
            packaging: ctx.config.packaging.as_str().to_owned(),
            artifacts,
            signing_key: None,
        };
        std::fs::write(assembled.join(SHA256SUMS_FILE), sha256sums(&manifest))?;
        std::fs::write(assembled.join(DIST_MANIFEST_FILE), manifest.to_json())?;

        let old = staging.path().join("old");
        if dist_dir.exists() {
            std::fs::rename(&dist_dir, &old).with_context(|| format!("moving the old {} aside", dist_dir.display()))?;
        }
        std::fs::rename(&assembled, &dist_dir).with_context(|| format!("moving the new {} in", dist_dir.display()))?;
        fsx::sync_dir(parent)
    })
}

/// Files that ship: every installer, and every updater artifact that is not
/// already an installer (the macOS `.app.tar.gz`), plus signatures.
fn shipped_files(bundles: &Bundles, updater: &[UpdaterArtifact]) -> Vec<(ArtifactKind, PathBuf)> {
    let mut files: Vec<(ArtifactKind, PathBuf)> =
        bundles.items.iter().filter(|(_, p)| p.is_file()).map(|(k, p)| (*k, p.clone())).collect();
    for artifact in updater {
        if !files.iter().any(|(_, p)| p == &artifact.path) {
            files.push((artifact.kind, artifact.path.clone()));
        }
    }
    files
}

/// `<sha256>  <file>` lines, as `sha256sum -c` reads them.
pub fn sha256sums(manifest: &DistManifest) -> String {
    manifest.artifacts.iter().map(|a| format!("{}  {}\n", a.sha256, a.path)).collect()
}

pub fn read_manifest(dist_dir: &Path) -> Result<DistManifest> {
    let path = dist_dir.join(DIST_MANIFEST_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    DistManifest::from_json(&bytes).with_context(|| format!("{} is not a valid dist manifest", path.display()))
}
