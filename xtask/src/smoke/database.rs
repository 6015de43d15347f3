//! Steps `sqlite` and `sqlite-reopen`: the packaged backend's local
//! database (the product's "SQLite migration + cache read/write").
//!
//! `sqlite`, on an empty data folder: `/healthz` reports the `database`
//! check ok with the schema its migrations reached; a cache entry written
//! through the app's own page (`POST /cache`, with the session a user gets)
//! is read back from the page and, when the `sqlite3` command is on this
//! machine, from the database file by that independent reader.
//! `sqlite-reopen`, after the backend was stopped and started again on the
//! same data folder: the same schema, and the entry is still there.
//!
//! A backend without a `database` check (a backend with no local database)
//! makes both steps skipped, or failed with `--require-database`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hudson_lifecycle::Backend;
use hudson_lifecycle::contract::{CheckStatus, SESSION_COOKIE};

use super::http::Http;
use super::report::Outcome;

/// The entry both steps look for.
pub const KEY: &str = "smoke-check";
/// Where the reference backend keeps its database, under the data folder.
pub const DATABASE: &str = "db/hudson.sqlite3";

/// What the first step saw, for the second.
#[derive(Debug, Clone)]
pub struct Written {
    pub schema: u64,
    pub value: String,
}

/// Step `sqlite`: migrated, written, read back.
pub fn first(http: &Http, backend: &Backend, data: &Path, required: bool) -> (Outcome, Option<Written>) {
    let schema = match schema(backend) {
        Ok(schema) => schema,
        Err(Absent(why)) => return (absent(why, required), None),
        Err(Broken(outcome)) => return (*outcome, None),
    };
    let value = format!("written by smoke {}", &hudson_lifecycle::handshake::Token::generate().as_str()[..16]);
    let outcome = (|| {
        let cookie = enter(http, backend)?;
        let answer = http.post_form(backend.port(), "/cache", &[("key", KEY), ("value", &value)], &cookie)?;
        if answer.status == 404 {
            return Ok(absent("the backend has no /cache page".to_owned(), required));
        }
        if answer.status != 303 {
            return Ok(Outcome::mismatch(
                "writing a cache entry through POST /cache failed",
                "303 to /cache?saved",
                format!("{}: {}", answer.status, first_line(&answer.body)),
            ));
        }
        if let Some(problem) = page_lacks(http, backend, &cookie, &value)? {
            return Ok(problem);
        }
        let reader = match independent_read(&data.join(DATABASE)) {
            Some(Ok((version, stored))) if version == schema && stored.as_deref() == Some(value.as_str()) => {
                format!("; sqlite3 reads schema {version} and the entry from {DATABASE}")
            }
            Some(Ok((version, stored))) => {
                return Ok(Outcome::mismatch(
                    format!("the database file {DATABASE} does not hold what the backend reported"),
                    format!("schema {schema} and the entry {KEY}"),
                    format!("schema {version}, entry {}", if stored.is_some() { "different" } else { "missing" }),
                ));
            }
            Some(Err(why)) => return Ok(Outcome::fail(format!("sqlite3 could not read {DATABASE}: {why}"))),
            None => "; not cross-checked (no sqlite3 command on this machine)".to_owned(),
        };
        Ok::<_, String>(Outcome::pass(format!(
            "migrated to schema {schema} on an empty data folder; {KEY} written through POST /cache and read back from the page{reader}"
        )))
    })();
    let written = matches!(&outcome, Ok(o) if o.status == super::report::Status::Pass)
        .then(|| Written { schema, value: value.clone() });
    (outcome.unwrap_or_else(Outcome::fail), written)
}

/// Step `sqlite-reopen`: after a restart on the same data folder.
pub fn reopen(http: &Http, backend: &Backend, written: &Written) -> Outcome {
    let schema = match schema(backend) {
        Ok(schema) => schema,
        Err(Absent(why)) => return Outcome::fail(format!("{why}, though it had one before the restart")),
        Err(Broken(outcome)) => return *outcome,
    };
    if schema != written.schema {
        return Outcome::mismatch(
            "the schema changed across a restart",
            format!("schema {}", written.schema),
            format!("schema {schema}"),
        );
    }
    let outcome = (|| {
        let cookie = enter(http, backend)?;
        Ok::<_, String>(page_lacks(http, backend, &cookie, &written.value)?.unwrap_or_else(|| {
            Outcome::pass(format!("schema {schema} again, and {KEY} read back from the page after the restart"))
        }))
    })();
    outcome.unwrap_or_else(Outcome::fail)
}

enum Problem {
    /// The backend has no database (no check): skip, or fail if required.
    Absent(String),
    Broken(Box<Outcome>),
}
use Problem::{Absent, Broken};

fn absent(why: String, required: bool) -> Outcome {
    let why = format!("{why}: no local database to check");
    if required { Outcome::fail(why) } else { Outcome::skipped(why) }
}

/// The schema the `database` check of `/healthz` reports (`schema N; …`).
fn schema(backend: &Backend) -> Result<u64, Problem> {
    let health = backend
        .check_health(Duration::from_secs(5))
        .map_err(|e| Broken(Box::new(Outcome::fail(format!("/healthz: {e}")))))?;
    let Some(check) = health.checks.get("database") else {
        return Err(Absent("the backend reports no `database` check in /healthz".to_owned()));
    };
    if check.status != CheckStatus::Ok {
        return Err(Broken(Box::new(Outcome::mismatch(
            "the database did not open or migrate",
            "check `database` ok",
            format!("{:?}: {}", check.status, check.detail),
        ))));
    }
    let parsed = check.detail.strip_prefix("schema ").and_then(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u64>().ok()
    });
    match parsed {
        Some(schema) if schema >= 1 => Ok(schema),
        _ => Err(Broken(Box::new(Outcome::mismatch(
            "no migration was applied",
            "`database` detail `schema N; …` with N ≥ 1",
            check.detail.clone(),
        )))),
    }
}

/// A session as the window gets one: the enter URL with the token.
fn enter(http: &Http, backend: &Backend) -> Result<String, String> {
    let answer = http.get(backend.port(), &format!("/desktop/enter?token={}", backend.token()), None, None)?;
    let name = format!("{SESSION_COOKIE}=");
    answer
        .set_cookie
        .iter()
        .find(|c| c.starts_with(&name))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| format!("the enter URL answered {} without the session cookie", answer.status))
}

/// `None` when `GET /cache` shows the schema and `value`; else the mismatch.
fn page_lacks(http: &Http, backend: &Backend, cookie: &str, value: &str) -> Result<Option<Outcome>, String> {
    let answer = http.get(backend.port(), "/cache", None, Some(cookie))?;
    let shows = answer.status == 200 && answer.body.contains("schema-version") && answer.body.contains(value);
    Ok((!shows).then(|| {
        Outcome::mismatch(
            "GET /cache does not show the entry",
            format!("200 with the schema version and {KEY}'s value"),
            format!("{}: {}", answer.status, first_line(&answer.body)),
        )
    }))
}

/// `PRAGMA user_version` and the entry's value, read by the `sqlite3`
/// command (read-only; the backend may hold the file open in WAL mode).
/// `None` when there is no `sqlite3`.
fn independent_read(database: &Path) -> Option<Result<(u64, Option<String>), String>> {
    let sqlite3 = which::which("sqlite3").ok()?;
    Some(read_with(&sqlite3, database))
}

fn read_with(sqlite3: &PathBuf, database: &Path) -> Result<(u64, Option<String>), String> {
    let query = format!("PRAGMA user_version; SELECT value FROM cache WHERE key = '{KEY}';");
    let out = Command::new(sqlite3)
        .arg("-readonly")
        .arg(database)
        .arg(query)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", sqlite3.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines.next().and_then(|l| l.trim().parse().ok()).ok_or("no user_version printed")?;
    Ok((version, lines.next().map(str::to_owned)))
}

fn first_line(body: &str) -> String {
    body.lines().find(|l| !l.trim().is_empty()).unwrap_or_default().chars().take(160).collect()
}
