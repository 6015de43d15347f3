//! The package repositories of a channel: apt ([`super::apt`]) for its
//! debs, yum/dnf ([`super::yum`]) for its rpms. Both are derived from the
//! channel's signed history, signed with the repository OpenPGP key, and
//! written inside the channel folder in the same swap as its manifest
//! ([`super::tree::commit`]).
//!
//! What they offer follows the rules of `latest.json`
//! ([`signing::latest::stock_offer`]): a package manager has no install id,
//! so a release below 100 % rollout is not offered (the previous full
//! release stays), a halt offers nothing, a yank offers the release it goes
//! back to. The packages themselves are kept in the store
//! (`store/packages/<sha256>.<deb|rpm>`, added by `publish`), checked
//! against the SHA-256 and size the signed manifest gives each time they
//! are used, and hard-linked into the repositories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use signing::latest::stock_offer;
use signing::manifest::{ChannelManifest, PlatformEntry};
use signing::platform::{Installer, PlatformKey};
use signing::tree::STORE_DIR;

use super::{apt, yum};
use crate::core::fsx;
use crate::core::openpgp::{OpenPgpKey, OpenPgpPublicKey};

/// One file of a repository, relative to the channel folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    pub path: String,
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Bytes(Vec<u8>),
    /// A file of the store, hard-linked (copied where links fail).
    Link(PathBuf),
}

pub fn bytes(path: String, data: Vec<u8>) -> RepoFile {
    RepoFile { path, content: Content::Bytes(data) }
}

/// Where the store keeps the package whose SHA-256 is `sha256`.
pub fn package_path(root: &Path, sha256: &str, installer: Installer) -> PathBuf {
    root.join(STORE_DIR).join("packages").join(format!("{sha256}.{}", installer.as_str()))
}

/// Adds a package file to the store (once; a damaged copy is replaced).
pub fn add_package(root: &Path, file: &Path, sha256: &str, size: u64, installer: Installer) -> Result<bool> {
    let path = package_path(root, sha256, installer);
    if check_package(&path, sha256, size).is_ok() {
        return Ok(false);
    }
    std::fs::create_dir_all(fsx::parent(&path)?)?;
    // Readable by whoever serves the repository (it is linked into it).
    let mut source = fsx::open_untrusted(file)?;
    fsx::write_atomic_with(&path, Some(0o644), |tmp| {
        std::io::copy(&mut source, &mut tmp.as_file()).with_context(|| format!("copying {}", file.display()))?;
        Ok(())
    })?;
    check_package(&path, sha256, size).with_context(|| format!("the copy {} in the store", path.display()))?;
    Ok(true)
}

/// Checks a stored package: a regular file of `size` bytes whose SHA-256 is `sha256`.
pub fn check_package(path: &Path, sha256: &str, size: u64) -> Result<()> {
    let (found, length) = fsx::sha256_untrusted(path, size)?;
    ensure!(length == size, "{} is {length} bytes, not the {size} the channel manifest gives", path.display());
    ensure!(found == sha256, "{} has SHA-256 {found}, not the {sha256} the channel manifest gives", path.display());
    Ok(())
}

/// The stored package of `entry`, checked; the error says how to restore it.
pub fn stored_package(
    root: &Path,
    product: &str,
    release: &ChannelManifest,
    key: PlatformKey,
    entry: &PlatformEntry,
    installer: Installer,
) -> Result<PathBuf> {
    let stored = package_path(root, &entry.sha256, installer);
    check_package(&stored, &entry.sha256, entry.size).with_context(|| {
        format!(
            "{product} {} for {key}: the package is not in the store as the channel manifest gives it; publish the release again (`cargo xtask publish`) to restore it",
            release.version
        )
    })?;
    Ok(stored)
}

/// The entries of `manifest` whose artifacts `installer` installs.
pub fn entries(manifest: &ChannelManifest, installer: Installer) -> BTreeMap<PlatformKey, &PlatformEntry> {
    manifest.platforms.iter().filter(|(key, _)| key.installer == Some(installer)).map(|(k, e)| (*k, e)).collect()
}

/// Whether a channel with `history` has a repository for `installer`:
/// once a release of it carried such a package.
pub fn has(history: &[ChannelManifest], installer: Installer) -> bool {
    history.iter().any(|m| !entries(m, installer).is_empty())
}

/// The release a package manager is offered after `history`, if any.
pub fn offered(history: &[ChannelManifest]) -> Option<&ChannelManifest> {
    stock_offer(history)
}

/// Every repository file `history` implies, signed with `key`.
pub fn build(
    root: &Path,
    channel: &str,
    product: &str,
    history: &[ChannelManifest],
    key: &OpenPgpKey,
) -> Result<Vec<RepoFile>> {
    let mut files = Vec::new();
    if has(history, Installer::Deb) {
        files.extend(apt::build(root, channel, product, history, key)?);
    }
    if has(history, Installer::Rpm) {
        files.extend(yum::build(root, channel, product, history, key)?);
    }
    Ok(files)
}

/// The key a channel's repositories are signed with, when it has any.
pub fn channel_key(channel_dir: &Path) -> Result<Option<OpenPgpPublicKey>> {
    for path in
        [channel_dir.join(apt::APT_DIR).join(apt::KEYRING_FILE), channel_dir.join(yum::YUM_DIR).join(yum::KEY_FILE)]
    {
        if std::fs::symlink_metadata(&path).is_ok() {
            return OpenPgpPublicKey::read(&path).map(Some);
        }
    }
    Ok(None)
}

/// Every difference between the repositories in `channel_dir` and those
/// `history` implies, checked with `key`.
pub fn check(channel_dir: &Path, channel: &str, history: &[ChannelManifest], key: &OpenPgpPublicKey) -> Vec<String> {
    let mut problems = Vec::new();
    for (installer, dir, published) in [
        (Installer::Deb, apt::APT_DIR, channel_dir.join(apt::APT_DIR).join(apt::KEYRING_FILE)),
        (Installer::Rpm, yum::YUM_DIR, channel_dir.join(yum::YUM_DIR).join(yum::KEY_FILE)),
    ] {
        let present = std::fs::symlink_metadata(channel_dir.join(dir)).is_ok();
        match (has(history, installer), present) {
            (true, true) => {}
            (true, false) => {
                problems.push(format!("{dir}/ is missing, but releases of {channel} carry {}s", installer.as_str()));
                continue;
            }
            (false, true) => {
                problems.push(format!("{dir}/ is there, but no release of {channel} carries a {}", installer.as_str()));
                continue;
            }
            (false, false) => continue,
        }
        match OpenPgpPublicKey::read(&published) {
            Ok(found) if found.fingerprint() == key.fingerprint() => {}
            Ok(found) => problems.push(format!(
                "{} is key {}, not the repository key {}",
                published.strip_prefix(channel_dir).unwrap_or(&published).display(),
                found.fingerprint(),
                key.fingerprint()
            )),
            Err(e) => problems.push(format!("{e:#}")),
        }
        problems.extend(match installer {
            Installer::Deb => apt::check(channel_dir, channel, history, key),
            _ => yum::check(channel_dir, history, key),
        });
    }
    problems
}

/// An index gzipped with no name and time in the header: the same bytes
/// every time (apt's `Packages.gz`, yum's `*.xml.gz`).
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

/// Characters a package's text may carry into an index: no control
/// characters but newline and tab.
pub fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}
