//! The one home of every format and trust rule of Hudson Desktop's releases.
//!
//! This crate is a library only: it never spawns a process and never touches
//! the network. `xtask` uses it to write keys, signatures and manifests; the
//! shell uses it to decide whether an update may be installed.
//!
//! | module | what it knows |
//! | --- | --- |
//! | [`keys`] | minisign key pairs in Tauri's formats, loaded from `TAURI_SIGNING_PRIVATE_KEY` values or files |
//! | [`signature`] | the minisign signature file, made deterministically |
//! | [`artifact`] | Tauri-compatible artifact signatures, with size and SHA-256 from the same read |
//! | [`platform`] | updater platform keys and the target triple → key table |
//! | [`latest`] | Tauri's static `latest.json` |
//! | [`manifest`] | the signed channel manifest (`manifest.json` + `.minisig`) and its schema |
//! | [`policy`] | the client's rules for trusting a manifest and a download |
//! | [`rollout`] | staged-rollout membership |
//! | [`rotation`] | a channel's key chain: explicit, signed key changes |
//! | [`dist`] | `dist-manifest.json`, what one `cargo xtask dist` run produced |

pub mod artifact;
pub mod dist;
mod hex;
pub mod keys;
pub mod latest;
pub mod manifest;
pub mod platform;
pub mod policy;
pub mod rollout;
pub mod rotation;
pub mod signature;
pub mod tree;
