//! Durable and bounded file-system primitives the rest of the crate builds on.
//!
//! Durability: a rename is only as durable as the folder entry that records
//! it, so every atomic write fsyncs the file, renames it, then fsyncs the
//! folder. Without the last fsync a power loss can bring back the old name.
//!
//! Bounded reads: the app-data folder is the user's, so a file there may be a
//! symlink to `/dev/zero` or a FIFO nobody writes to. We open without
//! following symlinks and without blocking, check for a regular file, and read
//! at most a cap.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use crate::error::{IoContext, Result};

/// Writes `bytes` to `path` atomically and durably: a temporary file in the
/// same folder, fsync, rename over `path`, fsync the folder.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
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

/// Why a bounded read failed.
#[derive(Debug)]
pub(crate) enum ReadCapped {
    NotFound,
    NotRegular,
    TooLarge,
    Io(io::Error),
}

impl std::fmt::Display for ReadCapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadCapped::NotFound => write!(f, "it does not exist"),
            ReadCapped::NotRegular => write!(f, "it is not a regular file (a symlink, FIFO or device)"),
            ReadCapped::TooLarge => write!(f, "it is larger than expected"),
            ReadCapped::Io(error) => write!(f, "{error}"),
        }
    }
}

/// Reads a regular file of at most `cap` bytes, never following a symlink
/// and never blocking on a FIFO.
pub(crate) fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, ReadCapped> {
    let file = open_regular(path, false).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ReadCapped::NotFound,
        _ if is_not_regular(&e) => ReadCapped::NotRegular,
        _ => ReadCapped::Io(e),
    })?;
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).map_err(ReadCapped::Io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadCapped::TooLarge);
    }
    Ok(bytes)
}

const NOT_REGULAR: &str = "not a regular file";

fn is_not_regular(error: &io::Error) -> bool {
    // ELOOP is what O_NOFOLLOW answers for a symlink.
    #[cfg(unix)]
    if error.raw_os_error() == Some(libc::ELOOP) {
        return true;
    }
    error.to_string().contains(NOT_REGULAR)
}

/// Opens a regular file without following a final symlink and without
/// blocking; `append` opens it for appending (created if missing) instead of
/// reading.
pub(crate) fn open_regular(path: &Path, append: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    if append {
        options.append(true).create(true);
    } else {
        options.read(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    {
        if fs::symlink_metadata(path).map(|m| !m.is_file()).unwrap_or(false) {
            return Err(io::Error::other(NOT_REGULAR));
        }
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(NOT_REGULAR));
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
        Ok(_) => fs::remove_file(path).at("removing", path),
    }
}

/// True when something (even a dangling symlink) is at `path`.
pub(crate) fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Copies a regular file durably to `to` (replacing it atomically).
pub(crate) fn copy_durable(from: &Path, to: &Path) -> Result<()> {
    let mut source = open_regular(from, false).at("opening", from)?;
    let dir = parent(to);
    let mut temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).at("creating a temporary file in", dir)?;
    io::copy(&mut source, temp.as_file_mut()).at("copying", from)?;
    temp.as_file().sync_all().at("flushing", temp.path().to_path_buf())?;
    temp.persist(to).map_err(|e| e.error).at("renaming a temporary file to", to)?;
    sync_dir(dir)
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

    #[test]
    fn capped_read_refuses_big_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, vec![0u8; 11]).unwrap();
        assert!(matches!(read_capped(&path, 10), Err(ReadCapped::TooLarge)));
        assert_eq!(read_capped(&path, 11).unwrap().len(), 11);
        assert!(matches!(read_capped(&dir.path().join("missing"), 10), Err(ReadCapped::NotFound)));
    }

    #[cfg(unix)]
    #[test]
    fn capped_read_refuses_symlinks_fifos_and_devices() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"{}").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(read_capped(&link, 10), Err(ReadCapped::NotRegular)), "a symlink is followed");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Would hang forever without O_NONBLOCK.
        assert!(matches!(read_capped(&fifo, 10), Err(ReadCapped::NotRegular)));
        assert!(matches!(read_capped(Path::new("/dev/zero"), 10), Err(ReadCapped::NotRegular)));
    }
}
