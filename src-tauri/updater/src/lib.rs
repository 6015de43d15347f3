//! Hudson Desktop's update client, without any GUI: the shell wires it to
//! the Updates window and the tray; tests drive it against a loopback server.
//!
//! Every trust decision is `signing::policy`'s ([`check_manifest`], rollout
//! membership inside it, [`verify_download`]); this crate fetches, stores,
//! unpacks, swaps and recovers, and never re-implements a rule.
//!
//! | module | what it does |
//! | --- | --- |
//! | [`state`] | `<app-data>/updates/state.json`: install id, each channel's last-seen manifest and key chain, journal, bad versions |
//! | [`check`] | fetches the signed channel manifest and returns one [`CheckOutcome`] |
//! | [`download`] | resumable download, verified in the same pass |
//! | [`install`] | folder swap, package manager, Windows installer — each step journaled first |
//! | [`recovery`] | what the shell calls at startup: finish or undo, probation, rollback |
//! | [`layout`] | every path the updater writes, derived from the install and data folders |
//! | `status` | the Updates window's [`Phase`] and a plain sentence for each check outcome and notice |
//! | `session` | one running app's updates: the [`Session`] the shell drives (checker thread, probation, install and rollback order) through its [`Host`] |
//! | `policy` | what this install is ([`Install`]: where, which key, what a staged tree must be) and the probation [`Verdict`] |
//!
//! # Trust
//!
//! The trusted keys are [`TrustedKeys::embedded`]: `'static` text compiled
//! into the app by `dist`. Nothing else makes a [`TrustedKeys`] — no
//! environment variable, state field, file or argument — and [`UpdaterConfig`],
//! which may come from configuration, has no key field. A test build may
//! point at another [`Endpoint`], never at another key.
//!
//! # An update, step by step (folder swap)
//!
//! Each irreversible step is preceded by a durable journal entry, and
//! [`recovery`] knows for each entry how to finish or undo it:
//!
//! | journal | then | recovery after a crash |
//! | --- | --- | --- |
//! | — | download to `updates/downloads/<file>.part`, verify, rename | nothing to do (the `.part` resumes) |
//! | `unpacking` | unpack into `.<name>.staging` beside the install, check it, stop the backend, snapshot data | remove staging and snapshot: old version |
//! | `swapping` | one atomic exchange of install ↔ staging, then staging → `.<name>.rollback` | the tree at the install path says which: new → probation, old → undo |
//! | `probation` | the shell launches the new version; `/healthz` ok → [`recovery::Probation::confirm`] | count the launch; too many → roll back |
//! | `rolling_back` | exchange back, restore the data snapshot, remove the bad tree, mark it bad | finish the rollback (idempotent) |
//!
//! The rollback copy is the sibling folder `.<name>.rollback` (same
//! filesystem, so the exchange is atomic both ways); it is kept after a
//! confirmed update and replaced by the next one.
//!
//! Every path above is derived by [`Layout`] from the install's location and
//! the app-data folder on every start; the journal's recorded paths are only
//! compared with them. A journal that disagrees, or whose step can be neither
//! finished nor undone, becomes a `stuck` record: nothing it names is
//! touched, the tree at the install path starts, and the record is cleared
//! once that install passes its health check.
//!
//! [`check_manifest`]: signing::policy::check_manifest
//! [`verify_download`]: signing::policy::verify_download

pub mod check;
mod delta;
pub mod download;
mod error;
mod fsx;
mod http;
pub mod install;
pub mod layout;
mod policy;
pub mod recovery;
mod session;
mod snapshot;
mod space;
pub mod state;
mod status;
mod swap;
pub mod system_source;
mod unpack;

use std::path::PathBuf;

use signing::keys::PublicKey;
use signing::platform::PlatformKey;
use time::OffsetDateTime;

pub use check::{CheckOutcome, Refusal, Update};
pub use delta::Assembled;
pub use download::{Downloaded, Progress};
pub use error::{Result, UpdateError};
/// Atomic, durable writes of small state files (the shell's crash uploader
/// uses it too).
pub use fsx::write_atomic;
pub use http::{Endpoint, NetLimits, ServerClock};
pub use install::{InstallContext, InstallKind, Installed, Next, PackageCommand, PackageRunner, Step, SystemRunner};
pub use layout::Layout;
pub use policy::{Install, Opened, Setup, Verdict, open};
pub use recovery::{MAX_PROBATION_LAUNCHES, Probation, RolledBack, Startup, dismiss_notice, startup};
pub use session::{Host, Session};
pub use signing::platform::Installer;
pub use state::{BadVersion, Notice, State};
pub use status::{OfferView, Phase, View};
pub use system_source::SystemSource;
pub use unpack::UnpackLimits;

/// The keys this build trusts. Made only from text compiled into the app.
#[derive(Debug, Clone)]
pub struct TrustedKeys(Vec<PublicKey>);

impl TrustedKeys {
    /// Parses the public keys `dist` embedded in the app (minisign text, key
    /// line, or Tauri's base64). `'static` on purpose: the keys are part of
    /// the signed build, never read from the environment, the app-data
    /// folder or the command line.
    pub fn embedded(texts: &[&'static str]) -> Result<TrustedKeys> {
        let keys = texts
            .iter()
            .enumerate()
            .map(|(index, text)| {
                PublicKey::parse(text).map_err(|e| UpdateError::TrustedKey { index, detail: e.to_string() })
            })
            .collect::<Result<Vec<_>>>()?;
        if keys.is_empty() {
            return Err(UpdateError::NoTrustedKey);
        }
        Ok(TrustedKeys(keys))
    }

    /// The keys of the text `dist` compiles in (one key per line; `None`:
    /// a build made another way, which trusts nothing).
    pub fn embedded_text(text: Option<&'static str>) -> Result<TrustedKeys> {
        let lines: Vec<&'static str> =
            text.unwrap_or_default().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        TrustedKeys::embedded(&lines)
    }

    pub(crate) fn to_vec(&self) -> Vec<PublicKey> {
        self.0.clone()
    }
}

impl std::ops::Deref for TrustedKeys {
    type Target = [PublicKey];
    fn deref(&self) -> &[PublicKey] {
        &self.0
    }
}

/// Where and what this install updates from. No key here: see [`TrustedKeys`].
#[derive(Debug, Clone)]
pub struct UpdaterConfig {
    /// The per-user app-data folder; the updater owns its `updates/` folder.
    pub app_data: PathBuf,
    pub endpoint: Endpoint,
    pub channel: String,
    /// This install's platform key (`linux-x86_64-deb`, `darwin-aarch64-app`, …).
    pub platform: PlatformKey,
    /// The running version.
    pub installed: semver::Version,
}

/// The update client of one install.
pub struct Updater {
    config: UpdaterConfig,
    keys: TrustedKeys,
    http: http::Http,
    clock: fn() -> OffsetDateTime,
    limits: NetLimits,
}

impl Updater {
    pub fn new(config: UpdaterConfig, keys: TrustedKeys) -> Result<Updater> {
        if !signing::manifest::is_channel_name(&config.channel) {
            return Err(UpdateError::Channel { channel: config.channel });
        }
        let http = http::Http::new(config.endpoint.is_loopback(), &config.installed)?;
        Ok(Updater { config, keys, http, clock: OffsetDateTime::now_utc, limits: NetLimits::default() })
    }

    /// Replaces the check deadline and the download's throughput floor
    /// (tests use seconds where the defaults use minutes).
    pub fn with_net_limits(mut self, limits: NetLimits) -> Updater {
        self.limits = limits;
        self
    }

    /// Replaces the clock manifests' expiry is judged by (tests).
    pub fn with_clock(mut self, clock: fn() -> OffsetDateTime) -> Updater {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &UpdaterConfig {
        &self.config
    }

    /// The update server's clock against this computer's, from the `Date`
    /// header of its latest answer; none before one arrived.
    pub fn server_clock(&self) -> Option<ServerClock> {
        self.http.server_clock()
    }

    /// The stored state, for the window (install id, channel, bad versions, notice).
    pub fn state(&self) -> Result<state::Loaded> {
        self.store().load()
    }

    pub(crate) fn store(&self) -> state::Store {
        state::Store::new(&self.config.app_data)
    }
}
