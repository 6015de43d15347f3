//! Starting the backend per the contract and stopping it.
//!
//! [`Backend::start`] spawns the process with a fresh launch directory and
//! token, waits — driven by events, not a sleep loop — for the handshake file
//! (watched with inotify/FSEvents) or the `PORT:` line on stdout, confirms
//! `/healthz` once with a bounded retry, and gives up at an overall deadline.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select, unbounded};

use crate::contract::{self, HandshakeDoc, HealthDoc};
use crate::event::{Event, Exit, Stream};
use crate::handshake::{HandshakeError, LaunchDir, Token, read_handshake, sweep_stale};
use crate::health::{HealthClient, HealthError};
use crate::process::{Process, ProcessSpec};

/// How to start the backend.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    /// Extra environment on top of the contract's variables.
    pub env: Vec<(OsString, OsString)>,
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
    /// Folder for per-launch directories, see
    /// [`crate::handshake::default_runtime_base`].
    pub runtime_base: PathBuf,
    /// From spawn to confirmed health. Default 30 s.
    pub startup_timeout: Duration,
    /// Health requests before giving up (bounded retry). Default 5.
    pub health_attempts: u32,
    /// How readiness is detected. Always [`Readiness::Handshake`] in the
    /// shell; the startup benchmark also measures a polling baseline.
    pub readiness: Readiness,
    /// Answers the backend's secure-storage requests; `None`: the backend
    /// runs without a store (`HUDSON_SECURE_STORAGE` unset).
    pub storage: Option<crate::channel::Storage>,
}

/// How [`Backend::start`] learns that the backend serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Readiness {
    /// The handshake file (watched) or the stdout `PORT:` line: no polling.
    #[default]
    Handshake,
    /// Benchmark baseline only, the way ex_tauri-style shells start a
    /// sidecar: pick a free port, pass it in `PORT`, and try a TCP connect
    /// every `interval` until one succeeds.
    TcpPoll { interval: Duration },
}

impl LaunchSpec {
    /// A spec for a `mix release` directory: runs `bin/<release> start`.
    pub fn for_release(
        release_dir: &Path,
        release_name: &str,
        data_dir: PathBuf,
        log_dir: PathBuf,
        runtime_base: PathBuf,
    ) -> Self {
        let script = if cfg!(windows) { format!("bin/{release_name}.bat") } else { format!("bin/{release_name}") };
        LaunchSpec::new(release_dir.join(script), vec!["start".into()], data_dir, log_dir, runtime_base)
    }

    /// A spec for a single-binary sidecar (Burrito): runs the binary itself.
    pub fn for_sidecar(binary: &Path, data_dir: PathBuf, log_dir: PathBuf, runtime_base: PathBuf) -> Self {
        LaunchSpec::new(binary.to_path_buf(), Vec::new(), data_dir, log_dir, runtime_base)
    }

    /// The defaults: the data folder as working directory, a 30 s startup
    /// timeout, 5 health attempts, handshake readiness.
    fn new(program: PathBuf, args: Vec<OsString>, data_dir: PathBuf, log_dir: PathBuf, runtime_base: PathBuf) -> Self {
        LaunchSpec {
            program,
            args,
            cwd: Some(data_dir.clone()),
            env: Vec::new(),
            data_dir,
            log_dir,
            runtime_base,
            startup_timeout: Duration::from_secs(30),
            health_attempts: 5,
            readiness: Readiness::Handshake,
            storage: None,
        }
    }
}

/// Where the port came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeSource {
    /// The handshake file, with token and pid checked.
    File,
    /// The `PORT:` line on the child's own stdout (the file never arrived or
    /// was refused).
    StdoutLine,
    /// A TCP connect to the port passed in `PORT` succeeded
    /// ([`Readiness::TcpPoll`], benchmark baseline).
    TcpPoll,
}

/// Monotonic timestamps of one start.
#[derive(Debug, Clone, Copy)]
pub struct StartTimings {
    pub spawned: Instant,
    /// When the shell learnt the port (handshake accepted, or poll succeeded).
    pub handshake: Instant,
    /// When the backend itself said it serves (its `PORT:` line or handshake
    /// file), however late the shell noticed.
    pub backend_ready: Instant,
    pub healthy: Instant,
    pub source: HandshakeSource,
}

/// The last lines the backend printed, for error pages and reports.
#[derive(Debug, Clone, Default)]
pub struct Tail {
    lines: VecDeque<String>,
}

impl Tail {
    const KEEP: usize = 40;

    pub fn push(&mut self, line: &str) {
        if self.lines.len() == Self::KEEP {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_owned());
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}

/// Something worth a line in the shell's log while starting.
#[derive(Debug, Clone)]
pub enum Notice<'a> {
    Output(Stream, &'a str),
    Spawned {
        pid: u32,
        program: &'a Path,
    },
    /// A handshake file was refused (planted, stale, symlink…).
    Refused(&'a HandshakeError),
    Accepted(HandshakeSource, u16),
    /// Launch folders of earlier runs that did not exit were removed.
    Swept(usize),
}

/// A backend that answered its health check.
#[derive(Debug)]
pub struct Backend {
    process: Process,
    events: Receiver<Event>,
    handshake: HandshakeDoc,
    health: HealthDoc,
    token: Token,
    timings: StartTimings,
    client: HealthClient,
    tail: Tail,
    // Dropped last: removes the launch directory.
    _watcher: Option<notify::RecommendedWatcher>,
    _launch_dir: LaunchDir,
}

impl Backend {
    /// Starts the backend and waits until it serves. `notice` receives the
    /// backend's output and the start's decisions as they happen.
    ///
    /// On Linux, call this from a thread that lives as long as the backend:
    /// the parent-death signal fires when the spawning thread ends.
    pub fn start(spec: &LaunchSpec, notice: &mut dyn FnMut(Notice<'_>)) -> Result<Backend, StartError> {
        Self::start_cancellable(spec, Token::generate(), notice, &crossbeam_channel::never())
    }

    /// [`Backend::start`] with the caller's `token` (so that it can be
    /// registered for redaction before the backend prints anything), which
    /// gives up as soon as `cancel` receives: the user quit while the backend
    /// was starting. The half-started backend is stopped before this returns
    /// [`StartError::Cancelled`].
    pub fn start_cancellable(
        spec: &LaunchSpec,
        token: Token,
        notice: &mut dyn FnMut(Notice<'_>),
        cancel: &Receiver<()>,
    ) -> Result<Backend, StartError> {
        let deadline = Instant::now() + spec.startup_timeout;
        let swept = sweep_stale(&spec.runtime_base);
        if swept > 0 {
            notice(Notice::Swept(swept));
        }
        let launch_dir = LaunchDir::create(&spec.runtime_base).map_err(StartError::LaunchDir)?;
        let handshake_path = launch_dir.handshake_file();
        let (tx, events) = unbounded();
        let watcher = watch_dir(launch_dir.path(), &handshake_path, tx.clone());

        for dir in [&spec.data_dir, &spec.log_dir] {
            std::fs::create_dir_all(dir).map_err(|e| StartError::Spawn(spec.program.clone(), e.to_string()))?;
        }
        let mut env = contract_env(spec, &handshake_path, &token, launch_dir.path());
        let polled_port = match spec.readiness {
            Readiness::Handshake => None,
            Readiness::TcpPoll { .. } => {
                let port = pick_free_port().map_err(|e| StartError::Spawn(spec.program.clone(), e.to_string()))?;
                env.push((contract::ENV_PORT.into(), port.to_string().into()));
                Some(port)
            }
        };
        let process_spec = ProcessSpec {
            program: spec.program.clone(),
            args: spec.args.clone(),
            cwd: spec.cwd.clone(),
            env,
            storage: spec.storage.clone(),
        };
        if !spec.program.is_file() {
            return Err(StartError::Spawn(spec.program.clone(), "no such file (is the installation complete?)".into()));
        }
        // Built before the spawn (a blocking client starts a runtime thread),
        // so that confirming health adds only the request itself.
        let client = HealthClient::new();
        let spawned = Instant::now();
        let mut process =
            Process::spawn(&process_spec, tx).map_err(|e| StartError::Spawn(spec.program.clone(), e.to_string()))?;
        notice(Notice::Spawned { pid: process.pid(), program: &spec.program });

        let mut tail = Tail::default();
        let wait = Wait { events: &events, cancel, deadline };
        let waited = match (spec.readiness, polled_port) {
            (Readiness::TcpPoll { interval }, Some(port)) => {
                wait.for_connect(port, interval, process.pid(), &mut tail, notice)
            }
            _ => wait.for_handshake(&handshake_path, &token, process.pid(), &mut tail, notice),
        };
        let (handshake, source, backend_ready) = match waited {
            Ok(found) => found,
            // Its exit was already seen; only grandchildren may be left.
            Err(e @ StartError::Exited(..)) => {
                process.kill();
                return Err(e);
            }
            Err(e) => {
                stop(&mut process, &events, contract::STOP_GRACE, &mut tail, notice);
                return Err(e);
            }
        };
        let handshake_at = Instant::now();
        notice(Notice::Accepted(source, handshake.port));

        let budget = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(500));
        let health = match client.confirm(handshake.port, spec.health_attempts, budget) {
            Ok(health) => health,
            Err(e) => {
                stop(&mut process, &events, contract::STOP_GRACE, &mut tail, notice);
                return Err(StartError::Health(e, tail.lines()));
            }
        };
        let timings = StartTimings { spawned, handshake: handshake_at, backend_ready, healthy: Instant::now(), source };
        Ok(Backend {
            process,
            events,
            handshake,
            health,
            token,
            timings,
            client,
            tail,
            _watcher: watcher,
            _launch_dir: launch_dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.handshake.port
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn token(&self) -> &str {
        self.token.as_str()
    }

    pub fn version(&self) -> &str {
        &self.health.version
    }

    /// The health document confirmed at start.
    pub fn health(&self) -> &HealthDoc {
        &self.health
    }

    pub fn timings(&self) -> StartTimings {
        self.timings
    }

    pub fn enter_url(&self) -> String {
        contract::enter_url(self.port(), self.token())
    }

    pub fn origin(&self) -> String {
        contract::origin(self.port())
    }

    /// The backend's later output and its exit. The owner drains this and
    /// passes each event to [`Backend::record`].
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Keeps the output tail current.
    pub fn record(&mut self, event: &Event) {
        if let Event::Output(_, line) = event {
            self.tail.push(line);
        }
    }

    pub fn tail(&self) -> Vec<String> {
        self.tail.lines()
    }

    /// Asks `/healthz` again.
    pub fn check_health(&self, timeout: Duration) -> Result<HealthDoc, HealthError> {
        self.client.check(self.port(), timeout)
    }

    /// Closes stdin, sends SIGTERM to the process group, waits up to `grace`,
    /// then kills the group. Output seen meanwhile goes to `notice`.
    pub fn shutdown(mut self, grace: Duration, notice: &mut dyn FnMut(Notice<'_>)) -> ShutdownReport {
        stop(&mut self.process, &self.events, grace, &mut self.tail, notice)
    }
}

/// Each stop signal on its own, for `cargo xtask smoke`, which checks that
/// the backend honours every one of them separately. The shell itself uses
/// [`Backend::shutdown`].
impl Backend {
    /// The accepted handshake document. It holds the token: never print it.
    pub fn handshake(&self) -> &HandshakeDoc {
        &self.handshake
    }

    /// SIGTERM to the backend's process group, stdin left open (what the OS
    /// sends at logout). Windows has no equivalent: a no-op there.
    pub fn terminate(&self) {
        self.process.request_stop();
    }

    /// Closes the backend's stdin only: what the backend sees when the shell
    /// dies.
    pub fn close_stdin(&mut self) {
        self.process.close_stdin();
    }

    /// Kills the backend's process group (Windows: its job) now: also what
    /// is left of it after the backend itself exited (its grandchildren).
    pub fn kill(&self) {
        self.process.kill();
    }
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    pub exit: Option<Exit>,
    /// The grace period ran out and the group was killed.
    pub forced: bool,
    pub took: Duration,
}

fn stop(
    process: &mut Process,
    events: &Receiver<Event>,
    grace: Duration,
    tail: &mut Tail,
    notice: &mut dyn FnMut(Notice<'_>),
) -> ShutdownReport {
    let started = Instant::now();
    process.close_stdin();
    process.request_stop();
    let mut exit = wait_exit(events, started + grace, tail, notice);
    let forced = exit.is_none();
    if forced {
        process.kill();
        exit = wait_exit(events, Instant::now() + Duration::from_secs(5), tail, notice);
    }
    // Grandchildren that outlived the leader share its process group.
    process.kill();
    ShutdownReport { exit, forced, took: started.elapsed() }
}

fn wait_exit(
    events: &Receiver<Event>,
    deadline: Instant,
    tail: &mut Tail,
    notice: &mut dyn FnMut(Notice<'_>),
) -> Option<Exit> {
    loop {
        match events.recv_deadline(deadline) {
            Ok(Event::Exited(exit)) => return Some(exit),
            Ok(Event::Output(stream, line)) => {
                tail.push(&line);
                notice(Notice::Output(stream, &line));
            }
            Ok(Event::HandshakeTouched) => {}
            Err(_) => return None,
        }
    }
}

fn contract_env(spec: &LaunchSpec, handshake: &Path, token: &Token, launch_dir: &Path) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![
        (contract::ENV_PHX_SERVER.into(), "true".into()),
        (contract::ENV_PHX_HOST.into(), "127.0.0.1".into()),
        (contract::ENV_PORT.into(), "0".into()),
        (contract::ENV_HANDSHAKE_FILE.into(), handshake.into()),
        (contract::ENV_HANDSHAKE_TOKEN.into(), token.as_str().into()),
        (contract::ENV_DATA_DIR.into(), spec.data_dir.clone().into()),
        (contract::ENV_LOG_DIR.into(), spec.log_dir.clone().into()),
        (contract::ENV_RELEASE_DISTRIBUTION.into(), "none".into()),
        (contract::ENV_RELEASE_TMP.into(), launch_dir.join("tmp").into()),
        (contract::ENV_ERL_CRASH_DUMP.into(), spec.log_dir.join(contract::CRASH_DUMP_FILE).into()),
        (contract::ENV_ERL_CRASH_DUMP_BYTES.into(), contract::MAX_CRASH_DUMP_BYTES.to_string().into()),
    ];
    if spec.storage.is_some() {
        env.push((contract::storage::ENV_SECURE_STORAGE.into(), contract::storage::PROTOCOL.into()));
    }
    env.extend(spec.env.iter().cloned());
    env
}

fn watch_dir(dir: &Path, handshake: &Path, tx: Sender<Event>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let wanted = handshake.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        if let Ok(event) = result
            && event.paths.iter().any(|p| p == &wanted)
        {
            let _ = tx.send(Event::HandshakeTouched);
        }
    })
    .ok()?;
    // Without a watcher the stdout `PORT:` line still signals readiness.
    watcher.watch(dir, notify::RecursiveMode::NonRecursive).ok()?;
    Some(watcher)
}

/// What a start waits on: the backend's events, the user's cancel, the
/// overall deadline.
struct Wait<'a> {
    events: &'a Receiver<Event>,
    cancel: &'a Receiver<()>,
    deadline: Instant,
}

/// One step of waiting.
enum Step {
    Event(Event),
    Timeout,
    Cancelled,
}

impl Wait<'_> {
    fn next(&self, until: Instant) -> Step {
        let until = until.min(self.deadline);
        select! {
            recv(self.events) -> event => match event {
                Ok(event) => Step::Event(event),
                // Every sender gone: the process and its readers ended
                // without an exit event, which cannot happen; treat as timeout.
                Err(_) => Step::Timeout,
            },
            recv(self.cancel) -> _ => Step::Cancelled,
            default(until.saturating_duration_since(Instant::now())) => Step::Timeout,
        }
    }

    fn for_handshake(
        &self,
        path: &Path,
        token: &Token,
        pid: u32,
        tail: &mut Tail,
        notice: &mut dyn FnMut(Notice<'_>),
    ) -> Result<(HandshakeDoc, HandshakeSource, Instant), StartError> {
        let mut refused: Option<String> = None;
        let mut try_file = |notice: &mut dyn FnMut(Notice<'_>)| match read_handshake(path, token, pid) {
            Ok(doc) => Some(doc),
            // Created but not written yet (a backend that does not rename
            // into place): wait for the next change.
            Err(HandshakeError::Missing(_) | HandshakeError::Empty(_)) => None,
            Err(e) => {
                // Log each distinct refusal once.
                let text = e.to_string();
                if refused.as_deref() != Some(text.as_str()) {
                    notice(Notice::Refused(&e));
                    refused = Some(text);
                }
                None
            }
        };
        // The file may predate the watcher's first event.
        if let Some(doc) = try_file(notice) {
            return Ok((doc, HandshakeSource::File, Instant::now()));
        }
        loop {
            match self.next(self.deadline) {
                Step::Timeout => return Err(StartError::Timeout(tail.lines())),
                Step::Cancelled => return Err(StartError::Cancelled),
                Step::Event(Event::HandshakeTouched) => {
                    if let Some(doc) = try_file(notice) {
                        return Ok((doc, HandshakeSource::File, Instant::now()));
                    }
                }
                Step::Event(Event::Output(stream, line)) => {
                    tail.push(&line);
                    notice(Notice::Output(stream, &line));
                    if stream == Stream::Stdout
                        && let Some(port) = parse_port_line(&line)
                    {
                        let seen = Instant::now();
                        if let Some(doc) = try_file(notice) {
                            return Ok((doc, HandshakeSource::File, seen));
                        }
                        let doc = HandshakeDoc { port, token: token.as_str().into(), pid, version: String::new() };
                        return Ok((doc, HandshakeSource::StdoutLine, seen));
                    }
                }
                Step::Event(Event::Exited(exit)) => return Err(StartError::Exited(exit, tail.lines())),
            }
        }
    }

    /// The benchmark baseline: a TCP connect every `interval`. The backend's
    /// own `PORT:` line is only timestamped, to measure how late polling
    /// notices.
    fn for_connect(
        &self,
        port: u16,
        interval: Duration,
        pid: u32,
        tail: &mut Tail,
        notice: &mut dyn FnMut(Notice<'_>),
    ) -> Result<(HandshakeDoc, HandshakeSource, Instant), StartError> {
        let mut next_poll = Instant::now() + interval;
        let mut backend_ready = None;
        loop {
            match self.next(next_poll) {
                Step::Cancelled => return Err(StartError::Cancelled),
                Step::Event(Event::Exited(exit)) => return Err(StartError::Exited(exit, tail.lines())),
                Step::Event(Event::Output(stream, line)) => {
                    tail.push(&line);
                    notice(Notice::Output(stream, &line));
                    if stream == Stream::Stdout && parse_port_line(&line).is_some() {
                        backend_ready.get_or_insert_with(Instant::now);
                    }
                }
                Step::Event(Event::HandshakeTouched) => {}
                Step::Timeout if Instant::now() >= self.deadline => return Err(StartError::Timeout(tail.lines())),
                Step::Timeout => {
                    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                    if std::net::TcpStream::connect_timeout(&address, interval).is_ok() {
                        let doc = HandshakeDoc { port, token: String::new(), pid, version: String::new() };
                        let seen = Instant::now();
                        return Ok((doc, HandshakeSource::TcpPoll, backend_ready.unwrap_or(seen)));
                    }
                    next_poll += interval;
                }
            }
        }
    }
}

/// A port the OS says is free now. Only the benchmark baseline uses this:
/// another program may take the port before the backend binds it, which is
/// exactly the race the contract's `PORT=0` avoids.
fn pick_free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// `PORT:<n>` with a port in 1..=65535.
pub fn parse_port_line(line: &str) -> Option<u16> {
    line.trim().strip_prefix(contract::PORT_LINE_PREFIX)?.trim().parse::<u16>().ok().filter(|p| *p != 0)
}

/// Why the backend did not start. Each carries the backend's last lines.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not create the private launch directory: {0}")]
    LaunchDir(HandshakeError),
    #[error("could not start the backend {0}: {1}")]
    Spawn(PathBuf, String),
    #[error("the backend did not report ready within the startup timeout")]
    Timeout(Vec<String>),
    #[error("the backend exited during startup ({0})")]
    Exited(Exit, Vec<String>),
    #[error("the backend started but its health check failed: {0}")]
    Health(HealthError, Vec<String>),
    #[error("the start was cancelled (the app is quitting)")]
    Cancelled,
}

impl StartError {
    /// The backend's last output lines, if any were seen.
    pub fn tail(&self) -> &[String] {
        match self {
            StartError::Timeout(tail) | StartError::Exited(_, tail) | StartError::Health(_, tail) => tail,
            StartError::LaunchDir(_) | StartError::Spawn(..) | StartError::Cancelled => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lines() {
        assert_eq!(parse_port_line("PORT:4000"), Some(4000));
        assert_eq!(parse_port_line("PORT: 4000\r"), Some(4000));
        assert_eq!(parse_port_line("PORT:0"), None);
        assert_eq!(parse_port_line("PORT:70000"), None);
        assert_eq!(parse_port_line("port:4000"), None);
        assert_eq!(parse_port_line("[info] PORT:4000"), None);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let mut tail = Tail::default();
        for i in 0..100 {
            tail.push(&i.to_string());
        }
        let lines = tail.lines();
        assert_eq!(lines.len(), Tail::KEEP);
        assert_eq!(lines.last().unwrap(), "99");
    }
}
