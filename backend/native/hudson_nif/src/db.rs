//! The local SQLite database behind `Hudson.Database` (feature `sqlite`).
//!
//! One connection per `db_open`, held in a resource; every call that touches the
//! disk runs on a dirty I/O scheduler, so a slow disk or a lock held by another
//! process (up to the 5 s busy timeout) never stalls a normal scheduler. Calls on
//! one connection take turns (a mutex); `Hudson.Database` makes them from a single
//! process anyway.
//!
//! Nothing here panics on what the caller passes: every failure comes back as
//! `{:error, message}`, the message naming what failed. Parameters are never part
//! of a message (they may be user data); SQL is, cut short.

use std::fmt::Display;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags, params_from_iter};
use rustler::types::atom;
use rustler::{Atom, Binary, Encoder, Env, NewBinary, ResourceArc, Term, TermType};

/// How long a statement waits for a lock another connection holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The most rows one `db_query` returns, so a reader's memory is bounded.
const MAX_ROWS: usize = 10_000;
/// What every call on a closed connection answers.
const CLOSED: &str = "the database is closed";

/// One connection; `None` once `db_close` has run (the resource itself lives
/// until the BEAM collects the last reference to it).
pub struct Db {
    conn: Mutex<Option<Connection>>,
}

#[rustler::resource_impl]
impl rustler::Resource for Db {}

/// Opens (creating it if missing) the database at `path` in WAL mode, with
/// `synchronous=NORMAL`, a 5 s busy timeout and foreign keys enforced.
#[rustler::nif(schedule = "DirtyIo")]
fn db_open(path: Term) -> Result<ResourceArc<Db>, String> {
    let path = text(path, "the database path")?;
    if path.is_empty() {
        return Err("the database path is empty".to_owned());
    }
    let conn = open(path)?;
    Ok(ResourceArc::new(Db { conn: Mutex::new(Some(conn)) }))
}

fn open(path: &str) -> Result<Connection, String> {
    // Not SQLITE_OPEN_URI (rusqlite's default): a path is a path, never a
    // `file:` URI with options. NO_MUTEX: the resource's mutex serialises calls.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        format!("cannot open the database {path}: {e} (does its folder exist, and may this user write to it?)")
    })?;
    let setup = |what: &str, e: rusqlite::Error| format!("cannot use {path} as a database: {what} failed: {e}");
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| setup("setting the busy timeout", e))?;
    // The first statement reads the file: a file that is not a database fails here.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| setup("PRAGMA journal_mode = WAL", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!(
            "cannot use {path} as a database: SQLite kept journal mode {mode:?} instead of \"wal\" \
             (WAL needs a local file system with shared memory; is the data folder on a network share?)"
        ));
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
        .map_err(|e| setup("PRAGMA synchronous = NORMAL / foreign_keys = ON", e))?;
    Ok(conn)
}

/// Runs several statements (a migration); no parameters, no rows.
#[rustler::nif(schedule = "DirtyIo")]
fn db_execute_batch<'a>(env: Env<'a>, db: Term<'a>, sql: Term<'a>) -> Term<'a> {
    let result = text(sql, "the SQL").and_then(|sql| {
        with_conn(db, |conn| conn.execute_batch(sql).map_err(|e| failed("executing the batch", sql, e)))
    });
    ok_or_error(env, result)
}

/// Runs one statement with parameters: `{:ok, changed_rows}`.
#[rustler::nif(schedule = "DirtyIo")]
fn db_execute<'a>(db: Term<'a>, sql: Term<'a>, params: Term<'a>) -> Result<usize, String> {
    let sql = text(sql, "the SQL")?;
    let params = params_of(params)?;
    with_conn(db, |conn| {
        let mut statement = conn.prepare(sql).map_err(|e| failed("preparing the statement", sql, e))?;
        statement.execute(params_from_iter(params.iter())).map_err(|e| failed("executing the statement", sql, e))
    })
}

/// Runs one query: `{:ok, rows}`, each row a list of integer, float, binary
/// (text and blobs) or nil; at most `MAX_ROWS` rows.
#[rustler::nif(schedule = "DirtyIo")]
fn db_query<'a>(env: Env<'a>, db: Term<'a>, sql: Term<'a>, params: Term<'a>) -> Term<'a> {
    let result = text(sql, "the SQL").and_then(|sql| {
        let params = params_of(params)?;
        with_conn(db, |conn| query(env, conn, sql, &params))
    });
    match result {
        Ok(rows) => (atom::ok(), rows).encode(env),
        Err(message) => (atom::error(), message).encode(env),
    }
}

fn query<'a>(env: Env<'a>, conn: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Term<'a>>, String> {
    let mut statement = conn.prepare(sql).map_err(|e| failed("preparing the statement", sql, e))?;
    let columns = statement.column_count();
    let mut rows = statement.query(params_from_iter(params.iter())).map_err(|e| failed("running the query", sql, e))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| failed("reading a row", sql, e))? {
        if out.len() == MAX_ROWS {
            return Err(format!(
                "the query returned more than {MAX_ROWS} rows; narrow it with WHERE or LIMIT (SQL: {})",
                excerpt(sql)
            ));
        }
        let mut cells = Vec::with_capacity(columns);
        for i in 0..columns {
            let cell = row.get_ref(i).map_err(|e| failed("reading a column", sql, e))?;
            cells.push(cell_term(env, cell));
        }
        out.push(cells.encode(env));
    }
    Ok(out)
}

/// Closes the connection (SQLite checkpoints and removes the `-wal` when this
/// was the last one). Closing twice is fine; every other later call answers
/// `{:error, "the database is closed"}`.
#[rustler::nif(schedule = "DirtyIo")]
fn db_close<'a>(env: Env<'a>, db: Term<'a>) -> Term<'a> {
    let result = connection(db).and_then(|db| match db.conn.lock().unwrap_or_else(PoisonError::into_inner).take() {
        None => Ok(()),
        // On failure (only with unfinished statements, which never outlive a
        // call here) the connection comes back; dropping it closes it anyway.
        Some(conn) => conn.close().map_err(|(_conn, e)| format!("closing the database failed: {e}")),
    });
    ok_or_error(env, result)
}

/// The connection resource a `db_*` call was given.
fn connection(term: Term) -> Result<ResourceArc<Db>, String> {
    term.decode().map_err(|_| "the connection is not one that db_open returned".to_owned())
}

fn with_conn<T>(db: Term, f: impl FnOnce(&Connection) -> Result<T, String>) -> Result<T, String> {
    let db = connection(db)?;
    // A panic while the lock was held cannot have left the connection half-used
    // in a way SQLite does not handle; carry on rather than fail forever.
    let guard = db.conn.lock().unwrap_or_else(PoisonError::into_inner);
    match guard.as_ref() {
        Some(conn) => f(conn),
        None => Err(CLOSED.to_owned()),
    }
}

/// A text argument: a UTF-8 binary (an Elixir string), not a charlist or atom.
fn text<'a>(term: Term<'a>, what: &str) -> Result<&'a str, String> {
    let binary: Binary<'a> = term.decode().map_err(|_| format!("{what} must be a string (a binary)"))?;
    std::str::from_utf8(binary.as_slice()).map_err(|e| format!("{what} is not UTF-8: {e}"))
}

/// The statement's parameters: integers, floats, binaries (text when UTF-8,
/// otherwise a blob) and nil.
fn params_of(term: Term) -> Result<Vec<Value>, String> {
    let items: Vec<Term> = term.decode().map_err(|_| "the parameters must be a list".to_owned())?;
    items.into_iter().enumerate().map(|(i, item)| param(i + 1, item)).collect()
}

fn param(n: usize, term: Term) -> Result<Value, String> {
    match term.get_type() {
        TermType::Integer => term
            .decode::<i64>()
            .map(Value::Integer)
            .map_err(|_| format!("parameter {n} is an integer outside SQLite's 64-bit range")),
        TermType::Float => {
            term.decode::<f64>().map(Value::Real).map_err(|_| format!("parameter {n} is not a usable float"))
        }
        TermType::Binary => {
            let binary: Binary = term.decode().map_err(|_| format!("parameter {n} is a bitstring, not a binary"))?;
            Ok(match std::str::from_utf8(binary.as_slice()) {
                Ok(s) => Value::Text(s.to_owned()),
                Err(_) => Value::Blob(binary.as_slice().to_vec()),
            })
        }
        TermType::Atom if term.decode::<Atom>().is_ok_and(|a| a == atom::nil()) => Ok(Value::Null),
        other => Err(format!("parameter {n} is {}; expected an integer, a float, a binary or nil", kind(other))),
    }
}

fn kind(t: TermType) -> &'static str {
    match t {
        TermType::Atom => "an atom other than nil",
        TermType::Fun => "a function",
        TermType::List => "a list",
        TermType::Map => "a map",
        TermType::Pid => "a pid",
        TermType::Port => "a port",
        TermType::Ref => "a reference",
        TermType::Tuple => "a tuple",
        _ => "of an unsupported type",
    }
}

fn cell_term<'a>(env: Env<'a>, cell: ValueRef) -> Term<'a> {
    match cell {
        ValueRef::Null => atom::nil().encode(env),
        ValueRef::Integer(i) => i.encode(env),
        ValueRef::Real(f) => f.encode(env),
        // Text as stored: SQLite does not promise UTF-8, so no decoding here.
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            let mut binary = NewBinary::new(env, bytes.len());
            binary.as_mut_slice().copy_from_slice(bytes);
            Binary::from(binary).encode(env)
        }
    }
}

fn ok_or_error(env: Env, result: Result<(), String>) -> Term {
    match result {
        Ok(()) => atom::ok().encode(env),
        Err(message) => (atom::error(), message).encode(env),
    }
}

fn failed(what: &str, sql: &str, e: rusqlite::Error) -> String {
    // rusqlite's wording for these two names its own Rust API; say it in ours.
    let why: &dyn Display = match e {
        rusqlite::Error::ExecuteReturnedResults => &"the statement returns rows; run it with db_query",
        rusqlite::Error::MultipleStatement => &"more than one statement; run several with db_execute_batch",
        ref other => other,
    };
    format!("{what} failed: {why} (SQL: {})", excerpt(sql))
}

/// The SQL on one line, cut at 160 characters.
fn excerpt(sql: &str) -> String {
    let line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(160) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}
