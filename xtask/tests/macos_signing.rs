//! `cargo xtask sign` on real Mach-O files (built with zig for arm64 and
//! x86_64 macOS) laid out as a Hudson `.app` with a nested release directory
//! and a NIF library, signed with a self-signed certificate made here, and
//! checked with apple-codesign's own verifier and parsers.
// Needs the release tools (apple-codesign, zip, ring): `xtask-light` builds without them.
#![cfg(feature = "release-tools")]

mod common;

use std::path::{Path, PathBuf};

use apple_codesign::{CodeSignatureFlags, MachFile};
use common::*;

const LIB: &str = "int hudson_nif_init(void) { return 42; }\n";

/// `Hudson.app` with the shell, a sidecar, ERTS executables of two
/// architectures, a NIF dylib and plain files.
fn app(dir: &Path) -> PathBuf {
    let app = app_skeleton(dir);
    let c = app.join("Contents");
    std::fs::create_dir_all(c.join("Resources/backend/bin")).unwrap();
    let x86 = ["-Wl,-headerpad_max_install_names"];
    zig_cc("x86_64-macos", MAIN_C, &c.join("MacOS/hudson-backend"), &x86);
    zig_cc("aarch64-macos", MAIN_C, &c.join("Resources/backend/erts-13.2.2/bin/beam.smp"), &[]);
    zig_cc("x86_64-macos", MAIN_C, &c.join("Resources/backend/erts-13.2.2/bin/erl_child_setup"), &x86);
    zig_cc(
        "aarch64-macos",
        LIB,
        &c.join("Resources/backend/lib/hudson-0.1.0/priv/native/libhudson_nif.so"),
        &["-shared"],
    );
    std::fs::write(c.join("Resources/backend/bin/hudson"), "#!/bin/sh\nexec erts/bin/erl \"$@\"\n").unwrap();
    std::fs::create_dir_all(c.join("Resources/backend/releases/0.1.0")).unwrap();
    std::fs::write(c.join("Resources/backend/releases/0.1.0/start.boot"), b"boot data").unwrap();
    app
}

const NESTED_DEEPEST_FIRST: [&str; 5] = [
    "Contents/Resources/backend/lib/hudson-0.1.0/priv/native/libhudson_nif.so",
    "Contents/Resources/backend/erts-13.2.2/bin/beam.smp",
    "Contents/Resources/backend/erts-13.2.2/bin/erl_child_setup",
    "Contents/MacOS/hudson-backend",
    "Contents/MacOS/hudson-desktop",
];

#[test]
fn dry_run_lists_nested_code_deepest_first_then_the_bundle_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let before = tree_digest(&app);
    let out = xtask(
        &["sign", "--target", "aarch64-apple-darwin", "--dry-run", "--format", "json", app.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let order: Vec<String> =
        serde_json::from_value(report["signed"][0]["order"].clone()).expect("an order list in the JSON report");
    assert_eq!(&order[..4], &NESTED_DEEPEST_FIRST[..4]);
    assert_eq!(order.len(), 5, "{order:?}");
    assert!(order[4].starts_with("Hudson.app (bundle: Contents/MacOS/hudson-desktop"), "{order:?}");
    assert_eq!(before, tree_digest(&app), "a dry run changed files");
}

#[test]
fn signs_every_mach_o_with_hardened_runtime_and_entitlements_and_seals_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let cert = certificate(dir.path(), "apple", true);
    let p12 = base64_file(&cert.p12);
    let out = xtask(
        &["sign", "--target", "aarch64-apple-darwin", "--timestamp-url", "none", app.to_str().unwrap()],
        &[("APPLE_CERTIFICATE", &p12), ("APPLE_CERTIFICATE_PASSWORD", &cert.password)],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains(&cert.password) && !log.contains(&p12[..40]), "a secret reached the output:\n{log}");

    for rel in NESTED_DEEPEST_FIRST {
        let path = app.join(rel);
        let data = std::fs::read(&path).unwrap();
        let problems = apple_codesign::verify_macho_data(&data);
        assert!(problems.is_empty(), "{rel}: apple-codesign verification failed: {problems:?}");
        let mach = MachFile::parse(&data).unwrap();
        for macho in mach.iter_macho() {
            let signature = macho.code_signature().unwrap().unwrap_or_else(|| panic!("{rel} is not signed"));
            let cd = signature.code_directory().unwrap().expect("a code directory");
            assert!(cd.flags.contains(CodeSignatureFlags::RUNTIME), "{rel}: no hardened runtime ({:?})", cd.flags);
            assert!(!cd.flags.contains(CodeSignatureFlags::ADHOC), "{rel}: ad-hoc instead of the certificate");
            let entitlements = signature.entitlements().unwrap().unwrap_or_else(|| panic!("{rel}: no entitlements"));
            let xml = entitlements.as_str();
            assert!(xml.contains("com.apple.security.cs.allow-jit"), "{rel}: {xml}");
            assert!(
                !xml.contains("disable-library-validation"),
                "{rel}: a certificate signature must keep library validation"
            );
            assert!(signature.signature_data().unwrap().is_some(), "{rel}: no CMS signature");
        }
        assert_executable(&path);
    }

    // The bundle's seal lists every file but the main executable (sealed by
    // its own signature) and the seal itself.
    let seal = plist::Value::from_file(app.join("Contents/_CodeSignature/CodeResources")).unwrap();
    let files2 = seal.as_dictionary().unwrap()["files2"].as_dictionary().unwrap();
    let contents = app.join("Contents");
    for entry in walkdir::WalkDir::new(&contents) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(&contents).unwrap().to_string_lossy().into_owned();
        if rel == "MacOS/hudson-desktop" || rel.starts_with("_CodeSignature/") || rel == "Info.plist" {
            continue;
        }
        let key = rel.strip_prefix("Resources/").unwrap_or(&rel);
        assert!(
            files2.contains_key(&rel) || files2.contains_key(key),
            "CodeResources does not cover {rel}: {:?}",
            files2.keys().collect::<Vec<_>>()
        );
    }
    // A file changed after signing no longer matches its seal.
    let sealed = files2.get("Resources/hudson-shell.json").or_else(|| files2.get("hudson-shell.json")).unwrap();
    let hash2 = sealed.as_dictionary().unwrap()["hash2"].as_data().unwrap().to_vec();
    use sha2::Digest;
    let actual = sha2::Sha256::digest(std::fs::read(contents.join("Resources/hudson-shell.json")).unwrap());
    assert_eq!(hash2, actual.to_vec());
}

#[cfg(unix)]
fn assert_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert!(mode & 0o111 != 0 || path.extension().is_some_and(|e| e == "so"), "{} lost its mode", path.display());
}

#[cfg(not(unix))]
fn assert_executable(_: &Path) {}

#[test]
fn ad_hoc_signatures_turn_off_library_validation_only() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let out = xtask(&["sign", "--target", "x86_64-apple-darwin", "--ad-hoc", app.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let data = std::fs::read(app.join("Contents/Resources/backend/erts-13.2.2/bin/beam.smp")).unwrap();
    // Ad-hoc: digests only (an empty CMS blob); nothing else may be wrong.
    let problems = apple_codesign::verify_macho_data(&data);
    assert!(
        problems.iter().all(|p| matches!(
            p.problem,
            apple_codesign::VerificationProblemType::NoCryptographicSignature
                | apple_codesign::VerificationProblemType::CmsError(_)
        )),
        "{problems:?}"
    );
    let mach = MachFile::parse(&data).unwrap();
    let signature = mach.nth_macho(0).unwrap().code_signature().unwrap().unwrap();
    let cd = signature.code_directory().unwrap().unwrap();
    assert!(cd.flags.contains(CodeSignatureFlags::RUNTIME) && cd.flags.contains(CodeSignatureFlags::ADHOC));
    assert!(signature.entitlements().unwrap().unwrap().as_str().contains("disable-library-validation"));
}

#[test]
fn missing_or_wrong_credentials_fail_before_any_file_changes_and_hide_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let legacy = certificate(dir.path(), "legacy", true);
    let modern = certificate(dir.path(), "modern", false);
    let before = tree_digest(&app);
    let sign = |env: &[(&str, &str)]| {
        xtask(&["sign", "--target", "aarch64-apple-darwin", "--timestamp-url", "none", app.to_str().unwrap()], env)
    };
    let legacy_b64 = base64_file(&legacy.p12);
    let modern_b64 = base64_file(&modern.p12);
    let wrong = "wrong-password-S3CR3T";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "APPLE_CERTIFICATE is not set"),
        (vec![("APPLE_CERTIFICATE_PASSWORD", wrong)], "APPLE_CERTIFICATE is not set"),
        (
            vec![("APPLE_CERTIFICATE", &legacy_b64), ("APPLE_CERTIFICATE_PASSWORD", wrong)],
            "APPLE_CERTIFICATE_PASSWORD does not open",
        ),
        (
            vec![("APPLE_CERTIFICATE", "bm90IGEgcDEy S3CR3T!!"), ("APPLE_CERTIFICATE_PASSWORD", wrong)],
            "APPLE_CERTIFICATE is not valid base64",
        ),
        (
            vec![("APPLE_CERTIFICATE", "bm90IGEgcDEy"), ("APPLE_CERTIFICATE_PASSWORD", wrong)],
            "APPLE_CERTIFICATE does not hold a .p12",
        ),
        (vec![("APPLE_CERTIFICATE", &modern_b64), ("APPLE_CERTIFICATE_PASSWORD", &modern.password)], "-legacy"),
    ];
    for (env, expected) in cases {
        let out = sign(&env);
        let log = text(&out);
        assert!(!out.status.success(), "signing succeeded with {:?}", env.iter().map(|(k, _)| k).collect::<Vec<_>>());
        assert!(log.contains(expected), "expected `{expected}` in:\n{log}");
        for (_, value) in &env {
            assert!(!log.contains(value), "the value of a credential reached the output:\n{log}");
        }
        assert!(!log.contains("S3CR3T"), "{log}");
        assert_eq!(before, tree_digest(&app), "a failed sign changed files ({expected})");
    }
}
