//! The channel commands as a release manager runs them: the real `xtask`
//! binary over a temporary manifests folder, with a key in the format
//! `tauri signer generate` writes passed through `TAURI_SIGNING_PRIVATE_KEY`
//! and `TAURI_SIGNING_PRIVATE_KEY_PASSWORD`. What it writes is checked with
//! the `minisign` CLI, with `minisign-verify` the way tauri-plugin-updater
//! calls it, with Tauri's `latest.json` field rules, and with the client
//! policy of the `signing` crate.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hudson_test_support::{KeyFixture, pseudo_random_bytes};
use signing::dist::{
    Artifact, ArtifactKind, DIST_MANIFEST_FILE, DIST_MANIFEST_SCHEMA, DistManifest, SigningKeyInfo, UpdaterInfo,
};
use signing::keys::{PublicKey, SecretKey};
use signing::latest::StockRelease;
use signing::manifest::{ChannelManifest, ManifestKind};
use signing::platform::PlatformKey;
use signing::policy::{self, Decision, OfferReason, Policy};
use time::OffsetDateTime;

const PASSWORD: &str = "release password 4b1d e8";
const NOW: &str = "2026-05-01T12:00:00Z";
/// `SOURCE_DATE_EPOCH` of the fixture builds.
const TIMESTAMP: u64 = 1_777_636_800;
const LINUX: &str = "x86_64-unknown-linux-gnu";
const MAC: &str = "aarch64-apple-darwin";
const BASE_URL: &str = "https://updates.hudson.example/{version}";

/// A password-protected key; `secret_base64` is what `tauri signer generate`
/// writes to the key file.
type Key = KeyFixture;

fn key(password: &str) -> Key {
    KeyFixture::generate(Some(password))
}

fn release_key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| key(PASSWORD))
}

fn other_key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| key("another one"))
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::parse(NOW, &time::format_description::well_known::Rfc3339).unwrap()
}

fn version(text: &str) -> semver::Version {
    text.parse().unwrap()
}

fn platform(text: &str) -> PlatformKey {
    text.parse().unwrap()
}

/// A temporary workspace for channel commands.
struct Fixture {
    dir: tempfile::TempDir,
    /// Changes are signed with the repository key too (apt repositories).
    repository: bool,
}

impl Fixture {
    fn new() -> Self {
        Fixture { dir: tempfile::tempdir().unwrap(), repository: false }
    }

    /// A fixture whose changes also write the apt repository.
    fn with_repository() -> Self {
        Fixture { dir: tempfile::tempdir().unwrap(), repository: true }
    }

    fn manifests(&self) -> PathBuf {
        self.dir.path().join("release-manifests")
    }

    fn channel(&self, name: &str) -> PathBuf {
        self.manifests().join(name)
    }

    /// What `cargo xtask dist --target <target>` leaves for `version`: the
    /// artifacts, their `.sig` files and `dist-manifest.json`, signed by `key`.
    fn dist(&self, release: &str, target: &str, key: &Key, development: bool) -> PathBuf {
        self.dist_with(release, target, key, development, None)
    }

    /// The same; with `sign_rpm`, its rpm signed with that OpenPGP key by
    /// `rpmsign` (as `dist` signs it when the key is configured).
    fn dist_with(
        &self,
        release: &str,
        target: &str,
        key: &Key,
        development: bool,
        sign_rpm: Option<&RepositoryKey>,
    ) -> PathBuf {
        let dir = self.dir.path().join("dist").join(release).join(target);
        std::fs::create_dir_all(&dir).unwrap();
        let files: &[(ArtifactKind, String)] = &match target {
            LINUX => vec![
                (ArtifactKind::Deb, format!("Hudson_{release}_amd64.deb")),
                (ArtifactKind::Rpm, format!("Hudson-{release}-1.x86_64.rpm")),
                (ArtifactKind::Portable, format!("Hudson-{release}-{LINUX}.tar.gz")),
            ],
            MAC => {
                vec![(ArtifactKind::App, "Hudson.app.tar.gz".to_owned()), (ArtifactKind::Dmg, "Hudson.dmg".to_owned())]
            }
            other => panic!("no fixture for {other}"),
        };
        let mut artifacts = Vec::new();
        for (i, (kind, name)) in files.iter().enumerate() {
            let seed = release.bytes().map(u64::from).sum::<u64>() * 31 + i as u64 + target.len() as u64;
            let path = dir.join(name);
            match kind {
                // A tree the updater swaps in: a real archive, as `dist` makes it.
                ArtifactKind::Portable | ArtifactKind::App => {
                    std::fs::write(&path, tree_archive(release, &release_tree(release))).unwrap()
                }
                // A real package, as apt reads it.
                ArtifactKind::Deb => std::fs::write(&path, deb_package(release, seed)).unwrap(),
                ArtifactKind::Rpm => {
                    std::fs::write(&path, rpm_package(release, seed)).unwrap();
                    if let Some(key) = sign_rpm {
                        rpmsign(&path, key);
                    }
                }
                _ => std::fs::write(&path, pseudo_random_bytes(3000 + i * 100, seed)).unwrap(),
            }
            let signed =
                signing::artifact::sign_artifact_file(&path, &version(release), TIMESTAMP, &key.secret).unwrap();
            let keys = PlatformKey::keys_for_artifact(target, *kind).unwrap();
            let updater = (!keys.is_empty()).then(|| {
                std::fs::write(dir.join(format!("{name}.sig")), signed.tauri_signature()).unwrap();
                UpdaterInfo {
                    platform_keys: keys.iter().map(ToString::to_string).collect(),
                    signature: signed.tauri_signature(),
                }
            });
            artifacts.push(Artifact {
                kind: *kind,
                path: name.clone(),
                size: signed.size,
                sha256: signed.sha256,
                target: target.to_owned(),
                updater,
            });
        }
        let manifest = DistManifest {
            schema: DIST_MANIFEST_SCHEMA.to_owned(),
            product: "Hudson".to_owned(),
            identifier: "dev.hudson.desktop".to_owned(),
            version: release.to_owned(),
            target: target.to_owned(),
            packaging: "release".to_owned(),
            artifacts,
            signing_key: Some(SigningKeyInfo {
                key_id: key.public().key_id().to_string(),
                public_key: key.public().to_tauri_base64(),
                development,
            }),
        };
        let path = dir.join(DIST_MANIFEST_FILE);
        std::fs::write(&path, manifest.to_json()).unwrap();
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .current_dir(workspace())
            .args(args)
            .env("TAURI_SIGNING_PRIVATE_KEY", &release_key().secret_base64)
            .env("TAURI_SIGNING_PRIVATE_KEY_PASSWORD", PASSWORD)
            .env("HUDSON_NOW", NOW)
            .env_remove("HUDSON_FAILPOINT")
            .env_remove("HUDSON_OPENPGP_PRIVATE_KEY")
            .env_remove("HUDSON_OPENPGP_PRIVATE_KEY_PASSWORD");
        if self.repository {
            command.env("HUDSON_OPENPGP_PRIVATE_KEY", &repository_key().secret);
        }
        command
    }

    /// Runs a channel command on this fixture's manifests folder.
    fn run(&self, args: &[&str]) -> Output {
        let manifests = self.manifests();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--manifests-dir", manifests.to_str().unwrap()]);
        self.command(&all).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "xtask {args:?} failed:\n{stderr}");
        stderr
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "xtask {args:?} should have failed:\n{stderr}");
        assert_eq!(out.status.code(), Some(1), "xtask {args:?} did not exit with an error:\n{stderr}");
        stderr
    }

    fn publish(&self, channel: &str, dists: &[&Path], extra: &[&str]) -> Output {
        let mut args = vec!["publish", "--channel", channel, "--base-url", BASE_URL];
        args.extend(extra);
        args.extend(dists.iter().map(|p| p.to_str().unwrap()));
        self.run(&args)
    }

    fn manifest(&self, channel: &str) -> ChannelManifest {
        ChannelManifest::from_json(&std::fs::read(self.channel(channel).join("manifest.json")).unwrap()).unwrap()
    }

    /// `1.0.0` for Linux published on `beta` with the release key: the
    /// channel folder and the release key's public key file.
    fn published_beta(&self) -> (PathBuf, PathBuf) {
        let dist = self.dist("1.0.0", LINUX, release_key(), false);
        assert_ok(&self.publish("beta", &[&dist], &[]));
        (self.channel("beta"), self.public_key_file(release_key()))
    }

    fn public_key_file(&self, key: &Key) -> PathBuf {
        let path = self.dir.path().join(format!("{}.pub", key.public().key_id()));
        std::fs::write(&path, key.public().to_minisign_text()).unwrap();
        path
    }

    /// Checks the channel as a Hudson client installed at `installed` on
    /// `platform` does.
    fn client(&self, channel: &str, installed: &str, platform_key: &str) -> Result<Decision, policy::ManifestRefused> {
        let dir = self.channel(channel);
        let policy = Policy::new(
            vec![release_key().public().clone()],
            channel,
            platform(platform_key),
            version(installed),
            "install-7",
            now(),
        );
        let json = std::fs::read(dir.join("manifest.json")).unwrap();
        let signature = std::fs::read(dir.join("manifest.json.minisig")).unwrap();
        policy::check_manifest(&policy, &json, &signature).map(|check| check.decision)
    }
}

/// One entry of a fixture release tree.
enum Item {
    File { mode: u32, bytes: Vec<u8> },
    Link(&'static str),
}

/// A release tree: most files the same in every release, as between two
/// real releases; `shell` and `lib/hudson-<release>/app.beam` change.
fn release_tree(release: &str) -> Vec<(String, Item)> {
    let same = |n: usize, seed: u64| pseudo_random_bytes(n, seed);
    vec![
        ("bin/hudson".into(), Item::File { mode: 0o755, bytes: format!("shell {release}").into_bytes() }),
        ("erts/bin/beam.smp".into(), Item::File { mode: 0o755, bytes: same(40_000, 1) }),
        ("erts/lib/libz.so".into(), Item::File { mode: 0o644, bytes: same(9_000, 2) }),
        // The same bytes at a second path.
        ("erts/lib/libz.so.1".into(), Item::File { mode: 0o644, bytes: same(9_000, 2) }),
        ("erts/lib/libz-link.so".into(), Item::Link("libz.so")),
        (
            format!("lib/hudson-{release}/app.beam"),
            Item::File { mode: 0o644, bytes: format!("app {release}").into_bytes() },
        ),
        ("lib/phoenix/phoenix.beam".into(), Item::File { mode: 0o644, bytes: same(20_000, 3) }),
        ("releases/empty".into(), Item::File { mode: 0o644, bytes: Vec::new() }),
    ]
}

/// `tree` as a `.tar.gz` under one top-level folder, as `dist` writes it.
fn tree_archive(release: &str, tree: &[(String, Item)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let top = format!("Hudson-{release}");
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    builder.append_data(&mut dir, format!("{top}/"), std::io::empty()).unwrap();
    for (path, item) in tree {
        let mut header = tar::Header::new_gnu();
        match item {
            Item::File { mode, bytes } => {
                header.set_mode(*mode);
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, format!("{top}/{path}"), bytes.as_slice()).unwrap();
            }
            Item::Link(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, format!("{top}/{path}"), target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn assert_ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed:\n{stderr}");
    stderr
}

fn assert_fails(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "should have failed with an error:\n{stderr}");
    stderr
}

/// A `minisign` command; fails the test (never skips it) when the CLI is missing.
fn minisign() -> Command {
    match Command::new("minisign").arg("-v").output() {
        Ok(_) => Command::new("minisign"),
        Err(error) if error.kind() == ErrorKind::NotFound => {
            panic!("the minisign CLI is not on PATH; install it: apt-get install minisign")
        }
        Err(error) => panic!("cannot run minisign ({error}); install it: apt-get install minisign"),
    }
}

fn minisign_verifies(file: &Path, signature: &Path, public_key: &Path) {
    let out = minisign().arg("-Vm").arg(file).arg("-x").arg(signature).arg("-p").arg(public_key).output().unwrap();
    assert!(
        out.status.success(),
        "minisign -Vm {} -x {} failed: {}{}",
        file.display(),
        signature.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn latest(fixture: &Fixture, channel: &str) -> StockRelease {
    StockRelease::parse(&std::fs::read(fixture.channel(channel).join("latest.json")).unwrap()).unwrap()
}

/// The updater's check: base64-decode key and signature,
/// `PublicKey::decode`, `Signature::decode`, `verify(bytes, &sig, true)`.
fn tauri_updater_verifies(bytes: &[u8], signature: &str, pubkey_base64: &str) -> Result<(), String> {
    let pubkey = String::from_utf8(BASE64.decode(pubkey_base64).map_err(|e| e.to_string())?).unwrap();
    let public_key = minisign_verify::PublicKey::decode(&pubkey).map_err(|e| e.to_string())?;
    let signature = String::from_utf8(BASE64.decode(signature).map_err(|e| e.to_string())?).unwrap();
    let signature = minisign_verify::Signature::decode(&signature).map_err(|e| e.to_string())?;
    public_key.verify(bytes, &signature, true).map_err(|e| e.to_string())
}

#[test]
fn publish_merges_the_targets_and_every_verifier_accepts_the_result() {
    let fixture = Fixture::new();
    let key = release_key();
    let linux = fixture.dist("1.0.0", LINUX, key, false);
    let mac = fixture.dist("1.0.0", MAC, key, false);
    let out = fixture.publish("beta", &[&linux, &mac], &["--notes", "First beta."]);
    let stderr = assert_ok(&out);
    assert!(stderr.contains("beta is now `release` 1.0.0 (sequence 1"), "{stderr}");

    let beta = fixture.channel("beta");
    let mut names: Vec<String> = walk(&beta).into_keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "history/00000001.json",
            "history/00000001.json.minisig",
            "latest.json",
            "manifest.json",
            "manifest.json.minisig"
        ]
    );
    assert_eq!(
        std::fs::read(beta.join("manifest.json")).unwrap(),
        std::fs::read(beta.join("history/00000001.json")).unwrap()
    );

    // The channel manifest: the minisign CLI, and a client.
    let public_file = fixture.public_key_file(key);
    minisign_verifies(&beta.join("manifest.json"), &beta.join("manifest.json.minisig"), &public_file);
    let manifest = fixture.manifest("beta");
    assert_eq!((manifest.sequence, manifest.kind, manifest.rollout.percent), (1, ManifestKind::Release, 100));
    assert_eq!(manifest.issued_at, now());
    assert_eq!(manifest.expires_at, now() + time::Duration::days(30));
    let keys: Vec<String> = manifest.platforms.keys().map(ToString::to_string).collect();
    assert_eq!(
        keys,
        ["darwin-aarch64", "darwin-aarch64-app", "linux-x86_64-deb", "linux-x86_64-portable", "linux-x86_64-rpm"]
    );
    assert_eq!(
        manifest.platforms[&platform("linux-x86_64-deb")].url,
        "https://updates.hudson.example/1.0.0/Hudson_1.0.0_amd64.deb"
    );
    assert_eq!(
        manifest.platforms[&platform("linux-x86_64-portable")].url,
        "https://updates.hudson.example/1.0.0/Hudson-1.0.0-x86_64-unknown-linux-gnu.tar.gz"
    );
    // A portable install is offered its own tree, checked like any download.
    match fixture.client("beta", "0.9.0", "linux-x86_64-portable").unwrap() {
        Decision::Install(offer) => {
            let tree = linux.parent().unwrap().join("Hudson-1.0.0-x86_64-unknown-linux-gnu.tar.gz");
            policy::verify_download(std::fs::File::open(tree).unwrap(), &offer, std::slice::from_ref(key.public()))
                .unwrap();
        }
        other => panic!("expected an update, got {other:?}"),
    }
    match fixture.client("beta", "0.9.0", "linux-x86_64-deb").unwrap() {
        Decision::Install(offer) => {
            let bytes = std::fs::File::open(linux.parent().unwrap().join("Hudson_1.0.0_amd64.deb")).unwrap();
            policy::verify_download(bytes, &offer, std::slice::from_ref(key.public())).unwrap();
        }
        other => panic!("expected an update, got {other:?}"),
    }

    // latest.json, read with the updater's rules; every signature as the updater checks it.
    let release = latest(&fixture, "beta");
    assert_eq!(release.version, version("1.0.0"));
    assert_eq!(release.pub_date, Some(now()));
    let mut stock_keys: Vec<&str> = release.platforms.keys().map(String::as_str).collect();
    stock_keys.sort();
    assert_eq!(stock_keys, keys, "latest.json carries every platform of the manifest, the portable tree's too");
    let pubkey = key.public().to_tauri_base64();
    for (platform, entry) in &release.platforms {
        assert_eq!(entry.url.scheme(), "https");
        let file_name = entry.url.path_segments().unwrap().next_back().unwrap();
        let dist_dir = if platform.starts_with("linux") { linux.parent() } else { mac.parent() }.unwrap();
        let bytes = std::fs::read(dist_dir.join(file_name)).unwrap();
        tauri_updater_verifies(&bytes, &entry.signature, &pubkey).unwrap();
    }
    // Every .sig, decoded from base64, with the minisign CLI.
    for dir in [linux.parent().unwrap(), mac.parent().unwrap()] {
        for sig in std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sig"))
        {
            let decoded = fixture.dir.path().join("decoded.minisig");
            std::fs::write(&decoded, BASE64.decode(std::fs::read(&sig).unwrap()).unwrap()).unwrap();
            minisign_verifies(&sig.with_extension(""), &decoded, &public_file);
        }
    }

    // `verify` agrees, artifacts included.
    let public = public_file.to_str().unwrap();
    let (linux_dir, mac_dir) = (linux.parent().unwrap().to_str().unwrap(), mac.parent().unwrap().to_str().unwrap());
    let stderr = fixture.ok(&["verify", "beta", "--pubkey", public, "--artifacts", linux_dir, "--artifacts", mac_dir]);
    assert!(
        stderr.contains(
            "artifacts match size, SHA-256 and signature: Hudson-1.0.0-1.x86_64.rpm, \
             Hudson-1.0.0-x86_64-unknown-linux-gnu.tar.gz, Hudson.app.tar.gz, Hudson_1.0.0_amd64.deb"
        ),
        "{stderr}"
    );
    let missing = fixture.fails(&["verify", "beta", "--pubkey", public, "--artifacts", linux_dir]);
    assert!(missing.contains("Hudson.app.tar.gz is in none of the --artifacts folders"), "{missing}");
    let status = fixture
        .command(&["status", "--format", "json", "--manifests-dir", fixture.manifests().to_str().unwrap()])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(rows[0]["channel"], "beta");
    assert_eq!(rows[0]["sequence"], 1);
    assert_eq!(rows[0]["platforms"].as_array().unwrap().len(), 5);
}

/// The files of a manifests folder outside its file store, and those in it.
fn channels_and_store(dir: &Path) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, Vec<u8>>) {
    channels_and_store_of(&walk(dir))
}

fn channels_and_store_of(files: &BTreeMap<String, Vec<u8>>) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, Vec<u8>>) {
    let (store, channels) = files.clone().into_iter().partition(|(path, _)| path.starts_with("store/"));
    (channels, store)
}

/// A file of the store holds what its name promises (a leftover
/// temporary file, which no reader ever opens by name, is allowed).
fn assert_store_file_sound(path: &str, bytes: &[u8]) {
    let name = path.rsplit('/').next().unwrap();
    if name.starts_with(".tmp-") {
        return;
    }
    let sha256 = |b: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b));
    if let Some(hash) = name.strip_suffix(".deb").or_else(|| name.strip_suffix(".rpm")) {
        assert_eq!(sha256(bytes), hash, "{path}");
    } else if let Some(hash) = name.strip_suffix(".zst") {
        assert_eq!(sha256(&zstd::decode_all(bytes).unwrap()), hash, "{path}");
    } else {
        assert_eq!(sha256(bytes), name.strip_suffix(".json").unwrap(), "{path}");
    }
}

/// Every file under `dir`, by `/`-separated relative path.
fn walk(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    if !dir.exists() {
        return files;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn a_release_goes_through_rollout_halt_resume_yank_and_promotion() {
    let fixture = Fixture::new();
    let key = release_key();
    let v1 = fixture.dist("1.0.0", LINUX, key, false);
    let v11 = fixture.dist("1.1.0", LINUX, key, false);
    assert_ok(&fixture.publish("beta", &[&v1], &[]));

    // A 10 % rollout: Hudson clients draw their bucket, stock updaters keep 1.0.0.
    assert_ok(&fixture.publish("beta", &[&v11], &["--rollout", "10"]));
    let manifest = fixture.manifest("beta");
    assert_eq!((manifest.sequence, manifest.rollout.percent), (2, 10));
    assert_eq!(
        latest(&fixture, "beta").version,
        version("1.0.0"),
        "a partial rollout is held back from stock updaters"
    );
    let decisions: Vec<bool> = (0..200)
        .map(|i| {
            let policy = Policy::new(
                vec![key.public().clone()],
                "beta",
                platform("linux-x86_64-deb"),
                version("1.0.0"),
                format!("install-{i}"),
                now(),
            );
            let dir = fixture.channel("beta");
            let check = policy::check_manifest(
                &policy,
                &std::fs::read(dir.join("manifest.json")).unwrap(),
                &std::fs::read(dir.join("manifest.json.minisig")).unwrap(),
            )
            .unwrap();
            matches!(check.decision, Decision::Install(_))
        })
        .collect();
    let inside = decisions.iter().filter(|d| **d).count();
    assert!((5..=40).contains(&inside), "{inside} of 200 installs took a 10 % rollout");

    fixture.ok(&["rollout", "beta", "100"]);
    assert_eq!(latest(&fixture, "beta").version, version("1.1.0"));
    let salt = fixture.manifest("beta").rollout.salt;
    assert_eq!(salt, manifest.rollout.salt, "raising the percent keeps the salt");

    fixture.ok(&["halt", "beta"]);
    let halted = fixture.manifest("beta");
    assert_eq!((halted.kind, halted.sequence, halted.platforms.len()), (ManifestKind::Halt, 4, 0));
    assert!(latest(&fixture, "beta").platforms.is_empty(), "a halt offers stock updaters nothing");
    assert_eq!(fixture.client("beta", "1.0.0", "linux-x86_64-deb").unwrap(), Decision::Halted);
    // Halting again re-signs the halt, so it can outlast an expiry.
    assert!(fixture.ok(&["halt", "beta", "--expires-in", "90d"]).contains("re-signing the halt"));
    let refreshed = fixture.manifest("beta");
    assert_eq!((refreshed.kind, refreshed.sequence), (ManifestKind::Halt, 5));
    assert_eq!(refreshed.expires_at, now() + time::Duration::days(90));

    fixture.ok(&["rollout", "beta", "50"]);
    let resumed = fixture.manifest("beta");
    assert_eq!(
        (resumed.kind, resumed.version.to_string(), resumed.rollout.percent),
        (ManifestKind::Release, "1.1.0".into(), 50)
    );

    fixture.ok(&["yank", "beta"]);
    let yank = fixture.manifest("beta");
    assert_eq!((yank.kind, yank.version.to_string(), yank.sequence), (ManifestKind::Yank, "1.0.0".into(), 7));
    assert_eq!(yank.yanked, [version("1.1.0")]);
    match fixture.client("beta", "1.1.0", "linux-x86_64-deb").unwrap() {
        Decision::Install(offer) => assert_eq!((offer.reason, offer.version), (OfferReason::Yank, version("1.0.0"))),
        other => panic!("a yanked install must go back, got {other:?}"),
    }
    assert_eq!(latest(&fixture, "beta").version, version("1.0.0"));
    assert!(fixture.fails(&["rollout", "beta", "100"]).contains("yanked back to 1.0.0"));
    let again = assert_fails(&fixture.publish("beta", &[&v11], &[]));
    assert!(again.contains("1.1.0 was yanked from beta"), "{again}");
    let older = fixture.dist("1.0.5", LINUX, key, false);
    let not_newer = assert_fails(&fixture.publish("beta", &[&older], &[]));
    assert!(not_newer.contains("has already released 1.1.0; 1.0.5 is not newer"), "{not_newer}");
    let nothing_left = fixture.fails(&["yank", "beta"]);
    assert!(nothing_left.contains("no earlier release to go back to"), "{nothing_left}");

    let v12 = fixture.dist("1.2.0", LINUX, key, false);
    assert_ok(&fixture.publish("beta", &[&v12], &[]));
    fixture.ok(&["promote", "1.2.0", "--from", "beta", "--to", "stable", "--rollout", "25"]);
    let stable = fixture.manifest("stable");
    assert_eq!((stable.sequence, stable.version.to_string(), stable.rollout.percent), (1, "1.2.0".into(), 25));
    assert_eq!(stable.platforms, fixture.manifest("beta").platforms);
    assert_ne!(stable.rollout.salt, fixture.manifest("beta").rollout.salt, "each channel draws its own sample");
    assert!(fixture.fails(&["promote", "1.1.0", "--from", "beta", "--to", "stable"]).contains("yanked from beta"));
    assert!(fixture.fails(&["promote", "9.9.9", "--from", "beta", "--to", "stable"]).contains("never released 9.9.9"));

    // The whole history verifies, and the sequence only ever grew.
    let public = fixture.public_key_file(key);
    fixture.ok(&["verify", "beta", "--pubkey", public.to_str().unwrap()]);
    fixture.ok(&["verify", "stable", "--pubkey", public.to_str().unwrap()]);
    let history: Vec<String> =
        walk(&fixture.channel("beta").join("history")).into_keys().filter(|k| !k.ends_with(".minisig")).collect();
    assert_eq!(history.len(), 8);
}

/// Copies a tree so each kill starts from the same state.
fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in walk(from) {
        let path = to.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

#[test]
fn killing_a_change_at_any_write_point_leaves_the_old_or_the_new_channel() {
    const POINTS: &[&str] = &[
        "stored",
        "locked",
        "history-written",
        "manifest-written",
        "latest-written",
        "repository-written",
        "staged",
        "swapped",
        "done",
    ];
    // With the apt repository: it is part of the channel, old or new with it.
    let fixture = Fixture::with_repository();
    let key = release_key();
    let v1 = fixture.dist("1.0.0", LINUX, key, false);
    let v2 = fixture.dist("2.0.0", LINUX, key, false);
    assert_ok(&fixture.publish("beta", &[&v1], &[]));
    let start = fixture.dir.path().join("start");
    copy_tree(&fixture.manifests(), &start);

    // An update of a channel, a first publish, and a rollout change.
    let publish = |channel: &str| {
        ["publish", "--channel", channel, "--base-url", BASE_URL, v2.to_str().unwrap()].map(String::from).to_vec()
    };
    let scenarios = [
        ("publish", publish("beta")),
        ("publish", publish("nightly")),
        ("rollout", ["rollout", "beta", "40"].map(String::from).to_vec()),
    ];
    let reset = || {
        std::fs::remove_dir_all(fixture.manifests()).unwrap();
        copy_tree(&start, &fixture.manifests());
    };
    for (command, args) in &scenarios {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        reset();
        let before = walk(&fixture.manifests());
        fixture.ok(&args);
        let after = walk(&fixture.manifests());
        assert_ne!(before, after);

        for point in POINTS {
            // Only `publish` adds to the file store.
            if *point == "stored" && *command != "publish" {
                continue;
            }
            reset();
            let manifests = fixture.manifests();
            let mut all = args.clone();
            all.extend(["--manifests-dir", manifests.to_str().unwrap()]);
            let out = fixture.command(&all).env("HUDSON_FAILPOINT", format!("{command}:{point}")).output().unwrap();
            assert!(
                killed_by_failpoint(&out.status),
                "{command}:{point} did not kill the process ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            let (state, store) = channels_and_store(&fixture.manifests());
            let (before, before_store) = channels_and_store_of(&before);
            let (after, _) = channels_and_store_of(&after);
            assert!(state == before || state == after, "{command}:{point} left a mix of old and new files");
            // The store only gains objects, each whole under its name
            // (a temporary file is removed by the next command's lock).
            assert!(before_store.iter().all(|(path, bytes)| store.get(path) == Some(bytes)), "{command}:{point}");
            for (path, bytes) in &store {
                assert_store_file_sound(path, bytes);
            }
            // Until the swap the old channel stands; from the swap on, the new one.
            let expected = if ["swapped", "done"].contains(point) { &after } else { &before };
            assert!(
                &state == expected,
                "{command}:{point} left the {} state",
                if state == before { "old" } else { "new" }
            );
        }
    }
    // A later command, under the lock, removes what killed runs left beside the tree.
    reset_and_publish_cleans_staging(&fixture, &v2);
}

/// A failpoint ends the process the way a crash would: SIGKILL on Unix; on
/// Windows, which has no signal a process can send itself, `abort()`
/// (`__fastfail`, exit status STATUS_STACK_BUFFER_OVERRUN).
fn killed_by_failpoint(status: &ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status.signal() == Some(libc::SIGKILL)
    }
    #[cfg(windows)]
    {
        status.code() == Some(0xC000_0409_u32 as i32)
    }
}

fn reset_and_publish_cleans_staging(fixture: &Fixture, dist: &Path) {
    let leftovers = || {
        std::fs::read_dir(fixture.dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".release-manifests-staging-"))
            .count()
    };
    let manifests = fixture.manifests();
    let args = [
        "publish",
        "--channel",
        "cleanup",
        "--base-url",
        BASE_URL,
        dist.to_str().unwrap(),
        "--manifests-dir",
        manifests.to_str().unwrap(),
    ];
    let killed = fixture.command(&args).env("HUDSON_FAILPOINT", "publish:staged").output().unwrap();
    assert!(killed_by_failpoint(&killed.status), "{}", killed.status);
    assert_eq!(leftovers(), 1, "the killed run left its staging folder beside the tree");
    assert!(!fixture.channel("cleanup").exists());
    assert_ok(&fixture.publish("cleanup", &[dist], &[]));
    assert_eq!(leftovers(), 0);
}

#[test]
fn bad_inputs_are_refused_each_with_its_own_error() {
    let fixture = Fixture::new();
    let key = release_key();
    let good = fixture.dist("1.0.0", LINUX, key, false);

    // A dist manifest whose artifact path leaves its folder.
    let escaping = fixture.dir.path().join("escaping.json");
    let mut text = std::fs::read_to_string(&good).unwrap();
    text = text.replace("\"Hudson_1.0.0_amd64.deb\"", "\"../Hudson_1.0.0_amd64.deb\"");
    std::fs::write(&escaping, text).unwrap();
    let error = assert_fails(&fixture.publish("beta", &[&escaping], &[]));
    assert!(error.contains("escapes the manifest's folder"), "{error}");

    // The portable tree listed as a deb: its name says what it is.
    let mislabelled = good.parent().unwrap().join("mislabelled.json");
    let mut manifest = DistManifest::from_json(&std::fs::read(&good).unwrap()).unwrap();
    for artifact in &mut manifest.artifacts {
        if artifact.kind == ArtifactKind::Portable {
            artifact.kind = ArtifactKind::Deb;
        }
    }
    std::fs::write(&mislabelled, manifest.to_json()).unwrap();
    let error = assert_fails(&fixture.publish("beta", &[&mislabelled], &[]));
    assert!(error.contains("is listed as `deb`, but its name is that of a `portable`"), "{error}");

    // An artifact changed after dist signed it.
    let tampered = fixture.dist("1.0.1", LINUX, key, false);
    let deb = tampered.parent().unwrap().join("Hudson_1.0.1_amd64.deb");
    let mut bytes = std::fs::read(&deb).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&deb, bytes).unwrap();
    let error = assert_fails(&fixture.publish("beta", &[&tampered], &[]));
    assert!(error.contains("does not match what") && error.contains("SHA-256"), "{error}");

    // Built with another key than the one signing the channel.
    let foreign = fixture.dist("1.0.2", MAC, other_key(), false);
    let error = assert_fails(&fixture.publish("beta", &[&foreign], &[]));
    assert!(error.contains("build and publish with the same TAURI_SIGNING_PRIVATE_KEY"), "{error}");

    // A development build never reaches a protected channel.
    let development = fixture.dist("1.0.3", MAC, key, true);
    let error = assert_fails(&fixture.publish("stable", &[&development], &[]));
    assert!(error.contains("development key") && error.contains("protected"), "{error}");

    // Two builds of one target, or of two versions.
    let error = assert_fails(&fixture.publish("beta", &[&good, &good], &[]));
    assert!(error.contains("pass one dist manifest per target"), "{error}");
    let other_version = fixture.dist("2.0.0", MAC, key, false);
    let error = assert_fails(&fixture.publish("beta", &[&good, &other_version], &[]));
    assert!(error.contains("publish one release at a time"), "{error}");

    // A base URL a stock updater would refuse, a channel name that is a path.
    let out =
        fixture.run(&["publish", "--channel", "beta", "--base-url", "http://updates.example", good.to_str().unwrap()]);
    assert!(assert_fails(&out).contains("plain http:// is allowed only for a loopback host; use https://"));
    let out = fixture.run(&["publish", "--channel", "../etc", "--base-url", BASE_URL, good.to_str().unwrap()]);
    assert!(assert_fails(&out).contains("is not a channel name"));

    // A wrong password: a clear error that does not echo it.
    let wrong = "not-the-password-9f1c";
    let manifests = fixture.manifests();
    let out = fixture
        .command(&[
            "publish",
            "--channel",
            "beta",
            "--base-url",
            BASE_URL,
            good.to_str().unwrap(),
            "--manifests-dir",
            manifests.to_str().unwrap(),
        ])
        .env("TAURI_SIGNING_PRIVATE_KEY_PASSWORD", wrong)
        .output()
        .unwrap();
    let error = assert_fails(&out);
    assert!(error.contains("wrong password") && error.contains("TAURI_SIGNING_PRIVATE_KEY_PASSWORD"), "{error}");
    let everything = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
    for secret in [wrong, PASSWORD, &key.secret_base64] {
        assert!(!contains(&everything, secret.as_bytes()), "the output shows a secret");
    }

    assert!(!manifests.join("beta").exists(), "a refused publish wrote nothing");
    assert!(!manifests.join("stable").exists());
}

#[test]
fn a_blank_signing_key_is_an_error_not_the_development_key() {
    let fixture = Fixture::new();
    let dist = fixture.dist("1.0.0", LINUX, release_key(), false);
    let manifests = fixture.manifests();
    for blank in ["", "   ", "\n \n"] {
        let out = fixture
            .command(&[
                "publish",
                "--channel",
                "beta",
                "--base-url",
                BASE_URL,
                dist.to_str().unwrap(),
                "--manifests-dir",
                manifests.to_str().unwrap(),
            ])
            .env("TAURI_SIGNING_PRIVATE_KEY", blank)
            .output()
            .unwrap();
        let error = assert_fails(&out);
        assert!(
            error.contains("TAURI_SIGNING_PRIVATE_KEY is set but blank") && error.contains("unset it"),
            "{blank:?}: {error}"
        );
        assert!(!error.contains("development key "), "{blank:?} fell back to the development key: {error}");
        assert!(!manifests.exists(), "a refused publish wrote nothing");
    }
}

/// `cargo xtask` removes the signing variables as it starts; the kernel's copy
/// of its initial environment must not keep them either. The child is held
/// opening a FIFO given as `--pubkey` while its environment is read.
#[cfg(target_os = "linux")]
#[test]
fn the_signing_secrets_leave_xtasks_own_environment() {
    use std::os::unix::fs::OpenOptionsExt as _;

    let fixture = Fixture::new();
    let channel = fixture.channel("beta");
    std::fs::create_dir_all(&channel).unwrap();
    std::fs::write(channel.join("manifest.json"), b"{}").unwrap();
    let fifo = fixture.dir.path().join("pubkey.fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);

    let mut child = fixture
        .command(&["verify", channel.to_str().unwrap(), "--pubkey", fifo.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // A non-blocking open for writing succeeds once a reader is opening the FIFO.
    let started = std::time::Instant::now();
    let writer = loop {
        match std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo) {
            Ok(writer) => break writer,
            Err(error) if error.raw_os_error() == Some(libc::ENXIO) => {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("xtask exited ({status}) before opening --pubkey");
                }
                assert!(started.elapsed() < std::time::Duration::from_secs(60), "xtask never opened --pubkey");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(error) => panic!("opening the FIFO: {error}"),
        }
    };
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    drop(writer);
    child.wait().unwrap();

    assert!(contains(&environ, format!("HUDSON_NOW={NOW}").as_bytes()), "not xtask's environment");
    for secret in [PASSWORD, &release_key().secret_base64] {
        assert!(!contains(&environ, secret.as_bytes()), "/proc/<xtask>/environ still shows a signing secret");
    }
}

#[test]
fn a_base_url_with_user_info_is_refused_without_showing_it() {
    let fixture = Fixture::new();
    let dist = fixture.dist("1.0.0", LINUX, release_key(), false);
    for base in ["https://user:s3cr3t@updates.example/", "https://s3cr3t@updates.example/{version}"] {
        let out = fixture.run(&["publish", "--channel", "beta", "--base-url", base, dist.to_str().unwrap()]);
        let error = assert_fails(&out);
        assert!(error.contains("--base-url is refused") && error.contains("user name or password"), "{error}");
        let everything = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        assert!(!contains(&everything, b"s3cr3t"), "the output shows the password: {error}");
        assert!(!fixture.manifests().exists(), "a refused publish wrote nothing");
    }
}

/// A dist manifest whose artifact kinds, target and platform keys disagree.
fn mislabelled(good: &Path, name: &str, change: impl FnOnce(&mut DistManifest)) -> PathBuf {
    let mut manifest = DistManifest::from_json(&std::fs::read(good).unwrap()).unwrap();
    change(&mut manifest);
    let path = good.parent().unwrap().join(name);
    std::fs::write(&path, manifest.to_json()).unwrap();
    path
}

#[test]
fn publish_refuses_an_artifact_kind_under_another_platform() {
    let fixture = Fixture::new();
    let good = fixture.dist("1.0.0", LINUX, release_key(), false);
    let rpm = "Hudson-1.0.0-1.x86_64.rpm";
    let keys_of_rpm = |keys: &[&str]| {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        move |manifest: &mut DistManifest| {
            let artifact = manifest.artifacts.iter_mut().find(|a| a.path == rpm).unwrap();
            artifact.updater.as_mut().unwrap().platform_keys = keys;
        }
    };

    // A Linux rpm where a Windows key would be made.
    let windows_key = mislabelled(&good, "windows-key.json", keys_of_rpm(&["windows-x86_64-msi"]));
    let error = assert_fails(&fixture.publish("beta", &[&windows_key], &[]));
    assert!(
        error.contains(&format!("artifact {rpm}")) && error.contains("may not be offered under windows-x86_64-msi"),
        "{error}"
    );
    // The bare key (a stock updater's default: the AppImage), another
    // installer's key, another architecture's key.
    for key in ["linux-x86_64", "linux-x86_64-deb", "linux-aarch64-rpm"] {
        let other = mislabelled(&good, "other-key.json", keys_of_rpm(&[key]));
        let error = assert_fails(&fixture.publish("beta", &[&other], &[]));
        assert!(
            error.contains(&format!("artifact {rpm}")) && error.contains(&format!("may not be offered under {key}")),
            "{key}: {error}"
        );
    }

    // The target triple says Windows, the artifacts are Linux packages.
    let windows = "x86_64-pc-windows-msvc";
    let windows_target = mislabelled(&good, "windows-target.json", |manifest| {
        manifest.target = windows.to_owned();
        for artifact in &mut manifest.artifacts {
            artifact.target = windows.to_owned();
        }
    });
    let error = assert_fails(&fixture.publish("beta", &[&windows_target], &[]));
    assert!(
        error.contains("artifact Hudson_1.0.0_amd64.deb")
            && error.contains("a `deb` is a linux artifact, but target x86_64-pc-windows-msvc is windows"),
        "{error}"
    );
    // One artifact's target differs from its manifest's.
    let one_target = mislabelled(&good, "one-target.json", |manifest| {
        manifest.artifacts.iter_mut().find(|a| a.path == rpm).unwrap().target = windows.to_owned();
    });
    let error = assert_fails(&fixture.publish("beta", &[&one_target], &[]));
    assert!(error.contains(&format!("artifact {rpm} is for target {windows}")), "{error}");

    assert!(!fixture.channel("beta").exists(), "a refused publish wrote nothing");
    assert_ok(&fixture.publish("beta", &[&good], &[]));
}

#[test]
fn verify_refuses_an_artifact_kind_under_another_platform() {
    let fixture = Fixture::new();
    let (beta, public) = fixture.published_beta();
    let verify = || fixture.run(&["verify", "beta", "--pubkey", public.to_str().unwrap()]);
    assert_ok(&verify());

    // latest.json offering the rpm to Windows installs.
    let latest = std::fs::read_to_string(beta.join("latest.json")).unwrap();
    assert!(latest.contains("\"linux-x86_64-rpm\""));
    std::fs::write(beta.join("latest.json"), latest.replace("\"linux-x86_64-rpm\"", "\"windows-x86_64-nsis\""))
        .unwrap();
    let error = assert_fails(&verify());
    assert!(
        error.contains("latest.json")
            && error.contains("platform windows-x86_64-nsis: artifact Hudson-1.0.0-1.x86_64.rpm")
            && error.contains("may not be offered under windows-x86_64-nsis"),
        "{error}"
    );
    std::fs::write(beta.join("latest.json"), latest).unwrap();
    assert_ok(&verify());

    // A manifest signed by the trusted key that offers the rpm under a Windows key.
    let mut manifest = fixture.manifest("beta");
    let entry = manifest.platforms.remove(&platform("linux-x86_64-rpm")).unwrap();
    manifest.platforms.insert(platform("windows-x86_64-msi"), entry);
    let signed = manifest.sign(&release_key().secret).unwrap();
    std::fs::write(beta.join("manifest.json"), &signed.json).unwrap();
    std::fs::write(beta.join("manifest.json.minisig"), signed.signature_text()).unwrap();
    let error = assert_fails(&verify());
    assert!(
        error.contains("manifest.json")
            && error.contains("platform windows-x86_64-msi: artifact Hudson-1.0.0-1.x86_64.rpm")
            && error.contains("may not be offered under windows-x86_64-msi"),
        "{error}"
    );
}

#[test]
fn verify_names_the_latest_json_field_that_differs_and_both_values() {
    let fixture = Fixture::new();
    let dist = fixture.dist("1.0.0", LINUX, release_key(), false);
    assert_ok(&fixture.publish("beta", &[&dist], &["--notes", "First beta"]));
    let public = fixture.public_key_file(release_key());
    let path = fixture.channel("beta").join("latest.json");
    let original = std::fs::read(&path).unwrap();
    let good = signing::latest::LatestJson::from_json(&original).unwrap();
    let verify = || fixture.run(&["verify", "beta", "--pubkey", public.to_str().unwrap()]);
    assert_ok(&verify());

    let deb = platform("linux-x86_64-deb");
    let good_url = good.platforms[&deb].url.clone();
    let good_signature = good.platforms[&deb].signature.clone();
    let rpm_signature = good.platforms[&platform("linux-x86_64-rpm")].signature.clone();
    let good_date = good.pub_date.unwrap().format(&time::format_description::well_known::Rfc3339).unwrap();
    let evil_url = "https://evil.example/Hudson_1.0.0_amd64.deb";
    type Change = Box<dyn Fn(&mut signing::latest::LatestJson)>;
    let cases: Vec<(Change, Vec<String>)> = vec![
        (
            Box::new(move |l| l.platforms.get_mut(&deb).unwrap().url = evil_url.to_owned()),
            vec![format!("platforms.linux-x86_64-deb.url is {evil_url:?}, the history implies {good_url:?}")],
        ),
        (
            Box::new({
                let rpm_signature = rpm_signature.clone();
                move |l| l.platforms.get_mut(&deb).unwrap().signature = rpm_signature.clone()
            }),
            vec![format!(
                "platforms.linux-x86_64-deb.signature is {rpm_signature:?}, the history implies {good_signature:?}"
            )],
        ),
        (
            Box::new(move |l| {
                let entry = l.platforms[&deb].clone();
                l.platforms.insert(platform("linux-aarch64-deb"), entry);
            }),
            vec!["platform linux-aarch64-deb is added".to_owned()],
        ),
        (
            Box::new(move |l| {
                l.platforms.remove(&deb);
            }),
            vec!["platform linux-x86_64-deb is missing".to_owned()],
        ),
        (
            Box::new(|l| l.notes = Some("Please install now".to_owned())),
            vec!["notes is Some(\"Please install now\"), the history implies Some(\"First beta\")".to_owned()],
        ),
        (
            Box::new(|l| l.pub_date = Some(now() + time::Duration::days(1))),
            vec![format!("pub_date is Some(\"2026-05-02T12:00:00Z\"), the history implies Some(\"{good_date}\")")],
        ),
        (
            Box::new(|l| l.version = version("9.9.9")),
            vec!["version is \"9.9.9\", the history implies \"1.0.0\"".to_owned()],
        ),
    ];
    for (change, needles) in cases {
        let mut latest = good.clone();
        change(&mut latest);
        std::fs::write(&path, latest.to_json()).unwrap();
        let error = assert_fails(&verify());
        for needle in needles {
            assert!(error.contains(&needle), "expected {needle:?} in:\n{error}");
        }
    }
    // Same fields, other bytes.
    let compact = serde_json::to_vec(&good).unwrap();
    std::fs::write(&path, compact).unwrap();
    assert!(assert_fails(&verify()).contains("the bytes are not the canonical form"));
    std::fs::write(&path, original).unwrap();
    assert_ok(&verify());
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn verify_refuses_a_damaged_or_stale_channel_with_distinct_errors() {
    let fixture = Fixture::new();
    let key = release_key();
    let dist = fixture.dist("1.0.0", LINUX, key, false);
    assert_ok(&fixture.publish("beta", &[&dist], &[]));
    let public = fixture.public_key_file(key);
    let public = public.to_str().unwrap();
    let artifacts = dist.parent().unwrap().to_str().unwrap();
    let beta = fixture.channel("beta");
    let original = walk(&beta);
    let restore = || {
        std::fs::remove_dir_all(&beta).unwrap();
        for (rel, bytes) in &original {
            let path = beta.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    };
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "beta", "--pubkey", public];
        args.extend(extra);
        fixture.run(&args)
    };
    assert_ok(&verify(&["--artifacts", artifacts]));

    let flip = |name: &str, at: usize| {
        let path = beta.join(name);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at] ^= 1;
        std::fs::write(&path, bytes).unwrap();
    };
    let mut seen = Vec::new();
    let mut expect = |out: Output, needle: &str| {
        let error = assert_fails(&out);
        assert!(error.contains(needle), "expected {needle:?} in:\n{error}");
        seen.push(needle.to_owned());
        restore();
    };
    flip("manifest.json", 40);
    expect(verify(&[]), "does not verify: the manifest or its signature was altered");
    // A letter of the signed trusted comment (`channel:beta` → `channel:ceta`).
    let signature = std::fs::read_to_string(beta.join("manifest.json.minisig")).unwrap();
    flip("manifest.json.minisig", signature.find("channel:beta").unwrap() + "channel:".len());
    expect(verify(&[]), "does not verify");
    flip("latest.json", 20);
    expect(verify(&[]), "latest.json");
    let other = fixture.public_key_file(other_key());
    expect(fixture.run(&["verify", "beta", "--pubkey", other.to_str().unwrap()]), "which this app does not trust");
    let mut json = std::fs::read(beta.join("manifest.json")).unwrap();
    json.extend(std::iter::repeat_n(b' ', 2 << 20));
    std::fs::write(beta.join("manifest.json"), json).unwrap();
    expect(verify(&[]), "manifest.json is larger than 1048576 bytes");
    let manifests = fixture.manifests();
    let late = fixture
        .command(&["verify", "beta", "--pubkey", public, "--manifests-dir", manifests.to_str().unwrap()])
        .env("HUDSON_NOW", "2026-07-01T00:00:00Z")
        .output()
        .unwrap();
    expect(late, "expired");
    let mixed = fixture.manifests().join("stable");
    copy_tree(&beta, &mixed);
    expect(fixture.run(&["verify", mixed.to_str().unwrap(), "--pubkey", public]), "channels were mixed up");
    std::fs::remove_dir_all(&mixed).unwrap();
    let deb = dist.parent().unwrap().join("Hudson_1.0.0_amd64.deb");
    let good_deb = std::fs::read(&deb).unwrap();
    let mut bad_deb = good_deb.clone();
    bad_deb.push(0);
    std::fs::write(&deb, &bad_deb).unwrap();
    expect(verify(&["--artifacts", artifacts]), "the manifest says");
    bad_deb.pop();
    bad_deb[7] ^= 1;
    std::fs::write(&deb, &bad_deb).unwrap();
    expect(verify(&["--artifacts", artifacts]), "SHA-256");
    std::fs::write(&deb, &good_deb).unwrap();
    assert_ok(&verify(&["--artifacts", artifacts]));
    assert_eq!(seen.len(), 9);
}

#[test]
fn keygen_writes_a_tauri_key_pair_that_publishes() {
    let fixture = Fixture::new();
    let out = fixture.dir.path().join("keys/release.key");
    let run = |args: &[&str], password: Option<&str>| {
        let mut command = fixture.command(args);
        command.env_remove("TAURI_SIGNING_PRIVATE_KEY").env_remove("TAURI_SIGNING_PRIVATE_KEY_PASSWORD");
        if let Some(password) = password {
            command.env("TAURI_SIGNING_PRIVATE_KEY_PASSWORD", password);
        }
        command.stdin(std::process::Stdio::null()).output().unwrap()
    };
    let path = out.to_str().unwrap();
    let made = run(&["keygen", "--out", path], Some(PASSWORD));
    assert_ok(&made);
    let secret = std::fs::read_to_string(&out).unwrap();
    let public = std::fs::read_to_string(format!("{path}.pub")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(String::from_utf8(made.stdout).unwrap().trim(), public.trim(), "stdout is the public key");
    let decoded = String::from_utf8(BASE64.decode(secret.trim()).unwrap()).unwrap();
    assert!(
        decoded.starts_with("untrusted comment:"),
        "the key file is base64 of the minisign text, as tauri writes it"
    );
    let key = SecretKey::from_env_value(path, Some(PASSWORD)).unwrap();
    assert_eq!(key.public_key(), &PublicKey::parse(&public).unwrap());
    assert!(!contains(&std::fs::read(&out).unwrap(), PASSWORD.as_bytes()));

    assert!(assert_fails(&run(&["keygen", "--out", path], Some(PASSWORD))).contains("--force"));
    assert!(assert_fails(&run(&["keygen", "--out", path, "--force"], None)).contains("--no-password"));
    assert_ok(&run(&["keygen", "--out", path, "--force", "--no-password"], None));
    let unencrypted = SecretKey::from_env_value(path, None).unwrap();
    assert_ne!(unencrypted.key_id(), key.key_id());
}

/// Runs a channel command, killing it (and failing the test) if it has not
/// exited after a minute: a reader that blocks on a FIFO would never return.
/// (FIFOs and symlinks to devices are Unix things; so is its one caller.)
#[cfg(unix)]
fn run_guarded(fixture: &Fixture, args: &[&str]) -> Output {
    let manifests = fixture.manifests();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--manifests-dir", manifests.to_str().unwrap()]);
    let mut child = fixture
        .command(&all)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("xtask {args:?} hangs on a planted file");
}

#[cfg(unix)]
#[test]
fn channel_files_are_read_as_bounded_regular_files() {
    let fixture = Fixture::new();
    let (beta, public) = fixture.published_beta();
    let history = std::fs::read_dir(beta.join("history"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a history entry");
    let history_name = format!("history/{}", history.file_name().unwrap().to_string_lossy());
    let verify = ["verify", "beta", "--pubkey", public.to_str().unwrap()];
    let halt = ["halt", "beta"];
    type Plant = (&'static str, Box<dyn Fn(&Path)>);
    let plants: Vec<Plant> = vec![
        ("is a symlink", Box::new(|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap())),
        (
            "is a FIFO",
            Box::new(|p: &Path| {
                let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: mkfifo on a path the test owns.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            }),
        ),
        ("is larger than", Box::new(|p: &Path| std::fs::write(p, vec![b' '; (1 << 20) + 1]).unwrap())),
    ];
    for (name, commands) in [
        ("latest.json", vec![&verify[..]]),
        ("manifest.json", vec![&verify[..], &halt[..]]),
        ("manifest.json.minisig", vec![&verify[..], &halt[..]]),
        (history_name.as_str(), vec![&verify[..], &halt[..]]),
    ] {
        let path = beta.join(name);
        let original = std::fs::read(&path).unwrap();
        for (says, plant) in &plants {
            std::fs::remove_file(&path).unwrap();
            plant(&path);
            for args in &commands {
                let out = run_guarded(&fixture, args);
                let error = assert_fails(&out);
                assert!(
                    error.contains(&format!("{} {says}", path.display())),
                    "{args:?} with {name} that {says}:\n{error}"
                );
            }
            std::fs::remove_file(&path).unwrap();
            std::fs::write(&path, &original).unwrap();
        }
    }
    assert_ok(&run_guarded(&fixture, &verify));
}

/// Runs a channel command signed by `key` instead of the release key.
fn run_with_key(fixture: &Fixture, key: &Key, password: &str, args: &[&str]) -> Output {
    let manifests = fixture.manifests();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--manifests-dir", manifests.to_str().unwrap()]);
    fixture
        .command(&all)
        .env("TAURI_SIGNING_PRIVATE_KEY", &key.secret_base64)
        .env("TAURI_SIGNING_PRIVATE_KEY_PASSWORD", password)
        .output()
        .unwrap()
}

#[test]
fn a_channel_changes_keys_only_through_a_rotation_signed_by_its_key() {
    let fixture = Fixture::new();
    let (beta, old_pub) = fixture.published_beta();
    let (old, new) = (release_key().public().key_id(), other_key().public().key_id());
    let new_pub = fixture.public_key_file(other_key());
    let verify_with = |public: &Path| fixture.run(&["verify", "beta", "--pubkey", public.to_str().unwrap()]);

    // Another key is refused, naming both keys and the way out; nothing changes.
    let before = walk(&beta);
    let error = assert_fails(&run_with_key(&fixture, other_key(), "another one", &["rollout", "beta", "50"]));
    assert!(
        error.contains(&format!("beta is signed by key {old}, but this command would sign it with key {new}"))
            && error.contains("cargo xtask rotate-key beta --to"),
        "{error}"
    );
    assert_eq!(walk(&beta), before);
    // Only the channel's own key may rotate it.
    let error = assert_fails(&run_with_key(
        &fixture,
        other_key(),
        "another one",
        &["rotate-key", "beta", "--to", new_pub.to_str().unwrap()],
    ));
    assert!(error.contains(&format!("beta is signed by key {old}")), "{error}");
    assert_eq!(walk(&beta), before);

    // The rotation, signed by the old key.
    let said = fixture.ok(&["rotate-key", "beta", "--to", new_pub.to_str().unwrap()]);
    assert!(said.contains(&format!("beta is handed from key {old} to key {new} from sequence 2")), "{said}");
    let chain = signing::rotation::KeyChain::from_json(&std::fs::read(beta.join("keys.json")).unwrap()).unwrap();
    let schedule = chain.follow("beta", std::slice::from_ref(release_key().public()), release_key().public()).unwrap();
    assert_eq!(schedule.key_for(1).key_id(), old);
    assert_eq!(schedule.key_for(2).key_id(), new);
    // Until the new key signs a change, apps (and verify) refuse the channel.
    let error = assert_fails(&verify_with(&old_pub));
    assert!(error.contains(&format!("apps refuse it until the next change is signed with key {new}")), "{error}");

    // Now the old key is the stranger, and the new one signs.
    let error = fixture.fails(&["rollout", "beta", "50"]);
    assert!(
        error.contains(&format!("beta is signed by key {new}, but this command would sign it with key {old}")),
        "{error}"
    );
    assert_ok(&run_with_key(&fixture, other_key(), "another one", &["rollout", "beta", "50"]));
    let said = assert_ok(&verify_with(&old_pub));
    assert!(said.contains(&format!("key chain: 1 rotation(s) from the trusted key {old} to {new}")), "{said}");
    assert!(said.contains(&format!("at sequence 2, signed by key {new}")), "{said}");
    // Who trusts only the new key cannot vouch for the history before it.
    let error = assert_fails(&verify_with(&new_pub));
    assert!(error.contains(&format!("00000001.json is signed by key {old}, which is not trusted here")), "{error}");

    // An edited chain (the statement handing the channel to a third key) is refused.
    let third = key("third");
    let original = std::fs::read_to_string(beta.join("keys.json")).unwrap();
    let forged = original.replace(&other_key().public().to_tauri_base64(), &third.public().to_tauri_base64());
    assert_ne!(forged, original);
    std::fs::write(beta.join("keys.json"), forged).unwrap();
    let error = assert_fails(&verify_with(&old_pub));
    assert!(error.contains("link 1 of the key chain does not verify"), "{error}");
    // A history entry signed by the retired key after its last sequence.
    std::fs::write(beta.join("keys.json"), &original).unwrap();
    let mut manifest = fixture.manifest("beta");
    manifest.sequence = 3;
    let signed = manifest.sign(&release_key().secret).unwrap();
    std::fs::write(beta.join("history/00000003.json"), &signed.json).unwrap();
    std::fs::write(beta.join("history/00000003.json.minisig"), signed.signature_text()).unwrap();
    std::fs::write(beta.join("manifest.json"), &signed.json).unwrap();
    std::fs::write(beta.join("manifest.json.minisig"), signed.signature_text()).unwrap();
    let error = assert_fails(&verify_with(&old_pub));
    assert!(error.contains(&format!("does not verify with key {new}, the channel's key for sequence 3")), "{error}");
}

#[test]
fn verify_names_files_no_manifest_accounts_for() {
    let fixture = Fixture::new();
    let (beta, public) = fixture.published_beta();
    let verify = || fixture.run(&["verify", "beta", "--pubkey", public.to_str().unwrap()]);
    assert_ok(&verify());
    std::fs::write(beta.join("latest.json.bak"), b"{}").unwrap();
    std::fs::write(beta.join("history/00000009.json.minisig"), b"orphan").unwrap();
    let error = assert_fails(&verify());
    assert!(
        error.contains("holds files no manifest accounts for: history/00000009.json.minisig, latest.json.bak"),
        "{error}"
    );
    std::fs::remove_file(beta.join("latest.json.bak")).unwrap();
    std::fs::remove_file(beta.join("history/00000009.json.minisig")).unwrap();
    assert_ok(&verify());
}

#[test]
fn publish_stores_each_file_once_by_content_and_verify_names_each_damaged_object() {
    let fixture = Fixture::new();
    let key = release_key();
    let v1 = fixture.dist("1.0.0", LINUX, key, false);
    let v2 = fixture.dist("2.0.0", LINUX, key, false);
    let first = assert_ok(&fixture.publish("beta", &[&v1], &[]));
    // 7 files, 6 distinct non-empty contents (libz.so twice, one empty file).
    assert!(first.contains("7 files (0 MB) in the store, 5 new object(s), 0 already there"), "{first}");
    let second = assert_ok(&fixture.publish("beta", &[&v2], &[]));
    // Only the shell and the renamed, changed module are new.
    assert!(second.contains("7 files (0 MB) in the store, 2 new object(s), 3 already there"), "{second}");

    // The signed manifest names the tree manifest, which lists the tree
    // exactly as the archive unpacks it.
    let manifest = fixture.manifest("beta");
    let reference = manifest.platforms[&platform("linux-x86_64-portable")].tree.clone().expect("a portable tree");
    for (key, entry) in &manifest.platforms {
        assert_eq!(entry.tree.is_some(), key.to_string() == "linux-x86_64-portable", "{key}");
    }
    let bytes = std::fs::read(fixture.manifests().join(signing::tree::tree_path(&reference.sha256))).unwrap();
    let tree = signing::tree::TreeManifest::from_json_bound(&bytes, &reference).unwrap();
    assert_eq!(tree.version, version("2.0.0"));
    let listed: Vec<String> = tree
        .entries
        .iter()
        .map(|e| match &e.node {
            signing::tree::Node::Dir { mode } => format!("{} dir {mode:o}", e.path),
            signing::tree::Node::File { mode, size, .. } => format!("{} file {mode:o} {size}", e.path),
            signing::tree::Node::Symlink { target } => format!("{} -> {target}", e.path),
        })
        .collect();
    assert_eq!(
        listed,
        [
            "bin dir 755",
            "bin/hudson file 755 11",
            "erts dir 755",
            "erts/bin dir 755",
            "erts/bin/beam.smp file 755 40000",
            "erts/lib dir 755",
            "erts/lib/libz-link.so -> libz.so",
            "erts/lib/libz.so file 644 9000",
            "erts/lib/libz.so.1 file 644 9000",
            "lib dir 755",
            "lib/hudson-2.0.0 dir 755",
            "lib/hudson-2.0.0/app.beam file 644 9",
            "lib/phoenix dir 755",
            "lib/phoenix/phoenix.beam file 644 20000",
            "releases dir 755",
            "releases/empty file 644 0",
        ]
    );
    // latest.json, what a stock updater reads, does not change shape.
    assert!(!std::fs::read_to_string(fixture.channel("beta").join("latest.json")).unwrap().contains("tree"));

    let public = fixture.public_key_file(key);
    let public = public.to_str().unwrap();
    let ok = fixture.ok(&["verify", "beta", "--pubkey", public]);
    assert!(ok.contains("file store: 2 tree manifest(s), 7 object(s)"), "{ok}");

    // One object gone, one with a flipped byte: both named, with the
    // release and file they belong to.
    let objects: Vec<_> = tree.objects();
    let gone = objects.iter().find(|o| o.size == 40_000).unwrap();
    let flipped = objects.iter().find(|o| o.size == 20_000).unwrap();
    let gone_path = fixture.manifests().join(signing::tree::object_path(&gone.sha256));
    std::fs::remove_file(&gone_path).unwrap();
    let flipped_path = fixture.manifests().join(signing::tree::object_path(&flipped.sha256));
    let mut raw = zstd::decode_all(std::fs::read(&flipped_path).unwrap().as_slice()).unwrap();
    raw[100] ^= 1;
    std::fs::write(&flipped_path, zstd::encode_all(raw.as_slice(), 3).unwrap()).unwrap();
    let error = fixture.fails(&["verify", "beta", "--pubkey", public]);
    assert!(
        error.contains(&format!("{} (a file of 1.0.0 for linux-x86_64-portable, 40000 bytes", gone_path.display())),
        "{error}"
    );
    assert!(error.contains(") is missing"), "{error}");
    assert!(
        error.contains(&format!("{} (a file of 1.0.0 for linux-x86_64-portable, 20000 bytes", flipped_path.display())),
        "{error}"
    );
    assert!(error.contains(") holds other bytes (20000 bytes with SHA-256"), "{error}");

    // A damaged tree manifest is named too.
    let tree_path = fixture.manifests().join(signing::tree::tree_path(&reference.sha256));
    std::fs::write(&tree_path, b"{}").unwrap();
    let error = fixture.fails(&["verify", "beta", "--pubkey", public]);
    assert!(error.contains("the tree manifest of 2.0.0 for linux-x86_64-portable"), "{error}");
    assert!(error.contains("not the one the signed channel manifest names"), "{error}");

    // The next publish puts back what it needs, and no channel may take
    // the store's name.
    let v3 = fixture.dist("3.0.0", LINUX, key, false);
    let third = assert_ok(&fixture.publish("beta", &[&v3], &[]));
    assert!(third.contains("1 damaged object(s) replaced"), "{third}");
    assert!(gone_path.is_file());
    let refused = assert_fails(&fixture.publish("store", &[&v3], &[]));
    assert!(refused.contains("is the file store's folder beside the channels"), "{refused}");

    // An `.app` is offered under two keys; both name its one tree, which
    // is labelled with the key an installed `.app` has.
    let mac = fixture.dist("1.0.0", MAC, key, false);
    assert_ok(&fixture.publish("mac", &[&mac], &[]));
    let manifest = fixture.manifest("mac");
    let bare = manifest.platforms[&platform("darwin-aarch64")].tree.clone().expect("a tree");
    assert_eq!(manifest.platforms[&platform("darwin-aarch64-app")].tree.as_ref(), Some(&bare));
    let bytes = std::fs::read(fixture.manifests().join(signing::tree::tree_path(&bare.sha256))).unwrap();
    let tree = signing::tree::TreeManifest::from_json_bound(&bytes, &bare).unwrap();
    assert_eq!(tree.platform, platform("darwin-aarch64-app"));
}

#[test]
fn gc_removes_only_what_no_signed_release_names() {
    let fixture = Fixture::new();
    let key = release_key();
    let v1 = fixture.dist("1.0.0", LINUX, key, false);
    let v2 = fixture.dist("2.0.0", LINUX, key, false);
    assert_ok(&fixture.publish("beta", &[&v1], &[]));
    // A publish killed after the store and before the channel: its objects
    // and tree manifest are written, no release names them.
    let manifests = fixture.manifests();
    let publish = ["publish", "--channel", "beta", "--base-url", BASE_URL, v2.to_str().unwrap()];
    let out = fixture
        .command(&[&publish[..], &["--manifests-dir", manifests.to_str().unwrap()]].concat())
        .env("HUDSON_FAILPOINT", "publish:stored")
        .output()
        .unwrap();
    assert!(killed_by_failpoint(&out.status));
    let before = walk(&manifests);
    let orphans: Vec<&String> = before.keys().filter(|p| p.starts_with("store/")).collect();
    assert_eq!(
        orphans.len(),
        5 + 1 + 2 + 2 + 1 + 2,
        "1.0.0: 5 objects, its tree, its deb and rpm; 2.0.0: 2 new objects, its tree, its deb and rpm"
    );

    let dry = fixture.ok(&["gc", "--dry-run"]);
    assert!(
        dry.contains(
            "1 signed release(s) name 1 tree manifest(s), 5 object(s) and 2 package(s); would remove 5 file(s)"
        ),
        "{dry}"
    );
    assert_eq!(walk(&manifests), before, "a dry run removes nothing");
    let done = fixture.ok(&["gc"]);
    assert!(done.contains("removed 5 file(s)"), "{done}");
    let after = walk(&manifests);
    let gone: Vec<&String> = before.keys().filter(|p| !after.contains_key(*p)).collect();
    assert_eq!(gone.len(), 5, "{gone:?}");
    assert!(gone.iter().any(|p| p.starts_with("store/packages/")), "{gone:?}");
    assert!(gone.iter().all(|p| p.starts_with("store/")), "{gone:?}");
    // What the channel names is all there: verify passes.
    let public = fixture.public_key_file(key);
    fixture.ok(&["verify", "beta", "--pubkey", public.to_str().unwrap()]);

    // Once 2.0.0 is published, its objects are named by the history and
    // stay, and so do 1.0.0's, which the history still names.
    assert_ok(&fixture.publish("beta", &[&v2], &[]));
    let done = fixture.ok(&["gc"]);
    assert!(
        done.contains("2 signed release(s) name 2 tree manifest(s), 7 object(s) and 4 package(s); removed 0 file(s)"),
        "{done}"
    );

    // A history entry it cannot read stops it before anything is removed.
    let entry = fixture.channel("beta").join("history/00000001.json");
    std::fs::write(&entry, b"{ not json").unwrap();
    let stray = fixture.manifests().join("store/trees/stray.json");
    std::fs::write(&stray, b"{}").unwrap();
    let error = fixture.fails(&["gc"]);
    assert!(error.contains("history entry 1 cannot be read; nothing was removed"), "{error}");
    assert!(stray.exists());
}

/// A change made to a published tree, to see who notices.
type Damage<'a> = Box<dyn Fn() + 'a>;

/// The repository key of the tests: made once by `keygen --openpgp`.
struct RepositoryKey {
    /// The armored secret key file (what HUDSON_OPENPGP_PRIVATE_KEY names).
    secret: PathBuf,
    /// The binary public keyring (`.pgp`), what apt's Signed-By names.
    keyring: PathBuf,
    armored: PathBuf,
}

fn repository_key() -> &'static RepositoryKey {
    static KEY: OnceLock<RepositoryKey> = OnceLock::new();
    KEY.get_or_init(|| make_repository_key("repository"))
}

fn make_repository_key(name: &str) -> RepositoryKey {
    let dir = tempfile::tempdir().unwrap().keep();
    let secret = dir.join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(workspace())
        .args(["keygen", "--openpgp", "--no-password", "--user-id", "Hudson test <t@example.invalid>", "--out"])
        .arg(&secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "keygen --openpgp: {}", String::from_utf8_lossy(&out.stderr));
    RepositoryKey { keyring: dir.join(format!("{name}.pgp")), armored: dir.join(format!("{name}.asc")), secret }
}

/// Signs the rpm at `path` in place with `key`, with
/// `rpmsign` and `gpg` (the tools a Fedora packager signs with: an
/// independent signer for the checks of `publish` and `verify`), in a
/// GnuPG home of its own whose agent is stopped after.
fn rpmsign(path: &Path, key: &RepositoryKey) {
    let home = tempfile::Builder::new().prefix("gpg").tempdir_in("/tmp").unwrap();
    let gpg = |args: &[&str]| {
        let out =
            Command::new("gpg").arg("--homedir").arg(home.path()).args(["--batch", "--quiet"]).args(args).output();
        let out = out.expect("gpg runs (Debian packages `gpg`, `gpg-agent`)");
        assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    gpg(&["--import", key.secret.to_str().unwrap()]);
    let out = Command::new("rpmsign")
        .arg("--define")
        .arg(format!("_gpg_path {}", home.path().display()))
        .arg("--define")
        .arg(format!("__gpg {}", which::which("gpg").expect("gpg on PATH").display()))
        .args(["--define", "_gpg_name Hudson test", "--addsign"])
        .arg(path)
        .output()
        .expect("rpmsign runs (Debian package `rpm`)");
    let _ = Command::new("gpgconf").arg("--homedir").arg(home.path()).args(["--kill", "gpg-agent"]).status();
    assert!(
        out.status.success(),
        "rpmsign: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small real Debian package of `hudson` at `release`: `debian-binary`,
/// `control.tar.gz` (its control file) and `data.tar.gz` (one file whose
/// bytes follow `seed`).
fn deb_package(release: &str, seed: u64) -> Vec<u8> {
    fn tar_gz(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        // The folders first, as dpkg-deb writes them: dpkg creates none itself.
        let mut folders = std::collections::BTreeSet::new();
        for (name, _) in files {
            let mut path = Path::new(name).parent();
            while let Some(folder) = path.filter(|p| *p != Path::new(".") && !p.as_os_str().is_empty()) {
                folders.insert(format!("{}/", folder.display()));
                path = folder.parent();
            }
        }
        for folder in folders {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            header.set_mode(0o755);
            header.set_mtime(TIMESTAMP);
            header.set_cksum();
            tar.append_data(&mut header, folder, std::io::empty()).unwrap();
        }
        for (name, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(TIMESTAMP);
            header.set_cksum();
            tar.append_data(&mut header, name, &bytes[..]).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }
    let control = format!(
        "Package: hudson\nVersion: {release}\nArchitecture: amd64\nMaintainer: Hudson <t@example.invalid>\nInstalled-Size: 4\nSection: misc\nPriority: optional\nDescription: Hudson test package\n a package the channel tests publish\n"
    );
    let members = [
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar.gz", tar_gz(&[("./control", control.into_bytes())])),
        ("data.tar.gz", tar_gz(&[("./usr/share/hudson-test/data", pseudo_random_bytes(2000, seed))])),
    ];
    let mut ar = ar::Builder::new(Vec::new());
    for (name, bytes) in members {
        let mut header = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
        header.set_mode(0o100644);
        ar.append(&header, &bytes[..]).unwrap();
    }
    ar.into_inner().unwrap()
}

/// A small real RPM package of `hudson` at `release`, version-release
/// `<release>-1`, with one file whose bytes follow `seed`.
fn rpm_package(release: &str, seed: u64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(&data, pseudo_random_bytes(2000, seed)).unwrap();
    let package = rpm::PackageBuilder::new("hudson", release, "MIT", "x86_64", "Hudson test package")
        .release("1")
        .description("a package the channel tests publish")
        .build_host("fixture")
        .source_date(TIMESTAMP as u32)
        .compression(rpm::CompressionType::Gzip)
        .with_file(&data, rpm::FileOptions::new("/usr/share/hudson-test/data"))
        .unwrap()
        .with_file(&data, rpm::FileOptions::new("/usr/bin/hudson-test").mode(rpm::FileMode::regular(0o755)))
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    package.write(&mut out).unwrap();
    out
}

/// The versions the yum repository of `channel` offers (`primary.xml`).
fn yum_offers(fixture: &Fixture, channel: &str) -> Vec<String> {
    let primary = yum_index(&fixture.channel(channel).join("yum"), "primary");
    primary
        .split("<version ")
        .skip(1)
        .filter_map(|v| v.split("ver=\"").nth(1)?.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// A yum repository's index of `kind`, decompressed (found through repomd.xml).
fn yum_index(yum: &Path, kind: &str) -> String {
    let repomd = std::fs::read_to_string(yum.join("repodata/repomd.xml")).unwrap();
    let block = repomd.split(&format!("<data type=\"{kind}\">")).nth(1).unwrap();
    let location = block.split("<location href=\"").nth(1).unwrap().split('"').next().unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(yum.join(location)).unwrap()),
        &mut text,
    )
    .unwrap();
    text
}

/// `gpgv --keyring <keyring> <files>` accepts.
fn gpgv_accepts(keyring: &Path, files: &[&Path]) -> bool {
    let out = Command::new("gpgv").arg("--keyring").arg(keyring).args(files).output().expect("gpgv runs");
    out.status.success()
}

/// The package versions `Packages` offers for amd64.
fn apt_offers(fixture: &Fixture, channel: &str) -> Vec<String> {
    let packages = fixture.channel(channel).join(format!("apt/dists/{channel}/main/binary-amd64/Packages"));
    let text = std::fs::read_to_string(packages).unwrap();
    text.lines().filter_map(|l| l.strip_prefix("Version: ")).map(str::to_owned).collect()
}

#[test]
fn the_package_repositories_follow_the_channel_and_gpgv_accepts_them() {
    let fixture = Fixture::with_repository();
    let key = release_key();
    let v1 = fixture.dist("1.0.0", LINUX, key, false);
    let v2 = fixture.dist("1.1.0", LINUX, key, false);
    let stderr = fixture.ok(&["publish", "--channel", "beta", "--base-url", BASE_URL, v1.to_str().unwrap()]);
    assert!(stderr.contains("apt repository: offers Hudson 1.0.0"), "{stderr}");
    assert!(stderr.contains("yum repository: offers Hudson 1.0.0"), "{stderr}");
    let apt = fixture.channel("beta").join("apt");
    let dists = apt.join("dists/beta");
    let keyring = &repository_key().keyring;
    // apt's verifier accepts both signatures; the keyring published is the key's.
    assert!(gpgv_accepts(keyring, &[&dists.join("InRelease")]));
    assert!(gpgv_accepts(keyring, &[&dists.join("Release.gpg"), &dists.join("Release")]));
    assert_eq!(std::fs::read(apt.join("archive-keyring.pgp")).unwrap(), std::fs::read(keyring).unwrap());
    // The pool holds the very package dist made.
    let deb = v1.parent().unwrap().join("Hudson_1.0.0_amd64.deb");
    assert_eq!(
        std::fs::read(apt.join("pool/main/h/hudson/hudson_1.0.0_amd64.deb")).unwrap(),
        std::fs::read(&deb).unwrap()
    );
    let release = std::fs::read_to_string(dists.join("Release")).unwrap();
    assert!(
        release.contains("Suite: beta\n") && release.contains("Date: Fri, 01 May 2026 12:00:00 UTC\n"),
        "{release}"
    );
    assert!(release.contains("Valid-Until: Sun, 31 May 2026 12:00:00 UTC\n"), "{release}");
    assert_eq!(apt_offers(&fixture, "beta"), ["1.0.0"]);
    let yum = fixture.channel("beta").join("yum");
    assert!(gpgv_accepts(keyring, &[&yum.join("repodata/repomd.xml.asc"), &yum.join("repodata/repomd.xml")]));
    assert_eq!(yum_offers(&fixture, "beta"), ["1.0.0"]);
    let rpm = v1.parent().unwrap().join("Hudson-1.0.0-1.x86_64.rpm");
    assert_eq!(std::fs::read(yum.join("packages/hudson-1.0.0-1.x86_64.rpm")).unwrap(), std::fs::read(&rpm).unwrap());
    same_as_createrepo_c(&yum);
    let armored = repository_key().armored.to_str().unwrap().to_owned();
    let pubkey = fixture.public_key_file(key);
    let verify = |channel: &str| {
        fixture.ok(&["verify", channel, "--openpgp-key", &armored, "--pubkey", pubkey.to_str().unwrap()])
    };
    let verified = verify("beta");
    assert!(verified.contains("apt repository: signed by OpenPGP key"), "{verified}");

    // apt has no install id: a partial rollout is not offered, a halt offers
    // nothing, a yank offers the release it goes back to.
    fixture.ok(&["publish", "--channel", "beta", "--base-url", BASE_URL, "--rollout", "30", v2.to_str().unwrap()]);
    assert_eq!(apt_offers(&fixture, "beta"), ["1.0.0"]);
    assert_eq!(yum_offers(&fixture, "beta"), ["1.0.0"]);
    fixture.ok(&["rollout", "beta", "100"]);
    assert_eq!(apt_offers(&fixture, "beta"), ["1.1.0"]);
    assert_eq!(yum_offers(&fixture, "beta"), ["1.1.0"]);
    assert!(!yum.join("packages/hudson-1.0.0-1.x86_64.rpm").exists());
    assert!(!apt.join("pool/main/h/hudson/hudson_1.0.0_amd64.deb").exists());
    fixture.ok(&["halt", "beta"]);
    assert_eq!(apt_offers(&fixture, "beta"), Vec::<String>::new());
    assert_eq!(yum_offers(&fixture, "beta"), Vec::<String>::new());
    verify("beta");
    fixture.ok(&["rollout", "beta", "100"]);
    fixture.ok(&["yank", "beta"]);
    assert_eq!(apt_offers(&fixture, "beta"), ["1.0.0"]);
    assert_eq!(yum_offers(&fixture, "beta"), ["1.0.0"]);
    verify("beta");
    // Promotion carries the packages to the other channel's repository.
    fixture.ok(&["promote", "1.0.0", "--from", "beta", "--to", "nightly"]);
    assert_eq!(apt_offers(&fixture, "nightly"), ["1.0.0"]);
    assert!(gpgv_accepts(keyring, &[&fixture.channel("nightly").join("apt/dists/nightly/InRelease")]));
    verify("nightly");

    // The same history gives the same bytes.
    let again = Fixture::with_repository();
    let v1_again = again.dist("1.0.0", LINUX, key, false);
    again.ok(&["publish", "--channel", "beta", "--base-url", BASE_URL, v1_again.to_str().unwrap()]);
    let first = Fixture::with_repository();
    let v1_first = first.dist("1.0.0", LINUX, key, false);
    first.ok(&["publish", "--channel", "beta", "--base-url", BASE_URL, v1_first.to_str().unwrap()]);
    assert_eq!(walk(&again.channel("beta").join("apt")), walk(&first.channel("beta").join("apt")));

    // Without the key, a channel that serves a repository is not changed
    // (the repository would vanish); with another key, neither.
    let before = walk(&fixture.manifests());
    let out = Fixture { dir: tempfile::tempdir().unwrap(), repository: false }
        .command(&["halt", "beta", "--manifests-dir", fixture.manifests().to_str().unwrap()])
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && error.contains("HUDSON_OPENPGP_PRIVATE_KEY"), "{error}");
    let other = make_repository_key("other");
    let out = fixture
        .command(&["halt", "beta", "--manifests-dir", fixture.manifests().to_str().unwrap()])
        .env("HUDSON_OPENPGP_PRIVATE_KEY", &other.secret)
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && error.contains("users' apt and dnf trust only the first"), "{error}");
    assert_eq!(walk(&fixture.manifests()), before, "a refused change changed the tree");
}

#[test]
fn verify_names_each_tampering_of_the_package_repositories() {
    let fixture = Fixture::with_repository();
    let v1 = fixture.dist("1.0.0", LINUX, release_key(), false);
    fixture.ok(&["publish", "--channel", "beta", "--base-url", BASE_URL, v1.to_str().unwrap()]);
    let armored = repository_key().armored.to_str().unwrap().to_owned();
    let pubkey = fixture.public_key_file(release_key());
    let pubkey = pubkey.to_str().unwrap();
    let apt = fixture.channel("beta").join("apt");
    let dists = apt.join("dists/beta");
    let pristine = fixture.dir.path().join("pristine");
    copy_tree(&fixture.manifests(), &pristine);
    let restore = || {
        std::fs::remove_dir_all(fixture.manifests()).unwrap();
        copy_tree(&pristine, &fixture.manifests());
    };
    let other = make_repository_key("intruder");
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "an index changed after signing",
            Box::new(|| {
                let path = dists.join("main/binary-amd64/Packages");
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, text.replace("Version: 1.0.0", "Version: 9.0.0")).unwrap();
            }),
            "main/binary-amd64/Packages",
        ),
        (
            "a missing package",
            Box::new(|| std::fs::remove_file(apt.join("pool/main/h/hudson/hudson_1.0.0_amd64.deb")).unwrap()),
            "hudson_1.0.0_amd64.deb",
        ),
        (
            "a Release signed by another key",
            Box::new(|| std::fs::write(dists.join("Release.gpg"), intruder_signature(&other)).unwrap()),
            "Release.gpg",
        ),
        ("a missing signature", Box::new(|| std::fs::remove_file(dists.join("InRelease")).unwrap()), "InRelease"),
        (
            "a damaged compressed index",
            Box::new(|| std::fs::write(dists.join("main/binary-amd64/Packages.xz"), b"not xz").unwrap()),
            "Packages.xz",
        ),
    ];
    let yum = fixture.channel("beta").join("yum");
    let yum_cases: Vec<(&str, Damage, &str)> = vec![
        (
            "a repomd.xml changed after signing",
            Box::new(|| {
                let path = yum.join("repodata/repomd.xml");
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, text.replace("<revision>", "<revision>1")).unwrap();
            }),
            "repomd.xml.asc",
        ),
        (
            "a missing rpm",
            Box::new(|| std::fs::remove_file(yum.join("packages/hudson-1.0.0-1.x86_64.rpm")).unwrap()),
            "hudson-1.0.0-1.x86_64.rpm",
        ),
        (
            "a damaged index",
            Box::new(|| {
                let repomd = std::fs::read_to_string(yum.join("repodata/repomd.xml")).unwrap();
                let block = repomd.split("<data type=\"filelists\">").nth(1).unwrap();
                let location = block.split("<location href=\"").nth(1).unwrap().split('"').next().unwrap();
                std::fs::write(yum.join(location), b"not gzip").unwrap();
            }),
            "filelists.xml.gz",
        ),
    ];
    for (what, damage, named) in cases.into_iter().chain(yum_cases) {
        restore();
        damage();
        let error = fixture.fails(&["verify", "beta", "--openpgp-key", &armored, "--pubkey", pubkey]);
        assert!(error.contains(named), "verify does not name {named} for {what}:\n{error}");
    }
    restore();
    // A keyring swapped in the channel is named too.
    fixture.ok(&["verify", "beta", "--openpgp-key", &armored, "--pubkey", pubkey]);
    std::fs::copy(&other.keyring, apt.join("archive-keyring.pgp")).unwrap();
    let error = fixture.fails(&["verify", "beta", "--openpgp-key", &armored, "--pubkey", pubkey]);
    assert!(error.contains("archive-keyring.pgp"), "{error}");
}

/// `Release.gpg` of the same publish as the fixture's (same release, same
/// time: the same `Release`), signed by `key`.
fn intruder_signature(key: &RepositoryKey) -> Vec<u8> {
    let scratch = Fixture { dir: tempfile::tempdir().unwrap(), repository: false };
    let v1 = scratch.dist("1.0.0", LINUX, release_key(), false);
    let out = scratch
        .command(&["publish", "--channel", "beta", "--base-url", BASE_URL, v1.to_str().unwrap(), "--manifests-dir"])
        .arg(scratch.manifests())
        .env("HUDSON_OPENPGP_PRIVATE_KEY", &key.secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(scratch.channel("beta").join("apt/dists/beta/Release.gpg")).unwrap()
}

/// Real `apt-get` on one machine without touching it: the system's sources,
/// keys, lists and dpkg database are never read or written; packages
/// install under `root/` through `dpkg --root`.
struct Apt {
    dir: PathBuf,
    root: PathBuf,
    transcript: std::cell::RefCell<String>,
}

impl Apt {
    fn new(parent: &Path, name: &str, repository_url: &str, channel: &str, keyring: &Path) -> Apt {
        let dir = parent.join(name);
        let root = dir.join("root");
        for sub in ["sources", "trusted", "prefs", "state/lists/partial", "cache/archives/partial", "conf"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for sub in ["var/lib/dpkg/updates", "var/lib/dpkg/info"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("var/lib/dpkg/status"), b"").unwrap();
        std::fs::write(
            dir.join("sources/hudson.sources"),
            format!(
                "Types: deb\nURIs: {repository_url}\nSuites: {channel}\nComponents: main\nArchitectures: amd64\nSigned-By: {}\n",
                keyring.display()
            ),
        )
        .unwrap();
        Apt { dir, root, transcript: Default::default() }
    }

    fn command(&self, program: &str, args: &[&str]) -> Output {
        let d = |sub: &str| self.dir.join(sub).display().to_string();
        let options = [
            "Dir::Etc::SourceList=/dev/null".to_owned(),
            format!("Dir::Etc::SourceParts={}", d("sources")),
            "Dir::Etc::Trusted=/dev/null".to_owned(),
            format!("Dir::Etc::TrustedParts={}", d("trusted")),
            "Dir::Etc::Preferences=/dev/null".to_owned(),
            format!("Dir::Etc::PreferencesParts={}", d("prefs")),
            format!("Dir::State={}", d("state")),
            format!("Dir::State::status={}", self.root.join("var/lib/dpkg/status").display()),
            format!("Dir::Cache={}", d("cache")),
            format!("DPkg::Options::=--root={}", self.root.display()),
            "DPkg::Options::=--force-not-root".to_owned(),
            "DPkg::Options::=--force-script-chrootless".to_owned(),
            // A Debian machine's defaults, which some build machines turn off
            // (this one does, for a registry mirror): a Release past its
            // Valid-Until, or dated in the future, is refused.
            "Acquire::Check-Valid-Until=true".to_owned(),
            "Acquire::Check-Date=true".to_owned(),
            "Debug::NoLocking=1".to_owned(),
            "APT::Sandbox::User=root".to_owned(),
            // No hooks from the machine's apt.conf.d run for these installs.
            "DPkg::Pre-Invoke::=".to_owned(),
            "DPkg::Post-Invoke::=".to_owned(),
            "APT::Update::Post-Invoke::=".to_owned(),
            "APT::Update::Post-Invoke-Success::=".to_owned(),
        ];
        let mut command = Command::new(program);
        for option in &options {
            command.arg("-o").arg(option);
        }
        let out = command.args(args).env("DEBIAN_FRONTEND", "noninteractive").output().unwrap();
        let mut transcript = self.transcript.borrow_mut();
        transcript.push_str(&format!("$ {program} {}\n", args.join(" ")));
        transcript.push_str(&String::from_utf8_lossy(&out.stdout));
        transcript.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    fn get(&self, args: &[&str]) -> Output {
        self.command("apt-get", args)
    }

    /// The installed version of `hudson`, from this root's dpkg database.
    fn installed(&self) -> Option<String> {
        let out = Command::new("dpkg-query")
            .arg(format!("--admindir={}", self.root.join("var/lib/dpkg").display()))
            .args(["-W", "-f", "${Version}", "hudson"])
            .output()
            .unwrap();
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned()).filter(|v| !v.is_empty())
    }

    /// `apt-cache policy hudson`'s Candidate.
    fn candidate(&self) -> String {
        let out = self.command("apt-cache", &["policy", "hudson"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().find_map(|l| l.trim().strip_prefix("Candidate: ")).unwrap_or("").to_owned()
    }
}

/// `python3 -m http.server` on a free loopback port, stopped on drop.
struct HttpServer(std::process::Child, u16);

impl HttpServer {
    /// Port 0: the server binds a free port itself and says which (no
    /// race with another test picking the same port).
    fn start(root: &Path) -> HttpServer {
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(root)
            .arg("0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let port: u16 = line
            .split(" port ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("python3 -m http.server said {line:?}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "python3 -m http.server did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        HttpServer(child, port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn apt_get_installs_upgrades_and_refuses_tampered_repositories() {
    // apt compares Valid-Until with the real clock: the channel's clock is now.
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let at = |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let fixture = Fixture::with_repository();
    let key = release_key();
    let run = |args: &[&str], when: OffsetDateTime| {
        // python's http.server answers apt's If-Modified-Since by the whole
        // second: a change in the second apt last fetched would look unchanged.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let mut all = args.to_vec();
        let manifests = fixture.manifests();
        all.extend(["--manifests-dir", manifests.to_str().unwrap()]);
        let out = fixture.command(&all).env("HUDSON_NOW", at(when)).output().unwrap();
        assert!(out.status.success(), "xtask {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let dists: Vec<PathBuf> = ["1.0.0", "1.1.0", "1.2.0"].iter().map(|v| fixture.dist(v, LINUX, key, false)).collect();
    let publish = |dist: &Path, when| {
        run(&["publish", "--channel", "beta", "--base-url", BASE_URL, dist.to_str().unwrap()], when)
    };
    publish(&dists[0], now - time::Duration::hours(6));
    let server = HttpServer::start(&fixture.manifests());
    let url = format!("http://127.0.0.1:{}/beta/apt", server.1);
    let apt = Apt::new(fixture.dir.path(), "machine", &url, "beta", &repository_key().keyring);
    let ok = |out: Output, what: &str| {
        assert!(out.status.success(), "{what} failed:\n{}", apt.transcript.borrow());
    };

    ok(apt.get(&["update"]), "apt-get update");
    ok(apt.get(&["install", "-y", "hudson"]), "apt-get install hudson");
    assert_eq!(apt.installed().as_deref(), Some("1.0.0"));
    publish(&dists[1], now - time::Duration::hours(5));
    ok(apt.get(&["update"]), "apt-get update");
    ok(apt.get(&["upgrade", "-y"]), "apt-get upgrade");
    assert_eq!(apt.installed().as_deref(), Some("1.1.0"), "{}", apt.transcript.borrow());
    eprintln!("apt-get transcript:\n{}", apt.transcript.borrow());

    // A yank offers 1.0.0 again: the candidate of a machine without Hudson.
    run(&["yank", "beta"], now - time::Duration::minutes(270));
    let fresh = Apt::new(fixture.dir.path(), "fresh", &url, "beta", &repository_key().keyring);
    assert!(fresh.get(&["update"]).status.success(), "{}", fresh.transcript.borrow());
    assert_eq!(fresh.candidate(), "1.0.0", "{}", fresh.transcript.borrow());

    // A newer release, then tampered copies of its repository: apt refuses
    // each, and the installed 1.1.0 stays.
    publish(&dists[2], now - time::Duration::hours(4));
    let good = fixture.dir.path().join("good-beta");
    copy_tree(&fixture.channel("beta"), &good);
    let other = make_repository_key("apt-intruder");
    let beta = fixture.channel("beta");
    let dists_dir = beta.join("apt/dists/beta");
    let tamper: Vec<(&str, Damage, &str)> = vec![
        (
            "an index changed after signing",
            Box::new(|| {
                let path = dists_dir.join("main/binary-amd64/Packages");
                let text = std::fs::read_to_string(&path).unwrap();
                // The same size: only the hash tells.
                std::fs::write(&path, text.replace("Hudson test package", "Hudson evil package")).unwrap();
                std::fs::remove_file(dists_dir.join("main/binary-amd64/Packages.xz")).unwrap();
                std::fs::remove_file(dists_dir.join("main/binary-amd64/Packages.gz")).unwrap();
            }),
            "Hash Sum mismatch",
        ),
        (
            "a Release signed by another key",
            Box::new(|| {
                let scratch = Fixture { dir: tempfile::tempdir().unwrap(), repository: false };
                copy_tree(&good, &scratch.manifests().join("beta"));
                copy_tree(&fixture.manifests().join("store"), &scratch.manifests().join("store"));
                std::fs::remove_dir_all(scratch.manifests().join("beta/apt")).unwrap();
                std::fs::remove_dir_all(scratch.manifests().join("beta/yum")).unwrap();
                let out = scratch
                    .command(&["rollout", "beta", "100", "--manifests-dir", scratch.manifests().to_str().unwrap()])
                    .env("HUDSON_OPENPGP_PRIVATE_KEY", &other.secret)
                    .env("HUDSON_NOW", at(now - time::Duration::minutes(210)))
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                std::fs::remove_dir_all(&beta).unwrap();
                copy_tree(&scratch.manifests().join("beta"), &beta);
            }),
            "NO_PUBKEY",
        ),
        (
            "an expired Release",
            Box::new(|| {
                // Newer than what apt has (it keeps the newest Release it
                // accepted), valid for an hour, which ended an hour ago.
                run(&["rollout", "beta", "100", "--expires-in", "1h"], now - time::Duration::hours(2));
            }),
            "expired",
        ),
        (
            "no signature",
            Box::new(|| {
                std::fs::remove_file(dists_dir.join("InRelease")).unwrap();
                std::fs::remove_file(dists_dir.join("Release.gpg")).unwrap();
            }),
            "is no longer signed",
        ),
    ];
    for (what, damage, said) in tamper {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::remove_dir_all(&beta).unwrap();
        copy_tree(&good, &beta);
        damage();
        let from = apt.transcript.borrow().len();
        let _ = apt.get(&["update"]);
        let _ = apt.get(&["upgrade", "-y"]);
        let said_now = apt.transcript.borrow()[from..].to_owned();
        assert!(said_now.contains(said), "{what}: apt did not say {said:?}:\n{said_now}");
        assert_eq!(apt.installed().as_deref(), Some("1.1.0"), "{what}: the installed version changed:\n{said_now}");
    }
    // The good repository again: the upgrade goes through.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::remove_dir_all(&beta).unwrap();
    copy_tree(&good, &beta);
    ok(apt.get(&["update"]), "apt-get update");
    ok(apt.get(&["upgrade", "-y"]), "apt-get upgrade");
    assert_eq!(apt.installed().as_deref(), Some("1.2.0"), "{}", apt.transcript.borrow());
    drop(server);
}

/// Our yum indexes say what createrepo_c, run on the same packages, says:
/// package identity, checksum, location, sizes, header range,
/// dependencies and files (createrepo_c's own times and paths aside).
fn same_as_createrepo_c(yum: &Path) {
    let scratch = tempfile::tempdir().unwrap();
    copy_tree(&yum.join("packages"), &scratch.path().join("packages"));
    let out = Command::new("createrepo_c").arg("--quiet").arg(scratch.path()).output().expect("createrepo_c runs");
    assert!(out.status.success(), "createrepo_c: {}", String::from_utf8_lossy(&out.stderr));
    let essentials = |text: &str| -> Vec<String> {
        let keep = [
            "<name>",
            "<arch>",
            "<version ",
            "<checksum ",
            "<summary>",
            "<description>",
            "<location ",
            "<rpm:license>",
            "<rpm:header-range",
            "<rpm:entry",
            "<file",
            "<package pkgid",
            "<changelog",
        ];
        let mut lines: Vec<String> =
            text.lines().map(str::trim).filter(|l| keep.iter().any(|k| l.starts_with(k))).map(str::to_owned).collect();
        lines.sort();
        lines
    };
    for kind in ["primary", "filelists", "other"] {
        let ours = essentials(&yum_index(yum, kind));
        let theirs = essentials(&yum_index(scratch.path(), kind));
        assert!(!ours.is_empty() || kind == "other", "{kind} is empty");
        assert_eq!(ours, theirs, "{kind}.xml differs from createrepo_c's");
    }
}

/// Debian's `dnf` with its own configuration, repositories, cache and
/// install root: nothing of the machine's is read or written.
fn dnf(dir: &Path, args: &[&str]) -> Output {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    Command::new("dnf")
        .arg(format!("--config={}", dir.join("dnf.conf").display()))
        .arg(format!("--installroot={}", root.display()))
        .arg(format!("--setopt=reposdir={}", dir.join("repos").display()))
        .arg(format!("--setopt=cachedir={}", dir.join("cache").display()))
        .args(["--releasever=1", "--assumeyes", "--quiet"])
        .args(args)
        .output()
        .unwrap()
}

/// The yum repository's rpms are checked against the repository key
/// (dnf's `gpgcheck=1`): `publish` and `verify` name an offered rpm without
/// its signature, and say nothing once the offered one is signed.
#[test]
fn publish_and_verify_warn_of_an_offered_rpm_the_repository_key_did_not_sign() {
    let fixture = Fixture::with_repository();
    let warning = "which is not signed by OpenPGP key";
    let v1 = fixture.dist("1.0.0", LINUX, release_key(), false);
    let out = fixture.ok(&["publish", "--channel", "beta", "--base-url", BASE_URL, v1.to_str().unwrap()]);
    assert!(out.contains(&format!("the yum repository offers Hudson-1.0.0-1.x86_64.rpm, {warning}")), "{out}");
    assert!(out.contains("dnf with gpgcheck=1"), "{out}");
    let pubkey = fixture.public_key_file(release_key());
    let armored = repository_key().armored.to_str().unwrap();
    let verify = || fixture.ok(&["verify", "beta", "--openpgp-key", armored, "--pubkey", pubkey.to_str().unwrap()]);
    let out = verify();
    assert!(out.contains(&format!("Hudson-1.0.0-1.x86_64.rpm, {warning}")), "verify: {out}");

    // Signed by another OpenPGP key: named like an unsigned one.
    let other = make_repository_key("other");
    let v2 = fixture.dist_with("2.0.0", LINUX, release_key(), false, Some(&other));
    let out = fixture.ok(&["publish", "--channel", "beta", "--base-url", BASE_URL, v2.to_str().unwrap()]);
    assert!(out.contains(&format!("the yum repository offers Hudson-2.0.0-1.x86_64.rpm, {warning}")), "{out}");

    let v2 = fixture.dist_with("2.1.0", LINUX, release_key(), false, Some(repository_key()));
    let out = fixture.ok(&["publish", "--channel", "beta", "--base-url", BASE_URL, v2.to_str().unwrap()]);
    assert!(out.contains("yum repository: offers Hudson 2.1.0") && !out.contains(warning), "{out}");
    let out = verify();
    assert!(!out.contains(warning), "verify: {out}");
    // rpm, with the key imported, accepts the signature the repository serves.
    let db = fixture.dir.path().join("rpmdb");
    std::fs::create_dir_all(&db).unwrap();
    let rpm = |args: &[&str]| Command::new("rpm").arg("--dbpath").arg(&db).args(args).output().unwrap();
    assert!(rpm(&["--import", repository_key().armored.to_str().unwrap()]).status.success());
    let listed = fixture.channel("beta").join("yum/packages/hudson-2.1.0-1.x86_64.rpm");
    let out = rpm(&["-K", listed.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains("signatures OK"), "rpm -K: {said}");
}

#[test]
fn dnf_reads_the_yum_repository_with_repo_gpgcheck_and_refuses_a_tampered_one() {
    let fixture = Fixture::with_repository();
    let v1 = fixture.dist("1.0.0", LINUX, release_key(), false);
    fixture.ok(&["publish", "--channel", "beta", "--base-url", BASE_URL, v1.to_str().unwrap()]);
    let server = HttpServer::start(&fixture.manifests());
    let dir = fixture.dir.path().join("dnf");
    std::fs::create_dir_all(dir.join("repos")).unwrap();
    std::fs::write(dir.join("dnf.conf"), "[main]\ngpgcheck=1\nrepo_gpgcheck=1\n").unwrap();
    std::fs::write(
        dir.join("repos/hudson.repo"),
        format!(
            "[hudson]\nname=Hudson beta\nbaseurl=http://127.0.0.1:{}/beta/yum\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=file://{}\nmetadata_expire=0\n",
            server.1,
            repository_key().armored.display()
        ),
    )
    .unwrap();
    let said =
        |out: &Output| format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let out = dnf(&dir, &["makecache"]);
    assert!(out.status.success(), "dnf makecache: {}", said(&out));
    let out = dnf(&dir, &["repoquery", "--repo", "hudson", "--qf", "%{name}-%{version}-%{release}.%{arch}", "hudson"]);
    assert!(said(&out).contains("hudson-1.0.0-1.x86_64"), "dnf repoquery: {}", said(&out));
    // rpm checks the package the repository lists.
    let listed = fixture.channel("beta").join("yum/packages/hudson-1.0.0-1.x86_64.rpm");
    let out = Command::new("rpm").arg("-K").arg(&listed).output().unwrap();
    assert!(out.status.success(), "rpm -K: {}", said(&out));

    // A repomd.xml changed after signing: dnf refuses the repository.
    let repomd = fixture.channel("beta").join("yum/repodata/repomd.xml");
    let text = std::fs::read_to_string(&repomd).unwrap();
    std::fs::write(&repomd, text.replace("<revision>", "<revision>1")).unwrap();
    std::fs::remove_dir_all(dir.join("cache")).unwrap();
    let out = dnf(&dir, &["makecache"]);
    assert!(!out.status.success(), "dnf accepted a tampered repomd.xml: {}", said(&out));
    assert!(said(&out).contains("repomd.xml GPG signature verification error"), "{}", said(&out));
    drop(server);
}
