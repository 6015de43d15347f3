//! Tests of the code's shape, in the spirit of rust-analyzer's `tidy`: the
//! release tool's own folders never import the test harness, so `dist`,
//! the channel commands and `smoke` cannot come to depend on a test double;
//! and `dist` never builds the shell's benchmark switch.

use std::path::{Path, PathBuf};

/// Folders whose code ships in the release tool.
const RELEASE_FOLDERS: &[&str] = &["core", "release", "platform", "channel", "smoke", "drive"];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Every line of `source` outside comments that names the harness module.
fn harness_uses(source: &str) -> Vec<String> {
    source
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("//"))
        .filter(|line| line.contains("crate::harness") || line.contains("super::harness"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn release_code_never_imports_the_harness() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    for folder in RELEASE_FOLDERS {
        let dir = src.join(folder);
        assert!(dir.is_dir(), "{} is gone: update RELEASE_FOLDERS", dir.display());
        for file in rust_files(&dir) {
            for line in harness_uses(&std::fs::read_to_string(&file).unwrap()) {
                offenders.push(format!("{}: {line}", file.strip_prefix(&src).unwrap().display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "release code imports the test harness (move what it needs out of harness/, or the test into it):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_import_check_sees_every_way_of_naming_the_harness() {
    let source =
        "use crate::harness::e2e::Lab;\n// crate::harness in a comment\nlet x = crate::harness::bench::run();\n";
    assert_eq!(harness_uses(source).len(), 2);
    assert!(harness_uses("use crate::core::ui::Ui;").is_empty());
}

#[test]
fn every_file_says_what_it_holds() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let missing: Vec<String> = rust_files(&src)
        .into_iter()
        .filter(|file| !std::fs::read_to_string(file).unwrap().starts_with("//!"))
        .map(|file| file.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a module doc (`//!` first line): {missing:?}");
}

/// The startup benchmark's polling switch is a feature of the shell that
/// `dist` must never build: not a default feature, not in the shell step's
/// command (the bench binary that needs it is `required-features`).
#[test]
fn the_shipping_shell_has_no_benchmark_switch() {
    let metadata = cargo_metadata::MetadataCommand::new().no_deps().exec().unwrap();
    let config = crate::core::config::Config::load().unwrap();
    let shell = metadata.packages.iter().find(|p| p.name.as_str() == config.shell_package).unwrap();
    assert!(shell.features.contains_key("bench-baseline"), "the benchmark's feature is gone: update this test");
    let defaults = shell.features.get("default").cloned().unwrap_or_default();
    assert!(!defaults.iter().any(|f| f == "bench-baseline"), "bench-baseline is a default feature: {defaults:?}");
    for target in crate::core::target::TARGETS {
        let plan = crate::release::plan::plan(&config, target);
        let commands: Vec<&String> = plan.steps.iter().flat_map(|step| &step.commands).collect();
        assert!(
            !commands.iter().any(|c| c.contains("bench-baseline") || c.contains("--all-features")),
            "dist for {} builds the benchmark's shell: {commands:?}",
            target.triple
        );
    }
}
