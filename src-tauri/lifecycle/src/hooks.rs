//! The environment the shell reads besides the backend contract
//! ([`crate::contract`]): hooks that development runs, tests and benchmarks
//! set. The shell reads them and `cargo xtask` (`smoke --shell`, `e2e`,
//! `bench`) sets them by these names; xtask depends on this crate but not
//! on the shell, so the names live here.

/// Overrides the shell's resource directory (development runs and tests).
pub const ENV_RESOURCE_DIR: &str = "HUDSON_RESOURCE_DIR";
/// Names the startup trace file ([`crate::trace`]); unset, nothing is
/// written.
pub const ENV_STARTUP_TRACE: &str = "HUDSON_STARTUP_TRACE";
/// Read only by the benchmark's baseline build of the shell (the
/// `bench-baseline` feature of `hudson-desktop`, which `dist` never
/// enables): [`BENCH_READINESS_TCP_POLL`] starts the backend the way
/// ex_tauri-style shells do. A shipping shell ignores it.
pub const ENV_BENCH_READINESS: &str = "HUDSON_BENCH_READINESS";
/// [`ENV_BENCH_READINESS`]'s value for a picked port and a TCP connect
/// every 200 ms.
pub const BENCH_READINESS_TCP_POLL: &str = "tcp-poll-200ms";
