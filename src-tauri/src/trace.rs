//! The startup trace the benchmark reads: with `HUDSON_STARTUP_TRACE=<file>`
//! the shell appends one JSON line per milestone, stamped on the machine's
//! monotonic clock (`{"event":"healthy","ns":…}`). Without it, nothing is
//! written.

use std::fs::File;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use hudson_lifecycle::clock;

/// Names the trace file.
pub const ENV_TRACE: &str = "HUDSON_STARTUP_TRACE";

#[derive(Default)]
pub struct Trace {
    file: Option<Mutex<File>>,
}

impl Trace {
    pub fn from_env() -> Trace {
        let file = std::env::var_os(ENV_TRACE)
            .and_then(|path| std::fs::OpenOptions::new().create(true).append(true).open(path).ok());
        Trace { file: file.map(Mutex::new) }
    }

    pub fn mark(&self, event: &str) {
        self.write(event, clock::monotonic_ns());
    }

    pub fn mark_at(&self, event: &str, at: Instant) {
        self.write(event, clock::instant_ns(at));
    }

    fn write(&self, event: &str, ns: u64) {
        if let Some(file) = &self.file {
            let line = format!("{{\"event\":\"{event}\",\"ns\":{ns}}}\n");
            let _ = file.lock().unwrap_or_else(|e| e.into_inner()).write_all(line.as_bytes());
        }
    }
}
