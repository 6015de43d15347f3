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
/// `1`: install a verified update and restart as soon as it is downloaded,
/// as if the user had pressed "Restart to update" (unattended machines, and
/// `cargo xtask e2e`). It cannot make the shell accept anything it would not
/// accept otherwise: the check and the download are verified the same way.
pub const ENV_UPDATE_RESTART_WHEN_READY: &str = "HUDSON_UPDATE_RESTART_WHEN_READY";
/// `1`: download an update's full artifact even when its release is in the
/// file store (a network that blocks the store, and the benchmark's "full"
/// side). It only ever makes the shell download more.
pub const ENV_UPDATE_FULL_DOWNLOAD: &str = "HUDSON_UPDATE_FULL_DOWNLOAD";
/// `1`: a thread of the shell panics once it has started (tests: the panic
/// hook writes a crash record, which the Diagnostics window lists; the app
/// keeps running, as it does after any panic off its main thread). Read
/// only by the shell's test build (the `test-hooks` feature of
/// `hudson-desktop`, which `dist` never enables); a shipping shell ignores it.
pub const ENV_TEST_PANIC: &str = "HUDSON_TEST_PANIC";
/// Test hook of the reference backend: `1` makes it halt with a crash dump
/// once, shortly after its first start in a data folder (the shell then
/// restarts it).
pub const ENV_TEST_CRASH_ONCE: &str = "HUDSON_TEST_CRASH_ONCE";

/// Build-time variable (read by the shell with `option_env!`): the public
/// keys the shell's updater trusts, one a line, each in Tauri's base64 form
/// or as a minisign key line (`signing::keys::PublicKey::parse` reads
/// both). `cargo xtask dist` sets it for the shell's release build to the
/// key that signs that dist's artifacts plus the configured release key
/// (`[workspace.metadata.hudson.signing] public-key`). Public keys only:
/// the private key never reaches that build.
pub const BUILD_ENV_TRUSTED_KEYS: &str = "HUDSON_UPDATER_TRUSTED_KEYS";
