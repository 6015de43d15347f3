//! Timestamps that another process can compare: the startup benchmark reads
//! the shell's trace and lines it up with its own clock.

use std::sync::LazyLock;
use std::time::Instant;

/// `CLOCK_MONOTONIC` in nanoseconds: the same clock in every process on the
/// machine (Linux, macOS). Elsewhere: nanoseconds since this process first
/// asked, which only this process can interpret.
pub fn monotonic_ns() -> u64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid out-pointer.
        unsafe {
            libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        }
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
    #[cfg(not(unix))]
    {
        ANCHOR.0.elapsed().as_nanos() as u64
    }
}

/// An `Instant` and the monotonic clock read together, to convert later
/// `Instant`s (which cannot be read directly).
static ANCHOR: LazyLock<(Instant, u64)> = LazyLock::new(|| {
    #[cfg(unix)]
    {
        (Instant::now(), monotonic_ns())
    }
    #[cfg(not(unix))]
    {
        (Instant::now(), 0)
    }
});

/// `instant` on the [`monotonic_ns`] clock. Rust's `Instant` is
/// `CLOCK_MONOTONIC` on Linux, so the conversion is exact to within the
/// nanoseconds between the two reads of the anchor.
pub fn instant_ns(instant: Instant) -> u64 {
    let (anchor, anchor_ns) = *ANCHOR;
    if instant >= anchor {
        anchor_ns + (instant - anchor).as_nanos() as u64
    } else {
        anchor_ns.saturating_sub((anchor - instant).as_nanos() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_map_onto_the_monotonic_clock() {
        let before = monotonic_ns();
        let now = Instant::now();
        let after = monotonic_ns();
        let mapped = instant_ns(now);
        assert!(mapped + 1_000_000 >= before && mapped <= after + 1_000_000, "{before} {mapped} {after}");
    }
}
