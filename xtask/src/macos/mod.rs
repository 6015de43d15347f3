//! macOS code signing and notarization, runnable from any host.

pub mod codesign;
pub mod identity;
pub mod notary;
