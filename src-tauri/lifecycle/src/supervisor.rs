//! The thread that owns the backend: starts it, watches it, restarts it with
//! backoff when it dies, and stops it on request. The GUI only turns each
//! [`Status`] into a page and each menu item into a [`Supervisor`] call.
//!
//! The thread lives as long as the app, which is what Linux's parent-death
//! signal needs (it fires when the spawning thread ends).

use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, select, unbounded};

use crate::backend::{Backend, LaunchSpec, Notice, ShutdownReport, StartError, StartTimings};
use crate::event::{Event, Stream};
use crate::handshake::Token;
use crate::logs::{Log, Source};
use crate::restart::{RestartPolicy, Restarts};
use crate::shell_event::ShellEvent;

/// What the supervisor tells the GUI.
#[derive(Debug, Clone)]
pub enum Status {
    /// A start began (1 for the first, counting every restart).
    Starting { attempt: u32 },
    /// The backend serves and is healthy: show `enter_url`.
    Ready { origin: String, enter_url: String, version: String, timings: StartTimings },
    /// The backend died; it is started again after `delay`.
    Restarting { reason: String, delay: Duration, restart: u32, max: u32 },
    /// It could not be started, or died too often: the user decides.
    Failed { reason: String, tail: Vec<String> },
    /// `/healthz` reports NIFs that did not load: the installation is
    /// damaged. The backend has been stopped (never a half-working UI).
    Damaged { modules: Vec<(String, String)> },
    /// The backend refuses to run against a newer server schema.
    UpdateRequired { version: String },
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub restart: RestartPolicy,
    /// Longest wait for a graceful stop before the backend's group is killed.
    pub grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { restart: RestartPolicy::default(), grace: crate::contract::STOP_GRACE }
    }
}

enum Command {
    Restart,
    Shutdown(Sender<Option<ShutdownReport>>),
}

/// Handle to the supervisor thread.
#[derive(Clone, Debug)]
pub struct Supervisor {
    commands: Sender<Command>,
    cancel: Sender<()>,
    grace: Duration,
}

impl Supervisor {
    /// Starts the supervisor thread, which starts the backend at once.
    /// `report` is called from that thread.
    pub fn spawn(spec: LaunchSpec, options: Options, log: Log, report: impl Fn(Status) + Send + 'static) -> Supervisor {
        let (commands, inbox) = unbounded();
        let (cancel, cancelled) = bounded(1);
        thread::Builder::new()
            .name("backend-supervisor".into())
            .spawn(move || Run { spec, options, log, inbox, cancelled, report: Box::new(report) }.supervise())
            .expect("spawn the backend supervisor");
        Supervisor { commands, cancel, grace: options.grace }
    }

    /// Stops the backend (if running) and starts it again, with a fresh
    /// restart budget.
    pub fn restart(&self) {
        let _ = self.commands.send(Command::Restart);
    }

    /// Stops the backend and waits for it (at most the grace period plus the
    /// kill). A start in progress is abandoned at once.
    pub fn shutdown(&self) -> Option<ShutdownReport> {
        let _ = self.cancel.try_send(());
        let (tx, rx) = bounded(1);
        self.commands.send(Command::Shutdown(tx)).ok()?;
        rx.recv_timeout(self.grace + Duration::from_secs(6)).ok().flatten()
    }
}

/// Writes a start's notices to the log.
pub fn log_notice(log: &Log, notice: Notice<'_>) {
    match notice {
        Notice::Output(Stream::Stdout, line) => log.write(Source::BackendStdout, line),
        Notice::Output(Stream::Stderr, line) => log.write(Source::BackendStderr, line),
        Notice::Spawned { pid, program } => log.shell(&format!("started backend pid {pid}: {}", program.display())),
        Notice::Refused(e) => {
            log.shell(&e.to_string());
            log.event(&ShellEvent::HandshakeRefused { kind: e.kind().to_owned() });
        }
        Notice::Accepted(source, port) => log.shell(&format!("backend ready on port {port} ({source:?})")),
        Notice::Swept(count) => {
            log.shell(&format!(
                "removed {count} launch folder(s) left by earlier runs that did not exit cleanly (their files were not read)"
            ));
            log.event(&ShellEvent::LaunchFoldersRemoved { count });
        }
    }
}

/// How one backend run ended.
enum End {
    /// It died or failed in a way a restart may cure.
    Crashed {
        reason: String,
        tail: Vec<String>,
    },
    /// The user asked for a restart.
    Restart,
    /// Nothing to do until the user acts (error, damaged, update pages).
    WaitForUser,
    Stop,
}

struct Run {
    spec: LaunchSpec,
    options: Options,
    log: Log,
    inbox: Receiver<Command>,
    cancelled: Receiver<()>,
    report: Box<dyn Fn(Status) + Send>,
}

impl Run {
    fn supervise(self) {
        let mut restarts = Restarts::new(self.options.restart);
        let mut attempt = 0;
        loop {
            attempt += 1;
            (self.report)(Status::Starting { attempt });
            let mut end = self.start_and_watch();
            if let End::Crashed { reason, tail } = end {
                end = match restarts.next(Instant::now()) {
                    Some(delay) => {
                        let restart = restarts.count();
                        let max = self.options.restart.max_restarts;
                        self.log.shell(&format!("{reason}; restart {restart} of {max} in {delay:?}"));
                        (self.report)(Status::Restarting { reason, delay, restart, max });
                        match self.inbox.recv_timeout(delay) {
                            Ok(Command::Shutdown(reply)) => {
                                let _ = reply.send(None);
                                End::Stop
                            }
                            Ok(Command::Restart) => {
                                restarts.reset();
                                End::Restart
                            }
                            Err(_) => End::Restart,
                        }
                    }
                    None => {
                        let reason = format!(
                            "{reason}. It was restarted {} times within {} s and is not restarted again.",
                            restarts.count(),
                            self.options.restart.window.as_secs()
                        );
                        self.log.shell(&reason);
                        (self.report)(Status::Failed { reason, tail: self.redacted(&tail) });
                        End::WaitForUser
                    }
                };
            }
            match end {
                End::Restart => {}
                End::Stop => return,
                End::Crashed { .. } => unreachable!("handled above"),
                End::WaitForUser => match self.inbox.recv() {
                    Ok(Command::Restart) => {
                        restarts.reset();
                        self.log.shell("restart requested");
                    }
                    Ok(Command::Shutdown(reply)) => {
                        let _ = reply.send(None);
                        return;
                    }
                    Err(_) => return,
                },
            }
        }
    }

    fn notice(&self) -> impl FnMut(Notice<'_>) + '_ {
        |notice| log_notice(&self.log, notice)
    }

    fn redacted(&self, lines: &[String]) -> Vec<String> {
        lines.iter().map(|line| self.log.redact(line)).collect()
    }

    fn start_and_watch(&self) -> End {
        let token = Token::generate();
        // Before the backend can print it.
        self.log.add_secret(token.as_str());
        let started = Backend::start_cancellable(&self.spec, token, &mut self.notice(), &self.cancelled);
        let backend = match started {
            Ok(backend) => backend,
            Err(StartError::Cancelled) => {
                self.log.shell("start abandoned: the app is quitting");
                return self.reply_to_shutdown();
            }
            Err(e @ (StartError::Exited(..) | StartError::Health(..))) => {
                return End::Crashed { reason: e.to_string(), tail: e.tail().to_vec() };
            }
            Err(e) => {
                let reason = e.to_string();
                self.log.shell(&reason);
                (self.report)(Status::Failed { reason, tail: self.redacted(e.tail()) });
                return End::WaitForUser;
            }
        };
        let health = backend.health().clone();
        let damaged: Vec<(String, String)> =
            health.damaged_nifs().into_iter().map(|(m, s)| (m.to_owned(), s.to_owned())).collect();
        let refusal = if !damaged.is_empty() {
            let names: Vec<&str> = damaged.iter().map(|(m, _)| m.as_str()).collect();
            self.log.shell(&format!("installation damaged: NIF(s) not loaded: {}", names.join(", ")));
            Some(Status::Damaged { modules: damaged })
        } else if health.update_required() {
            self.log.shell(&format!("backend {} requires an update (server schema is newer)", health.version));
            Some(Status::UpdateRequired { version: health.version.clone() })
        } else if health.status != "ok" {
            let reason = format!("the backend reports status {:?}", health.status);
            self.log.shell(&reason);
            Some(Status::Failed { reason, tail: Vec::new() })
        } else {
            None
        };
        if let Some(status) = refusal {
            self.stop(backend);
            (self.report)(status);
            return End::WaitForUser;
        }
        self.watch(backend)
    }

    fn reply_to_shutdown(&self) -> End {
        // The cancel came with (or just before) a Shutdown command.
        if let Ok(Command::Shutdown(reply)) = self.inbox.recv_timeout(Duration::from_secs(1)) {
            let _ = reply.send(None);
        }
        End::Stop
    }

    /// Stops `backend` (stdin, SIGTERM, grace, kill) and logs how it went.
    fn stop(&self, backend: Backend) -> ShutdownReport {
        let report = backend.shutdown(self.options.grace, &mut self.notice());
        self.log_stopped(&report);
        report
    }

    fn log_stopped(&self, report: &ShutdownReport) {
        let how = match report.exit {
            Some(exit) => exit.to_string(),
            None => "no exit status".into(),
        };
        let forced = if report.forced { ", killed after the grace period" } else { "" };
        self.log.shell(&format!("backend stopped ({how}{forced}) in {:?}", report.took));
        let exit_code = match report.exit {
            Some(crate::event::Exit::Code(code)) => Some(code),
            _ => None,
        };
        self.log.event(&ShellEvent::BackendStopped { exit_code, killed: report.forced });
    }

    /// Watches a running backend until it exits or a command arrives.
    fn watch(&self, mut backend: Backend) -> End {
        self.log.shell(&format!("backend {} healthy on {}", backend.version(), backend.origin()));
        (self.report)(Status::Ready {
            origin: backend.origin(),
            enter_url: backend.enter_url(),
            version: backend.version().to_owned(),
            timings: backend.timings(),
        });
        loop {
            select! {
                recv(backend.events()) -> event => match event {
                    Ok(Event::Exited(exit)) => {
                        let reason = format!("the backend stopped unexpectedly ({exit})");
                        let tail = backend.tail();
                        // Its grandchildren share the process group.
                        backend.kill();
                        return End::Crashed { reason, tail };
                    }
                    Ok(event) => {
                        if let Event::Output(stream, line) = &event {
                            log_notice(&self.log, Notice::Output(*stream, line));
                        }
                        backend.record(&event);
                    }
                    Err(_) => return End::Crashed { reason: "lost track of the backend".into(), tail: backend.tail() },
                },
                recv(self.inbox) -> command => match command {
                    Ok(Command::Restart) => {
                        self.log.shell("restart requested");
                        self.stop(backend);
                        return End::Restart;
                    }
                    Ok(Command::Shutdown(reply)) => {
                        let _ = reply.send(Some(self.stop(backend)));
                        return End::Stop;
                    }
                    Err(_) => {
                        self.stop(backend);
                        return End::Stop;
                    }
                },
            }
        }
    }
}
