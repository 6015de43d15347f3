//! `.rpm`: tauri-bundler builds it with the `rpm` crate without a source
//! date, so the header carries the build time (`BUILDTIME`) and every file's
//! time on disk (`FILEMTIMES`). The payload itself is already reproducible
//! (files in path order, cpio without times, gzip without a header time).
//!
//! [`normalize`] sets those times to the epoch in place — each is a 32-bit
//! integer, so no offset moves —, marks every file under `/etc`
//! `%config(noreplace)` in `FILEFLAGS` (also in place), and recomputes the one digest that covers
//! the header: the SHA-256 in the signature header. The `rpm` crate checks
//! the package before and after (it reads but cannot edit headers).
//!
//! With `signing.openpgp-public-key` configured, the package is then
//! signed with the repositories' OpenPGP key ([`sign_bytes`]), for dnf's
//! `gpgcheck=1`: a header-only signature, as `rpmsign` makes by default
//! since rpm 4.16 (the header holds the payload's SHA-256, so it covers the
//! files too), dated `SOURCE_DATE_EPOCH` (or the key's creation, if later)
//! — Ed25519 and RSA PKCS#1 signatures are deterministic, so the signed
//! package is reproducible as well.
//!
//! Layout (rpm's `lib/header.c`): a 96-byte lead; the signature header,
//! padded to 8 bytes; the main header; the payload. A header is the magic
//! `8e ad e8 01`, 4 reserved bytes, the entry count and the data size (both
//! big-endian `u32`), the index (16 bytes per entry: tag, type, offset,
//! count) and the data.

use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest as _, Sha256};

use crate::core::fsx;
use crate::core::openpgp::{OpenPgpKey, OpenPgpPublicKey};

const LEAD_BYTES: usize = 96;
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const RPMTAG_BUILDTIME: u32 = 1006;
const RPMTAG_FILEMTIMES: u32 = 1034;
const RPMTAG_FILEFLAGS: u32 = 1037;
/// `%config(noreplace)`: rpm keeps a user's edit of the file on upgrade.
const RPMFILE_CONFIG_NOREPLACE: u32 = (1 << 0) | (1 << 4);
/// Signature header tags a package without an OpenPGP signature has.
const RPMTAG_HEADERSIGNATURES: u32 = 62;
const RPMSIGTAG_SHA256: u32 = 273;

/// What [`normalize`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Normalized {
    Rewritten,
    /// Rewritten, then signed with the repository key.
    Signed,
    /// The package carries an OpenPGP signature (`TAURI_SIGNING_RPM_KEY`),
    /// which covers the header: it is copied unchanged, times included.
    KeptSigned,
}

/// Writes a reproducible copy of the package `input` to `output`, signed
/// with `key` when there is one (`signing.openpgp-public-key` is set).
pub fn normalize(input: &Path, output: &Path, epoch: u64, key: Option<&OpenPgpKey>) -> Result<Normalized> {
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let (mut normalized, mut outcome) =
        normalize_bytes(bytes, epoch).with_context(|| format!("normalising {}", input.display()))?;
    if let Some(key) = key {
        if outcome == Normalized::KeptSigned {
            bail!(
                "{} already carries an OpenPGP signature (TAURI_SIGNING_RPM_KEY is set?): with signing.openpgp-public-key configured, `dist` signs the rpm itself with the package repositories' key (HUDSON_OPENPGP_PRIVATE_KEY); unset TAURI_SIGNING_RPM_KEY",
                input.display()
            );
        }
        let at = u32::try_from(epoch).context("rpm stores times as 32-bit seconds: the epoch is after 2106")?;
        normalized = sign_bytes(&normalized, key, at)
            .with_context(|| format!("signing {} with the repository key", input.display()))?;
        outcome = Normalized::Signed;
    }
    fsx::write_atomic(output, &normalized)?;
    Ok(outcome)
}

/// `package` with a header-only OpenPGP signature by `key`, dated `at`
/// (moved up to the key's creation if earlier). Only the signature header
/// changes; the package is checked with the key's public part after.
pub fn sign_bytes(package: &[u8], key: &OpenPgpKey, at: u32) -> Result<Vec<u8>> {
    let mut parsed = rpm::Package::parse(&mut Cursor::new(package)).context("the package is not a valid rpm")?;
    parsed.sign_with_timestamp(Signer(key), at)?;
    let mut signed = Vec::with_capacity(package.len() + 1024);
    parsed.write(&mut signed)?;

    // The main header and the payload are the input's, byte for byte.
    let tail = |bytes: &[u8]| -> Result<usize> {
        let signature = Header::at(bytes, LEAD_BYTES)?;
        Ok(LEAD_BYTES + signature.len().next_multiple_of(8))
    };
    let (from, to) = (tail(package)?, tail(&signed)?);
    ensure!(
        package[from..] == signed[to..] && package[..LEAD_BYTES] == signed[..LEAD_BYTES],
        "signing changed more than the signature header (a bug)"
    );
    rpm::Package::parse(&mut Cursor::new(&signed))?
        .verify_signature(Verifier(&key.public()))
        .context("the signed package does not verify with the key's public part (a bug)")?;
    Ok(signed)
}

/// The repository key, as the `rpm` crate asks a signer to be.
#[derive(Debug)]
struct Signer<'a>(&'a OpenPgpKey);

impl rpm::signature::Signing for Signer<'_> {
    type Signature = Vec<u8>;

    fn sign(&self, mut data: impl std::io::Read, t: rpm::Timestamp) -> Result<Vec<u8>, rpm::Error> {
        let mut header = Vec::new();
        data.read_to_end(&mut header)?;
        let at = time::OffsetDateTime::from_unix_timestamp(i64::from(t.0)).map_err(std::io::Error::other)?;
        self.0.signature_packet(&header, at).map_err(|e| std::io::Error::other(format!("{e:#}")).into())
    }

    fn algorithm(&self) -> rpm::signature::AlgorithmType {
        if self.0.is_rsa() { rpm::signature::AlgorithmType::RSA } else { rpm::signature::AlgorithmType::EdDSA }
    }
}

/// Its public part, to check what was signed.
#[derive(Debug)]
struct Verifier<'a>(&'a OpenPgpPublicKey);

impl rpm::signature::Verifying for Verifier<'_> {
    type Signature = Vec<u8>;

    fn verify(&self, mut data: impl std::io::Read, signature: &[u8]) -> Result<(), rpm::Error> {
        let mut header = Vec::new();
        data.read_to_end(&mut header)?;
        self.0.verify_packet(&header, signature).map_err(|e| std::io::Error::other(format!("{e:#}")).into())
    }

    // The crate reads both header signature tags whatever this says.
    fn algorithm(&self) -> rpm::signature::AlgorithmType {
        rpm::signature::AlgorithmType::EdDSA
    }
}

/// The reproducible form of a package's bytes.
pub fn normalize_bytes(mut package: Vec<u8>, epoch: u64) -> Result<(Vec<u8>, Normalized)> {
    let time = u32::try_from(epoch).context("rpm stores times as 32-bit seconds: the epoch is after 2106")?;
    check(&package).context("the package is not a valid rpm")?;

    let signature = Header::at(&package, LEAD_BYTES).context("reading the signature header")?;
    if signature.entries(&package).any(|e| e.tag != RPMTAG_HEADERSIGNATURES && e.tag != RPMSIGTAG_SHA256) {
        return Ok((package, Normalized::KeptSigned));
    }
    let main =
        Header::at(&package, LEAD_BYTES + signature.len().next_multiple_of(8)).context("reading the main header")?;
    // Files under /etc are configuration: `%config(noreplace)`, which
    // tauri-bundler cannot say. The flags follow the file list's order.
    let paths = rpm::PackageMetadata::parse(&mut Cursor::new(&package))?.get_file_paths().unwrap_or_default();
    for entry in main.entries(&package).collect::<Vec<_>>() {
        if entry.tag == RPMTAG_FILEFLAGS {
            ensure!(entry.kind == TYPE_INT32, "tag {} is not an INT32 array", entry.tag);
            ensure!(entry.count as usize == paths.len(), "the file flags do not match the file list");
            let at = main.data_at(entry.offset, entry.count as usize * 4)?;
            for (slot, path) in package[at..at + entry.count as usize * 4].chunks_exact_mut(4).zip(&paths) {
                if path.starts_with("/etc/") {
                    let flags = u32::from_be_bytes(slot.try_into().expect("4 bytes")) | RPMFILE_CONFIG_NOREPLACE;
                    slot.copy_from_slice(&flags.to_be_bytes());
                }
            }
        }
        if entry.tag == RPMTAG_BUILDTIME || entry.tag == RPMTAG_FILEMTIMES {
            ensure!(entry.kind == TYPE_INT32, "tag {} is not an INT32 array", entry.tag);
            let at = main.data_at(entry.offset, entry.count as usize * 4)?;
            for slot in package[at..at + entry.count as usize * 4].chunks_exact_mut(4) {
                slot.copy_from_slice(&time.to_be_bytes());
            }
        }
    }

    let digest = hex::encode(Sha256::digest(&package[main.start..main.end()]));
    let entry = signature
        .entries(&package)
        .find(|e| e.tag == RPMSIGTAG_SHA256)
        .context("the signature header has no SHA-256 header digest")?;
    ensure!(entry.kind == TYPE_STRING, "the SHA-256 header digest is not a string");
    let at = signature.data_at(entry.offset, digest.len() + 1)?;
    ensure!(package[at + digest.len()] == 0, "the SHA-256 header digest is not 64 hex digits");
    package[at..at + digest.len()].copy_from_slice(digest.as_bytes());

    check(&package).context("the normalised package does not verify (a bug in the rewrite)")?;
    let read_back = rpm::PackageMetadata::parse(&mut Cursor::new(&package))?.get_build_time()?;
    ensure!(read_back == epoch, "the build time reads back as {read_back}, not {epoch}");
    Ok((package, Normalized::Rewritten))
}

/// Parses the package and checks its header and payload digests.
fn check(package: &[u8]) -> Result<()> {
    let parsed = rpm::Package::parse(&mut Cursor::new(package))?;
    parsed.verify_digests()?;
    Ok(())
}

/// Where one header sits in the file.
struct Header {
    start: usize,
    count: usize,
    data_len: usize,
}

struct IndexEntry {
    tag: u32,
    kind: u32,
    offset: usize,
    count: u32,
}

impl Header {
    fn at(package: &[u8], start: usize) -> Result<Header> {
        let head = package.get(start..start + 16).context("the file ends inside a header")?;
        if head[..4] != HEADER_MAGIC {
            bail!("no header magic at byte {start}");
        }
        let count = u32::from_be_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
        let data_len = u32::from_be_bytes(head[12..16].try_into().expect("4 bytes")) as usize;
        let header = Header { start, count, data_len };
        ensure!(header.end() <= package.len(), "the header at byte {start} runs past the end of the file");
        Ok(header)
    }

    fn data_start(&self) -> usize {
        self.start + 16 + 16 * self.count
    }

    fn end(&self) -> usize {
        self.data_start() + self.data_len
    }

    fn len(&self) -> usize {
        self.end() - self.start
    }

    fn entries<'a>(&self, package: &'a [u8]) -> impl Iterator<Item = IndexEntry> + 'a {
        let index = self.start + 16;
        (0..self.count).map(move |i| {
            let raw = &package[index + 16 * i..index + 16 * (i + 1)];
            let word = |at: usize| u32::from_be_bytes(raw[at..at + 4].try_into().expect("4 bytes"));
            IndexEntry { tag: word(0), kind: word(4), offset: word(8) as usize, count: word(12) }
        })
    }

    /// The absolute position of `len` bytes at `offset` in the data.
    fn data_at(&self, offset: usize, len: usize) -> Result<usize> {
        ensure!(offset + len <= self.data_len, "an entry's data runs past its header");
        Ok(self.data_start() + offset)
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// A package built like tauri-bundler builds one (`rpm` crate, gzip,
    /// no source date), from files with the given time.
    fn package(dir: &Path, file_time: std::time::SystemTime) -> Vec<u8> {
        let bin = dir.join("hudson");
        let repo = dir.join("hudson.repo");
        std::fs::write(&repo, b"[hudson]\n").unwrap();
        let doc = dir.join("README");
        std::fs::write(&bin, b"#!/bin/sh\necho hudson\n").unwrap();
        std::fs::write(&doc, b"Hudson\n").unwrap();
        for path in [&bin, &doc, &repo] {
            std::fs::File::options().write(true).open(path).unwrap().set_modified(file_time).unwrap();
        }
        let package = rpm::PackageBuilder::new("hudson", "0.1.0", "Apache-2.0", "x86_64", "Hudson")
            .release("1")
            .compression(rpm::CompressionWithLevel::Gzip(6))
            .with_file(&bin, rpm::FileOptions::new("/usr/bin/hudson").mode(rpm::FileMode::regular(0o755)))
            .unwrap()
            .with_file(&doc, rpm::FileOptions::new("/usr/share/doc/hudson/README"))
            .unwrap()
            .with_file(&repo, rpm::FileOptions::new("/etc/yum.repos.d/hudson.repo"))
            .unwrap()
            .build()
            .unwrap();
        let mut bytes = Vec::new();
        package.write(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn the_same_contents_give_the_same_package_and_rpm_accepts_it() {
        let dir = tempfile::tempdir().unwrap();
        let day = std::time::Duration::from_secs(86_400);
        let first = package(dir.path(), std::time::SystemTime::now() - day);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = package(dir.path(), std::time::SystemTime::now() - 2 * day);
        assert_ne!(first, second, "build and file times differ");

        let epoch = 1_750_000_000;
        let (a, outcome) = normalize_bytes(first, epoch).unwrap();
        assert_eq!(outcome, Normalized::Rewritten);
        let (b, _) = normalize_bytes(second, epoch).unwrap();
        assert_eq!(a, b, "normalised packages differ");
        assert_eq!(normalize_bytes(a.clone(), epoch).unwrap().0, a, "normalising twice changes nothing");

        let path = dir.path().join("hudson-0.1.0-1.x86_64.rpm");
        std::fs::write(&path, &a).unwrap();
        let rpm = |args: &[&str]| {
            let out = Command::new("rpm")
                .args(args)
                .arg(&path)
                .output()
                .expect("rpm runs (Debian package `rpm`: apt-get install rpm)");
            assert!(out.status.success(), "rpm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        // rpm recomputes the header and payload digests.
        let checked = rpm(&["--checksig", "--nosignature"]);
        assert!(checked.contains("digests OK"), "{checked}");
        assert_eq!(rpm(&["-qp", "--queryformat", "%{BUILDTIME}"]), "1750000000");
        let times = rpm(&["-qp", "--queryformat", "[%{FILEMTIMES}\\n]"]);
        assert_eq!(times, "1750000000\n1750000000\n1750000000\n");
        // The file under /etc is %config(noreplace) (`cn`), the others are not.
        let flags = rpm(&["-qp", "--queryformat", "[%{FILEFLAGS:fflags} %{FILENAMES}\\n]"]);
        assert!(flags.lines().any(|l| l == "cn /etc/yum.repos.d/hudson.repo"), "{flags}");
        assert_eq!(flags.lines().filter(|l| l.starts_with("cn ")).count(), 1, "{flags}");
        assert_eq!(rpm(&["-qcp"]), "/etc/yum.repos.d/hudson.repo\n");
    }

    /// `rpm -K` of `package` against a scratch rpm database holding
    /// `keys`: whether it accepts, and what it says.
    fn rpm_checksig(dir: &Path, package: &[u8], keys: &[&OpenPgpPublicKey]) -> (bool, String) {
        let db = tempfile::tempdir_in(dir).unwrap();
        for (i, key) in keys.iter().enumerate() {
            let file = db.path().join(format!("key-{i}.asc"));
            std::fs::write(&file, key.to_armored().unwrap()).unwrap();
            let out = Command::new("rpm").arg("--dbpath").arg(db.path()).arg("--import").arg(&file).output().unwrap();
            assert!(out.status.success(), "rpm --import: {}", String::from_utf8_lossy(&out.stderr));
        }
        let path = db.path().join("hudson.rpm");
        std::fs::write(&path, package).unwrap();
        let out = Command::new("rpm").arg("--dbpath").arg(db.path()).arg("-Kv").arg(&path).output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), said)
    }

    #[test]
    fn a_signed_package_passes_rpm_checksig_with_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = OpenPgpKey::generate("Hudson test <test@example.invalid>", None).unwrap();
        let other = OpenPgpKey::generate("Someone else <else@example.invalid>", None).unwrap();
        let (normalized, _) =
            normalize_bytes(package(dir.path(), std::time::SystemTime::now()), 1_750_000_000).unwrap();
        let signed = sign_bytes(&normalized, &key, 1_750_000_000).unwrap();
        // Reproducible: the same package and key give the same bytes.
        assert_eq!(sign_bytes(&normalized, &key, 1_750_000_000).unwrap(), signed);

        // rpm, the independent verifier: the header signature by our key
        // (an EdDSA one), the header and payload digests.
        let (ok, said) = rpm_checksig(dir.path(), &signed, &[&key.public()]);
        assert!(ok, "rpm -K: {said}");
        let id = &key.fingerprint()[32..].to_lowercase();
        assert!(said.contains("Header V4 EdDSA/SHA256 Signature, key ID") && said.contains(id), "{said}");
        assert!(said.contains("Payload SHA256 digest: OK"), "{said}");
        assert!(!said.contains("NOKEY") && !said.contains("BAD"), "{said}");

        // Without its key, with another key, unsigned, or with one byte of
        // the signature changed: refused.
        let (ok, said) = rpm_checksig(dir.path(), &signed, &[&other.public()]);
        assert!(!ok && said.contains("NOKEY"), "rpm -K with another key: {said}");
        let (_, said) = rpm_checksig(dir.path(), &normalized, &[&key.public()]);
        assert!(!said.contains("Signature, key ID"), "rpm -K of the unsigned package: {said}");
        let by_other = sign_bytes(&normalized, &other, 1_750_000_000).unwrap();
        let (ok, said) = rpm_checksig(dir.path(), &by_other, &[&key.public()]);
        assert!(!ok && said.contains("NOKEY"), "rpm -K of a package signed by another key: {said}");
        // The last byte of the signature packet (RPMSIGTAG_DSA, 267): inside
        // the signature's value.
        let mut forged = signed.clone();
        let header = Header::at(&forged, LEAD_BYTES).unwrap();
        let entry = header.entries(&forged).find(|e| e.tag == 267).expect("an EdDSA header signature");
        let end = header.data_at(entry.offset, entry.count as usize).unwrap() + entry.count as usize;
        forged[end - 1] ^= 1;
        let (ok, said) = rpm_checksig(dir.path(), &forged, &[&key.public()]);
        assert!(!ok && said.contains("BAD"), "rpm -K of a changed signature: {said}");
        let mut changed = normalized.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert!(sign_bytes(&changed, &key, 1).is_err(), "a damaged package is not signed");
    }

    #[test]
    fn an_rsa_key_signs_under_rpms_rsa_tag_and_rpm_accepts_it() {
        let dir = tempfile::tempdir().unwrap();
        let key = OpenPgpKey::generate_rsa("Hudson RSA test <rsa@example.invalid>", 2048).unwrap();
        let (normalized, _) =
            normalize_bytes(package(dir.path(), std::time::SystemTime::now()), 1_750_000_000).unwrap();
        let signed = sign_bytes(&normalized, &key, 1_750_000_000).unwrap();
        let header = Header::at(&signed, LEAD_BYTES).unwrap();
        assert!(header.entries(&signed).any(|e| e.tag == 268), "no RPMSIGTAG_RSA");
        let (ok, said) = rpm_checksig(dir.path(), &signed, &[&key.public()]);
        assert!(ok && said.contains("Header V4 RSA/SHA256 Signature"), "rpm -K: {said}");
    }

    #[test]
    fn a_damaged_package_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = package(dir.path(), std::time::SystemTime::now());
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let error = format!("{:#}", normalize_bytes(bytes, 1).unwrap_err());
        assert!(error.contains("not a valid rpm"), "{error}");
    }
}
