//! The lifecycle of the Hudson backend process, without any GUI: spawn it per
//! the backend contract, accept its handshake, confirm its health, and stop it
//! so that nothing survives. The Tauri shell wires this to windows and menus;
//! `cargo xtask smoke` uses it to start a packaged backend exactly as the
//! shell does. It is also the one home of what the shell and `cargo xtask`
//! must agree on, since xtask depends on this crate and not on the shell:
//! the backend contract (`contract`), the shell's environment hooks
//! (`hooks`) and its startup trace (`trace`).

pub mod backend;
pub mod channel;
pub mod clock;
pub mod contract;
pub mod event;
pub mod handshake;
pub mod health;
pub mod hooks;
pub mod logs;
pub mod process;
pub mod redact;
pub mod restart;
pub mod shell_event;
pub mod supervisor;
pub mod trace;
pub mod untrusted;

pub use backend::{Backend, HandshakeSource, LaunchSpec, Notice, Readiness, ShutdownReport, StartError, StartTimings};
pub use contract::{HandshakeDoc, HealthDoc};
pub use event::{Event, Exit, Stream};
pub use shell_event::ShellEvent;
