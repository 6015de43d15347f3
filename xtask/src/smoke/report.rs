//! The smoke report: one result per named step, printed as PASS/FAIL lines
//! and written as JSON (schema `hudson-smoke-report/1`, documented in the
//! docs/xtask.md). Secrets are redacted before anything is stored.

use std::time::Duration;

pub use hudson_lifecycle::redact::Redactor;
use serde::Serialize;

pub const SCHEMA: &str = "hudson-smoke-report/1";
/// File name of the JSON report inside the report folder.
pub const REPORT_FILE: &str = "smoke-report.json";
/// How many of the backend's last output lines a failure carries.
const TAIL_LINES: usize = 20;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub product: String,
    pub version: String,
    pub target: String,
    /// The folder holding `dist-manifest.json`.
    pub dist_dir: String,
    /// Where this report and any screenshot were written.
    pub report_dir: String,
    /// True when no step failed.
    pub passed: bool,
    pub duration_ms: u64,
    pub packages: Vec<PackageReport>,
    /// Artifacts of the dist manifest that were not smoke-tested, and why.
    pub not_tested: Vec<NotTested>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageReport {
    /// Artifact kind from the dist manifest: `deb`, `rpm`, `portable`, `app`.
    pub kind: String,
    /// Artifact path relative to the dist folder.
    pub path: String,
    pub sha256: String,
    /// `release` or `burrito`, as the package's `hudson-shell.json` says
    /// (absent when the package could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packaging: Option<String>,
    /// The backend program inside the package, e.g.
    /// `/usr/lib/Hudson/backend/bin/hudson`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// `package`, `portable` or `app`, as the package's `hudson-shell.json`
    /// says (absent when the package could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install_kind: Option<String>,
    pub steps: Vec<StepReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotTested {
    pub kind: String,
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    /// Not run because a step it needs failed.
    Skipped,
    /// Cannot be checked on this operating system (never counted as a pass).
    NotChecked,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skipped => "SKIP",
            Status::NotChecked => "N/A ",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub name: &'static str,
    pub status: Status,
    pub duration_ms: u64,
    /// What was seen (pass) or what went wrong (fail), in one line.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
    /// The backend's last output lines, on failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backend_output: Vec<String>,
    /// A file the step wrote (the screenshot), relative to the report folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// The outcome of a step before it is timed and named.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub detail: String,
    pub expected: Option<String>,
    pub seen: Option<String>,
    pub backend_output: Vec<String>,
    pub file: Option<String>,
}

impl Outcome {
    pub fn pass(detail: impl Into<String>) -> Outcome {
        Outcome::new(Status::Pass, detail)
    }

    pub fn fail(detail: impl Into<String>) -> Outcome {
        Outcome::new(Status::Fail, detail)
    }

    pub fn skipped(why: impl Into<String>) -> Outcome {
        Outcome::new(Status::Skipped, why)
    }

    pub fn not_checked(why: impl Into<String>) -> Outcome {
        Outcome::new(Status::NotChecked, why)
    }

    fn new(status: Status, detail: impl Into<String>) -> Outcome {
        Outcome { status, detail: detail.into(), expected: None, seen: None, backend_output: Vec::new(), file: None }
    }

    /// A failure that says what was expected and what was seen.
    pub fn mismatch(detail: impl Into<String>, expected: impl Into<String>, seen: impl Into<String>) -> Outcome {
        Outcome { expected: Some(expected.into()), seen: Some(seen.into()), ..Outcome::fail(detail) }
    }

    /// Adds the backend's last lines (only to a failure: a pass needs none).
    pub fn with_output(mut self, lines: Vec<String>) -> Outcome {
        if self.status == Status::Fail {
            let skip = lines.len().saturating_sub(TAIL_LINES);
            self.backend_output = lines.into_iter().skip(skip).collect();
        }
        self
    }

    pub fn with_file(mut self, file: impl Into<String>) -> Outcome {
        self.file = Some(file.into());
        self
    }
}

impl StepReport {
    pub fn new(name: &'static str, took: Duration, outcome: Outcome, redact: &Redactor) -> StepReport {
        StepReport {
            name,
            status: outcome.status,
            duration_ms: took.as_millis() as u64,
            detail: redact.redact(&outcome.detail).into_owned(),
            expected: outcome.expected.map(|s| redact.redact(&s).into_owned()),
            seen: outcome.seen.map(|s| redact.redact(&s).into_owned()),
            backend_output: outcome.backend_output.iter().map(|s| redact.redact_output(s).into_owned()).collect(),
            file: outcome.file,
        }
    }

    /// The PASS/FAIL line, and for a failure what was expected, what was
    /// seen and the backend's last lines.
    pub fn render(&self, package: &str) -> String {
        let mut out = format!(
            "{}  {package:<4} {:<16} {:>7.2}s  {}",
            self.status.label(),
            self.name,
            self.duration_ms as f64 / 1000.0,
            self.detail
        );
        if let Some(expected) = &self.expected {
            out.push_str(&format!("\n      expected: {expected}"));
        }
        if let Some(seen) = &self.seen {
            out.push_str(&format!("\n      seen:     {seen}"));
        }
        if let Some(file) = &self.file {
            out.push_str(&format!("\n      file:     {file}"));
        }
        if !self.backend_output.is_empty() {
            out.push_str("\n      last lines of the backend's output:");
            for line in &self.backend_output {
                out.push_str(&format!("\n        | {line}"));
            }
        }
        out
    }
}

impl Report {
    /// Every failed step as `<kind>/<step>`, in order.
    pub fn failures(&self) -> Vec<String> {
        self.packages
            .iter()
            .flat_map(|p| {
                p.steps.iter().filter(|s| s.status == Status::Fail).map(move |s| format!("{}/{}", p.kind, s.name))
            })
            .collect()
    }
}

/// What smoke's report writes in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// The redactor of one smoke run: the shell's rules (`hudson_lifecycle`),
/// the per-launch tokens and session cookies seen so far, and `<redacted>`
/// as the mark.
pub fn redactor() -> Redactor {
    Redactor::with_mark(REDACTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_known_secrets_and_token_query_values() {
        let mut redactor = redactor();
        redactor.add_secret("0123456789abcdef");
        assert_eq!(redactor.redact("got 0123456789abcdef twice: 0123456789abcdef"), "got <redacted> twice: <redacted>");
        assert_eq!(
            redactor.redact("GET http://127.0.0.1:5/desktop/enter?token=feedbeef&x=1 failed"),
            "GET http://127.0.0.1:5/desktop/enter?token=<redacted>&x=1 failed"
        );
        assert_eq!(redactor.redact("token=<redacted>"), "token=<redacted>");
        assert_eq!(redactor.redact("no secrets here"), "no secrets here");
        let token = "ab".repeat(32);
        assert_eq!(redactor.redact_output(&format!("token {token}!")), "token <redacted>!");
        assert_eq!(redactor.redact_output("pid 12345 at 0xdeadbeef"), "pid 12345 at 0xdeadbeef");
    }

    #[test]
    fn a_failure_renders_expected_seen_and_output() {
        let outcome = Outcome::mismatch("a NIF did not load", "hudson_nif: ok", "hudson_nif: enoent")
            .with_output((0..30).map(|i| format!("line {i}")).collect());
        let step = StepReport::new("nifs", Duration::from_millis(1500), outcome, &redactor());
        assert_eq!(step.backend_output.len(), TAIL_LINES);
        let text = step.render("deb");
        assert!(text.starts_with("FAIL  deb  nifs                1.50s  a NIF did not load"), "{text}");
        assert!(text.contains("expected: hudson_nif: ok") && text.contains("seen:     hudson_nif: enoent"), "{text}");
        assert!(text.contains("| line 29") && !text.contains("| line 9\n"), "{text}");
        let pass = Outcome::pass("fine").with_output(vec!["x".into()]);
        assert!(pass.backend_output.is_empty());
    }
}
