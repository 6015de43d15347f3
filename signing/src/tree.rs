//! The tree manifest: every path of one release's installed tree for one
//! platform, with each file's SHA-256, so a client that already has most of
//! those files fetches only the others from the file store.
//!
//! # Where it lives, and what binds it
//!
//! ```text
//! release-manifests/
//!   store/sha256/ab/abcd….zst     each file's bytes, zstd-compressed, named by
//!                                 the SHA-256 of the uncompressed bytes
//!   store/trees/<sha256>.json     tree manifests, named by their own SHA-256
//!   <channel>/manifest.json       names each tree manifest's SHA-256 and size
//! ```
//!
//! A tree manifest is not signed on its own: the signed channel manifest
//! names its SHA-256 and size ([`TreeRef`], the `tree` field of a platform
//! entry), and the tree manifest names every file's SHA-256, so the channel
//! manifest's one signature covers every byte a client assembles. Both
//! files of the store are content-addressed and written once, before the
//! channel that names them, so a reader never sees a channel naming an
//! object that is not there.
//!
//! # Schema `hudson-tree-manifest/1`
//!
//! ```json
//! {
//!   "schema": "hudson-tree-manifest/1",
//!   "version": "1.2.3",
//!   "platform": "linux-x86_64",
//!   "entries": [
//!     { "path": "bin", "kind": "dir", "mode": 493 },
//!     { "path": "bin/hudson", "kind": "file", "mode": 493, "size": 5, "sha256": "…", "stored": 14 },
//!     { "path": "current", "kind": "symlink", "target": "bin" }
//!   ]
//! }
//! ```
//!
//! | field | rule |
//! | --- | --- |
//! | `path` | Relative, `/`-separated, no empty, `.` or `..` step, no `\`, `:` or control character, at most [`MAX_PATH_BYTES`]. Entries are sorted by path (bytes) with no duplicate, and every parent of an entry is listed as a `dir`. |
//! | `mode` | Permission bits only (at most `0o777`): no set-id or sticky bit. |
//! | `size`, `sha256` | The file's length and the SHA-256 of its bytes (64 lower-case hex digits). |
//! | `stored` | Length of its object in the store (`store/sha256/<first two>/<sha256>.zst`), at most [`stored_bound`] of `size`. An empty file has no object (`stored` 0). |
//! | `target` | A symlink's target: relative, and it must resolve inside the tree, following every link it passes through ([`TreeManifest::validate`]). |
//!
//! The bytes are [`TreeManifest::to_json`]: two-space pretty JSON with one
//! trailing newline, so the same tree always has the same name.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hex;
use crate::platform::PlatformKey;

/// The schema identifier of this format.
pub const TREE_MANIFEST_SCHEMA: &str = "hudson-tree-manifest/1";
/// The folder of the file store inside `release-manifests/` (a name no
/// channel may take).
pub const STORE_DIR: &str = "store";
/// The largest tree manifest a client reads: a BEAM release with its ERTS
/// is about 5 000 entries of about 150 bytes.
pub const MAX_TREE_MANIFEST_BYTES: u64 = 32 << 20;
/// The most entries a tree may have (the unpacker's own cap).
pub const MAX_TREE_ENTRIES: usize = 200_000;
/// The largest file a tree may hold (and the most all its files may hold
/// together): the updater's own unpack cap.
pub const MAX_TREE_BYTES: u64 = 4 << 30;
/// The longest path or symlink target (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;
/// Folders deep an entry may sit.
const MAX_DEPTH: usize = 128;
/// Links followed while resolving one symlink (Linux's `MAXSYMLINKS`).
const MAX_LINK_HOPS: usize = 40;
/// Path steps all symlink resolutions of one tree may take together.
const LINK_STEP_BUDGET: usize = 4_000_000;

/// The SHA-256 of no bytes: an empty file needs no object.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The largest object a file of `size` bytes may be stored as: zstd's
/// worst case (incompressible input) with room for its frame headers.
pub fn stored_bound(size: u64) -> u64 {
    size.saturating_add(size / 128).saturating_add(1024)
}

/// Where the object of `sha256` lives, relative to `release-manifests/`.
pub fn object_path(sha256: &str) -> String {
    format!("{STORE_DIR}/sha256/{}/{sha256}.zst", &sha256[..2.min(sha256.len())])
}

/// Where the tree manifest whose SHA-256 is `sha256` lives, relative to
/// `release-manifests/`.
pub fn tree_path(sha256: &str) -> String {
    format!("{STORE_DIR}/trees/{sha256}.json")
}

/// What a channel manifest's platform entry says about its tree manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeRef {
    /// SHA-256 of the tree manifest's bytes (lower-case hex).
    pub sha256: String,
    /// Its length in bytes.
    pub size: u64,
}

impl TreeRef {
    /// The reference to `json`, the bytes of a tree manifest.
    pub fn of(json: &[u8]) -> TreeRef {
        TreeRef { sha256: sha256_hex(json), size: json.len() as u64 }
    }

    pub fn validate(&self) -> Result<(), TreeError> {
        if !hex::is_lower_hex(&self.sha256, 32) {
            return Err(TreeError::invalid("tree.sha256", "must be 64 lower-case hex digits"));
        }
        if self.size == 0 || self.size > MAX_TREE_MANIFEST_BYTES {
            return Err(TreeError::invalid(
                "tree.size",
                format!("{} is outside 1..={MAX_TREE_MANIFEST_BYTES} bytes", self.size),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeManifest {
    pub schema: String,
    pub version: semver::Version,
    pub platform: PlatformKey,
    pub entries: Vec<TreeEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeEntry {
    pub path: String,
    #[serde(flatten)]
    pub node: Node,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Node {
    Dir { mode: u32 },
    File { mode: u32, size: u64, sha256: String, stored: u64 },
    Symlink { target: String },
}

/// One object a client fetches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Object {
    pub sha256: String,
    /// Uncompressed length.
    pub size: u64,
    /// Length in the store.
    pub stored: u64,
}

/// What assembling a tree needs, given the contents a client already has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Objects to fetch, each once however many paths share it, by hash.
    pub fetch: Vec<Object>,
    /// Files whose bytes the client has: path → SHA-256.
    pub reuse: BTreeMap<String, String>,
    /// Bytes of the store the fetch downloads.
    pub fetch_bytes: u64,
    /// Bytes of the tree's files (what a client writes).
    pub tree_bytes: u64,
}

impl TreeManifest {
    /// Checks every rule of the schema (see the module docs).
    pub fn validate(&self) -> Result<(), TreeError> {
        if self.schema != TREE_MANIFEST_SCHEMA {
            return Err(TreeError::Schema { found: self.schema.clone() });
        }
        if self.entries.len() > MAX_TREE_ENTRIES {
            return Err(TreeError::invalid(
                "entries",
                format!("{} entries, over the {MAX_TREE_ENTRIES} a tree may have", self.entries.len()),
            ));
        }
        let mut kinds: BTreeMap<&str, &Node> = BTreeMap::new();
        let mut previous: Option<&str> = None;
        for entry in &self.entries {
            check_path(&entry.path)?;
            if previous.is_some_and(|p| p.as_bytes() >= entry.path.as_bytes()) {
                return Err(TreeError::entry(
                    &entry.path,
                    "is out of order or listed twice (entries are sorted by path)",
                ));
            }
            previous = Some(&entry.path);
            if let Some((parent, _)) = entry.path.rsplit_once('/')
                && !matches!(kinds.get(parent), Some(Node::Dir { .. }))
            {
                return Err(TreeError::entry(&entry.path, format!("its parent {parent:?} is not listed as a folder")));
            }
            match &entry.node {
                Node::Dir { mode } => check_mode(&entry.path, *mode)?,
                Node::File { mode, size, sha256, stored } => {
                    check_mode(&entry.path, *mode)?;
                    if !hex::is_lower_hex(sha256, 32) {
                        return Err(TreeError::entry(&entry.path, "sha256 must be 64 lower-case hex digits"));
                    }
                    if (*size == 0) != (sha256 == EMPTY_SHA256) {
                        return Err(TreeError::entry(&entry.path, "size and sha256 disagree about an empty file"));
                    }
                    if *size == 0 && *stored != 0 {
                        return Err(TreeError::entry(&entry.path, "an empty file has no object (stored must be 0)"));
                    }
                    if *size > 0 && (*stored == 0 || *stored > stored_bound(*size)) {
                        return Err(TreeError::entry(
                            &entry.path,
                            format!("stored {stored} is outside 1..={} for {size} bytes", stored_bound(*size)),
                        ));
                    }
                }
                Node::Symlink { target } => check_target(&entry.path, target)?,
            }
            kinds.insert(&entry.path, &entry.node);
        }
        if self.file_bytes() > MAX_TREE_BYTES {
            return Err(TreeError::invalid("entries", format!("the files add up to more than {MAX_TREE_BYTES} bytes")));
        }
        let mut budget = LINK_STEP_BUDGET;
        for entry in &self.entries {
            if let Node::Symlink { target } = &entry.node {
                let parent = entry.path.rsplit_once('/').map_or("", |(p, _)| p);
                resolve(&kinds, parent, target, &mut budget).map_err(|why| TreeError::entry(&entry.path, why))?;
            }
        }
        Ok(())
    }

    /// The published bytes: two-space pretty JSON, one trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a TreeManifest always serialises");
        out.push(b'\n');
        out
    }

    /// Reads a tree manifest and checks it against the reference the signed
    /// channel manifest holds, then against every rule of the schema.
    pub fn from_json_bound(bytes: &[u8], bound: &TreeRef) -> Result<TreeManifest, TreeError> {
        bound.validate()?;
        if bytes.len() as u64 != bound.size || sha256_hex(bytes) != bound.sha256 {
            return Err(TreeError::NotBound {
                size: bytes.len() as u64,
                sha256: sha256_hex(bytes),
                want_size: bound.size,
                want_sha256: bound.sha256.clone(),
            });
        }
        Self::from_json(bytes)
    }

    /// Reads and validates a tree manifest (its binding is the caller's).
    pub fn from_json(bytes: &[u8]) -> Result<TreeManifest, TreeError> {
        #[derive(Deserialize)]
        struct SchemaOnly {
            schema: Option<String>,
        }
        let peek: SchemaOnly = serde_json::from_slice(bytes).map_err(TreeError::Json)?;
        if peek.schema.as_deref() != Some(TREE_MANIFEST_SCHEMA) {
            return Err(TreeError::Schema { found: peek.schema.unwrap_or_else(|| "<missing>".to_owned()) });
        }
        let manifest: TreeManifest = serde_json::from_slice(bytes).map_err(TreeError::Json)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The bytes of all the tree's files (saturating: a total past
    /// [`MAX_TREE_BYTES`] is refused by [`TreeManifest::validate`]).
    pub fn file_bytes(&self) -> u64 {
        self.files().fold(0u64, |sum, (_, o)| sum.saturating_add(o.size))
    }

    /// Every object the tree names, each once (empty files have none).
    pub fn objects(&self) -> Vec<Object> {
        let mut seen = BTreeSet::new();
        self.files().filter(|(_, o)| o.size > 0 && seen.insert(o.sha256.clone())).map(|(_, o)| o).collect()
    }

    /// Every file: path and object.
    pub fn files(&self) -> impl Iterator<Item = (&str, Object)> {
        self.entries.iter().filter_map(|e| match &e.node {
            Node::File { size, sha256, stored, .. } => {
                Some((e.path.as_str(), Object { sha256: sha256.clone(), size: *size, stored: *stored }))
            }
            _ => None,
        })
    }

    /// What to fetch when the client holds the contents in `have` (SHA-256s
    /// of local bytes it hashed itself): a file is reused by its content,
    /// whatever its path or mode was before, so renames and mode changes
    /// cost nothing and a file at several paths is fetched once.
    pub fn plan(&self, have: &BTreeSet<String>) -> Plan {
        let mut plan = Plan::default();
        let mut fetched = BTreeSet::new();
        for (path, object) in self.files() {
            plan.tree_bytes = plan.tree_bytes.saturating_add(object.size);
            if object.size == 0 || have.contains(&object.sha256) {
                plan.reuse.insert(path.to_owned(), object.sha256);
            } else if fetched.insert(object.sha256.clone()) {
                plan.fetch_bytes = plan.fetch_bytes.saturating_add(object.stored);
                plan.fetch.push(object);
            }
        }
        plan.fetch.sort();
        plan
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn check_path(path: &str) -> Result<(), TreeError> {
    if path.is_empty() || path.len() > MAX_PATH_BYTES {
        return Err(TreeError::entry(path, format!("the path must be 1 to {MAX_PATH_BYTES} bytes")));
    }
    check_name_text(path).map_err(|why| TreeError::entry(path, why))?;
    if path.starts_with('/') {
        return Err(TreeError::entry(path, "is absolute"));
    }
    let steps: Vec<&str> = path.split('/').collect();
    if steps.len() > MAX_DEPTH {
        return Err(TreeError::entry(path, format!("is more than {MAX_DEPTH} folders deep")));
    }
    if steps.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(TreeError::entry(path, "has an empty, `.` or `..` step"));
    }
    Ok(())
}

/// Characters no path or link target may hold: `\` and `:` (another
/// separator or a drive on Windows) and control characters.
fn check_name_text(text: &str) -> Result<(), String> {
    match text.chars().find(|c| *c == '\\' || *c == ':' || c.is_control()) {
        Some(c) => Err(format!("holds {c:?}")),
        None => Ok(()),
    }
}

fn check_mode(path: &str, mode: u32) -> Result<(), TreeError> {
    if mode > 0o777 {
        return Err(TreeError::entry(path, format!("mode {mode:o} has bits beyond 0o777 (set-id or sticky)")));
    }
    Ok(())
}

fn check_target(path: &str, target: &str) -> Result<(), TreeError> {
    if target.is_empty() || target.len() > MAX_PATH_BYTES {
        return Err(TreeError::entry(path, format!("the link target must be 1 to {MAX_PATH_BYTES} bytes")));
    }
    check_name_text(target).map_err(|why| TreeError::entry(path, format!("its link target {why}")))?;
    if target.starts_with('/') {
        return Err(TreeError::entry(path, format!("links to the absolute path {target:?}")));
    }
    Ok(())
}

/// Resolves `target` from the folder `from` against the tree, following
/// every link on the way (a `..` after a link climbs from where the link
/// led, as the kernel does). Refused when it climbs above the root, loops
/// or takes too many steps; a target naming nothing in the tree is allowed
/// (a dangling link cannot reach outside it).
fn resolve(kinds: &BTreeMap<&str, &Node>, from: &str, target: &str, budget: &mut usize) -> Result<(), String> {
    let mut at: Vec<String> = if from.is_empty() { Vec::new() } else { from.split('/').map(str::to_owned).collect() };
    let mut pending: Vec<String> = target.split('/').rev().map(str::to_owned).collect();
    let mut hops = 0;
    while let Some(step) = pending.pop() {
        *budget = budget.checked_sub(1).ok_or("the tree's links take too many steps to resolve")?;
        match step.as_str() {
            "" | "." => {}
            ".." => {
                if at.pop().is_none() {
                    return Err(format!("its link target {target:?} leads outside the tree"));
                }
            }
            name => {
                at.push(name.to_owned());
                let here = at.join("/");
                match kinds.get(here.as_str()) {
                    Some(Node::Symlink { target: next }) => {
                        hops += 1;
                        if hops > MAX_LINK_HOPS {
                            return Err(format!(
                                "its link target {target:?} passes through more than {MAX_LINK_HOPS} links"
                            ));
                        }
                        at.pop();
                        if next.starts_with('/') {
                            return Err(format!("its link target {target:?} passes through an absolute link"));
                        }
                        pending.extend(next.split('/').rev().map(str::to_owned));
                    }
                    Some(_) => {}
                    // Nothing there: the rest cannot pass through a link.
                    None => {
                        let mut depth = at.len();
                        for rest in pending.iter().rev() {
                            match rest.as_str() {
                                "" | "." => {}
                                ".." if depth == 0 => {
                                    return Err(format!("its link target {target:?} leads outside the tree"));
                                }
                                ".." => depth -= 1,
                                _ => depth += 1,
                            }
                        }
                        return Ok(());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Why a tree manifest cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("not a tree manifest ({TREE_MANIFEST_SCHEMA}): {0}")]
    Json(#[source] serde_json::Error),
    #[error("unsupported tree manifest schema {found:?}: this version reads {TREE_MANIFEST_SCHEMA:?}")]
    Schema { found: String },
    #[error("tree manifest field `{field}` {problem}")]
    Invalid { field: &'static str, problem: String },
    #[error("tree manifest entry {path:?} {problem}")]
    Entry { path: String, problem: String },
    #[error(
        "the tree manifest is not the one the signed channel manifest names: it is {size} bytes with SHA-256 {sha256}, the channel manifest names {want_size} bytes with SHA-256 {want_sha256}"
    )]
    NotBound { size: u64, sha256: String, want_size: u64, want_sha256: String },
}

impl TreeError {
    fn invalid(field: &'static str, problem: impl Into<String>) -> TreeError {
        TreeError::Invalid { field, problem: problem.into() }
    }

    fn entry(path: &str, problem: impl Into<String>) -> TreeError {
        let shown: String = path.chars().take(120).collect();
        TreeError::Entry { path: shown, problem: problem.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, bytes: &[u8], mode: u32) -> TreeEntry {
        let size = bytes.len() as u64;
        let stored = if size == 0 { 0 } else { size + 9 };
        TreeEntry { path: path.into(), node: Node::File { mode, size, sha256: sha256_hex(bytes), stored } }
    }

    fn dir(path: &str) -> TreeEntry {
        TreeEntry { path: path.into(), node: Node::Dir { mode: 0o755 } }
    }

    fn link(path: &str, target: &str) -> TreeEntry {
        TreeEntry { path: path.into(), node: Node::Symlink { target: target.into() } }
    }

    fn tree(mut entries: Vec<TreeEntry>) -> TreeManifest {
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        TreeManifest {
            schema: TREE_MANIFEST_SCHEMA.into(),
            version: semver::Version::new(1, 2, 3),
            platform: "linux-x86_64".parse().unwrap(),
            entries,
        }
    }

    fn refused(entries: Vec<TreeEntry>) -> String {
        tree(entries).validate().expect_err("should be refused").to_string()
    }

    fn have(contents: &[&[u8]]) -> BTreeSet<String> {
        contents.iter().map(|c| sha256_hex(c)).collect()
    }

    #[test]
    fn a_rename_or_a_mode_change_reuses_the_bytes_and_fetches_nothing() {
        let old = tree(vec![dir("lib"), dir("lib/hudson-1.0.0"), file("lib/hudson-1.0.0/a.beam", b"module a", 0o644)]);
        let new = tree(vec![
            dir("lib"),
            dir("lib/hudson-1.1.0"),
            file("lib/hudson-1.1.0/a.beam", b"module a", 0o755),
            file("lib/hudson-1.1.0/b.beam", b"module b", 0o644),
        ]);
        new.validate().unwrap();
        let local: BTreeSet<String> = old.files().map(|(_, o)| o.sha256).collect();
        let plan = new.plan(&local);
        assert_eq!(plan.reuse.keys().collect::<Vec<_>>(), ["lib/hudson-1.1.0/a.beam"]);
        assert_eq!(plan.fetch.len(), 1);
        assert_eq!(plan.fetch[0].sha256, sha256_hex(b"module b"));
        assert_eq!(plan.fetch_bytes, 8 + 9);
        assert_eq!(plan.tree_bytes, 16);
    }

    #[test]
    fn identical_files_at_several_paths_are_fetched_once_and_empty_files_never() {
        let same = b"shared library bytes";
        let t = tree(vec![
            dir("a"),
            dir("b"),
            file("a/lib.so", same, 0o644),
            file("b/lib.so", same, 0o644),
            file("b/copy.so", same, 0o755),
            file("empty", b"", 0o644),
            link("a/link", "../b/lib.so"),
        ]);
        t.validate().unwrap();
        let plan = t.plan(&BTreeSet::new());
        assert_eq!(plan.fetch.len(), 1, "{plan:?}");
        assert_eq!(plan.reuse.keys().collect::<Vec<_>>(), ["empty"], "an empty file needs no object");
        assert_eq!(t.objects().len(), 1);
        // With the bytes at hand, nothing at all.
        let plan = t.plan(&have(&[same]));
        assert!(plan.fetch.is_empty() && plan.fetch_bytes == 0);
        assert_eq!(plan.reuse.len(), 4);
    }

    #[test]
    fn a_file_is_reused_only_by_its_content_never_by_its_name() {
        let t = tree(vec![file("app.beam", b"new module", 0o644)]);
        // The client has a file at that path, but with other bytes.
        let plan = t.plan(&have(&[b"old module"]));
        assert_eq!(plan.fetch.len(), 1);
        assert!(plan.reuse.is_empty());
    }

    #[test]
    fn links_inside_the_tree_pass_and_links_that_leave_it_are_refused() {
        let base = || vec![dir("bin"), dir("lib"), file("lib/x", b"x", 0o644)];
        let with = |extra: Vec<TreeEntry>| {
            let mut all = base();
            all.extend(extra);
            all
        };
        tree(with(vec![link("bin/x", "../lib/x"), link("bin/dangling", "../lib/nothing/here")])).validate().unwrap();
        tree(with(vec![link("bin/up", ".."), link("bin/again", "up/lib/x")])).validate().unwrap();

        assert!(refused(with(vec![link("bin/abs", "/etc/passwd")])).contains("absolute"));
        assert!(refused(with(vec![link("bin/out", "../../etc")])).contains("outside the tree"));
        // Each link alone stays inside; resolving the second through the
        // first climbs out (`bin/up` is the root, and `..` from there is not).
        assert!(refused(with(vec![link("bin/up", ".."), link("bin/esc", "up/..")])).contains("outside the tree"));
        assert!(refused(with(vec![link("bin/loop", "loop")])).contains("links"));
        assert!(refused(with(vec![link("bin/a", "b"), link("bin/b", "a")])).contains("links"));
        assert!(refused(with(vec![link("bin/dangling", "nothing/../../../x")])).contains("outside the tree"));
    }

    #[test]
    fn paths_modes_and_order_are_checked() {
        assert!(refused(vec![file("../x", b"x", 0o644)]).contains("`..`"));
        assert!(refused(vec![dir("a"), file("a/./x", b"x", 0o644)]).contains("`.`"));
        assert!(refused(vec![file("/etc/x", b"x", 0o644)]).contains("absolute"));
        assert!(refused(vec![file("a\\b", b"x", 0o644)]).contains("holds"));
        assert!(refused(vec![file("c:x", b"x", 0o644)]).contains("holds"));
        assert!(refused(vec![file("a\nb", b"x", 0o644)]).contains("holds"));
        assert!(refused(vec![file("a/x", b"x", 0o644)]).contains("not listed as a folder"));
        assert!(refused(vec![file("a", b"x", 0o644), file("a/x", b"x", 0o644)]).contains("not listed as a folder"));
        assert!(refused(vec![file("suid", b"x", 0o4755)]).contains("beyond 0o777"));
        let mut twice = tree(vec![file("a", b"x", 0o644)]);
        twice.entries.push(file("a", b"y", 0o644));
        assert!(twice.validate().unwrap_err().to_string().contains("listed twice"));
        let mut unsorted = tree(vec![file("a", b"x", 0o644), file("b", b"x", 0o644)]);
        unsorted.entries.reverse();
        assert!(unsorted.validate().unwrap_err().to_string().contains("out of order"));
        let mut empty_with_object = file("e", b"", 0o644);
        if let Node::File { stored, .. } = &mut empty_with_object.node {
            *stored = 10;
        }
        assert!(refused(vec![empty_with_object]).contains("no object"));
        let mut inflated = file("big", b"x", 0o644);
        if let Node::File { stored, .. } = &mut inflated.node {
            *stored = 1 << 30;
        }
        assert!(refused(vec![inflated]).contains("outside"));
    }

    #[test]
    fn sizes_that_add_up_past_the_cap_or_overflow_are_refused() {
        let huge = |path: &str| TreeEntry {
            path: path.into(),
            node: Node::File { mode: 0o644, size: 1 << 63, sha256: sha256_hex(b"x"), stored: 10 },
        };
        assert!(refused(vec![huge("a"), huge("b")]).contains("add up to more than"));
        let big = |path: &str| TreeEntry {
            path: path.into(),
            node: Node::File { mode: 0o644, size: MAX_TREE_BYTES / 2 + 1, sha256: sha256_hex(b"x"), stored: 10 },
        };
        assert!(refused(vec![big("a"), big("b")]).contains("add up to more than"));
    }

    #[test]
    fn a_tree_manifest_is_read_only_with_the_hash_and_size_the_channel_names() {
        let t = tree(vec![dir("bin"), file("bin/hudson", b"shell", 0o755)]);
        let json = t.to_json();
        let reference = TreeRef::of(&json);
        assert_eq!(TreeManifest::from_json_bound(&json, &reference).unwrap(), t);
        let mut flipped = json.clone();
        let at = flipped.iter().position(|b| *b == b'7').unwrap();
        flipped[at] = b'5';
        let error = TreeManifest::from_json_bound(&flipped, &reference).unwrap_err();
        assert!(matches!(error, TreeError::NotBound { .. }), "{error}");
        assert!(error.to_string().contains("not the one the signed channel manifest names"));
        // Another tree, even a valid one, is not the one named.
        let other = tree(vec![file("x", b"x", 0o644)]).to_json();
        assert!(matches!(TreeManifest::from_json_bound(&other, &reference), Err(TreeError::NotBound { .. })));
    }
}
