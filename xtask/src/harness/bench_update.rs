//! `cargo xtask bench update`: the in-app update from the file store (only
//! the files that changed), the same update with the full artifact, and a
//! plain reinstall (quit, unpack the new tree over the old one, start), all
//! measured in the same run from the shell's events, on the same lab as
//! `e2e-update`.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
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
    /// From the offer to the update downloaded (or fetched from the file
    /// store); 0 for the baseline, which downloads nothing.
    pub fetch_ms: f64,
    /// From the download to the tree staged and checked beside the install
    /// while the old version runs; 0 for the baseline.
    pub prepare_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub from: String,
    pub to: String,
    pub runs: usize,
    /// What the update from the file store downloaded (tree manifest and
    /// objects), and what the full artifact is.
    pub delta_bytes: u64,
    pub full_bytes: u64,
    pub ours: Vec<UpdateTiming>,
    pub ours_full: Vec<UpdateTiming>,
    pub baseline: Vec<UpdateTiming>,
    pub ours_median: UpdateTiming,
    pub ours_full_median: UpdateTiming,
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
    let (mut ours, mut ours_full, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    let mut delta_bytes = 0;
    for run in 0..runs {
        // Ours, from the file store and with the full artifact, in turns
        // first (so neither always runs on the colder machine): the
        // running app updates itself.
        let order = if run % 2 == 0 { [false, true] } else { [true, false] };
        for full in order {
            let user = lab.install(&lab.v1)?;
            let from = user.log_len();
            let extra: &[(&str, &str)] =
                if full { &[(hudson_lifecycle::hooks::ENV_UPDATE_FULL_DOWNLOAD, "1")] } else { &[] };
            let shell = user.launch_with(true, extra)?;
            let measured = (|| -> Result<UpdateTiming> {
                let (offered, _, _) = user.seen(
                    from,
                    "the offer",
                    PAGE_TIMEOUT,
                    |e| matches!(e, ShellEvent::UpdateChecked { outcome, .. } if outcome == "offered"),
                )?;
                let (fetched, _, _) = user.seen(from, "the update downloaded", PAGE_TIMEOUT, |e| {
                    matches!(e, ShellEvent::UpdateDownloaded { .. })
                })?;
                let (prepared, _, _) = user.seen(from, "the update staged", PAGE_TIMEOUT, |e| {
                    matches!(e, ShellEvent::UpdatePrepared { .. })
                })?;
                let (restart, _, after) = user.seen(from, "the install starting", PAGE_TIMEOUT, |e| {
                    matches!(e, ShellEvent::UpdateInstalling { .. })
                })?;
                let (stopped, _, _) = user.seen(after, "the backend stopping", PAGE_TIMEOUT, is_stopped)?;
                let (_, _, relaunched) = user.seen(after, "a relaunch", PAGE_TIMEOUT, is_relaunch)?;
                let (ready, _, _) =
                    user.seen(relaunched, &format!("backend {v2} ready"), PAGE_TIMEOUT, |e| ready(e, &v2))?;
                let (page, _, _) = user.seen(relaunched, "the page loaded", PAGE_TIMEOUT, is_page)?;
                Ok(UpdateTiming {
                    to_page_ms: ms(restart, page),
                    backend_down_ms: ms(stopped, ready),
                    fetch_ms: ms(offered, fetched),
                    prepare_ms: ms(fetched, prepared),
                })
            })();
            let fetched = user.events_since(from).into_iter().find_map(|(_, e)| match e {
                ShellEvent::UpdateDelta { downloaded, .. } => Some(downloaded),
                _ => None,
            });
            user.stop(shell)?;
            let timing = measured?;
            if full {
                ensure!(fetched.is_none(), "the full-download run used the file store");
                ours_full.push(timing);
            } else {
                delta_bytes = fetched.context("the update did not come from the file store")?;
                ours.push(timing);
            }
        }

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
            Ok(UpdateTiming {
                to_page_ms: ms(quit, page),
                backend_down_ms: ms(stopped, ready).max(ms(quit, ready)),
                fetch_ms: 0.0,
                prepare_ms: 0.0,
            })
        })();
        user.stop(shell)?;
        baseline.push(measured?);
        ui.info(format!(
            "run {}: ours from the file store {:.0} ms to the page ({:.0} ms without a backend); with the full artifact {:.0} ms ({:.0} ms); baseline {:.0} ms ({:.0} ms)",
            run + 1,
            ours[run].to_page_ms,
            ours[run].backend_down_ms,
            ours_full[run].to_page_ms,
            ours_full[run].backend_down_ms,
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
        UpdateTiming {
            to_page_ms: pick(|t| t.to_page_ms),
            backend_down_ms: pick(|t| t.backend_down_ms),
            fetch_ms: pick(|t| t.fetch_ms),
            prepare_ms: pick(|t| t.prepare_ms),
        }
    };
    let report = BenchReport {
        from: lab.v1.version.to_string(),
        to: v2.clone(),
        runs,
        delta_bytes,
        full_bytes: std::fs::metadata(&lab.v2.portable)?.len(),
        ours_median: median(&ours),
        ours_full_median: median(&ours_full),
        baseline_median: median(&baseline),
        ours,
        ours_full,
        baseline,
    };
    ui.info(format!(
        "update {} → {v2}, median of {runs}: from the file store {} bytes downloaded ({:.1} % of the artifact) in {:.0} ms and staged in {:.0} ms, {:.0} ms from Restart to update to the new page ({:.0} ms without a backend); with the full artifact {} bytes in {:.0} ms, staged in {:.0} ms, {:.0} ms ({:.0} ms); quit + unpack over + start {:.0} ms ({:.0} ms without a backend); Restart to the page is {:.2}× the reinstall from the store, {:.2}× with the full artifact",
        report.from,
        report.delta_bytes,
        report.delta_bytes as f64 * 100.0 / report.full_bytes.max(1) as f64,
        report.ours_median.fetch_ms,
        report.ours_median.prepare_ms,
        report.ours_median.to_page_ms,
        report.ours_median.backend_down_ms,
        report.full_bytes,
        report.ours_full_median.fetch_ms,
        report.ours_full_median.prepare_ms,
        report.ours_full_median.to_page_ms,
        report.ours_full_median.backend_down_ms,
        report.baseline_median.to_page_ms,
        report.baseline_median.backend_down_ms,
        report.ours_median.to_page_ms / report.baseline_median.to_page_ms.max(1.0),
        report.ours_full_median.to_page_ms / report.baseline_median.to_page_ms.max(1.0),
    ));
    ui.emit(&report);
    Ok(())
}
