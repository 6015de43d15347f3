//! The shell's end of the secure-storage channel (`contract::storage`): the
//! backend's framed stdout lines become requests for a [`Handler`], and
//! their answers go back, framed, on the backend's stdin. The process
//! module feeds it; what a request does (the OS store) is the handler's.

use std::io::Write;
use std::process::ChildStdin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::contract::storage::{self, ErrorCode, Request, Response};

/// Answers storage requests. Called from one thread, one request at a
/// time, in the order the backend sent them.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> Response;

    /// A line the channel answered itself, with an error (malformed,
    /// oversized): for the log. The default drops it.
    fn refused(&self, _answer: &Response) {}
}

/// A handler, as [`crate::LaunchSpec::storage`] holds it.
#[derive(Clone)]
pub struct Storage(Arc<dyn Handler>);

impl Storage {
    pub fn new(handler: impl Handler) -> Storage {
        Storage(Arc::new(handler))
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage(..)")
    }
}

/// What the stdout reader hands over.
pub(crate) enum Frame {
    /// A frame's payload (without the mark and the newline).
    Line(Vec<u8>),
    /// A frame longer than [`storage::MAX_FRAME_BYTES`]; the rest of its
    /// line was read and dropped.
    Oversized,
}

/// The write end of the backend's stdin, shared by the process (which
/// closes it to ask the backend to stop) and the channel (which answers on
/// it).
#[derive(Debug, Default, Clone)]
pub(crate) struct Stdin {
    pipe: Arc<Mutex<Option<ChildStdin>>>,
    closing: Arc<AtomicBool>,
}

impl Stdin {
    pub(crate) fn new(pipe: Option<ChildStdin>) -> Stdin {
        Stdin { pipe: Arc::new(Mutex::new(pipe)), closing: Arc::default() }
    }

    /// Closes the pipe. A write in progress (a backend that stopped reading
    /// with the pipe full) cannot hold this up for more than a second: the
    /// writer closes it when its write ends, which the stop's kill forces.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            if let Ok(mut pipe) = self.pipe.try_lock() {
                *pipe = None;
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn write(&self, bytes: &[u8]) -> bool {
        let Ok(mut pipe) = self.pipe.lock() else { return false };
        let written = match pipe.as_mut() {
            Some(stdin) => stdin.write_all(bytes).and_then(|()| stdin.flush()).is_ok(),
            None => false,
        };
        if self.closing.load(Ordering::SeqCst) {
            *pipe = None;
        }
        written
    }
}

/// The answer to one frame.
pub(crate) fn answer(handler: &dyn Handler, frame: Frame) -> Response {
    let refused = match frame {
        Frame::Oversized => Response::error(
            None,
            ErrorCode::Malformed,
            format!("a storage request longer than {} bytes was dropped unread", storage::MAX_FRAME_BYTES),
        ),
        Frame::Line(payload) => match storage::parse_request(&payload) {
            Ok(request) => return handler.handle(request),
            Err(answer) => answer,
        },
    };
    handler.refused(&refused);
    refused
}

/// Answers frames until the backend's stdout closes.
pub(crate) fn serve(storage: Storage, frames: Receiver<Frame>, stdin: Stdin) {
    thread::Builder::new()
        .name("backend-storage".into())
        .spawn(move || {
            for frame in frames {
                let response = answer(storage.0.as_ref(), frame);
                // A closed stdin means the backend is stopping: later
                // answers have nobody to read them, but the frames are
                // still drained so the reader never blocks.
                stdin.write(&response.to_frame());
            }
        })
        .expect("spawn the storage channel thread");
}
