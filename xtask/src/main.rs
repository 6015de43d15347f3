//! Hudson Desktop's release orchestrator.
//!
//! Run as `cargo xtask <command>`: the alias in `.cargo/config.toml` expands
//! to `cargo run --package xtask --`, so the tool is always built from the
//! checkout it releases. `cli` parses the arguments and dispatches; the
//! folders below hold the work, by role, with arrows pointing one way:
//!
//! - `core/` — configuration, targets, versions, output, commands, files,
//!   keys and credentials: what every other folder uses;
//! - `release/` — `dist`'s pipeline: one file per step, named in run order,
//!   each answering both "what will you do" (`plan`) and "do it";
//! - `platform/` — package formats and code signing per operating system,
//!   and Burrito;
//! - `channel/` — the update channels (`publish` … `verify`, `keygen`);
//! - `smoke/` — proves that the packages `dist` built work;
//! - `drive/` — Xvfb, tauri-driver and process helpers used by smoke and
//!   the harness;
//! - `harness/` — the project's own tests and benchmarks (`test`, `e2e`,
//!   `bench`, `check-targets`, the release checks and test doubles). Nothing
//!   in `release/`, `channel/` or `smoke/` imports it (`harness::tidy`).

// The light build (`cargo xtask-light`) leaves out what only the release
// tools use; the items that serve them are dead there by design. The full
// build, which has every item in use, is linted with every warning denied.
#![cfg_attr(not(feature = "release-tools"), allow(dead_code, unused_imports))]

mod channel;
mod cli;
mod core;
#[cfg(unix)]
mod drive;
mod harness;
mod platform;
mod release;
#[cfg(unix)]
mod smoke;

use std::process::ExitCode;

use clap::Parser;

use crate::core::ui::Ui;

fn main() -> ExitCode {
    core::keys::take_from_environment();
    let cli = cli::Cli::parse();
    let ui = Ui::new(cli.format);
    match cli::run(&ui, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            ui.error(&error);
            ExitCode::FAILURE
        }
    }
}
