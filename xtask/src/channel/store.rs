//! The file store beside the channels (`release-manifests/store/`, see
//! [`signing::tree`]): every file of every folder-swap release tree,
//! zstd-compressed and named by the SHA-256 of its bytes, and each
//! release's tree manifest, named by its own SHA-256.
//!
//! `publish` adds a release's tree ([`add_tree`]) before the channel that
//! names it is committed, so a client never reads a channel manifest whose
//! tree or objects are not there yet. An object is written once, through a
//! temporary file and a rename; one already there is decompressed and
//! hashed before it is trusted, and a damaged one is replaced.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};
use signing::platform::PlatformKey;
use signing::tree::{self, MAX_TREE_BYTES, MAX_TREE_ENTRIES, Node, TreeEntry, TreeManifest, TreeRef};

use crate::core::fsx;

/// zstd level of the objects: within a few percent of level 19's size on
/// a BEAM release, at a fraction of its time.
const LEVEL: i32 = 12;

/// What [`add_tree`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Added {
    pub files: usize,
    /// Objects written now (new content, or a damaged object replaced).
    pub written: usize,
    /// Objects already in the store with the right content.
    pub present: usize,
    /// Damaged objects replaced.
    pub repaired: Vec<String>,
    /// Bytes of the tree's files and of their objects.
    pub tree_bytes: u64,
    pub stored_bytes: u64,
}

/// Adds the tree of the folder-swap artifact `archive` (a `.tar.gz` with
/// one top-level folder, as the updater unpacks it) to the store under
/// `root` and returns the reference its channel entry carries.
pub fn add_tree(
    root: &Path,
    archive: &Path,
    version: &semver::Version,
    platform: PlatformKey,
) -> Result<(TreeRef, Added)> {
    let mut added = Added::default();
    let mut entries: BTreeMap<String, Node> = BTreeMap::new();
    let file = fsx::open_untrusted(archive)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut top: Option<String> = None;
    // Contents already stored for this tree: a file at several paths is one object.
    let mut stored_here: BTreeMap<String, u64> = BTreeMap::new();
    for entry in tar.entries().with_context(|| format!("reading {}", archive.display()))? {
        let mut entry = entry.with_context(|| format!("reading {}", archive.display()))?;
        let name = entry.path().with_context(|| format!("{}: an entry's name", archive.display()))?;
        let name = name.to_str().with_context(|| format!("{}: {name:?} is not UTF-8", archive.display()))?.to_owned();
        let name = name.trim_end_matches('/').trim_start_matches("./").to_owned();
        let (first, rest) = name.split_once('/').unwrap_or((name.as_str(), ""));
        match &top {
            None => top = Some(first.to_owned()),
            Some(t) if t != first => {
                bail!(
                    "{}: holds {t:?} and {first:?}; a folder-swap artifact has one top-level folder",
                    archive.display()
                )
            }
            Some(_) => {}
        }
        let rest = rest.to_owned();
        ensure!(entries.len() < MAX_TREE_ENTRIES, "{}: more than {MAX_TREE_ENTRIES} entries", archive.display());
        let kind = entry.header().entry_type();
        let node = match kind {
            tar::EntryType::Directory => Node::Dir { mode: 0o755 },
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mode = entry.header().mode().unwrap_or(0o644);
                let mut bytes = Vec::new();
                (&mut entry)
                    .take(MAX_TREE_BYTES.saturating_sub(added.tree_bytes) + 1)
                    .read_to_end(&mut bytes)
                    .with_context(|| format!("{}: reading {name}", archive.display()))?;
                added.tree_bytes += bytes.len() as u64;
                ensure!(added.tree_bytes <= MAX_TREE_BYTES, "{}: more than {MAX_TREE_BYTES} bytes", archive.display());
                let sha256 = hex::encode(Sha256::digest(&bytes));
                let stored = match stored_here.get(&sha256) {
                    Some(stored) => *stored,
                    None => {
                        let stored = put_object(root, &sha256, &bytes, &mut added)?;
                        stored_here.insert(sha256.clone(), stored);
                        stored
                    }
                };
                added.files += 1;
                Node::File {
                    // As the updater's unpack writes them.
                    mode: if mode & 0o111 != 0 { 0o755 } else { 0o644 },
                    size: bytes.len() as u64,
                    sha256,
                    stored,
                }
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .with_context(|| format!("{}: {name}'s link target", archive.display()))?
                    .with_context(|| format!("{}: {name} is a link with no target", archive.display()))?;
                let target = target
                    .to_str()
                    .with_context(|| format!("{}: {name}'s link target is not UTF-8", archive.display()))?;
                Node::Symlink { target: target.to_owned() }
            }
            other => bail!(
                "{}: {name} is a {other:?}; a release tree holds only files, folders and symbolic links",
                archive.display()
            ),
        };
        if rest.is_empty() {
            ensure!(matches!(node, Node::Dir { .. }), "{}: the top-level {name} is not a folder", archive.display());
            continue;
        }
        // Folders an archive only implies are made by the unpack, as 0o755.
        let mut parent = rest.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            entries.entry(up.to_owned()).or_insert(Node::Dir { mode: 0o755 });
            parent = up;
        }
        if entries.insert(rest.clone(), node).is_some() {
            bail!("{}: {name} is listed twice", archive.display());
        }
    }
    ensure!(top.is_some(), "{} is empty", archive.display());
    let manifest = TreeManifest {
        schema: tree::TREE_MANIFEST_SCHEMA.to_owned(),
        version: version.clone(),
        platform,
        entries: entries.into_iter().map(|(path, node)| TreeEntry { path, node }).collect(),
    };
    manifest.validate().with_context(|| format!("the tree of {}", archive.display()))?;
    let json = manifest.to_json();
    let reference = TreeRef::of(&json);
    let path = root.join(tree::tree_path(&reference.sha256));
    if std::fs::read(&path).ok().as_deref() != Some(json.as_slice()) {
        fsx::write_atomic(&path, &json)?;
    }
    Ok((reference, added))
}

/// Stores `bytes`, whose SHA-256 is `sha256`, as an object unless a sound
/// one is there; returns its stored length (0 for no bytes: no object).
fn put_object(root: &Path, sha256: &str, bytes: &[u8], added: &mut Added) -> Result<u64> {
    if bytes.is_empty() {
        return Ok(0);
    }
    let path = root.join(tree::object_path(sha256));
    match check_object(&path, sha256, bytes.len() as u64) {
        Ok(stored) => {
            added.present += 1;
            added.stored_bytes += stored;
            return Ok(stored);
        }
        Err(ObjectProblem::Missing) => {}
        Err(_) => added.repaired.push(sha256.to_owned()),
    }
    let compressed = zstd::bulk::compress(bytes, LEVEL).context("compressing a store object")?;
    fsx::write_atomic_with(&path, Some(0o644), |tmp| {
        tmp.as_file().write_all(&compressed).with_context(|| format!("writing {}", tmp.path().display()))
    })?;
    added.written += 1;
    added.stored_bytes += compressed.len() as u64;
    Ok(compressed.len() as u64)
}

/// What is wrong with an object in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectProblem {
    Missing,
    /// Not a regular file, unreadable, or not zstd.
    Unreadable(String),
    /// Its content is not the bytes its name promises.
    WrongContent {
        size: u64,
        sha256: String,
    },
}

impl std::fmt::Display for ObjectProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectProblem::Missing => write!(f, "is missing"),
            ObjectProblem::Unreadable(why) => write!(f, "cannot be read: {why}"),
            ObjectProblem::WrongContent { size, sha256 } => {
                write!(f, "holds other bytes ({size} bytes with SHA-256 {sha256})")
            }
        }
    }
}

/// Checks that the object at `path` decompresses to `size` bytes whose
/// SHA-256 is `sha256`; returns its stored length.
pub fn check_object(path: &Path, sha256: &str, size: u64) -> Result<u64, ObjectProblem> {
    let file = match fsx::open_untrusted(path) {
        Ok(file) => file,
        Err(_) if std::fs::symlink_metadata(path).is_err() => return Err(ObjectProblem::Missing),
        Err(e) => return Err(ObjectProblem::Unreadable(format!("{e:#}"))),
    };
    let stored = file.metadata().map_err(|e| ObjectProblem::Unreadable(e.to_string()))?.len();
    if stored > tree::stored_bound(size) {
        return Err(ObjectProblem::Unreadable(format!("{stored} bytes, more than {size} bytes compress to")));
    }
    let decoder = zstd::stream::read::Decoder::new(file).map_err(|e| ObjectProblem::Unreadable(e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut got = 0u64;
    let mut limited = decoder.take(size + 1);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = limited.read(&mut buffer).map_err(|e| ObjectProblem::Unreadable(format!("not zstd: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        got += n as u64;
    }
    let got_sha256 = hex::encode(hasher.finalize());
    if got != size || got_sha256 != sha256 {
        return Err(ObjectProblem::WrongContent { size: got, sha256: got_sha256 });
    }
    Ok(stored)
}

/// The tree manifest a channel entry names, read from the store and
/// checked against the reference.
pub fn read_tree(root: &Path, reference: &TreeRef) -> Result<TreeManifest> {
    let path = root.join(tree::tree_path(&reference.sha256));
    let bytes = fsx::read_untrusted(&path, tree::MAX_TREE_MANIFEST_BYTES)?;
    TreeManifest::from_json_bound(&bytes, reference).with_context(|| path.display().to_string())
}

/// Path of an object under `root`.
pub fn object_file(root: &Path, sha256: &str) -> PathBuf {
    root.join(tree::object_path(sha256))
}

/// Removes the temporary files a killed `publish` left in the store (an
/// object or tree manifest is only ever visible under its name once whole).
pub fn remove_stale_temporaries(root: &Path) -> Result<()> {
    let store = root.join(tree::STORE_DIR);
    let mut folders = vec![store.join("trees")];
    if let Ok(entries) = std::fs::read_dir(store.join("sha256")) {
        folders.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.filter_map(|e| e.ok()) {
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                std::fs::remove_file(entry.path())
                    .with_context(|| format!("removing the leftover {}", entry.path().display()))?;
            }
        }
    }
    Ok(())
}
