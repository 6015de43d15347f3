//! Burrito packaging end to end with a test double of Burrito
//! (`xtask/tests/fixtures/burrito_test_double.exs`; Burrito itself cannot be
//! installed here; see `burrito_double.rs`): the real backend step runs `mix
//! release` of a copy of the reference backend whose release ends with the
//! double's wrap step, the sidecar step links `<sidecar>-<triple>`, the
//! backend starts through that link exactly as the shell starts a sidecar
//! (`LaunchSpec::for_sidecar`: contract env, handshake, health), and a stale
//! `burrito_out` file is refused. `cargo xtask e2e` starts the real shell on
//! the same fixture.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use hudson_lifecycle::{Backend, LaunchSpec};

use super::burrito_double::Fixture;
use crate::core::config::Config;
use crate::core::ui::{Format, Ui};
use crate::release::step1_backend as backend;

#[test]
fn burrito_sidecar_is_linked_started_by_contract_and_a_stale_output_is_refused() {
    let real = Config::load().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ui = Ui::new(Format::Text);
    // The real backend and sidecar steps, with the Burrito test double as the
    // release's wrap step; fingerprints and staged resources stay in `dir`.
    let fixture = Fixture::build(&real, dir.path(), &ui).unwrap();
    let config = &fixture.config;
    let ctx = fixture.ctx(&ui).unwrap();
    let output = config.backend_dir.join("burrito_out/hudson_linux");
    assert_eq!(backend::output(&ctx), output);
    assert!(output.is_file(), "the double wrote no burrito_out/hudson_linux");
    let link = config.shell_dir.join("binaries/hudson-backend-x86_64-unknown-linux-gnu");
    assert_eq!(fixture.sidecar_link(), link);
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_symlink(), "{} is not a symlink", link.display());
    assert_eq!(std::fs::canonicalize(&link).unwrap(), std::fs::canonicalize(&output).unwrap());
    let shell_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.shell_config()).unwrap()).unwrap();
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
        crate::platform::burrito::clear_extraction_cache_in(&install.join(".burrito"), "hudson", &config.version)
            .unwrap();
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
