//! `cargo xtask plan`: the whole release of one target as data — steps in
//! pipeline order, each with the commands it runs and its inputs and outputs —
//! computed from the configuration and the target table without building
//! anything. `dist` executes this plan; CI builds its job matrix from it.

use serde::Serialize;

use crate::config::{Config, Packaging};
use crate::target::{Os, TARGETS, Target};
use crate::ui::Ui;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepName {
    Backend,
    Sidecar,
    Shell,
    Bundle,
    Sign,
    Updater,
    /// macOS: the disk image, made from the signed app.
    Dmg,
    Record,
}

impl StepName {
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Backend => "backend",
            StepName::Sidecar => "sidecar",
            StepName::Shell => "shell",
            StepName::Bundle => "bundle",
            StepName::Sign => "sign",
            StepName::Updater => "updater",
            StepName::Dmg => "dmg",
            StepName::Record => "record",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub product: String,
    pub identifier: String,
    pub version: String,
    pub packaging: Packaging,
    pub target: TargetPlan,
    pub sidecar: SidecarPlan,
    /// Where the shipped files land, relative to the workspace.
    pub dist_dir: String,
    pub steps: Vec<StepPlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetPlan {
    pub triple: &'static str,
    pub os: Os,
    pub arch: &'static str,
    pub runner: &'static str,
    pub burrito_alias: String,
    pub bundles: Vec<&'static str>,
    pub updater_platform_keys: Vec<String>,
    /// Bundles this target could have but that are not built, with why.
    pub not_built: Vec<NotBuilt>,
    /// True when this machine can run `dist` for the target.
    pub buildable_here: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotBuilt {
    pub bundle: &'static str,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct SidecarPlan {
    /// `<sidecar>-<triple>[.exe]`, the name Tauri's `externalBin` expects.
    pub name: String,
    /// How the backend ships inside the bundle.
    pub ships_as: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepPlan {
    pub name: StepName,
    pub summary: String,
    /// Commands the step runs, as shell lines (for reading, not for eval).
    pub commands: Vec<String>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

pub fn run(ui: &Ui, target: Option<&str>, every: bool) -> anyhow::Result<()> {
    let config = Config::load()?;
    if every {
        let plans = all(&config);
        if ui.json() {
            ui.emit(&plans);
        } else {
            plans.iter().for_each(|p| print_text(ui, p));
        }
        return Ok(());
    }
    let target = Target::given_or_host(target)?;
    let plan = plan(&config, target);
    if ui.json() {
        ui.emit(&plan);
    } else {
        print_text(ui, &plan);
    }
    Ok(())
}

/// Computes the release plan of `target`.
pub fn plan(config: &Config, target: &'static Target) -> Plan {
    let rel = |p: &std::path::Path| config.relative(p).into_owned();
    let triple = target.triple;
    let work = rel(&config.work_dir(target));
    let dist = rel(&config.dist_dir(target));
    let backend = rel(&config.backend_dir);
    let release_dir = rel(&config.release_dir());
    let sidecar_name = target.sidecar_file_name(&config.sidecar);
    let sidecar_path = rel(&config.sidecar_path(target));
    let resources = rel(&config.resources_dir(target));
    let updater_dir = rel(&config.updater_dir(target));
    let alias = config.burrito_alias(target);
    let bundles: Vec<&'static str> = target.bundles.iter().map(|kind| kind.as_str()).collect();
    let updater_keys: Vec<String> = target.updater_keys().into_iter().map(|(_, key)| key).collect();
    let shell_bin = rel(&config.shell_binary_path(target));

    let mut nif_commands = Vec::new();
    for nif in &config.nif_crates {
        nif_commands.push(format!("cargo build --release -p {nif} --target {triple}"));
        nif_commands.push(format!("copy the {nif} library into {backend}/priv/native/"));
    }
    let (backend_step, sidecar_step) = match config.packaging {
        Packaging::Release => (
            StepPlan {
                name: StepName::Backend,
                summary: "build the NIFs and the backend release".into(),
                commands: [
                    nif_commands,
                    vec![
                        format!("cd {backend} && mix deps.get --only prod   (when mix.lock lists deps)"),
                        format!("cd {backend} && MIX_ENV=prod mix assets.deploy   (when the alias exists)"),
                        format!("cd {backend} && MIX_ENV=prod HUDSON_SKIP_NIF_BUILD=1 mix release --overwrite"),
                    ],
                ]
                .concat(),
                inputs: vec![format!("{backend}/ (sources, without _build and deps)"), "Cargo.lock".into()],
                outputs: vec![format!("{release_dir}/")],
            },
            StepPlan {
                name: StepName::Sidecar,
                summary: "stage the release directory and the shell's runtime config as bundle resources".into(),
                commands: vec![format!("copy {release_dir}/ to {resources}/backend/")],
                inputs: vec![format!("{release_dir}/"), "Cargo.toml [workspace.metadata.hudson]".into()],
                outputs: vec![format!("{resources}/backend/"), format!("{resources}/hudson-shell.json")],
            },
        ),
        Packaging::Burrito => {
            let out = rel(&crate::burrito::output(config, target));
            (
                StepPlan {
                    name: StepName::Backend,
                    summary: format!("build the NIFs and the Burrito binary for alias `{alias}`"),
                    commands: [
                        nif_commands,
                        vec![format!(
                            "cd {backend} && MIX_ENV=prod BURRITO_TARGET={alias} HUDSON_SKIP_NIF_BUILD=1 mix release --overwrite"
                        )],
                    ]
                    .concat(),
                    inputs: vec![format!("{backend}/ (sources, without _build and deps)"), "Cargo.lock".into()],
                    outputs: vec![out.clone()],
                },
                StepPlan {
                    name: StepName::Sidecar,
                    summary: "link the Burrito binary where Tauri's externalBin expects it".into(),
                    commands: vec![if target.os == Os::Windows {
                        format!("copy {out} to {sidecar_path}")
                    } else {
                        format!("ln -s {out} {sidecar_path}")
                    }],
                    inputs: vec![out],
                    outputs: vec![sidecar_path.clone(), format!("{resources}/hudson-shell.json")],
                },
            )
        }
    };

    let bundle_outputs: Vec<String> =
        bundles.iter().filter(|b| **b != "dmg").map(|b| format!("{work}/bundle/bundle/{b}/…")).collect();
    let (sign_summary, sign_commands) = match target.os {
        Os::Macos => (
            "sign every nested Mach-O, then the app, with hardened runtime; notarize and staple when credentials are set",
            vec![
                format!(
                    "cargo xtask sign --target {triple} {work}/signed/{}.app   (APPLE_CERTIFICATE, else ad-hoc)",
                    config.product_name
                ),
                format!(
                    "cargo xtask notarize {work}/signed/{}.app   (when the App Store Connect key is set)",
                    config.product_name
                ),
            ],
        ),
        Os::Windows => (
            "Authenticode-sign the shell before bundling, then the installers (when WINDOWS_CERTIFICATE is set)",
            vec![format!(
                "cargo xtask sign --target {triple} {work}/signed/<installer>   (osslsigncode; signtool on Windows)"
            )],
        ),
        Os::Linux => {
            ("nothing to embed: Linux packages are verified through their updater signatures (next step)", vec![])
        }
    };
    let updater_artifacts: Vec<String> = target
        .bundles
        .iter()
        .filter(|kind| Target::is_updatable(**kind))
        .map(|kind| match kind {
            signing::dist::ArtifactKind::App => format!("{updater_dir}/{}.app.tar.gz(.sig)", config.product_name),
            kind => format!("{updater_dir}/<{}>(.sig)", kind.as_str()),
        })
        .collect();

    let mut plan = Plan {
        product: config.product_name.clone(),
        identifier: config.identifier.clone(),
        version: config.version.clone(),
        packaging: config.packaging,
        target: TargetPlan {
            triple,
            os: target.os,
            arch: target.arch,
            runner: target.runner,
            burrito_alias: alias,
            bundles: bundles.clone(),
            updater_platform_keys: updater_keys.clone(),
            not_built: target.unsupported.iter().map(|(bundle, reason)| NotBuilt { bundle, reason }).collect(),
            buildable_here: target.is_host(),
        },
        sidecar: SidecarPlan {
            name: sidecar_name,
            ships_as: match config.packaging {
                Packaging::Release => {
                    "the release directory, as the bundle resource `backend/`, started as `bin/<release> start`".into()
                }
                Packaging::Burrito => format!("a Tauri externalBin: {sidecar_path}"),
            },
        },
        dist_dir: dist.clone(),
        steps: vec![
            backend_step,
            sidecar_step,
            StepPlan {
                name: StepName::Shell,
                summary: "build the shell in release mode (tauri custom-protocol)".into(),
                commands: vec![format!(
                    "cargo build --release -p {} --target {triple} --features custom-protocol",
                    config.shell_package
                )],
                inputs: config
                    .shell_source_dirs
                    .iter()
                    .map(|d| format!("{}/", rel(d)))
                    .chain(["Cargo.lock".into()])
                    .collect(),
                outputs: vec![shell_bin.clone()],
            },
            StepPlan {
                name: StepName::Bundle,
                summary: format!(
                    "bundle {} with the tauri-bundler crate, from a fresh copy of the shell",
                    bundles.join(", ")
                ),
                commands: vec![format!("tauri_bundler::bundle_project (package types: {})", bundles.join(", "))],
                inputs: vec![shell_bin, format!("{resources}/"), format!("{}/icons/", rel(&config.shell_dir))],
                outputs: bundle_outputs.clone(),
            },
            StepPlan {
                name: StepName::Sign,
                summary: sign_summary.into(),
                commands: sign_commands,
                inputs: bundle_outputs.clone(),
                outputs: bundle_outputs,
            },
            StepPlan {
                name: StepName::Updater,
                summary: format!("updater artifacts and Tauri signatures for {}", updater_keys.join(", ")),
                commands: vec!["signing::artifact::sign (minisign, prehashed, version in the trusted comment)".into()],
                inputs: vec![
                    "the bundles".into(),
                    "TAURI_SIGNING_PRIVATE_KEY (or the development key under target/)".into(),
                ],
                outputs: updater_artifacts.clone(),
            },
            StepPlan {
                name: StepName::Record,
                summary: "write the checksums and the dist manifest".into(),
                commands: vec![],
                inputs: [vec!["the installers".to_owned()], updater_artifacts].concat(),
                outputs: vec![
                    format!("{dist}/ (the installers and update artifacts, with their .sig)"),
                    format!("{dist}/SHA256SUMS"),
                    format!("{dist}/dist-manifest.json"),
                ],
            },
        ],
    };
    if target.os == Os::Macos {
        let dmg = rel(&config.dmg_path(target));
        let record = plan.steps.len() - 1;
        plan.steps.insert(
            record,
            StepPlan {
                name: StepName::Dmg,
                summary: "the disk image, from the signed (and notarized) app; signed, notarized and stapled in turn"
                    .into(),
                commands: vec![
                    format!(
                        "hdiutil create -volname {} -srcfolder <signed App.app> -format UDZO {dmg}",
                        config.product_name
                    ),
                    format!("cargo xtask sign --target {triple} {dmg}"),
                    format!("cargo xtask notarize {dmg}   (when the App Store Connect key is set)"),
                ],
                inputs: vec![format!("{work}/signed/{}.app", config.product_name)],
                outputs: vec![dmg],
            },
        );
    }
    plan
}

fn print_text(ui: &Ui, plan: &Plan) {
    let t = &plan.target;
    ui.info(format!("{} {} for {} ({} packaging)", plan.product, plan.version, t.triple, plan.packaging.as_str()));
    ui.info(format!("  runner:        {}", t.runner));
    ui.info(format!("  bundles:       {}", t.bundles.join(", ")));
    ui.info(format!("  updater keys:  {}", t.updater_platform_keys.join(", ")));
    ui.info(format!("  burrito alias: {}", t.burrito_alias));
    ui.info(format!("  sidecar:       {} ({})", plan.sidecar.name, plan.sidecar.ships_as));
    for nb in &t.not_built {
        ui.info(format!("  not built:     {} ({})", nb.bundle, nb.reason));
    }
    if !t.buildable_here {
        ui.info("  (this machine cannot build it: NIFs and the shell are built on the target's own runner)");
    }
    ui.info(format!("  output:        {}", plan.dist_dir));
    for (i, step) in plan.steps.iter().enumerate() {
        ui.info(format!("{}. {} — {}", i + 1, step.name.as_str(), step.summary));
        for c in &step.commands {
            ui.info(format!("     $ {c}"));
        }
        for i in &step.inputs {
            ui.info(format!("     < {i}"));
        }
        for o in &step.outputs {
            ui.info(format!("     > {o}"));
        }
    }
}

/// Every supported target's plan (for the CI matrix).
pub fn all(config: &Config) -> Vec<Plan> {
    TARGETS.iter().map(|t| plan(config, t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apple_silicon_plan_matches_the_targets_table() {
        let config = Config::load().unwrap();
        let plan = plan(&config, Target::parse("aarch64-apple-darwin").unwrap());
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["sidecar"]["name"], "hudson-backend-aarch64-apple-darwin");
        assert_eq!(json["target"]["bundles"], serde_json::json!(["app", "dmg"]));
        assert!(json["target"]["updater_platform_keys"].as_array().unwrap().contains(&"darwin-aarch64".into()));
        assert_eq!(json["target"]["burrito_alias"], "macos_arm");
        let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["backend", "sidecar", "shell", "bundle", "sign", "updater", "dmg", "record"]);
    }

    #[test]
    fn plans_of_all_five_triples_match_the_targets_table() {
        let config = Config::load().unwrap();
        let json = serde_json::to_value(all(&config)).unwrap();
        // triple, alias, bundles, updater keys, runner, sidecar suffix, steps
        let table = [
            (
                "aarch64-apple-darwin",
                "macos_arm",
                vec!["app", "dmg"],
                vec!["darwin-aarch64", "darwin-aarch64-app"],
                "macos-14",
                "",
            ),
            (
                "x86_64-apple-darwin",
                "macos",
                vec!["app", "dmg"],
                vec!["darwin-x86_64", "darwin-x86_64-app"],
                "macos-13",
                "",
            ),
            (
                "x86_64-pc-windows-msvc",
                "windows",
                vec!["nsis", "msi"],
                vec!["windows-x86_64", "windows-x86_64-nsis", "windows-x86_64-msi"],
                "windows-2022",
                ".exe",
            ),
            (
                "x86_64-unknown-linux-gnu",
                "linux",
                vec!["deb", "rpm"],
                vec!["linux-x86_64-deb", "linux-x86_64-rpm"],
                "ubuntu-22.04",
                "",
            ),
            (
                "aarch64-unknown-linux-gnu",
                "linux_arm",
                vec!["deb", "rpm"],
                vec!["linux-aarch64-deb", "linux-aarch64-rpm"],
                "ubuntu-22.04-arm",
                "",
            ),
        ];
        assert_eq!(json.as_array().unwrap().len(), table.len());
        for (plan, (triple, alias, bundles, keys, runner, exe)) in json.as_array().unwrap().iter().zip(table) {
            let t = &plan["target"];
            assert_eq!(t["triple"], triple);
            assert_eq!(t["burrito_alias"], alias, "{triple}");
            assert_eq!(t["bundles"], serde_json::json!(bundles), "{triple}");
            assert_eq!(t["updater_platform_keys"], serde_json::json!(keys), "{triple}");
            assert_eq!(t["runner"], runner, "{triple}");
            assert_eq!(plan["sidecar"]["name"], format!("hudson-backend-{triple}{exe}"));
            let steps: Vec<&str> =
                plan["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
            let mut expected = vec!["backend", "sidecar", "shell", "bundle", "sign", "updater", "record"];
            if triple.contains("apple") {
                expected.insert(6, "dmg");
            }
            assert_eq!(steps, expected, "{triple}");
        }
    }

    #[test]
    fn every_target_has_a_plan() {
        let config = Config::load().unwrap();
        let plans = all(&config);
        assert_eq!(plans.len(), 5);
        for p in &plans {
            assert!(p.dist_dir.ends_with(p.target.triple));
            assert!(!p.target.bundles.is_empty());
        }
    }
}
