//! Step 6, updater: the artifacts Tauri's updater installs, each with its
//! Tauri-compatible signature.

use std::path::PathBuf;

use anyhow::Result;
use signing::dist::ArtifactKind;

use super::bundle::Bundles;
use super::{Ctx, Outcome};

/// An updater artifact ready to ship.
#[derive(Debug, Clone)]
pub struct UpdaterArtifact {
    pub kind: ArtifactKind,
    pub path: PathBuf,
}

pub fn run(ctx: &Ctx, _bundles: &Bundles) -> Result<(Outcome, Vec<UpdaterArtifact>)> {
    ctx.ui.info("- updater: signatures are not produced yet");
    Ok((Outcome::NothingToDo, Vec::new()))
}
