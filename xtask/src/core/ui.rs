//! What the user sees: progress on a terminal, plain lines in CI, JSON for
//! machines. Everything for people goes to stderr; stdout carries only the
//! JSON document when `--format json` is given.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub struct Ui {
    format: Format,
    /// Animated progress only on an interactive terminal outside CI.
    fancy: bool,
}

impl Ui {
    pub fn new(format: Format) -> Self {
        let fancy = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Ui { format, fancy }
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// A line of information for people.
    pub fn info(&self, line: impl AsRef<str>) {
        eprintln!("{}", line.as_ref());
    }

    /// Prints `value` as the command's JSON result (only with `--format json`).
    pub fn emit<T: Serialize>(&self, value: &T) {
        if self.json() {
            let mut out = std::io::stdout().lock();
            let _ = serde_json::to_writer_pretty(&mut out, value);
            let _ = writeln!(out);
        }
    }

    pub fn error(&self, error: &anyhow::Error) {
        eprintln!("error: {error}");
        for cause in error.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
    }

    /// Starts a long step: a spinner on a terminal, one line otherwise.
    pub fn step(&self, name: &str, what: &str) -> Step {
        let bar = if self.fancy {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} [{elapsed}]")
                    .expect("a valid progress template"),
            );
            bar.set_prefix(name.to_owned());
            bar.set_message(what.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            eprintln!("==> {name}: {what}");
            None
        };
        Step { name: name.to_owned(), bar, started: Instant::now() }
    }
}

/// A running step of a long command.
pub struct Step {
    name: String,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Step {
    /// Shows the latest thing the step is doing (terminal only: CI logs stay
    /// short).
    pub fn progress(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_owned());
        }
    }

    /// A line worth keeping in every log (a retry, a warning): printed
    /// above the spinner on a terminal, as a plain line in CI.
    pub fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("  {}: {message}", self.name)),
            None => eprintln!("  {}: {message}", self.name),
        }
    }

    pub fn done(self, outcome: &str) -> Duration {
        let took = self.started.elapsed();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("✓ {}: {outcome} ({})", self.name, seconds(took));
        took
    }

    pub fn failed(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        eprintln!("✗ {}: failed after {}", self.name, seconds(self.started.elapsed()));
    }
}

pub fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}
