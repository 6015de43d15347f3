//! Step 6, updater: the artifacts Tauri's updater installs, each
//! reproducible and signed.
//!
//! - Linux: the deb and the rpm themselves, rewritten so the same contents
//!   give the same bytes ([`crate::platform::archive`]); they are also the
//!   installers `record` ships.
//! - Linux, too: `<Product>-<version>-<triple>.tar.gz`, the portable tree
//!   ([`stage_portable`]): the installed tree under one top-level folder,
//!   which the updater swaps as a whole.
//! - macOS: `<Product>.app.tar.gz`, a reproducible archive of the `.app`.
//! - Windows: the nsis `-setup.exe` and the `.msi` as built.
//!
//! Each gets `<file>.sig`: the Tauri signature (base64 of the minisign
//! signature text, as tauri-cli writes it), whose trusted comment carries
//! `SOURCE_DATE_EPOCH` as its timestamp, so re-signing the same bytes gives
//! the same `.sig`. The key is `TAURI_SIGNING_PRIVATE_KEY`, or the
//! development key ([`crate::core::keys`]).

use std::path::{Path, PathBuf};

use crate::core::target::Target;
use anyhow::{Context, Result, bail};
use hudson_lifecycle::contract::{InstallKind, SHELL_CONFIG_FILE, ShellConfig};
use signing::dist::{ArtifactKind, SigningKeyInfo};

use super::Step;
use super::step4_bundle::Bundles;
use super::{Ctx, Outcome};
use crate::core::config::{Config, Packaging};
use crate::core::fsx;
use crate::core::openpgp::OpenPgpKey;
use crate::core::ui::Ui;
use crate::platform::linux::rpm::Normalized;
use crate::platform::{archive, linux};
use crate::release::plan::{StepName, StepPlan, rel};

pub const STEP: Step = Step {
    name: StepName::Updater,
    applies: super::every_target,
    plan,
    run: |ctx, built| {
        let (outcome, updater) = run(ctx, &built.bundles)?;
        built.updater = updater;
        Ok(outcome)
    },
};

fn plan(config: &Config, target: &'static Target) -> StepPlan {
    let keys: Vec<String> = target.updater_keys().into_iter().map(|(_, key)| key).collect();
    let mut commands = Vec::new();
    let mut inputs = vec!["the bundles".to_owned()];
    if has_portable(target) {
        let tree = rel(config, &portable_tree(config, target));
        commands.push(format!(
            "stage {tree}/: bin/{}, lib/{}/ (the bundle resources, install-kind portable), icons/",
            shell_file_name(config, target),
            config.product_name
        ));
        inputs.extend([
            rel(config, &config.shell_binary_path(target)),
            format!("{}/", rel(config, &config.resources_dir(target))),
            format!("{}/icons/", rel(config, &config.shell_dir)),
        ]);
    }
    if super::signs_rpm(config, target) {
        commands
            .push("sign the rpm with the package repositories' OpenPGP key (header signature, for gpgcheck=1)".into());
        inputs.push("HUDSON_OPENPGP_PRIVATE_KEY (the key of signing.openpgp-public-key)".into());
    }
    commands.push("signing::artifact::sign (minisign, prehashed, version in the trusted comment)".into());
    inputs.push("TAURI_SIGNING_PRIVATE_KEY (or the development key under target/)".into());
    StepPlan {
        name: StepName::Updater,
        summary: format!("updater artifacts and Tauri signatures for {}", keys.join(", ")),
        commands,
        inputs,
        outputs: planned_outputs(config, target, &rel(config, &config.updater_dir(target))),
    }
}

/// The updater artifacts of `target` in `dir`, each with its `.sig`, as a
/// plan shows them (`*` for a name the bundler picks).
pub fn planned_outputs(config: &Config, target: &Target, dir: &str) -> Vec<String> {
    target
        .artifact_kinds()
        .filter(|kind| Target::is_updatable(*kind))
        .flat_map(|kind| {
            let file = match kind {
                ArtifactKind::App => format!("{dir}/{}.app.tar.gz", config.product_name),
                ArtifactKind::Portable => format!("{dir}/{}", portable_file_name(config, target)),
                kind => format!("{dir}/*.{}", extension(kind)),
            };
            [file.clone(), format!("{file}.sig")]
        })
        .collect()
}

/// True when `dist` makes the Linux portable tree for `target`.
fn has_portable(target: &Target) -> bool {
    target.archives.contains(&ArtifactKind::Portable)
}

/// `<Product>-<version>-<triple>.tar.gz`.
pub fn portable_file_name(config: &Config, target: &Target) -> String {
    format!("{}-{}-{}.tar.gz", config.product_name, config.version, target.triple)
}

/// Where the portable tree is staged before it is archived: its folder
/// name is the archive's top-level folder, `<Product>`.
fn portable_tree(config: &Config, target: &Target) -> PathBuf {
    config.work_dir(target).join("portable").join(&config.product_name)
}

/// The shell executable's name, as tauri-bundler installs it.
fn shell_file_name(config: &Config, target: &Target) -> String {
    format!("{}{}", config.shell_binary, target.exe_suffix())
}

/// The file name's end of an updater artifact that is an installer.
fn extension(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::Nsis => "exe",
        kind => kind.as_str(),
    }
}

/// An updater artifact ready to ship.
#[derive(Debug, Clone)]
pub struct UpdaterArtifact {
    pub kind: ArtifactKind,
    pub path: PathBuf,
    /// `<path>.sig`.
    pub signature_path: PathBuf,
    /// What it is made from: its bundle, or the folder the portable tree
    /// is staged in.
    pub source: PathBuf,
    /// True when it ships in place of its bundle (the deb and rpm are
    /// installer and update at once); false for the macOS archive, which
    /// ships beside the `.app`, and the portable tree, which has no bundle.
    pub replaces_bundle: bool,
}

/// What the step produced.
#[derive(Debug, Clone, Default)]
pub struct Updater {
    pub artifacts: Vec<UpdaterArtifact>,
    /// The key that signed them.
    pub signing_key: Option<SigningKeyInfo>,
}

pub fn run(ctx: &Ctx, bundles: &Bundles) -> Result<(Outcome, Updater)> {
    let (config, target) = (ctx.config, ctx.target);
    let dir = config.updater_dir(target);
    let mut planned = artifacts(&dir, bundles)?;
    if has_portable(target) {
        let file_name = portable_file_name(config, target);
        planned.push(UpdaterArtifact {
            kind: ArtifactKind::Portable,
            path: dir.join(&file_name),
            signature_path: dir.join(format!("{file_name}.sig")),
            source: portable_tree(config, target),
            replaces_bundle: false,
        });
    }
    if planned.is_empty() {
        ctx.ui.info("- updater: no bundle the updater installs");
        return Ok((Outcome::NothingToDo, Updater::default()));
    }
    let key = ctx.signing_key()?;
    let rpm_key = ctx.rpm_signing_key()?;
    let epoch = archive::source_date_epoch(&config.workspace_root)?;
    let version: semver::Version = config.version.parse().context("the app version is not semver")?;

    let mut fp = ctx.fingerprint(StepName::Updater);
    fp.add_value("source-date-epoch", &epoch.to_string());
    fp.add_value("key", &serde_json::to_string(&key.info())?);
    if let Some(rpm_key) = rpm_key {
        fp.add_value("rpm-key", &rpm_key.fingerprint());
    }
    for artifact in &planned {
        fp.add_value("kind", artifact.kind.as_str());
        if artifact.kind == ArtifactKind::Portable {
            // The staged tree is rebuilt from these on every run.
            fp.add_value("layout", PORTABLE_LAYOUT);
            for input in portable_inputs(config, target) {
                fp.add_path(&input, &|_| false)?;
            }
        } else {
            fp.add_path(&artifact.source, &|_| false)?;
        }
    }
    let outputs: Vec<PathBuf> = planned.iter().flat_map(|a| [a.path.clone(), a.signature_path.clone()]).collect();

    let outcome =
        ctx.cached(StepName::Updater, "reproducible update artifacts and signatures", &fp, &outputs, |step| {
            let dir = ctx.config.updater_dir(ctx.target);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
            }
            for artifact in &planned {
                let name = artifact.path.file_name().expect("an artifact has a file name").to_string_lossy();
                if artifact.kind == ArtifactKind::Portable {
                    step.progress(&format!("{name}: staging the tree"));
                    stage_portable(config, target, &artifact.source)?;
                }
                step.progress(&format!("{name}: reproducible copy"));
                build(ctx.ui, artifact, epoch, rpm_key)?;
                step.progress(&format!("{name}: signing"));
                let signed = signing::artifact::sign_artifact_file(&artifact.path, &version, epoch, &key.key)
                    .with_context(|| format!("signing {}", artifact.path.display()))?;
                fsx::write_atomic(&artifact.signature_path, signed.tauri_signature().as_bytes())?;
            }
            Ok(())
        })?;
    Ok((outcome, Updater { artifacts: planned, signing_key: Some(key.info()) }))
}

/// The updater artifacts this run's bundles give, in `dir`.
fn artifacts(dir: &Path, bundles: &Bundles) -> Result<Vec<UpdaterArtifact>> {
    let mut planned = Vec::new();
    for (kind, bundle) in &bundles.items {
        if !Target::is_updatable(*kind) {
            continue;
        }
        let name = bundle.file_name().with_context(|| format!("{} has no file name", bundle.display()))?;
        let name = name.to_string_lossy();
        let file_name = match kind {
            ArtifactKind::App => format!("{name}.tar.gz"),
            _ => name.into_owned(),
        };
        planned.push(UpdaterArtifact {
            kind: *kind,
            path: dir.join(&file_name),
            signature_path: dir.join(format!("{file_name}.sig")),
            source: bundle.clone(),
            replaces_bundle: *kind != ArtifactKind::App,
        });
    }
    Ok(planned)
}

/// Writes the artifact from its bundle (an rpm signed with `rpm_key` when
/// there is one).
fn build(ui: &Ui, artifact: &UpdaterArtifact, epoch: u64, rpm_key: Option<&OpenPgpKey>) -> Result<()> {
    let (from, to) = (&artifact.source, &artifact.path);
    match artifact.kind {
        ArtifactKind::Deb => linux::deb::normalize(from, to, epoch),
        ArtifactKind::Rpm => {
            if linux::rpm::normalize(from, to, epoch, rpm_key)? == Normalized::KeptSigned {
                ui.info(format!(
                    "- updater: {} carries an OpenPGP signature (TAURI_SIGNING_RPM_KEY), which covers its times: kept as built, so it is not reproducible",
                    from.display()
                ));
            }
            Ok(())
        }
        ArtifactKind::App | ArtifactKind::Portable => archive::archive_dir(from, to, epoch),
        // Authenticode signatures and installers carry their own times.
        _ => fsx::copy_atomic(from, to),
    }
}

/// The portable tree's layout, in the fingerprint: a change of it rebuilds.
const PORTABLE_LAYOUT: &str = "portable/1: bin/<shell> [bin/<sidecar>], lib/<Product>/, icons/*.png";

/// The PNG icons the portable tree carries (`icons/`): tauri-bundler's
/// Linux icons, the 128x128 among them.
const PORTABLE_ICONS: &[&str] = &["32x32.png", "128x128.png", "128x128@2x.png"];

/// What the portable tree is made of.
fn portable_inputs(config: &Config, target: &Target) -> Vec<PathBuf> {
    let mut inputs = vec![config.shell_binary_path(target), config.resources_dir(target)];
    inputs.extend(PORTABLE_ICONS.iter().map(|name| config.shell_dir.join("icons").join(name)));
    if config.packaging == Packaging::Burrito {
        // The link the sidecar step made, and what it points at.
        inputs.push(config.sidecar_path(target));
        inputs.push(crate::platform::burrito::output(config, target));
    }
    inputs
}

/// Stages the Linux portable tree at `tree` (replacing what was there):
///
/// ```text
/// <Product>/
///   bin/<shell>       a fresh copy of the release binary, mode 0755
///   bin/<sidecar>     the Burrito sidecar (burrito packaging only)
///   lib/<Product>/    the bundle resources: backend/, hudson-shell.json
///   icons/            32x32.png, 128x128.png, 128x128@2x.png
/// ```
///
/// Why `bin/` and `lib/<Product>/`: Tauri (tauri-utils 2.10.2,
/// `platform::resource_dir`) takes the executable's own folder as the
/// resource folder only on Windows or inside a Cargo `target/` folder. On
/// Linux it tries `<exe dir>/../lib/<productName>` (canonicalized, so only
/// if it exists), then `$APPDIR/usr/lib/<productName>` (AppImage), and
/// otherwise `/usr/lib/<productName>` — never the executable's folder. With
/// the executable in `bin/` the first rule finds `lib/<Product>/` inside
/// the tree wherever it is unpacked, with no environment variable: the
/// tree is laid out like the deb's `/usr`. The install the updater swaps is
/// the top-level folder, the executable's grandparent.
///
/// The shell binary is not the one tauri-bundler patched for the deb or
/// rpm (`bundle_type()` is `None` in it), and its `hudson-shell.json` says
/// `install-kind: "portable"`: the only differences from the packages.
pub fn stage_portable(config: &Config, target: &Target, tree: &Path) -> Result<()> {
    if tree.exists() {
        std::fs::remove_dir_all(tree).with_context(|| format!("clearing {}", tree.display()))?;
    }
    let bin = tree.join("bin");
    std::fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    let shell = bin.join(shell_file_name(config, target));
    fsx::copy_atomic(&config.shell_binary_path(target), &shell).context("copying the shell binary")?;
    set_executable(&shell)?;
    if config.packaging == Packaging::Burrito {
        // tauri-bundler installs an externalBin next to the shell, without
        // its `-<triple>` suffix; the copy follows the sidecar step's link.
        let sidecar = bin.join(format!("{}{}", config.sidecar, target.exe_suffix()));
        fsx::copy_atomic(&config.sidecar_path(target), &sidecar).context("copying the Burrito sidecar")?;
        set_executable(&sidecar)?;
    }

    let resources = tree.join("lib").join(&config.product_name);
    fsx::copy_tree(&config.resources_dir(target), &resources)
        .with_context(|| format!("copying the bundle resources to {}", resources.display()))?;
    let config_path = resources.join(SHELL_CONFIG_FILE);
    let staged = std::fs::read(&config_path).with_context(|| format!("reading {}", config_path.display()))?;
    let mut runtime = ShellConfig::from_slice(&staged)
        .with_context(|| format!("{} is not the shell's configuration", config_path.display()))?;
    runtime.install_kind = Some(InstallKind::Portable);
    fsx::write_atomic(&config_path, &runtime.to_pretty_json())?;

    let icons = tree.join("icons");
    for name in PORTABLE_ICONS {
        let from = config.shell_dir.join("icons").join(name);
        if !from.is_file() {
            bail!("{} is missing: the portable tree carries the app's PNG icons", from.display());
        }
        fsx::copy_atomic(&from, &icons.join(name))?;
    }
    Ok(())
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::GzDecoder;

    use super::*;

    /// The macOS path on any host: a fake `.app` and `.dmg` from the bundle
    /// step become one signed-able `<App>.app.tar.gz`; the dmg is no update.
    #[test]
    fn a_mac_app_bundle_becomes_a_reproducible_app_tar_gz() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("bundle/macos/Hudson.app");
        std::fs::create_dir_all(app.join("Contents/MacOS")).unwrap();
        std::fs::write(app.join("Contents/MacOS/hudson-desktop"), b"fake Mach-O").unwrap();
        std::fs::write(app.join("Contents/Info.plist"), b"<plist/>").unwrap();
        let dmg = dir.path().join("bundle/dmg/Hudson_0.1.0_aarch64.dmg");
        std::fs::create_dir_all(dmg.parent().unwrap()).unwrap();
        std::fs::write(&dmg, b"dmg").unwrap();
        let bundles = Bundles { items: vec![(ArtifactKind::App, app.clone()), (ArtifactKind::Dmg, dmg)] };

        let out = dir.path().join("updater");
        let planned = artifacts(&out, &bundles).unwrap();
        assert_eq!(planned.len(), 1, "the dmg is not an update");
        let artifact = &planned[0];
        assert_eq!(artifact.path, out.join("Hudson.app.tar.gz"));
        assert_eq!(artifact.signature_path, out.join("Hudson.app.tar.gz.sig"));
        assert!(!artifact.replaces_bundle, "the archive ships beside the app");

        let ui = Ui::new(crate::core::ui::Format::Text);
        build(&ui, artifact, 1_750_000_000, None).unwrap();
        let first = std::fs::read(&artifact.path).unwrap();
        build(&ui, artifact, 1_750_000_000, None).unwrap();
        assert_eq!(std::fs::read(&artifact.path).unwrap(), first, "rebuilding gives the same bytes");
        let mut names = Vec::new();
        for entry in tar::Archive::new(GzDecoder::new(&first[..])).entries().unwrap() {
            let mut entry = entry.unwrap();
            names.push(entry.path().unwrap().display().to_string());
            entry.read_to_end(&mut Vec::new()).unwrap();
        }
        assert_eq!(
            names,
            [
                "Hudson.app",
                "Hudson.app/Contents",
                "Hudson.app/Contents/Info.plist",
                "Hudson.app/Contents/MacOS",
                "Hudson.app/Contents/MacOS/hudson-desktop"
            ]
        );
    }

    /// The Linux portable tree from a fake release binary and resources:
    /// the layout Tauri resolves, the install kind of this copy only, the
    /// modes, and the same bytes when built again.
    #[cfg(unix)]
    #[test]
    fn the_portable_tree_is_the_installed_tree_under_one_folder() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::load().unwrap();
        config.target_dir = dir.path().join("target");
        config.packaging = Packaging::Release;
        let target = Target::parse("x86_64-unknown-linux-gnu").unwrap();
        let binary = config.shell_binary_path(target);
        std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
        std::fs::write(&binary, b"\x7fELF fake shell").unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o700)).unwrap();
        let resources = config.resources_dir(target);
        let start = resources.join("backend/bin/hudson");
        std::fs::create_dir_all(start.parent().unwrap()).unwrap();
        std::fs::write(&start, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&start, std::fs::Permissions::from_mode(0o755)).unwrap();
        let packaged = config.shell_runtime_config(target).to_pretty_json();
        std::fs::write(resources.join(SHELL_CONFIG_FILE), &packaged).unwrap();

        let name = portable_file_name(&config, target);
        assert_eq!(name, format!("Hudson-{}-x86_64-unknown-linux-gnu.tar.gz", config.version));
        assert_eq!(ArtifactKind::of_file_name(&name, target.triple), Some(ArtifactKind::Portable));
        let outputs = planned_outputs(&config, target, "u");
        assert!(outputs.contains(&format!("u/{name}")) && outputs.contains(&format!("u/{name}.sig")), "{outputs:?}");

        let tree = portable_tree(&config, target);
        assert_eq!(tree.file_name().unwrap(), "Hudson", "the archive's top-level folder");
        stage_portable(&config, target, &tree).unwrap();
        // Tauri's rule on Linux: `<exe dir>/../lib/<productName>`.
        let shell = tree.join("bin/hudson-desktop");
        let found = shell.parent().unwrap().join("../lib/Hudson").canonicalize().unwrap();
        assert_eq!(found, tree.join("lib/Hudson").canonicalize().unwrap());
        assert!(found.join("backend/bin/hudson").is_file());
        let portable = ShellConfig::from_slice(&std::fs::read(found.join(SHELL_CONFIG_FILE)).unwrap()).unwrap();
        assert_eq!(portable.install_kind, Some(InstallKind::Portable));
        let package = ShellConfig::from_slice(&packaged).unwrap();
        assert_eq!(package.install_kind, Some(InstallKind::Package), "the bundles' copy is untouched");
        assert_eq!(ShellConfig { install_kind: package.install_kind, ..portable }, package, "nothing else differs");
        assert_eq!(std::fs::read(resources.join(SHELL_CONFIG_FILE)).unwrap(), packaged);

        let archive = dir.path().join(&name);
        archive::archive_dir(&tree, &archive, 1_750_000_000).unwrap();
        let first = std::fs::read(&archive).unwrap();
        stage_portable(&config, target, &tree).unwrap();
        archive::archive_dir(&tree, &archive, 1_750_000_000).unwrap();
        assert_eq!(std::fs::read(&archive).unwrap(), first, "the same inputs give the same bytes");
        let mut listed = Vec::new();
        for entry in tar::Archive::new(GzDecoder::new(&first[..])).entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            assert_eq!((header.uid().unwrap(), header.gid().unwrap(), header.mtime().unwrap()), (0, 0, 1_750_000_000));
            listed.push(format!("{} {:o}", entry.path().unwrap().display(), header.mode().unwrap()));
            entry.read_to_end(&mut Vec::new()).unwrap();
        }
        assert_eq!(
            listed,
            [
                "Hudson 755",
                "Hudson/bin 755",
                "Hudson/bin/hudson-desktop 755",
                "Hudson/icons 755",
                "Hudson/icons/128x128.png 644",
                "Hudson/icons/128x128@2x.png 644",
                "Hudson/icons/32x32.png 644",
                "Hudson/lib 755",
                "Hudson/lib/Hudson 755",
                "Hudson/lib/Hudson/backend 755",
                "Hudson/lib/Hudson/backend/bin 755",
                "Hudson/lib/Hudson/backend/bin/hudson 755",
                "Hudson/lib/Hudson/hudson-shell.json 644",
            ]
        );
    }

    /// With Burrito packaging the sidecar sits next to the shell, a copy of
    /// what the sidecar step's link points at, as tauri-bundler installs it.
    #[cfg(unix)]
    #[test]
    fn a_burrito_portable_tree_carries_the_sidecar_next_to_the_shell() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let real_icons = Config::load().unwrap().shell_dir.join("icons");
        let mut config = Config::load().unwrap();
        config.target_dir = dir.path().join("target");
        config.shell_dir = dir.path().join("shell");
        config.backend_dir = dir.path().join("backend");
        config.packaging = Packaging::Burrito;
        let target = Target::parse("x86_64-unknown-linux-gnu").unwrap();
        std::fs::create_dir_all(config.shell_dir.join("icons")).unwrap();
        for name in PORTABLE_ICONS {
            std::fs::copy(real_icons.join(name), config.shell_dir.join("icons").join(name)).unwrap();
        }
        let binary = config.shell_binary_path(target);
        std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
        std::fs::write(&binary, b"shell").unwrap();
        let burrito = crate::platform::burrito::output(&config, target);
        std::fs::create_dir_all(burrito.parent().unwrap()).unwrap();
        std::fs::write(&burrito, b"burrito").unwrap();
        let link = config.sidecar_path(target);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&burrito, &link).unwrap();
        let resources = config.resources_dir(target);
        std::fs::create_dir_all(&resources).unwrap();
        std::fs::write(resources.join(SHELL_CONFIG_FILE), config.shell_runtime_config(target).to_pretty_json())
            .unwrap();
        assert!(portable_inputs(&config, target).contains(&burrito), "a new Burrito binary rebuilds the tree");

        let tree = portable_tree(&config, target);
        stage_portable(&config, target, &tree).unwrap();
        let sidecar = tree.join("bin/hudson-backend");
        let meta = std::fs::symlink_metadata(&sidecar).unwrap();
        assert!(meta.is_file(), "a copy, not the build machine's link");
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        assert_eq!(std::fs::read(&sidecar).unwrap(), b"burrito");
        let staged = ShellConfig::from_slice(&std::fs::read(tree.join("lib/Hudson").join(SHELL_CONFIG_FILE)).unwrap());
        assert_eq!(staged.unwrap().packaging, Packaging::Burrito);
    }

    #[test]
    fn linux_packages_are_updates_in_place_of_their_bundles() {
        let bundles = Bundles {
            items: vec![
                (ArtifactKind::Deb, PathBuf::from("/b/deb/Hudson_0.1.0_amd64.deb")),
                (ArtifactKind::Rpm, PathBuf::from("/b/rpm/Hudson-0.1.0-1.x86_64.rpm")),
            ],
        };
        let planned = artifacts(Path::new("/u"), &bundles).unwrap();
        let shown: Vec<(String, bool)> =
            planned.iter().map(|a| (a.path.display().to_string(), a.replaces_bundle)).collect();
        assert_eq!(shown, [("/u/Hudson_0.1.0_amd64.deb".into(), true), ("/u/Hudson-0.1.0-1.x86_64.rpm".into(), true)]);
    }
}
