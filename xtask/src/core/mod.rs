//! What every other folder uses: the release configuration, the target
//! table, the one app version, output for people and machines, external
//! commands, file helpers, prerequisites, and the keys and credentials that
//! sign. Nothing here knows about a pipeline step, a channel or a test.

pub mod cmd;
pub mod config;
pub mod credentials;
pub mod doctor;
pub mod fsx;
pub mod keys;
pub mod openpgp;
pub mod target;
pub mod ui;
pub mod version;
// Its users (`drive/`, `smoke/`, the end-to-end harness) are Unix-only, as
// `main.rs` declares them.
#[cfg(unix)]
pub mod wait;
