//! The Diagnostics window's facts (menu and tray: "Diagnostics…", or
//! `hudson-desktop --diagnostics`): versions, the install, the backend's
//! health and named checks with a green/amber/red indicator, restarts and
//! the last crash reason of this session, updates, the folders and their
//! sizes, the secure store, crash records. Built fresh on every refresh;
//! [`text`] is the redacted plain-text copy for "Copy as text".

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use hudson_lifecycle::contract::{CheckStatus, Indicator};
use hudson_lifecycle::health::HealthClient;
use hudson_lifecycle::supervisor::Status;
use serde::Serialize;
use tauri::{AppHandle, Manager};

use crate::Shell;

/// What the supervisor said this session, as the window needs it.
#[derive(Default)]
pub(crate) struct Seen(Mutex<Session>);

#[derive(Default, Clone)]
struct Session {
    state: &'static str,
    port: Option<u16>,
    restarts: u32,
    last_crash: Option<String>,
}

impl Seen {
    pub(crate) fn on_status(&self, status: &Status) {
        let mut session = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match status {
            Status::Starting { .. } => session.state = "starting",
            Status::Ready { origin, .. } => {
                session.state = "ready";
                session.port = origin.rsplit(':').next().and_then(|p| p.parse().ok());
            }
            Status::Restarting { reason, .. } => {
                session.state = "restarting";
                session.port = None;
                session.restarts += 1;
                session.last_crash = Some(reason.clone());
            }
            Status::Failed { reason, .. } => {
                session.state = "failed";
                session.port = None;
                session.last_crash = Some(reason.clone());
            }
            Status::Damaged { .. } => {
                session.state = "damaged installation";
                session.port = None;
            }
            Status::UpdateRequired { .. } => {
                session.state = "update required";
                session.port = None;
            }
        }
    }

    fn get(&self) -> Session {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub shell_version: String,
    pub backend_version: Option<String>,
    pub erts: Option<String>,
    pub os: String,
    pub install_kind: String,
    pub install_path: String,
    /// `starting`, `ready`, `restarting`, `failed`, …
    pub backend_state: String,
    pub indicator: Indicator,
    /// Why health could not be read, when it could not.
    pub health_error: Option<String>,
    pub checks: Vec<CheckRow>,
    pub restarts: u32,
    pub last_crash: Option<String>,
    pub update_channel: Option<String>,
    pub update_status: String,
    pub last_check: Option<String>,
    pub next_check: Option<String>,
    pub clock_skew: String,
    pub log_folder: Folder,
    pub data_folder: Folder,
    pub secure_storage: String,
    /// Crash records in the log folder, newest first.
    pub crash_records: Vec<String>,
    /// Size of the backend's `erl_crash.dump`, if there is one.
    pub crash_dump_bytes: Option<u64>,
    /// Opt-in crash upload: configured by the build, turned on by the user.
    pub crash_upload: crate::crash_upload::UploadStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    pub name: String,
    pub status: &'static str,
    pub detail: String,
    pub latency_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Folder {
    pub path: String,
    pub bytes: u64,
}

/// Gathers the report (blocking: it asks `/healthz` and the secure store).
pub(crate) fn report(app: &AppHandle) -> Report {
    let shell = app.state::<Shell>();
    let session = app.state::<Seen>().get();
    let updates = app.state::<crate::updates::Updates>().view();
    let (mut backend_version, mut erts, mut checks, mut health_error) = (None, None, Vec::new(), None);
    let mut indicator = match session.state {
        "ready" => Indicator::Green,
        "starting" | "restarting" | "" => Indicator::Amber,
        _ => Indicator::Red,
    };
    if let Some(port) = session.port {
        match HealthClient::new().check(port, Duration::from_secs(3)) {
            Ok(health) => {
                indicator = health.indicator();
                backend_version = Some(health.version.clone());
                erts = health.erts.clone();
                checks = health
                    .checks
                    .iter()
                    .map(|(name, check)| CheckRow {
                        name: name.clone(),
                        status: match check.status {
                            CheckStatus::Ok => "ok",
                            CheckStatus::Degraded => "degraded",
                            CheckStatus::Down => "down",
                            CheckStatus::Unknown => "unknown",
                        },
                        detail: check.detail.chars().take(500).collect(),
                        latency_ms: check.latency_ms,
                    })
                    .collect();
            }
            Err(e) => {
                indicator = Indicator::Red;
                health_error = Some(e.to_string());
            }
        }
    }
    let log_dir = shell.log.dir().map(Path::to_path_buf);
    let data_dir = app.path().app_data_dir().ok();
    let records: Vec<String> = log_dir
        .as_deref()
        .map(crate::crash::records)
        .unwrap_or_default()
        .iter()
        .rev()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let dump = log_dir
        .as_deref()
        .and_then(|d| std::fs::symlink_metadata(d.join(hudson_lifecycle::contract::CRASH_DUMP_FILE)).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let secure_storage = match shell.store.probe() {
        Ok(()) => format!("{} (available)", shell.store.kind()),
        Err(e) => format!("{}: {e}", shell.store.kind()),
    };
    Report {
        shell_version: app.package_info().version.to_string(),
        backend_version,
        erts,
        os: os(),
        install_kind: shell
            .config
            .as_ref()
            .ok()
            .and_then(|c| c.install_kind)
            .map_or("development (not installed)", |k| k.as_str())
            .to_owned(),
        install_path: std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
        backend_state: if session.state.is_empty() { "not started".into() } else { session.state.into() },
        indicator,
        health_error,
        checks,
        restarts: session.restarts,
        last_crash: session.last_crash,
        update_channel: updates.channel,
        update_status: updates.message,
        last_check: updates.last_check,
        next_check: updates.next_check,
        clock_skew: updates.clock.unwrap_or_else(|| {
            if updates.endpoint.is_some() {
                "not measured yet: no update check has been answered".into()
            } else {
                "not measured: no update endpoint is configured".into()
            }
        }),
        log_folder: folder(log_dir),
        data_folder: folder(data_dir),
        secure_storage,
        crash_records: records,
        crash_dump_bytes: dump,
        crash_upload: app.try_state::<crate::crash_upload::Uploader>().map(|u| u.status()).unwrap_or_default(),
    }
}

/// The report as plain text, every line through the log's redactor (which
/// knows every secret value the shell handed out this run).
pub(crate) fn text(app: &AppHandle, report: &Report) -> String {
    let shell = app.state::<Shell>();
    let none = || "—".to_owned();
    let mut lines = vec![
        format!("Hudson diagnostics ({})", crate::crash::now()),
        format!("Shell: {}", report.shell_version),
        format!("Backend: {} ({})", report.backend_version.clone().unwrap_or_else(none), report.backend_state),
        format!("ERTS: {}", report.erts.clone().unwrap_or_else(none)),
        format!("OS: {}", report.os),
        format!("Install: {} at {}", report.install_kind, report.install_path),
        format!("Health: {}", format!("{:?}", report.indicator).to_lowercase()),
    ];
    if let Some(error) = &report.health_error {
        lines.push(format!("Health error: {error}"));
    }
    for check in &report.checks {
        let latency = check.latency_ms.map(|ms| format!(", {ms} ms")).unwrap_or_default();
        lines.push(format!("  {}: {} {}{latency}", check.name, check.status, check.detail));
    }
    lines.extend([
        format!("Restarts this session: {}", report.restarts),
        format!("Last crash: {}", report.last_crash.clone().unwrap_or_else(none)),
        format!("Updates: {} (channel {})", report.update_status, report.update_channel.clone().unwrap_or_else(none)),
        format!("Last check: {}", report.last_check.clone().unwrap_or_else(none)),
        format!("Next check: {}", report.next_check.clone().unwrap_or_else(none)),
        format!("Clock skew: {}", report.clock_skew),
        format!("Log folder: {} ({} bytes)", report.log_folder.path, report.log_folder.bytes),
        format!("Data folder: {} ({} bytes)", report.data_folder.path, report.data_folder.bytes),
        format!("Secure storage: {}", report.secure_storage),
        format!("Crash records: {} {}", report.crash_records.len(), report.crash_records.join(", ")),
        format!(
            "Crash upload: {}",
            match (report.crash_upload.configured, report.crash_upload.enabled) {
                (false, _) => "not available in this build",
                (true, false) => "off",
                (true, true) => "on",
            }
        ),
        format!(
            "BEAM crash dump: {}",
            report.crash_dump_bytes.map_or_else(|| "none".to_owned(), |b| format!("{b} bytes"))
        ),
    ]);
    lines.iter().map(|line| shell.log.redact(line)).collect::<Vec<_>>().join("\n") + "\n"
}

fn os() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{} {} {}", std::env::consts::OS, std::env::consts::ARCH, release.trim()).trim().to_owned()
}

fn folder(path: Option<PathBuf>) -> Folder {
    match path {
        Some(path) => Folder { bytes: size(&path, &mut 0), path: path.display().to_string() },
        None => Folder { path: "unknown".into(), bytes: 0 },
    }
}

/// Bytes under `dir`, symlinks not followed, at most 10 000 entries seen.
fn size(dir: &Path, seen: &mut u32) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut total = 0;
    for entry in entries.flatten() {
        *seen += 1;
        if *seen > 10_000 {
            break;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            total += size(&entry.path(), seen);
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_counts_restarts_and_keeps_the_last_crash() {
        let seen = Seen::default();
        seen.on_status(&Status::Starting { attempt: 1 });
        assert_eq!(seen.get().state, "starting");
        seen.on_status(&Status::Restarting {
            reason: "backend exited with exit code 1".into(),
            delay: Duration::from_millis(500),
            restart: 1,
            max: 3,
        });
        seen.on_status(&Status::Failed { reason: "died 4 times".into(), tail: Vec::new() });
        let session = seen.get();
        assert_eq!((session.state, session.restarts, session.port), ("failed", 1, None));
        assert_eq!(session.last_crash.as_deref(), Some("died 4 times"));
    }

    #[test]
    fn folder_sizes_do_not_follow_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.log"), vec![0u8; 1000]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), vec![0u8; 24]).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).unwrap();
        assert_eq!(size(dir.path(), &mut 0), 1024);
    }
}
