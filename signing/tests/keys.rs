//! Keys in the formats `tauri signer generate` and `minisign -G` write, loaded
//! the ways `TAURI_SIGNING_PRIVATE_KEY` allows, and never leaking a secret.

mod common;

use std::fs;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use signing::artifact;
use signing::keys::{KeyError, KeyPair, KeyProtection, KeySource, Password, PublicKey, SecretKey};

/// What `tauri signer generate -p PASSWORD` writes, made with the `minisign`
/// crate the way tauri-cli's `generate_key` does (not with this crate's code).
fn tauri_signer_generate(password: &str) -> (String, String) {
    let minisign::KeyPair { pk, sk } =
        minisign::KeyPair::generate_encrypted_keypair(Some(password.to_owned())).unwrap();
    let public = BASE64.encode(pk.to_box().unwrap().to_string());
    let secret = BASE64.encode(sk.to_box(None).unwrap().to_string());
    (secret, public)
}

/// Signs a small artifact and checks it verifies with `public` the way
/// tauri-plugin-updater checks it.
fn signs_for(key: &SecretKey, public_tauri_base64: &str) {
    let bytes = b"an update".to_vec();
    let signed = artifact::sign_artifact(&bytes[..], "app.tar.gz", &version("1.0.0"), TIMESTAMP, key).unwrap();
    let public = String::from_utf8(BASE64.decode(public_tauri_base64).unwrap()).unwrap();
    let public = minisign_verify::PublicKey::decode(&public).unwrap();
    let signature = String::from_utf8(BASE64.decode(signed.tauri_signature()).unwrap()).unwrap();
    let signature = minisign_verify::Signature::decode(&signature).unwrap();
    public.verify(&bytes, &signature, true).unwrap();
}

#[test]
fn a_tauri_signer_key_in_the_env_value_signs() {
    let (secret, public) = tauri_signer_generate(PASSWORD);
    let key = SecretKey::from_env_value(&secret, Some(PASSWORD)).unwrap();
    assert_eq!(key.key_id(), PublicKey::parse(&public).unwrap().key_id());
    signs_for(&key, &public);
}

#[test]
fn a_tauri_signer_key_file_named_by_the_env_value_signs() {
    let (secret, public) = tauri_signer_generate(PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hudson.key");
    fs::write(&path, &secret).unwrap();
    let key = SecretKey::from_env_value(path.to_str().unwrap(), Some(PASSWORD)).unwrap();
    signs_for(&key, &public);
    let key = SecretKey::from_file(&path, Some(PASSWORD)).unwrap();
    signs_for(&key, &public);
}

#[test]
fn raw_minisign_text_is_read_too() {
    let pair = KeyPair::generate(KeyProtection::Password(Password::new(PASSWORD))).unwrap();
    let text = pair.secret_key_minisign_text().expose_secret();
    let key = SecretKey::from_env_value(text, Some(PASSWORD)).unwrap();
    assert_eq!(key.public_key(), pair.public_key());
}

#[test]
fn from_env_reads_both_variables_through_the_lookup() {
    let (secret, public) = tauri_signer_generate(PASSWORD);
    let key = SecretKey::from_env(|name| match name {
        "TAURI_SIGNING_PRIVATE_KEY" => Some(secret.clone()),
        "TAURI_SIGNING_PRIVATE_KEY_PASSWORD" => Some(PASSWORD.to_owned()),
        _ => None,
    })
    .unwrap();
    signs_for(&key, &public);
    assert!(matches!(SecretKey::from_env(|_| None), Err(KeyError::Missing { .. })));
}

#[test]
fn generated_keys_have_the_tauri_layout() {
    let pair = KeyPair::generate(KeyProtection::Password(Password::new(PASSWORD))).unwrap();
    let text = String::from_utf8(BASE64.decode(pair.secret_key_tauri_base64().expose_secret()).unwrap()).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("untrusted comment: "));
    // "Ed" ‖ "Sc" ‖ "B2": Ed25519, scrypt-encrypted, BLAKE2b checksum.
    assert!(lines.next().unwrap().starts_with("RWRTY0Iy"));
    // Tauri's own parser (the minisign crate) reads it with the password.
    minisign::SecretKey::from_box(text.clone().into(), Some(PASSWORD.to_owned())).unwrap();
    let public = pair.public_key();
    assert_eq!(
        public.to_minisign_text(),
        format!("untrusted comment: minisign public key {}\n{}\n", public.key_id(), public.to_key_line())
    );
    assert_eq!(public.key_id().to_string().len(), 16);
    assert!(public.key_id().to_string().chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
}

#[test]
fn empty_password_keys_load_without_a_password() {
    // `tauri signer generate --ci` encrypts with the empty password.
    let (secret, public) = tauri_signer_generate("");
    for password in [None, Some("")] {
        let key = SecretKey::from_env_value(&secret, password).unwrap();
        signs_for(&key, &public);
    }
}

#[test]
fn unencrypted_keys_load_and_sign() {
    let pair = KeyPair::generate(KeyProtection::Unencrypted).unwrap();
    let key = SecretKey::from_env_value(pair.secret_key_tauri_base64().expose_secret(), None).unwrap();
    signs_for(&key, &pair.public_key().to_tauri_base64());
}

#[test]
fn a_wrong_password_is_a_clear_error_without_the_password() {
    let (secret, _) = tauri_signer_generate(PASSWORD);
    let wrong = "hunter2-not-it";
    let error = SecretKey::from_env_value(&secret, Some(wrong)).unwrap_err();
    assert!(matches!(error, KeyError::WrongPassword { origin: KeySource::Variable("TAURI_SIGNING_PRIVATE_KEY") }));
    let message = error.to_string();
    assert!(message.starts_with("wrong password for the signing key from TAURI_SIGNING_PRIVATE_KEY"), "{message}");
    assert!(message.contains("TAURI_SIGNING_PRIVATE_KEY_PASSWORD"), "{message}");
    for shown in [message, format!("{error:?}")] {
        assert!(!shown.contains(wrong) && !shown.contains(PASSWORD) && !shown.contains(&secret), "{shown}");
    }
}

#[test]
fn a_missing_password_is_its_own_error() {
    let (secret, _) = tauri_signer_generate(PASSWORD);
    let error = SecretKey::from_env_value(&secret, None).unwrap_err();
    assert!(matches!(error, KeyError::PasswordRequired { .. }), "{error}");
}

// The minisign CLI is a Unix program here: Unix-only by name (the
// Windows stage reports it), the Tauri verifier checks the same on Windows.
#[cfg(unix)]
#[test]
fn a_minisign_cli_key_without_password_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let status = minisign()
        .args(["-G", "-W", "-p"])
        .arg(dir.path().join("k.pub"))
        .arg("-s")
        .arg(dir.path().join("k.key"))
        .output()
        .unwrap();
    assert!(status.status.success(), "minisign -G -W failed: {status:?}");
    let error = SecretKey::from_file(&dir.path().join("k.key"), None).unwrap_err();
    assert!(matches!(error, KeyError::MissingChecksum { .. }), "{error}");
    assert!(error.to_string().contains("minisign -G -W"), "{error}");
    let key_line = fs::read_to_string(dir.path().join("k.key")).unwrap().lines().nth(1).unwrap().to_owned();
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(!shown.contains(&key_line) && !shown.contains(&key_line[60..100]), "{shown}");
    }
}

// The minisign CLI is a Unix program here: Unix-only by name (the
// Windows stage reports it), the Tauri verifier checks the same on Windows.
#[cfg(unix)]
#[test]
fn a_minisign_cli_key_with_password_loads_and_its_signatures_verify_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (public_path, secret_path) = (dir.path().join("k.pub"), dir.path().join("k.key"));
    let mut child = minisign()
        .arg("-G")
        .arg("-p")
        .arg(&public_path)
        .arg("-s")
        .arg(&secret_path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n{PASSWORD}\n").as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    // The CLI's scrypt parameters are ~30 times costlier than tauri-cli's.
    let key = SecretKey::from_file(&secret_path, Some(PASSWORD)).unwrap();
    let public = PublicKey::parse(&fs::read_to_string(&public_path).unwrap()).unwrap();
    assert_eq!(key.public_key(), &public);
    let data = dir.path().join("data.bin");
    fs::write(&data, b"data").unwrap();
    let signed = artifact::sign_artifact_file(&data, &version("1.0.0"), TIMESTAMP, &key).unwrap();
    let signature = dir.path().join("data.bin.minisig");
    fs::write(&signature, signed.minisign_text()).unwrap();
    minisign_verify(&data, &signature, &public_path).unwrap();
}

#[test]
fn public_keys_export_and_import_in_every_form() {
    let public = release_key().secret.public_key();
    let text = public.to_minisign_text();
    assert_eq!(&PublicKey::parse(&text).unwrap(), public);
    assert_eq!(&PublicKey::from_minisign_text(&text).unwrap(), public);
    assert_eq!(&PublicKey::parse(&public.to_tauri_base64()).unwrap(), public);
    assert_eq!(&PublicKey::from_tauri_base64(&public.to_tauri_base64()).unwrap(), public);
    assert_eq!(&PublicKey::parse(&public.to_key_line()).unwrap(), public);
    // The comment names the key id exactly as minisign prints it.
    assert!(text.starts_with(&format!("untrusted comment: minisign public key {}\n", public.key_id())));
}

/// Every key-related error and every secret type, printed with Display and
/// Debug, is scanned for the password and for every spelling of the secret.
#[test]
fn no_secret_appears_in_any_debug_or_error_output() {
    let pair = KeyPair::generate(KeyProtection::Password(Password::new(PASSWORD))).unwrap();
    let minisign_text = pair.secret_key_minisign_text().expose_secret().to_owned();
    let tauri_base64 = pair.secret_key_tauri_base64().expose_secret().to_owned();
    let key_line = minisign_text.lines().nth(1).unwrap().to_owned();
    // The decrypted secret bytes, as minisign's own Debug would print them.
    let decrypted = minisign::SecretKey::from_box(minisign_text.clone().into(), Some(PASSWORD.to_owned())).unwrap();
    let raw = decrypted.to_bytes();
    let seed_hex = hex::encode(&raw[62..94]);
    let seed_loose_hex: String = raw[62..94].iter().map(|b| format!("{b:x}")).collect();
    let seed_base64 = BASE64.encode(&raw[62..94]);
    let secrets = [
        PASSWORD.to_owned(),
        minisign_text.clone(),
        tauri_base64.clone(),
        key_line.clone(),
        key_line[10..40].to_owned(),
        tauri_base64[100..140].to_owned(),
        seed_hex,
        seed_loose_hex[..24].to_owned(),
        seed_base64,
    ];

    let key = SecretKey::from_text_or_base64(&tauri_base64, Some(PASSWORD)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    fs::write(&key_file, &tauri_base64).unwrap();
    // Not base64 any more, so neither a key nor (as a path) a file.
    let mut mangled = tauri_base64.clone();
    mangled.replace_range(10..11, "*");
    let mut unencrypted =
        KeyPair::generate(KeyProtection::Unencrypted).unwrap().secret_key_minisign_text().expose_secret().to_owned();
    // Damage the checksum of an unencrypted key (last base64 group).
    let at = unencrypted.trim_end().len() - 6;
    let flipped = if &unencrypted[at..at + 1] == "A" { "B" } else { "A" };
    unencrypted.replace_range(at..at + 1, flipped);
    let mut bad_kdf = BASE64.decode(&key_line).unwrap();
    bad_kdf[2..4].copy_from_slice(b"Xx");
    let bad_kdf = format!("untrusted comment: x\n{}\n", BASE64.encode(&bad_kdf));

    let errors: Vec<KeyError> = vec![
        SecretKey::from_env_value(&tauri_base64, Some("wrong password")).unwrap_err(),
        SecretKey::from_env_value(&tauri_base64, None).unwrap_err(),
        SecretKey::from_env_value(&mangled, Some(PASSWORD)).unwrap_err(),
        SecretKey::from_env_value("", Some(PASSWORD)).unwrap_err(),
        SecretKey::from_env_value(key_file.to_str().unwrap(), Some("wrong password")).unwrap_err(),
        SecretKey::from_file(&key_file, Some("wrong")).unwrap_err(),
        SecretKey::from_file(&dir.path().join("missing"), Some(PASSWORD)).unwrap_err(),
        SecretKey::from_text_or_base64(&key_line, Some(PASSWORD)).unwrap_err(),
        SecretKey::from_text_or_base64(&unencrypted, Some(PASSWORD)).unwrap_err(),
        SecretKey::from_text_or_base64(&bad_kdf, Some(PASSWORD)).unwrap_err(),
        PublicKey::parse(&key_line).unwrap_err(),
        PublicKey::parse(&tauri_base64).unwrap_err(),
    ];
    let kinds: Vec<String> =
        errors.iter().map(|e| format!("{e:?}").split([' ', '(', '{']).next().unwrap().to_owned()).collect();
    assert_eq!(
        kinds,
        [
            "WrongPassword",
            "PasswordRequired",
            "NeitherKeyNorFile",
            "Missing",
            "WrongPassword",
            "WrongPassword",
            "Read",
            "NotASecretKey",
            "Corrupt",
            "Unsupported",
            "NotAPublicKey",
            "NotAPublicKey"
        ]
    );

    let mut outputs: Vec<String> = errors.iter().flat_map(|e| [e.to_string(), format!("{e:?}")]).collect();
    outputs.push(format!("{key:?}"));
    outputs.push(format!("{pair:?}"));
    outputs.push(format!("{:?}", pair.secret_key_minisign_text()));
    outputs.push(format!("{:?}", pair.secret_key_tauri_base64()));
    outputs.push(format!("{:?}", Password::new(PASSWORD)));
    outputs.push(format!("{:?}", KeyProtection::Password(Password::new(PASSWORD))));
    for output in &outputs {
        for secret in &secrets {
            assert!(!output.contains(secret.as_str()), "secret {secret:?} leaked in {output:?}");
        }
    }
    assert!(format!("{key:?}").contains(&key.key_id().to_string()), "Debug should still name the key id");
}
