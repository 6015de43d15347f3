//! The shell's whole update flow without a window: a [`Session`] over a
//! portable install checks a loopback channel, downloads, installs when
//! "Restart to update" is pressed (stopping the backend first), relaunches,
//! and the relaunched version's backend status decides its probation. The
//! [`Host`] here records what the shell would do; everything else (the
//! tree, the journal, the server, the signatures, the log) is real.
#![cfg(any(target_os = "linux", target_os = "macos"))]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use hudson_lifecycle::contract::{InstallKind as Recorded, Packaging, ShellConfig, UpdatesConfig};
use hudson_lifecycle::logs::Log;
use hudson_lifecycle::supervisor::Status;
use hudson_updater::{Host, Phase, Session, Setup};
use signing::manifest::ManifestKind;
use signing::platform::{Installer, PlatformKey};

/// What the shell would have done, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn calls(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn push(&self, call: String) {
        self.0.lock().unwrap().push(call);
    }
}

impl Host for Recorder {
    fn stop_backend(&self) {
        self.push("stop_backend".into());
    }
    fn start_backend(&self) {
        self.push("start_backend".into());
    }
    fn update_ready(&self, version: &semver::Version) {
        self.push(format!("update_ready {version}"));
    }
    fn show_updates(&self) {
        self.push("show_updates".into());
    }
    fn relaunch(&self, program: &Path) {
        self.push(format!("relaunch {}", program.display()));
    }
    fn exit_for_installer(&self) {
        self.push("exit_for_installer".into());
    }
}

/// A portable tree as `dist` lays it out: the program, and the resource
/// folder with the `hudson-shell.json` that says how it was installed.
fn portable_tree(root: &Path, version: &str) {
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("lib/Hudson")).unwrap();
    fs::write(root.join("bin/hudson-desktop"), format!("shell {version}")).unwrap();
    fs::write(root.join("lib/Hudson/VERSION"), version).unwrap();
    let mut config = ShellConfig::new(Packaging::Release, "hudson", "hudson-backend");
    config.install_kind = Some(Recorded::Portable);
    fs::write(root.join("lib/Hudson/hudson-shell.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    fs::write(root.join("lib/Hudson/hudson-version.json"), format!(r#"{{"version":"{version}"}}"#)).unwrap();
}

/// Whether 0.2.0's tree is in the file store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileStore {
    None,
    Complete,
    /// Named by the signed entry, one object gone from the server.
    MissingObject,
}

struct Lab {
    /// Serves the channel for as long as the lab lives.
    _server: Server,
    dir: tempfile::TempDir,
    install: PathBuf,
    config: ShellConfig,
}

impl Lab {
    /// 0.1.0 installed; 0.2.0 published on the channel.
    fn new() -> Lab {
        Lab::published(FileStore::None)
    }

    /// `Lab::new`, with 0.2.0's tree in the file store as `store` says.
    fn published(store: FileStore) -> Lab {
        Lab::published_tree(store, portable_tree)
    }

    /// `Lab::published`, 0.2.0's tree made by `tree`.
    fn published_tree(store: FileStore, tree: fn(&Path, &str)) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let install = dir.path().join("apps/Hudson");
        portable_tree(&install, "0.1.0");
        let server = Server::start();
        let scratch = tempfile::tempdir().unwrap();
        tree(&scratch.path().join("Hudson"), "0.2.0");
        let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        archive.append_dir_all("Hudson", scratch.path().join("Hudson")).unwrap();
        let archive = archive.into_inner().unwrap().finish().unwrap();
        let name = "Hudson-0.2.0-x86_64-unknown-linux-gnu.tar.gz";
        let platform = PlatformKey::host(Installer::Portable).unwrap().to_string();
        let mut art = artifact(&server, name, "0.2.0", archive, &release_key().secret);
        if store != FileStore::None {
            let mut tree = common::store::store_dir(&server, &scratch.path().join("Hudson"), "0.2.0");
            tree.platform = platform.parse().unwrap();
            art.entry.tree = Some(common::store::serve_tree(&server, &tree.to_json()));
            if store == FileStore::MissingObject {
                let (_, object) = tree.files().find(|(p, _)| *p == "lib/Hudson/VERSION").unwrap();
                server.state.lock().unwrap().files.remove(&signing::tree::object_path(&object.sha256));
            }
        }
        let secret = &release_key().secret;
        publish(&server, &manifest(ManifestKind::Release, "0.2.0", 2, &[(&platform, &art)]), secret);
        let mut config = ShellConfig::new(Packaging::Release, "hudson", "hudson-backend");
        config.install_kind = Some(Recorded::Portable);
        config.updates = Some(UpdatesConfig {
            endpoint: server.url(""),
            channel: CHANNEL.into(),
            interval_hours: 0,
            snapshot_files: Vec::new(),
        });
        Lab { _server: server, dir, install, config }
    }

    /// What the shell does at startup, as the version at the install path.
    fn start(&self, installed: &str, host: &Arc<Recorder>) -> Arc<Session> {
        let resources = self.install.join("lib/Hudson");
        let setup = Setup {
            config: &self.config,
            app_data: Ok(self.dir.path().join("app-data")),
            program: Ok(self.install.join("bin/hudson-desktop").canonicalize().unwrap()),
            resources: Some(&resources),
            package: None,
            installed,
            product: "Hudson",
            embedded_keys: Some(embedded_key_line()),
        };
        let host: Arc<dyn Host> = host.clone();
        Session::start(setup, self.log(), host).with_updater(|u| u.with_clock(now))
    }

    fn log(&self) -> Log {
        Log::open(&self.dir.path().join("logs"), "hudson.log", Default::default(), false)
    }

    fn events(&self) -> String {
        let text = fs::read_to_string(self.dir.path().join("logs/hudson.log")).unwrap_or_default();
        text.lines().filter(|l| l.contains("[event]")).collect::<Vec<_>>().join("\n")
    }

    fn installed_version(&self) -> String {
        fs::read_to_string(self.install.join("lib/Hudson/VERSION")).unwrap()
    }

    fn relaunch_call(&self) -> String {
        format!("relaunch {}", self.install.join("bin/hudson-desktop").canonicalize().unwrap().display())
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ready(version: &str) -> Status {
    let now = Instant::now();
    Status::Ready {
        origin: "http://127.0.0.1:4000".into(),
        enter_url: "http://127.0.0.1:4000/".into(),
        version: version.into(),
        timings: hudson_lifecycle::backend::StartTimings {
            spawned: now,
            handshake: now,
            backend_ready: now,
            healthy: now,
            source: hudson_lifecycle::backend::HandshakeSource::TcpPoll,
        },
    }
}

/// 0.1.0 offers, downloads and (on the button) installs 0.2.0; returns
/// the host of the process that pressed it.
fn update_to_0_2_0(lab: &Lab) -> Arc<Recorder> {
    let host = Arc::new(Recorder::default());
    let session = lab.start("0.1.0", &host);
    assert_eq!(session.view().phase, Phase::Idle, "{:?}", session.view());
    assert!(session.restart_to_update().is_err(), "nothing is downloaded yet");
    session.check_now();
    wait_for("the download", || session.view().phase == Phase::Ready);
    assert_eq!(session.view().offer.map(|o| o.version), Some("0.2.0".to_owned()));
    assert_eq!(host.calls(), ["update_ready 0.2.0"], "the tray hears of it; nothing stopped yet");
    assert_eq!(lab.installed_version(), "0.1.0", "nothing installs before the button");
    // Staged and checked beside the install while 0.1.0 runs.
    let staged = lab.dir.path().join("apps/.Hudson.staging/lib/Hudson/VERSION");
    assert_eq!(fs::read_to_string(&staged).unwrap(), "0.2.0");
    assert!(lab.events().contains(r#""event":"update_prepared","version":"0.2.0""#), "{}", lab.events());

    session.restart_to_update().unwrap();
    assert!(session.restart_to_update().is_err(), "a second press installs nothing twice");
    wait_for("the relaunch", || host.calls().len() == 3);
    assert_eq!(host.calls(), ["update_ready 0.2.0".to_owned(), "stop_backend".to_owned(), lab.relaunch_call()]);
    assert_eq!(lab.installed_version(), "0.2.0");
    let events = lab.events();
    let mut at = 0;
    for event in [r#""outcome":"offered""#, r#""update_downloaded""#, r#""update_prepared""#, r#""update_installing""#]
    {
        let found =
            events[at..].find(event).unwrap_or_else(|| panic!("no {event} after {at} in the events:\n{events}"));
        at += found;
    }
    host
}

#[test]
fn a_session_installs_on_the_button_and_the_relaunched_version_passes_probation() {
    let lab = Lab::new();
    update_to_0_2_0(&lab);

    let host = Arc::new(Recorder::default());
    let session = lab.start("0.2.0", &host);
    assert!(lab.events().contains(r#""event":"probation_started","version":"0.2.0","launch":1"#), "{}", lab.events());
    session.on_backend_status(&Status::Starting { attempt: 1 });
    session.on_backend_status(&ready("0.2.0"));
    assert!(lab.events().contains("\"probation_passed\""), "{}", lab.events());
    assert!(host.calls().is_empty(), "passing probation stops and relaunches nothing: {:?}", host.calls());

    // The next launch is an ordinary one, and the channel has nothing newer.
    let session = lab.start("0.2.0", &Arc::new(Recorder::default()));
    session.check_now();
    wait_for("the check", || session.view().phase == Phase::UpToDate);
    assert!(!session.has_notice());
}

#[test]
fn a_relaunched_version_whose_backend_fails_is_rolled_back_and_refused_next_time() {
    let lab = Lab::new();
    update_to_0_2_0(&lab);

    let host = Arc::new(Recorder::default());
    let session = lab.start("0.2.0", &host);
    session.on_backend_status(&Status::Failed { reason: "exit status 1".into(), tail: Vec::new() });
    wait_for("the rollback's relaunch", || host.calls().len() == 2);
    assert_eq!(host.calls(), ["stop_backend".to_owned(), lab.relaunch_call()]);
    assert_eq!(lab.installed_version(), "0.1.0", "the previous version is back at the same path");
    assert!(lab.events().contains("\"rolled_back\""), "{}", lab.events());

    // The previous version says why, and is not offered the bad one again.
    let host = Arc::new(Recorder::default());
    let session = lab.start("0.1.0", &host);
    assert!(session.has_notice(), "{:?}", session.view());
    assert!(session.view().notice.unwrap().contains("0.2.0"));
    session.check_now();
    wait_for("the check", || session.view().phase == Phase::Waiting);
    assert!(host.calls().is_empty(), "{:?}", host.calls());
}

#[test]
fn a_build_whose_configuration_is_unreadable_offers_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), "hudson.log", Default::default(), false);
    let host: Arc<dyn Host> = Arc::new(Recorder::default());
    let session = Session::unavailable("0.1.0", "hudson-shell.json is not valid", log, host);
    session.check_now();
    session.page_loaded();
    let view = session.view();
    assert_eq!((view.phase, view.message.as_str()), (Phase::Unavailable, "hudson-shell.json is not valid"));
    assert_eq!(session.restart_to_update().unwrap_err(), "hudson-shell.json is not valid");
}

#[test]
fn a_release_in_the_file_store_is_fetched_file_by_file_and_a_missing_object_falls_back_to_the_download() {
    let lab = Lab::published(FileStore::Complete);
    update_to_0_2_0(&lab);
    let events = lab.events();
    assert!(events.contains(r#""event":"update_delta","version":"0.2.0""#), "{events}");
    // The shell binary, VERSION and hudson-version.json changed;
    // the folders and hudson-shell.json did not.
    assert!(events.contains(r#""fetched":3,"reused":1"#), "{events}");
    assert!(!events.contains("update_delta_failed"), "{events}");

    let lab = Lab::published(FileStore::MissingObject);
    update_to_0_2_0(&lab);
    let events = lab.events();
    assert!(events.contains(r#""event":"update_delta_failed","version":"0.2.0""#), "{events}");
    assert!(events.contains("404"), "the reason is logged: {events}");
    assert!(!events.contains(r#""event":"update_delta","#), "{events}");
    // What the failed fetch kept went with the fallback.
    assert!(!lab.dir.path().join("app-data/updates/objects").exists());
}

/// An update whose staged tree fails its check is refused before the
/// button is offered, while the old version keeps running: from the file
/// store first, then (the fallback) from the full artifact, which fails the
/// same check. Nothing is left staged or fetched, and nothing was stopped.
#[test]
fn an_update_that_fails_its_staged_check_is_refused_while_the_old_version_runs() {
    fn without_program(root: &Path, version: &str) {
        portable_tree(root, version);
        fs::remove_file(root.join("bin/hudson-desktop")).unwrap();
        fs::write(root.join("bin/other"), "not the program").unwrap();
    }
    let lab = Lab::published_tree(FileStore::Complete, without_program);
    let host = Arc::new(Recorder::default());
    let session = lab.start("0.1.0", &host);
    session.check_now();
    wait_for("the refusal", || session.view().phase == Phase::Error);
    let view = session.view();
    assert!(view.message.contains("could not be installed, nothing was changed"), "{view:?}");
    assert!(view.message.contains("no program at bin/hudson-desktop"), "{view:?}");
    let events = lab.events();
    let delta_failed = events.find(r#""event":"update_delta_failed","version":"0.2.0""#);
    let failed = events.find(r#""event":"update_install_failed","version":"0.2.0""#);
    assert!(delta_failed.is_some() && failed.is_some() && delta_failed < failed, "{events}");
    assert!(!events.contains("update_prepared"), "{events}");
    assert!(host.calls().is_empty(), "{:?}", host.calls());
    assert!(session.restart_to_update().is_err(), "nothing is ready to install");
    assert_eq!(lab.installed_version(), "0.1.0");
    assert!(!lab.dir.path().join("apps/.Hudson.staging").exists());
    assert!(!lab.dir.path().join("app-data/updates/objects").exists());
}
