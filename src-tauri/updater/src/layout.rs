//! Every path the updater writes to or deletes, derived on every start from
//! two facts the running app knows about itself — where it is installed and
//! where its data lives — and never read back from `state.json` or a
//! snapshot index.
//!
//! The journal still records the paths an update used: recovery compares
//! them with the derived ones and refuses a journal that disagrees (a
//! damaged or planted `state.json`, or an app folder moved mid-update)
//! instead of deleting or overwriting what it names.
//!
//! | path | derived as |
//! | --- | --- |
//! | state | `<app-data>/updates/state.json` |
//! | downloads | `<app-data>/updates/downloads/` |
//! | data snapshot | `<app-data>/updates/snapshot/` |
//! | kept packages | `<app-data>/updates/packages/` |
//! | staging folder | `.<name>.staging` beside the install (folder swaps) |
//! | rollback copy | `.<name>.rollback` beside the install (folder swaps) |
//! | data files | the configured snapshot files under the data folder, each with SQLite's `-wal`, `-shm` and `-journal` companions |

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use crate::TrustedKeys;
use crate::error::{Result, UpdateError};
use crate::fsx;
use crate::install::InstallKind;
use crate::state::{Store, UPDATES_DIR};

/// The companions SQLite keeps beside a database: in WAL mode committed
/// data may live only in `-wal` until a checkpoint, and `-journal` holds a
/// rollback journal. A snapshot of a database is all four files, each
/// present or absent as it was.
pub const SQLITE_COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Where this install's update files live. See the module docs.
#[derive(Debug, Clone)]
pub struct Layout {
    app_data: PathBuf,
    data_dir: PathBuf,
    snapshot_files: Vec<PathBuf>,
    kind: Option<InstallKind>,
    /// The build's embedded keys: a kept package is verified with them
    /// again before a rollback installs it (none: it is not installed).
    trusted: Option<TrustedKeys>,
}

impl Layout {
    /// `app_data`: the per-user folder the updater owns `updates/` in;
    /// `data_dir`: the folder the backend writes (`HUDSON_DATA_DIR`);
    /// `snapshot_files`: the configured data files, relative to `data_dir`;
    /// `kind`: how this install is replaced (`None`: a development run,
    /// which installs nothing and leaves an installed copy's journal alone).
    pub fn new(
        app_data: impl Into<PathBuf>,
        data_dir: impl Into<PathBuf>,
        snapshot_files: &[PathBuf],
        kind: Option<InstallKind>,
    ) -> Result<Layout> {
        for file in snapshot_files {
            check_relative(file)?;
        }
        if let Some(InstallKind::FolderSwap { install }) = &kind
            && (!install.is_absolute() || install.file_name().is_none())
        {
            return Err(UpdateError::Unsupported {
                detail: format!("the install path {} is not an absolute folder path", install.display()),
            });
        }
        let (app_data, data_dir) = (app_data.into(), data_dir.into());
        if let Some(InstallKind::FolderSwap { install }) = &kind
            && [&app_data, &data_dir].iter().any(|dir| dir.starts_with(install))
        {
            // A swap would move the user's data away with the program, and
            // the next update would delete it with the rollback copy.
            return Err(UpdateError::Unsupported {
                detail: format!(
                    "the install folder {} holds the app's data folder {}: updates would swap the data away with \
                     the program; install Hudson in a folder of its own",
                    install.display(),
                    app_data.display()
                ),
            });
        }
        Ok(Layout { app_data, data_dir, snapshot_files: snapshot_files.to_vec(), kind, trusted: None })
    }

    /// The keys kept packages are verified with before a rollback.
    pub fn with_trusted_keys(mut self, keys: TrustedKeys) -> Layout {
        self.trusted = Some(keys);
        self
    }

    /// The keys a kept package is verified with (none: a rollback does not
    /// reinstall it).
    pub fn trusted_keys(&self) -> Option<&TrustedKeys> {
        self.trusted.as_ref()
    }

    pub fn app_data(&self) -> &Path {
        &self.app_data
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn kind(&self) -> Option<&InstallKind> {
        self.kind.as_ref()
    }

    /// The configured data files with their SQLite companions, each once.
    pub fn snapshot_files(&self) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = Vec::new();
        for file in &self.snapshot_files {
            let mut group = vec![file.clone()];
            // A companion listed by hand is taken as it is.
            if !is_companion(file) {
                group.extend(companions(file));
            }
            for path in group {
                if !all.contains(&path) {
                    all.push(path);
                }
            }
        }
        all
    }

    pub(crate) fn store(&self) -> Store {
        Store::new(&self.app_data)
    }

    /// `<app-data>/updates/`.
    pub fn updates_dir(&self) -> PathBuf {
        self.app_data.join(UPDATES_DIR)
    }

    /// `<app-data>/updates/snapshot/`.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.updates_dir().join("snapshot")
    }

    /// `<app-data>/updates/packages/`: the package of the running version
    /// is the rollback target of the next update.
    pub fn packages_dir(&self) -> PathBuf {
        self.updates_dir().join("packages")
    }

    /// The folder a folder swap replaces.
    pub fn install_root(&self) -> Option<&Path> {
        match &self.kind {
            Some(InstallKind::FolderSwap { install }) => Some(install),
            _ => None,
        }
    }

    /// `.<name>.staging` beside the install.
    pub fn staging(&self) -> Option<PathBuf> {
        self.install_root().map(|install| sibling(install, ".staging"))
    }

    /// `.<name>.rollback` beside the install: the previous version after an
    /// update, for the window to show.
    pub fn rollback_copy(&self) -> Option<PathBuf> {
        self.install_root().map(Layout::rollback_copy_of)
    }

    /// Where a folder swap of the install at `install` keeps the previous
    /// version (the rule [`Layout::rollback_copy`] applies; tests ask it).
    pub fn rollback_copy_of(install: &Path) -> PathBuf {
        sibling(install, ".rollback")
    }
}

/// `path-wal`, `path-shm`, `path-journal`.
pub(crate) fn companions(path: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    SQLITE_COMPANIONS.iter().map(move |suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

fn is_companion(path: &Path) -> bool {
    let name = path.as_os_str().to_string_lossy();
    SQLITE_COMPANIONS.iter().any(|suffix| name.ends_with(suffix))
}

fn sibling(install: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(install.file_name().unwrap_or_default());
    name.push(suffix);
    fsx::parent(install).join(name)
}

/// A data file must be a plain path under the data folder: no `..`, not
/// absolute, not empty.
pub(crate) fn check_relative(path: &Path) -> Result<()> {
    if path.as_os_str().is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(UpdateError::State {
            path: path.to_path_buf(),
            detail: "snapshot files must be plain paths relative to the data folder (no `..`, not absolute)".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An absolute path on this OS (`C:` in front on Windows).
    fn abs(path: &str) -> PathBuf {
        if cfg!(windows) { PathBuf::from(format!("C:{path}")) } else { PathBuf::from(path) }
    }

    #[test]
    fn siblings_are_hidden_folders_next_to_the_install() {
        let kind = InstallKind::FolderSwap { install: abs("/Applications/Hudson.app") };
        let layout = Layout::new(abs("/u/data"), abs("/u/data"), &[], Some(kind)).unwrap();
        assert_eq!(layout.staging().unwrap(), abs("/Applications/.Hudson.app.staging"));
        assert_eq!(layout.rollback_copy().unwrap(), abs("/Applications/.Hudson.app.rollback"));
        assert_eq!(layout.snapshot_dir(), abs("/u/data/updates/snapshot"));
        assert_eq!(layout.packages_dir(), abs("/u/data/updates/packages"));
    }

    #[test]
    fn a_database_brings_its_companions_once() {
        let files = [PathBuf::from("db/hudson.sqlite3"), PathBuf::from("db/hudson.sqlite3-wal")];
        let layout = Layout::new(abs("/a"), abs("/a"), &files, None).unwrap();
        let all: Vec<String> = layout.snapshot_files().iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            all,
            ["db/hudson.sqlite3", "db/hudson.sqlite3-wal", "db/hudson.sqlite3-shm", "db/hudson.sqlite3-journal"]
        );
        for bad in ["../x", "/etc/passwd", "", "a/../../b"] {
            assert!(Layout::new(abs("/a"), abs("/a"), &[PathBuf::from(bad)], None).is_err(), "{bad}");
        }
        let relative = InstallKind::FolderSwap { install: PathBuf::from("Hudson") };
        assert!(Layout::new(abs("/a"), abs("/a"), &[], Some(relative)).is_err());
        // An install folder that holds the data folder (a tree unpacked
        // into ~/.local) would swap the data away.
        let around = InstallKind::FolderSwap { install: abs("/home/u/.local") };
        let error = Layout::new(
            abs("/home/u/.local/share/dev.hudson"),
            abs("/home/u/.local/share/dev.hudson"),
            &[],
            Some(around),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("holds the app's data folder"), "{error}");
    }
}
