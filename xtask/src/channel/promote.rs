//! `cargo xtask promote <version> --from beta --to stable`: offers on one
//! channel a release another channel already offers — the same artifacts,
//! notes and minimum version, under a fresh rollout.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use signing::keys::KeyId;
use signing::manifest::Rollout;
use signing::signature::MinisignSignature;

use super::{Draft, ExpiryArgs, Session, TreeArgs, check_channel_name, parse_percent, rollout_salt};
use crate::core::ui::Ui;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The version to promote.
    pub version: semver::Version,
    /// The channel that offers it now.
    #[arg(long)]
    pub from: String,
    /// The channel to offer it on.
    #[arg(long)]
    pub to: String,
    /// Percent of installs on the target channel offered the release.
    #[arg(long, value_name = "PERCENT", default_value_t = 100, value_parser = parse_percent)]
    pub rollout: u8,
    #[command(flatten)]
    pub expiry: ExpiryArgs,
    #[command(flatten)]
    pub tree: TreeArgs,
}

pub fn run(ui: &Ui, args: Args) -> Result<()> {
    check_channel_name(&args.from)?;
    if args.from == args.to {
        bail!("--from and --to are both {}: promote moves a release between two channels", args.to);
    }
    let session = Session::open(ui, &args.tree, &args.expiry)?;
    let version = &args.version;
    session.apply(&args.to, "promote", |history| {
        let source = session.load(&args.from).with_context(|| format!("reading channel {}", args.from))?;
        let release = source.release(version).with_context(|| {
            format!("{} has never released {version}; `cargo xtask status` lists what each channel offers", args.from)
        })?;
        if source.is_yanked(version) {
            bail!("{version} was yanked from {}; it cannot be promoted", args.from);
        }
        let signing_key = session.key.key.key_id();
        for (platform, entry) in &release.platforms {
            let signed_by = signature_key_id(&entry.signature)
                .with_context(|| format!("{}'s {version} artifact for {platform}", args.from))?;
            if signed_by != signing_key {
                bail!(
                    "{}'s {version} artifact for {platform} is signed by key {signed_by}, but {} is being signed with key {signing_key}: rebuild the release with the key of {}",
                    args.from,
                    args.to,
                    args.to
                );
            }
        }
        history.check_releasable(version)?;
        let rollout = Rollout { percent: args.rollout, salt: rollout_salt(&args.to, version) };
        Ok(Draft::reoffer(release, rollout))
    })?;
    Ok(())
}

/// The key id in an artifact's Tauri signature.
pub fn signature_key_id(tauri_signature: &str) -> Result<KeyId> {
    let text = BASE64.decode(tauri_signature.trim()).ok().and_then(|bytes| String::from_utf8(bytes).ok());
    let text = text.context("the signature is not base64 of a minisign signature")?;
    minisign_key_id(&text)
}

/// The key id in a minisign signature file's text.
pub fn minisign_key_id(text: &str) -> Result<KeyId> {
    Ok(MinisignSignature::parse_canonical(text)?.key_id())
}
