//! `cargo xtask e2e-update`: in-app updates end to end, with real parts
//! only — the portable tree `dist` built for this checkout (the installed
//! version), two more real builds made by the real `dist` from scratch
//! copies of the checkout that share its target folder (the next version,
//! and a broken one whose backend cannot boot), channel manifests written
//! and signed by the real `publish`/`halt`/`rollout`/`yank`, served over
//! loopback by a real HTTP server (Python's `http.server`), and the real
//! shell under Xvfb updating itself.
//!
//! The scenarios are a table ([`SCENARIOS`]); each arranges its own
//! channel (a fresh channel tree, published by the real commands) and its
//! own fresh installs, so `--scenario <name>` runs any one alone. The shell's
//! state is read from its machine-readable events
//! ([`hudson_lifecycle::ShellEvent`]), never from its sentences.
//!
//! Install A (the checkout's version, say 0.1.0):
//! - up to date against its own release;
//! - refusals, each with the install tree hashed before and after (no byte
//!   may change) and the reason in the log: a flipped byte in the artifact,
//!   an artifact cut short, a replayed older manifest, a manifest signed by
//!   an unknown key, an expired manifest, no entry for this platform, a
//!   halted channel, a rollout of 0 %;
//! - the next version published: found, downloaded, verified, swapped,
//!   relaunched; shell and backend report it, it passes probation, and the
//!   rollback copy is byte for byte the previous tree;
//! - kill loop: N installs updating, each SIGKILLed at a random moment of
//!   download, unpack, swap or probation; the next launch must show the old
//!   or the new version, shell and backend agreeing, and the tree must hash
//!   to exactly the old or the new tree;
//! - a signed yank of the next version: the install goes back to the
//!   checkout's version.
//!
//! Install B (the next version, unpacked fresh): the broken version is
//! published; after the update its backend fails, probation fails, the
//! previous version is back with its data snapshot, the reason is logged
//! and kept for the Updates window, and the broken version is not offered
//! again.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use hudson_lifecycle::ShellEvent;
use hudson_lifecycle::contract::package_repository::{apt_keyring_path, apt_source_path, yum_repo_path};
use hudson_lifecycle::contract::{SHELL_CONFIG_FILE, ShellConfig, UpdatesConfig};
use hudson_lifecycle::hooks;
use serde::Serialize;
use signing::manifest::ChannelManifest;

use crate::core::config::Config;
use crate::core::target::Target;
use crate::core::ui::{Ui, seconds};
use crate::drive::gui::Xvfb;
use crate::drive::procs;
use crate::harness::database::Facts;
use crate::harness::doubles::SessionBus;
use crate::harness::e2e::{Install, Moments, tail, wait_exit};

/// The channel the scenarios publish to.
const CHANNEL: &str = "e2e";
/// The backend's SQLite database (in its data folder), which the updates
/// configuration snapshots before a new version's first boot: listed alone,
/// its `-wal`, `-shm` and `-journal` come with it.
const DATABASE: &str = "db/hudson.sqlite3";
/// Every launch's backend writes a cache entry this often (its
/// `HUDSON_TEST_DB_WRITER` test hook), so updates happen, and are killed,
/// while the database is being written.
const WRITER_MS: &str = "100";
/// How long one launch may take to show its page (2 cores, cold caches).
pub(crate) const PAGE_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, Clone)]
pub struct Options {
    /// Updates in the random-SIGKILL loop.
    pub kill_updates: usize,
    pub seed: Option<u64>,
    /// Scenario names to run (empty: all).
    pub only: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { kill_updates: 50, seed: None, only: Vec::new() }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub versions: [String; 3],
    pub scenarios: Vec<(String, String)>,
    pub kill_loop: KillLoop,
}

#[derive(Debug, Default, Serialize)]
pub struct KillLoop {
    pub seed: u64,
    pub updates: usize,
    /// Where the SIGKILL landed, from the log lines written before it.
    pub killed_downloading: usize,
    /// Between the download (or the file store's objects) and the install:
    /// unpacking or assembling the staged tree while the old version runs.
    pub killed_preparing: usize,
    pub killed_installing: usize,
    pub killed_on_probation: usize,
    pub killed_after_probation: usize,
    pub came_back_old: usize,
    pub came_back_new: usize,
    pub broken: usize,
    pub failures: Vec<String>,
}

/// A scenario: arranges its own channel and installs (so any one runs
/// alone), acts, and returns what it proved.
type Scenario = fn(&Ui, &UpdateLab, &Options, &Shared) -> Result<String>;

/// Every scenario, in the order a full run takes them.
const SCENARIOS: [(&str, Scenario); 9] = [
    ("up to date", up_to_date),
    ("refusals", refusals),
    ("update", update),
    ("file store unreachable", store_unreachable),
    ("kill loop", kill_loop_scenario),
    ("deb through dpkg", deb_as_root),
    ("rpm through dnf", rpm_through_dnf),
    ("yank", yank),
    ("broken update rolled back", broken_update),
];

/// Facts one scenario learns that another would otherwise measure again;
/// never an ordering requirement (each is measured when missing).
#[derive(Default)]
struct Shared {
    schemas: std::cell::Cell<Option<Schemas>>,
    /// When the measured update's page loaded and its probation passed.
    update_time: std::cell::Cell<Option<(Duration, Duration)>>,
    kill_loop: std::cell::RefCell<KillLoop>,
}

pub fn run(ui: &Ui, options: &Options) -> Result<()> {
    let config = Config::load()?;
    let target = Target::host()?;
    let known: Vec<&str> = SCENARIOS.iter().map(|(name, _)| *name).collect();
    if let Some(unknown) = options.only.iter().find(|n| !known.contains(&n.as_str())) {
        bail!("no e2e-update scenario {unknown:?}; the scenarios: {}", known.join(", "));
    }
    let selected: Vec<&(&str, Scenario)> = SCENARIOS
        .iter()
        .filter(|(name, _)| options.only.is_empty() || options.only.iter().any(|n| n == name))
        .collect();
    // The broken version is also the newer release a deb install leaves to apt.
    let with_broken = selected.iter().any(|(name, _)| ["broken update rolled back", "deb through dpkg"].contains(name));
    let lab = UpdateLab::start(ui, &config, target, with_broken)?;
    let shared = Shared::default();
    let mut scenarios: Vec<(String, String)> = Vec::new();
    for (name, scenario) in selected {
        let started = Instant::now();
        let result =
            scenario(ui, &lab, options, &shared).with_context(|| format!("e2e-update scenario `{name}` failed"))?;
        ui.info(format!("✓ e2e-update {name} ({}): {result}", seconds(started.elapsed())));
        scenarios.push(((*name).to_owned(), result));
    }
    ui.emit(&Report {
        versions: [lab.v1.version.to_string(), lab.v2.version.to_string(), lab.v3.version.to_string()],
        scenarios,
        kill_loop: shared.kill_loop.take(),
    });
    Ok(())
}

/// Install A: a fresh install of the checkout's version on a fresh channel
/// holding only its own release, launched once (up to date; its backend
/// migrated and wrote rows). Learns the schemas on the way.
fn install_a(lab: &UpdateLab, shared: &Shared) -> Result<(UpdateInstall, Facts)> {
    lab.fresh_channel(&[&lab.v1])?;
    let a = lab.install(&lab.v1)?;
    let v1 = lab.v1.version.to_string();
    a.expect_check(&format!("{v1} up to date"), |e| {
        matches!(e, ShellEvent::UpdateChecked { outcome, version: Some(version), .. } if outcome == "up_to_date" && *version == v1)
    })?;
    // The checkout's backend migrated its empty database (the scratch
    // builds each add one migration), and wrote rows an update must keep:
    // the check can end before its writer's first tick.
    if a.facts()?.rows.is_empty() {
        a.run_a_moment()?;
    }
    let first = a.facts()?;
    ensure!(
        first.integrity == "ok" && first.schema >= 1,
        "install A's database after its first launch: {}",
        first.summary()
    );
    shared.schemas.set(Some(Schemas { v1: first.schema, v2: first.schema + 1, v3: first.schema + 2 }));
    Ok((a, first))
}

/// The schemas each version reaches, learnt from a first launch if no
/// scenario has launched one yet.
fn schemas(lab: &UpdateLab, shared: &Shared) -> Result<Schemas> {
    if let Some(schemas) = shared.schemas.get() {
        return Ok(schemas);
    }
    install_a(lab, shared)?;
    shared.schemas.get().context("install A learnt no schemas")
}

fn up_to_date(_: &Ui, lab: &UpdateLab, _: &Options, shared: &Shared) -> Result<String> {
    let (_, first) = install_a(lab, shared)?;
    Ok(format!("{} checked: up to date; database {}", lab.v1.version, first.summary()))
}

/// Install A updated to the next version, measured; the kill loop aims at
/// the times it learns.
fn update(_: &Ui, lab: &UpdateLab, _: &Options, shared: &Shared) -> Result<String> {
    let (a, _) = install_a(lab, shared)?;
    lab.publish(&lab.v2)?;
    let (result, update_time) = update_to_next(lab, &a, &schemas(lab, shared)?)?;
    shared.update_time.set(Some(update_time));
    Ok(result)
}

/// The object of the file named `name` in the tree the channel offers now.
fn stored_object(lab: &UpdateLab, name: &str) -> Result<PathBuf> {
    let root = lab.channels();
    let manifest = ChannelManifest::from_json(&std::fs::read(root.join(CHANNEL).join("manifest.json"))?)?;
    let reference =
        manifest.platforms.values().find_map(|e| e.tree.clone()).context("the channel names no tree manifest")?;
    let json = std::fs::read(root.join(signing::tree::tree_path(&reference.sha256)))?;
    let tree = signing::tree::TreeManifest::from_json_bound(&json, &reference)?;
    let (_, object) = tree
        .files()
        .find(|(path, _)| path.rsplit('/').next() == Some(name))
        .with_context(|| format!("the tree has no {name}"))?;
    Ok(root.join(signing::tree::object_path(&object.sha256)))
}

/// The channel names the file store, but its objects cannot be fetched
/// (404 for each): the app says why and downloads the full artifact, and
/// the update ends exactly as one from the store does.
fn store_unreachable(_: &Ui, lab: &UpdateLab, _: &Options, shared: &Shared) -> Result<String> {
    let v2 = lab.v2.version.to_string();
    let (a, _) = install_a(lab, shared)?;
    lab.publish(&lab.v2)?;
    let objects = lab.channels().join(signing::tree::STORE_DIR).join("sha256");
    let away = objects.with_extension("away");
    std::fs::rename(&objects, &away).with_context(|| format!("moving {} away", objects.display()))?;
    let from = a.log_len();
    let updated = a.update_to(&v2);
    std::fs::rename(&away, &objects).with_context(|| format!("putting {} back", objects.display()))?;
    updated?;
    let reason = a
        .events_since(from)
        .into_iter()
        .find_map(|(_, event)| match event {
            ShellEvent::UpdateDeltaFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .context("the app did not say the file store failed (no update_delta_failed event)")?;
    ensure!(reason.contains("404"), "the reason given does not name the missing object: {reason}");
    ensure!(tree_hash(&a.root)? == lab.v2.tree, "the install is not the {v2} tree after the full download");
    Ok(format!("no object in the store: the app logged \"{reason}\", downloaded the full artifact and updated to {v2}"))
}

/// When the measured update's page loaded and its probation passed, from
/// the `update` scenario or, run alone, one measured update first.
fn update_time(ui: &Ui, lab: &UpdateLab, options: &Options, shared: &Shared) -> Result<(Duration, Duration)> {
    if shared.update_time.get().is_none() {
        update(ui, lab, options, shared)?;
    }
    shared.update_time.get().context("the measured update left no times")
}

fn kill_loop_scenario(ui: &Ui, lab: &UpdateLab, options: &Options, shared: &Shared) -> Result<String> {
    let update_time = update_time(ui, lab, options, shared)?;
    lab.fresh_channel(&[&lab.v1, &lab.v2])?;
    let kill_loop = kill_loop(lab, options, update_time, &schemas(lab, shared)?)?;
    let result = format!(
        "{} updates SIGKILLed (seed {}: {} downloading, {} preparing, {} installing, {} on probation, {} after): {} came back old, {} new, {} broken",
        kill_loop.updates,
        kill_loop.seed,
        kill_loop.killed_downloading,
        kill_loop.killed_preparing,
        kill_loop.killed_installing,
        kill_loop.killed_on_probation,
        kill_loop.killed_after_probation,
        kill_loop.came_back_old,
        kill_loop.came_back_new,
        kill_loop.broken
    );
    shared.kill_loop.replace(kill_loop);
    Ok(result)
}

/// The schema (`PRAGMA user_version`) each version's migrations reach.
#[derive(Debug, Clone, Copy)]
struct Schemas {
    v1: u64,
    v2: u64,
    v3: u64,
}

/// One release of the scenarios: its dist folder and portable artifact.
pub(crate) struct Release {
    pub(crate) version: semver::Version,
    manifest: PathBuf,
    pub(crate) portable: PathBuf,
    /// Hash of the tree an install of it has (its own configuration).
    tree: String,
}

pub(crate) struct UpdateLab {
    config: Config,
    display: Xvfb,
    bus: SessionBus,
    server: Server,
    dir: PathBuf,
    pub(crate) v1: Release,
    pub(crate) v2: Release,
    v3: Release,
    updates: UpdatesConfig,
    /// The package repositories' OpenPGP key (secret, armored, no
    /// password); the scratch builds ship its public half (`.asc`).
    repository_key: PathBuf,
}

impl UpdateLab {
    /// `with_broken`: also build the broken version (the benchmark does not).
    pub(crate) fn start(ui: &Ui, config: &Config, target: &'static Target, with_broken: bool) -> Result<UpdateLab> {
        // The installed version: this checkout's dist, signed with the key
        // the scratch builds and `publish` use (a child sees no
        // TAURI_SIGNING_PRIVATE_KEY: the development key). Nothing to do
        // when it already is; after a dist with another key (the secrets
        // check's), the shell is built again with this key embedded.
        ui.info("e2e-update: dist of this checkout (the installed version)");
        xtask_in(&config.workspace_root, config, &["dist"], &[], None, None)?;
        let dir = config.target_dir.join("e2e-update");
        let root = dir.join("www");
        if root.exists() {
            std::fs::remove_dir_all(&root).with_context(|| format!("clearing {}", root.display()))?;
        }
        std::fs::create_dir_all(&root)?;
        let server = Server::start(&root)?;
        let updates = UpdatesConfig {
            endpoint: format!("http://127.0.0.1:{}/channels/", server.port()),
            channel: CHANNEL.to_owned(),
            interval_hours: 0,
            snapshot_files: vec![DATABASE.to_owned()],
        };
        let v1_version: semver::Version = config.version.parse().context("the app version")?;
        let v2_version = semver::Version::new(v1_version.major, v1_version.minor + 1, 0);
        let v3_version = semver::Version::new(v1_version.major, v1_version.minor + 2, 0);
        let v1_dist = config.dist_dir(target);
        ensure!(
            v1_dist.join("dist-manifest.json").is_file(),
            "no dist of {} at {}: run `cargo xtask dist` first",
            config.version,
            v1_dist.display()
        );
        let repository_key = repository_key(&dir)?;
        let scratch = Scratch {
            updates: &updates,
            openpgp_public_key: &crate::core::fsx::with_suffix(&repository_key, ".asc"),
            openpgp_secret_key: &repository_key,
        };
        let v2_dist = scratch_dist(ui, config, &dir, &v2_version, false, &scratch)?;
        // Its rpm ships the dnf repository (gpgcheck=1): `dist` signed it
        // with the repository key.
        let public = crate::core::openpgp::OpenPgpPublicKey::read(scratch.openpgp_public_key)?;
        for rpm in crate::core::fsx::files_with_suffix(&v2_dist, ".rpm")? {
            let size = std::fs::metadata(&rpm)?.len();
            ensure!(
                crate::channel::yum::signed_by(&rpm, size, &public)?,
                "dist did not sign {} with the repository key",
                rpm.display()
            );
        }
        let v3_dist =
            if with_broken { Some(scratch_dist(ui, config, &dir, &v3_version, true, &scratch)?) } else { None };
        let mut lab = UpdateLab {
            config: config.clone(),
            display: Xvfb::start()?,
            bus: SessionBus::start()?,
            server,
            dir,
            v1: release(&v1_dist, v1_version)?,
            v2: release(&v2_dist, v2_version)?,
            v3: match v3_dist {
                Some(dist) => release(&dist, v3_version)?,
                None => Release {
                    version: v3_version,
                    manifest: PathBuf::new(),
                    portable: PathBuf::new(),
                    tree: String::new(),
                },
            },
            updates,
            repository_key,
        };
        // The trees an install has: v1 with the test endpoint added (its
        // build has no updates section), v2 and v3 as built.
        for which in 0..if with_broken { 3 } else { 2 } {
            let release = [&lab.v1, &lab.v2, &lab.v3][which];
            let scratch = tempfile::Builder::new().prefix("hudson-tree-").tempdir()?;
            let tree = unpack_portable(&release.portable, scratch.path())?;
            if which == 0 {
                lab.configure(&tree)?;
            }
            let hash = tree_hash(&tree)?;
            [&mut lab.v1, &mut lab.v2, &mut lab.v3][which].tree = hash;
        }
        Ok(lab)
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/artifacts/{{version}}/", self.server.port())
    }

    fn channels(&self) -> PathBuf {
        self.server.root.join("channels")
    }

    fn artifact_path(&self, release: &Release) -> PathBuf {
        let name = release.portable.file_name().expect("a file name");
        self.server.root.join("artifacts").join(release.version.to_string()).join(name)
    }

    /// Serves every file of the release's dist folder (portable tree,
    /// packages, signatures) under `artifacts/<version>/`.
    fn serve_artifact(&self, release: &Release) -> Result<()> {
        let path = self.artifact_path(release);
        let folder = path.parent().expect("a folder");
        std::fs::create_dir_all(folder)?;
        for entry in std::fs::read_dir(release.portable.parent().expect("a folder"))?.flatten() {
            let to = folder.join(entry.file_name());
            if entry.path().is_file() {
                let _ = std::fs::remove_file(&to);
                std::fs::copy(entry.path(), &to).with_context(|| format!("serving {}", to.display()))?;
            }
        }
        Ok(())
    }

    /// Publishes `release` to the lab's channel (its artifacts served).
    pub(crate) fn publish(&self, release: &Release) -> Result<()> {
        self.xtask(&["publish", "--channel", CHANNEL, "--base-url", &self.base_url()], &[&release.manifest])?;
        self.serve_artifact(release)
    }

    /// A new channel tree holding `releases`, published in that order (a
    /// scenario's starting point; installs made before it have seen
    /// another channel's sequence numbers).
    fn fresh_channel(&self, releases: &[&Release]) -> Result<()> {
        // The file store stays: content-addressed, it holds the same
        // objects for every scenario, and `publish` checks each before use.
        let channels = self.channels();
        if channels.exists() {
            for entry in std::fs::read_dir(&channels).with_context(|| format!("reading {}", channels.display()))? {
                let path = entry?.path();
                if path.file_name() == Some(std::ffi::OsStr::new(signing::tree::STORE_DIR)) {
                    continue;
                }
                if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) }
                    .with_context(|| format!("clearing {}", path.display()))?;
            }
        }
        for release in releases {
            self.publish(release)?;
        }
        Ok(())
    }

    /// Runs this xtask (as a release manager runs it) on the lab's channel tree.
    fn xtask(&self, args: &[&str], files: &[&Path]) -> Result<String> {
        xtask_in(&self.config.workspace_root, &self.config, args, files, Some(&self.channels()), None)
    }

    /// Publishes `release` with the repository key (the channel writes its
    /// apt and yum repositories), its artifacts served.
    fn publish_with_repositories(&self, release: &Release) -> Result<String> {
        let manifest = release.manifest.display().to_string();
        let said = self.xtask_with_repositories(&[
            "publish",
            "--channel",
            CHANNEL,
            "--base-url",
            &self.base_url(),
            &manifest,
        ])?;
        self.serve_artifact(release)?;
        Ok(said)
    }

    /// The same, with the repository key set: the channel's change also
    /// writes its apt and yum repositories.
    fn xtask_with_repositories(&self, args: &[&str]) -> Result<String> {
        let (root, channels) = (&self.config.workspace_root, self.channels());
        xtask_in(root, &self.config, args, &[], Some(&channels), Some(&self.repository_key))
    }

    /// Writes the test endpoint into an unpacked tree's `hudson-shell.json`.
    fn configure(&self, tree: &Path) -> Result<()> {
        let path = find_file(tree, SHELL_CONFIG_FILE, 4).context("the portable tree has no hudson-shell.json")?;
        let mut shell_config = ShellConfig::from_slice(&std::fs::read(&path)?)?;
        shell_config.updates = Some(self.updates.clone());
        std::fs::write(&path, shell_config.to_pretty_json())?;
        Ok(())
    }

    /// A fresh user with `release` unpacked as `~/Apps/Hudson` (the
    /// checkout's own version with the test endpoint added).
    pub(crate) fn install(&self, release: &Release) -> Result<UpdateInstall> {
        self.install_as(release, true)
    }

    pub(crate) fn install_as(&self, release: &Release, configure: bool) -> Result<UpdateInstall> {
        let (home, mut env) = crate::drive::home::private_home()?;
        let apps = home.path().join("Apps");
        std::fs::create_dir_all(&apps)?;
        let unpacked = unpack_portable(&release.portable, &apps)?;
        let root = apps.join(&self.config.product_name);
        std::fs::rename(&unpacked, &root)?;
        if configure && release.version.to_string() == self.config.version {
            self.configure(&root)?;
            ensure!(tree_hash(&root)? == release.tree, "the fresh install of {} is not its tree", release.version);
        }
        let program = root.join("bin").join(&self.config.shell_binary);
        ensure!(program.is_file(), "the portable tree has no {}", program.display());
        env.push(self.bus.env());
        env.push(("DISPLAY".into(), self.display.display().into()));
        let markers = vec![home.path().display().to_string()];
        let data = home.path().join("data").join(&self.config.identifier);
        std::fs::create_dir_all(&data)?;
        Ok(UpdateInstall { install: Install::new(home, env, markers, &self.config.identifier), root, program, data })
    }
}

/// `dist-manifest.json` and the portable artifact of a dist folder.
fn release(dist: &Path, version: semver::Version) -> Result<Release> {
    let manifest = dist.join("dist-manifest.json");
    let suffix = format!("-{}.tar.gz", Target::host()?.triple);
    let portable = std::fs::read_dir(dist)
        .with_context(|| format!("reading {}", dist.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(&suffix)))
        .with_context(|| format!("no portable artifact (*{suffix}) in {}", dist.display()))?;
    Ok(Release { version, manifest, portable, tree: String::new() })
}

/// Runs this xtask in `dir` with the checkout's target folder; channel
/// commands on the `channels` tree; with `repository_key` as
/// `HUDSON_OPENPGP_PRIVATE_KEY` (a path) when given.
fn xtask_in(
    dir: &Path,
    config: &Config,
    args: &[&str],
    files: &[&Path],
    channels: Option<&Path>,
    repository_key: Option<&Path>,
) -> Result<String> {
    let mut command = Command::new(crate::harness::release_checks::xtask_binary()?);
    command.current_dir(dir).env("CARGO_TARGET_DIR", &config.target_dir).args(args);
    if let Some(key) = repository_key {
        command.env(crate::core::openpgp::PRIVATE_KEY_VAR, key);
    }
    if let Some(channels) = channels {
        command.arg("--manifests-dir").arg(channels);
    }
    command.args(files);
    let out = command.stdin(Stdio::null()).output().with_context(|| format!("running xtask {args:?}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    ensure!(out.status.success(), "xtask {} failed:\n{text}", args.join(" "));
    Ok(text)
}

/// A scratch copy of the checkout at `version` (a broken backend if
/// `broken`), with `updates` configured, built by the real `dist` with the
/// checkout's target folder: returns its dist folder.
/// What every scratch build is given: the test endpoint, and the
/// package repositories' key its deb and rpm carry.
struct Scratch<'a> {
    updates: &'a UpdatesConfig,
    openpgp_public_key: &'a Path,
    /// Its secret half, which signs the rpm.
    openpgp_secret_key: &'a Path,
}

/// The lab's repository key (made once, kept between runs so the scratch
/// builds' packages do not change without need).
fn repository_key(dir: &Path) -> Result<PathBuf> {
    let secret = dir.join("repository-key");
    let public = crate::core::fsx::with_suffix(&secret, ".asc");
    let readable = std::fs::read_to_string(&secret)
        .ok()
        .and_then(|text| crate::core::openpgp::OpenPgpKey::from_armored(&text, None, "the lab's key").ok());
    if readable.is_none() || !public.is_file() {
        std::fs::create_dir_all(dir)?;
        let key = crate::core::openpgp::OpenPgpKey::generate("Hudson e2e-update <e2e@example.invalid>", None)?;
        crate::core::keys::write_secret_file(&secret, key.secret_armored()?.expose().as_bytes())?;
        crate::core::fsx::write_atomic(&public, key.public().to_armored()?.as_bytes())?;
    }
    Ok(secret)
}

fn scratch_dist(
    ui: &Ui,
    config: &Config,
    dir: &Path,
    version: &semver::Version,
    broken: bool,
    scratch: &Scratch,
) -> Result<PathBuf> {
    let started = Instant::now();
    // Kept between runs, and a file is rewritten only when its content
    // changed, so cargo and mix see unchanged sources as unchanged.
    let src = dir.join(format!("src-{version}"));
    let listed = Command::new("git")
        .current_dir(&config.workspace_root)
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .output()
        .context("listing the checkout's files with git")?;
    ensure!(listed.status.success(), "git ls-files failed");
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let relative = Path::new(std::str::from_utf8(name).context("a file name that is not UTF-8")?);
        let from = config.workspace_root.join(relative);
        let Ok(meta) = from.symlink_metadata() else { continue };
        let to = src.join(relative);
        std::fs::create_dir_all(to.parent().expect("a folder"))?;
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&from)?;
            if std::fs::read_link(&to).ok().as_ref() != Some(&link) {
                let _ = std::fs::remove_file(&to);
                std::os::unix::fs::symlink(link, &to)?;
            }
        } else if meta.is_file() {
            sync_file(&from, &to, |bytes| scratch_edit(relative, bytes, config, version, broken, scratch))?;
        }
    }
    let new = version.to_string();
    ui.info(format!(
        "e2e-update: building {new}{} with `dist` in {}",
        if broken { " (broken)" } else { "" },
        src.display()
    ));
    // Its own output folder: a scratch version never sits beside the
    // release in target/dist/, where a script or an upload glob could take
    // it for the real build.
    let out = dir.join("dist");
    // The rpm ships the dnf repository, so `dist` signs it with the key,
    // and says nothing of it: no line of the key's material is printed.
    let said = xtask_in(
        &src,
        config,
        &["dist", "--out-dir", &out.display().to_string()],
        &[],
        None,
        Some(scratch.openpgp_secret_key),
    )?;
    let secret = std::fs::read_to_string(scratch.openpgp_secret_key)?;
    if let Some(line) = secret.lines().filter(|l| l.len() >= 40).find(|l| said.contains(*l)) {
        bail!("dist printed a line of the repository's secret key ({} characters)", line.len());
    }
    ui.info(format!("e2e-update: {new} built in {}", seconds(started.elapsed())));
    Ok(out.join(&new).join(Target::host()?.triple))
}

/// The scratch copy's version of a checkout file: the version bumped in
/// its two homes (Cargo.toml's `[workspace.metadata.hudson]` and
/// `mix.exs`), the test endpoint configured, the backend broken.
fn scratch_edit(
    relative: &Path,
    bytes: Vec<u8>,
    config: &Config,
    version: &semver::Version,
    broken: bool,
    scratch: &Scratch,
) -> Result<Vec<u8>> {
    let updates = scratch.updates;
    let (old, new) = (&config.version, version.to_string());
    let replace = |bytes: Vec<u8>, from: String, to: String| -> Result<Vec<u8>> {
        let text = String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", relative.display()))?;
        ensure!(text.contains(&from), "{} does not contain {from:?}", relative.display());
        Ok(text.replacen(&from, &to, 1).into_bytes())
    };
    match relative.to_str().unwrap_or_default() {
        "Cargo.toml" => {
            // `[workspace.metadata.hudson] version`, the app version; the
            // crates' own version stays, as in a real release.
            let text = String::from_utf8(bytes).context("Cargo.toml is not UTF-8")?;
            let section = text
                .find("\n[workspace.metadata.hudson]\n")
                .context("Cargo.toml has no [workspace.metadata.hudson]")?;
            let line = format!("\nversion = \"{old}\"\n");
            let at = section
                + text[section..]
                    .find(&line)
                    .with_context(|| format!("[workspace.metadata.hudson] has no line {line:?}"))?;
            let mut bytes = format!("{}\nversion = \"{new}\"\n{}", &text[..at], &text[at + line.len()..]).into_bytes();
            ensure!(
                !String::from_utf8_lossy(&bytes).contains("[workspace.metadata.hudson.updates]"),
                "the checkout configures updates itself; the scratch copy cannot add the test endpoint"
            );
            write!(
                bytes,
                "\n[workspace.metadata.hudson.updates]\nendpoint = \"{}\"\nchannel = \"{}\"\ninterval-hours = 0\nsnapshot-files = [\"{DATABASE}\"]\n",
                updates.endpoint, updates.channel
            )?;
            // The packages point apt and dnf at the channel's repositories.
            ensure!(
                !String::from_utf8_lossy(&bytes).lines().any(|l| l.trim() == "[workspace.metadata.hudson.signing]"),
                "the checkout configures signing itself; the scratch copy cannot add the repository key"
            );
            write!(
                bytes,
                "\n[workspace.metadata.hudson.signing]\nopenpgp-public-key = \"{}\"\n",
                scratch.openpgp_public_key.display()
            )?;
            Ok(bytes)
        }
        "backend/mix.exs" => replace(bytes, format!("version: \"{old}\""), format!("version: \"{new}\"")),
        MIGRATIONS => {
            let text = String::from_utf8(bytes).with_context(|| format!("{MIGRATIONS} is not UTF-8"))?;
            Ok(with_migrations(&text, broken)?.into_bytes())
        }
        "backend/lib/hudson/application.ex" if broken => replace(bytes, BOOT_LINE.to_owned(), BROKEN_BOOT.to_owned()),
        _ => Ok(bytes),
    }
}

/// The backend's migration list (`Hudson.Database.Migrations`).
const MIGRATIONS: &str = "backend/lib/hudson/database/migrations.ex";

/// The next version's migration, and the broken version's on top of it.
const NEXT_MIGRATION: &str = "ALTER TABLE cache ADD COLUMN note TEXT;";
const BROKEN_MIGRATION: &str = "CREATE TABLE broken_rows (id INTEGER PRIMARY KEY, written_by TEXT NOT NULL); ALTER TABLE cache ADD COLUMN broken TEXT;";

/// The migration list with one more migration (the next version), or two
/// (the broken one): the list is one literal closed by a line `  ]`, its
/// last entry ending in `"""}`.
fn with_migrations(text: &str, broken: bool) -> Result<String> {
    let latest = text
        .match_indices("{")
        .filter_map(|(at, _)| {
            let digits: String = text[at + 1..].chars().take_while(char::is_ascii_digit).collect();
            text[at + 1 + digits.len()..].starts_with(", \"").then(|| digits.parse::<u64>().ok()).flatten()
        })
        .max()
        .with_context(|| format!("{MIGRATIONS} lists no migration `{{N, \"name\", …}}`"))?;
    let mut added = format!(",\n    {{{}, \"e2e-update: a column for notes\", \"{NEXT_MIGRATION}\"}}", latest + 1);
    if broken {
        added.push_str(&format!(
            ",\n    {{{}, \"e2e-update: the broken build's table\", \"{BROKEN_MIGRATION}\"}}",
            latest + 2
        ));
    }
    let close = "\"\"\"}\n  ]\n";
    ensure!(text.contains(close), "{MIGRATIONS}: the migration list does not end in `\"\"\"}}` and a line `  ]`");
    Ok(text.replacen(close, &format!("\"\"\"}}{added}\n  ]\n"), 1))
}

/// The line that starts the backend's supervision tree.
const BOOT_LINE: &str = "    Supervisor.start_link(children, strategy: :rest_for_one, name: Hudson.Supervisor)\n";
/// The broken version's boot: its database opens and migrates as usual,
/// then, before the backend can pass a health check, it writes rows and
/// halts the VM without closing the database (its `-wal` stays).
const BROKEN_BOOT: &str = r#"    # e2e-update: this build is broken on purpose. Its database opens and
    # migrates as usual; then, before the backend could pass a health check,
    # it writes rows and halts the VM without closing the database.
    if Application.get_env(:hudson, :server, false) do
      config = Config.from_env(System.get_env())
      {:ok, _} = Hudson.Database.start_link(data_dir: config.data_dir)
      {:ok, _} = Hudson.Database.status()

      for n <- 1..5,
          do: :ok = Hudson.Database.put("broken-#{n}", "written by the broken build")

      Logger.error("this build is broken on purpose: halting without closing its database")
      Process.sleep(300)
      :erlang.halt(1)
    end

    Supervisor.start_link(children, strategy: :rest_for_one, name: Hudson.Supervisor)
"#;

/// Writes `transform(from's bytes)` to `to` unless `to` already holds them.
fn sync_file(from: &Path, to: &Path, transform: impl FnOnce(Vec<u8>) -> Result<Vec<u8>>) -> Result<()> {
    let wanted = transform(std::fs::read(from).with_context(|| format!("reading {}", from.display()))?)?;
    if std::fs::read(to).ok().as_ref() != Some(&wanted) {
        std::fs::write(to, &wanted).with_context(|| format!("writing {}", to.display()))?;
        std::fs::set_permissions(to, from.metadata()?.permissions())?;
    }
    Ok(())
}

/// Unpacks a portable artifact into `into` with the system's `tar` (an
/// independent reader) and returns its top folder.
fn unpack_portable(artifact: &Path, into: &Path) -> Result<PathBuf> {
    let before: Vec<PathBuf> = std::fs::read_dir(into)?.flatten().map(|e| e.path()).collect();
    let status = Command::new("tar").arg("-xzf").arg(artifact).arg("-C").arg(into).status()?;
    ensure!(status.success(), "tar could not unpack {}", artifact.display());
    let mut new: Vec<PathBuf> =
        std::fs::read_dir(into)?.flatten().map(|e| e.path()).filter(|p| !before.contains(p)).collect();
    ensure!(new.len() == 1, "{} does not hold one top folder: {new:?}", artifact.display());
    Ok(new.remove(0))
}

fn find_file(dir: &Path, name: &str, depth: usize) -> Option<PathBuf> {
    let candidate = dir.join(name);
    if candidate.is_file() {
        return Some(candidate);
    }
    if depth == 0 {
        return None;
    }
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs.into_iter().find_map(|d| find_file(&d, name, depth - 1))
}

/// SHA-256 over every entry of a tree: relative path, type, mode, and the
/// content or link target. Equal hashes: the same tree, byte for byte.
fn tree_hash(root: &Path) -> Result<String> {
    hudson_test_support::tree::tree_hash(root).with_context(|| format!("hashing the tree {}", root.display()))
}

/// A user's portable install and the shell started from it.
pub(crate) struct UpdateInstall {
    install: Install,
    /// `~/Apps/Hudson`.
    pub(crate) root: PathBuf,
    program: PathBuf,
    /// The backend's data folder (the app-data folder).
    data: PathBuf,
}

/// An update install is an e2e [`Install`] (its home, environment, log and
/// events) with a tree at `root`: what it does not add, it asks the install.
impl std::ops::Deref for UpdateInstall {
    type Target = Install;
    fn deref(&self) -> &Install {
        &self.install
    }
}

impl UpdateInstall {
    pub(crate) fn launch(&self, restart_when_ready: bool) -> Result<Child> {
        self.launch_with(restart_when_ready, &[])
    }

    /// `launch`, with `extra` variables in the shell's environment.
    pub(crate) fn launch_with(&self, restart_when_ready: bool, extra: &[(&str, &str)]) -> Result<Child> {
        let mut command = Command::new(&self.program);
        command.envs(self.install.env.iter().map(|(k, v)| (k, v)));
        command.envs(extra.iter().copied());
        if restart_when_ready {
            command.env(hooks::ENV_UPDATE_RESTART_WHEN_READY, "1");
        }
        command.env("HUDSON_TEST_DB_WRITER", WRITER_MS);
        // The shell echoes its log to stderr; a panic or an exit before the
        // log file opens shows only there.
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.output_path())
            .with_context(|| format!("opening {}", self.output_path().display()))?;
        command.stdin(Stdio::null()).stdout(output.try_clone()?).stderr(output);
        command.spawn().with_context(|| format!("starting {}", self.program.display()))
    }

    /// Everything the shells of this install wrote to stdout and stderr.
    fn output_path(&self) -> PathBuf {
        self.install.home.path().join("shell-output.txt")
    }

    fn output_len(&self) -> usize {
        std::fs::metadata(self.output_path()).map_or(0, |m| m.len() as usize)
    }

    /// What a failure report needs beyond the log: the shell's own output
    /// since `from` (an `output_len`) and what the log folder holds.
    fn evidence(&self, from: usize) -> String {
        let bytes = std::fs::read(self.output_path()).unwrap_or_default();
        let output = String::from_utf8_lossy(bytes.get(from..).unwrap_or_default()).into_owned();
        let mut files: Vec<String> = std::fs::read_dir(self.install.log_dir())
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        format!("{} ({} bytes)", e.file_name().to_string_lossy(), e.metadata().map_or(0, |m| m.len()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        format!("log folder: [{}]; the shell's stdout and stderr:\n{}", files.join(", "), tail(&output, 25))
    }

    /// [`Install::seen`], for what was seen only.
    fn wait_event(
        &self,
        from: usize,
        what: &str,
        timeout: Duration,
        want: impl Fn(&ShellEvent) -> bool,
    ) -> Result<ShellEvent> {
        self.seen(from, what, timeout, want).map(|(_, event, _)| event)
    }

    /// Waits until the log since `from` holds `needle` — for the backend's
    /// own output only (its migration line); the shell's state comes from
    /// its events.
    fn seen_in_log(&self, from: usize, needle: &str, timeout: Duration) -> Result<()> {
        let found = crate::core::wait::until(timeout, Duration::from_millis(25), || {
            self.log_since(from).contains(needle).then_some(())
        });
        found.with_context(|| {
            format!("the backend never logged {needle:?} within {timeout:?}:\n{}", tail(&self.log_since(from), 25))
        })
    }

    /// The offset past the first (or, `last`, the last) relaunch since `from`.
    fn relaunched(&self, from: usize, last: bool) -> usize {
        let mut relaunches = self.events_since(from).into_iter().filter(|(_, e)| is_relaunch(e)).map(|(end, _)| end);
        let at = if last { relaunches.next_back() } else { relaunches.next() };
        at.unwrap_or(from)
    }

    /// SIGTERM, a graceful exit and nothing left behind.
    pub(crate) fn stop(&self, mut shell: Child) -> Result<()> {
        procs::signal(shell.id(), libc::SIGTERM);
        let status = wait_exit(&mut shell, Duration::from_secs(20))?;
        ensure!(status.is_some(), "the shell did not exit within 20 s of SIGTERM");
        let left = self.install.wait_no_backend(Duration::from_secs(10));
        ensure!(left.is_empty(), "backend processes survive the shell: {left:?}");
        Ok(())
    }

    fn kill(&self, mut shell: Child) -> Result<()> {
        procs::signal(shell.id(), libc::SIGKILL);
        shell.wait()?;
        for p in self.install.wait_no_backend(Duration::from_secs(10)) {
            procs::signal(p.pid, libc::SIGKILL);
        }
        self.wait_single_instance_released()
    }

    /// Waits (up to 10 s) until the session bus has dropped the killed
    /// shell's single-instance name. dbus-daemon notices a dead connection
    /// asynchronously; a launch in between finds the name taken, hands over
    /// to nobody and exits, as a user's double-click would at that moment.
    /// The kill loop judges the install, not that race.
    fn wait_single_instance_released(&self) -> Result<()> {
        let name = hudson_lifecycle::shell_event::single_instance_name(self.install.identifier());
        let address = self
            .install
            .env
            .iter()
            .find(|(k, _)| k == "DBUS_SESSION_BUS_ADDRESS")
            .map(|(_, v)| v.clone())
            .context("the install has no session bus")?;
        let released = crate::core::wait::until(Duration::from_secs(10), Duration::from_millis(20), || {
            crate::harness::doubles::name_has_owner(&address, &name).map(|owned| (!owned).then_some(())).transpose()
        });
        released.with_context(|| {
            format!("the killed shell's single-instance name {name} was still on the session bus 10 s later")
        })?
    }

    /// Launches, lets the backend run a moment after its page loaded (its
    /// writer adds a row every `WRITER_MS`), stops.
    fn run_a_moment(&self) -> Result<()> {
        let from = self.log_len();
        let shell = self.launch(false)?;
        let ran = self.wait_event(from, "the page loaded", PAGE_TIMEOUT, is_page).map(|_| {
            std::thread::sleep(Duration::from_millis(1500));
        });
        self.stop(shell)?;
        ran.map(|_| ())
    }

    /// Launches, waits for the page and the first event that `want`
    /// accepts (what the check, or the download it started, ended with),
    /// stops; returns that event.
    fn expect_check(&self, what: &str, want: impl Fn(&ShellEvent) -> bool) -> Result<ShellEvent> {
        let from = self.log_len();
        let shell = self.launch(false)?;
        let result = (|| {
            self.wait_event(from, "the page loaded", PAGE_TIMEOUT, is_page)?;
            self.wait_event(from, what, Duration::from_secs(30), want)
        })();
        self.stop(shell)?;
        result
    }

    /// Launches with Restart to update pressed for it, and waits until
    /// `version` was downloaded, verified, installed and passed probation
    /// in the relaunched shell; stops; shell and backend must report it.
    fn update_to(&self, version: &str) -> Result<()> {
        let from = self.log_len();
        let shell = self.launch(true)?;
        let waited = (|| -> Result<()> {
            self.wait_event(from, &format!("{version} downloaded"), PAGE_TIMEOUT, |e| downloaded(e, version))?;
            self.wait_event(from, &format!("{version} passed probation"), PAGE_TIMEOUT, |e| passed(e, version))?;
            Ok(())
        })();
        let versions = self.versions_since(self.relaunched(from, false));
        self.stop(shell)?;
        waited?;
        let wanted = Some(version.to_owned());
        ensure!(versions == (wanted.clone(), wanted), "after the update to {version} the app reports {versions:?}");
        Ok(())
    }

    /// The versions the last launch's shell and backend reported.
    fn versions_since(&self, from: usize) -> (Option<String>, Option<String>) {
        let (mut shell, mut backend) = (None, None);
        for (_, event) in self.events_since(from) {
            match event {
                ShellEvent::ShellStarted { version } => shell = Some(version),
                ShellEvent::BackendReady { version, .. } => backend = Some(version),
                _ => {}
            }
        }
        (shell, backend)
    }

    fn state(&self) -> Result<serde_json::Value> {
        let path = self.data.join("updates/state.json");
        Ok(serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)?)
    }

    /// The database as `sqlite3` reads it (the app must be stopped).
    fn facts(&self) -> Result<Facts> {
        crate::harness::database::read(&self.data.join(DATABASE))
    }

    /// The `database` check of `/healthz` from the backend the log (since
    /// `from`) last said was ready: `(status, detail)`.
    fn database_check(&self, from: usize) -> Result<(String, String)> {
        let origin = self
            .events_since(from)
            .into_iter()
            .filter_map(|(_, e)| match e {
                ShellEvent::BackendReady { origin, .. } => Some(origin),
                _ => None,
            })
            .next_back()
            .context("the shell reported no ready backend")?;
        let client = reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build()?;
        let answer = client.get(format!("{origin}/healthz")).send()?.error_for_status()?;
        let doc: hudson_lifecycle::contract::HealthDoc = serde_json::from_reader(answer.take(1 << 20))?;
        let check = doc.checks.get("database").context("/healthz has no database check")?;
        Ok((format!("{:?}", check.status).to_lowercase(), check.detail.clone()))
    }

    fn rollback_copy(&self) -> PathBuf {
        hudson_updater::Layout::rollback_copy_of(&self.root)
    }
}

/// The backend's page finished loading.
pub(crate) fn is_page(event: &ShellEvent) -> bool {
    matches!(event, ShellEvent::PageLoaded { .. })
}

pub(crate) fn is_relaunch(event: &ShellEvent) -> bool {
    matches!(event, ShellEvent::Relaunching { .. })
}

pub(crate) fn is_stopped(event: &ShellEvent) -> bool {
    matches!(event, ShellEvent::BackendStopped { .. })
}

pub(crate) fn ready(event: &ShellEvent, want: &str) -> bool {
    matches!(event, ShellEvent::BackendReady { version, .. } if version == want)
}

fn downloaded(event: &ShellEvent, want: &str) -> bool {
    matches!(event, ShellEvent::UpdateDownloaded { version } if version == want)
}

fn passed(event: &ShellEvent, want: &str) -> bool {
    matches!(event, ShellEvent::ProbationPassed { version } if version == want)
}

/// A check that ended with `outcome` (`halted`, `refused`, `bad_version`, …).
fn checked(event: &ShellEvent, want: &str) -> bool {
    matches!(event, ShellEvent::UpdateChecked { outcome, .. } if outcome == want)
}

/// A check refused by the policy rule `kind` (`replay`, `unknown_key`, …).
fn refused_for(event: &ShellEvent, kind: &str) -> bool {
    matches!(event, ShellEvent::UpdateChecked { refused: Some(refused), .. } if refused == kind)
}

/// Each refusal: the reason logged, the tree and the state's last-seen
/// manifest untouched, nothing downloaded left behind.
fn refusals(ui: &Ui, lab: &UpdateLab, _: &Options, shared: &Shared) -> Result<String> {
    let (a, _) = install_a(lab, shared)?;
    let a = &a;
    let mut seen = Vec::new();
    let tree = tree_hash(&a.root)?;
    ensure!(tree == lab.v1.tree, "install A is not the {} tree before the refusals", lab.v1.version);
    let channel = lab.channels().join(CHANNEL);
    let saved = lab.dir.join("saved-channel");
    let copy = |from: &Path, to: &Path| -> Result<()> {
        if to.exists() {
            std::fs::remove_dir_all(to)?;
        }
        let status = Command::new("cp").arg("-a").arg(from).arg(to).status()?;
        ensure!(status.success(), "copying {}", from.display());
        Ok(())
    };
    let unchanged = |what: &str| -> Result<()> {
        ensure!(tree_hash(&a.root)? == tree, "{what}: the install tree changed");
        ensure!(!a.rollback_copy().exists(), "{what}: a rollback copy appeared");
        Ok(())
    };

    // 1. The next release published, one of its objects in the file store
    // and then its artifact tampered with: the object is refused (the app
    // falls back to the artifact, saying why), then the artifact.
    copy(&channel, &saved)?;
    lab.xtask(&["publish", "--channel", CHANNEL, "--base-url", &lab.base_url()], &[&lab.v2.manifest])?;
    // The boot script names the version: 0.2.0 has it, 0.1.0 does not.
    let object = stored_object(lab, "start.boot")?;
    let good_object = std::fs::read(&object)?;
    let mut inside = zstd::decode_all(good_object.as_slice()).context("decompressing a store object")?;
    inside[0] ^= 0x01;
    std::fs::write(&object, zstd::bulk::compress(&inside, 12)?)?;
    let served = lab.artifact_path(&lab.v2);
    std::fs::create_dir_all(served.parent().expect("a folder"))?;
    let mut bytes = std::fs::read(&lab.v2.portable)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&served, &bytes)?;
    let from = a.log_len();
    let failed = a.expect_check("a failed download", |e| matches!(e, ShellEvent::UpdateDownloadFailed { .. }))?;
    ensure!(
        matches!(failed, ShellEvent::UpdateDownloadFailed { refused: true, .. }),
        "a flipped byte was not refused: {failed:?}"
    );
    let object_refused = a.events_since(from).into_iter().any(|(_, e)| {
        matches!(e, ShellEvent::UpdateDeltaFailed { reason, .. } if reason.contains("is not the object the tree manifest names"))
    });
    ensure!(object_refused, "the object with a flipped byte was not refused by name");
    unchanged("flipped byte")?;
    seen.push("a store object with a flipped byte (then the full download)");
    seen.push("flipped byte");

    std::fs::write(&served, &std::fs::read(&lab.v2.portable)?[..middle])?;
    a.expect_check("a failed download", |e| matches!(e, ShellEvent::UpdateDownloadFailed { .. }))?;
    unchanged("cut short")?;
    seen.push("cut short");

    // 2. Rollout 0 %: this install is outside it (the artifact and the
    // object are fine now).
    std::fs::write(&object, &good_object)?;
    lab.serve_artifact(&lab.v2)?;
    lab.xtask(&["rollout", CHANNEL, "0"], &[])?;
    a.expect_check("a check outside the rollout", |e| checked(e, "not_in_rollout"))?;
    unchanged("rollout 0 %")?;
    seen.push("rollout 0 %");

    // 3. Halted.
    lab.xtask(&["halt", CHANNEL], &[])?;
    a.expect_check("a check of a halted channel", |e| checked(e, "halted"))?;
    unchanged("halted")?;
    seen.push("halted");

    // 4. Replayed: the older channel state, after the install saw the halt.
    let halted = lab.dir.join("halted-channel");
    copy(&channel, &halted)?;
    copy(&saved, &channel)?;
    let refused = a.expect_check("a refused check", |e| checked(e, "refused"))?;
    ensure!(refused_for(&refused, "replay"), "a replayed manifest was refused for another reason: {refused:?}");
    unchanged("replayed")?;
    seen.push("replayed older manifest");

    // 5. Signed by a key this build does not trust (its own channel tree:
    // the key is judged before the sequence).
    let stranger = lab.dir.join("stranger.key");
    let _ = std::fs::remove_file(&stranger);
    let _ = std::fs::remove_file(crate::core::keys::public_path(&stranger));
    xtask_in(
        &lab.config.workspace_root,
        &lab.config,
        &["keygen", "--no-password", "--out", &stranger.display().to_string()],
        &[],
        None,
        None,
    )?;
    let stranger = signing::keys::SecretKey::from_file(&stranger, None)?;
    resign(&channel, &stranger, |m| m.sequence += 1)?;
    let refused = a.expect_check("a refused check", |e| checked(e, "refused"))?;
    ensure!(
        refused_for(&refused, "unknown_key"),
        "a manifest signed by an unknown key was refused for another reason: {refused:?}"
    );
    unchanged("unknown key")?;
    seen.push("unknown key");
    copy(&halted, &channel)?;

    // 6. Expired: the current state re-signed by the trusted key with a
    // newer sequence and an expiry an hour ago.
    let trusted = crate::core::keys::signing_key(&lab.config, ui)?;
    resign(&channel, &trusted.key, |m| {
        let now = time::OffsetDateTime::now_utc();
        m.sequence += 1;
        m.issued_at = now - time::Duration::hours(2);
        m.expires_at = now - time::Duration::hours(1);
    })?;
    let refused = a.expect_check("a refused check", |e| checked(e, "refused"))?;
    ensure!(refused_for(&refused, "expired"), "an expired manifest was refused for another reason: {refused:?}");
    unchanged("expired")?;
    seen.push("expired manifest");
    copy(&halted, &channel)?;

    // 7. No entry for this platform: a release without its portable
    // artifact, checked by a fresh install (a tree of its own, so the
    // sequence is new to it).
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&lab.v2.manifest)?)?;
    let mut without = manifest.clone();
    if let Some(items) = without["artifacts"].as_array_mut() {
        items.retain(|item| item["kind"] != "portable");
    }
    ensure!(without != manifest, "the dist manifest lists no portable artifact");
    let stripped_dir = lab.dir.join("without-portable");
    if stripped_dir.exists() {
        std::fs::remove_dir_all(&stripped_dir)?;
    }
    std::fs::create_dir_all(&stripped_dir)?;
    for entry in std::fs::read_dir(lab.v2.manifest.parent().expect("a folder"))?.flatten() {
        if entry.path().is_file() {
            std::fs::hard_link(entry.path(), stripped_dir.join(entry.file_name()))?;
        }
    }
    let stripped = stripped_dir.join("dist-manifest.json");
    std::fs::remove_file(&stripped)?;
    std::fs::write(&stripped, serde_json::to_vec_pretty(&without)?)?;
    let platformless = lab.dir.join("platformless-channels");
    publish_elsewhere(lab, &platformless, &stripped)?;
    let c = lab.install(&lab.v1)?;
    copy(&platformless.join(CHANNEL), &channel)?;
    let refused = c.expect_check("a refused check", |e| checked(e, "refused"))?;
    ensure!(
        refused_for(&refused, "platform_missing"),
        "a platformless manifest was refused for another reason: {refused:?}"
    );
    ensure!(tree_hash(&c.root)? == lab.v1.tree, "wrong platform: the install tree changed");
    copy(&halted, &channel)?;
    seen.push("no entry for this platform");

    let state = a.state()?;
    ensure!(state["journal"].is_null(), "a refusal left a journal: {state}");
    // Nothing but the state, and the downloads folder only when empty.
    let names = |dir: &Path| -> Result<Vec<String>> {
        Ok(std::fs::read_dir(dir)?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
    };
    let updates = a.data.join("updates");
    let (folder, downloads) =
        (hudson_updater::download::DOWNLOADS_DIR, updates.join(hudson_updater::download::DOWNLOADS_DIR));
    let mut leftovers = names(&updates)?;
    leftovers.retain(|n| n != "state.json" && !(n == folder && downloads.is_dir()));
    if downloads.is_dir() {
        leftovers.extend(names(&downloads)?.into_iter().map(|n| format!("{folder}/{n}")));
    }
    ensure!(leftovers.is_empty(), "refusals left files in updates/: {leftovers:?}");
    Ok(format!("{}: each refused with the reason logged, the install tree hash unchanged", seen.join(", ")))
}

/// The served channel state edited by `edit` and signed by `key`, as a
/// server (or an attacker holding that key) could serve it.
fn resign(channel: &Path, key: &signing::keys::SecretKey, edit: impl FnOnce(&mut ChannelManifest)) -> Result<()> {
    let current = channel.join(signing::manifest::MANIFEST_FILE);
    let mut manifest = ChannelManifest::from_json(&std::fs::read(&current)?)?;
    edit(&mut manifest);
    let signed = manifest.sign(key)?;
    std::fs::write(&current, &signed.json)?;
    std::fs::write(channel.join(signing::manifest::MANIFEST_SIGNATURE_FILE), signed.signature_text())?;
    Ok(())
}

/// Publishes `manifest` to a fresh channel tree `tree` with this
/// checkout's signing key.
fn publish_elsewhere(lab: &UpdateLab, tree: &Path, manifest: &Path) -> Result<()> {
    if tree.exists() {
        std::fs::remove_dir_all(tree)?;
    }
    let mut command = Command::new(crate::harness::release_checks::xtask_binary()?);
    command.current_dir(&lab.config.workspace_root).env("CARGO_TARGET_DIR", &lab.config.target_dir);
    let base = lab.base_url();
    let out = command
        .args(["publish", "--channel", CHANNEL, "--base-url", &base, "--manifests-dir"])
        .arg(tree)
        .arg(manifest)
        .stdin(Stdio::null())
        .output()?;
    ensure!(out.status.success(), "publishing to {} failed:\n{}", tree.display(), String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// The next release published: the running shell updates itself.
/// Returns the scenario's result, and when (after the launch) the first page
/// loaded and the new version passed probation.
fn update_to_next(lab: &UpdateLab, a: &UpdateInstall, schemas: &Schemas) -> Result<(String, (Duration, Duration))> {
    // What the previous version wrote must all be there afterwards.
    let before = a.facts()?;
    ensure!(!before.rows.is_empty(), "the previous version wrote no rows: {}", before.summary());
    let from = a.log_len();
    let started = Instant::now();
    let shell = a.launch(true)?;
    let v2 = lab.v2.version.to_string();
    // When the first page appeared (the update starts after it) and when
    // the new version passed probation: the kill loop aims between them.
    let result = (|| -> Result<(Duration, Duration, Duration)> {
        let (page, _, after_page) = a.seen(from, "the page loaded", PAGE_TIMEOUT, is_page)?;
        let (fetched, _, after_fetch) =
            a.seen(after_page, &format!("{v2} downloaded"), PAGE_TIMEOUT, |e| downloaded(e, &v2))?;
        // Staged and checked while the old version still runs: the
        // install that follows is only the swap.
        let (prepared, _, after_prepare) = a.seen(
            after_fetch,
            &format!("{v2} staged"),
            PAGE_TIMEOUT,
            |e| matches!(e, ShellEvent::UpdatePrepared { version } if *version == v2),
        )?;
        a.seen(after_prepare, "the install starting", PAGE_TIMEOUT, |e| {
            matches!(e, ShellEvent::UpdateInstalling { .. })
        })?;
        let (_, _, relaunched) = a.seen(after_page, "a relaunch", Duration::from_secs(60), is_relaunch)?;
        let (passed, _, _) =
            a.seen(relaunched, &format!("{v2} passed probation"), PAGE_TIMEOUT, |e| self::passed(e, &v2))?;
        a.wait_event(relaunched, "the page loaded", PAGE_TIMEOUT, is_page)?;
        Ok((page - started, passed - started, prepared.saturating_duration_since(fetched)))
    })();
    let versions = a.versions_since(a.relaunched(from, false));
    let fetched = a.events_since(from).into_iter().find_map(|(_, event)| match event {
        ShellEvent::UpdateDelta { downloaded, full, fetched, reused, .. } => {
            Some(Ok((downloaded, full, fetched, reused)))
        }
        ShellEvent::UpdateDeltaFailed { reason, .. } => Some(Err(reason)),
        _ => None,
    });
    a.stop(shell)?;
    let (page, took, staging) = result?;
    // The portable release is in the file store: only what changed is fetched.
    let delta = match fetched {
        // 0.2.0 differs from 0.1.0 in one backend module and its version:
        // the issue's bound for such a release, manifests included. Over
        // it, something compiled into the shell (or every backend file)
        // changes with the version again.
        Some(Ok((downloaded, full, ..))) if downloaded.saturating_mul(20) > full => bail!(
            "a release that changes one backend module fetched {downloaded} of {full} bytes from the file store, over 5 %: \
             the shell binary must be the same file in both (no version compiled in; docs/xtask.md, `dist`)"
        ),
        Some(Ok((downloaded, full, objects, reused))) => format!(
            "fetched from the file store: {downloaded} bytes of the {full}-byte artifact ({:.1} %, {objects} objects; {reused} files reused from {})",
            downloaded as f64 * 100.0 / full.max(1) as f64,
            lab.v1.version
        ),
        Some(Err(reason)) => bail!("the update did not use the file store: {reason}"),
        None => bail!("the update logged neither update_delta nor update_delta_failed"),
    };
    ensure!(
        versions == (Some(v2.clone()), Some(v2.clone())),
        "after the update the shell and backend report {versions:?}, not {v2}"
    );
    ensure!(tree_hash(&a.root)? == lab.v2.tree, "the install is not the {v2} tree after the update");
    let copy = a.rollback_copy();
    ensure!(tree_hash(&copy)? == lab.v1.tree, "the rollback copy {} is not the previous tree", copy.display());
    let state = a.state()?;
    ensure!(state["journal"].is_null(), "the journal is still open after probation: {state}");
    let after = a.facts()?;
    ensure!(
        after.integrity == "ok" && after.schema == schemas.v2,
        "after the update the database is {}, not schema {} and intact",
        after.summary(),
        schemas.v2
    );
    let lost: Vec<&(String, String)> = before.rows.difference(&after.rows).collect();
    ensure!(lost.is_empty(), "the update lost {} rows the previous version wrote: {lost:?}", lost.len());
    Ok((
        format!(
            "{} → {v2} in {} (launch to probation passed), {delta}; staged beside the install in {} while {} ran; shell and backend report {v2}; the install is exactly the {v2} artifact's tree; rollback copy {} is the {} tree; database migrated to schema {} with all {} earlier rows ({})",
            lab.v1.version,
            seconds(took),
            seconds(staging),
            lab.v1.version,
            copy.display(),
            lab.v1.version,
            after.schema,
            before.rows.len(),
            after.summary()
        ),
        (page, took),
    ))
}

/// `update_time`: when the first page loaded and when the new version
/// passed probation, in the measured update; kills land between the two
/// (plus 300 ms), where download, unpack, swap and probation happen.
fn kill_loop(
    lab: &UpdateLab,
    options: &Options,
    update_time: (Duration, Duration),
    schemas: &Schemas,
) -> Result<KillLoop> {
    let (mut moments, seed) = Moments::seeded(options.seed);
    let mut report = KillLoop { seed, updates: options.kill_updates, ..KillLoop::default() };
    let start = update_time.0.as_millis() as u64;
    let window = update_time.1.as_millis() as u64 + 300 - start.min(update_time.1.as_millis() as u64);
    let (old, new) = (lab.v1.version.to_string(), lab.v2.version.to_string());
    for round in 0..options.kill_updates {
        let user = lab.install(&lab.v1)?;
        let from = user.log_len();
        let shell = user.launch(true)?;
        let delay = start + moments.below(window);
        std::thread::sleep(Duration::from_millis(delay));
        let before: Vec<ShellEvent> = user.events_since(from).into_iter().map(|(_, e)| e).collect();
        let any = |want: fn(&ShellEvent) -> bool| before.iter().any(want);
        let phase = if any(|e| matches!(e, ShellEvent::ProbationPassed { .. })) {
            report.killed_after_probation += 1;
            "after probation"
        } else if any(is_relaunch) {
            report.killed_on_probation += 1;
            "on probation"
        } else if any(|e| matches!(e, ShellEvent::UpdateInstalling { .. })) {
            report.killed_installing += 1;
            "installing"
        } else if any(|e| matches!(e, ShellEvent::UpdateDownloaded { .. })) {
            report.killed_preparing += 1;
            "preparing"
        } else {
            report.killed_downloading += 1;
            "downloading"
        };
        user.kill(shell)?;

        let from = user.log_len();
        let output_from = user.output_len();
        let shell = user.launch(false)?;
        let page = user.wait_event(from, "the page loaded", PAGE_TIMEOUT, is_page);
        let versions = user.versions_since(from);
        user.stop(shell)?;
        let hash = tree_hash(&user.root)?;
        // The database the backend kept writing: intact, and at the schema
        // of the version that came back.
        let facts = user.facts();
        let data_ok = |schema: u64| facts.as_ref().is_ok_and(|f| f.integrity == "ok" && f.schema == schema);
        let verdict = match (&page, &versions) {
            (Ok(_), (Some(s), Some(b))) if s == b && *s == old && hash == lab.v1.tree && data_ok(schemas.v1) => {
                Some(&mut report.came_back_old)
            }
            (Ok(_), (Some(s), Some(b))) if s == b && *s == new && hash == lab.v2.tree && data_ok(schemas.v2) => {
                Some(&mut report.came_back_new)
            }
            _ => None,
        };
        match verdict {
            Some(count) => *count += 1,
            None => {
                report.broken += 1;
                report.failures.push(format!(
                    "update {round}, killed {delay} ms after launch ({phase}): page {:?}, versions {versions:?}, database {}, tree {}; {}",
                    page.as_ref().map(|_| "loaded").map_err(|e| e.to_string()),
                    facts.as_ref().map_or_else(|e| format!("unreadable: {e:#}"), Facts::summary),
                    if hash == lab.v1.tree {
                        "old"
                    } else if hash == lab.v2.tree {
                        "new"
                    } else {
                        "neither"
                    },
                    user.evidence(output_from)
                ));
            }
        }
    }
    ensure!(
        report.broken == 0,
        "{} of {} killed updates left a broken install (seed {seed}):\n{}",
        report.broken,
        report.updates,
        report.failures.join("\n")
    );
    Ok(report)
}

/// The package (`.deb`, `.rpm`) in `release`'s dist folder.
fn package_file(release: &Release, suffix: &str) -> Result<PathBuf> {
    let dir = release.portable.parent().expect("a folder");
    crate::core::fsx::files_with_suffix(dir, suffix)?
        .into_iter()
        .next()
        .with_context(|| format!("no {suffix} in {}", dir.display()))
}

/// As root: the checkout's deb installed with `dpkg -i`, updated by the
/// app through `dpkg -i` of the next version's deb.
fn deb_as_root(_: &Ui, lab: &UpdateLab, _: &Options, _: &Shared) -> Result<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok("not run: this scenario installs system packages and needs root".to_owned());
    }
    lab.fresh_channel(&[&lab.v1, &lab.v2])?;
    let (v1_deb, v2) = (package_file(&lab.v1, ".deb")?, lab.v2.version.to_string());
    let field = |args: &[&str]| -> Result<String> {
        let out = Command::new(args[0]).args(&args[1..]).output()?;
        ensure!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let package = field(&["dpkg-deb", "-f", &v1_deb.display().to_string(), "Package"])?;
    let purge =
        || Command::new("dpkg").args(["--purge", &package]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    purge()?;
    let status = Command::new("dpkg").arg("-i").arg(&v1_deb).stdout(Stdio::null()).status()?;
    ensure!(status.success(), "dpkg -i {} failed", v1_deb.display());
    let result = (|| -> Result<String> {
        let resources = PathBuf::from("/usr/lib").join(&lab.config.product_name);
        lab.configure(&resources)?;
        let (home, mut env) = crate::drive::home::private_home()?;
        env.push(lab.bus.env());
        env.push(("DISPLAY".into(), lab.display.display().into()));
        let data = home.path().join("data").join(&lab.config.identifier);
        let user = UpdateInstall {
            install: Install::new(home, env, vec![resources.display().to_string()], &lab.config.identifier),
            root: resources,
            program: PathBuf::from("/usr/bin").join(&lab.config.shell_binary),
            data,
        };
        user.update_to(&v2)?;
        let installed = field(&["dpkg-query", "-W", "-f", "${Version}", &package])?;
        ensure!(installed == v2, "dpkg says {package} {installed} is installed, not {v2}");
        let repository = package_repository(lab, &package, &field)?;
        // With its repository source in place, the next release is left to
        // apt: the app says so, and downloads and installs nothing.
        // (With the key: the channel serves repositories now.)
        lab.publish_with_repositories(&lab.v3)?;
        let v3 = lab.v3.version.to_string();
        let deferred = user.expect_check(
            &format!("{v3} left to apt"),
            |e| matches!(e, ShellEvent::UpdateDeferred { version, .. } if *version == v3),
        )?;
        let source = apt_source_path(&package);
        ensure!(
            matches!(&deferred, ShellEvent::UpdateDeferred { source: named, .. } if *named == source),
            "the deferral names another source: {deferred:?}"
        );
        let installed = field(&["dpkg-query", "-W", "-f", "${Version}", &package])?;
        ensure!(installed == v2, "dpkg says {package} {installed} is installed after the deferral, not {v2}");
        Ok(format!(
            "{package} {} → {v2} through dpkg -i; dpkg and the app report {v2}; {repository}; {v3} is then left to apt (the app names {source} and installs nothing)",
            lab.v1.version
        ))
    })();
    purge()?;
    // Purging the package removes its repository files with it.
    for path in [apt_source_path(&package), apt_keyring_path(&package)] {
        ensure!(!Path::new(&path).exists(), "{path} is still there after dpkg --purge {package}");
    }
    result
}

/// The installed next version's deb points apt at the channel's
/// repository with files dpkg owns: the sources file is a conffile, the
/// keyring is the package's, and apt — given that sources file alone, its
/// own lists and cache — reads the repository the lab publishes (with its
/// repository key) and offers the installed version from it.
fn package_repository(lab: &UpdateLab, package: &str, field: &dyn Fn(&[&str]) -> Result<String>) -> Result<String> {
    let (sources, keyring) = (apt_source_path(package), apt_keyring_path(package));
    for path in [&sources, &keyring] {
        let owner = field(&["dpkg", "-S", path])?;
        ensure!(owner == format!("{package}: {path}"), "dpkg -S {path} says {owner:?}");
    }
    let conffiles = field(&["dpkg-query", "-W", "-f", "${Conffiles}", package])?;
    ensure!(conffiles.contains(&sources), "{sources} is not a conffile of {package}: {conffiles:?}");
    lab.xtask_with_repositories(&["rollout", CHANNEL, "100"])?;
    let scratch = tempfile::tempdir()?;
    let parts = scratch.path().join("sources");
    std::fs::create_dir_all(&parts)?;
    std::fs::copy(&sources, parts.join(format!("{package}.sources")))?;
    for sub in ["state/lists/partial", "cache/archives/partial"] {
        std::fs::create_dir_all(scratch.path().join(sub))?;
    }
    let apt = |program: &str, args: &[&str]| -> Result<String> {
        let d = |sub: &str| scratch.path().join(sub).display().to_string();
        let mut command = Command::new(program);
        for option in [
            "Dir::Etc::SourceList=/dev/null".to_owned(),
            format!("Dir::Etc::SourceParts={}", d("sources")),
            format!("Dir::State={}", d("state")),
            format!("Dir::Cache={}", d("cache")),
            "Acquire::Check-Valid-Until=true".to_owned(),
            "APT::Sandbox::User=root".to_owned(),
            "Debug::NoLocking=1".to_owned(),
        ] {
            command.arg("-o").arg(option);
        }
        let out = command.args(args).output().with_context(|| format!("running {program}"))?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        ensure!(
            out.status.success() && !text.contains("\nW: ") && !text.contains("\nE: "),
            "{program} {args:?}:\n{text}"
        );
        Ok(text)
    };
    apt("apt-get", &["update"])?;
    let policy = apt("apt-cache", &["policy", package])?;
    let v2 = lab.v2.version.to_string();
    ensure!(policy.contains(&format!("Candidate: {v2}")), "apt-cache policy {package}:\n{policy}");
    ensure!(
        policy.contains(&format!("/channels/{CHANNEL}/apt {CHANNEL}/main")),
        "apt-cache policy {package}:\n{policy}"
    );
    Ok(format!(
        "its {sources} (a conffile) and keyring are dpkg's, apt reads the channel's signed repository through them (candidate {v2}), and a purge removes them"
    ))
}

/// As root: dnf installs the rpm the channel's yum repository offers into
/// a scratch install root, with the checks the rpm's own `.repo` turns on
/// — `repo_gpgcheck=1` (repomd.xml's signature) and `gpgcheck=1` (the
/// package's own signature, which `dist` makes with the repository key) —
/// and the key fetched from the channel as a user's `.repo` names it. The
/// checkout's rpm (a build without the repository, so unsigned) is refused
/// by the same checks: the signature is what lets the package in.
fn rpm_through_dnf(_: &Ui, lab: &UpdateLab, _: &Options, _: &Shared) -> Result<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok("not run: dnf installs into its root with chroot, which needs root".to_owned());
    }
    lab.fresh_channel(&[&lab.v1])?;
    let v2 = lab.v2.version.to_string();
    let published = lab.publish_with_repositories(&lab.v2)?;
    ensure!(!published.contains("warning:"), "publish of the signed rpm warned:\n{published}");
    let (signed, unsigned) = (package_file(&lab.v2, ".rpm")?, package_file(&lab.v1, ".rpm")?);
    let scratch = tempfile::tempdir()?;
    let dir = scratch.path();
    let output = |command: &mut Command| -> Result<(bool, String)> {
        let out = command.output().with_context(|| format!("running {command:?}"))?;
        Ok((
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        ))
    };
    let rpm = |args: &[&str]| -> Result<String> {
        let (ok, said) = output(Command::new("rpm").args(args))?;
        ensure!(ok, "rpm {args:?}: {said}");
        Ok(said)
    };
    let package = rpm(&["-qp", "--nosignature", "--qf", "%{NAME}", &signed.display().to_string()])?;

    // Stand-ins for the Fedora packages the rpm requires (no Fedora mirror
    // is reachable here): empty packages with those names, in a local
    // repository of their own without signatures. Test doubles, named so.
    let standins = dir.join("standins");
    std::fs::create_dir_all(&standins)?;
    let requires = rpm(&["-qpR", "--nosignature", &signed.display().to_string()])?;
    // Package names only: rpm itself provides `rpmlib(…)`, and a file or
    // `config(…)` requirement is no package a stand-in could be named for.
    let names = requires.lines().filter_map(|r| r.split_whitespace().next());
    for name in names.filter(|n| !n.starts_with("rpmlib(") && !n.starts_with("config(") && !n.starts_with('/')) {
        rpm::PackageBuilder::new(name, "1", "MIT", "noarch", "e2e-update stand-in for a Fedora package")
            .build()
            .with_context(|| format!("building a stand-in for {name}"))?
            .write_file(standins.join(format!("{name}-1-1.noarch.rpm")))?;
    }
    let unsigned_repo = dir.join("unsigned");
    std::fs::create_dir_all(&unsigned_repo)?;
    std::fs::copy(&unsigned, unsigned_repo.join(unsigned.file_name().expect("a name")))?;
    for repo in [&standins, &unsigned_repo] {
        let (ok, said) = output(Command::new("createrepo_c").arg("--quiet").arg(repo))?;
        ensure!(ok, "createrepo_c {}: {said}", repo.display());
    }
    let yum = format!("http://127.0.0.1:{}/channels/{CHANNEL}/yum", lab.server.port());
    let repos = dir.join("repos");
    std::fs::create_dir_all(&repos)?;
    std::fs::write(
        repos.join("test.repo"),
        format!(
            "[standins]\nname=stand-ins\nbaseurl=file://{}\ngpgcheck=0\nrepo_gpgcheck=0\n\n\
             [unsigned]\nname=the checkout's rpm\nbaseurl=file://{}\ngpgcheck=1\nrepo_gpgcheck=0\ngpgkey={yum}/repository-key.asc\n\n\
             [hudson]\nname=Hudson\nbaseurl={yum}\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey={yum}/repository-key.asc\nmetadata_expire=0\n",
            standins.display(),
            unsigned_repo.display()
        ),
    )?;
    std::fs::write(dir.join("dnf.conf"), "[main]\ngpgcheck=1\nrepo_gpgcheck=1\n")?;
    let root = dir.join("root");
    std::fs::create_dir_all(&root)?;
    let dnf = |args: &[&str]| -> Result<(bool, String)> {
        output(
            Command::new("dnf")
                .arg(format!("--config={}", dir.join("dnf.conf").display()))
                .arg(format!("--installroot={}", root.display()))
                .arg(format!("--setopt=reposdir={}", repos.display()))
                .arg(format!("--setopt=cachedir={}", dir.join("cache").display()))
                .args(["--releasever=1", "--assumeyes", "--disablerepo=*"])
                .args(args),
        )
    };
    let root_arg = root.display().to_string();
    let installed = || rpm(&["--root", &root_arg, "-qa", "--qf", "%{NAME} %{VERSION}\n"]);

    let (ok, said) = dnf(&["--enablerepo=standins", "--enablerepo=unsigned", "install", &package])?;
    ensure!(!ok, "dnf with gpgcheck=1 installed the unsigned rpm {}:\n{said}", unsigned.display());
    ensure!(said.contains("is not signed"), "dnf refused the unsigned rpm for another reason:\n{said}");
    ensure!(!installed()?.contains(&format!("{package} ")), "the unsigned rpm was installed anyway");

    let (ok, said) = dnf(&["--enablerepo=standins", "--enablerepo=hudson", "install", &package])?;
    ensure!(ok, "dnf install {package} from the channel's yum repository:\n{said}");
    let list = installed()?;
    ensure!(list.lines().any(|l| l == format!("{package} {v2}")), "installed after dnf install: {list}");
    // The package's own repository file: its config file, with both checks on.
    let repo_file = yum_repo_path(&package);
    let config = rpm(&["--root", &root_arg, "-qc", &package])?;
    ensure!(config.lines().any(|l| l == repo_file), "{repo_file} is not a config file of {package}: {config}");
    let text = std::fs::read_to_string(root.join(repo_file.trim_start_matches('/')))?;
    ensure!(
        text.contains("\ngpgcheck=1\n") && text.contains("\nrepo_gpgcheck=1\n"),
        "the installed {repo_file}:\n{text}"
    );
    Ok(format!(
        "dnf with gpgcheck=1 and repo_gpgcheck=1 refused the unsigned {} (\"is not signed\") and installed {package} {v2} from the channel's yum repository, its signature checked with the key the channel serves; its {repo_file} is a config file with both checks on",
        lab.v1.version
    ))
}

/// A signed yank of the next version sends install A back.
fn yank(_: &Ui, lab: &UpdateLab, _: &Options, shared: &Shared) -> Result<String> {
    let (v1, v2) = (lab.v1.version.to_string(), lab.v2.version.to_string());
    // Install A, updated to the next version.
    let (a, _) = install_a(lab, shared)?;
    lab.publish(&lab.v2)?;
    a.update_to(&v2)?;
    lab.xtask(&["yank", CHANNEL], &[])?;
    a.update_to(&v1)?;
    ensure!(tree_hash(&a.root)? != lab.v2.tree, "the install is still the {v2} tree");
    Ok(format!("{v2} yanked: the install went back to {v1} (shell and backend report {v1})"))
}

/// Install B on the next version takes the broken one and comes back with
/// its data: the broken version migrates the database to its own schema,
/// writes rows and crashes without closing it (its `-wal` left behind);
/// after the automatic rollback the previous version serves exactly the
/// database it left — its schema and its rows, none of the broken one's.
fn broken_update(_: &Ui, lab: &UpdateLab, _: &Options, shared: &Shared) -> Result<String> {
    let schemas = &schemas(lab, shared)?;
    lab.fresh_channel(&[&lab.v1, &lab.v2])?;
    let (v2, v3) = (lab.v2.version.to_string(), lab.v3.version.to_string());
    let b = lab.install(&lab.v2)?;
    // The previous version runs once and writes its rows.
    b.run_a_moment()?;
    let before = b.facts()?;
    ensure!(
        before.integrity == "ok" && before.schema == schemas.v2 && !before.rows.is_empty(),
        "{v2}'s database before the update: {}",
        before.summary()
    );

    lab.xtask(&["publish", "--channel", CHANNEL, "--base-url", &lab.base_url()], &[&lab.v3.manifest])?;
    lab.serve_artifact(&lab.v3)?;
    let from = b.log_len();
    let shell = b.launch(true)?;
    let result = (|| -> Result<(String, (String, String))> {
        b.wait_event(
            from,
            &format!("{v3} on probation"),
            PAGE_TIMEOUT,
            |e| matches!(e, ShellEvent::ProbationStarted { version, .. } if *version == v3),
        )?;
        // The broken version really changed the database before it died
        // (the backend's own migration line).
        b.seen_in_log(from, &format!("to schema {}", schemas.v3), PAGE_TIMEOUT)?;
        let failed = b.wait_event(
            from,
            &format!("{v3} failing probation"),
            Duration::from_secs(120),
            |e| matches!(e, ShellEvent::ProbationFailed { version, .. } if *version == v3),
        )?;
        let ShellEvent::ProbationFailed { reason: why, .. } = failed else { unreachable!("matched above") };
        let back = b.relaunched(from, true);
        b.wait_event(back, "the page loaded", PAGE_TIMEOUT, is_page)?;
        b.wait_event(back, &format!("{v3} refused as a bad version"), Duration::from_secs(30), |e| {
            checked(e, "bad_version")
        })?;
        // What the restored version itself reports of its database.
        let check = b.database_check(back)?;
        Ok((why, check))
    })();
    let back = b.relaunched(from, true);
    let versions = b.versions_since(back);
    b.stop(shell)?;
    let (why, (status, detail)) = result?;
    ensure!(versions == (Some(v2.clone()), Some(v2.clone())), "after the rollback the install reports {versions:?}");
    ensure!(tree_hash(&b.root)? == lab.v2.tree, "the install is not the {v2} tree after the rollback");
    ensure!(
        status == "ok" && detail.starts_with(&format!("schema {};", schemas.v2)),
        "after the rollback {v2}'s backend reports its database as {status}: {detail}"
    );
    let after = b.facts()?;
    ensure!(after.integrity == "ok", "the database after the rollback: {}", after.summary());
    ensure!(
        after.schema == schemas.v2,
        "after the rollback the database has schema {}, not {v2}'s {}: {v3}'s migration survived",
        after.schema,
        schemas.v2
    );
    ensure!(after.tables == before.tables, "tables {:?} after the rollback, {:?} before", after.tables, before.tables);
    let foreign: Vec<&(String, String)> = after.rows.iter().filter(|(_, by)| *by != v2).collect();
    ensure!(foreign.is_empty(), "rows not written by {v2} after the rollback: {foreign:?}");
    let lost: Vec<&(String, String)> = before.rows.difference(&after.rows).collect();
    ensure!(lost.is_empty(), "the rollback lost {} of {v2}'s rows: {lost:?}", lost.len());
    let state = b.state()?;
    ensure!(
        state["bad_versions"].as_array().is_some_and(|bad| bad.iter().any(|v| v["version"] == v3.as_str())),
        "{v3} is not marked bad: {state}"
    );
    ensure!(state["notice"]["reason"].is_string(), "no notice for the Updates window: {state}");
    // Launched again, it still is not offered.
    let next = b.expect_check("a check", |e| matches!(e, ShellEvent::UpdateChecked { .. }))?;
    ensure!(checked(&next, "bad_version"), "launched again, {v3} is not held back as a bad version: {next:?}");
    Ok(format!(
        "{v2} → {v3} (migrated to schema {}, wrote, crashed) → back to {v2}: its backend reports \"{detail}\"; sqlite3 reads {} — all {} earlier rows, none of {v3}'s; reason logged: {why}; next check: {v3} held back as a bad version",
        schemas.v3,
        after.summary(),
        before.rows.len(),
    ))
}

/// Python's `http.server` serving `root` on a free loopback port.
struct Server {
    process: crate::harness::doubles::LoopbackServer,
    root: PathBuf,
}

impl Server {
    fn start(root: &Path) -> Result<Server> {
        let process = crate::harness::doubles::LoopbackServer::start("python3 -m http.server", |port| {
            let mut command = Command::new("python3");
            command.args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"]).arg(root).arg(port.to_string());
            command.stderr(Stdio::null());
            command
        })?;
        Ok(Server { process, root: root.to_path_buf() })
    }

    fn port(&self) -> u16 {
        self.process.port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkout(file: &str) -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
        std::fs::read_to_string(root.join(file)).unwrap()
    }

    /// The scratch builds edit the backend's real files by text: the
    /// shapes they rely on must stay.
    #[test]
    fn scratch_versions_add_migrations_and_break_the_boot_of_the_real_backend() {
        let list = checkout(MIGRATIONS);
        let next = with_migrations(&list, false).unwrap();
        assert!(next.contains(NEXT_MIGRATION) && !next.contains(BROKEN_MIGRATION), "{next}");
        let broken = with_migrations(&list, true).unwrap();
        assert!(broken.contains(NEXT_MIGRATION) && broken.contains(BROKEN_MIGRATION), "{broken}");
        assert!(with_migrations("@migrations []\n", false).is_err());
        assert!(checkout("backend/lib/hudson/application.ex").contains(BOOT_LINE));
    }
}
