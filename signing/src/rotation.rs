//! Key rotation: a channel changes its signing key only through a statement
//! signed by the key it had, naming the key it gets and the first manifest
//! sequence the new key signs. A channel's statements, oldest first, are its
//! key chain (`keys.json` beside `manifest.json`). Whoever trusts the key
//! the chain starts from follows it, link by link, to the key in effect for
//! any sequence; a key the chain has retired signs nothing after its last
//! sequence. This is Sparkle's rule for a new EdDSA key (the update must be
//! signed by the old key too), made explicit and durable.
//!
//! ```json
//! {"schema": "hudson-key-chain/1", "channel": "beta",
//!  "links": [{"statement": "<KeyRotation JSON>", "signature": "<minisign text>"}]}
//! ```
//!
//! Each link's `statement` is kept as the exact bytes that were signed.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::keys::{KeyId, PublicKey, SecretKey};
use crate::signature::{self, MinisignSignature};

pub const KEY_ROTATION_SCHEMA: &str = "hudson-key-rotation/1";
pub const KEY_CHAIN_SCHEMA: &str = "hudson-key-chain/1";
/// File name of the chain in `release-manifests/<channel>/`.
pub const KEY_CHAIN_FILE: &str = "keys.json";
/// A chain is a few hundred bytes per link; past this it is not one.
pub const MAX_KEY_CHAIN_BYTES: usize = 64 << 10;
/// More rotations than any channel will see.
const MAX_LINKS: usize = 64;

/// One rotation: `from_key` hands the channel to `to_key` from manifest
/// `from_sequence` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotation {
    pub schema: String,
    pub channel: String,
    /// The key that signs this statement (the key until now), as Tauri's
    /// base64 of the minisign public key file.
    pub from_key: String,
    /// The new public key, as Tauri's base64 of the minisign public key file.
    pub to_key: String,
    /// The first manifest sequence the new key signs.
    pub from_sequence: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
}

/// A signed rotation, as stored in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub statement: String,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyChain {
    pub schema: String,
    pub channel: String,
    pub links: Vec<Link>,
}

/// Which key signs which manifests of a channel, as its chain says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchedule {
    /// The key the chain starts from (one the reader trusts).
    pub first: PublicKey,
    /// `(from_sequence, key)`, ascending.
    pub changes: Vec<(u64, PublicKey)>,
}

impl KeySchedule {
    /// A channel that never rotated: `key` signs everything.
    pub fn single(key: PublicKey) -> KeySchedule {
        KeySchedule { first: key, changes: Vec::new() }
    }

    /// The key that must have signed manifest `sequence`.
    pub fn key_for(&self, sequence: u64) -> &PublicKey {
        self.changes.iter().rev().find(|(from, _)| *from <= sequence).map_or(&self.first, |(_, key)| key)
    }

    /// The key in effect now (for the next manifest).
    pub fn current(&self) -> &PublicKey {
        self.changes.last().map_or(&self.first, |(_, key)| key)
    }

    /// Every key of the chain, first to current.
    pub fn keys(&self) -> Vec<PublicKey> {
        std::iter::once(self.first.clone()).chain(self.changes.iter().map(|(_, k)| k.clone())).collect()
    }
}

impl KeyRotation {
    pub fn new(channel: &str, from: &PublicKey, to: &PublicKey, from_sequence: u64, issued_at: OffsetDateTime) -> Self {
        KeyRotation {
            schema: KEY_ROTATION_SCHEMA.to_owned(),
            channel: channel.to_owned(),
            from_key: from.to_tauri_base64(),
            to_key: to.to_tauri_base64(),
            from_sequence,
            issued_at,
        }
    }

    fn trusted_comment(&self, from: KeyId, to: KeyId) -> String {
        format!(
            "{KEY_ROTATION_SCHEMA} channel:{} from:{from} to:{to} from_sequence:{}",
            self.channel, self.from_sequence
        )
    }

    fn keys(&self) -> Result<(PublicKey, PublicKey), RotationError> {
        let parse = |field: &str, value: &str| {
            PublicKey::from_tauri_base64(value)
                .map_err(|e| RotationError::Malformed { detail: format!("{field}: {e}") })
        };
        Ok((parse("from_key", &self.from_key)?, parse("to_key", &self.to_key)?))
    }

    /// Signs the statement with `key`, which must be its `from_key`.
    pub fn sign(&self, key: &SecretKey) -> Result<Link, RotationError> {
        let (from, to) = self.keys()?;
        if key.key_id() != from.key_id() {
            return Err(RotationError::WrongSigner { from: from.key_id(), signer: key.key_id() });
        }
        let statement = serde_json::to_string_pretty(self).expect("a rotation serialises");
        let mut prehash = signature::Prehash::new();
        prehash.update(statement.as_bytes());
        let signature = prehash
            .sign(
                key,
                &self.trusted_comment(from.key_id(), to.key_id()),
                &signature::untrusted_comment_for(key.key_id()),
            )
            .map_err(|e| RotationError::Malformed { detail: e.to_string() })?;
        Ok(Link { statement, signature: signature.to_text() })
    }
}

/// What a client remembers of a channel's key chain, so that a chain
/// removed or cut short later (to bring a retired key back) is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenChain {
    pub links: usize,
    /// Lower-case hex SHA-256 over those links' statements and signatures.
    pub sha256: String,
}

impl KeyChain {
    /// The [`SeenChain`] of this chain's first `links` links.
    pub fn seen(&self, links: usize) -> SeenChain {
        use sha2::{Digest as _, Sha256};
        let mut hash = Sha256::new();
        for link in self.links.iter().take(links) {
            for part in [&link.statement, &link.signature] {
                hash.update((part.len() as u64).to_be_bytes());
                hash.update(part.as_bytes());
            }
        }
        SeenChain { links: links.min(self.links.len()), sha256: crate::hex::encode(hash.finalize()) }
    }

    pub fn new(channel: &str) -> KeyChain {
        KeyChain { schema: KEY_CHAIN_SCHEMA.to_owned(), channel: channel.to_owned(), links: Vec::new() }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("a key chain serialises");
        json.push(b'\n');
        json
    }

    pub fn from_json(bytes: &[u8]) -> Result<KeyChain, RotationError> {
        if bytes.len() > MAX_KEY_CHAIN_BYTES {
            return Err(RotationError::Malformed {
                detail: format!("{} bytes, over the {MAX_KEY_CHAIN_BYTES}-byte limit", bytes.len()),
            });
        }
        let chain: KeyChain =
            serde_json::from_slice(bytes).map_err(|e| RotationError::Malformed { detail: e.to_string() })?;
        if chain.schema != KEY_CHAIN_SCHEMA {
            return Err(RotationError::Malformed {
                detail: format!("schema {:?}, this version reads {KEY_CHAIN_SCHEMA:?}", chain.schema),
            });
        }
        if chain.links.len() > MAX_LINKS {
            return Err(RotationError::Malformed { detail: format!("more than {MAX_LINKS} links") });
        }
        Ok(chain)
    }

    /// The key the chain starts from, as its first link names it (not yet
    /// checked: [`KeyChain::follow`] does that).
    pub fn start(&self) -> Option<PublicKey> {
        let first = self.links.first()?;
        let rotation: KeyRotation = serde_json::from_str(&first.statement).ok()?;
        PublicKey::from_tauri_base64(&rotation.from_key).ok()
    }

    /// Checks every link and returns the schedule, starting from whichever
    /// of `trusted` signed the first link (or, with no links, from
    /// `start`, the key the reader found on the channel's first manifest).
    /// A reader that trusts only a later key of the chain (an app built
    /// after a rotation) starts at the link that hands the channel to it;
    /// the links before it are not its to check.
    pub fn follow(
        &self,
        channel: &str,
        trusted: &[PublicKey],
        start: &PublicKey,
    ) -> Result<KeySchedule, RotationError> {
        if self.channel != channel {
            return Err(RotationError::Malformed {
                detail: format!("it is the key chain of channel {:?}, not {channel:?}", self.channel),
            });
        }
        let Some(first_link) = self.links.first() else { return Ok(KeySchedule::single(start.clone())) };
        let first_signer = MinisignSignature::parse_canonical(&first_link.signature)
            .map_err(|e| RotationError::Malformed { detail: format!("link 1's signature: {e}") })?
            .key_id();
        let (first, skip) = match trusted.iter().find(|k| k.key_id() == first_signer) {
            Some(key) => (key.clone(), 0),
            // The first link that hands the channel to a trusted key; every
            // link after it must verify from there, so an appended link
            // naming a trusted key cannot skip the real ones.
            None => self
                .links
                .iter()
                .enumerate()
                .find_map(|(index, link)| {
                    let rotation: KeyRotation = serde_json::from_str(&link.statement).ok()?;
                    let to = PublicKey::from_tauri_base64(&rotation.to_key).ok()?;
                    trusted.contains(&to).then_some((to, index + 1))
                })
                .ok_or(RotationError::UntrustedStart { signer: first_signer })?,
        };
        let mut schedule = KeySchedule::single(first);
        for (index, link) in self.links.iter().enumerate().skip(skip) {
            let n = index + 1;
            let signer = schedule.current().clone();
            let signature = MinisignSignature::parse_canonical(&link.signature)
                .map_err(|e| RotationError::Malformed { detail: format!("link {n}'s signature: {e}") })?;
            if signature.key_id() != signer.key_id() {
                return Err(RotationError::BrokenLink {
                    link: n,
                    expected: signer.key_id(),
                    found: signature.key_id(),
                });
            }
            signer
                .to_verifier()
                .verify(link.statement.as_bytes(), &signature.to_verifier(), false)
                .map_err(|_| RotationError::BadSignature { link: n, key_id: signer.key_id() })?;
            let rotation: KeyRotation = serde_json::from_str(&link.statement)
                .map_err(|e| RotationError::Malformed { detail: format!("link {n}: {e}") })?;
            let (from, to) =
                rotation.keys().map_err(|e| RotationError::Malformed { detail: format!("link {n}: {e}") })?;
            let consistent = rotation.schema == KEY_ROTATION_SCHEMA
                && rotation.channel == channel
                && from == signer
                && signature.trusted_comment() == rotation.trusted_comment(from.key_id(), to.key_id())
                && schedule.changes.last().is_none_or(|(from, _)| rotation.from_sequence > *from)
                && to.key_id() != signer.key_id();
            if !consistent {
                return Err(RotationError::Malformed {
                    detail: format!(
                        "link {n} does not hand channel {channel:?} from key {} to a new key at a later sequence",
                        signer.key_id()
                    ),
                });
            }
            schedule.changes.push((rotation.from_sequence, to));
        }
        Ok(schedule)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("the key chain is malformed: {detail}")]
    Malformed { detail: String },
    #[error("the key chain starts from key {signer}, which is not trusted")]
    UntrustedStart { signer: KeyId },
    #[error("link {link} of the key chain is signed by key {found}, but the key in effect then was {expected}")]
    BrokenLink { link: usize, expected: KeyId, found: KeyId },
    #[error("link {link} of the key chain does not verify with key {key_id}: it was altered")]
    BadSignature { link: usize, key_id: KeyId },
    #[error("a rotation from key {from} must be signed by that key, not by {signer}")]
    WrongSigner { from: KeyId, signer: KeyId },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyPair, KeyProtection};

    struct Pair {
        public: PublicKey,
        secret: SecretKey,
    }

    impl Pair {
        fn key_id(&self) -> KeyId {
            self.public.key_id()
        }
        fn public_key(&self) -> &PublicKey {
            &self.public
        }
        fn secret_key(&self) -> &SecretKey {
            &self.secret
        }
    }

    fn pair() -> Pair {
        let pair = KeyPair::generate(KeyProtection::Unencrypted).unwrap();
        let secret = SecretKey::from_text_or_base64(pair.secret_key_tauri_base64().expose_secret(), None).unwrap();
        Pair { public: pair.public_key().clone(), secret }
    }

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap()
    }

    #[test]
    fn a_chain_hands_the_channel_from_key_to_key() {
        let (a, b, c) = (pair(), pair(), pair());
        let mut chain = KeyChain::new("beta");
        chain
            .links
            .push(KeyRotation::new("beta", a.public_key(), b.public_key(), 5, at()).sign(a.secret_key()).unwrap());
        chain
            .links
            .push(KeyRotation::new("beta", b.public_key(), c.public_key(), 9, at()).sign(b.secret_key()).unwrap());
        let chain = KeyChain::from_json(&chain.to_json()).unwrap();
        let schedule = chain.follow("beta", std::slice::from_ref(a.public_key()), a.public_key()).unwrap();
        assert_eq!(schedule.key_for(4).key_id(), a.key_id());
        assert_eq!(schedule.key_for(5).key_id(), b.key_id());
        assert_eq!(schedule.key_for(8).key_id(), b.key_id());
        assert_eq!(schedule.key_for(9).key_id(), c.key_id());
        assert_eq!(schedule.current().key_id(), c.key_id());

        // Who trusts only the newest key starts where the chain reaches it.
        let schedule = chain.follow("beta", std::slice::from_ref(c.public_key()), c.public_key()).unwrap();
        assert_eq!(schedule.current().key_id(), c.key_id());
        assert_eq!(schedule.key_for(4).key_id(), c.key_id());
        // Who trusts none of them cannot.
        let stranger = pair();
        let error =
            chain.follow("beta", std::slice::from_ref(stranger.public_key()), stranger.public_key()).unwrap_err();
        assert!(matches!(error, RotationError::UntrustedStart { .. }), "{error}");
        // Another channel's chain.
        assert!(chain.follow("stable", std::slice::from_ref(a.public_key()), a.public_key()).is_err());
    }

    #[test]
    fn a_forged_or_reordered_link_breaks_the_chain() {
        let (a, b, evil) = (pair(), pair(), pair());
        let good = KeyRotation::new("beta", a.public_key(), b.public_key(), 5, at()).sign(a.secret_key()).unwrap();
        // The statement edited to hand the channel to another key.
        let mut edited = good.clone();
        edited.statement =
            edited.statement.replace(&b.public_key().to_tauri_base64(), &evil.public_key().to_tauri_base64());
        let mut chain = KeyChain::new("beta");
        chain.links.push(edited);
        let error = chain.follow("beta", std::slice::from_ref(a.public_key()), a.public_key()).unwrap_err();
        assert!(matches!(error, RotationError::BadSignature { link: 1, .. }), "{error}");
        // A second link signed by the retired key.
        let mut chain = KeyChain::new("beta");
        chain.links.push(good);
        chain
            .links
            .push(KeyRotation::new("beta", a.public_key(), evil.public_key(), 7, at()).sign(a.secret_key()).unwrap());
        let error = chain.follow("beta", std::slice::from_ref(a.public_key()), a.public_key()).unwrap_err();
        assert!(matches!(error, RotationError::BrokenLink { link: 2, .. }), "{error}");
        // Signing a rotation with a key other than its `from_key`.
        let error =
            KeyRotation::new("beta", a.public_key(), b.public_key(), 5, at()).sign(evil.secret_key()).unwrap_err();
        assert!(matches!(error, RotationError::WrongSigner { .. }), "{error}");
    }
}
