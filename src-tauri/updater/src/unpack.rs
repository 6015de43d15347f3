//! Bounded unpacking of a folder-swap artifact (`.tar.gz`) into a staging
//! folder.
//!
//! The archive holds one top-level folder — the tree (`Hudson.app/…` in
//! Tauri's `.app.tar.gz`; `dist` writes the Linux portable tree the same way)
//! — and that folder's content becomes the staging folder.
//!
//! The artifact is verified before it gets here, but unpacking is still
//! bounded, so a signing mistake cannot write outside the staging folder or
//! fill the disk: no absolute paths or `..`; no writing through a symlink (a
//! parent that is a symlink is refused, files are created new); symlinks must
//! point inside the tree; no hard links, devices or FIFOs; and a cap on the
//! bytes written, counted as they are written, and on the number of entries.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::{IoContext, Result, UpdateError};
use crate::fsx;

/// Caps on what an archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for UnpackLimits {
    /// 4 GiB and 200 000 entries: a BEAM release with its ERTS is ~100 MB
    /// and ~5 000 files.
    fn default() -> Self {
        UnpackLimits { max_bytes: 4 << 30, max_entries: 200_000 }
    }
}

/// Unpacks `archive` into `staging`, which must not exist yet.
pub(crate) fn unpack_tar_gz(archive: &Path, staging: &Path, limits: UnpackLimits) -> Result<()> {
    let fail = |detail: String| UpdateError::Unpack { archive: archive.to_path_buf(), detail };
    let file = fsx::open_regular(archive).at("opening", archive)?;
    fs::create_dir(staging).at("creating the staging folder", staging)?;
    let mut tar = tar::Archive::new(GzDecoder::new(io::BufReader::new(file)));
    let mut top: Option<PathBuf> = None;
    let (mut written, mut entries) = (0u64, 0u64);
    for entry in tar.entries().map_err(|e| fail(e.to_string()))? {
        let mut entry = entry.map_err(|e| fail(e.to_string()))?;
        entries += 1;
        if entries > limits.max_entries {
            return Err(fail(format!("it has more than {} entries", limits.max_entries)));
        }
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
            continue;
        }
        let raw = entry.path().map_err(|e| fail(e.to_string()))?.into_owned();
        let relative = split_top(&raw, &mut top).map_err(|why| fail(format!("entry {}: {why}", raw.display())))?;
        let Some(relative) = relative else { continue };
        let target = staging.join(&relative);
        let parent = fsx::parent(&target).to_path_buf();
        ensure_dirs(staging, &parent).map_err(|why| fail(format!("entry {}: {why}", raw.display())))?;
        match kind {
            tar::EntryType::Directory => {
                ensure_dirs(staging, &target).map_err(|why| fail(format!("entry {}: {why}", raw.display())))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut options = OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt as _;
                    // Executable bits survive; set-id and world-write never do.
                    let mode = entry.header().mode().unwrap_or(0o644);
                    options.mode(if mode & 0o111 != 0 { 0o755 } else { 0o644 });
                }
                let mut out = options.open(&target).map_err(|e| {
                    fail(format!("entry {}: cannot create it ({e}); a duplicate entry?", raw.display()))
                })?;
                let mut buffer = vec![0u8; 64 << 10];
                loop {
                    let n = entry.read(&mut buffer).map_err(|e| fail(e.to_string()))?;
                    if n == 0 {
                        break;
                    }
                    written += n as u64;
                    if written > limits.max_bytes {
                        return Err(fail(format!("it unpacks to more than {} bytes", limits.max_bytes)));
                    }
                    out.write_all(&buffer[..n]).at("writing", &target)?;
                }
                out.sync_all().at("flushing", &target)?;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(|e| fail(e.to_string()))?
                    .ok_or_else(|| fail(format!("entry {}: a symlink without a target", raw.display())))?;
                check_link(&relative, &link).map_err(|why| fail(format!("entry {}: {why}", raw.display())))?;
                make_symlink(&link, &target).at("creating the symlink", &target)?;
            }
            other => {
                return Err(fail(format!(
                    "entry {} is a {other:?}: only files, folders and symlinks inside the tree are allowed",
                    raw.display()
                )));
            }
        }
    }
    if top.is_none() {
        return Err(fail("it is empty".to_owned()));
    }
    fsx::sync_dir(staging)
}

/// Strips the archive's single top-level folder; `Ok(None)` for the top
/// folder itself.
fn split_top(raw: &Path, top: &mut Option<PathBuf>) -> Result<Option<PathBuf>, String> {
    let mut parts = Vec::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("`..` is not allowed".to_owned()),
            Component::RootDir | Component::Prefix(_) => return Err("absolute paths are not allowed".to_owned()),
        }
    }
    let Some((first, rest)) = parts.split_first() else { return Err("an empty path".to_owned()) };
    match top {
        Some(top) if top.as_os_str() != *first => {
            return Err(format!("a second top-level folder (the first was {})", top.display()));
        }
        Some(_) => {}
        None => *top = Some(PathBuf::from(first)),
    }
    if rest.is_empty() {
        return Ok(None);
    }
    Ok(Some(rest.iter().collect()))
}

/// Creates the folders from `root` down to `dir`, refusing any component that
/// is a symlink or a file: nothing is ever written through a symlink.
fn ensure_dirs(root: &Path, dir: &Path) -> Result<(), String> {
    let relative = dir.strip_prefix(root).map_err(|_| "outside the staging folder".to_owned())?;
    let mut at = root.to_path_buf();
    for component in relative.components() {
        at.push(component);
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => return Err("it would be written through a symlink".to_owned()),
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(format!("{} is a file, not a folder", at.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&at).map_err(|e| format!("cannot create {}: {e}", at.display()))?
            }
            Err(e) => return Err(format!("cannot inspect {}: {e}", at.display())),
        }
    }
    Ok(())
}

/// A symlink at `entry` (relative to the tree) may only point inside the
/// tree, judged by its text: every other symlink is checked the same way, so
/// no chain of them leaves the tree either.
fn check_link(entry: &Path, link: &Path) -> Result<(), String> {
    let mut depth = entry.components().count() as i64 - 1;
    for component in link.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("symlink to {} leaves the tree", link.display()));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("symlink to the absolute path {}", link.display()));
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn make_symlink(link: &Path, at: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(link, at)
}

#[cfg(not(unix))]
fn make_symlink(_link: &Path, _at: &Path) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "folder-swap archives are unpacked only on Linux and macOS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_inside_the_tree() {
        assert!(check_link(Path::new("Contents/Frameworks/A/Current"), Path::new("../B")).is_ok());
        assert!(check_link(Path::new("a"), Path::new("b/c")).is_ok());
        assert!(check_link(Path::new("a"), Path::new("../x")).is_err());
        assert!(check_link(Path::new("a/b"), Path::new("../../x")).is_err());
        assert!(check_link(Path::new("a"), Path::new("/etc/passwd")).is_err());
    }

    #[test]
    fn only_one_top_level_folder_and_no_escapes() {
        let mut top = None;
        assert_eq!(split_top(Path::new("Hudson.app/"), &mut top).unwrap(), None);
        assert_eq!(
            split_top(Path::new("./Hudson.app/Contents/x"), &mut top).unwrap(),
            Some(PathBuf::from("Contents/x"))
        );
        assert!(split_top(Path::new("Other/x"), &mut top).is_err());
        assert!(split_top(Path::new("Hudson.app/../x"), &mut top).is_err());
        assert!(split_top(Path::new("/Hudson.app/x"), &mut top).is_err());
    }
}
