//! The startup trace the benchmark reads: with `HUDSON_STARTUP_TRACE=<file>`
//! ([`crate::hooks::ENV_STARTUP_TRACE`]) the shell appends one JSON line per
//! [`Milestone`], stamped on the machine's monotonic clock
//! (`{"event":"healthy","ns":…}`). Without it, nothing is written. Each
//! milestone is written once per process, the first time it happens:
//! later restarts and navigations do not move it, and nothing an earlier
//! event did can make a later one go missing ([`Trace::has`] is how the
//! shell orders them). The shell
//! writes it with [`Trace`]; `cargo xtask bench` and `e2e` read it with
//! [`first_stamps`], so the line format and the event names have this one
//! home.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use crate::clock;
use crate::hooks::ENV_STARTUP_TRACE;

/// The shell's milestones, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Milestone {
    /// The shell process runs.
    ShellStart,
    /// The backend process was spawned.
    Spawned,
    /// The backend itself said it serves (handshake file or `PORT:` line).
    BackendReady,
    /// The shell learnt the port.
    Handshake,
    /// `/healthz` confirmed.
    Healthy,
    /// The shell asked the WebView to open the enter URL.
    Navigate,
    /// The WebView's navigation decision on the enter URL.
    WebviewEnter,
    /// The WebView's navigation decision on the backend's redirect after it.
    WebviewRedirect,
    /// WebKit's load-started event for the backend's page.
    PageStarted,
    /// The backend's page finished loading.
    PageFinished,
}

impl Milestone {
    pub const ALL: [Milestone; 10] = [
        Milestone::ShellStart,
        Milestone::Spawned,
        Milestone::BackendReady,
        Milestone::Handshake,
        Milestone::Healthy,
        Milestone::Navigate,
        Milestone::WebviewEnter,
        Milestone::WebviewRedirect,
        Milestone::PageStarted,
        Milestone::PageFinished,
    ];

    /// The `event` field of its trace line.
    pub fn as_str(self) -> &'static str {
        match self {
            Milestone::ShellStart => "shell_start",
            Milestone::Spawned => "spawned",
            Milestone::BackendReady => "backend_ready",
            Milestone::Handshake => "handshake",
            Milestone::Healthy => "healthy",
            Milestone::Navigate => "navigate",
            Milestone::WebviewEnter => "webview_enter",
            Milestone::WebviewRedirect => "webview_redirect",
            Milestone::PageStarted => "page_started",
            Milestone::PageFinished => "page_finished",
        }
    }

    fn from_name(name: &str) -> Option<Milestone> {
        Milestone::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// The trace writer; a no-op without [`ENV_STARTUP_TRACE`].
#[derive(Default)]
pub struct Trace {
    file: Option<Mutex<File>>,
    /// The milestones marked so far (each is written once).
    marked: Mutex<Vec<Milestone>>,
}

impl Trace {
    pub fn from_env() -> Trace {
        let file = std::env::var_os(ENV_STARTUP_TRACE)
            .and_then(|path| std::fs::OpenOptions::new().create(true).append(true).open(path).ok());
        Trace { file: file.map(Mutex::new), marked: Mutex::default() }
    }

    /// True once `milestone` was marked (whether or not a file is written).
    pub fn has(&self, milestone: Milestone) -> bool {
        self.marked.lock().unwrap_or_else(|e| e.into_inner()).contains(&milestone)
    }

    pub fn mark(&self, milestone: Milestone) {
        self.write(milestone, clock::monotonic_ns());
    }

    pub fn mark_at(&self, milestone: Milestone, at: Instant) {
        self.write(milestone, clock::instant_ns(at));
    }

    fn write(&self, milestone: Milestone, ns: u64) {
        {
            let mut marked = self.marked.lock().unwrap_or_else(|e| e.into_inner());
            if marked.contains(&milestone) {
                return;
            }
            marked.push(milestone);
        }
        if let Some(file) = &self.file {
            let line = format!("{{\"event\":\"{}\",\"ns\":{ns}}}\n", milestone.as_str());
            let _ = file.lock().unwrap_or_else(|e| e.into_inner()).write_all(line.as_bytes());
        }
    }
}

/// The first stamp (ns on [`clock::monotonic_ns`]) of each milestone in a
/// trace's text; lines that are not trace lines (a line still being
/// written) are skipped.
pub fn first_stamps(text: &str) -> HashMap<Milestone, u64> {
    let mut first = HashMap::new();
    for v in text.lines().filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok()) {
        if let (Some(milestone), Some(ns)) = (v["event"].as_str().and_then(Milestone::from_name), v["ns"].as_u64()) {
            first.entry(milestone).or_insert(ns);
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_shell_writes_is_what_the_benchmark_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace");
        let trace = Trace { file: Some(Mutex::new(File::create(&path).unwrap())), marked: Mutex::default() };
        assert!(!trace.has(Milestone::ShellStart));
        for milestone in Milestone::ALL {
            trace.mark(milestone);
        }
        trace.mark(Milestone::PageStarted);
        assert!(trace.has(Milestone::PageStarted));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), Milestone::ALL.len(), "each milestone once:\n{text}");
        let stamps = first_stamps(&format!("{text}{{\"event\":\"page_fin"));
        assert_eq!(stamps.len(), Milestone::ALL.len());
        assert!(stamps[&Milestone::ShellStart] <= stamps[&Milestone::PageFinished]);
        assert!(stamps[&Milestone::PageStarted] <= stamps[&Milestone::PageFinished], "the first stamp wins");
    }
}
