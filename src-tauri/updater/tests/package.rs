//! deb/rpm installs: the command the package manager gets (observed, never
//! run), the kept package for rollback, and each journal state at startup.
#![cfg(target_os = "linux")]

mod common;

use std::cell::RefCell;
use std::fs;
use std::path::PathBuf;

use common::*;
use hudson_updater::state::{Journal, Store};
use hudson_updater::{
    CheckOutcome, InstallContext, InstallKind, Installer, Layout, PackageCommand, PackageRunner, Startup, UnpackLimits,
    UpdateError, startup,
};
use signing::manifest::ManifestKind;
use signing::platform::PlatformKey;

#[derive(Default)]
struct Recorder {
    commands: RefCell<Vec<String>>,
    fail: bool,
}

impl PackageRunner for Recorder {
    fn run(&self, command: &PackageCommand) -> Result<(), String> {
        self.commands.borrow_mut().push(command.to_string());
        if self.fail { Err("exit status: 1 — dpkg: error processing archive".to_owned()) } else { Ok(()) }
    }
}

/// This machine's deb platform key (`linux-<arch>-deb`): a kept package
/// must be for the system it is reinstalled on.
fn deb_platform() -> String {
    PlatformKey::host(Installer::Deb).unwrap().to_string()
}

/// A deb platform key of another processor than this machine's.
fn other_deb_platform() -> String {
    let arch = if std::env::consts::ARCH == "aarch64" { "x86_64" } else { "aarch64" };
    format!("linux-{arch}-deb")
}

fn expected_prefix() -> &'static str {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 { "dpkg -i " } else { "pkexec dpkg -i " }
}

struct Env {
    server: Server,
    _dir: tempfile::TempDir,
    app_data: PathBuf,
    data_dir: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        fs::create_dir_all(&data_dir).unwrap();
        fs::write(data_dir.join("app.sqlite"), "schema 1").unwrap();
        Env { server: Server::start(), app_data: dir.path().join("app-data"), data_dir, _dir: dir }
    }

    fn update(&self, from: &str, to: &str, sequence: u64, runner: &Recorder) -> hudson_updater::Result<()> {
        let name = format!("hudson_{to}_amd64.deb");
        let art = artifact(&self.server, &name, to, noise(5000, sequence), &release_key().secret);
        publish(
            &self.server,
            &manifest(ManifestKind::Release, to, sequence, &[(&deb_platform(), &art)]),
            &release_key().secret,
        );
        let u = updater(&self.server, &self.app_data, from, &deb_platform());
        let CheckOutcome::Offered(update) = u.check().unwrap() else { panic!("expected an offer of {to}") };
        let downloaded = u.download(&update, &mut |_| {}).unwrap();
        let mut ctx = InstallContext {
            check_staged: &|_| Ok(()),
            stop_backend: &mut || Ok(()),
            runner,
            limits: UnpackLimits::default(),
            crash_hook: None,
        };
        // A package has nothing to stage ahead of the restart: the session's
        // preparation changes nothing and runs nothing.
        let (journal, ran) = (Store::new(&self.app_data).load().unwrap().state.journal, runner.commands.borrow().len());
        match u.prepare(&downloaded, &self.layout(), &mut ctx) {
            Ok(()) => assert_eq!(journal, None),
            Err(error) => assert!(journal.is_some(), "{error}"),
        }
        assert_eq!(Store::new(&self.app_data).load().unwrap().state.journal, journal);
        assert_eq!(runner.commands.borrow().len(), ran, "preparing ran {:?}", runner.commands.borrow());
        u.install(downloaded, &self.layout(), ctx).map(drop)
    }

    fn layout(&self) -> Layout {
        let kind = Some(InstallKind::Package(Installer::Deb));
        Layout::new(&self.app_data, &self.data_dir, &[PathBuf::from("app.sqlite")], kind)
            .unwrap()
            .with_trusted_keys(trusted())
    }

    fn kept(&self, version: &str) -> PathBuf {
        self.app_data.join(format!("updates/packages/{version}--hudson_{version}_amd64.deb"))
    }

    /// 0.1.0 → 0.2.0 (passes probation, so its package is kept) → 0.3.0,
    /// whose first launch is on probation: a rollback would reinstall 0.2.0.
    fn updated_twice(&self, runner: &Recorder) {
        self.update("0.1.0", "0.2.0", 1, runner).unwrap();
        let Startup::Probation(p) = startup(&self.layout(), &v("0.2.0"), runner).unwrap() else { panic!() };
        p.confirm().unwrap();
        self.update("0.2.0", "0.3.0", 2, runner).unwrap();
    }
}

#[test]
fn a_deb_update_runs_dpkg_and_a_failed_probation_reinstalls_the_kept_package() {
    let env = Env::new();
    let runner = Recorder::default();
    env.update("0.1.0", "0.2.0", 1, &runner).unwrap();
    assert_eq!(*runner.commands.borrow(), [format!("{}{}", expected_prefix(), env.kept("0.2.0").display())]);
    assert!(matches!(Store::new(&env.app_data).load().unwrap().state.journal, Some(Journal::Package { .. })));

    let Startup::Probation(p) = startup(&env.layout(), &v("0.2.0"), &runner).unwrap() else { panic!() };
    p.confirm().unwrap();
    assert!(env.kept("0.2.0").is_file(), "the installed package is kept for the next rollback");

    env.update("0.2.0", "0.3.0", 2, &runner).unwrap();
    fs::write(env.data_dir.join("app.sqlite"), "schema 3").unwrap();
    let Startup::Probation(p) = startup(&env.layout(), &v("0.3.0"), &runner).unwrap() else { panic!() };
    let rolled = p.fail("healthz never answered", &mut || Ok(()), &runner).unwrap();
    assert!(rolled.restored);
    assert_eq!(
        runner.commands.borrow().last().unwrap(),
        &format!("{}{}", expected_prefix(), env.kept("0.2.0").display())
    );
    assert_eq!(fs::read_to_string(env.data_dir.join("app.sqlite")).unwrap(), "schema 1");
    let state = Store::new(&env.app_data).load().unwrap().state;
    assert!(state.is_bad(&v("0.3.0")).is_some());
    assert_eq!(state.journal, None);
}

/// A rollback runs the kept package through the package manager as root:
/// one changed (or planted) in the updates folder is never run.
#[test]
fn a_kept_package_that_does_not_verify_is_not_reinstalled() {
    let env = Env::new();
    let runner = Recorder::default();
    env.updated_twice(&runner);
    // Someone swaps the kept 0.2.0 package for their own.
    fs::write(env.kept("0.2.0"), b"not the package that was verified").unwrap();
    let ran = runner.commands.borrow().len();
    fs::write(env.data_dir.join("app.sqlite"), "schema 3").unwrap();
    let Startup::Probation(p) = startup(&env.layout(), &v("0.3.0"), &runner).unwrap() else { panic!() };
    let rolled = p.fail("healthz never answered", &mut || Ok(()), &runner).unwrap();
    assert!(!rolled.restored);
    assert!(rolled.notice.reason.contains("does not verify"), "{}", rolled.notice.reason);
    assert!(rolled.notice.reason.contains("your data from before the update is kept in"), "{}", rolled.notice.reason);
    assert_eq!(runner.commands.borrow().len(), ran, "nothing was run");
    // The data stays as the failed version left it, its earlier copy kept aside.
    assert_eq!(fs::read_to_string(env.data_dir.join("app.sqlite")).unwrap(), "schema 3");
    let kept = env.app_data.join("updates/snapshot-before-0.3.0/files/app.sqlite");
    assert_eq!(fs::read_to_string(kept).unwrap(), "schema 1");
}

/// Any package the release key ever signed verifies as itself: an old,
/// yanked or halted one from the update server, or another platform's,
/// planted as the kept package with its own offer beside it, must not be
/// what a rollback runs as root.
#[test]
fn a_kept_package_of_another_signed_version_or_platform_is_not_reinstalled() {
    for planted in ["another version", "another platform"] {
        let env = Env::new();
        let runner = Recorder::default();
        env.updated_twice(&runner);
        let (version, platform) = match planted {
            "another version" => ("0.0.1", deb_platform()),
            _ => ("0.2.0", other_deb_platform()),
        };
        let old = artifact(
            &env.server,
            &format!("hudson_{version}_amd64.deb"),
            version,
            noise(3000, 99),
            &release_key().secret,
        );
        let offer = serde_json::json!({"version": version, "platform": platform, "artifact": old.entry});
        let kept = env.kept("0.2.0");
        fs::write(&kept, &old.bytes).unwrap();
        fs::write(format!("{}.offer.json", kept.display()), offer.to_string()).unwrap();

        let ran = runner.commands.borrow().len();
        let Startup::Probation(p) = startup(&env.layout(), &v("0.3.0"), &runner).unwrap() else { panic!() };
        let rolled = p.fail("healthz never answered", &mut || Ok(()), &runner).unwrap();
        let reason = &rolled.notice.reason;
        assert!(!rolled.restored, "{planted}: {reason}");
        assert_eq!(runner.commands.borrow()[ran..], [] as [String; 0], "{planted}: nothing may run");
        let why = match planted {
            "another version" => "it is the package of 0.0.1, not of 0.2.0",
            _ => &format!("it is a package for {}, not for {}", other_deb_platform(), deb_platform()),
        };
        assert!(reason.contains(why) && reason.contains("was not installed"), "{planted}: {reason}");
    }
}

#[test]
fn without_a_kept_package_the_user_is_told_to_reinstall() {
    let env = Env::new();
    let runner = Recorder::default();
    env.update("0.1.0", "0.2.0", 1, &runner).unwrap();
    let Startup::Probation(p) = startup(&env.layout(), &v("0.2.0"), &runner).unwrap() else { panic!() };
    let rolled = p.fail("crash loop", &mut || Ok(()), &runner).unwrap();
    assert!(!rolled.restored);
    assert!(rolled.notice.reason.contains("0.1.0 could not be reinstalled automatically"), "{}", rolled.notice.reason);
    assert_eq!(runner.commands.borrow().len(), 1, "nothing to reinstall with");
}

#[test]
fn a_refused_package_or_an_installer_that_never_completed_leaves_the_old_version() {
    let env = Env::new();
    let failing = Recorder { fail: true, ..Recorder::default() };
    let error = env.update("0.1.0", "0.2.0", 1, &failing).unwrap_err();
    assert!(matches!(error, UpdateError::Command { .. }) && error.to_string().contains("dpkg -i"), "{error}");
    assert_eq!(Store::new(&env.app_data).load().unwrap().state.journal, None);

    // Killed while dpkg ran, and dpkg did not finish: the next launch is 0.1.0.
    let env = Env::new();
    env.update("0.1.0", "0.2.0", 1, &Recorder::default()).unwrap();
    let Startup::Normal { notice: Some(notice), .. } =
        startup(&env.layout(), &v("0.1.0"), &Recorder::default()).unwrap()
    else {
        panic!("expected a notice")
    };
    assert!(notice.reason.contains("did not complete"), "{}", notice.reason);
    assert_eq!(Store::new(&env.app_data).load().unwrap().state.journal, None);
}

/// The shell's one call for its setup: a package install's layout carries
/// the embedded keys (a rollback verifies the kept package with them, and
/// reinstalls nothing without), and a build without keys still recovers.
#[test]
fn the_shells_setup_gives_a_package_rollback_the_embedded_keys() {
    use hudson_lifecycle::contract::{InstallKind as Recorded, Packaging, ShellConfig, UpdatesConfig};
    let dir = tempfile::tempdir().unwrap();
    let mut config = ShellConfig::new(Packaging::Release, "hudson", "hudson-backend");
    config.install_kind = Some(Recorded::Package);
    config.updates = Some(UpdatesConfig {
        endpoint: "http://127.0.0.1:9/channels".into(),
        channel: CHANNEL.into(),
        interval_hours: 0,
        snapshot_files: vec!["app.sqlite".into()],
    });
    let setup = |keys: Option<&'static str>| hudson_updater::Setup {
        config: &config,
        app_data: Ok(dir.path().to_path_buf()),
        program: Ok(PathBuf::from("/usr/bin/hudson-desktop")),
        resources: None,
        package: Some(Installer::Deb),
        installed: "0.1.0",
        product: "Hudson",
        embedded_keys: keys,
    };
    let opened = hudson_updater::open(setup(Some(embedded_key_line())));
    let layout = opened.layout.unwrap();
    assert_eq!(layout.kind(), Some(&InstallKind::Package(Installer::Deb)));
    assert_eq!(layout.trusted_keys().map(|k| k.len()), Some(1), "a package rollback needs the embedded keys");
    let updater = opened.updater.unwrap();
    assert_eq!(updater.config().platform.to_string(), format!("linux-{}-deb", std::env::consts::ARCH));
    assert_eq!(opened.interval, None, "interval-hours 0: checks only on request");

    let opened = hudson_updater::open(setup(None));
    let e = opened.updater.err().unwrap();
    assert!(e.contains("not built by the release toolchain"), "{e}");
    let layout = opened.layout.expect("recovery still runs in a build without keys");
    assert!(layout.trusted_keys().is_none());
}
