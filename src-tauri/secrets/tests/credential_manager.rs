//! The Windows store, for real: Credential Manager through `CredWriteW`,
//! `CredReadW` and `CredDeleteW` (under Wine in `cargo xtask test-windows`,
//! where Wine keeps the credentials in its prefix's registry; the Secret
//! Service is tested on Linux by `real_store.rs`).
#![cfg(windows)]

use hudson_lifecycle::contract::storage::ErrorCode;
use hudson_secrets::{Error, SecureStore};

/// Credential Manager's limit on one value: `CRED_MAX_CREDENTIAL_BLOB_SIZE`,
/// counted in the UTF-16 the value is stored as.
const BLOB_BYTES: usize = 2560;

/// A service name no other test or user entry shares.
fn store(test: &str) -> SecureStore {
    SecureStore::native(&format!("dev.hudson.wine-test.{test}.{}", std::process::id()))
}

#[test]
fn a_secret_round_trips_is_replaced_and_is_deleted() {
    let store = store("round-trip");
    store.probe().expect("Credential Manager is reachable");
    assert_eq!(store.get("openai_api_key"), Err(Error::NotFound("openai_api_key".into())));

    store.put("openai_api_key", "sk-first").unwrap();
    assert_eq!(store.get("openai_api_key").unwrap(), "sk-first");
    store.put("openai_api_key", "sk-second ünïcødé 日本 🔑").unwrap();
    assert_eq!(store.get("openai_api_key").unwrap(), "sk-second ünïcødé 日本 🔑");

    // Entries are per key: another key is another credential.
    store.put("stripe_key", "rk-other").unwrap();
    store.delete("openai_api_key").unwrap();
    assert_eq!(store.get("openai_api_key"), Err(Error::NotFound("openai_api_key".into())));
    assert_eq!(store.delete("openai_api_key").unwrap_err().code(), ErrorCode::NotFound);
    assert_eq!(store.get("stripe_key").unwrap(), "rk-other");
    store.delete("stripe_key").unwrap();
}

#[test]
fn a_value_at_credential_managers_size_limit_fits_and_one_more_letter_is_refused_by_name() {
    let store = store("limit");
    // 1280 plain letters are 2560 bytes of UTF-16; so are 1280 accented
    // letters (2560 bytes of UTF-8) and 640 emoji (surrogate pairs).
    for (what, value) in [
        ("plain", "k".repeat(BLOB_BYTES / 2)),
        ("accented", "é".repeat(BLOB_BYTES / 2)),
        ("emoji", "🔑".repeat(BLOB_BYTES / 4)),
    ] {
        store.put("big", &value).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(store.get("big").unwrap(), value, "{what}");
    }

    let over = "k".repeat(BLOB_BYTES / 2 + 1);
    let error = store.put("big", &over).unwrap_err();
    assert_eq!(error.code(), ErrorCode::TooLarge);
    let text = error.to_string();
    assert!(text.contains("Credential Manager") && text.contains("2560") && text.contains("2562 bytes"), "{text}");
    // The refused value did not replace the stored one.
    assert_eq!(store.get("big").unwrap(), "🔑".repeat(BLOB_BYTES / 4));
    store.delete("big").unwrap();
}
