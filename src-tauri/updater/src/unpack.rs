//! Bounded unpacking of a folder-swap artifact (`.tar.gz`) into a staging
//! folder.
//!
//! The archive holds one top-level folder — the tree (`Hudson.app/…` in
//! Tauri's `.app.tar.gz`; `dist` writes the Linux portable tree the same way)
//! — and that folder's content becomes the staging folder.
//!
//! The artifact is verified before it gets here, but unpacking is still
//! bounded, so a signing mistake (or a stolen key) cannot write outside the
//! staging folder, fill the disk or exhaust memory:
//!
//! - **Headers before data.** Entries are read raw: GNU long names and long
//!   links and PAX records are extension headers whose declared size is
//!   checked against [`MAX_NAME_BYTES`] / [`MAX_PAX_BYTES`] before a byte of
//!   them is read, so a small archive declaring a multi-gigabyte name is
//!   refused at once. PAX records that would change how the stream is read
//!   (`size`, sparse files) are refused.
//! - **Paths.** No absolute paths or `..`; one top-level folder; nothing is
//!   written through a symlink (a parent that is a symlink is refused, files
//!   are created new).
//! - **Symlinks** are resolved against the staged tree once it is complete,
//!   following chains of links inside it (a `..` after a link climbs from the
//!   link's target, not its text), and any that leaves the tree is refused.
//! - **Kinds.** Only files, folders and symlinks: no hard links, devices,
//!   FIFOs or sparse files.
//! - **Sizes.** A cap on the bytes written, counted as they are written, and
//!   on the number of entries — the folders an entry's path makes without an
//!   entry of their own included, so 300 deep paths cannot make 30 000
//!   folders under a 1 000-entry cap. [`survey`] reads every header first so
//!   the caller can check free space before anything is written.
//! - Entry names in messages are shortened ([`shown`]).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::{IoContext, Result, UpdateError};
use crate::fsx;

/// The longest path or link target an entry may have: Linux's `PATH_MAX`.
pub const MAX_NAME_BYTES: u64 = 4096;
/// The largest PAX extension record set for one entry.
pub const MAX_PAX_BYTES: u64 = 64 << 10;
/// Links followed while resolving one symlink (Linux's `MAXSYMLINKS`).
const MAX_LINK_HOPS: usize = 40;
/// Folders deep an entry may sit (a real tree is a dozen deep).
const MAX_DEPTH: usize = 128;
/// The folder paths one unpack remembers, in bytes: a real tree's take
/// well under a megabyte.
const MAX_FOLDER_PATH_BYTES: usize = 64 << 20;
/// Path steps all symlink resolutions of one tree may take together: a
/// few per link in a real tree, so chains cannot make checking quadratic.
const LINK_STEP_BUDGET: usize = 4_000_000;
/// Longest entry name shown in a message.
const SHOWN_CHARS: usize = 120;

/// Caps on what an archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for UnpackLimits {
    /// 4 GiB and 200 000 entries: a BEAM release with its ERTS is ~100 MB
    /// and ~5 000 files.
    fn default() -> Self {
        UnpackLimits { max_bytes: 4 << 30, max_entries: 200_000 }
    }
}

/// Creates a new file of a staged tree (never an existing one, never
/// through a link): executable bits survive, set-id and world-write never
/// do — 0755 or 0644, as every staged file is written.
pub(crate) fn create_file(path: &Path, mode: u32) -> io::Result<fs::File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if mode & 0o111 != 0 { 0o755 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// What an archive unpacks to, from its headers alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Survey {
    pub bytes: u64,
    pub entries: u64,
}

impl Survey {
    /// Disk space the tree takes: each file rounded up to 4 KiB blocks,
    /// plus a block per entry for folders, links and inodes.
    pub(crate) fn disk_bytes(&self) -> u64 {
        self.bytes + self.entries * 8192
    }
}

/// One entry of the tree, its extension headers applied.
enum Kind {
    Dir,
    File { mode: u32, size: u64 },
    Symlink(PathBuf),
}

/// Reads every header of `archive` (within `limits`), writing nothing: the
/// tree's size for the free-space check, and any refusal before the
/// install is touched.
pub(crate) fn survey(archive: &Path, limits: UnpackLimits) -> Result<Survey> {
    let mut survey = Survey::default();
    let mut declared = 0u64;
    // Folders counted so far, by a hash with this run's random keys: a
    // collision (which no archive can aim for) only undercounts one folder.
    let keys = std::hash::RandomState::new();
    let mut folders = std::collections::HashSet::new();
    walk(archive, limits, |relative, _, kind, _| {
        let own = matches!(kind, Kind::Dir).then_some(relative);
        if own.is_none() {
            survey.entries += 1;
        }
        // Deepest first: a folder already counted had its parents counted.
        for folder in own.into_iter().chain(relative.ancestors().skip(1)).filter(|f| !f.as_os_str().is_empty()) {
            if !folders.insert(std::hash::BuildHasher::hash_one(&keys, folder)) {
                break;
            }
            survey.entries += 1;
        }
        within_entry_cap(survey.entries, limits)?;
        if let Kind::File { size, .. } = kind {
            declared = declared.saturating_add(*size);
            if declared > limits.max_bytes {
                return Err(format!("it unpacks to more than {} bytes", limits.max_bytes));
            }
            survey.bytes += size.div_ceil(4096) * 4096;
        }
        Ok(())
    })?;
    Ok(survey)
}

/// Unpacks `archive` into `staging`, which must not exist yet.
pub(crate) fn unpack_tar_gz(archive: &Path, staging: &Path, limits: UnpackLimits) -> Result<()> {
    let fail = |detail: String| UpdateError::Unpack { archive: archive.to_path_buf(), detail };
    fs::create_dir(staging).at("creating the staging folder", staging)?;
    let mut written = 0u64;
    let mut known = Folders::default();
    let mut others = 0u64;
    walk(archive, limits, |relative, name, kind, data| {
        let target = staging.join(relative);
        ensure_dirs(staging, fsx::parent(&target), &mut known).map_err(|why| format!("entry {name}: {why}"))?;
        if !matches!(kind, Kind::Dir) {
            others += 1;
        }
        let made = match kind {
            Kind::Dir => ensure_dirs(staging, &target, &mut known).map_err(|why| format!("entry {name}: {why}")),
            Kind::File { mode, .. } => {
                let mut out = create_file(&target, *mode)
                    .map_err(|e| format!("entry {name}: cannot create it ({e}); a duplicate entry?"))?;
                let mut buffer = vec![0u8; 64 << 10];
                loop {
                    let n = data.read(&mut buffer).map_err(|e| format!("entry {name}: {e}"))?;
                    if n == 0 {
                        break;
                    }
                    written += n as u64;
                    if written > limits.max_bytes {
                        return Err(format!("it unpacks to more than {} bytes", limits.max_bytes));
                    }
                    out.write_all(&buffer[..n]).map_err(|e| Written(relative.to_path_buf(), e).to_string())?;
                }
                out.sync_all().map_err(|e| Written(relative.to_path_buf(), e).to_string())
            }
            Kind::Symlink(link) => {
                check_link_text(relative, link).map_err(|why| format!("entry {name}: {why}"))?;
                make_symlink(link, &target).map_err(|e| format!("entry {name}: cannot create the symlink ({e})"))
            }
        };
        made?;
        within_entry_cap(others + known.set.len() as u64, limits)
    })?;
    check_tree_links(staging).map_err(fail)?;
    fsx::sync_dir(staging)
}

/// The entry cap, for the survey and the unpack alike: `made` counts the
/// entries and every folder an entry's path makes, each once.
fn within_entry_cap(made: u64, limits: UnpackLimits) -> Result<(), String> {
    if made > limits.max_entries {
        return Err(format!("it makes more than {} entries, its folders included", limits.max_entries));
    }
    Ok(())
}

/// An I/O error while writing a staged file, in words.
struct Written(PathBuf, io::Error);

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = shown(self.0.as_os_str().as_encoded_bytes());
        if crate::space::is_full(&self.1) {
            write!(f, "the disk filled up writing {name}")
        } else {
            write!(f, "writing {name}: {}", self.1)
        }
    }
}

/// Extension headers seen for the next entry.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_link: Option<Vec<u8>>,
}

/// Calls `each(relative path, shown name, kind, data)` for every entry but
/// the top folder, in archive order, with extension headers applied and
/// every bound checked before anything is read or allocated.
fn walk(
    archive: &Path,
    limits: UnpackLimits,
    mut each: impl FnMut(&Path, &str, &Kind, &mut dyn Read) -> Result<(), String>,
) -> Result<()> {
    let fail = |detail: String| UpdateError::Unpack { archive: archive.to_path_buf(), detail };
    let file = fsx::open_regular(archive).at("opening", archive)?;
    let mut tar = tar::Archive::new(GzDecoder::new(io::BufReader::new(file)));
    let mut top: Option<OsString> = None;
    let mut entries = 0u64;
    let mut pending = Pending::default();
    for entry in tar.entries().map_err(|e| fail(e.to_string()))?.raw(true) {
        let mut entry = entry.map_err(|e| fail(e.to_string()))?;
        entries += 1;
        if entries > limits.max_entries {
            return Err(fail(format!("it has more than {} entries", limits.max_entries)));
        }
        let header = entry.header().clone();
        let kind = header.entry_type();
        let declared = header.entry_size().map_err(|e| fail(format!("a header's size is unreadable: {e}")))?;
        match kind {
            tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {
                let what = if kind == tar::EntryType::GNULongName { "long name" } else { "long link" };
                let bytes = read_bounded(&mut entry, declared, MAX_NAME_BYTES, what).map_err(fail)?;
                let slot =
                    if kind == tar::EntryType::GNULongName { &mut pending.long_name } else { &mut pending.long_link };
                if slot.replace(trim_nuls(bytes)).is_some() {
                    return Err(fail(format!("two {what} headers for one entry")));
                }
                continue;
            }
            tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => {
                let bytes = read_bounded(&mut entry, declared, MAX_PAX_BYTES, "PAX record").map_err(fail)?;
                let global = kind == tar::EntryType::XGlobalHeader;
                apply_pax(&bytes, global, &mut pending).map_err(fail)?;
                continue;
            }
            _ => {}
        }
        let pending = std::mem::take(&mut pending);
        let raw_name = pending.pax_path.or(pending.long_name).unwrap_or_else(|| header.path_bytes().into_owned());
        let name = shown(&raw_name);
        let relative =
            split_top(&bytes_to_path(&raw_name), &mut top).map_err(|why| fail(format!("entry {name}: {why}")))?;
        let Some(relative) = relative else { continue };
        if relative.components().count() > MAX_DEPTH {
            return Err(fail(format!("entry {name} is more than {MAX_DEPTH} folders deep")));
        }
        if declared > 0 && !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
            return Err(fail(format!("entry {name} is a {kind:?} that declares {declared} bytes of data")));
        }
        let kind = match kind {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                Kind::File { mode: header.mode().unwrap_or(0o644), size: declared }
            }
            tar::EntryType::Symlink => {
                let link = pending
                    .pax_link
                    .or(pending.long_link)
                    .or_else(|| header.link_name_bytes().map(|b| b.into_owned()))
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| fail(format!("entry {name}: a symlink without a target")))?;
                Kind::Symlink(bytes_to_path(&link))
            }
            other => {
                return Err(fail(format!(
                    "entry {name} is a {other:?}: only files, folders and symlinks inside the tree are allowed"
                )));
            }
        };
        each(&relative, &name, &kind, &mut entry).map_err(fail)?;
    }
    if pending.long_name.is_some() || pending.long_link.is_some() || pending.pax_path.is_some() {
        return Err(fail("it ends with an extension header that describes no entry".to_owned()));
    }
    if top.is_none() {
        return Err(fail("it is empty".to_owned()));
    }
    Ok(())
}

/// The data of an extension header, refused unread past `cap`.
fn read_bounded(entry: &mut impl Read, declared: u64, cap: u64, what: &str) -> Result<Vec<u8>, String> {
    if declared > cap {
        return Err(format!("a {what} header declares {declared} bytes, over the {cap}-byte limit"));
    }
    let mut bytes = Vec::with_capacity(declared as usize);
    entry.take(declared).read_to_end(&mut bytes).map_err(|e| format!("reading a {what} header: {e}"))?;
    if bytes.len() as u64 != declared {
        return Err(format!("a {what} header is cut short"));
    }
    Ok(bytes)
}

fn trim_nuls(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    bytes
}

/// Applies a PAX record set: `path` and `linkpath` name the next entry;
/// keys that change how the stream is read are refused; the rest (times,
/// owners, comments) do not matter to an unpack that sets its own.
fn apply_pax(bytes: &[u8], global: bool, pending: &mut Pending) -> Result<(), String> {
    for record in tar::PaxExtensions::new(bytes) {
        let record = record.map_err(|e| format!("a malformed PAX record: {e}"))?;
        let key = record.key_bytes();
        let value = record.value_bytes().to_vec();
        match key {
            b"path" | b"linkpath" if global => {
                return Err("a global PAX header that names paths".to_owned());
            }
            b"path" => pending.pax_path = Some(value),
            b"linkpath" => pending.pax_link = Some(value),
            b"size" => return Err("a PAX record that overrides an entry's size".to_owned()),
            key if key.starts_with(b"GNU.sparse") => return Err("a sparse file".to_owned()),
            _ => {}
        }
    }
    Ok(())
}

fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// An entry name as a message shows it: printable (control characters and
/// bidirectional overrides replaced), at most [`SHOWN_CHARS`] characters
/// (the start and the end of a longer one).
pub(crate) fn shown(raw: &[u8]) -> String {
    shorten(raw, SHOWN_CHARS)
}

/// Longer text read from a file the app does not control (a reason in
/// `state.json`), as a message shows it: printable, at most 600 characters.
pub(crate) fn shown_long(raw: &[u8]) -> String {
    shorten(raw, 600)
}

/// Release notes as the window shows them: line breaks and tabs kept
/// (`\r\n` as `\n`), every other control character and bidirectional
/// override replaced. Their length is the manifest schema's to bound.
pub(crate) fn shown_notes(notes: &str) -> String {
    notes.replace("\r\n", "\n").chars().map(|c| if matches!(c, '\n' | '\t') { c } else { printable(c) }).collect()
}

/// `c`, or U+FFFD in place of a control character or a bidirectional
/// override.
fn printable(c: char) -> char {
    if c.is_control() || is_bidi_control(c) { '\u{FFFD}' } else { c }
}

fn shorten(raw: &[u8], max: usize) -> String {
    let text: String = String::from_utf8_lossy(raw).chars().map(printable).collect();
    let count = text.chars().count();
    if count <= max {
        return text;
    }
    let head: String = text.chars().take(max / 2).collect();
    let tail: String = text.chars().skip(count - max / 2 + 10).collect();
    format!("{head}…({count} characters)…{tail}")
}

/// The characters that reorder how text is displayed (a name that reads
/// as `exe.txt` but is `txt.exe`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Strips the archive's single top-level folder; `Ok(None)` for the top
/// folder itself.
fn split_top(raw: &Path, top: &mut Option<OsString>) -> Result<Option<PathBuf>, String> {
    let mut parts = Vec::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("`..` is not allowed".to_owned()),
            Component::RootDir | Component::Prefix(_) => return Err("absolute paths are not allowed".to_owned()),
        }
    }
    let Some((first, rest)) = parts.split_first() else { return Err("an empty path".to_owned()) };
    match top {
        Some(top) if top.as_os_str() != *first => {
            return Err(format!("a second top-level folder (the first was {})", shown(top.as_encoded_bytes())));
        }
        Some(_) => {}
        None => *top = Some(first.to_os_string()),
    }
    if rest.is_empty() {
        return Ok(None);
    }
    Ok(Some(rest.iter().collect()))
}

/// The folders one unpack already made or checked, and their paths' bytes.
#[derive(Default)]
struct Folders {
    set: std::collections::HashSet<PathBuf>,
    bytes: usize,
}

/// Creates the folders from `root` down to `dir`, refusing any component that
/// is a symlink or a file: nothing is ever written through a symlink.
/// `folders` holds the folders this unpack already made or checked (a
/// symlink can never replace one: creating it would find the name taken).
fn ensure_dirs(root: &Path, dir: &Path, folders: &mut Folders) -> Result<(), String> {
    if folders.set.contains(dir) {
        return Ok(());
    }
    let relative = dir.strip_prefix(root).map_err(|_| "outside the staging folder".to_owned())?;
    let mut at = root.to_path_buf();
    for component in relative.components() {
        at.push(component);
        if folders.set.contains(&at) {
            continue;
        }
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => return Err("it would be written through a symlink".to_owned()),
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(format!("{} is a file, not a folder", shown(at.as_os_str().as_encoded_bytes()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&at)
                .map_err(|e| format!("cannot create {}: {e}", shown(at.as_os_str().as_encoded_bytes())))?,
            Err(e) => return Err(format!("cannot inspect {}: {e}", shown(at.as_os_str().as_encoded_bytes()))),
        }
        folders.bytes += at.as_os_str().len();
        if folders.bytes > MAX_FOLDER_PATH_BYTES {
            return Err(format!("its folders' paths take more than {MAX_FOLDER_PATH_BYTES} bytes"));
        }
        folders.set.insert(at.clone());
    }
    Ok(())
}

/// A first filter on a symlink's text, before it is created: never
/// absolute, never above the tree from where it sits. Chains are judged by
/// [`check_tree_links`] once the tree is complete.
fn check_link_text(entry: &Path, link: &Path) -> Result<(), String> {
    let mut depth = entry.components().count() as i64 - 1;
    for component in link.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("symlink to {} leaves the tree", shown(link.as_os_str().as_encoded_bytes())));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("symlink to the absolute path {}", shown(link.as_os_str().as_encoded_bytes())));
            }
        }
    }
    Ok(())
}

/// Resolves every symlink of the tree at `root` against the tree itself,
/// following links inside it as the kernel would, and refuses any whose
/// resolution leaves the tree (or loops).
pub(crate) fn check_tree_links(root: &Path) -> Result<(), String> {
    let mut budget = LINK_STEP_BUDGET;
    let mut folders = vec![PathBuf::new()];
    while let Some(relative) = folders.pop() {
        let dir = root.join(&relative);
        let listed = || shown(relative.as_os_str().as_encoded_bytes());
        let entries = fs::read_dir(&dir).map_err(|e| format!("listing {}: {e}", listed()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("listing {}: {e}", listed()))?;
            let path = relative.join(entry.file_name());
            let kind = entry
                .file_type()
                .map_err(|e| format!("inspecting {}: {e}", shown(path.as_os_str().as_encoded_bytes())))?;
            if kind.is_dir() {
                folders.push(path);
            } else if kind.is_symlink() {
                resolve_inside(root, &path, &mut budget)
                    .map_err(|why| format!("symlink {}: {why}", shown(path.as_os_str().as_encoded_bytes())))?;
            }
        }
    }
    Ok(())
}

/// Follows the symlink at `root/link` component by component within
/// `root`: `Err` when a step climbs above `root`, is absolute, or the chain
/// runs past [`MAX_LINK_HOPS`]; every step spends one of `budget`.
fn resolve_inside(root: &Path, link: &Path, budget: &mut usize) -> Result<(), String> {
    let mut at: Vec<OsString> =
        fsx::parent(link).components().map(|c| c.as_os_str().to_os_string()).filter(|c| c != ".").collect();
    let first = fs::read_link(root.join(link)).map_err(|e| e.to_string())?;
    let mut rest: VecDeque<OsString> = VecDeque::new();
    push_front(&mut rest, &first)?;
    let mut hops = 1;
    // Below a component that is not a folder (a file, or nothing: the tree
    // is complete) nothing can be a link: components there are only
    // counted, never looked up, until a `..` climbs back above it. So a
    // long dangling target costs a step per component, not a path rebuilt
    // and inspected at each; the paths inspected stay as deep as the tree.
    let mut lexical_below: Option<usize> = None;
    while let Some(part) = rest.pop_front() {
        *budget = budget.checked_sub(1).ok_or_else(|| {
            format!("its links take more than {LINK_STEP_BUDGET} steps to resolve, with the tree's other links")
        })?;
        if part == ".." {
            if at.pop().is_none() {
                return Err("it resolves to a place outside the tree".to_owned());
            }
            if lexical_below.is_some_and(|depth| at.len() < depth) {
                lexical_below = None;
            }
            continue;
        }
        at.push(part);
        if lexical_below.is_some() {
            continue;
        }
        let here: PathBuf = root.join(at.iter().collect::<PathBuf>());
        match fs::symlink_metadata(&here) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(format!("more than {MAX_LINK_HOPS} links in a chain (a loop?)"));
                }
                let target = fs::read_link(&here).map_err(|e| e.to_string())?;
                at.pop();
                push_front(&mut rest, &target)?;
            }
            Ok(meta) if meta.is_dir() => {}
            // A file or nothing: lexical below it.
            _ => lexical_below = Some(at.len()),
        }
    }
    Ok(())
}

/// Puts a link's components in front of what is left to resolve.
fn push_front(rest: &mut VecDeque<OsString>, link: &Path) -> Result<(), String> {
    let mut parts = Vec::new();
    for component in link.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_os_string()),
            Component::ParentDir => parts.push(OsString::from("..")),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "a link in its chain points to the absolute path {}",
                    shown(link.as_os_str().as_encoded_bytes())
                ));
            }
        }
    }
    for part in parts.into_iter().rev() {
        rest.push_front(part);
    }
    Ok(())
}

#[cfg(unix)]
fn make_symlink(link: &Path, at: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(link, at)
}

#[cfg(not(unix))]
fn make_symlink(_link: &Path, _at: &Path) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "folder-swap archives are unpacked only on Linux and macOS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.tar.gz` of the top folder `Hudson/` and `entries` (folders
    /// when the name ends in `/`, else empty files).
    #[cfg(unix)]
    fn archive_of(dir: &Path, entries: &[String]) -> PathBuf {
        let mut builder = tar::Builder::new(Vec::new());
        for name in std::iter::once("Hudson/").chain(entries.iter().map(String::as_str)) {
            let mut header = tar::Header::new_gnu();
            header.set_path(name).unwrap();
            let kind = if name.ends_with('/') { tar::EntryType::Directory } else { tar::EntryType::Regular };
            header.set_entry_type(kind);
            header.set_size(0);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append(&header, io::empty()).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&builder.into_inner().unwrap()).unwrap();
        let path = dir.join("tree.tar.gz");
        fs::write(&path, gz.finish().unwrap()).unwrap();
        path
    }

    /// Both the survey and the unpack count the folders an entry's path
    /// makes, each once, as entries: 20 entries four folders deep, each
    /// with a file, make 100. (Folder-swap archives are unpacked on Linux
    /// and macOS only.)
    #[cfg(unix)]
    #[test]
    fn the_folders_an_entrys_path_makes_are_entries_for_the_survey_and_the_unpack() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries: Vec<String> = (0..20).map(|i| format!("Hudson/{i}/a/b/c/")).collect();
        entries.extend((0..20).map(|i| format!("Hudson/{i}/a/b/c/f")));
        entries.push("Hudson/0/a/".to_owned());
        let archive = archive_of(dir.path(), &entries);
        let fits = UnpackLimits { max_bytes: 1 << 20, max_entries: 100 };
        assert_eq!(survey(&archive, fits).unwrap().entries, 100);
        unpack_tar_gz(&archive, &dir.path().join("fits"), fits).unwrap();
        assert!(dir.path().join("fits/19/a/b/c/f").is_file());

        let tight = UnpackLimits { max_entries: 99, ..fits };
        for refused in [survey(&archive, tight).map(drop), unpack_tar_gz(&archive, &dir.path().join("tight"), tight)] {
            let text = refused.unwrap_err().to_string();
            assert!(text.contains("it makes more than 99 entries, its folders included"), "{text}");
        }
    }

    #[test]
    fn link_text_stays_inside_the_tree() {
        assert!(check_link_text(Path::new("Contents/Frameworks/A/Current"), Path::new("../B")).is_ok());
        assert!(check_link_text(Path::new("a"), Path::new("b/c")).is_ok());
        assert!(check_link_text(Path::new("a"), Path::new("../x")).is_err());
        assert!(check_link_text(Path::new("a/b"), Path::new("../../x")).is_err());
        assert!(check_link_text(Path::new("a"), Path::new("/etc/passwd")).is_err());
    }

    #[test]
    fn only_one_top_level_folder_and_no_escapes() {
        let mut top = None;
        assert_eq!(split_top(Path::new("Hudson.app/"), &mut top).unwrap(), None);
        assert_eq!(
            split_top(Path::new("./Hudson.app/Contents/x"), &mut top).unwrap(),
            Some(PathBuf::from("Contents/x"))
        );
        assert!(split_top(Path::new("Other/x"), &mut top).is_err());
        assert!(split_top(Path::new("Hudson.app/../x"), &mut top).is_err());
        assert!(split_top(Path::new("/Hudson.app/x"), &mut top).is_err());
    }

    #[test]
    fn long_names_are_shortened_in_messages() {
        let long = "a/".repeat(3000);
        let text = shown(long.as_bytes());
        assert!(text.chars().count() < 160, "{text}");
        assert!(text.contains("(6000 characters)"), "{text}");
        assert_eq!(shown(b"bin/\x1b[31mred"), "bin/\u{FFFD}[31mred");
        assert_eq!(shown("a\u{202E}txt.exe".as_bytes()), "a\u{FFFD}txt.exe");
    }

    #[cfg(unix)]
    #[test]
    fn chains_of_links_are_resolved_against_the_tree() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/file"), "x").unwrap();
        // Fine: relative links, a chain, a dangling link inside.
        symlink("a/b", root.join("ab")).unwrap();
        symlink("ab/file", root.join("via")).unwrap();
        symlink("../../ab", root.join("a/b/up")).unwrap();
        symlink("missing/..", root.join("dangling")).unwrap();
        check_tree_links(&root).unwrap();
        // Each text alone stays inside; the chain does not: `u` is the
        // tree's root, so `u/..` is its parent.
        fs::create_dir_all(root.join("a/b/c")).unwrap();
        symlink("../../..", root.join("a/b/c/u")).unwrap();
        symlink("u/..", root.join("a/b/c/esc")).unwrap();
        assert!(check_link_text(Path::new("a/b/c/u"), Path::new("../../..")).is_ok());
        assert!(check_link_text(Path::new("a/b/c/esc"), Path::new("u/..")).is_ok());
        let error = check_tree_links(&root).unwrap_err();
        assert!(error.contains("a/b/c/esc") && error.contains("outside the tree"), "{error}");
        fs::remove_file(root.join("a/b/c/esc")).unwrap();
        check_tree_links(&root).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        assert!(check_tree_links(&root).unwrap_err().contains("loop"));
    }
}
