//! Fixtures shared by the updater's integration tests: a real HTTP server on
//! 127.0.0.1 (std::net, honours `Range`, can cut a response short or ignore
//! ranges), keys and signed channels made with `signing`'s own API, install
//! trees and their hashes. Keys, noise and tree hashes come from
//! `hudson-test-support`.
#![allow(dead_code)]

#[cfg(unix)]
pub mod store;
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub mod swap;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use hudson_test_support::KeyFixture;
use hudson_test_support::tree::{Modes, tree_hash_with};
use hudson_updater::{Endpoint, TrustedKeys, Updater, UpdaterConfig};
use signing::keys::SecretKey;
use signing::manifest::{CHANNEL_MANIFEST_SCHEMA, ChannelManifest, ManifestKind, PlatformEntry, Rollout};
use signing::platform::PlatformKey;
use time::OffsetDateTime;

// ---------------------------------------------------------------- server

/// Called with each request's path before it is answered.
pub type RequestHook = Box<dyn Fn(&str) + Send>;

#[derive(Default)]
pub struct ServerState {
    pub files: BTreeMap<String, Vec<u8>>,
    /// The next response to this path sends only this many body bytes, then
    /// closes the connection (one shot).
    pub cut: Option<(String, usize)>,
    /// Answer `200` with the whole file even to a `Range` request.
    pub ignore_range: bool,
    /// (path, Range header) of every request.
    pub log: Vec<(String, Option<String>)>,
    /// A `Date` header for every answer (none: no header).
    pub date: Option<String>,
    /// path → (bytes per write, pause between writes): a slow drip.
    pub drip: BTreeMap<String, (usize, Duration)>,
    /// path → `Location` of a `302 Found`.
    pub redirect: BTreeMap<String, String>,
    /// No `Content-Length`: the body ends when the connection closes.
    pub no_length: bool,
    /// Called with each request's path before it is answered.
    pub on_request: Option<RequestHook>,
}

pub struct Server {
    pub port: u16,
    pub state: Arc<Mutex<ServerState>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ServerState::default()));
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                thread::spawn(move || serve(stream, &shared));
            }
        });
        Server { port, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{}", self.port, path.trim_start_matches('/'))
    }

    pub fn put(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.state.lock().unwrap().files.insert(path.trim_start_matches('/').to_owned(), bytes.into());
    }

    pub fn requests(&self, path: &str) -> Vec<Option<String>> {
        let path = path.trim_start_matches('/');
        self.state.lock().unwrap().log.iter().filter(|(p, _)| p == path).map(|(_, r)| r.clone()).collect()
    }
}

fn serve(stream: TcpStream, state: &Mutex<ServerState>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_owned());
        }
    }
    if let Some(hook) = &state.lock().unwrap().on_request {
        hook(&path);
    }
    if let Some(location) = state.lock().unwrap().redirect.get(&path).cloned() {
        let head =
            format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let mut out = stream;
        let _ = out.write_all(head.as_bytes());
        let _ = out.shutdown(std::net::Shutdown::Both);
        return;
    }
    let (body, status, mut extra, cut) = {
        let mut s = state.lock().unwrap();
        s.log.push((path.clone(), range.clone()));
        let cut = match &s.cut {
            Some((p, n)) if *p == path => {
                let n = *n;
                s.cut = None;
                Some(n)
            }
            _ => None,
        };
        match s.files.get(&path) {
            None => (b"not found".to_vec(), "404 Not Found", String::new(), None),
            Some(file) => {
                let from = range
                    .as_deref()
                    .filter(|_| !s.ignore_range)
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|n| n.parse::<usize>().ok());
                match from {
                    Some(from) if from >= file.len() => (Vec::new(), "416 Range Not Satisfiable", String::new(), None),
                    Some(from) => (
                        file[from..].to_vec(),
                        "206 Partial Content",
                        format!("Content-Range: bytes {from}-{}/{}\r\n", file.len() - 1, file.len()),
                        cut,
                    ),
                    None => (file.clone(), "200 OK", String::new(), cut),
                }
            }
        }
    };
    if let Some(date) = &state.lock().unwrap().date {
        extra.push_str(&format!("Date: {date}\r\n"));
    }
    let (no_length, drip) = {
        let s = state.lock().unwrap();
        (s.no_length, s.drip.get(&path).copied())
    };
    let mut out = stream;
    let length = if no_length { String::new() } else { format!("Content-Length: {}\r\n", body.len()) };
    let head = format!("HTTP/1.1 {status}\r\n{length}{extra}Connection: close\r\n\r\n");
    let _ = out.write_all(head.as_bytes());
    let send = cut.map_or(body.len(), |n| n.min(body.len()));
    match drip {
        Some((chunk, pause)) => {
            for piece in body[..send].chunks(chunk.max(1)) {
                if out.write_all(piece).and_then(|()| out.flush()).is_err() {
                    return;
                }
                thread::sleep(pause);
            }
        }
        None => {
            let _ = out.write_all(&body[..send]);
        }
    }
    let _ = out.flush();
    let _ = out.shutdown(std::net::Shutdown::Both);
}

// ---------------------------------------------------------------- keys and channels

/// An unencrypted key (cheap to make); its `public_text` is `'static`, as an
/// embedded key is in the app.
pub type Key = KeyFixture;

fn make_key() -> Key {
    KeyFixture::generate(None)
}

pub fn release_key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(make_key)
}

pub fn stranger_key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(make_key)
}

/// The release key as `dist` compiles it into the app: one key line.
pub fn embedded_key_line() -> &'static str {
    release_key().public_text.lines().rfind(|l| !l.trim().is_empty()).unwrap()
}

pub fn trusted() -> TrustedKeys {
    TrustedKeys::embedded(&[release_key().public_text]).unwrap()
}

pub const CHANNEL: &str = "stable";
pub const PLATFORM: &str = "linux-x86_64";

pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_778_400_000).unwrap()
}

pub fn v(text: &str) -> semver::Version {
    text.parse().unwrap()
}

/// A signed artifact served at `/files/<name>`.
pub struct Artifact {
    pub name: String,
    pub bytes: Vec<u8>,
    pub entry: PlatformEntry,
}

pub fn artifact(server: &Server, name: &str, version: &str, bytes: Vec<u8>, key: &SecretKey) -> Artifact {
    let signed = signing::artifact::sign_artifact(&bytes[..], name, &v(version), 1_777_636_800, key).unwrap();
    let entry = PlatformEntry {
        url: server.url(&format!("files/{name}")),
        size: signed.size,
        sha256: signed.sha256.clone(),
        signature: signed.tauri_signature(),
        tree: None,
    };
    server.put(&format!("files/{name}"), bytes.clone());
    Artifact { name: name.to_owned(), bytes, entry }
}

pub fn manifest(kind: ManifestKind, version: &str, sequence: u64, platforms: &[(&str, &Artifact)]) -> ChannelManifest {
    ChannelManifest {
        schema: CHANNEL_MANIFEST_SCHEMA.to_owned(),
        channel: CHANNEL.to_owned(),
        sequence,
        kind,
        version: v(version),
        issued_at: now() - time::Duration::days(1),
        expires_at: now() + time::Duration::days(20),
        rollout: Rollout { percent: 100, salt: "00112233445566778899aabbccddeeff".to_owned() },
        minimum_version: None,
        notes: Some(format!("Notes for {version}.")),
        yanked: Vec::new(),
        platforms: platforms.iter().map(|(k, a)| (k.parse::<PlatformKey>().unwrap(), a.entry.clone())).collect(),
    }
}

/// Signs and serves `manifest` as the channel's current state.
pub fn publish(server: &Server, manifest: &ChannelManifest, key: &SecretKey) {
    let signed = manifest.sign(key).unwrap();
    server.put(&format!("{CHANNEL}/manifest.json"), signed.json.clone());
    server.put(&format!("{CHANNEL}/manifest.json.minisig"), signed.signature_text().into_bytes());
}

pub fn updater(server: &Server, app_data: &Path, installed: &str, platform: &str) -> Updater {
    updater_on(CHANNEL, server, app_data, installed, platform)
}

/// An updater following `channel` (a build of another channel installed
/// over the same app data).
pub fn updater_on(channel: &str, server: &Server, app_data: &Path, installed: &str, platform: &str) -> Updater {
    let config = UpdaterConfig {
        app_data: app_data.to_path_buf(),
        endpoint: Endpoint::parse(&server.url("")).unwrap(),
        channel: channel.to_owned(),
        platform: platform.parse().unwrap(),
        installed: v(installed),
    };
    Updater::new(config, trusted()).unwrap().with_clock(now)
}

/// Deterministic bytes that look random (SplitMix64).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    hudson_test_support::pseudo_random_bytes(len, seed)
}

// ---------------------------------------------------------------- trees

/// Writes an install tree of `version` at `dir`.
pub fn write_tree(dir: &Path, version: &str) {
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::create_dir_all(dir.join("lib/erts")).unwrap();
    fs::write(dir.join("hudson-shell.json"), format!("{{\"version\":\"{version}\"}}")).unwrap();
    fs::write(dir.join("bin/hudson"), format!("#!/bin/sh\necho {version}\n")).unwrap();
    fs::write(dir.join("lib/erts/beam.smp"), noise(50_000, version.len() as u64 + version.as_bytes()[2] as u64))
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(dir.join("bin/hudson"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("lib/erts", dir.join("erts")).unwrap();
    }
}

/// A `.tar.gz` of the tree `write_tree` makes, under the top folder `top`.
pub fn tree_tar_gz(version: &str, top: &str) -> Vec<u8> {
    let scratch = tempfile::tempdir().unwrap();
    let tree = scratch.path().join(top);
    write_tree(&tree, version);
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    builder.follow_symlinks(false);
    builder.append_dir_all(top, &tree).unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

/// A hash of everything in a tree: paths, kinds, contents, link targets and
/// the executable bit. Not the whole mode: the updater creates files 0644 or
/// 0755 (less the umask) while `write_tree`'s are 0666 less the umask, so
/// under a umask like 002 the same tree would hash apart. `<missing>` when
/// there is no tree.
pub fn tree_hash(dir: &Path) -> String {
    if !dir.exists() {
        return "<missing>".to_owned();
    }
    tree_hash_with(dir, Modes::ExecutableBit).unwrap()
}
