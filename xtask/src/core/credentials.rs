//! Signing credentials, read from environment variables (CI secrets).
//!
//! One place knows the variable names. Every check happens before any file
//! is touched, and every error names the variable — never its value: the
//! values are private keys, passwords and API keys.

use anyhow::{Result, bail};
use base64::Engine;

/// Apple Developer ID certificate + key, a base64 `.p12`.
pub const APPLE_CERTIFICATE: &str = "APPLE_CERTIFICATE";
pub const APPLE_CERTIFICATE_PASSWORD: &str = "APPLE_CERTIFICATE_PASSWORD";
/// App Store Connect API key for the notary service.
pub const APPLE_API_ISSUER: &str = "APPLE_API_ISSUER";
pub const APPLE_API_KEY_ID: &str = "APPLE_API_KEY_ID";
/// The `.p8` file's content (PEM).
pub const APPLE_API_KEY: &str = "APPLE_API_KEY";
/// Authenticode certificate + key, a base64 `.pfx`.
pub const WINDOWS_CERTIFICATE: &str = "WINDOWS_CERTIFICATE";
pub const WINDOWS_CERTIFICATE_PASSWORD: &str = "WINDOWS_CERTIFICATE_PASSWORD";

/// Where credentials come from: the process environment, or a map in tests
/// (the environment is shared by every test thread).
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for std::collections::BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::BTreeMap::get(self, name).cloned()
    }
}

/// A secret that never prints itself.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

/// A non-empty variable, or `None` when it is unset or empty (CI passes an
/// unset secret as an empty string).
pub fn optional(env: &dyn Source, name: &str) -> Option<Secret> {
    env.get(name).filter(|v| !v.trim().is_empty()).map(Secret)
}

/// A variable that must be set.
pub fn required(env: &dyn Source, name: &str, why: &str) -> Result<Secret> {
    match optional(env, name) {
        Some(value) => Ok(value),
        None => bail!("{name} is not set; it is needed {why}"),
    }
}

/// The bytes of a base64 variable (whitespace and line breaks allowed, as
/// `base64 -i file` and GitHub's secret editor produce them).
pub fn base64_bytes(name: &str, value: &Secret) -> Result<Vec<u8>> {
    let compact: String = value.expose().chars().filter(|c| !c.is_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        // The decoder's message can quote the offending byte: keep it out.
        _ => bail!("{name} is not valid base64: set it to the output of `base64 < file` (the whole file, one value)"),
    }
}

/// Whether any of `names` is set: a half-configured credential is an error,
/// not a reason to silently skip signing.
pub fn any_set(env: &dyn Source, names: &[&str]) -> bool {
    names.iter().any(|n| optional(env, n).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_errors_name_the_variable_and_hide_the_value() {
        let secret = Secret("not*base64*sEcReT".into());
        let e = base64_bytes(APPLE_CERTIFICATE, &secret).unwrap_err().to_string();
        assert!(e.contains(APPLE_CERTIFICATE), "{e}");
        assert!(!e.contains("sEcReT"), "{e}");
        assert_eq!(format!("{secret:?}"), "Secret(<hidden>)");
    }

    #[test]
    fn empty_counts_as_unset() {
        let env: std::collections::BTreeMap<String, String> = [(APPLE_CERTIFICATE.to_owned(), " ".to_owned())].into();
        assert!(optional(&env, APPLE_CERTIFICATE).is_none());
        let e = required(&env, APPLE_CERTIFICATE, "to sign").unwrap_err().to_string();
        assert!(e.contains("APPLE_CERTIFICATE is not set"), "{e}");
    }
}
