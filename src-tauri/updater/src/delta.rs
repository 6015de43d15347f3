//! Assembling an update's tree from the files the install already has and
//! the objects of the file store (the format is [`signing::tree`]).
//!
//! [`Updater::fetch_tree`] (when an update is offered) and the install's
//! [`assemble_from`] (when the user restarts) take an offer whose signed
//! platform entry names a tree manifest and:
//!
//! 1. fetches the tree manifest (`<endpoint>/store/trees/<sha256>.json`),
//!    at most the size the signed entry gives, and refuses it unless its
//!    SHA-256 and size are that entry's (which binds it to this platform),
//!    its version the offer's, and every rule of the schema holds (paths,
//!    links, modes);
//! 2. hashes the local files whose size some wanted file has — their names
//!    are never trusted: a file is reused only for its bytes;
//! 3. fetches each missing object once (`<endpoint>/store/sha256/ab/….zst`),
//!    at most its stored size, decompressed to at most its size, and keeps
//!    it in `updates/objects/` under its SHA-256 only once the bytes hash to
//!    it — an object already there from an interrupted attempt is hashed
//!    again and reused, so an interrupted fetch resumes object by object;
//! 4. at the install, under the same journal as an unpack, hashes the local
//!    files again and builds the tree in a folder that must not exist yet
//!    (the install's staging folder), copying every file — never a hard link into the live
//!    install, whose files a later write could change — and hashing each
//!    copy as it is written;
//! 5. walks the built tree and checks it is exactly the manifest: every
//!    path, kind, executable bit, size, SHA-256 and link target, and nothing
//!    else, and resolves its links on the disk as an unpack does.
//!
//! Any failure leaves no staged folder behind. A failed fetch is answered
//! by the session with the full artifact (the reason logged) and its
//! objects removed ([`Updater::discard_fetched`]); a fetch the process did
//! not survive keeps them for the next one, and anything else in
//! `updates/objects/` is removed when a fetch starts.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use signing::tree::{self, Node, Object, TreeManifest};

use std::sync::Arc;

use crate::Updater;
use crate::check::Update;
use crate::download::Downloaded;
use crate::error::{IoContext, Result, UpdateError};
use crate::fsx;
use crate::http::Deadline;
use crate::unpack::UnpackLimits;

/// How long fetching the tree manifest may take.
const TREE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);
/// Folders deep the local install is searched for reusable files.
const MAX_LOCAL_DEPTH: usize = 64;

/// What [`Updater::assemble`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assembled {
    /// Bytes downloaded: the tree manifest and the objects fetched now.
    pub downloaded: u64,
    /// Objects fetched now, and objects found whole from an earlier attempt.
    pub fetched: usize,
    pub resumed: usize,
    /// Files whose bytes came from the install.
    pub reused: usize,
    /// Files of the tree, and their bytes.
    pub files: usize,
    pub tree_bytes: u64,
    /// What the full artifact would have downloaded.
    pub full_size: u64,
}

impl Updater {
    /// Fetches what `update`'s tree needs beyond the files of `install`:
    /// the tree manifest (kept in `updates/` beside the objects) and every
    /// missing object. The install later builds the tree from them
    /// ([`assemble_from`]). Refused when the offer names no tree manifest.
    pub fn fetch_tree(
        &self,
        update: &Update,
        install: &Path,
        limits: UnpackLimits,
        progress: &mut dyn FnMut(crate::Progress),
    ) -> Result<(Downloaded, Assembled)> {
        let reference = update.offer.artifact.tree.as_ref().ok_or_else(|| delta("the offer names no tree manifest"))?;
        let mut report = Assembled { full_size: update.offer.artifact.size, ..Assembled::default() };

        // 1. The tree manifest, bound to the signed entry.
        let url = self.config.endpoint.store_file(&tree::tree_path(&reference.sha256));
        let capped = self.http.get_capped(
            &url,
            reference.size as usize,
            Deadline::after(TREE_DEADLINE.min(self.limits.check_deadline)),
        )?;
        let manifest = TreeManifest::from_json_bound(&capped.body, reference)
            .map_err(|e| delta(format!("{}: {e}", crate::http::shown_url(&url))))?;
        report.downloaded += capped.body.len() as u64;
        // The signed entry of this platform names it by hash, which binds
        // it to the platform; its own label is the artifact's first key
        // (an `.app` is offered under `darwin-aarch64` and `…-app`).
        if manifest.version != update.version {
            return Err(delta(format!(
                "the tree manifest is for {}, the offer is {}",
                manifest.version, update.version
            )));
        }
        check_limits(&manifest, limits)?;
        let files: Vec<(&str, Object)> = manifest.files().collect();
        report.files = files.len();
        report.tree_bytes = manifest.file_bytes();

        // 2. What the install already has, by content.
        let local = local_contents(install, &files, limits)?;
        let plan = manifest.plan(&local.keys().cloned().collect());
        report.reused = plan.reuse.len();

        // 3. The missing objects; anything else in the folder (an earlier
        // offer's objects, a killed fetch's temporary file) goes.
        let objects = objects_dir(self);
        // A real folder of ours: a planted link would send the objects, and
        // the clean-up below, elsewhere.
        if !fs::symlink_metadata(&objects).is_ok_and(|m| m.is_dir()) {
            fsx::remove_any(&objects)?;
        }
        fs::create_dir_all(&objects).at("creating the folder", &objects)?;
        let wanted: BTreeSet<&str> = plan.fetch.iter().map(|o| o.sha256.as_str()).collect();
        for entry in fs::read_dir(&objects).at("reading", &objects)? {
            let entry = entry.at("reading", &objects)?;
            if !wanted.contains(entry.file_name().to_string_lossy().as_ref()) {
                fsx::remove_any(&entry.path())?;
            }
        }
        // Objects are kept decompressed: room for their files first.
        let unpacked = plan.fetch.iter().fold(0u64, |sum, o| sum.saturating_add(o.size));
        crate::space::ensure(&[crate::space::Need { dir: &objects, bytes: unpacked }])?;
        let total = plan.fetch_bytes;
        let mut done = 0u64;
        progress(crate::Progress { done, total });
        for object in &plan.fetch {
            let path = objects.join(&object.sha256);
            if holds(&path, object) {
                report.resumed += 1;
            } else {
                // Whatever is there under the name (a part, a planted link
                // or folder) goes before the object is written.
                fsx::remove_any(&path)?;
                let url = self.config.endpoint.store_file(&tree::object_path(&object.sha256));
                self.fetch_object(&url, object, &path)?;
                report.fetched += 1;
                report.downloaded += object.stored;
            }
            done += object.stored;
            progress(crate::Progress { done, total });
        }
        fsx::sync_dir(&objects)?;
        let kept = self.store().dir().join(format!("{}--tree.json", update.version));
        crate::fsx::write_atomic(&kept, &capped.body)?;
        let downloaded = Downloaded { path: kept, update: update.clone(), tree: Some(Arc::new(manifest)) };
        Ok((downloaded, report))
    }

    /// Removes what a failed [`Updater::fetch_tree`] kept, once the
    /// session falls back to the full artifact (an interrupted fetch that
    /// the process did not survive keeps its objects for the next one).
    pub fn discard_fetched(&self) -> Result<()> {
        fsx::remove_any(&objects_dir(self))
    }

    /// [`Updater::fetch_tree`], then the tree built in `staging` (which
    /// must not exist) as an install builds it.
    pub fn assemble(
        &self,
        update: &Update,
        install: &Path,
        staging: &Path,
        limits: UnpackLimits,
        progress: &mut dyn FnMut(crate::Progress),
    ) -> Result<Assembled> {
        let (downloaded, report) = self.fetch_tree(update, install, limits, progress)?;
        let manifest = downloaded.tree.as_ref().expect("fetch_tree keeps the tree");
        assemble_from(manifest, install, &objects_dir(self), staging, limits)?;
        forget(&downloaded.path, &objects_dir(self))?;
        Ok(report)
    }

    /// Fetches one object, checks it on the way, and keeps it under its
    /// SHA-256 only when the bytes hash to it.
    fn fetch_object(&self, url: &str, object: &Object, path: &Path) -> Result<()> {
        let response = self.http.send(url, None, None)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(UpdateError::Fetch {
                url: crate::http::shown_url(url),
                detail: format!("the server answered HTTP {}", response.status()),
            });
        }
        if let Some(declared) = response.content_length()
            && declared != object.stored
        {
            return Err(delta(format!(
                "{} is {declared} bytes, the tree manifest gives {}",
                crate::http::shown_url(url),
                object.stored
            )));
        }
        let dir = fsx::parent(path);
        let mut tmp = tempfile::Builder::new().prefix(".object-").tempfile_in(dir).at("creating a file in", dir)?;
        let body = crate::download::Floor::new(response, self.limits);
        let mut counted = Counted { inner: body.take(object.stored.saturating_add(1)), count: 0 };
        // The frame header first: the decoder reserves the window it
        // declares, so a server's few bytes could ask for 100 MiB. A frame
        // of this object needs no window larger than the file.
        let mut header = Vec::new();
        let frame = ruzstd::frame::read_frame_header(Recorded { inner: &mut counted, seen: &mut header })
            .map_err(|e| delta(format!("{}: not a zstd object ({e})", crate::http::shown_url(url))))?;
        let window = frame.0.header.window_size().unwrap_or(u64::MAX);
        if window > object.size.max(MIN_WINDOW) {
            return Err(delta(format!(
                "{} declares a {window}-byte window for a {}-byte file",
                crate::http::shown_url(url),
                object.size
            )));
        }
        // The decoder reads bytes nothing has authenticated yet (the hash is
        // checked after): a panic inside it on a crafted frame becomes this
        // object's failure — the full download follows — not the end of
        // the updates thread.
        let contained =
            |what: &str| delta(format!("{}: the zstd decoder failed on {what}", crate::http::shown_url(url)));
        let mut decoder = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ruzstd::streaming_decoder::StreamingDecoder::new(io::Cursor::new(header).chain(counted))
        }))
        .map_err(|_| contained("its frame"))?
        .map_err(|e| delta(format!("{}: not a zstd object ({e})", crate::http::shown_url(url))))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buffer = vec![0u8; 64 << 10];
        loop {
            let n = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decoder.read(&mut buffer))) {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(delta(format!("{}: {e}", crate::http::shown_url(url)))),
                Err(_) => return Err(contained("its data")),
            };
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > object.size {
                return Err(delta(format!(
                    "{} decompresses to more than the {} bytes the tree manifest gives",
                    crate::http::shown_url(url),
                    object.size
                )));
            }
            hasher.update(&buffer[..n]);
            tmp.write_all(&buffer[..n]).at("writing", tmp.path())?;
        }
        let read = decoder.get_ref().get_ref().1.count;
        let sha256 = hex::encode(hasher.finalize());
        if read != object.stored || size != object.size || sha256 != object.sha256 {
            return Err(delta(format!(
                "{} is not the object the tree manifest names ({read} bytes stored, {size} bytes with SHA-256 {sha256}; \
                 expected {} stored, {} bytes with SHA-256 {})",
                crate::http::shown_url(url),
                object.stored,
                object.size,
                object.sha256
            )));
        }
        tmp.as_file().sync_all().at("flushing", tmp.path())?;
        tmp.persist(path).map_err(|e| e.error).at("keeping the object as", path)?;
        Ok(())
    }
}

/// Where fetched objects wait for the install: `updates/objects/`.
pub(crate) fn objects_dir(updater: &Updater) -> PathBuf {
    updater.store().dir().join("objects")
}

/// After a swap: the kept tree manifest and the objects are in the tree.
pub(crate) fn forget(kept: &Path, objects: &Path) -> Result<()> {
    fsx::remove_any(kept)?;
    fsx::remove_any(objects)
}

fn check_limits(manifest: &TreeManifest, limits: UnpackLimits) -> Result<()> {
    let bytes = manifest.file_bytes();
    if manifest.entries.len() as u64 > limits.max_entries || bytes > limits.max_bytes {
        return Err(delta(format!(
            "the tree has {} entries and {bytes} bytes, over this app's limits ({} entries, {} bytes)",
            manifest.entries.len(),
            limits.max_entries,
            limits.max_bytes
        )));
    }
    Ok(())
}

/// What unpacking the tree would write, for the space check.
pub(crate) fn survey(manifest: &TreeManifest) -> crate::unpack::Survey {
    crate::unpack::Survey { bytes: manifest.file_bytes(), entries: manifest.entries.len() as u64 }
}

/// Builds `manifest`'s tree in `staging` (which must not exist) from the
/// objects in `objects` and the files of `install` (hashed again now: a
/// file changed since the fetch is not used), then checks all of it. On an
/// error `staging` does not exist afterwards.
pub(crate) fn assemble_from(
    manifest: &TreeManifest,
    install: &Path,
    objects: &Path,
    staging: &Path,
    limits: UnpackLimits,
) -> Result<()> {
    check_limits(manifest, limits)?;
    let files: Vec<(&str, Object)> = manifest.files().collect();
    let local = local_contents(install, &files, limits)?;
    let source = |sha256: &str| -> Option<PathBuf> {
        let fetched = objects.join(sha256);
        if fsx::exists(&fetched) { Some(fetched) } else { local.get(sha256).cloned() }
    };
    if let Err(error) = build(manifest, staging, &source).and_then(|()| check_built(manifest, staging)) {
        fsx::remove_any(staging)?;
        return Err(error);
    }
    fsx::sync_dir(fsx::parent(staging))
}

fn delta(detail: impl Into<String>) -> UpdateError {
    UpdateError::Delta { detail: detail.into() }
}

/// A window an object's frame may declare whatever its file's size (an
/// encoder may round a small input's window up); above it, no larger than
/// the file.
const MIN_WINDOW: u64 = 1 << 20;

/// Passes bytes on and keeps a copy (the frame header, read twice).
struct Recorded<'a, R> {
    inner: &'a mut R,
    seen: &'a mut Vec<u8>,
}

impl<R: Read> Read for Recorded<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.seen.extend_from_slice(&buffer[..n]);
        Ok(n)
    }
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Whether `path` is a regular file of `object`'s size and SHA-256.
fn holds(path: &Path, object: &Object) -> bool {
    let Ok(file) = fsx::open_regular(path) else { return false };
    matches!(hash_file(file, object.size), Ok((size, sha256)) if size == object.size && sha256 == object.sha256)
}

/// SHA-256 and length of at most `cap + 1` bytes of `file`.
fn hash_file(file: File, cap: u64) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let size = io::copy(&mut file.take(cap.saturating_add(1)), &mut HashWriter(&mut hasher))?;
    Ok((size, hex::encode(hasher.finalize())))
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        self.0.update(buffer);
        Ok(buffer.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The regular files under `install` whose bytes some file of the tree
/// wants, by SHA-256. Only files of a wanted size are hashed; symbolic
/// links are never followed; the walk is bounded like an unpack.
fn local_contents(install: &Path, files: &[(&str, Object)], limits: UnpackLimits) -> Result<BTreeMap<String, PathBuf>> {
    let wanted: BTreeSet<&str> = files.iter().map(|(_, o)| o.sha256.as_str()).collect();
    let sizes: BTreeSet<u64> = files.iter().map(|(_, o)| o.size).filter(|s| *s > 0).collect();
    let mut found = BTreeMap::new();
    let mut seen = 0u64;
    let mut stack = vec![(install.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries {
            let entry = entry.at("reading", &dir)?;
            seen += 1;
            if seen > limits.max_entries {
                return Ok(found);
            }
            let Ok(kind) = entry.file_type() else { continue };
            let path = entry.path();
            if kind.is_dir() && depth < MAX_LOCAL_DEPTH {
                stack.push((path, depth + 1));
            } else if kind.is_file() {
                let Ok(meta) = entry.metadata() else { continue };
                if !sizes.contains(&meta.len()) {
                    continue;
                }
                let Ok(file) = fsx::open_regular(&path) else { continue };
                let Ok((size, sha256)) = hash_file(file, meta.len()) else { continue };
                if size == meta.len() && wanted.contains(sha256.as_str()) {
                    found.entry(sha256).or_insert(path);
                }
            }
        }
    }
    Ok(found)
}

/// Writes the tree into `staging` (which must not exist), in the
/// manifest's order (a folder before what it holds).
fn build(manifest: &TreeManifest, staging: &Path, source: &dyn Fn(&str) -> Option<PathBuf>) -> Result<()> {
    fs::create_dir(staging).at("creating the staging folder", staging)?;
    for entry in &manifest.entries {
        let target = staging.join(&entry.path);
        match &entry.node {
            Node::Dir { .. } => fs::create_dir(&target).at("creating", &target)?,
            Node::File { mode, size, sha256, .. } => {
                let mut out = crate::unpack::create_file(&target, *mode).at("creating", &target)?;
                if *size == 0 {
                    continue;
                }
                let from = source(sha256).ok_or_else(|| delta(format!("no bytes for {}", entry.path)))?;
                let input = fsx::open_regular(&from).at("opening", &from)?;
                let mut hasher = Sha256::new();
                let mut tee = Tee { out: &mut out, hasher: &mut hasher };
                let copied = io::copy(&mut input.take(size.saturating_add(1)), &mut tee).at("copying into", &target)?;
                let got = hex::encode(hasher.finalize());
                if copied != *size || got != *sha256 {
                    return Err(delta(format!(
                        "{} changed since it was checked ({copied} bytes with SHA-256 {got}, not {size} with {sha256})",
                        from.display()
                    )));
                }
                out.sync_all().at("flushing", &target)?;
            }
            Node::Symlink { target: link } => symlink(link, &target)?,
        }
    }
    Ok(())
}

struct Tee<'a> {
    out: &'a mut File,
    hasher: &'a mut Sha256,
}

impl Write for Tee<'_> {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buffer)?;
        self.hasher.update(&buffer[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(unix)]
fn symlink(link: &str, at: &Path) -> Result<()> {
    std::os::unix::fs::symlink(link, at).at("creating the link", at)
}

#[cfg(not(unix))]
fn symlink(_link: &str, at: &Path) -> Result<()> {
    Err(delta(format!("{} is a symbolic link, which trees are not assembled with here", at.display())))
}

/// Checks that `staging` holds exactly the manifest's tree: every entry
/// with its kind, executable bit, size, SHA-256 or link target, read back
/// from the disk, and nothing more.
fn check_built(manifest: &TreeManifest, staging: &Path) -> Result<()> {
    let mut listed = BTreeSet::new();
    for entry in &manifest.entries {
        listed.insert(PathBuf::from(&entry.path));
        let path = staging.join(&entry.path);
        let meta = fs::symlink_metadata(&path).at("checking", &path)?;
        let wrong = |what: String| Err(delta(format!("the assembled {} {what}", entry.path)));
        match &entry.node {
            Node::Dir { .. } if !meta.is_dir() => return wrong("is not a folder".into()),
            Node::Dir { .. } => {}
            Node::Symlink { target } => match fs::read_link(&path) {
                Ok(found) if meta.file_type().is_symlink() && found == Path::new(target) => {}
                _ => return wrong(format!("is not a link to {target}")),
            },
            Node::File { mode, size, sha256, .. } => {
                if !meta.is_file() {
                    return wrong("is not a file".into());
                }
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    if (meta.permissions().mode() & 0o111 != 0) != (mode & 0o111 != 0) {
                        return wrong("has the wrong executable bit".into());
                    }
                }
                #[cfg(not(unix))]
                let _ = mode;
                let (got_size, got) =
                    hash_file(fsx::open_regular(&path).at("opening", &path)?, *size).at("reading", &path)?;
                if got_size != *size || got != *sha256 {
                    return wrong(format!("is {got_size} bytes with SHA-256 {got}, not {size} with {sha256}"));
                }
            }
        }
    }
    // The links resolved on the disk, as an unpack checks them: a
    // case-insensitive file system can make a link that the manifest's own
    // check read as staying inside lead elsewhere.
    crate::unpack::check_tree_links(staging).map_err(|why| delta(format!("the assembled tree: {why}")))?;
    let mut stack = vec![staging.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).at("reading", &dir)? {
            let path = entry.at("reading", &dir)?.path();
            let relative = path.strip_prefix(staging).expect("below the staging folder").to_path_buf();
            if !listed.contains(&relative) {
                return Err(delta(format!(
                    "the assembled tree holds {}, which the manifest does not list",
                    relative.display()
                )));
            }
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                stack.push(path);
            }
        }
    }
    Ok(())
}
