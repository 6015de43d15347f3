//! `.deb`: an `ar` archive of `debian-binary`, `control.tar.gz` and
//! `data.tar.gz`. tauri-bundler writes each file's time from the disk, in the
//! order the folder happens to list, so two builds of the same contents
//! differ. [`normalize`] rewrites the package: the same members in the same
//! order, their tar entries sorted with fixed metadata, `md5sums` sorted, and
//! the `ar` headers' times, owners and modes fixed; every file under `/etc`
//! listed in `conffiles` (tauri-bundler lists none). The files themselves
//! are not touched.

use std::path::Path;

use anyhow::{Context, Result, bail};
use flate2::read::GzDecoder;

use crate::core::fsx;
use crate::platform::archive::{Entry, EntryKind, read_tar, write_tar_gz};

/// The member every Debian package starts with.
const DEBIAN_BINARY: &[u8] = b"debian-binary";

/// Writes a reproducible copy of the package `input` to `output`.
pub fn normalize(input: &Path, output: &Path, epoch: u64) -> Result<()> {
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let normalized = normalize_bytes(&bytes, epoch).with_context(|| format!("normalising {}", input.display()))?;
    fsx::write_atomic(output, &normalized)
}

/// The reproducible form of a package's bytes.
pub fn normalize_bytes(package: &[u8], epoch: u64) -> Result<Vec<u8>> {
    let mut archive = ar::Archive::new(package);
    let mut members = Vec::new();
    while let Some(member) = archive.next_entry() {
        let mut member = member.context("not an ar archive (a .deb is one)")?;
        let name = member.header().identifier().to_vec();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut member, &mut data)?;
        members.push((name, data));
    }
    if members.first().map(|(name, _)| name.as_slice()) != Some(DEBIAN_BINARY) {
        bail!("the first member is not `debian-binary`: not a Debian package");
    }

    // Every file the package installs under /etc is a conffile (Debian
    // policy 10.7.2): dpkg keeps a user's change or removal of it on
    // upgrade. tauri-bundler lists none, so the list is made here.
    let mut conffiles = Vec::new();
    for (name, data) in &members {
        if name.starts_with(b"data.") && name.ends_with(b".tar.gz") {
            for entry in read_tar(GzDecoder::new(&data[..]), "data.tar.gz")? {
                let path = entry.path.to_string_lossy();
                let path = path.trim_start_matches("./");
                if path.starts_with("etc/") && matches!(entry.kind, EntryKind::File { .. }) {
                    conffiles.push(format!("/{path}"));
                }
            }
        }
    }
    conffiles.sort();

    let mut out = ar::Builder::new(Vec::new());
    for (name, data) in members {
        let shown = String::from_utf8_lossy(&name).into_owned();
        let data = if name == DEBIAN_BINARY {
            data
        } else if name.ends_with(b".tar.gz") {
            let mut entries = read_tar(GzDecoder::new(&data[..]), &shown)?;
            if name.starts_with(b"control.") {
                for entry in &mut entries {
                    if entry.path == Path::new("md5sums")
                        && let EntryKind::File { data, .. } = &mut entry.kind
                    {
                        *data = sorted_md5sums(data)?;
                    }
                }
                entries.retain(|e| e.path.to_string_lossy().trim_start_matches("./") != "conffiles");
                if !conffiles.is_empty() {
                    let list: String = conffiles.iter().map(|path| format!("{path}\n")).collect();
                    entries.push(Entry {
                        path: "conffiles".into(),
                        kind: EntryKind::File { mode: 0o644, data: list.into_bytes() },
                    });
                }
            }
            write_tar_gz(entries, epoch)?
        } else {
            bail!(
                "member `{shown}` is not gzip-compressed; only `.tar.gz` members are normalised (tauri-bundler writes those)"
            )
        };
        let mut header = ar::Header::new(name, data.len() as u64);
        header.set_mtime(epoch);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mode(0o100644);
        out.append(&header, &data[..])?;
    }
    Ok(out.into_inner()?)
}

/// `md5sums` lines (`<md5>  <path>`) in path order.
fn sorted_md5sums(text: &[u8]) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(text).context("md5sums is not UTF-8")?;
    let mut lines: Vec<&str> = text.lines().filter(|line| !line.is_empty()).collect();
    lines.sort_by_key(|line| line.split_once("  ").map_or(*line, |(_, path)| path));
    Ok(lines.iter().flat_map(|line| [line.as_bytes(), b"\n"]).flatten().copied().collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::Command;

    use flate2::Compression;

    use super::*;

    /// A package laid out the way tauri-bundler lays it out, with the given
    /// times, owner and entry order.
    fn package(mtime: u64, uid: u64, reversed: bool) -> Vec<u8> {
        package_with(mtime, uid, reversed, &[])
    }

    /// A package; `etc` files are added to its data.
    fn package_with(mtime: u64, uid: u64, reversed: bool, etc: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let tar_gz = |files: &[(&str, &[u8], u32)]| {
            let mut files = files.to_vec();
            if reversed {
                files.reverse();
            }
            // A gzip header with a time and a name, as a careless writer leaves it.
            let gz = flate2::GzBuilder::new().mtime(mtime as u32).filename("x").write(Vec::new(), Compression::new(1));
            let mut tar = tar::Builder::new(gz);
            for (path, data, mode) in files {
                let mut header = tar::Header::new_gnu();
                header.set_mtime(mtime);
                header.set_uid(uid);
                header.set_gid(uid);
                header.set_mode(mode);
                if path.ends_with('/') {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    tar.append_data(&mut header, path.trim_end_matches('/'), std::io::empty()).unwrap();
                } else {
                    header.set_size(data.len() as u64);
                    tar.append_data(&mut header, path, data).unwrap();
                }
            }
            tar.into_inner().unwrap().finish().unwrap()
        };
        let md5sums: &[u8] = if reversed {
            b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb  usr/share/doc/hudson/copyright\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  usr/bin/hudson\n"
        } else {
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  usr/bin/hudson\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb  usr/share/doc/hudson/copyright\n"
        };
        let control = tar_gz(&[
            (
                "control",
                b"Package: hudson\nVersion: 0.1.0\nArchitecture: amd64\nMaintainer: Hudson\nDescription: Hudson\n",
                0o644,
            ),
            ("md5sums", md5sums, 0o644),
        ]);
        let mut data: Vec<(&str, &[u8], u32)> = vec![
            ("usr/", b"", 0o755),
            ("usr/bin/", b"", 0o755),
            ("usr/bin/hudson", b"#!/bin/sh\necho hudson\n", 0o700),
            ("usr/share/", b"", 0o755),
            ("usr/share/doc/", b"", 0o755),
            ("usr/share/doc/hudson/", b"", 0o755),
            ("usr/share/doc/hudson/copyright", b"Apache-2.0\n", 0o600),
        ];
        data.extend_from_slice(etc);
        let data = tar_gz(&data);
        let mut ar = ar::Builder::new(Vec::new());
        for (name, data) in [("debian-binary", &b"2.0\n"[..]), ("control.tar.gz", &control), ("data.tar.gz", &data)] {
            let mut header = ar::Header::new(name.as_bytes().to_vec(), data.len() as u64);
            header.set_mtime(mtime);
            header.set_uid(uid as u32);
            header.set_mode(0o100600);
            ar.append(&header, data).unwrap();
        }
        ar.into_inner().unwrap()
    }

    #[test]
    fn the_same_contents_give_the_same_package() {
        let first = package(1_700_000_000, 1000, false);
        let second = package(1_800_000_123, 0, true);
        assert_ne!(first, second);
        let epoch = 1_750_000_000;
        let a = normalize_bytes(&first, epoch).unwrap();
        let b = normalize_bytes(&second, epoch).unwrap();
        assert_eq!(a, b, "normalised packages differ");
        assert_eq!(normalize_bytes(&a, epoch).unwrap(), a, "normalising twice changes nothing");
        assert_ne!(normalize_bytes(&first, epoch + 1).unwrap(), a, "the epoch is written");
    }

    #[test]
    fn files_under_etc_become_conffiles_dpkg_deb_reads() {
        let etc: &[(&str, &[u8], u32)] = &[
            ("etc/", b"", 0o755),
            ("etc/apt/", b"", 0o755),
            ("etc/apt/sources.list.d/", b"", 0o755),
            ("etc/apt/sources.list.d/hudson.sources", b"Types: deb\n", 0o644),
            ("etc/b.conf", b"b\n", 0o644),
        ];
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (dir.path().join("in.deb"), dir.path().join("out.deb"));
        std::fs::write(&input, package_with(1_700_000_000, 0, false, etc)).unwrap();
        normalize(&input, &output, 1_750_000_000).unwrap();
        let out = Command::new("dpkg-deb").arg("--info").arg(&output).arg("conffiles").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/etc/apt/sources.list.d/hudson.sources\n/etc/b.conf\n");
        // Normalising again keeps one list; a package without /etc files has none.
        let again = normalize_bytes(&std::fs::read(&output).unwrap(), 1_750_000_000).unwrap();
        assert_eq!(again, std::fs::read(&output).unwrap());
        let plain = normalize_bytes(&package(1_700_000_000, 0, false), 1_750_000_000).unwrap();
        std::fs::write(&output, plain).unwrap();
        let out = Command::new("dpkg-deb").arg("--info").arg(&output).arg("conffiles").output().unwrap();
        assert!(!out.status.success(), "a package without /etc files lists conffiles");
    }

    #[test]
    fn dpkg_deb_reads_the_normalised_package_with_fixed_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.deb");
        let output = dir.path().join("hudson.deb");
        std::fs::File::create(&input).unwrap().write_all(&package(1_700_000_000, 1000, true)).unwrap();
        normalize(&input, &output, 1_750_000_000).unwrap();

        let dpkg = |args: &[&str]| {
            let (option, rest) = args.split_first().unwrap();
            let out = Command::new("dpkg-deb")
                .arg(option)
                .arg(&output)
                .args(rest)
                .output()
                .expect("dpkg-deb runs (Debian package `dpkg`: apt-get install dpkg)");
            assert!(out.status.success(), "dpkg-deb {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(dpkg(&["--field"]).lines().next(), Some("Package: hudson"));
        let listing = dpkg(&["--contents"]);
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(lines.len(), 7, "{listing}");
        for line in &lines {
            assert!(line.contains(" 0/0 "), "owner is not 0/0: {line}");
        }
        assert!(lines[0].starts_with("drwxr-xr-x") && lines[0].ends_with(" usr"), "{listing}");
        assert!(lines[2].starts_with("-rwxr-xr-x") && lines[2].ends_with(" usr/bin/hudson"), "{listing}");
        assert!(
            lines[6].starts_with("-rw-r--r--") && lines[6].ends_with(" usr/share/doc/hudson/copyright"),
            "{listing}"
        );
        let md5sums = dpkg(&["--info", "md5sums"]);
        assert!(md5sums.starts_with("aaaa") && md5sums.contains("\nbbbb"), "md5sums not sorted: {md5sums}");

        let mut archive = ar::Archive::new(std::fs::File::open(&output).unwrap());
        while let Some(member) = archive.next_entry() {
            let header = member.unwrap().header().clone();
            assert_eq!((header.mtime(), header.uid(), header.gid(), header.mode()), (1_750_000_000, 0, 0, 0o100644));
        }
    }
}
