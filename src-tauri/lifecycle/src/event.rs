//! What the backend did, as the one channel [`crate::Backend`] waits on
//! carries it: its output lines and its exit (sent by [`crate::process`]),
//! and changes in its launch directory (sent by the handshake watcher).
//! Below both `process` and `backend`, so that imports point one way:
//! `backend` → `process` → `event`.

use std::process::ExitStatus;

/// Something the backend process did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// One line of output.
    Output(Stream, String),
    /// The process ended.
    Exited(Exit),
    /// The launch directory changed (the handshake may have arrived).
    HandshakeTouched,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How the backend ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    Unknown,
}

impl From<ExitStatus> for Exit {
    fn from(status: ExitStatus) -> Self {
        if let Some(code) = status.code() {
            return Exit::Code(code);
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(signal) = status.signal() {
                return Exit::Signal(signal);
            }
        }
        Exit::Unknown
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => write!(f, "signal {signal}"),
            Exit::Unknown => f.write_str("unknown status"),
        }
    }
}
