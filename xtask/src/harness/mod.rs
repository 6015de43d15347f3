//! The project's own tests and benchmarks: `cargo xtask test` and the stages
//! it runs (`check-targets`, the checks on what `dist` built, `e2e`), the
//! benchmarks, the release-workflow and layout tests, and test doubles. The
//! release tool's own code (`release/`, `channel/`, `smoke/`) never imports
//! from here (`tidy`).

#[cfg(unix)]
pub mod bench;
pub mod bench_sign;
#[cfg(unix)]
pub mod bench_update;
#[cfg(unix)]
pub mod burrito_double;
#[cfg(all(test, unix))]
mod burrito_fixture;
pub mod check_targets;
#[cfg(unix)]
pub mod database;
#[cfg(unix)]
pub mod doubles;
#[cfg(unix)]
pub mod e2e;
#[cfg(unix)]
pub mod e2e_update;
#[cfg(unix)]
pub mod release_checks;
#[cfg(unix)]
pub mod secure_storage;
#[cfg(unix)]
pub mod test;
#[cfg(test)]
mod tidy;
#[cfg(unix)]
pub mod wine;
#[cfg(test)]
mod workflow;
#[cfg(unix)]
pub mod xtest;
