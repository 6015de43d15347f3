//! `cargo xtask gc [--dry-run]`: removes from the file store
//! (`release-manifests/store/`) every object, tree manifest and package
//! (the debs and rpms the package repositories link to) that no release in any
//! channel's signed history names.
//!
//! A channel keeps every manifest it ever signed in `history/`, and an app
//! may be fetching any release its channel still offers, or was offered a
//! moment ago; so an object goes only when no history entry of any channel
//! names it, which in practice is what a killed `publish` left behind (it
//! writes objects before the channel that names them) and what a channel
//! folder deleted by hand no longer names. It runs under the same lock as
//! the channel commands, so no `publish` adds an object while it decides.
//! Any manifest it cannot read stops it before anything is removed: a
//! store is never pruned on a guess.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use signing::manifest::ChannelManifest;
use signing::platform::Installer;
use signing::tree::STORE_DIR;

use super::{TreeArgs, manifests_dir, store};
use crate::core::config::Config;
use crate::core::ui::Ui;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only say what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub tree: TreeArgs,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    channels: usize,
    releases: usize,
    kept_objects: usize,
    kept_trees: usize,
    kept_packages: usize,
    removed: Vec<String>,
    removed_bytes: u64,
    dry_run: bool,
}

pub fn run(ui: &Ui, args: Args) -> Result<()> {
    let config = Config::load()?;
    let root = manifests_dir(&config, &args.tree);
    let _lock = super::tree::lock(&root)?;
    let mut report = Report { dry_run: args.dry_run, ..Report::default() };

    // Everything any history names.
    let mut trees = BTreeSet::new();
    let mut objects = BTreeSet::new();
    let mut packages = BTreeSet::new();
    for dir in channel_dirs(&root)? {
        report.channels += 1;
        let files = super::tree::read_channel(&dir)?;
        for entry in &files.history {
            let manifest = ChannelManifest::from_json(&entry.json).with_context(|| {
                format!("{}: history entry {} cannot be read; nothing was removed", dir.display(), entry.sequence)
            })?;
            report.releases += 1;
            for installer in [Installer::Deb, Installer::Rpm] {
                for entry in super::repo::entries(&manifest, installer).into_values() {
                    packages.insert(format!("{}.{}", entry.sha256, installer.as_str()));
                }
            }
            for platform in manifest.platforms.values() {
                let Some(reference) = &platform.tree else { continue };
                if !trees.insert(reference.sha256.clone()) {
                    continue;
                }
                let tree = store::read_tree(&root, reference).with_context(|| {
                    format!(
                        "the tree manifest {} of {} cannot be read; nothing was removed",
                        reference.sha256, manifest.version
                    )
                })?;
                objects.extend(tree.objects().into_iter().map(|o| o.sha256));
            }
        }
    }
    report.kept_trees = trees.len();
    report.kept_objects = objects.len();
    report.kept_packages = packages.len();

    // Everything in the store that none names.
    let store_dir = root.join(STORE_DIR);
    let mut unnamed: Vec<(PathBuf, u64)> = Vec::new();
    for (folder, keep) in folders(&store_dir)? {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", folder.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let named = match keep {
                Kind::Tree => name.strip_suffix(".json").is_some_and(|h| trees.contains(h)),
                Kind::Object => name.strip_suffix(".zst").is_some_and(|h| objects.contains(h)),
                Kind::Package => packages.contains(&name),
            };
            if !named {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                unnamed.push((entry.path(), size));
            }
        }
    }
    for (path, size) in &unnamed {
        if !args.dry_run {
            let removed = if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
            removed.with_context(|| format!("removing {}", path.display()))?;
        }
        report.removed.push(path.strip_prefix(&root).unwrap_or(path).display().to_string());
        report.removed_bytes += size;
    }
    if !args.dry_run && !unnamed.is_empty() {
        for (folder, _) in folders(&store_dir)? {
            if folder.is_dir() {
                crate::core::fsx::sync_dir(&folder)?;
            }
        }
    }
    ui.info(format!(
        "gc: {} channel(s), {} signed release(s) name {} tree manifest(s), {} object(s) and {} package(s); {} {} file(s) ({} bytes) no release names",
        report.channels,
        report.releases,
        report.kept_trees,
        report.kept_objects,
        report.kept_packages,
        if args.dry_run { "would remove" } else { "removed" },
        report.removed.len(),
        report.removed_bytes
    ));
    for path in &report.removed {
        ui.info(format!("  {path}"));
    }
    ui.emit(&report);
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Tree,
    Object,
    Package,
}

/// The store's folders: `trees/` and each `sha256/<xx>/`.
fn folders(store_dir: &Path) -> Result<Vec<(PathBuf, Kind)>> {
    let mut folders = vec![(store_dir.join("trees"), Kind::Tree), (store_dir.join("packages"), Kind::Package)];
    let objects = store_dir.join("sha256");
    if let Ok(entries) = std::fs::read_dir(&objects) {
        for entry in entries {
            let path = entry.with_context(|| format!("reading {}", objects.display()))?.path();
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                folders.push((path, Kind::Object));
            } else {
                bail!("{} is not a folder of objects: remove it by hand", path.display());
            }
        }
    }
    Ok(folders)
}

/// Every folder under `root` that holds a channel (a `manifest.json`).
fn channel_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else { return Ok(dirs) };
    for entry in entries {
        let path = entry.with_context(|| format!("reading {}", root.display()))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if name != STORE_DIR && std::fs::symlink_metadata(path.join(signing::manifest::MANIFEST_FILE)).is_ok() {
            dirs.push(path);
        }
    }
    dirs.sort();
    // A mistyped root finds no channel: say so rather than empty a store.
    if dirs.is_empty() && root.join(STORE_DIR).exists() {
        bail!(
            "{} holds a file store but no channel: nothing names its objects; refusing to remove them all (check --manifests-dir)",
            root.display()
        );
    }
    Ok(dirs)
}
