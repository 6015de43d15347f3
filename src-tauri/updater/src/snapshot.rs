//! Data snapshots: copies of the configured data files (the app's SQLite
//! database, say), taken after the old backend has stopped and before the new
//! version's first boot, and put back on rollback — so the old version never
//! meets data migrated by the new one.
//!
//! A snapshot folder holds `files/<relative path>` and `index.json`, written
//! last: a folder without an index is an incomplete snapshot and restores
//! nothing. The index records which files were absent, so a file the new
//! version created is removed on restore. It also records the data folder,
//! so recovery needs nothing but the journal. List SQLite's `-wal`/`-shm`
//! files beside the database if the app uses WAL mode.

use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result, UpdateError};
use crate::fsx;

const INDEX: &str = "index.json";

#[derive(Debug, Serialize, Deserialize)]
struct Index {
    data_dir: PathBuf,
    files: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    path: PathBuf,
    present: bool,
}

/// Copies `files` (relative to `data_dir`) into the new folder `into`.
pub(crate) fn take(data_dir: &Path, files: &[PathBuf], into: &Path) -> Result<()> {
    fsx::remove_any(into)?;
    let stored = into.join("files");
    fs::create_dir_all(&stored).at("creating the snapshot folder", &stored)?;
    let mut index = Index { data_dir: data_dir.to_path_buf(), files: Vec::new() };
    for relative in files {
        check_relative(relative)?;
        let source = data_dir.join(relative);
        let present = fs::symlink_metadata(&source).map(|m| m.is_file()).unwrap_or(false);
        if present {
            let copy = stored.join(relative);
            fs::create_dir_all(fsx::parent(&copy)).at("creating the snapshot folder", fsx::parent(&copy))?;
            fsx::copy_durable(&source, &copy)?;
        }
        index.files.push(Entry { path: relative.clone(), present });
    }
    fsx::write_atomic(&into.join(INDEX), &serde_json::to_vec_pretty(&index).expect("an index serialises"))
}

/// Puts the snapshot in `from` back. Idempotent: recovery may run it again
/// after a crash half-way through.
pub(crate) fn restore(from: &Path) -> Result<()> {
    let index_path = from.join(INDEX);
    let Ok(bytes) = fsx::read_capped(&index_path, 1 << 20) else {
        // No complete snapshot was taken, so the new version never booted on it.
        return Ok(());
    };
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| UpdateError::State {
        path: index_path.clone(),
        detail: format!("unreadable snapshot index: {e}"),
    })?;
    for entry in &index.files {
        check_relative(&entry.path)?;
        let target = index.data_dir.join(&entry.path);
        if entry.present {
            fs::create_dir_all(fsx::parent(&target)).at("creating the folder", fsx::parent(&target))?;
            fsx::copy_durable(&from.join("files").join(&entry.path), &target)?;
        } else {
            fsx::remove_any(&target)?;
            fsx::sync_dir(fsx::parent(&target)).ok();
        }
    }
    Ok(())
}

fn check_relative(path: &Path) -> Result<()> {
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

    #[test]
    fn restore_brings_back_old_bytes_and_removes_new_files() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(data.join("db")).unwrap();
        fs::write(data.join("db/app.sqlite"), b"schema 1").unwrap();
        let files = [PathBuf::from("db/app.sqlite"), PathBuf::from("db/app.sqlite-wal")];
        let snap = dir.path().join("snap");
        take(&data, &files, &snap).unwrap();
        fs::write(data.join("db/app.sqlite"), b"schema 2, migrated").unwrap();
        fs::write(data.join("db/app.sqlite-wal"), b"new").unwrap();
        restore(&snap).unwrap();
        restore(&snap).unwrap();
        assert_eq!(fs::read(data.join("db/app.sqlite")).unwrap(), b"schema 1");
        assert!(!data.join("db/app.sqlite-wal").exists());
        assert!(take(&data, &[PathBuf::from("../etc/passwd")], &snap).is_err());
    }
}
