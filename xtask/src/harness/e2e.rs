//! `cargo xtask e2e`: the built shell in a real WebView under Xvfb (with a
//! private D-Bus session bus, as a desktop session has), driven through
//! tauri-driver, against the real backend release. Each scenario is what a
//! user meets:
//!
//! - **page**: the window shows the backend's page (title `Hudson`, origin
//!   `http://127.0.0.1:<port>`); other links leave for the system browser;
//!   the backend's origin cannot call the shell; SIGKILL of the shell leaves
//!   no backend process and frees the port.
//! - **single instance**: a second launch exits and starts no second backend.
//! - **quit**: closing the window, SIGTERM and SIGINT stop the backend
//!   gracefully.
//! - **handshake**: a planted file (wrong token), a symlink and a stale file
//!   from an earlier run are refused with a log line; the app still starts.
//! - **crash on boot**: a backend that dies on every boot ends on the error
//!   page after 4 boots, not in a loop; the page's local CSP blocks inline
//!   script.
//! - **damaged / update required**: the pages that say so.
//! - **diagnostics**: the Diagnostics window from the menu, its checks, crash
//!   records and its support bundle export through the real GTK save dialog
//!   (cancelled with Escape, then a typed folder and name).
//! - **crash upload**: off, nothing reaches the (test double) envelope
//!   endpoint; switched on, each crash record arrives once, redacted.
//! - **logs**: rotated at the configured size, no secret in them; the
//!   support bundle of that run, with secrets also in its environment and a
//!   real gnome-keyring holding a value no pattern matches, holds none.
//! - **burrito sidecar**: with `packaging = "burrito"`, the shell starts the
//!   sidecar next to its executable (built by the real backend and sidecar
//!   steps with the Burrito test double) and shows its page.
//! - **kill loop**: N launches, each SIGKILLed at a random moment during
//!   startup or after load: no backend, no epmd, every port free.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use hudson_lifecycle::contract::{AppVersion, SHELL_CONFIG_FILE, UpdatesConfig, VERSION_FILE};
use hudson_lifecycle::trace::{Milestone, first_stamps};
use hudson_lifecycle::{ShellEvent, contract, hooks};
use serde::Serialize;
use serde_json::Value;

use crate::core::config::{Config, Packaging, ShellConfig};
use crate::core::target::Target;
use crate::core::ui::{Ui, seconds};
use crate::core::wait::until;
use crate::drive::gui::{Driver, Session, Xvfb};
use crate::drive::procs;
use crate::harness::doubles::{SecretService, SessionBus};

/// How the end-to-end run is shaped.
#[derive(Debug, Clone)]
pub struct Options {
    /// Launches in the random-SIGKILL loop.
    pub kill_launches: usize,
    /// Seed for the kill moments (printed, so a failure can be replayed).
    pub seed: Option<u64>,
    /// Only the kill loop (to replay a seed).
    pub kill_loop_only: bool,
    /// Only these scenarios, and no kill loop (empty: all).
    pub only: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { kill_launches: 50, seed: None, kill_loop_only: false, only: Vec::new() }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenarios: Vec<Scenario>,
    pub kill_loop: KillLoop,
}

#[derive(Debug, Serialize)]
pub struct Scenario {
    pub name: &'static str,
    pub result: String,
}

#[derive(Debug, Default, Serialize)]
pub struct KillLoop {
    pub seed: u64,
    pub launches: usize,
    pub killed_during_startup: usize,
    pub killed_after_load: usize,
    pub backend_processes_left: usize,
    pub epmd_left: usize,
    pub ports_checked: usize,
    pub ports_taken: usize,
    /// Launches that left something: when they were killed and what survived.
    pub failures: Vec<String>,
}

/// Where the built shell and its staged resources are.
pub struct Build {
    pub shell: PathBuf,
    pub resources: PathBuf,
    /// The shell built with its `test-hooks` feature, beside `shell` (for
    /// the scenarios that need a real shell panic; see [`test_build`]).
    pub hooks_shell: Option<PathBuf>,
}

impl Build {
    pub fn from_dist(config: &Config, target: &Target) -> Result<Build> {
        let shell = config.shell_binary_path(target);
        let resources = config.resources_dir(target);
        ensure!(
            shell.is_file() && resources.is_dir(),
            "no built shell at {}: run `cargo xtask dist` first",
            shell.display()
        );
        Ok(Build { shell, resources, hooks_shell: None })
    }

    /// The shell with its test hooks; built by `run` when a scenario needs it.
    pub fn hooks_shell(&self) -> Result<&PathBuf> {
        self.hooks_shell.as_ref().context("the shell with test hooks was not built (e2e::run builds it)")
    }

    /// The staged release, canonical (as it appears in process command
    /// lines).
    pub fn release(&self) -> Result<PathBuf> {
        let release = self.resources.join("backend");
        std::fs::canonicalize(&release).with_context(|| format!("no staged backend at {}", release.display()))
    }
}

/// The display, the session bus, the build: shared by every scenario.
pub struct Lab {
    pub display: Xvfb,
    pub bus: SessionBus,
    pub build: Build,
    pub release: PathBuf,
    pub identifier: String,
}

impl Lab {
    pub fn start(config: &Config) -> Result<Lab> {
        let build = Build::from_dist(config, Target::host()?)?;
        let release = build.release()?;
        Ok(Lab {
            display: Xvfb::start()?,
            bus: SessionBus::start()?,
            build,
            release,
            identifier: config.identifier.clone(),
        })
    }

    /// A fresh per-user install: private HOME, and a resource folder whose
    /// `backend` is `backend`, whose `hudson-shell.json` is the staged one
    /// edited by `edit`, and whose `hudson-version.json` is the staged one.
    pub fn install(&self, backend: Backend<'_>, edit: impl FnOnce(&mut ShellConfig)) -> Result<Install> {
        let (home, mut env) = crate::drive::home::private_home()?;
        let resources = home.path().join("resources");
        std::fs::create_dir_all(&resources)?;
        let staged_config = self.build.resources.join(SHELL_CONFIG_FILE);
        let mut shell_config = ShellConfig::from_slice(&std::fs::read(&staged_config)?)
            .with_context(|| format!("reading {}", staged_config.display()))?;
        edit(&mut shell_config);
        std::fs::write(resources.join(SHELL_CONFIG_FILE), shell_config.to_pretty_json())?;
        std::fs::copy(self.build.resources.join(VERSION_FILE), resources.join(VERSION_FILE))
            .with_context(|| format!("copying the staged {VERSION_FILE}"))?;
        let mut markers = vec![self.release.display().to_string()];
        match backend {
            Backend::Real => std::os::unix::fs::symlink(&self.release, resources.join("backend"))?,
            Backend::Wrapper(body) => {
                let bin = resources.join("backend/bin");
                std::fs::create_dir_all(&bin)?;
                let script = format!("#!/bin/sh\n{body}\nexec '{}/bin/hudson' \"$@\"\n", self.release.display());
                write_executable(&bin.join("hudson"), &script)?;
                markers.push(resources.display().to_string());
            }
            Backend::Crashing(body) => {
                let bin = resources.join("backend/bin");
                std::fs::create_dir_all(&bin)?;
                write_executable(&bin.join("hudson"), &format!("#!/bin/sh\n{body}\n"))?;
                markers.push(resources.display().to_string());
            }
            Backend::WithoutNif => {
                let copy = resources.join("backend");
                let status = Command::new("cp").arg("-a").arg(&self.release).arg(&copy).status()?;
                ensure!(status.success(), "copying the release to {}", copy.display());
                let mut removed = 0;
                for entry in std::fs::read_dir(copy.join("lib"))?.flatten() {
                    let nif = entry.path().join("priv/native/libhudson_nif.so");
                    if nif.exists() {
                        std::fs::remove_file(nif)?;
                        removed += 1;
                    }
                }
                ensure!(removed == 1, "the release has no libhudson_nif.so to remove");
                markers.push(std::fs::canonicalize(&copy)?.display().to_string());
            }
        }
        env.push((hooks::ENV_RESOURCE_DIR.into(), resources.clone().into()));
        env.push(self.bus.env());
        Ok(Install { home, env, markers, identifier: self.identifier.clone() })
    }

    /// A tauri-driver for `install` (the app inherits the driver's
    /// environment, so each install gets its own driver).
    pub fn driver(&self, install: &Install, extra_env: &[(&str, &str)]) -> Result<Driver> {
        self.wait_single_instance_free(install)?;
        let mut env = install.env.clone();
        env.extend(extra_env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))));
        Driver::start(&self.display, &env)
    }

    /// Waits (up to 10 s) until no shell of an earlier scenario owns the
    /// single-instance name on the shared session bus. dbus-daemon drops an
    /// exited shell's name asynchronously; a launch in between would hand
    /// over to nobody and exit, and WebDriver would wait for a window that
    /// never comes.
    pub fn wait_single_instance_free(&self, install: &Install) -> Result<()> {
        let name = hudson_lifecycle::shell_event::single_instance_name(install.identifier());
        let free = until(Duration::from_secs(10), Duration::from_millis(20), || {
            self.bus.has_owner(&name).map(|owned| (!owned).then_some(())).transpose()
        });
        free.with_context(|| {
            format!(
                "an earlier shell still owns {name} on the session bus 10 s later (owner {})",
                self.bus.owner_process(&name)
            )
        })?
    }

    /// Starts the shell directly (no WebDriver), as a user's launcher does.
    pub fn spawn_shell(&self, install: &Install, extra_env: &[(&str, &OsString)]) -> Result<Child> {
        self.wait_single_instance_free(install)?;
        self.spawn_second_shell(install, extra_env)
    }

    /// Starts the shell directly without waiting for an earlier one to be
    /// gone: the single-instance scenario's second launch.
    pub fn spawn_second_shell(&self, install: &Install, extra_env: &[(&str, &OsString)]) -> Result<Child> {
        let mut command = Command::new(&self.build.shell);
        command
            .env("DISPLAY", self.display.display())
            .envs(install.env.iter().map(|(k, v)| (k, v)))
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command.spawn().with_context(|| format!("starting {}", self.build.shell.display()))
    }
}

/// What the install's `backend` resource is.
pub enum Backend<'a> {
    /// The staged release.
    Real,
    /// A `bin/hudson` that runs `body`, then execs the real release.
    Wrapper(&'a str),
    /// A `bin/hudson` that runs `body` only (a test double that never serves).
    Crashing(&'a str),
    /// A copy of the release without its NIF library (a damaged install).
    WithoutNif,
}

/// The shell's log file in the per-user log folder.
pub const SHELL_LOG: &str = hudson_lifecycle::shell_event::LOG_FILE;

pub struct Install {
    pub home: tempfile::TempDir,
    pub env: Vec<(OsString, OsString)>,
    /// Strings in the command line of any process of this install's backend.
    pub markers: Vec<String>,
    identifier: String,
}

impl Install {
    /// An install whose files the caller laid out in `home` (the update
    /// scenarios unpack a portable tree there).
    pub fn new(
        home: tempfile::TempDir,
        env: Vec<(OsString, OsString)>,
        markers: Vec<String>,
        identifier: &str,
    ) -> Install {
        Install { home, env, markers, identifier: identifier.to_owned() }
    }

    /// The app's identifier (the name of its data folder and the prefix of
    /// its single-instance bus name).
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    pub fn log_dir(&self) -> PathBuf {
        self.home.path().join("data").join(&self.identifier).join("logs")
    }

    /// The shell's log and its rotated files, oldest first. Only those:
    /// another file in the folder would shift the offsets callers keep.
    /// Read lossily, so a torn byte cannot hide everything after it.
    pub fn log_text(&self) -> String {
        let dir = self.log_dir();
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&dir).map(|entries| entries.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        files.retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(SHELL_LOG)));
        files.sort_by_key(|p| std::cmp::Reverse(p.display().to_string()));
        files.iter().map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()).collect()
    }

    pub fn runtime_base(&self) -> PathBuf {
        self.home.path().join("run").join(&self.identifier)
    }

    /// Live backend processes (and any epmd).
    pub fn survivors(&self) -> Vec<procs::Process> {
        procs::backend_survivors(&self.markers)
    }

    pub fn wait_no_backend(&self, timeout: Duration) -> Vec<procs::Process> {
        procs::wait_gone(timeout, Duration::from_millis(25), || self.survivors())
    }

    /// How long the log is now: where a wait for what comes next starts.
    pub fn log_len(&self) -> usize {
        self.log_text().len()
    }

    /// The log written since `from` (a [`Install::log_len`]).
    pub fn log_since(&self, from: usize) -> String {
        self.log_text().get(from..).unwrap_or_default().to_owned()
    }

    /// The shell's events ([`ShellEvent`]) since `from`, oldest first, each
    /// with the offset just past its line.
    pub fn events_since(&self, from: usize) -> Vec<(usize, ShellEvent)> {
        ShellEvent::parse_all(&self.log_since(from)).into_iter().map(|(end, e)| (from + end, e)).collect()
    }

    /// The shell's events so far, oldest first.
    pub fn events(&self) -> Vec<ShellEvent> {
        self.events_since(0).into_iter().map(|(_, e)| e).collect()
    }

    /// The first event since `from` that `want` accepts (`what` names it
    /// for the error), polled every 5 ms: when it was seen, the event, and
    /// the offset just past its line.
    pub fn seen(
        &self,
        from: usize,
        what: &str,
        timeout: Duration,
        want: impl Fn(&ShellEvent) -> bool,
    ) -> Result<(Instant, ShellEvent, usize)> {
        let found = crate::core::wait::until(timeout, Duration::from_millis(5), || {
            self.events_since(from).into_iter().find(|(_, e)| want(e)).map(|(end, e)| (Instant::now(), e, end))
        });
        found.with_context(|| {
            format!(
                "the shell never reported {what} within {timeout:?}; its log since then ends with:\n{}",
                tail(&self.log_since(from), 25)
            )
        })
    }

    /// Waits until the shell has reported an event that `want` accepts.
    pub fn wait_event(&self, what: &str, timeout: Duration, want: impl Fn(&ShellEvent) -> bool) -> Result<ShellEvent> {
        self.seen(0, what, timeout, want).map(|(_, event, _)| event)
    }

    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log_text(), n)
    }

    /// The launch folders in the runtime base.
    pub fn launch_dirs(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.runtime_base()) else { return Vec::new() };
        entries.flatten().map(|e| e.path()).collect()
    }

    /// Handshake ports of the launch folders in the runtime base, except
    /// those in `seen`.
    pub fn handshake_ports_except(&self, seen: &[PathBuf]) -> Vec<u16> {
        self.launch_dirs()
            .into_iter()
            .filter(|dir| !seen.contains(dir))
            .filter_map(|dir| std::fs::read(dir.join(contract::HANDSHAKE_FILE_NAME)).ok())
            .filter_map(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .filter_map(|doc| doc["port"].as_u64().and_then(|p| u16::try_from(p).ok()))
            .collect()
    }
}

/// The trace at `path` has the page's load finished.
pub fn page_finished(path: &Path) -> bool {
    first_stamps(&std::fs::read_to_string(path).unwrap_or_default()).contains_key(&Milestone::PageFinished)
}

fn write_executable(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

pub fn run(ui: &Ui, options: &Options) -> Result<()> {
    let config = Config::load()?;
    let mut lab = Lab::start(&config)?;
    /// Scenarios that make the shell panic: they run the `test-hooks` build.
    const NEED_HOOKS: [&str; 2] = ["diagnostics", "crash upload"];
    if !options.kill_loop_only
        && NEED_HOOKS.iter().any(|name| options.only.is_empty() || options.only.iter().any(|n| n == name))
    {
        lab.build.hooks_shell = Some(test_build(ui, &config, Target::host()?, "test-hooks")?);
    }
    let mut scenarios = Vec::new();
    let mut scenario = |name: &'static str, work: &dyn Fn(&Lab) -> Result<String>| -> Result<()> {
        let started = Instant::now();
        let result = work(&lab).with_context(|| format!("e2e scenario `{name}` failed"))?;
        ui.info(format!("✓ e2e {name} ({}): {result}", seconds(started.elapsed())));
        scenarios.push(Scenario { name, result });
        Ok(())
    };
    type Check<'a> = (&'static str, &'a dyn Fn(&Lab) -> Result<String>);
    let all: [Check<'_>; 11] = [
        ("page, navigation lock, SIGKILL", &page_and_sigkill),
        ("single instance", &single_instance),
        ("quit paths", &quit_paths),
        ("handshake attacks", &handshake_attacks),
        ("crash on boot", &crash_on_boot),
        ("damaged install", &damaged_install),
        ("update required", &update_required),
        ("diagnostics", &diagnostics),
        ("crash upload", &crash_upload),
        ("logs", &logs_rotate_and_redact),
        ("burrito sidecar", &burrito_sidecar),
    ];
    let known: Vec<&str> = all.iter().map(|(name, _)| *name).collect();
    if let Some(unknown) = options.only.iter().find(|n| !known.contains(&n.as_str())) {
        bail!("no e2e scenario {unknown:?}; the scenarios: {}", known.join(", "));
    }
    for (name, work) in all {
        if !options.kill_loop_only && (options.only.is_empty() || options.only.iter().any(|n| n == name)) {
            scenario(name, work)?;
        }
    }
    if !options.only.is_empty() {
        ui.emit(&Report { scenarios, kill_loop: KillLoop::default() });
        return Ok(());
    }
    let kill_loop = kill_loop(&lab, options)?;
    ui.info(format!(
        "✓ e2e kill loop: {} launches ({} killed during startup, {} after load; seed {}): {} backend processes, {} epmd left; {} of {} ports taken",
        kill_loop.launches,
        kill_loop.killed_during_startup,
        kill_loop.killed_after_load,
        kill_loop.seed,
        kill_loop.backend_processes_left,
        kill_loop.epmd_left,
        kill_loop.ports_taken,
        kill_loop.ports_checked
    ));
    ui.emit(&Report { scenarios, kill_loop });
    Ok(())
}

/// `cargo build` of the shell with one test-only `feature` (`test-hooks`,
/// `bench-baseline`): the binary `<shell>-<feature>` beside the release
/// shell, built with dist's profile, target and features otherwise, so the
/// release build's dependencies are reused and the `hudson-desktop` that
/// ships is never replaced.
pub fn test_build(ui: &Ui, config: &Config, target: &Target, feature: &str) -> Result<PathBuf> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(&config.workspace_root);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (package, triple) = (&config.shell_package, target.triple);
    let bin = format!("{}-{feature}", config.shell_binary);
    ui.info(format!("building {bin}, the shell with its `{feature}` feature (a test build; never shipped)"));
    xshell::cmd!(
        sh,
        "{cargo} build --release -p {package} --target {triple} --features custom-protocol,{feature} --bin {bin}"
    )
    .run()
    .with_context(|| format!("building the test build of the shell `{bin}`"))?;
    Ok(config.shell_binary_path(target).with_file_name(format!("{bin}{}", target.exe_suffix())))
}

/// Running shells of this lab: the release build or its test build.
/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn shell_pids(lab: &Lab) -> Vec<u32> {
    let programs: Vec<String> = [Some(&lab.build.shell), lab.build.hooks_shell.as_ref()]
        .into_iter()
        .flatten()
        .map(|p| format!("{} ", p.display()))
        .collect();
    procs::processes()
        .into_iter()
        .filter(|p| programs.iter().any(|program| format!("{} ", p.cmdline).starts_with(program)))
        .map(|p| p.pid)
        .collect()
}

/// Runs `script` in the page; promises are awaited by WebDriver.
fn invoke_from_page(session: &Session<'_>, command: &str) -> Result<String> {
    let script = format!(
        "return window.__TAURI_INTERNALS__.invoke('{command}', {{}}).then(r => 'allowed: ' + r, e => 'refused: ' + e)"
    );
    Ok(session.execute(&script)?.as_str().unwrap_or_default().to_owned())
}

/// The shell with `packaging = "burrito"`: laid out as tauri-bundler installs
/// it (the sidecar, its triple suffix stripped, next to the shell
/// executable), it must start the sidecar by the contract and show its page,
/// and leave nothing behind when killed.
fn burrito_sidecar(lab: &Lab) -> Result<String> {
    let config = Config::load()?;
    let work = tempfile::Builder::new().prefix("hudson-burrito-").tempdir()?;
    let ui = Ui::new(crate::core::ui::Format::Text);
    let fixture = crate::harness::burrito_double::Fixture::build(&config, work.path(), &ui)?;
    let staged = ShellConfig::from_slice(&std::fs::read(fixture.shell_config())?)?;
    ensure!(staged.packaging == Packaging::Burrito, "the sidecar step staged {staged:?}");

    let install = lab.install(Backend::Real, |shell_config| *shell_config = staged.clone())?;
    let bin = install.home.path().join("bin");
    std::fs::create_dir_all(&bin)?;
    let shell = bin.join(lab.build.shell.file_name().context("the shell has a file name")?);
    std::fs::copy(&lab.build.shell, &shell)?;
    let sidecar_name = config.sidecar.clone();
    std::fs::copy(fixture.sidecar_link(), bin.join(&sidecar_name))?;
    // The double extracts the release under the install's data folder.
    let extracted = install.home.path().join("data/.burrito").display().to_string();

    let driver = lab.driver(&install, &[])?;
    let session = driver.session(&shell, &[])?;
    let page_after = session.wait_for_title("Hudson", Duration::from_secs(90))?;
    let port = crate::drive::gui::backend_port(&session.url()?)?;
    let running = procs::backend_survivors(&[&extracted]);
    ensure!(
        running.iter().any(|p| p.name == "beam.smp"),
        "no backend runs from the sidecar's extraction folder {extracted}: {running:?}"
    );
    drop(session);
    let left = procs::wait_gone(Duration::from_secs(15), Duration::from_millis(50), || {
        procs::backend_survivors(&[&extracted])
    });
    ensure!(left.is_empty(), "the sidecar's processes outlived the shell: {left:?}");
    ensure!(procs::wait_port_free(port, Duration::from_secs(30)), "port {port} still taken");
    Ok(format!("{sidecar_name} next to the shell served the page after {}; nothing left", seconds(page_after)))
}

fn page_and_sigkill(lab: &Lab) -> Result<String> {
    let install = lab.install(Backend::Real, |_| {})?;
    let driver = lab.driver(&install, &[])?;
    let session = driver.session(&lab.build.shell, &[])?;
    let page_after = session.wait_for_title("Hudson", Duration::from_secs(60))?;
    let url = session.url()?;
    let port = crate::drive::gui::backend_port(&url)?;

    // Other origins leave for the system browser; the window stays.
    session.click("#external-link")?;
    install.wait_event(
        "https://hudson.example/ handed to the browser",
        Duration::from_secs(5),
        |e| matches!(e, ShellEvent::OpenedExternally { url } if url == "https://hudson.example/"),
    )?;
    session.execute("window.location.href = 'https://hudson.example/nav'; return 1")?;
    install.wait_event(
        "https://hudson.example/nav handed to the browser",
        Duration::from_secs(5),
        |e| matches!(e, ShellEvent::OpenedExternally { url } if url == "https://hudson.example/nav"),
    )?;
    std::thread::sleep(Duration::from_millis(300));
    let after = session.url()?;
    ensure!(crate::drive::gui::backend_port(&after)? == port, "the window left the backend's origin: {after}");
    ensure!(session.title()? == "Hudson", "the page changed after an external link");

    // The backend's origin is granted no command.
    let answer = invoke_from_page(&session, "check_for_updates")?;
    ensure!(answer.starts_with("refused"), "the backend's page could call the shell: {answer}");

    ensure!(!install.survivors().is_empty(), "no backend process is running");
    for pid in shell_pids(lab) {
        procs::signal(pid, libc::SIGKILL);
    }
    let survivors = install.wait_no_backend(Duration::from_secs(10));
    ensure!(survivors.is_empty(), "after SIGKILL of the shell, backend processes survive: {survivors:?}");
    ensure!(procs::wait_port_free(port, Duration::from_secs(30)), "port {port} is still taken");
    drop(session);
    Ok(format!(
        "title \"Hudson\" at {} after {}; external links left; backend origin refused IPC; SIGKILL left 0 processes, port {port} free",
        url.split('?').next().unwrap_or_default(),
        seconds(page_after)
    ))
}

fn single_instance(lab: &Lab) -> Result<String> {
    let install = lab.install(Backend::Real, |_| {})?;
    let driver = lab.driver(&install, &[])?;
    let session = driver.session(&lab.build.shell, &[])?;
    session.wait_for_title("Hudson", Duration::from_secs(60))?;
    let first = install.survivors();
    ensure!(!first.is_empty(), "no backend running");

    let started = Instant::now();
    let mut second = lab.spawn_second_shell(&install, &[])?;
    let Some(status) = wait_exit(&mut second, Duration::from_secs(15))? else {
        bail!("the second launch is still running after 15 s: single instance does not work");
    };
    install.wait_event("the second launch handed over", Duration::from_secs(5), |e| *e == ShellEvent::SecondLaunch)?;
    let after: Vec<u32> = install.survivors().iter().map(|p| p.pid).collect();
    ensure!(
        after == first.iter().map(|p| p.pid).collect::<Vec<_>>(),
        "the backend processes changed: {first:?} -> {after:?}"
    );
    ensure!(session.title()? == "Hudson", "the first window lost its page");
    for pid in shell_pids(lab) {
        procs::signal(pid, libc::SIGKILL);
    }
    ensure!(install.wait_no_backend(Duration::from_secs(10)).is_empty(), "backend left after SIGKILL");
    Ok(format!(
        "second launch exited ({status}) after {}, first window focused, still 1 backend",
        seconds(started.elapsed())
    ))
}

fn quit_paths(lab: &Lab) -> Result<String> {
    let mut results = Vec::new();
    // Closing the window (the same path as Quit: the app exits, RunEvent::Exit).
    {
        let install = lab.install(Backend::Real, |_| {})?;
        let driver = lab.driver(&install, &[])?;
        let session = driver.session(&lab.build.shell, &[])?;
        session.wait_for_title("Hudson", Duration::from_secs(60))?;
        let port = crate::drive::gui::backend_port(&session.url()?)?;
        let shell = *shell_pids(lab).first().context("the shell is not running")?;
        crate::harness::xtest::request_window_close(lab.display.display(), shell, "Hudson")?;
        install.wait_event("the shell exiting", Duration::from_secs(15), |e| *e == ShellEvent::ShellExited)?;
        check_graceful(&install, port, "window close")?;
        results.push("window close");
    }
    for (name, sig) in [("SIGTERM", libc::SIGTERM), ("SIGINT", libc::SIGINT)] {
        let install = lab.install(Backend::Real, |_| {})?;
        let mut shell = lab.spawn_shell(&install, &[])?;
        install
            .wait_event("the page loaded", Duration::from_secs(60), |e| matches!(e, ShellEvent::PageLoaded { .. }))?;
        let port = *install.handshake_ports_except(&[]).first().context("no handshake file while the backend runs")?;
        procs::signal(shell.id(), sig);
        let Some(status) = wait_exit(&mut shell, Duration::from_secs(15))? else {
            bail!("the shell did not exit within 15 s of {name}");
        };
        install.wait_event(
            &format!("{name} received"),
            Duration::from_secs(1),
            |e| matches!(e, ShellEvent::Signal { name: got } if got == name),
        )?;
        check_graceful(&install, port, name)?;
        ensure!(status.success(), "the shell exited with {status} after {name}");
        results.push(name);
    }
    Ok(format!("{}: backend stopped gracefully (exit code 0), no process left, port free", results.join(", ")))
}

/// The child's exit status once it exits within `within`; `None` when it
/// did not, after killing and reaping it.
pub(crate) fn wait_exit(child: &mut std::process::Child, within: Duration) -> Result<Option<std::process::ExitStatus>> {
    match until(within, Duration::from_millis(20), || child.try_wait().transpose()) {
        Some(status) => Ok(Some(status?)),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Ok(None)
        }
    }
}

fn check_graceful(install: &Install, port: u16, how: &str) -> Result<()> {
    let stops: Vec<ShellEvent> =
        install.events().into_iter().filter(|e| matches!(e, ShellEvent::BackendStopped { .. })).collect();
    ensure!(
        stops == [ShellEvent::BackendStopped { exit_code: Some(0), killed: false }],
        "{how}: the backend was not stopped once, gracefully ({stops:?}); log:\n{}",
        install.log_tail(20)
    );
    let left = install.wait_no_backend(Duration::from_secs(10));
    ensure!(left.is_empty(), "{how}: backend processes survive: {left:?}");
    // A database the backend closed has its write-ahead log checkpointed
    // and removed; a halt that skipped the close leaves the `-wal`.
    let database = install.home.path().join("data").join(install.identifier()).join("db/hudson.sqlite3");
    ensure!(database.is_file(), "{how}: the backend wrote no database at {}", database.display());
    let wal = database.with_extension("sqlite3-wal");
    ensure!(!wal.exists(), "{how}: the backend did not close its database: {} is left", wal.display());
    ensure!(!procs::processes().iter().any(|p| p.name == "epmd"), "{how}: epmd is running");
    ensure!(procs::wait_port_free(port, Duration::from_secs(30)), "{how}: port {port} still taken");
    Ok(())
}

fn handshake_attacks(lab: &Lab) -> Result<String> {
    let fake = format!(r#"{{"port":4000,"token":"{}","pid":1,"version":"0.0.1"}}"#, "ab".repeat(32));
    let planted = format!(
        r#"printf '{{"port":4000,"token":"%s","pid":%s,"version":"0.1.0"}}' {} $$ > "$HUDSON_HANDSHAKE_FILE""#,
        "f".repeat(64)
    );
    let symlink = r#"mkdir -p "$HUDSON_DATA_DIR"
printf '{"port":4000,"token":"%s","pid":%s,"version":"0.1.0"}' "$HUDSON_HANDSHAKE_TOKEN" $$ > "$HUDSON_DATA_DIR/elsewhere.json"
ln -s "$HUDSON_DATA_DIR/elsewhere.json" "$HUDSON_HANDSHAKE_FILE""#
        .to_owned();
    let stale = format!("printf '%s' '{fake}' > \"$HUDSON_HANDSHAKE_FILE\"");
    let cases = [("planted", planted, "wrong_token"), ("symlink", symlink, "symlink"), ("stale", stale, "wrong_token")];
    for (name, plant, refusal) in &cases {
        let install = lab.install(Backend::Wrapper(plant), |_| {})?;
        // A stale launch folder of an earlier, killed run, too.
        let earlier = install.runtime_base().join("launch-earlier");
        std::fs::create_dir_all(&earlier)?;
        std::fs::write(earlier.join("owner.pid"), "999999999")?;
        std::fs::write(earlier.join(contract::HANDSHAKE_FILE_NAME), &fake)?;

        let driver = lab.driver(&install, &[])?;
        let session = driver.session(&lab.build.shell, &[])?;
        session
            .wait_for_title("Hudson", Duration::from_secs(60))
            .with_context(|| format!("{name}: the app did not start; log:\n{}", install.log_tail(20)))?;
        crate::drive::gui::backend_port(&session.url()?)?;
        let events = install.events();
        let refused = events.iter().any(|e| matches!(e, ShellEvent::HandshakeRefused { kind } if kind == refusal));
        ensure!(refused, "{name}: no {refusal} refusal reported; log:\n{}", install.log_tail(20));
        ensure!(!earlier.exists(), "{name}: the earlier launch folder was not swept");
        ensure!(events.contains(&ShellEvent::LaunchFoldersRemoved { count: 1 }), "{name}: the sweep was not reported");
        drop(session);
        ensure!(install.wait_no_backend(Duration::from_secs(10)).is_empty(), "{name}: backend left");
    }
    Ok("planted, symlink and stale handshakes refused with a log line; the app started each time".into())
}

fn crash_on_boot(lab: &Lab) -> Result<String> {
    let boots = tempfile::NamedTempFile::new()?;
    let body =
        format!("echo boot >> '{}'\necho 'boom: the database is unreachable' >&2\nexit 3", boots.path().display());
    let install = lab.install(Backend::Crashing(&body), |_| {})?;
    let driver = lab.driver(&install, &[])?;
    let session = driver.session(&lab.build.shell, &[])?;
    let after = session.wait_for_title("Hudson — Could not start", Duration::from_secs(60))?;
    let count = || std::fs::read_to_string(boots.path()).map(|t| t.lines().count()).unwrap_or(0);
    ensure!(count() == 4, "{} boots before the error page, expected 4", count());
    let reason = session.text("#reason")?;
    ensure!(reason.contains("restarted 3 times"), "reason: {reason}");
    let tail = session.text("#tail")?;
    ensure!(tail.contains("boom: the database is unreachable"), "the last log lines are missing: {tail}");
    session.find("#restart")?;
    session.find("#open-logs")?;
    std::thread::sleep(Duration::from_secs(3));
    ensure!(count() == 4, "the backend was started again without the user: {} boots", count());

    // The local page's CSP blocks inline script.
    let probe = "var s = document.createElement('script'); s.textContent = 'window.__probe = 1'; \
                 document.head.appendChild(s); return window.__probe === 1 ? 'ran' : 'blocked'";
    let csp = session.execute(probe)?;
    ensure!(csp == "blocked", "inline script ran on the error page: the CSP is missing");

    // Restart from the page: a fresh budget of four boots.
    session.click("#restart")?;
    until(Duration::from_secs(30), Duration::from_millis(50), || (count() >= 8).then_some(()));
    ensure!(count() == 8, "Restart did not start the backend again ({} boots)", count());
    session.wait_for_title("Hudson — Could not start", Duration::from_secs(30))?;
    Ok(format!(
        "error page after {} and 4 boots, with reason, last log lines, Restart and Open logs; no further boots; CSP blocks inline script; Restart boots again",
        seconds(after)
    ))
}

fn damaged_install(lab: &Lab) -> Result<String> {
    let install = lab.install(Backend::WithoutNif, |_| {})?;
    let driver = lab.driver(&install, &[])?;
    let session = driver.session(&lab.build.shell, &[])?;
    session.wait_for_title("Hudson — Installation damaged", Duration::from_secs(60))?;
    let modules = session.text("#modules")?;
    ensure!(modules.contains("hudson_nif"), "the page does not name the module: {modules}");
    ensure!(install.wait_no_backend(Duration::from_secs(10)).is_empty(), "the damaged backend keeps running");
    Ok(format!("\"installation is damaged — reinstall\" page naming {}", modules.lines().next().unwrap_or_default()))
}

/// Starts `install` against a server that requires an update, presses
/// Check for updates on the update page, and returns its answer (the shell
/// is stopped again).
fn check_on_update_page(lab: &Lab, install: &Install) -> Result<String> {
    let driver = lab.driver(install, &[(contract::ENV_SERVER_SCHEMA, "2")])?;
    let session = driver.session(&lab.build.shell, &[])?;
    session.wait_for_title("Hudson — Update required", Duration::from_secs(60))?;
    session.click("#check-updates")?;
    let answer = until(Duration::from_secs(5), Duration::from_millis(50), || {
        session.text("#answer").map(|a| (!a.is_empty()).then_some(a)).transpose()
    })
    .transpose()?
    .unwrap_or_default();
    Ok(answer)
}

fn update_required(lab: &Lab) -> Result<String> {
    let install = lab.install(Backend::Real, |_| {})?;
    let answer = check_on_update_page(lab, &install)?;
    ensure!(answer.contains("no update endpoint is configured"), "Check for updates answered: {answer:?}");
    // The shell's version is the one dist wrote beside its configuration
    // (its binary carries none).
    let started = install.events().into_iter().find_map(|e| match e {
        ShellEvent::ShellStarted { version } => Some(version),
        _ => None,
    });
    let version = AppVersion::read(&lab.build.resources).map_err(anyhow::Error::msg)?.version;
    ensure!(started.as_deref() == Some(version.as_str()), "the shell started as {started:?}, not {version}");

    // Without hudson-version.json the shell cannot tell what is installed:
    // updates are off with the reason, even with an endpoint configured.
    let updates = UpdatesConfig {
        endpoint: "http://127.0.0.1:9/channels/".into(),
        channel: "stable".into(),
        interval_hours: 0,
        snapshot_files: Vec::new(),
    };
    let install = lab.install(Backend::Real, |config| config.updates = Some(updates))?;
    std::fs::remove_file(install.home.path().join("resources").join(VERSION_FILE))?;
    let unknown = check_on_update_page(lab, &install)?;
    ensure!(
        unknown.contains("cannot tell which version it is") && unknown.contains(VERSION_FILE),
        "Check for updates without {VERSION_FILE} answered: {unknown:?}"
    );
    Ok(format!(
        "update page; Check for updates says: {answer}; the shell reports {version}; without {VERSION_FILE}: {unknown}"
    ))
}

/// The window menu's "Diagnostics…", chosen with the keyboard as a user
/// would (F10 opens the menu bar; the item is the second above the last),
/// opens the Diagnostics window: it shows the backend's version, its named
/// checks and a red light for the check the test hook forces down, with its
/// detail; "Copy as text" gives the plain report; "Export support bundle…"
/// asks where in GTK's save dialog (driven with the keyboard through XTEST)
/// and writes a zip with the report, the log and the crash evidence there.
/// (The crash upload scenario opens the window with `--diagnostics`.)
fn diagnostics(lab: &Lab) -> Result<String> {
    let install = lab.install(Backend::Real, |_| {})?;
    let hooks = [
        ("HUDSON_CHECK_DOWN", "remote_api"),
        (hudson_lifecycle::hooks::ENV_TEST_PANIC, "1"),
        (hudson_lifecycle::hooks::ENV_TEST_CRASH_ONCE, "1"),
    ];
    let driver = lab.driver(&install, &hooks)?;
    let session = driver.session(lab.build.hooks_shell()?, &[])?;
    session.wait_for_title("Hudson", Duration::from_secs(60))?;
    let shell = *shell_pids(lab).first().context("the shell is not running")?;
    crate::harness::xtest::type_keys(
        lab.display.display(),
        shell,
        "Hudson",
        &["F10", "Down", "End", "Up", "Up", "Return"],
    )?;
    install.wait_event(
        "the Diagnostics… menu item",
        Duration::from_secs(10),
        |e| matches!(e, ShellEvent::Menu { item } if item == "diagnostics"),
    )?;
    session.switch_to_window("Hudson — Diagnostics", Duration::from_secs(30))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = String::new();
    while Instant::now() < deadline {
        let light = session.execute("return document.getElementById('indicator').className")?;
        let backend = session.text("#backend").unwrap_or_default();
        seen = format!("light {light}, backend {backend:?}");
        if light == "light red"
            && backend.contains("(ready)")
            && backend.chars().next().is_some_and(|c| c.is_ascii_digit())
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    ensure!(seen.starts_with("light \"light red\""), "the light did not turn red for a down check: {seen}");
    let down = session.text("#check-remote_api")?;
    ensure!(down.contains("down") && down.contains("HUDSON_CHECK_DOWN"), "the down check's row: {down:?}");
    let nif = session.text("#check-nif")?;
    ensure!(nif.contains("ok"), "the NIF check's row: {nif:?}");
    let clock = session.text("#clock")?;
    ensure!(clock.contains("no update endpoint is configured"), "without an endpoint the clock row says {clock:?}");
    // The forced shell panic and the forced backend crash: a crash record,
    // the BEAM's dump in the log folder, a restart with its reason.
    let crashes = session.text("#crashes")?;
    ensure!(crashes.starts_with("1: crash-") && crashes.contains("BEAM crash dump"), "crash records: {crashes:?}");
    ensure!(session.text("#restarts")? == "1", "restarts: {:?}", session.text("#restarts")?);
    let last = session.text("#last-crash")?;
    ensure!(last.contains("the backend"), "last crash: {last:?}");
    let dump = install.log_dir().join(hudson_lifecycle::contract::CRASH_DUMP_FILE);
    let text = std::fs::read(&dump).with_context(|| format!("no crash dump at {}", dump.display()))?;
    ensure!(String::from_utf8_lossy(&text).contains("forced crash"), "the crash dump is not the forced one");
    session.click("#copy")?;
    let mut report = String::new();
    until(Duration::from_secs(10), Duration::from_millis(100), || {
        match session.execute("return document.getElementById('report-text').value") {
            Ok(value) => report = value.as_str().unwrap_or_default().to_owned(),
            Err(e) => return Some(Err(e)),
        }
        report.contains("Health: red").then_some(Ok(()))
    })
    .transpose()?;
    ensure!(report.contains("Health: red") && report.contains("remote_api: down"), "Copy as text gave: {report}");
    // "Export support bundle…" asks where with a native save dialog. Escape
    // cancels it: the window says so and nothing is written.
    let display = lab.display.display();
    let dialog = "Export support bundle";
    session.click("#export")?;
    crate::harness::xtest::wait_for_window(display, shell, dialog, Duration::from_secs(20))?;
    crate::harness::xtest::type_keys(display, shell, dialog, &["Escape"])?;
    let cancelled = wait_for_text(&session, "#exported", "Not saved", Duration::from_secs(10))?;
    let stray = zips_under(install.home.path())?;
    ensure!(stray.is_empty(), "a cancelled export wrote {stray:?}");
    // Then the user picks a folder of their own and a name, typed into the
    // dialog's name field as a path: a zip with this window's report, the
    // log, the crash record and the BEAM dump lands exactly there.
    let folder = install.home.path().join("support-cases");
    std::fs::create_dir_all(&folder)?;
    let picked = folder.join("case-1234.zip");
    session.click("#export")?;
    crate::harness::xtest::wait_for_window(display, shell, dialog, Duration::from_secs(20))?;
    let mut keys = vec!["Control_L+a".to_owned()];
    keys.extend(crate::harness::xtest::keys_for_text(&picked.display().to_string())?);
    keys.push("Return".to_owned());
    crate::harness::xtest::type_keys(display, shell, dialog, &keys)?;
    let exported = wait_for_text(&session, "#exported", "Saved to ", Duration::from_secs(20))?;
    let bundle = PathBuf::from(exported.trim_start_matches("Saved to "));
    ensure!(bundle == picked, "the bundle went to {}, not the picked {}", bundle.display(), picked.display());
    ensure!(zips_under(install.home.path())? == vec![picked.clone()], "other zips beside the picked one");
    let text = read_bundle(&bundle)?;
    for needle in
        ["== logs/hudson-desktop.log\n", "== logs/erl_crash.dump\n", "\"window\": {", "remote_api", "== logs/crash-"]
    {
        ensure!(text.contains(needle), "the exported bundle has no {needle:?}:\n{text}");
    }
    ensure!(text.contains("## manifest: lists every entry"), "the exported bundle's manifest:\n{text}");
    session.close()?;
    Ok(format!(
        "Diagnostics… in the window menu opened the Diagnostics window: {seen}; checks nif ok, remote_api down; {crashes}; 1 restart ({last}); Copy as text gives {} lines; Export support bundle…: Escape in the save dialog → {cancelled:?}; a typed path → {} entries there",
        report.lines().count(),
        text.lines().filter(|l| l.starts_with("== ")).count()
    ))
}

/// A **test double of Sentry's envelope endpoint** (no machine here can
/// reach Sentry): Python's `http.server` on a loopback port, storing each
/// POST's `X-Sentry-Auth` header and body as `<n>.auth` and `<n>.envelope`
/// in `inbox`, answering 200 as Sentry does.
struct EnvelopeDouble {
    server: crate::harness::doubles::LoopbackServer,
    inbox: PathBuf,
}

const ENVELOPE_DOUBLE: &str = r#"
import http.server, os, sys
inbox, port = sys.argv[1], int(sys.argv[2])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        n = len([f for f in os.listdir(inbox) if f.endswith(".envelope")])
        with open(os.path.join(inbox, "%d.auth" % n), "w") as f:
            f.write("%s %s\n" % (self.path, self.headers.get("X-Sentry-Auth", "")))
        with open(os.path.join(inbox, "%d.part" % n), "wb") as f:
            f.write(body)
        os.rename(os.path.join(inbox, "%d.part" % n), os.path.join(inbox, "%d.envelope" % n))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id": "00000000000000000000000000000000"}')
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;

impl EnvelopeDouble {
    fn start(inbox: &Path) -> Result<EnvelopeDouble> {
        let server =
            crate::harness::doubles::LoopbackServer::start("the envelope endpoint double (python3)", |port| {
                let mut command = Command::new("python3");
                command.args(["-c", ENVELOPE_DOUBLE]).arg(inbox).arg(port.to_string());
                command
            })?;
        Ok(EnvelopeDouble { server, inbox: inbox.to_path_buf() })
    }

    /// Every envelope received so far: (path and auth header, body).
    fn received(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for n in 0.. {
            let Ok(body) = std::fs::read(self.inbox.join(format!("{n}.envelope"))) else { break };
            let auth = std::fs::read_to_string(self.inbox.join(format!("{n}.auth"))).unwrap_or_default();
            found.push((auth, String::from_utf8_lossy(&body).into_owned()));
        }
        found
    }
}

/// What the Diagnostics window shows about crash records and the switch.
#[derive(Debug)]
struct UploadView {
    crashes: String,
    status: String,
    checked: bool,
    disabled: bool,
}

/// Opt-in crash upload, against the envelope endpoint's test double: off
/// by default, a crash sends nothing; switched on in the Diagnostics window,
/// each crash record (the forced panic's, and one whose fields quote three
/// secrets) arrives as one envelope with none of the secrets; switched off
/// and on again, nothing is sent twice.
fn crash_upload(lab: &Lab) -> Result<String> {
    let inbox = tempfile::Builder::new().prefix("hudson-envelopes-").tempdir()?;
    let double = EnvelopeDouble::start(inbox.path())?;
    let dsn = format!("http://e2epublickey@127.0.0.1:{}/42", double.server.port);
    let install = lab.install(Backend::Real, |config| config.crash_report_dsn = Some(dsn.clone()))?;
    let secrets = [
        "postgres://hudson:pa55word@db.internal:5432/prod",
        "sk-proj-A1b2C3d4E5f6G7h8I9j0",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",
    ];
    let logs = install.log_dir();
    std::fs::create_dir_all(&logs)?;
    let planted = serde_json::json!({
        "kind": "shell-panic",
        "time": "2026-12-01T00:00:00Z",
        "shell_version": "0.0.0",
        "message": format!("could not connect to {}", secrets[0]),
        "backtrace": format!("0: request with {} and {}", secrets[1], secrets[2]),
    });
    std::fs::write(logs.join("crash-1000-1.json"), serde_json::to_vec(&planted)?)?;
    let driver = lab.driver(&install, &[(hooks::ENV_TEST_PANIC, "1")])?;
    let session = driver.session(lab.build.hooks_shell()?, &["--diagnostics".to_owned()])?;
    session.wait_for_title("Hudson", Duration::from_secs(60))?;
    session.switch_to_window("Hudson — Diagnostics", Duration::from_secs(30))?;
    let state = |session: &Session<'_>| -> Result<UploadView> {
        Ok(UploadView {
            crashes: session.text("#crashes").unwrap_or_default(),
            status: session.text("#crash-upload-status").unwrap_or_default(),
            checked: session.execute("return document.getElementById('crash-upload').checked")? == true,
            disabled: session.execute("return document.getElementById('crash-upload').disabled")? == true,
        })
    };
    let wait = |what: &str, done: &dyn Fn(&UploadView, usize) -> bool| -> Result<()> {
        let mut last = String::new();
        let seen = until(Duration::from_secs(30), Duration::from_millis(200), || {
            let now = match state(&session) {
                Ok(now) => now,
                Err(e) => return Some(Err(e)),
            };
            let sent = double.received().len();
            last = format!("the window shows {now:?}, the double has {sent} envelopes");
            done(&now, sent).then_some(Ok(()))
        });
        seen.with_context(|| format!("{what}: {last}"))?
    };
    wait("two crash records, upload off", &|v, _| {
        v.crashes.starts_with("2: ") && v.status.starts_with("Off") && !v.checked && !v.disabled
    })?;
    // Off: the uploader was woken by the panic and by its start; give it the
    // time a send would take, then the double must still be empty.
    std::thread::sleep(Duration::from_secs(3));
    ensure!(double.received().is_empty(), "with crash upload off, the double received {:?}", double.received());

    session.click("#crash-upload")?;
    wait("both records sent", &|v, sent| v.checked && v.status.starts_with("On") && sent >= 2)?;
    let consent = install.home.path().join("data").join(install.identifier()).join("crash-reports.json");
    ensure!(consent.exists(), "the switch was not saved in {}", consent.display());
    // Off and on again: what was sent is not sent again.
    session.click("#crash-upload")?;
    wait("switched off", &|v, _| !v.checked && !v.disabled && v.status.starts_with("Off"))?;
    session.click("#crash-upload")?;
    wait("switched on", &|v, _| v.checked && !v.disabled && v.status.starts_with("On"))?;
    std::thread::sleep(Duration::from_secs(2));
    session.close()?;

    let received = double.received();
    ensure!(received.len() == 2, "expected one envelope per crash record (2), the double has {}", received.len());
    let all: String = received.iter().map(|(auth, body)| format!("{auth}\n{body}\n")).collect();
    for (auth, _) in &received {
        ensure!(
            auth.starts_with("/api/42/envelope/") && auth.contains("sentry_key=e2epublickey"),
            "an envelope reached {auth:?}"
        );
    }
    ensure!(all.contains("forced panic") && all.contains("could not connect to"), "the envelopes: {all}");
    ensure!(all.contains("[REDACTED]"), "nothing was redacted in the envelopes: {all}");
    for needle in ["pa55word", "db.internal", "A1b2C3d4", "eyJhbGci"] {
        ensure!(!all.contains(needle), "{needle} reached the crash-report endpoint:\n{all}");
    }
    let log = install.log_text();
    ensure!(log.matches("crash upload: sent crash-").count() == 2, "the log does not say what was sent");
    Ok(format!(
        "off: 0 envelopes after a panic; on: {} envelopes (one per crash record), none of the {} secrets; off and on again: none resent",
        received.len(),
        secrets.len()
    ))
}

fn logs_rotate_and_redact(lab: &Lab) -> Result<String> {
    let secrets = [
        "DATABASE_URL=ecto://hudson:pa55word@db.internal/prod",
        "postgres://hudson:pa55word@db.internal:5432/prod",
        "sk-proj-A1b2C3d4E5f6G7h8I9j0",
        "shpat_0123456789abcdef0123456789abcdef",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",
    ];
    let mut body = String::from("i=0\nwhile [ $i -lt 20 ]; do\n");
    for secret in secrets {
        body.push_str(&format!("  echo \"config $i: {secret}\"\n  echo \"warn $i: {secret}\" >&2\n"));
    }
    body.push_str("  echo \"token $i: $HUDSON_HANDSHAKE_TOKEN\" >&2\n  i=$((i+1))\ndone");
    let max_bytes = 4096u64;
    let install = lab.install(Backend::Wrapper(&body), |config| {
        config.log_max_bytes = max_bytes;
        config.log_keep = 2;
    })?;
    let driver = lab.driver(&install, &[])?;
    let session = driver.session(&lab.build.shell, &[])?;
    session.wait_for_title("Hudson", Duration::from_secs(60))?;
    drop(session);
    install.wait_no_backend(Duration::from_secs(10));

    let dir = install.log_dir();
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)?
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().map(|m| m.len()).unwrap_or(0)))
        .collect();
    files.sort();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    ensure!(
        names == ["hudson-desktop.log", "hudson-desktop.log.1", "hudson-desktop.log.2"],
        "expected the live log and 2 rotated files in {}, found {names:?}",
        dir.display()
    );
    for (name, size) in &files {
        ensure!(*size <= max_bytes, "{name} is {size} bytes, over the configured {max_bytes}");
    }
    let text = install.log_text();
    ensure!(text.contains("[REDACTED]"), "the secrets were not logged at all");
    for needle in ["pa55word", "db.internal", "A1b2C3d4", "0123456789abcdef0123", "eyJhbGci"] {
        ensure!(!text.contains(needle), "{needle} reached the log in {}", dir.display());
    }
    let hex = text.split(|c: char| !c.is_ascii_hexdigit()).any(|run| run.len() >= 64);
    ensure!(!hex, "a handshake token reached the log");
    let bundle = support_bundle(lab, &install, &secrets)?;
    Ok(format!(
        "rotated at {max_bytes} bytes into {} files; none of the {} secret patterns nor the token in them; {bundle}",
        files.len(),
        secrets.len()
    ))
}

/// `hudson-desktop --support-bundle` from a terminal, for the install whose
/// logs the scenario above wrote, with a crash record and a BEAM crash dump
/// holding `secrets` planted beside them, the same secrets in its
/// environment and a secure store holding a value no pattern matches: the
/// zip holds the logs, both crash files and a manifest naming every entry,
/// and none of the secrets.
fn support_bundle(lab: &Lab, install: &Install, secrets: &[&str]) -> Result<String> {
    // The app's secure store (a real gnome-keyring on a bus of its own)
    // holds a value that no pattern matches; an earlier run wrote it into
    // the crash files before it was stored. Only the shell's asking the
    // store for its values can mask it.
    let keyring_home = tempfile::tempdir()?;
    let bus = SessionBus::start()?;
    let keyring = SecretService::start(&bus, keyring_home.path())?;
    let stored = format!("horse-battery-staple-{}", std::process::id());
    keyring.store(install.identifier(), "e2e_unpatterned", &stored)?;
    let dir = install.log_dir();
    std::fs::write(dir.join("crash-1-1.json"), format!("{{\"message\": \"{} {stored}\"}}", secrets[2]))?;
    std::fs::write(dir.join("erl_crash.dump"), format!("Slogan: boom\n{}\n{stored}\n", secrets[1]))?;
    let out = install.home.path().join("support.zip");
    let (bus_key, bus_address) = bus.env();
    let run = Command::new(&lab.build.shell)
        .envs(install.env.iter().map(|(k, v)| (k, v)))
        .env(bus_key, bus_address)
        // The environment holds secrets too; none of it reaches the bundle.
        .env("DATABASE_URL", secrets[1])
        .env("OPENAI_API_KEY", secrets[2])
        .env("SHOPIFY_ACCESS_TOKEN", secrets[3])
        .arg("--support-bundle")
        .arg(&out)
        .output()
        .context("running the shell with --support-bundle")?;
    ensure!(run.status.success(), "--support-bundle failed: {}", String::from_utf8_lossy(&run.stderr));
    let text = read_bundle(&out)?;
    for entry in
        ["diagnostics.json", "manifest.json", "logs/hudson-desktop.log", "logs/crash-1-1.json", "logs/erl_crash.dump"]
    {
        ensure!(text.contains(&format!("== {entry}\n")), "the bundle has no {entry}:\n{text}");
    }
    for needle in ["pa55word", "db.internal", "A1b2C3d4", "0123456789abcdef0123", "eyJhbGci"] {
        ensure!(!text.contains(needle), "{needle} reached the support bundle");
    }
    ensure!(!text.contains(&stored), "the secure store's value {stored} reached the support bundle");
    ensure!(
        text.contains("## manifest: lists every entry"),
        "the bundle's manifest.json does not list every entry:\n{text}"
    );
    ensure!(text.contains("Slogan: boom"), "the crash dump's content is missing from the bundle");
    let entries = text.lines().filter(|l| l.starts_with("== ")).count();
    Ok(format!(
        "--support-bundle wrote {entries} entries (logs, a crash record, the BEAM dump), none of the secrets from the \
         logs, the environment or the secure store"
    ))
}

/// Waits up to `timeout` for the element `css` to say something starting
/// with `prefix`; what it says, or an error with its last words (at once
/// when it says "Could not…").
fn wait_for_text(session: &Session<'_>, css: &str, prefix: &str, timeout: Duration) -> Result<String> {
    let mut said = String::new();
    let found = until(timeout, Duration::from_millis(200), || {
        said = match session.text(css) {
            Ok(said) => said,
            Err(e) => return Some(Err(e)),
        };
        if said.starts_with("Could not") {
            return Some(Err(anyhow::anyhow!("{css} says: {said}")));
        }
        said.starts_with(prefix).then(|| Ok(said.clone()))
    });
    found.with_context(|| format!("{css} says {said:?}, not {prefix:?}…, after {timeout:?}"))?
}

/// Every `.zip` under `root` (symbolic links not followed), sorted.
fn zips_under(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot list {}", root.display()))?;
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "zip") {
            found.push(entry.into_path());
        }
    }
    Ok(found)
}

/// The text of the support bundle at `path`, read by Python's zipfile (the
/// independent reader, [`BUNDLE_READER`]).
fn read_bundle(path: &Path) -> Result<String> {
    let listing =
        Command::new("python3").args(["-c", BUNDLE_READER]).arg(path).output().context("python3 reading the bundle")?;
    ensure!(listing.status.success(), "python3 cannot read the bundle: {}", String::from_utf8_lossy(&listing.stderr));
    Ok(String::from_utf8_lossy(&listing.stdout).into_owned())
}

/// Python's zipfile, the independent reader of a support bundle: every
/// entry's text after a `== <name>` line, then whether `manifest.json`
/// names every other entry.
const BUNDLE_READER: &str = r#"import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for n in z.namelist():
    print('== ' + n)
    print(z.read(n).decode('utf-8', 'replace'))
listed = sorted(e['name'] for e in json.loads(z.read('manifest.json')))
others = sorted(n for n in z.namelist() if n != 'manifest.json')
print('## manifest: ' + ('lists every entry' if listed == others else 'lists %r, the zip holds %r' % (listed, others)))
"#;

/// A small deterministic generator for the kill moments (xorshift64*),
/// replayable from the printed seed.
pub(crate) struct Moments(u64);

impl Moments {
    /// From `seed`, or from the clock when none is given (odd, never 0).
    pub(crate) fn seeded(seed: Option<u64>) -> (Moments, u64) {
        let seed = seed.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
                | 1
        });
        (Moments(seed), seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn kill_loop(lab: &Lab, options: &Options) -> Result<KillLoop> {
    let (mut moments, seed) = Moments::seeded(options.seed);
    // One install for every launch, as one user relaunching the app.
    let install = lab.install(Backend::Real, |_| {})?;
    let mut report = KillLoop { seed, launches: options.kill_launches, ..KillLoop::default() };
    // How long a start takes here, from the launches that waited for the
    // page: the "during startup" kills spread over all of it.
    let mut startup_ms: u64 = 1600;
    for launch in 0..options.kill_launches {
        let trace = install.home.path().join(format!("trace-{launch}"));
        let trace_env = OsString::from(&trace);
        let earlier = install.launch_dirs();
        let mut shell = lab.spawn_shell(&install, &[(hooks::ENV_STARTUP_TRACE, &trace_env)])?;
        let after_load = moments.below(2) == 1;
        let moment;
        let launched = Instant::now();
        if after_load {
            until(Duration::from_secs(60), Duration::from_millis(10), || page_finished(&trace).then_some(()))
                .with_context(|| format!("launch {launch}: the page never loaded"))?;
            startup_ms = startup_ms.max(launched.elapsed().as_millis() as u64);
            let extra = moments.below(500);
            std::thread::sleep(Duration::from_millis(extra));
            moment = format!("{extra} ms after load");
            report.killed_after_load += 1;
        } else {
            let delay = moments.below(startup_ms);
            std::thread::sleep(Duration::from_millis(delay));
            moment = format!("{delay} ms after launch");
            report.killed_during_startup += 1;
        }
        procs::signal(shell.id(), libc::SIGKILL);
        shell.wait()?;
        let left = install.wait_no_backend(Duration::from_secs(10));
        report.backend_processes_left += left.iter().filter(|p| p.name != "epmd").count();
        report.epmd_left += left.iter().filter(|p| p.name == "epmd").count();
        let mut taken = Vec::new();
        for port in install.handshake_ports_except(&earlier) {
            report.ports_checked += 1;
            if !procs::wait_port_free(port, Duration::from_secs(10)) {
                report.ports_taken += 1;
                taken.push(port);
            }
        }
        if !left.is_empty() || !taken.is_empty() {
            let trace = std::fs::read_to_string(&trace).unwrap_or_default().replace('\n', " ");
            report.failures.push(format!(
                "launch {launch}, killed {moment}: left {:?}, ports taken {taken:?}; trace: {trace}",
                left.iter().map(|p| format!("{} {} ({})", p.pid, p.name, p.cmdline)).collect::<Vec<_>>()
            ));
        }
        if !left.is_empty() {
            // Do not let one failure spoil the launches after it.
            for p in &left {
                procs::signal(p.pid, libc::SIGKILL);
            }
        }
    }
    ensure!(
        report.backend_processes_left == 0 && report.epmd_left == 0 && report.ports_taken == 0,
        "the kill loop left {} backend processes, {} epmd and {} taken ports (seed {seed}):\n{}",
        report.backend_processes_left,
        report.epmd_left,
        report.ports_taken,
        report.failures.join("\n")
    );
    Ok(report)
}
