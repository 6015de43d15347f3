//! Durable and bounded file-system primitives the rest of the crate builds on.
//!
//! Durability: a rename is only as durable as the folder entry that records
//! it, so every atomic write fsyncs the file, renames it, then fsyncs the
//! folder. Without the last fsync a power loss can bring back the old name.
//!
//! Bounded reads: the app-data folder is the user's, so a file there may be a
//! symlink to `/dev/zero` or a FIFO nobody writes to. Reads go through
//! `hudson_lifecycle::untrusted` (no symlinks, no blocking, regular files,
//! a cap enforced while reading), the one helper the workspace has for that.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::error::{IoContext, Result};

/// Writes `bytes` to `path` atomically and durably: a temporary file in the
/// same folder, fsync, rename over `path`, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent(path);
    let mut temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).at("creating a temporary file in", dir)?;
    temp.write_all(bytes).at("writing", temp.path().to_path_buf())?;
    temp.as_file().sync_all().at("flushing", temp.path().to_path_buf())?;
    temp.persist(path).map_err(|e| e.error).at("renaming a temporary file to", path)?;
    sync_dir(dir)
}

/// Makes the entries of `dir` (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).at("flushing the folder", dir)
    }
    // Windows cannot open a folder as a file without backup semantics; its
    // renames are journaled by NTFS itself, and folder swaps never run there.
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The folder holding `path` (`.` for a bare name).
pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

pub(crate) use hudson_lifecycle::untrusted::{Refused, read as read_capped};

/// Opens a file of the app-data folder for reading through the workspace's
/// one untrusted-file opener (`hudson_lifecycle::untrusted`): a regular
/// file, never through a symlink, never blocking on a FIFO.
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    hudson_lifecycle::untrusted::open(path).map_err(|refused| match refused {
        Refused::NotFound(_) => io::Error::from(io::ErrorKind::NotFound),
        Refused::Io(_, e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    })
}

/// Opens `path` for appending (created if missing), never through a final
/// symlink and never blocking; anything but a regular file is refused.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    {
        if fs::symlink_metadata(path).map(|m| !m.is_file()).unwrap_or(false) {
            return Err(io::Error::other("not a regular file"));
        }
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Removes a file or a whole tree, whichever `path` is; absent is fine.
/// Never follows a symlink: a symlink is removed, not its target.
pub(crate) fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).at("inspecting", path),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).at("removing the folder", path),
        // A folder symlink or junction on Windows is removed as a folder.
        Ok(meta) if cfg!(windows) && meta.file_type().is_symlink() => {
            fs::remove_dir(path).or_else(|_| fs::remove_file(path)).at("removing", path)
        }
        Ok(_) => fs::remove_file(path).at("removing", path),
    }
}

/// True when something (even a dangling symlink) is at `path`.
pub(crate) fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Refuses when any folder or file on the way from `root` down to
/// `root/relative` is a symlink: a planted link must not send a read or a
/// write outside `root`. Missing components are fine.
pub(crate) fn check_no_symlink_below(root: &Path, relative: &Path) -> Result<()> {
    let mut at = root.to_path_buf();
    for component in relative.components() {
        at.push(component);
        if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(crate::error::UpdateError::State {
                path: at,
                detail: "a symlink where the updater keeps its own files; it was not followed".to_owned(),
            });
        }
    }
    Ok(())
}

/// Copies a regular file durably to `to` (replacing it atomically).
pub(crate) fn copy_durable(from: &Path, to: &Path) -> Result<()> {
    let temp = stage_copy(from, parent(to))?;
    temp.persist(to).map_err(|e| e.error).at("renaming a temporary file to", to)?;
    sync_dir(parent(to))
}

/// A durable copy of the regular file `from` as a temporary file in `dir`
/// (removed unless persisted): the first half of an atomic replace.
pub(crate) fn stage_copy(from: &Path, dir: &Path) -> Result<tempfile::NamedTempFile> {
    let mut source = open_regular(from).at("opening", from)?;
    let mut temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).at("creating a temporary file in", dir)?;
    io::copy(&mut source, temp.as_file_mut()).at("copying", from)?;
    temp.as_file().sync_all().at("flushing", temp.path().to_path_buf())?;
    Ok(temp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
