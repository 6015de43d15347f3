//! `cargo xtask sign --target <triple> <path>…`: embedded code signatures
//! for one target's files, from any host.
//!
//! - Apple triples: an `.app` (every nested Mach-O deepest first, then the
//!   bundle), a `.dmg` or a Mach-O file, with `apple-codesign` (hardened
//!   runtime, `signing/entitlements.plist`); identity from `APPLE_CERTIFICATE`
//!   + `APPLE_CERTIFICATE_PASSWORD`, or `--ad-hoc`.
//! - Windows: `.exe`, `.dll`, `.msi` with Authenticode from
//!   `WINDOWS_CERTIFICATE` + `WINDOWS_CERTIFICATE_PASSWORD`.
//!
//! Credentials are read and checked before any file is touched.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::core::config::Config;
use crate::core::credentials::ProcessEnv;
use crate::core::target::{Os, Target};
use crate::core::ui::Ui;
use crate::platform::macos::codesign::{self, Timestamp};
use crate::platform::macos::identity::Identity;
use crate::platform::windows::authenticode::{self, Pfx};

pub struct Args<'a> {
    pub target: &'a str,
    pub paths: &'a [PathBuf],
    pub dry_run: bool,
    pub ad_hoc: bool,
    pub timestamp_url: Option<&'a str>,
    pub entitlements: Option<&'a Path>,
}

#[derive(Debug, Serialize)]
struct Report {
    target: &'static str,
    identity: String,
    dry_run: bool,
    /// Per input path, what was (or would be) signed, in order.
    signed: Vec<Signed>,
}

#[derive(Debug, Serialize)]
struct Signed {
    path: String,
    order: Vec<String>,
}

pub fn run(ui: &Ui, args: Args) -> Result<()> {
    let target = Target::parse(args.target)?;
    if args.paths.is_empty() {
        bail!("nothing to sign: give the .app, .dmg, .exe or .msi paths");
    }
    let report = match target.os() {
        Os::Darwin => sign_apple(ui, target, &args)?,
        Os::Windows => sign_windows(ui, target, &args)?,
        Os::Linux => bail!(
            "{} packages carry no embedded code signature; their integrity comes from the updater signatures (`cargo xtask dist`)",
            target.triple
        ),
    };
    ui.emit(&report);
    Ok(())
}

fn sign_apple(ui: &Ui, target: &'static Target, args: &Args) -> Result<Report> {
    let timestamp = Timestamp::parse(args.timestamp_url)?;
    let mut signed = Vec::new();
    if args.dry_run {
        for path in args.paths {
            let order = codesign::order(path)?;
            print_order(ui, path, &order, true);
            signed.push(Signed { path: path.display().to_string(), order });
        }
        let identity = if args.ad_hoc { "ad-hoc" } else { "certificate from APPLE_CERTIFICATE" };
        return Ok(Report { target: target.triple, identity: identity.into(), dry_run: true, signed });
    }
    // Everything that can fail on input is checked before the first file
    // is written: credentials, entitlements, every path's kind.
    let identity = if args.ad_hoc { Identity::AdHoc } else { Identity::certificate_from_env(&ProcessEnv)? };
    let entitlements = entitlements_for(&identity, &entitlements_path(args.entitlements)?)?;
    for path in args.paths {
        codesign::kind(path)?;
    }
    ui.info(format!("signing for {} with {}", target.triple, identity.describe()));
    let options = codesign::Options { identity: &identity, entitlements, timestamp };
    for path in args.paths {
        let order = codesign::sign(path, path, &options)?;
        print_order(ui, path, &order, false);
        signed.push(Signed { path: path.display().to_string(), order });
    }
    Ok(Report { target: target.triple, identity: identity.describe(), dry_run: false, signed })
}

fn sign_windows(ui: &Ui, target: &'static Target, args: &Args) -> Result<Report> {
    for path in args.paths {
        let ok = path.is_file()
            && path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["exe", "dll", "msi"].contains(&e.to_ascii_lowercase().as_str()));
        if !ok {
            bail!("{}: Authenticode signs existing .exe, .dll and .msi files", path.display());
        }
    }
    let order = |p: &PathBuf| vec![p.file_name().unwrap_or_default().to_string_lossy().into_owned()];
    // A dry run needs no certificate.
    let pfx = if args.dry_run { None } else { Some(Pfx::required(&ProcessEnv)?) };
    let options = match &pfx {
        Some(pfx) => Some(authenticode::Options {
            pfx,
            timestamp_url: windows_timestamp(args.timestamp_url)?,
            description: Config::load().map(|c| c.product_name).unwrap_or_else(|_| "Hudson".into()),
        }),
        None => None,
    };
    let mut signed = Vec::new();
    for path in args.paths {
        if let Some(options) = &options {
            authenticode::sign(path, options)?;
        }
        let order = order(path);
        print_order(ui, path, &order, args.dry_run);
        signed.push(Signed { path: path.display().to_string(), order });
    }
    Ok(Report {
        target: target.triple,
        identity: "certificate from WINDOWS_CERTIFICATE".into(),
        dry_run: args.dry_run,
        signed,
    })
}

/// `--timestamp-url` for Authenticode: the same rules as for Apple, with
/// DigiCert's server by default.
pub fn windows_timestamp(value: Option<&str>) -> Result<Option<String>> {
    Ok(match Timestamp::parse(value)? {
        Timestamp::Default => Some(authenticode::DEFAULT_TIMESTAMP_URL.into()),
        Timestamp::None => None,
        Timestamp::Url(url) => Some(url),
    })
}

fn print_order(ui: &Ui, path: &Path, order: &[String], dry_run: bool) {
    let verb = if dry_run { "would sign" } else { "signed" };
    ui.info(format!("{} ({verb}, in order):", path.display()));
    for (i, item) in order.iter().enumerate() {
        ui.info(format!("  {:>3}. {item}", i + 1));
    }
}

/// `signing/entitlements.plist` of the workspace unless given.
pub fn entitlements_path(given: Option<&Path>) -> Result<PathBuf> {
    match given {
        Some(path) => Ok(path.to_path_buf()),
        None => Ok(Config::load()?.entitlements_plist()),
    }
}

/// The entitlements plist to sign with. An ad-hoc signature has no team id,
/// so the hardened runtime's library validation would refuse the bundle's
/// own NIF libraries: development signatures turn it off.
pub fn entitlements_for(identity: &Identity, path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the entitlements {}", path.display()))?;
    let mut value = plist::Value::from_reader_xml(text.as_bytes())
        .with_context(|| format!("{} is not an XML plist", path.display()))?;
    if matches!(identity, Identity::AdHoc) {
        let dict =
            value.as_dictionary_mut().with_context(|| format!("{} is not a plist dictionary", path.display()))?;
        dict.insert("com.apple.security.cs.disable-library-validation".into(), plist::Value::Boolean(true));
    }
    let mut xml = Vec::new();
    value.to_writer_xml(&mut xml)?;
    Ok(String::from_utf8(xml)?)
}
