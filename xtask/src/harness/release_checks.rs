//! Checks on what a real `dist` built, run by `cargo xtask test` after its
//! `dist` stage (they need the release shell, so they are not `cargo test`):
//!
//! - [`reproducible`]: `dist --force` over unchanged inputs gives
//!   byte-identical updater artifacts, signatures and dist manifest;
//! - [`signatures`]: the `minisign` CLI and the verifier tauri-plugin-updater
//!   uses accept every `.sig`;
//! - [`plan_outputs`]: every output each step of the host's plan declares
//!   is a file `dist` wrote, so `cargo xtask plan` cannot promise what
//!   `dist` does not do;
//! - [`secrets`]: a full `dist --force` and `publish` with
//!   password-protected keys in the environment (the minisign key and the
//!   package repositories' OpenPGP key, which `publish` signs the apt and
//!   yum repositories with; this checkout configures no repository key, so
//!   `dist` only takes it out of its environment — the e2e-update scratch
//!   builds sign their rpm with one, and check their output for it) print,
//!   write and pass on no byte of either key or password — not even in the
//!   arguments or the environment of the commands they start.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use signing::dist::DistManifest;
use signing::keys::{KeyPair, KeyProtection, PRIVATE_KEY_PASSWORD_VAR, PRIVATE_KEY_VAR, Password, PublicKey};

use crate::core::config::Config;
use crate::core::target::Target;
use crate::core::ui::Ui;
use crate::release as dist;

/// After `dist`: each output the host plan's steps declare names at least one
/// file (a trailing `/`: a folder; `*`: any name in that folder).
pub fn plan_outputs(ui: &Ui) -> Result<()> {
    let config = Config::load()?;
    let plan = dist::plan::plan(&config, Target::host()?);
    let mut checked = 0;
    for step in &plan.steps {
        for output in &step.outputs {
            let found = matching(&config.workspace_root, output)
                .with_context(|| format!("step `{}` declares output `{output}`", step.name.as_str()))?;
            ensure!(
                !found.is_empty(),
                "step `{}` declares output `{output}`, but dist wrote nothing there: the plan and the step disagree",
                step.name.as_str()
            );
            checked += 1;
        }
    }
    ui.info(format!("{checked} declared outputs of {} steps are what dist wrote", plan.steps.len()));
    Ok(())
}

/// The paths under `root` that a plan output names.
fn matching(root: &Path, output: &str) -> Result<Vec<PathBuf>> {
    let (pattern, want_dir) = match output.strip_suffix('/') {
        Some(dir) => (dir, true),
        None => (output, false),
    };
    let path = root.join(pattern);
    let name = path.file_name().context("an output without a name")?.to_string_lossy().into_owned();
    ensure!(!pattern[..pattern.len() - name.len()].contains('*'), "only the last part of an output may hold `*`");
    let Some((prefix, suffix)) = name.split_once('*') else {
        let is = if want_dir { path.is_dir() } else { path.exists() };
        return Ok(if is { vec![path] } else { vec![] });
    };
    let dir = path.parent().context("an output without a folder")?;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.len() >= prefix.len() + suffix.len() && file.starts_with(prefix) && file.ends_with(suffix) {
            found.push(entry.path());
        }
    }
    Ok(found)
}

/// Every file of the host's dist folder, with its bytes.
fn snapshot(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("reading {} (run `cargo xtask dist`)", dir.display()))?
    {
        let path = entry?.path();
        files.insert(path.file_name().unwrap_or_default().to_string_lossy().into_owned(), std::fs::read(&path)?);
    }
    Ok(files)
}

fn host_dist_dir(config: &Config) -> Result<PathBuf> {
    Ok(config.dist_dir(Target::host()?))
}

/// After every test has run, `target/dist/` holds the workspace's version
/// and nothing else: a scratch build of another version there (the update
/// tests build two) is what a script picking the newest folder, or an
/// upload glob, would ship.
pub fn dist_holds_only_this_version(ui: &Ui) -> Result<()> {
    let config = Config::load()?;
    let root = &config.dist_root;
    let mut others: Vec<String> = std::fs::read_dir(root)
        .with_context(|| format!("reading {}", root.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| *name != config.version)
        .collect();
    others.sort();
    ensure!(
        others.is_empty(),
        "{} holds {} beside the release {}: a test wrote a build into the release output; \
         test builds go to their own folders (`dist --out-dir`). Remove them (`rm -rf {}/<version>`) and find the writer",
        root.display(),
        others.join(", "),
        config.version,
        root.display()
    );
    ui.info(format!("{} holds only {}", root.display(), config.version));
    Ok(())
}

pub fn reproducible(ui: &Ui) -> Result<()> {
    let config = Config::load()?;
    let dir = host_dist_dir(&config)?;
    let before = snapshot(&dir)?;
    ensure!(before.keys().any(|name| name.ends_with(".sig")), "{} has no signed updater artifact", dir.display());
    dist::run(ui, None, true, None).context("the second, forced dist")?;
    let after = snapshot(&dir)?;
    let names = |files: &BTreeMap<String, Vec<u8>>| files.keys().cloned().collect::<Vec<_>>();
    ensure!(
        names(&before) == names(&after),
        "the two runs shipped different files: {:?} and {:?}",
        names(&before),
        names(&after)
    );
    for (name, bytes) in &before {
        if after[name] != *bytes {
            bail!("{name} differs between two dist runs over the same inputs: it is not reproducible");
        }
    }
    ui.info(format!("  byte-identical after `dist --force`: {}", names(&after).join(", ")));
    Ok(())
}

pub fn signatures(ui: &Ui) -> Result<()> {
    let config = Config::load()?;
    let dir = host_dist_dir(&config)?;
    let manifest = read_dist_manifest(&dir)?;
    let info = manifest.signing_key.as_ref().context("the dist manifest names no signing key")?;
    let public = PublicKey::parse(&info.public_key)?;
    let scratch = tempfile::tempdir()?;
    let public_file = scratch.path().join("key.pub");
    std::fs::write(&public_file, public.to_minisign_text())?;
    let mut checked = Vec::new();
    for artifact in &manifest.artifacts {
        let Some(updater) = &artifact.updater else { continue };
        let file = dir.join(&artifact.path);
        let sig_file = dir.join(format!("{}.sig", artifact.path));
        let sig = std::fs::read_to_string(&sig_file).with_context(|| format!("reading {}", sig_file.display()))?;
        ensure!(sig == updater.signature, "{} differs from the signature in the dist manifest", sig_file.display());
        // The minisign CLI reads the signature text, i.e. the `.sig` decoded.
        let decoded = scratch.path().join("artifact.minisig");
        std::fs::write(&decoded, BASE64.decode(sig.trim()).context("the .sig is not base64")?)?;
        let out = Command::new("minisign")
            .arg("-Vm")
            .arg(&file)
            .arg("-x")
            .arg(&decoded)
            .arg("-p")
            .arg(&public_file)
            .output()
            .context("running minisign (apt-get install minisign, or `cargo xtask doctor --install`)")?;
        let said = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.success(),
            "minisign refuses {}: {}{said}",
            artifact.path,
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            said.contains(&format!("\tversion:{}", manifest.version)),
            "the trusted comment names no version: {said}"
        );
        // As tauri-plugin-updater: minisign-verify, `verify(bytes, &sig, true)`.
        let bytes = std::fs::read(&file)?;
        signing::artifact::verify_artifact(&bytes, &sig, &public)
            .with_context(|| format!("the updater's verifier refuses {}", artifact.path))?;
        checked.push(artifact.path.clone());
    }
    ensure!(!checked.is_empty(), "no updater artifact in {}", dir.display());
    ui.info(format!("  minisign -V and minisign-verify accept: {}", checked.join(", ")));
    Ok(())
}

fn read_dist_manifest(dir: &Path) -> Result<DistManifest> {
    let path = dir.join(signing::dist::DIST_MANIFEST_FILE);
    Ok(DistManifest::from_json(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)?)
}

/// What a child run printed, and what its descendants were started with.
struct Observed {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Command lines and environments of every descendant seen.
    descendants: Vec<(u32, Vec<u8>)>,
}

/// Runs `command`, polling `/proc` for its descendants while it runs.
fn observe(mut command: Command) -> Result<Observed> {
    // Not `{command:?}`: that would print the environment, secrets included.
    let shown = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {shown}"))?;
    let root = child.id();
    let done = Arc::new(AtomicBool::new(false));
    // Each distinct record once: a process lives for many polls.
    let seen: Arc<Mutex<BTreeMap<u32, BTreeSet<Vec<u8>>>>> = Arc::default();
    let poller = {
        let (done, seen) = (done.clone(), seen.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let procs = crate::drive::procs::processes();
                let parents: BTreeMap<u32, u32> = procs.iter().map(|p| (p.pid, p.ppid)).collect();
                for proc in &procs {
                    let mut pid = proc.pid;
                    let descends = loop {
                        match parents.get(&pid) {
                            Some(&parent) if parent == root => break true,
                            Some(&parent) if parent > 1 && parent != pid => pid = parent,
                            _ => break false,
                        }
                    };
                    if descends {
                        let mut record = std::fs::read(format!("/proc/{}/cmdline", proc.pid)).unwrap_or_default();
                        record.extend(std::fs::read(format!("/proc/{}/environ", proc.pid)).unwrap_or_default());
                        seen.lock()
                            .expect("the poller owns the lock briefly")
                            .entry(proc.pid)
                            .or_default()
                            .insert(record);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut err_pipe = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = err_pipe.read_to_end(&mut buffer);
        buffer
    });
    child.stdout.take().expect("piped").read_to_end(&mut stdout)?;
    stderr.extend(err_reader.join().expect("the reader does not panic"));
    let status = child.wait()?;
    done.store(true, Ordering::Relaxed);
    poller.join().expect("the poller does not panic");
    if !status.success() {
        bail!("{shown} failed ({status}):\n{}", String::from_utf8_lossy(&stderr));
    }
    let descendants = std::mem::take(&mut *seen.lock().expect("the poller has stopped"))
        .into_iter()
        .map(|(pid, records)| (pid, records.into_iter().flatten().collect()))
        .collect();
    Ok(Observed { stdout, stderr, descendants })
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

/// Every regular file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

pub fn secrets(ui: &Ui) -> Result<()> {
    let config = Config::load()?;
    let exe = xtask_binary()?;
    let scratch = tempfile::tempdir()?;
    let password = format!("pw-{}-{:x}-ünïcode", std::process::id(), rand_seed());
    let pair = KeyPair::generate(KeyProtection::Password(Password::new(password.clone())))?;
    let key_base64 = pair.secret_key_tauri_base64().expose_secret().to_owned();
    let key_text = pair.secret_key_minisign_text().expose_secret().to_owned();
    let key_line = key_text.lines().nth(1).context("the key text has a key line")?.to_owned();
    // The package repositories' OpenPGP key too, with a password of its
    // own: `publish` signs the apt and yum repositories with it.
    let openpgp_password = format!("pgp-{password}");
    let openpgp = crate::core::openpgp::OpenPgpKey::generate(
        "Hudson secrets check <secrets@example.invalid>",
        Some(&crate::core::credentials::Secret::new(openpgp_password.clone())),
    )?;
    let openpgp_text = openpgp.secret_armored()?.expose().to_owned();
    // The longest line of the armored key: encrypted key material.
    let openpgp_line = openpgp_text.lines().max_by_key(|l| l.len()).context("the armored key has lines")?.to_owned();
    let secrets: [(&str, &[u8]); 7] = [
        ("the password", password.as_bytes()),
        ("the key file content (base64)", key_base64.as_bytes()),
        ("the minisign key text", key_text.as_bytes()),
        ("the encrypted key line", key_line.as_bytes()),
        ("the OpenPGP key's password", openpgp_password.as_bytes()),
        ("the armored OpenPGP secret key", openpgp_text.as_bytes()),
        ("a line of the armored OpenPGP secret key", openpgp_line.as_bytes()),
    ];
    let with_key = |args: &[&str]| {
        let mut command = Command::new(&exe);
        command
            .current_dir(&config.workspace_root)
            .args(args)
            .env(PRIVATE_KEY_VAR, &key_base64)
            .env(PRIVATE_KEY_PASSWORD_VAR, &password)
            .env(crate::core::openpgp::PRIVATE_KEY_VAR, &openpgp_text)
            .env(crate::core::openpgp::PASSWORD_VAR, &openpgp_password)
            .env("CI", "1");
        command
    };

    let built = observe(with_key(&["dist", "--force", "--format", "json"])).context("dist with the test key")?;
    let dist_dir = host_dist_dir(&config)?;
    let manifest = read_dist_manifest(&dist_dir)?;
    let info = manifest.signing_key.as_ref().context("dist recorded no signing key")?;
    ensure!(
        info.key_id == pair.key_id().to_string() && !info.development,
        "dist did not sign with the key from {PRIVATE_KEY_VAR} (it used {})",
        info.key_id
    );
    let manifests = scratch.path().join("release-manifests");
    let dist_manifest = dist_dir.join(signing::dist::DIST_MANIFEST_FILE);
    let published = observe(with_key(&[
        "publish",
        "--channel",
        "beta",
        "--base-url",
        "https://updates.hudson.example/{version}",
        "--manifests-dir",
        manifests.to_str().context("a UTF-8 temporary path")?,
        dist_manifest.to_str().context("a UTF-8 path")?,
    ]))
    .context("publish with the test key")?;
    ensure!(
        manifests.join("beta").join("apt").is_dir() && manifests.join("beta").join("yum").is_dir(),
        "publish with the OpenPGP key wrote no package repositories"
    );
    let public_file = scratch.path().join("test.pub");
    std::fs::write(&public_file, pair.public_key().to_minisign_text())?;
    let mut verify = Command::new(&exe);
    verify
        .current_dir(&config.workspace_root)
        .arg("verify")
        .arg(manifests.join("beta"))
        .arg("--pubkey")
        .arg(&public_file);
    verify.arg("--artifacts").arg(&dist_dir);
    observe(verify).context("verify of the published channel")?;

    // Everything the two commands printed, wrote or passed on.
    let mut scanned: Vec<(String, Vec<u8>)> = vec![
        ("dist stdout".into(), built.stdout),
        ("dist stderr".into(), built.stderr),
        ("publish stdout".into(), published.stdout),
        ("publish stderr".into(), published.stderr),
    ];
    let descendants = built.descendants.len() + published.descendants.len();
    for (pid, record) in built.descendants.into_iter().chain(published.descendants) {
        scanned.push((format!("the arguments and environment of child process {pid}"), record));
    }
    let target = Target::host()?;
    for dir in [
        dist_dir.clone(),
        manifests.clone(),
        config.work_dir(target).join("fingerprints"),
        config.work_dir(target).join("updater"),
    ] {
        for file in files_under(&dir) {
            scanned.push((file.display().to_string(), std::fs::read(&file)?));
        }
    }
    for (what, bytes) in &scanned {
        for (secret, needle) in &secrets {
            if find(bytes, needle) {
                bail!("{what} contains {secret}");
            }
        }
    }
    ensure!(descendants > 0, "no child process of dist was seen, so their arguments were not checked");
    ui.info(format!(
        "  no byte of the key or password in {} outputs, files and child processes ({descendants} children checked)",
        scanned.len()
    ));
    Ok(())
}

/// This program's file. `cargo test --workspace`, an earlier stage, relinks
/// `target/debug/xtask` while this process runs from the old file, which
/// `/proc/self/exe` then names `… (deleted)`; the new file is at the same path.
pub(crate) fn xtask_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let text = exe.to_string_lossy();
    let path = PathBuf::from(text.strip_suffix(" (deleted)").unwrap_or(&text));
    ensure!(path.is_file(), "the xtask binary {} is gone; run `cargo xtask test` again", path.display());
    Ok(path)
}

/// A value that differs between runs, so the test password is never a constant.
fn rand_seed() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{find, matching};

    #[test]
    fn find_looks_for_the_whole_needle_anywhere() {
        assert!(find(b"key=S3CR3T\0", b"S3CR3T"));
        assert!(find(b"SS3CR3T", b"S3CR3T"));
        assert!(!find(b"S3CR3", b"S3CR3T"));
        assert!(!find(b"anything", b""));
    }

    #[test]
    fn plan_outputs_match_files_folders_and_names_with_a_star() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("out/deb")).unwrap();
        std::fs::write(root.path().join("out/deb/Hudson_0.1.0_amd64.deb"), b"x").unwrap();
        std::fs::write(root.path().join("out/deb/Hudson_0.1.0_amd64.deb.sig"), b"x").unwrap();
        let found = |p: &str| matching(root.path(), p).unwrap().len();
        assert_eq!(found("out/deb/*.deb"), 1);
        assert_eq!(found("out/deb/*.deb.sig"), 1);
        assert_eq!(found("out/deb/*.rpm"), 0);
        assert_eq!(found("out/deb/"), 1);
        assert_eq!(found("out/deb/Hudson_0.1.0_amd64.deb/"), 0, "a file is not a folder");
        assert_eq!(found("out/deb/Hudson_0.1.0_amd64.deb"), 1);
        assert_eq!(found("out/nothing"), 0);
        assert!(matching(root.path(), "out/*/x.deb").is_err());
    }
}
