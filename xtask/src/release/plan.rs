//! `cargo xtask plan`: the whole release of one target as data — steps in
//! pipeline order, each with the commands it runs and its inputs and outputs —
//! computed from the configuration and the target table without building
//! anything. The steps are `dist`'s own (`release::steps`), each asked for
//! its plan, so what `plan` prints is what `dist` runs; CI builds its job
//! matrix from it.

use serde::Serialize;

use std::path::Path;

use crate::core::config::{Config, Packaging};
use crate::core::target::{TARGETS, Target};
use crate::core::ui::Ui;

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
    /// `linux`, `macos` or `windows`: the workflow's `matrix.os`.
    pub os: &'static str,
    pub arch: &'static str,
    pub runner: &'static str,
    pub burrito_alias: String,
    pub bundles: Vec<&'static str>,
    /// Update artifacts `dist` makes itself, beside the bundles
    /// (`portable`: the Linux portable tree).
    pub archives: Vec<&'static str>,
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
    /// Paths relative to the workspace, a trailing `/` for a folder and `*`
    /// for any name: after `dist`, each names at least one file it wrote
    /// (`release_checks::plan_outputs`).
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

/// Computes the release plan of `target`: the target's facts, then each of
/// its pipeline steps asked for its own plan.
pub fn plan(config: &Config, target: &'static Target) -> Plan {
    let sidecar_path = rel(config, &config.sidecar_path(target));
    Plan {
        product: config.product_name.clone(),
        identifier: config.identifier.clone(),
        version: config.version.clone(),
        packaging: config.packaging,
        target: TargetPlan {
            triple: target.triple,
            os: target.os_name(),
            arch: target.arch().as_str(),
            runner: target.runner,
            burrito_alias: config.burrito_alias(target),
            bundles: target.bundles.iter().map(|kind| kind.as_str()).collect(),
            archives: target.archives.iter().map(|kind| kind.as_str()).collect(),
            updater_platform_keys: target.updater_keys().into_iter().map(|(_, key)| key).collect(),
            not_built: target.unsupported.iter().map(|(bundle, reason)| NotBuilt { bundle, reason }).collect(),
            buildable_here: target.is_host(),
        },
        sidecar: SidecarPlan {
            name: target.sidecar_file_name(&config.sidecar),
            ships_as: match config.packaging {
                Packaging::Release => {
                    "the release directory, as the bundle resource `backend/`, started as `bin/<release> start`".into()
                }
                Packaging::Burrito => format!("a Tauri externalBin: {sidecar_path}"),
            },
        },
        dist_dir: rel(config, &config.dist_dir(target)),
        steps: super::steps(target).map(|step| (step.plan)(config, target)).collect(),
    }
}

/// `path` relative to the workspace, as plans show it.
pub fn rel(config: &Config, path: &Path) -> String {
    config.relative(path).into_owned()
}

fn print_text(ui: &Ui, plan: &Plan) {
    let t = &plan.target;
    ui.info(format!("{} {} for {} ({} packaging)", plan.product, plan.version, t.triple, plan.packaging.as_str()));
    ui.info(format!("  runner:        {}", t.runner));
    ui.info(format!("  bundles:       {}", t.bundles.join(", ")));
    if !t.archives.is_empty() {
        ui.info(format!("  archives:      {}", t.archives.join(", ")));
    }
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
                vec!["linux-x86_64-deb", "linux-x86_64-rpm", "linux-x86_64-portable"],
                "ubuntu-22.04",
                "",
            ),
            (
                "aarch64-unknown-linux-gnu",
                "linux_arm",
                vec!["deb", "rpm"],
                vec!["linux-aarch64-deb", "linux-aarch64-rpm", "linux-aarch64-portable"],
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
            let archives: &[&str] = if triple.contains("linux") { &["portable"] } else { &[] };
            assert_eq!(t["archives"], serde_json::json!(archives), "{triple}");
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
