//! The file store as `publish` writes it, on the test server: every file of
//! a tree zstd-compressed under its SHA-256, and the tree manifest.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use signing::tree::{self, Node, TreeEntry, TreeManifest, TreeRef};

use super::*;

/// Puts every file of the tree at `dir` in the server's store and returns
/// its tree manifest (not served yet: see [`serve_tree`]).
pub fn store_dir(server: &Server, dir: &Path, version: &str) -> TreeManifest {
    let mut entries = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().to_str().unwrap().to_owned();
            let meta = fs::symlink_metadata(&path).unwrap();
            let node = if meta.file_type().is_symlink() {
                Node::Symlink { target: fs::read_link(&path).unwrap().to_str().unwrap().to_owned() }
            } else if meta.is_dir() {
                stack.push(path.clone());
                Node::Dir { mode: 0o755 }
            } else {
                let bytes = fs::read(&path).unwrap();
                let sha256 = tree::sha256_hex(&bytes);
                let stored = if bytes.is_empty() {
                    0
                } else {
                    let compressed = zstd::bulk::compress(&bytes, 12).unwrap();
                    server.put(&tree::object_path(&sha256), compressed.clone());
                    compressed.len() as u64
                };
                let exec = meta.permissions().mode() & 0o111 != 0;
                Node::File { mode: if exec { 0o755 } else { 0o644 }, size: bytes.len() as u64, sha256, stored }
            };
            entries.push(TreeEntry { path: relative, node });
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    TreeManifest {
        schema: tree::TREE_MANIFEST_SCHEMA.into(),
        version: v(version),
        platform: PLATFORM.parse().unwrap(),
        entries,
    }
}

/// Serves `json` as a tree manifest and returns the reference a signed
/// channel entry carries for it.
pub fn serve_tree(server: &Server, json: &[u8]) -> TreeRef {
    let reference = TreeRef::of(json);
    server.put(&tree::tree_path(&reference.sha256), json.to_vec());
    reference
}
