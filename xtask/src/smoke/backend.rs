//! The packaged backend, started exactly as the shell starts it
//! (`hudson_lifecycle::Backend::start`: contract environment, a private
//! launch directory, a fresh token, a stdin pipe) and checked step by step.
//! It runs twice: the first run is stopped with SIGTERM alone, the second by
//! closing its stdin alone, and each time nothing may be left behind.

use std::path::PathBuf;
#[cfg(feature = "secure-storage")]
use std::sync::Arc;
use std::time::{Duration, Instant};

use hudson_lifecycle::contract::{SESSION_COOKIE, STOP_GRACE};
use hudson_lifecycle::{Backend, Event, Exit, HandshakeSource, Notice, StartError};
#[cfg(feature = "secure-storage")]
use hudson_secrets::SecureStore;

use super::Steps;
use super::http::Http;
use super::layout::Layout;
use super::procfs;
use super::report::Outcome;

/// How long the processes of an exited backend may take to disappear and
/// its port to become free.
const CLEANUP_WITHIN: Duration = Duration::from_secs(5);

/// What the backend must show.
pub struct Expect<'a> {
    /// `version` of `dist-manifest.json`.
    pub version: &'a str,
    /// `[workspace.metadata.hudson].nifs`.
    pub nifs: &'a [String],
    /// The page title (the product name).
    pub title: &'a str,
    /// Handshake (and first health answer) must arrive within this.
    pub timeout: Duration,
    /// The OS store's service name for the secure-storage step.
    pub storage_service: String,
    /// No secure store fails the step instead of skipping it.
    pub require_storage: bool,
    /// No `database` check fails the sqlite steps instead of skipping them.
    pub require_database: bool,
}

/// The backend steps from `first` to `last`, both included, in their order
/// (`super::BACKEND_STEPS`, the one list of them).
fn steps_between(first: &str, last: &str) -> &'static [&'static str] {
    let at = |name: &str| {
        super::BACKEND_STEPS.iter().position(|s| *s == name).unwrap_or_else(|| panic!("no backend step {name}"))
    };
    &super::BACKEND_STEPS[at(first)..=at(last)]
}

/// Every backend step, in order, for one unpacked package.
pub fn check(layout: &Layout, expect: &Expect<'_>, steps: &mut Steps<'_>) {
    let home = match Home::new(&expect.storage_service) {
        Ok(home) => home,
        Err(e) => {
            steps.record("handshake", Duration::ZERO, Outcome::fail(format!("cannot create a private home: {e:#}")));
            steps.skip(&super::BACKEND_STEPS[1..], "not run: the backend could not be started");
            return;
        }
    };
    let root = layout.root.display().to_string();
    let http = Http::new();

    // Run 1: handshake, health, NIFs, guards, sockets; then SIGTERM alone.
    let first = start(layout, &home, expect.timeout, steps);
    let Some(mut run) = first.run else {
        let why = "not run: the backend did not start";
        let skipped = steps_between("healthz", "stop-sigterm");
        steps.skip(if first.health_recorded { &skipped[1..] } else { skipped }, why);
        match first.leader {
            Some(leader) => {
                cleanup(steps, "cleanup-sigterm", leader, first.leader_started, None, &root, "after the failed start")
            }
            None => steps.skip(&["cleanup-sigterm"], "not run: no backend process was started"),
        }
        steps.skip(steps_between("restart", "cleanup-stdin"), "not run: the first start failed");
        return;
    };
    let port = run.backend().port();
    steps.time("healthz", |_| healthz(&mut run, expect.version));
    steps.time("nifs", |_| nifs(&mut run, expect.nifs));
    steps.time("host-guard", |_| host_guard(&http, port));
    steps.time("session-guard", |steps| session_guard(&http, &mut run, expect.title, steps));
    #[cfg(feature = "secure-storage")]
    steps.time("secure-storage", |steps| secure_storage(&http, &mut run, &home.store, expect.require_storage, steps));
    #[cfg(not(feature = "secure-storage"))]
    steps.record(
        "secure-storage",
        Duration::ZERO,
        if expect.require_storage { Outcome::fail(NO_STORES) } else { Outcome::skipped(NO_STORES) },
    );
    let mut written = None;
    steps.time("sqlite", |_| {
        let (outcome, seen) = super::database::first(&http, run.backend(), &home.data, expect.require_database);
        written = seen;
        outcome.with_output(run.tail())
    });
    steps.time("loopback-only", |_| procfs::loopback_only(run.leader, port).with_output(run.tail()));
    let forced = stop(steps, "stop-sigterm", &mut run, Stop::Sigterm);
    let note = if forced { "after smoke killed the process group" } else { "after the backend exited" };
    cleanup(steps, "cleanup-sigterm", run.leader, run.leader_started, Some(port), &root, note);
    drop(run);

    // Run 2: the same package again; closing stdin alone must stop it.
    let second = start_again(layout, &home, expect.timeout, steps);
    let Some(mut run) = second else {
        steps.skip(steps_between("sqlite-reopen", "cleanup-stdin"), "not run: the second start failed");
        return;
    };
    steps.time("sqlite-reopen", |_| match &written {
        Some(written) => super::database::reopen(&http, run.backend(), written).with_output(run.tail()),
        None => Outcome::skipped("not run: step sqlite did not pass"),
    });
    let port = run.backend().port();
    let forced = stop(steps, "stop-stdin", &mut run, Stop::CloseStdin);
    let note = if forced { "after smoke killed the process group" } else { "after the backend exited" };
    cleanup(steps, "cleanup-stdin", run.leader, run.leader_started, Some(port), &root, note);
}

/// A private HOME (and XDG folders) for the backend, so that nothing it
/// writes lands in the real one — and a Burrito backend extracts afresh
/// instead of running a stale extraction from an earlier version.
struct Home {
    _dir: tempfile::TempDir,
    env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    data: PathBuf,
    logs: PathBuf,
    runtime: PathBuf,
    /// The OS store under the smoke service, and the shell's storage server
    /// answering the backend from it (none in `xtask-light`, which is built
    /// without the OS stores so that it compiles before `doctor --install`
    /// has installed libdbus).
    #[cfg(feature = "secure-storage")]
    store: Arc<SecureStore>,
    storage: Option<hudson_lifecycle::channel::Storage>,
}

impl Home {
    fn new(service: &str) -> anyhow::Result<Home> {
        let (dir, env) = crate::drive::home::private_home()?;
        let data = dir.path().join("data/hudson");
        let logs = dir.path().join("logs");
        let runtime = dir.path().join("run/hudson");
        #[cfg(feature = "secure-storage")]
        {
            let store = Arc::new(SecureStore::native(service));
            let log = hudson_lifecycle::logs::Log::open(&logs, "smoke-storage.log", Default::default(), false);
            let server = hudson_secrets::Server::new(store.clone(), log, None);
            let storage = Some(hudson_lifecycle::channel::Storage::new(server));
            Ok(Home { _dir: dir, env, data, logs, runtime, store, storage })
        }
        #[cfg(not(feature = "secure-storage"))]
        {
            let _ = service;
            Ok(Home { _dir: dir, env, data, logs, runtime, storage: None })
        }
    }
}

/// A started backend. Dropping it kills its process group, so a failed or
/// interrupted check never leaves it running.
struct Run {
    backend: Option<Backend>,
    exit: Option<Exit>,
    leader: u32,
    leader_started: u64,
}

impl Run {
    fn backend(&self) -> &Backend {
        self.backend.as_ref().expect("the backend is kept until the run ends")
    }

    /// Takes the events that arrived so far (output, exit) without waiting.
    fn drain(&mut self) {
        let Some(backend) = self.backend.as_mut() else { return };
        while let Ok(event) = backend.events().try_recv() {
            if let Event::Exited(exit) = event {
                self.exit = Some(exit);
            }
            backend.record(&event);
        }
    }

    /// Waits until the backend exits or `timeout` passes.
    fn wait_exit(&mut self, timeout: Duration) -> Option<Exit> {
        let deadline = Instant::now() + timeout;
        self.drain();
        while self.exit.is_none() {
            let backend = self.backend.as_mut().expect("kept until the run ends");
            match backend.events().recv_deadline(deadline) {
                Ok(Event::Exited(exit)) => self.exit = Some(exit),
                Ok(event) => backend.record(&event),
                Err(_) => break,
            }
        }
        self.exit
    }

    /// The backend's last output lines.
    fn tail(&mut self) -> Vec<String> {
        self.drain();
        self.backend.as_ref().map(Backend::tail).unwrap_or_default()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(backend) = &self.backend {
            backend.kill();
        }
    }
}

struct Started {
    run: Option<Run>,
    /// The process that was spawned, even when the start failed.
    leader: Option<u32>,
    leader_started: u64,
    /// The start failed at its health check, and step `healthz` says so.
    health_recorded: bool,
}

/// Step 1: starts the backend; the handshake must arrive within the timeout
/// as a file with this launch's token and a live pid.
fn start(layout: &Layout, home: &Home, timeout: Duration, steps: &mut Steps<'_>) -> Started {
    let begun = Instant::now();
    let attempt = launch(layout, home, timeout);
    let took = attempt.accepted.unwrap_or_else(|| begun.elapsed());
    let mut started =
        Started { run: None, leader: attempt.leader, leader_started: attempt.leader_started, health_recorded: false };
    let refusals =
        if attempt.refusals.is_empty() { String::new() } else { format!("; refused: {}", attempt.refusals.join("; ")) };
    let expected =
        format!("the handshake file with this launch's token and a live pid within {}s", timeout.as_secs_f64());
    match attempt.result {
        Ok(backend) => {
            let mut run = Run { backend: Some(backend), exit: None, leader: 0, leader_started: attempt.leader_started };
            run.leader = run.backend().pid();
            steps.redactor.add_secret(run.backend().token());
            let handshake = run.backend().handshake().clone();
            let source = run.backend().timings().source;
            let outcome = if source != HandshakeSource::File {
                Outcome::mismatch(
                    format!("no handshake file arrived, only the `PORT:{}` line on stdout{refusals}", handshake.port),
                    expected,
                    "the stdout line only",
                )
            } else if !procfs::alive(handshake.pid) {
                Outcome::mismatch(
                    "the handshake names a pid that is not running",
                    expected,
                    format!("pid {}", handshake.pid),
                )
            } else {
                Outcome::pass(format!(
                    "port {}, pid {} (running), this launch's token, version {:?}",
                    handshake.port, handshake.pid, handshake.version
                ))
            };
            steps.record("handshake", took, outcome.with_output(run.tail()));
            started.run = Some(run);
        }
        Err(error) => {
            let tail = error.tail().to_vec();
            let outcome = match &error {
                StartError::Timeout(_) => Outcome::mismatch(
                    format!("no handshake within the timeout ({}s){refusals}", timeout.as_secs_f64()),
                    expected,
                    if attempt.refusals.is_empty() {
                        "no handshake file and no `PORT:` line".into()
                    } else {
                        attempt.refusals.join("; ")
                    },
                ),
                StartError::Health(health, _) if attempt.accepted.is_some() => {
                    // The handshake was fine; the health check is the next step.
                    steps.record("handshake", took, Outcome::pass("accepted (the health check then failed)"));
                    steps.record(
                        "healthz",
                        begun.elapsed().saturating_sub(took),
                        Outcome::mismatch(
                            "/healthz did not answer during startup",
                            "200 with the contract's JSON",
                            health.to_string(),
                        )
                        .with_output(tail),
                    );
                    started.health_recorded = true;
                    return started;
                }
                other => Outcome::fail(format!("{other}{refusals}")),
            };
            steps.record("handshake", took, outcome.with_output(tail));
        }
    }
    started
}

/// The second start: handshake and health again, as one step.
fn start_again(layout: &Layout, home: &Home, timeout: Duration, steps: &mut Steps<'_>) -> Option<Run> {
    let begun = Instant::now();
    let attempt = launch(layout, home, timeout);
    match attempt.result {
        Ok(backend) => {
            let mut run = Run { backend: Some(backend), exit: None, leader: 0, leader_started: attempt.leader_started };
            run.leader = run.backend().pid();
            steps.redactor.add_secret(run.backend().token());
            let outcome = match run.backend().check_health(Duration::from_secs(5)) {
                _ if run.backend().timings().source != HandshakeSource::File => Outcome::mismatch(
                    "no handshake file arrived, only the `PORT:` line on stdout",
                    "the handshake file with this launch's token",
                    "the stdout line only",
                ),
                Ok(health) if health.status == "ok" => Outcome::pass(format!(
                    "handshake and /healthz again (port {}, pid {})",
                    run.backend().port(),
                    health.pid
                )),
                Ok(health) => {
                    Outcome::mismatch("/healthz is not ok", "status \"ok\"", format!("status {:?}", health.status))
                }
                Err(e) => Outcome::fail(e.to_string()),
            };
            steps.record("restart", begun.elapsed(), outcome.with_output(run.tail()));
            Some(run)
        }
        Err(error) => {
            steps.record(
                "restart",
                begun.elapsed(),
                Outcome::fail(error.to_string()).with_output(error.tail().to_vec()),
            );
            None
        }
    }
}

struct Attempt {
    result: Result<Backend, StartError>,
    leader: Option<u32>,
    leader_started: u64,
    /// From spawn to the accepted handshake.
    accepted: Option<Duration>,
    refusals: Vec<String>,
}

fn launch(layout: &Layout, home: &Home, timeout: Duration) -> Attempt {
    let mut spec = layout.backend.launch_spec(home.data.clone(), home.logs.clone(), home.runtime.clone());
    spec.env.extend(home.env.iter().cloned());
    // The storage test hook (reference backend): calls driven over HTTP,
    // answering digests, never values.
    spec.env.push(("HUDSON_STORAGE_SELFTEST".into(), "1".into()));
    spec.storage = home.storage.clone();
    spec.startup_timeout = timeout;
    let mut leader = None;
    let mut leader_started = 0;
    let mut spawned = Instant::now();
    let mut accepted = None;
    let mut refusals = Vec::new();
    let result = Backend::start(&spec, &mut |notice| match notice {
        Notice::Spawned { pid, .. } => {
            spawned = Instant::now();
            leader = Some(pid);
            leader_started = procfs::process(pid).map_or_else(procfs::now_ticks, |p| p.started);
        }
        Notice::Accepted(..) => accepted = Some(spawned.elapsed()),
        Notice::Refused(e) => refusals.push(e.to_string()),
        Notice::Output(..) | Notice::Swept(_) => {}
    });
    Attempt { result, leader, leader_started, accepted, refusals }
}

/// Step 2: `/healthz` answers `ok` with the version that was built.
fn healthz(run: &mut Run, version: &str) -> Outcome {
    let handshake_pid = run.backend().handshake().pid;
    let outcome = match run.backend().check_health(Duration::from_secs(5)) {
        Err(e) => Outcome::mismatch("/healthz did not answer", "200 with the contract's JSON", e.to_string()),
        Ok(health) if health.status != "ok" || health.version != version => Outcome::mismatch(
            "/healthz is not ok for the version in dist-manifest.json",
            format!("status \"ok\", version {version:?}"),
            format!("status {:?}, version {:?}", health.status, health.version),
        ),
        Ok(health) if health.pid != handshake_pid => Outcome::mismatch(
            "/healthz is answered by another process than the one that wrote the handshake",
            format!("pid {handshake_pid}"),
            format!("pid {}", health.pid),
        ),
        Ok(health) => Outcome::pass(format!("status \"ok\", version {:?}, pid {}", health.version, health.pid)),
    };
    outcome.with_output(run.tail())
}

/// Step 3: every configured NIF module, and any other the backend reports,
/// says `ok`.
fn nifs(run: &mut Run, wanted: &[String]) -> Outcome {
    let health = match run.backend().check_health(Duration::from_secs(5)) {
        Ok(health) => health,
        Err(e) => return Outcome::fail(e.to_string()).with_output(run.tail()),
    };
    let status = |module: &str| health.nifs.get(module).map_or("not reported".to_owned(), |s| s.clone());
    let mut names: Vec<&str> = wanted.iter().map(String::as_str).collect();
    names.extend(health.nifs.keys().map(String::as_str).filter(|m| !wanted.iter().any(|w| w == m)));
    let bad: Vec<String> = names.iter().filter(|m| status(m) != "ok").map(|m| format!("{m}: {}", status(m))).collect();
    if bad.is_empty() {
        let listed = if names.is_empty() { "none configured".to_owned() } else { names.join(", ") };
        return Outcome::pass(format!("{listed}: ok"));
    }
    Outcome::mismatch(
        "a NIF did not load: the installation is damaged",
        names.iter().map(|m| format!("{m}: ok")).collect::<Vec<_>>().join(", "),
        names.iter().map(|m| format!("{m}: {}", status(m))).collect::<Vec<_>>().join(", "),
    )
    .with_output(run.tail())
}

/// Step 4a: a request for another host name (a DNS-rebinding page) is
/// refused with 421 on every route.
fn host_guard(http: &Http, port: u16) -> Outcome {
    let foreign = format!("rebinding.example:{port}");
    for path in ["/", "/healthz"] {
        match http.get(port, path, Some(&foreign), None) {
            Ok(answer) if answer.status == 421 => {}
            Ok(answer) => {
                return Outcome::mismatch(
                    format!("GET {path} with `Host: {foreign}` was not refused"),
                    "421",
                    answer.status.to_string(),
                );
            }
            Err(e) => return Outcome::fail(format!("GET {path} with a foreign Host: {e}")),
        }
    }
    Outcome::pass(format!("`Host: {foreign}` answered 421 on / and /healthz"))
}

/// Step 4b: `/` is refused without the session cookie, the enter URL with
/// a wrong token is refused, and with the right one it sets an HttpOnly,
/// SameSite=Strict cookie that serves the page.
fn session_guard(http: &Http, run: &mut Run, title: &str, steps: &mut Steps<'_>) -> Outcome {
    let port = run.backend().port();
    let token = run.backend().token().to_owned();
    let outcome = (|| {
        let answer = http.get(port, "/", None, None)?;
        if !(400..500).contains(&answer.status) {
            return Ok(Outcome::mismatch(
                "GET / without the cookie was not refused",
                "4xx (403)",
                answer.status.to_string(),
            ));
        }
        let wrong = "0".repeat(token.len());
        let answer = http.get(port, &format!("/desktop/enter?token={wrong}"), None, None)?;
        if !(400..500).contains(&answer.status) {
            return Ok(Outcome::mismatch(
                "the enter URL with a wrong token was not refused",
                "4xx (403)",
                answer.status.to_string(),
            ));
        }
        let answer = http.get(port, &format!("/desktop/enter?token={token}"), None, None)?;
        let name = format!("{SESSION_COOKIE}=");
        let cookie = answer.set_cookie.iter().find(|c| c.starts_with(&name));
        let attributes = |c: &str| {
            let lower = c.to_ascii_lowercase();
            lower.split(';').any(|a| a.trim() == "httponly") && lower.split(';').any(|a| a.trim() == "samesite=strict")
        };
        let Some(cookie) = cookie.filter(|c| answer.status == 303 && attributes(c)) else {
            return Ok(Outcome::mismatch(
                "the enter URL did not set the session cookie",
                format!("303 with `Set-Cookie: {SESSION_COOKIE}=…; HttpOnly; SameSite=Strict`"),
                format!("{} with Set-Cookie {:?}", answer.status, answer.set_cookie),
            ));
        };
        let pair = cookie.split(';').next().unwrap_or_default().to_owned();
        steps.redactor.add_secret(pair.trim_start_matches(&name));
        let answer = http.get(port, "/", None, Some(&pair))?;
        let wanted = format!("<title>{title}</title>");
        if answer.status != 200 || !answer.content_type.starts_with("text/html") || !answer.body.contains(&wanted) {
            let found =
                answer.body.split("<title>").nth(1).and_then(|t| t.split("</title>").next()).unwrap_or("no title");
            return Ok(Outcome::mismatch(
                "GET / with the session cookie did not serve the app",
                format!("200 text/html with {wanted}"),
                format!("{} {} with title {found:?}", answer.status, answer.content_type),
            ));
        }
        Ok::<_, String>(Outcome::pass(format!(
            "/ refused without the cookie; wrong token refused; enter → 303 + HttpOnly SameSite=Strict cookie → 200 {wanted}"
        )))
    })();
    outcome.unwrap_or_else(Outcome::fail).with_output(run.tail())
}

#[cfg(not(feature = "secure-storage"))]
const NO_STORES: &str = "this xtask was built without the OS stores (`cargo xtask-light`); run `cargo xtask smoke`";

#[cfg(feature = "secure-storage")]
const NO_HOOK: &str = "the backend has no storage test hook (/desktop/selftest/storage with HUDSON_STORAGE_SELFTEST=1)";

/// Step: put, get and delete through the packaged backend, the shell's
/// storage server and the OS store, with the store read directly in
/// between. Skipped (or failed, with `--require-secure-storage`) when this
/// machine has no secure store; the backend must then answer `unavailable`.
#[cfg(feature = "secure-storage")]
fn secure_storage(http: &Http, run: &mut Run, store: &SecureStore, required: bool, steps: &mut Steps<'_>) -> Outcome {
    let port = run.backend().port();
    let token = run.backend().token().to_owned();
    let call = |query: &str| -> Result<serde_json::Value, String> {
        let answer = http.get(port, &format!("/desktop/selftest/storage?token={token}&{query}"), None, None)?;
        if answer.status == 404 {
            return Err(NO_HOOK.into());
        }
        if answer.status != 200 {
            return Err(format!(
                "the storage test hook answered {} (is HUDSON_STORAGE_SELFTEST honoured?)",
                answer.status
            ));
        }
        serde_json::from_str(&answer.body).map_err(|e| format!("the storage test hook answered no JSON: {e}"))
    };
    let key = "smoke-check";
    let value = hudson_lifecycle::handshake::Token::generate().as_str()[..40].to_owned();
    steps.redactor.add_secret(&value);
    let outcome = (|| {
        let first = call("op=get&key=smoke-check");
        if first.as_ref().is_err_and(|e| e == NO_HOOK) {
            let why = format!("{NO_HOOK}; copy it from the reference backend to test secure storage here");
            return Ok(if required { Outcome::fail(why) } else { Outcome::skipped(why) });
        }
        let first = first?;
        if let Err(unavailable) = store.probe() {
            let answer = first;
            if answer["error"] != "unavailable" {
                return Ok(Outcome::mismatch(
                    "without a secure store the backend did not hear `unavailable`",
                    "error unavailable",
                    answer.to_string(),
                ));
            }
            let why = format!("no secure store on this machine ({unavailable}); the backend heard `unavailable`");
            return Ok(if required { Outcome::fail(why) } else { Outcome::skipped(why) });
        }
        let put = call(&format!("op=put&key={key}&value={value}"))?;
        if put["ok"] != true {
            return Ok(Outcome::mismatch("put through the backend failed", "ok", put.to_string()));
        }
        match store.get(key) {
            Ok(stored) if stored == value => {}
            other => {
                let found = other.map(|_| "another value".to_owned()).unwrap_or_else(|e| e.to_string());
                return Ok(Outcome::mismatch("the OS store does not hold what the backend put", "the value", found));
            }
        }
        let got = call(&format!("op=get&key={key}"))?;
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(value.as_bytes()));
        if got["sha256"] != digest.as_str() {
            return Ok(Outcome::mismatch("get through the backend returned another value", digest, got.to_string()));
        }
        let deleted = call(&format!("op=delete&key={key}"))?;
        if deleted["ok"] != true || !matches!(store.get(key), Err(hudson_secrets::Error::NotFound(_))) {
            return Ok(Outcome::mismatch("delete through the backend left the entry", "gone", deleted.to_string()));
        }
        Ok::<_, String>(Outcome::pass(format!(
            "put, get, delete through the backend and the {} (service {}), read back directly",
            store.kind(),
            store.service()
        )))
    })();
    // The session-guard step's enter created this service's secret_key_base.
    let _ = store.delete("secret_key_base");
    outcome.unwrap_or_else(Outcome::fail).with_output(run.tail())
}

enum Stop {
    Sigterm,
    CloseStdin,
}

/// Step 6: one stop signal alone must end the backend within 5 s (SIGTERM:
/// with exit code 0). A backend that does not stop is killed, and the step
/// fails. Returns true when smoke had to kill it.
fn stop(steps: &mut Steps<'_>, name: &'static str, run: &mut Run, how: Stop) -> bool {
    let begun = Instant::now();
    run.drain();
    if let Some(exit) = run.exit {
        let outcome = Outcome::fail(format!("the backend had already exited ({exit}) before it was asked to stop"));
        steps.record(name, begun.elapsed(), outcome.with_output(run.tail()));
        return false;
    }
    let (signal, expected) = match how {
        Stop::Sigterm => {
            run.backend().terminate();
            ("SIGTERM to its process group, stdin left open", "exit code 0 within 5s")
        }
        Stop::CloseStdin => {
            run.backend.as_mut().expect("kept until the run ends").close_stdin();
            ("its stdin closed, no signal", "exit within 5s")
        }
    };
    let exit = run.wait_exit(STOP_GRACE);
    let took = begun.elapsed();
    let outcome = match (exit, &how) {
        (None, _) => Outcome::mismatch(
            format!("still running {}s after {signal}; smoke killed it", STOP_GRACE.as_secs()),
            expected,
            "still running",
        ),
        (Some(Exit::Code(0)), _) | (Some(_), Stop::CloseStdin) => {
            Outcome::pass(format!("{} after {signal}", exit.expect("matched Some")))
        }
        (Some(other), Stop::Sigterm) => {
            Outcome::mismatch(format!("the backend did not exit cleanly after {signal}"), expected, other.to_string())
        }
    };
    let forced = exit.is_none();
    if forced {
        if let Some(backend) = &run.backend {
            backend.kill();
        }
        run.wait_exit(Duration::from_secs(5));
    }
    steps.record(name, took, outcome.with_output(run.tail()));
    forced
}

/// After the backend exited: none of its processes (group, anything running
/// from the package, an epmd it started) remains, and its port is free.
/// Whatever is left is killed afterwards, so smoke leaves nothing behind.
fn cleanup(
    steps: &mut Steps<'_>,
    name: &'static str,
    leader: u32,
    since: u64,
    port: Option<u16>,
    root: &str,
    note: &str,
) {
    if !cfg!(target_os = "linux") {
        steps.record(
            name,
            Duration::ZERO,
            Outcome::not_checked("processes are read from /proc: not checked on this OS"),
        );
        return;
    }
    let begun = Instant::now();
    let (left, seen) = procfs::settle(begun + CLEANUP_WITHIN, port, || procfs::leftovers(Some(leader), since, root));
    let took = begun.elapsed();
    let outcome = match seen {
        None => {
            let port = port.map(|p| format!("; port {p} is free")).unwrap_or_default();
            Outcome::pass(format!("no process left {note}{port}"))
        }
        Some(seen) => {
            Outcome::mismatch(format!("the backend left something behind {note}"), "no process, port free", seen)
        }
    };
    // Only what is this smoke test's own: the group it started, or what
    // runs from the package it unpacked.
    for process in left.iter().filter(|p| p.pgrp == leader || p.cmdline.contains(root)) {
        crate::drive::procs::signal(process.pid, libc::SIGKILL);
    }
    steps.record(name, took, outcome);
}
