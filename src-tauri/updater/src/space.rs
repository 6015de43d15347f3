//! Free disk space, checked before anything is written: an update that
//! cannot fit is refused with the numbers ("needs N MB free on <folder>,
//! M MB are free") and leaves nothing behind, instead of filling the disk
//! half-way and leaving it full — after which not even `state.json` could
//! be written.
//!
//! Needs on the same volume add up (the staging tree and the data
//! snapshot often share one disk). Each volume also keeps a margin free
//! for the app's own writes: [`margin`].

use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Result, UpdateError};

/// What must stay free beyond a need: 16 MiB plus a twentieth of it, for
/// the state file, the logs, the database and the file system's own
/// bookkeeping.
pub(crate) fn margin(need: u64) -> u64 {
    (16 << 20) + need / 20
}

/// One need: `bytes` written under `dir` for `what` ("the download").
#[derive(Debug, Clone)]
pub(crate) struct Need<'a> {
    pub dir: &'a Path,
    pub bytes: u64,
}

/// Refuses unless every volume has room for what will be written on it
/// plus the margin.
pub(crate) fn ensure(needs: &[Need<'_>]) -> Result<()> {
    let mut volumes: Vec<(Volume, PathBuf, u64)> = Vec::new();
    for need in needs {
        let probe = existing_ancestor(need.dir);
        let volume = Volume::of(&probe);
        match volumes.iter_mut().find(|(v, _, _)| *v == volume) {
            Some((_, _, bytes)) => *bytes = bytes.saturating_add(need.bytes),
            None => volumes.push((volume, probe, need.bytes)),
        }
    }
    for (_, dir, bytes) in volumes {
        let needed = bytes.saturating_add(margin(bytes));
        // A volume whose free space cannot be read is not refused: the
        // write itself still fails cleanly, and the `.part` is removed.
        let Ok(free) = fs4::available_space(&dir) else { continue };
        if free < needed {
            return Err(UpdateError::NoSpace { dir, needed, free });
        }
    }
    Ok(())
}

/// `dir` or its closest existing ancestor (the staging folder and the
/// snapshot folder do not exist yet).
fn existing_ancestor(dir: &Path) -> PathBuf {
    let mut at = dir;
    loop {
        if at.exists() {
            return at.to_path_buf();
        }
        match at.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => at = parent,
            _ => return PathBuf::from("."),
        }
    }
}

/// Which volume a folder is on: its device on Unix; elsewhere the drive
/// or share its path starts with (`C:`, `\\server\share`), else the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Volume(String);

impl Volume {
    fn of(dir: &Path) -> Volume {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            if let Ok(meta) = std::fs::metadata(dir) {
                return Volume(format!("device {}", meta.dev()));
            }
        }
        match dir.components().next() {
            Some(std::path::Component::Prefix(prefix)) => Volume(prefix.as_os_str().to_string_lossy().to_uppercase()),
            _ => Volume(dir.display().to_string()),
        }
    }
}

/// True when `error` means the disk (or the user's quota) is full.
pub(crate) fn is_full(error: &io::Error) -> bool {
    if error.kind() == io::ErrorKind::StorageFull || error.kind() == io::ErrorKind::QuotaExceeded {
        return true;
    }
    #[cfg(unix)]
    {
        matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Megabytes, rounded up, for messages.
pub(crate) fn megabytes(bytes: u64) -> u64 {
    bytes.div_ceil(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_on_one_volume_add_up_and_an_impossible_one_is_refused_with_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("not/yet/made");
        assert!(ensure(&[Need { dir: &a, bytes: 1 }, Need { dir: dir.path(), bytes: 1 }]).is_ok());
        let huge = u64::MAX / 4;
        let error = ensure(&[Need { dir: &a, bytes: huge }]).unwrap_err();
        let text = error.to_string();
        assert!(text.contains(&format!("needs {} MB free", megabytes(huge + margin(huge)))), "{text}");
        assert!(text.contains(&dir.path().display().to_string()) && text.contains("MB are free"), "{text}");
    }

    #[test]
    fn a_full_disk_is_told_apart_from_other_errors() {
        assert!(is_full(&io::Error::from(io::ErrorKind::StorageFull)));
        #[cfg(unix)]
        assert!(is_full(&io::Error::from_raw_os_error(libc::ENOSPC)));
        assert!(!is_full(&io::Error::from(io::ErrorKind::PermissionDenied)));
    }
}
