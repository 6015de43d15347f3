//! `smoke --shell`: the packaged shell, run from the unpacked package in a
//! real WebView under Xvfb through tauri-driver + WebKitWebDriver. The
//! window must show the backend's page (title and loopback origin); a
//! screenshot goes into the report folder; after the session ends (which
//! kills the shell without any exit event) neither the shell nor its
//! backend may remain, and the port must be free.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use signing::dist::ArtifactKind;

use super::Steps;
use super::layout::{BackendProgram, Layout};
use super::procfs;
use super::report::Outcome;
use crate::drive::gui::{Driver, Session, Xvfb};

/// Programs `--shell` needs, checked before anything runs.
const PREREQUISITES: &[&str] = &["Xvfb", "tauri-driver", "WebKitWebDriver"];

/// Fails, naming every missing program and the command that installs it.
pub fn check_prerequisites() -> Result<()> {
    if !cfg!(target_os = "linux") {
        bail!(
            "`smoke --shell` drives the shell through WebKitWebDriver, which exists only on Linux; run `cargo xtask smoke` without --shell on this system"
        );
    }
    require(|program| crate::core::doctor::on_path(program).is_some())
}

fn require(installed: impl Fn(&str) -> bool) -> Result<()> {
    let missing: Vec<&str> = PREREQUISITES.iter().copied().filter(|p| !installed(p)).collect();
    if !missing.is_empty() {
        bail!(
            "`cargo xtask smoke --shell` needs {} on PATH, which {} not installed: run `cargo xtask doctor --install`",
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" }
        );
    }
    Ok(())
}

/// How long the shell may take from launch to showing the backend's page:
/// the backend's own startup timeout plus the WebView's start.
const WEBVIEW_START: Duration = Duration::from_secs(30);
const CLEANUP_WITHIN: Duration = Duration::from_secs(10);

pub fn check(layout: &Layout, title: &str, timeout: Duration, screenshot: &Path, steps: &mut Steps<'_>) {
    let root = layout.root.display().to_string();
    let backend_marker = match &layout.backend {
        BackendProgram::Release { dir, .. } => dir.display().to_string(),
        BackendProgram::Sidecar { binary } => binary.display().to_string(),
    };
    let begun = Instant::now();
    let since = procfs::now_ticks();
    let session_parts = (|| -> Result<_> {
        let (home, mut env) = crate::drive::home::private_home()?;
        // The portable tree runs as a user runs it, with no help: Tauri must
        // find `lib/<product>/` from the executable in `bin/` by itself
        // (`release::step6_updater::stage_portable`).
        if layout.kind != ArtifactKind::Portable {
            env.push((hudson_lifecycle::hooks::ENV_RESOURCE_DIR.into(), layout.resources.clone().into()));
        }
        let display = Xvfb::start()?;
        let driver = Driver::start(&display, &env)?;
        Ok((home, display, driver))
    })();
    let (_home, _display, driver) = match session_parts {
        Ok(parts) => parts,
        Err(e) => {
            steps.record("shell-window", begun.elapsed(), Outcome::fail(format!("{e:#}")));
            steps.skip(&["shell-screenshot", "shell-cleanup"], "not run: no display or driver");
            return;
        }
    };
    if !layout.shell.is_file() {
        steps.record(
            "shell-window",
            begun.elapsed(),
            Outcome::fail(format!("the package has no shell at {}", layout.in_package(&layout.shell))),
        );
        steps.skip(&["shell-screenshot", "shell-cleanup"], "not run: no shell");
        return;
    }
    let session = match driver.session(&layout.shell, &[]) {
        Ok(session) => session,
        Err(e) => {
            steps.record("shell-window", begun.elapsed(), Outcome::fail(format!("launching the shell: {e:#}")));
            cleanup(steps, &root, since, None, begun);
            steps.skip(&["shell-screenshot"], "not run: no window");
            return;
        }
    };
    let (window, port) = window(&session, title, timeout + WEBVIEW_START, &backend_marker);
    steps.record("shell-window", begun.elapsed(), window);

    let shot = Instant::now();
    wait_painted(&session);
    let outcome = match session.screenshot() {
        Ok(png) => match crate::core::fsx::write_atomic(screenshot, &png) {
            Ok(()) => Outcome::pass(format!("{} bytes of PNG", png.len()))
                .with_file(screenshot.file_name().unwrap_or_default().to_string_lossy()),
            Err(e) => Outcome::fail(format!("{e:#}")),
        },
        Err(e) => Outcome::fail(format!("taking the screenshot: {e:#}")),
    };
    steps.record("shell-screenshot", shot.elapsed(), outcome);

    let quit = Instant::now();
    let closed = session.close();
    if let Err(e) = closed {
        steps.record("shell-cleanup", quit.elapsed(), Outcome::fail(format!("ending the WebDriver session: {e:#}")));
        kill_leftovers(&root);
        return;
    }
    cleanup(steps, &root, since, port, quit);
}

/// Waits (up to 5 s) until the page has loaded and the WebView has
/// painted it: the title changes on navigation, before the new page is
/// drawn, and a screenshot taken then still shows the loading page.
fn wait_painted(session: &Session<'_>) {
    crate::core::wait::until(Duration::from_secs(5), Duration::from_millis(25), || {
        let state =
            session.execute("return document.readyState + ':' + (document.body ? document.body.innerText.length : 0)");
        matches!(state, Ok(serde_json::Value::String(state)) if state.starts_with("complete:") && state != "complete:0")
            .then_some(())
    });
}

/// The window's title and origin; the backend it shows must run from the
/// package.
fn window(session: &Session<'_>, title: &str, within: Duration, backend_marker: &str) -> (Outcome, Option<u16>) {
    let waited = session.wait_for_title(title, within);
    let url = session.url().unwrap_or_default();
    let shown_url = url.split('?').next().unwrap_or_default().to_owned();
    if let Err(e) = waited {
        return (
            Outcome::mismatch(
                "the window did not show the backend's page",
                format!("title {title:?} at http://127.0.0.1:<port>/"),
                format!("{e:#} at {shown_url}"),
            ),
            crate::drive::gui::backend_port(&url).ok(),
        );
    }
    let port = match crate::drive::gui::backend_port(&url) {
        Ok(port) => port,
        Err(e) => {
            return (
                Outcome::mismatch(
                    "the window is not on the backend's origin",
                    "http://127.0.0.1:<port>/",
                    format!("{e:#}"),
                ),
                None,
            );
        }
    };
    let backends: Vec<procfs::Process> =
        procfs::processes().into_iter().filter(|p| p.cmdline.contains(backend_marker)).collect();
    if backends.is_empty() {
        return (
            Outcome::mismatch(
                "the page is not served by the packaged backend",
                format!("a backend running from {backend_marker}"),
                "none",
            ),
            Some(port),
        );
    }
    let pids = backends.iter().map(|p| p.pid.to_string()).collect::<Vec<_>>().join(", ");
    (Outcome::pass(format!("title {title:?} at {shown_url}, served by the packaged backend (pid {pids})")), Some(port))
}

/// After the session ended: no process runs from the package (shell,
/// backend), no epmd was started, and the backend's port is free.
fn cleanup(steps: &mut Steps<'_>, root: &str, since: u64, port: Option<u16>, begun: Instant) {
    let (_, seen) = procfs::settle(Instant::now() + CLEANUP_WITHIN, port, || procfs::leftovers(None, since, root));
    let outcome = match seen {
        None => Outcome::pass(format!(
            "the session ended; no shell or backend process left{}",
            port.map(|p| format!("; port {p} is free")).unwrap_or_default()
        )),
        Some(seen) => Outcome::mismatch("the shell left something behind", "no process, port free", seen),
    };
    steps.record("shell-cleanup", begun.elapsed(), outcome);
    kill_leftovers(root);
}

/// Kills whatever still runs from the unpacked package (only that: it is
/// this smoke test's own).
fn kill_leftovers(root: &str) {
    for process in procfs::processes().into_iter().filter(|p| p.cmdline.contains(root)) {
        crate::drive::procs::signal(process.pid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_prerequisite_names_doctor_install() {
        let e = super::require(|p| p != "WebKitWebDriver").unwrap_err().to_string();
        assert!(e.contains("needs WebKitWebDriver on PATH, which is not installed"), "{e}");
        assert!(e.contains("cargo xtask doctor --install"), "{e}");
        let e = super::require(|_| false).unwrap_err().to_string();
        assert!(e.contains("Xvfb, tauri-driver, WebKitWebDriver"), "{e}");
        assert!(super::require(|_| true).is_ok());
    }
}
