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
//! Each kind belongs to one operating system: deb, rpm, appimage and portable
//! to linux, app and dmg to darwin, nsis and msi to windows
//! ([`os_of_artifact`]). [`check_target`] refuses a kind built for a target
//! of another OS, [`check_key`] a key that may not carry a kind; `publish`
//! and `verify` refuse a release that mixes them up.
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

    /// The operating system this program was compiled for; `None` for one
    /// the updater has no key for.
    pub fn host() -> Option<Os> {
        match std::env::consts::OS {
            "linux" => Some(Os::Linux),
            "macos" => Some(Os::Darwin),
            "windows" => Some(Os::Windows),
            _ => None,
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

    /// The architecture this program was compiled for (Rust's names for
    /// it, `x86` and `arm`, differ from the triples' and the keys').
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            "x86" => Some(Arch::I686),
            "arm" => Some(Arch::Armv7),
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

    /// The operating system this installer runs on.
    pub fn os(self) -> Os {
        match self {
            Installer::Appimage | Installer::Deb | Installer::Rpm | Installer::Portable => Os::Linux,
            Installer::App => Os::Darwin,
            Installer::Msi | Installer::Nsis => Os::Windows,
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

    /// True for the installers the updater hands the new version to — a
    /// package manager (deb, rpm) or the Windows installer (msi, nsis) —
    /// rather than swapping a folder (app, portable) or leaving the update
    /// to another updater (appimage).
    pub fn is_package(self) -> bool {
        matches!(self, Installer::Deb | Installer::Rpm | Installer::Msi | Installer::Nsis)
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

    /// The key a running app installed with `installer` asks its channel
    /// for: this program's OS and architecture. An error names what has no
    /// key (an unknown OS or processor), or an installer of another OS.
    pub fn host(installer: Installer) -> Result<PlatformKey, String> {
        let os = Os::host().ok_or_else(|| format!("updates are not offered for {}", std::env::consts::OS))?;
        let arch =
            Arch::host().ok_or_else(|| format!("updates are not offered for {} processors", std::env::consts::ARCH))?;
        if installer.os() != os {
            return Err(format!("a {} install cannot run on {}", installer.as_str(), os.as_str()));
        }
        Ok(PlatformKey::new(os, arch, Some(installer)))
    }

    /// The updater keys under which an artifact of `kind`, built for
    /// `triple`, is offered (see the table in the module docs). Empty when the
    /// updater does not install that kind; an error when `kind` is not an
    /// artifact of `triple`'s operating system.
    pub fn keys_for_artifact(triple: &str, kind: ArtifactKind) -> Result<Vec<PlatformKey>, PlatformError> {
        check_target(triple, kind)?;
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

/// The operating system an artifact kind is built for; `None` for a kind
/// this toolchain does not know.
pub fn os_of_artifact(kind: ArtifactKind) -> Option<Os> {
    match kind {
        ArtifactKind::Dmg => Some(Os::Darwin),
        ArtifactKind::Unknown => None,
        other => Installer::of_artifact(other).map(Installer::os),
    }
}

/// Refuses an artifact `kind` listed for a target triple of another
/// operating system (a `.deb` in a Windows build). An unknown kind or
/// triple passes here; the triple is checked where keys are made.
pub fn check_target(triple: &str, kind: ArtifactKind) -> Result<(), PlatformError> {
    match (os_of_artifact(kind), Os::of_target(triple)) {
        (Some(kind_os), Some(target_os)) if kind_os != target_os => Err(PlatformError::KindForTarget {
            kind: kind.as_str(),
            kind_os: kind_os.as_str(),
            target: triple.to_owned(),
            target_os: target_os.as_str(),
        }),
        _ => Ok(()),
    }
}

/// Refuses `key` for an artifact of `kind`: the key's OS must be the kind's,
/// and its installer the kind's installer (the bare `{os}-{arch}` key only
/// for the OS's default installer). An artifact the updater does not
/// install (dmg, unknown kinds) may go under no key.
pub fn check_key(key: PlatformKey, kind: ArtifactKind) -> Result<(), PlatformError> {
    let allowed = Installer::of_artifact(kind).is_some_and(|installer| {
        installer.os() == key.os
            && match key.installer {
                Some(named) => named == installer,
                None => installer == key.os.default_installer(),
            }
    });
    if allowed {
        return Ok(());
    }
    let keys = match Installer::of_artifact(kind) {
        None => "no key: the updater does not install it".to_owned(),
        Some(installer) if installer == installer.os().default_installer() => {
            format!("only `{0}-{{arch}}-{1}` or `{0}-{{arch}}`", installer.os().as_str(), installer.as_str())
        }
        Some(installer) => format!("only `{}-{{arch}}-{}`", installer.os().as_str(), installer.as_str()),
    };
    Err(PlatformError::KindForKey { kind: kind.as_str(), key, keys })
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

/// Written as its key suffix (`deb`, `nsis`, …): the updater's journal
/// records which installer runs.
impl Serialize for Installer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Installer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Installer::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown installer {text:?}")))
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
    #[error("a `{kind}` is a {kind_os} artifact, but target {target} is {target_os}")]
    KindForTarget { kind: &'static str, kind_os: &'static str, target: String, target_os: &'static str },
    #[error("a `{kind}` artifact may not be offered under {key}: it goes under {keys}")]
    KindForKey { kind: &'static str, key: PlatformKey, keys: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's key is the key of the triple this test was built for,
    /// so the running app asks for what `dist` published for its target.
    #[test]
    fn the_host_key_matches_the_key_of_the_build_target() {
        let key = PlatformKey::host(Os::host().unwrap().default_installer()).unwrap();
        let triple = [std::env::consts::ARCH, std::env::consts::OS].join("-");
        let triple = triple.replace("x86-", "i686-").replace("arm-", "armv7-").replace("macos", "apple-darwin");
        assert_eq!(Some(key.os), Os::of_target(&triple), "{triple}");
        assert_eq!(Some(key.arch), Arch::of_target(&triple), "{triple}");
        let foreign = [Installer::Deb, Installer::App, Installer::Nsis].into_iter().find(|i| i.os() != key.os).unwrap();
        let e = PlatformKey::host(foreign).unwrap_err();
        assert!(e.contains("cannot run on"), "{e}");
    }

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

    #[test]
    fn a_kind_goes_only_with_its_own_os_and_installer() {
        let windows = "x86_64-pc-windows-msvc";
        let error = PlatformKey::keys_for_artifact(windows, ArtifactKind::Deb).unwrap_err().to_string();
        assert_eq!(error, "a `deb` is a linux artifact, but target x86_64-pc-windows-msvc is windows");
        assert!(check_target("aarch64-apple-darwin", ArtifactKind::Msi).is_err());
        assert!(check_target("x86_64-unknown-linux-gnu", ArtifactKind::Dmg).is_err());
        assert!(check_target("x86_64-unknown-linux-gnu", ArtifactKind::Portable).is_ok());
        assert!(check_target("x86_64-apple-darwin", ArtifactKind::Dmg).is_ok());

        let kinds = [
            ArtifactKind::Deb,
            ArtifactKind::Rpm,
            ArtifactKind::Appimage,
            ArtifactKind::App,
            ArtifactKind::Dmg,
            ArtifactKind::Nsis,
            ArtifactKind::Msi,
            ArtifactKind::Portable,
            ArtifactKind::Unknown,
        ];
        let triples = ["x86_64-unknown-linux-gnu", "aarch64-apple-darwin", windows, "aarch64-pc-windows-msvc"];
        // Every key a kind is made under, and no other key, passes the check.
        let mut every_key: Vec<PlatformKey> = Vec::new();
        for triple in triples {
            for kind in kinds {
                if check_target(triple, kind).is_ok() {
                    every_key.extend(PlatformKey::keys_for_artifact(triple, kind).unwrap());
                }
            }
        }
        for kind in kinds {
            for key in &every_key {
                let made = triples.iter().any(|triple| {
                    check_target(triple, kind).is_ok()
                        && PlatformKey::keys_for_artifact(triple, kind).unwrap().contains(key)
                });
                assert_eq!(check_key(*key, kind).is_ok(), made, "{} under {key}", kind.as_str());
            }
        }
        let error = check_key("windows-x86_64-msi".parse().unwrap(), ArtifactKind::Rpm).unwrap_err().to_string();
        assert_eq!(
            error,
            "a `rpm` artifact may not be offered under windows-x86_64-msi: it goes under only `linux-{arch}-rpm`"
        );
        assert!(check_key("linux-x86_64".parse().unwrap(), ArtifactKind::Deb).is_err());
        assert!(check_key("windows-x86_64-deb".parse().unwrap(), ArtifactKind::Deb).is_err());
    }
}
