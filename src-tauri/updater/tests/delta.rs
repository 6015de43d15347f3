//! Delta updates against a real loopback server: a tree assembled from the
//! install's own files and the file store's objects, fetched only when
//! missing, each checked on the way; every refusal leaves no staged tree and
//! the install as it was. Trees are assembled where folder swaps run (Unix).
#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use common::*;
use hudson_updater::{CheckOutcome, UnpackLimits, Update, UpdateError};
use signing::manifest::ManifestKind;
use signing::tree::{self, Node, TreeEntry, TreeManifest};

/// A tree as a map: path → entry (a folder, a file's bytes and executable
/// bit, a link's target).
#[derive(Clone)]
enum Item {
    Dir,
    File(Vec<u8>, bool),
    Link(String),
}

type Tree = BTreeMap<String, Item>;

/// The installed 0.1.0: a shell, an ERTS, a release folder with the
/// version in its name, an empty file and a link.
fn old_tree() -> Tree {
    let mut t = Tree::new();
    t.insert("bin".into(), Item::Dir);
    t.insert("bin/hudson".into(), Item::File(noise(200_000, 1), true));
    t.insert("erts".into(), Item::Dir);
    t.insert("erts/beam.smp".into(), Item::File(noise(300_000, 2), true));
    t.insert("erts/libz.so".into(), Item::File(noise(40_000, 3), false));
    t.insert("erts/libz.so.1".into(), Item::Link("libz.so".into()));
    t.insert("lib".into(), Item::Dir);
    t.insert("lib/hudson-0.1.0".into(), Item::Dir);
    t.insert("lib/hudson-0.1.0/app.beam".into(), Item::File(b"app 0.1.0".to_vec(), false));
    t.insert("lib/hudson-0.1.0/web.beam".into(), Item::File(noise(60_000, 4), false));
    t.insert("lib/hudson-0.1.0/empty".into(), Item::File(Vec::new(), false));
    t
}

/// 0.2.0: one module changed, the release folder renamed with the
/// version, a mode change, and a file copied to a second path.
fn new_tree() -> Tree {
    let mut t = Tree::new();
    for (path, item) in old_tree() {
        let path = path.replace("hudson-0.1.0", "hudson-0.2.0");
        t.insert(path, item);
    }
    t.insert("lib/hudson-0.2.0/app.beam".into(), Item::File(b"app 0.2.0, one module changed".to_vec(), false));
    t.insert("erts/libz.so".into(), Item::File(noise(40_000, 3), true));
    t.insert("lib/hudson-0.2.0/copy.beam".into(), Item::File(noise(60_000, 4), false));
    t
}

fn write(tree: &Tree, dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for (path, item) in tree {
        let at = dir.join(path);
        match item {
            Item::Dir => fs::create_dir_all(&at).unwrap(),
            Item::File(bytes, exec) => {
                fs::write(&at, bytes).unwrap();
                fs::set_permissions(&at, fs::Permissions::from_mode(if *exec { 0o755 } else { 0o644 })).unwrap();
            }
            Item::Link(target) => std::os::unix::fs::symlink(target, &at).unwrap(),
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    tree::sha256_hex(bytes)
}

/// Puts `tree`'s objects in the server's store as `publish` does; returns
/// its tree manifest.
fn store(server: &Server, tree: &Tree, version: &str) -> TreeManifest {
    let scratch = tempfile::tempdir().unwrap();
    write(tree, scratch.path());
    common::store::store_dir(server, scratch.path(), version)
}

/// Serves a tree manifest and offers 0.2.0 with it; the full artifact is
/// a stand-in (never downloaded here).
fn offer(server: &Server, app_data: &Path, manifest_bytes: &[u8]) -> Update {
    let bound = common::store::serve_tree(server, manifest_bytes);
    let mut art = artifact(server, "Hudson-0.2.0.tar.gz", "0.2.0", noise(700_000, 9), &release_key().secret);
    art.entry.tree = Some(bound);
    publish(server, &manifest(ManifestKind::Release, "0.2.0", 1, &[(PLATFORM, &art)]), &release_key().secret);
    let CheckOutcome::Offered(update) = updater(server, app_data, "0.1.0", PLATFORM).check().unwrap() else {
        panic!("expected an offer")
    };
    update
}

struct Lab {
    server: Server,
    dir: tempfile::TempDir,
    update: Update,
    manifest: TreeManifest,
}

impl Lab {
    fn new() -> Lab {
        let server = Server::start();
        let dir = tempfile::tempdir().unwrap();
        write(&old_tree(), &dir.path().join("Apps/Hudson"));
        write(&new_tree(), &dir.path().join("expected"));
        let manifest = store(&server, &new_tree(), "0.2.0");
        let json = manifest.to_json();
        let update = offer(&server, &dir.path().join("data"), &json);
        Lab { server, dir, update, manifest }
    }

    fn install(&self) -> PathBuf {
        self.dir.path().join("Apps/Hudson")
    }

    fn staging(&self) -> PathBuf {
        self.dir.path().join("Apps/.Hudson.staging")
    }

    fn assemble(&self) -> Result<hudson_updater::Assembled, UpdateError> {
        updater(&self.server, &self.dir.path().join("data"), "0.1.0", PLATFORM).assemble(
            &self.update,
            &self.install(),
            &self.staging(),
            UnpackLimits::default(),
            &mut |_| {},
        )
    }

    fn object_requests(&self) -> usize {
        self.server.state.lock().unwrap().log.iter().filter(|(p, _)| p.starts_with("store/sha256/")).count()
    }

    /// The refusal left no staged tree and the install as it was.
    fn refused(&self, old_hash: &str) -> String {
        let error = self.assemble().expect_err("should be refused");
        assert!(!self.staging().exists(), "a refused assembly left {}", self.staging().display());
        assert_eq!(tree_hash(&self.install()), old_hash, "the install changed");
        error.to_string()
    }

    fn object_of(&self, path: &str) -> tree::Object {
        self.manifest.files().find(|(p, _)| *p == path).unwrap().1
    }
}

#[test]
fn an_update_fetches_only_the_changed_object_and_ends_at_the_full_tree() {
    let lab = Lab::new();
    let before = tree_hash(&lab.install());
    let done = lab.assemble().unwrap();
    // Exactly the tree the full artifact holds, the install untouched.
    assert_eq!(tree_hash(&lab.staging()), tree_hash(&lab.dir.path().join("expected")));
    assert_eq!(tree_hash(&lab.install()), before);
    // One object: the changed module. The rename, the mode change, the
    // second copy and the empty file cost nothing.
    assert_eq!((done.fetched, done.resumed), (1, 0), "{done:?}");
    assert_eq!(lab.object_requests(), 1);
    let changed = lab.object_of("lib/hudson-0.2.0/app.beam");
    assert_eq!(done.downloaded, lab.manifest.to_json().len() as u64 + changed.stored);
    assert!(done.downloaded * 100 < done.full_size, "{done:?}");
    assert_eq!(done.files, 7);
    assert_eq!(done.reused, 6);
    // Copies, not links into the live install.
    use std::os::unix::fs::MetadataExt as _;
    let live = fs::metadata(lab.install().join("erts/beam.smp")).unwrap();
    let staged = fs::metadata(lab.staging().join("erts/beam.smp")).unwrap();
    assert_ne!(live.ino(), staged.ino());
    // The fetched object and the tree manifest are in the tree now, not
    // kept twice.
    assert!(!lab.dir.path().join("data/updates/objects").exists());
    assert!(!lab.dir.path().join("data/updates/0.2.0--tree.json").exists());
}

#[test]
fn a_local_file_changed_on_disk_is_fetched_not_reused() {
    let lab = Lab::new();
    // Same size, other bytes: its name and size say "reuse me".
    let beam = lab.install().join("erts/beam.smp");
    let mut bytes = fs::read(&beam).unwrap();
    bytes[1000] ^= 0xff;
    fs::write(&beam, &bytes).unwrap();
    let done = lab.assemble().unwrap();
    assert_eq!(tree_hash(&lab.staging()), tree_hash(&lab.dir.path().join("expected")));
    assert_eq!(done.fetched, 2, "the changed module and the damaged beam.smp: {done:?}");
}

#[test]
fn an_object_with_other_bytes_is_refused_and_nothing_is_staged() {
    let lab = Lab::new();
    let before = tree_hash(&lab.install());
    let changed = lab.object_of("lib/hudson-0.2.0/app.beam");
    // A valid zstd frame of the same length of other bytes.
    let mut other = b"app 0.2.0, one module changed".to_vec();
    other[3] ^= 1;
    lab.server.put(&tree::object_path(&changed.sha256), zstd::bulk::compress(&other, 12).unwrap());
    let error = lab.refused(&before);
    assert!(error.contains("is not the object the tree manifest names"), "{error}");
    assert!(error.contains("could not be assembled from the file store"), "{error}");
    // Nothing of it is kept for a resume.
    assert_eq!(fs::read_dir(lab.dir.path().join("data/updates/objects")).unwrap().count(), 0);
}

#[test]
fn a_missing_object_or_one_longer_than_named_is_refused() {
    let lab = Lab::new();
    let before = tree_hash(&lab.install());
    let changed = lab.object_of("lib/hudson-0.2.0/app.beam");
    let path = tree::object_path(&changed.sha256);
    lab.server.state.lock().unwrap().files.remove(&path);
    let error = lab.refused(&before);
    assert!(error.contains("404"), "{error}");

    // 64 MiB of zeros in a few kilobytes under the object's name: longer
    // than the stored size the manifest gives, refused before decoding.
    let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 19).unwrap();
    assert!(bomb.len() < 10_000);
    lab.server.put(&path, bomb);
    let error = lab.refused(&before);
    assert!(error.contains(&format!("the tree manifest gives {}", changed.stored)), "{error}");
}

/// Offers 0.2.0 with the changed module's object replaced by `object`,
/// its stored size signed as `object`'s length (a signing mistake, or a
/// stolen key); returns the assembly's refusal, after checking that it
/// left no staged tree and the install as it was.
fn refused_with_signed_object(object: Vec<u8>) -> String {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let install = dir.path().join("Apps/Hudson");
    write(&old_tree(), &install);
    let before = tree_hash(&install);
    let mut manifest = store(&server, &new_tree(), "0.2.0");
    let entry = manifest.entries.iter_mut().find(|e| e.path == "lib/hudson-0.2.0/app.beam").unwrap();
    let Node::File { size, sha256, stored, .. } = &mut entry.node else { panic!() };
    assert!(object.len() as u64 <= tree::stored_bound(*size), "{} bytes", object.len());
    *stored = object.len() as u64;
    server.put(&tree::object_path(sha256), object);
    let update = offer(&server, &dir.path().join("data"), &manifest.to_json());
    let staging = dir.path().join("Apps/.Hudson.staging");
    let error = updater(&server, &dir.path().join("data"), "0.1.0", PLATFORM)
        .assemble(&update, &install, &staging, UnpackLimits::default(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(!staging.exists());
    assert_eq!(tree_hash(&install), before);
    error
}

#[test]
fn a_compression_bomb_within_the_named_size_stops_at_the_files_size() {
    // A stored size up to zstd's bound for the file may be signed; a frame
    // that small can still inflate to megabytes. Reading stops one byte
    // past the file. 1 MiB of zeros: within the window any object may declare.
    let bomb = zstd::bulk::compress(&vec![0u8; 1 << 20], 19).unwrap();
    let error = refused_with_signed_object(bomb);
    assert!(error.contains("decompresses to more than the 29 bytes"), "{error}");
}

#[test]
fn an_object_declaring_a_window_larger_than_its_file_is_refused_before_decoding() {
    // A few bytes from the server must not make the app reserve the
    // 64 MiB window they declare. Streamed in two parts, so the encoder
    // cannot shrink the window to the input's size.
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    encoder.window_log(26).unwrap();
    std::io::Write::write_all(&mut encoder, b"app 0.2.0, ").unwrap();
    std::io::Write::flush(&mut encoder).unwrap();
    std::io::Write::write_all(&mut encoder, b"one module changed").unwrap();
    let error = refused_with_signed_object(encoder.finish().unwrap());
    assert!(error.contains("declares a 67108864-byte window for a 29-byte file"), "{error}");
}

#[test]
fn a_tree_manifest_not_bound_to_the_signed_entry_is_refused() {
    let lab = Lab::new();
    let before = tree_hash(&lab.install());
    let bound = lab.update.offer.artifact.tree.clone().unwrap();
    // Another valid tree (all of 0.1.0) served under the bound name.
    let other = store(&lab.server, &old_tree(), "0.2.0").to_json();
    lab.server.put(&tree::tree_path(&bound.sha256), other);
    let error = lab.refused(&before);
    assert!(error.contains("not the one the signed channel manifest names"), "{error}");
    assert_eq!(lab.object_requests(), 0, "nothing was fetched for it");
}

#[test]
fn a_signed_tree_manifest_with_a_path_out_of_the_tree_is_refused() {
    // Even bound by a signature (a signing mistake, or a stolen key), a
    // manifest that names `..` or an absolute link is refused before
    // anything is fetched or written.
    for (path, node) in [
        ("../escape", Node::File { mode: 0o644, size: 1, sha256: sha256(b"x"), stored: 10 }),
        ("bin/passwd", Node::Symlink { target: "/etc/passwd".into() }),
        ("bin/up", Node::Symlink { target: "../..".into() }),
    ] {
        let server = Server::start();
        let dir = tempfile::tempdir().unwrap();
        write(&old_tree(), &dir.path().join("Apps/Hudson"));
        let before = tree_hash(&dir.path().join("Apps/Hudson"));
        let mut manifest = store(&server, &new_tree(), "0.2.0");
        manifest.entries.push(TreeEntry { path: path.into(), node });
        manifest.entries.sort_by(|a, b| a.path.cmp(&b.path));
        let json = serde_json::to_vec_pretty(&manifest).unwrap();
        let update = offer(&server, &dir.path().join("data"), &json);
        let staging = dir.path().join("Apps/.Hudson.staging");
        let error = updater(&server, &dir.path().join("data"), "0.1.0", PLATFORM)
            .assemble(&update, &dir.path().join("Apps/Hudson"), &staging, UnpackLimits::default(), &mut |_| {})
            .expect_err(path)
            .to_string();
        assert!(error.contains("tree manifest entry"), "{path}: {error}");
        assert!(!staging.exists());
        assert_eq!(tree_hash(&dir.path().join("Apps/Hudson")), before);
        assert!(server.state.lock().unwrap().log.iter().all(|(p, _)| !p.starts_with("store/sha256/")));
    }
}

#[test]
fn an_interrupted_fetch_resumes_with_the_objects_already_kept() {
    let lab = Lab::new();
    // Two objects to fetch: the changed module and a damaged local file.
    let beam = lab.install().join("erts/beam.smp");
    let mut bytes = fs::read(&beam).unwrap();
    bytes[0] ^= 1;
    fs::write(&beam, &bytes).unwrap();
    let beam_object = lab.object_of("erts/beam.smp");
    let module = lab.object_of("lib/hudson-0.2.0/app.beam");
    // Objects are fetched in hash order; cut whichever comes second.
    let second = if beam_object.sha256 > module.sha256 { &beam_object } else { &module };
    lab.server.state.lock().unwrap().cut = Some((tree::object_path(&second.sha256), 5));
    let before = tree_hash(&lab.install());
    lab.refused(&before);
    let done = lab.assemble().unwrap();
    assert_eq!((done.fetched, done.resumed), (1, 1), "{done:?}");
    assert_eq!(tree_hash(&lab.staging()), tree_hash(&lab.dir.path().join("expected")));
}

#[test]
fn an_offer_without_a_tree_manifest_is_not_assembled() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let art = artifact(&server, "Hudson-0.2.0.tar.gz", "0.2.0", noise(1000, 9), &release_key().secret);
    publish(&server, &manifest(ManifestKind::Release, "0.2.0", 1, &[(PLATFORM, &art)]), &release_key().secret);
    let CheckOutcome::Offered(update) = updater(&server, dir.path(), "0.1.0", PLATFORM).check().unwrap() else {
        panic!()
    };
    let error = updater(&server, dir.path(), "0.1.0", PLATFORM)
        .assemble(&update, dir.path(), &dir.path().join("staging"), UnpackLimits::default(), &mut |_| {})
        .unwrap_err();
    assert!(error.to_string().contains("the offer names no tree manifest"), "{error}");
}

#[test]
fn planted_files_in_the_objects_folder_are_never_followed_or_trusted() {
    let lab = Lab::new();
    let updates = lab.dir.path().join("data/updates");
    fs::create_dir_all(&updates).unwrap();
    // The objects folder as a link to a folder the user cares about: the
    // clean-up of unwanted objects must not reach into it.
    let precious = lab.dir.path().join("precious");
    fs::create_dir_all(&precious).unwrap();
    fs::write(precious.join("thesis.txt"), "years of work").unwrap();
    std::os::unix::fs::symlink(&precious, updates.join("objects")).unwrap();
    let done = lab.assemble().unwrap();
    assert_eq!(fs::read_to_string(precious.join("thesis.txt")).unwrap(), "years of work");
    assert_eq!(fs::read_dir(&precious).unwrap().count(), 1);
    assert_eq!(done.fetched, 1);
    assert_eq!(tree_hash(&lab.staging()), tree_hash(&lab.dir.path().join("expected")));

    // An object's name taken by a link to /dev/zero and by a folder: both
    // are replaced by the fetched object, never read.
    for planted in ["link", "folder"] {
        let lab = Lab::new();
        let objects = lab.dir.path().join("data/updates/objects");
        fs::create_dir_all(&objects).unwrap();
        let name = objects.join(&lab.object_of("lib/hudson-0.2.0/app.beam").sha256);
        if planted == "link" {
            std::os::unix::fs::symlink("/dev/zero", &name).unwrap();
        } else {
            fs::create_dir_all(name.join("inside")).unwrap();
        }
        let done = lab.assemble().unwrap();
        assert_eq!((done.fetched, done.resumed), (1, 0), "{planted}");
        assert_eq!(tree_hash(&lab.staging()), tree_hash(&lab.dir.path().join("expected")), "{planted}");
    }
}
