//! The per-launch handshake: a private directory, a fresh token, and the
//! rules for accepting the file the backend writes into it.
//!
//! A handshake is accepted only if the file is a regular file (not a symlink)
//! owned by this user, no larger than [`MAX_HANDSHAKE_BYTES`], carries this
//! launch's token and names the child's pid (or a descendant of it, for
//! wrappers that spawn the VM). The directory is new for every launch, so a
//! file from an earlier run is never even looked at.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::contract::{HANDSHAKE_FILE_NAME, HandshakeDoc, MAX_HANDSHAKE_BYTES};
use crate::untrusted::Refused;

/// A random per-launch secret: 256 bits, lower-case hex.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        Token(hex::encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in time independent of where the strings differ.
    pub fn matches(&self, other: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), other.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The per-launch directory (mode 0700) and the path the backend writes to.
/// Removed when dropped.
#[derive(Debug)]
pub struct LaunchDir {
    dir: tempfile::TempDir,
}

impl LaunchDir {
    /// Creates `<base>/launch-XXXXXX` with mode 0700. `base` is created (0700)
    /// when missing; it must be owned by this user and not writable by others.
    pub fn create(base: &Path) -> Result<Self, HandshakeError> {
        create_private_dir(base)?;
        let dir = tempfile::Builder::new()
            .prefix(LAUNCH_PREFIX)
            .tempdir_in(base)
            .map_err(|e| HandshakeError::Io(base.to_path_buf(), e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))
                .map_err(|e| HandshakeError::Io(dir.path().to_path_buf(), e))?;
        }
        // Lets a later launch tell this folder from one whose shell died
        // (see `sweep_stale`) without reading the handshake file.
        fs::write(dir.path().join(OWNER_FILE_NAME), std::process::id().to_string())
            .map_err(|e| HandshakeError::Io(dir.path().to_path_buf(), e))?;
        Ok(LaunchDir { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn handshake_file(&self) -> PathBuf {
        self.dir.path().join(HANDSHAKE_FILE_NAME)
    }
}

/// The file in a launch directory naming the shell process that made it.
const OWNER_FILE_NAME: &str = "owner.pid";
const LAUNCH_PREFIX: &str = "launch-";

/// Removes launch directories under `base` whose shell no longer runs (it
/// was killed before it could clean up). Only the owner file is read; the
/// handshake files in them, with their old tokens, are deleted unread.
/// Returns how many were removed.
pub fn sweep_stale(base: &Path) -> usize {
    let Ok(entries) = fs::read_dir(base) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(LAUNCH_PREFIX) {
            continue;
        }
        let dir = entry.path();
        // A symlink or a file with our prefix is not ours to follow.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        // Bounded and never through a FIFO or a symlink (a launch folder is
        // in a folder other processes of the user can write).
        let owner = crate::untrusted::read_to_string(&dir.join(OWNER_FILE_NAME), 32)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        let stale = match owner {
            Some(pid) => pid != std::process::id() && !process_alive(pid),
            // Made by a version without owner files, or half-created: old
            // enough to be nobody's when it is over a minute old.
            None => entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 60)),
        };
        if stale && fs::remove_dir_all(&dir).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Whether a process with `pid` is running (Windows: opened and not yet
/// signalled; a process of another user counts as running).
pub fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
        // SAFETY: signal 0 only checks that the process exists.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::Foundation::{CloseHandle, ERROR_ACCESS_DENIED, GetLastError, WAIT_TIMEOUT};
        use windows_sys::Win32::System::Threading::{
            OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE, WaitForSingleObject,
        };
        // A pid stays openable while anyone holds a handle to the process,
        // after it exited too: alive means opened *and* not yet signalled.
        // SAFETY: plain Win32 calls on a pid; the handle is closed below.
        unsafe {
            let handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE, 0, pid);
            if handle.is_null() {
                // Another user's live process cannot be opened; a gone pid
                // is an invalid parameter.
                return GetLastError() == ERROR_ACCESS_DENIED;
            }
            let running = WaitForSingleObject(handle, 0) == WAIT_TIMEOUT;
            CloseHandle(handle);
            running
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        // Without a liveness check, keep the folder.
        let _ = pid;
        true
    }
}

/// Default base for launch directories: `$XDG_RUNTIME_DIR/<app>` when the
/// runtime dir exists (tmpfs, per user, 0700), else `<data_dir>/run`.
pub fn default_runtime_base(app: &str, data_dir: &Path) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if Path::new(&dir).is_dir() => Path::new(&dir).join(app),
        _ => data_dir.join("run"),
    }
}

fn create_private_dir(path: &Path) -> Result<(), HandshakeError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(|e| HandshakeError::Io(path.to_path_buf(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::symlink_metadata(path).map_err(|e| HandshakeError::Io(path.to_path_buf(), e))?;
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o022 != 0 {
            return Err(HandshakeError::UnsafeDirectory(path.to_path_buf()));
        }
    }
    Ok(())
}

/// Reads and checks the handshake file at `path` for a launch that used
/// `token` and whose child has pid `child_pid`.
pub fn read_handshake(path: &Path, token: &Token, child_pid: u32) -> Result<HandshakeDoc, HandshakeError> {
    let mut file = open_no_follow(path)?;
    let meta = file.metadata().map_err(|e| HandshakeError::Io(path.to_path_buf(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions.
        if meta.uid() != unsafe { libc::geteuid() } {
            return Err(HandshakeError::WrongOwner(path.to_path_buf()));
        }
    }
    if meta.len() > MAX_HANDSHAKE_BYTES {
        return Err(HandshakeError::TooLarge(path.to_path_buf(), meta.len()));
    }
    let mut bytes = Vec::new();
    file.by_ref()
        .take(MAX_HANDSHAKE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| HandshakeError::Io(path.to_path_buf(), e))?;
    if bytes.is_empty() {
        return Err(HandshakeError::Empty(path.to_path_buf()));
    }
    let doc: HandshakeDoc =
        serde_json::from_slice(&bytes).map_err(|e| HandshakeError::Malformed(path.to_path_buf(), e.to_string()))?;
    if !token.matches(&doc.token) {
        return Err(HandshakeError::WrongToken(path.to_path_buf()));
    }
    if doc.pid != child_pid && !is_descendant(doc.pid, child_pid) {
        return Err(HandshakeError::WrongPid { path: path.to_path_buf(), found: doc.pid, child: child_pid });
    }
    if doc.port == 0 {
        return Err(HandshakeError::Malformed(path.to_path_buf(), "port 0".into()));
    }
    Ok(doc)
}

/// The one untrusted-file opener (`crate::untrusted`), in this module's errors.
fn open_no_follow(path: &Path) -> Result<File, HandshakeError> {
    crate::untrusted::open(path).map_err(|refused| match refused {
        Refused::NotFound(path) => HandshakeError::Missing(path),
        Refused::Symlink(path) => HandshakeError::Symlink(path),
        Refused::NotRegular { path, .. } => HandshakeError::NotRegular(path),
        Refused::TooLarge { path, cap } => HandshakeError::TooLarge(path, cap),
        Refused::Io(path, e) => HandshakeError::Io(path, e),
    })
}

/// True when `pid` is a descendant of `ancestor` (Linux: walks `/proc`).
fn is_descendant(pid: u32, ancestor: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        let mut current = pid;
        for _ in 0..64 {
            let Ok(stat) = fs::read_to_string(format!("/proc/{current}/stat")) else {
                return false;
            };
            // The command name may hold spaces; fields resume after the last ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
                return false;
            };
            let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) else {
                return false;
            };
            if ppid == ancestor {
                return true;
            }
            if ppid <= 1 {
                return false;
            }
            current = ppid;
        }
        false
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pid, ancestor);
        false
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("handshake file {0} does not exist yet")]
    Missing(PathBuf),
    #[error("handshake file {0} is still empty")]
    Empty(PathBuf),
    #[error("refused handshake {0}: it is a symbolic link, not a file the backend wrote")]
    Symlink(PathBuf),
    #[error("refused handshake {0}: not a regular file")]
    NotRegular(PathBuf),
    #[error("refused handshake {0}: owned by another user")]
    WrongOwner(PathBuf),
    #[error("refused handshake {0}: {1} bytes is larger than any handshake")]
    TooLarge(PathBuf, u64),
    #[error("refused handshake {0}: not the contract's JSON ({1})")]
    Malformed(PathBuf, String),
    #[error("refused handshake {0}: it does not carry this launch's token (planted or stale file)")]
    WrongToken(PathBuf),
    #[error("refused handshake {path}: it names pid {found}, but the backend we started is pid {child}")]
    WrongPid { path: PathBuf, found: u32, child: u32 },
    #[error("launch directory {0} is not private (must be a directory owned by you, mode 0700)")]
    UnsafeDirectory(PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

impl HandshakeError {
    /// A stable name of the refusal, for [`crate::ShellEvent::HandshakeRefused`].
    pub fn kind(&self) -> &'static str {
        match self {
            HandshakeError::Missing(_) => "missing",
            HandshakeError::Empty(_) => "empty",
            HandshakeError::Symlink(_) => "symlink",
            HandshakeError::NotRegular(_) => "not_regular",
            HandshakeError::WrongOwner(_) => "wrong_owner",
            HandshakeError::TooLarge(..) => "too_large",
            HandshakeError::Malformed(..) => "malformed",
            HandshakeError::WrongToken(_) => "wrong_token",
            HandshakeError::WrongPid { .. } => "wrong_pid",
            HandshakeError::UnsafeDirectory(_) => "unsafe_directory",
            HandshakeError::Io(..) => "io",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, doc: &HandshakeDoc) {
        fs::write(path, serde_json::to_vec(doc).unwrap()).unwrap();
    }

    fn doc(token: &Token) -> HandshakeDoc {
        HandshakeDoc { port: 4000, token: token.as_str().into(), pid: std::process::id(), version: "0.1.0".into() }
    }

    #[test]
    fn token_is_256_bits_of_hex_and_never_printed() {
        let token = Token::generate();
        assert_eq!(token.as_str().len(), 64);
        assert!(token.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(token, Token::generate());
        assert!(!format!("{token:?}").contains(token.as_str()));
    }

    #[test]
    fn launch_dir_is_private_and_fresh() {
        let base = tempfile::tempdir().unwrap();
        let a = LaunchDir::create(&base.path().join("app")).unwrap();
        let b = LaunchDir::create(&base.path().join("app")).unwrap();
        assert_ne!(a.path(), b.path());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(a.path()).unwrap().permissions().mode() & 0o777, 0o700);
            assert_eq!(fs::metadata(base.path().join("app")).unwrap().permissions().mode() & 0o777, 0o700);
        }
        let kept = a.path().to_path_buf();
        drop(a);
        assert!(!kept.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_link_to_dev_zero_as_owner_file_does_not_hang_the_sweep() {
        let base = tempfile::tempdir().unwrap();
        for (name, make) in [
            (
                "launch-fifo",
                &(|p: &Path| {
                    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
                    // SAFETY: mkfifo on a path we own.
                    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
                }) as &dyn Fn(&Path),
            ),
            ("launch-zero", &|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
        ] {
            let dir = base.path().join(name);
            fs::create_dir(&dir).unwrap();
            make(&dir.join(OWNER_FILE_NAME));
        }
        // Unreadable owners: judged by age (new, so kept), never read.
        assert_eq!(sweep_stale(base.path()), 0);
        assert!(base.path().join("launch-fifo").exists() && base.path().join("launch-zero").exists());
    }

    #[test]
    fn sweeps_folders_of_dead_shells_only() {
        let base = tempfile::tempdir().unwrap();
        let ours = LaunchDir::create(base.path()).unwrap();
        // A process that has exited, on every OS: this test binary, listing
        // its tests and leaving.
        let mut dead = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--list")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let dead_pid = dead.id();
        dead.wait().unwrap();
        let stale = base.path().join("launch-old");
        fs::create_dir(&stale).unwrap();
        fs::write(stale.join(OWNER_FILE_NAME), dead_pid.to_string()).unwrap();
        fs::write(stale.join(HANDSHAKE_FILE_NAME), "{\"token\":\"old\"}").unwrap();
        let alive = base.path().join("launch-alive");
        fs::create_dir(&alive).unwrap();
        // Another live shell's folder: a process that lives until its stdin
        // closes.
        let mut living = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "handshake::tests::helper_lives_until_its_stdin_closes"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        fs::write(alive.join(OWNER_FILE_NAME), living.id().to_string()).unwrap();
        let unrelated = base.path().join("notes");
        fs::create_dir(&unrelated).unwrap();

        assert_eq!(sweep_stale(base.path()), 1);
        drop(living.stdin.take());
        living.wait().unwrap();
        assert!(!stale.exists());
        assert!(ours.path().exists() && alive.exists() && unrelated.exists());
    }

    /// Not a test: the live process `sweeps_folders_of_dead_shells_only`
    /// needs on every OS (this binary, run with `--ignored --exact`).
    #[test]
    #[ignore = "a helper process of sweeps_folders_of_dead_shells_only"]
    fn helper_lives_until_its_stdin_closes() {
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    }

    #[test]
    fn accepts_the_right_file() {
        let dir = tempfile::tempdir().unwrap();
        let token = Token::generate();
        let path = dir.path().join("h.json");
        write(&path, &doc(&token));
        assert_eq!(read_handshake(&path, &token, std::process::id()).unwrap().port, 4000);
    }

    #[test]
    fn refuses_wrong_token_wrong_pid_symlink_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let token = Token::generate();
        let path = dir.path().join("h.json");

        write(&path, &doc(&Token::generate()));
        assert!(matches!(read_handshake(&path, &token, std::process::id()), Err(HandshakeError::WrongToken(_))));

        write(&path, &HandshakeDoc { pid: 1, ..doc(&token) });
        assert!(matches!(read_handshake(&path, &token, std::process::id()), Err(HandshakeError::WrongPid { .. })));

        fs::write(&path, b"PORT:4000").unwrap();
        assert!(matches!(read_handshake(&path, &token, std::process::id()), Err(HandshakeError::Malformed(..))));

        fs::write(&path, vec![b' '; 5000]).unwrap();
        assert!(matches!(read_handshake(&path, &token, std::process::id()), Err(HandshakeError::TooLarge(..))));

        #[cfg(unix)]
        {
            let real = dir.path().join("real.json");
            write(&real, &doc(&token));
            let link = dir.path().join("link.json");
            std::os::unix::fs::symlink(&real, &link).unwrap();
            assert!(matches!(read_handshake(&link, &token, std::process::id()), Err(HandshakeError::Symlink(_))));

            let fifo = dir.path().join("fifo");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            assert!(matches!(read_handshake(&fifo, &token, std::process::id()), Err(HandshakeError::NotRegular(_))));
        }

        assert!(matches!(
            read_handshake(&dir.path().join("none"), &token, std::process::id()),
            Err(HandshakeError::Missing(_))
        ));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn accepts_a_descendant_pid() {
        let child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        assert!(is_descendant(child.id(), std::process::id()));
        assert!(!is_descendant(std::process::id(), child.id()));
        let mut child = child;
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
