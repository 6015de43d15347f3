//! Burrito packaging end to end with a test double of Burrito
//! (`xtask/tests/fixtures/burrito_test_double.exs`; Burrito itself cannot be
//! installed here): the real backend step runs `mix release` of a copy of
//! the reference backend whose release ends with the double's wrap step,
//! the sidecar step links `<sidecar>-<triple>`, the backend starts through
//! that link exactly as the shell starts a sidecar (`LaunchSpec::for_sidecar`:
//! contract env, handshake, health), and a stale `burrito_out` file is
//! refused.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hudson_lifecycle::{Backend, LaunchSpec};

use super::super::{Ctx, backend};
use crate::config::{Config, Packaging};
use crate::target::Target;
use crate::ui::{Format, Ui};

fn copy_backend(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).into_iter().filter_entry(|e| {
        let rel = e.path().strip_prefix(from).unwrap();
        !crate::dist::skip_build_output(rel) || rel.as_os_str().is_empty()
    }) {
        let entry = entry.unwrap();
        let dest = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// A copy of the reference backend whose release is wrapped by the double.
fn fixture(real: &Config, dir: &Path) -> PathBuf {
    let backend = dir.join("backend");
    copy_backend(&real.backend_dir, &backend);
    let mix = std::fs::read_to_string(backend.join("mix.exs")).unwrap();
    assert!(mix.contains("releases: [hudson: []]"), "the reference backend's release config changed; update this test");
    let double =
        std::fs::read_to_string(real.workspace_root.join("xtask/tests/fixtures/burrito_test_double.exs")).unwrap();
    let mix =
        mix.replace("releases: [hudson: []]", "releases: [hudson: [steps: [:assemble, &BurritoTestDouble.wrap/1]]]");
    std::fs::write(backend.join("mix.exs"), format!("{mix}\n{double}")).unwrap();
    // The NIF, as the backend step would place it (built here for the host
    // without --target, as `mix test` builds it).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "hudson_nif"])
        .current_dir(&real.workspace_root)
        .status()
        .unwrap();
    assert!(status.success());
    let lib = super::super::backend::nif_library(crate::target::Os::Linux, "hudson_nif", false);
    std::fs::create_dir_all(backend.join("priv/native")).unwrap();
    std::fs::copy(real.target_dir.join("release").join(&lib), backend.join("priv/native").join(&lib)).unwrap();
    backend
}

#[test]
fn burrito_sidecar_is_linked_started_by_contract_and_a_stale_output_is_refused() {
    let real = Config::load().unwrap();
    let target = Target::parse("x86_64-unknown-linux-gnu").unwrap();
    assert!(target.is_host(), "this test builds for x86_64-unknown-linux-gnu");
    let dir = tempfile::tempdir().unwrap();
    let mut config = real.clone();
    config.backend_dir = fixture(&real, dir.path());
    config.packaging = Packaging::Burrito;
    config.nif_crates = Vec::new();
    config.shell_dir = dir.path().join("shell");
    // Fingerprints and staged resources go to the temporary folder, not to
    // the real dist's work folder.
    config.target_dir = dir.path().join("target");
    let ui = Ui::new(Format::Text);
    let ctx = Ctx { config: &config, target, ui: &ui, sh: xshell::Shell::new().unwrap(), force: true };

    backend::run(&ctx).unwrap();
    let output = config.backend_dir.join("burrito_out/hudson_linux");
    assert!(output.is_file(), "the double wrote no burrito_out/hudson_linux");
    super::run(&ctx).unwrap();
    let link = config.shell_dir.join("binaries/hudson-backend-x86_64-unknown-linux-gnu");
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_symlink(), "{} is not a symlink", link.display());
    assert_eq!(std::fs::canonicalize(&link).unwrap(), std::fs::canonicalize(&output).unwrap());
    let shell_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(super::resources_dir(&ctx).join("hudson-shell.json")).unwrap()).unwrap();
    assert_eq!(shell_json["packaging"], "burrito");
    assert_eq!(shell_json["sidecar"], "hudson-backend");

    // Start it as the shell starts a sidecar, with Burrito's extraction
    // folder in the temporary folder.
    let install = dir.path().join("install");
    let mut spec =
        LaunchSpec::for_sidecar(&link, dir.path().join("data"), dir.path().join("log"), dir.path().join("run"));
    spec.env.push(("HUDSON_INSTALL_DIR".into(), install.clone().into()));
    spec.startup_timeout = Duration::from_secs(60);
    let backend_process =
        Backend::start(&spec, &mut |_| {}).unwrap_or_else(|e| panic!("the sidecar did not start: {e:?}"));
    let health = backend_process.health().clone();
    assert!(health.is_ok(), "{health:?}");
    assert_eq!(health.version, config.version);
    assert_eq!(health.nifs.get("hudson_nif").map(String::as_str), Some("ok"), "{health:?}");
    let report = backend_process.shutdown(Duration::from_secs(10), &mut |_| {});
    assert!(!report.forced, "the sidecar did not stop when asked: {report:?}");
    let extracted: Vec<PathBuf> =
        std::fs::read_dir(install.join(".burrito")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(extracted.len(), 1, "{extracted:?}");
    assert!(extracted[0].file_name().unwrap().to_string_lossy().starts_with("hudson_erts-"));

    // What dist does on the build machine: the extraction folder of this
    // release and version goes, so the next start runs the new build.
    let removed =
        crate::burrito::clear_extraction_cache_in(&install.join(".burrito"), "hudson", &config.version).unwrap();
    assert_eq!(removed, extracted);

    // A release whose Burrito step did not run leaves the old file: refused.
    let old = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&output).unwrap().set_modified(old).unwrap();
    ctx.sh.set_var("BURRITO_DOUBLE_SKIP", "1");
    let e = format!("{:#}", backend::run(&ctx).err().expect("the backend step must fail"));
    assert!(e.contains("older than this build") && e.contains("hudson_linux"), "{e}");
    std::fs::remove_file(&output).unwrap();
    let e = format!("{:#}", backend::run(&ctx).err().expect("the backend step must fail"));
    assert!(e.contains("did not write") && e.contains("Burrito.wrap"), "{e}");
}
