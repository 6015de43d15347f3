//! `cargo xtask bench sign`: how long signing an update artifact takes with
//! this toolchain, next to what a user would otherwise run, in the same run
//! on the same file: `sha256sum` followed by `minisign -S`.
//!
//! Ours is `signing::artifact::sign_artifact_file`: one read of the file
//! feeding SHA-256 and the minisign BLAKE2b prehash on two threads, then an
//! Ed25519 signature. The runs alternate (ours, then theirs) so that load
//! from other processes hits both alike; the page cache is warmed first, so
//! the figures are the tools', not the disk's.

use std::io::{ErrorKind, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use signing::keys::{KeyPair, KeyProtection, SecretKey};

use crate::core::config::Config;
use crate::core::ui::{Ui, seconds};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Size of the artifact in MB (10^6 bytes).
    #[arg(long, default_value_t = 500)]
    pub size_mb: u64,
    /// Runs of each; the medians are reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    bytes: u64,
    runs: usize,
    /// Median seconds of `sign_artifact_file` (SHA-256 + size + signature).
    ours_median_s: f64,
    /// Median seconds of `sha256sum` then `minisign -S`, back to back.
    sha256sum_then_minisign_median_s: f64,
    sha256sum_median_s: f64,
    minisign_median_s: f64,
    speedup: f64,
    ours_s: Vec<f64>,
    sha256sum_then_minisign_s: Vec<f64>,
}

pub fn run(ui: &Ui, args: Args) -> Result<()> {
    if args.runs == 0 || args.size_mb == 0 {
        bail!("--runs and --size-mb must be at least 1");
    }
    require("sha256sum", "apt-get install coreutils")?;
    require("minisign", "apt-get install minisign")?;
    let config = Config::load()?;
    let dir = tempfile::Builder::new()
        .prefix("bench-sign-")
        .tempdir_in(&config.target_dir)
        .with_context(|| format!("creating a scratch folder in {}", config.target_dir.display()))?;
    let bytes = args.size_mb * 1_000_000;
    let file = dir.path().join("Hudson_bench_amd64.deb");
    let step = ui.step("bench", &format!("writing a {} MB artifact", args.size_mb));
    write_artifact(&file, bytes)?;
    step.done("written");

    // Ours: an unencrypted key, as minisign's `-W` key below, so neither side
    // pays for decrypting its key inside the timing.
    let pair = KeyPair::generate(KeyProtection::Unencrypted)?;
    let key = SecretKey::from_text_or_base64(pair.secret_key_minisign_text().expose_secret(), None)?;
    let (minisign_public, minisign_secret) = (dir.path().join("minisign.pub"), dir.path().join("minisign.key"));
    run_quiet(
        Command::new("minisign").arg("-G").arg("-W").arg("-p").arg(&minisign_public).arg("-s").arg(&minisign_secret),
    )?;

    std::io::copy(&mut std::fs::File::open(&file)?, &mut std::io::sink()).context("warming the page cache")?;
    let version = semver::Version::new(0, 1, 0);
    let mut ours = Vec::new();
    let mut sha256sum = Vec::new();
    let mut minisign = Vec::new();
    let step = ui.step("bench", "hash + sign, ours and sha256sum + minisign -S, alternating");
    for run in 0..args.runs {
        step.progress(&format!("run {} of {}", run + 1, args.runs));
        let started = Instant::now();
        let signed = signing::artifact::sign_artifact_file(&file, &version, 1_700_000_000, &key)?;
        ours.push(started.elapsed());

        let started = Instant::now();
        let digest = run_quiet(Command::new("sha256sum").arg(&file))?;
        sha256sum.push(started.elapsed());
        let started = Instant::now();
        run_quiet(
            Command::new("minisign")
                .arg("-S")
                .arg("-s")
                .arg(&minisign_secret)
                .arg("-m")
                .arg(&file)
                .arg("-x")
                .arg(dir.path().join("minisign.sig"))
                .arg("-t")
                .arg("timestamp:1700000000\tfile:Hudson_bench_amd64.deb\tversion:0.1.0"),
        )?;
        minisign.push(started.elapsed());

        // Both did the same work: the same digest of the same bytes.
        if !digest.starts_with(&signed.sha256) || signed.size != bytes {
            bail!(
                "sha256sum printed {digest:?}, ours {} ({} bytes): they did not read the same file",
                signed.sha256,
                signed.size
            );
        }
    }
    step.done("done");
    drop(dir);

    let theirs: Vec<Duration> = sha256sum.iter().zip(&minisign).map(|(a, b)| *a + *b).collect();
    let (ours_median, theirs_median) = (median(&ours), median(&theirs));
    let (sha256sum_median, minisign_median) = (median(&sha256sum), median(&minisign));
    let report = Report {
        bytes,
        runs: args.runs,
        ours_median_s: ours_median.as_secs_f64(),
        sha256sum_then_minisign_median_s: theirs_median.as_secs_f64(),
        sha256sum_median_s: sha256sum_median.as_secs_f64(),
        minisign_median_s: minisign_median.as_secs_f64(),
        speedup: theirs_median.as_secs_f64() / ours_median.as_secs_f64(),
        ours_s: ours.iter().map(Duration::as_secs_f64).collect(),
        sha256sum_then_minisign_s: theirs.iter().map(Duration::as_secs_f64).collect(),
    };
    let mb_per_s = |d: f64| bytes as f64 / 1e6 / d;
    ui.info(format!("hash + sign a {} MB file, median of {} runs:", args.size_mb, args.runs));
    ui.info(format!(
        "  ours (SHA-256 + size + minisign signature, one read):  {:>7}  ({:.0} MB/s)",
        seconds(ours_median),
        mb_per_s(report.ours_median_s)
    ));
    ui.info(format!(
        "  sha256sum, then minisign -S:                          {:>7}  ({:.0} MB/s; sha256sum {}, minisign {})",
        seconds(theirs_median),
        mb_per_s(report.sha256sum_then_minisign_median_s),
        seconds(sha256sum_median),
        seconds(minisign_median)
    ));
    ui.info(format!("  speed-up: {:.1}× (goal: at least 3×)", report.speedup));
    ui.emit(&report);
    Ok(())
}

/// Writes `bytes` bytes that do not compress or repeat within a block.
fn write_artifact(path: &Path, bytes: u64) -> Result<()> {
    const BLOCK: usize = 1 << 20;
    let mut block = vec![0u8; BLOCK];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for chunk in block.chunks_exact_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut written = 0u64;
    let mut index = 0u64;
    while written < bytes {
        // Each block differs from the others, so no block is a copy.
        block[..8].copy_from_slice(&index.to_le_bytes());
        let n = (bytes - written).min(BLOCK as u64) as usize;
        out.write_all(&block[..n])?;
        written += n as u64;
        index += 1;
    }
    out.flush()?;
    Ok(())
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2 }
}

fn require(program: &str, install: &str) -> Result<()> {
    match Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Err(error) if error.kind() == ErrorKind::NotFound => {
            bail!("`{program}` is not installed; the benchmark compares against it: {install}")
        }
        _ => Ok(()),
    }
}

/// Runs a command with no input and returns its stdout; fails with its output.
fn run_quiet(command: &mut Command) -> Result<String> {
    let shown = format!("{command:?}");
    let out = command.stdin(Stdio::null()).output().with_context(|| format!("running {shown}"))?;
    if !out.status.success() {
        bail!("{shown} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
