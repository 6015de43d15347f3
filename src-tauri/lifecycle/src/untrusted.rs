//! Reading a file from a tree someone else wrote: a channel folder, a dist
//! folder, an unpacked package, a handshake or state file. One helper for
//! every such read, so each gets the same three guarantees:
//!
//! - the file is opened as a **regular file**: a symlink as the last
//!   component is refused (`O_NOFOLLOW`), and a FIFO or a device is refused
//!   without blocking (`O_NONBLOCK` on the open, then a type check on the
//!   open descriptor, so on Unix a swap between a check and the open changes
//!   nothing; on Windows the symlink check comes before the open, and a
//!   link swapped in between is followed — the type check on the handle
//!   still refuses anything but a file);
//! - at most **`cap` bytes** are read, the cap enforced while reading (a file
//!   growing under us is cut off at `cap + 1` bytes, not read to its end);
//! - the error **names the file** and says what to do about it.
//!
//! `hudson-updater`, the shell and every `cargo xtask` command that reads
//! channel trees, dist manifests or packages call this; nothing else in the
//! workspace opens such a file itself.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Why a file from an untrusted tree was not read.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0} does not exist")]
    NotFound(PathBuf),
    #[error(
        "{0} is a symlink; files here are read only as regular files (replace the link with the file it points to)"
    )]
    Symlink(PathBuf),
    #[error("{path} is {kind}, not a regular file; replace it with the file it should be")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path} is larger than {cap} bytes, the most a file of its kind may be; it is not what it claims to be")]
    TooLarge { path: PathBuf, cap: u64 },
    #[error("reading {0}: {1}")]
    Io(PathBuf, #[source] io::Error),
}

impl Refused {
    /// The file does not exist (a caller may treat that as "none yet").
    pub fn is_not_found(&self) -> bool {
        matches!(self, Refused::NotFound(_))
    }
}

/// Opens `path` for reading as a regular file: never through a final
/// symlink, never blocking on a FIFO, never a device or a folder.
pub fn open(path: &Path) -> Result<File, Refused> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    {
        // No O_NOFOLLOW: look first; the type check on the open handle
        // below still refuses anything that is not a file.
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Refused::Symlink(path.to_path_buf()));
        }
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Refused::NotFound(path.to_path_buf())),
        // ELOOP is O_NOFOLLOW's answer for a symlink.
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(Refused::Symlink(path.to_path_buf())),
        // ENXIO: a UNIX socket (open cannot open one); ENOTDIR: a
        // file where the path needs a folder. Neither is the regular file
        // asked for, whatever the permissions.
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return Err(Refused::NotRegular { path: path.to_path_buf(), kind: "a socket" });
        }
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            return Err(Refused::NotRegular { path: path.to_path_buf(), kind: "under a file instead of a folder" });
        }
        Err(e) => return Err(Refused::Io(path.to_path_buf(), e)),
    };
    let kind = file.metadata().map_err(|e| Refused::Io(path.to_path_buf(), e))?.file_type();
    if !kind.is_file() {
        return Err(Refused::NotRegular { path: path.to_path_buf(), kind: describe(&kind) });
    }
    #[cfg(unix)]
    {
        // Regular files ignore O_NONBLOCK, but a caller that keeps the file
        // should get an ordinary descriptor.
        use std::os::fd::AsRawFd;
        // SAFETY: plain fcntl calls on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
    }
    Ok(file)
}

/// Reads all of `path`, a regular file of at most `cap` bytes.
pub fn read(path: &Path, cap: u64) -> Result<Vec<u8>, Refused> {
    let file = open(path)?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Refused::Io(path.to_path_buf(), e))?;
    if bytes.len() as u64 > cap {
        return Err(Refused::TooLarge { path: path.to_path_buf(), cap });
    }
    Ok(bytes)
}

/// `read`, for a file that may be absent: `None` when it does not exist;
/// any other refusal is still an error.
pub fn read_optional(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, Refused> {
    match read(path, cap) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(refused) if refused.is_not_found() => Ok(None),
        Err(refused) => Err(refused),
    }
}

/// `read`, as UTF-8 text.
pub fn read_to_string(path: &Path, cap: u64) -> Result<String, Refused> {
    let bytes = read(path, cap)?;
    String::from_utf8(bytes).map_err(|_| {
        Refused::Io(path.to_path_buf(), io::Error::new(io::ErrorKind::InvalidData, "the file is not UTF-8 text"))
    })
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        return "a folder";
    }
    "not a file"
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latest.json");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read(&path, 10).unwrap(), b"0123456789");
        let error = read(&path, 9).unwrap_err();
        assert!(matches!(error, Refused::TooLarge { cap: 9, .. }), "{error}");
        assert!(error.to_string().contains("latest.json"), "{error}");
        assert!(read(&dir.path().join("absent"), 10).unwrap_err().is_not_found());
        assert_eq!(read_optional(&dir.path().join("absent"), 10).unwrap(), None);
        assert_eq!(read_optional(&path, 10).unwrap().as_deref(), Some(&b"0123456789"[..]));
        assert!(read_optional(&path, 9).is_err());
    }

    #[test]
    fn a_symlink_to_dev_zero_is_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("manifest.json.minisig");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let error = read(&link, u64::MAX).unwrap_err();
        assert!(matches!(error, Refused::Symlink(_)), "{error}");
        assert!(error.to_string().contains("manifest.json.minisig is a symlink"), "{error}");
    }

    #[test]
    fn a_device_reached_directly_is_refused_by_its_type() {
        // Not a symlink: the path itself is the device.
        let error = read(Path::new("/dev/zero"), u64::MAX).unwrap_err();
        assert!(matches!(error, Refused::NotRegular { kind: "a device", .. }), "{error}");
    }

    #[test]
    fn a_fifo_without_a_writer_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("history.json");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo on a path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // A blocking open would never return (no writer ever comes).
        let error = read(&fifo, 1024).unwrap_err();
        assert!(matches!(error, Refused::NotRegular { kind: "a FIFO", .. }), "{error}");
    }

    #[test]
    fn a_socket_or_a_path_through_a_file_is_refused_as_not_regular() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("state.json");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let error = read(&socket, 1024).unwrap_err();
        assert!(matches!(error, Refused::NotRegular { kind: "a socket", .. }), "{error}");
        let file = dir.path().join("updates");
        std::fs::write(&file, b"a file").unwrap();
        let error = read(&file.join("state.json"), 1024).unwrap_err();
        assert!(matches!(error, Refused::NotRegular { .. }), "{error}");
    }

    #[test]
    fn a_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = read(dir.path(), 1024).unwrap_err();
        assert!(matches!(error, Refused::NotRegular { kind: "a folder", .. }), "{error}");
    }
}
