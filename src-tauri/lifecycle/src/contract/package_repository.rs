//! Where a deb or rpm install keeps its package repository's files: the
//! packages ship them (`dist`, `xtask/src/platform/linux/repository.rs`)
//! and the updater looks for them (`hudson_updater::system_source`), so the
//! two agree on one set of names here.

/// The package name tauri-bundler gives the deb and the rpm: the product
/// name in kebab case (`Hudson` → `hudson`, `Hudson Desktop` →
/// `hudson-desktop`).
pub fn package_name(product: &str) -> String {
    let mut name = String::new();
    for (i, c) in product.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && !name.ends_with('-') {
            name.push('-');
        }
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    name.trim_end_matches('-').to_owned()
}

/// apt's source (deb822), a conffile of the deb.
pub fn apt_source_path(package: &str) -> String {
    format!("/etc/apt/sources.list.d/{package}.sources")
}

/// The repository key apt's source names in `Signed-By:`. Under `/etc`,
/// so it is a conffile like the source: `apt remove` keeps both (a source
/// without its keyring would make every `apt update` fail), a purge removes
/// both.
pub fn apt_keyring_path(package: &str) -> String {
    format!("/etc/apt/keyrings/{package}-archive-keyring.pgp")
}

/// dnf's repository file, `%config(noreplace)` in the rpm.
pub fn yum_repo_path(package: &str) -> String {
    format!("/etc/yum.repos.d/{package}.repo")
}

/// The repository key the `.repo` file names in `gpgkey=`.
pub fn rpm_key_path(package: &str) -> String {
    format!("/etc/pki/rpm-gpg/RPM-GPG-KEY-{package}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_are_tauri_bundlers_kebab_case() {
        assert_eq!(package_name("Hudson"), "hudson");
        assert_eq!(package_name("Hudson Desktop"), "hudson-desktop");
        assert_eq!(package_name("HudsonDesktop"), "hudson-desktop");
        assert_eq!(apt_source_path("hudson"), "/etc/apt/sources.list.d/hudson.sources");
    }
}
