//! `cargo xtask yank <channel>`: pull the version the channel offers and send
//! its installs back to the newest earlier release that was never yanked,
//! with a signed manifest of a higher sequence (clients accept that
//! downgrade only from a yank that lists their version).

use anyhow::{Context, Result};
use signing::manifest::{ManifestKind, Rollout};

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
    session.apply(channel, "yank", |history| {
        let current = history.current().with_context(|| format!("{channel} has no release: there is nothing to yank"))?;
        let bad = current.version.clone();
        let target = history.yank_target(&bad).with_context(|| {
            format!(
                "{channel} has no earlier release to go back to (none below {bad} that was never yanked); `cargo xtask halt {channel}` stops offering {bad} instead"
            )
        })?;
        let mut yanked = history.yanked();
        yanked.insert(bad);
        // A yank reaches every yanked install, whatever the percent.
        let rollout = Rollout { percent: 100, salt: target.rollout.salt.clone() };
        Ok(Draft { kind: ManifestKind::Yank, yanked: yanked.into_iter().collect(), ..Draft::reoffer(target, rollout) })
    })?;
    Ok(())
}
