//! Shared helpers of the signing tests: real tools only (zig from PyPI
//! `ziglang` to build Mach-O and PE files, `openssl` for certificates), and
//! the `cargo xtask` binary itself.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (tests run with the package folder as cwd).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs `cargo xtask <args>` (the binary under test) with `env` on top of a
/// copy of the environment from which every signing variable is removed.
pub fn xtask(args: &[&str], env: &[(&str, &str)]) -> Output {
    xtask_command(args, env).output().expect("running the xtask binary")
}

/// The command [`xtask`] runs, for a test that needs the child's pid.
pub fn xtask_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(args).current_dir(workspace());
    for var in [
        "APPLE_CERTIFICATE",
        "APPLE_CERTIFICATE_PASSWORD",
        "APPLE_API_ISSUER",
        "APPLE_API_KEY_ID",
        "APPLE_API_KEY",
        "WINDOWS_CERTIFICATE",
        "WINDOWS_CERTIFICATE_PASSWORD",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command
}

pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Compiles C with zig for `target` (e.g. `aarch64-macos`).
pub fn zig_cc(target: &str, source: &str, out: &Path, extra: &[&str]) {
    let dir = out.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let src = dir.join(format!(".{}.c", out.file_name().unwrap().to_string_lossy()));
    std::fs::write(&src, source).unwrap();
    let status = Command::new("python3")
        .args(["-m", "ziglang", "cc", "-target", target])
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(&src)
        .status()
        .expect("python3 is needed");
    assert!(
        status.success(),
        "zig could not build {} for {target}: install it with `python3 -m pip install ziglang==0.15.2` (or `cargo xtask doctor --install`)",
        out.display()
    );
    std::fs::remove_file(&src).unwrap();
    // zig leaves debug files next to Windows outputs.
    let _ = std::fs::remove_file(out.with_extension("pdb"));
}

pub fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("`{program}` is needed ({e}); run `cargo xtask doctor --install`"));
    assert!(output.status.success(), "{program} {args:?} failed:\n{}", text(&output));
    output
}

/// A self-signed code-signing certificate and its key as PEM files, plus a
/// `.p12`/`.pfx` of both (`legacy`: the SHA-1/3DES format Keychain and
/// Windows export; otherwise OpenSSL 3's default).
pub struct TestCertificate {
    pub cert_pem: PathBuf,
    pub p12: PathBuf,
    pub password: String,
}

pub fn certificate(dir: &Path, name: &str, legacy: bool) -> TestCertificate {
    let key = dir.join(format!("{name}.key.pem"));
    let cert = dir.join(format!("{name}.cert.pem"));
    let p12 = dir.join(format!("{name}.p12"));
    let password = format!("pw-{name}-{}", std::process::id());
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &format!("/CN=Hudson Test {name}/O=Hudson Tests/C=US"),
            "-addext",
            "extendedKeyUsage=codeSigning",
            "-addext",
            "keyUsage=critical,digitalSignature",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
        &[],
    );
    let mut args = vec!["pkcs12", "-export"];
    if legacy {
        args.push("-legacy");
    }
    args.extend([
        "-inkey",
        key.to_str().unwrap(),
        "-in",
        cert.to_str().unwrap(),
        "-out",
        p12.to_str().unwrap(),
        "-passout",
        "env:TEST_P12_PASSWORD",
    ]);
    run("openssl", &args, &[("TEST_P12_PASSWORD", &password)]);
    TestCertificate { cert_pem: cert, p12, password }
}

pub fn base64_file(path: &Path) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
}

/// The C source of an executable that does nothing.
pub const MAIN_C: &str = "int main(void) { return 0; }\n";

/// The `Info.plist` of the test apps.
pub const INFO_PLIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>CFBundleExecutable</key><string>hudson-desktop</string>
<key>CFBundleIdentifier</key><string>dev.hudson.desktop</string>
<key>CFBundleName</key><string>Hudson</string>
<key>CFBundlePackageType</key><string>APPL</string>
<key>CFBundleShortVersionString</key><string>0.1.0</string>
<key>CFBundleVersion</key><string>0.1.0</string>
</dict></plist>
"#;

/// `dir/Hudson.app` with what every test app has: the Info.plist, an arm64
/// main executable `hudson-desktop` and `Resources/hudson-shell.json`.
pub fn app_skeleton(dir: &Path) -> PathBuf {
    let app = dir.join("Hudson.app");
    let contents = app.join("Contents");
    std::fs::create_dir_all(contents.join("Resources")).unwrap();
    std::fs::write(contents.join("Info.plist"), INFO_PLIST).unwrap();
    zig_cc("aarch64-macos", MAIN_C, &contents.join("MacOS/hudson-desktop"), &[]);
    std::fs::write(contents.join("Resources/hudson-shell.json"), b"{\"packaging\":\"release\"}").unwrap();
    app
}

/// SHA-256 of every file under `dir` (path → digest), to prove nothing
/// changed.
pub fn tree_digest(dir: &Path) -> Vec<(String, String)> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let digest = Sha256::digest(std::fs::read(entry.path()).unwrap());
            out.push((entry.path().display().to_string(), hex::encode(digest)));
        }
    }
    out
}
