//! The one deadline loop: poll a probe until it yields or time runs out.
//! Callers say what they waited for in their own error.

use std::time::{Duration, Instant};

/// Calls `probe` every `every` until it returns `Some`, for at most
/// `timeout` (the probe runs at least once, and once more at the deadline).
pub fn until<T>(timeout: Duration, every: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(every.min(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_returns_the_first_yield_and_gives_up_at_the_deadline() {
        let mut calls = 0;
        let found = until(Duration::from_secs(5), Duration::from_millis(1), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(found, Some(3));
        let started = Instant::now();
        let mut tries = 0;
        assert_eq!(
            until(Duration::from_millis(30), Duration::from_millis(5), || {
                tries += 1;
                None::<()>
            }),
            None
        );
        assert!(started.elapsed() >= Duration::from_millis(30) && tries >= 2, "{tries} tries");
    }
}
