//! macOS code signing and notarization, and the `.app.tar.gz` update
//! archive, runnable from any host.

pub mod app_archive;
pub mod codesign;
pub mod identity;
pub mod notary;
