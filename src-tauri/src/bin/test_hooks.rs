//! The shell with its test hooks: `hudson-desktop` built with the
//! `test-hooks` feature, so that `HUDSON_TEST_PANIC=1` makes a thread panic
//! once the app has started. `cargo xtask e2e` builds it for its crash
//! scenarios; it never ships.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    hudson_desktop::run();
}
