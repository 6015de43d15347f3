//! Smoke must fail, at the right step, on a broken package; unpacking must
//! keep what a package holds and refuse what would escape its folder.
//!
//! The behavioural cases run the contract double (`doubles.rs`, a TEST
//! DOUBLE backend with one fault) packed into a real `.deb`. The NIF case
//! is built from the real package and is `#[ignore]`d because it needs
//! `cargo xtask dist` first; `cargo xtask test` runs it after dist with
//! `--ignored`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use signing::dist::ArtifactKind;

use super::doubles::{self, DoubleState, Fault, RawEntry};
use super::report::{Report, Status};
use super::unpack::{self, Tree};
use super::{Plan, smoke};

const VERSION: &str = "0.1.0";

fn plan(dist_dir: &Path, report_dir: &Path, timeout: Duration) -> Plan {
    Plan {
        target: crate::core::target::Target::host().unwrap(),
        dist_dir: dist_dir.to_path_buf(),
        report_dir: report_dir.to_path_buf(),
        shell_binary: "hudson-desktop".into(),
        nifs: vec!["hudson_nif".into()],
        timeout,
        shell: false,
        identifier: "dev.hudson.smoke-tests".into(),
        require_secure_storage: false,
        require_database: false,
    }
}

/// Smoke-tests a `.deb` whose backend is the contract double with `fault`.
fn smoke_double(fault: Fault, timeout: Duration) -> (Report, String, DoubleState, tempfile::TempDir) {
    smoke_packaged_double(fault, "release", timeout)
}

fn smoke_packaged_double(
    fault: Fault,
    packaging: &str,
    timeout: Duration,
) -> (Report, String, DoubleState, tempfile::TempDir) {
    assert!(
        crate::core::doctor::on_path("python3").is_some(),
        "the contract double is a Python script: install python3 (`apt-get install python3`)"
    );
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    let state =
        doubles::contract_double_tree(&tree, fault, packaging, VERSION, &["hudson_nif"], &work.path().join("state"));
    let dist = work.path().join("dist");
    fs::create_dir_all(&dist).unwrap();
    doubles::deb_from_tree(&tree, &dist.join("Hudson_0.1.0_amd64.deb"));
    doubles::dist_manifest(&dist, ArtifactKind::Deb, "Hudson_0.1.0_amd64.deb", "Hudson", VERSION, packaging);
    let mut text = String::new();
    let report = smoke(&plan(&dist, &work.path().join("report"), timeout), &mut |line| {
        text.push_str(line);
        text.push('\n');
    })
    .unwrap();
    (report, text, state, work)
}

fn status(report: &Report, step: &str) -> Status {
    report.packages[0].steps.iter().find(|s| s.name == step).unwrap_or_else(|| panic!("no step {step}")).status
}

fn first_failure(report: &Report) -> String {
    report.failures().first().cloned().unwrap_or_default()
}

/// Nothing the double ran as is alive.
fn assert_no_double_left(state: &DoubleState) {
    let pids = state.pids();
    assert!(!pids.is_empty(), "the double never ran");
    let alive: Vec<u32> = pids.into_iter().filter(|pid| super::procfs::alive(*pid)).collect();
    assert!(alive.is_empty(), "double processes left behind: {alive:?}");
}

#[test]
fn the_contract_double_passes_every_step() {
    // Without a fault the double passes, so each failure below comes from
    // its one fault.
    let (report, text, state, work) = smoke_double(Fault::None, Duration::from_secs(10));
    assert!(report.passed, "{text}");
    let steps: Vec<&str> = report.packages[0].steps.iter().map(|s| s.name).collect();
    assert_eq!(
        steps,
        [
            "package",
            "handshake",
            "healthz",
            "nifs",
            "host-guard",
            "session-guard",
            "secure-storage",
            "sqlite",
            "loopback-only",
            "stop-sigterm",
            "cleanup-sigterm",
            "restart",
            "sqlite-reopen",
            "stop-stdin",
            "cleanup-stdin"
        ]
    );
    assert_eq!(state.pids().len(), 2, "the backend runs twice");
    assert_no_double_left(&state);
    let on_disk: serde_json::Value =
        serde_json::from_slice(&fs::read(work.path().join("report/smoke-report.json")).unwrap()).unwrap();
    assert_eq!(on_disk["schema"], "hudson-smoke-report/1");
    assert_eq!(on_disk["passed"], true);
    assert_eq!(on_disk["packages"][0]["backend"], "/usr/lib/Hudson/backend/bin/hudson");
    assert!(text.lines().filter(|l| l.starts_with("PASS  deb")).count() == 12, "{text}");
    // The double has no storage test hook: skipped with the reason, not
    // passed (without the OS stores compiled in, skipped for that).
    let reason = if cfg!(feature = "secure-storage") { "no storage test hook" } else { "without the OS stores" };
    assert!(text.lines().any(|l| l.starts_with("SKIP  deb  secure-storage") && l.contains(reason)), "{text}");
    // Nor a local database: skipped with the reason, and so is the reopen.
    assert!(text.lines().any(|l| l.starts_with("SKIP  deb  sqlite ") && l.contains("no `database` check")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("SKIP  deb  sqlite-reopen")), "{text}");
}

/// Every key of `value`, nested ones too.
fn keys(value: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                out.insert(key.clone());
                keys(inner, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| keys(i, out)),
        _ => {}
    }
}

#[test]
fn the_readme_documents_every_report_field() {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/xtask.md")).unwrap();
    let schema =
        &readme[readme.find("### The report (`smoke-report.json`)").expect("docs/xtask.md has the report section")..];
    let outcome = super::report::Outcome::mismatch("d", "e", "s").with_output(vec!["x".into()]).with_file("f");
    let step = super::report::StepReport::new("nifs", Duration::ZERO, outcome, &Default::default());
    let report = Report {
        schema: super::report::SCHEMA,
        product: "p".into(),
        version: "v".into(),
        target: "t".into(),
        dist_dir: "d".into(),
        report_dir: "r".into(),
        passed: false,
        duration_ms: 1,
        packages: vec![super::report::PackageReport {
            kind: "deb".into(),
            path: "p".into(),
            sha256: "s".into(),
            packaging: Some("release".into()),
            backend: Some("b".into()),
            install_kind: Some("package".into()),
            steps: vec![step],
        }],
        not_tested: vec![super::report::NotTested { kind: "dmg".into(), path: "p".into(), reason: "r".into() }],
    };
    let mut found = std::collections::BTreeSet::new();
    keys(&serde_json::to_value(&report).unwrap(), &mut found);
    for key in found {
        assert!(
            [format!("`{key}`"), format!(".{key}`"), format!("`{key}[]`"), format!(".{key}[]`")]
                .iter()
                .any(|form| schema.contains(form.as_str())),
            "docs/xtask.md's report schema does not list `{key}`"
        );
    }
}

#[test]
fn a_portable_tree_is_unpacked_found_and_started_like_a_package() {
    // The contract double in the portable layout (`<top>/bin`,
    // `<top>/lib/Hudson`), archived by dist's own archiver.
    let work = tempfile::tempdir().unwrap();
    let scratch = work.path().join("scratch");
    let state = doubles::contract_double_tree(
        &scratch,
        Fault::None,
        "release",
        VERSION,
        &["hudson_nif"],
        &work.path().join("state"),
    );
    let top = work.path().join("stage/Hudson");
    fs::create_dir_all(top.parent().unwrap()).unwrap();
    fs::rename(scratch.join("usr"), &top).unwrap();
    let config_path = top.join("lib/Hudson").join(hudson_lifecycle::contract::SHELL_CONFIG_FILE);
    let mut config = hudson_lifecycle::contract::ShellConfig::from_slice(&fs::read(&config_path).unwrap()).unwrap();
    config.install_kind = Some(hudson_lifecycle::contract::InstallKind::Portable);
    fs::write(&config_path, config.to_pretty_json()).unwrap();
    let dist = work.path().join("dist");
    let name = format!("Hudson-{VERSION}-{}.tar.gz", crate::core::target::host_triple());
    crate::platform::archive::archive_dir(&top, &dist.join(&name), 1_750_000_000).unwrap();
    doubles::dist_manifest(&dist, ArtifactKind::Portable, &name, "Hudson", VERSION, "release");

    let mut text = String::new();
    let report = smoke(&plan(&dist, &work.path().join("report"), Duration::from_secs(10)), &mut |line| {
        text.push_str(line);
        text.push('\n');
    })
    .unwrap();
    assert!(report.passed, "{text}");
    let package = &report.packages[0];
    assert_eq!(package.kind, "portable");
    assert_eq!(package.install_kind.as_deref(), Some("portable"));
    assert_eq!(package.backend.as_deref(), Some("/Hudson/lib/Hudson/backend/bin/hudson"));
    assert_eq!(package.steps.len(), 15, "{text}");
    assert_no_double_left(&state);

    // The same tree saying it is a package is refused at the first step.
    config.install_kind = Some(hudson_lifecycle::contract::InstallKind::Package);
    fs::write(&config_path, config.to_pretty_json()).unwrap();
    crate::platform::archive::archive_dir(&top, &dist.join(&name), 1_750_000_000).unwrap();
    doubles::dist_manifest(&dist, ArtifactKind::Portable, &name, "Hudson", VERSION, "release");
    let report = smoke(&plan(&dist, &work.path().join("report"), Duration::from_secs(10)), &mut |_| {}).unwrap();
    assert_eq!(first_failure(&report), "portable/package");
    assert_eq!(status(&report, "handshake"), Status::Skipped);
}

#[test]
fn a_burrito_package_runs_its_sidecar_from_next_to_the_shell() {
    let (report, text, state, _work) = smoke_packaged_double(Fault::None, "burrito", Duration::from_secs(10));
    assert!(report.passed, "{text}");
    assert_eq!(report.packages[0].packaging.as_deref(), Some("burrito"));
    assert_eq!(report.packages[0].backend.as_deref(), Some("/usr/bin/hudson-backend"));
    assert_no_double_left(&state);
}

#[test]
fn a_backend_that_never_hands_shake_fails_at_the_timeout() {
    let timeout = Duration::from_secs(2);
    let (report, text, state, _work) = smoke_double(Fault::NoHandshake, timeout);
    assert!(!report.passed);
    assert_eq!(first_failure(&report), "deb/handshake", "{text}");
    let handshake = report.packages[0].steps.iter().find(|s| s.name == "handshake").unwrap();
    assert!(
        // The timeout plus stopping the double, with room for a loaded machine.
        (2000..4500).contains(&handshake.duration_ms),
        "failed after {} ms, not at the 2 s timeout",
        handshake.duration_ms
    );
    assert!(handshake.detail.contains("no handshake within the timeout (2s)"), "{text}");
    // The token of a failed start is unknown to smoke, yet never shown.
    assert!(handshake.backend_output.iter().any(|l| l == "double: starting with token <redacted>"), "{text}");
    assert_eq!(state.token().len(), 64);
    assert!(!text.contains(&state.token()), "the token leaked:\n{text}");
    for later in ["healthz", "nifs", "loopback-only", "stop-sigterm", "restart", "stop-stdin"] {
        assert_eq!(status(&report, later), Status::Skipped, "{later}");
    }
    assert_eq!(status(&report, "cleanup-sigterm"), Status::Pass, "{text}");
    assert!(report.duration_ms < 8000, "the whole run took {} ms", report.duration_ms);
    assert_no_double_left(&state);
}

#[test]
fn a_handshake_with_another_token_fails_at_handshake() {
    let (report, text, state, _work) = smoke_double(Fault::WrongToken, Duration::from_secs(10));
    assert_eq!(report.failures(), ["deb/handshake", "deb/restart"], "{text}");
    let step = report.packages[0].steps.iter().find(|s| s.name == "handshake").unwrap();
    assert!(step.detail.contains("no handshake file arrived, only the `PORT:"), "{text}");
    assert!(step.detail.contains("does not carry this launch's token"), "{text}");
    assert_no_double_left(&state);
}

#[test]
fn a_backend_listening_on_every_interface_fails_loopback_only_and_its_token_is_never_shown() {
    let (report, text, state, work) = smoke_double(Fault::AnyAddress, Duration::from_secs(10));
    assert_eq!(first_failure(&report), "deb/loopback-only", "{text}");
    assert_eq!(report.failures().len(), 1, "{text}");
    let step = report.packages[0].steps.iter().find(|s| s.name == "loopback-only").unwrap();
    assert!(step.seen.as_deref().unwrap().contains("tcp 0.0.0.0:"), "{text}");
    assert!(step.expected.as_deref().unwrap().starts_with("only tcp 127.0.0.1:"), "{text}");
    // The double printed its token; the failure shows that line redacted.
    assert!(step.backend_output.iter().any(|l| l == "double: starting with token <redacted>"), "{text}");
    let token = state.token();
    assert_eq!(token.len(), 64);
    let json = fs::read_to_string(work.path().join("report/smoke-report.json")).unwrap();
    assert!(!text.contains(&token) && !json.contains(&token), "the token leaked:\n{text}");
    assert_no_double_left(&state);
}

#[test]
fn a_backend_that_ignores_sigterm_fails_and_is_killed_leaving_nothing() {
    let (report, text, state, _work) = smoke_double(Fault::IgnoreSigterm, Duration::from_secs(10));
    assert_eq!(report.failures(), ["deb/stop-sigterm"], "{text}");
    let step = report.packages[0].steps.iter().find(|s| s.name == "stop-sigterm").unwrap();
    assert!(step.detail.contains("still running 5s after SIGTERM"), "{text}");
    assert_eq!(step.expected.as_deref(), Some("exit code 0 within 5s"));
    let cleanup = report.packages[0].steps.iter().find(|s| s.name == "cleanup-sigterm").unwrap();
    assert_eq!(cleanup.status, Status::Pass, "{text}");
    assert!(cleanup.detail.contains("after smoke killed the process group"), "{text}");
    // The second run stops by stdin, which the double honours.
    assert_eq!(status(&report, "stop-stdin"), Status::Pass, "{text}");
    assert_no_double_left(&state);
}

#[test]
fn a_package_other_than_the_manifest_lists_fails_at_package() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    doubles::contract_double_tree(&tree, Fault::None, "release", VERSION, &["hudson_nif"], &work.path().join("state"));
    let dist = work.path().join("dist");
    fs::create_dir_all(&dist).unwrap();
    doubles::deb_from_tree(&tree, &dist.join("Hudson_0.1.0_amd64.deb"));
    doubles::dist_manifest(&dist, ArtifactKind::Deb, "Hudson_0.1.0_amd64.deb", "Hudson", VERSION, "release");
    fs::OpenOptions::new().append(true).open(dist.join("Hudson_0.1.0_amd64.deb")).unwrap().set_len(100).unwrap();
    let report = smoke(&plan(&dist, &work.path().join("report"), Duration::from_secs(5)), &mut |_| {}).unwrap();
    assert_eq!(report.failures(), ["deb/package"]);
    let step = &report.packages[0].steps[0];
    assert!(step.detail.contains("is not the file dist-manifest.json lists"), "{}", step.detail);
    assert!(report.packages[0].steps[1..].iter().all(|s| s.status == Status::Skipped));
    assert!(state_is_empty(&work.path().join("state")), "the backend of a mismatched package must not run");

    // A package that is a symlink to /dev/zero is refused without reading it.
    fs::remove_file(dist.join("Hudson_0.1.0_amd64.deb")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dist.join("Hudson_0.1.0_amd64.deb")).unwrap();
    let report = smoke(&plan(&dist, &work.path().join("report"), Duration::from_secs(5)), &mut |_| {}).unwrap();
    assert_eq!(report.failures(), ["deb/package"]);
    let step = &report.packages[0].steps[0];
    assert!(step.detail.contains("Hudson_0.1.0_amd64.deb is a symlink"), "{}", step.detail);
}

#[test]
fn a_package_whose_version_file_is_not_the_manifests_fails_at_package() {
    use hudson_lifecycle::contract::VERSION_FILE;
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    doubles::contract_double_tree(&tree, Fault::None, "release", VERSION, &["hudson_nif"], &work.path().join("state"));
    let version_file = tree.join("usr/lib/Hudson").join(VERSION_FILE);
    let dist = work.path().join("dist");
    fs::create_dir_all(&dist).unwrap();
    let mismatch = format!("{VERSION_FILE} says 0.0.9, dist-manifest.json says {VERSION}");
    let missing = "app version cannot be read (the shell would run as version unknown)".to_owned();
    for (contents, expected) in [(Some(r#"{"version":"0.0.9"}"#), mismatch), (None, missing)] {
        match contents {
            Some(text) => fs::write(&version_file, text).unwrap(),
            None => fs::remove_file(&version_file).unwrap(),
        }
        doubles::deb_from_tree(&tree, &dist.join("Hudson_0.1.0_amd64.deb"));
        doubles::dist_manifest(&dist, ArtifactKind::Deb, "Hudson_0.1.0_amd64.deb", "Hudson", VERSION, "release");
        let report = smoke(&plan(&dist, &work.path().join("report"), Duration::from_secs(5)), &mut |_| {}).unwrap();
        assert_eq!(report.failures(), ["deb/package"]);
        let detail = &report.packages[0].steps[0].detail;
        assert!(detail.contains(&expected) && detail.contains(VERSION_FILE), "{detail}");
        assert!(state_is_empty(&work.path().join("state")), "the backend of a mislabelled package must not run");
    }
}

fn state_is_empty(dir: &Path) -> bool {
    fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true)
}

#[test]
fn no_manifest_says_run_dist_first() {
    let work = tempfile::tempdir().unwrap();
    let e = smoke(&plan(work.path(), &work.path().join("r"), Duration::from_secs(1)), &mut |_| {}).unwrap_err();
    assert!(format!("{e:#}").contains("run `cargo xtask dist` first"), "{e:#}");
}

// ---- unpacking ----

#[test]
fn a_deb_unpacks_with_modes_and_symlinks() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    doubles::executable(&tree.join("usr/bin/tool"), "#!/bin/sh\n");
    fs::create_dir_all(tree.join("usr/share/doc")).unwrap();
    fs::write(tree.join("usr/share/doc/readme"), "hello").unwrap();
    fs::set_permissions(tree.join("usr/share/doc/readme"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("../bin/tool", tree.join("usr/share/tool-link")).unwrap();
    let deb = work.path().join("p.deb");
    doubles::deb_from_tree(&tree, &deb);
    let into = work.path().join("into");
    fs::create_dir(&into).unwrap();
    let stats = unpack::unpack(ArtifactKind::Deb, &deb, &into).unwrap();
    assert_eq!(stats.bytes, 15);
    let mode = |p: &str| fs::symlink_metadata(into.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("usr/bin/tool"), 0o755);
    assert_eq!(mode("usr/share/doc/readme"), 0o600);
    assert_eq!(fs::read_link(into.join("usr/share/tool-link")).unwrap(), Path::new("../bin/tool"));
    assert_eq!(fs::read_to_string(into.join("usr/share/tool-link")).unwrap(), "#!/bin/sh\n");
}

#[test]
fn an_rpm_unpacks_with_modes_and_symlinks() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("tool");
    fs::write(&source, "#!/bin/sh\necho hi\n").unwrap();
    let package = rpm::PackageBuilder::new("double", "0.1.0", "MIT", "x86_64", "test double")
        .compression(rpm::CompressionType::Gzip)
        .with_file(&source, rpm::FileOptions::new("/usr/bin/tool").mode(0o100755))
        .unwrap()
        .with_file(&source, rpm::FileOptions::new("/usr/lib/Hudson/private").mode(0o100600))
        .unwrap()
        .with_file(&source, rpm::FileOptions::new("/usr/lib/Hudson/tool").symlink("../../bin/tool").mode(0o120777))
        .unwrap()
        .build()
        .unwrap();
    let path = work.path().join("p.rpm");
    package.write_file(&path).unwrap();
    let into = work.path().join("into");
    fs::create_dir(&into).unwrap();
    unpack::unpack(ArtifactKind::Rpm, &path, &into).unwrap();
    let mode = |p: &str| fs::symlink_metadata(into.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("usr/bin/tool"), 0o755);
    assert_eq!(mode("usr/lib/Hudson/private"), 0o600);
    assert_eq!(fs::read_link(into.join("usr/lib/Hudson/tool")).unwrap(), Path::new("../../bin/tool"));
    assert_eq!(fs::read_to_string(into.join("usr/bin/tool")).unwrap(), "#!/bin/sh\necho hi\n");
}

/// Unpacks a raw tar into `base/into`; returns the error text and whether
/// anything appeared in `base` besides `into`.
fn unpack_malicious(entries: &[RawEntry<'_>], base: &Path) -> (String, bool) {
    let into = base.join("into");
    fs::create_dir_all(&into).unwrap();
    let deb = base.join("evil.deb");
    doubles::deb_from_data(doubles::raw_tar_gz(entries), &deb);
    let e = format!("{:#}", unpack::unpack(ArtifactKind::Deb, &deb, &into).unwrap_err());
    let outside = fs::read_dir(base).unwrap().flatten().any(|e| e.file_name() != "into" && e.file_name() != "evil.deb");
    (e, outside)
}

#[test]
fn a_malicious_package_cannot_write_outside_its_folder() {
    let case = || tempfile::tempdir().unwrap();

    let base = case();
    let (e, outside) =
        unpack_malicious(&[RawEntry::Dir("usr/"), RawEntry::File("../escaped", 0o644, b"x")], base.path());
    assert!(e.contains("entry `../escaped` contains `..`"), "{e}");
    assert!(!outside);

    let base = case();
    let absolute = format!("{}/escaped-abs", base.path().display());
    let (e, outside) = unpack_malicious(&[RawEntry::File(&absolute, 0o644, b"x")], base.path());
    assert!(e.contains("has an absolute path"), "{e}");
    assert!(!outside && !Path::new(&absolute).exists());

    let base = case();
    let up = base.path().display().to_string();
    let (e, outside) = unpack_malicious(
        &[RawEntry::Symlink("usr", &up), RawEntry::File("usr/escaped-link", 0o644, b"x")],
        base.path(),
    );
    assert!(e.contains("would go through the symbolic link `usr`"), "{e}");
    assert!(!outside && !base.path().join("escaped-link").exists());

    let base = case();
    let (e, _) = unpack_malicious(&[RawEntry::Fifo("usr/pipe")], base.path());
    assert!(e.contains("a package holds only files, folders and links"), "{e}");
}

#[test]
fn a_malicious_cpio_cannot_write_outside_its_folder() {
    let work = tempfile::tempdir().unwrap();
    let into = work.path().join("into");
    fs::create_dir(&into).unwrap();
    let mut cpio = Vec::new();
    let writer = cpio::newc::Builder::new("./../escaped").mode(0o100644).write(&mut cpio, 1);
    let mut writer = writer;
    std::io::Write::write_all(&mut writer, b"x").unwrap();
    writer.finish().unwrap();
    cpio::newc::trailer(&mut cpio).unwrap();
    let mut tree = Tree::new(&into, u64::MAX);
    let e = format!("{:#}", unpack::unpack_cpio(&cpio[..], &mut tree, &Default::default()).unwrap_err());
    assert!(e.contains("contains `..`"), "{e}");
    assert!(!work.path().join("escaped").exists());
}

/// A `.deb` whose `data.tar.zst` holds `usr/lib/zeros`: `len` zero bytes.
fn zstd_bomb(len: u64, out: &Path) {
    use std::io::Read as _;
    let mut tar = tar::Builder::new(zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap());
    let mut header = tar::Header::new_gnu();
    header.set_size(len);
    header.set_mode(0o644);
    tar.append_data(&mut header, "usr/lib/zeros", std::io::repeat(0).take(len)).unwrap();
    let data = tar.into_inner().unwrap().finish().unwrap();
    let mut deb = ar::Builder::new(fs::File::create(out).unwrap());
    for (name, bytes) in [("debian-binary", b"2.0\n".to_vec()), ("data.tar.zst", data)] {
        deb.append(&ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64), &bytes[..]).unwrap();
    }
}

/// Bytes of every regular file under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let meta = fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() { bytes_under(&e.path()) } else { meta.len() }
        })
        .sum()
}

#[test]
fn a_compression_bomb_is_refused_before_it_is_written() {
    let work = tempfile::tempdir().unwrap();
    let deb = work.path().join("bomb.deb");
    // 1 GiB of zeros: a few dozen KiB packed, 16 times the least cap.
    zstd_bomb(1 << 30, &deb);
    let packed = fs::metadata(&deb).unwrap().len();
    assert!(packed < 1 << 20, "the bomb is {packed} bytes");
    let into = work.path().join("into");
    fs::create_dir(&into).unwrap();
    let e = format!("{:#}", unpack::unpack(ArtifactKind::Deb, &deb, &into).unwrap_err());
    assert!(e.contains("entry `usr/lib/zeros` declares 1073741824 bytes") && e.contains("compression bomb"), "{e}");
    assert_eq!(bytes_under(&into), 0, "nothing of the bomb may be written");
}

#[test]
fn data_running_past_its_declared_size_stops_at_the_cap() {
    use std::io::Read as _;
    let work = tempfile::tempdir().unwrap();
    let into = work.path().join("into");
    fs::create_dir(&into).unwrap();
    let mut tree = Tree::new(&into, 1000);
    tree.file(b"usr/small", 0o644, Some(600), &mut std::io::repeat(1).take(600)).unwrap();
    // A reader whose header lied: it declares 100 bytes and never ends.
    let e = format!("{:#}", tree.file(b"usr/endless", 0o644, Some(100), &mut std::io::repeat(2)).unwrap_err());
    assert!(e.contains("entry `usr/endless` runs past the package's cap of 1000 bytes"), "{e}");
    assert_eq!(bytes_under(&into), 600, "the cut-off file is removed");
    let e = format!("{:#}", tree.file(b"usr/big", 0o644, Some(401), &mut std::io::empty()).unwrap_err());
    assert!(e.contains("entry `usr/big` declares 401 bytes, but only 400"), "{e}");
    assert!(!into.join("usr/big").exists());
}

// ---- on the real package (after `cargo xtask dist`) ----

/// The real host package of `kind` from `target/dist`, or a failure that
/// says how to make it.
fn real_package(kind: ArtifactKind) -> (std::path::PathBuf, signing::dist::DistManifest, String) {
    let config = crate::core::config::Config::load().unwrap();
    let dist = config.dist_dir(crate::core::target::Target::host().unwrap());
    let manifest_path = dist.join(signing::dist::DIST_MANIFEST_FILE);
    let bytes = fs::read(&manifest_path)
        .unwrap_or_else(|_| panic!("no {}: run `cargo xtask dist` first", manifest_path.display()));
    let manifest = signing::dist::DistManifest::from_json(&bytes).unwrap();
    let artifact = manifest.artifacts.iter().find(|a| a.kind == kind).unwrap_or_else(|| {
        panic!("{} lists no {} package: run `cargo xtask dist` first", manifest_path.display(), kind.as_str())
    });
    let path = artifact.path.clone();
    (dist, manifest, path)
}

/// TEST DOUBLE: the real deb, unpacked, its one NIF library handed to
/// `edit`, packed again; then smoked. Returns the report and its text.
fn smoke_real_deb_with_nif(edit: impl FnOnce(&Path)) -> (Report, String) {
    let (dist, manifest, deb) = real_package(ArtifactKind::Deb);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    fs::create_dir(&tree).unwrap();
    unpack::unpack(ArtifactKind::Deb, &dist.join(&deb), &tree).unwrap();
    let nifs: Vec<_> = walkdir::WalkDir::new(&tree)
        .into_iter()
        .flatten()
        .filter(|e| e.path().components().any(|c| c.as_os_str() == "native") && e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    assert_eq!(nifs.len(), 1, "expected the one NIF library under priv/native: {nifs:?}");
    edit(&nifs[0]);
    let broken = work.path().join("dist");
    fs::create_dir(&broken).unwrap();
    doubles::deb_from_tree(&tree, &broken.join(&deb));
    doubles::dist_manifest(&broken, ArtifactKind::Deb, &deb, &manifest.product, &manifest.version, &manifest.packaging);

    let mut text = String::new();
    let mut plan = plan(&broken, &work.path().join("report"), Duration::from_secs(30));
    plan.require_database = true;
    let report = smoke(&plan, &mut |line| {
        text.push_str(line);
        text.push('\n');
    })
    .unwrap();
    eprintln!("{text}");
    (report, text)
}

#[test]
#[ignore = "needs `cargo xtask dist` first; `cargo xtask test` runs it after dist"]
fn real_package_test_double_without_its_nif_fails_at_nifs() {
    let (report, text) = smoke_real_deb_with_nif(|nif| fs::remove_file(nif).unwrap());
    assert_eq!(first_failure(&report), "deb/nifs", "{text}");
    assert_eq!(status(&report, "handshake"), Status::Pass, "{text}");
    assert_eq!(status(&report, "healthz"), Status::Pass, "{text}");
    let step = report.packages[0].steps.iter().find(|s| s.name == "nifs").unwrap();
    assert_eq!(step.expected.as_deref(), Some("hudson_nif: ok"));
    assert!(step.seen.as_deref().is_some_and(|s| s.starts_with("hudson_nif: ") && s != "hudson_nif: ok"), "{text}");
    // The stop and cleanup checks still run: a damaged backend must stop too.
    assert_eq!(status(&report, "stop-sigterm"), Status::Pass, "{text}");
    assert_eq!(status(&report, "cleanup-stdin"), Status::Pass, "{text}");
}

/// The NIF built without its `sqlite` feature, in a target folder of its
/// own (kept between runs), for the host.
fn nif_without_sqlite() -> std::path::PathBuf {
    let config = crate::core::config::Config::load().unwrap();
    let target_dir = config.target_dir.join("smoke-nif-without-sqlite");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(&config.workspace_root)
        .args(["build", "--release", "--quiet", "-p", "hudson_nif", "--no-default-features", "--target-dir"])
        .arg(&target_dir)
        .status()
        .unwrap();
    assert!(status.success(), "building hudson_nif without its sqlite feature failed");
    let name = if cfg!(target_os = "macos") { "libhudson_nif.dylib" } else { "libhudson_nif.so" };
    target_dir.join("release").join(name)
}

#[test]
#[ignore = "needs `cargo xtask dist` first; `cargo xtask test` runs it after dist"]
fn real_package_test_double_with_a_nif_without_sqlite_fails_at_sqlite() {
    let without = nif_without_sqlite();
    let (report, text) = smoke_real_deb_with_nif(|nif| {
        fs::copy(&without, nif).unwrap();
    });
    // The library loads (its other functions work), so the NIF step passes
    // and the failure is the database's, with the reason.
    assert_eq!(status(&report, "nifs"), Status::Pass, "{text}");
    assert_eq!(status(&report, "session-guard"), Status::Pass, "{text}");
    assert_eq!(first_failure(&report), "deb/sqlite", "{text}");
    let step = report.packages[0].steps.iter().find(|s| s.name == "sqlite").unwrap();
    assert_eq!(step.detail, "the database did not open or migrate", "{text}");
    assert!(step.seen.as_deref().is_some_and(|s| s.contains("no SQLite")), "{text}");
    assert_eq!(status(&report, "sqlite-reopen"), Status::Skipped, "{text}");
    assert_eq!(status(&report, "cleanup-stdin"), Status::Pass, "{text}");
}

#[test]
#[ignore = "needs `cargo xtask dist` first; `cargo xtask test` runs it after dist"]
fn real_rpm_and_deb_unpack_to_the_same_tree() {
    // The two packages carry the same files with the same modes: the
    // unpackers agree with each other on real output of tauri-bundler.
    let (dist, _, deb) = real_package(ArtifactKind::Deb);
    let (_, _, rpm) = real_package(ArtifactKind::Rpm);
    let work = tempfile::tempdir().unwrap();
    let listing = |kind, file: &str, into: &Path| {
        fs::create_dir(into).unwrap();
        unpack::unpack(kind, &dist.join(file), into).unwrap();
        let mut files: Vec<(String, u32, u64)> = walkdir::WalkDir::new(into.join("usr/lib"))
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let meta = e.metadata().unwrap();
                (
                    e.path().strip_prefix(into).unwrap().display().to_string(),
                    meta.permissions().mode() & 0o111,
                    meta.len(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let from_deb = listing(ArtifactKind::Deb, &deb, &work.path().join("deb"));
    let from_rpm = listing(ArtifactKind::Rpm, &rpm, &work.path().join("rpm"));
    assert!(from_deb.len() > 100, "{} files", from_deb.len());
    assert_eq!(from_deb, from_rpm);
    assert!(from_deb.iter().any(|(p, x, _)| p.ends_with("backend/bin/hudson") && *x != 0));
}

#[test]
#[ignore = "needs `cargo xtask dist` first; `cargo xtask test` runs it after dist"]
fn real_portable_tree_holds_the_deb_tree_with_its_own_install_kind() {
    // The portable tree is what the deb installs, moved under one folder:
    // the same resources (but the install kind), and a shell of the same
    // size (tauri-bundler patches the deb's copy in place).
    let (dist, _, deb) = real_package(ArtifactKind::Deb);
    let (_, _, portable) = real_package(ArtifactKind::Portable);
    let work = tempfile::tempdir().unwrap();
    let listing = |root: &Path| {
        let mut files: Vec<(String, u32, u64)> = walkdir::WalkDir::new(root)
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let meta = e.metadata().unwrap();
                let path = e.path().strip_prefix(root).unwrap().display().to_string();
                let size = if path == hudson_lifecycle::contract::SHELL_CONFIG_FILE { 0 } else { meta.len() };
                (path, meta.permissions().mode() & 0o111, size)
            })
            .collect();
        files.sort();
        files
    };
    let (from_deb, from_tree) = (work.path().join("deb"), work.path().join("portable"));
    for (kind, file, into) in [(ArtifactKind::Deb, &deb, &from_deb), (ArtifactKind::Portable, &portable, &from_tree)] {
        fs::create_dir(into).unwrap();
        unpack::unpack(kind, &dist.join(file), into).unwrap();
    }
    let (deb_resources, tree_resources) = (from_deb.join("usr/lib/Hudson"), from_tree.join("Hudson/lib/Hudson"));
    assert_eq!(listing(&deb_resources), listing(&tree_resources));
    let kind = |dir: &Path| {
        let bytes = fs::read(dir.join(hudson_lifecycle::contract::SHELL_CONFIG_FILE)).unwrap();
        hudson_lifecycle::contract::ShellConfig::from_slice(&bytes).unwrap().install_kind
    };
    assert_eq!(kind(&deb_resources), Some(hudson_lifecycle::contract::InstallKind::Package));
    assert_eq!(kind(&tree_resources), Some(hudson_lifecycle::contract::InstallKind::Portable));
    let shell = |path: &Path| fs::metadata(path).unwrap();
    let (deb_shell, tree_shell) =
        (shell(&from_deb.join("usr/bin/hudson-desktop")), shell(&from_tree.join("Hudson/bin/hudson-desktop")));
    assert_eq!(deb_shell.len(), tree_shell.len());
    assert_eq!(tree_shell.permissions().mode() & 0o777, 0o755);
    assert!(from_tree.join("Hudson/icons/128x128.png").is_file());
}
