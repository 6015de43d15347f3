//! `cargo xtask bench update`: the in-app update against a plain reinstall
//! (quit, unpack the new tree over the old one, start), both measured in the
//! same run from the shell's events, on the same lab as `e2e-update`.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use hudson_lifecycle::ShellEvent;
use serde::Serialize;

use crate::core::config::Config;
use crate::core::target::Target;
use crate::core::ui::Ui;
use crate::harness::e2e_update::{PAGE_TIMEOUT, UpdateLab, is_page, is_relaunch, is_stopped, ready};

/// One update measured: from "Restart to update" (or, for the baseline,
/// the quit) to the new version's page, and the time no backend served.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct UpdateTiming {
    pub to_page_ms: f64,
    pub backend_down_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub from: String,
    pub to: String,
    pub runs: usize,
    pub bytes_downloaded: u64,
    pub ours: Vec<UpdateTiming>,
    pub baseline: Vec<UpdateTiming>,
    pub ours_median: UpdateTiming,
    pub baseline_median: UpdateTiming,
}

/// `cargo xtask bench update`: our in-app update against a plain
/// reinstall (quit, unpack the new tree over the old one, start), both
/// measured in the same run from the shell's log, polled every 5 ms.
pub fn run(ui: &Ui, runs: usize) -> Result<()> {
    let config = Config::load()?;
    let lab = UpdateLab::start(ui, &config, Target::host()?, false)?;
    lab.publish(&lab.v2)?;
    let v2 = lab.v2.version.to_string();
    let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1000.0;
    let (mut ours, mut baseline) = (Vec::new(), Vec::new());
    for run in 0..runs {
        // Ours: the running app updates itself.
        let user = lab.install(&lab.v1)?;
        let from = user.log_len();
        let shell = user.launch(true)?;
        let measured = (|| -> Result<UpdateTiming> {
            let (restart, _, after) = user.seen(from, "the install starting", PAGE_TIMEOUT, |e| {
                matches!(e, ShellEvent::UpdateInstalling { .. })
            })?;
            let (stopped, _, _) = user.seen(after, "the backend stopping", PAGE_TIMEOUT, is_stopped)?;
            let (_, _, relaunched) = user.seen(after, "a relaunch", PAGE_TIMEOUT, is_relaunch)?;
            let (ready, _, _) =
                user.seen(relaunched, &format!("backend {v2} ready"), PAGE_TIMEOUT, |e| ready(e, &v2))?;
            let (page, _, _) = user.seen(relaunched, "the page loaded", PAGE_TIMEOUT, is_page)?;
            Ok(UpdateTiming { to_page_ms: ms(restart, page), backend_down_ms: ms(stopped, ready) })
        })();
        user.stop(shell)?;
        ours.push(measured?);

        // Baseline: quit, unpack over, start again.
        let user = lab.install_as(&lab.v1, false)?;
        let from = user.log_len();
        let shell = user.launch(false)?;
        let (_, _, loaded) = user.seen(from, "the page loaded", PAGE_TIMEOUT, is_page)?;
        let quit = Instant::now();
        user.stop(shell)?;
        let (stopped, _, _) = user.seen(loaded, "the backend stopping", Duration::from_secs(5), is_stopped)?;
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(&lab.v2.portable)
            .arg("--strip-components=1")
            .arg("-C")
            .arg(&user.root)
            .status()?;
        ensure!(status.success(), "unpacking {v2} over the install failed");
        let from = user.log_len();
        let shell = user.launch(false)?;
        let measured = (|| -> Result<UpdateTiming> {
            let (ready, _, _) = user.seen(from, &format!("backend {v2} ready"), PAGE_TIMEOUT, |e| ready(e, &v2))?;
            let (page, _, _) = user.seen(from, "the page loaded", PAGE_TIMEOUT, is_page)?;
            Ok(UpdateTiming { to_page_ms: ms(quit, page), backend_down_ms: ms(stopped, ready).max(ms(quit, ready)) })
        })();
        user.stop(shell)?;
        baseline.push(measured?);
        ui.info(format!(
            "run {}: ours {:.0} ms to the page ({:.0} ms without a backend); baseline {:.0} ms ({:.0} ms)",
            run + 1,
            ours[run].to_page_ms,
            ours[run].backend_down_ms,
            baseline[run].to_page_ms,
            baseline[run].backend_down_ms
        ));
    }
    let median = |items: &[UpdateTiming]| {
        let pick = |f: fn(&UpdateTiming) -> f64| {
            let mut v: Vec<f64> = items.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or_default()
        };
        UpdateTiming { to_page_ms: pick(|t| t.to_page_ms), backend_down_ms: pick(|t| t.backend_down_ms) }
    };
    let report = BenchReport {
        from: lab.v1.version.to_string(),
        to: v2.clone(),
        runs,
        bytes_downloaded: std::fs::metadata(&lab.v2.portable)?.len(),
        ours_median: median(&ours),
        baseline_median: median(&baseline),
        ours,
        baseline,
    };
    ui.info(format!(
        "update {} → {v2}, median of {runs}: in-app update {:.0} ms from Restart to update to the new page ({:.0} ms without a backend), {} bytes downloaded; quit + unpack over + start {:.0} ms ({:.0} ms without a backend)",
        report.from,
        report.ours_median.to_page_ms,
        report.ours_median.backend_down_ms,
        report.bytes_downloaded,
        report.baseline_median.to_page_ms,
        report.baseline_median.backend_down_ms
    ));
    ui.emit(&report);
    Ok(())
}
