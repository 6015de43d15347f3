//! Unpacking a built package into a private folder with the crates that
//! read the formats, not `dpkg-deb`/`rpm2cpio`: a `.deb` is an `ar` archive
//! whose `data.tar[.gz|.xz|.zst|.bz2]` holds the files; an `.rpm` is a header
//! followed by a compressed `cpio` payload; the macOS `.app.tar.gz` and
//! the Linux portable tree (`<Product>-<version>-<triple>.tar.gz`) are
//! tarballs.
//!
//! A package is input from outside this process, so every entry is checked
//! before anything is written: absolute paths, `..`, entries that would be
//! written through a symbolic link the archive created earlier, devices and
//! FIFOs are refused with an error naming the entry. Permission bits
//! (executables!) and symbolic links are kept; set-uid/set-gid bits and
//! owners are not (the tree belongs to whoever runs the smoke test).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use signing::dist::ArtifactKind;

/// More than any desktop app ships; a package that unpacks to more is
/// refused rather than allowed to fill the disk.
const MAX_BYTES: u64 = 8 << 30;
const MAX_ENTRIES: usize = 1_000_000;
/// How many times its own size a package may unpack to. Real packages
/// compress 2–5×; a compression bomb does a thousand times that.
const MAX_RATIO: u64 = 64;
/// The least a package may always unpack to, whatever its size.
const MIN_CAP: u64 = 64 << 20;

/// How much a package of `package_len` bytes may write when unpacked.
pub fn cap_for(package_len: u64) -> u64 {
    package_len.saturating_mul(MAX_RATIO).clamp(MIN_CAP, MAX_BYTES)
}

/// What unpacking wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub entries: usize,
    pub bytes: u64,
}

/// Unpacks `package` (of `kind`) into the existing, empty folder `into`.
pub fn unpack(kind: ArtifactKind, package: &Path, into: &Path) -> Result<Stats> {
    let len = fs::metadata(package).with_context(|| format!("reading {}", package.display()))?.len();
    let into = &Tree::new(into, cap_for(len));
    let result = match kind {
        ArtifactKind::Deb => unpack_deb(package, into),
        ArtifactKind::Rpm => unpack_rpm(package, into),
        ArtifactKind::App | ArtifactKind::Portable => unpack_tarball(package, into),
        other => bail!("cannot unpack a {} package", other.as_str()),
    };
    result.with_context(|| format!("unpacking {}", package.display()))
}

fn unpack_deb(package: &Path, into: &Tree) -> Result<Stats> {
    let file = crate::core::fsx::open_untrusted(package)?;
    let mut archive = ar::Archive::new(file);
    let mut format_checked = false;
    while let Some(member) = archive.next_entry() {
        let member = member.context("not a Debian package (bad ar archive)")?;
        let name = String::from_utf8_lossy(member.header().identifier()).into_owned();
        if name == "debian-binary" {
            let mut version = String::new();
            member.take(16).read_to_string(&mut version)?;
            if !version.starts_with("2.") {
                bail!("not a Debian package: debian-binary says {version:?}, expected 2.x");
            }
            format_checked = true;
            continue;
        }
        if let Some(compression) = name.strip_prefix("data.tar") {
            if !format_checked {
                bail!("not a Debian package: `data.tar` comes before `debian-binary`");
            }
            let reader: Box<dyn Read + '_> = match compression {
                "" => Box::new(member),
                ".gz" => Box::new(flate2::read::MultiGzDecoder::new(member)),
                ".xz" => Box::new(xz2::read::XzDecoder::new_multi_decoder(member)),
                ".zst" => Box::new(zstd::stream::read::Decoder::new(member)?),
                ".bz2" => Box::new(bzip2::read::MultiBzDecoder::new(member)),
                other => bail!("unsupported compression of the Debian data member: data.tar{other}"),
            };
            let mut tree = into.clone();
            unpack_tar(reader, &mut tree).with_context(|| format!("in {name}"))?;
            return tree.finish();
        }
    }
    bail!("not a Debian package: no data.tar member")
}

fn unpack_rpm(package: &Path, into: &Tree) -> Result<Stats> {
    let mut reader = BufReader::new(crate::core::fsx::open_untrusted(package)?);
    let metadata = rpm::PackageMetadata::parse(&mut reader).map_err(|e| anyhow::anyhow!("not an RPM package: {e}"))?;
    let compressor = metadata.get_payload_compressor().map_err(|e| anyhow::anyhow!("RPM payload compressor: {e}"))?;
    let payload: Box<dyn Read> = match compressor {
        rpm::CompressionType::None => Box::new(reader),
        rpm::CompressionType::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        rpm::CompressionType::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
        rpm::CompressionType::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(reader)),
        rpm::CompressionType::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(reader)),
    };
    // The header's link targets are authoritative (what `rpm -i` creates);
    // some writers leave the cpio data of a link empty or wrong.
    let entries = metadata.get_file_entries().map_err(|e| anyhow::anyhow!("RPM file list: {e}"))?;
    let links: HashMap<String, String> = entries
        .into_iter()
        .filter(|e| !e.linkto.is_empty())
        .map(|e| (e.path.to_string_lossy().into_owned(), e.linkto))
        .collect();
    let mut tree = into.clone();
    unpack_cpio(payload, &mut tree, &links).context("in the RPM payload")?;
    tree.finish()
}

fn unpack_tarball(package: &Path, into: &Tree) -> Result<Stats> {
    let file = BufReader::new(crate::core::fsx::open_untrusted(package)?);
    let mut tree = into.clone();
    unpack_tar(flate2::read::MultiGzDecoder::new(file), &mut tree)?;
    tree.finish()
}

/// Writes every entry of a tar stream into `tree`.
pub fn unpack_tar(reader: impl Read, tree: &mut Tree) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().context("reading the tar archive")? {
        let mut entry = entry.context("reading a tar entry")?;
        let name = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&name).into_owned();
        let mode = entry.header().mode().with_context(|| format!("tar entry `{shown}`: bad mode"))?;
        use tar::EntryType as T;
        match entry.header().entry_type() {
            T::Regular | T::Continuous => {
                // The entry's size, a PAX `size` record included (the
                // header's own field may say less).
                let declared = entry.size();
                tree.file(&name, mode, Some(declared), &mut entry)
            }
            T::Directory => tree.dir(&name, mode),
            T::Symlink => {
                let target =
                    entry.link_name_bytes().with_context(|| format!("symbolic link `{shown}` has no target"))?;
                tree.symlink(&name, &target)
            }
            T::Link => {
                let target = entry.link_name_bytes().with_context(|| format!("hard link `{shown}` has no target"))?;
                tree.hard_link(&name, &target)
            }
            // Extended headers carry metadata for the next entry; tar reads them.
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => Ok(()),
            other => bail!("tar entry `{shown}` is a {other:?}; a package holds only files, folders and links"),
        }?;
    }
    Ok(())
}

/// Writes every entry of a `newc` cpio stream (an RPM payload) into `tree`.
/// `links` maps an installed path (`/usr/bin/x`) to its link target.
pub fn unpack_cpio(reader: impl Read, tree: &mut Tree, links: &HashMap<String, String>) -> Result<()> {
    const TYPE: u32 = 0o170000;
    const DIR: u32 = 0o040000;
    const FILE: u32 = 0o100000;
    const LINK: u32 = 0o120000;
    // Hard-linked files: every name but the last has no data (newc format).
    let mut waiting: HashMap<u32, Vec<String>> = HashMap::new();
    let mut reader = reader;
    loop {
        let mut entry = cpio::newc::Reader::new(reader).context("reading a cpio entry")?;
        if entry.entry().is_trailer() {
            break;
        }
        let name = entry.entry().name().to_owned();
        let mode = entry.entry().mode();
        let (nlink, ino, size) = (entry.entry().nlink(), entry.entry().ino(), entry.entry().file_size());
        match mode & TYPE {
            DIR => tree.dir(name.as_bytes(), mode)?,
            FILE if nlink > 1 && size == 0 => waiting.entry(ino).or_default().push(name.clone()),
            FILE => {
                tree.file(name.as_bytes(), mode, Some(u64::from(size)), &mut entry)?;
                for other in waiting.remove(&ino).unwrap_or_default() {
                    tree.hard_link(other.as_bytes(), name.as_bytes())?;
                }
            }
            LINK => {
                let mut target = Vec::new();
                (&mut entry).take(4096).read_to_end(&mut target)?;
                let installed = format!("/{}", name.trim_start_matches("./").trim_start_matches('/'));
                if let Some(header_target) = links.get(&installed) {
                    target = header_target.as_bytes().to_vec();
                }
                tree.symlink(name.as_bytes(), &target)?;
            }
            other => {
                bail!("cpio entry `{name}` has file type {other:o}; a package holds only files, folders and links")
            }
        }
        reader = entry.finish().with_context(|| format!("reading cpio entry `{name}`"))?;
    }
    // Hard-link groups whose data never came: empty files.
    for (_, names) in waiting {
        for name in names {
            tree.file(name.as_bytes(), 0o644, Some(0), &mut io::empty())?;
        }
    }
    Ok(())
}

/// The folder being filled, and the checks every entry passes first.
#[derive(Clone)]
pub struct Tree {
    root: PathBuf,
    /// The most all files together may hold.
    cap: u64,
    stats: Stats,
    /// Folder modes are applied last: a read-only folder must not stop its
    /// own entries from being written.
    dir_modes: Vec<(PathBuf, u32)>,
}

impl Tree {
    /// A tree at `root` whose files may hold at most `cap` bytes in all.
    pub fn new(root: &Path, cap: u64) -> Tree {
        Tree { root: root.to_path_buf(), cap: cap.min(MAX_BYTES), stats: Stats::default(), dir_modes: Vec::new() }
    }

    pub fn finish(mut self) -> Result<Stats> {
        self.dir_modes.sort_by_key(|(path, _)| std::cmp::Reverse(path.components().count()));
        for (path, mode) in &self.dir_modes {
            fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o777))
                .with_context(|| format!("setting the mode of {}", path.display()))?;
        }
        Ok(self.stats)
    }

    /// The checked destination of entry `name`, its parent folders created;
    /// `None` for the archive's root itself (`./`).
    fn place(&mut self, name: &[u8]) -> Result<Option<PathBuf>> {
        self.stats.entries += 1;
        if self.stats.entries > MAX_ENTRIES {
            bail!("more than {MAX_ENTRIES} entries: refusing to unpack further");
        }
        self.walk(name, true)
    }

    /// Checks `name` and every folder on its way: no absolute path, no
    /// `..`, no symbolic link (created by an earlier entry) to pass through.
    /// Missing folders are created when `create`, else refused.
    fn walk(&self, name: &[u8], create: bool) -> Result<Option<PathBuf>> {
        let shown = String::from_utf8_lossy(name);
        if name.first() == Some(&b'/') {
            bail!("entry `{shown}` has an absolute path; a package must not write outside its folder");
        }
        if name.contains(&0) {
            bail!("entry `{shown}` has a NUL byte in its name");
        }
        let mut parts: Vec<&[u8]> = Vec::new();
        for part in name.split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => bail!("entry `{shown}` contains `..`; a package must not write outside its folder"),
                part => parts.push(part),
            }
        }
        let Some((last, parents)) = parts.split_last() else { return Ok(None) };
        let mut path = self.root.clone();
        for part in parents {
            path.push(OsStr::from_bytes(part));
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => bail!(
                    "entry `{shown}` would go through the symbolic link `{}`; refusing",
                    path.strip_prefix(&self.root).unwrap_or(&path).display()
                ),
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => bail!("entry `{shown}` needs `{}` to be a folder, but it is a file", path.display()),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?
                }
                Err(e) => return Err(e).with_context(|| format!("entry `{shown}`: {}", path.display())),
            }
        }
        path.push(OsStr::from_bytes(last));
        Ok(Some(path))
    }

    /// Removes what an earlier entry of the same name left (a later entry
    /// wins, as with tar); a folder is not replaced by a non-folder.
    fn clear(path: &Path, shown: &str) -> Result<()> {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => bail!("entry `{shown}` would replace a folder"),
            Ok(_) => fs::remove_file(path).with_context(|| format!("replacing {}", path.display())),
            Err(_) => Ok(()),
        }
    }

    pub fn dir(&mut self, name: &[u8], mode: u32) -> Result<()> {
        let Some(path) = self.place(name)? else { return Ok(()) };
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => bail!("folder entry `{}` would replace a file or link", String::from_utf8_lossy(name)),
            Err(_) => fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?,
        }
        self.dir_modes.push((path, mode));
        Ok(())
    }

    /// Writes file entry `name`; `declared` is the size its header gives.
    /// Refused before anything is written when the declared size does not
    /// fit the cap, and cut off at the cap (the part removed) if the data
    /// runs on past what was declared.
    pub fn file(&mut self, name: &[u8], mode: u32, declared: Option<u64>, data: &mut dyn Read) -> Result<()> {
        let shown = String::from_utf8_lossy(name).into_owned();
        let budget = self.cap - self.stats.bytes;
        if let Some(declared) = declared
            && declared > budget
        {
            bail!(
                "entry `{shown}` declares {declared} bytes, but only {budget} of the package's {} bytes \
                 (at most {MAX_RATIO}× its size) are left: refusing a compression bomb before writing it",
                self.cap
            );
        }
        let Some(path) = self.place(name)? else { bail!("a file entry has an empty name") };
        Tree::clear(&path, &shown)?;
        // create_new: never opens (and so never follows) anything already there.
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let written = io::copy(&mut data.take(budget), &mut out)
            .with_context(|| format!("writing entry `{shown}` (is the package complete?)"))?;
        self.stats.bytes += written;
        if written == budget && data.read(&mut [0u8; 1]).is_ok_and(|n| n > 0) {
            drop(out);
            let _ = fs::remove_file(&path);
            self.stats.bytes -= written;
            bail!(
                "entry `{shown}` runs past the package's cap of {} bytes (at most {MAX_RATIO}× its size): refusing",
                self.cap
            );
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o777))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
        Ok(())
    }

    pub fn symlink(&mut self, name: &[u8], target: &[u8]) -> Result<()> {
        let shown = String::from_utf8_lossy(name).into_owned();
        let Some(path) = self.place(name)? else { bail!("a link entry has an empty name") };
        if target.is_empty() || target.contains(&0) {
            bail!("symbolic link `{shown}` has an empty or invalid target");
        }
        Tree::clear(&path, &shown)?;
        // The link itself may point anywhere (`../lib/x`, `/usr/bin/x`):
        // nothing is ever written through it (see `place`), and the backend
        // and shell paths are checked to stay inside the package.
        std::os::unix::fs::symlink(OsStr::from_bytes(target), &path)
            .with_context(|| format!("creating the link {}", path.display()))
    }

    pub fn hard_link(&mut self, name: &[u8], target: &[u8]) -> Result<()> {
        let shown = String::from_utf8_lossy(name).into_owned();
        let Some(source) = self.walk(target, false)? else { bail!("hard link `{shown}` points at the archive's root") };
        let Some(path) = self.place(name)? else { bail!("a hard-link entry has an empty name") };
        match fs::symlink_metadata(&source) {
            Ok(meta) if meta.is_file() => {}
            _ => bail!(
                "hard link `{shown}` points at `{}`, which is not a file unpacked earlier",
                String::from_utf8_lossy(target)
            ),
        }
        Tree::clear(&path, &shown)?;
        fs::hard_link(&source, &path).with_context(|| format!("linking {}", path.display()))
    }
}

/// The single folder at the root of an unpacked portable tree, which must
/// hold nothing else.
pub fn top_folder(root: &Path) -> Result<PathBuf> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(root).with_context(|| format!("listing {}", root.display()))? {
        entries.push(entry?.path());
    }
    match entries.as_slice() {
        [one] if fs::symlink_metadata(one)?.is_dir() => Ok(one.clone()),
        [] => bail!("the tarball is empty"),
        _ => bail!(
            "the tarball must hold one top-level folder, but its root holds {}",
            entries
                .iter()
                .map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The single `<Name>.app` folder at the root of an unpacked macOS tarball.
pub fn app_bundle(root: &Path) -> Result<PathBuf> {
    let mut apps = Vec::new();
    for entry in fs::read_dir(root).with_context(|| format!("listing {}", root.display()))? {
        let path = entry?.path();
        if path.extension() == Some(OsStr::new("app")) && path.is_dir() {
            apps.push(path);
        }
    }
    match apps.len() {
        1 => Ok(apps.remove(0)),
        0 => bail!("the tarball holds no `.app` folder at its root"),
        _ => bail!("the tarball holds {} `.app` folders; expected one", apps.len()),
    }
}
