//! The lifecycle against the real backend release (`mix release` of
//! `backend/`), started exactly as the shell starts it.
//!
//! These tests need the release that `cargo xtask dist` stages, so they are
//! `#[ignore]`d in a plain `cargo test` (which runs before `dist` in
//! `cargo xtask test`) and run by `cargo xtask test` right after `dist`:
//!
//! ```sh
//! HUDSON_RELEASE_DIR=target/dist-work/<triple>/resources/backend \
//!   cargo test -p hudson-lifecycle --test real_backend -- --ignored --test-threads=1
//! ```
//!
//! One at a time: each test checks that no process of the release is left.
#![cfg(target_os = "linux")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Sandbox, Statuses, epmd_running, port_free, wait_gone};
use hudson_lifecycle::logs::{Log, Rotation};
use hudson_lifecycle::restart::RestartPolicy;
use hudson_lifecycle::supervisor::{Options, Status, Supervisor};
use hudson_lifecycle::{Backend, HandshakeSource, LaunchSpec, Notice};

/// The release folder (canonical, as it appears in the backend's command
/// line), from `HUDSON_RELEASE_DIR` or the staged dist output.
fn release() -> PathBuf {
    let dir = find_release();
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

fn find_release() -> PathBuf {
    if let Some(dir) = std::env::var_os("HUDSON_RELEASE_DIR") {
        let dir = PathBuf::from(dir);
        assert!(dir.join("bin/hudson").is_file(), "HUDSON_RELEASE_DIR={} has no bin/hudson", dir.display());
        return dir;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let staged = root.join("target/dist-work/x86_64-unknown-linux-gnu/resources/backend");
    let built = root.join("backend/_build/prod/rel/hudson");
    [staged, built]
        .into_iter()
        .find(|d| d.join("bin/hudson").is_file())
        .unwrap_or_else(|| panic!("no backend release found: run `cargo xtask dist` first, or set HUDSON_RELEASE_DIR"))
}

fn spec_for(sandbox: &Sandbox, release: &std::path::Path) -> LaunchSpec {
    LaunchSpec::for_release(
        release,
        "hudson",
        sandbox.path().join("data"),
        sandbox.path().join("logs"),
        sandbox.path().join("run"),
    )
}

fn start(spec: &LaunchSpec) -> (Backend, Vec<String>) {
    let mut refusals = Vec::new();
    let backend = Backend::start(spec, &mut |notice| {
        if let Notice::Refused(e) = notice {
            refusals.push(e.to_string());
        }
    })
    .unwrap_or_else(|e| panic!("the release did not start: {e}\n{}", e.tail().join("\n")));
    (backend, refusals)
}

/// Shuts down and checks that nothing of the backend is left.
fn stop_and_check(backend: Backend, marker: &str) {
    let port = backend.port();
    let report = backend.shutdown(hudson_lifecycle::contract::STOP_GRACE, &mut |_| {});
    assert!(!report.forced, "the release stops gracefully within the grace period: {report:?}");
    assert_eq!(report.exit, Some(hudson_lifecycle::Exit::Code(0)));
    let left = wait_gone(marker, Duration::from_secs(5));
    assert!(left.is_empty(), "survivors: {left:?}");
    assert!(!epmd_running(), "epmd is running");
    assert!(port_free(port), "port {port} still taken");
}

#[test]
#[ignore = "needs the release from `cargo xtask dist`; run by `cargo xtask test`"]
fn the_release_starts_serves_the_contract_and_stops_leaving_nothing() {
    let release = release();
    let sandbox = Sandbox::new();
    let (backend, refusals) = start(&spec_for(&sandbox, &release));
    assert!(refusals.is_empty(), "{refusals:?}");
    let marker = release.display().to_string();
    assert!(!common::live_with(&marker).is_empty(), "the backend is seen by its command line");
    let timings = backend.timings();
    assert_eq!(timings.source, HandshakeSource::File);
    assert!(timings.spawned <= timings.backend_ready && timings.backend_ready <= timings.healthy);
    assert!(backend.health().is_ok(), "{:?}", backend.health());

    let http =
        reqwest::blocking::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let enter = http.get(backend.enter_url()).send().unwrap();
    assert_eq!(enter.status().as_u16(), 303, "the enter URL trades the token for the session cookie");
    let bad = http.get(hudson_lifecycle::contract::enter_url(backend.port(), &"0".repeat(64))).send().unwrap();
    assert_eq!(bad.status().as_u16(), 403);

    stop_and_check(backend, &release.display().to_string());
}

#[test]
#[ignore = "needs the release from `cargo xtask dist`; run by `cargo xtask test`"]
fn planted_symlinked_and_stale_handshakes_are_refused_and_the_real_one_is_accepted() {
    let release = release();
    let stale = format!(r#"{{"port":4000,"token":"{}","pid":1,"version":"0.1.0"}}"#, "ab".repeat(32));
    let cases = [
        (
            "planted",
            r#"printf '{"port":4000,"token":"%s","pid":%s,"version":"0.1.0"}' "$(printf 'f%.0s' $(seq 64))" $$ > "$HUDSON_HANDSHAKE_FILE""#.to_owned(),
            "does not carry this launch's token",
        ),
        (
            "symlink",
            r#"printf '{"port":4000,"token":"%s","pid":%s,"version":"0.1.0"}' "$HUDSON_HANDSHAKE_TOKEN" $$ > "$HUDSON_DATA_DIR/x.json"
ln -s "$HUDSON_DATA_DIR/x.json" "$HUDSON_HANDSHAKE_FILE""#
                .to_owned(),
            "symbolic link",
        ),
        ("stale", format!("printf '%s' '{stale}' > \"$HUDSON_HANDSHAKE_FILE\""), "planted or stale"),
    ];
    for (name, plant, refusal) in cases {
        let sandbox = Sandbox::new();
        let wrapper = sandbox.release_wrapper(&format!("mkdir -p \"$HUDSON_DATA_DIR\"\n{plant}"), Some(&release));
        let (backend, refusals) = start(&spec_for(&sandbox, &wrapper));
        assert!(refusals.iter().any(|r| r.contains(refusal)), "{name}: {refusals:?}");
        assert_eq!(backend.timings().source, HandshakeSource::File, "{name}: the real handshake replaced it");
        assert!(backend.health().is_ok());
        stop_and_check(backend, &release.display().to_string());
    }
}

#[test]
#[ignore = "needs the release from `cargo xtask dist`; run by `cargo xtask test`"]
fn health_states_the_user_can_act_on() {
    let release = release();

    // A newer server schema: update required, and the backend is stopped.
    let sandbox = Sandbox::new();
    let mut spec = spec_for(&sandbox, &release);
    spec.env.push((hudson_lifecycle::contract::ENV_SERVER_SCHEMA.into(), "2".into()));
    let statuses = Statuses::new();
    let log = Log::open(&sandbox.path().join("logs"), "hudson.log", Rotation::default(), false);
    let supervisor = Supervisor::spawn(spec, Options::default(), log, statuses.reporter());
    let status = statuses.wait_for(Duration::from_secs(30), |s| !matches!(s, Status::Starting { .. }));
    assert!(matches!(status, Status::UpdateRequired { .. }), "{status:?}");
    assert!(wait_gone(&release.display().to_string(), Duration::from_secs(5)).is_empty());
    supervisor.shutdown();

    // A copy of the release without its NIF library: damaged, naming it.
    let sandbox = Sandbox::new();
    let copy = sandbox.path().join("damaged");
    let status = std::process::Command::new("cp").arg("-a").arg(&release).arg(&copy).status().unwrap();
    assert!(status.success());
    let mut removed = 0;
    for entry in std::fs::read_dir(copy.join("lib")).unwrap().flatten() {
        let nif = entry.path().join("priv/native/libhudson_nif.so");
        if nif.exists() {
            std::fs::remove_file(nif).unwrap();
            removed += 1;
        }
    }
    assert_eq!(removed, 1, "the release ships libhudson_nif.so");
    let statuses = Statuses::new();
    let log = Log::open(&sandbox.path().join("logs"), "hudson.log", Rotation::default(), false);
    let supervisor = Supervisor::spawn(spec_for(&sandbox, &copy), Options::default(), log, statuses.reporter());
    let status = statuses.wait_for(Duration::from_secs(30), |s| !matches!(s, Status::Starting { .. }));
    let Status::Damaged { modules } = status else { panic!("{status:?}") };
    assert_eq!(modules.len(), 1);
    assert_eq!(modules[0].0, "hudson_nif");
    assert!(wait_gone(&copy.display().to_string(), Duration::from_secs(5)).is_empty());
    supervisor.shutdown();
}

#[test]
#[ignore = "needs the release from `cargo xtask dist`; run by `cargo xtask test`"]
fn a_backend_killed_after_start_is_restarted_on_a_new_port() {
    let release = release();
    let sandbox = Sandbox::new();
    let statuses = Statuses::new();
    let log = Log::open(&sandbox.path().join("logs"), "hudson.log", Rotation::default(), false);
    let options = Options {
        restart: RestartPolicy { first_delay: Duration::from_millis(100), ..RestartPolicy::default() },
        ..Options::default()
    };
    let supervisor = Supervisor::spawn(spec_for(&sandbox, &release), options, log, statuses.reporter());
    let Status::Ready { origin: first, .. } =
        statuses.wait_for(Duration::from_secs(30), |s| matches!(s, Status::Ready { .. }))
    else {
        unreachable!()
    };
    // The backend runs in its data folder: that tells it from any other.
    let data = std::fs::canonicalize(sandbox.path().join("data")).unwrap();
    let pids: Vec<u32> = common::live_with(&release.display().to_string())
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == data))
        .collect();
    assert!(!pids.is_empty(), "no backend runs in {}", data.display());
    for pid in pids {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
    }
    let restarting = statuses.wait_for(Duration::from_secs(10), |s| matches!(s, Status::Restarting { .. }));
    assert!(matches!(restarting, Status::Restarting { restart: 1, .. }), "{restarting:?}");
    let Status::Ready { origin: second, .. } =
        statuses.wait_for(Duration::from_secs(30), |s| matches!(s, Status::Ready { .. }))
    else {
        unreachable!()
    };
    assert_ne!(first, second, "a fresh port per start");
    let report = supervisor.shutdown().expect("a running backend reports its stop");
    assert!(!report.forced);
    assert!(wait_gone(&release.display().to_string(), Duration::from_secs(5)).is_empty());
}
