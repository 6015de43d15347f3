//! Secure storage end to end, with real parts: the real backend release
//! (`mix release`), started through `hudson-lifecycle` with the shell's
//! storage server ([`hudson_secrets::Server`], wired exactly as the shell
//! wires it), and the real Secret Service (`gnome-keyring-daemon`) read
//! independently with `secret-tool`.
//!
//! `#[ignore]`d: they need the release `cargo xtask dist` stages and a D-Bus
//! session that `cargo xtask test` sets up (stage "secure storage"):
//! `with_gnome_keyring` on a bus with an unlocked gnome-keyring and HOME set
//! to a scratch folder, `without_secret_service` on a bus without one.
#![cfg(target_os = "linux")]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use hudson_lifecycle::channel::Storage;
use hudson_lifecycle::logs::{Log, Rotation};
use hudson_lifecycle::{Backend, LaunchSpec};
use hudson_secrets::pilot::PILOT_FILE;
use hudson_secrets::{SecureStore, Server};

/// Not the shipped app's identifier: test entries never mix with a user's.
const SERVICE: &str = "dev.hudson.secrets-test";
use hudson_lifecycle::shell_event::LOG_FILE;

fn release() -> PathBuf {
    let dir = PathBuf::from(std::env::var_os("HUDSON_RELEASE_DIR").expect("set HUDSON_RELEASE_DIR to the release"));
    assert!(dir.join("bin/hudson").is_file(), "{} has no bin/hudson", dir.display());
    dir
}

/// A random secret of letters (and, after them, non-ASCII text, which must
/// cross both pipes unchanged): no redaction pattern matches it, so only the
/// exact-value redaction can mask it.
fn secret(label: &str) -> String {
    let mut out = format!("{label}-");
    for _ in 0..3 {
        let mut h = RandomState::new().build_hasher();
        h.write_u8(0);
        let mut n = h.finish();
        for _ in 0..10 {
            out.push((b'a' + (n % 26) as u8) as char);
            n /= 26;
        }
    }
    out + "-é€😀"
}

/// `application/x-www-form-urlencoded` for one value.
fn form(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'-' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

struct Run {
    backend: Backend,
    http: reqwest::blocking::Client,
    log: Log,
}

fn start(root: &Path) -> Run {
    let (data, logs) = (root.join("data"), root.join("logs"));
    let log = Log::open(&logs, LOG_FILE, Rotation::default(), false);
    let mut spec = LaunchSpec::for_release(&release(), "hudson", data.clone(), logs, root.join("run"));
    spec.env.push(("HUDSON_STORAGE_SELFTEST".into(), "1".into()));
    let server = Server::new(Arc::new(SecureStore::native(SERVICE)), log.clone(), Some(data.join(PILOT_FILE)));
    spec.storage = Some(Storage::new(server));
    let backend = Backend::start(&spec, &mut |n| hudson_lifecycle::supervisor::log_notice(&log, n)).unwrap();
    log.add_secret(backend.token());
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(90))
        .build()
        .unwrap();
    Run { backend, http, log }
}

impl Run {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.backend.origin())
    }

    /// Enters with the token; returns the session cookie.
    fn enter(&self) -> String {
        let response = self.http.get(self.backend.enter_url()).send().unwrap();
        assert_eq!(response.status().as_u16(), 303);
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    fn settings(&self, cookie: &str) -> String {
        let response = self.http.get(self.url("/settings")).header("cookie", cookie).send().unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.text().unwrap()
    }

    /// The settings form; returns where it redirects.
    fn post_credential(&self, cookie: &str, body: &str) -> String {
        let response = self
            .http
            .post(self.url("/settings/credential"))
            .header("cookie", cookie)
            .header("origin", self.backend.origin())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 303, "{:?}", response.text());
        response.headers()["location"].to_str().unwrap().to_owned()
    }

    /// The backend's storage test hook.
    fn selftest(&self, query: &str) -> serde_json::Value {
        let url = self.url(&format!("/desktop/selftest/storage?token={}&{query}", self.backend.token()));
        let response = self.http.get(url).send().unwrap();
        assert_eq!(response.status().as_u16(), 200);
        serde_json::from_str(&response.text().unwrap()).unwrap()
    }

    /// Writes the backend's output so far to the log, as the shell's
    /// supervisor does, and stops it.
    fn stop(self) -> Log {
        use hudson_lifecycle::event::{Event, Stream};
        use hudson_lifecycle::logs::Source;
        for event in self.backend.events().try_iter() {
            if let Event::Output(stream, line) = event {
                let source = if stream == Stream::Stdout { Source::BackendStdout } else { Source::BackendStderr };
                self.log.write(source, &line);
            }
        }
        let log = self.log.clone();
        self.backend.shutdown(Duration::from_secs(5), &mut |n| hudson_lifecycle::supervisor::log_notice(&log, n));
        self.log
    }
}

fn secret_tool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("secret-tool")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("secret-tool (package libsecret-tools)");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn lookup(key: &str) -> Option<String> {
    let (ok, out) = secret_tool(&["lookup", "service", SERVICE, "username", key], None);
    ok.then_some(out)
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Every file under `dir` (symlinks not followed, files over 64 MiB and
/// unreadable ones skipped) that holds one of `needles`. The checkout and
/// its build folder are not walked: no run writes there, and a checkout
/// under `/tmp` would make the scan read gigabytes of build output. The
/// backend's release, inside the build folder, is scanned by the callers.
fn files_holding(dir: &Path, needles: &[&str], found: &mut Vec<String>) {
    let finders: Vec<_> = needles.iter().map(|n| (*n, memchr::memmem::Finder::new(n.as_bytes()))).collect();
    let exe = std::env::current_exe().unwrap();
    // <build folder>/debug/deps/real_store-<hash>
    let build = exe.ancestors().nth(3).unwrap().to_path_buf();
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            let path = entry.path();
            if kind.is_dir() {
                if path != build && path != checkout {
                    pending.push(path);
                }
            } else if kind.is_file() && entry.metadata().is_ok_and(|m| m.len() <= 64 << 20) {
                let Ok(bytes) = std::fs::read(&path) else { continue };
                for (needle, finder) in &finders {
                    if finder.find(&bytes).is_some() {
                        found.push(format!("{} holds {needle}", path.display()));
                    }
                }
            }
        }
    }
}

/// Every process's environment and command line that holds one of `needles`.
fn processes_holding(needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        for file in ["environ", "cmdline"] {
            let Ok(bytes) = std::fs::read(entry.path().join(file)) else { continue };
            for needle in needles {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(format!("/proc/{}/{file} holds {needle}", name.to_string_lossy()));
                }
            }
        }
    }
    found
}

#[test]
#[ignore = "needs the release and a Secret Service: cargo xtask test runs it"]
fn with_gnome_keyring() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (typed, from_tool, from_pilot) = (secret("typed"), secret("tool"), secret("pilot"));
    let pilot = data.join(PILOT_FILE);
    std::fs::write(&pilot, format!("{{\"pilot_token\": \"{from_pilot}\"}}")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pilot, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let run = start(root.path());
    let cookie = run.enter();
    // The first request moved the pilot's file in (the enter above asked
    // for secret_key_base): read back by the independent client, file gone.
    assert_eq!(lookup("pilot_token").as_deref(), Some(from_pilot.as_str()));
    assert!(!pilot.exists(), "the pilot file was not deleted after the import");
    let key_base = lookup("secret_key_base").expect("secret_key_base was not created in the store");
    assert!(key_base.len() >= 86, "secret_key_base is not 64 bytes of base64");

    // Elixir → shell → Secret Service, read by secret-tool.
    assert_eq!(run.post_credential(&cookie, &format!("value={}", form(&typed))), "/settings?saved");
    assert_eq!(lookup("openai_api_key").as_deref(), Some(typed.as_str()));
    // What the support bundle's redactor learns: every value of the service.
    let values = SecureStore::native(SERVICE).values();
    assert!(values.contains(&typed) && values.contains(&key_base), "values() missed entries ({} found)", values.len());
    let page = run.settings(&cookie);
    let last4: String = typed.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    assert!(page.contains(&format!("••••••••{last4}")), "{page}");
    assert!(!page.contains(&typed), "the settings page shows the whole credential");

    // secret-tool → Secret Service → shell → Elixir.
    let label = "--label=Hudson test";
    assert!(secret_tool(&["store", label, "service", SERVICE, "username", "from_tool"], Some(&from_tool)).0);
    let got = run.selftest("op=get&key=from_tool");
    assert_eq!(got["sha256"], sha256(&from_tool), "{got}");

    // A value in a log line that no pattern matches is still masked.
    assert_eq!(run.selftest("op=log&key=from_tool")["ok"], true);

    // 200 concurrent callers: no lost write, no crossed answer.
    let concurrent = run.selftest("op=concurrent&n=200");
    assert_eq!(concurrent["ok"], true, "{concurrent}");

    // Bad input from the backend's side: the shell answers and keeps going.
    let bad = run.selftest(&format!("op=put&key=bad%20key&value={}", form(&typed)));
    assert_eq!(bad["error"], "invalid_key");
    let big = "x".repeat(64 * 1024 + 1);
    assert_eq!(run.post_credential(&cookie, &format!("value={big}")), "/settings?error=too_large");
    assert_eq!(lookup("openai_api_key").as_deref(), Some(typed.as_str()), "an oversized put changed the value");

    // delete removes it for both.
    assert_eq!(run.post_credential(&cookie, "delete=1"), "/settings?saved");
    assert_eq!(lookup("openai_api_key"), None);
    assert_eq!(run.selftest("op=delete&key=from_tool")["ok"], true);
    assert_eq!(lookup("from_tool"), None);
    assert_eq!(run.selftest("op=get&key=from_tool")["error"], "not_found");

    // The secrets appear nowhere but the store, while the backend runs.
    let needles = [typed.as_str(), from_tool.as_str(), from_pilot.as_str(), key_base.as_str()];
    let in_processes = processes_holding(&needles);
    assert!(in_processes.is_empty(), "{in_processes:#?}");
    let log = run.stop();
    let mut in_files = Vec::new();
    let home = PathBuf::from(std::env::var_os("HOME").unwrap());
    for dir in [root.path().to_path_buf(), std::env::temp_dir(), home, release()] {
        files_holding(&dir, &needles, &mut in_files);
    }
    in_files.sort();
    in_files.dedup();
    assert!(in_files.is_empty(), "secrets found in files: {in_files:#?}");
    let text = std::fs::read_to_string(root.path().join("logs").join(LOG_FILE)).unwrap();
    assert!(text.contains("selftest: the value of from_tool is [REDACTED]"), "the logged value was not masked");
    assert!(text.contains("moved 1 credential(s)") && text.contains("pilot_token"), "no import report in the log");
    drop(log);

    // The next launch reuses secret_key_base.
    let run = start(root.path());
    run.enter();
    assert_eq!(lookup("secret_key_base"), Some(key_base), "secret_key_base changed on the second launch");
    run.stop();
    for key in ["pilot_token", "secret_key_base"] {
        secret_tool(&["clear", "service", SERVICE, "username", key], None);
    }
}

#[test]
#[ignore = "needs the release and a session bus without a Secret Service: cargo xtask test runs it"]
fn without_secret_service() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (typed, from_pilot) = (secret("typed"), secret("pilot"));
    let pilot = data.join(PILOT_FILE);
    std::fs::write(&pilot, format!("{{\"pilot_token\": \"{from_pilot}\"}}")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pilot, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let run = start(root.path());
    let cookie = run.enter();
    // Fail closed: the UI says what to install, the form stores nothing.
    let page = run.settings(&cookie);
    assert!(page.contains("Secure storage is not available (unavailable)"), "{page}");
    assert!(page.contains("gnome-keyring"), "the page does not say what to install: {page}");
    assert_eq!(run.post_credential(&cookie, &format!("value={}", form(&typed))), "/settings?error=unavailable");
    assert_eq!(run.selftest("op=get&key=anything")["error"], "unavailable");
    let log = run.stop();
    drop(log);

    // The pilot's file stays where it was; the typed value is nowhere.
    assert!(pilot.exists(), "the pilot file was removed without a store to move it to");
    let mut in_files = Vec::new();
    files_holding(root.path(), &[typed.as_str()], &mut in_files);
    files_holding(&std::env::temp_dir(), &[typed.as_str()], &mut in_files);
    files_holding(&release(), &[typed.as_str()], &mut in_files);
    assert!(in_files.is_empty(), "{in_files:#?}");
    let text = std::fs::read_to_string(root.path().join("logs").join(LOG_FILE)).unwrap();
    assert!(text.contains("stays in place until a secure store works"), "{text}");
}
