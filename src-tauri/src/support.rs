//! One zip a user can send to support when Hudson "doesn't work": from the
//! Diagnostics window's "Export support bundle…" (into the Downloads folder),
//! or `hudson-desktop --support-bundle <file.zip>` from a terminal without
//! opening a window (no display, Tauri or backend needed):
//!
//! - `diagnostics.json` — versions, OS, the log folder and its size, what
//!   crash evidence there is, and from the window its whole report;
//! - `logs/…` — the shell's logs (`hudson-desktop.log*`), the crash records
//!   (`crash-*.json`) and the backend's `erl_crash.dump`, each read as a
//!   regular file of bounded size and passed line by line through the log's
//!   redactor, even though the logs were redacted once already;
//! - `manifest.json` — every entry with its size and where it came from.
//!
//! The zip is written under a temporary name beside the target and renamed:
//! whole or absent.

use std::io::Write;
use std::path::{Path, PathBuf};

use hudson_lifecycle::redact::Redactor;
use serde::Serialize;

/// The most of any one file the bundle takes (the crash dump is capped at
/// 16 MiB, logs at `log-max-bytes`).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// What the bundle describes and where it reads from.
pub(crate) struct Sources {
    pub identifier: String,
    pub shell_version: String,
    pub log_dir: PathBuf,
}

impl Sources {
    /// The per-user log folder as Tauri resolves it (`app_log_dir`), found
    /// without starting Tauri.
    pub(crate) fn for_identifier(identifier: &str, shell_version: &str) -> Option<Sources> {
        #[cfg(target_os = "macos")]
        let log_dir = dirs::home_dir()?.join("Library/Logs").join(identifier);
        #[cfg(not(target_os = "macos"))]
        let log_dir = dirs::data_local_dir()?.join(identifier).join("logs");
        Some(Sources { identifier: identifier.to_owned(), shell_version: shell_version.to_owned(), log_dir })
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Entry {
    pub name: String,
    pub bytes: u64,
    pub source: String,
}

#[derive(Debug, Serialize)]
struct Diagnostics<'a> {
    schema: &'static str,
    created: String,
    identifier: &'a str,
    shell_version: &'a str,
    os: &'static str,
    arch: &'static str,
    log_dir: String,
    log_dir_bytes: u64,
    crash_records: usize,
    backend_crash_dump: bool,
    /// The Diagnostics window's report, when the window exported the bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<&'a serde_json::Value>,
}

/// The log folder's files a bundle takes, by name.
fn wanted(name: &str) -> bool {
    name.starts_with(crate::LOG_FILE)
        || crate::crash::is_record(name)
        || name == hudson_lifecycle::contract::CRASH_DUMP_FILE
}

/// Writes the bundle to `out`; returns what is inside.
pub(crate) fn write(
    out: &Path,
    sources: &Sources,
    redactor: &Redactor,
    window: Option<&serde_json::Value>,
) -> Result<Vec<Entry>, String> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if out.is_dir() {
        return Err(format!("{} is a folder; name the .zip file to write", out.display()));
    }
    let mut names: Vec<(String, PathBuf, u64)> = std::fs::read_dir(&sources.log_dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.to_owned();
                    let meta = e.metadata().ok()?;
                    (wanted(&name) && meta.is_file()).then(|| (name, e.path(), meta.len()))
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let temp = dir.join(format!(
        ".{}.partial-{}",
        out.file_name().and_then(|n| n.to_str()).unwrap_or("bundle.zip"),
        std::process::id()
    ));
    let result = (|| -> Result<Vec<Entry>, String> {
        let file = std::fs::File::create(&temp).map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let mut entries = Vec::new();
        let diagnostics = Diagnostics {
            schema: "hudson-support-diagnostics/1",
            created: crate::crash::now(),
            identifier: &sources.identifier,
            shell_version: &sources.shell_version,
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            log_dir: sources.log_dir.display().to_string(),
            log_dir_bytes: names.iter().map(|(_, _, len)| len).sum(),
            crash_records: names.iter().filter(|(n, _, _)| crate::crash::is_record(n)).count(),
            backend_crash_dump: names.iter().any(|(n, _, _)| n == hudson_lifecycle::contract::CRASH_DUMP_FILE),
            window,
        };
        let json = serde_json::to_vec_pretty(&diagnostics).map_err(|e| e.to_string())?;
        let json = redactor.redact(&String::from_utf8_lossy(&json)).into_owned();
        add(&mut zip, &mut entries, options, "diagnostics.json".to_owned(), json.as_bytes(), "this report".to_owned())?;
        for (name, path, _) in &names {
            let bytes = match hudson_lifecycle::untrusted::read(path, MAX_FILE_BYTES) {
                Ok(bytes) => bytes,
                // Too large, a symlink, gone: say so in the bundle, go on.
                Err(refused) => format!("not included: {refused}\n").into_bytes(),
            };
            let text = String::from_utf8_lossy(&bytes);
            let mut redacted = String::with_capacity(text.len());
            for line in text.lines() {
                redacted.push_str(&redactor.redact(line));
                redacted.push('\n');
            }
            add(
                &mut zip,
                &mut entries,
                options,
                format!("logs/{name}"),
                redacted.as_bytes(),
                path.display().to_string(),
            )?;
        }
        let manifest = serde_json::to_vec_pretty(&entries).map_err(|e| e.to_string())?;
        add(&mut zip, &mut entries, options, "manifest.json".to_owned(), &manifest, "the list of entries".to_owned())?;
        let file = zip.finish().map_err(|e| format!("finishing the zip: {e}"))?;
        file.sync_all().map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
        Ok(entries)
    })();
    match result {
        Ok(entries) => {
            std::fs::rename(&temp, out).map_err(|e| format!("cannot move the bundle to {}: {e}", out.display()))?;
            Ok(entries)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&temp);
            Err(error)
        }
    }
}

fn add(
    zip: &mut zip::ZipWriter<std::fs::File>,
    entries: &mut Vec<Entry>,
    options: zip::write::SimpleFileOptions,
    name: String,
    bytes: &[u8],
    source: String,
) -> Result<(), String> {
    zip.start_file(name.as_str(), options).map_err(|e| format!("writing {name} into the zip: {e}"))?;
    zip.write_all(bytes).map_err(|e| format!("writing {name} into the zip: {e}"))?;
    entries.push(Entry { name, bytes: bytes.len() as u64, source });
    Ok(())
}

/// `redactor` that also masks every value the secure store holds for this
/// app, even where no pattern would match it.
fn with_store_values(identifier: &str, mut redactor: Redactor) -> Redactor {
    for value in hudson_secrets::SecureStore::native(identifier).values() {
        redactor.add_secret(&value);
    }
    redactor
}

/// Where "Export support bundle…"'s save dialog opens, and the name it
/// suggests: the user's Downloads folder (the home folder where there is
/// none) and `hudson-support-<unix time>.zip`.
pub(crate) fn suggested_location(app: &tauri::AppHandle) -> Result<(PathBuf, String), String> {
    use tauri::Manager;
    // A Downloads folder that is configured but absent does not count.
    let folder = match app.path().download_dir() {
        Ok(downloads) if downloads.is_dir() => downloads,
        _ => app
            .path()
            .home_dir()
            .map_err(|e| format!("there is no Downloads or home folder to save the bundle in ({e})"))?,
    };
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Ok((folder, format!("hudson-support-{stamp}.zip")))
}

/// The Diagnostics window's "Export support bundle…", once the user picked
/// `out`: the bundle, with the window's whole report, redacted with the
/// live log's secrets and the store's values. Blocking (it asks `/healthz`
/// and the secure store).
pub(crate) fn export_from_window(app: &tauri::AppHandle, out: &Path) -> Result<(), String> {
    use tauri::Manager;
    let report = crate::diagnostics::report(app);
    let identifier = app.config().identifier.clone();
    let shell = app.state::<crate::Shell>();
    let redactor = with_store_values(&identifier, shell.log.redactor());
    let window = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    let sources = Sources {
        identifier,
        shell_version: report.shell_version.clone(),
        log_dir: PathBuf::from(&report.log_folder.path),
    };
    let entries = write(out, &sources, &redactor, Some(&window))?;
    shell.log.shell(&format!("support bundle: wrote {} ({} entries)", out.display(), entries.len()));
    Ok(())
}

/// `--support-bundle <path>` on the command line: writes the bundle and
/// says where, or why not; `Some(exit code)` when the flag was given.
pub(crate) fn from_command_line(identifier: &str, shell_version: &str) -> Option<i32> {
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg != "--support-bundle" {
            continue;
        }
        let Some(out) = args.next() else {
            eprintln!(
                "--support-bundle needs the path of the .zip to write, e.g. --support-bundle ~/hudson-support.zip"
            );
            return Some(2);
        };
        let Some(sources) = Sources::for_identifier(identifier, shell_version) else {
            eprintln!("cannot find Hudson's log folder: no home folder is known for this user");
            return Some(1);
        };
        let redactor = with_store_values(identifier, Redactor::new());
        return Some(match write(Path::new(&out), &sources, &redactor, None) {
            Ok(entries) => {
                println!(
                    "wrote {} ({} entries, from {})",
                    Path::new(&out).display(),
                    entries.len(),
                    sources.log_dir.display()
                );
                0
            }
            Err(error) => {
                eprintln!("could not write the support bundle: {error}");
                1
            }
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn the_bundle_holds_redacted_logs_crash_evidence_and_a_manifest() {
        let home = tempfile::tempdir().unwrap();
        let log_dir = home.path().join("logs");
        std::fs::create_dir_all(&log_dir).unwrap();
        std::fs::write(log_dir.join("hudson-desktop.log"), "started\nDATABASE_URL=ecto://u:pa55word@db/prod\n")
            .unwrap();
        std::fs::write(log_dir.join("crash-1-2.json"), "{\"message\": \"shpat_0123456789abcdef0123456789abcdef\"}")
            .unwrap();
        std::fs::write(log_dir.join("erl_crash.dump"), "Slogan: boom\npostgres://u:pa55word@db:5432/x\n").unwrap();
        std::fs::write(log_dir.join("unrelated.txt"), "not taken").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/dev/zero", log_dir.join("hudson-desktop.log.1")).unwrap();
        let sources = Sources { identifier: "dev.hudson.desktop".into(), shell_version: "0.1.0".into(), log_dir };
        let out = home.path().join("bundle.zip");
        let entries = write(&out, &sources, &Redactor::new(), None).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "diagnostics.json",
                "logs/crash-1-2.json",
                "logs/erl_crash.dump",
                "logs/hudson-desktop.log",
                "manifest.json"
            ]
        );
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
        let mut all = String::new();
        for i in 0..zip.len() {
            zip.by_index(i).unwrap().read_to_string(&mut all).unwrap();
        }
        for secret in ["pa55word", "shpat_0123456789abcdef"] {
            assert!(!all.contains(secret), "{secret} in the bundle:\n{all}");
        }
        assert!(all.contains("Slogan: boom") && all.contains("\"crash_records\": 1"), "{all}");
        // Nothing but the zip is left beside it.
        assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 2);
    }
}
