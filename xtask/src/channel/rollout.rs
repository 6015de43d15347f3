//! `cargo xtask rollout <channel> <percent>`: offers the current release to
//! another share of installs (raising it only adds installs: the salt stays),
//! resumes a halted release, or — at the same percent — re-signs the
//! channel with a new expiry.

use anyhow::{Context, Result, bail};
use signing::manifest::{ManifestKind, Rollout};

use super::{Draft, ExpiryArgs, Session, TreeArgs, parse_percent};
use crate::core::ui::Ui;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub channel: String,
    /// Percent of installs offered the release, 0–100.
    #[arg(value_parser = parse_percent)]
    pub percent: u8,
    #[command(flatten)]
    pub expiry: ExpiryArgs,
    #[command(flatten)]
    pub tree: TreeArgs,
}

pub fn run(ui: &Ui, args: Args) -> Result<()> {
    let session = Session::open(ui, &args.tree, &args.expiry)?;
    let channel = &args.channel;
    session.apply(channel, "rollout", |history| {
        let current = history.current().with_context(|| format!("{channel} has no release yet: publish one first"))?;
        let release = match current.kind {
            ManifestKind::Release => current,
            ManifestKind::Halt => history
                .release(&current.version)
                .with_context(|| format!("{channel} is halted on {}, which it never released", current.version))?,
            ManifestKind::Yank => bail!(
                "{channel} is yanked back to {}: publish or promote a newer release to offer updates again",
                current.version
            ),
        };
        let rollout = Rollout { percent: args.percent, salt: release.rollout.salt.clone() };
        Ok(Draft::reoffer(release, rollout))
    })?;
    Ok(())
}
