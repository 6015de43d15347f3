//! File-system helpers every step shares: atomic writes, tree copies and
//! content digests.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// The most a JSON file from a tree xtask did not write may hold: channel
/// and dist manifests, `latest.json`, history entries, `hudson-shell.json`.
pub const MAX_JSON_BYTES: u64 = signing::policy::DEFAULT_MAX_MANIFEST_BYTES as u64;
/// The most a `.minisig` file may hold.
pub const MAX_SIGNATURE_BYTES: u64 = 16 << 10;

/// `path` with `suffix` added to its file name (`key` → `key.pub`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Reads a file from a tree someone else wrote (a channel folder, a dist
/// folder, an unpacked package) through the workspace's one bounded reader,
/// `hudson_lifecycle::untrusted`: a regular file, no symlink, no FIFO or
/// device, at most `cap` bytes. Errors name the file.
pub fn read_untrusted(path: &Path, cap: u64) -> Result<Vec<u8>> {
    Ok(hudson_lifecycle::untrusted::read(path, cap)?)
}

/// Opens such a file to stream it (an artifact whose size and digest the
/// caller checks while reading).
pub fn open_untrusted(path: &Path) -> Result<fs::File> {
    Ok(hudson_lifecycle::untrusted::open(path)?)
}

/// Writes `bytes` to `path` through a temporary file in the same folder, then
/// renames it into place and syncs the folder: readers see the old file or
/// the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, None, |tmp| {
        tmp.as_file().write_all(bytes).with_context(|| format!("writing {}", tmp.path().display()))
    })
}

/// Copies `from` to `to` atomically (temporary file + rename), keeping the
/// permission bits.
pub fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    write_atomic_with(to, None, |tmp| {
        fs::copy(from, tmp.path())
            .map(drop)
            .with_context(|| format!("copying {} to {}", from.display(), tmp.path().display()))
    })
}

/// The one way files are replaced: `fill` writes a temporary file in
/// `path`'s folder (made with permission bits `mode` before a byte is
/// written, on Unix), which is synced, renamed to `path`, and the folder
/// synced. A failure leaves `path` as it was and no temporary file.
pub fn write_atomic_with(
    path: &Path,
    mode: Option<u32>,
    fill: impl FnOnce(&tempfile::NamedTempFile) -> Result<()>,
) -> Result<()> {
    let dir = parent(path)?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let tmp = builder.tempfile_in(dir).with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    fill(&tmp)?;
    tmp.as_file().sync_all().with_context(|| format!("syncing {}", tmp.path().display()))?;
    tmp.persist(path).with_context(|| format!("renaming into {}", path.display()))?;
    sync_dir(dir)
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    fs::File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing folder {}", dir.display()))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The folder `path` is in: `.` for a bare file name.
pub fn parent(path: &Path) -> Result<&Path> {
    match path.parent() {
        Some(dir) if dir.as_os_str().is_empty() => Ok(Path::new(".")),
        Some(dir) => Ok(dir),
        None => anyhow::bail!("{} has no parent folder", path.display()),
    }
}

/// Replaces the folder `to` with a copy of `from`: the copy is built beside
/// it and swapped in, so a failed copy leaves the old folder.
pub fn replace_dir_with_copy(from: &Path, to: &Path) -> Result<()> {
    let dir = parent(to)?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let staging = tempfile::Builder::new().prefix(".tmp-").tempdir_in(dir)?;
    let copy = staging.path().join("copy");
    copy_tree(from, &copy)?;
    let old = staging.path().join("old");
    if to.exists() {
        fs::rename(to, &old).with_context(|| format!("moving {} aside", to.display()))?;
    }
    fs::rename(&copy, to).with_context(|| format!("moving the new copy to {}", to.display()))?;
    sync_dir(dir)
}

/// Copies a tree, keeping permission bits and symbolic links.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    copy_tree_filtered(from, to, &|_| false)
}

/// Copies a tree like [`copy_tree`], leaving out every path (relative to
/// `from`) for which `skip` is true, with everything below it.
pub fn copy_tree_filtered(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<()> {
    let walker = walkdir::WalkDir::new(from).sort_by_file_name().into_iter().filter_entry(|entry| {
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        rel.as_os_str().is_empty() || !skip(rel)
    });
    for entry in walker {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let rel = entry.path().strip_prefix(from).expect("walkdir stays under its root");
        let dest = to.join(rel);
        let kind = entry.file_type();
        if kind.is_dir() {
            fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
        } else if kind.is_symlink() {
            #[cfg(unix)]
            {
                let link = fs::read_link(entry.path())
                    .with_context(|| format!("reading the link {}", entry.path().display()))?;
                std::os::unix::fs::symlink(&link, &dest).with_context(|| format!("linking {}", dest.display()))?;
            }
            // Making symlinks on Windows needs a privilege users rarely
            // have: copy what the link points to.
            #[cfg(not(unix))]
            fs::copy(entry.path(), &dest).with_context(|| format!("copying {}", dest.display()))?;
        } else {
            fs::copy(entry.path(), &dest)
                .with_context(|| format!("copying {} to {}", entry.path().display(), dest.display()))?;
        }
    }
    Ok(())
}

/// SHA-256 (hex) and size of a file, in one read.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    sha256_reader(file, path)
}

/// `sha256_file` for a file from a tree xtask did not write: a regular file
/// only (see [`open_untrusted`]), read up to `cap + 1` bytes, so a caller
/// that expects `cap` bytes sees a larger file as larger without reading
/// all of it (a symlink to `/dev/zero` never gets that far).
pub fn sha256_untrusted(path: &Path, cap: u64) -> Result<(String, u64)> {
    sha256_reader(open_untrusted(path)?.take(cap.saturating_add(1)), path)
}

fn sha256_reader(mut file: impl Read, path: &Path) -> Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// A digest over a set of inputs: files and trees (relative path, executable
/// bit, content), plus free-form values. Order of `add_*` calls matters.
pub struct Fingerprint {
    hasher: Sha256,
}

impl Fingerprint {
    pub fn new(kind: &str) -> Self {
        let mut fp = Fingerprint { hasher: Sha256::new() };
        fp.add_value("kind", kind);
        fp
    }

    pub fn add_value(&mut self, key: &str, value: &str) -> &mut Self {
        for part in [key, value] {
            self.hasher.update((part.len() as u64).to_le_bytes());
            self.hasher.update(part.as_bytes());
        }
        self
    }

    /// Adds a file or a whole tree. Paths for which `skip` returns true (given
    /// the path relative to `root`) are left out, with everything below them.
    pub fn add_path(&mut self, root: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<&mut Self> {
        self.add_value("root", &root.file_name().unwrap_or_default().to_string_lossy());
        if !root.exists() {
            self.add_value("missing", "");
            return Ok(self);
        }
        let walker = walkdir::WalkDir::new(root).sort_by_file_name().into_iter().filter_entry(|entry| {
            let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
            rel.as_os_str().is_empty() || !skip(rel)
        });
        for entry in walker {
            let entry = entry.with_context(|| format!("reading {}", root.display()))?;
            let rel = entry.path().strip_prefix(root).unwrap_or(entry.path()).to_string_lossy().replace('\\', "/");
            let kind = entry.file_type();
            if kind.is_symlink() {
                let link = fs::read_link(entry.path())?;
                self.add_value(&format!("link:{rel}"), &link.to_string_lossy());
            } else if kind.is_file() {
                let (sha, _) = sha256_file(entry.path())?;
                self.add_value(&format!("file:{rel}:{}", executable(entry.path())), &sha);
            }
        }
        Ok(self)
    }

    pub fn finish(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

fn executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Every regular file directly in `dir` whose name ends with `suffix`.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if !dir.exists() {
        return Ok(found);
    }
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() && path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_file_name_is_in_the_current_folder() {
        assert_eq!(parent(Path::new("release.key")).unwrap(), Path::new("."));
        assert_eq!(parent(Path::new("keys/release.key")).unwrap(), Path::new("keys"));
        assert!(parent(Path::new("/")).is_err());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn fingerprint_sees_content_names_and_skips() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("src")).unwrap();
        fs::create_dir_all(dir.path().join("_build")).unwrap();
        fs::write(dir.path().join("src/a"), "1").unwrap();
        fs::write(dir.path().join("_build/x"), "1").unwrap();
        let skip = |rel: &Path| rel.starts_with("_build");
        let digest = || Fingerprint::new("t").add_path(dir.path(), &skip).unwrap().finish();
        let first = digest();
        fs::write(dir.path().join("_build/x"), "2").unwrap();
        assert_eq!(first, digest(), "skipped paths do not count");
        fs::write(dir.path().join("src/a"), "2").unwrap();
        assert_ne!(first, digest(), "content counts");
    }
}
