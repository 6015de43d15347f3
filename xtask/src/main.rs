//! Hudson Desktop's release orchestrator.
//!
//! Run as `cargo xtask <command>`: the alias in `.cargo/config.toml` expands
//! to `cargo run --package xtask --`, so the tool is always built from the
//! checkout it releases. This file only parses arguments and dispatches; each
//! command lives in its own module, and `dist`'s pipeline steps live under
//! `dist/` in the order they run.

mod bench;
mod cmd;
mod config;
mod dist;
mod doctor;
mod e2e;
mod fsx;
mod gui;
mod plan;
mod procs;
mod target;
mod test;
mod ui;
mod version;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::ui::{Format, Ui};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, sign, test and publish Hudson Desktop.", version)]
struct Cli {
    /// Output for people (`text`) or for machines (`json`, on stdout).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    },
    /// Benchmarks: `startup` launches the shell 20 times under Xvfb and
    /// prints the medians of each startup milestone, side by side with a
    /// baseline that polls TCP connect every 200 ms.
    Bench {
        #[command(subcommand)]
        what: bench::What,
    },
    /// Run every test: `mix test`, `cargo test --workspace`, then `dist` and
    /// the packaged-app checks.
    Test,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ui = Ui::new(cli.format);
    let result = match cli.command {
        Command::Doctor { install } => doctor::run(&ui, install),
        Command::Plan { target, all } => plan::run(&ui, target.as_deref(), all),
        Command::Dist { target, force } => dist::run(&ui, target.as_deref(), force),
        Command::E2e { kill_launches, seed, kill_loop_only } => {
            e2e::run(&ui, &e2e::Options { kill_launches, seed, kill_loop_only })
        }
        Command::Bench { what } => bench::run(&ui, what),
        Command::Test => test::run(&ui),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            ui.error(&error);
            ExitCode::FAILURE
        }
    }
}
