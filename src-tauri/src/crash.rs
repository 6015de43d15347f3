//! Crash capture. A panic in the shell leaves a crash record in the log
//! folder (`crash-<unix ms>-<pid>.json`: what panicked, where, the
//! backtrace, the versions and the time), passed through the log's
//! redactor, written to a temporary name and renamed, so a record is whole
//! or absent. The folder keeps the newest [`MAX_RECORDS`]. The backend's
//! `erl_crash.dump` lands beside them (`hudson_lifecycle::contract`'s
//! `ERL_CRASH_DUMP`). Nothing leaves the machine unless the user opted in
//! to crash upload (`crash_upload`).

use std::path::{Path, PathBuf};

use hudson_lifecycle::logs::Log;
use hudson_lifecycle::redact::Redactor;
use serde::Serialize;

/// Crash records kept in the log folder; older ones are deleted.
pub(crate) const MAX_RECORDS: usize = 20;
const PREFIX: &str = "crash-";

#[derive(Debug, Serialize)]
pub(crate) struct Record {
    pub kind: &'static str,
    pub time: String,
    pub shell_version: String,
    pub os: &'static str,
    pub arch: &'static str,
    pub thread: String,
    pub message: String,
    pub location: Option<String>,
    pub backtrace: String,
}

/// Makes every later panic of this process write a record into the log
/// folder of `log` (none: nothing to install),
/// tell `written` (the opt-in uploader), then do what the previous hook did
/// (print to stderr).
///
/// The record is redacted with `log`'s redactor, which knows every secret
/// this run handed out (the next run's would not); the patterns alone when
/// the log stays busy.
pub(crate) fn install(log: Log, shell_version: String, written: std::sync::mpsc::SyncSender<()>) {
    let Some(dir) = log.dir().map(Path::to_path_buf) else { return };
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        let record = Record {
            kind: "shell-panic",
            time: now(),
            shell_version: shell_version.clone(),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            thread: std::thread::current().name().unwrap_or("unnamed").to_owned(),
            message,
            location: info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())),
            backtrace: std::backtrace::Backtrace::force_capture().to_string(),
        };
        let redactor = log.try_redactor().unwrap_or_default();
        match write(&dir, &record, &redactor) {
            Ok(_) => {
                let _ = written.try_send(());
            }
            Err(error) => eprintln!("could not write a crash record in {}: {error}", dir.display()),
        }
        previous(info);
    }));
}

/// The time now, as a record says it.
pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Writes `record` (redacted) into `dir` and prunes old records; returns
/// the record's path.
pub(crate) fn write(dir: &Path, record: &Record, redactor: &Redactor) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(record).map_err(std::io::Error::other)?;
    let json = redactor.redact_output(&json).into_owned();
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let name = format!("{PREFIX}{millis}-{}.json", std::process::id());
    let path = dir.join(&name);
    let temp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&temp, json)?;
    std::fs::rename(&temp, &path)?;
    prune(dir);
    Ok(path)
}

/// Whether a file of the log folder, by name, is a crash record.
pub(crate) fn is_record(name: &str) -> bool {
    name.starts_with(PREFIX) && name.ends_with(".json")
}

/// The crash records in `dir`, oldest first.
pub(crate) fn records(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_record))
                .collect()
        })
        .unwrap_or_default();
    // crash-<millis>-<pid>.json: by time, then pid.
    found.sort_by_key(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let mut parts = name.trim_start_matches(PREFIX).trim_end_matches(".json").split('-');
        let millis = parts.next().and_then(|n| n.parse::<u128>().ok()).unwrap_or(0);
        let pid = parts.next().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
        (millis, pid)
    });
    found
}

fn prune(dir: &Path) {
    let found = records(dir);
    let excess = found.len().saturating_sub(MAX_RECORDS);
    for old in &found[..excess] {
        let _ = std::fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(message: &str) -> Record {
        Record {
            kind: "shell-panic",
            time: now(),
            shell_version: "0.1.0".to_owned(),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            thread: "main".to_owned(),
            message: message.to_owned(),
            location: Some("src/lib.rs:1:1".to_owned()),
            backtrace: "0: main".to_owned(),
        }
    }

    #[test]
    fn a_record_is_written_whole_and_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let mut redactor = Redactor::new();
        redactor.add_secret("s3cr3t-token-value");
        let path = write(dir.path(), &record("failed with s3cr3t-token-value in hand"), &redactor).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["kind"], "shell-panic");
        assert_eq!(json["shell_version"], "0.1.0");
        assert!(json["message"].as_str().unwrap().starts_with("failed with "), "{text}");
        assert!(!text.contains("s3cr3t-token-value"), "{text}");
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn only_the_newest_records_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..MAX_RECORDS + 3 {
            std::fs::write(dir.path().join(format!("{PREFIX}{}-1.json", 1000 + i)), "{}").unwrap();
        }
        std::fs::write(dir.path().join("hudson-desktop.log"), "kept").unwrap();
        write(dir.path(), &record("newest"), &Redactor::new()).unwrap();
        let kept = records(dir.path());
        assert_eq!(kept.len(), MAX_RECORDS);
        // The oldest went; the new one (a real time, far above 1000) stays last.
        assert!(!dir.path().join(format!("{PREFIX}1000-1.json")).exists());
        assert!(std::fs::read_to_string(kept.last().unwrap()).unwrap().contains("newest"));
        assert!(dir.path().join("hudson-desktop.log").exists());
    }
}
