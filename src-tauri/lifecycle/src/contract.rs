//! The backend contract (ARCHITECTURE.md, "The backend contract"): the one
//! place that knows the environment variable names, the handshake file, the
//! `/healthz` document, the session cookie and the stop deadline. The shell
//! and `cargo xtask smoke` both start the backend through this crate, so they
//! start it the same way.
//!
//! [`shell_config`] is the other contract the shell has: `hudson-shell.json`,
//! written by `cargo xtask dist` and read by the shell and by smoke, and
//! [`app_version`] the version file beside it.

pub mod app_version;
pub mod package_repository;
pub mod shell_config;
pub mod storage;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use app_version::{AppVersion, VERSION_FILE};
pub use shell_config::{InstallKind, Packaging, SHELL_CONFIG_FILE, ShellConfig, UpdatesConfig};

/// `true`: serve HTTP.
pub const ENV_PHX_SERVER: &str = "PHX_SERVER";
/// Always `127.0.0.1`: loopback only.
pub const ENV_PHX_HOST: &str = "PHX_HOST";
/// Always `0`: the backend binds an OS-chosen port itself.
pub const ENV_PORT: &str = "PORT";
/// Absolute path of the handshake file inside a per-launch 0700 directory.
pub const ENV_HANDSHAKE_FILE: &str = "HUDSON_HANDSHAKE_FILE";
/// Random per-launch secret, hex.
pub const ENV_HANDSHAKE_TOKEN: &str = "HUDSON_HANDSHAKE_TOKEN";
/// Per-user app-data folder.
pub const ENV_DATA_DIR: &str = "HUDSON_DATA_DIR";
/// Per-user log folder.
pub const ENV_LOG_DIR: &str = "HUDSON_LOG_DIR";
/// `none`: no Erlang distribution, so no epmd and no extra port.
pub const ENV_RELEASE_DISTRIBUTION: &str = "RELEASE_DISTRIBUTION";
/// Where a `mix release` writes its temporary files; pointed at a private,
/// writable folder because the release itself may sit on a read-only path.
pub const ENV_RELEASE_TMP: &str = "RELEASE_TMP";
/// ERTS' own variable: where the BEAM writes its crash dump if it dies. The
/// shell points it into the log folder, where the user's logs (and a support
/// bundle) are, instead of the working folder, which may not be writable.
pub const ENV_ERL_CRASH_DUMP: &str = "ERL_CRASH_DUMP";
/// ERTS' own variable: the most bytes a crash dump may take.
pub const ENV_ERL_CRASH_DUMP_BYTES: &str = "ERL_CRASH_DUMP_BYTES";
/// The crash dump's name in the log folder.
pub const CRASH_DUMP_FILE: &str = "erl_crash.dump";
/// Its cap: enough for the process list and the slogan of a desktop app.
pub const MAX_CRASH_DUMP_BYTES: u64 = 16 << 20;

/// Test hook of the reference backend: the remote server's schema version;
/// above 1 makes `/healthz` say `update_required`.
pub const ENV_SERVER_SCHEMA: &str = "HUDSON_SERVER_SCHEMA";

/// The handshake file's name inside the per-launch directory.
pub const HANDSHAKE_FILE_NAME: &str = "handshake.json";
/// The stdout line prefix the backend prints once it serves.
pub const PORT_LINE_PREFIX: &str = "PORT:";
/// Health endpoint path.
pub const HEALTH_PATH: &str = "/healthz";
/// The URL path that trades the token for the session cookie.
pub const ENTER_PATH: &str = "/desktop/enter";
/// Largest handshake file we read; anything bigger is not ours.
pub const MAX_HANDSHAKE_BYTES: u64 = 4096;
/// The HttpOnly, SameSite=Strict cookie the enter URL sets. The backend
/// names it too, in `backend/lib/hudson/desktop/guard.ex` (`@cookie`); the
/// test below fails when the two disagree.
pub const SESSION_COOKIE: &str = "hudson_session";
/// The backend stops within this long of SIGTERM or of its stdin closing;
/// past it, the shell (and smoke) kill its process group. The reference
/// backend's own deadline (`@halt_after_ms` in
/// `backend/lib/hudson/desktop/stdin_watcher.ex`) must not exceed it.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// The handshake file's JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeDoc {
    pub port: u16,
    pub token: String,
    pub pid: u32,
    pub version: String,
}

/// Largest `/healthz` body read.
pub const MAX_HEALTH_BYTES: u64 = 256 * 1024;

/// The `/healthz` JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthDoc {
    pub status: String,
    pub version: String,
    pub pid: u32,
    #[serde(default)]
    pub nifs: BTreeMap<String, String>,
    /// Optional: the backend's own named checks (its database, the remote
    /// APIs it needs, …) for the Diagnostics window. Informational: a check
    /// that is `down` does not stop the app, it turns the indicator red.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Check>,
    /// Optional: the Erlang runtime's version (`erts-14.2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erts: Option<String>,
}

/// One named check of `/healthz`: `{"status": "ok" | "degraded" | "down",
/// "detail": "…", "latency_ms": N}`; `detail` and `latency_ms` optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub status: CheckStatus,
    #[serde(default)]
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Degraded,
    Down,
    /// A status this shell does not know: shown as degraded, never fatal.
    #[serde(other)]
    Unknown,
}

/// The Diagnostics window's traffic light.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Indicator {
    Green,
    Amber,
    Red,
}

impl HealthDoc {
    /// The backend serves and every NIF loaded.
    pub fn is_ok(&self) -> bool {
        self.status == "ok" && self.nifs.values().all(|v| v == "ok")
    }

    /// The backend refuses to run against a newer server schema.
    pub fn update_required(&self) -> bool {
        self.status == "update_required"
    }

    /// Red when the backend is not ok or a check is down; amber when a check
    /// is degraded (or unknown); green otherwise.
    pub fn indicator(&self) -> Indicator {
        let worst = self.checks.values().map(|c| match c.status {
            CheckStatus::Ok => Indicator::Green,
            CheckStatus::Degraded | CheckStatus::Unknown => Indicator::Amber,
            CheckStatus::Down => Indicator::Red,
        });
        let base = if self.is_ok() { Indicator::Green } else { Indicator::Red };
        worst.fold(base, Indicator::max)
    }

    /// NIF modules that did not load, with the backend's reason.
    pub fn damaged_nifs(&self) -> Vec<(&str, &str)> {
        self.nifs
            .iter()
            .filter(|(_, status)| status.as_str() != "ok")
            .map(|(module, status)| (module.as_str(), status.as_str()))
            .collect()
    }
}

/// The URL the WebView opens first: it trades the token for the cookie.
pub fn enter_url(port: u16, token: &str) -> String {
    format!("http://127.0.0.1:{port}{ENTER_PATH}?token={token}")
}

/// The backend's origin, the only one the WebView may navigate to.
pub fn origin(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_optional_and_set_the_indicator() {
        let plain: HealthDoc = serde_json::from_str(r#"{"status":"ok","version":"1","pid":7}"#).unwrap();
        assert_eq!((plain.checks.len(), plain.indicator()), (0, Indicator::Green));
        let doc: HealthDoc = serde_json::from_str(
            r#"{"status":"ok","version":"1","pid":7,"erts":"erts-14.2","checks":{
                "db":{"status":"ok","latency_ms":3},
                "shopify":{"status":"degraded","detail":"slow","latency_ms":912.5},
                "future":{"status":"flaky"}}}"#,
        )
        .unwrap();
        assert_eq!(doc.checks["future"].status, CheckStatus::Unknown);
        assert_eq!(doc.indicator(), Indicator::Amber);
        let down: HealthDoc = serde_json::from_str(
            r#"{"status":"ok","version":"1","pid":7,"checks":{"db":{"status":"down","detail":"connection refused"}}}"#,
        )
        .unwrap();
        assert_eq!(down.indicator(), Indicator::Red);
        assert!(down.is_ok(), "a down check does not stop the app");
    }

    #[test]
    fn health_doc_reports_damaged_nifs() {
        let doc: HealthDoc =
            serde_json::from_str(r#"{"status":"ok","version":"0.1.0","pid":7,"nifs":{"a":"ok","b":"enoent"}}"#)
                .unwrap();
        assert!(!doc.is_ok());
        assert_eq!(doc.damaged_nifs(), vec![("b", "enoent")]);
    }

    /// The reference backend is Elixir and cannot import this file; it must
    /// name the same cookie.
    #[test]
    fn the_backend_names_the_same_session_cookie() {
        let guard = concat!(env!("CARGO_MANIFEST_DIR"), "/../../backend/lib/hudson/desktop/guard.ex");
        let text = std::fs::read_to_string(guard).unwrap();
        let line = format!("@cookie \"{SESSION_COOKIE}\"");
        assert!(text.lines().any(|l| l.trim() == line), "{guard} has no line `{line}`");
    }

    #[test]
    fn the_backend_halts_within_the_grace_period() {
        let watcher = concat!(env!("CARGO_MANIFEST_DIR"), "/../../backend/lib/hudson/desktop/stdin_watcher.ex");
        let text = std::fs::read_to_string(watcher).unwrap();
        let ms: u128 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("@halt_after_ms "))
            .and_then(|ms| ms.replace('_', "").parse().ok())
            .unwrap_or_else(|| panic!("{watcher} has no `@halt_after_ms <ms>`"));
        assert!(ms <= STOP_GRACE.as_millis(), "{watcher} halts after {ms} ms, past the contract's {STOP_GRACE:?}");
    }
}
