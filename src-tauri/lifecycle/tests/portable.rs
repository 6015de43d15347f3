//! The lifecycle against a backend double written in Rust
//! (`doubles/backend.rs`), so that the same tests run on Linux and on
//! Windows — under Wine in `cargo xtask test-windows`, where the job object,
//! stdin-close shutdown and Windows paths are otherwise never executed.
//! The `/bin/sh` doubles of `doubles.rs` and the real release of
//! `real_backend.rs` cover the Unix-only misbehaviours and signals.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hudson_lifecycle::event::Exit;
use hudson_lifecycle::handshake::process_alive;
use hudson_lifecycle::{Backend, HandshakeSource, LaunchSpec};

/// The double, built by cargo beside this test.
fn double() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hudson-backend-double"))
}

/// A folder shaped like a Windows user's `%LOCALAPPDATA%\<app>`: under the
/// real `LOCALAPPDATA` on Windows (Wine's is
/// `C:\users\<user>\AppData\Local`), with a space and non-ASCII letters in
/// every level the shell creates.
fn app_folder() -> tempfile::TempDir {
    let base = std::env::var_os("LOCALAPPDATA").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new().prefix("Hudson Désktop ünï 日本 ").tempdir_in(base).unwrap()
}

fn spec(root: &Path, args: &[&str]) -> LaunchSpec {
    let mut spec = LaunchSpec::for_sidecar(
        &double(),
        root.join("Données utilisateur"),
        root.join("Journaux d'exécution"),
        root.join("Lancements en cours"),
    );
    spec.args = args.iter().map(Into::into).collect();
    spec.startup_timeout = Duration::from_secs(30);
    spec
}

/// The pids the double wrote to `file` (`backend <pid>`, `child <pid>`).
fn pids(file: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    text.lines().filter_map(|line| line.split_once(' ')?.1.parse().ok()).collect()
}

/// Gone: not running (on Linux a zombie awaiting its reaper counts as gone).
fn gone(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        return stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'));
    }
    !process_alive(pid)
}

fn wait_all_gone(pids: &[u32], within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if pids.iter().all(|&pid| gone(pid)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = pids.iter().copied().filter(|&pid| !gone(pid)).collect();
    panic!("processes {left:?} still run {within:?} after they should have ended");
}

#[test]
fn handshake_and_health_work_under_a_local_appdata_path_with_spaces_and_non_ascii_letters() {
    let root = app_folder();
    let spec = spec(root.path(), &["--version", "0.3.1-double"]);
    let mut refusals = Vec::new();
    let backend = Backend::start(&spec, &mut |notice| {
        if let hudson_lifecycle::Notice::Refused(e) = notice {
            refusals.push(e.to_string());
        }
    })
    .unwrap_or_else(|e| panic!("the double did not start under {}: {e}", root.path().display()));

    // The file under the non-ASCII launch folder was read, not a fallback.
    assert_eq!(backend.timings().source, HandshakeSource::File, "refusals: {refusals:?}");
    assert!(refusals.is_empty(), "{refusals:?}");
    assert_eq!(backend.version(), "0.3.1-double");
    assert_eq!(backend.health().pid, backend.pid());
    assert_eq!(backend.check_health(Duration::from_secs(5)).unwrap().status, "ok");
    let launches: Vec<_> = std::fs::read_dir(&spec.runtime_base).unwrap().flatten().collect();
    assert_eq!(launches.len(), 1, "one private launch folder while it runs");
    assert!(spec.data_dir.is_dir() && spec.log_dir.is_dir());

    let report = backend.shutdown(Duration::from_secs(5), &mut |_| {});
    assert_eq!(report.exit, Some(Exit::Code(0)));
    assert!(!report.forced);
    // Removed — on Windows once the watcher's handle on it, closed on the
    // watcher's own thread, is gone: a folder deleted while a handle is
    // open disappears when the handle closes (Wine shows this).
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_dir(&spec.runtime_base).unwrap().count() > 0 {
        assert!(Instant::now() < deadline, "the launch folder is still there 5 s after the backend stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_graceful_stop_closes_stdin_first_and_waits_for_the_backend_to_finish() {
    let root = app_folder();
    let linger = Duration::from_millis(800);
    let spec = spec(root.path(), &["--linger-ms", "800"]);
    let backend = Backend::start(&spec, &mut |_| {}).unwrap();
    let mut said = Vec::new();
    let report = backend.shutdown(Duration::from_secs(5), &mut |notice| {
        // (Its first line may still be queued from the start.)
        if let hudson_lifecycle::Notice::Output(_, line) = notice
            && !line.starts_with("double: serving")
        {
            said.push(line.to_owned());
        }
    });
    // It saw its stdin close, finished its work, and exited by itself.
    assert_eq!(said.first().map(String::as_str), Some("double: stdin closed"), "{said:?}");
    assert_eq!(report.exit, Some(Exit::Code(0)));
    assert!(!report.forced, "{report:?}");
    assert!(report.took >= linger, "the stop waited {:?}, less than the backend needed", report.took);
}

#[test]
fn a_backend_that_ignores_its_stdin_is_ended_with_its_child_after_the_grace_period() {
    let root = app_folder();
    let file = root.path().join("pids");
    let spec = spec(root.path(), &["--ignore-stdin", "--child", "--pids", file.to_str().unwrap()]);
    let backend = Backend::start(&spec, &mut |_| {}).unwrap();
    let pids = pids(&file);
    assert_eq!(pids.len(), 2, "the double and its child");
    assert!(pids.iter().all(|&pid| !gone(pid)));

    let grace = Duration::from_secs(1);
    let report = backend.shutdown(grace, &mut |_| {});
    assert!(report.forced, "{report:?}");
    assert!(report.took >= grace, "{report:?}");
    wait_all_gone(&pids, Duration::from_secs(10));
}

/// The job object (Windows): the shell is terminated — no graceful quit, no
/// code of its own runs — and the backend, which ignores its stdin, and the
/// child the backend started both end. On Linux the same promise is kept by
/// the parent-death signal and the process group, and checked with the real
/// release by `cargo xtask e2e`'s random-SIGKILL loop.
#[cfg(windows)]
#[test]
fn terminating_the_shell_ends_the_backend_and_the_child_it_started() {
    let root = app_folder();
    let mut shell = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "shell_side_that_starts_a_stubborn_backend", "--nocapture"])
        .env(SHELL_SIDE_ROOT, root.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = root.path().join("started");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        if let Some(status) = shell.try_wait().unwrap() {
            panic!("the shell side exited ({status}) before its backend served");
        }
        assert!(Instant::now() < deadline, "the shell side's backend did not serve within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pids = pids(&root.path().join("pids"));
    assert_eq!(pids.len(), 2, "the double and its child");
    assert!(pids.iter().all(|&pid| !gone(pid)));

    shell.kill().unwrap(); // TerminateProcess
    shell.wait().unwrap();
    wait_all_gone(&pids, Duration::from_secs(10));
}

#[cfg(windows)]
const SHELL_SIDE_ROOT: &str = "HUDSON_TEST_SHELL_SIDE_ROOT";

/// The shell side of the test above (this binary, run with `--ignored
/// --exact`): starts the stubborn double through the lifecycle, says so, and
/// waits to be terminated.
#[cfg(windows)]
#[test]
#[ignore = "a helper process that the job-object test starts and terminates"]
fn shell_side_that_starts_a_stubborn_backend() {
    let root = PathBuf::from(std::env::var_os(SHELL_SIDE_ROOT).expect("started by the job-object test"));
    let file = root.join("pids");
    let spec = spec(&root, &["--ignore-stdin", "--child", "--pids", file.to_str().unwrap()]);
    let _backend = Backend::start(&spec, &mut |_| {}).unwrap();
    std::fs::write(root.join("started"), b"").unwrap();
    std::thread::sleep(Duration::from_secs(600));
}
