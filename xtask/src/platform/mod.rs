//! What each operating system's formats and code signatures need, one folder
//! per system and one file per format (as tauri-bundler lays it out):
//! reproducible deb and rpm (`linux/`), Mach-O/app/dmg signing and
//! notarization (`macos/`), Authenticode (`windows/`); the shared
//! reproducible-archive writer (`archive`: also the `.app.tar.gz` and the
//! Linux portable tree), the `sign` command, and what this
//! project relies on about Burrito (`burrito`). All of it runs on any host.

pub mod archive;
pub mod burrito;
pub mod linux;
pub mod macos;
#[cfg(feature = "release-tools")]
pub mod sign;
pub mod windows;
