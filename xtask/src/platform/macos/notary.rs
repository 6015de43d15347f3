//! `cargo xtask notarize`: Apple's notary service, through its REST API
//! (App Store Connect "Notary API" v2), then stapling with `apple-codesign`.
//!
//! apple-codesign's own notarizer (its `notarize` feature) uploads through
//! the AWS S3 SDK, a compile of several minutes on every CI run for one PUT
//! request; this client does the same five requests with the HTTP client
//! apple-codesign already builds: create a submission (JWT from the
//! App Store Connect API key), PUT the file to the S3 location Apple hands
//! out (AWS Signature V4 with Apple's temporary credentials), poll the
//! submission, fetch the log when it is not accepted, and look up the ticket
//! to staple. The endpoints can be pointed elsewhere (`--notary-url`,
//! `--s3-url`, `--ticket-url`), which is how `xtask/tests/notarize.rs`
//! reaches a test double of the service: Apple's servers are not reachable
//! from the build machines.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use base64::Engine;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde::Serialize;
use serde_json::{Value, json};

use apple_codesign::embedded_signature::Blob;

use super::codesign::main_executable;
use crate::core::credentials::{self, APPLE_API_ISSUER, APPLE_API_KEY, APPLE_API_KEY_ID, Secret, Source};
use crate::core::fsx;
use crate::core::ui::Ui;

pub const NOTARY_API: &str = "https://appstoreconnect.apple.com/notary/v2";
pub const TICKET_LOOKUP: &str = apple_codesign::ticket_lookup::APPLE_TICKET_LOOKUP_URL;
/// Apple hands out buckets in this region (not documented; what
/// apple-codesign's notarizer uses).
const S3_REGION: &str = "us-west-2";

/// An App Store Connect API key: issuer, key id and the `.p8` private key.
pub struct ApiKey {
    issuer: String,
    key_id: String,
    key: EcdsaKeyPair,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({} / {}, <private key hidden>)", self.issuer, self.key_id)
    }
}

impl ApiKey {
    /// All three variables, or `None` when none is set; anything in between,
    /// or a key that is not a P-256 `.p8`, is an error naming the variable.
    pub fn from_env(env: &dyn Source) -> Result<Option<ApiKey>> {
        let names = [APPLE_API_ISSUER, APPLE_API_KEY_ID, APPLE_API_KEY];
        if !credentials::any_set(env, &names) {
            return Ok(None);
        }
        ApiKey::required(env).map(Some)
    }

    pub fn required(env: &dyn Source) -> Result<ApiKey> {
        let why = "to notarize (App Store Connect API key: issuer id, key id and the .p8 file's content)";
        let issuer = credentials::required(env, APPLE_API_ISSUER, why)?;
        let key_id = credentials::required(env, APPLE_API_KEY_ID, why)?;
        let key = credentials::required(env, APPLE_API_KEY, why)?;
        ApiKey::new(issuer.expose(), key_id.expose(), &key)
    }

    fn new(issuer: &str, key_id: &str, p8: &Secret) -> Result<ApiKey> {
        let issuer = issuer.trim();
        let key_id = key_id.trim();
        if !key_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            bail!("{APPLE_API_KEY_ID} is not an App Store Connect key id (letters and digits, e.g. 2X9R4HXF34)");
        }
        if issuer.chars().any(|c| c.is_whitespace() || c == '"') {
            bail!("{APPLE_API_ISSUER} is not an App Store Connect issuer id (a UUID)");
        }
        let malformed = || {
            anyhow::anyhow!(
                "{APPLE_API_KEY} is not an App Store Connect API key: expected the content of AuthKey_<id>.p8 \
                 (\"-----BEGIN PRIVATE KEY-----\", an EC P-256 key)"
            )
        };
        let text = p8.expose();
        let body: String = text
            .trim()
            .strip_prefix("-----BEGIN PRIVATE KEY-----")
            .and_then(|t| t.strip_suffix("-----END PRIVATE KEY-----"))
            .ok_or_else(malformed)?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).map_err(|_| malformed())?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &ring::rand::SystemRandom::new())
            .map_err(|_| malformed())?;
        Ok(ApiKey { issuer: issuer.to_owned(), key_id: key_id.to_owned(), key })
    }

    /// A 20-minute ES256 token for the notary API.
    fn token(&self) -> Result<String> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = unix_now();
        let header = json!({ "alg": "ES256", "kid": self.key_id, "typ": "JWT" });
        let claims = json!({ "iss": self.issuer, "iat": now, "exp": now + 1200, "aud": "appstoreconnect-v1" });
        let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let signature = self
            .key
            .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| anyhow::anyhow!("signing the App Store Connect token failed"))?;
        Ok(format!("{signing_input}.{}", b64(signature.as_ref())))
    }
}

/// Where the service lives.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub api: String,
    /// `None`: Amazon S3 (`https://<bucket>.s3.us-west-2.amazonaws.com/<object>`);
    /// else `<s3>/<bucket>/<object>` (path style).
    pub s3: Option<String>,
    pub tickets: String,
}

impl Endpoints {
    /// Apple's endpoints, unless a test points one elsewhere.
    pub fn new(api: Option<String>, s3: Option<String>, tickets: Option<String>) -> Endpoints {
        let apple = Endpoints::default();
        Endpoints { api: api.unwrap_or(apple.api), s3, tickets: tickets.unwrap_or(apple.tickets) }
    }
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints { api: NOTARY_API.into(), s3: None, tickets: TICKET_LOOKUP.into() }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub path: String,
    pub submission: String,
    pub status: String,
    pub stapled: bool,
    pub seconds: f64,
}

/// What the CLI passes.
pub struct Request<'a> {
    pub path: &'a Path,
    pub endpoints: Endpoints,
    pub wait: Duration,
    pub poll: Duration,
    pub staple: bool,
}

pub fn run(ui: &Ui, request: Request) -> Result<()> {
    let key = ApiKey::required(&credentials::ProcessEnv)?;
    let report = notarize(ui, &key, &request)?;
    ui.info(format!(
        "notarized {}: {} (submission {}){}",
        report.path,
        report.status,
        report.submission,
        if report.stapled { ", ticket stapled" } else { "" }
    ));
    ui.emit(&report);
    Ok(())
}

/// Submits `path` (an `.app`, `.dmg` or `.zip`), waits for the verdict and,
/// when accepted, staples the ticket to the app or disk image.
pub fn notarize(ui: &Ui, key: &ApiKey, request: &Request) -> Result<Report> {
    let started = Instant::now();
    let path = request.path;
    let kind = Upload::of(path)?;
    let client = Client::new(key, &request.endpoints)?;

    // An app goes up as a zip (what `ditto -c -k --keepParent` makes).
    let scratch = tempfile::Builder::new().prefix("hudson-notarize-").tempdir()?;
    let upload = match kind {
        Upload::App => {
            let zip = scratch.path().join(format!("{}.zip", file_name(path)));
            zip_bundle(path, &zip)?;
            zip
        }
        Upload::Dmg | Upload::Zip => path.to_path_buf(),
    };
    let (sha256, size) = fsx::sha256_file(&upload)?;
    let step = ui.step("notarize", &format!("uploading {} ({size} bytes) to the notary service", file_name(&upload)));
    let verdict = (|| {
        let submission = client.submit(&file_name(&upload), &sha256)?;
        client.upload(&submission, &upload, &sha256, size)?;
        step.progress(&format!("waiting for submission {}", submission.id));
        let status = client.wait(&submission.id, request.wait, request.poll, &|why: &str| step.note(why))?;
        anyhow::Ok((submission, status))
    })();
    // Every failure ends the step (a spinner left behind on a terminal
    // looks like a step still running), not only a rejection.
    let (submission, status) = match verdict {
        Ok(verdict) => verdict,
        Err(error) => {
            step.failed();
            return Err(error);
        }
    };
    if status != "Accepted" {
        step.failed();
        let log = client.log(&submission.id).unwrap_or_else(|e| format!("(the log could not be fetched: {e:#})"));
        bail!(
            "the notary service answered `{status}` for {} (submission {}). Its log:\n{log}",
            path.display(),
            submission.id
        );
    }
    step.done(&format!("accepted (submission {})", submission.id));

    let stapled = match (request.staple, kind) {
        (true, Upload::App) => {
            let record = bundle_record_name(path)?;
            let ticket = client.ticket(&record)?;
            fsx::write_atomic(&path.join("Contents/CodeResources"), &ticket)?;
            true
        }
        (true, Upload::Dmg) => {
            staple_dmg(&client, path)?;
            true
        }
        // A zip cannot carry a ticket; the app inside it is looked up online.
        (_, Upload::Zip) | (false, _) => false,
    };
    Ok(Report {
        path: path.display().to_string(),
        submission: submission.id,
        status,
        stapled,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upload {
    App,
    Dmg,
    Zip,
}

impl Upload {
    fn of(path: &Path) -> Result<Upload> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        match ext.as_str() {
            "app" if path.is_dir() => Ok(Upload::App),
            "dmg" if path.is_file() => Ok(Upload::Dmg),
            "zip" if path.is_file() => Ok(Upload::Zip),
            _ if !path.exists() => bail!("{} does not exist", path.display()),
            _ => bail!("{}: notarize takes an .app bundle, a .dmg or a .zip", path.display()),
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap_or_default().to_string_lossy().into_owned()
}

struct Submission {
    id: String,
    access_key: String,
    secret_key: Secret,
    session_token: Secret,
    bucket: String,
    object: String,
}

struct Client<'a> {
    key: &'a ApiKey,
    endpoints: &'a Endpoints,
    http: reqwest_tls::blocking::Client,
}

impl<'a> Client<'a> {
    fn new(key: &'a ApiKey, endpoints: &'a Endpoints) -> Result<Self> {
        let http = reqwest_tls::blocking::Client::builder()
            .user_agent(concat!("hudson-xtask/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(600))
            .build()
            .context("creating the HTTP client")?;
        Ok(Client { key, endpoints, http })
    }

    fn api(&self, method: reqwest_tls::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.endpoints.api);
        let mut request = self.http.request(method.clone(), &url).bearer_auth(self.key.token()?);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = match request.send() {
            Ok(response) => response,
            // No answer at all (refused, reset, timed out): worth another try.
            Err(e) => return Err(anyhow::Error::new(Transient(format!("{method} {url}: {e}")))),
        };
        let status = response.status();
        let text = response.text().unwrap_or_default();
        if status.is_server_error() || status == reqwest_tls::StatusCode::TOO_MANY_REQUESTS {
            let body: String = text.chars().take(500).collect();
            return Err(anyhow::Error::new(Transient(format!("{method} {url}: {status}: {body}"))));
        }
        if status == reqwest_tls::StatusCode::UNAUTHORIZED {
            bail!(
                "{method} {url}: 401 Unauthorized — check {APPLE_API_ISSUER}, {APPLE_API_KEY_ID} and {APPLE_API_KEY} (the key must have the Developer role)"
            );
        }
        if !status.is_success() {
            bail!("{method} {url}: {status}: {}", text.chars().take(2000).collect::<String>());
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {url}: the answer is not JSON"))
    }

    fn submit(&self, name: &str, sha256: &str) -> Result<Submission> {
        let v = self.api(
            reqwest_tls::Method::POST,
            "/submissions",
            Some(json!({ "submissionName": name, "sha256": sha256 })),
        )?;
        let data = &v["data"];
        let attr = &data["attributes"];
        let field = |value: &Value, name: &str| -> Result<String> {
            value
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("the notary service's new submission lacks `{name}`"))
        };
        Ok(Submission {
            id: field(&data["id"], "id")?,
            access_key: field(&attr["awsAccessKeyId"], "awsAccessKeyId")?,
            secret_key: Secret::new(field(&attr["awsSecretAccessKey"], "awsSecretAccessKey")?),
            session_token: Secret::new(field(&attr["awsSessionToken"], "awsSessionToken")?),
            bucket: field(&attr["bucket"], "bucket")?,
            object: field(&attr["object"], "object")?,
        })
    }

    /// PUT to S3, signed with AWS Signature V4.
    fn upload(&self, submission: &Submission, file: &Path, sha256: &str, size: u64) -> Result<()> {
        let key_path: String = submission.object.split('/').map(uri_encode).collect::<Vec<_>>().join("/");
        let (url, host, canonical_uri) = match &self.endpoints.s3 {
            None => {
                let host = format!("{}.s3.{S3_REGION}.amazonaws.com", submission.bucket);
                (format!("https://{host}/{key_path}"), host, format!("/{key_path}"))
            }
            Some(base) => {
                let base = base.trim_end_matches('/');
                let host = base.split("://").nth(1).unwrap_or(base).split('/').next().unwrap_or_default().to_owned();
                let prefix = base.split("://").nth(1).and_then(|rest| rest.find('/').map(|i| &rest[i..])).unwrap_or("");
                let canonical = format!("{prefix}/{}/{key_path}", uri_encode(&submission.bucket));
                (format!("{base}/{}/{key_path}", uri_encode(&submission.bucket)), host, canonical)
            }
        };
        let now = SystemTime::now();
        let headers = sigv4_headers(submission, "PUT", &host, &canonical_uri, sha256, now);
        let body = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let mut request = self.http.put(&url).body(reqwest_tls::blocking::Body::sized(body, size));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().with_context(|| format!("uploading to {url}"))?;
        if !response.status().is_success() {
            let status = response.status();
            bail!(
                "uploading to {url}: {status}: {}",
                response.text().unwrap_or_default().chars().take(1000).collect::<String>()
            );
        }
        Ok(())
    }

    /// Polls the submission until it leaves `In Progress` or `limit` runs
    /// out. A poll that gets no answer, a 5xx or a 429 is tried again at the
    /// next poll (reported through `retrying`): an upload that took minutes
    /// should not be lost to one dropped connection while Apple works on it.
    /// Anything else (401, 404, an answer without a status) ends the wait.
    fn wait(&self, id: &str, limit: Duration, poll: Duration, retrying: &dyn Fn(&str)) -> Result<String> {
        let started = Instant::now();
        loop {
            let answer = self.api(reqwest_tls::Method::GET, &format!("/submissions/{id}"), None);
            let still = match answer {
                Ok(v) => {
                    let status = v["data"]["attributes"]["status"].as_str().unwrap_or("").to_owned();
                    if status.is_empty() {
                        bail!("the notary service's answer for submission {id} has no status");
                    }
                    if status != "In Progress" {
                        return Ok(status);
                    }
                    "is still in progress".to_owned()
                }
                Err(e) => match e.downcast::<Transient>() {
                    Ok(Transient(why)) => {
                        retrying(&format!("submission {id}: no usable answer ({why}); trying again"));
                        format!("could not be checked (last answer: {why})")
                    }
                    Err(e) => return Err(e),
                },
            };
            if started.elapsed() >= limit {
                bail!(
                    "submission {id} {still} after {} s; check later with Apple's tools or rerun with a longer --wait",
                    limit.as_secs()
                );
            }
            std::thread::sleep(poll);
        }
    }

    fn log(&self, id: &str) -> Result<String> {
        let v = self.api(reqwest_tls::Method::GET, &format!("/submissions/{id}/logs"), None)?;
        let url = v["data"]["attributes"]["developerLogUrl"].as_str().context("no developerLogUrl in the answer")?;
        let log = self.http.get(url).send().and_then(|r| r.error_for_status()).context("downloading the log")?;
        let text = log.text()?;
        Ok(match serde_json::from_str::<Value>(&text) {
            Ok(v) => serde_json::to_string_pretty(&v).unwrap_or(text),
            Err(_) => text,
        })
    }

    /// The notarization ticket for a code-directory record name.
    fn ticket(&self, record: &str) -> Result<Vec<u8>> {
        let body = json!({ "records": [{ "recordName": record }] });
        let url = &self.endpoints.tickets;
        let response = self.http.post(url).json(&body).send().with_context(|| format!("POST {url}"))?;
        let bytes = response.error_for_status().with_context(|| format!("POST {url}"))?.bytes()?;
        let parsed: apple_codesign::ticket_lookup::TicketLookupResponse =
            serde_json::from_slice(&bytes).with_context(|| format!("POST {url}: unexpected answer"))?;
        parsed.signed_ticket(record).map_err(|e| anyhow::anyhow!("no notarization ticket for {record}: {e}"))
    }
}

/// A failure the service may not repeat: no answer, a 5xx or a 429.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Transient(String);

/// The ticket record name of a signed app: from its main executable's code
/// directory.
fn bundle_record_name(app: &Path) -> Result<String> {
    let exe = app.join(main_executable(app)?);
    let data = std::fs::read(&exe).with_context(|| format!("reading {}", exe.display()))?;
    let info = apple_codesign::SignedMachOInfo::parse_data(&data)
        .map_err(|e| anyhow::anyhow!("{} is not signed: {e}", exe.display()))?;
    info.notarization_ticket_record_name().map_err(|e| anyhow::anyhow!("{e}"))
}

fn staple_dmg(client: &Client, dmg: &Path) -> Result<()> {
    let mut file = std::fs::File::options().read(true).write(true).open(dmg)?;
    let record = {
        let reader = apple_codesign::dmg::DmgReader::new(&mut file).map_err(|e| anyhow::anyhow!("{e}"))?;
        let signature = reader
            .embedded_signature()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_context(|| format!("{} is not signed", dmg.display()))?;
        let cd = signature
            .code_directory()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_context(|| format!("{} has no code directory", dmg.display()))?;
        let mut digest = cd.digest_with(cd.digest_type).map_err(|e| anyhow::anyhow!("{e}"))?;
        digest.truncate(20);
        let digest_type: u8 = cd.digest_type.into();
        format!("2/{digest_type}/{}", hex::encode(&digest))
    };
    let ticket = client.ticket(&record)?;
    apple_codesign::dmg::DmgSigner::default().staple_file(&mut file, ticket).map_err(|e| anyhow::anyhow!("{e}"))?;
    file.sync_all()?;
    Ok(())
}

/// Zips an app bundle with its folder as the top entry, keeping symlinks
/// and modes (as `ditto -c -k --keepParent`).
pub fn zip_bundle(app: &Path, out: &Path) -> Result<()> {
    let parent = app.parent().context("bundle has no parent folder")?;
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    for entry in walkdir::WalkDir::new(app).sort_by_file_name() {
        let entry = entry?;
        let rel = entry.path().strip_prefix(parent).expect("under parent").to_string_lossy().replace('\\', "/");
        let meta = std::fs::symlink_metadata(entry.path())?;
        let mode = unix_mode(&meta);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            zip.add_symlink(rel, target.to_string_lossy(), options)?;
        } else if meta.is_dir() {
            zip.add_directory(format!("{rel}/"), options)?;
        } else {
            zip.start_file(rel, options)?;
            std::io::copy(&mut std::fs::File::open(entry.path())?, &mut zip)?;
        }
    }
    zip.finish()?;
    Ok(())
}

fn unix_mode(meta: &std::fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        if meta.is_dir() { 0o755 } else { 0o644 }
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// RFC 3986 unreserved characters stay, everything else is %XX.
fn uri_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The headers of an AWS Signature V4 request to S3 with a known payload
/// hash (`x-amz-content-sha256`), a session token and no query string.
fn sigv4_headers(
    submission: &Submission,
    method: &str,
    host: &str,
    canonical_uri: &str,
    payload_sha256: &str,
    now: SystemTime,
) -> Vec<(String, String)> {
    use ring::hmac;
    let (date, amz_date) = amz_dates(now);
    let token = submission.session_token.expose();
    let signed_headers = "host;x-amz-content-sha256;x-amz-date;x-amz-security-token";
    let canonical_request = format!(
        "{method}\n{canonical_uri}\n\nhost:{host}\nx-amz-content-sha256:{payload_sha256}\nx-amz-date:{amz_date}\nx-amz-security-token:{token}\n\n{signed_headers}\n{payload_sha256}"
    );
    let scope = format!("{date}/{S3_REGION}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, canonical_request.as_bytes()).as_ref())
    );
    let mac = |key: &[u8], data: &str| hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes());
    let k_date = mac(format!("AWS4{}", submission.secret_key.expose()).as_bytes(), &date);
    let k_region = mac(k_date.as_ref(), S3_REGION);
    let k_service = mac(k_region.as_ref(), "s3");
    let k_signing = mac(k_service.as_ref(), "aws4_request");
    let signature = hex::encode(mac(k_signing.as_ref(), &string_to_sign).as_ref());
    vec![
        (
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                submission.access_key
            ),
        ),
        ("x-amz-content-sha256".into(), payload_sha256.into()),
        ("x-amz-date".into(), amz_date),
        ("x-amz-security-token".into(), token.into()),
    ]
}

/// `YYYYMMDD` and `YYYYMMDDTHHMMSSZ` in UTC.
fn amz_dates(now: SystemTime) -> (String, String) {
    let t = time::OffsetDateTime::from(now);
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let time = format!("{:02}{:02}{:02}", t.hour(), t.minute(), t.second());
    (date.clone(), format!("{date}T{time}Z"))
}

/// Where `notarize` leaves nothing: the scratch zip is removed with its
/// folder. Exposed for the dist step.
pub fn default_request(path: &Path) -> Request<'_> {
    Request {
        path,
        endpoints: Endpoints::default(),
        wait: Duration::from_secs(3600),
        poll: Duration::from_secs(10),
        staple: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigv4_matches_the_aws_documentation_example_dates() {
        // 2013-05-24T00:00:00Z, the date of AWS's S3 SigV4 examples.
        let t = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        assert_eq!(amz_dates(t), ("20130524".into(), "20130524T000000Z".into()));
        assert_eq!(amz_dates(UNIX_EPOCH).1, "19700101T000000Z");
        let leap_day = UNIX_EPOCH + Duration::from_secs(19_782 * 86_400 + 3_723);
        assert_eq!(amz_dates(leap_day), ("20240229".into(), "20240229T010203Z".into()));
    }

    #[test]
    fn uri_encoding_keeps_unreserved() {
        assert_eq!(uri_encode("a b/ü~"), "a%20b%2F%C3%BC~");
    }

    #[test]
    fn malformed_api_keys_name_the_variable_and_hide_the_value() {
        let env: std::collections::BTreeMap<String, String> = [
            (APPLE_API_ISSUER.to_owned(), "69a6de7e-0000-47e3-e053-5b8c7c11a4d1".to_owned()),
            (APPLE_API_KEY_ID.to_owned(), "2X9R4HXF34".to_owned()),
            (
                APPLE_API_KEY.to_owned(),
                "-----BEGIN PRIVATE KEY-----\nTOPSECRETbm90IGEga2V5\n-----END PRIVATE KEY-----".to_owned(),
            ),
        ]
        .into();
        let e = format!("{:#}", ApiKey::required(&env).unwrap_err());
        assert!(e.contains(APPLE_API_KEY) && e.contains(".p8"), "{e}");
        assert!(!e.contains("TOPSECRET"), "{e}");

        let mut partial = env.clone();
        partial.remove(APPLE_API_KEY_ID);
        let e = format!("{:#}", ApiKey::from_env(&partial).unwrap_err());
        assert!(e.contains("APPLE_API_KEY_ID is not set"), "{e}");
        assert!(ApiKey::from_env(&std::collections::BTreeMap::new()).unwrap().is_none());
    }
}
