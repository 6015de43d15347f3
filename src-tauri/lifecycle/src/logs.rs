//! The per-user log: shell events and the backend's output in one file,
//! redacted before anything is written, rotated by size.
//!
//! `<dir>/<name>` is the live file; when the next line would take it past
//! `max_bytes` it becomes `<name>.1`, `<name>.1` becomes `<name>.2`, and so
//! on up to `keep` old files. No file ever exceeds `max_bytes`.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::redact::Redactor;

/// Size and count limits of the log files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Largest size of one file, in bytes.
    pub max_bytes: u64,
    /// Old files kept besides the live one.
    pub keep: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation { max_bytes: 1024 * 1024, keep: 3 }
    }
}

/// A size-rotated append-only file.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    file: File,
    size: u64,
}

impl RotatingFile {
    /// Opens (appends to) `dir/name`, creating `dir` when missing.
    pub fn open(dir: &Path, name: &str, rotation: Rotation) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join(name);
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        let rotation = Rotation { max_bytes: rotation.max_bytes.max(256), keep: rotation.keep.max(1) };
        Ok(RotatingFile { path, rotation, file, size })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `line` and a newline. A line longer than a whole file is cut.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let max = self.rotation.max_bytes as usize;
        let mut line = line;
        if line.len() + 1 > max {
            let mut end = max - 1;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line = &line[..end];
        }
        let needed = line.len() as u64 + 1;
        if self.size > 0 && self.size + needed > self.rotation.max_bytes {
            self.rotate()?;
        }
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.file.write_all(&bytes)?;
        self.size += needed;
        Ok(())
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{n}"));
        self.path.with_file_name(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let keep = self.rotation.keep;
        let _ = fs::remove_file(self.numbered(keep));
        for n in (1..keep).rev() {
            let from = self.numbered(n);
            if from.exists() {
                fs::rename(&from, self.numbered(n + 1))?;
            }
        }
        fs::rename(&self.path, self.numbered(1))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The log holds what the user did in the app: for their eyes only.
        options.mode(0o600);
    }
    options.open(path)
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Shell,
    /// A machine-readable [`crate::shell_event::ShellEvent`].
    Event,
    BackendStdout,
    BackendStderr,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Shell => "shell",
            Source::Event => crate::shell_event::EVENT_LABEL,
            Source::BackendStdout => "backend:stdout",
            Source::BackendStderr => "backend:stderr",
        }
    }
}

struct Inner {
    file: Option<RotatingFile>,
    redactor: Redactor,
    recent: VecDeque<String>,
    echo: bool,
}

/// The shared log handle: cheap to clone, safe to use from any thread.
#[derive(Clone)]
pub struct Log {
    inner: Arc<Mutex<Inner>>,
    dir: Option<PathBuf>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// Lines kept in memory for error pages.
const RECENT: usize = 40;

impl Log {
    /// Logs to `dir/name` with `rotation`; `echo` also prints each (redacted)
    /// line to stderr. If the file cannot be opened the log still echoes and
    /// keeps its recent lines, and says why once.
    pub fn open(dir: &Path, name: &str, rotation: Rotation, echo: bool) -> Log {
        let (file, problem) = match RotatingFile::open(dir, name, rotation) {
            Ok(file) => (Some(file), None),
            Err(e) => (None, Some(format!("cannot write the log file in {}: {e}", dir.display()))),
        };
        let log = Log {
            inner: Arc::new(Mutex::new(Inner { file, redactor: Redactor::new(), recent: VecDeque::new(), echo })),
            dir: Some(dir.to_path_buf()),
        };
        if let Some(problem) = problem {
            log.shell(&problem);
        }
        log
    }

    /// A log that only echoes to stderr (no folder known).
    pub fn stderr_only() -> Log {
        Log {
            inner: Arc::new(Mutex::new(Inner {
                file: None,
                redactor: Redactor::new(),
                recent: VecDeque::new(),
                echo: true,
            })),
            dir: None,
        }
    }

    /// The log folder, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// From now on, `secret` never reaches the log.
    pub fn add_secret(&self, secret: &str) {
        self.lock().redactor.add_secret(secret);
    }

    /// Redacts `text` with this log's secrets and patterns.
    pub fn redact(&self, text: &str) -> String {
        self.lock().redactor.redact(text).into_owned()
    }

    /// A copy of this log's redactor (its secrets so far and the patterns).
    pub fn redactor(&self) -> Redactor {
        self.lock().redactor.clone()
    }

    /// [`Log::redactor`] without waiting longer than about 50 ms: none when
    /// the log stays busy (a panic on a thread that holds it must not wait
    /// for itself).
    pub fn try_redactor(&self) -> Option<Redactor> {
        for _ in 0..10 {
            match self.inner.try_lock() {
                Ok(inner) => return Some(inner.redactor.clone()),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    return Some(poisoned.into_inner().redactor.clone());
                }
                Err(std::sync::TryLockError::WouldBlock) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
        None
    }

    pub fn shell(&self, message: &str) {
        self.write(Source::Shell, message);
    }

    /// One machine-readable event line ([`crate::shell_event`]).
    pub fn event(&self, event: &crate::shell_event::ShellEvent) {
        self.write(Source::Event, &event.to_json());
    }

    pub fn write(&self, source: Source, message: &str) {
        let mut inner = self.lock();
        let redacted = inner.redactor.redact(message).into_owned();
        let line = format!("{} [{}] {}", timestamp(SystemTime::now()), source.label(), redacted);
        if inner.echo {
            eprintln!("{line}");
        }
        if inner.recent.len() == RECENT {
            inner.recent.pop_front();
        }
        inner.recent.push_back(line.clone());
        if let Some(file) = inner.file.as_mut()
            && let Err(e) = file.write_line(&line)
        {
            eprintln!("cannot write the log file {}: {e}", file.path().display());
            inner.file = None;
        }
    }

    /// The last lines written (already redacted), oldest first.
    pub fn recent(&self, n: usize) -> Vec<String> {
        let inner = self.lock();
        inner.recent.iter().skip(inner.recent.len().saturating_sub(n)).cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `2025-01-31T23:59:59.123Z`. Hand-written because the date crates in the
/// shell's dependency tree are built without formatting support, and turning
/// it on would rebuild half of Tauri.
fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps_are_utc_rfc3339() {
        let at = |secs: u64, ms: u64| {
            timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_767_225_599, 999), "2025-12-31T23:59:59.999Z");
    }

    #[test]
    fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation { max_bytes: 1000, keep: 2 };
        let mut file = RotatingFile::open(dir.path(), "app.log", rotation).unwrap();
        for i in 0..200 {
            file.write_line(&format!("line {i:04} {}", "x".repeat(40))).unwrap();
        }
        let mut names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["app.log", "app.log.1", "app.log.2"]);
        for name in &names {
            let len = fs::metadata(dir.path().join(name)).unwrap().len();
            assert!(len <= 1000 && len > 900 || name == "app.log", "{name}: {len} bytes");
        }
        let live = fs::read_to_string(dir.path().join("app.log")).unwrap();
        assert!(live.ends_with(&format!("line 0199 {}\n", "x".repeat(40))));
        let older = fs::read_to_string(dir.path().join("app.log.1")).unwrap();
        let first_live: u32 = live[5..9].parse().unwrap();
        let last_older: u32 = older.lines().last().unwrap()[5..9].parse().unwrap();
        assert_eq!(last_older + 1, first_live, "no line lost between files");
    }

    #[test]
    fn a_huge_line_is_cut_to_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = RotatingFile::open(dir.path(), "a.log", Rotation { max_bytes: 300, keep: 1 }).unwrap();
        file.write_line("short").unwrap();
        file.write_line(&"é".repeat(1000)).unwrap();
        assert!(fs::metadata(dir.path().join("a.log")).unwrap().len() <= 300);
        assert_eq!(fs::read_to_string(dir.path().join("a.log.1")).unwrap(), "short\n");
    }

    #[test]
    fn reopening_appends_and_counts_the_existing_size() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation { max_bytes: 300, keep: 1 };
        RotatingFile::open(dir.path(), "a.log", rotation).unwrap().write_line(&"a".repeat(200)).unwrap();
        RotatingFile::open(dir.path(), "a.log", rotation).unwrap().write_line(&"b".repeat(200)).unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("a.log.1")).unwrap().trim(), "a".repeat(200));
        assert_eq!(fs::read_to_string(dir.path().join("a.log")).unwrap().trim(), "b".repeat(200));
    }

    #[test]
    fn a_copy_of_the_redactor_knows_the_secrets_and_never_waits_for_a_held_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), "t.log", Rotation::default(), false);
        log.add_secret("handed-out-value-7");
        let copy = log.try_redactor().unwrap();
        assert_eq!(copy.redact("x handed-out-value-7 y"), log.redact("x handed-out-value-7 y"));
        assert!(!log.redactor().redact("handed-out-value-7").contains("handed-out"));
        // Held (as by a thread that panics while writing a line): none, at once.
        let held = log.lock();
        let started = std::time::Instant::now();
        assert!(log.try_redactor().is_none());
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(held);
    }

    #[test]
    fn the_log_redacts_before_writing_and_keeps_recent_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), "hudson.log", Rotation::default(), false);
        log.add_secret("feedfacefeedfacefeedface");
        log.write(Source::BackendStderr, "token feedfacefeedfacefeedface DATABASE_URL=postgres://u:p@h/db");
        log.shell("started");
        let text = fs::read_to_string(dir.path().join("hudson.log")).unwrap();
        assert!(!text.contains("feedface") && !text.contains("u:p@h"), "{text}");
        assert!(text.contains("[backend:stderr] token [REDACTED] DATABASE_URL=[REDACTED]"), "{text}");
        let recent = log.recent(1);
        assert_eq!(recent.len(), 1);
        assert!(recent[0].ends_with("[shell] started"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("hudson.log")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
