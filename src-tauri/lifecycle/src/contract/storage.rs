//! The secure-storage channel of the backend contract (ARCHITECTURE.md,
//! "Secrets"): how the backend asks the shell to `get`, `put` and `delete`
//! a secret in the OS store. The one home of the protocol; the reference
//! backend speaks it in `backend/lib/hudson/secure_storage.ex`.
//!
//! - **Where.** Over the pipes only the shell and its child hold: requests
//!   on the backend's stdout, answers on its stdin. Never a port, a file or
//!   an environment variable. The shell sets [`ENV_SECURE_STORAGE`] to
//!   [`PROTOCOL`] when it answers; without it the backend has no store.
//! - **Framing.** One message per line: the byte [`FRAME_MARK`] (ASCII
//!   record separator, which no log line starts with: the backend's logs go
//!   to stderr anyway), then one JSON object, then `\n`. Other stdout lines
//!   are output, logged as before; a frame is never logged.
//! - **Requests** (backend → shell): `{"id": 7, "op": "get" | "put" |
//!   "delete", "key": "openai_api_key", "value": "…"}` (`value` for `put`
//!   only). `id` is the caller's, a non-negative integer; answers may come
//!   in any order and carry it back.
//! - **Answers** (shell → backend): `{"id": 7, "ok": true, "value": "…"}`
//!   (`value` for `get` only) or `{"id": 7, "ok": false, "error": {"code":
//!   "<code>", "message": "…"}}` with a code of [`ErrorCode`]. A line the
//!   shell cannot read gets `"id": null` and code `malformed`.
//! - **Limits.** Keys: 1 to [`MAX_KEY_CHARS`] characters of `a-z A-Z 0-9 _
//!   . -`, starting with a letter or digit. Values: UTF-8 text of at most
//!   [`MAX_VALUE_BYTES`] bytes. A frame longer than [`MAX_FRAME_BYTES`] is
//!   refused unread.

use serde::{Deserialize, Serialize};

/// Set by the shell to [`PROTOCOL`] when it answers storage requests.
pub const ENV_SECURE_STORAGE: &str = "HUDSON_SECURE_STORAGE";
/// Test hook of the reference backend: serves `/desktop/selftest/storage`
/// (smoke and the tests set it in the launch spec; the shell never passes
/// it on from its own environment).
pub const ENV_STORAGE_SELFTEST: &str = "HUDSON_STORAGE_SELFTEST";
/// The protocol's name and version.
pub const PROTOCOL: &str = "stdio-1";
/// The first byte of every protocol line, in both directions.
pub const FRAME_MARK: u8 = 0x1e;
/// Largest value, in bytes of UTF-8.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Longest key.
pub const MAX_KEY_CHARS: usize = 64;
/// Longest frame the shell reads: a largest value with every byte escaped
/// as `\u00XX`, plus the rest of the request.
pub const MAX_FRAME_BYTES: usize = 6 * MAX_VALUE_BYTES + 1024;

/// What the backend asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Get,
    Put,
    Delete,
}

/// One request. Its `Debug` leaves the value out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub id: u64,
    pub op: Op,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Request {{ id: {}, op: {:?}, key: {:?} }}", self.id, self.op, self.key)
    }
}

/// Why a request failed; the backend maps each to an atom
/// (`:not_found`, `:unavailable`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// `get` or `delete` of a key the store does not hold.
    NotFound,
    /// The key is empty, too long or has a character outside the set.
    InvalidKey,
    /// The value is over [`MAX_VALUE_BYTES`].
    TooLarge,
    /// The line is not a request (bad JSON, missing field, `put` without a
    /// value, oversized frame).
    Malformed,
    /// No secure store: none installed, locked, or it did not answer. The
    /// message says what to install or unlock. Nothing was stored.
    Unavailable,
    /// The store refused for another reason (its message).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// One answer. Its `Debug` leaves the value out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub id: Option<u64>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.value.is_some() { "Some(<secret>)" } else { "None" };
        write!(f, "Response {{ id: {:?}, ok: {}, value: {value}, error: {:?} }}", self.id, self.ok, self.error)
    }
}

impl Response {
    pub fn ok(id: u64, value: Option<String>) -> Response {
        Response { id: Some(id), ok: true, value, error: None }
    }

    pub fn error(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Response {
        Response { id, ok: false, value: None, error: Some(ErrorBody { code, message: message.into() }) }
    }

    /// The line to write: mark, ASCII-only JSON, newline.
    pub fn to_frame(&self) -> Vec<u8> {
        use serde::Serialize;
        let mut line = vec![FRAME_MARK];
        let mut json = serde_json::Serializer::with_formatter(&mut line, AsciiOnly);
        self.serialize(&mut json).expect("a response serialises");
        line.push(b'\n');
        line
    }
}

/// JSON whose strings escape every non-ASCII character as `\uXXXX`
/// (surrogate pairs above U+FFFF): a frame's bytes then mean the same to a
/// reader in any encoding (the BEAM's stdin may be latin1 or unicode).
struct AsciiOnly;

impl serde_json::ser::Formatter for AsciiOnly {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// Checks a key against the contract's rule; the error says what is wrong.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(format!("the key is longer than {MAX_KEY_CHARS} characters"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !key.chars().all(allowed) || !key.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "the key {:?} may only hold letters, digits, `_`, `.` and `-`, and must start with a letter or digit",
            key.chars().take(MAX_KEY_CHARS).collect::<String>()
        ));
    }
    Ok(())
}

/// Reads one frame's payload (the line without its mark) as a request. The
/// error answer carries the request's id whenever the line has one.
pub fn parse_request(payload: &[u8]) -> Result<Request, Response> {
    // serde_json's messages may quote the line (a value): position and
    // category only.
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(|e| {
        Response::error(
            None,
            ErrorCode::Malformed,
            format!("not a JSON request line ({:?} at column {})", e.classify(), e.column()),
        )
    })?;
    let id = value.get("id").and_then(serde_json::Value::as_u64);
    let request: Request = serde_json::from_value(value).map_err(|_| {
        Response::error(
            id,
            ErrorCode::Malformed,
            "not a storage request: it needs `id` (integer), `op` (get, put or delete), `key` (text) and, for put, `value` (text), nothing else",
        )
    })?;
    match (request.op, &request.value) {
        (Op::Put, None) => Err(Response::error(id, ErrorCode::Malformed, "`put` needs a `value`")),
        (Op::Get | Op::Delete, Some(_)) => {
            Err(Response::error(id, ErrorCode::Malformed, "only `put` carries a `value`"))
        }
        _ => Ok(request),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_rule() {
        for good in ["openai_api_key", "secret_key_base", "a", "Shopify.token-2", &"k".repeat(64)] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "_x", "a b", "a/b", "ключ", "a\n", &"k".repeat(65)] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn requests_parse_and_bad_ones_keep_their_id() {
        let put = parse_request(br#"{"id":3,"op":"put","key":"k","value":"v"}"#).unwrap();
        assert_eq!((put.id, put.op, put.value.as_deref()), (3, Op::Put, Some("v")));
        assert!(!format!("{put:?}").contains("\"v\""));
        let no_value = parse_request(br#"{"id":4,"op":"put","key":"k"}"#).unwrap_err();
        assert_eq!((no_value.id, no_value.error.unwrap().code), (Some(4), ErrorCode::Malformed));
        let unknown_op = parse_request(br#"{"id":5,"op":"list","key":"k"}"#).unwrap_err();
        assert_eq!(unknown_op.id, Some(5));
        let garbage = parse_request(b"{\"id\":").unwrap_err();
        assert_eq!((garbage.id, garbage.ok), (None, false));
    }

    #[test]
    fn answers_are_ascii_only() {
        let frame = Response::ok(1, Some("é€😀".into())).to_frame();
        assert!(frame.is_ascii(), "{}", String::from_utf8_lossy(&frame));
        assert!(String::from_utf8_lossy(&frame).contains(r"\u00e9\u20ac\ud83d\ude00"));
        let back: Response = serde_json::from_slice(&frame[1..]).unwrap();
        assert_eq!(back.value.as_deref(), Some("é€😀"));
    }

    #[test]
    fn answers_are_one_marked_line() {
        let frame = Response::ok(9, Some("line\nbreak".into())).to_frame();
        assert_eq!(frame[0], FRAME_MARK);
        assert_eq!(frame.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(frame.last(), Some(&b'\n'));
        let back: Response = serde_json::from_slice(&frame[1..]).unwrap();
        assert_eq!(back.value.as_deref(), Some("line\nbreak"));
        assert!(!format!("{back:?}").contains("line"));
    }
}
