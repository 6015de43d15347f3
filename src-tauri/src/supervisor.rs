//! The thread that owns the backend: starts it, reports to the window, and
//! stops it on request. It lives as long as the app, which is what Linux's
//! parent-death signal needs (it fires when the spawning thread ends).

use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, select, unbounded};
use hudson_lifecycle::{Backend, Event, LaunchSpec, Notice, ShutdownReport};

/// Longest wait for a graceful stop before the backend's group is killed.
pub const GRACE: Duration = Duration::from_secs(5);

/// What the supervisor tells the GUI.
#[derive(Debug, Clone)]
pub enum Status {
    Starting,
    Ready { origin: String, enter_url: String },
    Failed { reason: String, tail: Vec<String> },
}

enum Command {
    Restart,
    Shutdown(Sender<Option<ShutdownReport>>),
}

/// Handle to the supervisor thread.
#[derive(Clone)]
pub struct Supervisor {
    commands: Sender<Command>,
}

impl Supervisor {
    pub fn spawn(spec: LaunchSpec, report: impl Fn(Status) + Send + 'static) -> Supervisor {
        let (commands, inbox) = unbounded();
        thread::Builder::new()
            .name("backend-supervisor".into())
            .spawn(move || supervise(spec, inbox, report))
            .expect("spawn the backend supervisor");
        Supervisor { commands }
    }

    pub fn restart(&self) {
        let _ = self.commands.send(Command::Restart);
    }

    /// Stops the backend and waits (at most the grace period plus the kill).
    pub fn shutdown(&self) -> Option<ShutdownReport> {
        let (tx, rx) = bounded(1);
        self.commands.send(Command::Shutdown(tx)).ok()?;
        rx.recv_timeout(GRACE + Duration::from_secs(6)).ok().flatten()
    }
}

fn log(notice: Notice<'_>) {
    match notice {
        Notice::Output(stream, line) => eprintln!("[backend {stream:?}] {line}"),
        Notice::Spawned { pid, program } => eprintln!("[shell] started backend pid {pid}: {}", program.display()),
        Notice::Refused(e) => eprintln!("[shell] {e}"),
        Notice::Accepted(source, port) => eprintln!("[shell] backend ready on port {port} ({source:?})"),
    }
}

enum Next {
    Restart,
    WaitForUser,
    Stop,
}

fn supervise(spec: LaunchSpec, inbox: Receiver<Command>, report: impl Fn(Status)) {
    loop {
        report(Status::Starting);
        let next = match Backend::start(&spec, &mut log) {
            Ok(backend) => run(backend, &inbox, &report),
            Err(e) => {
                report(Status::Failed { reason: e.to_string(), tail: e.tail().to_vec() });
                Next::WaitForUser
            }
        };
        let restart = match next {
            Next::Restart => true,
            Next::Stop => false,
            Next::WaitForUser => match inbox.recv() {
                Ok(Command::Restart) => true,
                Ok(Command::Shutdown(reply)) => {
                    let _ = reply.send(None);
                    false
                }
                Err(_) => false,
            },
        };
        if !restart {
            return;
        }
    }
}

/// Watches a running backend until it exits or a command arrives.
fn run(mut backend: Backend, inbox: &Receiver<Command>, report: &impl Fn(Status)) -> Next {
    report(Status::Ready { origin: backend.origin(), enter_url: backend.enter_url() });
    loop {
        select! {
            recv(backend.events()) -> event => match event {
                Ok(Event::Exited(exit)) => {
                    report(Status::Failed {
                        reason: format!("the backend stopped unexpectedly ({exit})"),
                        tail: backend.tail(),
                    });
                    return Next::WaitForUser;
                }
                Ok(event) => {
                    if let Event::Output(stream, line) = &event {
                        log(Notice::Output(*stream, line));
                    }
                    backend.record(&event);
                }
                Err(_) => return Next::WaitForUser,
            },
            recv(inbox) -> command => match command {
                Ok(Command::Restart) => {
                    backend.shutdown(GRACE, &mut log);
                    return Next::Restart;
                }
                Ok(Command::Shutdown(reply)) => {
                    let done = backend.shutdown(GRACE, &mut log);
                    let _ = reply.send(Some(done));
                    return Next::Stop;
                }
                Err(_) => {
                    backend.shutdown(GRACE, &mut log);
                    return Next::Stop;
                }
            },
        }
    }
}
