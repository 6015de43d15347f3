//! `cargo xtask sign` on a real PE (built with zig for x86_64-windows-gnu),
//! Authenticode-signed with osslsigncode from a .pfx made here, and checked
//! by `osslsigncode verify`.

mod common;

use common::*;

#[test]
fn authenticode_signs_a_pe_that_osslsigncode_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("hudson-desktop.exe");
    zig_cc("x86_64-windows-gnu", MAIN_C, &exe, &[]);
    // OpenSSL 3's default .pfx format: its password is checked by the
    // signing tool itself.
    let cert = certificate(dir.path(), "windows", false);
    let pfx = base64_file(&cert.p12);
    let out = xtask(
        &["sign", "--target", "x86_64-pc-windows-msvc", "--timestamp-url", "none", exe.to_str().unwrap()],
        &[("WINDOWS_CERTIFICATE", &pfx), ("WINDOWS_CERTIFICATE_PASSWORD", &cert.password)],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains(&cert.password), "the password reached the output:\n{log}");

    let verify = std::process::Command::new("osslsigncode")
        .args(["verify", "-CAfile", cert.cert_pem.to_str().unwrap(), "-in", exe.to_str().unwrap()])
        .output()
        .expect("osslsigncode is needed: apt-get install osslsigncode (cargo xtask doctor --install)");
    let report = text(&verify);
    assert!(verify.status.success(), "osslsigncode verify rejected the signature:\n{report}");
    assert!(report.contains("Signature verification: ok"), "{report}");
    assert!(report.contains("Hudson Test windows"), "signed by another certificate:\n{report}");
}

#[test]
fn wrong_or_missing_windows_credentials_change_nothing_and_hide_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("hudson-desktop.exe");
    zig_cc("x86_64-windows-gnu", MAIN_C, &exe, &[]);
    let legacy = certificate(dir.path(), "legacy", true);
    let modern = certificate(dir.path(), "modern", false);
    let before = tree_digest(dir.path());
    let legacy_b64 = base64_file(&legacy.p12);
    let modern_b64 = base64_file(&modern.p12);
    let wrong = "wrong-password-S3CR3T";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "WINDOWS_CERTIFICATE is not set"),
        (vec![("WINDOWS_CERTIFICATE_PASSWORD", wrong)], "WINDOWS_CERTIFICATE is not set"),
        (
            vec![("WINDOWS_CERTIFICATE", &legacy_b64), ("WINDOWS_CERTIFICATE_PASSWORD", wrong)],
            "WINDOWS_CERTIFICATE_PASSWORD does not open",
        ),
        (
            vec![("WINDOWS_CERTIFICATE", &modern_b64), ("WINDOWS_CERTIFICATE_PASSWORD", wrong)],
            "WINDOWS_CERTIFICATE_PASSWORD may be wrong",
        ),
        (
            vec![("WINDOWS_CERTIFICATE", "%%%S3CR3T"), ("WINDOWS_CERTIFICATE_PASSWORD", wrong)],
            "WINDOWS_CERTIFICATE is not valid base64",
        ),
    ];
    for (env, expected) in cases {
        let out = xtask(
            &["sign", "--target", "x86_64-pc-windows-msvc", "--timestamp-url", "none", exe.to_str().unwrap()],
            &env,
        );
        let log = text(&out);
        assert!(!out.status.success(), "signing succeeded ({expected})");
        assert!(log.contains(expected), "expected `{expected}` in:\n{log}");
        assert!(!log.contains("S3CR3T"), "a credential's value reached the output:\n{log}");
        assert_eq!(before, tree_digest(dir.path()), "a failed sign changed files ({expected})");
    }
}
