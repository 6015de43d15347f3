//! The apt repository of a channel, derived from its signed history and
//! written with it in one folder swap ([`super::tree::commit`]):
//!
//! ```text
//! <channel>/apt/
//!   archive-keyring.pgp                  the OpenPGP public key (apt's Signed-By:)
//!   archive-keyring.asc                  the same, armored
//!   dists/<channel>/InRelease            Release, clearsigned
//!   dists/<channel>/Release              suite, dates, SHA-256 of every index
//!   dists/<channel>/Release.gpg          Release's detached signature
//!   dists/<channel>/main/binary-<arch>/Packages{,.gz,.xz}
//!   pool/main/<p>/<package>/<package>_<version>_<arch>.deb
//! ```
//!
//! What it offers, and where its packages come from: [`super::repo`].
//! `Date` is the manifest's issue time and `Valid-Until` its expiry, so the
//! same history gives the same bytes, and apt stops trusting an index when
//! clients stop trusting the manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};
use signing::manifest::{ChannelManifest, PlatformEntry};
use signing::platform::{Arch, Installer, PlatformKey};
use time::OffsetDateTime;

use super::repo::{self, Content, RepoFile, bytes, check_package, gzip};
use crate::core::fsx;
use crate::core::openpgp::{OpenPgpKey, OpenPgpPublicKey};

/// The repository's folder inside a channel folder.
pub const APT_DIR: &str = "apt";
/// The public key, binary (what `Signed-By:` names) and armored.
pub const KEYRING_FILE: &str = "archive-keyring.pgp";
pub const KEYRING_ASC_FILE: &str = "archive-keyring.asc";
/// The one component.
pub const COMPONENT: &str = "main";
/// The largest `control` file read from a package.
const MAX_CONTROL_BYTES: u64 = 1 << 20;
/// The largest index read back (`verify`): a Packages file names one
/// package per architecture.
pub const MAX_INDEX_BYTES: u64 = 16 << 20;

/// Debian's name of an architecture.
pub fn debian_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "amd64",
        Arch::Aarch64 => "arm64",
        Arch::I686 => "i386",
        Arch::Armv7 => "armhf",
    }
}

/// The deb entries of `manifest`, by Debian architecture.
fn debs(manifest: &ChannelManifest) -> BTreeMap<&'static str, (PlatformKey, &PlatformEntry)> {
    repo::entries(manifest, Installer::Deb)
        .into_iter()
        .map(|(key, entry)| (debian_arch(key.arch), (key, entry)))
        .collect()
}

/// What the repository of a channel with `history` holds: the release,
/// and the architectures (every one a deb of the channel was ever for).
pub struct Offered<'a> {
    pub release: Option<&'a ChannelManifest>,
    pub architectures: BTreeSet<&'static str>,
}

pub fn offered(history: &[ChannelManifest]) -> Offered<'_> {
    let architectures = history.iter().flat_map(|m| debs(m).into_keys()).collect();
    Offered { release: repo::offered(history), architectures }
}

/// The files of the repository for `history` (signed manifests in
/// sequence order, the new one last), signed with `key`.
pub fn build(
    root: &Path,
    channel: &str,
    product: &str,
    history: &[ChannelManifest],
    key: &OpenPgpKey,
) -> Result<Vec<RepoFile>> {
    let current = history.last().context("a channel always has a current manifest")?;
    let offered = offered(history);
    let mut files = Vec::new();
    let public = key.public();
    files.push(bytes(format!("{APT_DIR}/{KEYRING_FILE}"), public.to_binary()?));
    files.push(bytes(format!("{APT_DIR}/{KEYRING_ASC_FILE}"), public.to_armored()?.into_bytes()));

    let dists = format!("{APT_DIR}/dists/{channel}");
    let mut indexes: Vec<(String, Vec<u8>)> = Vec::new();
    for arch in &offered.architectures {
        let mut packages = String::new();
        if let Some(release) = offered.release
            && let Some((key, entry)) = debs(release).get(arch)
        {
            let stored = repo::stored_package(root, product, release, *key, entry, Installer::Deb)?;
            let control = Control::of_deb(&stored)?;
            ensure!(
                control.get("Architecture") == Some(arch),
                "{}: the package says Architecture {:?}, but it is offered for {arch}",
                stored.display(),
                control.get("Architecture")
            );
            let name = control.get("Package").context("the control file has no Package")?;
            let version = control.get("Version").context("the control file has no Version")?;
            for (what, value) in [("Package", name), ("Version", version)] {
                ensure!(
                    !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.~:".contains(&b)),
                    "{}: the control file's {what} {value:?} cannot name a file in the pool",
                    stored.display()
                );
            }
            // The pool's file name carries no epoch (`1:2.0` → `2.0`).
            let version = version.split_once(':').map_or(version, |(_, v)| v);
            let pool = format!("pool/{COMPONENT}/{}/{name}/{name}_{version}_{arch}.deb", &name[..1]);
            packages.push_str(&control.stanza(&[
                ("Filename", pool.clone()),
                ("Size", entry.size.to_string()),
                ("SHA256", entry.sha256.clone()),
            ]));
            files.push(RepoFile { path: format!("{APT_DIR}/{pool}"), content: Content::Link(stored) });
        }
        let packages = packages.into_bytes();
        let binary = format!("{COMPONENT}/binary-{arch}");
        indexes.push((format!("{binary}/Packages.gz"), gzip(&packages)?));
        indexes.push((format!("{binary}/Packages.xz"), xz(&packages)?));
        indexes.push((format!("{binary}/Packages"), packages));
    }
    indexes.sort_by(|a, b| a.0.cmp(&b.0));
    let release = release_text(channel, product, current, &offered.architectures, &indexes);
    for (path, data) in indexes {
        files.push(bytes(format!("{dists}/{path}"), data));
    }
    files
        .push(bytes(format!("{dists}/Release.gpg"), key.detached(release.as_bytes(), current.issued_at)?.into_bytes()));
    files.push(bytes(format!("{dists}/InRelease"), key.clearsign(&release, current.issued_at)?.into_bytes()));
    files.push(bytes(format!("{dists}/Release"), release.into_bytes()));
    Ok(files)
}

fn release_text(
    channel: &str,
    product: &str,
    current: &ChannelManifest,
    architectures: &BTreeSet<&str>,
    indexes: &[(String, Vec<u8>)],
) -> String {
    let mut text = String::new();
    let mut field = |name: &str, value: &str| text.push_str(&format!("{name}: {value}\n"));
    field("Origin", product);
    field("Label", product);
    field("Suite", channel);
    field("Codename", channel);
    field("Date", &rfc2822(current.issued_at));
    field("Valid-Until", &rfc2822(current.expires_at));
    field("Architectures", &architectures.iter().copied().collect::<Vec<_>>().join(" "));
    field("Components", COMPONENT);
    field("Description", &format!("{product}, {channel} channel"));
    text.push_str("SHA256:\n");
    for (path, data) in indexes {
        text.push_str(&format!(" {} {:>16} {path}\n", hex::encode(Sha256::digest(data)), data.len()));
    }
    text
}

/// apt's date form: `Sat, 05 Dec 2026 12:00:00 UTC`.
pub fn rfc2822(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} UTC",
        &at.weekday().to_string()[..3],
        at.day(),
        &at.month().to_string()[..3],
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

fn xz(data: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = xz2::write::XzEncoder::new(Vec::new(), 6);
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

/// A Debian control paragraph: fields in their order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    fields: Vec<(String, String)>,
}

/// Fields the repository sets itself: a package's own are dropped.
const REPOSITORY_FIELDS: [&str; 6] = ["Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512"];

impl Control {
    /// Parses one paragraph (continuation lines kept as they are).
    pub fn parse(text: &str) -> Result<Control> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                if fields.is_empty() {
                    continue;
                }
                break;
            }
            if line.starts_with([' ', '\t']) {
                let (_, value) = fields.last_mut().context("a continuation line comes first")?;
                value.push('\n');
                value.push_str(line);
                continue;
            }
            let (name, value) =
                line.split_once(':').with_context(|| format!("{line:?} is not a `Field: value` line"))?;
            ensure!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':'),
                "{name:?} is not a field name"
            );
            fields.push((name.to_owned(), value.trim().to_owned()));
        }
        ensure!(!fields.is_empty(), "an empty control paragraph");
        Ok(Control { fields })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The paragraph with `extra` fields added after the package's own
    /// (whose repository fields are dropped), and a blank line.
    fn stanza(&self, extra: &[(&str, String)]) -> String {
        let mut text = String::new();
        for (name, value) in &self.fields {
            if !REPOSITORY_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name)) {
                text.push_str(&format!("{name}: {value}\n"));
            }
        }
        for (name, value) in extra {
            text.push_str(&format!("{name}: {value}\n"));
        }
        text.push('\n');
        text
    }

    /// The paragraphs of a Packages file.
    pub fn parse_all(text: &str) -> Result<Vec<Control>> {
        text.split("\n\n").filter(|p| !p.trim().is_empty()).map(Control::parse).collect()
    }

    /// The `control` file of a `.deb`, read bounded.
    pub fn of_deb(path: &Path) -> Result<Control> {
        let file = fsx::open_untrusted(path)?;
        let mut archive = ar::Archive::new(file);
        while let Some(member) = archive.next_entry() {
            let member =
                member.with_context(|| format!("{}: not a Debian package (bad ar archive)", path.display()))?;
            let name = String::from_utf8_lossy(member.header().identifier()).into_owned();
            let Some(compression) = name.strip_prefix("control.tar") else { continue };
            let reader: Box<dyn Read + '_> = match compression {
                "" => Box::new(member),
                ".gz" => Box::new(flate2::read::MultiGzDecoder::new(member)),
                ".xz" => Box::new(xz2::read::XzDecoder::new_multi_decoder(member)),
                ".zst" => Box::new(zstd::stream::read::Decoder::new(member)?),
                other => bail!("{}: unsupported compression of the control member: control.tar{other}", path.display()),
            };
            let mut tar = tar::Archive::new(reader.take(64 << 20));
            for entry in tar.entries().with_context(|| format!("{}: reading {name}", path.display()))? {
                let entry = entry.with_context(|| format!("{}: reading {name}", path.display()))?;
                let entry_path = entry.path_bytes().into_owned();
                if entry_path != b"./control" && entry_path != b"control" {
                    continue;
                }
                let mut text = String::new();
                entry
                    .take(MAX_CONTROL_BYTES + 1)
                    .read_to_string(&mut text)
                    .with_context(|| format!("{}: the control file is not UTF-8 text", path.display()))?;
                ensure!(text.len() as u64 <= MAX_CONTROL_BYTES, "{}: the control file is over 1 MiB", path.display());
                return Control::parse(&text).with_context(|| format!("{}: its control file", path.display()));
            }
            bail!("{}: {name} has no `control` file", path.display());
        }
        bail!("{}: not a Debian package (no control member)", path.display())
    }
}

/// The `SHA256:` lines of a Release text: path → (sha256, size).
pub fn release_sums(release: &str) -> Result<BTreeMap<String, (String, u64)>> {
    let mut sums = BTreeMap::new();
    let mut inside = false;
    for line in release.lines() {
        if !line.starts_with(' ') {
            inside = line.trim_end() == "SHA256:";
            continue;
        }
        if !inside {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [sha256, size, path] = parts[..] else { bail!("{line:?} is not a `<sha256> <size> <path>` line") };
        let size = size.parse().with_context(|| format!("{line:?}: the size is not a number"))?;
        sums.insert(path.to_owned(), (sha256.to_owned(), size));
    }
    Ok(sums)
}

/// The differences between the repository in `channel_dir` and the one
/// `history` implies, checked with `key`: each named, not only the first.
/// Reads only the files it names, each bounded.
pub fn check(channel_dir: &Path, channel: &str, history: &[ChannelManifest], key: &OpenPgpPublicKey) -> Vec<String> {
    let mut problems = Vec::new();
    let apt = channel_dir.join(APT_DIR);
    let dists = apt.join("dists").join(channel);
    let read = |path: &Path, cap: u64| fsx::read_untrusted(path, cap);
    let shown = |path: &Path| path.strip_prefix(channel_dir).unwrap_or(path).display().to_string();

    // The signatures.
    let release = match read(&dists.join("Release"), MAX_INDEX_BYTES).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        Ok(Err(_)) => return vec![format!("{}: not text", shown(&dists.join("Release")))],
        Err(e) => return vec![format!("{e:#}")],
    };
    match read(&dists.join("Release.gpg"), crate::core::openpgp::MAX_SIGNATURE_BYTES) {
        Ok(signature) => {
            if let Err(e) = key.verify_detached(release.as_bytes(), &signature) {
                problems.push(format!("{}: {e:#}", shown(&dists.join("Release.gpg"))));
            }
        }
        Err(e) => problems.push(format!("{e:#}")),
    }
    match read(&dists.join("InRelease"), MAX_INDEX_BYTES).map(String::from_utf8) {
        Ok(Ok(text)) => match key.verify_clearsigned(&text) {
            Ok(signed) if signed.trim_end() == release.trim_end() => {}
            Ok(_) => problems.push(format!("{}: signs another text than Release", shown(&dists.join("InRelease")))),
            Err(e) => problems.push(format!("{}: {e:#}", shown(&dists.join("InRelease")))),
        },
        Ok(Err(_)) => problems.push(format!("{}: not text", shown(&dists.join("InRelease")))),
        Err(e) => problems.push(format!("{e:#}")),
    }
    if let Some(current) = history.last() {
        for (field, want) in [("Suite", channel.to_owned()), ("Valid-Until", rfc2822(current.expires_at))] {
            let found = release.lines().find_map(|l| l.strip_prefix(&format!("{field}: ")));
            if found != Some(want.as_str()) {
                problems.push(format!("Release says {field} {found:?}, the channel manifest implies {want:?}"));
            }
        }
    }

    // Every index the Release lists, with its sum.
    let sums = match release_sums(&release) {
        Ok(sums) => sums,
        Err(e) => {
            problems.push(format!("Release: {e:#}"));
            return problems;
        }
    };
    let mut plain: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (path, (sha256, size)) in &sums {
        if !signing::dist::is_contained_relative_path(path) {
            problems.push(format!("Release lists {path:?}, which leaves the repository"));
            continue;
        }
        let file = dists.join(path);
        match read(&file, MAX_INDEX_BYTES) {
            Ok(data) => {
                let found = hex::encode(Sha256::digest(&data));
                if found != *sha256 || data.len() as u64 != *size {
                    problems.push(format!(
                        "{}: {} bytes with SHA-256 {found}, but Release says {size} bytes with {sha256}",
                        shown(&file),
                        data.len()
                    ));
                } else if path.ends_with("/Packages") {
                    plain.insert(path.clone(), data);
                }
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }

    // What the Packages files offer: every package present with its size
    // and hash, and what the channel says.
    let offered = offered(history);
    for arch in &offered.architectures {
        let index = format!("{COMPONENT}/binary-{arch}/Packages");
        if !sums.contains_key(&index) {
            problems.push(format!("Release lists no {index}, but the channel has packages for {arch}"));
            continue;
        }
        let Some(data) = plain.get(&index) else { continue };
        let stanzas = match std::str::from_utf8(data).map_err(anyhow::Error::from).and_then(Control::parse_all) {
            Ok(stanzas) => stanzas,
            Err(e) => {
                problems.push(format!("{index}: {e:#}"));
                continue;
            }
        };
        let want = offered.release.and_then(|r| debs(r).get(arch).map(|(_, e)| (r, *e)));
        let signed_size = want.map(|(_, e)| (e.sha256.clone(), e.size));
        let found: Vec<(Option<&str>, Option<&str>)> =
            stanzas.iter().map(|s| (s.get("SHA256"), s.get("Version"))).collect();
        match want {
            None if !stanzas.is_empty() => problems.push(format!(
                "{index} offers {} package(s), but the channel offers apt nothing for {arch} ({})",
                stanzas.len(),
                why_nothing(history)
            )),
            Some((release, entry)) if found.len() != 1 || found[0].0 != Some(entry.sha256.as_str()) => {
                problems.push(format!(
                    "{index} offers {found:?} (SHA-256, version), but the channel offers {} {} with SHA-256 {}",
                    release.version, arch, entry.sha256
                ))
            }
            _ => {}
        }
        for stanza in &stanzas {
            let (Some(filename), Some(size), Some(sha256)) =
                (stanza.get("Filename"), stanza.get("Size"), stanza.get("SHA256"))
            else {
                problems.push(format!("{index}: a package without Filename, Size and SHA256"));
                continue;
            };
            if !signing::dist::is_contained_relative_path(filename) {
                problems.push(format!("{index}: Filename {filename:?} leaves the repository"));
                continue;
            }
            let path = apt.join(filename);
            // Read only a package the signed manifest names, up to its size
            // there (an index's own Size could ask for terabytes).
            match (size.parse::<u64>(), &signed_size) {
                (Ok(size), Some((signed, signed_bytes))) if sha256 == signed && size == *signed_bytes => {
                    if let Err(e) = check_package(&path, sha256, size) {
                        problems.push(format!("{index}: {e:#}"));
                    }
                }
                (Ok(_), _) => problems.push(format!("{index}: {filename} is not the package the channel signed")),
                (Err(_), _) => problems.push(format!("{index}: Size {size:?} is not a number")),
            }
        }
    }
    for path in sums.keys() {
        if let Some(arch) = path.strip_prefix(&format!("{COMPONENT}/binary-")).and_then(|p| p.split('/').next())
            && !offered.architectures.contains(arch)
        {
            problems.push(format!("Release lists {path}, but the channel never had a package for {arch}"));
        }
    }
    // The compressed indexes say what the plain ones say.
    for (path, data) in &plain {
        for (suffix, decoded) in [
            ("gz", decode(&dists.join(format!("{path}.gz")), |r| Box::new(flate2::read::MultiGzDecoder::new(r)))),
            ("xz", decode(&dists.join(format!("{path}.xz")), |r| Box::new(xz2::read::XzDecoder::new_multi_decoder(r)))),
        ] {
            match decoded {
                Ok(decoded) if decoded == *data => {}
                Ok(_) => problems.push(format!("{path}.{suffix} does not decompress to {path}")),
                Err(e) => problems.push(format!("{path}.{suffix}: {e:#}")),
            }
        }
    }
    problems
}

fn why_nothing(history: &[ChannelManifest]) -> &'static str {
    match history.last().map(|m| m.kind) {
        Some(signing::manifest::ManifestKind::Halt) => "the channel is halted",
        _ => "no release of it reached 100 % rollout",
    }
}

fn decode(path: &Path, decoder: impl FnOnce(std::fs::File) -> Box<dyn Read>) -> Result<Vec<u8>> {
    let file = fsx::open_untrusted(path)?;
    let mut data = Vec::new();
    decoder(file)
        .take(MAX_INDEX_BYTES + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("decompressing {}", path.display()))?;
    ensure!(data.len() as u64 <= MAX_INDEX_BYTES, "{} decompresses to over {MAX_INDEX_BYTES} bytes", path.display());
    Ok(data)
}
