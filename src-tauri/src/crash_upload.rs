//! Opt-in crash upload. Off by default; on only when the build configures a
//! Sentry DSN (`crash-report-dsn` in `hudson-shell.json`) **and** the user
//! turned it on in the Diagnostics window (saved in
//! `<app data>/crash-reports.json`). Then each crash record of the log
//! folder is sent once, as one Sentry envelope, every field passed through
//! the redactor again in `before_send`; the names of the records sent are
//! kept in `<app data>/crash-reports-sent.json`. Nothing else is ever sent.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hudson_lifecycle::logs::Log;
use hudson_lifecycle::untrusted;
use serde::{Deserialize, Serialize};
use std::sync::mpsc::{Receiver, SyncSender};

const CONSENT_FILE: &str = "crash-reports.json";
const SENT_FILE: &str = "crash-reports-sent.json";
const MAX_STATE_BYTES: u64 = 64 * 1024;
const MAX_RECORD_BYTES: u64 = 1 << 20;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Consent {
    upload: bool,
}

/// What the Diagnostics window shows and sets (default: no uploader).
#[derive(Debug, Clone, Default, Serialize)]
pub struct UploadStatus {
    /// The build has an endpoint.
    pub configured: bool,
    /// The user turned it on.
    pub enabled: bool,
}

/// The uploader: a thread that sends pending records when asked.
pub(crate) struct Uploader {
    dsn: Option<String>,
    data_dir: PathBuf,
    enabled: Arc<AtomicBool>,
    wake: SyncSender<()>,
}

impl Uploader {
    /// Starts the uploader thread and sends what is pending (if on).
    /// A DSN the transport rule refuses is no endpoint (said in the log).
    pub(crate) fn start(dsn: Option<String>, data_dir: PathBuf, log: Log, release: String) -> Uploader {
        let dsn = dsn.filter(|dsn| match signing::policy::check_crash_report_dsn(dsn) {
            Ok(()) => true,
            Err(why) => {
                log.shell(&format!("crash upload is off: the build's crash-report endpoint is refused: {why}"));
                false
            }
        });
        let consent = untrusted::read_optional(&data_dir.join(CONSENT_FILE), MAX_STATE_BYTES)
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice::<Consent>(&bytes).ok())
            .unwrap_or_default();
        let enabled = Arc::new(AtomicBool::new(consent.upload));
        let (wake, woken) = std::sync::mpsc::sync_channel(1);
        if let Some(dsn) = dsn.clone() {
            let (enabled, data_dir) = (enabled.clone(), data_dir.clone());
            let _ = std::thread::Builder::new()
                .name("crash-upload".into())
                .spawn(move || run(&dsn, &enabled, &data_dir, &log, &release, &woken));
        }
        let uploader = Uploader { dsn, data_dir, enabled, wake };
        uploader.nudge();
        uploader
    }

    pub(crate) fn status(&self) -> UploadStatus {
        UploadStatus { configured: self.dsn.is_some(), enabled: self.enabled.load(Ordering::SeqCst) }
    }

    /// Saves the user's choice; turning it on sends what is pending.
    pub(crate) fn set_enabled(&self, on: bool) -> Result<UploadStatus, String> {
        if self.dsn.is_none() {
            return Err("this build has no crash-report endpoint; nothing can be sent".into());
        }
        let json = serde_json::to_vec(&Consent { upload: on }).map_err(|e| e.to_string())?;
        write_atomic(&self.data_dir.join(CONSENT_FILE), &json)?;
        self.enabled.store(on, Ordering::SeqCst);
        self.nudge();
        Ok(self.status())
    }

    /// A new record may be waiting (the panic hook wrote one).
    pub(crate) fn nudge(&self) {
        let _ = self.wake.try_send(());
    }

    pub(crate) fn waker(&self) -> SyncSender<()> {
        self.wake.clone()
    }
}

/// How long one envelope may take to reach the endpoint.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// The envelope transport: a blocking POST over the same reqwest build and
/// TLS (rustls on `ring`, the OS roots) as the updater, one request per
/// envelope, its outcome kept so that a record counts as sent only when the
/// endpoint answered 2xx. Sentry's own reqwest transport is not used: it
/// would pull reqwest 0.13 with aws-lc-rs or no crypto provider (see the
/// updater's Cargo.toml), a tokio runtime, and it cannot say whether an
/// envelope arrived.
struct Envelopes {
    client: reqwest::blocking::Client,
    url: String,
    auth: String,
    outcome: Mutex<Option<Result<(), NotSent>>>,
}

/// Why an envelope did not arrive, and whether trying later may help.
#[derive(Debug)]
struct NotSent {
    why: String,
    /// Network errors, 429 and 5xx: later. Other answers (400, 413…) refuse
    /// this record for good: it is given up, so newer ones still go out.
    retry: bool,
}

impl sentry::Transport for Envelopes {
    fn send_envelope(&self, envelope: sentry::Envelope) {
        let mut body = Vec::new();
        let outcome = match envelope.to_writer(&mut body) {
            Err(e) => Err(NotSent { why: e.to_string(), retry: false }),
            Ok(()) => self
                .client
                .post(&self.url)
                .header("X-Sentry-Auth", &self.auth)
                .header("Content-Type", "application/x-sentry-envelope")
                .body(body)
                .send()
                .map_err(|e| NotSent { why: e.without_url().to_string(), retry: true })
                .and_then(|response| match response.status() {
                    status if status.is_success() => Ok(()),
                    status => Err(NotSent {
                        why: format!("the crash-report endpoint answered HTTP {status}"),
                        retry: status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
                    }),
                }),
        };
        *self.outcome.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(outcome);
    }
}

impl Envelopes {
    fn take_outcome(&self) -> Result<(), NotSent> {
        self.outcome
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| Err(NotSent { why: "the event was dropped before sending".to_owned(), retry: false }))
    }
}

fn run(dsn: &str, enabled: &AtomicBool, data_dir: &Path, log: &Log, release: &str, woken: &Receiver<()>) {
    let Some(log_dir) = log.dir().map(Path::to_path_buf) else { return };
    let parsed = match dsn.parse::<sentry::types::Dsn>() {
        Ok(parsed) => parsed,
        Err(e) => {
            log.shell(&format!("crash upload is off: the build's crash-report endpoint is not a DSN ({e})"));
            return;
        }
    };
    // The app version, not the crate's (which does not follow releases).
    let agent = format!("hudson-desktop/{release}");
    let mut builder = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .timeout(SEND_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(&agent);
    // A loopback endpoint: no proxy may see the requests.
    if signing::policy::is_loopback(&parsed.envelope_api_url()) {
        builder = builder.no_proxy();
    }
    let client = match builder.build() {
        Ok(client) => client,
        Err(e) => {
            log.shell(&format!("crash upload is off: no HTTPS client ({e})"));
            return;
        }
    };
    let transport = Arc::new(Envelopes {
        client,
        url: parsed.envelope_api_url().to_string(),
        auth: parsed.to_auth(Some(&agent)).to_string(),
        outcome: Mutex::new(None),
    });
    // Our redactor over every text field, the last step before the envelope
    // leaves: the log's, so it knows every secret this run handed out (the
    // handshake token, the secure store's values) besides the patterns, and
    // any run of 32+ hex digits (a token nobody told it about).
    let before = log.clone();
    let mut options = sentry::ClientOptions::default();
    options.dsn = Some(parsed);
    options.release = Some(release.to_owned().into());
    options.transport = Some(Arc::new(transport.clone()));
    options.before_send = Some(Arc::new(move |mut event| {
        let redactor = before.redactor();
        event.message = event.message.map(|m| redactor.redact_output(&m).into_owned());
        for value in event.extra.values_mut() {
            if let Some(text) = value.as_str() {
                *value = redactor.redact_output(text).into_owned().into();
            }
        }
        Some(event)
    }));
    let client = sentry::Client::from(options);
    while woken.recv().is_ok() {
        if !enabled.load(Ordering::SeqCst) {
            continue;
        }
        let mut sent = sent_names(data_dir);
        let records = crate::crash::records(&log_dir);
        // Only names still in the folder: the list stays as short as it.
        let known = sent.len();
        sent.retain(|n| records.iter().any(|r| r.file_name().is_some_and(|f| f.to_string_lossy() == n.as_str())));
        if sent.len() != known {
            remember(data_dir, &sent, log);
        }
        for record in records {
            let Some(name) = record.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
            if sent.contains(&name) || !enabled.load(Ordering::SeqCst) {
                continue;
            }
            let Some(event) = event(&record, log) else {
                log.shell(&format!("crash upload: {name} is not a crash record; skipped"));
                sent.push(name);
                remember(data_dir, &sent, log);
                continue;
            };
            client.capture_event(event, None);
            match transport.take_outcome() {
                Ok(()) => log.shell(&format!("crash upload: sent {name}")),
                Err(NotSent { why, retry: true }) => {
                    // Tried again at the next crash, switch or launch.
                    log.shell(&format!("crash upload: {name} not sent, will try again: {why}"));
                    break;
                }
                Err(NotSent { why, retry: false }) => log.shell(&format!("crash upload: {name} given up: {why}")),
            }
            // Saved after each record, so a crash right after a send does
            // not send it twice.
            sent.push(name);
            remember(data_dir, &sent, log);
        }
    }
}

/// Saves the names of the records sent (or given up).
fn remember(data_dir: &Path, sent: &[String], log: &Log) {
    if let Err(e) = serde_json::to_vec(sent)
        .map_err(|e| e.to_string())
        .and_then(|json| write_atomic(&data_dir.join(SENT_FILE), &json))
    {
        log.shell(&format!("crash upload: cannot remember what was sent: {e}"));
    }
}

fn sent_names(data_dir: &Path) -> Vec<String> {
    untrusted::read_optional(&data_dir.join(SENT_FILE), MAX_STATE_BYTES)
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// A crash record as a Sentry event: fatal, its message, the rest as extra,
/// each field redacted (and again in `before_send`).
fn event(record: &Path, log: &Log) -> Option<sentry::protocol::Event<'static>> {
    let bytes = untrusted::read(record, MAX_RECORD_BYTES).ok()?;
    let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes).ok()?;
    let redactor = log.redactor();
    let text = |key: &str| fields.get(key).and_then(|v| v.as_str()).map(|s| redactor.redact_output(s).into_owned());
    let mut event =
        sentry::protocol::Event { level: sentry::Level::Fatal, message: text("message"), ..Default::default() };
    for key in ["kind", "time", "shell_version", "os", "arch", "thread", "location", "backtrace"] {
        if let Some(value) = text(key) {
            event.extra.insert(key.to_owned(), value.into());
        }
    }
    Some(event)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    hudson_updater::write_atomic(path, bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(dir: &Path) -> Log {
        Log::open(dir, "test.log", Default::default(), false)
    }

    #[test]
    fn a_record_becomes_a_fatal_event_with_every_field_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path());
        log.add_secret("held-by-the-store-42");
        let record = dir.path().join("crash-1-1.json");
        let fields = serde_json::json!({
            "kind": "shell-panic",
            "message": "no connection to postgres://u:pa55word@db.internal/prod",
            "backtrace": "0: with held-by-the-store-42 and 0123456789abcdef0123456789abcdef0123",
            "thread": "main",
        });
        std::fs::write(&record, fields.to_string()).unwrap();
        let event = event(&record, &log).unwrap();
        assert_eq!(event.level, sentry::Level::Fatal);
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.contains("no connection to") && text.contains("\"thread\":\"main\""), "{text}");
        for secret in ["pa55word", "db.internal", "held-by-the-store-42", "0123456789abcdef0123"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[test]
    fn not_a_record_is_no_event() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path());
        for (name, bytes) in [("crash-1-1.json", &b"{\"message\": tru"[..]), ("crash-2-1.json", b"[1, 2]")] {
            std::fs::write(dir.path().join(name), bytes).unwrap();
            assert!(event(&dir.path().join(name), &log).is_none(), "{name}");
        }
        assert!(event(&dir.path().join("missing.json"), &log).is_none());
    }

    #[test]
    fn without_an_endpoint_the_switch_refuses_and_nothing_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        let uploader = Uploader::start(None, dir.path().join("data"), log(dir.path()), "0.1.0".into());
        assert!(!uploader.status().configured);
        assert!(uploader.set_enabled(true).unwrap_err().contains("no crash-report endpoint"));
        assert!(!dir.path().join("data").join(CONSENT_FILE).exists());
        // A DSN the transport rule refuses is no endpoint either.
        let refused = Uploader::start(
            Some("http://key@sentry.example/1".into()),
            dir.path().join("data"),
            log(dir.path()),
            "0.1.0".into(),
        );
        assert!(!refused.status().configured);
    }

    #[test]
    fn the_switch_is_saved_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let dsn = Some("http://key@127.0.0.1:9/1".to_owned());
        let uploader = Uploader::start(dsn.clone(), data.clone(), log(dir.path()), "0.1.0".into());
        assert!(uploader.status().configured && !uploader.status().enabled, "off by default");
        assert!(uploader.set_enabled(true).unwrap().enabled);
        let again = Uploader::start(dsn, data, log(dir.path()), "0.1.0".into());
        assert!(again.status().enabled);
    }
}
