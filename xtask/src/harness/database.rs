//! The app's SQLite database as an independent reader sees it: the
//! `sqlite3` command, run on the file after the app has stopped. The update
//! tests judge data by it, not by what the app says of itself.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};

/// What one look at the database found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// `PRAGMA integrity_check`: `ok`, or the problems it listed.
    pub integrity: String,
    /// `PRAGMA user_version`: the schema the migrations reached.
    pub schema: u64,
    /// Every table's name.
    pub tables: BTreeSet<String>,
    /// `(key, written_by)` of every cache entry.
    pub rows: BTreeSet<(String, String)>,
}

impl Facts {
    /// The versions that wrote the cache entries.
    pub fn writers(&self) -> BTreeSet<&str> {
        self.rows.iter().map(|(_, by)| by.as_str()).collect()
    }

    pub fn summary(&self) -> String {
        let writers: Vec<String> = self
            .writers()
            .iter()
            .map(|w| format!("{w} ×{}", self.rows.iter().filter(|(_, by)| by == w).count()))
            .collect();
        format!(
            "schema {}, integrity {}, {} rows ({})",
            self.schema,
            self.integrity,
            self.rows.len(),
            writers.join(", ")
        )
    }
}

/// Reads `database` with the `sqlite3` command. The app must have stopped:
/// opening it may replay a `-wal` a killed app left, as the app itself would.
pub fn read(database: &Path) -> Result<Facts> {
    ensure!(database.is_file(), "no database at {}", database.display());
    let query = |sql: &str| -> Result<Vec<String>> {
        let out = Command::new("sqlite3")
            .arg("-batch")
            .arg("-separator")
            .arg("\t")
            .arg(database)
            .arg(sql)
            .output()
            .context("running sqlite3 (`cargo xtask doctor --install` installs it)")?;
        ensure!(
            out.status.success(),
            "sqlite3 {} {sql:?} failed: {}",
            database.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect())
    };
    let integrity = query("PRAGMA integrity_check;")?.join("; ");
    let schema = query("PRAGMA user_version;")?
        .first()
        .and_then(|l| l.trim().parse().ok())
        .context("PRAGMA user_version printed no number")?;
    let tables = query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name;")?.into_iter().collect();
    let rows = query("SELECT key, written_by FROM cache ORDER BY key;")?
        .into_iter()
        .filter_map(|line| line.split_once('\t').map(|(k, by)| (k.to_owned(), by.to_owned())))
        .collect();
    Ok(Facts { integrity, schema, tables, rows })
}
