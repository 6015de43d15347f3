//! `cargo xtask status`: every channel at a glance — what it offers, at
//! which sequence and rollout, until when, for which platforms. It reads the
//! manifests without checking signatures (`verify` does that).

use anyhow::{Context, Result};
use serde::Serialize;
use signing::manifest::{ChannelManifest, MANIFEST_FILE};

use super::{TreeArgs, manifests_dir, now, rfc3339};
use crate::core::config::Config;
use crate::core::ui::Ui;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub tree: TreeArgs,
}

#[derive(Debug, Serialize)]
struct Row {
    channel: String,
    kind: String,
    version: String,
    sequence: u64,
    rollout_percent: u8,
    expires_at: String,
    expired: bool,
    platforms: Vec<String>,
    yanked: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(ui: &Ui, args: Args) -> Result<()> {
    let config = Config::load()?;
    let root = manifests_dir(&config, &args.tree);
    let now = now()?;
    let mut rows = Vec::new();
    if root.exists() {
        let mut dirs: Vec<_> = std::fs::read_dir(&root)
            .with_context(|| format!("reading {}", root.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(MANIFEST_FILE).is_file())
            .collect();
        dirs.sort();
        for dir in dirs {
            let channel = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let parsed = crate::core::fsx::read_untrusted(&dir.join(MANIFEST_FILE), crate::core::fsx::MAX_JSON_BYTES)
                .and_then(|bytes| Ok(ChannelManifest::from_json(&bytes)?));
            rows.push(match parsed {
                Ok(manifest) => row(channel, &manifest, now),
                Err(error) => Row {
                    channel,
                    kind: "?".into(),
                    version: "?".into(),
                    sequence: 0,
                    rollout_percent: 0,
                    expires_at: String::new(),
                    expired: false,
                    platforms: Vec::new(),
                    yanked: Vec::new(),
                    error: Some(format!("{error:#}")),
                },
            });
        }
    }
    if ui.json() {
        ui.emit(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        ui.info(format!("no channel in {} yet: `cargo xtask publish` makes one", config.relative(&root)));
        return Ok(());
    }
    let header = ["CHANNEL", "KIND", "VERSION", "SEQUENCE", "ROLLOUT", "EXPIRES", "PLATFORMS"];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| match &r.error {
            Some(error) => [
                r.channel.clone(),
                "unreadable".into(),
                error.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ],
            None => [
                r.channel.clone(),
                r.kind.clone(),
                r.version.clone(),
                r.sequence.to_string(),
                format!("{}%", r.rollout_percent),
                if r.expired { format!("{} EXPIRED", r.expires_at) } else { r.expires_at.clone() },
                if r.platforms.is_empty() { "-".into() } else { r.platforms.join(", ") },
            ],
        })
        .collect();
    let widths: Vec<usize> =
        (0..7).map(|i| cells.iter().map(|c| c[i].len()).chain([header[i].len()]).max().unwrap_or(0)).collect();
    let line = |cols: &[String]| {
        cols.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_owned()
    };
    ui.info(line(&header.map(String::from)));
    for row in &cells {
        ui.info(line(row));
    }
    Ok(())
}

fn row(channel: String, manifest: &ChannelManifest, now: time::OffsetDateTime) -> Row {
    Row {
        channel,
        kind: manifest.kind.as_str().into(),
        version: manifest.version.to_string(),
        sequence: manifest.sequence,
        rollout_percent: manifest.rollout.percent,
        expires_at: rfc3339(manifest.expires_at),
        expired: now > manifest.expires_at,
        platforms: manifest.platforms.keys().map(ToString::to_string).collect(),
        yanked: manifest.yanked.iter().map(ToString::to_string).collect(),
        error: None,
    }
}
