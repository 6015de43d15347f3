//! Step 4, bundle: the installers, made by the `tauri-bundler` crate used as
//! a library. It bundles a fresh copy of the shell binary, because
//! `bundle_project` patches a bundle-type marker into the binary and only
//! restores it on success.

#[cfg(feature = "release-tools")]
use std::collections::HashMap;
#[cfg(feature = "release-tools")]
use std::path::Path;
use std::path::PathBuf;

use anyhow::Result;
#[cfg(feature = "release-tools")]
use anyhow::{Context, bail};
use signing::dist::ArtifactKind;
#[cfg(feature = "release-tools")]
use tauri_bundler::bundle::{
    BundleBinary, BundleSettings, DebianSettings, PackageSettings, PackageType, RpmSettings, SettingsBuilder,
};

use super::Step;
use super::{Ctx, Outcome};
use crate::core::config::Config;
#[cfg(feature = "release-tools")]
use crate::core::config::Packaging;
#[cfg(feature = "release-tools")]
use crate::core::fsx;
use crate::core::target::Target;
use crate::release::plan::{StepName, StepPlan, rel};

/// The installers of this run, by kind.
#[derive(Debug, Default, Clone)]
pub struct Bundles {
    pub items: Vec<(ArtifactKind, PathBuf)>,
}

impl Bundles {
    pub fn of(&self, kind: ArtifactKind) -> impl Iterator<Item = &PathBuf> {
        self.items.iter().filter(move |(k, _)| *k == kind).map(|(_, p)| p)
    }
}

pub const STEP: Step = Step {
    name: StepName::Bundle,
    applies: super::every_target,
    plan,
    run: |ctx, built| {
        let (outcome, bundles) = run(ctx)?;
        built.bundles = bundles;
        Ok(outcome)
    },
};

fn plan(config: &Config, target: &'static Target) -> StepPlan {
    let bundles: Vec<&str> = kinds(target).iter().map(|kind| kind.as_str()).collect();
    let shell = rel(config, &config.shell_binary_path(target));
    StepPlan {
        name: StepName::Bundle,
        summary: format!("bundle {} with the tauri-bundler crate, from a fresh copy of the shell", bundles.join(", ")),
        commands: vec![format!("tauri_bundler::bundle_project (package types: {})", bundles.join(", "))],
        inputs: vec![
            shell,
            format!("{}/", rel(config, &config.resources_dir(target))),
            format!("{}/icons/", rel(config, &config.shell_dir)),
        ],
        outputs: planned_outputs(config, target),
    }
}

/// The bundles tauri-bundler makes for `target`: every bundle but the dmg,
/// which the dmg step makes from the signed app.
fn kinds(target: &Target) -> Vec<ArtifactKind> {
    target.bundles.iter().copied().filter(|k| *k != ArtifactKind::Dmg).collect()
}

/// Where each bundle lands, as a plan shows it (`*` for its name).
pub fn planned_outputs(config: &Config, target: &'static Target) -> Vec<String> {
    let out = rel(config, &config.work_dir(target).join("bundle").join("bundle"));
    kinds(target).into_iter().filter_map(location).map(|(folder, suffix)| format!("{out}/{folder}/*{suffix}")).collect()
}

/// tauri-bundler's folder under its output folder, and the file name's end,
/// of each kind of bundle.
fn location(kind: ArtifactKind) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        ArtifactKind::Deb => ("deb", ".deb"),
        ArtifactKind::Rpm => ("rpm", ".rpm"),
        ArtifactKind::Appimage => ("appimage", ".AppImage"),
        ArtifactKind::App => ("macos", ".app"),
        ArtifactKind::Dmg => ("dmg", ".dmg"),
        ArtifactKind::Nsis => ("nsis", "-setup.exe"),
        ArtifactKind::Msi => ("msi", ".msi"),
        // Made by the updater step, not by tauri-bundler.
        ArtifactKind::Portable | ArtifactKind::Unknown => return None,
    })
}

#[cfg(feature = "release-tools")]
fn work(ctx: &Ctx) -> PathBuf {
    ctx.config.work_dir(ctx.target).join("bundle")
}

/// Where tauri-bundler writes: `<out>/bundle/<type>/…`.
#[cfg(feature = "release-tools")]
fn out_dir(ctx: &Ctx) -> PathBuf {
    work(ctx).join("bundle")
}

/// Without the release tools there is no tauri-bundler to run.
#[cfg(not(feature = "release-tools"))]
pub fn run(_: &Ctx) -> Result<(Outcome, Bundles)> {
    Err(super::without_release_tools("the bundle step"))
}

#[cfg(feature = "release-tools")]
pub fn run(ctx: &Ctx) -> Result<(Outcome, Bundles)> {
    let config = ctx.config;
    let binary = config.shell_binary_path(ctx.target);
    let resources = config.resources_dir(ctx.target);
    let mut fp = ctx.fingerprint(StepName::Bundle);
    fp.add_path(&binary, &|_| false)?;
    fp.add_path(&resources, &|_| false)?;
    fp.add_path(&config.shell_dir.join("icons"), &|_| false)?;
    fp.add_path(&config.tauri_conf(), &|_| false)?;
    // The package repositories' key goes into the deb and the rpm.
    if let Some(key) = &config.signing.openpgp_public_key {
        fp.add_path(key, &|_| false)?;
    }
    fp.add_value("tauri-bundler", "2.10.2");
    let outputs = [out_dir(ctx)];
    let kinds = kinds(ctx.target);

    let outcome = ctx.cached(StepName::Bundle, "tauri-bundler", &fp, &outputs, |step| {
        let work = work(ctx);
        if work.exists() {
            std::fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
        }
        let fresh = work.join(format!("{}{}", config.shell_binary, ctx.target.exe_suffix()));
        fsx::copy_atomic(&binary, &fresh).context("copying the shell binary for bundling")?;
        super::step5_sign::before_bundling(ctx, &fresh)?;
        for kind in &kinds {
            step.progress(&format!("bundling {}", kind.as_str()));
        }
        let settings = SettingsBuilder::new()
            .project_out_directory(&work)
            .package_settings(PackageSettings {
                product_name: config.product_name.clone(),
                version: config.version.clone(),
                description: "Hudson for the desktop".into(),
                homepage: None,
                authors: Some(vec!["Hudson".into()]),
                default_run: Some(config.shell_binary.clone()),
            })
            .bundle_settings(bundle_settings(ctx, &resources, &work)?)
            .binaries(vec![BundleBinary::new(config.shell_binary.clone(), true)])
            .package_types(kinds.iter().map(|k| package_type(*k)).collect::<Result<_>>()?)
            .target(ctx.target.triple.to_owned())
            .build()
            .context("configuring tauri-bundler")?;
        let built = tauri_bundler::bundle_project(&settings).context("tauri-bundler failed")?;
        for kind in &kinds {
            let wanted = package_type(*kind)?;
            if !built.iter().any(|b| b.package_type == wanted && !b.bundle_paths.is_empty()) {
                bail!("tauri-bundler built no {} bundle (it skips types this host cannot build)", kind.as_str());
            }
        }
        Ok(())
    })?;
    Ok((outcome, scan(&out_dir(ctx), &kinds)?))
}

#[cfg(feature = "release-tools")]
fn bundle_settings(ctx: &Ctx, resources: &Path, work: &Path) -> Result<BundleSettings> {
    let config = ctx.config;
    let icons = ["32x32.png", "128x128.png", "128x128@2x.png", "icon.icns", "icon.ico"]
        .iter()
        .map(|name| config.shell_dir.join("icons").join(name).display().to_string())
        .collect();
    let mut resources_map = HashMap::new();
    resources_map.insert(resources.display().to_string(), String::new());
    let external_bin = match config.packaging {
        Packaging::Release => None,
        Packaging::Burrito => Some(vec![config.shell_dir.join("binaries").join(&config.sidecar).display().to_string()]),
    };
    // The files that point apt and dnf at the channel's repositories, when
    // the build has an endpoint and the repository key.
    let (mut deb_files, mut rpm_files) = (HashMap::new(), HashMap::new());
    if let Some(files) = crate::platform::linux::repository::files(
        &config.product_name,
        config.updates.as_ref(),
        config.signing.openpgp_public_key.as_deref(),
    )? {
        for (kind, list, map) in [("deb", &files.deb, &mut deb_files), ("rpm", &files.rpm, &mut rpm_files)] {
            for (path, bytes) in list {
                let source = work.join("repository").join(kind).join(path.trim_start_matches('/'));
                std::fs::create_dir_all(fsx::parent(&source)?)?;
                // World-readable: the rpm takes each file's mode from here,
                // and the app (as the user) and dnf read them.
                fsx::write_atomic_with(&source, Some(0o644), |tmp| {
                    use std::io::Write as _;
                    tmp.as_file().write_all(bytes).with_context(|| format!("writing {}", tmp.path().display()))
                })?;
                map.insert(PathBuf::from(path), source);
            }
        }
    }
    Ok(BundleSettings {
        identifier: Some(config.identifier.clone()),
        publisher: Some("Hudson".into()),
        icon: Some(icons),
        resources_map: Some(resources_map),
        short_description: Some("Hudson for the desktop".into()),
        long_description: Some("Hudson, the Phoenix/LiveView application, as a desktop app.".into()),
        external_bin,
        // What the shell links against: WebKitGTK, GTK and the tray library
        // (tauri-bundler adds no dependencies by itself).
        deb: DebianSettings {
            section: Some("utils".into()),
            depends: Some(vec!["libwebkit2gtk-4.1-0".into(), "libgtk-3-0".into(), "libayatana-appindicator3-1".into()]),
            files: deb_files,
            ..Default::default()
        },
        rpm: RpmSettings {
            release: "1".into(),
            depends: Some(vec!["webkit2gtk4.1".into(), "gtk3".into(), "libayatana-appindicator-gtk3".into()]),
            files: rpm_files,
            ..Default::default()
        },
        ..Default::default()
    })
}

#[cfg(feature = "release-tools")]
fn package_type(kind: ArtifactKind) -> Result<PackageType> {
    Ok(match kind {
        ArtifactKind::Deb => PackageType::Deb,
        ArtifactKind::Rpm => PackageType::Rpm,
        ArtifactKind::Appimage => PackageType::AppImage,
        ArtifactKind::App => PackageType::MacOsBundle,
        ArtifactKind::Dmg => PackageType::Dmg,
        ArtifactKind::Nsis => PackageType::Nsis,
        ArtifactKind::Msi => PackageType::WindowsMsi,
        ArtifactKind::Portable => bail!("the portable tree is made by the updater step, not by tauri-bundler"),
        ArtifactKind::Unknown => bail!("unknown bundle kind"),
    })
}

/// Finds the bundles in tauri-bundler's output folder.
#[cfg(feature = "release-tools")]
fn scan(out: &Path, kinds: &[ArtifactKind]) -> Result<Bundles> {
    let mut items = Vec::new();
    for kind in kinds {
        let Some((folder, suffix)) = location(*kind) else { continue };
        let dir = out.join(folder);
        let found: Vec<PathBuf> = if *kind == ArtifactKind::App {
            std::fs::read_dir(&dir)
                .map(|rd| {
                    rd.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|e| e == "app"))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            fsx::files_with_suffix(&dir, suffix)?
        };
        match found.as_slice() {
            [one] => items.push((*kind, one.clone())),
            [] => bail!("no {} bundle in {}", kind.as_str(), dir.display()),
            many => bail!("several {} bundles in {}: {many:?}", kind.as_str(), dir.display()),
        }
    }
    Ok(Bundles { items })
}
