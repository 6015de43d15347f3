//! Driving the real shell in a real WebView: an `Xvfb` display, `tauri-driver`
//! in front of `WebKitWebDriver`, and a plain WebDriver HTTP session. Used by
//! `smoke --shell`, the end-to-end test and the startup benchmark. What only
//! tests need (a private session bus, a Secret Service, loopback servers,
//! XTEST typing) is in `harness/doubles.rs` and `harness/xtest.rs`.
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
pub(crate) fn require(program: &str) -> Result<PathBuf> {
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
        let ready = crate::core::wait::until(Duration::from_secs(15), Duration::from_millis(20), || {
            let up = TcpStream::connect(("127.0.0.1", port)).is_ok()
                && driver.request(reqwest::Method::GET, "/status", None).is_ok_and(|v| v["value"]["ready"] == true);
            up.then_some(())
        });
        ensure!(ready.is_some(), "tauri-driver did not become ready on port {port} within 15 s");
        Ok(driver)
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

/// Port of `http://127.0.0.1:<port>/…`, or an error naming the URL.
pub fn backend_port(url: &str) -> Result<u16> {
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .with_context(|| format!("the window shows {url}, not the backend's origin"))?;
    let port = rest.split(['/', '?', '#']).next().unwrap_or_default();
    port.parse().with_context(|| format!("no port in {url}"))
}
