//! Which processes are alive, from `/proc` through the `procfs` crate
//! (Linux; elsewhere no process is listed, and smoke's checks that need
//! them say "not checked"). Zombies are dead: in containers whose PID 1
//! does not reap, killed processes linger as `<defunct>` and must not count
//! as survivors.

use std::net::TcpListener;
use std::time::Duration;

/// A live process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub pgrp: u32,
    /// Start time in clock ticks since boot.
    pub started: u64,
    pub name: String,
    pub cmdline: String,
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {})", self.name, self.pid)
    }
}

/// Every live (not zombie) process.
#[cfg(target_os = "linux")]
pub fn processes() -> Vec<Process> {
    let Ok(all) = procfs::process::all_processes() else { return Vec::new() };
    all.filter_map(|p| live(&p.ok()?)).collect()
}

/// One live process, `None` when it is gone or a zombie.
#[cfg(target_os = "linux")]
pub fn process(pid: u32) -> Option<Process> {
    live(&procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?)
}

#[cfg(target_os = "linux")]
fn live(process: &procfs::process::Process) -> Option<Process> {
    let stat = process.stat().ok()?;
    if matches!(stat.state, 'Z' | 'X') {
        return None;
    }
    Some(Process {
        pid: u32::try_from(stat.pid).ok()?,
        ppid: u32::try_from(stat.ppid).ok()?,
        pgrp: u32::try_from(stat.pgrp).ok()?,
        started: stat.starttime,
        name: stat.comm,
        // Empty when it is not UTF-8 (or the process just exited).
        cmdline: process.cmdline().unwrap_or_default().join(" "),
    })
}

/// Now, in the clock ticks `Process::started` counts.
#[cfg(target_os = "linux")]
pub fn now_ticks() -> u64 {
    use procfs::Current;
    let uptime = procfs::Uptime::current().map_or(0.0, |u| u.uptime);
    (uptime * procfs::ticks_per_second() as f64) as u64
}

/// `/proc` is Linux's: no process is listed here.
#[cfg(not(target_os = "linux"))]
pub fn processes() -> Vec<Process> {
    Vec::new()
}

#[cfg(not(target_os = "linux"))]
pub fn process(_pid: u32) -> Option<Process> {
    None
}

#[cfg(not(target_os = "linux"))]
pub fn now_ticks() -> u64 {
    0
}

/// True while `pid` runs (on Linux: and is not a zombie).
pub fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        return process(pid).is_some();
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only asks whether the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Live processes of a backend installed under any of `roots` (any process
/// whose command line mentions one), plus any `epmd`, by pid.
pub fn backend_survivors(roots: &[impl AsRef<str>]) -> Vec<Process> {
    let mut found: Vec<Process> = processes()
        .into_iter()
        .filter(|p| p.name == "epmd" || roots.iter().any(|root| p.cmdline.contains(root.as_ref())))
        .collect();
    found.sort_by_key(|p| p.pid);
    found
}

/// Asks `list` every `interval` until it comes back empty or `timeout`
/// passes; returns what it listed last.
pub fn wait_gone(timeout: Duration, interval: Duration, list: impl Fn() -> Vec<Process>) -> Vec<Process> {
    let mut left = Vec::new();
    crate::core::wait::until(timeout, interval, || {
        left = list();
        left.is_empty().then_some(())
    });
    left
}

/// Sends `signal` to `pid`.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// True when a new listener could bind `port` on loopback.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Waits up to `timeout` for `port` to become free: connections the dead
/// backend had open pass through FIN-WAIT states for a moment.
pub fn wait_port_free(port: u16, timeout: Duration) -> bool {
    crate::core::wait::until(timeout, Duration::from_millis(50), || port_is_free(port).then_some(())).is_some()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn sees_a_live_child_and_not_after_it_died() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        // `spawn` returns once the child forked: until it has exec'd `sleep`
        // it still carries this test's name and command line.
        let found = crate::core::wait::until(Duration::from_secs(10), Duration::from_millis(10), || {
            processes().into_iter().find(|p| p.pid == pid && p.name == "sleep")
        })
        .expect("the child is listed as sleep");
        assert_eq!(found.cmdline, "sleep 30");
        assert_eq!(found.ppid, std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!processes().iter().any(|p| p.pid == pid));
    }
}
