//! `cargo xtask smoke`: proves that the packages `dist` built work, on
//! exactly those files. Each package listed in `dist-manifest.json` that
//! this machine can run (Linux: deb, rpm and the portable tree; macOS: the
//! `.app.tar.gz`) is checked against the manifest's size and SHA-256,
//! unpacked into a private temporary folder (`unpack`), and its backend is
//! found the way the installed shell finds it (`layout`), started the way
//! the shell starts it, and checked step by step (`backend`). `--shell`
//! also runs the packaged shell in a real WebView (`shell`).
//!
//! Every step is a PASS/FAIL line with its duration; a failure names what
//! was expected, what was seen and the backend's last output lines. The
//! JSON report (`report`, schema in docs/xtask.md) is written to the report
//! folder every time and printed on stdout with `--format json`. Any failed
//! step makes the command exit non-zero.

mod backend;
mod database;
mod http;
mod layout;
mod procfs;
mod report;
mod shell;
mod unpack;

#[cfg(test)]
mod doubles;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hudson_lifecycle::contract::{AppVersion, VERSION_FILE};
use signing::dist::{Artifact, ArtifactKind, DIST_MANIFEST_FILE, DistManifest};

use self::layout::Layout;
use self::report::{NotTested, Outcome, PackageReport, Redactor, Report, Status, StepReport};
use crate::core::config::Config;
use crate::core::target::{Os, Target};
use crate::core::ui::{Ui, seconds};

/// The command line.
pub struct Options {
    pub target: Option<String>,
    pub dist_dir: Option<PathBuf>,
    pub report_dir: Option<PathBuf>,
    pub shell: bool,
    pub timeout_secs: Option<u64>,
    /// Fail the secure-storage step, instead of skipping it, when this
    /// machine has no secure store.
    pub require_secure_storage: bool,
    /// Fail the sqlite steps, instead of skipping them, when the backend
    /// reports no `database` check.
    pub require_database: bool,
}

/// Everything one smoke run needs, resolved.
pub struct Plan {
    pub target: &'static Target,
    /// Folder holding `dist-manifest.json` and the packages.
    pub dist_dir: PathBuf,
    /// Where the report and screenshots go.
    pub report_dir: PathBuf,
    pub shell_binary: String,
    /// NIF modules that must report `ok`.
    pub nifs: Vec<String>,
    /// For the handshake (and the shell's page, plus the WebView's start).
    pub timeout: Duration,
    pub shell: bool,
    /// The app's identifier; the secure-storage step uses
    /// `<identifier>.smoke` as its service, never the app's own entries.
    pub identifier: String,
    pub require_secure_storage: bool,
    pub require_database: bool,
}

/// The steps every package goes through, in order.
const BACKEND_STEPS: &[&str] = &[
    "handshake",
    "healthz",
    "nifs",
    "host-guard",
    "session-guard",
    "secure-storage",
    "sqlite",
    "loopback-only",
    "stop-sigterm",
    "cleanup-sigterm",
    "restart",
    "sqlite-reopen",
    "stop-stdin",
    "cleanup-stdin",
];
const SHELL_STEPS: &[&str] = &["shell-window", "shell-screenshot", "shell-cleanup"];

pub fn run(ui: &Ui, options: Options) -> Result<()> {
    let config = Config::load()?;
    let target = Target::given_or_host(options.target.as_deref())?;
    if !target.is_host() {
        bail!(
            "cannot smoke-test {} on this machine ({}): packages run on their own system. Run `cargo xtask smoke --target {}` on that target's runner",
            target.triple,
            crate::core::target::host_triple(),
            target.triple
        );
    }
    let plan = Plan {
        target,
        dist_dir: options.dist_dir.unwrap_or_else(|| config.dist_dir(target)),
        report_dir: options
            .report_dir
            .unwrap_or_else(|| config.target_dir.join("smoke").join(&config.version).join(target.triple)),
        shell_binary: config.shell_binary.clone(),
        nifs: config.nifs.clone(),
        timeout: Duration::from_secs(options.timeout_secs.unwrap_or(config.startup_timeout_secs)),
        shell: options.shell,
        identifier: config.identifier.clone(),
        require_secure_storage: options.require_secure_storage,
        require_database: options.require_database,
    };
    let report = smoke(&plan, &mut |line| ui.info(line))?;
    ui.emit(&report);
    if !report.passed {
        bail!("smoke test failed: {}", report.failures().join(", "));
    }
    Ok(())
}

/// Runs every step on every package of `plan.dist_dir` and writes the
/// report. An error means the run could not start (no manifest, missing
/// prerequisites); failed steps are in the report.
pub fn smoke(plan: &Plan, print: &mut dyn FnMut(&str)) -> Result<Report> {
    let begun = Instant::now();
    if plan.shell {
        shell::check_prerequisites()?;
    }
    let manifest_path = plan.dist_dir.join(DIST_MANIFEST_FILE);
    let bytes =
        crate::core::fsx::read_untrusted(&manifest_path, crate::core::fsx::MAX_JSON_BYTES).with_context(|| {
            format!("cannot read {}: run `cargo xtask dist` first (or pass --dist-dir)", manifest_path.display())
        })?;
    let manifest = DistManifest::from_json(&bytes)
        .with_context(|| format!("{} is not a dist manifest", manifest_path.display()))?;
    if manifest.target != plan.target.triple {
        bail!("{} was built for {}, not {}", manifest_path.display(), manifest.target, plan.target.triple);
    }
    std::fs::create_dir_all(&plan.report_dir).with_context(|| format!("creating {}", plan.report_dir.display()))?;
    print(&format!(
        "smoke: {} {} for {} from {}",
        manifest.product,
        manifest.version,
        manifest.target,
        plan.dist_dir.display()
    ));

    let mut packages = Vec::new();
    let mut not_tested = Vec::new();
    for artifact in &manifest.artifacts {
        match runnable(plan.target, artifact.kind) {
            Ok(()) => packages.push(package(plan, &manifest, artifact, print)),
            Err(reason) => not_tested.push(NotTested {
                kind: artifact.kind.as_str().to_owned(),
                path: artifact.path.clone(),
                reason: reason.to_owned(),
            }),
        }
    }
    for skipped in &not_tested {
        print(&format!("note: {} not smoke-tested: {}", skipped.path, skipped.reason));
    }
    if packages.is_empty() {
        bail!(
            "{} lists no package this machine can smoke-test (found: {})",
            manifest_path.display(),
            manifest.artifacts.iter().map(|a| a.path.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let failed = packages.iter().flat_map(|p| &p.steps).filter(|s| s.status == Status::Fail).count();
    let report = Report {
        schema: report::SCHEMA,
        product: manifest.product.clone(),
        version: manifest.version.clone(),
        target: manifest.target.clone(),
        dist_dir: plan.dist_dir.display().to_string(),
        report_dir: plan.report_dir.display().to_string(),
        passed: failed == 0,
        duration_ms: begun.elapsed().as_millis() as u64,
        packages,
        not_tested,
    };
    let path = plan.report_dir.join(report::REPORT_FILE);
    let mut json = serde_json::to_vec_pretty(&report)?;
    json.push(b'\n');
    crate::core::fsx::write_atomic(&path, &json)?;
    let passed = report.packages.iter().flat_map(|p| &p.steps).filter(|s| s.status == Status::Pass).count();
    if report.passed {
        print(&format!("smoke: PASSED, {passed} steps in {}; report {}", seconds(begun.elapsed()), path.display()));
    } else {
        print(&format!(
            "smoke: FAILED at {} ({passed} steps passed) in {}; report {}",
            report.failures().join(", "),
            seconds(begun.elapsed()),
            path.display()
        ));
    }
    Ok(report)
}

/// Whether this machine can run packages of `kind` for `target`.
fn runnable(target: &Target, kind: ArtifactKind) -> Result<(), &'static str> {
    match (target.os(), kind) {
        (Os::Linux, ArtifactKind::Deb | ArtifactKind::Rpm | ArtifactKind::Portable) => Ok(()),
        (Os::Darwin, ArtifactKind::App) => Ok(()),
        (Os::Darwin, ArtifactKind::Dmg) => Err("the disk image holds the same app as the .app.tar.gz, which is tested"),
        (Os::Windows, ArtifactKind::Nsis | ArtifactKind::Msi) => {
            Err("unpacking Windows installers is not supported yet (it needs the installer to run)")
        }
        (_, ArtifactKind::Appimage) => Err("AppImages are not built"),
        _ => Err("not a package this system runs"),
    }
}

/// One package: verify, unpack, locate, then every step.
fn package(plan: &Plan, manifest: &DistManifest, artifact: &Artifact, print: &mut dyn FnMut(&str)) -> PackageReport {
    let kind = artifact.kind.as_str();
    print(&format!("== {kind}: {}", artifact.path));
    let mut steps = Steps { kind: kind.to_owned(), reports: Vec::new(), redactor: report::redactor(), print };
    let mut report = PackageReport {
        kind: kind.to_owned(),
        path: artifact.path.clone(),
        sha256: artifact.sha256.clone(),
        packaging: None,
        backend: None,
        install_kind: None,
        steps: Vec::new(),
    };
    let begun = Instant::now();
    let unpacked = tempfile::Builder::new().prefix("hudson-smoke-").tempdir();
    let found = unpacked
        .as_ref()
        .map_err(|e| anyhow::anyhow!("creating a temporary folder: {e}"))
        .and_then(|dir| open(plan, manifest, artifact, dir.path()));
    let mut all: Vec<&'static str> = BACKEND_STEPS.to_vec();
    if plan.shell {
        all.extend(SHELL_STEPS);
    }
    let layout = match found {
        Ok((layout, detail)) => {
            steps.record("package", begun.elapsed(), Outcome::pass(detail));
            layout
        }
        Err(e) => {
            steps.record("package", begun.elapsed(), Outcome::fail(format!("{e:#}")));
            steps.skip(&all, "not run: the package could not be opened");
            report.steps = steps.reports;
            return report;
        }
    };
    report.packaging = Some(layout.backend.packaging().as_str().to_owned());
    report.install_kind = Some(layout.install_kind.as_str().to_owned());
    report.backend = Some(layout.in_package(&layout.backend.program()));
    let expect = backend::Expect {
        version: &manifest.version,
        nifs: &plan.nifs,
        title: &manifest.product,
        timeout: plan.timeout,
        storage_service: format!("{}.smoke", plan.identifier),
        require_storage: plan.require_secure_storage,
        require_database: plan.require_database,
    };
    backend::check(&layout, &expect, &mut steps);
    if plan.shell {
        let screenshot = plan.report_dir.join(format!("shell-{kind}.png"));
        shell::check(&layout, &manifest.product, plan.timeout, &screenshot, &mut steps);
    }
    report.steps = steps.reports;
    report
}

/// Checks the package against the manifest, unpacks it into `into` and
/// finds its parts.
fn open(plan: &Plan, manifest: &DistManifest, artifact: &Artifact, into: &Path) -> Result<(Layout, String)> {
    let path = plan.dist_dir.join(&artifact.path);
    let (sha256, size) = crate::core::fsx::sha256_untrusted(&path, artifact.size)?;
    if sha256 != artifact.sha256 || size != artifact.size {
        let found = if size > artifact.size {
            format!("more than {} bytes", artifact.size)
        } else {
            format!("{size} bytes with sha256 {sha256}")
        };
        bail!(
            "{} is not the file dist-manifest.json lists: expected {} bytes with sha256 {}, found {found}",
            path.display(),
            artifact.size,
            artifact.sha256
        );
    }
    let stats = unpack::unpack(artifact.kind, &path, into)?;
    let layout = Layout::find(artifact.kind, into, &manifest.product, &plan.shell_binary)?;
    if layout.backend.packaging().as_str() != manifest.packaging {
        bail!(
            "the package's hudson-shell.json says packaging `{}`, dist-manifest.json says `{}`",
            layout.backend.packaging(),
            manifest.packaging
        );
    }
    // The shell takes its version from this file, not from its binary.
    let stated = AppVersion::read(&layout.resources).map_err(|e| {
        anyhow::anyhow!("the package's app version cannot be read (the shell would run as version unknown): {e}")
    })?;
    if stated.version != manifest.version {
        bail!(
            "the package's {VERSION_FILE} says {}, dist-manifest.json says {}: the shell would report and update as the wrong version",
            stated.version,
            manifest.version
        );
    }
    Ok((
        layout.clone(),
        format!(
            "sha256 as in dist-manifest.json; {} entries, {:.1} MiB unpacked; backend {} ({}); install kind {}",
            stats.entries,
            stats.bytes as f64 / (1 << 20) as f64,
            layout.in_package(&layout.backend.program()),
            layout.backend.packaging(),
            layout.install_kind.as_str()
        ),
    ))
}

/// The steps of one package as they complete: each is printed at once.
pub struct Steps<'a> {
    kind: String,
    reports: Vec<StepReport>,
    /// Secrets seen so far (tokens, session cookies), removed from
    /// everything recorded.
    redactor: Redactor,
    print: &'a mut dyn FnMut(&str),
}

impl Steps<'_> {
    pub fn record(&mut self, name: &'static str, took: Duration, outcome: Outcome) {
        let step = StepReport::new(name, took, outcome, &self.redactor);
        (self.print)(&step.render(&self.kind));
        self.reports.push(step);
    }

    /// Runs and records one step.
    pub fn time(&mut self, name: &'static str, check: impl FnOnce(&mut Self) -> Outcome) {
        let begun = Instant::now();
        let outcome = check(self);
        self.record(name, begun.elapsed(), outcome);
    }

    pub fn skip(&mut self, names: &[&'static str], why: &str) {
        for name in names {
            self.record(name, Duration::ZERO, Outcome::skipped(why));
        }
    }
}
