//! The shell's secure storage, without any GUI: secrets live in the OS store
//! (the Secret Service on Linux, the login keychain on macOS, Credential
//! Manager on Windows) under the app's identifier, and the backend reaches
//! them only through the shell (`hudson_lifecycle::contract::storage`).
//!
//! - [`store`]: `get`, `put`, `delete` on the OS store, failing closed;
//! - [`server`]: answers the backend's requests, with a deadline, and hands
//!   every value it sees to the log redactor;
//! - [`pilot`]: moves the pilot's plaintext credentials file into the store.

pub mod pilot;
pub mod server;
pub mod store;

pub use server::Server;
pub use store::{Error, SecureStore};
