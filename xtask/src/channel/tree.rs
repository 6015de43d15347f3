//! The files of `release-manifests/`, and how a change reaches them.
//!
//! ```text
//! release-manifests/
//!   <channel>/
//!     latest.json                     Tauri's static updater format
//!     manifest.json                   the signed channel manifest
//!     manifest.json.minisig           its minisign signature
//!     history/<sequence>.json         every manifest the channel has had
//!     history/<sequence>.json.minisig   and its signature
//!     keys.json                       the key chain, once the channel rotated
//!                                     its signing key (`cargo xtask rotate-key`)
//!     apt/, yum/                      the channel's package repositories, when
//!                                     its releases carry debs, rpms ([`super::repo`])
//! ```
//!
//! A change rewrites one channel folder as a whole. The new folder is written
//! and synced beside `release-manifests/` (in `.release-manifests-staging-*`,
//! so nothing half-made is ever inside the published tree), then swapped with
//! the old one in a single `renameat2(RENAME_EXCHANGE)` (`renamex_np(RENAME_SWAP)`
//! on macOS): whenever the process dies, the channel is entirely the old one
//! or entirely the new one. A first publish renames the folder into place.
//! A lock on `release-manifests/` keeps two commands from interleaving.
//!
//! Tests stop a command at each write point with
//! `HUDSON_FAILPOINT=<command>:<point>` (points: [`FAILPOINTS`]); the process
//! then kills itself with SIGKILL.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use signing::latest::LATEST_JSON_FILE;
use signing::manifest::{MANIFEST_FILE, MANIFEST_SIGNATURE_FILE};
use signing::rotation::{KEY_CHAIN_FILE, MAX_KEY_CHAIN_BYTES};

use super::repo::{Content, RepoFile};
use crate::core::fsx;

/// The variable that names a failpoint: `<command>:<point>`.
pub const FAILPOINT_VAR: &str = "HUDSON_FAILPOINT";

/// Every write point of a channel change, in order.
pub const FAILPOINTS: &[&str] = &[
    "stored",
    "locked",
    "history-written",
    "manifest-written",
    "latest-written",
    "repository-written",
    "staged",
    "swapped",
    "done",
];

/// The folder of the history inside a channel folder.
pub const HISTORY_DIR: &str = "history";

/// One signed manifest as stored: its exact bytes and signature text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    pub sequence: u64,
    pub json: Vec<u8>,
    pub signature: String,
}

/// The name of a history entry.
pub fn history_name(sequence: u64) -> String {
    format!("{sequence:08}.json")
}

/// Dies at `point` when `HUDSON_FAILPOINT` is `<command>:<point>`.
pub fn failpoint(command: &str, point: &str) {
    debug_assert!(FAILPOINTS.contains(&point), "unknown failpoint {point}");
    let Ok(wanted) = std::env::var(FAILPOINT_VAR) else { return };
    if wanted.split_once(':') == Some((command, point)) {
        eprintln!("{FAILPOINT_VAR}: killed at {command}:{point}");
        #[cfg(unix)]
        // SAFETY: sending a signal to ourselves has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        std::process::abort();
    }
}

/// Exclusive use of a manifests folder for one command.
pub struct Lock {
    _dir: File,
}

/// Locks `root` (creating it), so that two commands never change it at once,
/// and removes staging folders a killed command left behind.
pub fn lock(root: &Path) -> Result<Lock> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let dir = File::open(root).with_context(|| format!("opening {}", root.display()))?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `dir` is an open descriptor for the duration of the call.
        if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            bail!("another command is changing {} right now; try again when it has finished", root.display());
        }
    }
    remove_stale_staging(root)?;
    super::store::remove_stale_temporaries(root)?;
    Ok(Lock { _dir: dir })
}

fn staging_prefix(root: &Path) -> String {
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "manifests".into());
    format!(".{name}-staging-")
}

fn parent_of(root: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(root).with_context(|| format!("resolving {}", root.display()))?;
    absolute.parent().map(Path::to_path_buf).with_context(|| format!("{} has no parent folder", root.display()))
}

fn remove_stale_staging(root: &Path) -> Result<()> {
    let parent = parent_of(root)?;
    let prefix = staging_prefix(root);
    for entry in std::fs::read_dir(&parent).with_context(|| format!("reading {}", parent.display()))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing the leftover {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Reads a channel folder's manifest, signature and history, as stored.
pub struct ChannelFiles {
    pub manifest: Option<(Vec<u8>, Vec<u8>)>,
    pub history: Vec<StoredManifest>,
    /// `keys.json`, if the channel ever rotated its key.
    pub key_chain: Option<Vec<u8>>,
}

pub fn read_channel(dir: &Path) -> Result<ChannelFiles> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = match hudson_lifecycle::untrusted::read_optional(&manifest_path, fsx::MAX_JSON_BYTES)? {
        Some(json) => {
            let signature = fsx::read_untrusted(&dir.join(MANIFEST_SIGNATURE_FILE), fsx::MAX_SIGNATURE_BYTES)?;
            Some((json, signature))
        }
        None => None,
    };
    let mut history = Vec::new();
    let history_dir = dir.join(HISTORY_DIR);
    if history_dir.exists() {
        for entry in std::fs::read_dir(&history_dir).with_context(|| format!("reading {}", history_dir.display()))? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if name.ends_with(".minisig") {
                continue;
            }
            let sequence = name
                .strip_suffix(".json")
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|s| history_name(*s) == name)
                .with_context(|| {
                    format!("{} is not a history entry (expected <8-digit sequence>.json)", path.display())
                })?;
            let json = fsx::read_untrusted(&path, fsx::MAX_JSON_BYTES)?;
            let signature_path = history_dir.join(format!("{name}.minisig"));
            let signature = hudson_lifecycle::untrusted::read_to_string(&signature_path, fsx::MAX_SIGNATURE_BYTES)?;
            history.push(StoredManifest { sequence, json, signature });
        }
    }
    history.sort_by_key(|entry| entry.sequence);
    let key_chain = hudson_lifecycle::untrusted::read_optional(&dir.join(KEY_CHAIN_FILE), MAX_KEY_CHAIN_BYTES as u64)?;
    Ok(ChannelFiles { manifest, history, key_chain })
}

/// What a channel folder holds after a change.
pub struct Contents<'a> {
    /// Every signed manifest; the last becomes `manifest.json`.
    pub history: &'a [StoredManifest],
    /// `keys.json`, once the channel rotated its key.
    pub key_chain: Option<&'a [u8]>,
    pub latest_json: &'a [u8],
    /// The apt repository's files (none without one).
    pub repository: &'a [RepoFile],
}

/// Replaces the channel folder `root/<channel>` with one holding `history`
/// (whose last entry becomes `manifest.json`) and `latest_json`. See the
/// module docs for why this is atomic.
pub fn commit(_lock: &Lock, root: &Path, channel: &str, contents: Contents<'_>, command: &str) -> Result<()> {
    let Contents { history, key_chain, latest_json, repository } = contents;
    let current = history.last().context("a channel always has a current manifest")?;
    failpoint(command, "locked");
    let parent = parent_of(root)?;
    let staging = tempfile::Builder::new()
        .prefix(&staging_prefix(root))
        .tempdir_in(&parent)
        .with_context(|| format!("creating a staging folder in {}", parent.display()))?;
    let staged = staging.path().join(channel);
    let staged_history = staged.join(HISTORY_DIR);
    std::fs::create_dir_all(&staged_history)?;

    for entry in history {
        let name = history_name(entry.sequence);
        write_synced(&staged_history.join(&name), &entry.json)?;
        write_synced(&staged_history.join(format!("{name}.minisig")), entry.signature.as_bytes())?;
    }
    failpoint(command, "history-written");
    write_synced(&staged.join(MANIFEST_FILE), &current.json)?;
    write_synced(&staged.join(MANIFEST_SIGNATURE_FILE), current.signature.as_bytes())?;
    failpoint(command, "manifest-written");
    write_synced(&staged.join(LATEST_JSON_FILE), latest_json)?;
    if let Some(chain) = key_chain {
        write_synced(&staged.join(KEY_CHAIN_FILE), chain)?;
    }
    failpoint(command, "latest-written");
    let mut folders = std::collections::BTreeSet::new();
    for file in repository {
        let path = staged.join(&file.path);
        let folder = fsx::parent(&path)?.to_path_buf();
        if !folders.contains(&folder) {
            std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
            // Every new folder between it and the channel folder gets synced.
            folders.extend(folder.ancestors().take_while(|f| *f != staged).map(Path::to_path_buf));
        }
        match &file.content {
            Content::Bytes(bytes) => write_synced(&path, bytes)?,
            // A link to the store's copy: the same bytes, no space.
            Content::Link(from) => {
                if std::fs::hard_link(from, &path).is_err() {
                    std::fs::copy(from, &path)
                        .with_context(|| format!("copying {} to {}", from.display(), path.display()))?;
                    File::open(&path)?.sync_all()?;
                }
            }
        }
    }
    for folder in folders.iter().rev() {
        fsx::sync_dir(folder)?;
    }
    failpoint(command, "repository-written");
    fsx::sync_dir(&staged_history)?;
    fsx::sync_dir(&staged)?;
    fsx::sync_dir(staging.path())?;
    failpoint(command, "staged");

    let target = root.join(channel);
    if target.exists() {
        exchange(&staged, &target)?;
    } else {
        std::fs::rename(&staged, &target)
            .with_context(|| format!("moving the new {} into {}", channel, root.display()))?;
    }
    fsx::sync_dir(root)?;
    fsx::sync_dir(staging.path())?;
    failpoint(command, "swapped");
    // The staging folder now holds the old channel.
    staging.close().with_context(|| format!("removing the old copy of {channel}"))?;
    failpoint(command, "done");
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
    file.sync_all().with_context(|| format!("syncing {}", path.display()))
}

/// Swaps two folders in one step.
fn exchange(a: &Path, b: &Path) -> Result<()> {
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let from = CString::new(a.as_os_str().as_bytes())?;
        let to = CString::new(b.as_os_str().as_bytes())?;
        #[cfg(target_os = "linux")]
        // SAFETY: both paths are valid NUL-terminated strings for the call.
        let status = unsafe {
            libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::RENAME_EXCHANGE)
        };
        #[cfg(target_os = "macos")]
        // SAFETY: as above.
        let status = unsafe { libc::renamex_np(from.as_ptr(), to.as_ptr(), libc::RENAME_SWAP) };
        if status != 0 {
            let error = std::io::Error::last_os_error();
            return Err(error).with_context(|| format!("swapping {} with {}", a.display(), b.display()));
        }
        Ok(())
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        bail!(
            "changing a channel needs an atomic folder swap, which this toolchain does on Linux and macOS only; \
             run it there (CI's publish job runs on Linux). Nothing was changed: {} and {} stay as they are",
            a.display(),
            b.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents<'a>(history: &'a [StoredManifest], latest_json: &'a [u8]) -> Contents<'a> {
        Contents { history, key_chain: None, latest_json, repository: &[] }
    }

    fn entry(sequence: u64, text: &str) -> StoredManifest {
        StoredManifest { sequence, json: text.as_bytes().to_vec(), signature: format!("sig {text}\n") }
    }

    #[test]
    fn a_commit_replaces_the_whole_channel_and_leaves_no_staging() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("release-manifests");
        {
            let lock = lock(&root).unwrap();
            commit(&lock, &root, "beta", contents(&[entry(1, "one")], b"latest one"), "publish").unwrap();
        }
        let files = read_channel(&root.join("beta")).unwrap();
        assert_eq!(files.manifest, Some((b"one".to_vec(), b"sig one\n".to_vec())));
        let lock = lock(&root).unwrap();
        commit(&lock, &root, "beta", contents(&[entry(1, "one"), entry(2, "two")], b"latest two"), "publish").unwrap();
        let files = read_channel(&root.join("beta")).unwrap();
        assert_eq!(files.manifest, Some((b"two".to_vec(), b"sig two\n".to_vec())));
        assert_eq!(files.history, [entry(1, "one"), entry(2, "two")]);
        assert_eq!(std::fs::read(root.join("beta/latest.json")).unwrap(), b"latest two");
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        assert_eq!(names, ["release-manifests"], "staging left behind");
    }

    #[test]
    fn a_second_command_waits_its_turn() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("m");
        let _held = lock(&root).unwrap();
        let error = lock(&root).err().expect("the second lock is refused").to_string();
        assert!(error.contains("another command"), "{error}");
    }

    #[test]
    fn stray_files_in_history_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("history")).unwrap();
        std::fs::write(dir.path().join("history/7.json"), b"{}").unwrap();
        let error = format!("{:#}", read_channel(dir.path()).err().unwrap());
        assert!(error.contains("7.json") && error.contains("8-digit"), "{error}");
    }
}
