//! Who signs: a Developer ID certificate from a `.p12`
//! (`APPLE_CERTIFICATE` base64 + `APPLE_CERTIFICATE_PASSWORD`), or an ad-hoc
//! signature for development builds.

use anyhow::{Context, Result, bail};
use apple_codesign::AppleCodesignError;
use apple_codesign::cryptography::{InMemoryPrivateKey, parse_pfx_data};
use sha2::{Digest, Sha256};
use x509_certificate::CapturedX509Certificate;

use crate::core::credentials::{self, APPLE_CERTIFICATE, APPLE_CERTIFICATE_PASSWORD, Source};

pub enum Identity {
    /// No cryptographic signature: runs on the machine that built it, not
    /// through Gatekeeper elsewhere.
    AdHoc,
    Certificate(Box<Certificate>),
}

pub struct Certificate {
    pub cert: CapturedX509Certificate,
    pub key: InMemoryPrivateKey,
}

impl Certificate {
    /// The certificate's subject common name, for messages.
    pub fn name(&self) -> String {
        self.cert.subject_common_name().unwrap_or_else(|| "(no common name)".into())
    }

    /// SHA-256 of the certificate (public): what a signature depends on.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(self.cert.constructed_data()))
    }
}

impl Identity {
    /// The certificate when one is configured, ad-hoc when neither variable
    /// is set; half a configuration is an error.
    pub fn from_env(env: &dyn Source) -> Result<Identity> {
        if credentials::optional(env, APPLE_CERTIFICATE).is_none() {
            if credentials::optional(env, APPLE_CERTIFICATE_PASSWORD).is_some() {
                bail!(
                    "{APPLE_CERTIFICATE_PASSWORD} is set but {APPLE_CERTIFICATE} is not: set {APPLE_CERTIFICATE} to the base64 of the Developer ID .p12"
                );
            }
            return Ok(Identity::AdHoc);
        }
        Identity::certificate_from_env(env)
    }

    /// The certificate; an error naming the variable when it is missing.
    pub fn certificate_from_env(env: &dyn Source) -> Result<Identity> {
        let p12 = credentials::required(
            env,
            APPLE_CERTIFICATE,
            "to sign with a Developer ID certificate (base64 of the .p12; use --ad-hoc for a development signature)",
        )?;
        let bytes = credentials::base64_bytes(APPLE_CERTIFICATE, &p12)?;
        let password = credentials::optional(env, APPLE_CERTIFICATE_PASSWORD);
        let password = password.as_ref().map(|p| p.expose()).unwrap_or("");
        parse_p12(&bytes, password).map(|c| Identity::Certificate(Box::new(c)))
    }

    pub fn describe(&self) -> String {
        match self {
            Identity::AdHoc => "ad-hoc (development; set APPLE_CERTIFICATE to sign for distribution)".into(),
            Identity::Certificate(c) => format!("certificate \"{}\"", c.name()),
        }
    }

    /// What a signature depends on (no secret in it).
    pub fn fingerprint(&self) -> String {
        match self {
            Identity::AdHoc => "ad-hoc".into(),
            Identity::Certificate(c) => c.fingerprint(),
        }
    }
}

fn parse_p12(bytes: &[u8], password: &str) -> Result<Certificate> {
    let pfx = p12::PFX::parse(bytes).map_err(|_| {
        anyhow::anyhow!("{APPLE_CERTIFICATE} does not hold a .p12 file (PKCS#12): set it to the base64 of the exported certificate and key")
    })?;
    // The p12 reader checks only SHA-1 MACs; OpenSSL 3 writes SHA-256 ones
    // by default, which would otherwise look like a wrong password.
    if let Some(mac) = &pfx.mac_data
        && mac.mac.digest_algorithm != p12::AlgorithmIdentifier::Sha1
    {
        bail!(
            "{APPLE_CERTIFICATE} is a .p12 in OpenSSL 3's default format, which apple-codesign cannot read: re-export it with `openssl pkcs12 -export -legacy …` (or from Keychain Access)"
        );
    }
    match parse_pfx_data(bytes, password) {
        Ok((cert, key)) => Ok(Certificate { cert, key }),
        Err(AppleCodesignError::PfxBadPassword) => {
            bail!("{APPLE_CERTIFICATE_PASSWORD} does not open the .p12 in {APPLE_CERTIFICATE} (wrong password)")
        }
        Err(e) => Err(anyhow::anyhow!("{}", describe_p12_error(&e)))
            .context(format!("{APPLE_CERTIFICATE} holds a .p12 that cannot be used for code signing")),
    }
}

/// The error's kind only: some variants quote parsed content.
fn describe_p12_error(e: &AppleCodesignError) -> &'static str {
    match e {
        AppleCodesignError::PfxParseError(_) => {
            "it lacks a certificate or a private key, or uses an unsupported encryption"
        }
        AppleCodesignError::CertificateUnsupportedKeyAlgorithm(_) => {
            "its key algorithm is not supported (use RSA or P-256)"
        }
        _ => "it could not be read",
    }
}
