//! The files by which the deb and rpm point apt and dnf at the channel's
//! package repositories ([`crate::channel::repo`] writes those). They are
//! files of the package, owned by the package manager — not written by a
//! maintainer script — so a user's edit is kept on upgrade (dpkg also keeps
//! a removal; rpm puts a removed `%config` file back, so rpm users disable
//! it with `enabled=0`):
//!
//! | package | file | |
//! | --- | --- | --- |
//! | deb | `/etc/apt/sources.list.d/<pkg>.sources` | deb822, `Signed-By:` the keyring; a conffile |
//! | deb | `/etc/apt/keyrings/<pkg>-archive-keyring.pgp` | the repository key, binary; a conffile too |
//! | rpm | `/etc/yum.repos.d/<pkg>.repo` | `repo_gpgcheck=1`, `gpgcheck=1` (`dist` signs the rpm); `%config(noreplace)` |
//! | rpm | `/etc/pki/rpm-gpg/RPM-GPG-KEY-<pkg>` | the repository key, armored |
//!
//! They are made only when the build has both an update endpoint
//! (`updates`) and the repository key (`signing.openpgp-public-key`): the
//! repositories live at `<endpoint>/<channel>/apt` and `…/yum`. Files under
//! `/etc` become conffiles (deb) and `%config(noreplace)` (rpm) when the
//! packages are normalised ([`super::deb`], [`super::rpm`]).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use hudson_lifecycle::contract::UpdatesConfig;

use crate::core::openpgp::OpenPgpPublicKey;

/// What a package of `package` installs for its repository: path in the
/// package → bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepositoryFiles {
    pub deb: BTreeMap<String, Vec<u8>>,
    pub rpm: BTreeMap<String, Vec<u8>>,
}

pub use hudson_lifecycle::contract::package_repository::{
    apt_keyring_path, apt_source_path, package_name, rpm_key_path, yum_repo_path,
};

/// The files, or `None` when the build has no endpoint or no repository key.
pub fn files(
    product: &str,
    updates: Option<&UpdatesConfig>,
    openpgp_public_key: Option<&Path>,
) -> Result<Option<RepositoryFiles>> {
    let (Some(updates), Some(key_path)) = (updates, openpgp_public_key) else { return Ok(None) };
    let key = OpenPgpPublicKey::read_configured(key_path)?;
    let package = package_name(product);
    let base = updates.endpoint.trim_end_matches('/');
    let channel = &updates.channel;
    let keyring = apt_keyring_path(&package);
    let rpm_key = rpm_key_path(&package);
    let sources = format!(
        "# {product}'s apt repository, installed by the {package} package. You may edit\n\
         # or remove this file: the package will not add it back (it is a conffile).\n\
         Types: deb\n\
         URIs: {base}/{channel}/apt\n\
         Suites: {channel}\n\
         Components: main\n\
         Signed-By: {keyring}\n"
    );
    let repo = format!(
        "# {product}'s dnf repository, installed by the {package} package. You may edit\n\
         # this file: the package keeps your changes (%config(noreplace)).\n\
         [{package}]\n\
         name={product} ({channel})\n\
         baseurl={base}/{channel}/yum\n\
         enabled=1\n\
         repo_gpgcheck=1\n\
         gpgcheck=1\n\
         gpgkey=file://{rpm_key}\n"
    );
    let mut files = RepositoryFiles::default();
    files.deb.insert(apt_source_path(&package), sources.into_bytes());
    files.deb.insert(keyring, key.to_binary()?);
    files.rpm.insert(yum_repo_path(&package), repo.into_bytes());
    files.rpm.insert(rpm_key, key.to_armored()?.into_bytes());
    Ok(Some(files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_name_the_channels_repositories_and_carry_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::core::openpgp::OpenPgpKey::generate("T <t@example.invalid>", None).unwrap();
        let path = dir.path().join("repository.asc");
        std::fs::write(&path, key.public().to_armored().unwrap()).unwrap();
        let updates = UpdatesConfig {
            endpoint: "https://u.example/hudson/".into(),
            channel: "beta".into(),
            interval_hours: 6,
            snapshot_files: Vec::new(),
        };
        let files = files("Hudson", Some(&updates), Some(&path)).unwrap().unwrap();
        let text = |map: &BTreeMap<String, Vec<u8>>, path: &str| String::from_utf8(map[path].clone()).unwrap();
        let sources = text(&files.deb, "/etc/apt/sources.list.d/hudson.sources");
        assert!(sources.contains("\nURIs: https://u.example/hudson/beta/apt\nSuites: beta\n"), "{sources}");
        assert!(sources.contains("\nSigned-By: /etc/apt/keyrings/hudson-archive-keyring.pgp\n"), "{sources}");
        let keyring = &files.deb["/etc/apt/keyrings/hudson-archive-keyring.pgp"];
        assert_eq!(OpenPgpPublicKey::from_bytes(keyring, "keyring").unwrap().fingerprint(), key.fingerprint());
        let repo = text(&files.rpm, "/etc/yum.repos.d/hudson.repo");
        assert!(repo.contains("\nbaseurl=https://u.example/hudson/beta/yum\n"), "{repo}");
        assert!(
            repo.contains("\nrepo_gpgcheck=1\n")
                && repo.contains("\ngpgcheck=1\n")
                && repo.contains("gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-hudson\n")
        );
        let rpm_key = &files.rpm["/etc/pki/rpm-gpg/RPM-GPG-KEY-hudson"];
        assert_eq!(OpenPgpPublicKey::from_bytes(rpm_key, "key").unwrap().fingerprint(), key.fingerprint());
    }

    #[test]
    fn no_endpoint_or_no_key_means_no_files() {
        let updates = UpdatesConfig {
            endpoint: "https://u.example/hudson/".into(),
            channel: "beta".into(),
            interval_hours: 6,
            snapshot_files: Vec::new(),
        };
        assert_eq!(files("Hudson", None, Some(Path::new("/nonexistent"))).unwrap(), None);
        assert_eq!(files("Hudson", Some(&updates), None).unwrap(), None);
        let error = files("Hudson", Some(&updates), Some(Path::new("/nonexistent/key.asc"))).unwrap_err();
        assert!(format!("{error:#}").contains("signing.openpgp-public-key"), "{error:#}");
    }
}
