//! The updater's memory: `<app-data>/updates/state.json`.
//!
//! It holds the install id (rollout membership), the channel, the last
//! manifest accepted on each channel this install has followed and that
//! channel's key chain (anti-replay), the [`Journal`] of the update in
//! progress, the versions marked bad and the notice the window shows after a
//! rollback. It never holds a trusted key: keys come only from the app build.
//!
//! Written atomically and durably on every change (see [`crate::fsx`]), so a
//! crash leaves either the previous state or the next one.
//!
//! # A corrupt state file
//!
//! Atomic writes make a torn file impossible; a corrupt one comes from a disk
//! fault or a hand edit. We then say so (the [`Loaded::warning`] the shell
//! logs and shows), keep the unreadable file as `state.json.corrupt` for
//! diagnosis, and start from a fresh state, salvaging field by field what can
//! still be read: the install id (so the install stays in the same rollout
//! buckets), each channel's anti-replay memory and each bad version. What is
//! lost when it cannot be read, and why that is safe:
//! - the anti-replay memory: a replay of an older, still unexpired manifest
//!   can be accepted once, but the policy still refuses anything not newer
//!   than the installed version, so it cannot downgrade;
//! - the journal (never salvaged: half a record could name the wrong tree):
//!   the install folder is always a complete tree (the swap is one atomic
//!   exchange), so the app still starts as the old or the new version; only a
//!   pending probation is lost (a rollback copy stays on disk);
//! - the bad versions: a bad version may be offered once more.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use signing::platform::Installer;
use signing::policy::SeenManifest;
use signing::rotation::SeenChain;
use time::OffsetDateTime;

use crate::error::{IoContext, Result, UpdateError};
use crate::fsx::{self, Refused};

/// The schema string of `state.json`.
pub const STATE_SCHEMA: &str = "hudson-updater-state/1";
/// The folder under the app-data folder that holds state, downloads and snapshots.
pub const UPDATES_DIR: &str = "updates";
pub const STATE_FILE: &str = "state.json";
/// A state file is a few kilobytes; anything larger is not ours.
const MAX_STATE_BYTES: u64 = 1 << 20;
/// The bad versions kept from a damaged state file: the newest ones.
const MAX_SALVAGED_BAD_VERSIONS: usize = 256;

/// The whole `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub schema: String,
    /// 32 lower-case hex digits (128 random bits), made once.
    pub install_id: String,
    /// The channel `last_seen` and `key_chain` belong to: the one checked
    /// last. These three are that channel's copy of its entry in
    /// `channels`, for releases that read only them.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub last_seen: Option<SeenManifest>,
    /// The channel's key chain as last seen (a chain removed or cut short
    /// later is refused).
    #[serde(default)]
    pub key_chain: Option<SeenChain>,
    /// What was seen on every channel this install has followed, so that a
    /// switch away and back (a beta build installed over a stable one, then
    /// stable again) still refuses the first channel's older manifests.
    /// Use [`State::memory`]. A release older than this field that runs in
    /// between (a rollback, a yank, an old build installed by hand) keeps
    /// only the single slot above and drops this map when it saves.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, ChannelMemory>,
    /// The update in progress, if any.
    #[serde(default)]
    pub journal: Option<Journal>,
    #[serde(default)]
    pub bad_versions: Vec<BadVersion>,
    /// What the window should tell the user after a rollback, until dismissed.
    #[serde(default)]
    pub notice: Option<Notice>,
}

/// What this install remembers of one channel: its anti-replay memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelMemory {
    /// The last manifest accepted on the channel.
    #[serde(default)]
    pub last_seen: Option<SeenManifest>,
    /// The channel's key chain as last seen.
    #[serde(default)]
    pub key_chain: Option<SeenChain>,
}

impl ChannelMemory {
    /// Field by field, what the two remember of the same channel that is
    /// furthest along: the higher sequence, the longer key chain.
    fn furthest(self, other: ChannelMemory) -> ChannelMemory {
        let sequence = |m: &Option<SeenManifest>| m.as_ref().map(|seen| seen.sequence);
        let links = |c: &Option<SeenChain>| c.as_ref().map(|chain| chain.links);
        ChannelMemory {
            last_seen: if sequence(&other.last_seen) > sequence(&self.last_seen) {
                other.last_seen
            } else {
                self.last_seen
            },
            key_chain: if links(&other.key_chain) > links(&self.key_chain) { other.key_chain } else { self.key_chain },
        }
    }
}

/// A version that failed probation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadVersion {
    pub version: semver::Version,
    /// The sequence of the manifest that offered it.
    pub sequence: u64,
    pub reason: String,
}

/// Shown to the user after an update was rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub version: semver::Version,
    pub restored: semver::Version,
    /// Plain words: why the update was undone.
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Identifies a folder tree across renames (device and inode on Unix): how
/// recovery tells whether an atomic exchange happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeId {
    pub dev: u64,
    pub ino: u64,
}

impl TreeId {
    pub fn of(path: &Path) -> Result<TreeId> {
        let meta = fs::symlink_metadata(path).at("inspecting", path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            Ok(TreeId { dev: meta.dev(), ino: meta.ino() })
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            Err(UpdateError::Unsupported { detail: "folder swaps run only on Linux and macOS".to_owned() })
        }
    }

    /// The id of the tree at `path`, or `None` when nothing is there.
    pub(crate) fn at(path: &Path) -> Result<Option<TreeId>> {
        if fsx::exists(path) { TreeId::of(path).map(Some) } else { Ok(None) }
    }
}

/// A tree staged ahead of "Restart to update" ([`crate::Updater::prepare`]):
/// which update it is, and how the install tells that nothing in it changed
/// since it was unpacked and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staged {
    /// The SHA-256 of the artifact the signed offer names.
    pub sha256: String,
    /// The staging folder itself (replaced, it is another folder).
    pub tree: TreeId,
    /// A digest of every entry's path, kind, mode, size, inode, change time
    /// and link target ([`crate::install::shape`]): a write, replacement,
    /// removal or addition anywhere in the tree changes it.
    pub shape: String,
}

/// What every step of a folder swap records, from the exchange to the end of
/// probation or rollback: the update, where each tree is, and which tree is
/// which. Written flat into each step's record (the file's fields are the
/// same as when each step spelled them out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapRecord {
    pub version: semver::Version,
    pub previous: semver::Version,
    pub sequence: u64,
    pub install: PathBuf,
    pub rollback: PathBuf,
    pub old_tree: TreeId,
    pub new_tree: TreeId,
    pub snapshot: PathBuf,
}

/// The update in progress. Paths are recorded for diagnosis and compared
/// with the [`crate::Layout`]'s on recovery, never used as they are. Each
/// variant is written (durably) *before* the irreversible step it names, and [`crate::recovery`] knows, for each, how to
/// finish or undo it. See the crate docs for the sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Journal {
    /// A folder swap is unpacking into `staging`, or (once `staged` is
    /// set) the unpacked and checked tree waits there for "Restart to
    /// update". Undo either way: remove `staging` (a version that does not
    /// know `staged` ignores it and undoes the same).
    Unpacking {
        version: semver::Version,
        install: PathBuf,
        staging: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        staged: Option<Staged>,
    },
    /// The checked tree in `staging` is about to be exchanged with `install`.
    /// Recovery asks which tree sits at `install`: the staged one → go on to
    /// probation; the old one → undo (remove staging and snapshot).
    Swapping {
        #[serde(flatten)]
        swap: SwapRecord,
        staging: PathBuf,
    },
    /// The new tree is installed; the old one is at `rollback`. The new
    /// version must pass `/healthz` before `launches` exceeds the limit.
    Probation {
        #[serde(flatten)]
        swap: SwapRecord,
        launches: u32,
    },
    /// Probation failed: the old tree is being put back. Recovery finishes it.
    RollingBack {
        #[serde(flatten)]
        swap: SwapRecord,
        reason: String,
    },
    /// A package manager or Windows installer is (about to be) run with
    /// `package`. The next launch of `version` is on probation; a launch of
    /// any other version means the installer did not complete.
    Package {
        /// The package manager or installer that runs (deb, rpm, msi, nsis).
        kind: Installer,
        version: semver::Version,
        previous: semver::Version,
        sequence: u64,
        package: PathBuf,
        /// The package of `previous`, kept to roll back with (absent on the
        /// first update: the user installed from a file we never saw).
        previous_package: Option<PathBuf>,
        snapshot: PathBuf,
        launches: u32,
    },
    /// Recovery could neither finish nor undo the step recorded before (the
    /// tree at the install path is neither version, or the journal named
    /// paths this install does not derive). Nothing it named is touched;
    /// whatever complete tree is at the install path starts, and once it
    /// passes its health check ([`crate::Probation::confirm`]) this record
    /// is cleared and updates resume.
    Stuck {
        /// The step that could not be finished or undone.
        during: String,
        /// The version that update was installing, when it was known.
        #[serde(default)]
        version: Option<semver::Version>,
        /// Why, in plain words.
        reason: String,
    },
}

impl Journal {
    /// The folder swap this step belongs to, for the steps that have one.
    pub fn swap(&self) -> Option<&SwapRecord> {
        match self {
            Journal::Swapping { swap, .. } | Journal::Probation { swap, .. } | Journal::RollingBack { swap, .. } => {
                Some(swap)
            }
            _ => None,
        }
    }

    /// The version this update was installing, when it is known.
    pub fn version(&self) -> Option<&semver::Version> {
        match self {
            Journal::Unpacking { version, .. } | Journal::Package { version, .. } => Some(version),
            Journal::Stuck { version, .. } => version.as_ref(),
            _ => self.swap().map(|swap| &swap.version),
        }
    }

    pub fn step(&self) -> &'static str {
        match self {
            Journal::Stuck { .. } => "stuck",
            Journal::Unpacking { .. } => "unpacking",
            Journal::Swapping { .. } => "swapping",
            Journal::Probation { .. } => "probation",
            Journal::RollingBack { .. } => "rolling_back",
            Journal::Package { .. } => "package",
        }
    }
}

impl State {
    fn fresh(install_id: String) -> State {
        State {
            schema: STATE_SCHEMA.to_owned(),
            install_id,
            channel: None,
            last_seen: None,
            key_chain: None,
            channels: BTreeMap::new(),
            journal: None,
            bad_versions: Vec::new(),
            notice: None,
        }
    }

    /// What this install remembers of `channel`: its entry in `channels`
    /// and, when `channel` was the last one checked, the single slot, each
    /// field as far along as either has it.
    pub fn memory(&self, channel: &str) -> ChannelMemory {
        let entry = self.channels.get(channel).cloned().unwrap_or_default();
        if self.channel.as_deref() != Some(channel) {
            return entry;
        }
        entry.furthest(ChannelMemory { last_seen: self.last_seen.clone(), key_chain: self.key_chain.clone() })
    }

    /// Records what was accepted on `channel`, in its entry and in the
    /// single slot.
    pub(crate) fn remember(&mut self, channel: &str, memory: ChannelMemory) {
        self.channel = Some(channel.to_owned());
        self.last_seen = memory.last_seen.clone();
        self.key_chain = memory.key_chain.clone();
        self.channels.insert(channel.to_owned(), memory);
    }

    /// Every version the state names is one a manifest could name (they
    /// come from manifests and the app's own build), so messages built
    /// from them stay short.
    fn versions_fit(&self) -> bool {
        let journal = self.journal.as_ref().into_iter().flat_map(|journal| {
            let previous = match journal {
                Journal::Package { previous, .. } => Some(previous),
                _ => journal.swap().map(|swap| &swap.previous),
            };
            journal.version().into_iter().chain(previous)
        });
        let notice = self.notice.iter().flat_map(|notice| [&notice.version, &notice.restored]);
        let bad = self.bad_versions.iter().map(|bad| &bad.version);
        journal.chain(notice).chain(bad).all(signing::manifest::version_fits)
    }

    /// True when `version` failed probation before and must not be offered.
    pub fn is_bad(&self, version: &semver::Version) -> Option<&BadVersion> {
        self.bad_versions.iter().find(|bad| bad.version.cmp_precedence(version).is_eq())
    }

    pub(crate) fn mark_bad(&mut self, version: semver::Version, sequence: u64, reason: String) {
        self.bad_versions.retain(|bad| !bad.version.cmp_precedence(&version).is_eq());
        self.bad_versions.push(BadVersion { version, sequence, reason });
    }
}

/// A state read from disk, with what went wrong reading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub state: State,
    /// Set when the file was unreadable and a fresh state was started.
    pub warning: Option<String>,
}

/// Where the state lives: `<app-data>/updates/`.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(app_data: &Path) -> Store {
        Store { dir: app_data.join(UPDATES_DIR) }
    }

    /// `<app-data>/updates/`: state, downloads and snapshots.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Reads the state, creating (and saving) a fresh one on first run or
    /// after corruption; see the module docs.
    pub fn load(&self) -> Result<Loaded> {
        let path = self.path();
        let bytes = match fsx::read_capped(&path, MAX_STATE_BYTES) {
            Ok(bytes) => bytes,
            Err(Refused::NotFound(_)) => {
                let state = State::fresh(new_install_id()?);
                self.save(&state)?;
                return Ok(Loaded { state, warning: None });
            }
            Err(Refused::Io(_, error)) => {
                return Err(UpdateError::State { path, detail: format!("{error}; check the folder's permissions") });
            }
            Err(problem) => return self.start_over(&[], &problem.to_string()),
        };
        match serde_json::from_slice::<State>(&bytes) {
            Ok(state) if state.schema != STATE_SCHEMA => {
                self.start_over(&bytes, &format!("it has schema {:?}, not {STATE_SCHEMA:?}", state.schema))
            }
            Ok(state) if !state.versions_fit() => self.start_over(
                &bytes,
                &format!("it names a version longer than {} characters", signing::manifest::MAX_VERSION_CHARS),
            ),
            Ok(state) if is_install_id(&state.install_id) => Ok(Loaded { state, warning: None }),
            Ok(_) => self.start_over(&bytes, "its install id is not 32 lower-case hex digits"),
            Err(error) => self.start_over(&bytes, &format!("it is not valid JSON for this version ({error})")),
        }
    }

    fn start_over(&self, bytes: &[u8], why: &str) -> Result<Loaded> {
        // The parser's message quotes the file (an unknown step, a schema
        // string): logged and shown, so printable and short.
        let why = crate::unpack::shown_long(why.as_bytes());
        let path = self.path();
        let salvaged = serde_json::from_slice::<serde_json::Value>(bytes).ok();
        let salvaged = salvaged.as_ref();
        let kept = salvaged.and_then(salvage_install_id);
        // `updates` itself is a file (or a socket, a FIFO…): nothing of ours
        // can be in it, and the fresh state needs the folder. A symlinked
        // folder is left alone.
        if fs::symlink_metadata(&self.dir).is_ok_and(|m| !m.is_dir() && !m.file_type().is_symlink()) {
            fsx::remove_any(&self.dir)?;
        }
        let corrupt = self.dir.join(format!("{STATE_FILE}.corrupt"));
        // Keep the evidence; a symlink or FIFO is removed rather than kept.
        if fs::symlink_metadata(&path).map(|m| m.is_file()).unwrap_or(false) {
            // Whatever holds the name (even a folder) makes way.
            fsx::remove_any(&corrupt)?;
            fs::rename(&path, &corrupt).at("moving aside", &path)?;
        } else if fs::symlink_metadata(&path).is_ok() {
            fsx::remove_any(&path)?;
        }
        let id_note = if kept.is_some() { "the install id was kept" } else { "a new install id was made" };
        let mut state = State::fresh(match kept {
            Some(id) => id,
            None => new_install_id()?,
        });
        if let Some(value) = salvaged {
            salvage_memory(value, &mut state);
        }
        self.save(&state)?;
        let warning = format!(
            "the update state {} was unreadable ({why}); started from a fresh state ({id_note}; kept what could \
             still be read: the anti-replay memory of {} channel(s) and {} bad version(s); any update in progress \
             was reset); the old file is kept as {}",
            path.display(),
            state.channels.len(),
            state.bad_versions.len(),
            corrupt.display()
        );
        Ok(Loaded { state, warning: Some(warning) })
    }

    pub fn save(&self, state: &State) -> Result<()> {
        fs::create_dir_all(&self.dir).at("creating the folder", &self.dir)?;
        let bytes = serde_json::to_vec_pretty(state).expect("a State always serialises");
        fsx::write_atomic(&self.path(), &bytes)
    }

    /// Loads, applies `change`, saves: one durable step.
    pub(crate) fn update<T>(&self, change: impl FnOnce(&mut State) -> T) -> Result<T> {
        // The updates thread and the window's (a dismissed notice) both
        // write the file: one read-change-write at a time in this process.
        static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = self.load()?.state;
        let out = change(&mut state);
        self.save(&state)?;
        Ok(out)
    }
}

fn new_install_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| UpdateError::Unsupported { detail: format!("the OS random source failed: {e}") })?;
    Ok(hex::encode(bytes))
}

fn is_install_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The install id of a state file that no longer parses as a whole.
fn salvage_install_id(value: &serde_json::Value) -> Option<String> {
    let id = value.get("install_id")?.as_str()?;
    is_install_id(id).then(|| id.to_owned())
}

/// Whatever anti-replay memory and bad versions of a state file that no
/// longer parses as a whole still read on their own, into `state`. Losing
/// them only weakens protection (module docs); keeping a readable part keeps
/// it. A part that does not read is dropped, never guessed at.
fn salvage_memory(value: &serde_json::Value, state: &mut State) {
    fn field<T: serde::de::DeserializeOwned>(value: Option<&serde_json::Value>) -> Option<T> {
        value.and_then(|v| T::deserialize(v).ok())
    }
    // Each part on its own: a damaged key chain does not take the last
    // manifest seen with it.
    let memory_in = |value: &serde_json::Value| ChannelMemory {
        last_seen: field(value.get("last_seen")),
        key_chain: field(value.get("key_chain")),
    };
    let kept = |memory: &ChannelMemory| memory.last_seen.is_some() || memory.key_chain.is_some();
    let mut channels = BTreeMap::new();
    if let Some(entries) = value.get("channels").and_then(|v| v.as_object()) {
        for (name, memory) in entries {
            let memory = memory_in(memory);
            if signing::manifest::is_channel_name(name) && kept(&memory) {
                channels.insert(name.clone(), memory);
            }
        }
    }
    state.channels = channels;
    let current: Option<String> = field(value.get("channel"));
    if let Some(current) = current.filter(|name| signing::manifest::is_channel_name(name)) {
        let memory = state.memory(&current).furthest(memory_in(value));
        if kept(&memory) {
            state.remember(&current, memory);
        }
    }
    if let Some(entries) = value.get("bad_versions").and_then(|v| v.as_array()) {
        // At most as many as a long-lived install collects; marking is
        // linear in the list.
        let readable: Vec<BadVersion> = entries
            .iter()
            .filter_map(|bad| field::<BadVersion>(Some(bad)))
            .filter(|bad| signing::manifest::version_fits(&bad.version))
            .collect();
        for bad in readable.into_iter().rev().take(MAX_SALVAGED_BAD_VERSIONS).rev() {
            state.mark_bad(bad.version, bad.sequence, bad.reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal is read by the next version, which may be built from newer
    /// code: the shared swap fields stay flat in each step's record, exactly
    /// as releases that spelled them out per step wrote them.
    #[test]
    fn a_swap_step_is_written_flat_and_reads_what_earlier_releases_wrote() {
        let written_by_0_1 = r#"{"step":"probation","version":"0.2.0","previous":"0.1.0","sequence":7,
            "install":"/opt/Hudson","rollback":"/opt/.Hudson.rollback","old_tree":{"dev":1,"ino":2},
            "new_tree":{"dev":1,"ino":3},"snapshot":"/data/updates/snapshot","launches":2}"#;
        let journal: Journal = serde_json::from_str(written_by_0_1).unwrap();
        let Journal::Probation { swap, launches: 2 } = &journal else { panic!("{journal:?}") };
        assert_eq!((swap.sequence, swap.old_tree.ino, swap.new_tree.ino), (7, 2, 3));
        assert_eq!(swap.rollback, PathBuf::from("/opt/.Hudson.rollback"));
        let again: serde_json::Value = serde_json::to_value(&journal).unwrap();
        let before: serde_json::Value = serde_json::from_str(written_by_0_1).unwrap();
        assert_eq!(again, before, "the same fields, none nested");
        let rolling = Journal::RollingBack { swap: swap.clone(), reason: "r".into() };
        let text = serde_json::to_string(&rolling).unwrap();
        assert!(!text.contains("\"swap\""), "{text}");
        assert_eq!(serde_json::from_str::<Journal>(&text).unwrap(), rolling);
    }

    /// The package step names its installer as earlier releases did.
    #[test]
    fn a_package_step_reads_and_writes_the_installer_by_its_key_name() {
        let written_by_0_1 = r#"{"step":"package","kind":"rpm","version":"0.2.0","previous":"0.1.0",
            "sequence":3,"package":"/d/updates/packages/0.2.0--h.rpm","previous_package":null,
            "snapshot":"/d/updates/snapshot","launches":0}"#;
        let journal: Journal = serde_json::from_str(written_by_0_1).unwrap();
        assert!(matches!(journal, Journal::Package { kind: Installer::Rpm, .. }), "{journal:?}");
        let before: serde_json::Value = serde_json::from_str(written_by_0_1).unwrap();
        assert_eq!(serde_json::to_value(&journal).unwrap(), before);
        let unknown = written_by_0_1.replace(r#""rpm""#, r#""snap""#);
        let e = serde_json::from_str::<Journal>(&unknown).unwrap_err().to_string();
        assert!(e.contains("unknown installer \"snap\""), "{e}");
    }

    #[test]
    fn first_load_makes_and_keeps_one_install_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let first = store.load().unwrap();
        assert!(first.warning.is_none());
        assert!(is_install_id(&first.state.install_id), "{}", first.state.install_id);
        assert_eq!(store.load().unwrap().state.install_id, first.state.install_id);
        let other = Store::new(tempfile::tempdir().unwrap().path()).load().unwrap();
        assert_ne!(other.state.install_id, first.state.install_id, "ids must be random");
    }

    #[test]
    fn a_corrupt_state_starts_fresh_but_keeps_a_readable_install_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let id = store.load().unwrap().state.install_id;
        store
            .update(|s| {
                s.last_seen = Some(SeenManifest { sequence: 9, sha256: "00".repeat(32) });
                s.mark_bad("1.0.0".parse().unwrap(), 9, "x".into());
            })
            .unwrap();
        // Valid JSON, wrong shape: the id survives.
        fs::write(store.path(), format!(r#"{{"install_id":"{id}","journal":42}}"#)).unwrap();
        let loaded = store.load().unwrap();
        let warning = loaded.warning.expect("corruption is reported");
        assert!(warning.contains("install id was kept") && warning.contains("state.json.corrupt"), "{warning}");
        assert_eq!(loaded.state.install_id, id);
        assert!(loaded.state.last_seen.is_none() && loaded.state.bad_versions.is_empty());
        assert!(dir.path().join("updates/state.json.corrupt").is_file());
        // Garbage: a new id, and the next load is clean.
        fs::write(store.path(), b"\x00\x01garbage").unwrap();
        let loaded = store.load().unwrap();
        assert!(loaded.warning.unwrap().contains("new install id"));
        assert_ne!(loaded.state.install_id, id);
        assert!(store.load().unwrap().warning.is_none());
    }

    fn seen(sequence: u64) -> Option<SeenManifest> {
        Some(SeenManifest { sequence, sha256: format!("{sequence:064x}") })
    }

    /// A damaged file loses only what no longer reads: each channel's memory
    /// and each bad version that still parses on its own is kept, so a
    /// replay of an older manifest stays refused.
    #[test]
    fn a_damaged_state_keeps_each_channels_memory_and_each_bad_version_that_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let id = store.load().unwrap().state.install_id;
        let damaged = serde_json::json!({
            "schema": STATE_SCHEMA,
            "install_id": id,
            "journal": 42,
            // The single slot an older release wrote is further along than
            // stable's entry: the furthest of the two is kept.
            "channel": "stable",
            "last_seen": {"sequence": 12, "sha256": "ab".repeat(32)},
            "key_chain": "not a chain",
            "channels": {
                "stable": {"last_seen": {"sequence": 10, "sha256": "cd".repeat(32)},
                           "key_chain": {"links": 2, "sha256": "ef".repeat(32)}},
                "beta": {"last_seen": {"sequence": "many"}},
                "edge": {"last_seen": {"sequence": 7, "sha256": "22".repeat(32)}, "key_chain": {"links": "x"}},
                "Not A Channel": {"last_seen": {"sequence": 3, "sha256": "00".repeat(32)}},
                "nightly": {"last_seen": {"sequence": 40, "sha256": "11".repeat(32)}}
            },
            "bad_versions": [
                {"version": "0.3.0", "sequence": 11, "reason": "it did not start"},
                {"version": "not a version", "sequence": 1, "reason": "x"},
                17
            ]
        });
        fs::write(store.path(), serde_json::to_vec(&damaged).unwrap()).unwrap();
        let loaded = store.load().unwrap();
        let warning = loaded.warning.expect("the damage is reported");
        assert!(warning.contains("install id was kept"), "{warning}");
        assert!(warning.contains("anti-replay memory of 3 channel(s) and 1 bad version(s)"), "{warning}");
        let state = loaded.state;
        assert_eq!(state.install_id, id);
        assert!(state.journal.is_none());
        let stable = state.memory("stable");
        assert_eq!(stable.last_seen, Some(SeenManifest { sequence: 12, sha256: "ab".repeat(32) }));
        assert_eq!(stable.key_chain.map(|c| c.links), Some(2), "the entry's chain, the slot's did not read");
        assert_eq!(state.memory("nightly").last_seen.unwrap().sequence, 40);
        let edge = state.memory("edge");
        assert_eq!((edge.last_seen.map(|s| s.sequence), edge.key_chain), (Some(7), None), "each part on its own");
        assert_eq!(state.memory("beta"), ChannelMemory::default());
        assert_eq!(state.channels.keys().collect::<Vec<_>>(), ["edge", "nightly", "stable"]);
        assert_eq!(state.is_bad(&"0.3.0".parse().unwrap()).unwrap().reason, "it did not start");
        assert_eq!(state.bad_versions.len(), 1);
        assert_eq!(store.load().unwrap().state, state, "what was kept was saved");
    }

    /// The warning quotes what it could not read: it is logged and shown,
    /// so it stays short and printable however the file was damaged (a
    /// forged log line in an unknown step's name, a megabyte of schema).
    /// A version no manifest could name (the window and the log would
    /// show it) makes the file damaged too.
    #[test]
    fn what_a_damaged_state_says_is_short_and_printable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let id = store.load().unwrap().state.install_id;
        let forged = format!(
            "x\n2026-01-01T00:00:00Z [event] {{\"event\":\"probation_passed\"}}\n\u{1b}[2J\u{202E}{}",
            "A".repeat(400_000)
        );
        let long_version = format!("0.2.0-{}", "a".repeat(300_000));
        for damaged in [
            serde_json::json!({"schema": STATE_SCHEMA, "install_id": id, "journal": {"step": forged}}),
            serde_json::json!({"schema": "s".repeat(900_000), "install_id": id}),
            serde_json::json!({"schema": STATE_SCHEMA, "install_id": id,
                "journal": {"step": "stuck", "during": "swapping", "version": long_version, "reason": "r"}}),
        ] {
            fs::write(store.path(), serde_json::to_vec(&damaged).unwrap()).unwrap();
            let loaded = store.load().unwrap();
            let warning = loaded.warning.expect("the damage is reported");
            assert!(warning.chars().count() < 2000, "{} characters", warning.chars().count());
            assert!(!warning.chars().any(|c| c.is_control() || c == '\u{202E}'), "{warning}");
            assert!(loaded.state.journal.is_none());
            assert_eq!(loaded.state.install_id, id);
        }
        assert!(store.load().unwrap().warning.is_none(), "the fresh state was saved");
    }

    /// A release that reads only the single slot may run between two that
    /// read `channels` (a rollback): its newer slot wins, and remembering
    /// one channel leaves the others' memory as it was.
    #[test]
    fn the_memory_of_a_channel_is_the_furthest_of_its_entry_and_the_single_slot() {
        let mut state = State::fresh("0".repeat(32));
        state.remember("stable", ChannelMemory { last_seen: seen(5), key_chain: None });
        state.remember("beta", ChannelMemory { last_seen: seen(2), key_chain: None });
        assert_eq!((state.channel.as_deref(), state.last_seen.clone()), (Some("beta"), seen(2)));
        assert_eq!(state.memory("stable").last_seen, seen(5));
        assert_eq!(state.memory("nightly"), ChannelMemory::default());
        // The slot further along than the entry (written by hand, or by a
        // release that kept both before a crash between them).
        state.last_seen = seen(9);
        assert_eq!(state.memory("beta").last_seen, seen(9));
        // …or ran with a stale slot: the entry is further along.
        state.last_seen = seen(1);
        assert_eq!(state.memory("beta").last_seen, seen(2));
        // What an older release reads is the last channel checked.
        let written: serde_json::Value = serde_json::to_value(&state).unwrap();
        assert_eq!(written["channel"], "beta");
        assert_eq!(written["channels"]["stable"]["last_seen"]["sequence"], 5);
    }

    #[cfg(unix)]
    #[test]
    fn a_socket_in_place_of_the_state_or_a_file_in_place_of_its_folder_starts_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        fs::create_dir_all(store.dir()).unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(store.path()).unwrap();
        let loaded = store.load().unwrap();
        assert!(loaded.warning.unwrap().contains("not a regular file"));
        assert!(store.load().unwrap().warning.is_none(), "the fresh state was saved");

        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        fs::write(store.dir(), b"not a folder").unwrap();
        let loaded = store.load().unwrap();
        assert!(loaded.warning.is_some());
        assert!(store.dir().is_dir() && store.load().unwrap().warning.is_none());
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_state_file_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        fs::create_dir_all(store.dir()).unwrap();
        let elsewhere = dir.path().join("elsewhere.json");
        fs::write(&elsewhere, b"precious").unwrap();
        std::os::unix::fs::symlink(&elsewhere, store.path()).unwrap();
        let loaded = store.load().unwrap();
        assert!(loaded.warning.unwrap().contains("is a symlink"));
        assert_eq!(fs::read(&elsewhere).unwrap(), b"precious", "the symlink's target must not be touched");
        assert!(fs::symlink_metadata(store.path()).unwrap().is_file());
    }
}
