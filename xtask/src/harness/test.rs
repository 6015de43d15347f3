//! `cargo xtask test`: every test, in the order a failure is cheapest to
//! see — formatting, the backend's ExUnit suite, the Rust workspace's tests,
//! clippy, the macOS and Windows type-check (`check_targets`), then a real
//! `dist` of the host target and the checks on what it built (declared
//! outputs, reproducibility, signatures: `release_checks`; the lifecycle
//! against the real release; the shell end to end; smoke; the update end to
//! end), and last the secrets check, whose `dist` with a fresh key rebuilds
//! the shell (earlier, it made every later stage rebuild it once more).
//!
//! The stages are one table ([`STAGES`]): `--stage <id>` runs one,
//! `--from <id>` that one and every later one, `--list` shows them. A stage
//! that picks tests by name ([`run_selected_tests`]) lists what it picked
//! first and fails when that is nothing, or when fewer ran than it listed:
//! a renamed test never turns a stage into one that runs nothing and passes.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use xshell::{Shell, cmd};

use crate::core::config::Config;
use crate::core::target::Target;
use crate::core::ui::{Ui, seconds};

/// One stage of `cargo xtask test`.
pub struct Stage {
    /// Short and stable: what `--stage` and `--from` take.
    pub id: &'static str,
    /// What the progress lines say.
    pub title: &'static str,
    /// Reads what `cargo xtask dist` built for the host (so it cannot run
    /// alone on a machine that has not run `dist`).
    pub needs_dist: bool,
    run: fn(&Ctx) -> Result<()>,
}

/// What every stage may use.
struct Ctx<'a> {
    ui: &'a Ui,
    config: Config,
    sh: Shell,
    cargo: String,
}

/// Every stage, in the order plain `cargo xtask test` runs them.
pub const STAGES: &[Stage] = &[
    Stage { id: "fmt", title: "cargo fmt --check", needs_dist: false, run: fmt },
    Stage { id: "actionlint", title: "actionlint (release workflow)", needs_dist: false, run: actionlint },
    Stage { id: "mix", title: "mix test (backend)", needs_dist: false, run: mix },
    Stage { id: "unit", title: "cargo test --workspace", needs_dist: false, run: unit },
    Stage {
        id: "clippy",
        title: "cargo clippy (host; xtask also without its release tools)",
        needs_dist: false,
        run: clippy,
    },
    Stage {
        id: "check-targets",
        title: "cargo xtask check-targets (macOS and Windows type-check and clippy)",
        needs_dist: false,
        run: check_targets,
    },
    Stage {
        id: "windows",
        title: "cargo xtask test-windows (GUI-free crates' tests under Wine)",
        needs_dist: false,
        run: |cx| crate::harness::wine::run(cx.ui, &[]),
    },
    Stage { id: "dist", title: "cargo xtask dist (host)", needs_dist: false, run: dist },
    Stage {
        id: "plan-outputs",
        title: "each step's declared outputs are what dist wrote",
        needs_dist: true,
        run: |cx| crate::harness::release_checks::plan_outputs(cx.ui),
    },
    Stage {
        id: "reproducible",
        title: "dist --force reproduces the updater artifacts",
        needs_dist: true,
        run: |cx| crate::harness::release_checks::reproducible(cx.ui),
    },
    Stage {
        id: "signatures",
        title: "minisign and Tauri's verifier accept the .sig files",
        needs_dist: true,
        run: |cx| crate::harness::release_checks::signatures(cx.ui),
    },
    Stage { id: "lifecycle", title: "lifecycle against the real release", needs_dist: true, run: lifecycle },
    Stage {
        id: "secure-storage",
        title: "secure storage: real release, real Secret Service, secret-tool",
        needs_dist: true,
        run: secure_storage,
    },
    Stage {
        id: "e2e",
        title: "cargo xtask e2e (shell under Xvfb)",
        needs_dist: true,
        run: |cx| crate::harness::e2e::run(cx.ui, &crate::harness::e2e::Options::default()),
    },
    Stage {
        id: "smoke",
        title: "cargo xtask smoke --shell (the packages dist built)",
        needs_dist: true,
        run: |cx| crate::harness::secure_storage::smoke_with_keyring(&cx.sh),
    },
    Stage {
        id: "smoke-failures",
        title: "smoke failure tests on the real package",
        needs_dist: true,
        run: smoke_failures,
    },
    // Last: its scratch builds of the next versions share the target folder,
    // so afterwards the release shell there is theirs (the versioned dist
    // folders the stages above read stay as they are).
    Stage {
        id: "e2e-update",
        title: "cargo xtask e2e-update (the installed app updates itself)",
        needs_dist: true,
        run: |cx| crate::harness::e2e_update::run(cx.ui, &crate::harness::e2e_update::Options::default()),
    },
    // After the update test: its `dist` with a fresh key builds the shell
    // again with that key embedded, and every stage before it (e2e-update's
    // lab included) reuses the development-key build `dist` made above
    // instead of rebuilding it.
    Stage {
        id: "secrets",
        title: "no secret in dist + publish output",
        needs_dist: true,
        run: |cx| crate::harness::release_checks::secrets(cx.ui),
    },
    Stage {
        id: "dist-clean",
        title: "target/dist holds only this version (test builds stay out of the release output)",
        needs_dist: true,
        run: |cx| crate::harness::release_checks::dist_holds_only_this_version(cx.ui),
    },
];

/// `cargo xtask test --list`: every stage's id and title, in run order.
pub fn list(ui: &Ui) -> Result<()> {
    if ui.json() {
        let stages: Vec<_> = STAGES
            .iter()
            .map(|s| serde_json::json!({ "id": s.id, "title": s.title, "needs_dist": s.needs_dist }))
            .collect();
        ui.emit(&stages);
    } else {
        let width = STAGES.iter().map(|s| s.id.len()).max().unwrap_or(0);
        for stage in STAGES {
            ui.info(format!("{:width$}  {}", stage.id, stage.title));
        }
    }
    Ok(())
}

/// `cargo xtask test [--stage <id> | --from <id>]`: every stage, one
/// stage, or one stage and every later one.
pub fn run(ui: &Ui, stage: Option<&str>, from: Option<&str>) -> Result<()> {
    let stages = select(STAGES, stage, from)?;
    let started = Instant::now();
    let config = Config::load()?;
    let sh = Shell::new()?;
    sh.change_dir(&config.workspace_root);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if stages.len() == STAGES.len() {
        warn_if_short_of_disk(ui, &config.target_dir);
    }
    let cx = Ctx { ui, config, sh, cargo };
    let runs_dist = stages.iter().any(|s| s.id == "dist");
    for stage in stages {
        if stage.needs_dist && !runs_dist {
            dist_is_there(&cx.config, stage)?;
        }
        run_stage(ui, stage, || (stage.run)(&cx))?;
    }
    if stages.len() == STAGES.len() {
        ui.info(format!("all tests passed in {}", seconds(started.elapsed())));
    } else {
        let ids: Vec<&str> = stages.iter().map(|s| s.id).collect();
        ui.info(format!("test stages {} passed in {}", ids.join(", "), seconds(started.elapsed())));
    }
    Ok(())
}

/// What a full run from a clean clone writes under `target/` at most
/// (measured with `.ci/run`'s settings: no incremental caches; see the
/// dependencies' debug setting in the workspace's Cargo.toml).
const FULL_RUN_DISK_BYTES: u64 = 20_000_000_000;

/// Says so before a full run when the disk holding `target/` has less free
/// space than a run from a clean clone writes: a stage that fills the disk
/// fails half an hour in with "No space left on device". A warning, not a
/// refusal: a warm `target/` needs much less.
fn warn_if_short_of_disk(ui: &Ui, target: &Path) {
    let probe = target.ancestors().find(|dir| dir.is_dir()).unwrap_or(target);
    let Ok(free) = fs4::available_space(probe) else { return };
    if free < FULL_RUN_DISK_BYTES {
        ui.info(format!(
            "warning: {:.1} GB free on the disk holding {}; a full run from a clean clone writes up to {} GB \
             there (a warm target/ less): free some space if a stage fails with \"No space left on device\"",
            free as f64 / 1e9,
            target.display(),
            FULL_RUN_DISK_BYTES / 1_000_000_000
        ));
    }
}

/// The stages `--stage` or `--from` name (all of them without either).
fn select<'a>(stages: &'a [Stage], stage: Option<&str>, from: Option<&str>) -> Result<&'a [Stage]> {
    let at = |id: &str| {
        stages.iter().position(|s| s.id == id).with_context(|| {
            let ids: Vec<&str> = stages.iter().map(|s| s.id).collect();
            format!("no test stage `{id}`; the stages are: {}", ids.join(", "))
        })
    };
    match (stage, from) {
        (Some(_), Some(_)) => bail!("--stage and --from exclude each other"),
        (Some(id), None) => Ok(std::slice::from_ref(&stages[at(id)?])),
        (None, Some(id)) => Ok(&stages[at(id)?..]),
        (None, None) => Ok(stages),
    }
}

/// Run without the `dist` stage, a stage that reads dist's output says so
/// when that output is not there.
fn dist_is_there(config: &Config, stage: &Stage) -> Result<()> {
    let manifest = config.dist_dir(Target::host()?).join(signing::dist::DIST_MANIFEST_FILE);
    ensure!(
        manifest.is_file(),
        "test stage `{}` reads what `cargo xtask dist` built for this machine, and there is no {}: \
         run `cargo xtask dist` first, or `cargo xtask test --from dist`",
        stage.id,
        manifest.display()
    );
    Ok(())
}

fn run_stage(ui: &Ui, stage: &Stage, work: impl FnOnce() -> Result<()>) -> Result<()> {
    let name = stage.title;
    ui.info(format!("==> test: {name}"));
    let started = Instant::now();
    work().with_context(|| {
        format!(
            "test stage `{}` ({name}) failed; run it again alone with `cargo xtask test --stage {}`, \
             or it and every later stage with `--from {}`",
            stage.id, stage.id, stage.id
        )
    })?;
    ui.info(format!("✓ test: {name} ({})", seconds(started.elapsed())));
    Ok(())
}

fn fmt(cx: &Ctx) -> Result<()> {
    let cargo = &cx.cargo;
    Ok(cmd!(cx.sh, "{cargo} fmt --all -- --check").run()?)
}

fn actionlint(cx: &Ctx) -> Result<()> {
    Ok(cmd!(cx.sh, "actionlint .github/workflows/release.yml").run()?)
}

fn mix(cx: &Ctx) -> Result<()> {
    let _dir = cx.sh.push_dir(&cx.config.backend_dir);
    Ok(cmd!(cx.sh, "mix test").run()?)
}

fn unit(cx: &Ctx) -> Result<()> {
    let cargo = &cx.cargo;
    Ok(cmd!(cx.sh, "{cargo} test --workspace").run()?)
}

fn clippy(cx: &Ctx) -> Result<()> {
    let cargo = &cx.cargo;
    cmd!(cx.sh, "{cargo} clippy --workspace --all-targets --locked -- -D warnings").run()?;
    Ok(cmd!(cx.sh, "{cargo} clippy -p xtask --no-default-features --locked -- -D warnings").run()?)
}

fn check_targets(cx: &Ctx) -> Result<()> {
    crate::harness::check_targets::run(cx.ui, crate::harness::check_targets::Args { targets: Vec::new() })
}

fn dist(cx: &Ctx) -> Result<()> {
    crate::release::run(cx.ui, None, false, None)
}

fn lifecycle(cx: &Ctx) -> Result<()> {
    let release = crate::harness::e2e::Build::from_dist(&cx.config, Target::host()?)?.release()?;
    let _env = cx.sh.push_env("HUDSON_RELEASE_DIR", &release);
    run_selected_tests(
        &cx.sh,
        &cx.cargo,
        &["-p", "hudson-lifecycle", "--test", "real_backend"],
        &["--ignored", "--test-threads=1"],
        Select::Every,
    )
    .map(drop)
}

fn secure_storage(cx: &Ctx) -> Result<()> {
    let release = crate::harness::e2e::Build::from_dist(&cx.config, Target::host()?)?.release()?;
    crate::harness::secure_storage::run(&cx.sh, &cx.cargo, &release)
}

/// Smoke must also fail, at the right step, on a broken copy of the real
/// package: these tests need dist's output, so they are #[ignore]d in
/// `cargo test --workspace` and run here.
fn smoke_failures(cx: &Ctx) -> Result<()> {
    run_selected_tests(&cx.sh, &cx.cargo, &["--workspace"], &["--ignored"], Select::Filter(SMOKE_FAILURES)).map(drop)
}

/// The tests of `xtask/src/smoke/tests.rs` that need a real package.
const SMOKE_FAILURES: &str = "smoke::tests::real";

/// Which tests a [`run_selected_tests`] picks from what its arguments build.
#[derive(Debug, Clone, Copy)]
pub enum Select<'a> {
    /// Every test (the arguments pick the test target and `--ignored`).
    Every,
    /// Every test whose full name contains this (libtest's filter).
    Filter(&'a str),
    /// These tests, named in full (`--exact`); each must exist.
    Exact(&'a [&'a str]),
}

impl Select<'_> {
    /// What goes after libtest's own options.
    fn args(&self) -> Vec<&str> {
        match self {
            Select::Every => Vec::new(),
            Select::Filter(filter) => vec![filter],
            Select::Exact(names) => std::iter::once("--exact").chain(names.iter().copied()).collect(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Select::Every => "every test".into(),
            Select::Filter(filter) => format!("the filter `{filter}`"),
            Select::Exact(names) => format!("the test name(s) `{}`", names.join("`, `")),
        }
    }
}

/// `cargo test <cargo_args> -- <test_args> <select>`, checked to run what
/// it selects: first the same command with `--list` names the tests it
/// picks, and that must not be nothing (and, with [`Select::Exact`], must
/// hold every name); then the tests run, and libtest's `test result:`
/// lines must add up to that many passed. So a renamed test fails its stage
/// instead of leaving it running nothing. Returns how many passed.
#[track_caller]
pub fn run_selected_tests(
    sh: &Shell,
    cargo: &str,
    cargo_args: &[&str],
    test_args: &[&str],
    select: Select,
) -> Result<usize> {
    let caller = std::panic::Location::caller();
    let selection = &select.args()[..];
    let command = format!("{cargo} test {} -- {} {}", cargo_args.join(" "), test_args.join(" "), selection.join(" "))
        .trim_end()
        .to_owned();
    let picked = SelectedTests {
        command: &command,
        list_command: format!("{cargo} test {} -- {} --list", cargo_args.join(" "), test_args.join(" ")),
        select,
        at: format!("{}:{}", caller.file(), caller.line()),
    };

    let listing =
        cmd!(sh, "{cargo} test {cargo_args...} -- {test_args...} --list --format terse {selection...}").read()?;
    let listed = picked.check_listed(&listing)?;
    eprintln!("{command}: {} test(s) selected by {}", listed.len(), select.describe());

    let run = cmd!(sh, "{cargo} test {cargo_args...} -- {test_args...} {selection...}");
    eprintln!("$ {run}");
    let mut child = std::process::Command::from(run)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{command}`"))?;
    // libtest writes its lines to stdout: pass them on as they come, and
    // keep them to count.
    let mut stdout = String::new();
    let mut reader = std::io::BufReader::new(child.stdout.take().context("no stdout from cargo test")?);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line)? > 0 {
        std::io::stdout().write_all(&line)?;
        stdout.push_str(&String::from_utf8_lossy(&line));
        line.clear();
    }
    let status = child.wait()?;
    ensure!(status.success(), "`{command}` failed ({status})");
    picked.check_ran(&listed, &stdout)
}

/// One [`run_selected_tests`]: its command, what it selects, and where
/// that selection is written (for the fix).
struct SelectedTests<'a> {
    command: &'a str,
    /// The command without the selection, listing every test it could run.
    list_command: String,
    select: Select<'a>,
    at: String,
}

impl SelectedTests<'_> {
    /// The tests `cargo test … --list --format terse` printed (`<name>: test`
    /// lines), refused when there are none or a named one is missing.
    fn check_listed(&self, listing: &str) -> Result<Vec<String>> {
        let listed: Vec<String> =
            listing.lines().filter_map(|line| line.trim().strip_suffix(": test")).map(str::to_owned).collect();
        if let Select::Exact(names) = self.select {
            let missing: Vec<&str> = names.iter().copied().filter(|n| !listed.iter().any(|l| l == n)).collect();
            ensure!(
                missing.is_empty(),
                "`{}` has no test named `{}`: it was renamed, removed or is no longer #[ignore]d. \
                 Name it back, or change the name at {} to the new one",
                self.command,
                missing.join("`, `"),
                self.at
            );
        }
        ensure!(
            !listed.is_empty(),
            "`{}` selects no test with {}: a test was renamed, removed or is no longer #[ignore]d, \
             and the stage would pass having run nothing. Name the test back, or change the selection at {} \
             (`{}` shows what there is)",
            self.command,
            self.select.describe(),
            self.at,
            self.list_command
        );
        Ok(listed)
    }

    /// The tests that ran (libtest's `test result:` lines, one per test
    /// binary) must be every listed test, passed.
    fn check_ran(&self, listed: &[String], stdout: &str) -> Result<usize> {
        let results = test_results(stdout);
        ensure!(!results.is_empty(), "`{}` printed no `test result:` line: nothing ran", self.command);
        let total = results.iter().fold(TestResult::default(), |sum, r| TestResult {
            passed: sum.passed + r.passed,
            failed: sum.failed + r.failed,
            ignored: sum.ignored + r.ignored,
        });
        ensure!(
            total.failed == 0 && total.passed == listed.len(),
            "`{}` listed {} test(s) for {} but {} passed, {} failed, {} ignored: a stage passes only when \
             every test it selected ran and passed (listed: {})",
            self.command,
            listed.len(),
            self.select.describe(),
            total.passed,
            total.failed,
            total.ignored,
            listed.join(", ")
        );
        Ok(total.passed)
    }
}

/// The counts of one `test result: ok. 3 passed; 0 failed; 1 ignored; …`
/// line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct TestResult {
    passed: usize,
    failed: usize,
    ignored: usize,
}

/// Every `test result:` line of libtest's output, in order.
fn test_results(stdout: &str) -> Vec<TestResult> {
    stdout
        .lines()
        .filter_map(|line| line.trim().strip_prefix("test result: "))
        .map(|rest| {
            let mut result = TestResult::default();
            // `ok. 3 passed; 0 failed; 1 ignored; 0 measured; 5 filtered out; finished in 0.01s`
            let counts = rest.split_once(". ").map_or(rest, |(_, counts)| counts);
            for part in counts.split(';') {
                let mut words = part.split_whitespace();
                let (Some(n), Some(what)) = (words.next(), words.next()) else { continue };
                let Ok(n) = n.parse::<usize>() else { continue };
                match what {
                    "passed" => result.passed = n,
                    "failed" => result.failed = n,
                    "ignored" => result.ignored = n,
                    _ => {}
                }
            }
            result
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picked<'a>(command: &'a str, select: Select<'a>) -> SelectedTests<'a> {
        let list_command = format!("{} --list", command.split(" --ignored").next().unwrap());
        SelectedTests { command, list_command, select, at: "xtask/src/harness/test.rs:1".into() }
    }

    const SMOKE: &str = "cargo test --workspace -- --ignored smoke::tests::real";

    #[test]
    fn the_summary_lines_are_read_and_added_up_over_test_binaries() {
        let stdout = "\nrunning 2 tests\ntest a ... ok\ntest b ... ok\n\n\
                      test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 40 filtered out; finished in 0.10s\n\n\
                      running 0 tests\n\n\
                      test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 0.00s\n\n\
                      running 1 test\n\
                      test result: FAILED. 0 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 1.00s\n";
        assert_eq!(
            test_results(stdout),
            [
                TestResult { passed: 2, failed: 0, ignored: 0 },
                TestResult { passed: 0, failed: 0, ignored: 0 },
                TestResult { passed: 0, failed: 1, ignored: 2 },
            ]
        );
        let listed = vec!["smoke::tests::real_a".to_owned(), "smoke::tests::real_b".to_owned()];
        let ok = "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 40 filtered out; finished in 0.10s\n\
                  test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 0.00s\n";
        assert_eq!(picked(SMOKE, Select::Filter("smoke::tests::real")).check_ran(&listed, ok).unwrap(), 2);
    }

    #[test]
    fn a_selection_that_ran_no_test_fails() {
        let zero = "running 0 tests\n\n\
                    test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 42 filtered out; finished in 0.00s\n";
        let listed = vec!["smoke::tests::real_a".to_owned()];
        let error = picked(SMOKE, Select::Filter("smoke::tests::real")).check_ran(&listed, zero).unwrap_err();
        let error = error.to_string();
        assert!(error.contains("listed 1 test(s)") && error.contains("but 0 passed"), "{error}");
        // Fewer than listed, or no summary at all, fail the same way.
        let one = "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
        let two = vec!["a".to_owned(), "b".to_owned()];
        assert!(picked(SMOKE, Select::Every).check_ran(&two, one).is_err());
        assert!(picked(SMOKE, Select::Every).check_ran(&listed, "error: could not compile\n").is_err());
    }

    #[test]
    fn a_filter_that_matches_nothing_fails_naming_the_filter_and_the_fix() {
        // What `cargo test --workspace -- --ignored --list --format terse
        // smoke::tests::real_DOES_NOT_EXIST` prints: no `: test` line.
        let error = picked(SMOKE, Select::Filter("smoke::tests::real_DOES_NOT_EXIST")).check_listed("").unwrap_err();
        let error = error.to_string();
        assert!(error.contains("selects no test with the filter `smoke::tests::real_DOES_NOT_EXIST`"), "{error}");
        assert!(error.contains("change the selection at xtask/src/harness/test.rs:1"), "{error}");

        let listing = "smoke::tests::real_a: test\nsmoke::tests::real_b: test\n";
        let listed = picked(SMOKE, Select::Filter("smoke::tests::real")).check_listed(listing).unwrap();
        assert_eq!(listed, ["smoke::tests::real_a", "smoke::tests::real_b"]);
    }

    #[test]
    fn an_exact_name_that_is_gone_fails_naming_it() {
        let command = "cargo test -p hudson-secrets --test real_store -- --ignored --exact with_gnome_keyring";
        let select = Select::Exact(&["with_gnome_keyring"]);
        let error = picked(command, select).check_listed("with_gnome_keyrings: test\n").unwrap_err().to_string();
        assert!(error.contains("has no test named `with_gnome_keyring`"), "{error}");
        assert_eq!(picked(command, select).check_listed("with_gnome_keyring: test\n").unwrap(), ["with_gnome_keyring"]);
        assert_eq!(select.args(), ["--exact", "with_gnome_keyring"]);
    }

    #[test]
    fn stages_are_picked_by_id() {
        let ids = |stages: &[Stage]| stages.iter().map(|s| s.id).collect::<Vec<_>>();
        let mut unique = ids(STAGES);
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), STAGES.len(), "two stages share an id");
        assert!(STAGES.iter().all(|s| s.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')));
        assert_eq!(ids(select(STAGES, None, None).unwrap()), ids(STAGES));
        assert_eq!(ids(select(STAGES, Some("smoke"), None).unwrap()), ["smoke"]);
        assert_eq!(ids(select(STAGES, None, Some("e2e-update")).unwrap()), ["e2e-update", "secrets", "dist-clean"]);
        let error = select(STAGES, Some("smok"), None).err().unwrap().to_string();
        assert!(error.contains("no test stage `smok`") && error.contains("fmt, actionlint, mix"), "{error}");
        // Everything after dist reads its output; nothing before it does.
        let dist = STAGES.iter().position(|s| s.id == "dist").unwrap();
        assert!(STAGES[..=dist].iter().all(|s| !s.needs_dist) && STAGES[dist + 1..].iter().all(|s| s.needs_dist));
    }
}
