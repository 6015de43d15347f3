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
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result, UpdateError};
use crate::fsx;
use crate::layout::{Layout, check_relative};

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
        .map(|meta| meta.len())
        .sum()
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
        let present = fs::symlink_metadata(&source).map(|m| m.is_file()).unwrap_or(false);
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
/// recovery may run it again after a crash half-way through. Companions
/// are removed before their database is written back, so no SQLite opener
/// could ever pair the old database with a newer `-wal`.
pub(crate) fn restore(layout: &Layout) -> Result<()> {
    let from = layout.snapshot_dir();
    let index_path = from.join(INDEX);
    let Ok(bytes) = fsx::read_capped(&index_path, MAX_INDEX_BYTES) else {
        // No complete snapshot was taken, so the new version never booted on it.
        return Ok(());
    };
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| UpdateError::State {
        path: index_path.clone(),
        detail: format!("unreadable snapshot index: {e}"),
    })?;
    for entry in &index.files {
        check_relative(&entry.path)?;
        fsx::check_no_symlink_below(&from.join("files"), &entry.path)?;
    }
    // Absent files first (a newer `-wal`, `-shm`, `-journal`), then the
    // present ones.
    for entry in index.files.iter().filter(|e| !e.present) {
        let target = layout.data_dir().join(&entry.path);
        fsx::remove_any(&target)?;
        fsx::sync_dir(fsx::parent(&target)).ok();
    }
    for entry in index.files.iter().filter(|e| e.present) {
        let target = layout.data_dir().join(&entry.path);
        fs::create_dir_all(fsx::parent(&target)).at("creating the folder", fsx::parent(&target))?;
        fsx::copy_durable(&from.join("files").join(&entry.path), &target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
        let index = format!(r#"{{"data_dir":"{}","files":[{{"path":"keep","present":false}}]}}"#, outside.display());
        fs::write(layout.snapshot_dir().join(INDEX), &index).unwrap();
        restore(&layout).unwrap();
        assert_eq!(fs::read(outside.join("keep")).unwrap(), b"precious", "the index's data_dir is never used");
        fs::write(layout.snapshot_dir().join(INDEX), r#"{"files":[{"path":"../outside/keep","present":false}]}"#)
            .unwrap();
        assert!(restore(&layout).is_err());
        assert_eq!(fs::read(outside.join("keep")).unwrap(), b"precious");
    }
}
