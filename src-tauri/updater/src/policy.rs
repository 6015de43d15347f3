//! What this install is, and what may replace it: the rules the shell asks
//! instead of deciding them in UI code.
//!
//! - [`Install::locate`] — where the running app is installed and how an
//!   update replaces it, from the kind `dist` recorded in
//!   `hudson-shell.json`, the program's path and its resource folder;
//! - [`Install::platform`] — the channel manifest's key this install asks
//!   for (`signing::platform`'s one mapping of the host);
//! - [`Install::check_staged`] — an unpacked update is an install of the
//!   same kind, with its program where this one's is, of the version the
//!   channel offered;
//! - [`Probation::judge`] — whether the backend's status confirms the new
//!   version on probation, fails it, or says nothing yet;
//! - [`open`] — all of the above from what the shell knows about itself:
//!   the [`Layout`] recovery acts on and the [`Updater`], or why there is none.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hudson_lifecycle::contract::shell_config::MAX_SHELL_CONFIG_BYTES;
use hudson_lifecycle::contract::{AppVersion, InstallKind as Recorded, SHELL_CONFIG_FILE, ShellConfig, VERSION_FILE};
use hudson_lifecycle::supervisor::Status;
use hudson_lifecycle::untrusted;
use signing::platform::{Installer, PlatformKey};

use crate::install::InstallKind;
use crate::recovery::Probation;
use crate::{Endpoint, Layout, TrustedKeys, Updater, UpdaterConfig};

/// Where an `.app` keeps its resources, from the bundle's folder.
const APP_RESOURCES: &str = "Contents/Resources";

/// The running app as an update sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    kind: InstallKind,
    installer: Installer,
    recorded: Recorded,
    program: PathBuf,
    /// Folder swaps: the resource folder (`hudson-shell.json`,
    /// `hudson-version.json`) relative to the install, where the new
    /// version's shell will read them in a staged tree.
    resources: Option<PathBuf>,
}

impl Install {
    /// Finds this install from what `dist` recorded (`recorded`; none in a
    /// development run), the running program's canonical path, the
    /// resource folder beside it, and — for a package — the package type
    /// the bundler patched into the program (`None`: a type the updater
    /// cannot install, such as an AppImage). The error is a plain sentence
    /// for the Updates window.
    pub fn locate(
        recorded: Option<Recorded>,
        program: &Path,
        resources: Option<&Path>,
        package: Option<Installer>,
    ) -> Result<Install, String> {
        let not_installed = || {
            "This copy of Hudson does not say how it was installed (a development run): \
             it cannot install updates."
                .to_owned()
        };
        let recorded = recorded.ok_or_else(not_installed)?;
        let (kind, installer, resources) = match recorded {
            Recorded::Portable => {
                // The tree holds the program and its resources: their
                // closest common folder is the install.
                let resources = resources.and_then(|r| r.canonicalize().ok()).ok_or_else(not_installed)?;
                let root = program
                    .ancestors()
                    .skip(1)
                    .find(|dir| resources.starts_with(dir))
                    .filter(|dir| dir.parent().is_some())
                    .ok_or_else(|| format!("cannot find the folder holding {} and its resources", program.display()))?;
                let relative = resources.strip_prefix(root).map(Path::to_path_buf).ok();
                (InstallKind::FolderSwap { install: root.to_path_buf() }, Installer::Portable, relative)
            }
            Recorded::App => {
                // <Name>.app/Contents/MacOS/<program>
                let root = program
                    .ancestors()
                    .nth(3)
                    .filter(|dir| dir.extension().is_some_and(|e| e == "app"))
                    .ok_or_else(|| format!("{} is not inside an .app bundle", program.display()))?;
                (InstallKind::FolderSwap { install: root.to_path_buf() }, Installer::App, Some(APP_RESOURCES.into()))
            }
            Recorded::Package => {
                let kind = package.filter(|p| p.is_package()).ok_or_else(|| {
                    "this package type cannot be updated in place; install new versions from their installer".to_owned()
                })?;
                (InstallKind::Package(kind), kind, None)
            }
        };
        Ok(Install { kind, installer, recorded, program: program.to_path_buf(), resources })
    }

    /// How an update replaces this install.
    pub fn kind(&self) -> &InstallKind {
        &self.kind
    }

    pub fn installer(&self) -> Installer {
        self.installer
    }

    /// The program this install runs: what a relaunch starts.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The key this install asks its channel for.
    pub fn platform(&self) -> Result<PlatformKey, String> {
        PlatformKey::host(self.installer)
    }

    /// A staged tree (folder swaps) must be a Hudson install of the same
    /// kind: its `hudson-shell.json`, where the new shell will read it,
    /// reads and says so, and its program is where this install's is, so
    /// the relaunch starts the new version; and its `hudson-version.json`
    /// beside it says `version`, the version the signed channel offered (a
    /// release published under another release's version is refused before
    /// anything is swapped). Only an older release (a yank sends installs
    /// back to one) may lack the file: releases built before it existed
    /// compiled their version into the shell.
    pub fn check_staged(
        &self,
        staged: &Path,
        version: &semver::Version,
        running: &semver::Version,
    ) -> Result<(), String> {
        let InstallKind::FolderSwap { install } = &self.kind else { return Ok(()) };
        let program =
            self.program.strip_prefix(install).map_err(|_| "the program is outside the install".to_owned())?;
        if !staged.join(program).symlink_metadata().is_ok_and(|m| m.is_file()) {
            return Err(format!("the update has no program at {}", program.display()));
        }
        let resources = staged.join(self.resources.as_deref().unwrap_or(Path::new("")));
        let path = resources.join(SHELL_CONFIG_FILE);
        let bytes = match untrusted::read(&path, MAX_SHELL_CONFIG_BYTES) {
            Ok(bytes) => bytes,
            Err(refused) if refused.is_not_found() => {
                let at = path.strip_prefix(staged).unwrap_or(&path);
                return Err(format!("the update has no {SHELL_CONFIG_FILE} at {}", at.display()));
            }
            Err(refused) => return Err(refused.to_string()),
        };
        let config = ShellConfig::from_slice(&bytes).map_err(|e| format!("{} is not valid: {e}", path.display()))?;
        if config.install_kind != Some(self.recorded) {
            return Err(format!("the update is not a {} install ({:?})", self.recorded.as_str(), config.install_kind));
        }
        let stated = match AppVersion::read(&resources) {
            Ok(stated) => stated,
            Err(_) if version < running && resources.join(VERSION_FILE).symlink_metadata().is_err() => return Ok(()),
            Err(e) => return Err(format!("the update's version is unknown: {e}")),
        };
        if semver::Version::parse(&stated.version).ok().as_ref() != Some(version) {
            return Err(format!(
                "the update says it is {} ({VERSION_FILE}), but the channel offered it as {version}: it is not the release it was published as",
                stated.version
            ));
        }
        Ok(())
    }
}

impl crate::Updater {
    /// Installs `downloaded` into `install` the way the shell does: the
    /// system's package manager, the default unpack limits, and
    /// [`Install::check_staged`] on the staged tree. `stop_backend` returns
    /// once the backend has exited.
    pub fn install_into(
        &self,
        downloaded: crate::Downloaded,
        layout: &Layout,
        install: &Install,
        stop_backend: &mut dyn FnMut() -> std::result::Result<(), String>,
    ) -> crate::Result<crate::Installed> {
        let (version, running) = (downloaded.update().version.clone(), self.config().installed.clone());
        let check_staged = |staged: &Path| install.check_staged(staged, &version, &running);
        let ctx = crate::InstallContext {
            check_staged: &check_staged,
            stop_backend,
            runner: &crate::SystemRunner,
            limits: crate::UnpackLimits::default(),
            crash_hook: None,
        };
        self.install(downloaded, layout, ctx)
    }

    /// Stages `downloaded` ahead of the restart the way the shell does
    /// ([`crate::Updater::prepare`] with [`Install::check_staged`] and the
    /// default unpack limits); the backend keeps running.
    pub fn prepare_for(&self, downloaded: &crate::Downloaded, layout: &Layout, install: &Install) -> crate::Result<()> {
        let (version, running) = (&downloaded.update().version, &self.config().installed);
        let check_staged = |staged: &Path| install.check_staged(staged, version, running);
        let mut keep_running = || Err("preparing an update never stops the backend".to_owned());
        let mut ctx = crate::InstallContext {
            check_staged: &check_staged,
            stop_backend: &mut keep_running,
            runner: &crate::SystemRunner,
            limits: crate::UnpackLimits::default(),
            crash_hook: None,
        };
        self.prepare(downloaded, layout, &mut ctx)
    }
}

/// What the shell knows about itself; [`open`] turns it into updates.
/// Each fact the shell could not find is its reason, in plain words.
pub struct Setup<'a> {
    /// `hudson-shell.json`, as `dist` wrote it.
    pub config: &'a ShellConfig,
    /// The per-user app-data folder, which is also the backend's data
    /// folder (`HUDSON_DATA_DIR`).
    pub app_data: std::result::Result<PathBuf, String>,
    /// This program's canonical path, resolved before any swap.
    pub program: std::result::Result<PathBuf, String>,
    /// The resource folder beside it (the portable tree's rule needs it).
    pub resources: Option<&'a Path>,
    /// The package type the bundler patched into the program, if the
    /// updater installs that type.
    pub package: Option<Installer>,
    /// The running version, as the app's package info says it.
    pub installed: &'a str,
    /// The product name (the app's package info): the deb and rpm are
    /// named after it, and so are the repository files they install.
    pub product: &'a str,
    /// The public keys `dist` compiled in (`option_env!` in the shell).
    pub embedded_keys: Option<&'static str>,
}

/// What [`open`] found.
pub struct Opened {
    /// The deb's and rpm's package name.
    pub package_name: String,
    /// Where this install's update files are: what recovery acts on, known
    /// whenever the app-data folder is (even without update settings). It
    /// carries the embedded keys when they read, so a package rollback can
    /// verify the kept package.
    pub layout: std::result::Result<Layout, String>,
    /// This install, or why it cannot tell where it is.
    pub install: std::result::Result<Install, String>,
    /// The update client, or in plain words why this build has none.
    pub updater: std::result::Result<Updater, String>,
    /// How often to check in the background (`None`: only on request).
    pub interval: Option<Duration>,
    /// The running version, or why the build's version is not one.
    pub installed: std::result::Result<semver::Version, String>,
}

/// Locates the install, derives its [`Layout`], reads the embedded keys and
/// makes the [`Updater`] for the configured channel.
pub fn open(setup: Setup<'_>) -> Opened {
    let Setup { config, app_data, program, resources, package, installed, embedded_keys, product } = setup;
    let installed = installed
        .parse::<semver::Version>()
        .map_err(|e| format!("this build's version {installed:?} is not a version ({e})"));
    let install = program.and_then(|program| Install::locate(config.install_kind, &program, resources, package));
    let keys = TrustedKeys::embedded_text(embedded_keys);
    let layout = app_data.clone().and_then(|app_data| {
        let files: Vec<PathBuf> =
            config.updates.iter().flat_map(|u| u.snapshot_files.iter().map(PathBuf::from)).collect();
        let layout = Layout::new(&app_data, &app_data, &files, install.as_ref().ok().map(|i| i.kind().clone()))
            .map_err(|e| e.to_string())?;
        Ok(match &keys {
            Ok(keys) => layout.with_trusted_keys(keys.clone()),
            Err(_) => layout,
        })
    });
    let interval = config
        .updates
        .as_ref()
        .filter(|u| u.interval_hours > 0)
        .map(|u| Duration::from_secs(u64::from(u.interval_hours) * 3600));
    let updater = (|| {
        let settings = config.updates.as_ref().ok_or_else(|| {
            "Updates are not set up for this build (no update endpoint is configured). \
             Ask whoever gave you Hudson for new versions."
                .to_owned()
        })?;
        let installed = installed.clone()?;
        let platform = install.as_ref().map_err(Clone::clone)?.platform()?;
        if embedded_keys.is_none() {
            return Err("This copy of Hudson was not built by the release toolchain: it trusts no update key, \
                        so it cannot install updates."
                .to_owned());
        }
        let keys = keys.map_err(|e| e.to_string())?;
        let endpoint = Endpoint::parse(&settings.endpoint).map_err(|e| e.to_string())?;
        let app_data = app_data?;
        let config = UpdaterConfig { app_data, endpoint, channel: settings.channel.clone(), platform, installed };
        Updater::new(config, keys).map_err(|e| e.to_string())
    })();
    let package_name = hudson_lifecycle::contract::package_repository::package_name(product);
    Opened { layout, install, updater, interval, installed, package_name }
}

/// What a backend status means for a version on probation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The new version's backend is up and healthy: [`Probation::confirm`].
    Pass,
    /// It failed, in plain words: [`Probation::fail`] with this reason.
    Fail(String),
    /// Nothing decided yet (starting, restarting).
    Pending,
}

impl Probation {
    /// Judges a status of the supervised backend. Ready passes only when
    /// the backend reports the version on probation (an old backend still
    /// answering fails it); a failed start, a damaged install (NIFs that did
    /// not load) and a refused server schema fail it.
    pub fn judge(&self, status: &Status) -> Verdict {
        let expected = self.version();
        match status {
            Status::Ready { version, .. } => {
                if version.parse::<semver::Version>().is_ok_and(|v| v.cmp_precedence(expected).is_eq()) {
                    Verdict::Pass
                } else {
                    Verdict::Fail(format!("its backend reported version {version}, not {expected}"))
                }
            }
            Status::Failed { reason, .. } => Verdict::Fail(format!("it did not start: {reason}")),
            Status::Damaged { modules } => {
                let list: Vec<String> = modules.iter().map(|(m, why)| format!("{m}: {why}")).collect();
                Verdict::Fail(format!("its installation is damaged ({})", list.join(", ")))
            }
            Status::UpdateRequired { version } => {
                Verdict::Fail(format!("its backend refused to run against server schema {version}"))
            }
            Status::Starting { .. } | Status::Restarting { .. } => Verdict::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `<root>/bin/hudson-desktop`, `<root>/lib/Hudson/hudson-shell.json`
    /// and `hudson-version.json` (0.2.0).
    fn portable_tree(root: &Path, kind: &str) -> PathBuf {
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("lib/Hudson")).unwrap();
        std::fs::write(root.join("bin/hudson-desktop"), "program").unwrap();
        let json = format!(r#"{{"install-kind":"{kind}","packaging":"release","release":"r","sidecar":"s"}}"#);
        std::fs::write(root.join("lib/Hudson").join(SHELL_CONFIG_FILE), json).unwrap();
        std::fs::write(root.join("lib/Hudson").join(VERSION_FILE), AppVersion::new("0.2.0").to_pretty_json()).unwrap();
        root.join("bin/hudson-desktop")
    }

    fn v020() -> semver::Version {
        semver::Version::new(0, 2, 0)
    }

    fn v010() -> semver::Version {
        semver::Version::new(0, 1, 0)
    }

    #[test]
    fn a_portable_install_is_the_folder_holding_the_program_and_its_resources() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("Hudson");
        let exe = portable_tree(&root, "portable");
        let resources = root.join("lib/Hudson");
        let install = Install::locate(Some(Recorded::Portable), &exe, Some(&resources), None).unwrap();
        assert_eq!(install.kind(), &InstallKind::FolderSwap { install: root.clone() });
        assert_eq!(install.installer(), Installer::Portable);
        assert_eq!(install.program(), exe);
        // Resources elsewhere on the disk: the common folder would be `/`.
        let e = Install::locate(Some(Recorded::Portable), &exe, Some(Path::new("/")), None).unwrap_err();
        assert!(e.contains("cannot find the folder holding"), "{e}");
    }

    #[test]
    fn an_app_install_is_the_bundle_and_an_unrecorded_kind_cannot_update() {
        let exe = Path::new("/Applications/Hudson.app/Contents/MacOS/hudson-desktop");
        let install = Install::locate(Some(Recorded::App), exe, None, None).unwrap();
        assert_eq!(install.kind(), &InstallKind::FolderSwap { install: PathBuf::from("/Applications/Hudson.app") });
        let e = Install::locate(Some(Recorded::App), Path::new("/opt/x/bin/hudson-desktop"), None, None).unwrap_err();
        assert!(e.contains("not inside an .app"), "{e}");
        let e = Install::locate(None, exe, None, None).unwrap_err();
        assert!(e.contains("development run"), "{e}");
    }

    #[test]
    fn a_package_install_is_its_package_type_and_an_unknown_type_cannot_update() {
        let exe = Path::new("/usr/bin/hudson-desktop");
        let install = Install::locate(Some(Recorded::Package), exe, None, Some(Installer::Rpm)).unwrap();
        assert_eq!(install.kind(), &InstallKind::Package(Installer::Rpm));
        assert_eq!(install.installer(), Installer::Rpm);
        let e = Install::locate(Some(Recorded::Package), exe, None, None).unwrap_err();
        assert!(e.contains("cannot be updated in place"), "{e}");
        // Only a package manager's or installer's type makes a package install.
        for not_a_package in [Installer::Appimage, Installer::App, Installer::Portable] {
            let e = Install::locate(Some(Recorded::Package), exe, None, Some(not_a_package)).unwrap_err();
            assert!(e.contains("cannot be updated in place"), "{not_a_package:?}: {e}");
        }
        // A package install checks no staged tree: the package manager does.
        assert_eq!(install.check_staged(Path::new("/nonexistent"), &v020(), &v010()), Ok(()));
    }

    #[test]
    fn a_staged_tree_must_be_the_same_kind_of_install_with_the_program_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("Hudson");
        let exe = portable_tree(&root, "portable");
        let install = Install::locate(Some(Recorded::Portable), &exe, Some(&root.join("lib/Hudson")), None).unwrap();
        let good = dir.path().join("good");
        portable_tree(&good, "portable");
        assert_eq!(install.check_staged(&good, &v020(), &v010()), Ok(()));

        let other = dir.path().join("other-kind");
        portable_tree(&other, "package");
        let e = install.check_staged(&other, &v020(), &v010()).unwrap_err();
        assert!(e.contains("not a portable install"), "{e}");

        let empty = dir.path().join("no-program");
        portable_tree(&empty, "portable");
        std::fs::remove_file(empty.join("bin/hudson-desktop")).unwrap();
        let e = install.check_staged(&empty, &v020(), &v010()).unwrap_err();
        let program = Path::new("bin").join("hudson-desktop");
        assert!(e.contains(&format!("no program at {}", program.display())), "{e}");

        // A program that is a symlink (to anything) is not a program.
        #[cfg(unix)]
        {
            let linked = dir.path().join("linked");
            portable_tree(&linked, "portable");
            std::fs::remove_file(linked.join("bin/hudson-desktop")).unwrap();
            std::os::unix::fs::symlink("/dev/zero", linked.join("bin/hudson-desktop")).unwrap();
            assert!(install.check_staged(&linked, &v020(), &v010()).unwrap_err().contains("no program"));
        }

        let no_config = dir.path().join("no-config");
        portable_tree(&no_config, "portable");
        std::fs::remove_file(no_config.join("lib/Hudson").join(SHELL_CONFIG_FILE)).unwrap();
        let e = install.check_staged(&no_config, &v020(), &v010()).unwrap_err();
        let at = Path::new("lib").join("Hudson").join(SHELL_CONFIG_FILE);
        assert!(e.contains(&format!("no {SHELL_CONFIG_FILE} at {}", at.display())), "{e}");
        // Only where the new shell reads it: one elsewhere in the tree is
        // not its configuration.
        std::fs::create_dir_all(no_config.join("lib/Other")).unwrap();
        std::fs::copy(
            good.join("lib/Hudson").join(SHELL_CONFIG_FILE),
            no_config.join("lib/Other").join(SHELL_CONFIG_FILE),
        )
        .unwrap();
        assert!(install.check_staged(&no_config, &v020(), &v010()).is_err());

        // Published under another release's version: refused.
        let e = install.check_staged(&good, &semver::Version::new(0, 3, 0), &v010()).unwrap_err();
        assert!(e.contains("says it is 0.2.0") && e.contains("offered it as 0.3.0"), "{e}");
        // No version, or one that is not a file, or too big: refused.
        let unversioned = dir.path().join("no-version");
        portable_tree(&unversioned, "portable");
        let version_file = unversioned.join("lib/Hudson").join(VERSION_FILE);
        std::fs::remove_file(&version_file).unwrap();
        let e = install.check_staged(&unversioned, &v020(), &v010()).unwrap_err();
        assert!(e.contains("version is unknown") && e.contains(VERSION_FILE), "{e}");
        // A release older than the running one (a yank's target) may be
        // from before the file: its shell knows its own version.
        let (v030, v012) = (semver::Version::new(0, 3, 0), semver::Version::new(0, 1, 2));
        assert_eq!(install.check_staged(&unversioned, &v012, &v030), Ok(()));
        // Not the running version itself, nor a newer one.
        assert!(install.check_staged(&unversioned, &v030, &v030).is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/dev/zero", &version_file).unwrap();
            let e = install.check_staged(&unversioned, &v020(), &v010()).unwrap_err();
            assert!(e.contains("symlink"), "{e}");
            // A file that is there but unreadable is refused for an older
            // release too, dangling link or not.
            assert!(install.check_staged(&unversioned, &v012, &v030).is_err());
            std::fs::remove_file(&version_file).unwrap();
            std::os::unix::fs::symlink("/nonexistent", &version_file).unwrap();
            assert!(install.check_staged(&unversioned, &v012, &v030).is_err());
            std::fs::remove_file(&version_file).unwrap();
        }
        std::fs::write(&version_file, vec![b' '; 1 << 20]).unwrap();
        let e = install.check_staged(&unversioned, &v020(), &v010()).unwrap_err();
        assert!(e.contains("larger than"), "{e}");
        // A hudson-shell.json of 64 MiB is refused at its cap, not read.
        let huge = dir.path().join("huge-config");
        portable_tree(&huge, "portable");
        let config = std::fs::OpenOptions::new().append(true).open(huge.join("lib/Hudson").join(SHELL_CONFIG_FILE));
        config.unwrap().set_len(64 << 20).unwrap();
        let e = install.check_staged(&huge, &v020(), &v010()).unwrap_err();
        assert!(e.contains("larger than"), "{e}");
    }
}
