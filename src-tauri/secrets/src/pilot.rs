//! First run after the pilot: its plaintext credentials file
//! (`<data folder>/credentials.json`, a JSON object of names to text values)
//! is moved into the OS store: every entry is put, read back and compared,
//! and only then is the file deleted. The report names the entries, never
//! their values. A file we cannot trust (a symlink, writable by other users,
//! someone else's) or cannot read is refused and left in place, as is every
//! file while no secure store is available.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hudson_lifecycle::contract::storage::{self, MAX_VALUE_BYTES};
use hudson_lifecycle::logs::Log;

use crate::store::{Error, SecureStore};

/// The pilot's file name in the data folder.
pub const PILOT_FILE: &str = "credentials.json";
/// Largest pilot file read.
const MAX_PILOT_BYTES: u64 = 1 << 20;

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub path: PathBuf,
    /// The names moved, sorted.
    pub names: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the pilot's credentials file {path} was not imported and stays in place: {reason}")]
    Refused { path: PathBuf, reason: String },
    #[error("the pilot's credentials file {path} stays in place until a secure store works: {error}")]
    Store { path: PathBuf, error: Error },
}

/// Imports `path` into `store`; `secret` learns every value read (the log
/// redactor). `Ok(None)`: there is no such file.
pub fn import(path: &Path, store: &SecureStore, secret: &dyn Fn(&str)) -> Result<Option<Imported>, ImportError> {
    let refused = |reason: String| ImportError::Refused { path: path.to_path_buf(), reason };
    let bytes = match hudson_lifecycle::untrusted::read_optional(path, MAX_PILOT_BYTES) {
        Ok(None) => return Ok(None),
        Ok(Some(bytes)) => bytes,
        Err(e) => return Err(refused(e.to_string())),
    };
    check_owner_and_mode(path).map_err(refused)?;
    // serde_json's messages may quote the offending text: only its position.
    let entries: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|e| {
        refused(format!(
            "it is not a JSON object of names to text values (line {}, column {}); fix it or move it away",
            e.line(),
            e.column()
        ))
    })?;
    for value in entries.values() {
        secret(value);
    }
    for (name, value) in &entries {
        storage::check_key(name).map_err(|e| refused(format!("{e}; rename the entry")))?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(refused(format!("the value of {name:?} is over {MAX_VALUE_BYTES} bytes")));
        }
    }
    let store_error = |error| ImportError::Store { path: path.to_path_buf(), error };
    store.probe().map_err(store_error)?;
    for (name, value) in &entries {
        store.put(name, value).map_err(store_error)?;
        let back = store.get(name).map_err(store_error)?;
        if &back != value {
            return Err(store_error(Error::Failed(format!("{name:?} read back different from what was stored"))));
        }
    }
    std::fs::remove_file(path).map_err(|e| refused(format!("imported, but could not delete it: {e}")))?;
    Ok(Some(Imported { path: path.to_path_buf(), names: entries.into_keys().collect() }))
}

/// Runs [`import`] and logs its report: names, never values.
pub fn import_and_log(path: &Path, store: &SecureStore, log: &Log) {
    match import(path, store, &|value| log.add_secret(value)) {
        Ok(None) => {}
        Ok(Some(done)) => log.shell(&format!(
            "moved {} credential(s) from {} into the {}: {}; the file was deleted",
            done.names.len(),
            done.path.display(),
            store.kind(),
            done.names.join(", ")
        )),
        Err(e) => log.shell(&e.to_string()),
    }
}

#[cfg(unix)]
fn check_owner_and_mode(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    // SAFETY: geteuid has no preconditions.
    if meta.uid() != unsafe { libc::geteuid() } {
        return Err(format!("it belongs to user id {}, not to you; check where it came from", meta.uid()));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "it is writable by other users (mode {mode:03o}), so its values may not be yours; check them, \
             then `chmod 600 {}` and start Hudson again",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_and_mode(_path: &Path) -> Result<(), String> {
    // The file sits in the per-user app-data folder, which only its user
    // (and administrators) may write.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{missing, mock};

    fn pilot_file(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(PILOT_FILE);
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let _ = mode;
        path
    }

    #[test]
    fn moves_every_entry_then_deletes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = pilot_file(dir.path(), r#"{"openai_api_key":"sk-pilot-1","shopify_token":"shpat_pilot"}"#, 0o600);
        let store = mock();
        let done = import(&path, &store, &|_| {}).unwrap().unwrap();
        assert_eq!(done.names, ["openai_api_key", "shopify_token"]);
        assert_eq!(store.get("shopify_token").unwrap(), "shpat_pilot");
        assert!(!path.exists());
        assert_eq!(import(&path, &store, &|_| {}).unwrap(), None);
    }

    #[test]
    fn bad_files_are_refused_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = mock();
        let broken = pilot_file(dir.path(), r#"{"openai_api_key": "sk-secret-in-broken-json""#, 0o600);
        let error = import(&broken, &store, &|_| {}).unwrap_err().to_string();
        assert!(error.contains("not a JSON object") && error.contains("stays in place"), "{error}");
        assert!(!error.contains("sk-secret"), "{error}");
        assert!(broken.exists());

        #[cfg(unix)]
        {
            let shared = pilot_file(dir.path(), r#"{"k":"v"}"#, 0o666);
            let error = import(&shared, &store, &|_| {}).unwrap_err().to_string();
            assert!(error.contains("writable by other users (mode 666)") && error.contains("chmod 600"), "{error}");
            assert!(shared.exists());
            assert_eq!(store.get("k").unwrap_err().code(), storage::ErrorCode::NotFound);
        }

        let wrong_type = pilot_file(dir.path(), r#"{"k": 12345678}"#, 0o600);
        let error = import(&wrong_type, &store, &|_| {}).unwrap_err().to_string();
        assert!(!error.contains("12345678"), "{error}");

        let unavailable = pilot_file(dir.path(), r#"{"k":"v"}"#, 0o600);
        let error = import(&unavailable, &missing(), &|_| {}).unwrap_err().to_string();
        assert!(error.contains("stays in place until a secure store works"), "{error}");
        assert!(unavailable.exists());
    }
}
