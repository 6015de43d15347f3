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
        "{url} cannot be fetched: {detail}; the update server is misconfigured or its answers are being \
         tampered with: tell the publisher"
    )]
    Redirect { url: String, detail: String },
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
        "the server offers {url} as {declared} bytes, but the signed channel manifest says {expected}: refused \
         before downloading (the server holds another file than the one published)"
    )]
    WrongSize { url: String, declared: u64, expected: u64 },
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
    #[error("the update could not be assembled from the file store: {detail}")]
    Delta { detail: String },
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
    #[error("the install at {} is neither the old nor the new version recorded in the update journal", install.display())]
    UnknownTree { install: PathBuf },
    #[error(
        "{update} could be neither finished nor undone: {reason}. Hudson starts whatever is installed {place}; \
         this record is cleared, and updates resume, as soon as that copy starts and passes its health check \
         (if it does not start, reinstall Hudson {place} from its installer)"
    )]
    Stuck { update: String, reason: String, place: String },
    #[error(
        "the rollback of {version} could not put your data back ({detail}); so that no version runs on data {version} \
         changed, Hudson does not start its backend: fix the cause and start Hudson again — the rollback resumes \
         where it stopped (your data from before the update is kept in the update folder's snapshot)"
    )]
    RollbackUnfinished { version: semver::Version, detail: String },
    #[error(
        "the update needs {} MB free on the disk holding {}, {} MB are free: free some space and try again (nothing was changed)",
        crate::space::megabytes(*needed),
        dir.display(),
        crate::space::megabytes(*free)
    )]
    NoSpace { dir: PathBuf, needed: u64, free: u64 },
    #[error(
        "the disk holding {} filled up during the download of {url} ({done} of {total} bytes); the partial download \
         was removed: free some space and try again",
        dir.display()
    )]
    DiskFull { url: String, dir: PathBuf, done: u64, total: u64 },
    #[error("checking for updates took longer than {secs} s ({url} answers too slowly); try again later")]
    CheckDeadline { url: String, secs: u64 },
}

impl UpdateError {
    /// The downloaded file itself was refused (its size, hash or
    /// signature), as opposed to a download that failed or stopped.
    pub fn is_refused_download(&self) -> bool {
        matches!(self, UpdateError::DownloadRefused { .. } | UpdateError::WrongSize { .. })
    }

    /// A rollback could not put the data back: no backend may start on the
    /// data the failed version changed until a later start finishes it.
    pub fn holds_backend(&self) -> bool {
        matches!(self, UpdateError::RollbackUnfinished { .. })
    }
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
