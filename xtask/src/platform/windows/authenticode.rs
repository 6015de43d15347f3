//! Authenticode signatures for Windows executables and installers, from a
//! `.pfx` (`WINDOWS_CERTIFICATE` base64 + `WINDOWS_CERTIFICATE_PASSWORD`):
//! `osslsigncode` off Windows, `signtool` on Windows.
//!
//! The password never appears in a process's arguments: osslsigncode reads
//! it from its stdin (`-readpass -`); on Windows the certificate is imported
//! into the user's store by PowerShell, which reads the password from its
//! environment, and signtool signs by thumbprint. The `.pfx` (encrypted
//! with that password) is written to a private temporary folder (mode 0700)
//! and deleted afterwards. Each file is signed into a temporary file and
//! renamed over the original only when the tool succeeded.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::core::credentials::{self, Secret, Source, WINDOWS_CERTIFICATE, WINDOWS_CERTIFICATE_PASSWORD};

/// DigiCert's RFC 3161 server, a common free choice; `--timestamp-url none`
/// turns time-stamping off.
pub const DEFAULT_TIMESTAMP_URL: &str = "http://timestamp.digicert.com";

pub struct Pfx {
    bytes: Vec<u8>,
    password: Secret,
}

impl std::fmt::Debug for Pfx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pfx({} bytes, <password hidden>)", self.bytes.len())
    }
}

impl Pfx {
    /// The certificate when one is configured, `None` when neither variable
    /// is set; half a configuration is an error.
    pub fn from_env(env: &dyn Source) -> Result<Option<Pfx>> {
        if !credentials::any_set(env, &[WINDOWS_CERTIFICATE, WINDOWS_CERTIFICATE_PASSWORD]) {
            return Ok(None);
        }
        Pfx::required(env).map(Some)
    }

    pub fn required(env: &dyn Source) -> Result<Pfx> {
        let value =
            credentials::required(env, WINDOWS_CERTIFICATE, "to Authenticode-sign (base64 of the code-signing .pfx)")?;
        let bytes = credentials::base64_bytes(WINDOWS_CERTIFICATE, &value)?;
        let password = credentials::optional(env, WINDOWS_CERTIFICATE_PASSWORD).unwrap_or(Secret::new(String::new()));
        let pfx = p12::PFX::parse(&bytes).map_err(|_| {
            anyhow::anyhow!("{WINDOWS_CERTIFICATE} does not hold a .pfx file (PKCS#12): set it to the base64 of the certificate and key")
        })?;
        // The p12 reader checks SHA-1 MACs only (Windows' and OpenSSL's
        // `-legacy` exports); a newer .pfx is checked by the signing tool,
        // which writes to a temporary file, so a wrong password changes
        // nothing either way.
        if let Some(mac) = &pfx.mac_data
            && mac.mac.digest_algorithm == p12::AlgorithmIdentifier::Sha1
            && !pfx.verify_mac(password.expose())
        {
            bail!("{WINDOWS_CERTIFICATE_PASSWORD} does not open the .pfx in {WINDOWS_CERTIFICATE} (wrong password)");
        }
        Ok(Pfx { bytes, password })
    }

    /// SHA-256 of the .pfx (what a signature depends on; reveals nothing).
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }
}

pub struct Options<'a> {
    pub pfx: &'a Pfx,
    /// RFC 3161 time-stamp server, or none.
    pub timestamp_url: Option<String>,
    /// The description shown in Windows' UAC prompt.
    pub description: String,
}

/// Signs `file` in place (through a temporary file).
pub fn sign(file: &Path, options: &Options) -> Result<()> {
    let dir = file.parent().with_context(|| format!("{} has no parent folder", file.display()))?;
    let secrets = private_dir()?;
    let pfx_path = secrets.path().join("certificate.pfx");
    write_private(&pfx_path, &options.pfx.bytes)?;
    let signed = tempfile::Builder::new()
        .prefix(".tmp-signed-")
        .suffix(&format!(".{}", file.extension().unwrap_or_default().to_string_lossy()))
        .tempfile_in(dir)?
        .into_temp_path();
    // osslsigncode refuses to overwrite its output.
    std::fs::remove_file(&signed).ok();

    if cfg!(windows) {
        signtool(file, &signed, &pfx_path, options)?;
    } else {
        osslsigncode(file, &signed, &pfx_path, options)?;
    }
    let permissions = std::fs::metadata(file)?.permissions();
    std::fs::set_permissions(&signed, permissions)?;
    signed.persist(file).with_context(|| format!("renaming the signed copy over {}", file.display()))?;
    crate::core::fsx::sync_dir(dir)
}

fn osslsigncode(input: &Path, output: &Path, pfx: &Path, options: &Options) -> Result<()> {
    let mut command = Command::new("osslsigncode");
    command.arg("sign").arg("-pkcs12").arg(pfx).args(["-readpass", "-", "-h", "sha256", "-n", &options.description]);
    if let Some(url) = &options.timestamp_url {
        command.args(["-ts", url]);
    }
    command.arg("-in").arg(input).arg("-out").arg(output);
    run_with_stdin(command, "osslsigncode", options.pfx.password.expose(), input)
}

/// On Windows: import into the user's store (password from the
/// environment), sign by thumbprint, remove the certificate again.
fn signtool(input: &Path, output: &Path, pfx: &Path, options: &Options) -> Result<()> {
    std::fs::copy(input, output).with_context(|| format!("copying {}", input.display()))?;
    let timestamp = match &options.timestamp_url {
        Some(url) => format!("/tr '{url}' /td sha256"),
        None => String::new(),
    };
    let script = format!(
        r#"$ErrorActionPreference = 'Stop'
$password = ConvertTo-SecureString -String $env:HUDSON_PFX_PASSWORD -AsPlainText -Force
$cert = Import-PfxCertificate -FilePath '{pfx}' -CertStoreLocation Cert:\CurrentUser\My -Password $password
try {{
  & signtool.exe sign /sha1 $cert.Thumbprint /fd sha256 /d '{description}' {timestamp} '{file}'
  if ($LASTEXITCODE -ne 0) {{ throw "signtool failed with exit code $LASTEXITCODE" }}
}} finally {{
  Remove-Item -Path "Cert:\CurrentUser\My\$($cert.Thumbprint)" -DeleteKey
}}"#,
        pfx = pfx.display(),
        description = options.description.replace('\'', "''"),
        file = output.display(),
    );
    let mut command = Command::new("powershell.exe");
    command
        .args(["-NoProfile", "-NonInteractive", "-Command", "-"])
        .env("HUDSON_PFX_PASSWORD", options.pfx.password.expose());
    run_with_stdin(command, "powershell/signtool", &script, input)
}

fn run_with_stdin(mut command: Command, tool: &str, stdin: &str, file: &Path) -> Result<()> {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!("`{tool}` is not installed; run `cargo xtask doctor --install`")
        } else {
            anyhow::anyhow!("could not start {tool}: {e}")
        }
    })?;
    child.stdin.take().expect("piped").write_all(stdin.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        let tail: Vec<&str> = text.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
        let hint = if text.contains("Failed to read PKCS#12")
            || text.contains("mac verify")
            || text.contains("password")
        {
            format!(" ({WINDOWS_CERTIFICATE_PASSWORD} may be wrong, or {WINDOWS_CERTIFICATE} not a code-signing .pfx)")
        } else {
            String::new()
        };
        bail!("{tool} could not sign {}{hint}:\n    {}", file.display(), tail.join("\n    "));
    }
    Ok(())
}

fn private_dir() -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("hudson-authenticode-").tempdir()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}
