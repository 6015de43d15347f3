//! Updater platform keys: `{os}-{arch}` and `{os}-{arch}-{installer}`, the keys
//! of `platforms` in Tauri's `latest.json` and in the channel manifest.
//!
//! tauri-plugin-updater looks up `{os}-{arch}-{installer}` first (the installer
//! the running app was installed with), then `{os}-{arch}`. This module is the
//! one place that maps a Rust target triple and a bundle kind to those keys:
//!
//! | bundle | keys |
//! | --- | --- |
//! | `app` (`.app.tar.gz`) | `darwin-{arch}-app`, `darwin-{arch}` |
//! | `nsis` (`-setup.exe`) | `windows-{arch}-nsis`, `windows-{arch}` |
//! | `msi` | `windows-{arch}-msi` |
//! | `appimage` | `linux-{arch}-appimage`, `linux-{arch}` |
//! | `deb`, `rpm` | `linux-{arch}-deb`, `linux-{arch}-rpm` |
//! | `portable` (`<Product>-<version>-<triple>.tar.gz`) | `linux-{arch}-portable` |
//! | `dmg` and unknown kinds | none: the updater does not install them |
//!
//! The bare `{os}-{arch}` key goes only to the installer whose update an older
//! client can always apply: a deb offered under `linux-x86_64` would replace an
//! AppImage install with a package file. Likewise the portable tree has its
//! own key only: a stock updater never asks for it (it looks up
//! `{os}-{arch}-{its bundle type}`, then `{os}-{arch}`), and Hudson's own
//! updater asks for `linux-{arch}-portable` when `hudson-shell.json` says
//! `install-kind: "portable"`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::dist::ArtifactKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    Linux,
    Darwin,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    Aarch64,
    I686,
    Armv7,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Installer {
    Appimage,
    Deb,
    Rpm,
    App,
    Msi,
    Nsis,
    /// The Linux portable tree: a folder swap, by Hudson's own updater only.
    Portable,
}

impl Os {
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Darwin => "darwin",
            Os::Windows => "windows",
        }
    }

    /// The operating system of a Rust target triple.
    pub fn of_target(triple: &str) -> Option<Os> {
        if triple.contains("-apple-darwin") {
            Some(Os::Darwin)
        } else if triple.contains("-windows") {
            Some(Os::Windows)
        } else if triple.contains("-linux") {
            Some(Os::Linux)
        } else {
            None
        }
    }

    /// The installer whose artifact also goes under the bare `{os}-{arch}` key.
    pub fn default_installer(self) -> Installer {
        match self {
            Os::Linux => Installer::Appimage,
            Os::Darwin => Installer::App,
            Os::Windows => Installer::Nsis,
        }
    }

    fn parse(text: &str) -> Option<Os> {
        [Os::Linux, Os::Darwin, Os::Windows].into_iter().find(|os| os.as_str() == text)
    }
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::I686 => "i686",
            Arch::Armv7 => "armv7",
        }
    }

    /// The updater's name for the architecture of a Rust target triple.
    pub fn of_target(triple: &str) -> Option<Arch> {
        match triple.split('-').next()? {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            "i686" | "i586" => Some(Arch::I686),
            cpu if cpu.starts_with("armv7") => Some(Arch::Armv7),
            _ => None,
        }
    }

    fn parse(text: &str) -> Option<Arch> {
        [Arch::X86_64, Arch::Aarch64, Arch::I686, Arch::Armv7].into_iter().find(|arch| arch.as_str() == text)
    }
}

impl Installer {
    pub fn as_str(self) -> &'static str {
        match self {
            Installer::Appimage => "appimage",
            Installer::Deb => "deb",
            Installer::Rpm => "rpm",
            Installer::App => "app",
            Installer::Msi => "msi",
            Installer::Nsis => "nsis",
            Installer::Portable => "portable",
        }
    }

    /// The installer an artifact kind updates, if the updater installs it.
    pub fn of_artifact(kind: ArtifactKind) -> Option<Installer> {
        match kind {
            ArtifactKind::Deb => Some(Installer::Deb),
            ArtifactKind::Rpm => Some(Installer::Rpm),
            ArtifactKind::Appimage => Some(Installer::Appimage),
            ArtifactKind::App => Some(Installer::App),
            ArtifactKind::Nsis => Some(Installer::Nsis),
            ArtifactKind::Msi => Some(Installer::Msi),
            ArtifactKind::Portable => Some(Installer::Portable),
            ArtifactKind::Dmg | ArtifactKind::Unknown => None,
        }
    }

    fn parse(text: &str) -> Option<Installer> {
        [
            Installer::Appimage,
            Installer::Deb,
            Installer::Rpm,
            Installer::App,
            Installer::Msi,
            Installer::Nsis,
            Installer::Portable,
        ]
        .into_iter()
        .find(|installer| installer.as_str() == text)
    }
}

/// A key of `platforms`. Orders by its text, so maps keyed by it serialise
/// with sorted keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlatformKey {
    pub os: Os,
    pub arch: Arch,
    pub installer: Option<Installer>,
}

impl PlatformKey {
    pub fn new(os: Os, arch: Arch, installer: Option<Installer>) -> Self {
        PlatformKey { os, arch, installer }
    }

    /// The updater keys under which an artifact of `kind`, built for
    /// `triple`, is offered (see the table in the module docs). Empty when the
    /// updater does not install that kind.
    pub fn keys_for_artifact(triple: &str, kind: ArtifactKind) -> Result<Vec<PlatformKey>, PlatformError> {
        let os = Os::of_target(triple).ok_or_else(|| PlatformError::Target(triple.to_owned()))?;
        let arch = Arch::of_target(triple).ok_or_else(|| PlatformError::Target(triple.to_owned()))?;
        let Some(installer) = Installer::of_artifact(kind) else {
            return Ok(Vec::new());
        };
        let mut keys = vec![PlatformKey::new(os, arch, Some(installer))];
        if installer == os.default_installer() {
            keys.push(PlatformKey::new(os, arch, None));
        }
        keys.sort();
        Ok(keys)
    }
}

impl fmt::Display for PlatformKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.os.as_str(), self.arch.as_str())?;
        if let Some(installer) = self.installer {
            write!(f, "-{}", installer.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for PlatformKey {
    type Err = PlatformError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || PlatformError::Key(text.to_owned());
        let mut parts = text.splitn(3, '-');
        let os = parts.next().and_then(Os::parse).ok_or_else(bad)?;
        // `x86_64` has no `-`, so three parts are os, arch, installer.
        let arch = parts.next().and_then(Arch::parse).ok_or_else(bad)?;
        let installer = match parts.next() {
            None => None,
            Some(installer) => Some(Installer::parse(installer).ok_or_else(bad)?),
        };
        Ok(PlatformKey { os, arch, installer })
    }
}

impl Ord for PlatformKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

impl PartialOrd for PlatformKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for PlatformKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PlatformKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error(
        "{0:?} is not an updater platform key: expected `{{os}}-{{arch}}` or `{{os}}-{{arch}}-{{installer}}` with os linux|darwin|windows, arch x86_64|aarch64|i686|armv7, installer appimage|deb|rpm|app|msi|nsis|portable"
    )]
    Key(String),
    #[error(
        "target triple {0:?} has no updater platform: the updater knows linux, darwin and windows on x86_64, aarch64, i686 and armv7"
    )]
    Target(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sort_as_text() {
        for text in [
            "linux-x86_64",
            "linux-x86_64-appimage",
            "darwin-aarch64-app",
            "windows-i686-nsis",
            "linux-armv7-deb",
            "linux-x86_64-portable",
        ] {
            assert_eq!(text.parse::<PlatformKey>().unwrap().to_string(), text);
        }
        for bad in ["", "linux", "linux-x86", "macos-x86_64", "linux-x86_64-dmg", "linux-x86_64-deb-x", "Linux-x86_64"]
        {
            assert!(bad.parse::<PlatformKey>().is_err(), "{bad} must be refused");
        }
        let mut keys: Vec<PlatformKey> =
            ["windows-x86_64", "darwin-x86_64-app", "darwin-aarch64"].iter().map(|k| k.parse().unwrap()).collect();
        keys.sort();
        let sorted: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, ["darwin-aarch64", "darwin-x86_64-app", "windows-x86_64"]);
    }

    #[test]
    fn targets_map_to_the_architecture_table() {
        let keys = |triple, kind| -> Vec<String> {
            PlatformKey::keys_for_artifact(triple, kind).unwrap().iter().map(ToString::to_string).collect()
        };
        assert_eq!(keys("aarch64-apple-darwin", ArtifactKind::App), ["darwin-aarch64", "darwin-aarch64-app"]);
        assert_eq!(keys("x86_64-apple-darwin", ArtifactKind::Dmg), Vec::<String>::new());
        assert_eq!(keys("x86_64-pc-windows-msvc", ArtifactKind::Nsis), ["windows-x86_64", "windows-x86_64-nsis"]);
        assert_eq!(keys("x86_64-pc-windows-msvc", ArtifactKind::Msi), ["windows-x86_64-msi"]);
        assert_eq!(keys("x86_64-unknown-linux-gnu", ArtifactKind::Deb), ["linux-x86_64-deb"]);
        assert_eq!(keys("aarch64-unknown-linux-gnu", ArtifactKind::Rpm), ["linux-aarch64-rpm"]);
        assert_eq!(keys("x86_64-unknown-linux-gnu", ArtifactKind::Appimage), ["linux-x86_64", "linux-x86_64-appimage"]);
        assert_eq!(keys("armv7-unknown-linux-gnueabihf", ArtifactKind::Deb), ["linux-armv7-deb"]);
        assert_eq!(keys("x86_64-unknown-linux-gnu", ArtifactKind::Portable), ["linux-x86_64-portable"]);
        assert_eq!(keys("aarch64-unknown-linux-gnu", ArtifactKind::Portable), ["linux-aarch64-portable"]);
        assert!(PlatformKey::keys_for_artifact("wasm32-unknown-unknown", ArtifactKind::Deb).is_err());
    }
}
