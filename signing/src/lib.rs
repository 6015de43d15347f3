//! The one home of every format and trust rule of Hudson Desktop's releases.
//!
//! This crate is a library only: it never spawns a process and never touches
//! the network. `xtask` uses it to write signatures and manifests, the shell
//! uses it to decide whether an update may be installed.

pub mod dist;
