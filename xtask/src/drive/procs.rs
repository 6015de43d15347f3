//! Which processes are alive, from `/proc` (Linux). Zombies are dead: in
//! containers whose PID 1 does not reap, killed processes linger as
//! `<defunct>` and must not count as survivors.

use std::net::TcpListener;
use std::time::{Duration, Instant};

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
pub fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).filter_map(process).collect()
}

/// One live process, `None` when it is gone or a zombie.
pub fn process(pid: u32) -> Option<Process> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name may hold spaces and parentheses; fields resume after the last ')'.
    let name = stat[stat.find('(')? + 1..stat.rfind(')')?].to_owned();
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // fields[0] is field 3 of proc(5): state, ppid, pgrp, …, starttime (22).
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline =
        raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" ");
    Some(Process {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        started: fields.get(19)?.parse().ok()?,
        name,
        cmdline,
    })
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

/// Now, in the clock ticks `Process::started` counts.
pub fn now_ticks() -> u64 {
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    let seconds: f64 = uptime.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (seconds * hz) as u64
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
    let deadline = Instant::now() + timeout;
    loop {
        let left = list();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(interval);
    }
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
    let deadline = Instant::now() + timeout;
    loop {
        if port_is_free(port) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_live_child_and_not_after_it_died() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        let found = processes().into_iter().find(|p| p.pid == pid).expect("the child is listed");
        assert_eq!(found.name, "sleep");
        assert_eq!(found.cmdline, "sleep 30");
        assert_eq!(found.ppid, std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!processes().iter().any(|p| p.pid == pid));
    }
}
