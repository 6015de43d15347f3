//! `cargo xtask e2e`: the built shell in a real WebView under Xvfb, driven
//! through tauri-driver. It must show the backend's page (title `Hudson`,
//! origin `http://127.0.0.1:<port>`), and killing the shell with SIGKILL must
//! leave no backend process behind.
//!
//! `--installed` runs the same checks on the app installed from the `.deb`
//! (`dpkg -i`), and quits it through its window instead of killing it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;

use crate::config::Config;
use crate::gui::{Driver, Xvfb};
use crate::procs;
use crate::target::Target;
use crate::ui::{Ui, seconds};

#[derive(Debug, Serialize)]
pub struct Report {
    pub title: String,
    pub url: String,
    pub port: u16,
    pub page_after: Duration,
    pub survivors: usize,
    pub port_freed: bool,
}

/// Where the built shell and its staged resources are.
pub struct Build {
    pub shell: PathBuf,
    pub resources: PathBuf,
}

impl Build {
    pub fn from_dist(config: &Config, target: &Target) -> Result<Build> {
        let shell = config.target_dir.join(target.triple).join("release").join(format!(
            "{}{}",
            config.shell_binary,
            target.exe_suffix()
        ));
        let resources = config.work_dir(target).join("resources");
        ensure!(
            shell.is_file() && resources.is_dir(),
            "no built shell at {}: run `cargo xtask dist` first",
            shell.display()
        );
        Ok(Build { shell, resources })
    }
}

/// A private HOME for one run: the app's data, logs and runtime folders
/// land there and nowhere else.
pub fn private_home() -> Result<(tempfile::TempDir, Vec<(OsString, OsString)>)> {
    let home = tempfile::Builder::new().prefix("hudson-e2e-").tempdir()?;
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

pub fn run(ui: &Ui) -> Result<()> {
    let config = Config::load()?;
    let target = Target::host()?;
    let build = Build::from_dist(&config, target)?;
    let (_home, mut env) = private_home()?;
    env.push(("HUDSON_RESOURCE_DIR".into(), build.resources.clone().into()));
    let report = launch_and_sigkill(&build.shell, &build.resources, &env)?;
    ui.info(format!(
        "e2e: title {:?} at {} after {}; SIGKILL left {} backend processes; port {} free: {}",
        report.title,
        report.url,
        seconds(report.page_after),
        report.survivors,
        report.port,
        report.port_freed
    ));
    ui.emit(&report);
    Ok(())
}

/// Port of `http://127.0.0.1:<port>/…`, or an error naming the URL.
pub fn backend_port(url: &str) -> Result<u16> {
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .with_context(|| format!("the window shows {url}, not the backend's origin"))?;
    let port = rest.split(['/', '?', '#']).next().unwrap_or_default();
    port.parse().with_context(|| format!("no port in {url}"))
}

fn launch_and_sigkill(shell: &Path, backend_root: &Path, env: &[(OsString, OsString)]) -> Result<Report> {
    let display = Xvfb::start()?;
    let driver = Driver::start(&display, env)?;
    let started = Instant::now();
    let session = driver.session(shell, &[])?;
    let page_after = session.wait_for_title("Hudson", Duration::from_secs(60))?;
    let title = session.title()?;
    let url = session.url()?;
    let port = backend_port(&url)?;
    let _ = started;

    let root = backend_root.display().to_string();
    let shells: Vec<procs::Proc> =
        procs::live().into_iter().filter(|p| p.cmdline.starts_with(&shell.display().to_string())).collect();
    ensure!(!shells.is_empty(), "the shell process is not running");
    ensure!(!procs::backend_survivors(&root).is_empty(), "no backend process is running under {root}");
    for p in &shells {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(p.pid as libc::pid_t, libc::SIGKILL);
        }
    }
    let survivors = wait_for_no_backend(&root, Duration::from_secs(10));
    let freed_at = Instant::now();
    let port_freed = procs::wait_port_free(port, Duration::from_secs(30));
    eprintln!("port free after {:?}", freed_at.elapsed());
    drop(session);
    if !survivors.is_empty() {
        bail!("after SIGKILL of the shell, backend processes survive: {survivors:?}");
    }
    ensure!(port_freed, "port {port} is still taken after the backend exited");
    Ok(Report { title, url, port, page_after, survivors: 0, port_freed })
}

/// Waits up to `timeout` for every backend process to end; returns those
/// still alive.
pub fn wait_for_no_backend(root: &str, timeout: Duration) -> Vec<procs::Proc> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = procs::backend_survivors(root);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
