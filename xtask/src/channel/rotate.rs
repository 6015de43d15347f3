//! `cargo xtask rotate-key <channel> --to <new key's .pub>`: hands a channel
//! to a new signing key, explicitly. Run with the channel's current key in
//! `TAURI_SIGNING_PRIVATE_KEY`; it appends to the channel's key chain
//! (`keys.json`) a statement signed by that key naming the new one and the
//! first sequence it signs. Every later change must be signed by the new
//! key; clients that trust the old key follow the chain
//! ([`signing::rotation`]). Without this, a change signed by any other key is
//! refused.

use std::path::PathBuf;

use anyhow::Result;

use super::{ExpiryArgs, Session, TreeArgs};
use crate::core::keys;
use crate::core::ui::Ui;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The channel whose signing key changes.
    pub channel: String,
    /// The new key's public key file (`.pub`, as `cargo xtask keygen` writes it).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    #[command(flatten)]
    pub tree: TreeArgs,
}

pub fn run(ui: &Ui, args: Args) -> Result<()> {
    let session = Session::open(ui, &args.tree, &ExpiryArgs { expires_in: None })?;
    let to = keys::read_public_key(&args.to)?;
    session.rotate(&args.channel, &to)
}
