//! Which processes are alive, from `/proc` (Linux). Zombies are dead: in
//! containers whose PID 1 does not reap, killed processes linger as
//! `<defunct>` and must not count as survivors.

use std::net::TcpListener;

/// A live process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    /// Short name (`comm`), e.g. `beam.smp`.
    pub name: String,
    /// Full command line, arguments joined by spaces.
    pub cmdline: String,
}

/// Every live (non-zombie) process.
pub fn live() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).filter_map(read).collect()
}

fn read(pid: u32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close].to_owned();
    let mut rest = stat[close + 1..].split_whitespace();
    let state = rest.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let ppid = rest.next()?.parse().ok()?;
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline =
        raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" ");
    Some(Proc { pid, ppid, name, cmdline })
}

/// Live processes of a backend installed under `root` (any process whose
/// command line mentions it), plus any `epmd`.
pub fn backend_survivors(root: &str) -> Vec<Proc> {
    live().into_iter().filter(|p| p.name == "epmd" || p.cmdline.contains(root)).collect()
}

/// True when a new listener could bind `port` on loopback.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Waits up to `timeout` for `port` to become free: connections the dead
/// backend had open pass through FIN-WAIT states for a moment.
pub fn wait_port_free(port: u16, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if port_is_free(port) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_live_child_and_not_after_it_died() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        let found = live().into_iter().find(|p| p.pid == pid).expect("the child is listed");
        assert_eq!(found.name, "sleep");
        assert_eq!(found.cmdline, "sleep 30");
        assert_eq!(found.ppid, std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!live().iter().any(|p| p.pid == pid));
    }
}
