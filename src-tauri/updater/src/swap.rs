//! The one atomic step of a folder swap: exchange two folder entries on the
//! same filesystem, so that at every instant each name holds a complete tree.
//!
//! Linux: `renameat2(RENAME_EXCHANGE)` (through `syscall`, so it works with a
//! glibc older than 2.28 that lacks the wrapper). macOS: `renamex_np(RENAME_SWAP)`,
//! as Sparkle does. Anywhere else there is no atomic exchange, and folder
//! swaps are refused rather than done with two renames (the
//! tauri-plugin-updater gap a crash between them turns into a lost app).

use std::io;
use std::path::Path;

/// Atomically exchanges the entries at `a` and `b` (both must exist).
pub(crate) fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    imp::exchange(a, b)
}

#[cfg(unix)]
fn c_path(path: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt as _;
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use super::*;

    pub(super) fn exchange(a: &Path, b: &Path) -> io::Result<()> {
        let (a, b) = (c_path(a)?, c_path(b)?);
        // SAFETY: both are valid NUL-terminated paths that outlive the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE as libc::c_uint,
            )
        };
        if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }
}

#[cfg(target_vendor = "apple")]
mod imp {
    use super::*;

    pub(super) fn exchange(a: &Path, b: &Path) -> io::Result<()> {
        let (a, b) = (c_path(a)?, c_path(b)?);
        // SAFETY: both are valid NUL-terminated paths that outlive the call.
        let rc = unsafe { libc::renamex_np(a.as_ptr(), b.as_ptr(), libc::RENAME_SWAP) };
        if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
mod imp {
    use super::*;

    pub(super) fn exchange(_a: &Path, _b: &Path) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "no atomic folder exchange on this system"))
    }
}

#[cfg(all(test, any(target_os = "linux", target_vendor = "apple")))]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn exchange_swaps_two_folders() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        fs::write(a.join("which"), "a").unwrap();
        fs::write(b.join("which"), "b").unwrap();
        exchange(&a, &b).unwrap();
        assert_eq!(fs::read_to_string(a.join("which")).unwrap(), "b");
        assert_eq!(fs::read_to_string(b.join("which")).unwrap(), "a");
        assert!(exchange(&a, &dir.path().join("missing")).is_err());
    }
}
