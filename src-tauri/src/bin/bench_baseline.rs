//! The startup benchmark's shell: `hudson-desktop` built with the
//! `bench-baseline` feature, so that `HUDSON_BENCH_READINESS=tcp-poll-200ms`
//! selects the polling baseline. `cargo xtask bench startup` runs both
//! variants from this one binary; it never ships.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    hudson_desktop::run();
}
