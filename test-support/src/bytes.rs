//! Deterministic bytes that look random: SplitMix64, so a test's data is the
//! same on every run and every machine, and a seed names it.

/// The SplitMix64 generator (Steele, Lea and Flood; the seeding generator of
/// `xoshiro`): a 64-bit counter stepped by the golden ratio, then mixed.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `len` bytes from SplitMix64 seeded with `seed`: each output in
/// little-endian order, the last one cut short. A longer run with the same
/// seed starts with the shorter one.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut generator = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&generator.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Taken from the copies this crate replaced (signing's, the updater's
    /// `noise`, xtask's channel tests) before they were removed: the suites
    /// keep exactly the data they had.
    #[test]
    fn the_bytes_are_the_ones_the_suites_had() {
        assert_eq!(
            pseudo_random_bytes(20, 0),
            [
                0xaf, 0xcd, 0x1d, 0x7b, 0x39, 0xa8, 0x20, 0xe2, 0xf4, 0x65, 0xb9, 0xa1, 0x6a, 0x9e, 0x78, 0x6e, 0x4f,
                0x45, 0x09, 0x80
            ]
        );
        assert_eq!(
            pseudo_random_bytes(20, 7),
            [
                0xd7, 0x0d, 0x32, 0x59, 0xe4, 0xe1, 0xcb, 0x63, 0x1c, 0x66, 0x3c, 0xf4, 0xd7, 0x3c, 0x4c, 0x04, 0x02,
                0x2a, 0xb1, 0xba
            ]
        );
        assert_eq!(
            pseudo_random_bytes(20, 0xdead_beef),
            [
                0x9b, 0xeb, 0xc9, 0x68, 0x0f, 0xb9, 0xdf, 0x4a, 0x22, 0x09, 0xa1, 0x41, 0x31, 0x6a, 0x58, 0xde, 0x1d,
                0xfc, 0x1c, 0x8e
            ]
        );
        let long = pseudo_random_bytes(1_000_003, 42);
        assert_eq!(long.len(), 1_000_003);
        assert_eq!(long.iter().map(|&b| u64::from(b)).sum::<u64>(), 127_539_286);
        assert_eq!(long[long.len() - 5..], [0x07, 0x42, 0x34, 0xa0, 0xa5]);
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        assert_eq!(pseudo_random_bytes(4099, 11), pseudo_random_bytes(4099, 11));
        assert_ne!(pseudo_random_bytes(64, 11), pseudo_random_bytes(64, 12));
        // A shorter run is a prefix of a longer one.
        assert_eq!(pseudo_random_bytes(13, 5)[..], pseudo_random_bytes(4096, 5)[..13]);
        assert!(pseudo_random_bytes(0, 5).is_empty());
    }

    #[test]
    fn the_generator_is_splitmix64() {
        // The first outputs for seed 0 in the reference implementation.
        let mut generator = SplitMix64::new(0);
        assert_eq!(generator.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(generator.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(generator.next_u64(), 0x06c4_5d18_8009_454f);
    }
}
