//! Reproducible archives: the same contents give the same bytes, whenever and
//! wherever they are built, so a rebuilt release can be checked byte for
//! byte and its signatures do not change.
//!
//! Every archive written here has its entries sorted by path, every time set
//! to `SOURCE_DATE_EPOCH` (default: the last commit's time), owner and group
//! 0, modes normalised (directories and executables 0755, other files 0644),
//! and a gzip header without file name or time. One file per format, as in
//! tauri-bundler: `platform::linux::{deb, rpm}` rewrite what tauri-bundler
//! built; [`archive_dir`] here archives a folder (the macOS `.app.tar.gz`,
//! the Linux portable tree).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flate2::{Compression, GzBuilder};

use crate::core::fsx;

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

/// Archives the folder `dir` as `<dir name>/…` into `output`, atomically:
/// the macOS `<Product>.app.tar.gz` (the `.app`, which tauri-plugin-updater
/// unpacks in place of the running app) and the Linux portable tree
/// (`release::step6_updater`). Symbolic links stay links (frameworks inside
/// an app use them), as in tauri-bundler's own macOS archive.
pub fn archive_dir(dir: &Path, output: &Path, epoch: u64) -> Result<()> {
    let root = dir.file_name().with_context(|| format!("{} has no folder name", dir.display()))?;
    fsx::write_atomic_with(output, None, |tmp| {
        let mut tar = TarWriter::new(gzip(BufWriter::new(tmp.as_file())), epoch);
        // `sort_by_file_name` walks depth-first in name order: a folder comes
        // right before its contents, the same order `archive::sort_key` gives.
        for entry in walkdir::WalkDir::new(dir).follow_links(false).sort_by_file_name() {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let rel = entry.path().strip_prefix(dir).expect("walkdir stays under its root");
            // `join("")` would add a trailing slash to the root folder's name.
            let name =
                if rel.as_os_str().is_empty() { Path::new(root).to_path_buf() } else { Path::new(root).join(rel) };
            let kind = entry.file_type();
            let written = if kind.is_dir() {
                tar.dir(&name)
            } else if kind.is_symlink() {
                let target = std::fs::read_link(entry.path())?;
                tar.symlink(&name, &target)
            } else {
                let meta = entry.metadata()?;
                let file = File::open(entry.path()).with_context(|| format!("opening {}", entry.path().display()))?;
                tar.file(&name, mode_of(&meta), meta.len(), file)
            };
            written.with_context(|| format!("archiving {}", entry.path().display()))?;
        }
        tar.finish()?.finish()?.flush()?;
        Ok(())
    })
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode()
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> u32 {
    0o644
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

// The fixtures are app bundles with Unix modes and symlinks, as on a Mac.
#[cfg(all(test, unix))]
mod dir_tests {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    use std::time::{Duration, SystemTime};

    use flate2::read::GzDecoder;

    use super::*;

    /// A fake app bundle with the parts that matter: nested folders, an
    /// executable, a plain file, a private file, a framework symlink.
    fn fake_app(root: &Path, time: SystemTime) -> std::path::PathBuf {
        let app = root.join("Hudson.app");
        let files = [
            ("Contents/Info.plist", 0o600, &b"<plist/>"[..]),
            ("Contents/MacOS/hudson-desktop", 0o700, b"\xcf\xfa\xed\xfe fake Mach-O"),
            ("Contents/Resources/backend/bin/hudson", 0o775, b"#!/bin/sh\n"),
            ("Contents/Resources/backend/releases/0.1.0/sys.config", 0o664, b"[]."),
            ("Contents/Frameworks/Hudson.framework/Versions/A/Hudson", 0o755, b"lib"),
        ];
        for (path, mode, data) in files {
            let path = app.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, data).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            File::options().write(true).open(&path).unwrap().set_modified(time).unwrap();
        }
        std::os::unix::fs::symlink("A", app.join("Contents/Frameworks/Hudson.framework/Versions/Current")).unwrap();
        app
    }

    #[test]
    fn the_same_app_gives_the_same_archive_whenever_it_is_built() {
        let epoch = 1_750_000_000;
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let first = one.path().join("Hudson.app.tar.gz");
        let second = two.path().join("Hudson.app.tar.gz");
        archive_dir(&fake_app(one.path(), SystemTime::now()), &first, epoch).unwrap();
        archive_dir(&fake_app(two.path(), SystemTime::now() - Duration::from_secs(86_400)), &second, epoch).unwrap();
        let bytes = std::fs::read(&first).unwrap();
        assert_eq!(bytes, std::fs::read(&second).unwrap(), "archives of the same app differ");
        assert_eq!(&bytes[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0], "gzip header with a name or a time");

        let mut tar = tar::Archive::new(GzDecoder::new(&bytes[..]));
        let mut listed = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let path = entry.path().unwrap().display().to_string();
            assert_eq!(
                (header.uid().unwrap(), header.gid().unwrap(), header.mtime().unwrap()),
                (0, 0, epoch),
                "{path}"
            );
            let mode = header.mode().unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            listed.push(format!("{path} {:o} {:?}", mode, header.entry_type()));
        }
        assert_eq!(
            listed,
            [
                "Hudson.app 755 Directory",
                "Hudson.app/Contents 755 Directory",
                "Hudson.app/Contents/Frameworks 755 Directory",
                "Hudson.app/Contents/Frameworks/Hudson.framework 755 Directory",
                "Hudson.app/Contents/Frameworks/Hudson.framework/Versions 755 Directory",
                "Hudson.app/Contents/Frameworks/Hudson.framework/Versions/A 755 Directory",
                "Hudson.app/Contents/Frameworks/Hudson.framework/Versions/A/Hudson 755 Regular",
                "Hudson.app/Contents/Frameworks/Hudson.framework/Versions/Current 777 Symlink",
                "Hudson.app/Contents/Info.plist 644 Regular",
                "Hudson.app/Contents/MacOS 755 Directory",
                "Hudson.app/Contents/MacOS/hudson-desktop 755 Regular",
                "Hudson.app/Contents/Resources 755 Directory",
                "Hudson.app/Contents/Resources/backend 755 Directory",
                "Hudson.app/Contents/Resources/backend/bin 755 Directory",
                "Hudson.app/Contents/Resources/backend/bin/hudson 755 Regular",
                "Hudson.app/Contents/Resources/backend/releases 755 Directory",
                "Hudson.app/Contents/Resources/backend/releases/0.1.0 755 Directory",
                "Hudson.app/Contents/Resources/backend/releases/0.1.0/sys.config 644 Regular",
            ]
        );
    }

    #[test]
    fn gnu_tar_unpacks_the_app_with_its_link() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("Hudson.app.tar.gz");
        archive_dir(&fake_app(&dir.path().join("src"), SystemTime::now()), &archive, 1_750_000_000).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let status = Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&out).status().expect("tar runs");
        assert!(status.success());
        let link = out.join("Hudson.app/Contents/Frameworks/Hudson.framework/Versions/Current");
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("A"));
        let exe = std::fs::metadata(out.join("Hudson.app/Contents/MacOS/hudson-desktop")).unwrap();
        assert_eq!(exe.permissions().mode() & 0o777, 0o755);
    }
}
