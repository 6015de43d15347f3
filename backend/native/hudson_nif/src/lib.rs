//! The reference backend's NIF, loaded by `Hudson.Native` (backend/lib/hudson/native.ex)
//! from `priv/native/`. It exists so the release toolchain has a real native library
//! to build, place, sign and smoke-test; the backend also really uses it to check the
//! desktop enter token and the session cookie, and (feature `sqlite`, on by default)
//! to keep its local SQLite database (`db`, used by `Hudson.Database`).

use rustler::Binary;

#[cfg(feature = "sqlite")]
mod db;

/// Compares two binaries in time that depends only on their lengths, so a caller
/// probing `/desktop/enter` cannot learn the token one byte at a time.
#[rustler::nif]
fn secure_compare(a: Binary, b: Binary) -> bool {
    constant_time_eq(a.as_slice(), b.as_slice())
}

/// The length is not secret (tokens have a fixed, documented size); the content is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the optimiser from turning the fold back into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

rustler::init!("Elixir.Hudson.Native");
