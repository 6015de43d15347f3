//! Staged rollout: which installs take a release while it is offered to only
//! a percentage of them.
//!
//! An install's bucket is a stable hash of (install id, channel, version,
//! salt): SHA-256 over the domain tag `hudson-rollout/1` and the four fields,
//! each prefixed by its length as a big-endian `u64` (so no two field lists
//! hash the same bytes); the first 8 bytes of the digest, read big-endian,
//! modulo 10 000. The install is in when its bucket is below `percent × 100`.
//!
//! So membership needs no server and no stored state beyond the install id;
//! the same install gets the same answer on every check; raising the percent
//! only adds installs; and each version (or a new salt) draws a fresh sample,
//! so the same installs are not always first.

use sha2::{Digest as _, Sha256};

/// Number of buckets: a percent step is 100 buckets.
pub const BUCKETS: u16 = 10_000;

const DOMAIN: &[u8] = b"hudson-rollout/1";

/// The install's bucket in `0..BUCKETS`.
pub fn bucket(install_id: &str, channel: &str, version: &str, salt: &str) -> u16 {
    let mut hash = Sha256::new();
    for field in [DOMAIN, install_id.as_bytes(), channel.as_bytes(), version.as_bytes(), salt.as_bytes()] {
        hash.update((field.len() as u64).to_be_bytes());
        hash.update(field);
    }
    let digest = hash.finalize();
    let head = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 digest has 32 bytes"));
    (head % u64::from(BUCKETS)) as u16
}

/// True when the install takes the release at `percent` (0 → nobody,
/// 100 or more → everybody).
pub fn in_rollout(install_id: &str, channel: &str, version: &str, salt: &str, percent: u8) -> bool {
    u32::from(bucket(install_id, channel, version, salt)) < u32::from(percent) * 100
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids from a fixed pseudo-random sequence (SplitMix64), so the test is
    /// repeatable but the ids have no structure the hash could align with.
    fn ids(count: usize) -> Vec<String> {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        (0..count)
            .map(|_| {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                format!("{:016x}", z ^ (z >> 31))
            })
            .collect()
    }

    #[test]
    fn buckets_are_stable_across_runs_and_platforms() {
        // Fixed vectors, computed from the module docs' description with
        // Python's hashlib. Changing the construction breaks them, and would
        // silently move installs between "in" and "out".
        assert_eq!(bucket("install-1", "stable", "1.2.3", "00112233445566778899aabbccddeeff"), 3153);
        assert_eq!(bucket("install-2", "stable", "1.2.3", "00112233445566778899aabbccddeeff"), 5885);
        assert_eq!(bucket("", "", "", ""), 5213);
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        let salt = "00112233445566778899aabbccddeeff";
        assert_ne!(bucket("ab", "c", "1.0.0", salt), bucket("a", "bc", "1.0.0", salt));
    }

    #[test]
    fn zero_percent_is_nobody_and_hundred_is_everybody() {
        for id in ids(2_000) {
            assert!(!in_rollout(&id, "stable", "1.2.3", "0011223344556677", 0));
            assert!(in_rollout(&id, "stable", "1.2.3", "0011223344556677", 100));
        }
    }

    #[test]
    fn a_quarter_takes_a_25_percent_rollout() {
        let inside = ids(10_000).iter().filter(|id| in_rollout(id, "stable", "1.2.3", "0011223344556677", 25)).count();
        assert!((2_300..=2_700).contains(&inside), "{inside} of 10000 in a 25% rollout");
    }

    #[test]
    fn raising_the_percent_only_adds_installs() {
        for id in ids(5_000) {
            let mut was_in = false;
            for percent in 0..=100 {
                let is_in = in_rollout(&id, "beta", "2.0.0-rc.1", "a1b2c3d4e5f60718", percent);
                assert!(is_in || !was_in, "{id} left the rollout at {percent}%");
                was_in = is_in;
            }
            let at_10 = in_rollout(&id, "beta", "2.0.0-rc.1", "a1b2c3d4e5f60718", 10);
            assert!(!at_10 || in_rollout(&id, "beta", "2.0.0-rc.1", "a1b2c3d4e5f60718", 20));
        }
    }

    #[test]
    fn a_new_salt_draws_a_new_sample() {
        let ids = ids(2_000);
        let first: Vec<bool> = ids.iter().map(|id| in_rollout(id, "stable", "1.2.3", "0011223344556677", 50)).collect();
        let second: Vec<bool> =
            ids.iter().map(|id| in_rollout(id, "stable", "1.2.3", "8899aabbccddeeff", 50)).collect();
        let same = first.iter().zip(&second).filter(|(a, b)| a == b).count();
        assert!((800..=1_200).contains(&same), "{same} of 2000 kept their place: the salt does not reshuffle");
    }
}
