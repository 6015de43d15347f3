//! Where the shell, its resources and the backend sit inside an unpacked
//! package, found the way the installed shell finds them: the resource
//! folder holds `hudson-shell.json`, which says whether the backend is the
//! release directory `backend/` (started as `bin/<release> start`) or a
//! single sidecar binary next to the shell executable (Burrito).
//!
//! | package | resources | shell and sidecars |
//! | --- | --- | --- |
//! | deb, rpm | `usr/lib/<product>/` | `usr/bin/` |
//! | Linux portable tree | `<top>/lib/<product>/` | `<top>/bin/` |
//! | macOS `.app` | `<Product>.app/Contents/Resources/` | `<Product>.app/Contents/MacOS/` |
//!
//! `hudson-shell.json` also says how an update replaces the install
//! (`install-kind`), which must be the one `dist` writes for that package:
//! `package` in a deb or rpm, `portable` in the portable tree, `app` in the
//! `.app`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hudson_lifecycle::LaunchSpec;
use hudson_lifecycle::contract::{InstallKind, Packaging, SHELL_CONFIG_FILE, ShellConfig};
use signing::dist::ArtifactKind;

use super::unpack;

/// One unpacked package's parts.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The kind of package it was unpacked from.
    pub kind: ArtifactKind,
    /// The unpacked tree (everything below must stay inside it).
    pub root: PathBuf,
    /// The folder the shell reads `hudson-shell.json` from
    /// (`HUDSON_RESOURCE_DIR` when the shell runs from the unpacked tree).
    pub resources: PathBuf,
    /// The shell executable.
    pub shell: PathBuf,
    pub backend: BackendProgram,
    /// `install-kind` of `hudson-shell.json`, checked against the package's
    /// kind.
    pub install_kind: InstallKind,
}

/// How the shell starts the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendProgram {
    /// `mix release` directory, started as `bin/<release> start`.
    Release { dir: PathBuf, release: String },
    /// Single binary (Burrito), started with no arguments.
    Sidecar { binary: PathBuf },
}

impl Layout {
    /// Finds the parts of a package of `kind` unpacked at `root`.
    pub fn find(kind: ArtifactKind, root: &Path, product: &str, shell_binary: &str) -> Result<Layout> {
        let (resources, exe_dir) = match kind {
            ArtifactKind::Deb | ArtifactKind::Rpm => (root.join("usr/lib").join(product), root.join("usr/bin")),
            ArtifactKind::Portable => {
                let top = unpack::top_folder(root)?;
                (top.join("lib").join(product), top.join("bin"))
            }
            ArtifactKind::App => {
                let app = unpack::app_bundle(root)?;
                (app.join("Contents/Resources"), app.join("Contents/MacOS"))
            }
            other => bail!("no known layout for a {} package", other.as_str()),
        };
        let config_path = resources.join(SHELL_CONFIG_FILE);
        let bytes =
            crate::core::fsx::read_untrusted(&config_path, crate::core::fsx::MAX_JSON_BYTES).with_context(|| {
                format!(
                    "the package's {} cannot be read (the shell cannot start without it)",
                    shown(root, &config_path)
                )
            })?;
        let config = ShellConfig::from_slice(&bytes)
            .with_context(|| format!("{} is not the shell's configuration", shown(root, &config_path)))?;
        let expected = expected_install_kind(kind);
        let install_kind = match config.install_kind {
            Some(found) if Some(found) == expected => found,
            found => bail!(
                "{} says install-kind {}, but a {} package must say {}",
                shown(root, &config_path),
                found.map_or("(none)".to_owned(), |k| format!("`{}`", k.as_str())),
                kind.as_str(),
                expected.map_or("(none)".to_owned(), |k| format!("`{}`", k.as_str())),
            ),
        };
        let backend = match config.packaging {
            Packaging::Release => BackendProgram::Release { dir: resources.join("backend"), release: config.release },
            Packaging::Burrito => BackendProgram::Sidecar { binary: exe_dir.join(&config.sidecar) },
        };
        let layout = Layout {
            kind,
            root: root.to_path_buf(),
            resources,
            shell: exe_dir.join(shell_binary),
            backend,
            install_kind,
        };
        layout.check_inside(&layout.backend.program())?;
        Ok(layout)
    }

    /// The backend program must be an executable file of the package: a
    /// link out of the package would run something that was never shipped.
    fn check_inside(&self, program: &Path) -> Result<()> {
        let name = shown(&self.root, program);
        let meta = std::fs::metadata(program).with_context(|| format!("the package has no backend at {name}"))?;
        if !meta.is_file() {
            bail!("the package's backend {name} is not a file");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o111 == 0 {
                bail!("the package's backend {name} is not executable (mode {:o})", meta.permissions().mode() & 0o777);
            }
        }
        let root = self.root.canonicalize()?;
        let real = program.canonicalize()?;
        if !real.starts_with(&root) {
            bail!("the package's backend {name} leads outside the package, to {}", real.display());
        }
        Ok(())
    }

    /// `path` relative to the unpacked tree, as the package lists it.
    pub fn in_package(&self, path: &Path) -> String {
        shown(&self.root, path)
    }
}

/// The install kind `dist` writes into a package of `kind`.
fn expected_install_kind(kind: ArtifactKind) -> Option<InstallKind> {
    match kind {
        ArtifactKind::Deb | ArtifactKind::Rpm | ArtifactKind::Nsis | ArtifactKind::Msi => Some(InstallKind::Package),
        ArtifactKind::App => Some(InstallKind::App),
        ArtifactKind::Portable => Some(InstallKind::Portable),
        ArtifactKind::Appimage | ArtifactKind::Dmg | ArtifactKind::Unknown => None,
    }
}

impl BackendProgram {
    /// The file that is executed.
    pub fn program(&self) -> PathBuf {
        match self {
            BackendProgram::Release { dir, release } => {
                LaunchSpec::for_release(dir, release, PathBuf::new(), PathBuf::new(), PathBuf::new()).program
            }
            BackendProgram::Sidecar { binary } => binary.clone(),
        }
    }

    pub fn packaging(&self) -> Packaging {
        match self {
            BackendProgram::Release { .. } => Packaging::Release,
            BackendProgram::Sidecar { .. } => Packaging::Burrito,
        }
    }

    /// The launch the shell makes (`src-tauri/src/lib.rs`, `launch_spec`).
    pub fn launch_spec(&self, data_dir: PathBuf, log_dir: PathBuf, runtime_base: PathBuf) -> LaunchSpec {
        match self {
            BackendProgram::Release { dir, release } => {
                LaunchSpec::for_release(dir, release, data_dir, log_dir, runtime_base)
            }
            BackendProgram::Sidecar { binary } => LaunchSpec::for_sidecar(binary, data_dir, log_dir, runtime_base),
        }
    }
}

fn shown(root: &Path, path: &Path) -> String {
    format!("/{}", path.strip_prefix(root).unwrap_or(path).display())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn executable(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn shell_config(resources: &Path, packaging: &str) {
        shell_config_of(resources, packaging, "package");
    }

    fn shell_config_of(resources: &Path, packaging: &str, install_kind: &str) {
        fs::create_dir_all(resources).unwrap();
        let json = format!(
            r#"{{"install-kind":"{install_kind}","packaging":"{packaging}","release":"hudson","sidecar":"hudson-backend","settings-route":"/settings"}}"#
        );
        fs::write(resources.join(SHELL_CONFIG_FILE), json).unwrap();
    }

    #[test]
    fn a_linux_release_package() {
        let root = tempfile::tempdir().unwrap();
        let resources = root.path().join("usr/lib/Hudson");
        shell_config(&resources, "release");
        executable(&resources.join("backend/bin/hudson"));
        let layout = Layout::find(ArtifactKind::Deb, root.path(), "Hudson", "hudson-desktop").unwrap();
        assert_eq!(layout.resources, resources);
        assert_eq!(layout.shell, root.path().join("usr/bin/hudson-desktop"));
        assert_eq!(layout.backend.program(), resources.join("backend/bin/hudson"));
        assert_eq!(layout.in_package(&layout.backend.program()), "/usr/lib/Hudson/backend/bin/hudson");
        let spec = layout.backend.launch_spec("d".into(), "l".into(), "r".into());
        assert_eq!(spec.args, vec![std::ffi::OsString::from("start")]);
    }

    #[test]
    fn a_linux_burrito_package_runs_the_sidecar_next_to_the_shell() {
        let root = tempfile::tempdir().unwrap();
        shell_config(&root.path().join("usr/lib/Hudson"), "burrito");
        executable(&root.path().join("usr/bin/hudson-backend"));
        let layout = Layout::find(ArtifactKind::Rpm, root.path(), "Hudson", "hudson-desktop").unwrap();
        assert_eq!(layout.backend, BackendProgram::Sidecar { binary: root.path().join("usr/bin/hudson-backend") });
        assert!(layout.backend.launch_spec("d".into(), "l".into(), "r".into()).args.is_empty());
    }

    #[test]
    fn a_portable_tree_is_laid_out_like_usr_under_its_top_folder() {
        let root = tempfile::tempdir().unwrap();
        let top = root.path().join("Hudson");
        let resources = top.join("lib/Hudson");
        shell_config_of(&resources, "release", "portable");
        executable(&resources.join("backend/bin/hudson"));
        executable(&top.join("bin/hudson-desktop"));
        let layout = Layout::find(ArtifactKind::Portable, root.path(), "Hudson", "hudson-desktop").unwrap();
        assert_eq!(layout.resources, resources);
        assert_eq!(layout.shell, top.join("bin/hudson-desktop"));
        assert_eq!(layout.install_kind, InstallKind::Portable);
        assert_eq!(layout.in_package(&layout.backend.program()), "/Hudson/lib/Hudson/backend/bin/hudson");

        // A package's configuration in the portable tree is refused, and the
        // other way round: the updater would install the wrong way.
        shell_config_of(&resources, "release", "package");
        let e = format!("{:#}", Layout::find(ArtifactKind::Portable, root.path(), "Hudson", "x").unwrap_err());
        assert!(e.contains("install-kind `package`") && e.contains("must say `portable`"), "{e}");
        fs::write(root.path().join("stray"), "").unwrap();
        let e = format!("{:#}", Layout::find(ArtifactKind::Portable, root.path(), "Hudson", "x").unwrap_err());
        assert!(e.contains("one top-level folder"), "{e}");
    }

    #[test]
    fn a_package_without_its_install_kind_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let resources = root.path().join("usr/lib/Hudson");
        executable(&resources.join("backend/bin/hudson"));
        fs::write(resources.join(SHELL_CONFIG_FILE), r#"{"packaging":"release","release":"hudson","sidecar":"s"}"#)
            .unwrap();
        let e = format!("{:#}", Layout::find(ArtifactKind::Deb, root.path(), "Hudson", "x").unwrap_err());
        assert!(e.contains("install-kind (none)") && e.contains("a deb package must say `package`"), "{e}");
    }

    #[test]
    fn a_macos_app_for_both_packagings() {
        let root = tempfile::tempdir().unwrap();
        let contents = root.path().join("Hudson.app/Contents");
        shell_config_of(&contents.join("Resources"), "release", "app");
        executable(&contents.join("Resources/backend/bin/hudson"));
        executable(&contents.join("MacOS/hudson-desktop"));
        let layout = Layout::find(ArtifactKind::App, root.path(), "Hudson", "hudson-desktop").unwrap();
        assert_eq!(layout.resources, contents.join("Resources"));
        assert_eq!(layout.shell, contents.join("MacOS/hudson-desktop"));
        assert_eq!(layout.backend.program(), contents.join("Resources/backend/bin/hudson"));

        shell_config_of(&contents.join("Resources"), "burrito", "app");
        executable(&contents.join("MacOS/hudson-backend"));
        let layout = Layout::find(ArtifactKind::App, root.path(), "Hudson", "hudson-desktop").unwrap();
        assert_eq!(layout.backend.program(), contents.join("MacOS/hudson-backend"));
    }

    #[test]
    fn a_missing_config_backend_or_escaping_link_is_named() {
        let root = tempfile::tempdir().unwrap();
        let e = format!("{:#}", Layout::find(ArtifactKind::Deb, root.path(), "Hudson", "x").unwrap_err());
        assert!(e.contains("/usr/lib/Hudson/hudson-shell.json"), "{e}");

        let resources = root.path().join("usr/lib/Hudson");
        shell_config(&resources, "release");
        let e = format!("{:#}", Layout::find(ArtifactKind::Deb, root.path(), "Hudson", "x").unwrap_err());
        assert!(e.contains("no backend at /usr/lib/Hudson/backend/bin/hudson"), "{e}");

        fs::create_dir_all(resources.join("backend/bin")).unwrap();
        fs::write(resources.join("backend/bin/hudson"), "").unwrap();
        let e = format!("{:#}", Layout::find(ArtifactKind::Deb, root.path(), "Hudson", "x").unwrap_err());
        assert!(e.contains("not executable"), "{e}");

        fs::remove_file(resources.join("backend/bin/hudson")).unwrap();
        std::os::unix::fs::symlink("/bin/sh", resources.join("backend/bin/hudson")).unwrap();
        let e = format!("{:#}", Layout::find(ArtifactKind::Deb, root.path(), "Hudson", "x").unwrap_err());
        assert!(e.contains("leads outside the package"), "{e}");

        shell_config(&resources, "zip");
        let e = format!("{:#}", Layout::find(ArtifactKind::Deb, root.path(), "Hudson", "x").unwrap_err());
        assert!(e.contains("unknown packaging `zip`"), "{e}");
    }
}
