//! `cargo xtask bench startup`: how fast the built shell shows the backend's
//! page, and how much of that is the shell's own doing, side by side with
//! the way ex_tauri-style shells start a sidecar (pick a port, then try a
//! TCP connect every 200 ms) measured in the same run, the same binary and
//! the same WebView (`HUDSON_BENCH_READINESS=tcp-poll-200ms`), with the
//! release in its default embedded mode (`RELEASE_MODE=embedded`, where
//! ours boots interactive), started after the window as such shells do. That switch
//! exists only in the shell's `bench-baseline` build, which this command
//! builds as its own binary next to `dist`'s release shell (only the shell
//! crate compiles again); the shell that ships has no way to poll.
//!
//! Each launch runs under Xvfb with `HUDSON_STARTUP_TRACE`, in which the
//! shell stamps its milestones on the machine's monotonic clock: backend
//! spawned, backend ready (its handshake file or `PORT:` line), handshake
//! seen by the shell, health confirmed, navigation requested, the WebView's
//! navigation decision for the enter URL and for the backend's redirect
//! after it, page load started and finished. The two shells alternate launch by launch, so a
//! slow moment of the machine hits both alike.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hudson_lifecycle::hooks;
use hudson_lifecycle::trace::{Milestone, first_stamps};
use serde::Serialize;

use crate::core::config::Config;
use crate::core::target::Target;
use crate::core::ui::Ui;
use crate::harness::e2e::{Backend, Install, Lab};

/// The two ways to learn that the backend serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Variant {
    /// This shell: handshake file watched + `PORT:` line, no polling.
    Handshake,
    /// Baseline: TCP connect every 200 ms.
    TcpPoll200ms,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Handshake => "hudson (handshake)",
            Variant::TcpPoll200ms => "baseline (TCP poll 200 ms)",
        }
    }
}

/// One launch's milestones, in ms after the backend was spawned (launch:
/// after the shell process was started).
#[derive(Debug, Clone, Default, Serialize)]
struct Launch {
    shell_to_spawn: f64,
    backend_ready: f64,
    handshake_seen: f64,
    health_confirmed: f64,
    navigate: f64,
    /// The WebView asked the shell whether it may load the enter URL (its
    /// navigation decision; the request goes out after it).
    webview_enter: f64,
    /// The WebView asked about the backend's redirect after the enter: the
    /// backend has answered the enter request.
    webview_redirect: f64,
    page_started: f64,
    page_finished: f64,
    /// page load started − backend ready: what the shell adds, WebView
    /// included.
    overhead: f64,
    /// navigation requested − backend ready: what the shell's own code adds.
    own_overhead: f64,
    /// The rest of the overhead, WebView and backend: navigation requested →
    /// the WebView's decision on the enter URL (main loop and IPC to the
    /// page's web process),
    to_webview: f64,
    /// → its decision on the redirect (the enter request's round trip),
    enter_round_trip: f64,
    /// → WebKit's load-started event (after the redirect, on WebKitGTK).
    to_load_started: f64,
    launch_to_page: f64,
}

#[derive(Debug, Serialize)]
struct Summary {
    variant: Variant,
    launches: usize,
    median: Launch,
}

/// Launches the built shell `launches` times per variant and prints the medians.
pub fn startup(ui: &Ui, launches: usize) -> Result<()> {
    if launches == 0 {
        bail!("--launches must be at least 1");
    }
    let config = Config::load()?;
    let mut lab = Lab::start(&config)?;
    lab.build.shell = crate::harness::e2e::test_build(ui, &config, Target::host()?, "bench-baseline")?;
    let install = lab.install(Backend::Real, |_| {})?;
    let variants = [Variant::Handshake, Variant::TcpPoll200ms];
    let mut runs: Vec<(Variant, Vec<Launch>)> = variants.iter().map(|v| (*v, Vec::new())).collect();
    // One warm-up launch each: the first start reads the release from disk.
    for variant in variants {
        measure(ui, &lab, &install, variant, usize::MAX)?;
    }
    let mut discarded = 0;
    for i in 0..launches {
        for (variant, results) in runs.iter_mut() {
            let (measured, retries) = measure(ui, &lab, &install, *variant, i)?;
            discarded += retries;
            results.push(measured);
        }
        ui.info(format!("startup bench: {}/{launches} launches of each shell", i + 1));
    }
    let summaries: Vec<Summary> = runs
        .iter()
        .map(|(variant, results)| Summary { variant: *variant, launches: results.len(), median: median(results) })
        .collect();
    print_table(ui, &summaries);
    if discarded > 0 {
        ui.info(format!("startup bench: {discarded} launch(es) discarded and run again (reasons above)"));
    }
    ui.emit(&summaries);
    Ok(())
}

/// Launches a discarded run may be retried before the benchmark gives up.
const RETRIES: usize = 3;

/// One measured launch; a launch whose trace lacks a milestone (or whose
/// page never loaded) is reported with its index and reason and run again,
/// up to [`RETRIES`] times. Returns the launch and how many were discarded.
fn measure(ui: &Ui, lab: &Lab, install: &Install, variant: Variant, index: usize) -> Result<(Launch, usize)> {
    let shown = if index == usize::MAX { "warm-up".to_owned() } else { format!("{}", index + 1) };
    for attempt in 0..=RETRIES {
        match launch(lab, install, variant, index) {
            Ok(Measured::Launch(measured)) => return Ok((measured, attempt)),
            Ok(Measured::Discarded(reason)) if attempt < RETRIES => {
                ui.info(format!(
                    "startup bench: {} launch {shown} discarded ({reason}); running it again",
                    variant.label()
                ));
            }
            Ok(Measured::Discarded(reason)) => {
                bail!("{} launch {shown}: discarded {} times, last because {reason}", variant.label(), RETRIES + 1)
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the last attempt returns")
}

/// A launch's outcome: measured, or discarded with the reason.
enum Measured {
    Launch(Launch),
    Discarded(String),
}

/// Starts the shell once and reads its trace. An error is a broken
/// environment (a backend left behind, the shell not starting at all).
fn launch(lab: &Lab, install: &Install, variant: Variant, index: usize) -> Result<Measured> {
    let trace = install.home.path().join(format!("trace-{variant:?}-{index}"));
    let _ = std::fs::remove_file(&trace);
    let trace_env = OsString::from(&trace);
    let baseline = OsString::from(hooks::BENCH_READINESS_TCP_POLL);
    let embedded = OsString::from("embedded");
    let mut env: Vec<(&str, &OsString)> = vec![(hooks::ENV_STARTUP_TRACE, &trace_env)];
    if variant == Variant::TcpPoll200ms {
        env.push((hooks::ENV_BENCH_READINESS, &baseline));
        // A naive shell ships a default mix release, which boots in
        // embedded mode; ours sets interactive in its env.sh.
        env.push(("RELEASE_MODE", &embedded));
    }
    let started_ns = hudson_lifecycle::clock::monotonic_ns();
    let mut shell = lab.spawn_shell(install, &env)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = std::fs::read_to_string(&trace).unwrap_or_default();
        if first_stamps(&text).contains_key(&Milestone::PageFinished) {
            break text;
        }
        if Instant::now() > deadline || shell.try_wait()?.is_some() {
            let _ = shell.kill();
            let _ = shell.wait();
            install.wait_no_backend(Duration::from_secs(10));
            let stamped = first_stamps(&text);
            let missing: Vec<&str> =
                Milestone::ALL.iter().filter(|m| !stamped.contains_key(m)).map(|m| m.as_str()).collect();
            return Ok(Measured::Discarded(format!(
                "the page did not load within 60 s; missing {}",
                missing.join(", ")
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // A graceful quit, so the next launch starts from the same state.
    crate::drive::procs::signal(shell.id(), libc::SIGTERM);
    shell.wait()?;
    let left = install.wait_no_backend(Duration::from_secs(10));
    if !left.is_empty() {
        bail!("backend processes left after a benchmark launch: {left:?}");
    }
    Ok(match milestones(&text, started_ns) {
        Ok(measured) => Measured::Launch(measured),
        Err(e) => Measured::Discarded(format!("{e} ({})", trace.display())),
    })
}

/// The first stamp of each event.
fn milestones(trace: &str, started_ns: u64) -> Result<Launch> {
    let first = first_stamps(trace);
    let stamp = |event: Milestone| {
        first.get(&event).map(|ns| *ns as f64 / 1e6).with_context(|| format!("no {} in the trace", event.as_str()))
    };
    let spawned = stamp(Milestone::Spawned)?;
    let since = |event: Milestone| -> Result<f64> { Ok(stamp(event)? - spawned) };
    let backend_ready = since(Milestone::BackendReady)?;
    let navigate = since(Milestone::Navigate)?;
    let webview_enter = since(Milestone::WebviewEnter)?;
    let webview_redirect = since(Milestone::WebviewRedirect)?;
    let page_started = since(Milestone::PageStarted)?;
    let page_finished = since(Milestone::PageFinished)?;
    Ok(Launch {
        shell_to_spawn: spawned - started_ns as f64 / 1e6,
        backend_ready,
        handshake_seen: since(Milestone::Handshake)?,
        health_confirmed: since(Milestone::Healthy)?,
        navigate,
        webview_enter,
        webview_redirect,
        page_started,
        page_finished,
        overhead: page_started - backend_ready,
        own_overhead: navigate - backend_ready,
        to_webview: webview_enter - navigate,
        enter_round_trip: webview_redirect - webview_enter,
        to_load_started: page_started - webview_redirect,
        launch_to_page: stamp(Milestone::PageFinished)? - started_ns as f64 / 1e6,
    })
}

fn median(launches: &[Launch]) -> Launch {
    let pick = |get: fn(&Launch) -> f64| {
        let mut values: Vec<f64> = launches.iter().map(get).collect();
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] }
    };
    Launch {
        shell_to_spawn: pick(|l| l.shell_to_spawn),
        backend_ready: pick(|l| l.backend_ready),
        handshake_seen: pick(|l| l.handshake_seen),
        health_confirmed: pick(|l| l.health_confirmed),
        navigate: pick(|l| l.navigate),
        webview_enter: pick(|l| l.webview_enter),
        webview_redirect: pick(|l| l.webview_redirect),
        page_started: pick(|l| l.page_started),
        page_finished: pick(|l| l.page_finished),
        overhead: pick(|l| l.overhead),
        own_overhead: pick(|l| l.own_overhead),
        to_webview: pick(|l| l.to_webview),
        enter_round_trip: pick(|l| l.enter_round_trip),
        to_load_started: pick(|l| l.to_load_started),
        launch_to_page: pick(|l| l.launch_to_page),
    }
}

fn print_table(ui: &Ui, summaries: &[Summary]) {
    let [ours, base] = summaries else { return };
    type Row = (&'static str, fn(&Launch) -> f64);
    let rows: [Row; 15] = [
        ("shell start → backend spawned", |l| l.shell_to_spawn),
        ("spawn → backend ready (its own signal)", |l| l.backend_ready),
        ("spawn → shell saw it ready", |l| l.handshake_seen),
        ("spawn → health confirmed", |l| l.health_confirmed),
        ("spawn → navigation requested", |l| l.navigate),
        ("spawn → WebView's decision on the enter URL", |l| l.webview_enter),
        ("spawn → WebView's decision on the backend's redirect", |l| l.webview_redirect),
        ("spawn → page load started (WebKit's load-started)", |l| l.page_started),
        ("spawn → page load finished", |l| l.page_finished),
        ("shell overhead (page load started − backend ready)", |l| l.overhead),
        ("  of which the shell's code (navigation requested − ready)", |l| l.own_overhead),
        ("  then to the WebView's decision on the enter URL", |l| l.to_webview),
        ("  then the enter request until the redirect's decision", |l| l.enter_round_trip),
        ("  then until WebKit's load-started event", |l| l.to_load_started),
        ("shell start → page load finished", |l| l.launch_to_page),
    ];
    ui.info(format!(
        "startup, median of {} launches each (ms)   {:>20} {:>28} {:>7}",
        ours.launches,
        ours.variant.label(),
        base.variant.label(),
        "ratio"
    ));
    for (name, get) in rows {
        let (a, b) = (get(&ours.median), get(&base.median));
        let ratio = if a > 0.0 { format!("{:.1}×", b / a) } else { "-".into() };
        ui.info(format!("  {name:<58} {a:>20.1} {b:>28.1} {ratio:>7}"));
    }
    let met = |ms: f64| if ms <= 10.0 { "met" } else { "NOT met" };
    ui.info(format!(
        "goal: shell overhead ≤ 10 ms median: {} ({:.1} ms, WebView's load start included); {} for the shell's own code ({:.1} ms)",
        met(ours.median.overhead),
        ours.median.overhead,
        met(ours.median.own_overhead),
        ours.median.own_overhead
    ));
    let (to_page, base_to_page) = (ours.median.launch_to_page, base.median.launch_to_page);
    let share = if base_to_page > 0.0 { to_page / base_to_page } else { f64::NAN };
    ui.info(format!(
        "goal: shell start → page load finished ≤ 0.55 × the baseline's median: {} ({to_page:.1} ms = {share:.2} × {base_to_page:.1} ms)",
        if share <= 0.55 { "met" } else { "NOT met" }
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestones_are_read_from_the_trace() {
        let trace = r#"{"event":"shell_start","ns":1000000}
{"event":"spawned","ns":5000000}
{"event":"backend_ready","ns":905000000}
{"event":"handshake","ns":905100000}
{"event":"healthy","ns":907000000}
{"event":"navigate","ns":907100000}
{"event":"webview_enter","ns":908000000}
{"event":"webview_redirect","ns":909000000}
{"event":"page_started","ns":910000000}
{"event":"page_finished","ns":920000000}
{"event":"page_started","ns":990000000}"#;
        let launch = milestones(trace, 0).unwrap();
        assert_eq!(launch.shell_to_spawn, 5.0);
        assert_eq!(launch.backend_ready, 900.0);
        assert_eq!(launch.page_started, 905.0);
        assert_eq!((launch.webview_enter, launch.webview_redirect), (903.0, 904.0));
        assert!((launch.overhead - 5.0).abs() < 1e-9);
        assert!((launch.own_overhead - 2.1).abs() < 1e-9);
        assert!((launch.to_webview - 0.9).abs() < 1e-9);
        assert_eq!((launch.enter_round_trip, launch.to_load_started), (1.0, 1.0));
        assert_eq!(launch.launch_to_page, 920.0);
        assert!(milestones("{}", 0).is_err());
    }

    #[test]
    fn medians() {
        let at = |x: f64| Launch { overhead: x, ..Launch::default() };
        assert_eq!(median(&[at(3.0), at(1.0), at(2.0)]).overhead, 2.0);
        assert_eq!(median(&[at(4.0), at(1.0), at(2.0), at(3.0)]).overhead, 2.5);
    }
}
