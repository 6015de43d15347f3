//! The updater's one error type. Every variant names the path or URL involved
//! and, where the user or the shell can act, what to do next: the shell shows
//! these strings in the Updates window as they are.
//!
//! Policy refusals are not errors: a refused manifest is a
//! [`crate::CheckOutcome::Refused`], a refused download is
//! [`UpdateError::DownloadRefused`] with the policy's own reason kept as source.

use std::io;
use std::path::PathBuf;

use signing::policy::DownloadRefused;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(
        "update endpoint {url:?} is not allowed: {why}; use https:// (plain http:// only for 127.0.0.1, ::1 or localhost)"
    )]
    Endpoint { url: String, why: String },
    #[error("channel name {channel:?} is not valid: use lower-case letters, digits and '-'")]
    Channel { channel: String },
    #[error("embedded trusted key {index} cannot be read ({detail}); the app build is broken: reinstall it")]
    TrustedKey { index: usize, detail: String },
    #[error("no trusted key is embedded in this build: it cannot accept any update; reinstall a signed build")]
    NoTrustedKey,
    #[error("cannot set up HTTPS ({detail}); check the system's certificate store")]
    Tls { detail: String },
    #[error("cannot fetch {url}: {detail}; check the network connection and try again")]
    Fetch { url: String, detail: String },
    #[error(
        "the download of {url} stopped at {done} of {total} bytes ({detail}); try again: it resumes where it stopped"
    )]
    Interrupted { url: String, done: u64, total: u64, detail: String },
    #[error("the download of {url} was refused and deleted: {source}")]
    DownloadRefused {
        url: String,
        #[source]
        source: DownloadRefused,
    },
    #[error(
        "the artifact URL {url:?} does not end in a usable file name; the channel manifest is wrong: tell the publisher"
    )]
    ArtifactName { url: String },
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the update state {} cannot be used: {detail}", path.display())]
    State { path: PathBuf, detail: String },
    #[error("the update archive {} cannot be unpacked: {detail}; nothing was installed", archive.display())]
    Unpack { archive: PathBuf, detail: String },
    #[error("the unpacked update in {} failed its check: {detail}; nothing was installed", staging.display())]
    StagedCheck { staging: PathBuf, detail: String },
    #[error("the backend did not stop ({detail}); nothing was installed: restart the app and try again")]
    StopBackend { detail: String },
    #[error("{detail}")]
    Unsupported { detail: String },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("an update step is already recorded in {} ({step}); restart the app so it can finish or undo it first", path.display())]
    Busy { path: PathBuf, step: &'static str },
    #[error("the install at {} is neither the old nor the new version recorded in the journal; reinstall the app", install.display())]
    UnknownTree { install: PathBuf },
}

pub type Result<T, E = UpdateError> = std::result::Result<T, E>;

/// Attaches the action and path to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| UpdateError::Io { action, path: path.into(), source })
    }
}
