//! The yum/dnf repository of a channel (what it offers and where its
//! packages come from: [`super::repo`]):
//!
//! ```text
//! <channel>/yum/
//!   repository-key.asc                   the OpenPGP public key (dnf's gpgkey=)
//!   repodata/repomd.xml                  the checksum and size of each index
//!   repodata/repomd.xml.asc              its detached signature (repo_gpgcheck)
//!   repodata/<sha256>-primary.xml.gz     packages, versions, dependencies
//!   repodata/<sha256>-filelists.xml.gz   every file of every package
//!   repodata/<sha256>-other.xml.gz       changelogs
//!   packages/<name>-<version>-<release>.<arch>.rpm
//! ```
//!
//! The indexes follow createrepo_c's format (the tests compare the two);
//! every time in them is the release's own (the package's build time, the
//! manifest's issue time), so the same history gives the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, anyhow, ensure};
use sha2::{Digest, Sha256};
use signing::manifest::ChannelManifest;
use signing::platform::Installer;

use super::repo::{self, Content, RepoFile, bytes, check_package, gzip, printable};
use crate::core::fsx;
use crate::core::openpgp::{OpenPgpKey, OpenPgpPublicKey};

/// The repository's folder inside a channel folder.
pub const YUM_DIR: &str = "yum";
/// The armored public key.
pub const KEY_FILE: &str = "repository-key.asc";
/// The largest index read back (`verify`).
const MAX_INDEX_BYTES: u64 = 64 << 20;

/// What the indexes say about one package.
struct Package {
    name: String,
    arch: String,
    epoch: u32,
    version: String,
    release: String,
    sha256: String,
    size: u64,
    location: String,
    summary: String,
    description: String,
    packager: String,
    url: String,
    license: String,
    vendor: String,
    group: String,
    build_host: String,
    source_rpm: String,
    build_time: u64,
    installed_size: u64,
    header_start: u64,
    header_end: u64,
    provides: Vec<rpm::Dependency>,
    requires: Vec<rpm::Dependency>,
    conflicts: Vec<rpm::Dependency>,
    obsoletes: Vec<rpm::Dependency>,
    /// Path and whether it is a folder.
    files: Vec<(String, bool)>,
    changelog: Vec<rpm::ChangelogEntry>,
}

impl Package {
    /// Reads the header of the stored package `path`.
    fn read(path: &Path, sha256: &str, size: u64) -> Result<Package> {
        let mut reader = std::io::BufReader::new(fsx::open_untrusted(path)?.take(size));
        let meta = rpm::PackageMetadata::parse(&mut reader)
            .map_err(|e| anyhow!("{} is not an RPM package: {e}", path.display()))?;
        let text = |value: Result<&str, rpm::Error>| printable(value.unwrap_or_default());
        let name = meta.get_name().map_err(|e| anyhow!("{}: no name: {e}", path.display()))?.to_owned();
        let version = meta.get_version().map_err(|e| anyhow!("{}: no version: {e}", path.display()))?.to_owned();
        let release = meta.get_release().map_err(|e| anyhow!("{}: no release: {e}", path.display()))?.to_owned();
        let arch = meta.get_arch().map_err(|e| anyhow!("{}: no architecture: {e}", path.display()))?.to_owned();
        for (what, value) in [("name", &name), ("version", &version), ("release", &release), ("architecture", &arch)] {
            ensure!(
                !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-~^".contains(&b)),
                "{}: the {what} {value:?} cannot name a file in the repository",
                path.display()
            );
        }
        let offsets = meta.get_package_segment_offsets();
        let deps = |list: Result<Vec<rpm::Dependency>, rpm::Error>| list.unwrap_or_default();
        let files = meta
            .get_file_entries()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (printable(&e.path.to_string_lossy()), matches!(e.mode, rpm::FileMode::Dir { .. })))
            .collect();
        Ok(Package {
            location: format!("packages/{name}-{version}-{release}.{arch}.rpm"),
            epoch: meta.get_epoch().unwrap_or(0),
            summary: text(meta.get_summary()),
            description: text(meta.get_description()),
            packager: text(meta.get_packager()),
            url: text(meta.get_url()),
            license: text(meta.get_license()),
            vendor: text(meta.get_vendor()),
            group: text(meta.get_group()),
            build_host: text(meta.get_build_host()),
            source_rpm: text(meta.get_source_rpm()),
            build_time: meta.get_build_time().unwrap_or(0),
            installed_size: meta.get_installed_size().unwrap_or(0),
            header_start: offsets.header,
            header_end: offsets.payload,
            provides: deps(meta.get_provides()),
            requires: deps(meta.get_requires())
                .into_iter()
                .filter(|d| !d.name.starts_with("rpmlib(") && !d.name.starts_with("config("))
                .collect(),
            conflicts: deps(meta.get_conflicts()),
            obsoletes: deps(meta.get_obsoletes()),
            files,
            changelog: meta.get_changelog_entries().unwrap_or_default(),
            name,
            arch,
            version,
            release,
            sha256: sha256.to_owned(),
            size,
        })
    }

    /// How filelists and other open a package: by its id (the SHA-256).
    fn by_id(&self) -> String {
        format!(
            "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">\n  <version {}/>\n",
            self.sha256,
            xml(&self.name),
            xml(&self.arch),
            self.version_attributes()
        )
    }

    fn version_attributes(&self) -> String {
        format!(r#"epoch="{}" ver="{}" rel="{}""#, self.epoch, xml(&self.version), xml(&self.release))
    }
}

/// Warnings for the rpms the repository of `history` offers that `key` did
/// not sign (dnf, with the `gpgcheck=1` the packages' `.repo` and the
/// documented one set, refuses them), or whose signature cannot be checked.
/// Each is read from the store once its size and SHA-256 match the signed
/// manifest.
pub fn signature_warnings(root: &Path, history: &[ChannelManifest], key: &OpenPgpPublicKey) -> Vec<String> {
    let Some(release) = repo::offered(history) else { return Vec::new() };
    let mut warnings = Vec::new();
    for entry in repo::entries(release, Installer::Rpm).into_values() {
        let file = printable(entry.url.rsplit('/').next().unwrap_or(&entry.url));
        let path = repo::package_path(root, &entry.sha256, Installer::Rpm);
        match check_package(&path, &entry.sha256, entry.size).and_then(|()| signed_by(&path, entry.size, key)) {
            Ok(true) => {}
            Ok(false) => warnings.push(format!(
                "the yum repository offers {file}, which is not signed by OpenPGP key {}: dnf with gpgcheck=1 (the packages' own .repo, and the documented one) refuses to install it. Build releases with signing.openpgp-public-key set and HUDSON_OPENPGP_PRIVATE_KEY in `dist`'s environment, which signs the rpm",
                key.fingerprint()
            )),
            Err(e) => warnings.push(format!("cannot check the OpenPGP signature of {file}: {e:#}")),
        }
    }
    warnings
}

/// True when the rpm at `path` (read up to `size` bytes) carries a header
/// signature (EdDSA or RSA, as `rpmsign` and `dist` make them) by `key`.
/// The signature covers the main header, which holds the payload's
/// SHA-256. An unreadable or damaged package is an error. The `rpm`
/// crate's parser trusts the sizes a header declares: call it on a package
/// whose size and SHA-256 were checked against a signed manifest (or one
/// `dist` just wrote).
pub fn signed_by(path: &Path, size: u64, key: &OpenPgpPublicKey) -> Result<bool> {
    // rpm's tags of a header-only signature: RPMSIGTAG_DSA (any non-RSA
    // algorithm) and RPMSIGTAG_RSA.
    const TAGS: [rpm::IndexSignatureTag; 2] =
        [rpm::IndexSignatureTag::RPMSIGTAG_DSA, rpm::IndexSignatureTag::RPMSIGTAG_RSA];
    let meta = rpm::PackageMetadata::parse(&mut std::io::BufReader::new(fsx::open_untrusted(path)?.take(size)))
        .map_err(|e| anyhow!("{} is not an RPM package: {e}", path.display()))?;
    let offsets = meta.get_package_segment_offsets();
    let length = offsets.payload.checked_sub(offsets.header).context("the rpm's header ends before it starts")?;
    let mut file = fsx::open_untrusted(path)?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offsets.header))?;
    let mut header = Vec::new();
    file.take(length).read_to_end(&mut header)?;
    ensure!(header.len() as u64 == length, "{}: the file ends inside the header", path.display());
    Ok(TAGS.into_iter().any(|tag| {
        meta.signature.get_entry_data_as_binary(tag).is_ok_and(|packet| key.verify_packet(&header, packet).is_ok())
    }))
}

/// The files of the repository for `history`, signed with `key`.
pub fn build(
    root: &Path,
    _channel: &str,
    product: &str,
    history: &[ChannelManifest],
    key: &OpenPgpKey,
) -> Result<Vec<RepoFile>> {
    let current = history.last().context("a channel always has a current manifest")?;
    let mut files = vec![bytes(format!("{YUM_DIR}/{KEY_FILE}"), key.public().to_armored()?.into_bytes())];
    let mut packages = Vec::new();
    if let Some(release) = repo::offered(history) {
        for (platform, entry) in repo::entries(release, Installer::Rpm) {
            let stored = repo::stored_package(root, product, release, platform, entry, Installer::Rpm)?;
            let package = Package::read(&stored, &entry.sha256, entry.size)?;
            files.push(RepoFile { path: format!("{YUM_DIR}/{}", package.location), content: Content::Link(stored) });
            packages.push(package);
        }
    }
    packages.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    let time = current.issued_at.unix_timestamp().max(0);
    let mut repomd = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    let _ = writeln!(repomd, "  <revision>{time}</revision>");
    for (kind, xml) in
        [("primary", primary(&packages)), ("filelists", filelists(&packages)), ("other", other(&packages))]
    {
        let gz = gzip(xml.as_bytes())?;
        let sha = hex::encode(Sha256::digest(&gz));
        let location = format!("repodata/{sha}-{kind}.xml.gz");
        let _ = write!(
            repomd,
            "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{sha}</checksum>\n    <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"{location}\"/>\n    <timestamp>{time}</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            hex::encode(Sha256::digest(xml.as_bytes())),
            gz.len(),
            xml.len()
        );
        files.push(bytes(format!("{YUM_DIR}/{location}"), gz));
    }
    repomd.push_str("</repomd>\n");
    let signature = key.detached(repomd.as_bytes(), current.issued_at)?;
    files.push(bytes(format!("{YUM_DIR}/repodata/repomd.xml.asc"), signature.into_bytes()));
    files.push(bytes(format!("{YUM_DIR}/repodata/repomd.xml"), repomd.into_bytes()));
    Ok(files)
}

fn primary(packages: &[Package]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{}\">\n",
        packages.len()
    );
    for p in packages {
        let _ = write!(
            out,
            "<package type=\"rpm\">\n  <name>{}</name>\n  <arch>{}</arch>\n  <version {}/>\n  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>\n  <summary>{}</summary>\n  <description>{}</description>\n  <packager>{}</packager>\n  <url>{}</url>\n  <time file=\"{}\" build=\"{}\"/>\n  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>\n  <location href=\"{}\"/>\n  <format>\n    <rpm:license>{}</rpm:license>\n    <rpm:vendor>{}</rpm:vendor>\n    <rpm:group>{}</rpm:group>\n    <rpm:buildhost>{}</rpm:buildhost>\n    <rpm:sourcerpm>{}</rpm:sourcerpm>\n    <rpm:header-range start=\"{}\" end=\"{}\"/>\n",
            xml(&p.name),
            xml(&p.arch),
            p.version_attributes(),
            p.sha256,
            xml(&p.summary),
            xml(&p.description),
            xml(&p.packager),
            xml(&p.url),
            p.build_time,
            p.build_time,
            p.size,
            p.installed_size,
            p.size.saturating_sub(p.header_end),
            xml(&p.location),
            xml(&p.license),
            xml(&p.vendor),
            xml(&p.group),
            xml(&p.build_host),
            xml(&p.source_rpm),
            p.header_start,
            p.header_end,
        );
        for (tag, list) in [
            ("provides", &p.provides),
            ("requires", &p.requires),
            ("conflicts", &p.conflicts),
            ("obsoletes", &p.obsoletes),
        ] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(out, "    <rpm:{tag}>");
            for dependency in list {
                let _ = writeln!(out, "      <rpm:entry {}/>", entry_attributes(dependency));
            }
            let _ = writeln!(out, "    </rpm:{tag}>");
        }
        // createrepo_c's rule: primary lists only the files dependencies
        // usually name (executables and /etc); filelists has them all.
        for (path, dir) in &p.files {
            if path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail" {
                let _ = writeln!(out, "    <file{}>{}</file>", if *dir { " type=\"dir\"" } else { "" }, xml(path));
            }
        }
        out.push_str("  </format>\n</package>\n");
    }
    out.push_str("</metadata>\n");
    out
}

fn entry_attributes(dependency: &rpm::Dependency) -> String {
    let mut text = format!("name=\"{}\"", xml(&dependency.name));
    let flags = dependency.flags;
    let relation = if flags.contains(rpm::DependencyFlags::LE) {
        Some("LE")
    } else if flags.contains(rpm::DependencyFlags::GE) {
        Some("GE")
    } else if flags.contains(rpm::DependencyFlags::EQUAL) {
        Some("EQ")
    } else if flags.contains(rpm::DependencyFlags::LESS) {
        Some("LT")
    } else if flags.contains(rpm::DependencyFlags::GREATER) {
        Some("GT")
    } else {
        None
    };
    if let Some(relation) = relation
        && !dependency.version.is_empty()
    {
        // `[epoch:]version[-release]`
        let (epoch, rest) = match dependency.version.split_once(':') {
            Some((epoch, rest)) if epoch.bytes().all(|b| b.is_ascii_digit()) => (epoch, rest),
            _ => ("0", dependency.version.as_str()),
        };
        let (ver, rel) = rest.split_once('-').map_or((rest, None), |(v, r)| (v, Some(r)));
        let _ = write!(text, " flags=\"{relation}\" epoch=\"{epoch}\" ver=\"{}\"", xml(ver));
        if let Some(rel) = rel {
            let _ = write!(text, " rel=\"{}\"", xml(rel));
        }
    }
    if flags
        .intersects(rpm::DependencyFlags::PREREQ | rpm::DependencyFlags::SCRIPT_PRE | rpm::DependencyFlags::SCRIPT_POST)
    {
        text.push_str(" pre=\"1\"");
    }
    text
}

fn filelists(packages: &[Package]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{}\">\n",
        packages.len()
    );
    for p in packages {
        out.push_str(&p.by_id());
        for (path, dir) in &p.files {
            let _ = writeln!(out, "  <file{}>{}</file>", if *dir { " type=\"dir\"" } else { "" }, xml(path));
        }
        out.push_str("</package>\n");
    }
    out.push_str("</filelists>\n");
    out
}

fn other(packages: &[Package]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{}\">\n",
        packages.len()
    );
    for p in packages {
        out.push_str(&p.by_id());
        for entry in &p.changelog {
            let _ = writeln!(
                out,
                "  <changelog author=\"{}\" date=\"{}\">{}</changelog>",
                xml(&printable(&entry.name)),
                entry.timestamp,
                xml(&printable(&entry.description))
            );
        }
        out.push_str("</package>\n");
    }
    out.push_str("</otherdata>\n");
    out
}

/// Text as XML character data or an attribute value.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The `<data>` entries of a repomd.xml, by type. A reader of our own format, bounded by what
/// `build` writes; anything else is named as a difference.
/// One `<data>` entry of a repomd.xml.
struct IndexEntry {
    location: String,
    sha256: String,
    size: u64,
    open_sha256: String,
    open_size: u64,
}

fn repomd_entries(text: &str) -> Result<BTreeMap<String, IndexEntry>> {
    let mut entries = BTreeMap::new();
    for block in text.split("<data type=\"").skip(1) {
        let (kind, rest) = block.split_once('"').context("a <data> element without its type")?;
        let body = rest.split("</data>").next().unwrap_or_default();
        let between = |open: &str, close: &str| -> Result<String> {
            let start = body.find(open).with_context(|| format!("{kind}: no {open}"))? + open.len();
            let end = body[start..].find(close).with_context(|| format!("{kind}: {open} not closed"))? + start;
            Ok(body[start..end].to_owned())
        };
        let number = |open: &str, close: &str| -> Result<u64> {
            between(open, close)?.parse().with_context(|| format!("{kind}: {open} is not a number"))
        };
        entries.insert(
            kind.to_owned(),
            IndexEntry {
                location: between("<location href=\"", "\"")?,
                sha256: between("<checksum type=\"sha256\">", "<")?,
                size: number("<size>", "<")?,
                open_sha256: between("<open-checksum type=\"sha256\">", "<")?,
                open_size: number("<open-size>", "<")?,
            },
        );
    }
    Ok(entries)
}

/// Every difference between the repository in `channel_dir` and the one
/// `history` implies, checked with `key`.
pub fn check(channel_dir: &Path, history: &[ChannelManifest], key: &OpenPgpPublicKey) -> Vec<String> {
    let mut problems = Vec::new();
    let yum = channel_dir.join(YUM_DIR);
    let repomd_path = yum.join("repodata/repomd.xml");
    let repomd = match fsx::read_untrusted(&repomd_path, MAX_INDEX_BYTES).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        Ok(Err(_)) => return vec!["yum/repodata/repomd.xml: not text".to_owned()],
        Err(e) => return vec![format!("{e:#}")],
    };
    match fsx::read_untrusted(&yum.join("repodata/repomd.xml.asc"), crate::core::openpgp::MAX_SIGNATURE_BYTES) {
        Ok(signature) => {
            if let Err(e) = key.verify_detached(repomd.as_bytes(), &signature) {
                problems.push(format!("yum/repodata/repomd.xml.asc: {e:#}"));
            }
        }
        Err(e) => problems.push(format!("{e:#}")),
    }
    let entries = match repomd_entries(&repomd) {
        Ok(entries) => entries,
        Err(e) => return [problems, vec![format!("yum/repodata/repomd.xml: {e:#}")]].concat(),
    };
    let mut primary = None;
    for kind in ["primary", "filelists", "other"] {
        let Some(IndexEntry { location, sha256, size, open_sha256, open_size }) = entries.get(kind) else {
            problems.push(format!("yum/repodata/repomd.xml lists no {kind} index"));
            continue;
        };
        if !signing::dist::is_contained_relative_path(location) {
            problems.push(format!("yum/repodata/repomd.xml: the {kind} location {location:?} leaves the repository"));
            continue;
        }
        let path = yum.join(location);
        match fsx::read_untrusted(&path, MAX_INDEX_BYTES) {
            Ok(data) => {
                let found = hex::encode(Sha256::digest(&data));
                if found != *sha256 || data.len() as u64 != *size {
                    problems.push(format!(
                        "yum/{location}: {} bytes with SHA-256 {found}, but repomd.xml says {size} bytes with {sha256}",
                        data.len()
                    ));
                    continue;
                }
                let mut plain = Vec::new();
                let decoded =
                    flate2::read::MultiGzDecoder::new(&data[..]).take(MAX_INDEX_BYTES + 1).read_to_end(&mut plain);
                if decoded.is_err()
                    || plain.len() as u64 != *open_size
                    || hex::encode(Sha256::digest(&plain)) != *open_sha256
                {
                    problems.push(format!("yum/{location} does not decompress to what repomd.xml says"));
                } else if kind == "primary" {
                    primary = Some(String::from_utf8_lossy(&plain).into_owned());
                }
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    // What primary offers: every package present with its size and hash,
    // and what the channel says.
    if let Some(primary) = primary {
        let mut found: Vec<(String, String)> = Vec::new();
        for block in primary.split("<package type=\"rpm\">").skip(1) {
            let field = |open: &str, close: &str| {
                block.find(open).and_then(|s| {
                    block[s + open.len()..].find(close).map(|e| &block[s + open.len()..s + open.len() + e])
                })
            };
            let (Some(sha256), Some(size), Some(location)) = (
                field("<checksum type=\"sha256\" pkgid=\"YES\">", "<"),
                field("<size package=\"", "\""),
                field("<location href=\"", "\""),
            ) else {
                problems.push("yum primary: a package without checksum, size and location".to_owned());
                continue;
            };
            found.push((sha256.to_owned(), location.to_owned()));
            if !signing::dist::is_contained_relative_path(location) {
                problems.push(format!("yum primary: location {location:?} leaves the repository"));
                continue;
            }
            // Read only a package the signed manifest names, up to its size there.
            let signed = repo::offered(history)
                .and_then(|r| repo::entries(r, Installer::Rpm).into_values().find(|e| e.sha256 == sha256).cloned());
            match (size.parse::<u64>(), signed) {
                (Ok(size), Some(entry)) if size == entry.size => {
                    if let Err(e) = check_package(&yum.join(location), sha256, size) {
                        problems.push(format!("yum: {e:#}"));
                    }
                }
                (Ok(_), _) => problems.push(format!("yum primary: {location} is not a package the channel signed")),
                (Err(_), _) => problems.push(format!("yum primary: size {size:?} is not a number")),
            }
        }
        let mut want: Vec<String> = repo::offered(history)
            .map(|r| repo::entries(r, Installer::Rpm).values().map(|e| e.sha256.clone()).collect())
            .unwrap_or_default();
        let mut have: Vec<String> = found.iter().map(|(sha, _)| sha.clone()).collect();
        want.sort();
        have.sort();
        if want != have {
            problems.push(format!(
                "yum primary offers the packages {have:?} (SHA-256), but the channel offers {want:?} ({})",
                repo::offered(history).map_or("nothing".to_owned(), |r| r.version.to_string())
            ));
        }
    }
    problems
}
