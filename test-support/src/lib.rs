//! Helpers shared by the workspace's tests, so each suite stops carrying its
//! own copy: deterministic bytes that look random ([`bytes`]), a hash of a
//! whole install tree ([`tree`]) and signing-key fixtures made with
//! `signing`'s own API ([`keys`]).
//!
//! Dev-only: crates take it as a `[dev-dependencies]` entry, never as a
//! dependency of what ships (`tests/not_shipped.rs` checks the shell's
//! crates). Helpers panic on failure instead of returning errors a test would
//! only unwrap, except [`tree::tree_hash`], which keeps the `io::Result` of
//! the harness code it replaces.

pub mod bytes;
pub mod keys;
pub mod tree;

pub use bytes::{SplitMix64, pseudo_random_bytes};
pub use keys::KeyFixture;
pub use tree::tree_hash;
