//! Driving the real shell in a real WebView: an `Xvfb` display, `tauri-driver`
//! in front of `WebKitWebDriver`, and a plain WebDriver HTTP session. Used by
//! `smoke --shell`, the end-to-end test and the startup benchmark.
//!
//! The app inherits tauri-driver's environment, and ending a session kills
//! the app without any exit event: callers check for leftover processes
//! themselves (see [`crate::drive::procs`]).

use std::ffi::OsString;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use serde_json::{Value, json};

use crate::core::doctor::on_path;

/// Names the missing program and how to get it.
fn require(program: &str) -> Result<PathBuf> {
    on_path(program).map(PathBuf::from).with_context(|| {
        format!("`{program}` is not installed; it is needed to run the shell under test. Run `cargo xtask doctor --install`.")
    })
}

/// A virtual X display, stopped when dropped.
pub struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    pub fn start() -> Result<Xvfb> {
        let xvfb = require("Xvfb")?;
        for number in 90..400 {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
            let lock = PathBuf::from(format!("/tmp/.X{number}-lock"));
            if socket.exists() || lock.exists() {
                continue;
            }
            let display = format!(":{number}");
            let mut child = Command::new(&xvfb)
                .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting Xvfb")?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if socket.exists() {
                    return Ok(Xvfb { child, display });
                }
                if let Some(status) = child.try_wait()? {
                    // Another Xvfb took the number first; try the next one.
                    let _ = status;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        bail!("could not start Xvfb on any display between :90 and :399")
    }

    pub fn display(&self) -> &str {
        &self.display
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
        let deadline = Instant::now() + Duration::from_secs(15);
        while !bus.has_owner("org.freedesktop.secrets")? {
            ensure!(Instant::now() < deadline, "gnome-keyring-daemon did not claim org.freedesktop.secrets in 15 s");
            std::thread::sleep(Duration::from_millis(50));
        }
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

/// `tauri-driver` (and the `WebKitWebDriver` it starts), stopped when dropped.
pub struct Driver {
    child: Child,
    port: u16,
    http: reqwest::blocking::Client,
}

/// A free loopback port (the OS picks; a race with another program is
/// possible but harmless in tests).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
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
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!("{what} exited before it listened on port {port} ({status})");
            }
            ensure!(Instant::now() < deadline, "{what} did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts tauri-driver on `display`. `env` is what the app will see (it
    /// inherits the driver's environment).
    pub fn start(display: &Xvfb, env: &[(OsString, OsString)]) -> Result<Driver> {
        let tauri_driver = require("tauri-driver")?;
        let native = require("WebKitWebDriver")?;
        let (port, native_port) = (free_port()?, free_port()?);
        let mut command = Command::new(tauri_driver);
        command
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .arg("--native-driver")
            .arg(native)
            .env("DISPLAY", display.display())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let child = command.spawn().context("starting tauri-driver")?;
        let http = reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build()?;
        let driver = Driver { child, port, http };
        // Ready when the native driver behind it answers /status too.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ready = TcpStream::connect(("127.0.0.1", port)).is_ok()
                && driver.request(reqwest::Method::GET, "/status", None).is_ok_and(|v| v["value"]["ready"] == true);
            if ready {
                return Ok(driver);
            }
            if Instant::now() > deadline {
                bail!("tauri-driver did not become ready on port {port} within 15 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut request = self.http.request(method.clone(), self.url(path));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().with_context(|| format!("WebDriver {method} {path}"))?;
        let status = response.status();
        let bytes = response.bytes()?;
        let value: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("WebDriver {method} {path}: not JSON: {}", String::from_utf8_lossy(&bytes)))?;
        if !status.is_success() {
            bail!("WebDriver {method} {path} answered {status}: {}", value["value"]["message"]);
        }
        Ok(value)
    }

    /// Launches `application` with `args` in a new session.
    pub fn session(&self, application: &Path, args: &[String]) -> Result<Session<'_>> {
        let body = json!({
            "capabilities": { "alwaysMatch": { "tauri:options": { "application": application, "args": args } } }
        });
        let value = self.request(reqwest::Method::POST, "/session", Some(body))?;
        let id = value["value"]["sessionId"].as_str().context("WebDriver returned no session id")?.to_owned();
        Ok(Session { driver: self, id, open: true })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            // SAFETY: kill has no memory-safety preconditions; the driver
            // leads its own process group (it and WebKitWebDriver).
            unsafe {
                libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session: one running app.
pub struct Session<'a> {
    driver: &'a Driver,
    id: String,
    open: bool,
}

impl Session<'_> {
    fn get(&self, what: &str) -> Result<Value> {
        Ok(self.driver.request(reqwest::Method::GET, &format!("/session/{}/{what}", self.id), None)?["value"].take())
    }

    pub fn title(&self) -> Result<String> {
        Ok(self.get("title")?.as_str().unwrap_or_default().to_owned())
    }

    pub fn url(&self) -> Result<String> {
        Ok(self.get("url")?.as_str().unwrap_or_default().to_owned())
    }

    /// Runs `script` in the page and returns its result.
    pub fn execute(&self, script: &str) -> Result<Value> {
        let body = json!({ "script": script, "args": [] });
        Ok(self.driver.request(reqwest::Method::POST, &format!("/session/{}/execute/sync", self.id), Some(body))?["value"]
            .take())
    }

    /// The W3C id of the first element matching `css`.
    pub fn find(&self, css: &str) -> Result<String> {
        let body = json!({ "using": "css selector", "value": css });
        let value = self.driver.request(reqwest::Method::POST, &format!("/session/{}/element", self.id), Some(body))?;
        value["value"]["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no element {css} on the page"))
    }

    pub fn click(&self, css: &str) -> Result<()> {
        let element = self.find(css)?;
        let path = format!("/session/{}/element/{element}/click", self.id);
        self.driver.request(reqwest::Method::POST, &path, Some(json!({}))).map(|_| ())
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> Result<String> {
        let element = self.find(css)?;
        Ok(self.get(&format!("element/{element}/text"))?.as_str().unwrap_or_default().to_owned())
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        let b64 = self.get("screenshot")?;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .context("WebDriver screenshot is not base64")
    }

    /// Waits until the page title is `title`; returns the last title seen on
    /// timeout as an error.
    pub fn wait_for_title(&self, title: &str, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < timeout {
            match self.title() {
                Ok(seen) if seen == title => return Ok(started.elapsed()),
                Ok(seen) => last = seen,
                Err(e) => last = format!("<{e}>"),
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        bail!("the window's title stayed {last:?}, expected {title:?} within {timeout:?}")
    }

    /// Makes the app's window titled `title` the session's current one
    /// (WebDriver's window handles), waiting up to `timeout` for it to open.
    pub fn switch_to_window(&self, title: &str, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let mut seen = Vec::new();
        while started.elapsed() < timeout {
            seen.clear();
            let handles = self.get("window/handles")?;
            for handle in handles.as_array().into_iter().flatten() {
                let path = format!("/session/{}/window", self.id);
                self.driver.request(reqwest::Method::POST, &path, Some(json!({ "handle": handle })))?;
                let now = self.title().unwrap_or_default();
                if now == title {
                    return Ok(());
                }
                seen.push(now);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("no window titled {title:?} within {timeout:?}; the app's windows: {seen:?}")
    }

    /// Ends the session (tauri-driver kills the app).
    pub fn close(mut self) -> Result<()> {
        self.open = false;
        self.driver.request(reqwest::Method::DELETE, &format!("/session/{}", self.id), None).map(|_| ())
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.driver.request(reqwest::Method::DELETE, &format!("/session/{}", self.id), None);
        }
    }
}

/// Runs `work` with Xlib, an open connection to `display` and the top-level
/// window of process `pid` titled `title` (found by `_NET_WM_PID` and its
/// name); the connection is closed afterwards.
fn with_window<T>(
    display: &str,
    pid: u32,
    title: &str,
    work: impl FnOnce(&x11_dl::xlib::Xlib, *mut x11_dl::xlib::Display, x11_dl::xlib::Window) -> Result<T>,
) -> Result<T> {
    use std::ffi::{CStr, CString};
    use std::os::raw::{c_int, c_uchar, c_uint, c_ulong};

    use x11_dl::xlib;

    let x = xlib::Xlib::open().context("cannot load libX11")?;
    let name = CString::new(display)?;
    // SAFETY: plain Xlib calls on a display this function opens and closes;
    // every pointer passed is valid for the call, every returned buffer is
    // freed with XFree.
    unsafe {
        let dpy = (x.XOpenDisplay)(name.as_ptr());
        if dpy.is_null() {
            bail!("cannot open X display {display}");
        }
        let net_wm_pid = {
            let n = CString::new("_NET_WM_PID").expect("no NUL");
            (x.XInternAtom)(dpy, n.as_ptr(), xlib::False)
        };
        let root = (x.XDefaultRootWindow)(dpy);
        let (mut root_ret, mut parent_ret) = (0, 0);
        let mut children: *mut xlib::Window = std::ptr::null_mut();
        let mut count: c_uint = 0;
        (x.XQueryTree)(dpy, root, &mut root_ret, &mut parent_ret, &mut children, &mut count);
        let windows: Vec<xlib::Window> =
            if children.is_null() { Vec::new() } else { std::slice::from_raw_parts(children, count as usize).to_vec() };
        if !children.is_null() {
            (x.XFree)(children.cast());
        }
        let mut target = None;
        for window in windows {
            let (mut kind, mut format, mut items, mut after) = (0, 0 as c_int, 0 as c_ulong, 0 as c_ulong);
            let mut data: *mut c_uchar = std::ptr::null_mut();
            let ok = (x.XGetWindowProperty)(
                dpy,
                window,
                net_wm_pid,
                0,
                1,
                xlib::False,
                xlib::XA_CARDINAL,
                &mut kind,
                &mut format,
                &mut items,
                &mut after,
                &mut data,
            );
            let owner =
                if ok == 0 && !data.is_null() && items == 1 { Some(*(data as *const c_ulong) as u32) } else { None };
            if !data.is_null() {
                (x.XFree)(data.cast());
            }
            if owner != Some(pid) {
                continue;
            }
            let mut window_name: *mut std::os::raw::c_char = std::ptr::null_mut();
            if (x.XFetchName)(dpy, window, &mut window_name) != 0 && !window_name.is_null() {
                let matches = CStr::from_ptr(window_name).to_string_lossy() == title;
                (x.XFree)(window_name.cast());
                if matches {
                    target = Some(window);
                    break;
                }
            }
        }
        let result = match target {
            Some(window) => work(&x, dpy, window),
            None => Err(anyhow::anyhow!("no window titled {title:?} of pid {pid} on {display}")),
        };
        (x.XCloseDisplay)(dpy);
        result
    }
}

/// Asks the top-level window of process `pid` titled `title` on `display`
/// to close, the way a window manager's close button does: a
/// `WM_PROTOCOLS`/`WM_DELETE_WINDOW` client message (WebDriver cannot close
/// a window the app made itself).
pub fn request_window_close(display: &str, pid: u32, title: &str) -> Result<()> {
    use x11_dl::xlib;
    with_window(display, pid, title, |x, dpy, window| {
        // SAFETY: Xlib calls on the open connection `with_window` holds.
        unsafe {
            let atom = |n: &str| {
                let n = std::ffi::CString::new(n).expect("atom names have no NUL");
                (x.XInternAtom)(dpy, n.as_ptr(), xlib::False)
            };
            let mut event: xlib::XEvent = std::mem::zeroed();
            event.client_message.type_ = xlib::ClientMessage;
            event.client_message.window = window;
            event.client_message.message_type = atom("WM_PROTOCOLS");
            event.client_message.format = 32;
            event.client_message.data.set_long(0, atom("WM_DELETE_WINDOW") as std::os::raw::c_long);
            event.client_message.data.set_long(1, xlib::CurrentTime as std::os::raw::c_long);
            (x.XSendEvent)(dpy, window, xlib::False, xlib::NoEventMask, &mut event);
            (x.XFlush)(dpy);
        }
        Ok(())
    })
}

/// Gives the top-level window of process `pid` titled `title` the keyboard
/// focus and types `keys` into it through the XTEST extension, as a user's
/// keyboard would: real key events that GTK handles like any other (its
/// menu bar, its menus, its dialogs). A key is an X keysym name (`F10`,
/// `Up`, `Return`, `a`, `slash`), optionally after modifiers joined by `+`
/// (`Control_L+a`); a keysym on a key's shifted level (`A`, `underscore`)
/// is typed with Shift held. A short pause after each key lets menus open.
pub fn type_keys<K: AsRef<str>>(display: &str, pid: u32, title: &str, keys: &[K]) -> Result<()> {
    use x11_dl::xlib;
    // x11-dl names its XTEST binding after a neighbouring extension.
    let xtest = x11_dl::xtest::Xf86vmode::open().context("cannot load libXtst (package libxtst6)")?;
    with_window(display, pid, title, |x, dpy, window| {
        // SAFETY: Xlib and XTEST calls on the open connection `with_window`
        // holds; the keysym names are NUL-free CStrings alive for the call.
        unsafe {
            let code_of = |name: &str| -> Result<(u8, bool)> {
                let cname = std::ffi::CString::new(name)?;
                let keysym = (x.XStringToKeysym)(cname.as_ptr());
                ensure!(keysym != 0, "{name:?} is not an X keysym name");
                let code = (x.XKeysymToKeycode)(dpy, keysym);
                ensure!(code != 0, "the X server has no key for {name:?}");
                let shifted = (x.XKeycodeToKeysym)(dpy, code, 0) != keysym;
                Ok((code, shifted))
            };
            let press = |code: u8, down: bool| {
                (xtest.XTestFakeKeyEvent)(
                    dpy,
                    code.into(),
                    if down { xlib::True } else { xlib::False },
                    xlib::CurrentTime,
                );
            };
            let shift = code_of("Shift_L")?.0;
            (x.XRaiseWindow)(dpy, window);
            (x.XSetInputFocus)(dpy, window, xlib::RevertToParent, xlib::CurrentTime);
            (x.XSync)(dpy, xlib::False);
            std::thread::sleep(Duration::from_millis(300));
            for key in keys {
                let key = key.as_ref();
                let mut parts: Vec<&str> = key.split('+').collect();
                let last = parts.pop().filter(|k| !k.is_empty()).unwrap_or("plus");
                let modifiers = parts.iter().map(|m| code_of(m).map(|c| c.0)).collect::<Result<Vec<_>>>()?;
                let (code, shifted) = code_of(last)?;
                let held: Vec<u8> = modifiers.into_iter().chain(shifted.then_some(shift)).collect();
                held.iter().for_each(|&m| press(m, true));
                press(code, true);
                press(code, false);
                held.iter().rev().for_each(|&m| press(m, false));
                (x.XSync)(dpy, xlib::False);
                std::thread::sleep(Duration::from_millis(if key.len() == 1 { 40 } else { 400 }));
            }
        }
        Ok(())
    })
}

/// The keysym names that type `text` (letters, digits and `/._-`), for
/// [`type_keys`].
pub fn keys_for_text(text: &str) -> Result<Vec<String>> {
    const NAMES: &[(char, &str)] = &[('/', "slash"), ('.', "period"), ('-', "minus"), ('_', "underscore")];
    text.chars()
        .map(|c| match NAMES.iter().find(|(n, _)| *n == c) {
            // A letter's or digit's keysym name is the character itself.
            _ if c.is_ascii_alphanumeric() => Ok(c.to_string()),
            Some((_, name)) => Ok((*name).to_owned()),
            None => bail!("cannot type {c:?} into a window"),
        })
        .collect()
}

/// Waits up to `timeout` for a top-level window of process `pid` titled
/// `title` on `display` (a dialog the app opens on its own).
pub fn wait_for_window(display: &str, pid: u32, title: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        // Shown, not only created: GTK names a window before it maps it,
        // and focusing an unmapped window is an X error.
        let shown = |x: &x11_dl::xlib::Xlib, dpy, window| {
            // SAFETY: `dpy` and `window` come from `with_window`, open for
            // this call; the attributes are written into a local.
            let state = unsafe {
                let mut attributes: x11_dl::xlib::XWindowAttributes = std::mem::zeroed();
                (x.XGetWindowAttributes)(dpy, window, &mut attributes);
                attributes.map_state
            };
            ensure!(state == x11_dl::xlib::IsViewable, "window {title:?} is not shown yet");
            Ok(())
        };
        match with_window(display, pid, title, shown) {
            Ok(()) => return Ok(()),
            Err(error) if Instant::now() >= deadline => {
                return Err(error.context(format!("no window {title:?} after {timeout:?}")));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Port of `http://127.0.0.1:<port>/…`, or an error naming the URL.
pub fn backend_port(url: &str) -> Result<u16> {
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .with_context(|| format!("the window shows {url}, not the backend's origin"))?;
    let port = rest.split(['/', '?', '#']).next().unwrap_or_default();
    port.parse().with_context(|| format!("no port in {url}"))
}
