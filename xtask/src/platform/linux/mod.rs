//! Linux packages made reproducible: tauri-bundler's `.deb` and `.rpm`
//! rewritten with fixed times, owners and order (see `platform::archive`).

pub mod deb;
pub mod repository;
pub mod rpm;
