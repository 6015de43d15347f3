//! One hash for a whole folder tree, to prove an install (or anything beside
//! it) is byte for byte what it was: every entry's relative path, its mode,
//! and its content or link target.

use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// What of an entry's mode the hash covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modes {
    /// The whole mode (`st_mode`: type and every permission bit), as
    /// [`tree_hash`] hashes it.
    Full,
    /// The entry's kind and, for a file, whether it is executable: what an
    /// unpacker that normalises modes to 0644/0755 (the updater's) keeps
    /// whatever the umask, so a tree written by a test and the same tree
    /// unpacked hash alike.
    ExecutableBit,
}

/// SHA-256 (lower-case hex) over every entry under `root`, in sorted path
/// order: its path relative to `root`, its full mode in octal, and a file's
/// content or a link's target (links are not followed). Equal hashes: the
/// same tree, byte for byte, modes included. `root` itself is not hashed.
///
/// The format is the end-to-end update harness's (`xtask`'s
/// `harness/e2e_update.rs`), so this is a drop-in for it. Off Unix, the mode
/// is made up of the kind and the read-only flag.
pub fn tree_hash(root: &Path) -> io::Result<String> {
    tree_hash_with(root, Modes::Full)
}

/// [`tree_hash`], covering only the part of each mode `modes` names.
pub fn tree_hash_with(root: &Path, modes: Modes) -> io::Result<String> {
    let mut entries: Vec<(PathBuf, Metadata)> = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|error| context(error, "reading", &dir))? {
            let path = entry.map_err(|error| context(error, "reading", &dir))?.path();
            let meta = path.symlink_metadata().map_err(|error| context(error, "inspecting", &path))?;
            if meta.is_dir() {
                stack.push(path.clone());
            }
            entries.push((path, meta));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hash = Sha256::new();
    for (path, meta) in entries {
        let relative = path.strip_prefix(root).expect("inside the root");
        hash.update(relative.as_os_str().as_encoded_bytes());
        match modes {
            Modes::Full => hash.update(format!("\0{:o}\0", full_mode(&meta)).as_bytes()),
            Modes::ExecutableBit => hash.update(kind_and_executable(&meta)),
        }
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(|error| context(error, "reading the link", &path))?;
            hash.update(target.as_os_str().as_encoded_bytes());
        } else if meta.is_file() {
            hash.update(fs::read(&path).map_err(|error| context(error, "reading", &path))?);
        }
        hash.update(b"\n");
    }
    Ok(hex::encode(hash.finalize()))
}

/// The error, saying what was being done to which path.
fn context(error: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{doing} {}: {error}", path.display()))
}

#[cfg(unix)]
fn full_mode(meta: &Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode()
}

/// The Unix type bits of the entry's kind, with 0o444 for a read-only entry
/// and 0o666 otherwise.
#[cfg(not(unix))]
fn full_mode(meta: &Metadata) -> u32 {
    let kind = if meta.file_type().is_symlink() {
        0o120_000
    } else if meta.is_dir() {
        0o040_000
    } else {
        0o100_000
    };
    kind | if meta.permissions().readonly() { 0o444 } else { 0o666 }
}

fn kind_and_executable(meta: &Metadata) -> &'static [u8] {
    if meta.file_type().is_symlink() {
        b"\0l\0"
    } else if meta.is_dir() {
        b"\0d\0"
    } else if is_executable(meta) {
        b"\0x\0"
    } else {
        b"\0f\0"
    }
}

#[cfg(unix)]
fn is_executable(meta: &Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small tree: two files, a folder, and (on Unix) an executable and a
    /// link.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("lib/erts")).unwrap();
        fs::write(root.join("hudson-shell.json"), "{\"version\":\"0.1.0\"}").unwrap();
        fs::write(root.join("lib/erts/beam.smp"), crate::pseudo_random_bytes(10_000, 3)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::create_dir(root.join("bin")).unwrap();
            fs::write(root.join("bin/hudson"), "#!/bin/sh\n").unwrap();
            fs::set_permissions(root.join("bin/hudson"), fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::symlink("lib/erts", root.join("erts")).unwrap();
        }
        dir
    }

    fn both(root: &Path) -> (String, String) {
        (tree_hash(root).unwrap(), tree_hash_with(root, Modes::ExecutableBit).unwrap())
    }

    #[test]
    fn the_same_tree_hashes_the_same() {
        let dir = tree();
        let first = both(dir.path());
        assert_eq!(both(dir.path()), first, "hashing twice");
        assert_eq!(first.0.len(), 64);
        assert!(first.0.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        // Where the tree sits does not matter: only paths relative to it.
        let other = tree();
        assert_eq!(both(other.path()), first, "the same tree elsewhere");
    }

    #[test]
    fn a_changed_byte_changes_the_hash() {
        let dir = tree();
        let before = both(dir.path());
        let file = dir.path().join("lib/erts/beam.smp");
        let mut bytes = fs::read(&file).unwrap();
        bytes[5_000] ^= 1;
        fs::write(&file, &bytes).unwrap();
        let after = both(dir.path());
        assert_ne!(after.0, before.0);
        assert_ne!(after.1, before.1);
        bytes[5_000] ^= 1;
        fs::write(&file, &bytes).unwrap();
        assert_eq!(both(dir.path()), before, "the byte put back");
    }

    #[test]
    fn a_new_empty_file_or_folder_or_a_rename_changes_the_hash() {
        let dir = tree();
        let before = both(dir.path());
        fs::write(dir.path().join("lib/empty"), "").unwrap();
        let with_file = both(dir.path());
        assert_ne!(with_file.0, before.0);
        assert_ne!(with_file.1, before.1);
        fs::remove_file(dir.path().join("lib/empty")).unwrap();
        fs::create_dir(dir.path().join("lib/empty")).unwrap();
        let with_folder = both(dir.path());
        assert_ne!(with_folder.0, before.0);
        assert_ne!(with_folder.0, with_file.0, "a file and a folder of the same name");
        assert_ne!(with_folder.1, with_file.1, "a file and a folder of the same name");
        fs::remove_dir(dir.path().join("lib/empty")).unwrap();
        fs::rename(dir.path().join("hudson-shell.json"), dir.path().join("hudson-shell.jsom")).unwrap();
        assert_ne!(both(dir.path()).0, before.0);
    }

    #[cfg(unix)]
    #[test]
    fn a_changed_mode_changes_the_hash() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tree();
        let before = both(dir.path());
        let file = dir.path().join("hudson-shell.json");
        let mode = |m| fs::set_permissions(&file, fs::Permissions::from_mode(m)).unwrap();
        mode(0o600);
        let (full, executable) = both(dir.path());
        assert_ne!(full, before.0, "the full mode covers every permission bit");
        assert_eq!(executable, before.1, "not executable either way");
        mode(0o744);
        let (full, executable) = both(dir.path());
        assert_ne!(full, before.0);
        assert_ne!(executable, before.1, "now executable");
        mode(0o644);
        assert_eq!(both(dir.path()), before, "the mode put back");
        // A folder's mode is in the full hash only.
        let lib = dir.path().join("lib");
        fs::set_permissions(&lib, fs::Permissions::from_mode(0o700)).unwrap();
        let (full, executable) = both(dir.path());
        assert_ne!(full, before.0);
        assert_eq!(executable, before.1);
    }

    #[cfg(unix)]
    #[test]
    fn a_changed_link_target_changes_the_hash() {
        let dir = tree();
        let before = both(dir.path());
        let link = dir.path().join("erts");
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("lib", &link).unwrap();
        let after = both(dir.path());
        assert_ne!(after.0, before.0);
        assert_ne!(after.1, before.1);
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("lib/erts", &link).unwrap();
        assert_eq!(both(dir.path()).0, before.0, "the target put back");
    }

    /// The exact bytes hashed, as the end-to-end harness hashes them: for
    /// each entry in path order, `path \0 mode-in-octal \0 content \n`.
    #[cfg(unix)]
    #[test]
    fn the_format_is_the_harness_format() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("d")).unwrap();
        fs::set_permissions(root.join("d"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(root.join("d/f"), "content").unwrap();
        fs::set_permissions(root.join("d/f"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("d/f", root.join("l")).unwrap();
        let link_mode = fs::symlink_metadata(root.join("l")).unwrap().permissions().mode();
        let expected = format!("d\x0040755\x00\nd/f\x00100640\x00content\nl\x00{link_mode:o}\x00d/f\n");
        assert_eq!(tree_hash(root).unwrap(), hex::encode(Sha256::digest(expected.as_bytes())));
    }

    #[test]
    fn a_missing_root_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nowhere");
        let error = tree_hash(&missing).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(error.to_string().contains("nowhere"), "{error}");
    }
}
