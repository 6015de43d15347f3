//! What the Updates window shows, in the updater's words (its errors are
//! shown as they are too): the phase the page switches on, and one plain
//! sentence for every check outcome and rollback notice. The shell only
//! puts them on screen.

use serde::Serialize;

use crate::check::{CheckOutcome, Update};
use crate::state::Notice;

/// Where the Updates window is; the page (`ui/updates.js`) compares these
/// names (kebab-case).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// This build cannot update (the message says why).
    Unavailable,
    #[default]
    Idle,
    Checking,
    UpToDate,
    Downloading,
    /// Downloaded and verified: "Restart to update" is offered.
    Ready,
    Installing,
    /// The server's answer was refused (bad signature, replay, …).
    Refused,
    /// Halted channel, not in the rollout, a bad version, installer required.
    Waiting,
    Error,
}

impl Phase {
    pub const ALL: [Phase; 10] = [
        Phase::Unavailable,
        Phase::Idle,
        Phase::Checking,
        Phase::UpToDate,
        Phase::Downloading,
        Phase::Ready,
        Phase::Installing,
        Phase::Refused,
        Phase::Waiting,
        Phase::Error,
    ];

    /// The name the page sees.
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }
}

/// What the Updates window shows (the shell's `update_status` command
/// returns it; the shell fills it as things happen).
#[derive(Debug, Clone, Default, Serialize)]
pub struct View {
    pub installed: String,
    pub channel: Option<String>,
    pub endpoint: Option<String>,
    pub phase: Phase,
    /// The current state in plain words.
    pub message: String,
    pub offer: Option<OfferView>,
    /// Bytes downloaded and expected.
    pub progress: Option<(u64, u64)>,
    pub last_check: Option<String>,
    pub next_check: Option<String>,
    /// The update server's clock against ours at the last check that got
    /// an answer with a `Date` header, in plain words.
    pub clock: Option<String>,
    /// An update that was rolled back, and why (until dismissed).
    pub notice: Option<String>,
    /// Where the previous version is kept after a folder swap.
    pub rollback_copy: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OfferView {
    pub version: String,
    pub notes: Option<String>,
    pub size: u64,
    /// A signed yank: this "update" goes back to an earlier release.
    pub downgrade: bool,
}

impl OfferView {
    pub fn of(update: &Update, downgrade: bool) -> OfferView {
        OfferView { version: update.version.to_string(), notes: update.notes.clone(), size: update.size, downgrade }
    }
}

impl CheckOutcome {
    /// The window's phase and sentence for this outcome; `installed` is
    /// the running version.
    pub fn status(&self, installed: &semver::Version) -> (Phase, String) {
        match self {
            CheckOutcome::UpToDate { version } => (Phase::UpToDate, format!("Hudson {version} is up to date.")),
            CheckOutcome::Offered(update) => (Phase::Downloading, format!("Downloading Hudson {}…", update.version)),
            CheckOutcome::Yank(update) => (
                Phase::Downloading,
                format!("Hudson {installed} was withdrawn by its publisher; going back to Hudson {}…", update.version),
            ),
            CheckOutcome::Halted => (
                Phase::Waiting,
                format!("Updates on this channel are paused by the publisher; staying on Hudson {installed}."),
            ),
            CheckOutcome::NotInRollout { version, percent } => (
                Phase::Waiting,
                format!(
                    "Hudson {version} is being rolled out to {percent}% of installs; this one is not included yet."
                ),
            ),
            CheckOutcome::InstallerRequired { minimum_version } => (
                Phase::Waiting,
                format!(
                    "This version is too old to update in place: install Hudson {minimum_version} or later from its \
                     installer."
                ),
            ),
            CheckOutcome::BadVersion { version, reason } => (
                Phase::Waiting,
                format!(
                    "Hudson {version} did not work on this computer before ({reason}); waiting for a newer release."
                ),
            ),
            CheckOutcome::Refused(refusal) => {
                (Phase::Refused, format!("The update server's answer was refused: {}", refusal.reason))
            }
        }
    }

    /// The update to download, and whether it goes back to an earlier
    /// release (a signed yank).
    pub fn into_offer(self) -> Option<(Update, bool)> {
        match self {
            CheckOutcome::Offered(update) => Some((update, false)),
            CheckOutcome::Yank(update) => Some((update, true)),
            _ => None,
        }
    }
}

impl Notice {
    /// The sentence the Updates window shows after a rollback.
    pub fn describe(&self) -> String {
        format!(
            "Hudson {} was installed but did not work on this computer, so Hudson {} was put back: {}.",
            self.version, self.restored, self.reason
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_a_phase_and_a_sentence_naming_the_version() {
        let installed: semver::Version = "0.1.0".parse().unwrap();
        let v2: semver::Version = "0.2.0".parse().unwrap();
        let cases = [
            (CheckOutcome::UpToDate { version: installed.clone() }, Phase::UpToDate, "0.1.0 is up to date"),
            (CheckOutcome::Halted, Phase::Waiting, "paused by the publisher"),
            (CheckOutcome::NotInRollout { version: v2.clone(), percent: 10 }, Phase::Waiting, "10% of installs"),
            (CheckOutcome::InstallerRequired { minimum_version: v2.clone() }, Phase::Waiting, "0.2.0 or later"),
            (
                CheckOutcome::BadVersion { version: v2.clone(), reason: "it did not start".into() },
                Phase::Waiting,
                "did not work on this computer before (it did not start)",
            ),
        ];
        for (outcome, phase, words) in cases {
            let (got, message) = outcome.status(&installed);
            assert_eq!(got, phase, "{outcome:?}");
            assert!(message.contains(words), "{message}");
            assert!(outcome.into_offer().is_none());
        }
        assert_eq!(Phase::UpToDate.name(), "up-to-date");
        assert_eq!(
            Phase::ALL.len(),
            Phase::ALL.iter().map(|p| p.name()).collect::<std::collections::BTreeSet<_>>().len()
        );
    }
}
