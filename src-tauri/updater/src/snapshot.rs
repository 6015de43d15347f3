//! Data snapshots: copies of the configured data files (the app's SQLite
//! database, say), taken after the old backend has stopped and before the new
//! version's first boot, and put back on rollback — so the old version never
//! meets data migrated by the new one.
//!
//! Every configured file brings SQLite's companions (`-wal`, `-shm`,
//! `-journal`; [`crate::layout::SQLITE_COMPANIONS`]): in WAL mode committed
//! rows may live only in `-wal`, and a new version that crashed leaves its
//! `-wal` beside the database. Restoring the database alone would let
//! SQLite replay that newer WAL into the old bytes; so each file is
//! recorded present or absent, and on restore absent ones are removed and
//! present ones copied back, companions included.
//!
//! A snapshot folder holds `files/<relative path>` and `index.json`, written
//! last: a folder without an index is an incomplete snapshot and restores
//! nothing. Where the files go back to is the data folder the running app
//! derives ([`Layout`]), never a folder named in the index.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result, UpdateError};
use crate::fsx::{self, Refused};
use crate::layout::{Layout, check_relative};
use crate::space::{self, Need};

const INDEX: &str = "index.json";
/// An index lists a few files; anything larger is not ours.
const MAX_INDEX_BYTES: u64 = 1 << 20;

#[derive(Debug, Serialize, Deserialize)]
struct Index {
    files: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    path: PathBuf,
    present: bool,
}

/// Bytes the configured data files (and companions) take now: what a
/// snapshot will need.
pub(crate) fn size(layout: &Layout) -> u64 {
    layout
        .snapshot_files()
        .iter()
        .filter_map(|relative| fs::symlink_metadata(layout.data_dir().join(relative)).ok())
        .filter(|meta| meta.is_file())
        // Sparse files may declare exabytes: saturate, never wrap.
        .fold(0u64, |total, meta| total.saturating_add(meta.len()))
}

/// Copies the configured files (relative to the data folder) into the
/// layout's snapshot folder, replacing any earlier snapshot.
pub(crate) fn take(layout: &Layout) -> Result<()> {
    let into = layout.snapshot_dir();
    fsx::remove_any(&into)?;
    let stored = into.join("files");
    fs::create_dir_all(&stored).at("creating the snapshot folder", &stored)?;
    let mut index = Index { files: Vec::new() };
    for relative in layout.snapshot_files() {
        check_relative(&relative)?;
        let source = layout.data_dir().join(&relative);
        // A regular file is copied, an absent one recorded absent (a
        // rollback removes what the new version made). Anything else — a
        // symlink, a FIFO, a folder — is neither: recording it absent would
        // have the rollback delete it and restore nothing, so the update
        // stops here, before anything changed.
        let present = match fs::symlink_metadata(&source) {
            Ok(meta) if meta.is_file() => true,
            Ok(meta) => {
                return Err(UpdateError::State {
                    path: source,
                    detail: format!(
                        "this data file is {}, not a regular file, so it cannot be saved before the update; replace it with the file itself",
                        if meta.file_type().is_symlink() { "a symlink" } else { "not a file" }
                    ),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e).at("inspecting", &source),
        };
        if present {
            let copy = stored.join(&relative);
            fs::create_dir_all(fsx::parent(&copy)).at("creating the snapshot folder", fsx::parent(&copy))?;
            fsx::copy_durable(&source, &copy)?;
        }
        index.files.push(Entry { path: relative, present });
    }
    fsx::write_atomic(&into.join(INDEX), &serde_json::to_vec_pretty(&index).expect("an index serialises"))
}

/// Puts the layout's snapshot back into its data folder. Idempotent:
/// recovery may run it again after a crash half-way through.
///
/// Only the configured files (and their companions) are restored: an
/// index entry for anything else is ignored, and a configured file the
/// index does not list was not snapshotted and is left as it is. Every
/// file to put back is first copied beside its target (after a free-space
/// check), so a failure before the renames changes nothing; then the
/// files recorded absent (a newer `-wal`, `-shm`, `-journal`) are removed
/// and the copies renamed into place. No process has the database open
/// meanwhile: the backend is stopped.
pub(crate) fn restore(layout: &Layout) -> Result<()> {
    let from = layout.snapshot_dir();
    let index_path = from.join(INDEX);
    fsx::check_no_symlink_below(&layout.updates_dir(), Path::new("snapshot/files"))?;
    let bytes = match fsx::read_capped(&index_path, MAX_INDEX_BYTES) {
        Ok(bytes) => bytes,
        // No complete snapshot was taken, so the new version never booted on it.
        Err(Refused::NotFound(_)) => return Ok(()),
        Err(other) => {
            return Err(UpdateError::State {
                path: index_path,
                detail: format!("the data snapshot's index cannot be read ({other}); the snapshot is kept"),
            });
        }
    };
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| UpdateError::State {
        path: index_path.clone(),
        detail: format!("the data snapshot's index is damaged ({e}); the snapshot is kept"),
    })?;
    let configured = layout.snapshot_files();
    let entries: Vec<&Entry> = index.files.iter().filter(|e| configured.contains(&e.path)).collect();
    for entry in &entries {
        check_relative(&entry.path)?;
        fsx::check_no_symlink_below(&from.join("files"), &entry.path)?;
    }
    let present: Vec<&&Entry> = entries.iter().filter(|e| e.present).collect();
    let bytes: u64 = present
        .iter()
        .filter_map(|e| fs::symlink_metadata(from.join("files").join(&e.path)).ok())
        .fold(0u64, |total, m| total.saturating_add(m.len()));
    space::ensure(&[Need { dir: layout.data_dir(), bytes }])?;
    let mut staged = Vec::new();
    for entry in present {
        let target = layout.data_dir().join(&entry.path);
        fs::create_dir_all(fsx::parent(&target)).at("creating the folder", fsx::parent(&target))?;
        staged.push((fsx::stage_copy(&from.join("files").join(&entry.path), fsx::parent(&target))?, target));
    }
    for entry in entries.iter().filter(|e| !e.present) {
        let target = layout.data_dir().join(&entry.path);
        fsx::remove_any(&target)?;
        fsx::sync_dir(fsx::parent(&target))?;
    }
    for (copy, target) in staged {
        copy.persist(&target).map_err(|e| e.error).at("putting back the data file", &target)?;
        fsx::sync_dir(fsx::parent(&target))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(dir: &Path, files: &[&str]) -> Layout {
        let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
        Layout::new(dir.join("app-data"), dir.join("data"), &files, None).unwrap()
    }

    #[test]
    fn restore_brings_back_old_bytes_and_removes_new_companions() {
        let dir = tempfile::tempdir().unwrap();
        let layout = layout(dir.path(), &["db/app.sqlite"]);
        let data = layout.data_dir().to_path_buf();
        fs::create_dir_all(data.join("db")).unwrap();
        fs::write(data.join("db/app.sqlite"), b"schema 1").unwrap();
        fs::write(data.join("db/app.sqlite-shm"), b"old shm").unwrap();
        take(&layout).unwrap();
        fs::write(data.join("db/app.sqlite"), b"schema 2, migrated").unwrap();
        fs::write(data.join("db/app.sqlite-wal"), b"new wal frames").unwrap();
        fs::write(data.join("db/app.sqlite-shm"), b"new shm").unwrap();
        fs::write(data.join("db/app.sqlite-journal"), b"new journal").unwrap();
        restore(&layout).unwrap();
        restore(&layout).unwrap();
        assert_eq!(fs::read(data.join("db/app.sqlite")).unwrap(), b"schema 1");
        assert_eq!(fs::read(data.join("db/app.sqlite-shm")).unwrap(), b"old shm");
        assert!(!data.join("db/app.sqlite-wal").exists());
        assert!(!data.join("db/app.sqlite-journal").exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_data_file_that_is_a_symlink_stops_the_snapshot_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let layout = layout(dir.path(), &["app.sqlite"]);
        fs::create_dir_all(layout.data_dir()).unwrap();
        let elsewhere = dir.path().join("elsewhere.sqlite");
        fs::write(&elsewhere, b"the user's database").unwrap();
        std::os::unix::fs::symlink(&elsewhere, layout.data_dir().join("app.sqlite")).unwrap();
        let error = take(&layout).unwrap_err().to_string();
        assert!(error.contains("app.sqlite") && error.contains("a symlink"), "{error}");
        assert!(fs::symlink_metadata(layout.data_dir().join("app.sqlite")).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&elsewhere).unwrap(), b"the user's database");
    }

    #[test]
    fn the_index_cannot_send_files_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let layout = layout(dir.path(), &["a.db"]);
        fs::create_dir_all(layout.data_dir()).unwrap();
        fs::write(layout.data_dir().join("a.db"), b"mine").unwrap();
        take(&layout).unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("keep"), b"precious").unwrap();
        // A planted index: another data folder, an escaping path.
        let index = serde_json::json!({"data_dir": outside, "files": [{"path": "keep", "present": false}]}).to_string();
        fs::write(layout.snapshot_dir().join(INDEX), &index).unwrap();
        restore(&layout).unwrap();
        assert_eq!(fs::read(outside.join("keep")).unwrap(), b"precious", "the index's data_dir is never used");
        // Entries for files that are not configured are ignored, whatever they name.
        fs::write(layout.data_dir().join("other"), b"the user's").unwrap();
        let planted = r#"{"files":[{"path":"../outside/keep","present":false},{"path":"other","present":false}]}"#;
        fs::write(layout.snapshot_dir().join(INDEX), planted).unwrap();
        restore(&layout).unwrap();
        assert_eq!(fs::read(outside.join("keep")).unwrap(), b"precious");
        assert_eq!(fs::read(layout.data_dir().join("other")).unwrap(), b"the user's");
    }

    #[cfg(unix)]
    #[test]
    fn a_damaged_snapshot_fails_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let layout = layout(dir.path(), &["db/app.sqlite"]);
        let data = layout.data_dir().join("db");
        fs::create_dir_all(&data).unwrap();
        fs::write(data.join("app.sqlite"), b"schema 1").unwrap();
        fs::write(data.join("app.sqlite-wal"), b"old frames").unwrap();
        take(&layout).unwrap();
        fs::write(data.join("app.sqlite"), b"schema 2").unwrap();
        fs::write(data.join("app.sqlite-wal"), b"new frames").unwrap();
        // A copy gone from the snapshot: nothing is removed or replaced.
        let copy = layout.snapshot_dir().join("files/db/app.sqlite-wal");
        fs::remove_file(&copy).unwrap();
        assert!(restore(&layout).is_err());
        assert_eq!(fs::read(data.join("app.sqlite")).unwrap(), b"schema 2");
        assert_eq!(fs::read(data.join("app.sqlite-wal")).unwrap(), b"new frames");
        // An index that is not a regular file is an error, not "no snapshot".
        let index = layout.snapshot_dir().join(INDEX);
        fs::remove_file(&index).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &index).unwrap();
        let error = restore(&layout).unwrap_err().to_string();
        assert!(error.contains("cannot be read") && error.contains("the snapshot is kept"), "{error}");
        assert_eq!(fs::read(data.join("app.sqlite")).unwrap(), b"schema 2");
        // The snapshot's own folders are never reached through a symlink.
        fs::remove_file(&index).unwrap();
        fs::rename(layout.snapshot_dir().join("files"), dir.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("moved"), layout.snapshot_dir().join("files")).unwrap();
        assert!(restore(&layout).unwrap_err().to_string().contains("symlink"));
    }
}
