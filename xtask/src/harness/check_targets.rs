//! `cargo xtask check-targets [--target T]…`: type-checks the whole workspace
//! (libraries, binaries, tests, examples) for macOS and Windows on this Linux
//! machine, and lints our own crates with clippy for them, failing on any
//! error or warning in our code.
//!
//! This proves that every `cfg(target_os = "macos")` and `cfg(windows)` path
//! compiles: it does **not** link (no Apple SDK or MSVC libraries here), so a
//! missing framework or import library still shows only on the target's own
//! CI runner.
//!
//! How: Debian's `rustc-web` compiler ships the standard library's source, so
//! `-Zbuild-std` (under `RUSTC_BOOTSTRAP=1`) builds `std` for any target; the
//! Zig from PyPI's `ziglang` is the C cross-compiler that build scripts (ring,
//! zstd-sys, lzma-sys) call through `CC_<triple>`/`AR_<triple>`. The small
//! wrapper scripts cc-rs needs are written here, under the check's own target
//! folder, never kept by hand. One `cargo clippy` per target, so shared
//! dependencies compile once per target, in `target/cross` (a different
//! compiler must not share artifacts with rustup's).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::core::config::Config;
use crate::core::doctor::{CROSS_BIN, STD_SOURCE};
use crate::core::target::Target;
use crate::core::ui::{Ui, seconds};

/// Checked on every run of `cargo xtask test`.
pub const DEFAULT_TARGETS: &[&str] = &["aarch64-apple-darwin", "x86_64-pc-windows-msvc"];

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A target triple to check (repeatable; default: aarch64-apple-darwin
    /// and x86_64-pc-windows-msvc).
    #[arg(long = "target", value_name = "TRIPLE")]
    pub targets: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Checked {
    target: &'static str,
    seconds: f64,
}

pub fn run(ui: &Ui, args: Args) -> Result<()> {
    let config = Config::load()?;
    let host = Target::host()?;
    let triples: Vec<&str> = if args.targets.is_empty() {
        DEFAULT_TARGETS.to_vec()
    } else {
        args.targets.iter().map(String::as_str).collect()
    };
    let mut targets = Vec::new();
    for triple in triples {
        let target = Target::parse(triple)?;
        if target.triple == host.triple {
            bail!("--target {triple} is this machine's own target: `cargo clippy --all-targets` already checks it");
        }
        if !targets.iter().any(|t: &&Target| t.triple == target.triple) {
            targets.push(target);
        }
    }
    let toolchain = Toolchain::find()?;
    let zig = find_zig()?;
    let cross_dir = config.target_dir.join("cross");

    let mut checked = Vec::new();
    for target in targets {
        let wrappers = Wrappers::write(&cross_dir.join("bin"), &zig, target)?;
        let step =
            ui.step("check-targets", &format!("cargo clippy --workspace --all-targets --target {}", target.triple));
        let result = toolchain.clippy(&config.workspace_root, &cross_dir, target, &wrappers, &step);
        match result {
            Ok(outcome) if outcome.success && outcome.diagnostics.is_empty() => {
                let took = step.done(&format!("{} type-checks and lints clean", target.triple));
                checked.push(Checked { target: target.triple, seconds: took.as_secs_f64() });
            }
            Ok(outcome) if outcome.diagnostics.is_empty() => {
                step.failed();
                bail!(
                    "{}: cargo clippy failed before it reached our crates (a dependency or its build script did \
                     not compile; `cargo xtask doctor` checks the toolchain and Zig). Last lines of its output:\n{}",
                    target.triple,
                    outcome.stderr_tail
                );
            }
            Ok(outcome) => {
                step.failed();
                let (warnings, errors) = outcome.counts();
                for d in &outcome.diagnostics {
                    eprintln!("{}", d.rendered.trim_end());
                }
                bail!(
                    "{}: {errors} error(s) and {warnings} warning(s) in our crates (listed above); fix them in the \
                     code that the target compiles, not by hiding it behind a narrower cfg",
                    target.triple
                );
            }
            Err(e) => {
                step.failed();
                return Err(e);
            }
        }
    }
    if ui.json() {
        ui.emit(&checked);
    } else {
        let summary: Vec<String> =
            checked.iter().map(|c| format!("{} {}", c.target, seconds(Duration::from_secs_f64(c.seconds)))).collect();
        ui.info(format!(
            "type-checked and linted for {} — this proves the code compiles for those targets, not that it links",
            summary.join(", ")
        ));
    }
    Ok(())
}

/// Debian's compiler, cargo and clippy (a Rust with the standard library's
/// source, which `-Zbuild-std` needs).
pub(crate) struct Toolchain {
    pub(crate) cargo: PathBuf,
    pub(crate) rustc: PathBuf,
    cargo_clippy: PathBuf,
}

impl Toolchain {
    pub(crate) fn find() -> Result<Toolchain> {
        let bin = Path::new(CROSS_BIN);
        let toolchain =
            Toolchain { cargo: bin.join("cargo"), rustc: bin.join("rustc"), cargo_clippy: bin.join("cargo-clippy") };
        let missing: Vec<String> =
            [&toolchain.cargo, &toolchain.rustc, &toolchain.cargo_clippy, &bin.join("clippy-driver")]
                .into_iter()
                .chain([&PathBuf::from(STD_SOURCE)])
                .filter(|p| !p.is_file())
                .map(|p| p.display().to_string())
                .collect();
        if !missing.is_empty() {
            bail!(
                "the cross-target check needs Debian's Rust with the standard library's source, and {} is missing. \
                 Run `cargo xtask doctor --install` (it installs rustc-web, cargo-web, rust-web-src and \
                 rust-web-clippy from bookworm-security)",
                missing.join(", ")
            );
        }
        Ok(toolchain)
    }

    /// `program` (Debian's `cargo` or `cargo-clippy`) in `root`, set to
    /// use Debian's compiler throughout, with `-Zbuild-std` allowed. The
    /// caller adds the subcommand, the target and its C tools.
    pub(crate) fn command(&self, program: &Path, root: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(root)
            // The wrappers rustup and an outer `cargo run` leave behind
            // would pick rustup's compiler again.
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .env("CARGO", &self.cargo)
            .env("RUSTC", &self.rustc)
            .env("RUSTDOC", Path::new(CROSS_BIN).join("rustdoc"))
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TERM_COLOR", "never");
        command
    }

    fn clippy(
        &self,
        root: &Path,
        cross_dir: &Path,
        target: &Target,
        wrappers: &Wrappers,
        step: &crate::core::ui::Step,
    ) -> Result<Outcome> {
        let env_key = target.triple.replace('-', "_");
        let mut command = self.command(&self.cargo_clippy, root);
        command
            .args(["clippy", "--workspace", "--all-targets", "--locked", "--keep-going", "--target", target.triple])
            .arg("-Zbuild-std=std,panic_abort")
            .arg("--target-dir")
            .arg(cross_dir)
            .args(["--message-format", "json", "--", "-D", "warnings"])
            .env(format!("CC_{env_key}"), &wrappers.cc)
            .env(format!("CXX_{env_key}"), &wrappers.cc)
            .env(format!("AR_{env_key}"), &wrappers.ar)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().with_context(|| format!("starting {}", self.cargo_clippy.display()))?;
        let stderr = child.stderr.take().expect("piped");
        let stderr_reader = std::thread::spawn(move || tail_of(stderr, 40));
        let root_url = format!("path+file://{}", root.display());
        let mut diagnostics = Vec::new();
        for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
            let line = line.context("reading cargo's messages")?;
            let Ok(message) = serde_json::from_str::<Message>(&line) else { continue };
            match message.reason.as_str() {
                "compiler-artifact" => {
                    if let Some(target) = &message.target {
                        step.progress(&format!("{} ({})", target.name, seconds(started.elapsed())));
                    }
                }
                "compiler-message" if message.package_id.as_deref().is_some_and(|id| id.starts_with(&root_url)) => {
                    if let Some(d) = message.message.filter(|d| d.level == "warning" || d.level == "error") {
                        // clippy's closing "N warnings emitted" lines repeat
                        // what is listed, and a file shared by a crate's lib
                        // and test builds reports the same thing twice.
                        let summary = d.spans.is_empty() && d.message.contains("emitted");
                        if !summary && !diagnostics.iter().any(|seen: &Diagnostic| seen.rendered == d.rendered) {
                            diagnostics.push(d);
                        }
                    }
                }
                _ => {}
            }
        }
        let status = child.wait().context("waiting for cargo clippy")?;
        let stderr_tail = stderr_reader.join().unwrap_or_default();
        Ok(Outcome { success: status.success(), diagnostics, stderr_tail })
    }
}

struct Outcome {
    success: bool,
    diagnostics: Vec<Diagnostic>,
    stderr_tail: String,
}

impl Outcome {
    fn counts(&self) -> (usize, usize) {
        let errors = self.diagnostics.iter().filter(|d| d.level == "error").count();
        (self.diagnostics.len() - errors, errors)
    }
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    package_id: Option<String>,
    target: Option<MessageTarget>,
    message: Option<Diagnostic>,
}

#[derive(Deserialize)]
struct MessageTarget {
    name: String,
}

#[derive(Deserialize)]
struct Diagnostic {
    level: String,
    message: String,
    #[serde(default)]
    spans: Vec<serde_json::Value>,
    #[serde(default)]
    rendered: String,
}

/// The last `lines` lines read from `pipe`, indented for an error message.
pub(crate) fn tail_of(pipe: impl Read, lines: usize) -> String {
    let mut tail = std::collections::VecDeque::with_capacity(lines);
    for line in BufReader::new(pipe).lines().map_while(Result::ok) {
        if tail.len() == lines {
            tail.pop_front();
        }
        tail.push_back(format!("    {line}"));
    }
    tail.into_iter().collect::<Vec<_>>().join("\n")
}

/// The `zig` binary inside PyPI's `ziglang` package.
fn find_zig() -> Result<PathBuf> {
    let output = Command::new("python3")
        .args(["-c", "import os, ziglang; print(os.path.dirname(ziglang.__file__))"])
        .stdin(Stdio::null())
        .output();
    let dir = match output {
        Ok(o) if o.status.success() => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        _ => bail!(
            "the cross-target check compiles C for other targets with Zig, and python3 cannot import `ziglang`. \
             Run `cargo xtask doctor --install`"
        ),
    };
    let zig = dir.join("zig");
    if !zig.is_file() {
        bail!("{} is missing: reinstall PyPI's ziglang (`cargo xtask doctor --install`)", zig.display());
    }
    Ok(zig)
}

/// The C compiler and archiver scripts cc-rs calls for one target.
struct Wrappers {
    cc: PathBuf,
    ar: PathBuf,
}

impl Wrappers {
    /// Writes (atomically, and only when different) `cc-<triple>` and
    /// `ar-<triple>` into `dir`.
    fn write(dir: &Path, zig: &Path, target: &Target) -> Result<Wrappers> {
        let wrappers =
            Wrappers { cc: dir.join(format!("cc-{}", target.triple)), ar: dir.join(format!("ar-{}", target.triple)) };
        for (path, text) in [(&wrappers.cc, cc_script(zig, target)), (&wrappers.ar, ar_script(zig, target))] {
            if std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
                crate::core::fsx::write_atomic_with(path, Some(0o755), |tmp| {
                    use std::io::Write as _;
                    tmp.as_file().write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
                })?;
            }
        }
        Ok(wrappers)
    }
}

const GENERATED: &str = "# Written by `cargo xtask check-targets` (xtask/src/check_targets.rs); do not edit.";

/// cc-rs passes clang's `--target=<rust triple>`, which Zig does not take:
/// drop it and give Zig its own `-target`.
fn cc_script(zig: &Path, target: &Target) -> String {
    format!(
        "#!/bin/sh\n{GENERATED}\nfor arg do\n  shift\n  case \"$arg\" in\n    --target=*) ;;\n    *) set -- \"$@\" \"$arg\" ;;\n  esac\ndone\nexec '{}' cc -target {} \"$@\"\n",
        zig.display(),
        target.zig_target
    )
}

/// MSVC-style archives (`/OUT:` syntax) go through `zig lib`; every other
/// target through `zig ar`.
fn ar_script(zig: &Path, target: &Target) -> String {
    let tool = if target.triple.ends_with("-msvc") { "lib" } else { "ar" };
    format!("#!/bin/sh\n{GENERATED}\nexec '{}' {tool} \"$@\"\n", zig.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cc_wrapper_swaps_rusts_target_for_zigs() {
        let dir = tempfile::tempdir().unwrap();
        // A stand-in `zig` that prints the arguments it was given.
        let zig = dir.path().join("zig");
        std::fs::write(&zig, "#!/bin/sh\nprintf '%s\\n' \"$@\"\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&zig, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let target = Target::parse("x86_64-pc-windows-msvc").unwrap();
        let wrappers = Wrappers::write(&dir.path().join("bin"), &zig, target).unwrap();
        let out =
            Command::new(&wrappers.cc).args(["--target=x86_64-pc-windows-msvc", "-O2", "a file.c"]).output().unwrap();
        let args = String::from_utf8(out.stdout).unwrap();
        assert_eq!(args.lines().collect::<Vec<_>>(), ["cc", "-target", "x86_64-windows-gnu", "-O2", "a file.c"]);
        let out = Command::new(&wrappers.ar).args(["/OUT:x.lib", "a.o"]).output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "lib\n/OUT:x.lib\na.o\n");
        let mac = Target::parse("aarch64-apple-darwin").unwrap();
        assert!(ar_script(&zig, mac).contains(" ar \"$@\""));
        assert!(cc_script(&zig, mac).contains("-target aarch64-macos "));
    }

    #[test]
    fn the_default_targets_are_known_and_not_linux() {
        for triple in DEFAULT_TARGETS {
            let target = Target::parse(triple).unwrap();
            assert_ne!(target.os(), crate::core::target::Os::Linux);
        }
    }
}
