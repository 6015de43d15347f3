//! Answers the backend's storage requests (`contract::storage`) from the
//! [`SecureStore`]: checks the key and the value size, runs the call with a
//! deadline (a locked keyring may wait for its user), and adds every value
//! it hands out or stores to the log redactor for the rest of the run. The
//! first request first moves the pilot's credentials file in ([`crate::pilot`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hudson_lifecycle::channel::Handler;
use hudson_lifecycle::contract::storage::{ErrorCode, MAX_VALUE_BYTES, Op, Request, Response};
use hudson_lifecycle::logs::Log;

use crate::store::{Error, SecureStore};

/// How long one call may take before the backend hears `unavailable`.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub struct Server {
    store: Arc<SecureStore>,
    log: Log,
    deadline: Duration,
    pilot: Option<PathBuf>,
    /// The pilot file's import was started (by the first call's worker).
    imported: Arc<AtomicBool>,
    /// A call outlived its deadline and still runs: later calls answer
    /// `unavailable` at once instead of queueing behind it.
    stuck: Arc<AtomicBool>,
}

impl Server {
    /// Answers from `store`, logging (key names, never values) to `log`,
    /// whose redactor learns every value. `pilot`: the pilot's credentials
    /// file to import before the first answer, if it exists.
    pub fn new(store: Arc<SecureStore>, log: Log, pilot: Option<PathBuf>) -> Server {
        Server { store, log, deadline: DEADLINE, pilot, imported: Arc::default(), stuck: Arc::default() }
    }

    /// A shorter deadline (tests).
    pub fn with_deadline(mut self, deadline: Duration) -> Server {
        self.deadline = deadline;
        self
    }

    fn run(&self, request: Request) -> Result<Option<String>, Error> {
        if let Some(value) = &request.value {
            if value.len() > MAX_VALUE_BYTES {
                return Err(Error::too_large(value.len()));
            }
            // Before the store sees it: a line that echoes it is masked.
            self.log.add_secret(value);
        }
        if self.stuck.load(Ordering::SeqCst) {
            return Err(Error::Unavailable(format!(
                "the {} has not answered an earlier request yet; it may be locked and waiting for you to \
                 unlock it. Try again once it is unlocked.",
                self.store.kind()
            )));
        }
        let store = self.store.clone();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let key = request.key.clone();
        let import = self.pilot.clone().filter(|_| !self.imported.swap(true, Ordering::SeqCst));
        let log = self.log.clone();
        let stuck = self.stuck.clone();
        std::thread::Builder::new()
            .name("secure-storage-call".into())
            .spawn(move || {
                // First call: the pilot's file, under the same deadline.
                if let Some(path) = import {
                    crate::pilot::import_and_log(&path, &store, &log);
                }
                let result = match request.op {
                    Op::Get => store.get(&request.key).map(Some),
                    Op::Put => store.put(&request.key, request.value.as_deref().unwrap_or_default()).map(|()| None),
                    Op::Delete => store.delete(&request.key).map(|()| None),
                };
                let _ = tx.send(result);
                stuck.store(false, Ordering::SeqCst);
            })
            .map_err(|e| Error::Failed(format!("could not start a store call: {e}")))?;
        let result = rx.recv_timeout(self.deadline).unwrap_or_else(|_| {
            self.stuck.store(true, Ordering::SeqCst);
            Err(Error::Unavailable(format!(
                "the {} did not answer within {} s for {key:?}; it may be locked and waiting for you to unlock it \
                 (the call may still complete once it answers)",
                self.store.kind(),
                self.deadline.as_secs()
            )))
        });
        if let Ok(Some(value)) = &result {
            self.log.add_secret(value);
        }
        result
    }
}

impl Handler for Server {
    fn handle(&self, request: Request) -> Response {
        let (id, op, key) = (request.id, request.op, request.key.clone());
        let verb = match op {
            Op::Get => "get",
            Op::Put => "put",
            Op::Delete => "delete",
        };
        match self.run(request) {
            Ok(value) => {
                if op != Op::Get {
                    self.log.shell(&format!("secure storage: {verb} {key:?} done"));
                }
                Response::ok(id, value)
            }
            Err(error) => {
                if error.code() != ErrorCode::NotFound {
                    self.log.shell(&format!("secure storage: {verb} {key:?} refused: {error}"));
                }
                Response::error(Some(id), error.code(), error.to_string())
            }
        }
    }

    fn refused(&self, answer: &Response) {
        if let Some(error) = &answer.error {
            self.log.shell(&format!("secure storage: a request from the backend was refused: {}", error.message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{missing, mock};

    fn request(id: u64, op: Op, key: &str, value: Option<&str>) -> Request {
        Request { id, op, key: key.into(), value: value.map(str::to_owned) }
    }

    #[test]
    fn answers_carry_the_request_id_and_values_reach_the_redactor() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), "t.log", Default::default(), false);
        let server = Server::new(Arc::new(mock()), log.clone(), None);
        let put = server.handle(request(41, Op::Put, "shopify_token", Some("no-pattern-matches-this")));
        assert_eq!((put.id, put.ok), (Some(41), true));
        let got = server.handle(request(42, Op::Get, "shopify_token", None));
        assert_eq!((got.id, got.value.as_deref()), (Some(42), Some("no-pattern-matches-this")));
        assert_eq!(log.redact("value no-pattern-matches-this here"), "value [REDACTED] here");
        let missing_key = server.handle(request(43, Op::Get, "nothing", None));
        assert_eq!(missing_key.error.unwrap().code, ErrorCode::NotFound);
        let bad = server.handle(request(44, Op::Put, "a b", Some("v")));
        assert_eq!((bad.id, bad.error.unwrap().code), (Some(44), ErrorCode::InvalidKey));
        let big = server.handle(request(45, Op::Put, "k", Some(&"v".repeat(MAX_VALUE_BYTES + 1))));
        assert_eq!(big.error.unwrap().code, ErrorCode::TooLarge);
        let text = std::fs::read_to_string(dir.path().join("t.log")).unwrap();
        assert!(text.contains("\"shopify_token\"") && !text.contains("no-pattern-matches-this"), "{text}");
    }

    #[test]
    fn no_store_answers_unavailable_and_a_hung_store_times_out() {
        let log = Log::stderr_only();
        let server = Server::new(Arc::new(missing()), log.clone(), None);
        let answer = server.handle(request(1, Op::Put, "k", Some("v")));
        let error = answer.error.unwrap();
        assert_eq!(error.code, ErrorCode::Unavailable);
        assert!(error.message.contains("Install gnome-keyring"), "{}", error.message);

        let hung = SecureStore::with_connector(
            "dev.hudson.test",
            "test store",
            "",
            Box::new(|| {
                std::thread::sleep(Duration::from_secs(5));
                Err(keyring_core::Error::NoDefaultStore)
            }),
        );
        let server = Server::new(Arc::new(hung), log, None).with_deadline(Duration::from_millis(200));
        let answer = server.handle(request(2, Op::Get, "k", None));
        let error = answer.error.unwrap();
        assert_eq!((answer.id, error.code), (Some(2), ErrorCode::Unavailable));
        assert!(error.message.contains("did not answer"), "{}", error.message);
        // While that call still hangs, the next is answered at once.
        let started = std::time::Instant::now();
        let next = server.handle(request(3, Op::Get, "k", None)).error.unwrap();
        assert!(next.message.contains("has not answered an earlier request"), "{}", next.message);
        assert!(started.elapsed() < Duration::from_millis(150), "the next call queued behind the hung one");
    }
}
