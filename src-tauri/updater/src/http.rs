//! HTTP for the updater: which URLs may be fetched, and bounded reads.
//!
//! HTTPS is required except for loopback hosts (127.0.0.0/8, ::1,
//! `localhost`), where tests and a local mirror serve plain HTTP. The rule
//! applies to the endpoint, to every artifact URL and to every redirect, so a
//! redirect cannot downgrade to plain HTTP on the network.
//!
//! TLS is rustls with the `ring` provider and the OS trust store (see
//! Cargo.toml for why reqwest 0.12).
//!
//! Timeouts ([`NetLimits`]): 15 s to connect; 30 s for the response head and
//! for each read of the body (reqwest's blocking `timeout` applies per
//! read). On top of that a whole check has a deadline, so a server that
//! drips one byte every few seconds cannot keep it going for days; and a
//! download — which may rightly take long — is aborted when its throughput
//! stays under a floor for a while (`download`), keeping what arrived.
//!
//! A redirect is followed only to a URL the transport rule allows, at most
//! five times; a refused one is reported with where it pointed and why.

use std::io::{self, Read};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::blocking::{Client, Response};
use time::OffsetDateTime;

use crate::error::{Result, UpdateError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_REDIRECTS: usize = 5;
/// Longest URL a message shows.
const SHOWN_URL_CHARS: usize = 200;

/// The deadlines and throughput floor of the updater's network use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetLimits {
    /// A whole check (manifest, signature, key chain) ends by then.
    pub check_deadline: Duration,
    /// A download whose last `stall_window` brought fewer than
    /// `min_bytes_per_sec × stall_window` bytes is aborted (and resumable).
    pub stall_window: Duration,
    pub min_bytes_per_sec: u64,
}

impl Default for NetLimits {
    /// 45 s per check; a download slower than 4 KiB/s for a whole minute
    /// stops (a real connection, however poor, does better; a server that
    /// drips bytes to hold the app does not).
    fn default() -> Self {
        NetLimits {
            check_deadline: Duration::from_secs(45),
            stall_window: Duration::from_secs(60),
            min_bytes_per_sec: 4096,
        }
    }
}

/// The base URL of the channel tree (`<endpoint>/<channel>/manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(Url);

impl Endpoint {
    /// Accepts `https://…`, or `http://` to a loopback host only.
    pub fn parse(text: &str) -> Result<Endpoint> {
        let url = Url::parse(text.trim())
            .map_err(|e| UpdateError::Endpoint { url: text.to_owned(), why: format!("it is not a URL ({e})") })?;
        check_url(&url).map_err(|why| UpdateError::Endpoint { url: text.to_owned(), why })?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(UpdateError::Endpoint { url: text.to_owned(), why: "it has a query or fragment".to_owned() });
        }
        Ok(Endpoint(url))
    }

    /// `<endpoint>/<channel>/<file>`.
    pub(crate) fn file(&self, channel: &str, file: &str) -> String {
        format!("{}/{channel}/{file}", self.0.as_str().trim_end_matches('/'))
    }

    /// `<endpoint>/<relative>`, for a file of the store beside the channels.
    pub(crate) fn store_file(&self, relative: &str) -> String {
        format!("{}/{relative}", self.0.as_str().trim_end_matches('/'))
    }

    pub fn is_loopback(&self) -> bool {
        signing::policy::is_loopback(&self.0)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// `Err(why)` unless the URL is HTTPS, or HTTP to a loopback host.
pub(crate) fn check_url(url: &Url) -> Result<(), String> {
    // The one copy of the rule, shared with `publish` and the build's
    // configuration.
    signing::policy::check_transport(url)
}

/// The update server's clock against this computer's, from the `Date`
/// header of its latest answer (RFC 9110's IMF-fixdate; one-second
/// resolution, plus the request's latency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerClock {
    /// The server's time minus this computer's, in seconds: positive when
    /// this computer's clock is behind.
    pub offset_secs: i64,
    /// When it was measured, by this computer's clock.
    pub measured_at: OffsetDateTime,
}

impl ServerClock {
    /// Closer than this is "in sync": the header has whole seconds and the
    /// answer took some time to arrive.
    pub const IN_SYNC_SECS: i64 = 2;

    /// Plain words for the Diagnostics window.
    pub fn describe(&self) -> String {
        let off = self.offset_secs.unsigned_abs();
        if off <= Self::IN_SYNC_SECS.unsigned_abs() {
            return format!("in sync with the update server (within {} s)", Self::IN_SYNC_SECS);
        }
        let amount = match off {
            0..120 => format!("{off} s"),
            120..7200 => format!("{} min", off / 60),
            7200..172_800 => format!("{} h", off / 3600),
            _ => format!("{} days", off / 86_400),
        };
        let side = if self.offset_secs > 0 { "behind" } else { "ahead of" };
        format!("this computer's clock is {amount} {side} the update server's")
    }
}

/// An HTTP-date in its only current form, `Sun, 06 Nov 1994 08:49:37 GMT`
/// (the obsolete forms are not measured).
pub(crate) fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let format = time::format_description::parse_borrowed::<1>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .ok()?;
    time::PrimitiveDateTime::parse(text.trim(), &format).ok().map(time::PrimitiveDateTime::assume_utc)
}

/// One HTTP client for the updater's requests.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: Client,
    /// From the latest answer that had a `Date` header.
    server_clock: Arc<Mutex<Option<ServerClock>>>,
}

impl Http {
    /// `loopback`: the endpoint is local, so no proxy may see the requests.
    /// `installed`: the app version, which the user agent names (the
    /// crate's own version does not follow releases).
    pub(crate) fn new(loopback: bool, installed: &semver::Version) -> Result<Http> {
        let redirect = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                let error = format!("the server redirected more than {MAX_REDIRECTS} times");
                return attempt.error(error);
            }
            // A server on the network may not point the app at this
            // computer's own services.
            let from_afar = attempt.previous().first().is_some_and(|first| !signing::policy::is_loopback(first));
            if from_afar && signing::policy::is_loopback(attempt.url()) {
                let error = format!(
                    "the server redirected to {}, which is refused: a server on the network may not send the app to \
                     this computer's own addresses",
                    shown_url(attempt.url().as_str())
                );
                return attempt.error(error);
            }
            match check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(why) => {
                    let error = format!(
                        "the server redirected to {}, which is refused: {why}",
                        shown_url(attempt.url().as_str())
                    );
                    attempt.error(error)
                }
            }
        });
        let mut builder = Client::builder()
            .use_rustls_tls()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(READ_TIMEOUT)
            .redirect(redirect)
            .user_agent(format!("hudson-updater/{installed}"));
        if loopback {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| UpdateError::Tls { detail: e.to_string() })?;
        Ok(Http { client, server_clock: Arc::default() })
    }

    /// The server's clock as its latest answer gave it.
    pub(crate) fn server_clock(&self) -> Option<ServerClock> {
        *self.server_clock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// GETs `url` and returns at most `cap + 1` bytes of the body: a caller
    /// that sees more than `cap` knows the body was too long, without this
    /// function ever holding more than that in memory. Ends by `deadline`.
    pub(crate) fn get_capped(&self, url: &str, cap: usize, deadline: Deadline) -> Result<Capped> {
        self.get_optional_capped(url, cap, deadline)?
            .ok_or_else(|| fetch_error(url, format!("the server answered HTTP {}", reqwest::StatusCode::NOT_FOUND)))
    }

    /// `get_capped`, but a 404 is `None`: the file is optional.
    pub(crate) fn get_optional_capped(&self, url: &str, cap: usize, deadline: Deadline) -> Result<Option<Capped>> {
        let response = self.send(url, None, Some(deadline))?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            reqwest::StatusCode::OK => {
                let declared = response.content_length();
                let mut body = Vec::new();
                let mut reader = DeadlineReader { inner: response, deadline: deadline.at };
                match (&mut reader).take(cap as u64 + 1).read_to_end(&mut body) {
                    Ok(_) => Ok(Some(Capped { body, declared })),
                    Err(_) if deadline.passed() => Err(deadline.error(url)),
                    Err(e) => Err(fetch_error(url, e.to_string())),
                }
            }
            status => Err(fetch_error(url, format!("the server answered HTTP {status}"))),
        }
    }

    /// GETs `url`, from byte `from` on when it is above 0; the whole
    /// request (head and body) ends by `deadline` when one is given.
    pub(crate) fn send(&self, url: &str, from: Option<u64>, deadline: Option<Deadline>) -> Result<Response> {
        let parsed = Url::parse(url).map_err(|e| fetch_error(url, format!("not a URL ({e})")))?;
        check_url(&parsed).map_err(|why| fetch_error(url, why))?;
        let mut request = self.client.get(parsed);
        if let Some(from) = from {
            request = request.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        if let Some(deadline) = deadline {
            let left = deadline.left().ok_or_else(|| deadline.error(url))?;
            // reqwest's per-request timeout covers connect to the end of
            // the body; its blocking reads are also bounded by it.
            request = request.timeout(left.min(READ_TIMEOUT));
        }
        let response = request.send().map_err(|e| match deadline {
            Some(deadline) if deadline.passed() => deadline.error(url),
            _ if e.is_redirect() => UpdateError::Redirect { url: shown_url(url), detail: innermost(&e) },
            _ => fetch_error(url, describe(&e.without_url())),
        })?;
        let now = OffsetDateTime::now_utc();
        if let Some(server) =
            response.headers().get(reqwest::header::DATE).and_then(|v| v.to_str().ok()).and_then(parse_http_date)
        {
            let reading = ServerClock { offset_secs: (server - now).whole_seconds(), measured_at: now };
            *self.server_clock.lock().unwrap_or_else(PoisonError::into_inner) = Some(reading);
        }
        Ok(response)
    }
}

/// A body read up to a cap, and the size the server declared for it.
#[derive(Debug, Clone)]
pub(crate) struct Capped {
    pub body: Vec<u8>,
    /// `Content-Length`, when the server sent one.
    pub declared: Option<u64>,
}

/// When a check must be over.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    pub(crate) fn after(total: Duration) -> Deadline {
        Deadline { at: Instant::now() + total, total }
    }

    fn left(&self) -> Option<Duration> {
        self.at.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
    }

    fn passed(&self) -> bool {
        self.left().is_none()
    }

    fn error(&self, url: &str) -> UpdateError {
        UpdateError::CheckDeadline { url: shown_url(url), secs: self.total.as_secs() }
    }
}

/// A body that fails once its deadline has passed, however slowly bytes
/// keep arriving.
struct DeadlineReader<R> {
    inner: R,
    deadline: Instant,
}

impl<R: Read> Read for DeadlineReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if Instant::now() >= self.deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the deadline passed"));
        }
        self.inner.read(buffer)
    }
}

/// A URL as messages show it: at most [`SHOWN_URL_CHARS`] characters.
pub(crate) fn shown_url(url: &str) -> String {
    if url.chars().count() <= SHOWN_URL_CHARS {
        return url.to_owned();
    }
    let head: String = url.chars().take(SHOWN_URL_CHARS).collect();
    format!("{head}… ({} characters)", url.chars().count())
}

fn fetch_error(url: &str, detail: String) -> UpdateError {
    UpdateError::Fetch { url: shown_url(url), detail }
}

/// The deepest cause: for a refused redirect, the policy's own words.
fn innermost(error: &dyn std::error::Error) -> String {
    let mut last = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        last = cause.to_string();
        source = cause.source();
    }
    last
}

/// reqwest's top-level message hides the cause ("error sending request");
/// the chain says what happened.
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_read_and_skew_is_said_in_plain_words() {
        let date = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(date.unix_timestamp(), 784_111_777);
        for bad in ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "", "Sun, 06 Nov 1994 08:49:37 CET"] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
        let at = |offset_secs| ServerClock { offset_secs, measured_at: OffsetDateTime::UNIX_EPOCH }.describe();
        assert!(at(0).starts_with("in sync"), "{}", at(0));
        assert!(at(-2).starts_with("in sync"));
        assert_eq!(at(45), "this computer's clock is 45 s behind the update server's");
        assert_eq!(at(-600), "this computer's clock is 10 min ahead of the update server's");
        assert_eq!(at(3 * 86_400), "this computer's clock is 3 days behind the update server's");
    }

    #[test]
    fn https_everywhere_except_loopback() {
        for ok in [
            "https://updates.example/",
            "http://127.0.0.1:8080/x",
            "http://127.9.9.9/",
            "http://[::1]:1/",
            "http://LOCALHOST/",
        ] {
            assert!(Endpoint::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://updates.example/",
            "http://10.0.0.1/",
            "ftp://127.0.0.1/",
            "file:///tmp",
            "http://127.0.0.1.evil.example/",
            "http://localhost.evil.example/",
            "nonsense",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        let endpoint = Endpoint::parse("https://u.example/releases/").unwrap();
        assert_eq!(endpoint.file("stable", "manifest.json"), "https://u.example/releases/stable/manifest.json");
    }
}
