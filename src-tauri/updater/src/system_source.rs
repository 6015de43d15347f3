//! A deb or rpm install whose package configured the system's package
//! manager for the channel's repository (apt's `.sources`, dnf's `.repo`,
//! files the package manager owns) is updated by the package manager, like
//! every other package on the machine: the updater then says how, and does
//! not run `dpkg -i` or `rpm -U` itself. Without the file — the build has
//! no repository, or the user removed or disabled it — the updater installs
//! the package itself, as before.

use std::path::{Path, PathBuf};

use hudson_lifecycle::contract::package_repository::{apt_source_path, yum_repo_path};
use signing::platform::Installer;

/// The largest source file read: a few lines.
const MAX_SOURCE_BYTES: u64 = 64 * 1024;

/// The package manager's source for this app, enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemSource {
    /// The file, as the package installed it (under `/`).
    pub path: PathBuf,
    /// What the user runs to update now.
    pub command: &'static str,
}

/// The enabled source for `package` of `kind`, looked up under `root`
/// (`/`; tests give a folder). Read as a regular file of at most 64 KiB:
/// anything else (missing, a link, a FIFO, too big, not text) counts as no
/// source, and the app updates itself.
pub fn find(kind: Installer, package: &str, root: &Path) -> Option<SystemSource> {
    let (path, command) = match kind {
        Installer::Deb => (apt_source_path(package), "sudo apt update && sudo apt upgrade"),
        Installer::Rpm => (yum_repo_path(package), "sudo dnf upgrade --refresh"),
        _ => return None,
    };
    let on_disk = root.join(path.trim_start_matches('/'));
    let text = hudson_lifecycle::untrusted::read(&on_disk, MAX_SOURCE_BYTES).ok()?;
    let text = String::from_utf8(text).ok()?;
    let disabled = text.lines().map(|line| line.split('#').next().unwrap_or_default()).any(|line| {
        let Some((key, value)) = line.split_once(if kind == Installer::Deb { ':' } else { '=' }) else {
            return false;
        };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim().to_ascii_lowercase());
        key == "enabled" && matches!(value.as_str(), "no" | "0" | "false")
    });
    (!disabled).then(|| SystemSource { path: PathBuf::from(path), command })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn root_with(path: &str, text: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
        root
    }

    #[test]
    fn an_enabled_source_defers_to_the_package_manager() {
        let root = root_with("/etc/apt/sources.list.d/hudson.sources", "Types: deb\nURIs: https://u.example/a\n");
        let found = find(Installer::Deb, "hudson", root.path()).unwrap();
        assert_eq!(found.path, Path::new("/etc/apt/sources.list.d/hudson.sources"));
        assert!(found.command.contains("apt upgrade"));
        let root = root_with("/etc/yum.repos.d/hudson.repo", "[hudson]\nenabled=1\n");
        assert!(find(Installer::Rpm, "hudson", root.path()).unwrap().command.contains("dnf upgrade"));
        // Another package's source, or another kind of install: no.
        assert_eq!(find(Installer::Deb, "other", root.path()), None);
        assert_eq!(find(Installer::Portable, "hudson", root.path()), None);
    }

    #[test]
    fn a_disabled_removed_or_strange_source_does_not() {
        for text in ["Types: deb\nEnabled: no\n", "Types: deb\n  enabled :  NO  \n"] {
            let root = root_with("/etc/apt/sources.list.d/hudson.sources", text);
            assert_eq!(find(Installer::Deb, "hudson", root.path()), None, "{text:?}");
        }
        // A comment that mentions it does not disable anything.
        let root = root_with("/etc/apt/sources.list.d/hudson.sources", "# Enabled: no would turn it off\nTypes: deb\n");
        assert!(find(Installer::Deb, "hudson", root.path()).is_some());
        let root = root_with("/etc/yum.repos.d/hudson.repo", "[hudson]\nenabled = 0\n");
        assert_eq!(find(Installer::Rpm, "hudson", root.path()), None);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(find(Installer::Deb, "hudson", empty.path()), None);
        // A link (to /dev/zero) or a FIFO is not read.
        let linked = tempfile::tempdir().unwrap();
        let dir = linked.path().join("etc/apt/sources.list.d");
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.join("hudson.sources")).unwrap();
        assert_eq!(find(Installer::Deb, "hudson", linked.path()), None);
        std::fs::remove_file(dir.join("hudson.sources")).unwrap();
        let fifo = std::ffi::CString::new(dir.join("hudson.sources").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert_eq!(find(Installer::Deb, "hudson", linked.path()), None);
    }
}
