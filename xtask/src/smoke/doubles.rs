//! Test doubles for the smoke tests, and the package builders that wrap
//! them. The behavioural failures (a backend that never hands shake, one
//! that listens on every interface, one that ignores SIGTERM) come from the
//! **contract double**: a small Python backend that implements the whole
//! backend contract and has exactly one fault switched on, so the step that
//! fails can only be the one that checks that fault. The NIF failure is
//! built from the real package instead (see `tests.rs`).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hudson_lifecycle::contract::{
    AppVersion, InstallKind, SESSION_COOKIE, SHELL_CONFIG_FILE, ShellConfig, VERSION_FILE,
};
use signing::dist::{Artifact, ArtifactKind, DIST_MANIFEST_SCHEMA, DistManifest};

/// The one contract rule the double breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// None: the double passes every step.
    None,
    /// Never writes the handshake file nor the `PORT:` line.
    NoHandshake,
    /// Listens on 0.0.0.0 instead of 127.0.0.1.
    AnyAddress,
    /// Ignores SIGTERM (it still exits when its stdin closes).
    IgnoreSigterm,
    /// Writes the handshake with another token (then prints `PORT:`).
    WrongToken,
}

impl Fault {
    fn as_str(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::NoHandshake => "no-handshake",
            Fault::AnyAddress => "any-address",
            Fault::IgnoreSigterm => "ignore-sigterm",
            Fault::WrongToken => "wrong-token",
        }
    }
}

/// TEST DOUBLE of a Hudson backend: the backend contract in Python, with
/// one fault. It also logs its token (a careless backend), so the tests can
/// check that smoke never repeats it, and records every pid it ran as.
const CONTRACT_DOUBLE: &str = r#"#!/usr/bin/env python3
# TEST DOUBLE of a Hudson backend, written by xtask's smoke tests.
import http.server, json, os, secrets, signal, sys, threading

FAULT = "@FAULT@"
VERSION = "@VERSION@"
NIFS = @NIFS@
STATE = "@STATE@"

token = os.environ.get("HUDSON_HANDSHAKE_TOKEN", "")
session = secrets.token_hex(16)
with open(os.path.join(STATE, "pids"), "a") as f:
    f.write(f"{os.getpid()}\n")
with open(os.path.join(STATE, "token"), "w") as f:
    f.write(token)
print(f"double: starting with token {token}", file=sys.stderr, flush=True)

if FAULT == "ignore-sigterm":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

def watch_stdin():
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)

threading.Thread(target=watch_stdin, daemon=True).start()

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        port = self.server.server_address[1]
        if self.headers.get("Host") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            return self.reply(421)
        path, _, query = self.path.partition("?")
        if path == "/healthz":
            doc = {"status": "ok", "version": VERSION, "pid": os.getpid(), "nifs": {n: "ok" for n in NIFS}}
            return self.reply(200, json.dumps(doc).encode(), [("Content-Type", "application/json")])
        if path == "/desktop/enter":
            if token and query == "token=" + token:
                cookie = f"@COOKIE@={session}; Path=/; HttpOnly; SameSite=Strict"
                return self.reply(303, headers=[("Location", "/"), ("Set-Cookie", cookie)])
            return self.reply(403)
        if path == "/":
            if f"@COOKIE@={session}" in (self.headers.get("Cookie") or ""):
                page = b"<!doctype html><title>Hudson</title><h1>Hudson</h1>"
                return self.reply(200, page, [("Content-Type", "text/html; charset=utf-8")])
            return self.reply(403)
        self.reply(404)

server = http.server.ThreadingHTTPServer(("0.0.0.0" if FAULT == "any-address" else "127.0.0.1", 0), Handler)
port = server.server_address[1]
if FAULT != "no-handshake":
    path = os.environ["HUDSON_HANDSHAKE_FILE"]
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    told = "0" * 64 if FAULT == "wrong-token" else token
    os.write(fd, json.dumps({"port": port, "token": told, "pid": os.getpid(), "version": VERSION}).encode())
    os.close(fd)
    os.rename(path + ".tmp", path)
    print(f"PORT:{port}", flush=True)
server.serve_forever()
"#;

/// What the contract double leaves for the test to inspect.
pub struct DoubleState {
    pub dir: PathBuf,
}

impl DoubleState {
    /// Every pid the double ran as (one per start).
    pub fn pids(&self) -> Vec<u32> {
        fs::read_to_string(self.dir.join("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// The last token the double was given.
    pub fn token(&self) -> String {
        fs::read_to_string(self.dir.join("token")).unwrap_or_default()
    }
}

/// Lays out an installed Hudson tree (Linux) at `root` whose backend is the
/// contract double with `fault`: the release script
/// `usr/lib/Hudson/backend/bin/hudson` for `release` packaging, the sidecar
/// `usr/bin/hudson-backend` for `burrito` (a stand-in for a Burrito binary,
/// which needs Hex to build).
pub fn contract_double_tree(
    root: &Path,
    fault: Fault,
    packaging: &str,
    version: &str,
    nifs: &[&str],
    state: &Path,
) -> DoubleState {
    let resources = root.join("usr/lib/Hudson");
    fs::create_dir_all(&resources).unwrap();
    fs::create_dir_all(state).unwrap();
    let shell_config = ShellConfig {
        install_kind: Some(InstallKind::Package),
        ..ShellConfig::new(packaging.parse().unwrap(), "hudson", "hudson-backend")
    };
    fs::write(resources.join(SHELL_CONFIG_FILE), shell_config.to_pretty_json()).unwrap();
    fs::write(resources.join(VERSION_FILE), AppVersion::new(version).to_pretty_json()).unwrap();
    let nifs = format!("[{}]", nifs.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", "));
    let script = CONTRACT_DOUBLE
        .replace("@FAULT@", fault.as_str())
        .replace("@COOKIE@", SESSION_COOKIE)
        .replace("@VERSION@", version)
        .replace("@NIFS@", &nifs)
        .replace("@STATE@", &state.display().to_string());
    let program = match packaging {
        "burrito" => root.join("usr/bin/hudson-backend"),
        _ => resources.join("backend/bin/hudson"),
    };
    executable(&program, &script);
    executable(&root.join("usr/bin/hudson-desktop"), "#!/bin/sh\nexit 1\n");
    DoubleState { dir: state.to_path_buf() }
}

pub fn executable(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A `.deb` whose data is the tree at `root` (modes and symbolic links kept).
pub fn deb_from_tree(root: &Path, out: &Path) {
    let mut data = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    data.follow_symlinks(false);
    data.append_dir_all(".", root).unwrap();
    deb_from_data(data.into_inner().unwrap().finish().unwrap(), out);
}

/// A `.deb` around a ready `data.tar.gz`.
pub fn deb_from_data(data_tar_gz: Vec<u8>, out: &Path) {
    let mut control = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let text = b"Package: hudson-test-double\nVersion: 0.1.0\nArchitecture: amd64\nDescription: test double\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    control.append_data(&mut header, "./control", &text[..]).unwrap();
    let control = control.into_inner().unwrap().finish().unwrap();
    let mut deb = ar::Builder::new(fs::File::create(out).unwrap());
    for (name, bytes) in
        [("debian-binary", b"2.0\n".to_vec()), ("control.tar.gz", control), ("data.tar.gz", data_tar_gz)]
    {
        deb.append(&ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64), &bytes[..]).unwrap();
    }
}

/// One raw tar entry: the name is written as is (the `tar` crate refuses
/// to write `..` or absolute names, which is what a malicious package has).
pub enum RawEntry<'a> {
    File(&'a str, u32, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Fifo(&'a str),
}

pub fn raw_tar_gz(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for entry in entries {
        let mut header = tar::Header::new_old();
        let (name, kind, mode, data, link): (&str, tar::EntryType, u32, &[u8], &str) = match entry {
            RawEntry::File(name, mode, data) => (name, tar::EntryType::Regular, *mode, data, ""),
            RawEntry::Dir(name) => (name, tar::EntryType::Directory, 0o755, b"", ""),
            RawEntry::Symlink(name, target) => (name, tar::EntryType::Symlink, 0o777, b"", target),
            RawEntry::Fifo(name) => (name, tar::EntryType::Fifo, 0o644, b"", ""),
        };
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_cksum();
        out.write_all(header.as_bytes()).unwrap();
        out.write_all(data).unwrap();
        out.write_all(&vec![0u8; (512 - data.len() % 512) % 512]).unwrap();
    }
    out.write_all(&[0u8; 1024]).unwrap();
    out.finish().unwrap()
}

/// Writes `dist-manifest.json` next to `package` (inside `dist_dir`).
pub fn dist_manifest(
    dist_dir: &Path,
    kind: ArtifactKind,
    package: &str,
    product: &str,
    version: &str,
    packaging: &str,
) {
    let (sha256, size) = crate::core::fsx::sha256_file(&dist_dir.join(package)).unwrap();
    let manifest = DistManifest {
        schema: DIST_MANIFEST_SCHEMA.into(),
        product: product.into(),
        identifier: "dev.hudson.desktop".into(),
        version: version.into(),
        target: crate::core::target::host_triple().into(),
        packaging: packaging.into(),
        artifacts: vec![Artifact {
            kind,
            path: package.into(),
            size,
            sha256,
            target: crate::core::target::host_triple().into(),
            updater: None,
        }],
        signing_key: None,
    };
    fs::write(dist_dir.join("dist-manifest.json"), manifest.to_json()).unwrap();
}
