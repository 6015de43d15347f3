//! "Check for updates": fetch the channel's signed manifest, ask
//! `signing::policy::check_manifest`, and turn its answer into one
//! [`CheckOutcome`] the window can show.
//!
//! The only rule applied here rather than in the policy is the install's own
//! memory: a version that failed probation on this install is not offered
//! again (a new manifest must offer a different version). The policy cannot
//! know it: it is per install, not per channel.

use signing::keys::PublicKey;
use signing::manifest::{MANIFEST_FILE, MANIFEST_SIGNATURE_FILE};
use signing::policy::{self, Decision, ManifestRefused, Offer, OfferReason, Policy, RefusalKind};
use signing::rotation::{KEY_CHAIN_FILE, MAX_KEY_CHAIN_BYTES};

use crate::Updater;
use crate::error::Result;
use crate::http::Deadline;
use crate::state::ChannelMemory;

/// A signature file is a few hundred bytes; anything past this is not one.
const MAX_SIGNATURE_BYTES: usize = 16 << 10;

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The channel offers the installed version.
    UpToDate { version: semver::Version },
    /// A newer release for this install: download and install it.
    Offered(Update),
    /// A signed yank of the installed version: go to `update.version`, which
    /// may be lower than the installed one.
    Yank(Update),
    /// The channel is halted: stay on the installed version.
    Halted,
    /// A newer release exists but this install is outside its rollout.
    NotInRollout { version: semver::Version, percent: u8 },
    /// The installed version is too old to update in place.
    InstallerRequired { minimum_version: semver::Version },
    /// The offered version failed probation here before.
    BadVersion { version: semver::Version, reason: String },
    /// The manifest was not trusted; nothing changed.
    Refused(Refusal),
}

impl CheckOutcome {
    /// The machine-readable event of this outcome (the shell logs it).
    pub fn event(&self) -> hudson_lifecycle::ShellEvent {
        let (outcome, version, refused) = match self {
            CheckOutcome::UpToDate { version } => ("up_to_date", Some(version), None),
            CheckOutcome::Offered(update) => ("offered", Some(&update.version), None),
            CheckOutcome::Yank(update) => ("yank", Some(&update.version), None),
            CheckOutcome::Halted => ("halted", None, None),
            CheckOutcome::NotInRollout { version, .. } => ("not_in_rollout", Some(version), None),
            CheckOutcome::InstallerRequired { minimum_version } => ("installer_required", Some(minimum_version), None),
            CheckOutcome::BadVersion { version, .. } => ("bad_version", Some(version), None),
            CheckOutcome::Refused(refusal) => ("refused", None, Some(refusal.kind)),
        };
        hudson_lifecycle::ShellEvent::UpdateChecked {
            outcome: outcome.to_owned(),
            version: version.map(ToString::to_string),
            refused: refused
                .and_then(|kind| serde_json::to_value(kind).ok())
                .and_then(|v| v.as_str().map(str::to_owned)),
        }
    }
}

/// An update this install may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub version: semver::Version,
    pub notes: Option<String>,
    /// Download size in bytes.
    pub size: u64,
    pub channel: String,
    /// The sequence of the manifest that offered it.
    pub sequence: u64,
    /// The share of installs the manifest offers it to: below 100 the
    /// package repositories do not carry it yet (they follow `latest.json`).
    pub rollout_percent: u8,
    /// The policy's offer: what `verify_download` checks the artifact against.
    pub offer: Offer,
    /// The keys whose artifact signatures are accepted: the app's own, and
    /// those the channel's key chain handed the channel to.
    pub keys: Vec<PublicKey>,
}

/// A refused manifest, for the user and for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    /// Plain words for the window.
    pub reason: String,
    /// The policy's own message, for the log.
    pub detail: String,
}

impl Updater {
    /// Fetches `<endpoint>/<channel>/manifest.json` and its signature and
    /// decides. After any trusted manifest, whatever the decision, it is stored
    /// as the last seen one, so an older one replayed later is refused.
    pub fn check(&self) -> Result<CheckOutcome> {
        let store = self.store();
        let state = store.load()?.state;
        let channel = &self.config.channel;
        let manifest_url = self.config.endpoint.file(channel, MANIFEST_FILE);
        let signature_url = self.config.endpoint.file(channel, MANIFEST_SIGNATURE_FILE);
        let mut policy = Policy::new(
            self.keys.to_vec(),
            channel.clone(),
            self.config.platform,
            self.config.installed.clone(),
            state.install_id.clone(),
            (self.clock)(),
        );
        // Sequences count per channel: each channel's own memory, kept
        // across a switch away and back.
        let memory = state.memory(channel);
        policy.last_seen = memory.last_seen;
        policy.last_chain = memory.key_chain;
        // One deadline for the whole check, however slowly a server answers.
        let deadline = Deadline::after(self.limits.check_deadline);
        let manifest = self.http.get_capped(&manifest_url, policy.max_manifest_bytes, deadline)?;
        if manifest.body.len() > policy.max_manifest_bytes {
            // Refused unread past the cap; the size said is the server's own
            // when it declared one.
            let refused = ManifestRefused::TooLarge {
                size: manifest.declared.map_or(manifest.body.len(), |n| n as usize),
                limit: policy.max_manifest_bytes,
            };
            let mut refusal = refusal(&refused);
            if manifest.declared.is_none() {
                refusal.reason = format!(
                    "the server sent an oversized channel file (more than {} bytes): ignored",
                    policy.max_manifest_bytes
                );
            }
            return Ok(CheckOutcome::Refused(refusal));
        }
        let signature = self.http.get_capped(&signature_url, MAX_SIGNATURE_BYTES, deadline)?.body;
        // A channel that rotated its key has a key chain; most have none (404).
        let chain_url = self.config.endpoint.file(channel, KEY_CHAIN_FILE);
        let chain = self.http.get_optional_capped(&chain_url, MAX_KEY_CHAIN_BYTES, deadline)?.map(|c| c.body);
        let manifest = manifest.body;

        let chained = match policy::check_manifest_chained(&policy, &manifest, &signature, chain.as_deref()) {
            Ok(chained) => chained,
            Err(refused) => return Ok(CheckOutcome::Refused(refusal(&refused))),
        };
        let (checked, keys) = (chained.check, chained.keys);
        let seen = checked.seen.clone();
        let bad = store.update(|state| {
            state.remember(channel, ChannelMemory { last_seen: Some(seen), key_chain: chained.chain.clone() });
            match &checked.decision {
                // From the state file: shown and logged, so made printable
                // and short (a damaged file may hold anything).
                Decision::Install(offer) => {
                    state.is_bad(&offer.version).map(|bad| crate::unpack::shown_long(bad.reason.as_bytes()))
                }
                _ => None,
            }
        })?;
        let manifest = checked.manifest;
        Ok(match checked.decision {
            Decision::Install(offer) => {
                // The download needs a plain file name from the URL: an offer
                // without one could never be downloaded, so it is not offered.
                if let Err(error) = crate::download::file_name(&offer.artifact.url) {
                    let reason = format!("{error}: ignored");
                    return Ok(CheckOutcome::Refused(Refusal {
                        kind: RefusalKind::ArtifactUrl,
                        detail: reason.clone(),
                        reason,
                    }));
                }
                if let Some(reason) = bad {
                    return Ok(CheckOutcome::BadVersion { version: offer.version, reason });
                }
                let update = Update {
                    version: offer.version.clone(),
                    notes: manifest.notes.as_deref().map(crate::unpack::shown_notes),
                    size: offer.artifact.size,
                    channel: manifest.channel.clone(),
                    sequence: manifest.sequence,
                    rollout_percent: manifest.rollout.percent,
                    offer,
                    keys,
                };
                match update.offer.reason {
                    OfferReason::Release => CheckOutcome::Offered(update),
                    OfferReason::Yank => CheckOutcome::Yank(update),
                }
            }
            Decision::UpToDate => CheckOutcome::UpToDate { version: self.config.installed.clone() },
            Decision::Halted => CheckOutcome::Halted,
            Decision::NotInRollout { percent } => CheckOutcome::NotInRollout { version: manifest.version, percent },
            Decision::InstallerRequired { minimum_version } => CheckOutcome::InstallerRequired { minimum_version },
        })
    }
}

/// The policy's refusal in words a user can read; the policy's own message
/// stays in `detail` for the log.
pub fn refusal(refused: &ManifestRefused) -> Refusal {
    let reason = match refused {
        ManifestRefused::TooLarge { size, limit } => {
            format!("the server sent an oversized channel file ({size} bytes, limit {limit}): ignored")
        }
        ManifestRefused::MalformedSignature { .. } => "the channel's signature file is damaged: ignored".to_owned(),
        ManifestRefused::UnknownKey { key_id, .. } => {
            format!("the channel is signed by a key this app does not trust ({key_id}): ignored")
        }
        ManifestRefused::BadSignature { .. } => {
            "the channel file does not match its signature (altered in transit or on the server): ignored".to_owned()
        }
        ManifestRefused::Malformed { .. } | ManifestRefused::CommentMismatch { .. } => {
            "the channel file is signed but malformed: ignored".to_owned()
        }
        ManifestRefused::UnknownSchema { .. } => {
            "the channel uses a newer format than this version reads: install the latest version by hand".to_owned()
        }
        ManifestRefused::ChannelMismatch { expected, found } => {
            format!("the server offered channel {found:?} instead of {expected:?}: ignored")
        }
        ManifestRefused::Expired { expires_at, .. } => {
            format!("the server offered an expired channel state (it expired {}): ignored", date(*expires_at))
        }
        ManifestRefused::Replay { sequence, last_seen } => {
            format!("the server offered an older channel state (sequence {sequence}, last seen {last_seen}): ignored")
        }
        ManifestRefused::SequenceConflict { sequence } => {
            format!("the server offered a different channel state under an already seen sequence ({sequence}): ignored")
        }
        ManifestRefused::PlatformMissing { platform, .. } => {
            format!("the update has no download for this system ({platform}): ignored")
        }
        ManifestRefused::VersionNotNewer { offered, installed } => {
            format!("the server offered {offered}, older than the installed {installed}: ignored")
        }
        ManifestRefused::KeyChain { .. } => {
            "the channel's record of its signing keys does not check out: ignored".to_owned()
        }
        ManifestRefused::RetiredKey { key_id, .. } => {
            format!("the channel file is signed by a key the channel has retired ({key_id}): ignored")
        }
        ManifestRefused::ArtifactUrl { url, why } => {
            format!(
                "the update's download address {} is not one this app may use ({why}): ignored",
                crate::http::shown_url(url)
            )
        }
    };
    Refusal { kind: refused.kind(), reason, detail: refused.to_string() }
}

fn date(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| at.to_string())
}
