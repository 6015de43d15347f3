//! macOS code signing and notarization, runnable from any host (the
//! `.app.tar.gz` update archive is `platform::archive::archive_dir`).

#[cfg(feature = "release-tools")]
pub mod codesign;
#[cfg(feature = "release-tools")]
pub mod identity;
#[cfg(feature = "release-tools")]
pub mod notary;
