//! `cargo xtask halt <channel>`: stop offering updates on a channel at once.
//! Installs stay where they are; `rollout <channel> <percent>` resumes.
//! Halting a halted channel re-signs the halt with a new expiry, so a halt
//! can outlast the manifests' validity.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use signing::manifest::ManifestKind;

use super::{Draft, ExpiryArgs, Session, TreeArgs};
use crate::core::ui::Ui;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub channel: String,
    #[command(flatten)]
    pub expiry: ExpiryArgs,
    #[command(flatten)]
    pub tree: TreeArgs,
}

pub fn run(ui: &Ui, args: Args) -> Result<()> {
    let session = Session::open(ui, &args.tree, &args.expiry)?;
    let channel = &args.channel;
    session.apply(channel, "halt", |history| {
        let current =
            history.current().with_context(|| format!("{channel} has no release: there is nothing to halt"))?;
        if current.kind == ManifestKind::Halt {
            session.ui.info(format!("{channel} is already halted: re-signing the halt with a new expiry"));
        }
        Ok(Draft {
            kind: ManifestKind::Halt,
            version: current.version.clone(),
            rollout: current.rollout.clone(),
            minimum_version: None,
            notes: Some("Updates are halted on this channel.".to_owned()),
            yanked: Vec::new(),
            platforms: BTreeMap::new(),
        })
    })?;
    Ok(())
}
