//! Code signatures with `apple-codesign`, on any host.
//!
//! A `.app` is signed inside out: every nested Mach-O first, deepest path
//! first (the sidecar, the ERTS executables of a release directory, NIF
//! libraries), each with the hardened runtime and the entitlements; then the
//! bundle itself — its main executable and `_CodeSignature/CodeResources`,
//! which seals every other file. The work happens on a copy beside the
//! output, which is renamed into place only when everything is signed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use apple_codesign::{CodeSignatureFlags, SettingsScope, SigningSettings, UnifiedSigner};

use super::identity::Identity;
use crate::core::fsx;

/// Apple's time-stamp server, used by default with a certificate (notarization
/// requires a secure timestamp).
pub const APPLE_TIMESTAMP_URL: &str = "http://timestamp.apple.com/ts01";

/// `--timestamp-url <url|none>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timestamp {
    /// Apple's server with a certificate; nothing for ad-hoc signatures.
    Default,
    None,
    Url(String),
}

impl Timestamp {
    pub fn parse(value: Option<&str>) -> Result<Timestamp> {
        match value {
            None => Ok(Timestamp::Default),
            Some("none") => Ok(Timestamp::None),
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => Ok(Timestamp::Url(url.into())),
            Some(other) => bail!("--timestamp-url `{other}`: expected an http(s) URL or `none`"),
        }
    }

    fn url(&self, identity: &Identity) -> Option<&str> {
        match (self, identity) {
            (_, Identity::AdHoc) | (Timestamp::None, _) => None,
            (Timestamp::Default, _) => Some(APPLE_TIMESTAMP_URL),
            (Timestamp::Url(url), _) => Some(url),
        }
    }
}

pub struct Options<'a> {
    pub identity: &'a Identity,
    /// The entitlements plist (XML), given to every Mach-O.
    pub entitlements: String,
    pub timestamp: Timestamp,
}

/// What a path is, as far as signing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    App,
    Dmg,
    MachO,
}

pub fn kind(path: &Path) -> Result<Kind> {
    if path.is_dir() {
        if path.extension().is_some_and(|e| e == "app") && path.join("Contents/Info.plist").is_file() {
            return Ok(Kind::App);
        }
        bail!("{} is a folder but not an app bundle (no Contents/Info.plist)", path.display());
    }
    if !path.is_file() {
        bail!("{} does not exist", path.display());
    }
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("dmg")) {
        return Ok(Kind::Dmg);
    }
    if apple_codesign::path_is_macho(path).with_context(|| format!("reading {}", path.display()))? {
        return Ok(Kind::MachO);
    }
    bail!("{} is not an app bundle, a disk image or a Mach-O file", path.display())
}

/// What signing a path involves, found once: its kind and, for an app
/// bundle, its nested Mach-O files (relative, deepest first) and its main
/// executable.
struct Plan {
    kind: Kind,
    name: String,
    nested: Vec<PathBuf>,
    main: PathBuf,
}

impl Plan {
    fn of(path: &Path) -> Result<Plan> {
        let kind = kind(path)?;
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let (nested, main) = match kind {
            Kind::App => (nested_code(path)?, main_executable(path)?),
            Kind::Dmg | Kind::MachO => (Vec::new(), PathBuf::new()),
        };
        Ok(Plan { kind, name, nested, main })
    }

    fn order(&self) -> Vec<String> {
        match self.kind {
            Kind::App => {
                let mut files: Vec<String> = self.nested.iter().map(|p| slash(p)).collect();
                files.push(format!("{} (bundle: {}, then _CodeSignature/CodeResources)", self.name, slash(&self.main)));
                files
            }
            Kind::Dmg | Kind::MachO => vec![self.name.clone()],
        }
    }
}

/// Everything signing `path` signs, in order: for an app bundle, its nested
/// Mach-O files (relative to the bundle, deepest first), then the bundle.
pub fn order(path: &Path) -> Result<Vec<String>> {
    Ok(Plan::of(path)?.order())
}

/// Signs `input` into `output` (which may be the same path). Returns what
/// was signed, in order (as [`order`]).
pub fn sign(input: &Path, output: &Path, options: &Options) -> Result<Vec<String>> {
    let plan = Plan::of(input)?;
    // Checked here so a bad plist fails before any file is written.
    plist::Value::from_reader_xml(options.entitlements.as_bytes()).context("the entitlements are not an XML plist")?;
    let parent = output.parent().with_context(|| format!("{} has no parent folder", output.display()))?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile::Builder::new().prefix(".tmp-sign-").tempdir_in(parent)?;
    let staged = staging.path().join(output.file_name().context("output has no file name")?);

    match plan.kind {
        Kind::App => {
            // The copy keeps every path (and symbolic links as links), so the
            // plan's relative paths name the staged files.
            fsx::copy_tree(input, &staged)?;
            let nested = &plan.nested;
            for rel in nested {
                let file = staged.join(rel);
                let settings = settings(options, None)?;
                UnifiedSigner::new(settings)
                    .sign_path_in_place(&file)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .with_context(|| format!("signing {}", slash(rel)))?;
            }
            // Each nested file now carries its own signature: the bundle pass
            // seals it as it is instead of signing it again without the
            // runtime flag and entitlements.
            let settings = settings(options, Some(nested))?;
            UnifiedSigner::new(settings)
                .sign_path_in_place(&staged)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("signing the bundle {}", input.display()))?;
        }
        Kind::Dmg | Kind::MachO => {
            let settings = settings(options, None)?;
            UnifiedSigner::new(settings)
                .sign_path(input, &staged)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("signing {}", input.display()))?;
            copy_mode(input, &staged)?;
        }
    }

    let aside = staging.path().join("previous");
    if output.exists() {
        std::fs::rename(output, &aside).with_context(|| format!("moving the old {} aside", output.display()))?;
    }
    std::fs::rename(&staged, output).with_context(|| format!("moving the signed copy to {}", output.display()))?;
    fsx::sync_dir(parent)?;
    Ok(plan.order())
}

fn settings<'a>(options: &'a Options, sealed_as_is: Option<&[PathBuf]>) -> Result<SigningSettings<'a>> {
    let mut settings = SigningSettings::default();
    if let Identity::Certificate(cert) = options.identity {
        settings.set_signing_key(&cert.key, cert.cert.clone());
        settings.chain_apple_certificates();
        settings.set_team_id_from_signing_certificate();
    }
    if let Some(url) = options.timestamp.url(options.identity) {
        settings.set_time_stamp_url(url).map_err(|e| anyhow::anyhow!("time-stamp URL {url}: {e}"))?;
    }
    settings
        .set_entitlements_xml(SettingsScope::Main, &options.entitlements)
        .map_err(|e| anyhow::anyhow!("the entitlements are not a valid plist: {e}"))?;
    settings.add_code_signature_flags(SettingsScope::Main, CodeSignatureFlags::RUNTIME);
    for rel in sealed_as_is.unwrap_or_default() {
        settings.add_path_exclusion(&glob_literal(&slash(rel))).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(settings)
}

/// Every Mach-O file inside the bundle except its main executable, relative
/// to the bundle, deepest first (then by path, for a stable order).
pub fn nested_code(app: &Path) -> Result<Vec<PathBuf>> {
    let main = main_executable(app)?;
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(app).sort_by_file_name() {
        let entry = entry.with_context(|| format!("reading {}", app.display()))?;
        let rel = entry.path().strip_prefix(app).expect("walkdir stays under its root").to_path_buf();
        if entry.file_type().is_dir() && rel.components().count() > 1 && is_bundle_dir(&rel) {
            bail!(
                "{} contains the nested bundle {}: nested bundles are not supported by this signer; ship the code as plain files",
                app.display(),
                slash(&rel)
            );
        }
        if !entry.file_type().is_file() || rel == main || rel.starts_with("Contents/_CodeSignature") {
            continue;
        }
        if apple_codesign::path_is_macho(entry.path()).with_context(|| format!("reading {}", entry.path().display()))? {
            found.push(rel);
        }
    }
    found.sort_by(|a, b| b.components().count().cmp(&a.components().count()).then_with(|| a.cmp(b)));
    Ok(found)
}

fn is_bundle_dir(rel: &Path) -> bool {
    rel.extension().is_some_and(|e| matches!(e.to_str(), Some("app" | "framework" | "bundle" | "appex" | "xpc")))
}

/// `Contents/MacOS/<CFBundleExecutable>`.
pub fn main_executable(app: &Path) -> Result<PathBuf> {
    let info = app.join("Contents/Info.plist");
    let plist = plist::Value::from_file(&info).with_context(|| format!("reading {}", info.display()))?;
    let name = plist
        .as_dictionary()
        .and_then(|d| d.get("CFBundleExecutable"))
        .and_then(|v| v.as_string())
        .with_context(|| format!("{} has no CFBundleExecutable", info.display()))?;
    Ok(PathBuf::from("Contents/MacOS").join(name))
}

fn slash(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// A glob pattern matching exactly `path`.
fn glob_literal(path: &str) -> String {
    path.chars()
        .map(|c| match c {
            '*' | '?' | '[' | ']' => format!("[{c}]"),
            c => c.to_string(),
        })
        .collect()
}

fn copy_mode(from: &Path, to: &Path) -> Result<()> {
    let permissions = std::fs::metadata(from)?.permissions();
    std::fs::set_permissions(to, permissions).with_context(|| format!("setting the mode of {}", to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_option() {
        assert_eq!(Timestamp::parse(None).unwrap(), Timestamp::Default);
        assert_eq!(Timestamp::parse(Some("none")).unwrap(), Timestamp::None);
        assert!(Timestamp::parse(Some("ftp://x")).is_err());
        assert_eq!(Timestamp::Default.url(&Identity::AdHoc), None);
    }

    #[test]
    fn glob_literals_match_only_themselves() {
        assert_eq!(glob_literal("a/b[1]*.so"), "a/b[[]1[]][*].so");
    }
}
