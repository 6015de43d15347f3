//! The command line: every command and its arguments (clap), and the one
//! `match` that sends each to the module that does it. Nothing else.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::core::ui::{Format, Ui};
#[cfg(feature = "release-tools")]
use crate::platform::macos;
#[cfg(unix)]
use crate::smoke;
use crate::{channel, core, harness, platform, release};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, sign, test and publish Hudson Desktop.", version)]
pub struct Cli {
    /// Output for people (`text`) or for machines (`json`, on stdout).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List every prerequisite with the version found; `--install` installs
    /// what is missing (Debian packages, cargo and PyPI tools).
    Doctor {
        #[arg(long)]
        install: bool,
    },
    /// Show the steps, inputs and outputs of `dist` for a target, without
    /// building anything.
    Plan {
        /// Rust target triple (default: the host).
        #[arg(long, conflicts_with = "all")]
        target: Option<String>,
        /// Every supported target (what the CI matrix is built from).
        #[arg(long)]
        all: bool,
    },
    /// Build the installers, update artifacts and manifests for a target into
    /// `target/dist/<version>/<triple>/`.
    Dist {
        /// Rust target triple (default: the host).
        #[arg(long)]
        target: Option<String>,
        /// Run every step even when its inputs did not change.
        #[arg(long)]
        force: bool,
        /// Write `<version>/<triple>/` here instead of `target/dist/` (for
        /// test builds that must not sit beside a release).
        #[arg(long, value_name = "DIR")]
        out_dir: Option<std::path::PathBuf>,
    },
    /// Run the built shell under Xvfb through tauri-driver: the window must
    /// show the backend's page, and SIGKILL of the shell must leave no
    /// backend process; plus quit paths, single instance, handshake attacks,
    /// crash on boot, health pages, logs and a random-SIGKILL loop.
    E2e {
        /// Launches in the random-SIGKILL loop.
        #[arg(long, default_value_t = 50)]
        kill_launches: usize,
        /// Seed for the kill moments (printed by every run).
        #[arg(long)]
        seed: Option<u64>,
        /// Run only the kill loop (e.g. to replay a seed).
        #[arg(long)]
        kill_loop_only: bool,
        /// Run only this scenario (repeatable; e.g. `--scenario diagnostics`),
        /// without the kill loop.
        #[arg(long = "scenario", value_name = "NAME")]
        scenarios: Vec<String>,
    },
    /// In-app updates end to end under Xvfb: builds the next version and a
    /// broken one from scratch copies of this checkout with the real `dist`,
    /// publishes them to a channel served over loopback HTTP, and lets the
    /// installed portable app update itself: refusals (tree unchanged),
    /// update, SIGKILL loop, yank, broken update rolled back.
    E2eUpdate {
        /// Updates in the random-SIGKILL loop.
        #[arg(long, default_value_t = 50)]
        kill_updates: usize,
        /// Seed for the kill moments (printed by every run).
        #[arg(long)]
        seed: Option<u64>,
        /// Run only this scenario (repeatable; e.g. `--scenario yank`): each
        /// arranges its own channel and installs.
        #[arg(long = "scenario", value_name = "NAME")]
        scenarios: Vec<String>,
    },
    /// Benchmarks: `startup` launches the shell 20 times under Xvfb and
    /// prints the medians of each startup milestone, side by side with a
    /// baseline that polls TCP connect every 200 ms.
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
    /// Prove the packages `dist` built work: unpack each one, start its
    /// backend as the shell does and check handshake, health, NIFs, guards,
    /// sockets and shutdown; `--shell` also runs the packaged shell under
    /// Xvfb.
    Smoke {
        /// Rust target triple (default: the host; packages run only on
        /// their own system).
        #[arg(long)]
        target: Option<String>,
        /// Folder with `dist-manifest.json` (default:
        /// `target/dist/<version>/<triple>/`).
        #[arg(long, value_name = "DIR")]
        dist_dir: Option<std::path::PathBuf>,
        /// Where the JSON report and screenshots go (default:
        /// `target/smoke/<version>/<triple>/`).
        #[arg(long, value_name = "DIR")]
        report_dir: Option<std::path::PathBuf>,
        /// Also run the packaged shell in a WebView under Xvfb.
        #[arg(long)]
        shell: bool,
        /// Seconds the backend may take to hand shake (default: the
        /// configured `startup-timeout-secs`).
        #[arg(long, value_name = "S")]
        timeout: Option<u64>,
        /// Fail the secure-storage step when this machine has no secure
        /// store (by default it is skipped, with the reason).
        #[arg(long)]
        require_secure_storage: bool,
        /// Fail the sqlite steps when the backend reports no `database`
        /// check (by default they are skipped, with the reason).
        #[arg(long)]
        require_database: bool,
    },
    /// Run every test: `mix test`, `cargo test --workspace`, the
    /// cross-target check, then `dist` and the packaged-app checks.
    Test {
        /// Run only this stage (`--list` shows their ids).
        #[arg(long, value_name = "ID", conflicts_with = "from")]
        stage: Option<String>,
        /// Run this stage and every later one.
        #[arg(long, value_name = "ID")]
        from: Option<String>,
        /// Print every stage's id and title, in run order, and run nothing.
        #[arg(long, conflicts_with_all = ["stage", "from"])]
        list: bool,
    },
    /// Type-check the whole workspace (all targets) for macOS and Windows
    /// and lint it with clippy for them (Debian's rustc-web with
    /// `-Zbuild-std`, Zig as the C cross-compiler). Proves it compiles, not
    /// that it links.
    CheckTargets(harness::check_targets::Args),
    /// Build the GUI-free crates' tests (signing, hudson-lifecycle,
    /// hudson-updater, hudson-secrets) for x86_64-pc-windows-gnu and run
    /// them under Wine in a throwaway prefix: Windows semantics as Wine
    /// implements them, on the GNU target (the release's MSVC build is
    /// tested on the Windows runner). Reports, per crate, the tests run and
    /// the Unix-only ones by name.
    TestWindows {
        /// Run only this crate's tests (repeatable; default: signing,
        /// hudson-lifecycle, hudson-updater and hudson-secrets).
        #[arg(long = "crate", value_name = "NAME")]
        crates: Vec<String>,
    },
    /// Sign an app bundle, disk image or Mach-O (Apple triples) or .exe/.msi
    /// (Windows) in place: nested code first, then the bundle.
    Sign {
        /// Rust target triple whose files these are.
        #[arg(long)]
        target: String,
        /// List every file that would be signed, in order, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// macOS: an ad-hoc (development) signature instead of APPLE_CERTIFICATE.
        #[arg(long)]
        ad_hoc: bool,
        /// RFC 3161 time-stamp server, or `none` (default: Apple's with a
        /// certificate; DigiCert's for Authenticode).
        #[arg(long, value_name = "URL|none")]
        timestamp_url: Option<String>,
        /// Entitlements plist (default: signing/entitlements.plist).
        #[arg(long)]
        entitlements: Option<PathBuf>,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Notarize an .app, .dmg or .zip with Apple's notary service (API key
    /// from APPLE_API_ISSUER, APPLE_API_KEY_ID, APPLE_API_KEY), wait, and
    /// staple the ticket.
    Notarize {
        path: PathBuf,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 3600)]
        wait: u64,
        /// Do not staple the ticket.
        #[arg(long)]
        no_staple: bool,
        /// Notary API base URL (tests point it at a test double).
        /// (default: Apple's notary API)
        #[arg(long, hide = true)]
        notary_url: Option<String>,
        /// S3 base URL for path-style uploads (tests).
        #[arg(long, hide = true)]
        s3_url: Option<String>,
        /// Ticket lookup URL (tests).
        /// (default: Apple's ticket lookup)
        #[arg(long, hide = true)]
        ticket_url: Option<String>,
        /// Seconds between status polls.
        #[arg(long, hide = true, default_value_t = 10)]
        poll: u64,
    },
    /// Make a signing key pair: `<out>` (secret, mode 0600) and `<out>.pub`,
    /// in the format `tauri signer generate` writes.
    Keygen(channel::keygen::Args),
    /// Merge per-target dist manifests into a channel's next signed release
    /// (`release-manifests/<channel>/`).
    Publish(channel::publish::Args),
    /// Offer a release of one channel on another (e.g. beta to stable).
    Promote(channel::promote::Args),
    /// Offer the current release to a share of installs, or resume a halt.
    Rollout(channel::rollout::Args),
    /// Stop offering updates on a channel.
    Halt(channel::halt::Args),
    /// Pull a channel's release and send its installs back to the last good one.
    Yank(channel::yank::Args),
    /// Hand a channel to a new signing key: a statement signed by the
    /// current key, which apps follow (`keys.json`).
    RotateKey(channel::rotate::Args),
    /// Every channel: kind, version, sequence, rollout, expiry, platforms.
    Status(channel::status::Args),
    /// Check a published channel end to end (signatures, history,
    /// latest.json, artifacts, the file store).
    Verify(channel::verify::Args),
    /// Remove from the file store what no release in any channel's history names.
    Gc(channel::gc::Args),
}

#[derive(Debug, Clone, Subcommand)]
pub enum Bench {
    /// Launch the shell N times per variant and print the medians.
    Startup {
        #[arg(long, default_value_t = 20)]
        launches: usize,
    },
    /// Hash + sign a large artifact: ours vs `sha256sum` then `minisign -S`.
    Sign(harness::bench_sign::Args),
    /// One update N times: "Restart to update" to the new version's page and
    /// the time without a backend, beside quit + unpack over + start.
    Update {
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

/// Runs one command.
pub fn run(ui: &Ui, command: Command) -> Result<()> {
    match command {
        Command::Doctor { install } => core::doctor::run(ui, install),
        Command::Plan { target, all } => release::plan::run(ui, target.as_deref(), all),
        Command::Dist { target, force, out_dir } => release::run(ui, target.as_deref(), force, out_dir.as_deref()),
        #[cfg(unix)]
        Command::E2e { kill_launches, seed, kill_loop_only, scenarios } => {
            harness::e2e::run(ui, &harness::e2e::Options { kill_launches, seed, kill_loop_only, only: scenarios })
        }
        #[cfg(unix)]
        Command::E2eUpdate { kill_updates, seed, scenarios } => {
            harness::e2e_update::run(ui, &harness::e2e_update::Options { kill_updates, seed, only: scenarios })
        }
        #[cfg(unix)]
        Command::Bench { what: Bench::Startup { launches } } => harness::bench::startup(ui, launches),
        Command::Bench { what: Bench::Sign(args) } => harness::bench_sign::run(ui, args),
        #[cfg(unix)]
        Command::Bench { what: Bench::Update { runs } } => harness::bench_update::run(ui, runs),
        #[cfg(unix)]
        Command::Smoke { target, dist_dir, report_dir, shell, timeout, require_secure_storage, require_database } => {
            smoke::run(
                ui,
                smoke::Options {
                    target,
                    dist_dir,
                    report_dir,
                    shell,
                    timeout_secs: timeout,
                    require_secure_storage,
                    require_database,
                },
            )
        }
        #[cfg(unix)]
        Command::TestWindows { crates } => harness::wine::run(ui, &crates),
        #[cfg(unix)]
        Command::Test { list: true, .. } => harness::test::list(ui),
        #[cfg(unix)]
        Command::Test { stage, from, list: false } => harness::test::run(ui, stage.as_deref(), from.as_deref()),
        // The test harness drives processes, /proc and Xvfb: Unix only.
        #[cfg(not(unix))]
        Command::E2e { .. }
        | Command::E2eUpdate { .. }
        | Command::Bench { what: Bench::Startup { .. } | Bench::Update { .. } }
        | Command::Smoke { .. }
        | Command::TestWindows { .. }
        | Command::Test { .. } => Err(anyhow::anyhow!(
            "this command runs on Linux and macOS only (it drives processes with Unix signals); \
                 Windows installers are checked by `cargo xtask dist` and `cargo xtask sign` here"
        )),
        #[cfg(feature = "release-tools")]
        Command::Sign { target, dry_run, ad_hoc, timestamp_url, entitlements, paths } => platform::sign::run(
            ui,
            platform::sign::Args {
                target: &target,
                paths: &paths,
                dry_run,
                ad_hoc,
                timestamp_url: timestamp_url.as_deref(),
                entitlements: entitlements.as_deref(),
            },
        ),
        #[cfg(feature = "release-tools")]
        Command::Notarize { path, wait, no_staple, notary_url, s3_url, ticket_url, poll } => macos::notary::run(
            ui,
            macos::notary::Request {
                path: &path,
                endpoints: macos::notary::Endpoints::new(notary_url, s3_url, ticket_url),
                wait: std::time::Duration::from_secs(wait),
                poll: std::time::Duration::from_secs(poll),
                staple: !no_staple,
            },
        ),
        #[cfg(not(feature = "release-tools"))]
        Command::Sign { .. } | Command::Notarize { .. } => Err(release::without_release_tools("sign and notarize")),
        Command::CheckTargets(args) => harness::check_targets::run(ui, args),
        Command::Keygen(args) => channel::keygen::run(ui, args),
        Command::Publish(args) => channel::publish::run(ui, args),
        Command::Promote(args) => channel::promote::run(ui, args),
        Command::Rollout(args) => channel::rollout::run(ui, args),
        Command::Halt(args) => channel::halt::run(ui, args),
        Command::RotateKey(args) => channel::rotate::run(ui, args),
        Command::Yank(args) => channel::yank::run(ui, args),
        Command::Status(args) => channel::status::run(ui, args),
        Command::Gc(args) => channel::gc::run(ui, args),
        Command::Verify(args) => channel::verify::run(ui, args),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    /// The error clap prints for `args`, or `None` when they parse.
    fn refused(args: &[&str]) -> Option<String> {
        let all = std::iter::once("xtask").chain(args.iter().copied());
        Cli::try_parse_from(all).err().map(|e| e.to_string())
    }

    #[test]
    fn a_percent_is_plain_digits_from_0_to_100() {
        for (args, flag) in [
            (&["publish", "--channel", "beta", "--rollout", "+50", "d.json"][..], "--rollout"),
            (&["promote", "--from", "beta", "--to", "stable", "--rollout", "+50"][..], "--rollout"),
            (&["rollout", "beta", "+50"][..], "<PERCENT>"),
            (&["rollout", "beta", "101"][..], "<PERCENT>"),
            (&["rollout", "beta", " 5"][..], "<PERCENT>"),
            (&["rollout", "beta", "0x10"][..], "<PERCENT>"),
        ] {
            let error = refused(args).unwrap_or_else(|| panic!("{args:?} must be refused"));
            assert!(error.contains(flag) && error.contains("plain digits only"), "{args:?}: {error}");
        }
        for ok in [&["rollout", "beta", "0"][..], &["rollout", "beta", "100"], &["rollout", "beta", "050"]] {
            assert_eq!(refused(ok), None, "{ok:?}");
        }
    }

    #[test]
    fn every_channel_command_refuses_an_expiry_under_an_hour() {
        for args in [
            &["publish", "--channel", "beta", "--expires-in", "1s", "d.json"][..],
            &["promote", "--from", "beta", "--to", "stable", "--expires-in", "1s"],
            &["rollout", "beta", "50", "--expires-in", "59m"],
            &["halt", "beta", "--expires-in", "1s"],
            &["yank", "beta", "--expires-in", "1s"],
        ] {
            let error = refused(args).unwrap_or_else(|| panic!("{args:?} must be refused"));
            assert!(error.contains("--expires-in") && error.contains("at least one hour"), "{args:?}: {error}");
        }
        assert_eq!(refused(&["halt", "beta", "--expires-in", "1h"]), None);
    }

    #[test]
    fn test_takes_one_of_stage_from_and_list() {
        for ok in [&["test"][..], &["test", "--stage", "smoke"], &["test", "--from", "dist"], &["test", "--list"]] {
            assert_eq!(refused(ok), None, "{ok:?}");
        }
        for args in [&["test", "--stage", "fmt", "--from", "dist"][..], &["test", "--list", "--stage", "fmt"]] {
            let error = refused(args).unwrap_or_else(|| panic!("{args:?} must be refused"));
            assert!(error.contains("cannot be used with"), "{args:?}: {error}");
        }
    }
}
