//! The download: `<app-data>/updates/downloads/<file>.part`, streamed,
//! resumable, and verified by `signing::policy::verify_download` in the same
//! pass.
//!
//! The file's name is the URL's last segment, so it has a folder of its own:
//! beside the state, snapshot and kept packages, an offer whose URL ended in
//! `state.json` or `snapshot` would have replaced them.
//!
//! One read feeds the verifier: the bytes already in the `.part` file (from
//! an interrupted attempt) chained with the new body bytes, which are teed
//! into the `.part` file as they pass. So there is no second read, and the
//! verifier sees exactly the bytes that will be installed.
//!
//! - Resume: `Range: bytes=N-`; a `206` whose `Content-Range` starts at `N`
//!   continues the file; a `200` (a server without ranges) starts over at 0.
//! - Cap: the body is read to at most one byte past the offer's size, so an
//!   endless body ends as a size refusal, never a full disk.
//! - Only a verified file is renamed to its final name. A verification
//!   failure deletes the `.part`; a network failure keeps it for the resume.
//! - Before a byte is written, the volume must have room for what is still
//!   to come plus a margin (`space`); a server that declares another size
//!   than the signed manifest is refused before its body is read; a disk
//!   that fills up anyway gets its `.part` removed, so the app's own state
//!   can still be written.
//! - A download whose throughput stays under the floor of [`NetLimits`]
//!   for its window is stopped, its `.part` kept for a resume.
//!
//! [`NetLimits`]: crate::NetLimits

use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use reqwest::StatusCode;
use signing::policy::{self, DownloadRefused};

use crate::Updater;
use crate::check::Update;
use crate::error::{IoContext, Result, UpdateError};
use crate::fsx;
use crate::http::NetLimits;
use crate::space::{self, Need};

/// The folder under `updates/` that downloads are written to, and only
/// downloads.
pub const DOWNLOADS_DIR: &str = "downloads";

/// Bytes done of the total, for the progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// A verified artifact under its final name. Only [`Updater::download`]
/// makes one, so holding it means the file was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// The artifact; for a tree from the file store, its tree manifest.
    pub(crate) path: PathBuf,
    pub(crate) update: Update,
    /// The tree to assemble from `updates/objects/` and the install's own
    /// files, instead of an artifact ([`Updater::fetch_tree`]).
    pub(crate) tree: Option<std::sync::Arc<signing::tree::TreeManifest>>,
}

impl Downloaded {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn update(&self) -> &Update {
        &self.update
    }

    /// True when the install assembles the tree from the file store.
    pub fn is_tree(&self) -> bool {
        self.tree.is_some()
    }
}

impl Updater {
    /// Downloads and verifies `update`'s artifact, resuming an interrupted
    /// attempt. `progress` is called as bytes arrive.
    pub fn download(&self, update: &Update, progress: &mut dyn FnMut(Progress)) -> Result<Downloaded> {
        let url = update.offer.artifact.url.clone();
        let name = file_name(&url)?;
        let dir = self.store().dir().join(DOWNLOADS_DIR);
        fs::create_dir_all(&dir).at("creating the folder", &dir)?;
        let final_path = dir.join(&name);
        let part = dir.join(format!("{name}.part"));
        let total = update.offer.artifact.size;

        // A file under the final name was verified by an earlier run that
        // stopped before installing; verify it again rather than trust it.
        if fsx::exists(&final_path) {
            if let Ok(file) = fsx::open_regular(&final_path)
                && policy::verify_download(file, &update.offer, &update.keys).is_ok()
            {
                progress(Progress { done: total, total });
                return Ok(Downloaded { path: final_path, update: update.clone(), tree: None });
            }
            fsx::remove_any(&final_path)?;
        }

        let mut have = match fs::symlink_metadata(&part) {
            Ok(meta) if meta.is_file() && meta.len() <= total => meta.len(),
            Ok(_) => {
                fsx::remove_any(&part)?;
                0
            }
            Err(_) => 0,
        };
        // A complete `.part` needs no request (a range past the end is a 416).
        let outcome = if have == total && total > 0 {
            let file = fsx::open_regular(&part).at("opening", &part)?;
            policy::verify_download(file, &update.offer, &update.keys)
        } else {
            space::ensure(&[Need { dir: &dir, bytes: total - have }])?;
            let response = self.http.send(&url, (have > 0).then_some(have), None)?;
            let resumed = response.status() == StatusCode::PARTIAL_CONTENT
                && have > 0
                && content_range_start(&response) == Some(have);
            match response.status() {
                StatusCode::OK => have = 0,
                StatusCode::PARTIAL_CONTENT if resumed => {}
                StatusCode::RANGE_NOT_SATISFIABLE | StatusCode::PARTIAL_CONTENT => {
                    // Refused, or resumed somewhere else than asked: the
                    // partial file cannot be continued.
                    fsx::remove_any(&part)?;
                    return Err(UpdateError::Interrupted {
                        url,
                        done: 0,
                        total,
                        detail: "the server did not resume where the download stopped; the partial file was discarded"
                            .to_owned(),
                    });
                }
                status => {
                    return Err(UpdateError::Fetch { url, detail: format!("the server answered HTTP {status}") });
                }
            }
            let offset = if response.status() == StatusCode::OK { 0 } else { have };
            // A length near u64::MAX must not wrap around into a match.
            if let Some(declared) = response.content_length().map(|length| offset.saturating_add(length))
                && declared != total
            {
                fsx::remove_any(&part)?;
                return Err(UpdateError::WrongSize { url, declared, expected: total });
            }
            let mut writer = fsx::open_append(&part).at("opening", &part)?;
            if have == 0 {
                writer.set_len(0).at("emptying", &part)?;
            }
            writer.seek(io::SeekFrom::End(0)).at("seeking in", &part)?;
            progress(Progress { done: have, total });
            let earlier = fsx::open_regular(&part).at("opening", &part)?.take(have);
            let body = Floor::new(response, self.limits).take(total.saturating_sub(have).saturating_add(1));
            let tee = Tee { body, out: &mut writer, done: have, total, progress };
            let outcome = policy::verify_download(earlier.chain(tee), &update.offer, &update.keys);
            let synced = writer.sync_all();
            let full = match (&outcome, &synced) {
                (Err(DownloadRefused::Read(error)), _) | (_, Err(error)) => space::is_full(error),
                _ => false,
            };
            if full {
                // Keeping it would keep the disk full: the next check could
                // not even write its state.
                let done = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
                drop(writer);
                fsx::remove_any(&part)?;
                return Err(UpdateError::DiskFull { url, dir, done, total });
            }
            // What arrived stays durable for a resume, whatever happened.
            synced.at("flushing", &part)?;
            outcome
        };

        match outcome {
            Ok(()) => {
                fs::rename(&part, &final_path).at("renaming the verified download to", &final_path)?;
                fsx::sync_dir(&dir)?;
                Ok(Downloaded { path: final_path, update: update.clone(), tree: None })
            }
            Err(DownloadRefused::Read(error)) => {
                let done = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
                Err(UpdateError::Interrupted { url, done, total, detail: crate::http::describe(&error) })
            }
            Err(refused) => {
                fsx::remove_any(&part)?;
                Err(UpdateError::DownloadRefused { url, source: refused })
            }
        }
    }
}

/// Passes the body on, and fails once a whole window brought fewer bytes
/// than the floor allows.
pub(crate) struct Floor<R> {
    inner: R,
    limits: NetLimits,
    window_started: Instant,
    in_window: u64,
}

impl<R> Floor<R> {
    pub(crate) fn new(inner: R, limits: NetLimits) -> Floor<R> {
        Floor { inner, limits, window_started: Instant::now(), in_window: 0 }
    }
}

impl<R: Read> Read for Floor<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.in_window += n as u64;
        let window = self.limits.stall_window;
        if self.window_started.elapsed() >= window {
            let floor = self.limits.min_bytes_per_sec.saturating_mul(window.as_secs().max(1));
            if self.in_window < floor {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the server sent only {} bytes in the last {} s, under the {} bytes/s this app waits for",
                        self.in_window,
                        window.as_secs(),
                        self.limits.min_bytes_per_sec
                    ),
                ));
            }
            self.window_started = Instant::now();
            self.in_window = 0;
        }
        Ok(n)
    }
}

/// Passes the body on and appends every byte to the `.part` file.
struct Tee<'a, R> {
    body: R,
    out: &'a mut fs::File,
    done: u64,
    total: u64,
    progress: &'a mut dyn FnMut(Progress),
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.body.read(buffer)?;
        self.out.write_all(&buffer[..n])?;
        self.done += n as u64;
        if n > 0 {
            (self.progress)(Progress { done: self.done.min(self.total), total: self.total });
        }
        Ok(n)
    }
}

/// The first byte of a `Content-Range: bytes N-M/T` answer.
fn content_range_start(response: &reqwest::blocking::Response) -> Option<u64> {
    let value = response.headers().get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    value.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

/// The artifact's file name: the URL's last path segment, which must be a
/// plain name (it becomes a path under `updates/downloads/`).
pub(crate) fn file_name(url: &str) -> Result<String> {
    let bad = || UpdateError::ArtifactName { url: url.to_owned() };
    let parsed = reqwest::Url::parse(url).map_err(|_| bad())?;
    let last = parsed.path_segments().and_then(|mut s| s.next_back()).ok_or_else(bad)?;
    let ok = !last.is_empty()
        && !last.starts_with('.')
        && last.len() <= 200
        && last.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'));
    if ok { Ok(last.to_owned()) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_url_and_stay_plain() {
        assert_eq!(file_name("https://u.example/a/Hudson-0.2.0-x86_64.tar.gz").unwrap(), "Hudson-0.2.0-x86_64.tar.gz");
        for bad in [
            "https://u.example/",
            "https://u.example/a/..",
            "https://u.example/a/%2e%2e",
            "https://u.example/.hidden",
            "https://u.example/a%2Fb",
        ] {
            assert!(file_name(bad).is_err(), "{bad}");
        }
    }
}
