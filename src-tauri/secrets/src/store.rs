//! `get`, `put` and `delete` on the OS secret store, one entry per key with
//! the app's identifier as the service name (`secret-tool lookup service
//! <identifier> username <key>` reads one on Linux).
//!
//! The store is reached lazily and again after a failure, so a keyring
//! installed or unlocked while the app runs is used without a restart.
//! Without one every call fails with [`Error::Unavailable`], whose message
//! says what to install or unlock; nothing is ever written anywhere else.

use std::sync::{Arc, Mutex};

use hudson_lifecycle::contract::storage::{self, ErrorCode, MAX_VALUE_BYTES};
use keyring_core::{CredentialStore, Entry};

/// Why a call failed. No variant carries a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Unavailable(String),
    #[error("no secret named {0:?} is stored")]
    NotFound(String),
    #[error("{0}")]
    InvalidKey(String),
    /// Over the protocol's limit, or over what this OS store holds
    /// (Credential Manager: 2560 bytes of UTF-16, so 1280 plain letters).
    #[error("the value is {bytes} bytes; {fits}")]
    TooLarge { bytes: usize, fits: String },
    #[error("the secure store refused: {0}")]
    Failed(String),
}

impl Error {
    /// A value over the protocol's limit.
    pub fn too_large(bytes: usize) -> Error {
        Error::TooLarge { bytes, fits: format!("at most {MAX_VALUE_BYTES} bytes fit") }
    }

    /// The protocol's code for it.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::InvalidKey(_) => ErrorCode::InvalidKey,
            Error::TooLarge { .. } => ErrorCode::TooLarge,
            Error::Failed(_) => ErrorCode::Failed,
        }
    }
}

type Connect = Box<dyn Fn() -> keyring_core::Result<Arc<CredentialStore>> + Send + Sync>;

/// The OS store for one service name.
pub struct SecureStore {
    service: String,
    kind: &'static str,
    advice: &'static str,
    connect: Connect,
    connected: Mutex<Option<Arc<CredentialStore>>>,
}

impl std::fmt::Debug for SecureStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecureStore({}, {})", self.kind, self.service)
    }
}

impl SecureStore {
    /// This platform's store, for `service` (the app's identifier).
    pub fn native(service: &str) -> SecureStore {
        let (kind, advice, connect) = native();
        SecureStore::with_connector(service, kind, advice, connect)
    }

    /// A store reached through `connect` (tests use keyring-core's mock or a
    /// connector that fails, as a missing keyring does).
    pub fn with_connector(service: &str, kind: &'static str, advice: &'static str, connect: Connect) -> SecureStore {
        SecureStore { service: service.to_owned(), kind, advice, connect, connected: Mutex::new(None) }
    }

    /// What the store is, in words (`Secret Service (Linux)`).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// Reaches the store (for diagnostics and the first-run import).
    pub fn probe(&self) -> Result<(), Error> {
        self.store().map(drop)
    }

    pub fn get(&self, key: &str) -> Result<String, Error> {
        let entry = self.entry(key)?;
        entry.get_password().map_err(|e| self.error(key, e))
    }

    pub fn put(&self, key: &str, value: &str) -> Result<(), Error> {
        if value.len() > MAX_VALUE_BYTES {
            return Err(Error::too_large(value.len()));
        }
        let entry = self.entry(key)?;
        entry.set_password(value).map_err(|e| match e {
            // Measured as the store measures it (Credential Manager: UTF-16).
            keyring_core::Error::TooLong(what, max) => Error::TooLarge {
                bytes: value.encode_utf16().count() * 2,
                fits: format!("the {} holds at most {max} bytes ({what}) per value", self.kind),
            },
            other => self.error(key, other),
        })
    }

    pub fn delete(&self, key: &str) -> Result<(), Error> {
        let entry = self.entry(key)?;
        entry.delete_credential().map_err(|e| self.error(key, e))
    }

    /// Every value stored under this service, for a redactor (the support
    /// bundle masks them). Empty when the store cannot list its entries
    /// (only the Secret Service can) or is unavailable.
    pub fn values(&self) -> Vec<String> {
        let Ok(store) = self.store() else { return Vec::new() };
        let spec = std::collections::HashMap::from([("service", self.service.as_str())]);
        let Ok(entries) = store.search(&spec) else { return Vec::new() };
        entries.iter().filter_map(|entry| entry.get_password().ok()).collect()
    }

    fn entry(&self, key: &str) -> Result<Entry, Error> {
        storage::check_key(key).map_err(Error::InvalidKey)?;
        let store = self.store()?;
        Entry::new_in_store(&store, &self.service, key).map_err(|e| self.error(key, e))
    }

    fn store(&self) -> Result<Arc<CredentialStore>, Error> {
        let mut connected = self.connected.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = connected.as_ref() {
            return Ok(store.clone());
        }
        let store = (self.connect)().map_err(|e| self.unavailable(&e))?;
        *connected = Some(store.clone());
        Ok(store)
    }

    fn unavailable(&self, cause: &keyring_core::Error) -> Error {
        Error::Unavailable(format!(
            "no secure store is available ({}: {}). {} Nothing was stored.",
            self.kind,
            describe(cause),
            self.advice
        ))
    }

    /// Maps the store's error; never formats a value (`BadEncoding` holds
    /// the stored bytes).
    fn error(&self, key: &str, error: keyring_core::Error) -> Error {
        use keyring_core::Error as K;
        match error {
            K::NoEntry => Error::NotFound(key.to_owned()),
            K::TooLong(..) => Error::Failed(format!("the store refused the size of {key:?}")),
            K::Invalid(attribute, reason) => Error::InvalidKey(format!("{attribute}: {reason}")),
            K::PlatformFailure(_) | K::NoStorageAccess(_) => {
                // The connection may be gone (the daemon restarted): reach
                // the store afresh next time.
                *self.connected.lock().unwrap_or_else(|e| e.into_inner()) = None;
                self.unavailable(&error)
            }
            other => Error::Failed(describe(&other)),
        }
    }
}

/// A store error in words, without any secret bytes it may carry.
fn describe(error: &keyring_core::Error) -> String {
    use keyring_core::Error as K;
    match error {
        K::BadEncoding(_) => "the stored value is not UTF-8 text".into(),
        K::BadDataFormat(..) => "the stored value is not in the store's format".into(),
        K::Ambiguous(entries) => format!("{} entries match one key; remove the extra ones", entries.len()),
        other => other.to_string(),
    }
}

#[cfg(target_os = "linux")]
fn native() -> (&'static str, &'static str, Connect) {
    (
        "Secret Service (Linux)",
        "Install and unlock a keyring that provides the Secret Service, such as GNOME Keyring \
         (`sudo apt install gnome-keyring`, then log out and in) or KeePassXC with Secret Service \
         integration enabled, then try again.",
        Box::new(|| {
            let store: Arc<CredentialStore> = dbus_secret_service_keyring_store::Store::new()?;
            Ok(store)
        }),
    )
}

#[cfg(target_os = "macos")]
fn native() -> (&'static str, &'static str, Connect) {
    (
        "login keychain (macOS)",
        "Unlock the login keychain in Keychain Access (or allow Hudson when macOS asks), then try again.",
        Box::new(|| {
            let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
            Ok(store)
        }),
    )
}

#[cfg(windows)]
fn native() -> (&'static str, &'static str, Connect) {
    (
        "Credential Manager (Windows)",
        "Sign in to Windows with your own user account (Credential Manager is per user), then try again.",
        Box::new(|| {
            let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
            Ok(store)
        }),
    )
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn native() -> (&'static str, &'static str, Connect) {
    (
        "none",
        "This platform has no supported secure store.",
        Box::new(|| Err(keyring_core::Error::NotSupportedByStore("no secure store on this platform".into()))),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// keyring-core's in-memory mock: the store logic without an OS store.
    pub(crate) fn mock() -> SecureStore {
        let mock: Arc<CredentialStore> = keyring_core::mock::Store::new().unwrap();
        SecureStore::with_connector("dev.hudson.test", "mock", "", Box::new(move || Ok(mock.clone())))
    }

    /// What a Linux session without a Secret Service looks like.
    pub(crate) fn missing() -> SecureStore {
        SecureStore::with_connector(
            "dev.hudson.test",
            "Secret Service (Linux)",
            "Install gnome-keyring.",
            Box::new(|| {
                Err(keyring_core::Error::NoStorageAccess(Box::new(std::io::Error::other(
                    "The name org.freedesktop.secrets was not provided by any .service files",
                ))))
            }),
        )
    }

    #[test]
    fn put_get_delete_round_trip_and_limits() {
        let store = mock();
        store.put("openai_api_key", "sk-test-value").unwrap();
        assert_eq!(store.get("openai_api_key").unwrap(), "sk-test-value");
        store.delete("openai_api_key").unwrap();
        assert_eq!(store.get("openai_api_key"), Err(Error::NotFound("openai_api_key".into())));
        assert_eq!(store.delete("openai_api_key").unwrap_err().code(), ErrorCode::NotFound);
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        assert_eq!(store.put("k", &big), Err(Error::too_large(MAX_VALUE_BYTES + 1)));
        store.put("k", &big[1..]).unwrap();
        for bad in ["", "a b", "../etc"] {
            assert_eq!(store.put(bad, "v").unwrap_err().code(), ErrorCode::InvalidKey, "{bad:?}");
        }
    }

    #[test]
    fn without_a_store_every_call_fails_closed_with_advice() {
        let store = missing();
        for result in [store.get("k").map(drop), store.put("k", "v"), store.delete("k")] {
            let error = result.unwrap_err();
            assert_eq!(error.code(), ErrorCode::Unavailable);
            let text = error.to_string();
            assert!(text.contains("gnome-keyring") && text.contains("Nothing was stored"), "{text}");
        }
    }
}
