//! `cargo xtask notarize` end to end against a **test double of Apple's
//! notary service**. Apple's servers cannot be reached from the build
//! machines, so a small HTTP server in this file plays the four services the
//! command talks to — the Notary REST API (v2), the S3 bucket Apple hands
//! out for the upload, the developer-log download and the ticket lookup —
//! and answers as Apple documents them. It enforces what Apple enforces: the
//! ES256 token must verify against the public half of the `.p8` made here
//! with openssl (else 401), the upload must carry a valid AWS Signature V4
//! made with the temporary credentials it handed out (else 403) and the
//! bytes whose sha256 was announced, and a ticket exists only for code that
//! was uploaded. Everything else the test asserts on the requests it saw.
//! On every request it also looks at every process's arguments, and at the
//! environment of any process xtask started, for the key and the token.
//!
//! The binary under test is the real `cargo xtask`; the app is a real
//! `.app` with a zig-built arm64 Mach-O, ad-hoc signed by `cargo xtask sign`.
// Needs the release tools (apple-codesign, zip, ring): `xtask-light` builds without them.
#![cfg(feature = "release-tools")]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const SUBMISSION: &str = "2efe2717-52ef-43a5-96dc-0797e4ca1041";
const BUCKET: &str = "notary-submissions-prod";
/// A key with folders and a colon, so the SigV4 path encoding is exercised.
const OBJECT: &str = "prod/AROARQRX7CZS3PRF6ZA5L:2efe2717-52ef-43a5-96dc-0797e4ca1041";
const ACCESS_KEY: &str = "ASIAHUDSONTESTDOUBLE";
const S3_SECRET: &str = "tEsTdOuBlE/s3+SecretAccessKey0123456789";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjTESTDOUBLE//session+token=";
const LOG_ISSUE: &str = "The binary is not signed with a valid Developer ID certificate.";
const LOG_SUMMARY: &str = "Archive contains critical validation errors";

#[test]
fn an_accepted_app_is_uploaded_as_announced_and_gets_its_ticket_stapled() {
    let dir = tempfile::tempdir().unwrap();
    let app = signed_app(dir.path());
    let key = ApiKey::generate(dir.path(), "AuthKey");
    let ticket = format!("s8ch\u{1}test double ticket for submission {SUBMISSION}").into_bytes();
    let double = NotaryDouble::start(
        &key,
        Scenario { unavailable: 0, in_progress: 2, verdict: "Accepted", ticket: ticket.clone() },
    );
    let signed = tree_digest(&app);

    let out = notarize(&double, &key, &app, &["--poll", "0"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(double.problems(), Vec::<String>::new(), "{log}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {log}"));
    assert_eq!(report["submission"], SUBMISSION);
    assert_eq!(report["status"], "Accepted");
    assert_eq!(report["stapled"], true);

    let exchanges = double.exchanges();
    let status = format!("GET /notary/v2/submissions/{SUBMISSION}");
    assert_eq!(
        exchanges.iter().map(Exchange::route).collect::<Vec<_>>(),
        [
            "POST /notary/v2/submissions".to_owned(),
            format!("PUT /s3/{BUCKET}/{OBJECT}"),
            status.clone(),
            status.clone(),
            status,
            "POST /ticket-lookup".to_owned(),
        ],
        "{log}"
    );
    assert!(exchanges.iter().all(|e| e.status == 200), "{exchanges:#?}");

    // Every call to the notary API carries a token Apple accepts, and no
    // other service ever sees it.
    for exchange in &exchanges {
        if exchange.route().contains(" /notary/v2/") {
            let token = exchange.bearer().unwrap_or_else(|| panic!("{} without a Bearer token", exchange.route()));
            let (header, claims) = verify_token(token, &key).unwrap();
            assert_eq!((&header["alg"], &header["kid"]), (&json!("ES256"), &json!(key.key_id)));
            assert_eq!((&claims["iss"], &claims["aud"]), (&json!(key.issuer), &json!("appstoreconnect-v1")));
        } else {
            assert_eq!(exchange.bearer(), None, "{} was sent the App Store Connect token", exchange.route());
        }
    }

    // The upload is exactly the bytes announced, signed with the temporary
    // credentials (the double answered 200: the SigV4 signature verified).
    let (submit, put) = (&exchanges[0], &exchanges[1]);
    let announced: Value = serde_json::from_slice(&submit.body).unwrap();
    assert_eq!(announced["sha256"], hex::encode(Sha256::digest(&put.body)));
    assert_eq!(announced["submissionName"], "Hudson.app.zip");
    let authorization = put.header("authorization").unwrap();
    assert!(authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")), "{authorization}");
    assert_eq!(put.header("x-amz-security-token"), Some(SESSION_TOKEN));

    // The zip holds the signed app under `Hudson.app/`, every file byte for
    // byte, the executable still executable.
    let prefix = format!("{}/", dir.path().display());
    let expected: Vec<(String, String)> =
        signed.iter().map(|(path, digest)| (path.strip_prefix(&prefix).unwrap().to_owned(), digest.clone())).collect();
    let (files, executable) = zip_contents(&put.body, "Hudson.app/Contents/MacOS/hudson-desktop");
    assert_eq!(files, expected);
    assert!(executable, "the main executable lost its mode in the upload");

    // The ticket asked for is the signed main executable's, and it is
    // stapled where macOS looks for it; nothing else changed.
    let lookup: Value = serde_json::from_slice(&exchanges[5].body).unwrap();
    assert_eq!(lookup["records"].as_array().map(Vec::len), Some(1), "{lookup}");
    assert_eq!(lookup["records"][0]["recordName"], record_name(&app.join("Contents/MacOS/hudson-desktop")));
    assert_eq!(std::fs::read(app.join("Contents/CodeResources")).unwrap(), ticket);
    let stapled: Vec<_> =
        tree_digest(&app).into_iter().filter(|(path, _)| !path.ends_with("Contents/CodeResources")).collect();
    assert_eq!(stapled, signed);

    assert_no_secret(&out, &key, &double);
}

#[test]
fn an_invalid_submission_fails_with_apples_log_and_leaves_the_app_unstapled() {
    let dir = tempfile::tempdir().unwrap();
    let app = signed_app(dir.path());
    let key = ApiKey::generate(dir.path(), "AuthKey");
    let double = NotaryDouble::start(
        &key,
        Scenario { unavailable: 0, in_progress: 1, verdict: "Invalid", ticket: b"s8ch".to_vec() },
    );
    let before = tree_digest(&app);

    let out = notarize(&double, &key, &app, &["--poll", "0"]);
    let log = text(&out);
    assert!(!out.status.success(), "an Invalid submission passed:\n{log}");
    assert_eq!(double.problems(), Vec::<String>::new(), "{log}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in ["`Invalid`", SUBMISSION, LOG_SUMMARY, LOG_ISSUE, "Contents/MacOS/hudson-desktop"] {
        assert!(stderr.contains(expected), "expected `{expected}` in:\n{stderr}");
    }

    // The log comes from the URL the API returned (a presigned S3 URL: its
    // query string is the authorization, no token goes with it).
    let exchanges = double.exchanges();
    let logs = format!("GET /notary/v2/submissions/{SUBMISSION}/logs");
    assert!(exchanges.iter().any(|e| e.route() == logs), "{exchanges:#?}");
    let download = exchanges.iter().find(|e| e.path().starts_with("/developer-logs/")).expect("the log was downloaded");
    assert_eq!(download.target, developer_log_target());
    assert_eq!(download.bearer(), None);
    assert!(!exchanges.iter().any(|e| e.path() == "/ticket-lookup"), "a rejected app's ticket was looked up");
    assert_eq!(tree_digest(&app), before, "a rejected app was changed");
    assert!(!app.join("Contents/CodeResources").exists());

    assert_no_secret(&out, &key, &double);
}

#[test]
fn a_submission_still_in_progress_when_the_wait_ends_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = signed_app(dir.path());
    let key = ApiKey::generate(dir.path(), "AuthKey");
    let double = NotaryDouble::start(
        &key,
        Scenario { unavailable: 0, in_progress: usize::MAX, verdict: "Accepted", ticket: b"s8ch".to_vec() },
    );
    let before = tree_digest(&app);

    let out = notarize(&double, &key, &app, &["--wait", "2", "--poll", "1"]);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert_eq!(double.problems(), Vec::<String>::new(), "{log}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("submission {SUBMISSION} is still in progress")), "{stderr}");
    assert!(stderr.contains("--wait"), "the error should say how to wait longer:\n{stderr}");
    assert!(stderr.contains("✗ notarize: failed"), "the step was left open:\n{stderr}");

    let exchanges = double.exchanges();
    let polls = exchanges.iter().filter(|e| e.route() == format!("GET /notary/v2/submissions/{SUBMISSION}")).count();
    assert!(polls >= 2, "gave up after {polls} poll(s) instead of waiting:\n{log}");
    assert!(!exchanges.iter().any(|e| e.path() == "/ticket-lookup" || e.path().ends_with("/logs")), "{exchanges:#?}");
    assert_eq!(tree_digest(&app), before);

    assert_no_secret(&out, &key, &double);
}

#[test]
fn status_polls_that_meet_a_5xx_are_retried_and_the_app_is_still_stapled() {
    let dir = tempfile::tempdir().unwrap();
    let app = signed_app(dir.path());
    let key = ApiKey::generate(dir.path(), "AuthKey");
    let ticket = b"s8ch\x01ticket after an outage".to_vec();
    let double = NotaryDouble::start(
        &key,
        Scenario { unavailable: 2, in_progress: 1, verdict: "Accepted", ticket: ticket.clone() },
    );

    let out = notarize(&double, &key, &app, &["--poll", "0"]);
    let log = text(&out);
    assert!(out.status.success(), "a 503 while polling ended the run:\n{log}");
    assert_eq!(double.problems(), Vec::<String>::new(), "{log}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let retries = stderr.lines().filter(|l| l.contains("503") && l.contains("trying again")).count();
    assert_eq!(retries, 2, "each retry should be reported on its own line:\n{stderr}");
    let polls = double
        .exchanges()
        .iter()
        .filter(|e| e.route() == format!("GET /notary/v2/submissions/{SUBMISSION}"))
        .map(|e| e.status)
        .collect::<Vec<_>>();
    assert_eq!(polls, [503, 503, 200, 200], "{log}");
    assert_eq!(std::fs::read(app.join("Contents/CodeResources")).unwrap(), ticket);

    assert_no_secret(&out, &key, &double);
}

#[test]
fn a_service_that_stays_unavailable_fails_at_the_wait_limit_naming_the_last_answer() {
    let dir = tempfile::tempdir().unwrap();
    let app = signed_app(dir.path());
    let key = ApiKey::generate(dir.path(), "AuthKey");
    let double = NotaryDouble::start(
        &key,
        Scenario { unavailable: usize::MAX, in_progress: 0, verdict: "Accepted", ticket: b"s8ch".to_vec() },
    );
    let before = tree_digest(&app);

    let out = notarize(&double, &key, &app, &["--wait", "2", "--poll", "1"]);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [format!("submission {SUBMISSION} could not be checked"), "503".into(), "--wait".into()] {
        assert!(stderr.contains(&expected), "expected `{expected}` in:\n{stderr}");
    }
    assert!(stderr.contains("✗ notarize: failed"), "the step was left open:\n{stderr}");
    assert!(!double.exchanges().iter().any(|e| e.path() == "/ticket-lookup"), "{:#?}", double.exchanges());
    assert_eq!(tree_digest(&app), before);

    assert_no_secret(&out, &key, &double);
}

#[test]
fn a_key_the_service_does_not_know_fails_naming_the_variables_and_uploads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = signed_app(dir.path());
    let registered = ApiKey::generate(dir.path(), "registered");
    // Same issuer and key id, another private key: Apple answers 401.
    let mut wrong = ApiKey::generate(dir.path(), "wrong");
    wrong.issuer = registered.issuer.clone();
    wrong.key_id = registered.key_id.clone();
    let double = NotaryDouble::start(
        &registered,
        Scenario { unavailable: 0, in_progress: 0, verdict: "Accepted", ticket: vec![] },
    );
    let before = tree_digest(&app);

    let out = notarize(&double, &wrong, &app, &["--poll", "0"]);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    for expected in ["✗ notarize: failed", "401", "APPLE_API_ISSUER", "APPLE_API_KEY_ID", "APPLE_API_KEY"] {
        assert!(log.contains(expected), "expected `{expected}` in:\n{log}");
    }
    let problems = double.problems();
    assert!(problems.len() == 1 && problems[0].contains("does not verify"), "{problems:?}");
    assert_eq!(double.exchanges().len(), 1, "requests after a 401: {:#?}", double.exchanges());
    assert_eq!(tree_digest(&app), before);

    assert_no_secret(&out, &wrong, &double);
}

// ---------------------------------------------------------------------------
// The app, the API key and the run.

/// `Hudson.app` with an arm64 main executable and a resource, ad-hoc signed
/// by `cargo xtask sign`.
fn signed_app(dir: &Path) -> PathBuf {
    let app = app_skeleton(dir);
    let out = xtask(&["sign", "--target", "aarch64-apple-darwin", "--ad-hoc", app.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    app
}

/// The ticket record name of a signed Mach-O (what Apple's stapler asks for).
fn record_name(macho: &Path) -> String {
    let data = std::fs::read(macho).unwrap();
    apple_codesign::SignedMachOInfo::parse_data(&data).unwrap().notarization_ticket_record_name().unwrap()
}

/// An App Store Connect API key as Apple hands it out: `AuthKey_<id>.p8`, a
/// P-256 key in PKCS#8 PEM, here made by openssl.
#[derive(Clone)]
struct ApiKey {
    issuer: String,
    key_id: String,
    p8: String,
    /// The uncompressed public point, to check tokens with.
    public: Vec<u8>,
}

impl ApiKey {
    fn generate(dir: &Path, name: &str) -> ApiKey {
        let file = dir.join(format!("{name}.p8"));
        let file = file.to_str().unwrap();
        run("openssl", &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file], &[]);
        let spki = run("openssl", &["pkey", "-in", file, "-pubout", "-outform", "DER"], &[]).stdout;
        // A P-256 SubjectPublicKeyInfo ends with the 65-byte point (0x04 ‖ x ‖ y).
        let public = spki[spki.len() - 65..].to_vec();
        assert_eq!(public[0], 4, "not an uncompressed P-256 point");
        let p8 = std::fs::read_to_string(file).unwrap();
        std::fs::remove_file(file).unwrap();
        let digest = hex::encode(Sha256::digest(&public));
        ApiKey {
            issuer: format!(
                "{}-{}-{}-{}-{}",
                &digest[..8],
                &digest[8..12],
                &digest[12..16],
                &digest[16..20],
                &digest[20..32]
            ),
            key_id: digest[32..42].to_uppercase(),
            p8,
            public,
        }
    }

    fn env(&self) -> [(&'static str, &str); 3] {
        [("APPLE_API_ISSUER", &self.issuer), ("APPLE_API_KEY_ID", &self.key_id), ("APPLE_API_KEY", &self.p8)]
    }

    /// The key, and pieces of it long enough to recognise it anywhere.
    fn secret_pieces(&self) -> Vec<String> {
        let body: Vec<&str> = self.p8.lines().filter(|l| !l.starts_with("-----") && l.len() >= 16).collect();
        let mut pieces = vec![self.p8.trim().to_owned(), body.concat()];
        pieces.extend(body.iter().map(|l| l.to_string()));
        pieces
    }
}

/// `cargo xtask --format json notarize` against the double, with the key in
/// the environment (never in the arguments).
fn notarize(double: &NotaryDouble, key: &ApiKey, app: &Path, extra: &[&str]) -> Output {
    let endpoints = double.endpoint_args();
    let mut args = vec!["--format", "json", "notarize"];
    args.extend(endpoints.iter().map(String::as_str));
    args.extend(extra);
    args.push(app.to_str().unwrap());
    let mut command = xtask_command(&args, &key.env());
    command.env("CI", "1").stdout(Stdio::piped()).stderr(Stdio::piped());
    // The double looks at the child's children from its first request on.
    let child = {
        let mut state = double.state.lock().unwrap();
        let child = command.spawn().expect("running the xtask binary");
        state.xtask = Some(child.id());
        state.secrets = key.secret_pieces();
        child
    };
    child.wait_with_output().unwrap()
}

/// Neither the `.p8`, nor any token made from it, nor the temporary S3
/// credentials reached the output; none was in any process's arguments or
/// in the environment of a process xtask started, while it talked to the
/// double (the double looks at every request).
fn assert_no_secret(out: &Output, key: &ApiKey, double: &NotaryDouble) {
    let log = text(out);
    for piece in key.secret_pieces() {
        assert!(!log.contains(&piece), "the .p8 key (`{}…`) reached the output:\n{log}", &piece[..12]);
    }
    assert!(!double.tokens().is_empty(), "the double saw no token");
    // Not only the tokens the double saw: every request signs a new one.
    assert_eq!(jwts_in(&log), Vec::<String>::new(), "a token reached the output:\n{log}");
    assert!(!log.contains(S3_SECRET) && !log.contains(SESSION_TOKEN), "an S3 credential reached the output:\n{log}");
    let state = double.state.lock().unwrap();
    assert!(state.process_scans > 0, "the processes were never looked at");
    assert_eq!(state.leaks, Vec::<String>::new());
}

/// Everything in `text` shaped like a JWT (`eyJ…` base64url JSON header,
/// claims and signature).
fn jwts_in(text: &str) -> Vec<String> {
    let in_token = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("eyJ") {
        let candidate: String = rest[start..].chars().take_while(|&c| in_token(c)).collect();
        rest = &rest[start + candidate.len().max(3)..];
        let parts: Vec<&str> = candidate.split('.').collect();
        if parts.len() == 3 && parts[1].starts_with("eyJ") && !parts[2].is_empty() {
            found.push(candidate);
        }
    }
    found
}

/// Every file of the zip (path → sha256, as `tree_digest` names them), and
/// whether `executable` has an executable mode.
fn zip_contents(bytes: &[u8], executable: &str) -> (Vec<(String, String)>, bool) {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("the upload is a zip");
    let mut files = Vec::new();
    let mut is_executable = false;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        if entry.is_dir() {
            continue;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if entry.name() == executable {
            is_executable = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        }
        files.push((entry.name().to_owned(), hex::encode(Sha256::digest(&data))));
    }
    files.sort();
    (files, is_executable)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Checks an App Store Connect token as Apple does; its header and claims.
fn verify_token(token: &str, key: &ApiKey) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts[..] else { return Err(format!("not a JWT ({} parts)", parts.len())) };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json = |part: &str, what: &str| -> Result<Value, String> {
        let bytes = b64.decode(part).map_err(|e| format!("the {what} is not base64url: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("the {what} is not JSON: {e}"))
    };
    let (header_json, claims_json) = (json(header, "header")?, json(claims, "claims")?);
    let signature = b64.decode(signature).map_err(|e| format!("the signature is not base64url: {e}"))?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &key.public)
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| "the ES256 signature does not verify with the registered key".to_owned())?;
    if header_json["alg"] != "ES256" || header_json["kid"] != key.key_id.as_str() || header_json["typ"] != "JWT" {
        return Err(format!("header {header_json}: expected ES256, kid {}, typ JWT", key.key_id));
    }
    if claims_json["iss"] != key.issuer.as_str() || claims_json["aud"] != "appstoreconnect-v1" {
        return Err(format!("claims {claims_json}: expected iss {} and aud appstoreconnect-v1", key.issuer));
    }
    let (iat, exp) = (claims_json["iat"].as_u64().unwrap_or(0), claims_json["exp"].as_u64().unwrap_or(0));
    let now = unix_now();
    // Apple refuses tokens that live longer than 20 minutes.
    if iat > now + 60 || exp <= now || exp.saturating_sub(iat) > 1200 {
        return Err(format!("iat {iat} / exp {exp} at {now}: expired or valid for more than 20 minutes"));
    }
    Ok((header_json, claims_json))
}

// ---------------------------------------------------------------------------
// The test double of Apple's notary service.

/// What happens to the submission.
struct Scenario {
    /// Status polls answered `503 Service Unavailable` first.
    unavailable: usize,
    /// Status polls answered `In Progress` after those, before the verdict.
    in_progress: usize,
    verdict: &'static str,
    ticket: Vec<u8>,
}

/// One request the double served and the status it answered.
#[derive(Debug, Clone)]
struct Exchange {
    method: String,
    /// Path and query, as sent.
    target: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    status: u16,
}

impl Exchange {
    /// The decoded path.
    fn path(&self) -> String {
        let raw = self.target.split('?').next().unwrap_or_default();
        percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
    }

    fn route(&self) -> String {
        format!("{} {}", self.method, self.path())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }
}

struct State {
    /// The key the service knows.
    key: ApiKey,
    /// The pieces of the key xtask runs with, to look for.
    secrets: Vec<String>,
    scenario: Scenario,
    xtask: Option<u32>,
    polls: usize,
    exchanges: Vec<Exchange>,
    /// Requests refused because they broke one of Apple's rules.
    problems: Vec<String>,
    /// Secrets seen in a process's arguments or a child's environment.
    leaks: Vec<String>,
    process_scans: usize,
}

struct NotaryDouble {
    base: String,
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NotaryDouble {
    fn start(key: &ApiKey, scenario: Scenario) -> NotaryDouble {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let base = format!("http://{address}");
        let state = Arc::new(Mutex::new(State {
            key: key.clone(),
            secrets: Vec::new(),
            scenario,
            xtask: None,
            polls: 0,
            exchanges: Vec::new(),
            problems: Vec::new(),
            leaks: Vec::new(),
            process_scans: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop, base) = (state.clone(), stop.clone(), base.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &base, &state);
                    }
                }
            })
        };
        NotaryDouble { base, address, state, stop, thread: Some(thread) }
    }

    /// The hidden flags that point `notarize` here.
    fn endpoint_args(&self) -> Vec<String> {
        let base = &self.base;
        ["--notary-url", &format!("{base}/notary/v2"), "--s3-url", &format!("{base}/s3")]
            .into_iter()
            .chain(["--ticket-url", &format!("{base}/ticket-lookup")])
            .map(str::to_owned)
            .collect()
    }

    fn exchanges(&self) -> Vec<Exchange> {
        self.state.lock().unwrap().exchanges.clone()
    }

    fn problems(&self) -> Vec<String> {
        self.state.lock().unwrap().problems.clone()
    }

    fn tokens(&self) -> Vec<String> {
        self.exchanges().iter().filter_map(|e| e.bearer().map(str::to_owned)).collect()
    }
}

impl Drop for NotaryDouble {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One request per connection (`Connection: close`).
fn serve(stream: TcpStream, base: &str, state: &Mutex<State>) {
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let Some(mut exchange) = read_request(&mut reader) else { return };
    let (status, body) = {
        let mut state = state.lock().unwrap();
        state.look_for_leaks(&exchange);
        let (status, body) = state.answer(base, &exchange);
        exchange.status = status;
        state.exchanges.push(exchange);
        (status, body)
    };
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        match status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            411 => "Length Required",
            503 => "Service Unavailable",
            _ => "Not Found",
        },
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body)).and_then(|()| stream.flush());
}

fn read_request(reader: &mut impl BufRead) -> Option<Exchange> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let (method, target) = (words.next()?.to_owned(), words.next()?.to_owned());
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Exchange { method, target, headers, body, status: 0 })
}

fn developer_log_target() -> String {
    format!("/developer-logs/{SUBMISSION}.json?X-Amz-Expires=3600&X-Amz-Signature=0ff1ce")
}

impl State {
    fn answer(&mut self, base: &str, request: &Exchange) -> (u16, Vec<u8>) {
        let path = request.path();
        let json = |status: u16, value: Value| (status, value.to_string().into_bytes());
        if let Some(route) = path.strip_prefix("/notary/v2") {
            if let Err(why) = verify_token(request.bearer().unwrap_or_default(), &self.key) {
                self.problems.push(format!("{}: 401: {why}", request.route()));
                return json(
                    401,
                    json!({ "errors": [{ "status": "401", "code": "NOT_AUTHORIZED",
                        "title": "Authentication credentials are missing or invalid." }] }),
                );
            }
            let submission = format!("/submissions/{SUBMISSION}");
            return match (request.method.as_str(), route) {
                ("POST", "/submissions") => self.new_submission(request),
                ("GET", r) if r == submission => {
                    self.polls += 1;
                    if self.polls <= self.scenario.unavailable {
                        return json(503, json!({ "errors": [{ "status": "503", "code": "SERVICE_UNAVAILABLE" }] }));
                    }
                    let answered = self.polls - self.scenario.unavailable;
                    let status =
                        if answered <= self.scenario.in_progress { "In Progress" } else { self.scenario.verdict };
                    json(
                        200,
                        json!({ "data": { "id": SUBMISSION, "type": "submissions", "attributes": {
                            "status": status, "name": "Hudson.app.zip", "createdDate": "2026-01-12T10:00:00.000Z" } } }),
                    )
                }
                ("GET", r) if r == format!("{submission}/logs") => json(
                    200,
                    json!({ "data": { "id": SUBMISSION, "type": "submissionsLog", "attributes": {
                        "developerLogUrl": format!("{base}{}", developer_log_target()) } } }),
                ),
                _ => json(404, json!({ "errors": [{ "status": "404", "code": "NOT_FOUND" }] })),
            };
        }
        match (request.method.as_str(), path.as_str()) {
            ("PUT", p) if p == format!("/s3/{BUCKET}/{OBJECT}") => match check_upload(request) {
                Ok(()) => (200, Vec::new()),
                Err((status, why)) => {
                    self.problems.push(format!("{}: {status}: {why}", request.route()));
                    (status, why.into_bytes())
                }
            },
            ("GET", p) if request.target == developer_log_target() && p.starts_with("/developer-logs/") => json(
                200,
                json!({
                    "logFormatVersion": 1, "jobId": SUBMISSION, "status": "Invalid",
                    "statusSummary": LOG_SUMMARY, "statusCode": 4000, "archiveFilename": "Hudson.app.zip",
                    "ticketContents": null,
                    "issues": [{ "severity": "error", "code": null,
                        "path": "Hudson.app.zip/Hudson.app/Contents/MacOS/hudson-desktop",
                        "message": LOG_ISSUE, "docUrl": null, "architecture": "arm64" }]
                }),
            ),
            ("POST", "/ticket-lookup") => self.ticket_lookup(request),
            _ => json(404, json!({ "errors": [{ "status": "404" }] })),
        }
    }

    fn new_submission(&mut self, request: &Exchange) -> (u16, Vec<u8>) {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let sha256_ok = body["sha256"].as_str().is_some_and(|s| s.len() == 64);
        if !sha256_ok || !body["submissionName"].is_string() {
            self.problems.push(format!("new submission without sha256 and submissionName: {body}"));
            return (400, br#"{"errors":[{"status":"400"}]}"#.to_vec());
        }
        let answer = json!({ "data": { "id": SUBMISSION, "type": "newSubmissions", "attributes": {
            "awsAccessKeyId": ACCESS_KEY, "awsSecretAccessKey": S3_SECRET, "awsSessionToken": SESSION_TOKEN,
            "bucket": BUCKET, "object": OBJECT } }, "meta": {} });
        (200, answer.to_string().into_bytes())
    }

    /// A ticket only for code directories of an accepted upload, as Apple's
    /// CloudKit-backed lookup answers.
    fn ticket_lookup(&mut self, request: &Exchange) -> (u16, Vec<u8>) {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let notarized = if self.scenario.verdict == "Accepted" && self.polls > self.scenario.in_progress {
            self.uploaded_record_names()
        } else {
            Vec::new()
        };
        let ticket = base64::engine::general_purpose::STANDARD.encode(&self.scenario.ticket);
        let records: Vec<Value> = body["records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let name = r["recordName"].as_str().unwrap_or_default();
                let event = json!({ "deviceID": "2", "timestamp": 1_768_212_000_000_u64, "userRecordName": "_test" });
                if notarized.iter().any(|n| n == name) {
                    json!({ "recordName": name, "recordType": "DeveloperIDTicket", "deleted": false,
                        "created": event, "modified": event, "recordChangeTag": "mk1",
                        "fields": { "signedTicket": { "type": "BYTES", "value": ticket } } })
                } else {
                    json!({ "recordName": name, "reason": "Record not found", "serverErrorCode": "NOT_FOUND" })
                }
            })
            .collect();
        (200, json!({ "records": records }).to_string().into_bytes())
    }

    /// The ticket record names of every signed Mach-O in the uploaded zip.
    fn uploaded_record_names(&self) -> Vec<String> {
        let Some(upload) = self.exchanges.iter().find(|e| e.method == "PUT" && e.status == 200) else {
            return Vec::new();
        };
        let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(&upload.body)) else { return Vec::new() };
        let mut names = Vec::new();
        for i in 0..zip.len() {
            let mut data = Vec::new();
            if zip.by_index(i).and_then(|mut f| Ok(f.read_to_end(&mut data)?)).is_err() {
                continue;
            }
            if let Ok(info) = apple_codesign::SignedMachOInfo::parse_data(&data)
                && let Ok(name) = info.notarization_ticket_record_name()
            {
                names.push(name);
            }
        }
        names
    }

    /// Looks, while xtask waits for this answer, at every process's arguments
    /// and at the environment of every process xtask started.
    fn look_for_leaks(&mut self, request: &Exchange) {
        assert!(Path::new("/proc/self/cmdline").exists(), "the process check reads /proc (Linux)");
        let mut secrets: Vec<(&str, String)> = self.secrets.iter().map(|p| (".p8 key", p.clone())).collect();
        if let Some(token) = request.bearer() {
            secrets.push(("App Store Connect token", token.to_owned()));
        }
        secrets.push(("S3 secret key", S3_SECRET.to_owned()));
        let parents: BTreeMap<u32, u32> = pids().into_iter().filter_map(|pid| Some((pid, parent(pid)?))).collect();
        for &pid in parents.keys() {
            let started_by_xtask = self.xtask.is_some_and(|xtask| {
                let mut p = parents.get(&pid).copied();
                while let Some(ancestor) = p.filter(|&a| a > 1) {
                    if ancestor == xtask {
                        return true;
                    }
                    p = parents.get(&ancestor).copied();
                }
                false
            });
            let mut places = vec![("arguments", format!("/proc/{pid}/cmdline"))];
            if started_by_xtask {
                places.push(("environment", format!("/proc/{pid}/environ")));
            }
            for (place, file) in places {
                let Ok(bytes) = std::fs::read(&file) else { continue };
                let bytes = String::from_utf8_lossy(&bytes);
                for (what, secret) in &secrets {
                    if bytes.contains(secret.as_str()) {
                        self.leaks.push(format!("the {what} is in the {place} of process {pid}"));
                    }
                }
            }
        }
        self.process_scans += 1;
    }
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|entries| entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name may hold spaces and parentheses; the fields resume after the last ')'.
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

/// The upload as S3 checks it: content length, the payload hash against the
/// bytes, the session token, and the AWS Signature V4 recomputed from the
/// request with the secret the double handed out.
fn check_upload(request: &Exchange) -> Result<(), (u16, String)> {
    let header = |name: &str| request.header(name).ok_or((403, format!("no {name} header")));
    if request.header("content-length").is_none() {
        return Err((411, "MissingContentLength".into()));
    }
    let payload = hex::encode(Sha256::digest(&request.body));
    if header("x-amz-content-sha256")? != payload {
        return Err((400, "XAmzContentSHA256Mismatch".into()));
    }
    if header("x-amz-security-token")? != SESSION_TOKEN {
        return Err((403, "InvalidToken".into()));
    }
    let authorization = header("authorization")?;
    let fields: BTreeMap<&str, &str> = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or((400, format!("not SigV4: {authorization}")))?
        .split(',')
        .filter_map(|f| f.trim().split_once('='))
        .collect();
    let field = |name: &str| fields.get(name).copied().ok_or((400, format!("no {name} in the Authorization header")));
    let credential: Vec<&str> = field("Credential")?.split('/').collect();
    let [access_key, date, region, "s3", "aws4_request"] = credential[..] else {
        return Err((400, format!("AuthorizationHeaderMalformed: {credential:?}")));
    };
    if access_key != ACCESS_KEY {
        return Err((403, format!("InvalidAccessKeyId: {access_key}")));
    }
    if region != "us-west-2" {
        return Err((400, format!("AuthorizationHeaderMalformed: region {region}, the bucket is in us-west-2")));
    }
    let amz_date = header("x-amz-date")?;
    if !amz_date.starts_with(date) || amz_date.len() != 16 {
        return Err((403, format!("x-amz-date {amz_date} does not match the credential date {date}")));
    }
    let signed_headers = field("SignedHeaders")?;
    for required in ["host", "x-amz-content-sha256", "x-amz-date"] {
        if !signed_headers.split(';').any(|h| h == required) {
            return Err((403, format!("{required} is not signed")));
        }
    }
    // S3 decodes the path and encodes each segment once, keeping only the
    // unreserved characters.
    const UNRESERVED: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    let canonical_uri: Vec<String> = request
        .path()
        .split('/')
        .map(|segment| percent_encoding::utf8_percent_encode(segment, UNRESERVED).to_string())
        .collect();
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        canonical_headers.push_str(&format!("{name}:{}\n", header(name)?.trim()));
    }
    let canonical_request =
        format!("{}\n{}\n\n{canonical_headers}\n{signed_headers}\n{payload}", request.method, canonical_uri.join("/"));
    let scope = format!("{date}/{region}/s3/aws4_request");
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));
    let mac = |key: &[u8], data: &str| {
        ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), data.as_bytes()).as_ref().to_vec()
    };
    let mut signing_key = mac(format!("AWS4{S3_SECRET}").as_bytes(), date);
    for part in [region, "s3", "aws4_request"] {
        signing_key = mac(&signing_key, part);
    }
    if hex::encode(mac(&signing_key, &string_to_sign)) != field("Signature")? {
        return Err((403, format!("SignatureDoesNotMatch; the canonical request was:\n{canonical_request}")));
    }
    Ok(())
}
