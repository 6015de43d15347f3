//! This crate is test-only: no crate of what ships (the shell, the crates
//! beside it under `src-tauri/`, `signing`, the backend's NIFs) may depend
//! on it except as a `[dev-dependencies]` entry, directly or through another
//! workspace crate. Read from `cargo metadata`, so a `[target.….dependencies]`
//! or `[build-dependencies]` entry counts too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cargo_metadata::{DependencyKind, MetadataCommand};

const THIS_CRATE: &str = "hudson-test-support";

/// A workspace package as far as this check needs it.
struct Package {
    manifest: PathBuf,
    /// (package name, a dev-dependency only) of each dependency.
    dependencies: Vec<(String, bool)>,
}

/// The manifests of what ships: `src-tauri/Cargo.toml`,
/// `src-tauri/*/Cargo.toml`, `signing/Cargo.toml` and
/// `backend/native/*/Cargo.toml`.
fn shipped_manifests(root: &Path) -> Vec<PathBuf> {
    let mut manifests = vec![root.join("src-tauri/Cargo.toml"), root.join("signing/Cargo.toml")];
    for folder in ["src-tauri", "backend/native"] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let manifest = entry.unwrap().path().join("Cargo.toml");
            if manifest.is_file() {
                manifests.push(manifest);
            }
        }
    }
    manifests.into_iter().map(|m| m.canonicalize().unwrap()).collect()
}

/// Each way a shipped package reaches `THIS_CRATE` other than through a
/// dev-dependency, as the chain of package names, or an error for a shipped
/// manifest that is not a workspace package.
fn violations(packages: &BTreeMap<String, Package>, shipped: &[PathBuf]) -> Result<Vec<Vec<String>>, String> {
    let mut found = Vec::new();
    for manifest in shipped {
        let (name, _) = packages
            .iter()
            .find(|(_, package)| package.manifest == *manifest)
            .ok_or_else(|| format!("{} is not a workspace package; this test reads only those", manifest.display()))?;
        // Depth-first over normal and build dependencies inside the workspace.
        let mut stack = vec![vec![name.clone()]];
        while let Some(chain) = stack.pop() {
            let last = chain.last().unwrap();
            for (dependency, dev_only) in &packages[last].dependencies {
                if *dev_only || chain.contains(dependency) {
                    continue;
                }
                let mut next = chain.clone();
                next.push(dependency.clone());
                if dependency == THIS_CRATE {
                    found.push(next);
                } else if packages.contains_key(dependency) {
                    stack.push(next);
                }
            }
        }
    }
    Ok(found)
}

#[test]
fn nothing_that_ships_depends_on_this_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let metadata = MetadataCommand::new().manifest_path(root.join("Cargo.toml")).no_deps().exec().unwrap();
    let packages: BTreeMap<String, Package> = metadata
        .workspace_packages()
        .into_iter()
        .map(|package| {
            let dependencies =
                package.dependencies.iter().map(|d| (d.name.clone(), d.kind == DependencyKind::Development)).collect();
            let manifest = package.manifest_path.as_std_path().canonicalize().unwrap();
            (package.name.to_string(), Package { manifest, dependencies })
        })
        .collect();
    assert!(packages.contains_key(THIS_CRATE), "{THIS_CRATE} is not a workspace package");
    let shipped = shipped_manifests(root);
    let names: Vec<&String> =
        packages.iter().filter(|(_, package)| shipped.contains(&package.manifest)).map(|(name, _)| name).collect();
    for expected in ["hudson-desktop", "hudson-updater", "signing", "hudson_nif"] {
        assert!(names.iter().any(|name| *name == expected), "{expected} is not among the shipped crates: {names:?}");
    }
    let found = violations(&packages, &shipped).unwrap();
    assert!(
        found.is_empty(),
        "what ships depends on {THIS_CRATE} (make it a [dev-dependencies] entry): {}",
        found.iter().map(|chain| chain.join(" → ")).collect::<Vec<_>>().join(", ")
    );
}

/// The check itself, on a made-up workspace: it finds a direct and an
/// indirect dependency, and lets a dev-dependency through.
#[test]
fn the_check_finds_a_dependency_and_allows_a_dev_dependency() {
    let package = |manifest: &str, dependencies: &[(&str, bool)]| Package {
        manifest: PathBuf::from(manifest),
        dependencies: dependencies.iter().map(|(name, dev)| ((*name).to_owned(), *dev)).collect(),
    };
    let workspace = |shell: &[(&str, bool)], helper: &[(&str, bool)]| -> BTreeMap<String, Package> {
        [
            ("shell".to_owned(), package("/w/shell/Cargo.toml", shell)),
            ("helper".to_owned(), package("/w/helper/Cargo.toml", helper)),
            ("tool".to_owned(), package("/w/tool/Cargo.toml", &[(THIS_CRATE, false)])),
            (THIS_CRATE.to_owned(), package("/w/test-support/Cargo.toml", &[("helper", false)])),
        ]
        .into_iter()
        .collect()
    };
    let shipped = [PathBuf::from("/w/shell/Cargo.toml"), PathBuf::from("/w/helper/Cargo.toml")];
    let chains = |shell: &[(&str, bool)], helper: &[(&str, bool)]| {
        violations(&workspace(shell, helper), &shipped).unwrap().into_iter().map(|c| c.join(" ")).collect::<Vec<_>>()
    };

    assert!(chains(&[("helper", false), (THIS_CRATE, true)], &[(THIS_CRATE, true)]).is_empty());
    // Not shipped: the tool may depend on it; the shell's dev-dependency on
    // the tool does not count either.
    assert!(chains(&[("tool", true)], &[]).is_empty());
    assert_eq!(chains(&[(THIS_CRATE, false)], &[]), ["shell hudson-test-support"]);
    assert_eq!(
        chains(&[("helper", false)], &[(THIS_CRATE, false)]),
        ["shell helper hudson-test-support", "helper hudson-test-support"]
    );
    assert_eq!(chains(&[("tool", false)], &[]), ["shell tool hudson-test-support"]);
    let error = violations(&workspace(&[], &[]), &[PathBuf::from("/w/elsewhere/Cargo.toml")]).unwrap_err();
    assert!(error.contains("/w/elsewhere/Cargo.toml"), "{error}");
}
