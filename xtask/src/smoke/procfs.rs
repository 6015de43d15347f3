//! What the backend's processes hold, read from `/proc` through the
//! `procfs` crate (Linux only): its process group and descendants, their
//! listening sockets (`/proc/<pid>/fd` → socket inodes →
//! `/proc/net/{tcp,tcp6,udp,udp6}`), any `epmd` it started, and what is left
//! after it exited. Other systems get [`Outcome::not_checked`], never a pass.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::report::Outcome;

pub use crate::drive::procs::{Process, alive, now_ticks, process, processes};

/// The backend's processes: its process group (it leads one) and every
/// descendant, even one that left the group.
pub fn backend_processes(leader: u32, all: &[Process]) -> Vec<Process> {
    let mut found: Vec<Process> = all.iter().filter(|p| p.pgrp == leader || p.pid == leader).cloned().collect();
    loop {
        let more: Vec<Process> = all
            .iter()
            .filter(|p| !found.iter().any(|f| f.pid == p.pid) && found.iter().any(|f| f.pid == p.ppid))
            .cloned()
            .collect();
        if more.is_empty() {
            return found;
        }
        found.extend(more);
    }
}

/// `epmd` processes a backend started: in the group `leader` leads, or any
/// started since `since` (epmd daemonises, leaving the group).
pub fn epmd_since(leader: Option<u32>, since: u64, all: &[Process]) -> Vec<Process> {
    all.iter().filter(|p| p.name == "epmd" && (Some(p.pgrp) == leader || p.started >= since)).cloned().collect()
}

/// A socket one of the backend's processes holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    pub local: SocketAddr,
    /// TCP LISTEN, or any bound UDP socket (UDP has no listen state).
    pub listening: bool,
    pub owner: String,
}

/// Step 5: while running, the backend listens on `127.0.0.1:<port>` and on
/// nothing else, and no epmd runs.
pub fn loopback_only(leader: u32, port: u16) -> Outcome {
    if !cfg!(target_os = "linux") {
        return Outcome::not_checked("listening sockets are read from /proc: not checked on this OS");
    }
    let all = processes();
    let group = backend_processes(leader, &all);
    if group.is_empty() {
        return Outcome::fail(format!("the backend (pid {leader}) is not running"));
    }
    let sockets = match sockets_of(&group) {
        Ok(sockets) => sockets,
        Err(e) => return Outcome::fail(format!("cannot read the backend's sockets: {e}")),
    };
    let expected = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let is_expected = |s: &Socket| s.protocol == "tcp" && s.local.port() == port && loopback_v4(s.local.ip());
    let listeners: Vec<&Socket> = sockets.iter().filter(|s| s.listening).collect();
    let others: Vec<String> = listeners
        .iter()
        .filter(|s| !is_expected(s))
        .map(|s| format!("{} {} ({})", s.protocol, s.local, s.owner))
        .collect();
    let epmd = epmd_since(Some(leader), all.iter().find(|p| p.pid == leader).map_or(0, |p| p.started), &all);
    let own = listeners.iter().any(|s| is_expected(s));
    let names = group.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ");
    let expected_text = format!("only tcp {expected} listening, no epmd");
    if !others.is_empty() || !epmd.is_empty() || !own {
        let mut seen: Vec<String> =
            listeners.iter().map(|s| format!("{} {} ({})", s.protocol, s.local, s.owner)).collect();
        if seen.is_empty() {
            seen.push("no listening socket".into());
        }
        seen.extend(epmd.iter().map(|p| format!("epmd running: {p}")));
        let detail = if !epmd.is_empty() {
            "epmd is running: Erlang distribution is on".to_owned()
        } else if !others.is_empty() {
            format!("the backend listens beyond loopback port {port}: {}", others.join(", "))
        } else {
            format!("the backend does not listen on {expected} itself")
        };
        return Outcome::mismatch(detail, expected_text, seen.join("; "));
    }
    Outcome::pass(format!("tcp {expected} is the only listener of {names}; no epmd"))
}

/// IPv4 loopback, also when written as an IPv4-mapped IPv6 address.
fn loopback_v4(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4 == Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => v6.to_ipv4_mapped() == Some(Ipv4Addr::LOCALHOST),
    }
}

/// Sockets held by `processes`, found through their file descriptors.
#[cfg(target_os = "linux")]
pub fn sockets_of(processes: &[Process]) -> std::io::Result<Vec<Socket>> {
    use std::collections::HashMap;

    use procfs::net::TcpState;
    use procfs::process::FDTarget;
    // A table that cannot be read (no IPv6) holds no socket of ours.
    let mut tables: HashMap<u64, (&'static str, SocketAddr, bool)> = HashMap::new();
    for entry in procfs::net::tcp().unwrap_or_default().into_iter().chain(procfs::net::tcp6().unwrap_or_default()) {
        tables.insert(entry.inode, ("tcp", entry.local_address, entry.state == TcpState::Listen));
    }
    for entry in procfs::net::udp().unwrap_or_default().into_iter().chain(procfs::net::udp6().unwrap_or_default()) {
        // UDP has no listen state: a bound UDP socket receives.
        tables.insert(entry.inode, ("udp", entry.local_address, true));
    }
    let mut sockets = Vec::new();
    for process in processes {
        let Ok(pid) = i32::try_from(process.pid) else { continue };
        let Ok(fds) = procfs::process::Process::new(pid).and_then(|p| p.fd()) else { continue };
        for fd in fds.flatten() {
            let FDTarget::Socket(inode) = fd.target else { continue };
            if let Some((protocol, local, listening)) = tables.get(&inode) {
                sockets.push(Socket { protocol, local: *local, listening: *listening, owner: process.to_string() });
            }
        }
    }
    Ok(sockets)
}

/// `/proc` is Linux's.
#[cfg(not(target_os = "linux"))]
pub fn sockets_of(_processes: &[Process]) -> std::io::Result<Vec<Socket>> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "sockets are read from /proc, which only Linux has"))
}

/// What is left after a run: anything running from the unpacked package
/// (`root`), the backend's group when its `leader` is known, and any epmd
/// started since `since`.
pub fn leftovers(leader: Option<u32>, since: u64, root: &str) -> Vec<Process> {
    let all = processes();
    let mut left: Vec<Process> = all
        .iter()
        .filter(|p| leader.is_some_and(|l| p.pgrp == l || p.pid == l) || p.cmdline.contains(root))
        .cloned()
        .collect();
    for epmd in epmd_since(leader, since, &all) {
        if !left.iter().any(|p| p.pid == epmd.pid) {
            left.push(epmd);
        }
    }
    left
}

/// Waits until `deadline` for `leftovers` to come back empty and `port` to
/// be free. Returns what was left, and `None` when nothing was, else what
/// was seen (processes, the port), for a mismatch.
pub fn settle(
    deadline: std::time::Instant,
    port: Option<u16>,
    leftovers: impl Fn() -> Vec<Process>,
) -> (Vec<Process>, Option<String>) {
    let now = std::time::Instant::now;
    let left = crate::drive::procs::wait_gone(
        deadline.saturating_duration_since(now()),
        std::time::Duration::from_millis(50),
        leftovers,
    );
    let port_free =
        port.is_none_or(|port| crate::drive::procs::wait_port_free(port, deadline.saturating_duration_since(now())));
    if left.is_empty() && port_free {
        return (left, None);
    }
    let mut seen: Vec<String> = left.iter().map(|p| format!("{p}: {}", p.cmdline)).collect();
    if !port_free {
        seen.push(format!("port {} still taken", port.unwrap_or_default()));
    }
    let seen = seen.join("; ");
    (left, Some(seen))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// `(inode, local address, state)` of each row, as `procfs` reads a
    /// `/proc/net/tcp[6]` table: addresses are hex words in host byte order.
    fn parse_net_table(text: &str) -> Vec<(u64, SocketAddr, u8)> {
        use procfs::FromBufReadSI;
        let table = procfs::net::TcpNetEntries::from_buf_read(text.as_bytes(), procfs::current_system_info()).unwrap();
        table.0.into_iter().map(|e| (e.inode, e.local_address, e.state.to_u8())).collect()
    }

    #[test]
    fn parses_proc_net_tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:A8C5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1\n";
        let rows = parse_net_table(tcp);
        assert_eq!(rows[0], (4242, "127.0.0.1:43205".parse().unwrap(), 0x0A));
        assert_eq!(rows[1], (4343, "0.0.0.0:8080".parse().unwrap(), 0x0A));
        let tcp6 = "header\n   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1\n   1: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 78 1\n";
        let rows = parse_net_table(tcp6);
        assert_eq!(rows[0].1, "[::1]:80".parse().unwrap());
        assert_eq!(rows[1].1, "[::ffff:127.0.0.1]:80".parse().unwrap());
        assert!(loopback_v4(rows[1].1.ip()));
    }

    #[test]
    fn finds_a_real_listener_and_its_owner() {
        let listener = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = process(std::process::id()).unwrap();
        let sockets = sockets_of(&[me]).unwrap();
        assert!(
            sockets
                .iter()
                .any(|s| s.protocol == "tcp" && s.listening && s.local == SocketAddr::from(([0, 0, 0, 0], port))),
            "{sockets:?}"
        );
    }

    #[test]
    fn a_group_includes_children_and_not_strangers() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let all = processes();
        let me = std::process::id();
        let mine = process(me).unwrap();
        let found = backend_processes(mine.pgrp, &all);
        assert!(found.iter().any(|p| p.pid == child.id()), "the child is in its parent's group");
        assert!(!found.iter().any(|p| p.pid == 1 && mine.pgrp != 1));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!alive(child.id()));
        assert!(alive(me));
    }
}
