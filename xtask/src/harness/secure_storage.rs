//! The secure-storage stage of `cargo xtask test`: the real backend release
//! asks the shell's storage server for secrets, against a real Secret
//! Service (`gnome-keyring-daemon`, unlocked, on a private session bus,
//! with a scratch HOME), read independently with `secret-tool`; then again
//! on a bus with no Secret Service, where everything must fail closed. The
//! tests are `src-tauri/secrets/tests/real_store.rs`.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::harness::doubles::{SecretService, SessionBus};

/// `cargo xtask smoke --shell --require-secure-storage --require-database`
/// (the reference backend has a database) on a session bus
/// with an unlocked gnome-keyring: the packaged backend and shell reach a
/// real store. A child process, so that the bus address is its own
/// environment (the store reads it from there).
pub fn smoke_with_keyring(sh: &Shell) -> Result<()> {
    let home = tempfile::tempdir()?;
    std::fs::create_dir_all(home.path().join("run"))?;
    let bus = SessionBus::start()?;
    let _keyring = SecretService::start(&bus, home.path())?;
    let (key, value) = bus.env();
    let _bus = sh.push_env(key, value);
    let xtask = crate::harness::release_checks::xtask_binary()?;
    Ok(cmd!(sh, "{xtask} smoke --shell --require-secure-storage --require-database").run()?)
}

pub fn run(sh: &Shell, cargo: &str, release: &Path) -> Result<()> {
    // The tests get a scratch HOME (they scan it for secrets); rustup and
    // cargo keep finding their own folders under the real one.
    let real_home = std::env::var_os("HOME").context("HOME is not set")?;
    let rustup_home = std::env::var_os("RUSTUP_HOME").unwrap_or_else(|| Path::new(&real_home).join(".rustup").into());
    let cargo_home = std::env::var_os("CARGO_HOME").unwrap_or_else(|| Path::new(&real_home).join(".cargo").into());
    let _rustup = sh.push_env("RUSTUP_HOME", rustup_home);
    let _cargo = sh.push_env("CARGO_HOME", cargo_home);
    let test = |bus: &SessionBus, home: &Path, name: &str| -> Result<()> {
        let (key, value) = bus.env();
        let _bus = sh.push_env(key, value);
        let _home = sh.push_env("HOME", home);
        let _runtime = sh.push_env("XDG_RUNTIME_DIR", home.join("run"));
        let _release = sh.push_env("HUDSON_RELEASE_DIR", release);
        crate::harness::test::run_selected_tests(
            sh,
            cargo,
            &["-p", "hudson-secrets", "--test", "real_store"],
            &["--ignored", "--test-threads=1"],
            crate::harness::test::Select::Exact(&[name]),
        )
        .map(drop)
        .with_context(|| format!("secure storage test `{name}` failed"))
    };
    {
        let home = tempfile::tempdir()?;
        std::fs::create_dir_all(home.path().join("run"))?;
        let bus = SessionBus::start()?;
        let _keyring = SecretService::start(&bus, home.path())?;
        test(&bus, home.path(), "with_gnome_keyring")?;
    }
    let home = tempfile::tempdir()?;
    std::fs::create_dir_all(home.path().join("run"))?;
    let bus = SessionBus::start()?;
    test(&bus, home.path(), "without_secret_service")
}
