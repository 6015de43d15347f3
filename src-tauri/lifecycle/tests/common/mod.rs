//! Helpers for the lifecycle's integration tests: test-double backends written
//! as small `/bin/sh` scripts, a collector for supervisor statuses, and a
//! `/proc` scan for leftover processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, unbounded};
use hudson_lifecycle::LaunchSpec;
use hudson_lifecycle::supervisor::Status;

/// A folder for one test: the double's scripts, data, logs and runtime base.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { dir: tempfile::Builder::new().prefix("hudson-lifecycle-test-").tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes an executable `/bin/sh` script (a test double for a backend).
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A launch spec that runs `program` with this sandbox's folders.
    pub fn spec(&self, program: &Path) -> LaunchSpec {
        let mut spec = LaunchSpec::for_sidecar(
            program,
            self.path().join("data"),
            self.path().join("logs"),
            self.path().join("run"),
        );
        spec.startup_timeout = Duration::from_secs(20);
        spec
    }

    /// A `mix release`-style folder whose `bin/hudson` is `body` (then, if
    /// `exec_release` is given, execs that real release's `bin/hudson`).
    pub fn release_wrapper(&self, body: &str, exec_release: Option<&Path>) -> PathBuf {
        let root = self.path().join("wrapped-release");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        let exec = match exec_release {
            Some(real) => format!("exec '{}/bin/hudson' \"$@\"", real.display()),
            None => String::new(),
        };
        let script = self.script("bin-hudson", &format!("{body}\n{exec}"));
        std::fs::rename(script, root.join("bin/hudson")).unwrap();
        root
    }
}

/// Collects supervisor statuses.
#[derive(Clone)]
pub struct Statuses {
    seen: Arc<Mutex<Vec<Status>>>,
    tx: crossbeam_channel::Sender<Status>,
    pub rx: Receiver<Status>,
}

impl Statuses {
    pub fn new() -> Statuses {
        let (tx, rx) = unbounded();
        Statuses { seen: Arc::default(), tx, rx }
    }

    pub fn reporter(&self) -> impl Fn(Status) + Send + 'static {
        let (seen, tx) = (self.seen.clone(), self.tx.clone());
        move |status| {
            seen.lock().unwrap().push(status.clone());
            let _ = tx.send(status);
        }
    }

    /// Waits for a status matching `want`; panics with every status seen.
    pub fn wait_for(&self, timeout: Duration, want: impl Fn(&Status) -> bool) -> Status {
        let deadline = Instant::now() + timeout;
        loop {
            match self.rx.recv_deadline(deadline) {
                Ok(status) if want(&status) => return status,
                Ok(_) => {}
                Err(_) => panic!("status not reached within {timeout:?}; seen: {:#?}", self.all()),
            }
        }
    }

    pub fn all(&self) -> Vec<Status> {
        self.seen.lock().unwrap().clone()
    }
}

/// Live (non-zombie) processes whose command line contains `marker`.
pub fn live_with(marker: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
        if matches!(state, Some("Z" | "X") | None) {
            continue;
        }
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(marker) && pid != std::process::id() {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Waits up to `timeout` for no live process to mention `marker`.
pub fn wait_gone(marker: &str, timeout: Duration) -> Vec<(u32, String)> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = live_with(marker);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn epmd_running() -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "epmd")
            && std::fs::read_to_string(e.path().join("stat"))
                .is_ok_and(|s| !matches!(s.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next()), Some("Z")))
    })
}

pub fn port_free(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every file in `dir`, concatenated.
pub fn read_all(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    text
}
