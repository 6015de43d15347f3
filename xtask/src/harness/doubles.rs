//! The services a desktop session gives the app, as tests start them
//! privately: a D-Bus session bus, a real Secret Service
//! (`gnome-keyring-daemon`) on it, and loopback server processes (the
//! update host, a crash-report endpoint double). Harness only: nothing that
//! ships starts them.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::drive::gui::{free_port, require};

/// A private D-Bus session bus (what a desktop session provides): the
/// single-instance plugin and the tray register on it. Stopped when dropped.
///
/// It starts no services on demand: with `gnome-keyring` installed, the
/// stock session config would start an unlocked-nowhere keyring at the first
/// secret request, whose "create a keyring" prompt nobody answers. A test
/// that wants a Secret Service starts one itself ([`SecretService`]).
pub struct SessionBus {
    child: Child,
    address: String,
    _config: tempfile::TempDir,
}

/// The stock session bus policy, without `<standard_session_servicedirs/>`.
const SESSION_BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

impl SessionBus {
    pub fn start() -> Result<SessionBus> {
        use std::io::BufRead;
        let daemon = require("dbus-daemon")?;
        let config = tempfile::tempdir()?;
        let config_file = config.path().join("session.conf");
        std::fs::write(&config_file, SESSION_BUS_CONFIG)?;
        let mut child = Command::new(daemon)
            .arg(format!("--config-file={}", config_file.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dbus-daemon")?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("dbus-daemon stdout")?;
        std::io::BufReader::new(stdout).read_line(&mut line).context("reading the bus address")?;
        let address = line.trim().to_owned();
        if address.is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            bail!("dbus-daemon printed no address");
        }
        Ok(SessionBus { child, address, _config: config })
    }

    /// `DBUS_SESSION_BUS_ADDRESS` for the app.
    pub fn env(&self) -> (OsString, OsString) {
        ("DBUS_SESSION_BUS_ADDRESS".into(), self.address.clone().into())
    }

    /// Whether a connection owns `name` on this bus now.
    pub fn has_owner(&self, name: &str) -> Result<bool> {
        name_has_owner(std::ffi::OsStr::new(&self.address), name)
    }

    /// Who owns `name` (for error messages).
    pub fn owner_process(&self, name: &str) -> String {
        name_owner_process(std::ffi::OsStr::new(&self.address), name)
    }
}

/// Calls `org.freedesktop.DBus.<method>(name)` on the session bus at
/// `address` with `dbus-send`; its printed reply.
fn bus_call(address: &std::ffi::OsStr, method: &str, name: &str) -> Result<String> {
    let out = Command::new(require("dbus-send")?)
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            &format!("org.freedesktop.DBus.{method}"),
            &format!("string:{name}"),
        ])
        .output()
        .context("running dbus-send (package dbus-bin)")?;
    ensure!(out.status.success(), "dbus-send {method} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The process that owns `name` on the session bus at `address`, as
/// "pid <n>: <command line> [<stat>]" (for error messages).
pub fn name_owner_process(address: &std::ffi::OsStr, name: &str) -> String {
    let reply = match bus_call(address, "GetConnectionUnixProcessID", name) {
        Ok(reply) => reply,
        Err(e) => return format!("unknown ({e:#})"),
    };
    let Some(pid) = reply.split_whitespace().last().and_then(|p| p.parse::<u32>().ok()) else {
        return format!("unknown ({})", reply.trim());
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    format!("pid {pid}: {} [{}]", String::from_utf8_lossy(&cmdline).replace('\0', " "), stat.trim())
}

/// Whether a connection owns `name` now on the session bus at `address`.
pub fn name_has_owner(address: &std::ffi::OsStr, name: &str) -> Result<bool> {
    Ok(bus_call(address, "NameHasOwner", name)?.contains("boolean true"))
}

/// A real Secret Service on a [`SessionBus`]: `gnome-keyring-daemon`,
/// started with a fresh login keyring under `home` and unlocked (the way
/// keyring-rs's own CI runs it). Stopped when dropped.
pub struct SecretService {
    child: Child,
    bus: (OsString, OsString),
}

impl SecretService {
    pub fn start(bus: &SessionBus, home: &Path) -> Result<SecretService> {
        use std::io::Write;
        let daemon = require("gnome-keyring-daemon")?;
        let (key, value) = bus.env();
        let mut child = Command::new(daemon)
            .args(["--foreground", "--components=secrets", "--unlock"])
            .env(key, value)
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting gnome-keyring-daemon (package gnome-keyring)")?;
        std::fs::create_dir_all(home.join("run"))?;
        // The login keyring's password, on stdin: a test keyring's only.
        child.stdin.take().context("gnome-keyring stdin")?.write_all(b"hudson-test-keyring")?;
        let service = SecretService { child, bus: bus.env() };
        let claimed = crate::core::wait::until(Duration::from_secs(15), Duration::from_millis(50), || {
            bus.has_owner("org.freedesktop.secrets").map(|owned| owned.then_some(())).transpose()
        });
        claimed.context("gnome-keyring-daemon did not claim org.freedesktop.secrets in 15 s")??;
        Ok(service)
    }
}

impl SecretService {
    /// Stores `value` under `key` for the app `service` with `secret-tool`,
    /// the independent client, as the shell's store names its entries.
    pub fn store(&self, service: &str, key: &str, value: &str) -> Result<()> {
        use std::io::Write;
        let mut child = Command::new(require("secret-tool")?)
            .args(["store", "--label=Hudson e2e", "service", service, "username", key])
            .env(&self.bus.0, &self.bus.1)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running secret-tool (package libsecret-tools)")?;
        child.stdin.take().context("secret-tool stdin")?.write_all(value.as_bytes())?;
        let out = child.wait_with_output()?;
        ensure!(out.status.success(), "secret-tool store {key} failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test server process listening on a free loopback port, killed when
/// dropped: `command` builds its command line for the port.
pub struct LoopbackServer {
    child: Child,
    pub port: u16,
}

impl LoopbackServer {
    /// Starts it and waits (up to 10 s) until the port accepts connections;
    /// `what` names it in errors.
    pub fn start(what: &str, command: impl FnOnce(u16) -> Command) -> Result<LoopbackServer> {
        let port = free_port()?;
        let child = command(port)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        let mut server = LoopbackServer { child, port };
        let listening = crate::core::wait::until(Duration::from_secs(10), Duration::from_millis(50), || {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Ok(()));
            }
            match server.child.try_wait() {
                Ok(Some(status)) => {
                    Some(Err(anyhow::anyhow!("{what} exited before it listened on port {port} ({status})")))
                }
                Ok(None) => None,
                Err(e) => Some(Err(e.into())),
            }
        });
        listening.with_context(|| format!("{what} did not listen on port {port}"))??;
        Ok(server)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
