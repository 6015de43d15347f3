//! `cargo xtask test-windows`: the tests of the GUI-free crates (`signing`,
//! `hudson-lifecycle`, `hudson-updater`, `hudson-secrets`), built for
//! `x86_64-pc-windows-gnu` and run under Wine in a private, throwaway
//! prefix — so the Windows paths that `check-targets` only type-checks
//! (process spawning, job objects, paths, the Credential Manager, the
//! installer path of the updater) also run before users run them.
//!
//! What this is and is not: Windows semantics **as Wine implements them**,
//! on the **GNU** target (MinGW's linker and C runtime). The release target
//! is `x86_64-pc-windows-msvc`, built, signed and tested on the Windows
//! runner; a difference between Wine and Windows, or between the GNU and
//! MSVC targets, shows only there. What cannot run under Wine is listed in
//! [`NOT_UNDER_WINE`] and printed with every report.
//!
//! How: Debian's `rustc-web` (the compiler `check-targets` uses) builds `std`
//! for the target with `-Zbuild-std`; MinGW-w64's gcc links; Wine 8.0 runs
//! each test binary. Wine 8.0 lacks `bcryptprimitives.dll`, where Rust's
//! std gets random bytes (`ProcessPrng`), so a ten-line forwarder built
//! from `wine/bcryptprimitives.c` goes into the prefix's `system32`. Every
//! test binary is listed on the host too: a test the host has and Windows
//! does not is reported by name as Unix-only, never skipped silently.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;

use crate::core::config::Config;
use crate::core::doctor::WINE64;
use crate::core::ui::{Ui, seconds};
use crate::harness::check_targets::{Toolchain, tail_of};

/// The Windows target whose tests run under Wine (the GNU one: MinGW links
/// it here; MSVC's linker and libraries exist only on Windows).
pub const TRIPLE: &str = "x86_64-pc-windows-gnu";

/// The crates whose tests run: everything the shell ships that has no GUI.
pub const CRATES: &[&str] = &["signing", "hudson-lifecycle", "hudson-updater", "hudson-secrets"];

/// What this stage does not run, and why (printed with every report, and
/// the README's platform table says the same).
pub const NOT_UNDER_WINE: &[(&str, &str)] = &[
    (
        "the shell (hudson-desktop)",
        "its window is a WebView2, which Wine does not provide; it runs on the Windows runner",
    ),
    (
        "xtask",
        "the release tool runs on each OS's own runner; its Windows signing and packaging steps call signtool and \
         WiX there",
    ),
    ("the MSVC target", "MSVC's linker and libraries exist only on Windows; the release is built there"),
];

/// Longest one test binary may run under Wine before it is stopped and
/// the stage fails (a hang must not hold CI until its own timeout).
const BINARY_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a test binary's output may stay open after it exited before
/// what holds it counts as left behind. Wine's own server and services
/// run from before the first binary (see [`Prefix::start`]), so they never
/// hold a binary's pipes: only processes the binary started can.
const PIPE_DRAIN: Duration = Duration::from_secs(5);

/// One crate's result.
#[derive(Debug, Default, Serialize)]
struct CrateReport {
    name: String,
    ran: usize,
    passed: usize,
    ignored: usize,
    failed: Vec<String>,
    /// Tests the host builds and Windows does not (`cfg(unix)`), by name.
    unix_only: Vec<String>,
    /// Tests only Windows builds (`cfg(windows)`), by name.
    windows_only: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    target: &'static str,
    wine: String,
    seconds: f64,
    crates: Vec<CrateReport>,
    not_run: Vec<NotRun>,
}

#[derive(Debug, Serialize)]
struct NotRun {
    what: &'static str,
    why: &'static str,
}

/// `cargo xtask test-windows [--crate NAME]…`: every crate of [`CRATES`]
/// when `asked` is empty.
pub fn run(ui: &Ui, asked: &[String]) -> Result<()> {
    let started = Instant::now();
    let config = Config::load()?;
    let crates = selected(asked)?;
    let tools = Tools::find()?;
    let dir = config.target_dir.join("wine");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let step = ui.step("test-windows", &format!("build the tests of {} for {TRIPLE}", crates.join(", ")));
    let windows = match tools.build_tests(&config.workspace_root, &dir, &crates, &step) {
        Ok(binaries) => {
            step.done(&format!("{} test binaries", binaries.len()));
            binaries
        }
        Err(e) => {
            step.failed();
            return Err(e);
        }
    };

    let step = ui.step("test-windows", "list the same tests on this machine");
    let host = host_lists(&config, &crates)?;
    step.done(&format!("{} test binaries", host.len()));

    let step = ui.step("test-windows", "start a private Wine prefix");
    let prefix = Prefix::start(&tools, &dir)?;
    step.done(&prefix.version);

    let mut reports: BTreeMap<String, CrateReport> = crates
        .iter()
        .map(|name| (name.to_string(), CrateReport { name: name.to_string(), ..CrateReport::default() }))
        .collect();
    for binary in &windows {
        let step = ui.step("test-windows", &format!("{} {} under Wine", binary.package, binary.label));
        let outcome = prefix.run_tests(&binary.path);
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                step.failed();
                return Err(e);
            }
        };
        let report = reports.get_mut(&binary.package).expect("only selected crates are built");
        report.ran += outcome.passed.len() + outcome.failed.len();
        report.passed += outcome.passed.len();
        report.ignored += outcome.ignored;
        report.failed.extend(outcome.failed.iter().chain(&outcome.problems).map(|t| format!("{}::{t}", binary.label)));
        let listed_here: BTreeSet<String> = outcome.listed.iter().cloned().collect();
        let listed_host = host.get(&(binary.package.clone(), binary.label.clone())).cloned().unwrap_or_default();
        report.unix_only.extend(listed_host.difference(&listed_here).map(|t| format!("{}::{t}", binary.label)));
        report.windows_only.extend(listed_here.difference(&listed_host).map(|t| format!("{}::{t}", binary.label)));
        if outcome.failed.is_empty() && outcome.problems.is_empty() {
            step.done(&format!("{} passed, {} ignored", outcome.passed.len(), outcome.ignored));
        } else {
            step.failed();
            eprintln!("{}", outcome.output_tail);
        }
    }
    // A test binary that exists on the host only (all of its tests Unix-only).
    for ((package, label), tests) in &host {
        if !windows.iter().any(|b| &b.package == package && &b.label == label)
            && let Some(report) = reports.get_mut(package)
        {
            report.unix_only.extend(tests.iter().map(|t| format!("{label}::{t}")));
        }
    }
    drop(prefix);

    let report = Report {
        target: TRIPLE,
        wine: tools.wine_version.clone(),
        seconds: started.elapsed().as_secs_f64(),
        crates: reports.into_values().collect(),
        not_run: NOT_UNDER_WINE.iter().map(|(what, why)| NotRun { what, why }).collect(),
    };
    if ui.json() {
        ui.emit(&report);
    } else {
        print_report(ui, &report, started.elapsed());
    }
    let failed: Vec<&String> = report.crates.iter().flat_map(|c| &c.failed).collect();
    let empty: Vec<&str> = report.crates.iter().filter(|c| c.ran == 0).map(|c| c.name.as_str()).collect();
    ensure!(failed.is_empty(), "{} failure(s) under Wine: {}", failed.len(), join(&failed));
    ensure!(
        empty.is_empty(),
        "no test of {} ran under Wine (did a rename or a cfg remove them all?)",
        empty.join(", ")
    );
    Ok(())
}

fn join(items: &[&String]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn print_report(ui: &Ui, report: &Report, took: Duration) {
    ui.info(format!(
        "Windows tests under {} on {TRIPLE}, in {}: Windows semantics as Wine implements them, on the GNU \
         target; the release target (MSVC) is built and tested on the Windows runner",
        report.wine,
        seconds(took)
    ));
    for c in &report.crates {
        let unix_only = if c.unix_only.is_empty() { "none".to_owned() } else { c.unix_only.join(", ") };
        ui.info(format!(
            "  {}: {} ran, {} passed, {} failed, {} ignored; Unix-only ({}): {unix_only}; Windows-only: {}",
            c.name,
            c.ran,
            c.passed,
            c.failed.len(),
            c.ignored,
            c.unix_only.len(),
            c.windows_only.len()
        ));
    }
    for not in &report.not_run {
        ui.info(format!("  not run under Wine: {} — {}", not.what, not.why));
    }
}

fn selected(asked: &[String]) -> Result<Vec<&'static str>> {
    if asked.is_empty() {
        return Ok(CRATES.to_vec());
    }
    asked
        .iter()
        .map(|name| {
            CRATES.iter().copied().find(|c| c == name).with_context(|| {
                format!("--crate {name}: not one of the crates tested under Wine ({})", CRATES.join(", "))
            })
        })
        .collect()
}

/// The programs the stage needs, found before anything is built.
struct Tools {
    toolchain: Toolchain,
    gcc: PathBuf,
    ar: PathBuf,
    wine: PathBuf,
    wineserver: PathBuf,
    wine_version: String,
}

impl Tools {
    fn find() -> Result<Tools> {
        let toolchain = Toolchain::find()?;
        let missing = |what: &str, package: &str| {
            anyhow::anyhow!(
                "the Windows tests need {what}, which is not installed. Run `cargo xtask doctor --install` \
                 (it installs {package} on Debian 12)"
            )
        };
        let gcc =
            which::which("x86_64-w64-mingw32-gcc").map_err(|_| missing("MinGW-w64's gcc", "gcc-mingw-w64-x86-64"))?;
        let ar =
            which::which("x86_64-w64-mingw32-ar").map_err(|_| missing("MinGW-w64's ar", "gcc-mingw-w64-x86-64"))?;
        let wine = find_wine("wine64").ok_or_else(|| missing("Wine (wine64)", "wine64"))?;
        let wineserver = find_wine("wineserver").ok_or_else(|| missing("Wine's wineserver", "wine64"))?;
        let version = Command::new(&wine).arg("--version").output().context("running wine64 --version")?;
        let wine_version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        Ok(Tools { toolchain, gcc, ar, wine, wineserver, wine_version })
    }

    /// `cargo test --no-run` for the target: the test binaries, by crate.
    fn build_tests(
        &self,
        root: &Path,
        dir: &Path,
        crates: &[&str],
        step: &crate::core::ui::Step,
    ) -> Result<Vec<Binary>> {
        let env_key = TRIPLE.replace('-', "_");
        let mut command = self.toolchain.command(&self.toolchain.cargo, root);
        command
            .args(["test", "--no-run", "--locked", "--target", TRIPLE, "-Zbuild-std=std,panic_abort"])
            .args(crates.iter().flat_map(|c| ["-p", c]))
            .arg("--target-dir")
            .arg(dir)
            .args(["--message-format", "json-render-diagnostics"])
            // Line tables only: backtraces keep their lines, and the build
            // and link of debug info it does not need take minutes less.
            .env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only")
            .env("CARGO_PROFILE_TEST_DEBUG", "line-tables-only")
            .env(format!("CARGO_TARGET_{}_LINKER", env_key.to_uppercase()), &self.gcc)
            .env(format!("CC_{env_key}"), &self.gcc)
            .env(format!("AR_{env_key}"), &self.ar)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().with_context(|| format!("starting {}", self.toolchain.cargo.display()))?;
        let stderr = child.stderr.take().expect("piped");
        let tail = std::thread::spawn(move || tail_of(stderr, 40));
        let started = Instant::now();
        let mut binaries = Vec::new();
        for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
            let line = line.context("reading cargo's messages")?;
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if message["reason"] != "compiler-artifact" {
                continue;
            }
            step.progress(&format!(
                "{} ({})",
                message["target"]["name"].as_str().unwrap_or("?"),
                seconds(started.elapsed())
            ));
            if let Some(binary) = Binary::of(&message) {
                binaries.push(binary);
            }
        }
        let status = child.wait().context("waiting for cargo")?;
        let tail = tail.join().unwrap_or_default();
        if !status.success() {
            bail!("building the tests for {TRIPLE} failed ({status}). Last lines of cargo's output:\n{tail}");
        }
        binaries.sort_by(|a, b| (&a.package, &a.label).cmp(&(&b.package, &b.label)));
        Ok(binaries)
    }
}

/// `name` on PATH, else beside Debian 12's `wine64` (which is not on PATH).
fn find_wine(name: &str) -> Option<PathBuf> {
    which::which(name).ok().or_else(|| Some(Path::new(WINE64).with_file_name(name)).filter(|p| p.is_file()))
}

/// One test executable cargo built.
#[derive(Debug, Clone)]
struct Binary {
    package: String,
    /// `lib` for the crate's unit tests, `tests/<name>` for an integration test.
    label: String,
    path: PathBuf,
}

impl Binary {
    fn of(message: &serde_json::Value) -> Option<Binary> {
        if message["profile"]["test"] != true {
            return None;
        }
        let path = PathBuf::from(message["executable"].as_str()?);
        let package = package_name(message["package_id"].as_str()?)?;
        let kinds: Vec<&str> = message["target"]["kind"].as_array()?.iter().filter_map(|k| k.as_str()).collect();
        let name = message["target"]["name"].as_str()?;
        let label = if kinds.contains(&"test") { format!("tests/{name}") } else { "lib".to_owned() };
        Some(Binary { package, label, path })
    }
}

/// The package name in a cargo package id: `path+file:///…/signing#0.1.0`
/// (the name is the folder's) or `path+file:///…/lifecycle#hudson-lifecycle@0.1.0`.
fn package_name(id: &str) -> Option<String> {
    let (url, fragment) = id.rsplit_once('#')?;
    match fragment.split_once('@') {
        Some((name, _version)) => Some(name.to_owned()),
        None => url.rsplit('/').next().map(str::to_owned),
    }
}

/// Every test the host builds for `crates`, by (package, binary label):
/// what "Unix-only" is measured against. The same command as the unit
/// stage's, so nothing is rebuilt after it.
fn host_lists(config: &Config, crates: &[&str]) -> Result<BTreeMap<(String, String), BTreeSet<String>>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(&cargo)
        .current_dir(&config.workspace_root)
        .args(["test", "--workspace", "--no-run", "--message-format", "json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo test --no-run on this machine")?;
    ensure!(output.status.success(), "building this machine's tests failed ({})", output.status);
    let mut lists = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let Some(binary) = Binary::of(&message) else { continue };
        if !crates.contains(&binary.package.as_str()) {
            continue;
        }
        let listed = Command::new(&binary.path)
            .args(["--list", "--format", "terse"])
            .output()
            .with_context(|| format!("listing the tests of {}", binary.path.display()))?;
        ensure!(listed.status.success(), "{} --list failed ({})", binary.path.display(), listed.status);
        lists.insert((binary.package, binary.label), terse_list(&String::from_utf8_lossy(&listed.stdout)));
    }
    Ok(lists)
}

/// The names in `--list --format terse` output (`name: test`).
fn terse_list(text: &str) -> BTreeSet<String> {
    text.lines().filter_map(|l| l.strip_suffix(": test")).map(str::to_owned).collect()
}

/// A private Wine prefix in a temporary folder: booted, given the
/// `ProcessPrng` forwarder, and shut down and removed when dropped.
struct Prefix {
    dir: tempfile::TempDir,
    wine: PathBuf,
    wineserver: PathBuf,
    version: String,
}

impl Prefix {
    fn start(tools: &Tools, work: &Path) -> Result<Prefix> {
        let shim = build_shim(tools, work)?;
        let dir = tempfile::Builder::new().prefix("prefix-").tempdir_in(work).context("making the Wine prefix")?;
        let prefix = Prefix {
            dir,
            wine: tools.wine.clone(),
            wineserver: tools.wineserver.clone(),
            version: tools.wine_version.clone(),
        };
        let boot = prefix.command(&prefix.wine).args(["wineboot", "--init"]).output().context("running wineboot")?;
        ensure!(
            boot.status.success(),
            "wineboot --init failed ({}): {}",
            boot.status,
            String::from_utf8_lossy(&boot.stderr).trim()
        );
        prefix.command(&prefix.wineserver).arg("-w").status().context("waiting for wineserver")?;
        let system32 = prefix.dir.path().join("drive_c/windows/system32");
        ensure!(system32.is_dir(), "wineboot made no {}", system32.display());
        std::fs::copy(&shim, system32.join("bcryptprimitives.dll"))
            .with_context(|| format!("copying {} into {}", shim.display(), system32.display()))?;
        prefix.keep_running()?;
        Ok(prefix)
    }

    /// Starts Wine's server for good (`wineserver -p`) and its services
    /// with no pipes of ours. Otherwise every binary starts them, they
    /// inherit its output, and each run waits about 2 s for them to exit.
    fn keep_running(&self) -> Result<()> {
        let server = self.command(&self.wineserver).arg("-p").status().context("starting wineserver -p")?;
        ensure!(server.success(), "wineserver -p failed ({server})");
        let warm = self
            .command(&self.wine)
            .args(["cmd", "/c", "exit"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("starting Wine's services")?;
        ensure!(warm.success(), "Wine's services did not start ({warm})");
        Ok(())
    }

    /// A Wine command in this prefix: no display (nothing here opens a
    /// window), no Mono or Gecko install prompts, no debug chatter.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env("WINEPREFIX", self.dir.path())
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree=;mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        command
    }

    /// Runs one test binary and reads libtest's lines (one Wine start per
    /// binary: the run names every test, ignored ones included).
    fn run_tests(&self, binary: &Path) -> Result<Outcome> {
        let mut child = self
            .command(&self.wine)
            .arg(binary)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} under Wine", binary.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let out = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stdout).read_to_string(&mut text);
            text
        });
        let err = std::thread::spawn(move || tail_of(stderr, 40));
        let status =
            crate::core::wait::until(BINARY_TIMEOUT, Duration::from_millis(100), || child.try_wait().ok().flatten());
        if status.is_none() {
            let _ = child.kill();
            let _ = self.command(&self.wineserver).arg("-k").status();
            let _ = child.wait();
        }
        // Output still open after the binary exited: a process it started
        // (a backend double its job object should have ended) holds it.
        // Everything in the prefix is ended, and the server started again
        // for the next binary.
        let drained = crate::core::wait::until(PIPE_DRAIN, Duration::from_millis(20), || {
            (out.is_finished() && err.is_finished()).then_some(())
        })
        .is_some();
        let left_running = status.is_some() && !drained;
        if left_running {
            let _ = self.command(&self.wineserver).arg("-k").status();
            self.keep_running()?;
        }
        let text = out.join().unwrap_or_default();
        let err = err.join().unwrap_or_default();
        let mut outcome = Outcome::parse(&text);
        outcome.output_tail = format!("{}\n{err}", failures_section(&text));
        let Some(status) = status else {
            bail!(
                "{} did not finish under Wine in {}; last output:\n{}",
                binary.display(),
                seconds(BINARY_TIMEOUT),
                outcome.output_tail
            )
        };
        if !status.success() && outcome.failed.is_empty() {
            outcome.problems.push(format!("(the test binary itself: {status})"));
        }
        if left_running {
            outcome.problems.push(format!(
                "(processes the test binary started still ran {} after it exited; the stage ended them)",
                seconds(PIPE_DRAIN)
            ));
        }
        Ok(outcome)
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let _ = self.command(&self.wineserver).arg("-k").status();
    }
}

/// Builds the `ProcessPrng` forwarder from the repository's source.
fn build_shim(tools: &Tools, work: &Path) -> Result<PathBuf> {
    let dir = work.join("shim");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let source = dir.join("bcryptprimitives.c");
    let def = dir.join("bcryptprimitives.def");
    std::fs::write(&source, include_str!("wine/bcryptprimitives.c"))?;
    std::fs::write(&def, include_str!("wine/bcryptprimitives.def"))?;
    let dll = dir.join("bcryptprimitives.dll");
    let output = Command::new(&tools.gcc)
        .args(["-O2", "-shared", "-o"])
        .arg(&dll)
        .arg(&source)
        .arg(&def)
        .arg("-ladvapi32")
        .output()
        .context("running x86_64-w64-mingw32-gcc")?;
    ensure!(
        output.status.success(),
        "building the ProcessPrng forwarder failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(dll)
}

/// libtest's report of the failures (each failed test's output), bounded;
/// the last lines when there is none (a crash).
fn failures_section(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| *l == "failures:").unwrap_or(lines.len().saturating_sub(40));
    lines[start..].iter().take(300).copied().collect::<Vec<_>>().join("\n")
}

/// What one test binary's run said.
#[derive(Debug, Default)]
struct Outcome {
    passed: Vec<String>,
    failed: Vec<String>,
    ignored: usize,
    /// Every test the run named (ignored ones included).
    listed: BTreeSet<String>,
    /// What went wrong besides a test: the binary's own crash, processes
    /// it left running.
    problems: Vec<String>,
    output_tail: String,
}

impl Outcome {
    /// Reads libtest's `test <name> ... ok|FAILED|ignored` lines.
    fn parse(text: &str) -> Outcome {
        let mut outcome = Outcome::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("test ") else { continue };
            let Some((name, result)) = rest.rsplit_once(" ... ") else { continue };
            match result.trim() {
                "ok" => outcome.passed.push(name.to_owned()),
                "FAILED" => outcome.failed.push(name.to_owned()),
                r if r.starts_with("ignored") => outcome.ignored += 1,
                _ => continue,
            }
            outcome.listed.insert(name.to_owned());
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_ids_name_their_package() {
        assert_eq!(package_name("path+file:///work/main/signing#0.1.0").as_deref(), Some("signing"));
        assert_eq!(
            package_name("path+file:///work/main/src-tauri/lifecycle#hudson-lifecycle@0.1.0").as_deref(),
            Some("hudson-lifecycle")
        );
        assert_eq!(package_name("no fragment"), None);
    }

    #[test]
    fn libtest_lines_are_counted_by_result() {
        let text = "running 4 tests\ntest a::one ... ok\ntest b ... FAILED\ntest c ... ignored, needs a keyring\n\
                    test d ... ok\n\nfailures:\n\ntest result: FAILED. 2 passed; 1 failed; 1 ignored";
        let outcome = Outcome::parse(text);
        assert_eq!(outcome.passed, ["a::one", "d"]);
        assert_eq!(outcome.failed, ["b"]);
        assert_eq!(outcome.ignored, 1);
        assert_eq!(outcome.listed.len(), 4, "every named test, ignored ones too");
        assert_eq!(terse_list("a::one: test\nb: test\nbench_x: benchmark\n").len(), 2);
    }

    #[test]
    fn only_the_gui_free_crates_can_be_selected() {
        assert_eq!(selected(&[]).unwrap(), CRATES);
        assert_eq!(selected(&["signing".to_owned()]).unwrap(), ["signing"]);
        let e = selected(&["hudson-desktop".to_owned()]).unwrap_err().to_string();
        assert!(e.contains("not one of the crates tested under Wine"), "{e}");
    }
}
