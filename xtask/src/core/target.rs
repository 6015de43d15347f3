//! The supported targets (ARCHITECTURE.md, "Targets"): the one table that
//! maps a Rust triple to its Burrito alias, updater platform keys, bundles and
//! CI runner. Everyone else asks it. The triple's operating system and
//! architecture are `signing::platform`'s (the updater's keys are spelled
//! from them), not restated here.

use anyhow::{Result, bail};
use signing::dist::ArtifactKind;
use signing::platform::PlatformKey;
pub use signing::platform::{Arch, Os};

#[derive(Debug, Clone)]
pub struct Target {
    pub triple: &'static str,
    /// Burrito's default alias for this target (configurable).
    pub default_burrito_alias: &'static str,
    /// Installer bundles `dist` builds, in order.
    pub bundles: &'static [ArtifactKind],
    /// Update artifacts `dist` makes itself from the shell and its
    /// resources, beside the bundles: the Linux portable tree.
    pub archives: &'static [ArtifactKind],
    /// GitHub Actions runner label for the per-target build job.
    pub runner: &'static str,
    /// The same target as Zig's `-target` spells it (the C cross-compiler
    /// of `check-targets`). Windows is `-gnu`: Zig ships MinGW's C headers,
    /// not MSVC's, and the check compiles C to objects it never links, so
    /// the C runtime they were written for does not matter.
    pub zig_target: &'static str,
    /// Bundles this target knows but that cannot be built on our runners,
    /// with the reason.
    pub unsupported: &'static [(&'static str, &'static str)],
}

const LINUX: &[ArtifactKind] = &[ArtifactKind::Deb, ArtifactKind::Rpm];
const MACOS: &[ArtifactKind] = &[ArtifactKind::App, ArtifactKind::Dmg];
const WINDOWS: &[ArtifactKind] = &[ArtifactKind::Nsis, ArtifactKind::Msi];
const LINUX_ARCHIVES: &[ArtifactKind] = &[ArtifactKind::Portable];
const NO_APPIMAGE: &[(&str, &str)] =
    &[("appimage", "tauri-bundler downloads linuxdeploy while bundling; the build machines have no general network")];

pub const TARGETS: &[Target] = &[
    Target {
        triple: "aarch64-apple-darwin",
        default_burrito_alias: "macos_arm",
        bundles: MACOS,
        archives: &[],
        runner: "macos-14",
        zig_target: "aarch64-macos",
        unsupported: &[],
    },
    Target {
        triple: "x86_64-apple-darwin",
        default_burrito_alias: "macos",
        bundles: MACOS,
        archives: &[],
        runner: "macos-13",
        zig_target: "x86_64-macos",
        unsupported: &[],
    },
    Target {
        triple: "x86_64-pc-windows-msvc",
        default_burrito_alias: "windows",
        bundles: WINDOWS,
        archives: &[],
        runner: "windows-2022",
        zig_target: "x86_64-windows-gnu",
        unsupported: &[],
    },
    Target {
        triple: "x86_64-unknown-linux-gnu",
        default_burrito_alias: "linux",
        bundles: LINUX,
        archives: LINUX_ARCHIVES,
        runner: "ubuntu-22.04",
        zig_target: "x86_64-linux-gnu",
        unsupported: NO_APPIMAGE,
    },
    Target {
        triple: "aarch64-unknown-linux-gnu",
        default_burrito_alias: "linux_arm",
        bundles: LINUX,
        archives: LINUX_ARCHIVES,
        runner: "ubuntu-22.04-arm",
        zig_target: "aarch64-linux-gnu",
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
    /// `--target`: the triple given, else this machine's.
    pub fn given_or_host(triple: Option<&str>) -> Result<&'static Target> {
        match triple {
            Some(triple) => Target::parse(triple),
            None => Target::host(),
        }
    }

    pub fn host() -> Result<&'static Target> {
        let triple = host_triple();
        Target::parse(triple).map_err(|e| e.context(format!("this machine ({triple}) cannot build Hudson")))
    }

    /// Every artifact kind `dist` ships for this target: the bundles, then
    /// the archives.
    pub fn artifact_kinds(&self) -> impl Iterator<Item = ArtifactKind> + '_ {
        self.bundles.iter().chain(self.archives).copied()
    }

    /// Every updater platform key this target's artifacts are published
    /// under, as `signing::platform` spells them: `{os}-{arch}-{installer}`
    /// per artifact the updater installs, plus `{os}-{arch}` for the one a
    /// stock updater installs by default (macOS: the app; Windows: nsis;
    /// Linux: an AppImage, which is not built).
    pub fn updater_keys(&self) -> Vec<(ArtifactKind, String)> {
        self.artifact_kinds()
            .flat_map(|kind| {
                PlatformKey::keys_for_artifact(self.triple, kind)
                    .expect("every triple of the table has an updater platform")
                    .into_iter()
                    .map(move |key| (kind, key.to_string()))
            })
            .collect()
    }

    /// True when Tauri's updater can install bundles of this kind.
    pub fn is_updatable(kind: ArtifactKind) -> bool {
        signing::platform::Installer::of_artifact(kind).is_some()
    }

    /// The triple's operating system.
    pub fn os(&self) -> Os {
        Os::of_target(self.triple).expect("every triple of the table names an operating system")
    }

    /// The triple's architecture, as Tauri's updater spells it.
    pub fn arch(&self) -> Arch {
        Arch::of_target(self.triple).expect("every triple of the table names an architecture")
    }

    /// The operating system as the release workflow's matrix spells it
    /// (`matrix.os` in `.github/workflows/release.yml`).
    pub fn os_name(&self) -> &'static str {
        match self.os() {
            Os::Linux => "linux",
            Os::Darwin => "macos",
            Os::Windows => "windows",
        }
    }

    pub fn exe_suffix(&self) -> &'static str {
        if self.os() == Os::Windows { ".exe" } else { "" }
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
        let keys =
            |t: &str| -> Vec<String> { Target::parse(t).unwrap().updater_keys().into_iter().map(|k| k.1).collect() };
        assert_eq!(keys("aarch64-apple-darwin"), ["darwin-aarch64", "darwin-aarch64-app"]);
        assert_eq!(keys("x86_64-apple-darwin"), ["darwin-x86_64", "darwin-x86_64-app"]);
        assert_eq!(keys("x86_64-pc-windows-msvc"), ["windows-x86_64", "windows-x86_64-nsis", "windows-x86_64-msi"]);
        assert_eq!(keys("x86_64-unknown-linux-gnu"), ["linux-x86_64-deb", "linux-x86_64-rpm", "linux-x86_64-portable"]);
        assert_eq!(
            keys("aarch64-unknown-linux-gnu"),
            ["linux-aarch64-deb", "linux-aarch64-rpm", "linux-aarch64-portable"]
        );
    }

    #[test]
    fn every_triple_has_an_os_and_an_arch() {
        let facts: Vec<(&str, &str)> = TARGETS.iter().map(|t| (t.os_name(), t.arch().as_str())).collect();
        assert_eq!(
            facts,
            [
                ("macos", "aarch64"),
                ("macos", "x86_64"),
                ("windows", "x86_64"),
                ("linux", "x86_64"),
                ("linux", "aarch64")
            ]
        );
    }

    #[test]
    fn sidecar_names() {
        assert_eq!(
            Target::parse("x86_64-pc-windows-msvc").unwrap().sidecar_file_name("b"),
            "b-x86_64-pc-windows-msvc.exe"
        );
        assert_eq!(Target::parse("aarch64-apple-darwin").unwrap().sidecar_file_name("b"), "b-aarch64-apple-darwin");
    }
}
