//! A private home for each launch of the shell or the backend: the app's
//! data, logs and runtime folders land there and nowhere else, so a test
//! never touches the user's own Hudson and two runs never share state.

use std::ffi::OsString;

use anyhow::Result;

/// A private HOME for one run: the app's data, logs and runtime folders
/// land there and nowhere else.
pub fn private_home() -> Result<(tempfile::TempDir, Vec<(OsString, OsString)>)> {
    let home = tempfile::Builder::new().prefix("hudson-run-").tempdir()?;
    let runtime = home.path().join("run");
    std::fs::create_dir_all(&runtime)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))?;
    }
    let env = vec![
        ("HOME".into(), home.path().into()),
        ("XDG_DATA_HOME".into(), home.path().join("data").into()),
        ("XDG_CONFIG_HOME".into(), home.path().join("config").into()),
        ("XDG_CACHE_HOME".into(), home.path().join("cache").into()),
        ("XDG_RUNTIME_DIR".into(), runtime.into()),
    ];
    Ok((home, env))
}
