//! Reproducible archives: the same contents give the same bytes, whenever and
//! wherever they are built, so a rebuilt release can be checked byte for
//! byte and its signatures do not change.
//!
//! Every archive written here has its entries sorted by path, every time set
//! to `SOURCE_DATE_EPOCH` (default: the last commit's time), owner and group
//! 0, modes normalised (directories and executables 0755, other files 0644),
//! and a gzip header without file name or time. One file per format, as in
//! tauri-bundler: `platform::linux::{deb, rpm}` rewrite what tauri-bundler
//! built, `platform::macos::app_archive` builds the macOS `.app.tar.gz`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flate2::{Compression, GzBuilder};

/// The variable that fixes every time written into an archive or signature.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// `SOURCE_DATE_EPOCH` when set, else the commit time of `HEAD` in `root`.
pub fn source_date_epoch(root: &Path) -> Result<u64> {
    if let Ok(value) = std::env::var(SOURCE_DATE_EPOCH) {
        return value.trim().parse().with_context(|| {
            format!("{SOURCE_DATE_EPOCH}={value:?} is not a whole number of seconds since 1970-01-01 UTC")
        });
    }
    let root = root.display().to_string();
    match crate::core::cmd::probe("git", &["-C", &root, "log", "-1", "--format=%ct"]) {
        Some(time) if !time.is_empty() => time
            .parse()
            .with_context(|| format!("`git log -1 --format=%ct` in {root} printed {time:?}, not a commit time")),
        _ => bail!(
            "{SOURCE_DATE_EPOCH} is unset and `git log -1 --format=%ct` found no commit in {root}: \
             set {SOURCE_DATE_EPOCH} to the release's time in seconds since 1970-01-01 UTC"
        ),
    }
}

/// Directories and executables 0755, everything else 0644.
pub fn normal_mode(is_dir: bool, mode: u32) -> u32 {
    if is_dir || mode & 0o111 != 0 { 0o755 } else { 0o644 }
}

/// A gzip stream whose header has no file name and no time.
pub fn gzip<W: Write>(writer: W) -> flate2::write::GzEncoder<W> {
    GzBuilder::new().mtime(0).write(writer, Compression::default())
}

/// Writes tar entries with normalised metadata. The caller adds them in
/// sorted order ([`sort_key`]).
pub struct TarWriter<W: Write> {
    builder: tar::Builder<W>,
    epoch: u64,
}

impl<W: Write> TarWriter<W> {
    pub fn new(writer: W, epoch: u64) -> Self {
        let mut builder = tar::Builder::new(writer);
        builder.follow_symlinks(false);
        TarWriter { builder, epoch }
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(self.epoch);
        header.set_size(size);
        header
    }

    pub fn dir(&mut self, path: &Path) -> std::io::Result<()> {
        let mut header = self.header(tar::EntryType::Directory, 0o755, 0);
        self.builder.append_data(&mut header, path, std::io::empty())
    }

    pub fn file(&mut self, path: &Path, mode: u32, size: u64, data: impl Read) -> std::io::Result<()> {
        let mut header = self.header(tar::EntryType::Regular, normal_mode(false, mode), size);
        self.builder.append_data(&mut header, path, data)
    }

    pub fn symlink(&mut self, path: &Path, target: &Path) -> std::io::Result<()> {
        let mut header = self.header(tar::EntryType::Symlink, 0o777, 0);
        self.builder.append_link(&mut header, path, target)
    }

    pub fn finish(self) -> std::io::Result<W> {
        self.builder.into_inner()
    }
}

/// Orders paths component by component, so a folder comes right before its
/// contents (the order `walkdir` gives with sorted names).
pub fn sort_key(path: &Path) -> Vec<Vec<u8>> {
    path.components().map(|c| c.as_os_str().as_encoded_bytes().to_vec()).collect()
}

/// One entry read from an archive, kept in memory to be rewritten in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File { mode: u32, data: Vec<u8> },
    Symlink(PathBuf),
}

/// Reads every entry of a tar stream. Other entry kinds (devices, hard links)
/// never occur in an app package and are refused.
pub fn read_tar(reader: impl Read, what: &str) -> Result<Vec<Entry>> {
    let mut archive = tar::Archive::new(reader);
    let mut entries = Vec::new();
    for entry in archive.entries().with_context(|| format!("reading the tar stream of {what}"))? {
        let mut entry = entry.with_context(|| format!("reading an entry of {what}"))?;
        let path = entry.path().with_context(|| format!("an entry path in {what}"))?.into_owned();
        let kind = match entry.header().entry_type() {
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut data = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut data).with_context(|| format!("reading {} in {what}", path.display()))?;
                EntryKind::File { mode: entry.header().mode().unwrap_or(0o644), data }
            }
            tar::EntryType::Symlink => {
                let target =
                    entry.link_name()?.with_context(|| format!("symlink {} without a target", path.display()))?;
                EntryKind::Symlink(target.into_owned())
            }
            other => bail!("{what}: entry {} is a {other:?}, which a package should not contain", path.display()),
        };
        entries.push(Entry { path, kind });
    }
    Ok(entries)
}

/// Writes `entries` sorted, with normalised metadata, into a gzip-compressed tar.
pub fn write_tar_gz(mut entries: Vec<Entry>, epoch: u64) -> Result<Vec<u8>> {
    entries.sort_by_cached_key(|entry| sort_key(&entry.path));
    let mut tar = TarWriter::new(gzip(Vec::new()), epoch);
    for entry in &entries {
        match &entry.kind {
            EntryKind::Dir => tar.dir(&entry.path)?,
            EntryKind::File { mode, data } => tar.file(&entry.path, *mode, data.len() as u64, &data[..])?,
            EntryKind::Symlink(target) => tar.symlink(&entry.path, target)?,
        }
    }
    Ok(tar.finish()?.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_sort_before_their_contents() {
        let mut paths = vec!["a-b", "a/b", "a", "a/b/c", "B", "a.txt"];
        paths.sort_by_key(|p| sort_key(Path::new(p)));
        assert_eq!(paths, ["B", "a", "a/b", "a/b/c", "a-b", "a.txt"]);
    }

    #[test]
    fn modes_are_normalised() {
        assert_eq!(normal_mode(true, 0o700), 0o755);
        assert_eq!(normal_mode(false, 0o700), 0o755);
        assert_eq!(normal_mode(false, 0o600), 0o644);
        assert_eq!(normal_mode(false, 0o664), 0o644);
    }

    #[test]
    fn the_gzip_header_has_no_name_and_no_time() {
        let mut gz = gzip(Vec::new());
        gz.write_all(b"hello").unwrap();
        let bytes = gz.finish().unwrap();
        assert_eq!(&bytes[..4], &[0x1f, 0x8b, 8, 0], "no FNAME/FCOMMENT/FEXTRA flag");
        assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "MTIME is zero");
    }
}
