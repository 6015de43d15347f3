//! macOS code signing and notarization, and the `.app.tar.gz` update
//! archive, runnable from any host.

pub mod app_archive;
#[cfg(feature = "release-tools")]
pub mod codesign;
#[cfg(feature = "release-tools")]
pub mod identity;
#[cfg(feature = "release-tools")]
pub mod notary;
