//! When to restart a backend that died: exponential backoff, and at most a
//! few restarts within a window, after which the user decides (an error page
//! instead of a crash loop).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restarts allowed within `window`.
    pub max_restarts: u32,
    pub window: Duration,
    /// Pause before the first restart; each further one doubles it.
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 3,
            window: Duration::from_secs(60),
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// The restarts made so far, judged against a policy.
#[derive(Debug, Clone)]
pub struct Restarts {
    policy: RestartPolicy,
    recent: VecDeque<Instant>,
}

impl Restarts {
    pub fn new(policy: RestartPolicy) -> Self {
        Restarts { policy, recent: VecDeque::new() }
    }

    /// Records a restart at `now` and returns how long to wait first, or
    /// `None` when the policy's budget is spent.
    pub fn next(&mut self, now: Instant) -> Option<Duration> {
        while self.recent.front().is_some_and(|t| now.duration_since(*t) >= self.policy.window) {
            self.recent.pop_front();
        }
        let made = self.recent.len() as u32;
        if made >= self.policy.max_restarts {
            return None;
        }
        self.recent.push_back(now);
        let delay = self.policy.first_delay.saturating_mul(1u32.checked_shl(made).unwrap_or(u32::MAX));
        Some(delay.min(self.policy.max_delay))
    }

    /// Restarts within the window so far.
    pub fn count(&self) -> u32 {
        self.recent.len() as u32
    }

    /// Forgets the history: the user asked for a fresh start.
    pub fn reset(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_then_gives_up() {
        let mut restarts = Restarts::new(RestartPolicy::default());
        let t0 = Instant::now();
        assert_eq!(restarts.next(t0), Some(Duration::from_millis(500)));
        assert_eq!(restarts.next(t0 + Duration::from_secs(1)), Some(Duration::from_secs(1)));
        assert_eq!(restarts.next(t0 + Duration::from_secs(3)), Some(Duration::from_secs(2)));
        assert_eq!(restarts.next(t0 + Duration::from_secs(6)), None);
        assert_eq!(restarts.count(), 3);
    }

    #[test]
    fn old_restarts_leave_the_window() {
        let mut restarts = Restarts::new(RestartPolicy::default());
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(restarts.next(t0 + Duration::from_secs(i)).is_some());
        }
        // A minute after the first restart, one slot is free again.
        assert_eq!(restarts.next(t0 + Duration::from_secs(60)), Some(Duration::from_secs(2)));
        assert_eq!(restarts.next(t0 + Duration::from_secs(61)), Some(Duration::from_secs(2)));
        assert_eq!(restarts.next(t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn reset_starts_over_and_delays_are_capped() {
        let policy = RestartPolicy { max_restarts: 10, max_delay: Duration::from_secs(3), ..Default::default() };
        let mut restarts = Restarts::new(policy);
        let t0 = Instant::now();
        let delays: Vec<_> = (0..5).map(|_| restarts.next(t0).unwrap().as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 3000, 3000]);
        restarts.reset();
        assert_eq!(restarts.next(t0), Some(Duration::from_millis(500)));
    }
}
