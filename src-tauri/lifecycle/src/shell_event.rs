//! The shell's machine-readable events: what tests and tools wait on,
//! instead of the sentences written for people — and the facts about a
//! running shell they share with it ([`LOG_FILE`], [`single_instance_name`]).
//!
//! Each event is one line of the shell's log ([`LOG_FILE`]), written by
//! [`crate::logs::Log::event`] beside the plain-language line it stands for:
//!
//! ```text
//! 2026-12-05T18:00:00.000Z [event] {"event":"probation_passed","version":"0.2.0"}
//! ```
//!
//! The label `[event]`, the `event` tag and the field names below are the
//! contract (they change only with this file, and [`ShellEvent::parse_line`]
//! reads exactly what [`crate::logs::Log::event`] writes); the sentences in
//! `[shell]` lines are free to change. Event lines pass through the log's
//! redactor like every other line.

use serde::{Deserialize, Serialize};

/// The shell's log file in the per-user log folder (rotated copies are
/// `<name>.1`, `<name>.2`, …).
pub const LOG_FILE: &str = "hudson-desktop.log";

/// The D-Bus name a running shell of the app `identifier` owns on the
/// session bus (tauri-plugin-single-instance's rule on Linux): a second
/// launch that finds it taken hands over and exits.
pub fn single_instance_name(identifier: &str) -> String {
    format!("{identifier}.SingleInstance")
}

/// The label of event lines in the log.
pub const EVENT_LABEL: &str = "event";

/// Something that happened in the shell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ShellEvent {
    /// The shell runs (`version`: the app's).
    ShellStarted { version: String },
    /// The shell is about to exit.
    ShellExited,
    /// A second launch handed over to this one, which focused its window.
    SecondLaunch,
    /// A termination signal arrived (`SIGTERM`, `SIGINT`, `SIGHUP`).
    Signal { name: String },
    /// A menu item was chosen (its id).
    Menu { item: String },
    /// A link was handed to the system browser.
    OpenedExternally { url: String },
    /// A handshake file was refused; `kind` is [`crate::handshake::HandshakeError::kind`].
    HandshakeRefused { kind: String },
    /// Launch folders of earlier runs that did not exit were removed.
    LaunchFoldersRemoved { count: usize },
    /// The backend answered its health check.
    BackendReady { version: String, origin: String },
    /// The backend stopped: its exit code (none for a signal), and whether
    /// it had to be killed after the grace period.
    BackendStopped { exit_code: Option<i32>, killed: bool },
    /// The backend's page finished loading in the main window.
    PageLoaded { origin: String, path: String },
    /// An update check ended. `outcome`: `up_to_date`, `offered`, `yank`,
    /// `halted`, `not_in_rollout`, `installer_required`, `bad_version`,
    /// `refused` (with `refused`: the policy's refusal kind, snake_case) or
    /// `error`.
    UpdateChecked {
        outcome: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refused: Option<String>,
    },
    /// The offered update was downloaded and verified.
    UpdateDownloaded { version: String },
    /// The download failed; `refused` when the file itself was refused
    /// (wrong size, hash or signature), not merely interrupted.
    UpdateDownloadFailed { version: String, refused: bool },
    /// The update's tree was fetched from the file store instead of the
    /// full artifact: `downloaded` bytes (tree manifest and objects) where
    /// the artifact is `full` bytes; `reused` files came from the install.
    UpdateDelta { version: String, downloaded: u64, full: u64, fetched: u64, reused: u64 },
    /// The file store could not be used (`reason`); the full artifact is
    /// downloaded instead.
    UpdateDeltaFailed { version: String, reason: String },
    /// The offered update is left to the system's package manager: the
    /// package installed its repository source (`source`, a path).
    UpdateDeferred { version: String, source: String },
    /// The update is unpacked (or assembled) beside the install and
    /// checked, while the app runs: "Restart to update" only swaps.
    UpdatePrepared { version: String },
    /// The install of a downloaded update starts (the user pressed
    /// "Restart to update", or the unattended hook did).
    UpdateInstalling { version: String },
    /// The install failed and nothing was changed.
    UpdateInstallFailed { version: String },
    /// This process is replaced by the program at `program` (after an
    /// install or a rollback).
    Relaunching { program: String },
    /// A new version starts on probation (`launch` of the limit).
    ProbationStarted { version: String, launch: u32 },
    /// The new version's backend passed its health check.
    ProbationPassed { version: String },
    /// The new version failed; it is being rolled back.
    ProbationFailed { version: String, reason: String },
    /// A failed version was rolled back; `restored`: the previous version
    /// is back (else the user is told what to do).
    RolledBack { version: String, restored: bool },
}

impl ShellEvent {
    /// The event of one log line, if it is an event line.
    /// Only the label right after the time stamp counts: a sentence that
    /// quotes an event line is not one.
    pub fn parse_line(line: &str) -> Option<ShellEvent> {
        let (_time, rest) = line.split_once(' ')?;
        let json = rest.strip_prefix('[')?.strip_prefix(EVENT_LABEL)?.strip_prefix("] ")?;
        serde_json::from_str(json).ok()
    }

    /// Every event in a log's text, with the byte offset just past its line
    /// (to wait for what comes after it).
    pub fn parse_all(text: &str) -> Vec<(usize, ShellEvent)> {
        let mut at = 0;
        let mut found = Vec::new();
        for line in text.split_inclusive('\n') {
            at += line.len();
            if let Some(event) = ShellEvent::parse_line(line.trim_end_matches('\n')) {
                found.push((at, event));
            }
        }
        found
    }

    /// The JSON text of the event (what follows the label in the log).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{Log, Rotation};

    #[test]
    fn what_the_shell_logs_is_what_a_reader_parses() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LOG_FILE, Rotation::default(), false);
        let events = [
            ShellEvent::ShellStarted { version: "0.2.0".into() },
            ShellEvent::UpdateChecked { outcome: "refused".into(), version: None, refused: Some("replay".into()) },
            ShellEvent::BackendStopped { exit_code: None, killed: true },
            ShellEvent::ProbationFailed { version: "0.3.0".into(), reason: "it did not start: \"x\"\n".into() },
        ];
        log.shell("[event] {\"event\":\"shell_exited\"} quoted by a sentence is not an event");
        for event in &events {
            log.event(event);
        }
        let text = std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
        let parsed: Vec<ShellEvent> = ShellEvent::parse_all(&text).into_iter().map(|(_, e)| e).collect();
        assert_eq!(parsed, events);
        let (end, _) = ShellEvent::parse_all(&text)[0];
        assert!(text[..end].ends_with('\n') && text[end..].contains("update_checked"));
    }

    #[test]
    fn the_wire_names_are_the_documented_ones() {
        let json = ShellEvent::ProbationPassed { version: "1.0.0".into() }.to_json();
        assert_eq!(json, r#"{"event":"probation_passed","version":"1.0.0"}"#);
        let json = ShellEvent::UpdateChecked { outcome: "halted".into(), version: None, refused: None }.to_json();
        assert_eq!(json, r#"{"event":"update_checked","outcome":"halted"}"#);
    }
}
