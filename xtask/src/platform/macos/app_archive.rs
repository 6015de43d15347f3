//! The macOS update archive, `<Product>.app.tar.gz`: the `.app` folder as
//! `<Product>.app/…`, which tauri-plugin-updater unpacks in place of the
//! running app. Symbolic links stay links (frameworks inside an app use
//! them), as in tauri-bundler's own macOS archive.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use crate::core::fsx;
use crate::platform::archive::{TarWriter, gzip};

/// Archives the folder `dir` as `<dir name>/…` into `output`, atomically.
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

// The fixtures are app bundles with Unix modes and symlinks, as on a Mac.
#[cfg(all(test, unix))]
mod tests {
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
