//! The lifecycle against misbehaving backends. Each backend here is a test
//! double: a few lines of `/bin/sh` written by the test, doing exactly the
//! one wrong thing the test is about (crash on boot, plant a handshake, ignore
//! SIGTERM, print secrets). The well-behaved backend is the real release, in
//! `real_backend.rs`.
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::{Sandbox, Statuses, read_all, wait_gone};
use hudson_lifecycle::handshake::HandshakeError;
use hudson_lifecycle::logs::{Log, Rotation};
use hudson_lifecycle::restart::RestartPolicy;
use hudson_lifecycle::supervisor::{Options, Status, Supervisor};
use hudson_lifecycle::{Backend, Notice, StartError};

fn fast_restarts() -> Options {
    Options {
        restart: RestartPolicy { first_delay: Duration::from_millis(50), ..RestartPolicy::default() },
        grace: hudson_lifecycle::contract::STOP_GRACE,
    }
}

/// Starts `spec` directly and returns the error with every refusal seen.
fn start_refused(spec: &hudson_lifecycle::LaunchSpec) -> (StartError, Vec<String>) {
    let mut refusals = Vec::new();
    let result = Backend::start(spec, &mut |notice| {
        if let Notice::Refused(e) = notice {
            refusals.push(e.to_string());
        }
    });
    (result.expect_err("the double never becomes ready"), refusals)
}

#[test]
fn a_backend_that_crashes_on_boot_four_times_ends_on_the_error_status() {
    let sandbox = Sandbox::new();
    let count = sandbox.path().join("boots");
    let double = sandbox.script(
        "crashing-backend",
        &format!("echo boot >> '{}'\necho 'boom: cannot open the database' >&2\nexit 3", count.display()),
    );
    let statuses = Statuses::new();
    let log = Log::open(&sandbox.path().join("logs"), "hudson.log", Rotation::default(), false);
    let supervisor = Supervisor::spawn(sandbox.spec(&double), fast_restarts(), log, statuses.reporter());

    let failed = statuses.wait_for(Duration::from_secs(20), |s| matches!(s, Status::Failed { .. }));
    let Status::Failed { reason, tail } = failed else { unreachable!() };
    assert!(reason.contains("exit code 3") && reason.contains("restarted 3 times"), "{reason}");
    assert!(tail.iter().any(|l| l.contains("boom: cannot open the database")), "{tail:?}");

    // Not a loop: nothing starts again until the user asks.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 4);
    let all = statuses.all();
    let starts = all.iter().filter(|s| matches!(s, Status::Starting { .. })).count();
    let delays: Vec<Duration> =
        all.iter().filter_map(|s| if let Status::Restarting { delay, .. } = s { Some(*delay) } else { None }).collect();
    assert_eq!(starts, 4);
    assert_eq!(delays, [50, 100, 200].map(Duration::from_millis), "exponential backoff");

    // The error page's Restart button: a fresh budget of restarts.
    supervisor.restart();
    statuses.wait_for(Duration::from_secs(20), |s| matches!(s, Status::Failed { .. }));
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 8);
    assert_eq!(supervisor.shutdown(), None);
}

#[test]
fn a_planted_handshake_with_the_wrong_token_is_refused() {
    let sandbox = Sandbox::new();
    let double = sandbox.script(
        "planting-backend",
        r#"printf '{"port":4000,"token":"%s","pid":%s,"version":"0.1.0"}' \
  00000000000000000000000000000000deadbeefdeadbeefdeadbeefdeadbeef $$ > "$HUDSON_HANDSHAKE_FILE"
while :; do sleep 1; done"#,
    );
    let mut spec = sandbox.spec(&double);
    spec.startup_timeout = Duration::from_secs(2);
    let marker = double.display().to_string();
    std::thread::spawn({
        let marker = marker.clone();
        move || {
            std::thread::sleep(Duration::from_millis(500));
            assert!(!common::live_with(&marker).is_empty(), "the double runs while the start waits");
        }
    });
    let (error, refusals) = start_refused(&spec);
    assert!(matches!(error, StartError::Timeout(_)), "{error}");
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(refusals[0].contains("does not carry this launch's token"), "{refusals:?}");
    assert!(wait_gone(&marker, Duration::from_secs(5)).is_empty());
}

#[test]
fn a_symlink_in_the_handshake_path_is_refused_even_with_the_right_token() {
    let sandbox = Sandbox::new();
    let double = sandbox.script(
        "symlinking-backend",
        r#"target="$HUDSON_DATA_DIR/elsewhere.json"
printf '{"port":4000,"token":"%s","pid":%s,"version":"0.1.0"}' "$HUDSON_HANDSHAKE_TOKEN" $$ > "$target"
ln -s "$target" "$HUDSON_HANDSHAKE_FILE"
while :; do sleep 1; done"#,
    );
    let mut spec = sandbox.spec(&double);
    spec.startup_timeout = Duration::from_secs(2);
    let (error, refusals) = start_refused(&spec);
    assert!(matches!(error, StartError::Timeout(_)), "{error}");
    assert!(refusals.iter().any(|r| r.contains("symbolic link")), "{refusals:?}");
}

#[test]
fn a_stale_handshake_from_an_earlier_launch_is_never_accepted() {
    let sandbox = Sandbox::new();
    let runtime = sandbox.path().join("run");
    // What an earlier, SIGKILLed launch left behind: its folder with a
    // handshake file. The owner pid is a process that has exited.
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let earlier = runtime.join("launch-earlier");
    std::fs::create_dir_all(&earlier).unwrap();
    std::fs::write(earlier.join("owner.pid"), dead_pid.to_string()).unwrap();
    let stale = format!(r#"{{"port":4000,"token":"{}","pid":{dead_pid},"version":"0.1.0"}}"#, "ab".repeat(32));
    std::fs::write(earlier.join("handshake.json"), &stale).unwrap();
    let kept = sandbox.path().join("stale.json");
    std::fs::write(&kept, &stale).unwrap();

    // The double copies that stale file into this launch's path.
    let double = sandbox.script(
        "stale-copying-backend",
        &format!("cp '{}' \"$HUDSON_HANDSHAKE_FILE\"\nwhile :; do sleep 1; done", kept.display()),
    );
    let mut spec = sandbox.spec(&double);
    spec.startup_timeout = Duration::from_secs(2);
    let mut refusals = Vec::new();
    let mut swept = Vec::new();
    let error = Backend::start(&spec, &mut |notice| match notice {
        Notice::Refused(e) => {
            assert!(matches!(e, HandshakeError::WrongToken(_)), "{e}");
            refusals.push(e.to_string());
        }
        Notice::Swept(count) => swept.push(count),
        _ => {}
    })
    .expect_err("stale file refused");
    assert!(matches!(error, StartError::Timeout(_)));
    assert_eq!(refusals.len(), 1);
    assert!(refusals[0].contains("planted or stale"), "{refusals:?}");
    assert!(!earlier.exists(), "the earlier launch's folder is swept, unread");
    assert_eq!(swept, [1], "one earlier launch folder removed");
}

#[test]
fn shutdown_kills_a_backend_that_ignores_stdin_and_sigterm_and_its_grandchildren() {
    let sandbox = Sandbox::new();
    let marker = sandbox.path().display().to_string();
    let double =
        sandbox.script("stubborn-backend", &format!("trap '' TERM\nsleep 300 '{marker}' &\nwhile :; do sleep 1; done"));
    let mut spec = sandbox.spec(&double);
    spec.startup_timeout = Duration::from_millis(800);
    std::thread::spawn({
        let marker = marker.clone();
        move || {
            // The grandchild is up before the start gives up.
            std::thread::sleep(Duration::from_millis(400));
            assert!(common::live_with(&marker).iter().any(|(_, c)| c.starts_with("sleep 300")));
        }
    });
    let started = Instant::now();
    let (error, _) = start_refused(&spec);
    assert!(matches!(error, StartError::Timeout(_)), "{error}");
    // Timeout (0.8 s) + grace (5 s) + the kill.
    assert!(started.elapsed() < Duration::from_secs(9), "{:?}", started.elapsed());
    let left = wait_gone(&marker, Duration::from_secs(3));
    assert!(left.is_empty(), "survivors: {left:?}");
}

#[test]
fn quitting_during_a_start_is_prompt_and_leaves_nothing() {
    let sandbox = Sandbox::new();
    let marker = sandbox.path().display().to_string();
    let double = sandbox.script("slow-backend", "while :; do sleep 1; done");
    let statuses = Statuses::new();
    let log = Log::open(&sandbox.path().join("logs"), "hudson.log", Rotation::default(), false);
    let supervisor = Supervisor::spawn(sandbox.spec(&double), fast_restarts(), log, statuses.reporter());
    statuses.wait_for(Duration::from_secs(5), |s| matches!(s, Status::Starting { .. }));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!common::live_with(&marker).is_empty(), "the double runs");
    let asked = Instant::now();
    supervisor.shutdown();
    assert!(asked.elapsed() < Duration::from_secs(6), "shutdown took {:?}", asked.elapsed());
    assert!(wait_gone(&marker, Duration::from_secs(3)).is_empty());
    assert!(!statuses.all().iter().any(|s| matches!(s, Status::Ready { .. } | Status::Failed { .. })));
}

#[test]
fn secrets_a_backend_prints_never_reach_the_log_which_rotates_at_the_configured_size() {
    let sandbox = Sandbox::new();
    let secrets = [
        "DATABASE_URL=ecto://hudson:pa55word@db.internal/prod",
        "postgres://hudson:pa55word@db.internal:5432/prod",
        "sk-proj-A1b2C3d4E5f6G7h8I9j0",
        "shpat_0123456789abcdef0123456789abcdef",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    ];
    let mut body = String::from("i=0\nwhile [ $i -lt 60 ]; do\n");
    for secret in secrets {
        body.push_str(&format!("  echo \"line $i: {secret}\"\n  echo \"err $i: {secret}\" >&2\n"));
    }
    body.push_str("  echo \"line $i: the token is $HUDSON_HANDSHAKE_TOKEN\"\n");
    body.push_str("  echo \"line $i: enter at /desktop/enter?token=$HUDSON_HANDSHAKE_TOKEN\" >&2\n");
    body.push_str("  i=$((i+1))\ndone\nexit 1");
    let double = sandbox.script("chatty-backend", &body);

    let logs = sandbox.path().join("logs");
    let rotation = Rotation { max_bytes: 8 * 1024, keep: 2 };
    let log = Log::open(&logs, "hudson.log", rotation, false);
    let statuses = Statuses::new();
    let options = Options { restart: RestartPolicy { max_restarts: 0, ..RestartPolicy::default() }, ..fast_restarts() };
    let supervisor = Supervisor::spawn(sandbox.spec(&double), options, log, statuses.reporter());
    let Status::Failed { tail, .. } =
        statuses.wait_for(Duration::from_secs(20), |s| matches!(s, Status::Failed { .. }))
    else {
        unreachable!()
    };
    supervisor.shutdown();

    let mut names: Vec<String> =
        std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["hudson.log", "hudson.log.1", "hudson.log.2"], "rotated, two old files kept");
    for name in &names {
        let size = std::fs::metadata(logs.join(name)).unwrap().len();
        assert!(size <= rotation.max_bytes, "{name} is {size} bytes");
    }
    let text = read_all(&logs) + &tail.join("\n");
    assert!(text.contains("[REDACTED]") && text.contains("line 59"), "the run was logged");
    for needle in ["pa55word", "db.internal", "A1b2C3d4", "0123456789abcdef", "eyJhbGci", "ecto://"] {
        assert!(!text.contains(needle), "{needle} reached the log");
    }
    // The token itself: every 64-hex-digit run in the log is gone.
    let hex_run = regex::Regex::new("[0-9a-f]{64}").unwrap();
    assert!(!hex_run.is_match(&text), "a handshake token reached the log");
}

#[test]
fn the_backend_dies_with_the_thread_that_spawned_it_even_ignoring_sigterm_and_stdin() {
    use hudson_lifecycle::process::{Process, ProcessSpec};
    let sandbox = Sandbox::new();
    let marker = sandbox.path().display().to_string();
    // Ignores SIGTERM and never reads stdin: only the parent-death signal
    // can end it.
    let double = sandbox.script("deaf-backend", "trap '' TERM\nwhile :; do sleep 1; done");
    let spec = ProcessSpec { program: double, args: Vec::new(), cwd: None, env: Vec::new(), storage: None };
    let (tx, _rx) = crossbeam_channel::unbounded();
    let (finish, finished) = crossbeam_channel::bounded::<()>(0);
    let spawner = std::thread::spawn(move || {
        let process = Process::spawn(&spec, tx).unwrap();
        // Keep its stdin open: the shell's death is simulated by the
        // thread's end alone.
        std::mem::forget(process);
        let _ = finished.recv();
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while common::live_with(&marker).is_empty() {
        assert!(Instant::now() < deadline, "the double did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(finish);
    spawner.join().unwrap();
    let left = wait_gone(&marker, Duration::from_secs(5));
    assert!(left.is_empty(), "the backend outlived its spawning thread: {left:?}");
}

#[test]
fn a_backend_crash_dump_goes_to_the_log_folder_with_a_size_cap() {
    let sandbox = Sandbox::new();
    // What ERTS does when it dies: write the dump where ERL_CRASH_DUMP says,
    // no more than ERL_CRASH_DUMP_BYTES.
    let double = sandbox.script(
        "dumping-backend",
        "printf 'Slogan: boom\\ncap %s\\n' \"$ERL_CRASH_DUMP_BYTES\" > \"$ERL_CRASH_DUMP\"\nexit 1",
    );
    let spec = sandbox.spec(&double);
    let (error, _) = start_refused(&spec);
    assert!(error.to_string().contains("exit"), "{error}");
    let dump = spec.log_dir.join(hudson_lifecycle::contract::CRASH_DUMP_FILE);
    let text = std::fs::read_to_string(&dump).unwrap_or_else(|e| panic!("no dump at {}: {e}", dump.display()));
    assert_eq!(text, format!("Slogan: boom\ncap {}\n", hudson_lifecycle::contract::MAX_CRASH_DUMP_BYTES));
}
