//! Lower-case hex, the spelling of every digest in this crate's formats.
//! Encoding is the `hex` crate's, as everywhere in the workspace.

pub(crate) use ::hex::encode;

/// True when `text` is exactly `bytes` bytes of lower-case hex.
pub(crate) fn is_lower_hex(text: &str, bytes: usize) -> bool {
    text.len() == bytes * 2 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
