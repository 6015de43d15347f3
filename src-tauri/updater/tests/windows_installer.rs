//! The Windows installer path, as a Windows program (under Wine in `cargo
//! xtask test-windows`): the update is an NSIS installer — the test double
//! `hudson-installer-double`, served, signed and verified like a real one —
//! and the backend it must not race is a real process started from the
//! installed app's folder. Everything lives under a `%LOCALAPPDATA%`-style
//! folder with a space and non-ASCII letters, the installed app under
//! `Programs\Hudson Désktop`.
#![cfg(windows)]

mod common;

use std::fs;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hudson_lifecycle::handshake::process_alive;
use hudson_updater::install::Step;
use hudson_updater::state::{Journal, Store};
use hudson_updater::{
    CheckOutcome, InstallContext, InstallKind, Installed, Installer, Layout, Next, PackageCommand, PackageRunner,
    Startup, UnpackLimits, startup,
};
use signing::manifest::ManifestKind;

const DOUBLE: &str = env!("CARGO_BIN_EXE_hudson-installer-double");
const SETUP: &str = "Hudson_0.2.0_x64-setup.exe";
const PLATFORM: &str = "windows-x86_64-nsis";

/// A Windows installer is never run through a package manager.
struct NoPackageManager;

impl PackageRunner for NoPackageManager {
    fn run(&self, command: &PackageCommand) -> Result<(), String> {
        panic!("an NSIS install ran a package manager: {command}")
    }
}

/// One user's machine: the installed 0.1.0, its data, and a channel that
/// offers 0.2.0 as an NSIS installer.
struct Machine {
    _root: tempfile::TempDir,
    server: Server,
    app_data: PathBuf,
    data_dir: PathBuf,
    /// What the doubles record (`doubles/installer.rs`).
    state: PathBuf,
    /// The installed app.
    app: PathBuf,
}

impl Machine {
    fn new() -> Machine {
        let base = std::env::var_os("LOCALAPPDATA").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let root = tempfile::Builder::new().prefix("Hudson Wine ü ").tempdir_in(base).unwrap();
        let path = root.path();
        let (app_data, data_dir, state) = (path.join("app-data"), path.join("Données"), path.join("state"));
        let app = path.join("Programs").join("Hudson Désktop");
        for dir in [&data_dir, &state, &app] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::copy(DOUBLE, app.join("hudson-backend.exe")).unwrap();
        fs::write(app.join("version"), "0.1.0").unwrap();
        fs::write(data_dir.join("app.sqlite"), "schema 1").unwrap();

        let server = Server::start();
        let setup = artifact(&server, SETUP, "0.2.0", fs::read(DOUBLE).unwrap(), &release_key().secret);
        publish(&server, &manifest(ManifestKind::Release, "0.2.0", 1, &[(PLATFORM, &setup)]), &release_key().secret);
        Machine { _root: root, server, app_data, data_dir, state, app }
    }

    fn layout(&self) -> Layout {
        let kind = Some(InstallKind::Package(Installer::Nsis));
        Layout::new(&self.app_data, &self.data_dir, &[PathBuf::from("app.sqlite")], kind)
            .unwrap()
            .with_trusted_keys(trusted())
    }

    /// Starts the installed app's backend; returns once it runs.
    fn start_backend(&self) -> Child {
        for marker in ["backend.pid", "backend.exited"] {
            let _ = fs::remove_file(self.state.join(marker));
        }
        let child = Command::new(self.app.join("hudson-backend.exe"))
            .arg("--backend")
            .arg(&self.state)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for(&self.state.join("backend.pid"), "the backend to start");
        child
    }

    /// Checks, downloads and installs 0.2.0 with the installer in `mode`,
    /// stopping `backend` the way the shell does: close its stdin, wait for
    /// its exit.
    fn install(&self, mode: &str, backend: Child, crash: Option<&dyn Fn(Step)>) -> hudson_updater::Result<Installed> {
        fs::write(self.state.join("mode"), mode).unwrap();
        for marker in ["installer.json", "installer.pid", "installed"] {
            let _ = fs::remove_file(self.state.join(marker));
        }
        let updater = updater(&self.server, &self.app_data, "0.1.0", PLATFORM);
        let CheckOutcome::Offered(update) = updater.check().unwrap() else { panic!("0.2.0 is offered") };
        let downloaded = updater.download(&update, &mut |_| {}).unwrap();
        let mut backend = Some(backend);
        let mut stop_backend = || {
            let mut child = backend.take().ok_or("the backend was stopped twice")?;
            drop(child.stdin.take());
            child.wait().map(drop).map_err(|e| e.to_string())
        };
        let ctx = InstallContext {
            check_staged: &|_| Ok(()),
            stop_backend: &mut stop_backend,
            runner: &NoPackageManager,
            limits: UnpackLimits::default(),
            crash_hook: crash,
        };
        updater.install(downloaded, &self.layout(), ctx)
    }

    /// What the installer double recorded when it started.
    fn installer_record(&self) -> serde_json::Value {
        let file = self.state.join("installer.json");
        wait_for(&file, "the installer to start");
        serde_json::from_slice(&fs::read(file).unwrap()).unwrap()
    }

    fn installed_version(&self) -> String {
        fs::read_to_string(self.app.join("version")).unwrap()
    }

    /// Waits for the installer to finish putting `version` in place.
    fn wait_until_installed(&self, version: &str) {
        wait_for(&self.state.join("installed"), "the installer to finish");
        assert_eq!(self.installed_version(), version);
    }

    fn journal(&self) -> Option<Journal> {
        Store::new(&self.app_data).load().unwrap().state.journal
    }

    fn kept(&self) -> PathBuf {
        self.app_data.join("updates").join("packages").join(format!("0.2.0--{SETUP}"))
    }

    /// The next launch of the version the app folder now holds.
    fn relaunch(&self) -> Startup {
        startup(&self.layout(), &v(&self.installed_version()), &NoPackageManager).unwrap()
    }

    /// The old version still runs: its backend starts and its data is as it was.
    fn assert_old_version_runs(&self) {
        assert_eq!(self.installed_version(), "0.1.0");
        assert_eq!(fs::read_to_string(self.data_dir.join("app.sqlite")).unwrap(), "schema 1");
        let mut backend = self.start_backend();
        drop(backend.stdin.take());
        assert!(backend.wait().unwrap().success());
    }
}

fn wait_for(file: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !file.exists() {
        assert!(Instant::now() < deadline, "waited 60 s for {what} ({} never appeared)", file.display());
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn wait_gone(pid: u32, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while process_alive(pid) {
        assert!(Instant::now() < deadline, "{why} (pid {pid}, 30 s)");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn crash_at(step: Step) -> impl Fn(Step) {
    move |at| {
        if at == step {
            panic!("simulated crash at {at:?}");
        }
    }
}

#[test]
fn the_backend_has_exited_before_the_installer_starts_and_the_new_version_starts_on_probation() {
    let machine = Machine::new();
    let backend = machine.start_backend();
    let installed = machine.install("succeed", backend, None).unwrap();
    assert_eq!(installed.next, Next::ExitForInstaller, "the shell exits and lets the installer work");
    assert!(matches!(machine.journal(), Some(Journal::Package { kind: Installer::Nsis, .. })));

    let record = machine.installer_record();
    assert_eq!(record["args"], serde_json::json!(["/P", "/R"]), "passive, and relaunch when done");
    assert_eq!(record["backend_exited"], true, "the installer started before the backend had exited");
    // The verified download is what ran, kept for the journal.
    assert_eq!(fs::read(machine.kept()).unwrap(), fs::read(DOUBLE).unwrap());

    machine.wait_until_installed("0.2.0");
    let Startup::Probation(probation) = machine.relaunch() else { panic!("0.2.0 starts on probation") };
    probation.confirm().unwrap();
    assert_eq!(machine.journal(), None);
    let mut backend = machine.start_backend();
    drop(backend.stdin.take());
    assert!(backend.wait().unwrap().success(), "the new version's backend runs");
}

#[test]
fn a_failing_or_killed_installer_leaves_the_old_version_runnable_with_its_data() {
    for mode in ["fail", "hang"] {
        let machine = Machine::new();
        let backend = machine.start_backend();
        machine.install(mode, backend, None).unwrap();
        assert_eq!(machine.installer_record()["backend_exited"], true);
        let pid: u32 = fs::read_to_string(machine.state.join("installer.pid")).unwrap().trim().parse().unwrap();
        if mode == "hang" {
            // The user (or Windows) ends the installer midway.
            let killed = Command::new("taskkill").args(["/F", "/PID", &pid.to_string()]).output().unwrap();
            assert!(killed.status.success(), "taskkill: {}", String::from_utf8_lossy(&killed.stderr));
            wait_gone(pid, "the installer outlived taskkill /F");
        }

        // "fail": the installer still shows its error while the user starts
        // the old version again — a running installer that cannot be
        // deleted must not keep it from starting.
        let Startup::Normal { notice: Some(notice), .. } = machine.relaunch() else {
            panic!("{mode}: 0.1.0 starts normally and says why")
        };
        assert!(notice.reason.contains("did not complete"), "{mode}: {}", notice.reason);
        assert_eq!(machine.journal(), None, "{mode}");
        wait_gone(pid, "the failing installer did not exit");
        if mode == "hang" {
            assert!(!machine.kept().exists(), "the installer that did not complete is not kept");
        }
        machine.assert_old_version_runs();
        // Nothing marks 0.2.0 bad: the user can try again.
        let updater = updater(&machine.server, &machine.app_data, "0.1.0", PLATFORM);
        assert!(matches!(updater.check().unwrap(), CheckOutcome::Offered(_)), "{mode}");
    }
}

#[test]
fn a_kill_at_each_step_before_the_installer_leaves_the_old_version_and_the_update_can_be_taken_again() {
    for step in [Step::SnapshotTaken, Step::PackageJournaled] {
        let machine = Machine::new();
        let backend = machine.start_backend();
        let crash = crash_at(step);
        let crashed = std::panic::catch_unwind(AssertUnwindSafe(|| machine.install("succeed", backend, Some(&crash))));
        let panic = crashed.expect_err("the crash hook ran");
        let message = panic.downcast_ref::<String>().map(String::as_str).unwrap_or_default();
        assert!(message.starts_with("simulated crash"), "{step:?}: another panic: {message}");
        assert!(!machine.state.join("installer.json").exists(), "{step:?}: no installer started");

        let Startup::Normal { notice, .. } = machine.relaunch() else { panic!("{step:?}: 0.1.0 starts normally") };
        // Only a journaled install has something to tell the user.
        assert_eq!(notice.is_some(), step == Step::PackageJournaled, "{step:?}: {notice:?}");
        assert_eq!(machine.journal(), None, "{step:?}");
        machine.assert_old_version_runs();

        let backend = machine.start_backend();
        machine.install("succeed", backend, None).unwrap_or_else(|e| panic!("{step:?}: the retry: {e}"));
        machine.wait_until_installed("0.2.0");
        let Startup::Probation(probation) = machine.relaunch() else { panic!("{step:?}: 0.2.0 on probation") };
        probation.confirm().unwrap();
    }
}
