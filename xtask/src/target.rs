//! The supported targets (ARCHITECTURE.md, "Targets"): the one table that
//! maps a Rust triple to its Burrito alias, updater platform keys, bundles and
//! CI runner. Everyone else asks it.

use anyhow::{Result, bail};
use serde::Serialize;
use signing::dist::ArtifactKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Macos,
    Windows,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub triple: &'static str,
    pub os: Os,
    /// `x86_64` or `aarch64`, as Tauri's updater spells it.
    pub arch: &'static str,
    /// Burrito's default alias for this target (configurable).
    pub default_burrito_alias: &'static str,
    /// Installer bundles `dist` builds, in order.
    pub bundles: &'static [Bundle],
    /// GitHub Actions runner label for the per-target build job.
    pub runner: &'static str,
    /// Bundles this target knows but that cannot be built on our runners,
    /// with the reason.
    pub unsupported: &'static [(&'static str, &'static str)],
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Bundle {
    pub kind: ArtifactKind,
    /// Tauri's installer name in `{os}-{arch}-{installer}`, when Tauri's
    /// updater can install this bundle.
    pub updater_installer: Option<&'static str>,
}

const LINUX: &[Bundle] = &[
    Bundle { kind: ArtifactKind::Deb, updater_installer: Some("deb") },
    Bundle { kind: ArtifactKind::Rpm, updater_installer: Some("rpm") },
];
const MACOS: &[Bundle] = &[
    Bundle { kind: ArtifactKind::App, updater_installer: Some("app") },
    Bundle { kind: ArtifactKind::Dmg, updater_installer: None },
];
const WINDOWS: &[Bundle] = &[
    Bundle { kind: ArtifactKind::Nsis, updater_installer: Some("nsis") },
    Bundle { kind: ArtifactKind::Msi, updater_installer: Some("msi") },
];
const NO_APPIMAGE: &[(&str, &str)] =
    &[("appimage", "tauri-bundler downloads linuxdeploy while bundling; the build machines have no general network")];

pub const TARGETS: &[Target] = &[
    Target {
        triple: "aarch64-apple-darwin",
        os: Os::Macos,
        arch: "aarch64",
        default_burrito_alias: "macos_arm",
        bundles: MACOS,
        runner: "macos-14",
        unsupported: &[],
    },
    Target {
        triple: "x86_64-apple-darwin",
        os: Os::Macos,
        arch: "x86_64",
        default_burrito_alias: "macos",
        bundles: MACOS,
        runner: "macos-13",
        unsupported: &[],
    },
    Target {
        triple: "x86_64-pc-windows-msvc",
        os: Os::Windows,
        arch: "x86_64",
        default_burrito_alias: "windows",
        bundles: WINDOWS,
        runner: "windows-2022",
        unsupported: &[],
    },
    Target {
        triple: "x86_64-unknown-linux-gnu",
        os: Os::Linux,
        arch: "x86_64",
        default_burrito_alias: "linux",
        bundles: LINUX,
        runner: "ubuntu-22.04",
        unsupported: NO_APPIMAGE,
    },
    Target {
        triple: "aarch64-unknown-linux-gnu",
        os: Os::Linux,
        arch: "aarch64",
        default_burrito_alias: "linux_arm",
        bundles: LINUX,
        runner: "ubuntu-22.04-arm",
        unsupported: NO_APPIMAGE,
    },
];

impl Target {
    /// Looks up a triple, or explains which ones exist.
    pub fn parse(triple: &str) -> Result<&'static Target> {
        match TARGETS.iter().find(|t| t.triple == triple) {
            Some(target) => Ok(target),
            None => bail!(
                "unsupported target triple `{triple}`. Supported: {}",
                TARGETS.iter().map(|t| t.triple).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The machine `cargo xtask` runs on.
    pub fn host() -> Result<&'static Target> {
        let triple = host_triple();
        Target::parse(triple).map_err(|e| e.context(format!("this machine ({triple}) cannot build Hudson")))
    }

    /// Updater's `{os}` spelling.
    pub fn updater_os(&self) -> &'static str {
        match self.os {
            Os::Linux => "linux",
            Os::Macos => "darwin",
            Os::Windows => "windows",
        }
    }

    /// `{os}-{arch}`: the key older Tauri updaters look up.
    pub fn updater_base_key(&self) -> String {
        format!("{}-{}", self.updater_os(), self.arch)
    }

    /// Every updater platform key this target's artifacts are published
    /// under: `{os}-{arch}-{installer}` per updatable bundle, plus
    /// `{os}-{arch}` for the bundle a stock updater installs by default
    /// (macOS: the app; Windows: nsis). Linux's default is an AppImage, which
    /// is not built, so Linux gets installer keys only.
    pub fn updater_keys(&self) -> Vec<(ArtifactKind, String)> {
        let mut keys = Vec::new();
        for bundle in self.bundles {
            if let Some(installer) = bundle.updater_installer {
                if self.default_updater_kind() == Some(bundle.kind) {
                    keys.push((bundle.kind, self.updater_base_key()));
                }
                keys.push((bundle.kind, format!("{}-{installer}", self.updater_base_key())));
            }
        }
        keys
    }

    /// The bundle behind the plain `{os}-{arch}` key.
    pub fn default_updater_kind(&self) -> Option<ArtifactKind> {
        match self.os {
            Os::Macos => Some(ArtifactKind::App),
            Os::Windows => Some(ArtifactKind::Nsis),
            Os::Linux => None,
        }
    }

    pub fn exe_suffix(&self) -> &'static str {
        if self.os == Os::Windows { ".exe" } else { "" }
    }

    /// `<sidecar>-<triple>[.exe]`, the name Tauri's `externalBin` expects.
    pub fn sidecar_file_name(&self, sidecar: &str) -> String {
        format!("{sidecar}-{}{}", self.triple, self.exe_suffix())
    }

    /// True when this machine can build the target (NIFs and the shell are
    /// not cross-built).
    pub fn is_host(&self) -> bool {
        self.triple == host_triple()
    }
}

pub fn host_triple() -> &'static str {
    env!("XTASK_HOST_TRIPLE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_triples_list_the_supported_ones() {
        let e = Target::parse("riscv64gc-unknown-linux-gnu").unwrap_err().to_string();
        for t in TARGETS {
            assert!(e.contains(t.triple), "{e}");
        }
    }

    #[test]
    fn updater_keys_follow_the_table() {
        let keys = |t: &str| -> Vec<String> { Target::parse(t).unwrap().updater_keys().into_iter().map(|k| k.1).collect() };
        assert_eq!(keys("aarch64-apple-darwin"), ["darwin-aarch64", "darwin-aarch64-app"]);
        assert_eq!(keys("x86_64-apple-darwin"), ["darwin-x86_64", "darwin-x86_64-app"]);
        assert_eq!(keys("x86_64-pc-windows-msvc"), ["windows-x86_64", "windows-x86_64-nsis", "windows-x86_64-msi"]);
        assert_eq!(keys("x86_64-unknown-linux-gnu"), ["linux-x86_64-deb", "linux-x86_64-rpm"]);
        assert_eq!(keys("aarch64-unknown-linux-gnu"), ["linux-aarch64-deb", "linux-aarch64-rpm"]);
    }

    #[test]
    fn sidecar_names() {
        assert_eq!(Target::parse("x86_64-pc-windows-msvc").unwrap().sidecar_file_name("b"), "b-x86_64-pc-windows-msvc.exe");
        assert_eq!(Target::parse("aarch64-apple-darwin").unwrap().sidecar_file_name("b"), "b-aarch64-apple-darwin");
    }
}
